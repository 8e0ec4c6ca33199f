//! After a request whose answer did not arrive whole: what is recovered from what came, and
//! what the progress read then says happened to the start, the share or the verification
//! share.

use super::*;

impl RekeyCeremony {
    /// New shares complete in a share's answer that was cut or could not be decoded.
    pub(super) fn salvage_result(&mut self, body: &[u8]) {
        if self.result.is_some() {
            return;
        }
        let Some(mut result) = RekeyResult::salvage(body) else {
            return;
        };
        if self.run.conflict(result.nonce.as_ref()).is_some() {
            return;
        }
        if let Some(status) = &self.status {
            if status.n > 0 && result.keys.len() != status.n as usize {
                return;
            }
            result.verification_required |= status.verification_required;
            result.backup |= status.backup;
            if result.pgp_fingerprints.is_empty() {
                result.pgp_fingerprints = status.pgp_fingerprints.clone();
            }
        }
        if result.nonce.is_none() {
            result.nonce = self.run.nonce().cloned();
        }
        self.result = Some(result);
    }

    /// What the progress read says about a request whose answer was lost.
    pub(super) fn resolve(&mut self, status: RekeyStatus) -> Result<RekeyEvent, Error> {
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
                let cancelled = match &before {
                    Stage::Aborted { cancel } => self.run.nonce().or(cancel.as_ref()),
                    _ => self.run.nonce(),
                };
                if !running || status.nonce.as_ref() != cancelled {
                    self.finish_cancel();
                    return Ok(RekeyEvent::Cancelled);
                }
                // Still running: the cancel is sent again.
                self.run.stage = before;
                self.status = Some(status);
                Ok(RekeyEvent::Refreshed)
            }
            Lost::Start { salvaged_nonce } => {
                if !running {
                    // The start was not acted on: it is sent again.
                    return Ok(RekeyEvent::Requeued);
                }
                let known = salvaged_nonce.as_ref().or(self.run.required_nonce());
                if known.is_some() && known == status.nonce.as_ref() {
                    return self.on_started(status);
                }
                let found = status.nonce.clone();
                self.status = Some(status);
                Err(self.start_unconfirmed(found))
            }
            Lost::VerifyShare(share) => {
                // Settled by the verification progress, read next.
                self.run.stage = before;
                self.run.enter_unknown(Lost::VerifyShare(share), progress);
                Ok(RekeyEvent::Refreshed)
            }
            _ if running && !ours => {
                // Whatever happened to ours, another rekey runs now.
                self.run.stage = before;
                self.on_read(status)
            }
            Lost::Share(share) => self.resolve_share(status, share, progress, ours),
            Lost::CancelVerification => {
                let verify = match before {
                    Stage::Own(verify) => verify,
                    _ => Verify::default(),
                };
                let fresh = status.verification_nonce.clone();
                match fresh {
                    Some(fresh) if ours && verify.nonce.as_ref() != Some(&fresh) => {
                        self.run.done(Asked::CancelVerification);
                        self.run.stage = Stage::Own(Verify {
                            nonce: Some(fresh),
                            ..Verify::default()
                        });
                        self.status = Some(status);
                        Ok(RekeyEvent::VerificationRestarted)
                    }
                    // Not restarted yet: sent again.
                    Some(_) => {
                        self.run.stage = Stage::Own(verify);
                        self.status = Some(status);
                        Ok(RekeyEvent::Refreshed)
                    }
                    None => {
                        self.run.stage = Stage::Own(verify);
                        self.on_read(status)
                    }
                }
            }
        }
    }

    /// What the progress read says about a current share whose answer was lost, sent when
    /// `progress` shares were counted (`ours`: the rekey read is this ceremony's).
    pub(super) fn resolve_share(
        &mut self,
        status: RekeyStatus,
        share: KeyShare,
        progress: u32,
        ours: bool,
    ) -> Result<RekeyEvent, Error> {
        if ours && status.verification_nonce.is_some() {
            if self.result.is_some() {
                // The new shares were recovered from the cut answer.
                self.run.stage = Stage::Collecting;
                self.on_read(status)?;
                return Ok(RekeyEvent::Rekeyed);
            }
            self.status = Some(status);
            self.abort_cancellable(None);
            return Err(CeremonyError::AnswerLost {
                ceremony: "rekey",
                recovery: Recovery::CancelAndRestart,
            }
            .into());
        }
        if ours {
            let recount = self.run.recount(share, progress, status.progress);
            self.status = Some(status);
            return Ok(recount.into());
        }
        if let Some(result) = &self.result {
            if !result.verification_required {
                // The cut answer held the new shares, and they are in effect.
                self.verification = Verification::NotRequired;
                self.clear_queued_shares();
                self.run.stage = Stage::Done;
                return Ok(RekeyEvent::Rekeyed);
            }
        }
        let could_complete = progress.saturating_add(1) >= self.required();
        let backup = self.status.as_ref().is_some_and(|s| s.backup);
        self.abort();
        if could_complete && !self.verification_expected() {
            return Err(CeremonyError::AnswerLost {
                ceremony: "rekey",
                recovery: if backup {
                    Recovery::ReadBackup
                } else {
                    Recovery::SharesGone
                },
            }
            .into());
        }
        Err(CeremonyError::LostByServer("rekey").into())
    }

    /// What the verification progress read says about a verification share whose answer was
    /// lost (`None`: no verification in progress).
    pub(super) fn resolve_verify(
        &mut self,
        answer: Option<VerifyStatus>,
    ) -> Result<RekeyEvent, Error> {
        // The new threshold, read while the ceremony still knows the share was a
        // verification share.
        let required = self.required();
        let Some(Unknown {
            lost: Lost::VerifyShare(share),
            before,
            progress,
        }) = self.run.leave_unknown()
        else {
            return Err(CeremonyError::NothingOutstanding.into());
        };
        let mut verify = match before {
            Stage::Own(verify) => verify,
            _ => Verify::default(),
        };
        match answer {
            Some(answer) if answer.started && answer.nonce.is_some() => {
                if answer.nonce != verify.nonce {
                    // Verification restarted meanwhile: read the fresh nonce next to the
                    // pinned one, then send the share again.
                    self.run.stage = Stage::Own(Verify::default());
                    self.verification_shares.push_front(share);
                    return Ok(RekeyEvent::Requeued);
                }
                let recount = Recount::of(progress, answer.progress);
                verify.status = Some(answer);
                self.run.stage = Stage::Own(verify);
                Ok(match recount {
                    Recount::Counted => RekeyEvent::VerificationProgress,
                    Recount::NotCounted => {
                        self.verification_shares.push_front(share);
                        RekeyEvent::Requeued
                    }
                    Recount::Reset => RekeyEvent::ProgressReset,
                })
            }
            _ => {
                self.abort();
                if progress.saturating_add(1) >= required {
                    Err(CeremonyError::VerificationUnconfirmed.into())
                } else {
                    Err(CeremonyError::LostByServer("rekey").into())
                }
            }
        }
    }
}

/// The nonce in a start answer that was cut or could not be decoded.
pub(super) fn salvaged_nonce(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Started {
        #[serde(default, deserialize_with = "wire::non_empty")]
        nonce: Option<String>,
    }
    crate::salvage::salvage::<Started>(body).and_then(|started| started.nonce)
}
