//! What each answer does to a rekey: the start's, a progress read's, a share's and a
//! verification share's (the skeleton's rules handle the refusals both ceremonies share).

use super::*;

impl RekeyCeremony {
    /// Feeds the answer to the request last returned by [`poll`](Self::poll).
    ///
    /// An error leaves the ceremony usable unless its phase says otherwise: a refused share is
    /// used up and the next one can be sent; wrong shares that reach the threshold leave the
    /// rekey running with progress 0; a nonce other than the pinned one aborts it. An answer
    /// that cannot be decoded is returned as [`Error::Decode`] with its raw body, which is
    /// also kept in [`undecoded_responses`](Self::undecoded_responses); since the server may
    /// have acted on the request, the ceremony then waits in [`RekeyPhase::OutcomeUnknown`]
    /// (as after a gateway's 502 or 504).
    pub fn handle_response(
        &mut self,
        status: StatusCode,
        body: &[u8],
    ) -> Result<RekeyEvent, Error> {
        self.answer(status, body)
    }

    /// The answer to one of the rekey's own requests (the reads and the cancel are the
    /// skeleton's: [`Rules::answer`]).
    pub(super) fn answer_to_own(
        &mut self,
        flight: InFlight,
        status: StatusCode,
        body: &[u8],
    ) -> Result<RekeyEvent, Error> {
        match flight {
            InFlight::Start => match wire::json(status, body) {
                Ok(answer) => self.on_started(answer),
                Err(err) => Err(self.refused(err, InFlight::Start, status, body)),
            },
            InFlight::ResolveVerify => match wire::json(status, body) {
                Ok(answer) => self.resolve_verify(Some(answer)),
                Err(err) if err.refusal() == Some(&Refusal::NotInProgress) => {
                    self.resolve_verify(None)
                }
                Err(err) => Err(err),
            },
            InFlight::Share(share) => match parse_update(status, body) {
                Ok(update) => self.on_share_answer(update, share, status, body),
                Err(err) => Err(self.refused(err, InFlight::Share(share), status, body)),
            },
            InFlight::VerifyShare(share) => {
                let answer = rekey_verify::parse_update(status, body);
                self.on_verify_answer(answer, share, status, body)
            }
            InFlight::CancelVerification => match wire::json::<VerifyStatus>(status, body) {
                Ok(answer) => {
                    self.run.done(Asked::CancelVerification);
                    if let Stage::Own(verify) = &mut self.run.stage {
                        // The fresh verification nonce is accepted only when read next to
                        // the pinned rekey nonce.
                        *verify = Verify {
                            nonce: None,
                            status: Some(VerifyStatus {
                                nonce: None,
                                progress: 0,
                                ..answer
                            }),
                            failed_at_completion: false,
                        };
                    }
                    Ok(RekeyEvent::VerificationRestarted)
                }
                Err(err) => {
                    if acted_on_unseen(&err) {
                        self.lose(InFlight::CancelVerification, None);
                    } else if err.refusal() == Some(&Refusal::NotInProgress) {
                        self.abort();
                    }
                    Err(err)
                }
            },
            // The skeleton's.
            InFlight::Read | InFlight::Resolve | InFlight::Cancel => {
                Err(wrong_phase("taking an answer", "a read or a cancel"))
            }
        }
    }

    pub(super) fn on_started(&mut self, status: RekeyStatus) -> Result<RekeyEvent, Error> {
        if let Err(err) = self.run.pin_running(status.started, status.nonce.as_ref()) {
            self.abort();
            return Err(err.into());
        }
        self.check_fingerprints(status)?;
        self.run.stage = Stage::Collecting;
        Ok(RekeyEvent::Started)
    }

