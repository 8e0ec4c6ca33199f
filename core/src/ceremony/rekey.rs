//! The rekey ceremony: new unseal (or recovery) shares from the current ones, optionally
//! encrypted to PGP keys, backed up, and verified before they take effect.
//!
//! The ceremony owns the rekey's nonce. It pins the nonce when the rekey starts (or when it
//! resumes one in progress) and never sends a share under any other: a server answer naming
//! another nonce means someone cancelled and restarted the rekey, and the ceremony stops with
//! [`CeremonyError::ForeignNonce`]. The new shares, once received, stay reachable through
//! [`RekeyCeremony::result`] whatever happens afterwards.
//!
//! A request the server may have acted on without its answer arriving whole (a cut or lost
//! connection, a timeout, a gateway's 502) puts the ceremony in
//! [`RekeyPhase::OutcomeUnknown`]: nothing is resent until the progress read says what
//! happened, and new shares complete in a cut answer are recovered from it.

use super::skeleton::{
    self, acted_on_unseen, queue, wrong_phase, Asked, Effect, Flight, Recount, Rules, Sending,
    Skeleton, Unknown,
};
use super::Next;
use crate::delivery::Delivery;
use crate::dialect::Dialect;
use crate::error::{CeremonyError, DecodeError, Error, Recovery, Refusal};
use crate::ops::rekey::{
    parse_update, CancelRekey, KeyKind, ReadRekeyProgress, Rekey, RekeyResult, RekeyStatus,
    RekeyUpdate, StartRekey,
};
use crate::ops::rekey_backup::{BackupKeys, DeleteBackupKeys, ReadBackupKeys};
use crate::ops::rekey_verify::{
    self, CancelRekeyVerify, ReadRekeyVerifyProgress, RekeyVerify, VerifyStatus, VerifyUpdate,
};
use crate::ops::Operation;
use crate::secret::{KeyShare, SecretBytes};
use crate::target::Target;
use crate::wire;
use http::{Response, StatusCode};
use std::collections::VecDeque;

/// Where a rekey ceremony stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RekeyPhase {
    /// The start (or, when resuming, the progress read) has not been answered yet.
    Starting,
    /// The rekey runs under the pinned nonce and takes current shares.
    CollectingShares,
    /// The new shares were issued and wait to be verified: the ceremony takes new shares.
    Verifying,
    /// The new shares are in effect (verified, or verification was not required).
    Done,
    /// A request the server may have acted on got no whole answer. The next request reads
    /// the progress to learn what happened (the share was counted, or not and is resent; the
    /// rekey completed; the server lost it) before anything else is sent.
    OutcomeUnknown,
    /// The rekey was cancelled; the old shares stay in effect.
    Cancelled,
    /// The ceremony cannot continue: another rekey replaced it, the server lost it, or it
    /// completed elsewhere. Nothing more is sent; any result stays reachable.
    Aborted,
}

impl RekeyPhase {
    fn name(self) -> &'static str {
        match self {
            RekeyPhase::Starting => "starting",
            RekeyPhase::CollectingShares => "collecting shares",
            RekeyPhase::Verifying => "verifying",
            RekeyPhase::Done => "done",
            RekeyPhase::OutcomeUnknown => "waiting to learn the outcome of a lost answer",
            RekeyPhase::Cancelled => "cancelled",
            RekeyPhase::Aborted => "aborted",
        }
    }

    fn is_terminal(self) -> bool {
        matches!(
            self,
            RekeyPhase::Done | RekeyPhase::Cancelled | RekeyPhase::Aborted
        )
    }
}

/// Whether the new shares still have to be verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verification {
    /// Not known yet: no new shares have been issued.
    Unknown,
    /// The new shares were issued without verification and are in effect.
    NotRequired,
    /// The new shares were issued but are not in effect until verified; the old ones still
    /// unseal.
    Pending,
    /// The new shares were verified and are in effect.
    Verified,
}

