//! A generation's requests (a status read for the OTP length, the start, a share, the reads,
//! a cancel), what it needs from the caller, and how a request that never left or was lost is
//! recorded: the steps the skeleton runs. Which stage sends what is the skeleton's
//! (`Rules::next_request`); waiting for the OTP is the generation's own stage.

use super::settling::salvaged_start;
use super::*;
use bytes::Bytes;
use http::Request;

impl Rules for RootTokenCeremony {
    type Flight = InFlight;
    type Own = AwaitingOtp;
    type Lost = Lost;
    type Status = RootGenerationStatus;
    type Event = RootTokenEvent;

    fn skeleton(&self) -> &Skeleton<InFlight, AwaitingOtp, Lost> {
        &self.run
    }

    fn skeleton_mut(&mut self) -> &mut Skeleton<InFlight, AwaitingOtp, Lost> {
        &mut self.run
    }

    fn settle_request(&self, target: &Target, _: &Lost) -> Result<Sending<InFlight>, Error> {
        Ok((self.read_request(target)?, InFlight::Resolve))
    }

    fn read_request(&self, target: &Target) -> Result<Request<Bytes>, Error> {
        ReadRootGenerationProgress::new()
            .kind(self.kind)
            .request(target)
    }

    /// The servers cancel whichever generation runs: the nonce is checked by the reads.
    fn cancel_request(&self, target: &Target, _: &str) -> Result<Request<Bytes>, Error> {
        CancelRootGeneration::new().kind(self.kind).request(target)
    }

    fn starts(&self) -> bool {
        matches!(self.mode, Mode::Start(_))
    }

    fn start_request(&mut self, target: &Target) -> Result<Option<Sending<InFlight>>, Error> {
        let Mode::Start(protection) = &self.mode else {
            return Ok(None);
        };
        let needs_status = matches!(
            protection,
            TokenProtection::Otp(_) | TokenProtection::GenerateOtp
        );
        if needs_status && self.otp_length.is_none() {
            // The OTP's length is the server's to say: read before the start.
            return Ok(Some((self.read_request(target)?, InFlight::Status)));
        }
        let mut start = StartRootTokenGeneration::new().kind(self.kind);
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
        Ok(Some((start.request(target)?, InFlight::Start)))
    }

    fn step_request(
        &mut self,
        target: &Target,
        nonce: String,
        _: Asked,
    ) -> Result<Option<Sending<InFlight>>, Error> {
        // Waiting for the OTP, nothing goes out.
        if matches!(self.run.stage, Stage::Own(AwaitingOtp)) {
            return Ok(None);
        }
        let Some(share) = self.run.shares.pop_front() else {
            return Ok(None);
        };
        let request = GenerateRoot::new(share.clone(), nonce)
            .kind(self.kind)
            .request(target)?;
        Ok(Some((request, InFlight::Share(share))))
    }

    fn parse_status(status: StatusCode, body: &[u8]) -> Result<RootGenerationStatus, Error> {
        parse_status(status, body)
    }

    fn read_answer(&mut self, status: RootGenerationStatus) -> Result<RootTokenEvent, Error> {
        self.on_read(status)
    }

    fn settle_answer(&mut self, status: RootGenerationStatus) -> Result<RootTokenEvent, Error> {
        self.resolve(status)
    }

    fn cancelled() -> RootTokenEvent {
        RootTokenEvent::Cancelled
    }

    fn answer_own(
        &mut self,
        flight: InFlight,
        status: StatusCode,
        body: &[u8],
    ) -> Result<RootTokenEvent, Error> {
        self.answer_to_own(flight, status, body)
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