    /// Keeps `status` and refuses (aborting) a rekey that encrypts to other PGP keys than the
    /// pinned ones: no share goes to it, and [`status`](Self::status) shows whose keys the new
    /// shares would go to.
    pub(super) fn check_fingerprints(&mut self, status: RekeyStatus) -> Result<(), Error> {
        let checked = self
            .run
            .check_fingerprints(&status.pgp_fingerprints, status.nonce.as_ref());
        let nonce = status.nonce.clone();
        self.status = Some(status);
        if let Err(err) = checked {
            // It gets no share, and can be cancelled under its nonce.
            self.abort_cancellable(nonce);
            return Err(err.into());
        }
        Ok(())
    }

    pub(super) fn on_read(&mut self, status: RekeyStatus) -> Result<RekeyEvent, Error> {
        let resuming = self.run.starting();
        if let Err(err) = self.run.pin_running(status.started, status.nonce.as_ref()) {
            self.abort();
            return Err(err.into());
        }
        let verification_nonce = status.verification_nonce.clone();
        self.check_fingerprints(status)?;
        match verification_nonce {
            Some(verification_nonce) => {
                if self.result.is_none() && matches!(self.mode, Mode::Start(_)) {
                    self.abort_cancellable(None);
                    return Err(CeremonyError::CompletedElsewhere.into());
                }
                let (verify, restarted_after_failure) =
                    match std::mem::replace(&mut self.run.stage, Stage::Starting) {
                        Stage::Own(verify)
                            if verify.nonce.as_ref() == Some(&verification_nonce) =>
                        {
                            (verify, false)
                        }
                        before => (
                            Verify {
                                nonce: Some(verification_nonce),
                                ..Verify::default()
                            },
                            matches!(
                                before,
                                Stage::Own(Verify {
                                    failed_at_completion: true,
                                    ..
                                })
                            ),
                        ),
                    };
                self.verification = Verification::Pending;
                self.run.shares.clear();
                self.run.stage = Stage::Own(verify);
                if restarted_after_failure {
                    return Err(CeremonyError::VerificationRestartedAtCompletion.into());
                }
            }
            None if matches!(self.run.stage, Stage::Own(_)) => {
                // Started, same nonce, but no verification pending: the server no longer
                // knows this verification.
                self.abort();
                return Err(CeremonyError::NotStarted("rekey verification").into());
            }
            None => self.run.stage = Stage::Collecting,
        }
        Ok(if resuming {
            RekeyEvent::Started
        } else {
            RekeyEvent::Refreshed
        })
    }

    pub(super) fn on_share_answer(
        &mut self,
        update: RekeyUpdate,
        share: KeyShare,
        status: StatusCode,
        body: &[u8],
    ) -> Result<RekeyEvent, Error> {
        match update {
            RekeyUpdate::Progress(progress) => {
                if let Some(err) = self.run.conflict(progress.nonce.as_ref()) {
                    self.abort();
                    return Err(err.into());
                }
                self.status = Some(progress);
                Ok(RekeyEvent::Progress)
            }
            RekeyUpdate::Complete(result)
                if result.keys.is_empty() && self.kind == KeyKind::Recovery =>
            {
                // Recovery shares are always handed out: an answer without them is broken.
                // The server acted on the share; the read tells what it did.
                let err = DecodeError::new(
                    status.as_u16(),
                    "the rekey completed but the answer carries no keys",
                    body,
                );
                self.unseen(InFlight::Share(share), status, body);
                Err(err.into())
            }
            RekeyUpdate::Complete(result) => {
                // No keys on an unseal rekey: an auto-unseal server rotated its root key and
                // keeps it sealed by its seal, handing out no shares. That is success.
                let conflict = self.run.conflict(result.nonce.as_ref());
                let verification_required = result.verification_required && !result.keys.is_empty();
                let verify = Verify {
                    nonce: result.verification_nonce.clone(),
                    ..Verify::default()
                };
                if self.result.is_some() {
                    // Shares recovered earlier from a cut answer stay the result; this answer
                    // is kept beside them, so neither set is lost.
                    self.run.keep(body);
                } else {
                    self.result = Some(result);
                }
                self.run.shares.clear();
                if let Some(err) = conflict {
                    self.abort();
                    return Err(err.into());
                }
                self.reset_progress();
                if verification_required {
                    self.verification = Verification::Pending;
                    self.run.stage = Stage::Own(verify);
                } else {
                    self.verification = Verification::NotRequired;
                    self.verification_shares.clear();
                    self.run.stage = Stage::Done;
                }
                Ok(RekeyEvent::Rekeyed)
            }
        }
    }

