//! The root-token (or recovery-token) generation ceremony.
//!
//! The generated token is handed out once, encoded with a one-time password or encrypted to a
//! PGP key. The ceremony keeps what is needed to read it: the server-generated OTP (sent only
//! in the start answer), the caller's OTP, and the `otp_length` the server reported when the
//! generation started (classic update answers report 0, which would select the legacy
//! scheme).
//!
//! # Phases
//!
//! ```text
//!   start (server OTP, PGP key)         start (caller's OTP) / resume
//!        |                                   |
//!        v                                   v
//!  +----------+  otp_length read: an OTP  +-------------+
//!  | Starting | ------------------------> | AwaitingOtp |
//!  +----------+                           +-------------+
//!     |    | the nonce pinned                    | the OTP given, sent with the start
//!     |    v                                     v
//!     |  +------------------+ <------------------+
//!     |  | CollectingShares |  the last share: the token   +------+
//!     |  +------------------+ ---------------------------> | Done |
//!     |     |          ^                                   +------+
//!     |     | an answer| read: counted, not counted            ^
//!     |     | lost     | (queued again), reset                 | read: the token
//!     |     v          |                                       | came, whole
//!     |  +----------------+ -----------------------------------+
//!     |  | OutcomeUnknown |
//!     |  +----------------+ ---- the server lost it, or done elsewhere ---+
//!     |                                                                    v
//!     +----- another nonce, none running, the key not pinned -----> +---------+
//!                                                                   | Aborted |
//!                                                                   +---------+
//! ```
//!
//! `cancel` from any phase but `Done` ends in `Cancelled`. The code is split by concern:
//! `answers` (what each answer does), `sending` (what goes out next, and what the caller is
//! asked for), `settling` (what is recovered and read after an answer that did not arrive
//! whole).

use super::skeleton::{
    self, queue, wrong_phase, Asked, Common, Effect, Flight, Rules, Sending, Skeleton, Unknown,
};
use super::Next;
use crate::delivery::Delivery;
use crate::dialect::Dialect;
use crate::error::{CeremonyError, DecodeError, Error, InvalidInput, Recovery};
use crate::ops::generate_root::{
    parse_status, CancelRootGeneration, GenerateRoot, ReadRootGenerationProgress,
    RootGenerationStatus, StartRootTokenGeneration, TokenKind,
};
use crate::ops::Operation;
use crate::otp::{self, OtpScheme, RandomSource};
use crate::secret::{EncodedToken, KeyShare, Otp, SecretBytes, Token};
use crate::target::Target;
use crate::wire;
use http::{Response, StatusCode};

/// How the generated token is protected on its way to the caller.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum TokenProtection {
    /// The server generates the OTP and returns it once, in the start answer; the ceremony
    /// keeps it.
    #[default]
    ServerOtp,
    /// The caller's OTP. The attempt status is read first and the OTP checked against the
    /// server's `otp_length` before anything is sent.
    Otp(Otp),
    /// The caller generates the OTP once the server's `otp_length` is known: the ceremony
    /// reads the attempt status, then waits in [`RootTokenPhase::AwaitingOtp`] for
    /// [`RootTokenCeremony::generate_otp`] (or [`RootTokenCeremony::provide_otp`]).
    GenerateOtp,
    /// Encrypt the token to this PGP public key (base64 of the binary key). The encoded token
    /// is then a base64 OpenPGP message, returned as is.
    PgpKey(String),
}

/// Where a root-token generation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RootTokenPhase {
    /// Reading the attempt status, or starting (or resuming) the generation.
    Starting,
    /// The server's `otp_length` is known; the ceremony waits for the caller's OTP.
    AwaitingOtp,
    /// The generation runs under the pinned nonce and takes shares.
    CollectingShares,
    /// The token was generated: see [`RootTokenCeremony::result`].
    Done,
    /// A request the server may have acted on got no whole answer. The next request reads
    /// the progress to learn what happened before anything else is sent.
    OutcomeUnknown,
    /// The generation was cancelled.
    Cancelled,
    /// The ceremony cannot continue: another generation replaced it or the server lost it.
    /// Nothing more is sent.
    Aborted,
}

impl RootTokenPhase {
    fn name(self) -> &'static str {
        match self {
            RootTokenPhase::Starting => "starting",
            RootTokenPhase::AwaitingOtp => "awaiting an OTP",
            RootTokenPhase::CollectingShares => "collecting shares",
            RootTokenPhase::Done => "done",
            RootTokenPhase::OutcomeUnknown => "waiting to learn the outcome of a lost answer",
            RootTokenPhase::Cancelled => "cancelled",
            RootTokenPhase::Aborted => "aborted",
        }
    }

    fn is_terminal(self) -> bool {
        matches!(
            self,
            RootTokenPhase::Done | RootTokenPhase::Cancelled | RootTokenPhase::Aborted
        )
    }
}

