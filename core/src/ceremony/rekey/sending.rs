//! What a rekey sends next, what it needs from the caller when it has nothing to send, and
//! how a request that never left, or was lost, is recorded: the steps the skeleton runs.

use super::settling::salvaged_nonce;
use super::*;

impl Rules for RekeyCeremony {
    type Flight = InFlight;
    type Own = Verify;
    type Lost = Lost;

    fn skeleton(&self) -> &Skeleton<InFlight, Verify, Lost> {
        &self.run
    }

    fn skeleton_mut(&mut self) -> &mut Skeleton<InFlight, Verify, Lost> {
        &mut self.run
    }

    fn next_request(&mut self, target: &Target) -> Result<Option<Sending<InFlight>>, Error> {
        let kind = self.kind;
        let asked = self.run.asked();
        let read = || ReadRekeyProgress::new().kind(kind).request(target);
        let cancel = |nonce: String| CancelRekey::new().kind(kind).nonce(nonce).request(target);
        let next = match &self.run.stage {
            Stage::Unknown(unknown) => match unknown.lost {
                Lost::VerifyShare(_) => (
                    ReadRekeyVerifyProgress::new().kind(kind).request(target)?,
                    InFlight::ResolveVerify,
                ),
                _ => (read()?, InFlight::Resolve),
            },
            Stage::Aborted {
                cancel: Some(nonce),
            } if asked == Asked::Cancel => (cancel(nonce.clone())?, InFlight::Cancel),
            Stage::Done | Stage::Cancelled | Stage::Aborted { .. } => return Ok(None),
            Stage::Starting => match &self.mode {
                Mode::Start(_) if asked == Asked::Cancel => {
                    // Nothing was started by this ceremony: there is nothing to cancel.
                    self.finish_cancel();
                    return Ok(None);
                }
                Mode::Start(config) => (config.request(target)?, InFlight::Start),
                Mode::Resume => (read()?, InFlight::Read),
            },
            Stage::Collecting | Stage::Own(_) => {
                let Some(nonce) = self.run.nonce().cloned() else {
                    return Ok(None);
                };
                match (&self.run.stage, asked) {
                    (_, Asked::Cancel) => (cancel(nonce)?, InFlight::Cancel),
                    (_, Asked::Refresh) => (read()?, InFlight::Read),
                    (Stage::Own(_), Asked::CancelVerification) => (
                        CancelRekeyVerify::new().kind(kind).request(target)?,
                        InFlight::CancelVerification,
                    ),
                    (Stage::Own(Verify { nonce: None, .. }), _) => (read()?, InFlight::Read),
                    (
                        Stage::Own(Verify {
                            nonce: Some(verification_nonce),
                            ..
                        }),
                        _,
                    ) => {
                        let Some(share) = self.verification_shares.pop_front() else {
                            return Ok(None);
                        };
                        let request = RekeyVerify::new(share.clone(), verification_nonce.clone())
                            .kind(kind)
                            .request(target)?;
                        (request, InFlight::VerifyShare(share))
                    }
                    _ => {
                        let Some(share) = self.run.shares.pop_front() else {
                            return Ok(None);
                        };
                        let request = Rekey::new(share.clone(), nonce)
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
            RekeyPhase::Verifying => Next::NeedVerificationShares {
                progress: self.progress(),
                required: self.required(),
            },
            _ => Next::NeedShares {
                progress: self.progress(),
                required: self.required(),
            },
        }
    }

    fn requeue(&mut self, flight: InFlight) {
        match flight {
            InFlight::Share(share) => self.run.shares.push_front(share),
            InFlight::VerifyShare(share) => self.verification_shares.push_front(share),
            // A start, cancel or cancel-verification that never left is built again from
            // the stage and what was asked, which are unchanged.
            _ => {}
        }
    }

    fn lose(&mut self, flight: InFlight, cut: Option<&[u8]>) {
        let lost = match flight {
            InFlight::Start => Lost::Start {
                salvaged_nonce: cut.and_then(salvaged_nonce),
            },
            InFlight::Share(share) => {
                if let Some(body) = cut {
                    self.salvage_result(body);
                }
                Lost::Share(share)
            }
            InFlight::VerifyShare(share) => Lost::VerifyShare(share),
            InFlight::Cancel => Lost::Cancel,
            InFlight::CancelVerification => Lost::CancelVerification,
            InFlight::Read | InFlight::Resolve | InFlight::ResolveVerify => return,
        };
        let progress = self.progress();
        self.run.enter_unknown(lost, progress);
    }

    fn reset_progress(&mut self) {
        if let Some(status) = &mut self.status {
            status.progress = 0;
        }
    }

    fn stopped(&mut self) {
        self.verification_shares.clear();
    }
}