/// What an answer changed, returned by [`RekeyCeremony::handle_response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RekeyEvent {
    /// The nonce is pinned: the rekey started, or the one in progress was resumed.
    Started,
    /// A current share was counted; see [`RekeyCeremony::progress`].
    Progress,
    /// The new shares were issued: [`RekeyCeremony::result`] holds them. Keep them.
    Rekeyed,
    /// A new share was counted towards verification.
    VerificationProgress,
    /// Verification restarted (it was cancelled); the new shares stay the same. The fresh
    /// verification nonce is read next, alongside the rekey's nonce.
    VerificationRestarted,
    /// The new shares were verified and are now in effect.
    Verified,
    /// The progress was read again.
    Refreshed,
    /// The rekey was cancelled.
    Cancelled,
    /// A share whose answer was lost had not been counted: it is queued again.
    Requeued,
    /// The server discarded the shares submitted so far (they did not combine into the key),
    /// the lost share's among them: progress starts again from 0.
    ProgressReset,
}

#[derive(Debug, Clone)]
enum Mode {
    Start(StartRekey),
    Resume,
}

type Stage = skeleton::Stage<Verify, Lost>;

/// The verification of issued new shares.
#[derive(Debug, Default)]
pub(super) struct Verify {
    /// The verification nonce, accepted from the completing answer or when read next to the
    /// pinned rekey nonce; `None` until read again.
    nonce: Option<String>,
    /// The last verification status the server reported.
    status: Option<VerifyStatus>,
    /// The share that would have completed the verification did not (the server failed, or
    /// had restarted the verification): a restart read next is reported, not taken up
    /// quietly.
    failed_at_completion: bool,
}

#[derive(Debug)]
pub(super) enum Lost {
    /// `salvaged_nonce`: the nonce found in what arrived of the start's answer.
    Start {
        salvaged_nonce: Option<String>,
    },
    Share(KeyShare),
    VerifyShare(KeyShare),
    Cancel,
    CancelVerification,
}

#[derive(Debug)]
pub(super) enum InFlight {
    Start,
    Read,
    Share(KeyShare),
    VerifyShare(KeyShare),
    Cancel,
    CancelVerification,
    /// The progress read that settles an unknown outcome.
    Resolve,
    /// The verification progress read that settles a lost verification share.
    ResolveVerify,
}

impl Flight for InFlight {
    fn effect(&self) -> Effect {
        match self {
            InFlight::Read => Effect::Reads,
            InFlight::Resolve | InFlight::ResolveVerify => Effect::Settles,
            _ => Effect::Changes,
        }
    }
}

/// A rekey of the unseal or recovery shares, driven by the caller: ask
/// [`poll`](Self::poll) what to send, send it, feed the answer to
/// [`handle_response`](Self::handle_response), repeat while it returns a request to send
/// ([`Next`]). The [`drive`](fn@super::drive) functions run that loop through an HTTP stack.
///
/// A ceremony runs on one [`Dialect`]: the first request fixes it, and a target of another
/// dialect is refused ([`CeremonyError::DialectMismatch`]), because Vault's classic paths
/// and OpenBao's paths keep separate rekey state.
///
/// Shares queue up and are sent one per request. A share is used up once an answer to it
/// arrives, whether the server counted it or refused it; the other queued shares stay queued.
/// A node that could not judge it (sealed, a standby, no leader yet, overloaded) leaves it
/// at the front of the queue for the next drive.
/// Backups are read and deleted with plain operations: see [`read_backup`](Self::read_backup).
///
/// See the [module docs](super) for a complete example.
#[derive(Debug)]
#[must_use = "a ceremony does nothing until it is driven"]
pub struct RekeyCeremony {
    kind: KeyKind,
    mode: Mode,
    run: Skeleton<InFlight, Verify, Lost>,
    /// The last status the server reported for the rekey.
    status: Option<RekeyStatus>,
    verification: Verification,
    verification_shares: VecDeque<KeyShare>,
    result: Option<RekeyResult>,
}