/// What an answer changed, returned by [`RootTokenCeremony::handle_response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RootTokenEvent {
    /// The attempt status was read: the server's `otp_length` is known.
    StatusRead,
    /// The nonce is pinned: the generation started, or the one in progress was resumed.
    Started,
    /// A share was counted; see [`RootTokenCeremony::progress`].
    Progress,
    /// The token was generated: [`RootTokenCeremony::result`] holds it.
    Generated,
    /// The progress was read again.
    Refreshed,
    /// The generation was cancelled.
    Cancelled,
    /// A request whose answer was lost had not been acted on: a share is queued again, a
    /// start is sent again.
    Requeued,
    /// The server discarded the shares submitted so far (they did not combine), the lost
    /// share's among them: progress starts again from 0.
    ProgressReset,
}

/// The generated token, as the server handed it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedToken {
    encoded: EncodedToken,
    pgp_fingerprint: Option<String>,
    nonce: Option<String>,
}

impl GeneratedToken {
    /// The token encoded with the OTP, or (with a PGP key) the base64 OpenPGP message whose
    /// plaintext is the token.
    pub fn encoded(&self) -> &EncodedToken {
        &self.encoded
    }

    /// The fingerprint of the PGP key the token is encrypted to, if any.
    pub fn pgp_fingerprint(&self) -> Option<&str> {
        self.pgp_fingerprint.as_deref()
    }

    /// Whether the token is PGP-encrypted (decrypt it with the private key; there is no OTP).
    pub fn is_pgp_encrypted(&self) -> bool {
        self.pgp_fingerprint.is_some()
    }

    /// The nonce of the generation that produced it.
    pub fn nonce(&self) -> Option<&str> {
        self.nonce.as_deref()
    }
}

#[derive(Debug, Clone)]
enum Mode {
    Start(TokenProtection),
    Resume,
}

type Stage = skeleton::Stage<AwaitingOtp, Lost>;

/// The ceremony's own stage: the server's `otp_length` is known, the caller's OTP awaited.
#[derive(Debug)]
pub(super) struct AwaitingOtp;

#[derive(Debug)]
pub(super) enum Lost {
    /// `salvaged`: the nonce (and server OTP) found in what arrived of the start's answer.
    Start {
        salvaged: Option<(String, Option<Otp>)>,
    },
    Share(KeyShare),
    Cancel,
}

#[derive(Debug)]
pub(super) enum InFlight {
    /// The attempt status read before a start with the caller's OTP.
    Status,
    Start,
    Read,
    Share(KeyShare),
    Cancel,
    /// The progress read that settles an unknown outcome.
    Resolve,
}

