//! The root-token (or recovery-token) generation ceremony.
//!
//! The generated token is handed out once, encoded with a one-time password or encrypted to a
//! PGP key. The ceremony keeps what is needed to read it: the server-generated OTP (sent only
//! in the start answer), the caller's OTP, and the `otp_length` the server reported when the
//! generation started (classic update answers report 0, which would select the legacy
//! scheme).

use super::skeleton::{
    self, queue, wrong_phase, Asked, Effect, Flight, Rules, Sending, Skeleton, Unknown,
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
        match self.run.answered()? {
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
            // A refused read leaves the outcome unknown: it is read again.
            InFlight::Resolve => {
                let answer = parse_status(status, body)?;
                self.resolve(answer)
            }
            InFlight::Read => match parse_status(status, body) {
                Ok(answer) => self.on_read(answer),
                Err(err) => Err(self.read_failed(err)),
            },
            InFlight::Share(share) => match parse_status(status, body) {
                Ok(answer) => self.on_share_answer(answer, status, body),
                Err(err) => Err(self.refused(err, InFlight::Share(share), status, body)),
            },
            InFlight::Cancel => {
                self.cancel_answered(wire::empty(status, body), InFlight::Cancel)?;
                Ok(RootTokenEvent::Cancelled)
            }
        }
    }

    /// An encoded token complete in a share's answer that was cut or could not be decoded.
    fn salvage_token(&mut self, body: &[u8]) {
        let Some(salvaged) = crate::salvage::salvage::<SalvagedToken>(body) else {
            return;
        };
        let Some(encoded) = salvaged.encoded_token.or(salvaged.encoded_root_token) else {
            return;
        };
        if self.result.is_some() || self.run.conflict(salvaged.nonce.as_ref()).is_some() {
            return;
        }
        self.result = Some(GeneratedToken {
            encoded,
            pgp_fingerprint: self.pgp_fingerprint.clone(),
            nonce: salvaged.nonce.or_else(|| self.run.nonce().cloned()),
        });
    }

    /// What the progress read says about a request whose answer was lost.
    fn resolve(&mut self, status: RootGenerationStatus) -> Result<RootTokenEvent, Error> {
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
                if running && (ours || self.run.nonce().is_none()) {
                    // Still running: the cancel is sent again.
                    self.run.stage = before;
                    self.status = Some(status);
                    return Ok(RootTokenEvent::Refreshed);
                }
                self.finish_cancel();
                Ok(RootTokenEvent::Cancelled)
            }
            Lost::Start { salvaged } => {
                if !running {
                    return Ok(RootTokenEvent::Requeued);
                }
                let server_otp = matches!(self.mode, Mode::Start(TokenProtection::ServerOtp));
                let (salvaged_nonce, otp) = match salvaged {
                    Some((nonce, otp)) => (Some(nonce), otp),
                    None => (None, None),
                };
                let known = salvaged_nonce.as_ref().or(self.run.required_nonce());
                let usable = !server_otp || otp.is_some();
                if usable && known.is_some() && known == status.nonce.as_ref() {
                    if server_otp {
                        self.otp = otp;
                    }
                    self.run.pin(status.nonce.clone());
                    return self.on_read(status);
                }
                let found = status.nonce.clone();
                self.status = Some(status);
                self.abort_cancellable(found.clone());
                Err(CeremonyError::StartUnconfirmed {
                    ceremony: "root-token generation",
                    found,
                }
                .into())
            }
            Lost::Share(share) => {
                if running && !ours {
                    self.run.stage = before;
                    return self.on_read(status);
                }
                if ours {
                    let recount = self.run.recount(share, progress, status.progress);
                    self.status = Some(status);
                    return Ok(recount.into());
                }
                if self.result.is_some() {
                    // The cut answer held the token.
                    self.run.shares.clear();
                    self.run.stage = Stage::Done;
                    return Ok(RootTokenEvent::Generated);
                }
                let could_complete = progress.saturating_add(1) >= self.required();
                self.abort();
                if could_complete {
                    return Err(CeremonyError::AnswerLost {
                        ceremony: "root-token generation",
                        recovery: Recovery::TokenGone,
                    }
                    .into());
                }
                Err(CeremonyError::LostByServer("root-token generation").into())
            }
        }
    }

    fn on_status(&mut self, status: RootGenerationStatus) -> Result<RootTokenEvent, Error> {
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

    fn on_started(
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

    fn on_read(&mut self, status: RootGenerationStatus) -> Result<RootTokenEvent, Error> {
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
    fn check_fingerprint(&mut self, status: &RootGenerationStatus) -> Result<(), Error> {
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

    fn on_share_answer(
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

impl Rules for RootTokenCeremony {
    type Flight = InFlight;
    type Own = AwaitingOtp;
    type Lost = Lost;

    fn skeleton(&self) -> &Skeleton<InFlight, AwaitingOtp, Lost> {
        &self.run
    }

    fn skeleton_mut(&mut self) -> &mut Skeleton<InFlight, AwaitingOtp, Lost> {
        &mut self.run
    }

    fn next_request(&mut self, target: &Target) -> Result<Option<Sending<InFlight>>, Error> {
        let kind = self.kind;
        let asked = self.run.asked();
        let read = || ReadRootGenerationProgress::new().kind(kind).request(target);
        let cancel = || CancelRootGeneration::new().kind(kind).request(target);
        let next = match &self.run.stage {
            Stage::Unknown(_) => (read()?, InFlight::Resolve),
            Stage::Aborted { cancel: Some(_) } if asked == Asked::Cancel => {
                (cancel()?, InFlight::Cancel)
            }
            Stage::Done | Stage::Cancelled | Stage::Aborted { .. } => return Ok(None),
            Stage::Own(AwaitingOtp) => {
                if asked == Asked::Cancel {
                    self.finish_cancel();
                }
                return Ok(None);
            }
            Stage::Starting => match &self.mode {
                Mode::Start(_) if asked == Asked::Cancel => {
                    // Nothing was started by this ceremony: there is nothing to cancel.
                    self.finish_cancel();
                    return Ok(None);
                }
                Mode::Start(protection) => {
                    let needs_status = matches!(
                        protection,
                        TokenProtection::Otp(_) | TokenProtection::GenerateOtp
                    );
                    if needs_status && self.otp_length.is_none() {
                        (read()?, InFlight::Status)
                    } else {
                        let mut start = StartRootTokenGeneration::new().kind(kind);
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
                        (start.request(target)?, InFlight::Start)
                    }
                }
                Mode::Resume => (read()?, InFlight::Read),
            },
            Stage::Collecting => {
                let Some(nonce) = self.run.nonce().cloned() else {
                    return Ok(None);
                };
                match asked {
                    Asked::Cancel => (cancel()?, InFlight::Cancel),
                    Asked::Refresh => (read()?, InFlight::Read),
                    Asked::Nothing | Asked::CancelVerification => {
                        let Some(share) = self.run.shares.pop_front() else {
                            return Ok(None);
                        };
                        let request = GenerateRoot::new(share.clone(), nonce)
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

impl_ceremony!(RootTokenCeremony, RootTokenPhase, RootTokenEvent);

impl From<skeleton::Recount> for RootTokenEvent {
    fn from(recount: skeleton::Recount) -> Self {
        match recount {
            skeleton::Recount::Counted => RootTokenEvent::Progress,
            skeleton::Recount::NotCounted => RootTokenEvent::Requeued,
            skeleton::Recount::Reset => RootTokenEvent::ProgressReset,
        }
    }
}

/// The nonce (and server OTP) complete in a start answer that was cut or undecodable.
fn salvaged_start(body: &[u8]) -> Option<(String, Option<Otp>)> {
    match crate::salvage::salvage::<SalvagedStart>(body) {
        Some(SalvagedStart {
            nonce: Some(nonce),
            otp,
        }) => Some((nonce, otp)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target::new("http://127.0.0.1:8200").unwrap()
    }

    fn poll(generation: &mut RootTokenCeremony) -> (String, serde_json::Value) {
        let request = generation
            .poll(&target())
            .unwrap()
            .into_request()
            .expect("a request");
        let body = serde_json::from_slice(request.body()).unwrap_or(serde_json::Value::Null);
        (request.method().to_string(), body)
    }

    fn answer(
        generation: &mut RootTokenCeremony,
        status: u16,
        body: &str,
    ) -> Result<RootTokenEvent, Error> {
        generation.handle_response(StatusCode::from_u16(status).unwrap(), body.as_bytes())
    }

    const STARTED: &str = r#"{"nonce":"n-1","started":true,"progress":0,"required":3,"complete":false,"otp":"","otp_length":26}"#;

    #[test]
    fn a_start_answer_without_the_server_otp_is_an_error_but_cancellable() {
        let mut generation = RootTokenCeremony::start(TokenKind::Root, TokenProtection::ServerOtp);
        poll(&mut generation);
        let err = answer(&mut generation, 200, STARTED).unwrap_err();
        assert!(err.raw_body().is_some());
        assert_eq!(generation.phase(), RootTokenPhase::CollectingShares);
        assert_eq!(generation.nonce(), Some("n-1"));
        generation.cancel().unwrap();
        assert_eq!(poll(&mut generation).0, "DELETE");
        answer(&mut generation, 204, "").unwrap();
        assert_eq!(generation.phase(), RootTokenPhase::Cancelled);
    }

    #[test]
    fn a_resumed_generation_checks_the_otp_it_was_given() {
        let mut generation =
            RootTokenCeremony::resume(TokenKind::Root, Some(Otp::new("too-short")));
        assert_eq!(poll(&mut generation).0, "GET");
        let err = answer(&mut generation, 200, STARTED).unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidInput(InvalidInput::OtpLength { expected: 26, .. })
        ));
        assert_eq!(generation.phase(), RootTokenPhase::CollectingShares);
        assert!(generation.otp().is_none());
        generation
            .provide_otp(Otp::new("abcdefghijklmnopqrstuvwxyz"))
            .unwrap();
        assert_eq!(generation.otp_length(), Some(26));
    }

    #[test]
    fn update_answers_do_not_change_the_otp_length() {
        let mut generation = RootTokenCeremony::start(
            TokenKind::Root,
            TokenProtection::Otp(Otp::new("abcdefghijklmnopqrstuvwxyz")),
        );
        poll(&mut generation);
        answer(&mut generation, 200, &STARTED.replace("\"n-1\"", "\"\"")).unwrap();
        let (method, body) = poll(&mut generation);
        assert_eq!(method, "PUT");
        assert_eq!(body["otp"], "abcdefghijklmnopqrstuvwxyz");
        answer(&mut generation, 200, STARTED).unwrap();
        generation.submit_share(KeyShare::new("aa")).unwrap();
        poll(&mut generation);
        answer(
            &mut generation,
            200,
            r#"{"nonce":"n-1","started":true,"progress":1,"required":3,"complete":false,"otp_length":0}"#,
        )
        .unwrap();
        assert_eq!(generation.otp_length(), Some(26));
        generation.refresh().unwrap();
        poll(&mut generation);
        answer(&mut generation, 200, STARTED).unwrap();
        assert_eq!(generation.otp_length(), Some(26));
    }

    #[test]
    fn nothing_is_sent_while_awaiting_the_otp() {
        let mut generation =
            RootTokenCeremony::start(TokenKind::Root, TokenProtection::GenerateOtp);
        poll(&mut generation);
        answer(&mut generation, 200, &STARTED.replace("true", "false")).unwrap();
        assert_eq!(generation.phase(), RootTokenPhase::AwaitingOtp);
        assert!(matches!(
            generation.poll(&target()).unwrap(),
            Next::NeedOtp { length: 26 }
        ));
        assert!(generation.refresh().is_err());
        generation.cancel().unwrap();
        assert!(generation.poll(&target()).unwrap().is_finished());
        assert_eq!(generation.phase(), RootTokenPhase::Cancelled);
    }
}
