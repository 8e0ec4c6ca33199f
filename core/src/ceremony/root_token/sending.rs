//! What a generation sends next (a status read for the OTP length, the start, a share, a
//! cancel), what it needs from the caller, and how a request that never left or was lost is
//! recorded: the steps the skeleton runs.

use super::settling::salvaged_start;
use super::*;

impl Rules for RootTokenCeremony {
    type Flight = InFlight;
    type Own = AwaitingOtp;
    type Lost = Lost;

    fn skeleton(&self) -> &Skeleton<InFlight, AwaitingOtp, Lost> {
        &self.run
    }

    fn skeleton_mut(&mut self) -> &mut Skeleton<InFlight, AwaitingOtp, Lost> {
        &mut self.run
    }

    fn next_request(&mut self, target: &Target) -> Result<Option<Sending<InFlight>>, Error> {
        let kind = self.kind;
        let asked = self.run.asked();
        let read = || ReadRootGenerationProgress::new().kind(kind).request(target);
        let cancel = || CancelRootGeneration::new().kind(kind).request(target);
        let next = match &self.run.stage {
            Stage::Unknown(_) => (read()?, InFlight::Resolve),
            Stage::Aborted { cancel: Some(_) } if asked == Asked::Cancel => {
                (cancel()?, InFlight::Cancel)
            }
            Stage::Done | Stage::Cancelled | Stage::Aborted { .. } => return Ok(None),
            Stage::Own(AwaitingOtp) => {
                if asked == Asked::Cancel {
                    self.finish_cancel();
                }
                return Ok(None);
            }
            Stage::Starting => match &self.mode {
                Mode::Start(_) if asked == Asked::Cancel => {
                    // Nothing was started by this ceremony: there is nothing to cancel.
                    self.finish_cancel();
                    return Ok(None);
                }
                Mode::Start(protection) => {
                    let needs_status = matches!(
                        protection,
                        TokenProtection::Otp(_) | TokenProtection::GenerateOtp
                    );
                    if needs_status && self.otp_length.is_none() {
                        (read()?, InFlight::Status)
                    } else {
                        let mut start = StartRootTokenGeneration::new().kind(kind);
                        match protection {
                            TokenProtection::PgpKey(key) => start = start.pgp_key(key.clone()),
                            TokenProtection::Otp(_) | TokenProtection::GenerateOtp => {
                                let Some(otp) = &self.otp else {
                                    return Ok(None);
                                };
                                start = start.otp(otp.clone());
                            }
                            TokenProtection::ServerOtp => {}
                        }
                        (start.request(target)?, InFlight::Start)
                    }
                }
                Mode::Resume => (read()?, InFlight::Read),
            },
            Stage::Collecting => {
                let Some(nonce) = self.run.nonce().cloned() else {
                    return Ok(None);
                };
                match asked {
                    Asked::Cancel => (cancel()?, InFlight::Cancel),
                    Asked::Refresh => (read()?, InFlight::Read),
                    Asked::Nothing | Asked::CancelVerification => {
                        let Some(share) = self.run.shares.pop_front() else {
                            return Ok(None);
                        };
                        let request = GenerateRoot::new(share.clone(), nonce)
                            .kind(kind)
                            .request(target)?;
                        (request, InFlight::Share(share))
                    }
                }
            }
        };
        Ok(Some(next))
    }

    fn needs(&self) -> Next {
        match self.phase() {
            phase if phase.is_terminal() => Next::Finished,
            RootTokenPhase::AwaitingOtp => Next::NeedOtp {
                length: self.otp_length.unwrap_or(0),
            },
            _ => Next::NeedShares {
                progress: self.progress(),
                required: self.required(),
            },
        }
    }

    fn requeue(&mut self, flight: InFlight) {
        if let InFlight::Share(share) = flight {
            self.run.shares.push_front(share);
        }
    }

    fn lose(&mut self, flight: InFlight, cut: Option<&[u8]>) {
        let lost = match flight {
            InFlight::Start => Lost::Start {
                salvaged: cut.and_then(salvaged_start),
            },
            InFlight::Share(share) => {
                if let Some(body) = cut {
                    self.salvage_token(body);
                }
                Lost::Share(share)
            }
            InFlight::Cancel => Lost::Cancel,
            InFlight::Status | InFlight::Read | InFlight::Resolve => return,
        };
        let progress = self.progress();
        self.run.enter_unknown(lost, progress);
    }

    fn reset_progress(&mut self) {
        if let Some(status) = &mut self.status {
            status.progress = 0;
        }
    }
}
