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

use super::{
    acted_on_unseen, check_dialect, nonce_conflict, sealed, wrong_phase, Ceremony, KeptAnswers,
    Next,
};
use crate::error::{CeremonyError, DecodeError, Error, Recovery, Refusal};
use crate::ops::fields::checked_shares as checked;
use crate::ops::rekey::{
    CancelRekey, KeyKind, ReadRekeyProgress, Rekey, RekeyResult, RekeyStatus, RekeyUpdate,
    StartRekey,
};
use crate::ops::rekey_backup::{BackupKeys, DeleteBackupKeys, ReadBackupKeys};
use crate::ops::rekey_verify::{
    CancelRekeyVerify, ReadRekeyVerifyProgress, RekeyVerify, VerifyStatus, VerifyUpdate,
};
use crate::ops::Operation;
use crate::secret::{KeyShare, SecretBytes};
use crate::target::{Dialect, Target};
use crate::transport::Delivery;
use crate::wire;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
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

#[derive(Debug)]
enum InFlight {
    Start,
    Read,
    Share(KeyShare),
    VerifyShare(KeyShare),
    Cancel,
    CancelVerification,
    /// The progress read that resolves an unknown outcome.
    Resolve,
    /// The verification progress read that resolves a lost verification share.
    ResolveVerify,
}

/// A request whose answer did not arrive whole, with where the ceremony stood when it was
/// sent.
#[derive(Debug)]
struct Unknown {
    lost: Lost,
    phase: RekeyPhase,
    progress: u32,
}

#[derive(Debug)]
enum Lost {
    Start,
    Share(KeyShare),
    VerifyShare(KeyShare),
    Cancel,
    CancelVerification,
}

/// A rekey of the unseal or recovery shares, driven by the caller: ask
/// [`poll`](Self::poll) what to send, send it, feed the answer to
/// [`handle_response`](Self::handle_response), repeat while it returns a request to send ([`Next`]). The
/// [`drive`](fn@super::drive) functions run that loop through an HTTP stack.
///
/// A ceremony runs on one [`Dialect`]: the first request fixes it, and a target of another
/// dialect is refused ([`CeremonyError::DialectMismatch`]), because Vault's classic paths
/// and OpenBao's paths keep separate rekey state.
///
/// Shares queue up and are sent one per request. A share is used up once an answer to it
/// arrives, whether the server counted it or refused it; the other queued shares stay queued.
/// Backups are read and deleted with plain operations: see [`read_backup`](Self::read_backup).
///
/// See the [module docs](super) for a complete example.
#[derive(Debug)]
#[must_use = "a ceremony does nothing until it is driven"]
pub struct RekeyCeremony {
    kind: KeyKind,
    mode: Mode,
    required_nonce: Option<String>,
    dialect: Option<Dialect>,
    phase: RekeyPhase,
    nonce: Option<String>,
    status: Option<RekeyStatus>,
    verify_status: Option<VerifyStatus>,
    verification_nonce: Option<String>,
    verification: Verification,
    shares: VecDeque<KeyShare>,
    verification_shares: VecDeque<KeyShare>,
    in_flight: Option<InFlight>,
    refresh: bool,
    cancel: bool,
    cancel_verification: bool,
    result: Option<RekeyResult>,
    undecoded: KeptAnswers,
    unknown: Option<Unknown>,
    /// The nonce found in a start answer that arrived cut or undecodable.
    salvaged_nonce: Option<String>,
    /// The nonce of a rekey this ceremony may cancel although it cannot prove it is its own.
    unconfirmed_nonce: Option<String>,
    /// Aborted, but a rekey under this ceremony's nonce may still run on the server.
    cancellable: bool,
}

