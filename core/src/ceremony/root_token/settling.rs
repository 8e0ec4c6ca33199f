//! After a request whose answer did not arrive whole: the token or the server's OTP
//! recovered from what came, and what the status read then says happened.

use super::*;

impl RootTokenCeremony {
    /// An encoded token complete in a share's answer that was cut or could not be decoded.
    pub(super) fn salvage_token(&mut self, body: &[u8]) {
        let Some(salvaged) = crate::salvage::salvage::<SalvagedToken>(body) else {
            return;
        };
        let Some(encoded) = salvaged.encoded_token.or(salvaged.encoded_root_token) else {
            return;
        };
        if self.result.is_some() || self.run.conflict(salvaged.nonce.as_ref()).is_some() {
            return;
        }
        self.result = Some(GeneratedToken {
            encoded,
            pgp_fingerprint: self.pgp_fingerprint.clone(),
            nonce: salvaged.nonce.or_else(|| self.run.nonce().cloned()),
        });
    }

    /// What the progress read says about a request whose answer was lost.
    pub(super) fn resolve(
        &mut self,
        status: RootGenerationStatus,
    ) -> Result<RootTokenEvent, Error> {
        let Some(Unknown {
            lost,
            before,
            progress,
        }) = self.run.leave_unknown()
        else {
            return self.on_read(status);
        };
        let (running, ours) = self.run.settles(status.started, status.nonce.as_ref());
        match lost {
            Lost::Cancel => {
                if running && (ours || self.run.nonce().is_none()) {
                    // Still running: the cancel is sent again.
                    self.run.stage = before;
                    self.status = Some(status);
                    return Ok(RootTokenEvent::Refreshed);
                }
                self.finish_cancel();
                Ok(RootTokenEvent::Cancelled)
            }
            Lost::Start { salvaged } => {
                if !running {
                    return Ok(RootTokenEvent::Requeued);
                }
                let server_otp = matches!(self.mode, Mode::Start(TokenProtection::ServerOtp));
                let (salvaged_nonce, otp) = match salvaged {
                    Some((nonce, otp)) => (Some(nonce), otp),
                    None => (None, None),
                };
                let known = salvaged_nonce.as_ref().or(self.run.required_nonce());
                let usable = !server_otp || otp.is_some();
                if usable && known.is_some() && known == status.nonce.as_ref() {
                    if server_otp {
                        self.otp = otp;
                    }
                    self.run.pin(status.nonce.clone());
                    return self.on_read(status);
                }
                let found = status.nonce.clone();
                self.status = Some(status);
                Err(self.start_unconfirmed(found))
            }
            Lost::Share(share) => {
                if running && !ours {
                    self.run.stage = before;
                    return self.on_read(status);
                }
                if ours {
                    let recount = self.run.recount(share, progress, status.progress);
                    self.status = Some(status);
                    return Ok(recount.into());
                }
                if self.result.is_some() {
                    // The cut answer held the token.
                    self.run.shares.clear();
                    self.run.stage = Stage::Done;
                    return Ok(RootTokenEvent::Generated);
                }
                let could_complete = progress.saturating_add(1) >= self.required();
                self.abort();
                if could_complete {
                    return Err(CeremonyError::AnswerLost {
                        ceremony: "root-token generation",
                        recovery: Recovery::TokenGone,
                    }
                    .into());
                }
                Err(CeremonyError::LostByServer("root-token generation").into())
            }
        }
    }
}

/// The nonce (and server OTP) complete in a start answer that was cut or undecodable.
pub(super) fn salvaged_start(body: &[u8]) -> Option<(String, Option<Otp>)> {
    match crate::salvage::salvage::<SalvagedStart>(body) {
        Some(SalvagedStart {
            nonce: Some(nonce),
            otp,
        }) => Some((nonce, otp)),
        _ => None,
    }
}
