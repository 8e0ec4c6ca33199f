//! What both ceremonies do the same way, written once: the dialect and nonce pins, the one
//! request out at a time, what the caller asked for before the next share, the queued shares,
//! the answers kept because they may hold the result, and the rules for a request whose
//! answer did not arrive whole.
//!
//! A ceremony keeps its own stages (with the data each carries) and implements [`Rules`]: how
//! it builds its next request, what it needs from the caller, how a lost request is recorded
//! and what a cut answer may hold. [`Rules`] then provides `poll`, `request_failed`, and the
//! handling of refused shares and cancels, the same for both.
//!
//! The [`Stage`] is private and carries what each stage needs (the lost request, the stage
//! it was sent in, a rekey's verification nonce); its data changes as the rules do. What a
//! caller sees is each ceremony's public phase (`RekeyPhase`, `RootTokenPhase`): only the
//! name of the stage, `Copy` and comparable, `#[non_exhaustive]`, and mapped from the stage
//! in one `match` of each ceremony's `phase()`.

use super::Next;
use crate::delivery::Delivery;
use crate::dialect::Dialect;
use crate::error::{CeremonyError, Error, InvalidInput, Refusal};
use crate::ops::fields::checked_shares;
use crate::secret::{KeyShare, SecretBytes};
use crate::target::Target;
use crate::trace::event;
use bytes::Bytes;
use http::{Request, StatusCode};
use std::collections::VecDeque;

/// What has to happen before the next share, most urgent last: a cancel beats everything, a
/// restart of verification beats a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Asked {
    /// Nothing: the next queued share goes out.
    Nothing,
    /// Read the progress again (asked by the caller, or because an answer made it stale).
    Refresh,
    /// Restart the rekey's verification.
    CancelVerification,
    /// Cancel the ceremony.
    Cancel,
}

/// What a request does to the server, which decides what its failure means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Effect {
    /// Reads the progress while running: a failed read is read again.
    Reads,
    /// Reads a status that settles something (the OTP length, a lost request's outcome): a
    /// failure changes nothing, and the same read is built again.
    Settles,
    /// May change the server (a start, a share, a cancel): a failure after it left puts the
    /// ceremony in its "outcome unknown" stage.
    Changes,
}

/// A request a ceremony handed out and awaits the answer to.
pub(super) trait Flight {
    /// What the request does to the server.
    fn effect(&self) -> Effect;
    /// The progress read.
    fn read() -> Self;
    /// The cancel of the ceremony.
    fn cancel() -> Self;
    /// Which of the requests both ceremonies send this is, if one.
    fn common(&self) -> Option<Common>;
}

/// The requests both ceremonies send, whose answers the skeleton takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Common {
    /// A progress read.
    Read,
    /// The progress read that settles a lost request.
    Resolve,
    /// A cancel.
    Cancel,
}

/// Where a ceremony stands, with what each stage needs. `X` is the stage a ceremony has of its
/// own (a rekey's verification, a root token's wait for the OTP), `L` what it records of a
/// lost request.
#[derive(Debug)]
pub(super) enum Stage<X, L> {
    /// The start (or, when resuming, the progress read) has not been answered yet.
    Starting,
    /// Running under the pinned nonce, taking current shares.
    Collecting,
    /// The ceremony's own stage.
    Own(X),
    Done,
    /// A request the server may have acted on got no whole answer.
    Unknown(Box<Unknown<X, L>>),
    Cancelled,
    /// `cancel`: the nonce of a ceremony this one may own, still running on the server, that
    /// a cancel may still end.
    Aborted {
        cancel: Option<String>,
    },
}

/// A request whose answer did not arrive whole, with the stage it was sent in and the
/// progress then.
#[derive(Debug)]
pub(super) struct Unknown<X, L> {
    pub(super) lost: L,
    pub(super) before: Stage<X, L>,
    pub(super) progress: u32,
}

/// What the progress read says of a share whose answer was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Recount {
    /// The progress grew: the share was counted.
    Counted,
    /// The progress stayed: the share was not counted, and is queued again.
    NotCounted,
    /// The progress fell: the server discarded the shares so far (they did not combine).
    Reset,
}

