//! What each answer does to a root-token generation: the start's, a status read's and a
//! share's (the skeleton's rules handle the refusals both ceremonies share).

use super::*;

impl RootTokenCeremony {
    /// Feeds the answer to the request last returned by [`poll`](Self::poll).
    ///
    /// An error leaves the ceremony usable unless its phase says otherwise: a refused share is
    /// used up; wrong shares that reach the threshold leave the generation running with
    /// progress 0; a nonce other than the pinned one aborts it; a caller OTP of the wrong
    /// length returns [`InvalidInput::OtpLength`] and the ceremony waits for another OTP.
    pub fn handle_response(
        &mut self,
        status: StatusCode,
        body: &[u8],
    ) -> Result<RootTokenEvent, Error> {
        self.answer(status, body)
    }

    /// The answer to one of the generation's own requests (the reads and the cancel are the
    /// skeleton's: [`Rules::answer`]).
    pub(super) fn answer_to_own(
        &mut self,
        flight: InFlight,
        status: StatusCode,
        body: &[u8],
    ) -> Result<RootTokenEvent, Error> {
        match flight {
            InFlight::Status => {
                let answer = parse_status(status, body)?;
                self.on_status(answer)
            }
            InFlight::Start => match parse_status(status, body) {
                Ok(answer) => self.on_started(answer, status, body),
                // The server may have started a generation (and sent its only copy of the
                // OTP): the answer is kept, and which is learnt.
                Err(err) => Err(self.refused(err, InFlight::Start, status, body)),
            },
            InFlight::Share(share) => match parse_status(status, body) {
                Ok(answer) => self.on_share_answer(answer, status, body),
                Err(err) => Err(self.refused(err, InFlight::Share(share), status, body)),
            },
            // The skeleton's.
            InFlight::Read | InFlight::Resolve | InFlight::Cancel => {
                Err(wrong_phase("taking an answer", "a read or a cancel"))
            }
        }
    }

    pub(super) fn on_status(
        &mut self,
        status: RootGenerationStatus,
    ) -> Result<RootTokenEvent, Error> {
        let otp_length = status.otp_length;
        self.otp_length = Some(otp_length);
        self.status = Some(status);
        if let Some(otp) = &self.otp {
            if let Err(err) = OtpScheme::from_otp_length(otp_length).check(otp) {
                self.otp = None;
                self.run.stage = Stage::Own(AwaitingOtp);
                return Err(err);
            }
        } else {
            self.run.stage = Stage::Own(AwaitingOtp);
        }
        Ok(RootTokenEvent::StatusRead)
    }

    pub(super) fn on_started(
        &mut self,
        status: RootGenerationStatus,
        code: StatusCode,
        body: &[u8],
    ) -> Result<RootTokenEvent, Error> {
        if let Err(err) = self.run.pin_running(status.started, status.nonce.as_ref()) {
            self.abort();
            return Err(err.into());
        }
        self.check_fingerprint(&status)?;
        self.run.stage = Stage::Collecting;
        self.pgp_fingerprint = status.pgp_fingerprint.clone();
        let server_otp = matches!(self.mode, Mode::Start(TokenProtection::ServerOtp));
        if server_otp {
            self.otp = status.otp.clone();
        }
        self.otp_length = match (status.otp_length, self.otp_length, &self.otp) {
            (0, Some(read), _) => Some(read),
            (0, None, Some(otp)) if server_otp => u32::try_from(otp.len()).ok(),
            (reported, _, _) => Some(reported),
        };
        self.status = Some(status);
        if server_otp && self.otp.is_none() {
            let err = DecodeError::new(
                code.as_u16(),
                "the start answer carries no OTP: the token will not be decodable",
                body,
            );
            self.run.keep(body);
            return Err(err.into());
        }
        Ok(RootTokenEvent::Started)
    }

    pub(super) fn on_read(
        &mut self,
        status: RootGenerationStatus,
    ) -> Result<RootTokenEvent, Error> {
        let resuming = self.run.starting();
        if let Err(err) = self.run.pin_running(status.started, status.nonce.as_ref()) {
            self.abort();
            return Err(err.into());
        }
        self.check_fingerprint(&status)?;
        if status.otp_length > 0 || self.otp_length.is_none() {
            self.otp_length = Some(status.otp_length);
        }
        if status.pgp_fingerprint.is_some() {
            self.pgp_fingerprint = status.pgp_fingerprint.clone();
        }
        self.status = Some(status);
        self.run.stage = Stage::Collecting;
        if resuming {
            if let (Some(otp), Some(otp_length)) = (&self.otp, self.otp_length) {
                if let Err(err) = OtpScheme::from_otp_length(otp_length).check(otp) {
                    self.otp = None;
                    return Err(err);
                }
            }
            Ok(RootTokenEvent::Started)
        } else {
            Ok(RootTokenEvent::Refreshed)
        }
    }

    /// Refuses (aborting) a generation whose token goes to another PGP key than the pinned
    /// one; [`pgp_fingerprint`](Self::pgp_fingerprint) then shows whose.
    pub(super) fn check_fingerprint(&mut self, status: &RootGenerationStatus) -> Result<(), Error> {
        let found: Vec<String> = status.pgp_fingerprint.iter().cloned().collect();
        if let Err(err) = self.run.check_fingerprints(&found, status.nonce.as_ref()) {
            self.pgp_fingerprint = status.pgp_fingerprint.clone();
            self.status = Some(status.clone());
            // It gets no share, and can be cancelled under its nonce.
            self.abort_cancellable(status.nonce.clone());
            return Err(err.into());
        }
        Ok(())
    }

    pub(super) fn on_share_answer(
        &mut self,
        status: RootGenerationStatus,
        code: StatusCode,
        body: &[u8],
    ) -> Result<RootTokenEvent, Error> {
        // `parse_status` says complete whenever the answer carries the token.
        if !status.complete {
            if let Some(err) = self.run.conflict(status.nonce.as_ref()) {
                self.abort();
                return Err(err.into());
            }
            self.status = Some(status);
            return Ok(RootTokenEvent::Progress);
        }
        let Some(encoded) = status.encoded_token.clone() else {
            let err = DecodeError::new(
                code.as_u16(),
                "the generation completed but the answer carries no encoded token",
                body,
            );
            self.run.keep(body);
            self.abort();
            return Err(err.into());
        };
        let conflict = self.run.conflict(status.nonce.as_ref());
        if status.pgp_fingerprint.is_some() {
            self.pgp_fingerprint = status.pgp_fingerprint.clone();
        }
        if self.result.is_some() {
            // A token recovered earlier from a cut answer stays the result; this answer is
            // kept beside it, so neither is lost.
            self.run.keep(body);
        } else {
            self.result = Some(GeneratedToken {
                encoded,
                pgp_fingerprint: self.pgp_fingerprint.clone(),
                nonce: status.nonce.clone().or_else(|| self.run.nonce().cloned()),
            });
        }
        self.status = Some(status);
        self.run.shares.clear();
        if let Some(err) = conflict {
            self.abort();
            return Err(err.into());
        }
        self.run.stage = Stage::Done;
        Ok(RootTokenEvent::Generated)
    }
}