impl RekeyCeremony {
    /// A new rekey configured by `config` (shares, threshold, PGP keys, backup, verification
    /// and which shares to rekey). The start request is sent first; its answer pins the
    /// nonce.
    pub fn start(config: StartRekey) -> Self {
        let pinned = match config.pgp_fingerprints() {
            Some(fingerprints) => Ok(Some(fingerprints.to_vec())),
            None => super::skeleton::fingerprints_of(config.pgp_key_list()),
        };
        let mut rekey = Self::new(config.key_kind(), Mode::Start(config));
        rekey.run.pin_keys(pinned);
        rekey
    }

    /// Joins the rekey of `kind` already in progress: its progress is read first and its
    /// nonce pinned (see [`require_nonce`](Self::require_nonce) to accept only a known one).
    /// Resuming during verification is allowed; the new shares are then not known to this
    /// ceremony ([`result`](Self::result) stays `None`) but can be verified with it.
    pub fn resume(kind: KeyKind) -> Self {
        Self::new(kind, Mode::Resume)
    }

    fn new(kind: KeyKind, mode: Mode) -> Self {
        Self {
            kind,
            mode,
            run: Skeleton::new("rekey"),
            status: None,
            verification: Verification::Unknown,
            verification_shares: VecDeque::new(),
            result: None,
        }
    }

    shared_methods!(RekeyEvent);

    /// Accept only a rekey whose new shares go to these PGP keys, by fingerprint (hex, any
    /// case), in this order: a rekey restarted with another key set (a re-init that swaps in
    /// someone else's keys) fails with [`CeremonyError::FingerprintMismatch`] before a share
    /// is sent, on start, on resume and at every progress read. With the `pgp` feature, a
    /// rekey started with PGP keys pins their fingerprints itself.
    pub fn require_fingerprints<I, S>(mut self, fingerprints: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.run
            .require_fingerprints(fingerprints.into_iter().map(Into::into).collect());
        self
    }

    /// Queues one current share (hvac's `rekey`). It is sent once the nonce is pinned.
    pub fn submit_share(&mut self, share: KeyShare) -> Result<(), Error> {
        self.submit_shares([share])
    }