impl Recount {
    /// From the progress `before` the share was sent and `now`.
    pub(super) fn of(before: u32, now: u32) -> Self {
        match now.cmp(&before) {
            std::cmp::Ordering::Greater => Recount::Counted,
            std::cmp::Ordering::Equal => Recount::NotCounted,
            std::cmp::Ordering::Less => Recount::Reset,
        }
    }
}

/// A request and what the ceremony records of it while its answer is awaited.
pub(super) type Sending<F> = (Request<Bytes>, F);

/// The state both ceremonies hold, whatever their stage.
#[derive(Debug)]
pub(super) struct Skeleton<F, X, L> {
    /// Where the ceremony stands.
    pub(super) stage: Stage<X, L>,
    /// The ceremony's name in errors: "rekey", "root-token generation".
    what: &'static str,
    dialect: Option<Dialect>,
    required_nonce: Option<String>,
    nonce: Option<String>,
    /// The PGP fingerprints the server's ceremony must encrypt to (lowercase), if the caller
    /// pinned them.
    fingerprints: Option<Vec<String>>,
    /// Why the PGP keys the ceremony starts with could not be pinned, if so.
    unpinnable: Option<String>,
    in_flight: Option<F>,
    asked: Asked,
    /// Current shares (for a root token, the shares that generate it), sent in order.
    pub(super) shares: VecDeque<KeyShare>,
    kept: KeptAnswers,
}

impl<F: Flight, X, L> Skeleton<F, X, L> {
    pub(super) fn new(what: &'static str) -> Self {
        Self {
            stage: Stage::Starting,
            what,
            dialect: None,
            required_nonce: None,
            nonce: None,
            fingerprints: None,
            unpinnable: None,
            in_flight: None,
            asked: Asked::Nothing,
            shares: VecDeque::new(),
            kept: KeptAnswers::default(),
        }
    }