impl Flight for InFlight {
    fn effect(&self) -> Effect {
        match self {
            InFlight::Read => Effect::Reads,
            InFlight::Status | InFlight::Resolve => Effect::Settles,
            InFlight::Start | InFlight::Share(_) | InFlight::Cancel => Effect::Changes,
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

/// What may be recovered from a start answer that was cut or could not be decoded.
#[derive(serde::Deserialize)]
struct SalvagedStart {
    #[serde(default, deserialize_with = "wire::non_empty")]
    nonce: Option<String>,
    #[serde(default, deserialize_with = "wire::non_empty")]
    otp: Option<Otp>,
}

/// What may be recovered from a completing answer that was cut or could not be decoded.
#[derive(serde::Deserialize)]
struct SalvagedToken {
    #[serde(default, deserialize_with = "wire::non_empty")]
    nonce: Option<String>,
    #[serde(default, deserialize_with = "wire::non_empty")]
    encoded_token: Option<EncodedToken>,
    #[serde(default, deserialize_with = "wire::non_empty")]
    encoded_root_token: Option<EncodedToken>,
}

/// A root-token (or recovery-token) generation, driven by the caller like
/// [`RekeyCeremony`](super::RekeyCeremony): [`poll`](Self::poll), send,
/// [`handle_response`](Self::handle_response), while it returns a request to send ([`Next`]).
///
/// See the [module docs](super) for complete examples.
#[derive(Debug)]
#[must_use = "a ceremony does nothing until it is driven"]
pub struct RootTokenCeremony {
    kind: TokenKind,
    mode: Mode,
    run: Skeleton<InFlight, AwaitingOtp, Lost>,
    /// The last status the server reported.
    status: Option<RootGenerationStatus>,
    otp: Option<Otp>,
    otp_length: Option<u32>,
    pgp_fingerprint: Option<String>,
    result: Option<GeneratedToken>,
}

impl RootTokenCeremony {
    /// A new generation of a token of `kind`, protected as `protection` says.
    pub fn start(kind: TokenKind, protection: TokenProtection) -> Self {
        let (otp, pinned) = match &protection {
            TokenProtection::Otp(otp) => (Some(otp.clone()), Ok(None)),
            TokenProtection::PgpKey(key) => (
                None,
                super::skeleton::fingerprints_of(std::slice::from_ref(key)),
            ),
            _ => (None, Ok(None)),
        };
        let mut generation = Self::new(kind, Mode::Start(protection), otp);
        generation.run.pin_keys(pinned);
        generation
    }

    /// Joins the generation of `kind` already in progress: its status is read first and its
    /// nonce pinned. `otp` is the OTP it was started with, needed to decode the token (not
    /// with a PGP key; it can also be given later with [`provide_otp`](Self::provide_otp)).
    pub fn resume(kind: TokenKind, otp: Option<Otp>) -> Self {
        Self::new(kind, Mode::Resume, otp)
    }

    fn new(kind: TokenKind, mode: Mode, otp: Option<Otp>) -> Self {
        Self {
            kind,
            mode,
            run: Skeleton::new("root-token generation"),
            status: None,
            otp,
            otp_length: None,
            pgp_fingerprint: None,
            result: None,
        }
    }

    shared_methods!(RootTokenEvent);

    /// Accept only a generation whose token is encrypted to the PGP key with this fingerprint
    /// (hex, any case): another (or none) fails with
    /// [`CeremonyError::FingerprintMismatch`] before a share is sent. With the `pgp` feature, a
    /// generation started with [`TokenProtection::PgpKey`] pins its key itself.
    pub fn require_fingerprint(mut self, fingerprint: impl Into<String>) -> Self {
        self.run.require_fingerprints(vec![fingerprint.into()]);
        self
    }

    /// Gives the OTP: while [`AwaitingOtp`](RootTokenPhase::AwaitingOtp) it is checked
    /// against the server's `otp_length` and then sent to start the generation; for a resumed
    /// generation it is the OTP to decode the token with.
    pub fn provide_otp(&mut self, otp: Otp) -> Result<(), Error> {
        let awaiting = matches!(self.run.stage, Stage::Own(AwaitingOtp));
        let resumed = matches!(self.mode, Mode::Resume) && !self.phase().is_terminal();
        if !awaiting && !resumed {
            return Err(self.wrong_phase("giving an OTP"));
        }
        if let Some(otp_length) = self.otp_length {
            OtpScheme::from_otp_length(otp_length).check(&otp)?;
        }
        self.otp = Some(otp);
        if awaiting {
            self.run.stage = Stage::Starting;
        }
        Ok(())
    }

    /// Generates the OTP from the caller's random source, for the scheme the server reported
    /// (legacy when its `otp_length` is 0), while
    /// [`AwaitingOtp`](RootTokenPhase::AwaitingOtp).
    pub fn generate_otp<R: RandomSource + ?Sized>(&mut self, source: &mut R) -> Result<(), Error> {
        let (Stage::Own(AwaitingOtp), Some(otp_length)) = (&self.run.stage, self.otp_length) else {
            return Err(self.wrong_phase("generating an OTP"));
        };
        let otp = OtpScheme::from_otp_length(otp_length).generate(source)?;
        self.provide_otp(otp)
    }

    /// Queues one share (hvac's `generate_root`). It is sent once the nonce is pinned.
    pub fn submit_share(&mut self, share: KeyShare) -> Result<(), Error> {
        self.submit_shares([share])
    }

    /// Queues shares, sent one at a time in order. Nothing is queued if any share is empty.
    pub fn submit_shares<I>(&mut self, shares: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = KeyShare>,
    {
        if self.phase().is_terminal() {
            return Err(self.wrong_phase("submitting a share"));
        }
        queue(&mut self.run.shares, shares)
    }

    /// Drops the queued shares that were not sent yet.
    pub fn clear_queued_shares(&mut self) {
        self.run.shares.clear();
    }

    /// Cancels the generation (hvac's `cancel_root_generation`). Before the start was sent
    /// nothing of this ceremony's is running and nothing is sent; a resumed ceremony, or one
    /// whose last answer was lost, reads the status (and checks the nonce) first. The servers'
    /// cancel takes no nonce: it ends whatever generation is in progress at that moment.
    ///
    /// An aborted ceremony can still cancel the generation found after its start got no
    /// answer ([`CeremonyError::StartUnconfirmed`]).
    pub fn cancel(&mut self) -> Result<(), Error> {
        if !self.run.ask_cancel() {
            return Err(self.wrong_phase("cancelling"));
        }
        Ok(())
    }

    /// Reads the progress again.
    pub fn refresh(&mut self) -> Result<(), Error> {
        if !matches!(self.run.stage, Stage::Collecting) {
            return Err(self.wrong_phase("reading the progress"));
        }
        self.run.ask(Asked::Refresh);
        Ok(())
    }

    fn wrong_phase(&self, action: &'static str) -> Error {
        wrong_phase(action, self.phase().name())
    }

    /// Where the ceremony stands.
    pub fn phase(&self) -> RootTokenPhase {
        match self.run.stage {
            Stage::Starting => RootTokenPhase::Starting,
            Stage::Own(AwaitingOtp) => RootTokenPhase::AwaitingOtp,
            Stage::Collecting => RootTokenPhase::CollectingShares,
            Stage::Done => RootTokenPhase::Done,
            Stage::Unknown(_) => RootTokenPhase::OutcomeUnknown,
            Stage::Cancelled => RootTokenPhase::Cancelled,
            Stage::Aborted { .. } => RootTokenPhase::Aborted,
        }
    }

    /// Which token this ceremony generates.
    pub fn token_kind(&self) -> TokenKind {
        self.kind
    }

    /// The OTP: the caller's, or the server's from the start answer (it is not sent again).
    pub fn otp(&self) -> Option<&Otp> {
        self.otp.as_ref()
    }

    /// The `otp_length` the server reported before or when the generation started (0: legacy
    /// scheme).
    pub fn otp_length(&self) -> Option<u32> {
        self.otp_length
    }

    /// Fingerprint of the PGP key the token will be encrypted to.
    pub fn pgp_fingerprint(&self) -> Option<&str> {
        self.pgp_fingerprint.as_deref()
    }

    /// Shares counted so far.
    pub fn progress(&self) -> u32 {
        self.status.as_ref().map_or(0, |s| s.progress)
    }

    /// Shares needed (0 while not known).
    pub fn required(&self) -> u32 {
        self.status.as_ref().map_or(0, |s| s.required)
    }

    /// The last status the server reported.
    pub fn status(&self) -> Option<&RootGenerationStatus> {
        self.status.as_ref()
    }

    /// Shares queued and not sent yet.
    pub fn queued_shares(&self) -> usize {
        self.run.shares.len()
    }

    /// The generated token, once the threshold was reached. It stays here in every later
    /// phase, after any error, until the ceremony is dropped.
    pub fn result(&self) -> Option<&GeneratedToken> {
        self.result.as_ref()
    }

    /// The encoded token, once generated.
    pub fn encoded_token(&self) -> Option<&EncodedToken> {
        self.result.as_ref().map(GeneratedToken::encoded)
    }

    /// Decodes the generated token with the ceremony's OTP, in the scheme of the
    /// `otp_length` seen when the generation started. Fails for a PGP-encrypted token, or
    /// before the token exists.
    pub fn decode_token(&self) -> Result<Token, Error> {
        let Some(result) = &self.result else {
            return Err(self.wrong_phase("decoding the token"));
        };
        if result.is_pgp_encrypted() {
            return Err(InvalidInput::TokenDecode(
                "the token is PGP-encrypted: decrypt it with the private key",
            )
            .into());
        }
        let (Some(otp), Some(otp_length)) = (&self.otp, self.otp_length) else {
            return Err(
                InvalidInput::TokenDecode("the OTP of this generation is not known").into(),
            );
        };
        otp::decode_token(&result.encoded, otp, otp_length)
    }
}

impl_ceremony!(RootTokenCeremony, RootTokenPhase, RootTokenEvent);

impl RootTokenCeremony {
    /// A generation verifies nothing: its shares are always current shares.
    fn verifying(&self) -> bool {
        false
    }
}

impl From<skeleton::Recount> for RootTokenEvent {
    fn from(recount: skeleton::Recount) -> Self {
        match recount {
            skeleton::Recount::Counted => RootTokenEvent::Progress,
            skeleton::Recount::NotCounted => RootTokenEvent::Requeued,
            skeleton::Recount::Reset => RootTokenEvent::ProgressReset,
        }
    }
}

mod answers;
mod sending;
mod settling;
#[cfg(test)]
mod tests;