    pub(super) fn on_verify_answer(
        &mut self,
        answer: Result<VerifyUpdate, Error>,
        share: KeyShare,
        status: StatusCode,
        body: &[u8],
    ) -> Result<RekeyEvent, Error> {
        let required = self.required();
        let err = match answer {
            Ok(VerifyUpdate::Progress(progress)) => {
                if let Stage::Own(verify) = &mut self.run.stage {
                    let stale = progress.nonce.is_some() && progress.nonce != verify.nonce;
                    // The share that should have completed the verification did not: the
                    // server judged it and went on without switching keys.
                    let completing = verify
                        .status
                        .as_ref()
                        .is_some_and(|s| s.progress.saturating_add(1) >= required);
                    verify.failed_at_completion |= completing && stale;
                    verify.status = Some(progress);
                    if stale {
                        self.run.ask(Asked::Refresh);
                    }
                }
                return Ok(RekeyEvent::VerificationProgress);
            }
            Ok(VerifyUpdate::Complete { .. }) => {
                self.verification = Verification::Verified;
                self.verification_shares.clear();
                self.run.stage = Stage::Done;
                return Ok(RekeyEvent::Verified);
            }
            Err(err) => err,
        };
        if acted_on_unseen(&err) {
            self.unseen(InFlight::VerifyShare(share), status, body);
            return Err(err);
        }
        let Stage::Own(verify) = &mut self.run.stage else {
            return Err(err);
        };
        let completing = verify
            .status
            .as_ref()
            .is_some_and(|s| s.progress.saturating_add(1) >= required);
        match err.refusal() {
            Some(Refusal::ServerFailure) if completing => {
                // The server judged the shares and then failed to put the new ones in effect:
                // a restarted verification read next is reported, not silently taken up.
                verify.failed_at_completion = true;
            }
            Some(refusal) if refusal.is_retryable() || *refusal == Refusal::Sealed => {
                // Not judged: queued again for the next drive.
                self.verification_shares.push_front(share);
            }
            Some(Refusal::WrongNonce { .. }) if completing => {
                // The verification restarted at the share that would have completed it (a
                // former leader that still holds the rekey does this): the progress made is
                // gone, and the restart is reported once the new nonce is read, rather than
                // the share sent again to a node that may restart it again.
                verify.nonce = None;
                verify.failed_at_completion = true;
                drop(share);
            }
            Some(Refusal::WrongNonce { .. }) => {
                // The verification nonce changed (verification restarted): the share itself
                // was not judged, so it is sent again once the new nonce is read.
                verify.nonce = None;
                self.verification_shares.push_front(share);
            }
            Some(Refusal::SharesDidNotCombine) => {
                // Verification restarts under a fresh nonce.
                verify.nonce = None;
                if let Some(status) = &mut verify.status {
                    status.progress = 0;
                }
            }
            Some(Refusal::NotInProgress) => {
                // Not known to the server any more (cancelled, or the server restarted, was
                // sealed, lost its leadership): say that.
                self.abort();
                return Err(CeremonyError::LostByServer("rekey").into());
            }
            _ => {}
        }
        if matches!(
            self.run.stage,
            Stage::Own(Verify {
                failed_at_completion: true,
                ..
            })
        ) {
            // Whether the verification restarted is read before any share goes again.
            self.run.ask(Asked::Refresh);
        }
        Err(err)
    }
}