    pub(super) fn what(&self) -> &'static str {
        self.what
    }

    pub(super) fn require_nonce(&mut self, nonce: String) {
        self.required_nonce = Some(nonce);
    }

    /// Pins the fingerprints of the PGP keys the ceremony starts with, as
    /// [`fingerprints_of`] read them; keys that cannot be read hold the start back until the
    /// caller pins their fingerprints.
    pub(super) fn pin_keys(&mut self, read: Result<Option<Vec<String>>, String>) {
        match read {
            Ok(Some(fingerprints)) => self.require_fingerprints(fingerprints),
            Ok(None) => {}
            Err(reason) => self.unpinnable = Some(reason),
        }
    }

    /// An error while keys given to start with are not pinned.
    fn check_pinned(&self) -> Result<(), Error> {
        match (&self.unpinnable, &self.fingerprints) {
            (Some(reason), None) => Err(InvalidInput::UnpinnedPgpKeys {
                reason: reason.clone(),
            }
            .into()),
            _ => Ok(()),
        }
    }

    pub(super) fn require_fingerprints(&mut self, fingerprints: Vec<String>) {
        self.fingerprints = Some(
            fingerprints
                .into_iter()
                .map(|f| f.trim().to_ascii_lowercase())
                .collect(),
        );
    }

    /// Refuses a server ceremony that encrypts to other PGP keys than the pinned ones (in
    /// the same order), whatever the case of the hex; `nonce` is the server's ceremony's.
    pub(super) fn check_fingerprints(
        &self,
        found: &[String],
        nonce: Option<&String>,
    ) -> Result<(), CeremonyError> {
        let Some(expected) = &self.fingerprints else {
            return Ok(());
        };
        let found: Vec<String> = found.iter().map(|f| f.to_ascii_lowercase()).collect();
        if *expected == found {
            return Ok(());
        }
        Err(CeremonyError::FingerprintMismatch {
            expected: expected.clone(),
            found,
            nonce: nonce.cloned(),
        })
    }

    /// The nonce accepted before the server's was seen: the one the caller required.
    pub(super) fn required_nonce(&self) -> Option<&String> {
        self.required_nonce.as_ref()
    }

    /// The pinned nonce.
    pub(super) fn nonce(&self) -> Option<&String> {
        self.nonce.as_ref()
    }

    pub(super) fn dialect(&self) -> Option<Dialect> {
        self.dialect
    }

    pub(super) fn awaiting(&self) -> bool {
        self.in_flight.is_some()
    }

    pub(super) fn asked(&self) -> Asked {
        self.asked
    }

    /// Asks for `what` before the next share, unless something more urgent is asked.
    pub(super) fn ask(&mut self, what: Asked) {
        self.asked = self.asked.max(what);
    }

    /// `what` was done (or is no longer wanted).
    pub(super) fn done(&mut self, what: Asked) {
        if self.asked == what {
            self.asked = Asked::Nothing;
        }
    }

    /// The ceremony stops in `ending` (cancelled or aborted): nothing asked, no share left
    /// to send.
    fn stop(&mut self, ending: Stage<X, L>) {
        self.asked = Asked::Nothing;
        self.shares.clear();
        self.stage = ending;
    }

    /// Asks for a cancel; `false` when there is nothing left to cancel (done, or aborted
    /// with no ceremony of its own running).
    pub(super) fn ask_cancel(&mut self) -> bool {
        match self.stage {
            Stage::Cancelled => true,
            Stage::Done | Stage::Aborted { cancel: None } => false,
            _ => {
                self.ask(Asked::Cancel);
                true
            }
        }
    }

    /// Whether the ceremony has not pinned its nonce yet.
    pub(super) fn starting(&self) -> bool {
        matches!(self.stage, Stage::Starting)
    }

    /// Enters "outcome unknown" for a request recorded as `lost`, sent at `progress`.
    pub(super) fn enter_unknown(&mut self, lost: L, progress: u32) {
        event!(
            info,
            ceremony = self.what,
            progress,
            "outcome unknown: the progress is read before anything is sent again"
        );
        let before = std::mem::replace(&mut self.stage, Stage::Starting);
        self.stage = Stage::Unknown(Box::new(Unknown {
            lost,
            before,
            progress,
        }));
    }

    /// Leaves "outcome unknown" (the stage is `Starting` until the caller sets it), or
    /// `None` if the outcome was known.
    pub(super) fn leave_unknown(&mut self) -> Option<Unknown<X, L>> {
        match std::mem::replace(&mut self.stage, Stage::Starting) {
            Stage::Unknown(unknown) => {
                event!(info, ceremony = self.what, "outcome settled by the read");
                Some(*unknown)
            }
            stage => {
                self.stage = stage;
                None
            }
        }
    }

    /// What a progress read says of the server's ceremony: whether one runs, and whether it
    /// is this one.
    pub(super) fn settles(&self, started: bool, nonce: Option<&String>) -> (bool, bool) {
        let running = started && nonce.is_some();
        (
            running,
            running && self.nonce.is_some() && nonce == self.nonce.as_ref(),
        )
    }

    /// A current share whose answer was lost, sent at progress `before` and read at `now`:
    /// the ceremony collects again, and a share not counted goes back to the front.
    pub(super) fn recount(&mut self, share: KeyShare, before: u32, now: u32) -> Recount {
        self.stage = Stage::Collecting;
        let recount = Recount::of(before, now);
        if recount == Recount::NotCounted {
            self.shares.push_front(share);
        }
        recount
    }

    /// Keeps an answer that may carry the result.
    pub(super) fn keep(&mut self, body: &[u8]) {
        self.kept.keep(body);
    }

    pub(super) fn kept(&self) -> &[SecretBytes] {
        self.kept.all()
    }

    /// Refuses a target of another dialect than the one the ceremony is pinned to: the two
    /// dialects' ceremonies are separate state on OpenBao, so a ceremony never changes paths
    /// midway.
    fn check_dialect(&self, target: &Target) -> Result<(), Error> {
        match self.dialect {
            Some(dialect) if dialect != target.dialect() => Err(CeremonyError::DialectMismatch {
                ceremony: dialect,
                target: target.dialect(),
            }
            .into()),
            _ => Ok(()),
        }
    }

    /// The request for `flight` goes out to `target`, whose dialect the ceremony keeps.
    fn hand_out(&mut self, target: &Target, flight: F) {
        if flight.effect() == Effect::Reads {
            self.done(Asked::Refresh);
        }
        self.dialect = Some(target.dialect());
        self.in_flight = Some(flight);
    }

    /// The request an answer arrived for.
    pub(super) fn answered(&mut self) -> Result<F, Error> {
        Ok(self
            .in_flight
            .take()
            .ok_or(CeremonyError::NothingOutstanding)?)
    }

    /// The error for a server nonce `found` that differs from the pinned one.
    pub(super) fn conflict(&self, found: Option<&String>) -> Option<CeremonyError> {
        nonce_conflict(self.nonce.as_ref(), found)
    }

    /// Pins the nonce of a start answer or a progress read (`started` and `found` as the
    /// server said), unless the server runs no ceremony, or another than the pinned one (or,
    /// before one is pinned, than the one the caller required).
    pub(super) fn pin_running(
        &mut self,
        started: bool,
        found: Option<&String>,
    ) -> Result<(), CeremonyError> {
        let Some(found) = found.filter(|_| started) else {
            return Err(CeremonyError::NotStarted(self.what));
        };
        let expected = self.nonce.as_ref().or(self.required_nonce.as_ref());
        if let Some(err) = nonce_conflict(expected, Some(found)) {
            return Err(err);
        }
        self.nonce = Some(found.clone());
        Ok(())
    }

    /// Pins a nonce found by settling a lost start.
    pub(super) fn pin(&mut self, nonce: Option<String>) {
        self.nonce = nonce;
    }
}