    /// Queues current shares, sent one at a time in order (hvac's `rekey_multi`). Nothing is
    /// queued if any share is empty.
    pub fn submit_shares<I>(&mut self, shares: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = KeyShare>,
    {
        match self.phase() {
            RekeyPhase::Starting | RekeyPhase::CollectingShares | RekeyPhase::OutcomeUnknown => {}
            phase => return Err(wrong_phase("submitting a current share", phase.name())),
        }
        queue(&mut self.run.shares, shares)
    }

    /// Queues one new share for verification (hvac's `rekey_verify`).
    pub fn submit_verification_share(&mut self, share: KeyShare) -> Result<(), Error> {
        self.submit_verification_shares([share])
    }

    /// Queues new shares for verification, sent in order once the verification phase starts
    /// (hvac's `rekey_verify_multi`). Nothing is queued if any share is empty.
    pub fn submit_verification_shares<I>(&mut self, shares: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = KeyShare>,
    {
        match self.phase() {
            RekeyPhase::Verifying => {}
            RekeyPhase::Starting | RekeyPhase::CollectingShares | RekeyPhase::OutcomeUnknown
                if self.verification_expected() => {}
            RekeyPhase::Starting | RekeyPhase::CollectingShares | RekeyPhase::OutcomeUnknown => {
                return Err(wrong_phase(
                    "submitting a verification share",
                    "a rekey without verification",
                ))
            }
            phase => return Err(wrong_phase("submitting a verification share", phase.name())),
        }
        queue(&mut self.verification_shares, shares)
    }

    /// Drops all queued shares (current and new) that were not sent yet.
    pub fn clear_queued_shares(&mut self) {
        self.run.shares.clear();
        self.verification_shares.clear();
    }

    /// Cancels the whole rekey (hvac's `cancel_rekey`), sending the pinned nonce. Queued
    /// shares are dropped once it is cancelled. During verification the old shares stay in
    /// effect and the issued new shares become useless.
    ///
    /// A resumed ceremony reads the progress (and checks the nonce) before it cancels; so does
    /// one whose last answer was lost. A started one whose start was never sent has nothing
    /// to cancel and sends nothing.
    ///
    /// An aborted ceremony can still cancel when a rekey it may own still runs on the server:
    /// one completed by a share whose answer was lost, with verification pending
    /// ([`CeremonyError::AnswerLost`], [`CeremonyError::CompletedElsewhere`]), or one found
    /// after a lost start ([`CeremonyError::StartUnconfirmed`]). A rekey replaced by someone
    /// else's is not cancelled.
    pub fn cancel(&mut self) -> Result<(), Error> {
        if !self.run.ask_cancel() {
            return Err(wrong_phase("cancelling", self.phase().name()));
        }
        Ok(())
    }

    /// Restarts verification (hvac's `cancel_rekey_verify`): the server issues a fresh
    /// verification nonce, forgets the new shares submitted so far, and keeps the same new
    /// shares.
    pub fn cancel_verification(&mut self) -> Result<(), Error> {
        if !matches!(self.run.stage, Stage::Own(_)) {
            return Err(wrong_phase("cancelling verification", self.phase().name()));
        }
        self.run.ask(Asked::CancelVerification);
        Ok(())
    }

    /// Reads the progress again (for instance while other operators submit their shares).
    pub fn refresh(&mut self) -> Result<(), Error> {
        match self.run.stage {
            Stage::Collecting | Stage::Own(_) => {
                self.run.ask(Asked::Refresh);
                Ok(())
            }
            _ => Err(wrong_phase("reading the progress", self.phase().name())),
        }
    }

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
        match self.run.answered()? {
            InFlight::Start => match wire::json(status, body) {
                Ok(answer) => self.on_started(answer),
                Err(err) => Err(self.refused(err, InFlight::Start, status, body)),
            },
            // A refused read leaves the outcome unknown: it is read again.
            InFlight::Resolve => {
                let answer = wire::json(status, body)?;
                self.resolve(answer)
            }
            InFlight::ResolveVerify => match wire::json(status, body) {
                Ok(answer) => self.resolve_verify(Some(answer)),
                Err(err) if err.refusal() == Some(&Refusal::NotInProgress) => {
                    self.resolve_verify(None)
                }
                Err(err) => Err(err),
            },
            InFlight::Read => match wire::json(status, body) {
                Ok(answer) => self.on_read(answer),
                Err(err) => Err(self.read_failed(err)),
            },
            InFlight::Share(share) => match parse_update(status, body) {
                Ok(update) => self.on_share_answer(update, share, status, body),
                Err(err) => Err(self.refused(err, InFlight::Share(share), status, body)),
            },
            InFlight::VerifyShare(share) => {
                let answer = rekey_verify::parse_update(status, body);
                self.on_verify_answer(answer, share, status, body)
            }
            InFlight::Cancel => {
                self.cancel_answered(wire::empty(status, body), InFlight::Cancel)?;
                Ok(RekeyEvent::Cancelled)
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
        }
    }

    /// New shares complete in a share's answer that was cut or could not be decoded.
    fn salvage_result(&mut self, body: &[u8]) {
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
    fn resolve(&mut self, status: RekeyStatus) -> Result<RekeyEvent, Error> {
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
                self.abort_cancellable(found.clone());
                Err(CeremonyError::StartUnconfirmed {
                    ceremony: "rekey",
                    found,
                }
                .into())
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
    fn resolve_share(
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
    fn resolve_verify(&mut self, answer: Option<VerifyStatus>) -> Result<RekeyEvent, Error> {
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

    fn on_started(&mut self, status: RekeyStatus) -> Result<RekeyEvent, Error> {
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
    fn check_fingerprints(&mut self, status: RekeyStatus) -> Result<(), Error> {
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

    fn on_read(&mut self, status: RekeyStatus) -> Result<RekeyEvent, Error> {
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

    fn on_share_answer(
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

    fn on_verify_answer(
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

    /// Whether the rekey asks for verification, as far as known.
    fn verification_expected(&self) -> bool {
        match (&self.status, &self.mode) {
            (Some(status), _) => status.verification_required,
            (None, Mode::Start(config)) => config.verification_required(),
            (None, Mode::Resume) => true,
        }
    }

    /// The verification under way, or under way when the last request was lost.
    fn verify(&self) -> Option<&Verify> {
        match &self.run.stage {
            Stage::Own(verify) => Some(verify),
            Stage::Unknown(unknown) => match &unknown.before {
                Stage::Own(verify) => Some(verify),
                _ => None,
            },
            _ => None,
        }
    }

    /// Where the ceremony stands.
    pub fn phase(&self) -> RekeyPhase {
        match self.run.stage {
            Stage::Starting => RekeyPhase::Starting,
            Stage::Collecting => RekeyPhase::CollectingShares,
            Stage::Own(_) => RekeyPhase::Verifying,
            Stage::Done => RekeyPhase::Done,
            Stage::Unknown(_) => RekeyPhase::OutcomeUnknown,
            Stage::Cancelled => RekeyPhase::Cancelled,
            Stage::Aborted { .. } => RekeyPhase::Aborted,
        }
    }

    /// Which shares this ceremony rekeys.
    pub fn key_kind(&self) -> KeyKind {
        self.kind
    }

    /// The verification nonce in use, while verifying.
    pub fn verification_nonce(&self) -> Option<&str> {
        self.verify().and_then(|verify| verify.nonce.as_deref())
    }

    /// Shares counted so far in the current phase: current shares while collecting, new
    /// shares while verifying.
    pub fn progress(&self) -> u32 {
        match self.verify() {
            Some(verify) => verify.status.as_ref().map_or(0, |s| s.progress),
            None => self.status.as_ref().map_or(0, |s| s.progress),
        }
    }

    /// Shares needed in the current phase: the current threshold while collecting, the new
    /// threshold while verifying (0 while not known).
    pub fn required(&self) -> u32 {
        match self.verify() {
            Some(verify) => verify
                .status
                .as_ref()
                .map(|s| s.t)
                .filter(|&t| t > 0)
                .or_else(|| self.status.as_ref().map(|s| s.t))
                .unwrap_or(0),
            None => self.status.as_ref().map_or(0, |s| s.required),
        }
    }

    /// The last status the server reported for the rekey (new `t` and `n`, PGP
    /// fingerprints, backup, verification).
    pub fn status(&self) -> Option<&RekeyStatus> {
        self.status.as_ref()
    }

    /// The last verification status the server reported, while verifying.
    pub fn verify_status(&self) -> Option<&VerifyStatus> {
        self.verify().and_then(|verify| verify.status.as_ref())
    }

    /// Current shares queued and not sent yet.
    pub fn queued_shares(&self) -> usize {
        self.run.shares.len()
    }

    /// New shares queued for verification and not sent yet.
    pub fn queued_verification_shares(&self) -> usize {
        self.verification_shares.len()
    }

    /// The new shares (with their PGP fingerprints, in the order of the keys given, and the
    /// backup flag) once the rekey completed. They stay here in every later phase, after any
    /// error, until the ceremony is dropped.
    pub fn result(&self) -> Option<&RekeyResult> {
        self.result.as_ref()
    }

    /// Takes the result out of the ceremony.
    pub fn into_result(self) -> Option<RekeyResult> {
        self.result
    }

    /// Whether the new shares still need verifying.
    pub fn verification(&self) -> Verification {
        self.verification
    }

    /// The operation that reads the PGP-encrypted backup of the new shares (for a rekey
    /// started with `backup`). Check its `nonce` against [`nonce`](Self::nonce) with
    /// [`is_own_backup`](Self::is_own_backup): the servers keep one backup, whichever rekey
    /// wrote it.
    pub fn read_backup(&self) -> ReadBackupKeys {
        ReadBackupKeys::new().kind(self.kind)
    }

    /// The operation that deletes the stored backup.
    pub fn delete_backup(&self) -> DeleteBackupKeys {
        DeleteBackupKeys::new().kind(self.kind)
    }

    /// Whether `backup` was written by this ceremony's rekey.
    pub fn is_own_backup(&self, backup: &BackupKeys) -> bool {
        self.run.nonce().is_some() && backup.nonce.as_ref() == self.run.nonce()
    }
}

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

impl_ceremony!(RekeyCeremony, RekeyPhase, RekeyEvent);

impl From<Recount> for RekeyEvent {
    fn from(recount: Recount) -> Self {
        match recount {
            Recount::Counted => RekeyEvent::Progress,
            Recount::NotCounted => RekeyEvent::Requeued,
            Recount::Reset => RekeyEvent::ProgressReset,
        }
    }
}

/// The nonce in a start answer that was cut or could not be decoded.
fn salvaged_nonce(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Started {
        #[serde(default, deserialize_with = "wire::non_empty")]
        nonce: Option<String>,
    }
    crate::salvage::salvage::<Started>(body).and_then(|started| started.nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: &str = "e3598a44-5a49-d5ab-c27e-e871724e4507";

    fn target() -> Target {
        Target::new("http://127.0.0.1:8200")
            .unwrap()
            .with_dialect(Dialect::OpenBao)
    }

    fn poll(rekey: &mut RekeyCeremony) -> (String, String, serde_json::Value) {
        let request = rekey
            .poll(&target())
            .unwrap()
            .into_request()
            .expect("a request");
        let body = if request.body().is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(request.body()).unwrap()
        };
        (
            request.method().to_string(),
            request.uri().path().to_string(),
            body,
        )
    }

    fn answer(rekey: &mut RekeyCeremony, status: u16, body: &str) -> Result<RekeyEvent, Error> {
        rekey.handle_response(StatusCode::from_u16(status).unwrap(), body.as_bytes())
    }

    fn status(extra: &str) -> String {
        format!(
            r#"{{"data":{{"n":3,"nonce":"{NONCE}","progress":0,"required":3,"started":true,"t":2{extra}}}}}"#
        )
    }

    fn verifying() -> RekeyCeremony {
        let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(true));
        rekey.submit_share(KeyShare::new("aa")).unwrap();
        poll(&mut rekey);
        answer(&mut rekey, 200, &status(r#","verification_required":true"#)).unwrap();
        poll(&mut rekey);
        let done = format!(
            r#"{{"data":{{"complete":true,"keys":["k1","k2","k3"],"nonce":"{NONCE}","verification_nonce":"v-1","verification_required":true}}}}"#
        );
        assert_eq!(answer(&mut rekey, 200, &done).unwrap(), RekeyEvent::Rekeyed);
        assert_eq!(rekey.phase(), RekeyPhase::Verifying);
        rekey
    }

    #[test]
    fn a_resumed_rekey_reads_before_it_cancels() {
        let mut rekey = RekeyCeremony::resume(KeyKind::Unseal);
        rekey.cancel().unwrap();
        let (method, path, _) = poll(&mut rekey);
        assert_eq!(
            (method.as_str(), path.as_str()),
            ("GET", "/v1/sys/rotate/root/init")
        );
        assert_eq!(
            answer(&mut rekey, 200, &status("")).unwrap(),
            RekeyEvent::Started
        );
        let (method, _, body) = poll(&mut rekey);
        assert_eq!(method, "DELETE");
        assert_eq!(body["nonce"], NONCE);
        answer(&mut rekey, 204, "").unwrap();
        assert_eq!(rekey.phase(), RekeyPhase::Cancelled);
    }

    #[test]
    fn a_stale_verification_nonce_is_read_again_and_the_share_resent() {
        let mut rekey = verifying();
        rekey
            .submit_verification_share(KeyShare::new("k1"))
            .unwrap();
        let (_, path, body) = poll(&mut rekey);
        assert!(path.ends_with("/verify"));
        assert_eq!(body["nonce"], "v-1");
        let stale = r#"{"errors":["incorrect nonce supplied; nonce for this verify operation is \"v-2\""]}"#;
        assert!(answer(&mut rekey, 400, stale).is_err());
        assert_eq!(rekey.phase(), RekeyPhase::Verifying, "not a foreign rekey");
        assert_eq!(rekey.queued_verification_shares(), 1);
        let (method, path, _) = poll(&mut rekey);
        assert_eq!(
            (method.as_str(), path.as_str()),
            ("GET", "/v1/sys/rotate/root/init")
        );
        answer(
            &mut rekey,
            200,
            &status(r#","verification_nonce":"v-2","verification_required":true"#),
        )
        .unwrap();
        let (_, _, body) = poll(&mut rekey);
        assert_eq!(body, serde_json::json!({"key": "k1", "nonce": "v-2"}));
    }

    #[test]
    fn the_verification_nonce_is_accepted_only_next_to_the_pinned_nonce() {
        let mut rekey = verifying();
        rekey.cancel_verification().unwrap();
        let (method, path, _) = poll(&mut rekey);
        assert_eq!(
            (method.as_str(), path.as_str()),
            ("DELETE", "/v1/sys/rotate/root/verify")
        );
        let restarted = r#"{"data":{"n":3,"nonce":"v-3","progress":0,"started":true,"t":2}}"#;
        assert_eq!(
            answer(&mut rekey, 200, restarted).unwrap(),
            RekeyEvent::VerificationRestarted
        );
        assert_eq!(rekey.verification_nonce(), None);
        poll(&mut rekey);
        let other = status(r#","verification_nonce":"v-3""#).replace(NONCE, "someone-else");
        assert!(matches!(
            answer(&mut rekey, 200, &other),
            Err(Error::Ceremony(CeremonyError::ForeignNonce { .. }))
        ));
        assert_eq!(rekey.phase(), RekeyPhase::Aborted);
        assert!(rekey.result().is_some(), "the new shares stay reachable");
    }

    #[test]
    fn a_rekey_finished_by_someone_else_is_not_ours_to_verify() {
        let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(true));
        rekey.submit_share(KeyShare::new("aa")).unwrap();
        poll(&mut rekey);
        answer(&mut rekey, 200, &status(r#","verification_required":true"#)).unwrap();
        poll(&mut rekey);
        let finished = r#"{"errors":["rotation already finished; verification must be performed; nonce for the verification operation is \"v-1\""]}"#;
        assert!(answer(&mut rekey, 400, finished).is_err());
        poll(&mut rekey);
        let err = answer(
            &mut rekey,
            200,
            &status(r#","verification_nonce":"v-1","verification_required":true"#),
        )
        .unwrap_err();
        assert!(matches!(
            err,
            Error::Ceremony(CeremonyError::CompletedElsewhere)
        ));
        assert_eq!(rekey.phase(), RekeyPhase::Aborted);
    }

    #[test]
    fn a_verification_the_server_forgot_aborts() {
        let mut rekey = verifying();
        rekey.refresh().unwrap();
        poll(&mut rekey);
        assert!(matches!(
            answer(&mut rekey, 200, &status("")),
            Err(Error::Ceremony(CeremonyError::NotStarted(_)))
        ));
        assert_eq!(rekey.phase(), RekeyPhase::Aborted);
        assert!(rekey.result().is_some());
    }

    #[test]
    fn a_lost_refresh_is_read_again() {
        let mut rekey = verifying();
        rekey.refresh().unwrap();
        poll(&mut rekey);
        rekey.request_failed(Delivery::Unknown);
        let (method, _, _) = poll(&mut rekey);
        assert_eq!(method, "GET");
        assert!(answer(&mut rekey, 503, r#"{"errors":["Vault is sealed"]}"#).is_err());
        let (method, _, _) = poll(&mut rekey);
        assert_eq!(method, "GET", "a refused refresh is retried");
    }

    #[test]
    fn a_missing_nonce_in_the_start_answer_aborts() {
        let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2));
        poll(&mut rekey);
        let err = answer(&mut rekey, 200, r#"{"started":true,"t":2,"n":3}"#).unwrap_err();
        assert!(matches!(err, Error::Ceremony(CeremonyError::NotStarted(_))));
        assert_eq!(rekey.phase(), RekeyPhase::Aborted);
    }

    #[test]
    fn phases_name_themselves_in_errors() {
        let mut rekey = verifying();
        let err = rekey.submit_share(KeyShare::new("aa")).unwrap_err();
        assert!(err.to_string().contains("verifying"), "{err}");
    }
}
