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
//!
//! # Phases
//!
//! ```text
//!   start / resume
//!        |
//!        v        another nonce, none running, keys not pinned      +---------+
//!  +----------+ --------------------------------------------------> | Aborted |
//!  | Starting |                                                     +---------+
//!  +----------+                                                          ^
//!        | the nonce pinned                       lost by the server,    |
//!        v                                        done elsewhere,        |
//!  +------------------+   the last share:         another nonce   -------+
//!  | CollectingShares | --- new shares, to verify ---> +-----------+
//!  +------------------+                                | Verifying |
//!     |     ^      |                                   +-----------+
//!     |     |      | the last share,                     |      |
//!     |     |      | no verification     +------+        |      | the last
//!     |     |      +-------------------> | Done | <------+------+ verification share
//!     |     |                            +------+        |
//!     |     | read: counted, not counted     ^           | an answer lost
//!     |     | (queued again), reset          | read:     |
//!     v     |                                | complete  v
//!  +----------------+ <-------- an answer lost ----------+
//!  | OutcomeUnknown | ---------------------------------------> back where it was sent
//!  +----------------+
//! ```
//!
//! `cancel` from any phase but `Done` ends in `Cancelled`. The code is split by concern:
//! `answers` (what each answer does), `sending` (what goes out next, and what the caller is
//! asked for), `settling` (what is recovered and read after an answer that did not arrive
//! whole).

use super::skeleton::{
    self, acted_on_unseen, queue, wrong_phase, Asked, Common, Effect, Flight, Recount, Rules,
    Sending, Skeleton, Unknown,
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

    fn read() -> Self {
        InFlight::Read
    }

    fn cancel() -> Self {
        InFlight::Cancel
    }

    fn common(&self) -> Option<Common> {
        match self {
            InFlight::Read => Some(Common::Read),
            InFlight::Resolve => Some(Common::Resolve),
            InFlight::Cancel => Some(Common::Cancel),
            _ => None,
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
        let pinned = match config.get_pgp_fingerprints() {
            Some(fingerprints) => Ok(Some(fingerprints.to_vec())),
            None => super::skeleton::fingerprints_of(config.get_pgp_keys()),
        };
        let mut rekey = Self::new(config.get_kind(), Mode::Start(config));
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

    /// Whether the rekey asks for verification, as far as known.
    fn verification_expected(&self) -> bool {
        match (&self.status, &self.mode) {
            (Some(status), _) => status.verification_required,
            (None, Mode::Start(config)) => config.get_require_verification(),
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

impl_ceremony!(RekeyCeremony, RekeyPhase, RekeyEvent);

impl RekeyCeremony {
    /// Whether the shares counted are new shares being verified.
    fn verifying(&self) -> bool {
        self.phase() == RekeyPhase::Verifying
    }
}

impl From<Recount> for RekeyEvent {
    fn from(recount: Recount) -> Self {
        match recount {
            Recount::Counted => RekeyEvent::Progress,
            Recount::NotCounted => RekeyEvent::Requeued,
            Recount::Reset => RekeyEvent::ProgressReset,
        }
    }
}

mod answers;
mod sending;
mod settling;
#[cfg(test)]
mod tests;