/// How a ceremony builds on the [`Skeleton`]: the provided methods are the rules both share
/// (which stage sends what, what a failure or a refusal does), the required ones the
/// ceremony's own requests and steps.
pub(super) trait Rules {
    /// The requests the ceremony sends.
    type Flight: Flight;
    /// The ceremony's own stage.
    type Own;
    /// What it records of a lost request.
    type Lost;
    /// What its progress reads answer.
    type Status;
    /// What an answer changed.
    type Event;

    fn skeleton(&self) -> &Skeleton<Self::Flight, Self::Own, Self::Lost>;
    fn skeleton_mut(&mut self) -> &mut Skeleton<Self::Flight, Self::Own, Self::Lost>;

    /// The read that settles the outcome of the request `lost`.
    fn settle_request(
        &self,
        target: &Target,
        lost: &Self::Lost,
    ) -> Result<Sending<Self::Flight>, Error>;

    /// The progress read.
    fn read_request(&self, target: &Target) -> Result<Request<Bytes>, Error>;

    /// The cancel of the ceremony running under `nonce`.
    fn cancel_request(&self, target: &Target, nonce: &str) -> Result<Request<Bytes>, Error>;

    /// Whether the ceremony starts one on the server (rather than joining one in progress).
    fn starts(&self) -> bool;

    /// The start (or what it needs first); `None` while it waits for the caller.
    fn start_request(&mut self, target: &Target) -> Result<Option<Sending<Self::Flight>>, Error>;

    /// What the running ceremony (its `nonce` pinned) sends besides a cancel and a progress
    /// read: its next share, or a request of its own stage; `None` when it has none.
    fn step_request(
        &mut self,
        target: &Target,
        nonce: String,
        asked: Asked,
    ) -> Result<Option<Sending<Self::Flight>>, Error>;

    /// What the ceremony needs when it has nothing to send: shares, an OTP, or nothing more.
    fn needs(&self) -> Next;

    /// A progress read's answer, decoded.
    fn parse_status(status: StatusCode, body: &[u8]) -> Result<Self::Status, Error>;

    /// What a progress read says while the ceremony runs (or, resuming, what it joins).
    fn read_answer(&mut self, status: Self::Status) -> Result<Self::Event, Error>;

    /// What the progress read says about a request whose answer was lost.
    fn settle_answer(&mut self, status: Self::Status) -> Result<Self::Event, Error>;

    /// The event of a cancel done.
    fn cancelled() -> Self::Event;

    /// The answer to one of the ceremony's own requests (a start, a share, ...).
    fn answer_own(
        &mut self,
        flight: Self::Flight,
        status: StatusCode,
        body: &[u8],
    ) -> Result<Self::Event, Error>;

    /// A request that never left goes back where it came from (a share to the front of its
    /// queue).
    fn requeue(&mut self, flight: Self::Flight);

    /// Records a request the server may have acted on, and enters "outcome unknown". `cut`
    /// is the success body of an answer that arrived cut or could not be decoded: what is
    /// whole in it (new shares, a token, a start's nonce) is recovered.
    fn lose(&mut self, flight: Self::Flight, cut: Option<&[u8]>);

    /// Current shares counted so far start again from 0.
    fn reset_progress(&mut self);

