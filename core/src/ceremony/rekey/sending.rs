//! A rekey's requests (the start, the reads, the cancels, a share, a verification share),
//! what it needs from the caller when it has nothing to send, and how a request that never
//! left, or was lost, is recorded: the steps the skeleton runs. Which stage sends what is the
//! skeleton's (`Rules::next_request`); the verification stage is the rekey's own.

use super::settling::salvaged_nonce;
use super::*;
use bytes::Bytes;
use http::Request;

impl Rules for RekeyCeremony {
    type Flight = InFlight;
    type Own = Verify;
    type Lost = Lost;
    type Status = RekeyStatus;
    type Event = RekeyEvent;

    fn skeleton(&self) -> &Skeleton<InFlight, Verify, Lost> {
        &self.run
    }

    fn skeleton_mut(&mut self) -> &mut Skeleton<InFlight, Verify, Lost> {
        &mut self.run
    }

    fn settle_request(&self, target: &Target, lost: &Lost) -> Result<Sending<InFlight>, Error> {
        Ok(match lost {
            Lost::VerifyShare(_) => (
                ReadRekeyVerifyProgress::new()
                    .kind(self.kind)
                    .request(target)?,
                InFlight::ResolveVerify,
            ),
            _ => (self.read_request(target)?, InFlight::Resolve),
        })
    }

    fn read_request(&self, target: &Target) -> Result<Request<Bytes>, Error> {
        ReadRekeyProgress::new().kind(self.kind).request(target)
    }

    fn cancel_request(&self, target: &Target, nonce: &str) -> Result<Request<Bytes>, Error> {
        CancelRekey::new()
            .kind(self.kind)
            .nonce(nonce.to_owned())
            .request(target)
    }

    fn starts(&self) -> bool {
        matches!(self.mode, Mode::Start(_))
    }

    fn start_request(&mut self, target: &Target) -> Result<Option<Sending<InFlight>>, Error> {
        match &self.mode {
            Mode::Start(config) => Ok(Some((config.request(target)?, InFlight::Start))),
            Mode::Resume => Ok(None),
        }
    }

    fn step_request(
        &mut self,
        target: &Target,
        nonce: String,
        asked: Asked,
    ) -> Result<Option<Sending<InFlight>>, Error> {
        let kind = self.kind;
        let next = match (&self.run.stage, asked) {
            (Stage::Own(_), Asked::CancelVerification) => (
                CancelRekeyVerify::new().kind(kind).request(target)?,
                InFlight::CancelVerification,
            ),
            // The verification nonce is read next to the pinned rekey nonce before a new
            // share goes out.
            (Stage::Own(Verify { nonce: None, .. }), _) => {
                (self.read_request(target)?, InFlight::Read)
            }
            (
                Stage::Own(Verify {
                    nonce: Some(verification_nonce),
                    ..
                }),
                _,
            ) => {
                let verification_nonce = verification_nonce.clone();
                let Some(share) = self.verification_shares.pop_front() else {
                    return Ok(None);
                };
                let request = RekeyVerify::new(share.clone(), verification_nonce)
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
        };
        Ok(Some(next))
    }

    fn parse_status(status: StatusCode, body: &[u8]) -> Result<RekeyStatus, Error> {
        wire::json(status, body)
    }

    fn read_answer(&mut self, status: RekeyStatus) -> Result<RekeyEvent, Error> {
        self.on_read(status)
    }

    fn settle_answer(&mut self, status: RekeyStatus) -> Result<RekeyEvent, Error> {
        self.resolve(status)
    }

    fn cancelled() -> RekeyEvent {
        RekeyEvent::Cancelled
    }

    fn answer_own(
        &mut self,
        flight: InFlight,
        status: StatusCode,
        body: &[u8],
    ) -> Result<RekeyEvent, Error> {
        self.answer_to_own(flight, status, body)
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