impl RekeyCeremony {
    /// A new rekey configured by `config` (shares, threshold, PGP keys, backup, verification
    /// and which shares to rekey). The start request is sent first; its answer pins the
    /// nonce.
    pub fn start(config: StartRekey) -> Self {
        Self::new(config.key_kind(), Mode::Start(config))
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
            required_nonce: None,
            dialect: None,
            phase: RekeyPhase::Starting,
            nonce: None,
            status: None,
            verify_status: None,
            verification_nonce: None,
            verification: Verification::Unknown,
            shares: VecDeque::new(),
            verification_shares: VecDeque::new(),
            in_flight: None,
            refresh: false,
            cancel: false,
            cancel_verification: false,
            result: None,
            undecoded: KeptAnswers::default(),
            unknown: None,
            salvaged_nonce: None,
            unconfirmed_nonce: None,
            cancellable: false,
        }
    }

    /// Accept only the rekey with this nonce (as shown to the operators out of band): any
    /// other fails with [`CeremonyError::ForeignNonce`] before a share is sent.
    pub fn require_nonce(mut self, nonce: impl Into<String>) -> Self {
        self.required_nonce = Some(nonce.into());
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
        match self.phase {
            RekeyPhase::Starting | RekeyPhase::CollectingShares | RekeyPhase::OutcomeUnknown => {}
            phase => return Err(self.wrong_phase("submitting a current share", phase)),
        }
        let shares = checked(shares)?;
        self.shares.extend(shares);
        Ok(())
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
        match self.phase {
            RekeyPhase::Verifying => {}
            RekeyPhase::Starting | RekeyPhase::CollectingShares | RekeyPhase::OutcomeUnknown
                if self.verification_expected() => {}
            RekeyPhase::Starting | RekeyPhase::CollectingShares | RekeyPhase::OutcomeUnknown => {
                return Err(CeremonyError::WrongPhase {
                    action: "submitting a verification share",
                    phase: "a rekey without verification",
                }
                .into())
            }
            phase => return Err(self.wrong_phase("submitting a verification share", phase)),
        }
        let shares = checked(shares)?;
        self.verification_shares.extend(shares);
        Ok(())
    }

    /// Drops all queued shares (current and new) that were not sent yet.
    pub fn clear_queued_shares(&mut self) {
        self.shares.clear();
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
        match self.phase {
            RekeyPhase::Cancelled => Ok(()),
            RekeyPhase::Aborted if self.cancellable => {
                self.cancel = true;
                Ok(())
            }
            RekeyPhase::Done | RekeyPhase::Aborted => {
                Err(self.wrong_phase("cancelling", self.phase))
            }
            _ => {
                self.cancel = true;
                Ok(())
            }
        }
    }

    /// Restarts verification (hvac's `cancel_rekey_verify`): the server issues a fresh
    /// verification nonce, forgets the new shares submitted so far, and keeps the same new
    /// shares.
    pub fn cancel_verification(&mut self) -> Result<(), Error> {
        if self.phase != RekeyPhase::Verifying {
            return Err(self.wrong_phase("cancelling verification", self.phase));
        }
        self.cancel_verification = true;
        Ok(())
    }

    /// Reads the progress again (for instance while other operators submit their shares).
    pub fn refresh(&mut self) -> Result<(), Error> {
        match self.phase {
            RekeyPhase::CollectingShares | RekeyPhase::Verifying => {
                self.refresh = true;
                Ok(())
            }
            phase => Err(self.wrong_phase("reading the progress", phase)),
        }
    }

    /// What the ceremony needs next: a request to send, the answer to the one out, current
    /// or new shares, or nothing more.
    ///
    /// Fails without sending anything if the target's dialect differs from the ceremony's, or
    /// if the request cannot be built (a share that cannot be sent is dropped).
    pub fn poll(&mut self, target: &Target) -> Result<Next, Error> {
        let settling = self.phase == RekeyPhase::OutcomeUnknown;
        Ok(match self.next_request(target)? {
            Some(request) if settling => Next::Settle(request),
            Some(request) => Next::Send(request),
            None if self.awaiting_response() => Next::AwaitingAnswer,
            None if self.phase.is_terminal() => Next::Finished,
            None if self.phase == RekeyPhase::Verifying => Next::NeedVerificationShares {
                progress: self.progress(),
                required: self.required(),
            },
            None => Next::NeedShares {
                progress: self.progress(),
                required: self.required(),
            },
        })
    }

    fn next_request(&mut self, target: &Target) -> Result<Option<Request<Bytes>>, Error> {
        check_dialect(self.dialect, target)?;
        let cancelling_aborted = self.phase == RekeyPhase::Aborted && self.cancel;
        if self.in_flight.is_some() || (self.phase.is_terminal() && !cancelling_aborted) {
            return Ok(None);
        }
        let kind = self.kind;
        let (request, in_flight) = if self.phase == RekeyPhase::OutcomeUnknown {
            if matches!(
                self.unknown,
                Some(Unknown {
                    lost: Lost::VerifyShare(_),
                    ..
                })
            ) {
                (
                    ReadRekeyVerifyProgress::new().kind(kind).request(target)?,
                    InFlight::ResolveVerify,
                )
            } else {
                (
                    ReadRekeyProgress::new().kind(kind).request(target)?,
                    InFlight::Resolve,
                )
            }
        } else if cancelling_aborted {
            let Some(nonce) = self
                .nonce
                .clone()
                .or_else(|| self.unconfirmed_nonce.clone())
            else {
                self.cancel = false;
                return Ok(None);
            };
            (
                CancelRekey::new().kind(kind).nonce(nonce).request(target)?,
                InFlight::Cancel,
            )
        } else if self.phase == RekeyPhase::Starting {
            if self.cancel && matches!(self.mode, Mode::Start(_)) {
                // Nothing was started by this ceremony: there is nothing to cancel.
                self.finish_cancel();
                return Ok(None);
            }
            match &self.mode {
                Mode::Start(config) => (config.request(target)?, InFlight::Start),
                Mode::Resume => (
                    ReadRekeyProgress::new().kind(kind).request(target)?,
                    InFlight::Read,
                ),
            }
        } else {
            let Some(nonce) = self.nonce.clone() else {
                return Ok(None);
            };
            if self.cancel {
                (
                    CancelRekey::new().kind(kind).nonce(nonce).request(target)?,
                    InFlight::Cancel,
                )
            } else if self.refresh
                || (self.phase == RekeyPhase::Verifying
                    && self.verification_nonce.is_none()
                    && !self.cancel_verification)
            {
                (
                    ReadRekeyProgress::new().kind(kind).request(target)?,
                    InFlight::Read,
                )
            } else if self.phase == RekeyPhase::Verifying && self.cancel_verification {
                (
                    CancelRekeyVerify::new().kind(kind).request(target)?,
                    InFlight::CancelVerification,
                )
            } else if self.phase == RekeyPhase::Verifying {
                let Some(verification_nonce) = self.verification_nonce.clone() else {
                    return Ok(None);
                };
                let Some(share) = self.verification_shares.pop_front() else {
                    return Ok(None);
                };
                let request = RekeyVerify::new(share.clone(), verification_nonce)
                    .kind(kind)
                    .request(target)?;
                (request, InFlight::VerifyShare(share))
            } else {
                let Some(share) = self.shares.pop_front() else {
                    return Ok(None);
                };
                let request = Rekey::new(share.clone(), nonce)
                    .kind(kind)
                    .request(target)?;
                (request, InFlight::Share(share))
            }
        };
        if matches!(in_flight, InFlight::Read) {
            self.refresh = false;
        }
        self.dialect = Some(target.dialect());
        self.in_flight = Some(in_flight);
        Ok(Some(request))
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
        let in_flight = self
            .in_flight
            .take()
            .ok_or(CeremonyError::NothingOutstanding)?;
        let kind = self.kind;
        match in_flight {
            InFlight::Start => {
                let answer = match &self.mode {
                    Mode::Start(config) => config.parse(status, body),
                    Mode::Resume => ReadRekeyProgress::new().kind(kind).parse(status, body),
                };
                match answer {
                    Ok(answer) => self.on_started(answer),
                    Err(err) => {
                        if acted_on_unseen(&err) {
                            // The server may have started a rekey: learn which before
                            // starting another.
                            self.unseen(InFlight::Start, status, body);
                        }
                        Err(err)
                    }
                }
            }
            // A refused read leaves the outcome unknown: it is read again.
            InFlight::Resolve => match ReadRekeyProgress::new().kind(kind).parse(status, body) {
                Ok(answer) => self.resolve(answer),
                Err(err) => Err(err),
            },
            InFlight::ResolveVerify => {
                match ReadRekeyVerifyProgress::new()
                    .kind(kind)
                    .parse(status, body)
                {
                    Ok(answer) => self.resolve_verify(Some(answer)),
                    Err(err) if err.refusal() == Some(&Refusal::NotInProgress) => {
                        self.resolve_verify(None)
                    }
                    Err(err) => Err(err),
                }
            }
            InFlight::Read => match ReadRekeyProgress::new().kind(kind).parse(status, body) {
                Ok(answer) => self.on_read(answer),
                Err(err) => {
                    if self.phase != RekeyPhase::Starting {
                        self.refresh = true;
                    }
                    Err(err)
                }
            },
            InFlight::Share(share) => {
                let answer = Rekey::new(KeyShare::new(""), "")
                    .kind(kind)
                    .parse(status, body);
                self.on_share_answer(answer, share, status, body)
            }
            InFlight::VerifyShare(share) => {
                let answer = RekeyVerify::new(KeyShare::new(""), "")
                    .kind(kind)
                    .parse(status, body);
                self.on_verify_answer(answer, share, status, body)
            }
            InFlight::Cancel => match CancelRekey::new().kind(kind).parse(status, body) {
                Ok(()) => {
                    self.finish_cancel();
                    Ok(RekeyEvent::Cancelled)
                }
                Err(err) if err.refusal() == Some(&Refusal::NotInProgress) => {
                    self.finish_cancel();
                    Ok(RekeyEvent::Cancelled)
                }
                Err(err) => {
                    if acted_on_unseen(&err) {
                        self.lose(InFlight::Cancel);
                    } else if self.phase == RekeyPhase::Aborted {
                        // Refused (another nonce): not this ceremony's to cancel.
                        self.cancel = false;
                    }
                    Err(err)
                }
            },
            InFlight::CancelVerification => {
                match CancelRekeyVerify::new().kind(kind).parse(status, body) {
                    Ok(answer) => {
                        self.cancel_verification = false;
                        // The fresh verification nonce is accepted only when read next to
                        // the pinned rekey nonce.
                        self.verification_nonce = None;
                        self.verify_status = Some(VerifyStatus {
                            nonce: None,
                            progress: 0,
                            ..answer
                        });
                        Ok(RekeyEvent::VerificationRestarted)
                    }
                    Err(err) => {
                        if acted_on_unseen(&err) {
                            self.lose(InFlight::CancelVerification);
                        } else if err.refusal() == Some(&Refusal::NotInProgress) {
                            self.abort();
                        }
                        Err(err)
                    }
                }
            }
        }
    }

    /// [`handle_response`](Self::handle_response) for a whole `http::Response`.
    pub fn handle_http_response<B: AsRef<[u8]>>(
        &mut self,
        response: &Response<B>,
    ) -> Result<RekeyEvent, Error> {
        self.handle_response(response.status(), response.body().as_ref())
    }

    /// The request last returned by [`poll`](Self::poll) got no whole answer;
    /// `delivery` says how far it got.
    ///
    /// A request that never left ([`Delivery::NotSent`]) is built again (a share goes back
    /// to the front of its queue). One the server may have acted on puts the ceremony in
    /// [`RekeyPhase::OutcomeUnknown`]: the next request reads the progress, and the share is
    /// resent only if it was not counted. What arrived of a cut answer
    /// ([`Delivery::Cut`]) is kept ([`undecoded_responses`](Self::undecoded_responses)), and
    /// new shares complete in it become the [`result`](Self::result).
    pub fn request_failed(&mut self, delivery: Delivery<'_>) {
        let Some(in_flight) = self.in_flight.take() else {
            return;
        };
        match (in_flight, delivery) {
            (InFlight::Read, _) => {
                if self.phase != RekeyPhase::Starting {
                    self.refresh = true;
                }
            }
            // Still unknown: read again.
            (InFlight::Resolve | InFlight::ResolveVerify, _) => {}
            (InFlight::Share(share), Delivery::NotSent) => self.shares.push_front(share),
            (InFlight::VerifyShare(share), Delivery::NotSent) => {
                self.verification_shares.push_front(share)
            }
            // A start, cancel or cancel-verification that never left is built again from the
            // phase and flags, which are unchanged.
            (_, Delivery::NotSent) => {}
            (in_flight, Delivery::Cut(partial)) => {
                self.unseen(in_flight, partial.status(), partial.body().expose())
            }
            (in_flight, _) => self.lose(in_flight),
        }
    }

    /// A request the server may have acted on whose answer arrived cut or could not be read:
    /// keeps what came, recovers what is whole in a success body (new shares, a start's
    /// nonce), and reads the progress before anything else.
    fn unseen(&mut self, in_flight: InFlight, status: StatusCode, body: &[u8]) {
        self.undecoded.keep(body);
        if status.is_success() {
            match in_flight {
                InFlight::Share(_) => self.salvage_result(body),
                InFlight::Start => self.salvage_nonce(body),
                _ => {}
            }
        }
        self.lose(in_flight);
    }

    /// Enters [`RekeyPhase::OutcomeUnknown`] for a request the server may have acted on.
    fn lose(&mut self, in_flight: InFlight) {
        let lost = match in_flight {
            InFlight::Start => Lost::Start,
            InFlight::Share(share) => Lost::Share(share),
            InFlight::VerifyShare(share) => Lost::VerifyShare(share),
            InFlight::Cancel => Lost::Cancel,
            InFlight::CancelVerification => Lost::CancelVerification,
            InFlight::Read | InFlight::Resolve | InFlight::ResolveVerify => return,
        };
        self.unknown = Some(Unknown {
            lost,
            phase: self.phase,
            progress: self.progress(),
        });
        self.phase = RekeyPhase::OutcomeUnknown;
    }

    /// New shares complete in a share's answer that was cut or could not be decoded.
    fn salvage_result(&mut self, body: &[u8]) {
        if self.result.is_some() {
            return;
        }
        let Some(mut result) = RekeyResult::salvage(body) else {
            return;
        };
        if nonce_conflict(self.nonce.as_ref(), result.nonce.as_ref()).is_some() {
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
            result.nonce = self.nonce.clone();
        }
        self.result = Some(result);
    }

    /// The nonce in a start answer that was cut or could not be decoded.
    fn salvage_nonce(&mut self, body: &[u8]) {
        #[derive(serde::Deserialize)]
        struct Started {
            #[serde(default, deserialize_with = "wire::non_empty")]
            nonce: Option<String>,
        }
        if let Some(Started { nonce: Some(nonce) }) = wire::salvage(body) {
            self.salvaged_nonce = Some(nonce);
        }
    }

    /// What the progress read says about a request whose answer was lost.
    fn resolve(&mut self, status: RekeyStatus) -> Result<RekeyEvent, Error> {
        let Some(Unknown {
            lost,
            phase,
            progress,
        }) = self.unknown.take()
        else {
            return self.on_read(status);
        };
        let running = status.started && status.nonce.is_some();
        let ours = running && self.nonce.is_some() && status.nonce == self.nonce;
        if let Lost::Cancel = lost {
            let cancelled = self.nonce.as_ref().or(self.unconfirmed_nonce.as_ref());
            if !running || status.nonce.as_ref() != cancelled {
                self.finish_cancel();
                return Ok(RekeyEvent::Cancelled);
            }
            // Still running: the cancel is sent again.
            self.phase = phase;
            self.status = Some(status);
            return Ok(RekeyEvent::Refreshed);
        }
        if let Lost::Start = lost {
            self.phase = RekeyPhase::Starting;
            if !running {
                // The start was not acted on: it is sent again.
                return Ok(RekeyEvent::Requeued);
            }
            let known = self
                .salvaged_nonce
                .as_ref()
                .or(self.required_nonce.as_ref());
            if known.is_some() && known == status.nonce.as_ref() {
                return self.on_started(status);
            }
            self.unconfirmed_nonce = status.nonce.clone();
            let found = status.nonce.clone();
            self.status = Some(status);
            self.abort_cancellable();
            return Err(CeremonyError::StartUnconfirmed {
                ceremony: "rekey",
                found,
            }
            .into());
        }
        if running && !ours {
            // Whatever happened to ours, another rekey runs now.
            self.phase = phase;
            return self.on_read(status);
        }
        match lost {
            Lost::Start | Lost::Cancel | Lost::VerifyShare(_) => {
                unreachable!("resolved elsewhere")
            }
            Lost::Share(share) => {
                if ours && status.verification_nonce.is_some() {
                    if self.result.is_some() {
                        // The new shares were recovered from the cut answer.
                        self.phase = RekeyPhase::CollectingShares;
                        self.on_read(status)?;
                        return Ok(RekeyEvent::Rekeyed);
                    }
                    self.status = Some(status);
                    self.abort_cancellable();
                    return Err(CeremonyError::AnswerLost {
                        ceremony: "rekey",
                        recovery: Recovery::CancelAndRestart,
                    }
                    .into());
                }
                if ours {
                    self.phase = RekeyPhase::CollectingShares;
                    let now = status.progress;
                    self.status = Some(status);
                    return Ok(if now > progress {
                        RekeyEvent::Progress
                    } else if now == progress {
                        self.shares.push_front(share);
                        RekeyEvent::Requeued
                    } else {
                        RekeyEvent::ProgressReset
                    });
                }
                if let Some(result) = &self.result {
                    if !result.verification_required {
                        // The cut answer held the new shares, and they are in effect.
                        self.verification = Verification::NotRequired;
                        self.shares.clear();
                        self.verification_shares.clear();
                        self.phase = RekeyPhase::Done;
                        return Ok(RekeyEvent::Rekeyed);
                    }
                }
                let could_complete = progress + 1 >= self.required();
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
            Lost::CancelVerification => {
                self.phase = RekeyPhase::Verifying;
                match status.verification_nonce.clone() {
                    Some(fresh) if ours && self.verification_nonce.as_ref() != Some(&fresh) => {
                        self.cancel_verification = false;
                        self.verify_status = None;
                        self.verification_nonce = Some(fresh);
                        self.status = Some(status);
                        Ok(RekeyEvent::VerificationRestarted)
                    }
                    // Not restarted yet: sent again.
                    Some(_) => {
                        self.status = Some(status);
                        Ok(RekeyEvent::Refreshed)
                    }
                    None => self.on_read(status),
                }
            }
        }
    }

    /// What the verification progress read says about a verification share whose answer was
    /// lost (`None`: no verification in progress).
    fn resolve_verify(&mut self, answer: Option<VerifyStatus>) -> Result<RekeyEvent, Error> {
        // The new threshold, read while the ceremony still knows the share was a
        // verification share.
        let required = self.required();
        let Some(Unknown {
            lost: Lost::VerifyShare(share),
            progress,
            ..
        }) = self.unknown.take()
        else {
            return Err(CeremonyError::NothingOutstanding.into());
        };
        match answer {
            Some(answer) if answer.started && answer.nonce.is_some() => {
                self.phase = RekeyPhase::Verifying;
                if answer.nonce != self.verification_nonce {
                    // Verification restarted meanwhile: read the fresh nonce next to the
                    // pinned one, then send the share again.
                    self.verification_nonce = None;
                    self.verify_status = None;
                    self.verification_shares.push_front(share);
                    return Ok(RekeyEvent::Requeued);
                }
                let now = answer.progress;
                self.verify_status = Some(answer);
                Ok(if now > progress {
                    RekeyEvent::VerificationProgress
                } else if now == progress {
                    self.verification_shares.push_front(share);
                    RekeyEvent::Requeued
                } else {
                    RekeyEvent::ProgressReset
                })
            }
            _ => {
                self.abort();
                if progress + 1 >= required {
                    Err(CeremonyError::VerificationUnconfirmed.into())
                } else {
                    Err(CeremonyError::LostByServer("rekey").into())
                }
            }
        }
    }

    fn on_started(&mut self, status: RekeyStatus) -> Result<RekeyEvent, Error> {
        let Some(nonce) = status.nonce.clone().filter(|_| status.started) else {
            self.abort();
            return Err(CeremonyError::NotStarted("rekey").into());
        };
        if let Some(required) = &self.required_nonce {
            if *required != nonce {
                let err = CeremonyError::ForeignNonce {
                    expected: required.clone(),
                    found: nonce,
                };
                self.abort();
                return Err(err.into());
            }
        }
        self.nonce = Some(nonce);
        self.status = Some(status);
        self.phase = RekeyPhase::CollectingShares;
        Ok(RekeyEvent::Started)
    }

    fn on_read(&mut self, status: RekeyStatus) -> Result<RekeyEvent, Error> {
        let resuming = self.phase == RekeyPhase::Starting;
        let (Some(found), true) = (status.nonce.clone(), status.started) else {
            self.abort();
            return Err(CeremonyError::NotStarted("rekey").into());
        };
        let expected = self.nonce.as_ref().or(self.required_nonce.as_ref());
        if let Some(err) = nonce_conflict(expected, Some(&found)) {
            self.abort();
            return Err(err.into());
        }
        self.nonce = Some(found);
        let verification_nonce = status.verification_nonce.clone();
        self.status = Some(status);
        match verification_nonce {
            Some(verification_nonce) => {
                if self.result.is_none() && matches!(self.mode, Mode::Start(_)) {
                    self.abort_cancellable();
                    return Err(CeremonyError::CompletedElsewhere.into());
                }
                if self.verification_nonce.as_ref() != Some(&verification_nonce) {
                    self.verify_status = None;
                }
                self.verification_nonce = Some(verification_nonce);
                self.verification = Verification::Pending;
                self.shares.clear();
                self.phase = RekeyPhase::Verifying;
            }
            None if self.phase == RekeyPhase::Verifying => {
                // Started, same nonce, but no verification pending: the server no longer
                // knows this verification.
                self.abort();
                return Err(CeremonyError::NotStarted("rekey verification").into());
            }
            None => self.phase = RekeyPhase::CollectingShares,
        }
        Ok(if resuming {
            RekeyEvent::Started
        } else {
            RekeyEvent::Refreshed
        })
    }

    fn on_share_answer(
        &mut self,
        answer: Result<RekeyUpdate, Error>,
        share: KeyShare,
        status: StatusCode,
        body: &[u8],
    ) -> Result<RekeyEvent, Error> {
        match answer {
            Ok(RekeyUpdate::Progress(progress)) => {
                if let Some(err) = nonce_conflict(self.nonce.as_ref(), progress.nonce.as_ref()) {
                    self.abort();
                    return Err(err.into());
                }
                self.status = Some(progress);
                Ok(RekeyEvent::Progress)
            }
            Ok(RekeyUpdate::Complete(result))
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
            Ok(RekeyUpdate::Complete(result)) => {
                // No keys on an unseal rekey: an auto-unseal server rotated its root key and
                // keeps it sealed by its seal, handing out no shares. That is success.
                let conflict = nonce_conflict(self.nonce.as_ref(), result.nonce.as_ref());
                let verification_required = result.verification_required && !result.keys.is_empty();
                self.verification_nonce = result.verification_nonce.clone();
                if self.result.is_some() {
                    // Shares recovered earlier from a cut answer stay the result; this answer
                    // is kept beside them, so neither set is lost.
                    self.undecoded.keep(body);
                } else {
                    self.result = Some(result);
                }
                self.shares.clear();
                if let Some(err) = conflict {
                    self.abort();
                    return Err(err.into());
                }
                if let Some(status) = &mut self.status {
                    status.progress = 0;
                }
                if verification_required {
                    self.verification = Verification::Pending;
                    self.phase = RekeyPhase::Verifying;
                } else {
                    self.verification = Verification::NotRequired;
                    self.verification_shares.clear();
                    self.phase = RekeyPhase::Done;
                }
                Ok(RekeyEvent::Rekeyed)
            }
            Err(err) => {
                if acted_on_unseen(&err) {
                    // The server may have counted the share, or even completed the rekey.
                    self.unseen(InFlight::Share(share), status, body);
                    return Err(err);
                }
                if let Error::Server(server) = &err {
                    match &server.refusal {
                        Refusal::WrongNonce { expected } => {
                            if let Some(conflict) =
                                nonce_conflict(self.nonce.as_ref(), expected.as_ref())
                            {
                                self.abort();
                                return Err(conflict.into());
                            }
                            self.refresh = true;
                        }
                        Refusal::SharesDidNotCombine => {
                            if let Some(status) = &mut self.status {
                                status.progress = 0;
                            }
                        }
                        Refusal::NotInProgress => {
                            // Not known to the server any more (cancelled, or the server
                            // restarted, was sealed, lost its leadership): say that.
                            self.abort();
                            return Err(CeremonyError::LostByServer("rekey").into());
                        }
                        Refusal::VerificationPending { .. } => self.refresh = true,
                        _ => {}
                    }
                }
                Err(err)
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
        match answer {
            Ok(VerifyUpdate::Progress(progress)) => {
                if progress.nonce.is_some() && progress.nonce != self.verification_nonce {
                    self.refresh = true;
                }
                self.verify_status = Some(progress);
                Ok(RekeyEvent::VerificationProgress)
            }
            Ok(VerifyUpdate::Complete { .. }) => {
                self.verification = Verification::Verified;
                self.verification_shares.clear();
                self.phase = RekeyPhase::Done;
                Ok(RekeyEvent::Verified)
            }
            Err(err) => {
                if acted_on_unseen(&err) {
                    self.unseen(InFlight::VerifyShare(share), status, body);
                    return Err(err);
                }
                if let Error::Server(server) = &err {
                    match server.refusal {
                        Refusal::WrongNonce { .. } => {
                            // The verification nonce changed (verification restarted): the
                            // share itself was not judged, so it is sent again once the new
                            // nonce is read.
                            self.verification_nonce = None;
                            self.verification_shares.push_front(share);
                        }
                        Refusal::SharesDidNotCombine => {
                            // Verification restarts under a fresh nonce.
                            self.verification_nonce = None;
                            if let Some(status) = &mut self.verify_status {
                                status.progress = 0;
                            }
                        }
                        Refusal::NotInProgress => {
                            // Not known to the server any more (cancelled, or the server
                            // restarted, was sealed, lost its leadership): say that.
                            self.abort();
                            return Err(CeremonyError::LostByServer("rekey").into());
                        }
                        _ => {}
                    }
                }
                Err(err)
            }
        }
    }

    /// Whether the rekey asks for verification, as far as known.
    fn verification_expected(&self) -> bool {
        match (&self.status, &self.mode) {
            (Some(status), _) => status.verification_required,
            (None, Mode::Start(config)) => config.verification_required(),
            (None, Mode::Resume) => true,
        }
    }

    fn finish_cancel(&mut self) {
        self.cancellable = false;
        self.unknown = None;
        self.cancel = false;
        self.cancel_verification = false;
        self.refresh = false;
        self.clear_queued_shares();
        self.phase = RekeyPhase::Cancelled;
    }

    fn abort(&mut self) {
        self.cancel = false;
        self.cancel_verification = false;
        self.refresh = false;
        self.cancellable = false;
        self.unknown = None;
        self.clear_queued_shares();
        self.phase = RekeyPhase::Aborted;
    }

    /// Aborts, leaving [`cancel`](Self::cancel) possible: a rekey this ceremony may own still
    /// runs on the server.
    fn abort_cancellable(&mut self) {
        // A cancel asked for before the outcome was known still goes out.
        let cancel = self.cancel;
        self.abort();
        self.cancellable = true;
        self.cancel = cancel;
    }

    fn wrong_phase(&self, action: &'static str, phase: RekeyPhase) -> Error {
        wrong_phase(action, phase.name())
    }

    /// Where the ceremony stands.
    pub fn phase(&self) -> RekeyPhase {
        self.phase
    }

    /// Which shares this ceremony rekeys.
    pub fn key_kind(&self) -> KeyKind {
        self.kind
    }

    /// The dialect fixed by the first request, if one was built.
    pub fn dialect(&self) -> Option<Dialect> {
        self.dialect
    }

    /// The pinned rekey nonce, once known.
    pub fn nonce(&self) -> Option<&str> {
        self.nonce.as_deref()
    }

    /// The verification nonce in use, while verifying.
    pub fn verification_nonce(&self) -> Option<&str> {
        self.verification_nonce.as_deref()
    }

    /// Shares counted so far in the current phase: current shares while collecting, new
    /// shares while verifying.
    pub fn progress(&self) -> u32 {
        if self.verifying() {
            self.verify_status.as_ref().map_or(0, |s| s.progress)
        } else {
            self.status.as_ref().map_or(0, |s| s.progress)
        }
    }

    /// Shares needed in the current phase: the current threshold while collecting, the new
    /// threshold while verifying (0 while not known).
    pub fn required(&self) -> u32 {
        if self.verifying() {
            self.verify_status
                .as_ref()
                .map(|s| s.t)
                .filter(|&t| t > 0)
                .or_else(|| self.status.as_ref().map(|s| s.t))
                .unwrap_or(0)
        } else {
            self.status.as_ref().map_or(0, |s| s.required)
        }
    }

    /// Whether the current phase is the verification, or the lost request was sent in it.
    fn verifying(&self) -> bool {
        self.phase == RekeyPhase::Verifying
            || self
                .unknown
                .as_ref()
                .is_some_and(|unknown| unknown.phase == RekeyPhase::Verifying)
    }

    /// The last status the server reported for the rekey (new `t` and `n`, PGP
    /// fingerprints, backup, verification).
    pub fn status(&self) -> Option<&RekeyStatus> {
        self.status.as_ref()
    }

    /// The last verification status the server reported.
    pub fn verify_status(&self) -> Option<&VerifyStatus> {
        self.verify_status.as_ref()
    }

    /// Current shares queued and not sent yet.
    pub fn queued_shares(&self) -> usize {
        self.shares.len()
    }

    /// New shares queued for verification and not sent yet.
    pub fn queued_verification_shares(&self) -> usize {
        self.verification_shares.len()
    }

    /// Whether a request was handed out and its answer is awaited.
    pub fn awaiting_response(&self) -> bool {
        self.in_flight.is_some()
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

    /// Every answer kept because it may carry the new shares, oldest first: undecodable
    /// answers, unexplained refusals and what arrived of cut answers to the requests that
    /// change the server's state. None is ever dropped or replaced while the ceremony lives.
    pub fn undecoded_responses(&self) -> &[SecretBytes] {
        self.undecoded.all()
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
        self.nonce.is_some() && backup.nonce == self.nonce
    }
}

impl sealed::Sealed for RekeyCeremony {}

impl Ceremony for RekeyCeremony {
    type Phase = RekeyPhase;
    type Event = RekeyEvent;

    fn poll(&mut self, target: &Target) -> Result<Next, Error> {
        RekeyCeremony::poll(self, target)
    }

    fn handle_response(&mut self, status: StatusCode, body: &[u8]) -> Result<RekeyEvent, Error> {
        RekeyCeremony::handle_response(self, status, body)
    }

    fn request_failed(&mut self, delivery: Delivery<'_>) {
        RekeyCeremony::request_failed(self, delivery)
    }

    fn phase(&self) -> RekeyPhase {
        self.phase
    }
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