    /// The ceremony stopped (aborted or cancelled): what it queued of its own is dropped.
    fn stopped(&mut self) {}

    /// The ceremony cannot continue.
    fn abort(&mut self) {
        self.skeleton_mut().stop(Stage::Aborted { cancel: None });
        self.stopped();
    }

    /// Aborts, leaving a cancel possible: a ceremony this one may own still runs on the
    /// server, under the pinned nonce or (after a lost start) `found`.
    fn abort_cancellable(&mut self, found: Option<String>) {
        let run = self.skeleton_mut();
        // A cancel asked for before the outcome was known still goes out.
        let cancel = run.asked == Asked::Cancel;
        let nonce = run.nonce.clone().or(found);
        self.abort();
        let run = self.skeleton_mut();
        run.stage = Stage::Aborted { cancel: nonce };
        if cancel {
            run.ask(Asked::Cancel);
        }
    }

    /// A lost start whose outcome the read cannot prove was this one's: the ceremony the
    /// server now runs (`found`, if any) is not joined, and may be cancelled.
    fn start_unconfirmed(&mut self, found: Option<String>) -> Error {
        self.abort_cancellable(found.clone());
        CeremonyError::StartUnconfirmed {
            ceremony: self.skeleton().what(),
            found,
        }
        .into()
    }

    /// The ceremony was cancelled.
    fn finish_cancel(&mut self) {
        self.skeleton_mut().stop(Stage::Cancelled);
        self.stopped();
    }

    /// The next request, by the stage and what was asked; `None` when there is nothing to
    /// send. The stages both ceremonies share are decided here, once; the ceremony supplies
    /// its requests and its own stage's steps.
    fn next_request(&mut self, target: &Target) -> Result<Option<Sending<Self::Flight>>, Error> {
        let asked = self.skeleton().asked();
        match &self.skeleton().stage {
            // Nothing goes out before the read that settles a lost request.
            Stage::Unknown(unknown) => self.settle_request(target, &unknown.lost).map(Some),
            Stage::Aborted {
                cancel: Some(nonce),
            } if asked == Asked::Cancel => Ok(Some((
                self.cancel_request(target, nonce)?,
                Self::Flight::cancel(),
            ))),
            Stage::Done | Stage::Cancelled | Stage::Aborted { .. } => Ok(None),
            Stage::Starting if !self.starts() => {
                Ok(Some((self.read_request(target)?, Self::Flight::read())))
            }
            Stage::Starting if asked == Asked::Cancel => {
                // Nothing was started by this ceremony: there is nothing to cancel.
                self.finish_cancel();
                Ok(None)
            }
            Stage::Starting => self.start_request(target),
            Stage::Collecting | Stage::Own(_) => {
                let Some(nonce) = self.skeleton().nonce().cloned() else {
                    // Not started on the server yet (a generation waiting for its OTP).
                    if asked == Asked::Cancel {
                        self.finish_cancel();
                    }
                    return Ok(None);
                };
                match asked {
                    Asked::Cancel => Ok(Some((
                        self.cancel_request(target, &nonce)?,
                        Self::Flight::cancel(),
                    ))),
                    Asked::Refresh => Ok(Some((self.read_request(target)?, Self::Flight::read()))),
                    _ => self.step_request(target, nonce, asked),
                }
            }
        }
    }

    /// The answer to the request out: the one `handle_response` of both ceremonies. The
    /// reads and the cancel are answered here, once; the ceremony takes the answers to its own
    /// requests.
    fn answer(&mut self, status: StatusCode, body: &[u8]) -> Result<Self::Event, Error> {
        let flight = self.skeleton_mut().answered()?;
        match flight.common() {
            // A refused read leaves the outcome unknown: it is read again.
            Some(Common::Resolve) => {
                let answer = Self::parse_status(status, body)?;
                self.settle_answer(answer)
            }
            Some(Common::Read) => match Self::parse_status(status, body) {
                Ok(answer) => self.read_answer(answer),
                Err(err) => Err(self.read_failed(err)),
            },
            Some(Common::Cancel) => {
                self.cancel_answered(crate::wire::empty(status, body), flight)?;
                Ok(Self::cancelled())
            }
            None => self.answer_own(flight, status, body),
        }
    }

    /// What the ceremony needs next: both ceremonies' `poll`, written once.
    fn poll(&mut self, target: &Target) -> Result<Next, Error> {
        self.skeleton().check_dialect(target)?;
        self.skeleton().check_pinned()?;
        if self.skeleton().awaiting() {
            return Ok(Next::AwaitingAnswer);
        }
        let settling = matches!(self.skeleton().stage, Stage::Unknown(_));
        match self.next_request(target)? {
            Some((request, flight)) => {
                self.skeleton_mut().hand_out(target, flight);
                Ok(if settling {
                    Next::Settle(request)
                } else {
                    Next::Send(request)
                })
            }
            None => Ok(self.needs()),
        }
    }

    /// The request out got no whole answer; `delivery` says how far it got.
    fn fail(&mut self, delivery: Delivery<'_>) {
        let Some(flight) = self.skeleton_mut().in_flight.take() else {
            return;
        };
        match (flight.effect(), delivery) {
            (Effect::Reads, _) => {
                if !self.skeleton().starting() {
                    self.skeleton_mut().ask(Asked::Refresh);
                }
            }
            (Effect::Settles, _) => {}
            (Effect::Changes, Delivery::NotSent) => self.requeue(flight),
            (Effect::Changes, Delivery::Cut(partial)) => {
                self.unseen(flight, partial.status(), partial.body().expose())
            }
            (Effect::Changes, _) => self.lose(flight, None),
        }
    }

    /// A request the server may have acted on whose answer arrived cut or could not be read:
    /// keeps what came, recovers what is whole in a success body, and settles the outcome
    /// before anything else is sent.
    fn unseen(&mut self, flight: Self::Flight, status: StatusCode, body: &[u8]) {
        self.skeleton_mut().keep(body);
        self.lose(flight, status.is_success().then_some(body));
    }

    /// A progress read whose answer is an error: while running, it is read again.
    fn read_failed(&mut self, err: Error) -> Error {
        if !self.skeleton().starting() {
            self.skeleton_mut().ask(Asked::Refresh);
        }
        err
    }

    /// An error answer to a start or a current share (`flight`): if the server may have
    /// acted on it, its outcome is settled before anything else is sent; a share the node
    /// could not judge (sealed, a standby, no leader, overload) is queued again; other
    /// refusals say what they mean for the ceremony (another nonce, progress reset, the
    /// ceremony gone). Returns the error to report.
    fn refused(
        &mut self,
        err: Error,
        flight: Self::Flight,
        status: StatusCode,
        body: &[u8],
    ) -> Error {
        if acted_on_unseen(&err) {
            // The server may have started a ceremony, counted the share, or even completed
            // the ceremony.
            self.unseen(flight, status, body);
            return err;
        }
        match err.refusal() {
            // Not judged: the node could not take it now (sealed, a standby, no leader yet,
            // overloaded); it goes back to the front of its queue for the next drive.
            Some(refusal) if refusal.is_retryable() || *refusal == Refusal::Sealed => {
                self.requeue(flight);
            }
            Some(Refusal::WrongNonce { expected }) => {
                if let Some(conflict) = self.skeleton().conflict(expected.as_ref()) {
                    self.abort();
                    return conflict.into();
                }
                self.skeleton_mut().ask(Asked::Refresh);
            }
            Some(Refusal::VerificationPending { .. }) => self.skeleton_mut().ask(Asked::Refresh),
            Some(Refusal::SharesDidNotCombine) => self.reset_progress(),
            Some(Refusal::NotInProgress) => {
                // Not known to the server any more (cancelled, or the server restarted, was
                // sealed, lost its leadership): say that.
                self.abort();
                return CeremonyError::LostByServer(self.skeleton().what()).into();
            }
            _ => {}
        }
        err
    }

    /// The answer to a cancel (`flight`): a ceremony the server no longer knows is cancelled
    /// too.
    fn cancel_answered(
        &mut self,
        answer: Result<(), Error>,
        flight: Self::Flight,
    ) -> Result<(), Error> {
        match answer {
            Ok(()) => {}
            Err(err) if err.refusal() == Some(&Refusal::NotInProgress) => {}
            Err(err) => {
                if acted_on_unseen(&err) {
                    self.lose(flight, None);
                } else if matches!(self.skeleton().stage, Stage::Aborted { .. }) {
                    // Refused: not this ceremony's to cancel (or not now); asking again
                    // sends it again.
                    self.skeleton_mut().done(Asked::Cancel);
                }
                return Err(err);
            }
        }
        self.finish_cancel();
        Ok(())
    }
}

/// The fingerprints of PGP keys given as text (feature `pgp`), which a ceremony started with
/// them pins; `Ok(None)` for no keys. A key that does not read, or keys given without the
/// feature, cannot be pinned: the reason, which the ceremony reports before anything is sent
/// unless the caller pins the fingerprints themselves.
pub(super) fn fingerprints_of(keys: &[String]) -> Result<Option<Vec<String>>, String> {
    if keys.is_empty() {
        return Ok(None);
    }
    #[cfg(feature = "pgp")]
    {
        keys.iter()
            .enumerate()
            .map(|(index, key)| {
                crate::pgp::PgpPublicKey::parse(key)
                    .map(|k| k.fingerprint().to_string())
                    .map_err(|e| format!("PGP key {} does not read: {e}", index + 1))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
    #[cfg(not(feature = "pgp"))]
    Err("without the `pgp` feature, PGP keys given as text are not read".to_string())
}

/// Queues shares after checking every one of them: all or nothing.
pub(super) fn queue<I>(queue: &mut VecDeque<KeyShare>, shares: I) -> Result<(), Error>
where
    I: IntoIterator<Item = KeyShare>,
{
    queue.extend(checked_shares(shares)?);
    Ok(())
}

/// Whether a failed answer leaves open whether the server acted on the request: anything but a
/// refusal the server itself wrote (a gateway's 502 or 504, a proxy's page of any status, plain
/// text), or a success that could not be decoded.
pub(super) fn acted_on_unseen(error: &Error) -> bool {
    match error {
        Error::Decode(_) => true,
        Error::Server(server) => !server.written_by_server(),
        _ => false,
    }
}

/// The error for asking a ceremony for `action` in a phase (named `phase`) that cannot do it.
pub(super) fn wrong_phase(action: &'static str, phase: &'static str) -> Error {
    CeremonyError::WrongPhase { action, phase }.into()
}

/// The error for a server nonce `found` that differs from the accepted `expected` one.
pub(super) fn nonce_conflict(
    expected: Option<&String>,
    found: Option<&String>,
) -> Option<CeremonyError> {
    match (expected, found) {
        (Some(expected), Some(found)) if expected != found => Some(CeremonyError::ForeignNonce {
            expected: expected.clone(),
            found: found.clone(),
        }),
        _ => None,
    }
}

/// The answers a ceremony keeps because they may carry its result, oldest first; none is ever
/// dropped or replaced.
#[derive(Debug, Default)]
struct KeptAnswers(Vec<SecretBytes>);

impl KeptAnswers {
    fn keep(&mut self, body: &[u8]) {
        if !body.is_empty() {
            self.0.push(SecretBytes::new(body));
        }
    }

    fn all(&self) -> &[SecretBytes] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_two_different_known_nonces_conflict() {
        let a = "a".to_string();
        let b = "b".to_string();
        assert!(nonce_conflict(Some(&a), Some(&b)).is_some());
        assert!(nonce_conflict(Some(&a), Some(&a)).is_none());
        assert!(nonce_conflict(None, Some(&b)).is_none());
        assert!(nonce_conflict(Some(&a), None).is_none());
    }

    #[test]
    fn a_cancel_outranks_what_was_asked_before_and_after() {
        struct Read;
        impl Flight for Read {
            fn effect(&self) -> Effect {
                Effect::Reads
            }
            fn read() -> Self {
                Read
            }
            fn cancel() -> Self {
                Read
            }
            fn common(&self) -> Option<Common> {
                Some(Common::Read)
            }
        }
        let mut skeleton = Skeleton::<Read, (), ()>::new("test");
        skeleton.ask(Asked::Refresh);
        skeleton.ask(Asked::Cancel);
        skeleton.ask(Asked::Refresh);
        assert_eq!(skeleton.asked(), Asked::Cancel);
        skeleton.done(Asked::Refresh);
        assert_eq!(
            skeleton.asked(),
            Asked::Cancel,
            "a read does not undo a cancel"
        );
        skeleton.done(Asked::Cancel);
        assert_eq!(skeleton.asked(), Asked::Nothing);
    }
}
