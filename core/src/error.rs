//! The one error type: the server refused, the response could not be understood, or the
//! caller asked for something invalid.
//!
//! Nothing here ever holds a secret in printable form: a response body that could not be
//! decoded is kept (it may carry new key shares or a token, so it must not be lost) but only as
//! [`SecretBytes`], which prints as its length.

use crate::dialect::Dialect;
use crate::secret::SecretBytes;
use std::fmt;

/// Everything that can go wrong in the core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error status.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The server answered, but the response could not be understood.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The caller asked for something invalid; no request was built.
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// A ceremony was driven out of order, or the server's answer contradicts it.
    #[error(transparent)]
    Ceremony(#[from] CeremonyError),
}

impl Error {
    /// The server's refusal, if this is one.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Error::Server(e) => Some(&e.refusal),
            _ => None,
        }
    }

    /// The raw body of a response that could not be decoded, or of a refusal. It may hold
    /// secrets (new key shares, a token): this is how a result is recovered when its response
    /// is malformed.
    pub fn raw_body(&self) -> Option<&SecretBytes> {
        match self {
            Error::Decode(e) => Some(&e.body),
            Error::Server(e) if !e.body.is_empty() => Some(&e.body),
            _ => None,
        }
    }
}

/// What kind of refusal a server error is, classified from its status and messages.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Missing, invalid or insufficient token (403).
    PermissionDenied,
    /// The server is sealed (503 `Vault is sealed`).
    Sealed,
    /// The server is not initialised.
    NotInitialized,
    /// The server is already initialised (a second `sys/init`).
    AlreadyInitialized,
    /// The node is a standby and does not serve this request (`Vault is in standby mode`, or a
    /// 429 that says standby). Retry on the active node, or later.
    Standby,
    /// A rate-limit quota refused the request (429 without a standby message). Retryable.
    RateLimited,
    /// The cluster has no active node right now (503 `no active Vault instance found`, or
    /// 500 `local node not active but active cluster node not found`, seen during a leader
    /// election or right after an unseal). Retryable once a leader is elected.
    NoActiveNode,
    /// This node is not the active one and cannot forward (503 `node is not active`).
    /// Retryable, on the active node.
    NodeNotActive,
    /// The server sheds load (503 `overloaded, try again later`). Retryable, after a pause.
    Overloaded,
    /// An administrator locked API access to the namespace (Vault Enterprise, 503 `API
    /// access to this namespace has been locked by an administrator`). Not retryable until
    /// it is unlocked.
    NamespaceLocked,
    /// The path does not exist on this server (404).
    NotFound,
    /// A 404 with Go's plain-text `404 page not found` rather than a JSON error: the server
    /// runs in recovery mode (`-recovery`), where only `sys/raw` and
    /// `sys/generate-recovery-token/*` are served (or what answers is not Vault's API).
    RecoveryMode,
    /// The endpoint exists but is disabled: OpenBao answers its classic unauthenticated
    /// rekey and generate-root paths with 405 `unsupported operation` unless the listener
    /// enables them. Use [`Dialect::OpenBao`] there.
    EndpointDisabled,
    /// 405 without a message: the path's handler does not serve this method (Vault's and
    /// OpenBao's classic handlers answer so). On Vault a 405 always means this, never a
    /// disabled endpoint.
    MethodNotAllowed,
    /// The nonce sent is not the ceremony's; the server names the one in progress.
    WrongNonce {
        /// The nonce of the operation in progress, as the server names it.
        expected: Option<String>,
    },
    /// This key share was already submitted in this ceremony.
    AlreadyProvided,
    /// No ceremony of this kind is in progress.
    NotInProgress,
    /// A ceremony of this kind is already in progress.
    AlreadyInProgress,
    /// The submitted shares reached the threshold but did not combine into the key.
    SharesDidNotCombine,
    /// The rekey finished and waits for verification of the new shares.
    VerificationPending {
        /// The verification nonce the server names.
        verification_nonce: Option<String>,
    },
    /// No backed-up keys are stored.
    NoBackup,
    /// The server is auto-unsealed (a KMS, HSM or transit seal): its barrier key is rotated
    /// without shares, so a rekey of the unseal keys may not ask for verification, PGP keys
    /// or a backup (`requiring verification not supported when rekeying the barrier key with
    /// recovery keys`, OpenBao's `... when rotating ...`, `... not supported when using stored
    /// keys`). Rekey the recovery keys instead (`KeyKind::Recovery`, which may verify), or
    /// rotate the barrier key with `StartRekey::new(1, 1).require_verification(false)`;
    /// [`StartRekey::check_seal`](crate::ops::rekey::StartRekey::check_seal) says so before
    /// anything is sent.
    AutoUnseal,
    /// Any other 4xx, or a 5xx whose message says the request was invalid: the request was
    /// invalid and retrying it cannot help.
    InvalidRequest,
    /// A 5xx the messages do not explain.
    ServerFailure,
    /// Any other status.
    Other,
}

impl Refusal {
    /// Whether the same request may succeed later, or on another node of the cluster, without
    /// anything else changing: a standby, no active node yet, overload or a rate limit.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Refusal::Standby
                | Refusal::RateLimited
                | Refusal::NoActiveNode
                | Refusal::NodeNotActive
                | Refusal::Overloaded
        )
    }

    /// Whether the server does not serve the path at all (404, or recovery mode's plain 404):
    /// the operation does not exist on this server or in its current mode.
    pub fn is_path_not_served(&self) -> bool {
        matches!(self, Refusal::NotFound | Refusal::RecoveryMode)
    }
}

/// An error status from the server, with its messages and their classification.
///
/// Only the server's `errors` strings are shown. The whole body is kept, unprinted, in
/// zeroizing memory ([`body`](Self::body)): an answer that is not Vault's own (a proxy's
/// error page, a cut or garbled body) could carry anything, new shares included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// HTTP status code.
    pub status: u16,
    /// The server's `errors` list, unwrapped from Go's multierror formatting.
    pub errors: Vec<String>,
    /// What the refusal means.
    pub refusal: Refusal,
    /// The raw body of the answer (may hold secrets; prints as its length).
    pub body: SecretBytes,
    /// Whether the body was Vault's own JSON with an `errors` list.
    vault_errors: bool,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server refused ({}, {:?})", self.status, self.refusal)?;
        if !self.errors.is_empty() {
            write!(f, ": {}", self.errors.join("; "))?;
        } else if self.refusal == Refusal::RecoveryMode {
            write!(
                f,
                ": the path is not served; the server looks to be in recovery mode, where only sys/raw and sys/generate-recovery-token/* are"
            )?;
        } else if !self.body.is_empty() {
            write!(
                f,
                ": no error messages; the {}-byte body is kept, not shown",
                self.body.len()
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for ServerError {}

impl ServerError {
    /// Builds a classified error from a status and the server's messages.
    pub fn new(status: u16, errors: Vec<String>) -> Self {
        let errors: Vec<String> = errors.iter().map(|e| unwrap_multierror(e)).collect();
        let refusal = classify(status, &errors, true);
        Self {
            status,
            errors,
            refusal,
            body: SecretBytes::default(),
            vault_errors: true,
        }
    }

    /// Builds it from a whole answer: `errors` is the body's `errors` list, if it has one.
    /// A body without one (plain text, a proxy's page) is classified from its text but
    /// only kept, never shown.
    pub(crate) fn from_answer(status: u16, errors: Option<Vec<String>>, body: &[u8]) -> Self {
        let mut error = match errors {
            Some(errors) => Self::new(status, errors),
            None => {
                let text = zeroize::Zeroizing::new(String::from_utf8_lossy(body).into_owned());
                let mut error = Self::new(status, Vec::new());
                error.refusal = classify(status, &[text.trim().to_string()], false);
                error.vault_errors = false;
                error
            }
        };
        error.body = SecretBytes::new(body);
        error
    }

    /// Whether the answer came from something between the client and the server: 502 bad
    /// gateway, 504 gateway timeout, or any other 5xx without Vault's JSON `errors` (a load
    /// balancer's `503 Service Temporarily Unavailable` page). The request may or may not have
    /// reached the server, which may or may not have acted on it.
    pub fn from_gateway(&self) -> bool {
        matches!(self.status, 502 | 504) || (self.status >= 500 && !self.vault_errors)
    }

    /// Whether the server itself wrote this refusal: Vault's JSON `errors`, with a status that is
    /// not a gateway's. Only such a refusal means that the server did not act on the request;
    /// after any other answer to a request that may change the server (a proxy's page, a
    /// gateway's 502, plain text), the outcome is unknown until a read settles it.
    pub fn written_by_server(&self) -> bool {
        self.vault_errors && !self.from_gateway()
    }
}

/// Turns Go's `"1 error occurred:\n\t* message\n\n"` into `message` (several messages are
/// joined with "; ").
fn unwrap_multierror(message: &str) -> String {
    let trimmed = message.trim();
    if !trimmed.contains("error occurred:") && !trimmed.contains("errors occurred:") {
        return trimmed.to_string();
    }
    let items: Vec<&str> = trimmed
        .lines()
        .filter_map(|line| line.trim().strip_prefix("* "))
        .map(str::trim)
        .collect();
    if items.is_empty() {
        trimmed.to_string()
    } else {
        items.join("; ")
    }
}

/// The text between the quotes after `is "` in messages such as
/// `incorrect nonce supplied; nonce for this rekey operation is "<nonce>"`.
fn quoted_nonce(message: &str) -> Option<String> {
    let start = message.rfind("is \"")? + 4;
    let rest = &message[start..];
    let end = rest.find('"')?;
    let nonce = &rest[..end];
    (!nonce.is_empty()).then(|| nonce.to_string())
}

/// 5xx messages that refuse the request itself: the classic rekey endpoint answers invalid
/// share settings and unparsable PGP keys with 500, OpenBao's `generate-root-token/update`
/// answers a malformed share with 500. Retrying them cannot help.
const INVALID_REQUEST_5XX: &[&str] = &[
    "seal configuration",
    "pgp key",
    "must be a valid hex or base64",
    "must be specified",
    "is required",
    "missing required field",
    "not supported",
    "failed to decode json input",
];

/// What `errors` (or, `from_vault` false, the text of a body without them) mean at `status`.
fn classify(status: u16, errors: &[String], from_vault: bool) -> Refusal {
    for message in errors {
        let m = message.to_ascii_lowercase();
        if m.contains("verification must be performed") || m.contains("already finished") {
            return Refusal::VerificationPending {
                verification_nonce: quoted_nonce(message),
            };
        }
        if m.contains("incorrect nonce") {
            return Refusal::WrongNonce {
                expected: quoted_nonce(message),
            };
        }
        if m.contains("already been provided") {
            return Refusal::AlreadyProvided;
        }
        if m.contains("no backed-up keys") {
            return Refusal::NoBackup;
        }
        if m.contains("the barrier key with recovery keys")
            || m.contains("not supported when using stored keys")
        {
            return Refusal::AutoUnseal;
        }
        if m.contains("already in progress") {
            return Refusal::AlreadyInProgress;
        }
        if (m.starts_with("no ")
            && (m.ends_with("in progress") || m.ends_with("configuration found")))
            || m.contains("operation not in progress")
        {
            return Refusal::NotInProgress;
        }
        if m.contains("root generation aborted")
            || m.contains("failed to read root key")
            || m.contains("failed to compute root key")
            || m.contains("failed to compute recovery key")
            || m.contains("failed to compute master key")
            || m.contains("verification failed")
            || m.contains("failed to compute key for verification")
            || m.contains("unable to retrieve stored keys")
            || m.contains("unseal failed")
        {
            return Refusal::SharesDidNotCombine;
        }
        if m.contains("unsupported operation") && status == 405 {
            return Refusal::EndpointDisabled;
        }
        if m.contains("is sealed") {
            return Refusal::Sealed;
        }
        if m.contains("already initialized") {
            return Refusal::AlreadyInitialized;
        }
        if m.contains("not initialized") || m.contains("not yet initialized") {
            return Refusal::NotInitialized;
        }
        if m.contains("no active vault instance")
            || m.contains("active cluster node not found")
            || m.contains("no active openbao instance")
        {
            return Refusal::NoActiveNode;
        }
        if m.contains("node is not active") {
            return Refusal::NodeNotActive;
        }
        if m.contains("overloaded, try again later") {
            return Refusal::Overloaded;
        }
        if m.contains("namespace has been locked") {
            return Refusal::NamespaceLocked;
        }
        if m.contains("standby") {
            return Refusal::Standby;
        }
        if m.contains("rate limit quota exceeded") {
            return Refusal::RateLimited;
        }
        if status == 404 && m == "404 page not found" {
            return Refusal::RecoveryMode;
        }
        if m.contains("permission denied") {
            return Refusal::PermissionDenied;
        }
        if status >= 500 && INVALID_REQUEST_5XX.iter().any(|s| m.contains(s)) {
            return Refusal::InvalidRequest;
        }
    }
    match status {
        403 | 401 => Refusal::PermissionDenied,
        404 => Refusal::NotFound,
        405 if errors.iter().all(|m| m.trim().is_empty()) => Refusal::MethodNotAllowed,
        405 => Refusal::EndpointDisabled,
        429 => Refusal::RateLimited,
        // Vault answers 503 when sealed; a 503 page of a proxy's says nothing of the server.
        503 if from_vault => Refusal::Sealed,
        400..=499 => Refusal::InvalidRequest,
        500..=599 => Refusal::ServerFailure,
        _ => Refusal::Other,
    }
}

/// A response that could not be understood. The body is kept, as it may carry a result that
/// must not be lost.
#[derive(Debug, Clone)]
pub struct DecodeError {
    /// HTTP status code of the response.
    pub status: u16,
    /// What was wrong, with any quoted value from the body redacted.
    pub reason: String,
    /// The raw body (may contain secrets; prints as its length).
    pub body: SecretBytes,
}

impl DecodeError {
    pub(crate) fn new(status: u16, reason: impl Into<String>, body: &[u8]) -> Self {
        Self {
            status,
            reason: redact_quoted(&reason.into()),
            body: SecretBytes::new(body),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "could not decode response (status {}, {} bytes kept): {}",
            self.status,
            self.body.len(),
            self.reason
        )
    }
}

impl std::error::Error for DecodeError {}

/// Serde names the offending value in double quotes; that value may be a secret.
fn redact_quoted(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut inside = false;
    let mut escaped = false;
    for c in reason.chars() {
        if inside && escaped {
            escaped = false;
        } else if inside && c == '\\' {
            escaped = true;
        } else if c == '"' {
            if inside {
                out.push_str("\"<redacted>\"");
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    if inside {
        out.push_str("\"<redacted>");
    }
    out
}

/// The caller asked for something the server would refuse or that makes no sense; caught
/// before any request is built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidInput {
    /// The address is not an absolute `http://` or `https://` URL without query or fragment.
    #[error("invalid address {address:?}: {reason}")]
    Address {
        /// The address given.
        address: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A header name or value cannot be sent (the value is not shown: it may be a token).
    #[error("invalid header {name:?}: {reason}")]
    Header {
        /// The header name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Shares or threshold outside what the server accepts.
    #[error("invalid key shares configuration: {reason} (shares {shares}, threshold {threshold})")]
    SharesConfig {
        /// Number of shares asked for.
        shares: u32,
        /// Threshold asked for.
        threshold: u32,
        /// What is wrong.
        reason: &'static str,
    },
    /// One PGP key per share is needed.
    #[error("{given} PGP keys given for {shares} shares: one key per share is needed")]
    PgpKeyCount {
        /// Keys given.
        given: usize,
        /// Shares asked for.
        shares: u32,
    },
    /// Settings for one kind of seal given with the other's (`sys/init` takes unseal shares
    /// for a Shamir seal, recovery shares for an auto-unseal seal, never both).
    #[error("{0}")]
    SealMismatch(&'static str),
    /// A backup of the new keys needs PGP keys to encrypt them with.
    #[error("a backup of the new keys needs PGP keys to encrypt them")]
    BackupWithoutPgpKeys,
    /// A rekey of the unseal keys asks for what an auto-unsealed server refuses (its barrier
    /// key is rotated without shares); see [`Refusal::AutoUnseal`].
    #[error("the server is auto-unsealed ({seal_type} seal): a rekey of its unseal keys cannot have {refused}; rekey the recovery keys instead (KeyKind::Recovery, which can verify), or rotate the barrier key with StartRekey::new(1, 1).require_verification(false)")]
    AutoUnsealRekey {
        /// What the server would refuse: `verification`, `PGP keys`, `a backup`.
        refused: &'static str,
        /// The seal type the server reports (`transit`, `awskms`, ...).
        seal_type: String,
    },
    /// A rekey of the recovery keys on a server without them (a Shamir seal).
    #[error("the server has no recovery keys (it is Shamir-sealed): rekey its unseal keys")]
    NoRecoveryKeys,
    /// A ceremony started with PGP keys it cannot pin (a key that does not read, or keys
    /// given as text without the `pgp` feature): nothing is sent until the caller pins their
    /// fingerprints (`require_fingerprints`), so that a re-init with other keys is still
    /// caught.
    #[error("the PGP keys cannot be pinned ({reason}): give their fingerprints with require_fingerprints before the ceremony starts")]
    UnpinnedPgpKeys {
        /// Why the keys could not be read.
        reason: String,
    },
    /// An OTP and a PGP key exclude each other.
    #[error("give either an OTP or a PGP key, not both")]
    OtpAndPgpKey,
    /// The OTP does not have the length the server asks for.
    #[error("OTP has {given} characters, the server expects {expected}")]
    OtpLength {
        /// The server's `otp_length`.
        expected: usize,
        /// Length of the OTP given.
        given: usize,
    },
    /// A required value is empty.
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// A value is out of the accepted range.
    #[error("{field} out of range: {reason}")]
    OutOfRange {
        /// Which value.
        field: &'static str,
        /// The accepted range.
        reason: &'static str,
    },
    /// The operation does not exist in this dialect.
    #[error("{operation} is not available with the {dialect:?} dialect")]
    UnsupportedByDialect {
        /// The operation.
        operation: &'static str,
        /// The dialect of the target.
        dialect: Dialect,
    },
    /// The encoded token could not be decoded with this OTP.
    #[error("cannot decode token: {0}")]
    TokenDecode(&'static str),
    /// The encoded token and the OTP differ in length, so the OTP cannot be the one the token
    /// was encoded with (decoding would truncate the token).
    #[error(
        "the encoded token decodes to {token} bytes but the OTP has {otp}: they must be equal"
    )]
    TokenLength {
        /// Bytes the encoded token decodes to.
        token: usize,
        /// Bytes of the OTP.
        otp: usize,
    },
}

/// A ceremony was driven out of order, or the server's answer contradicts it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CeremonyError {
    /// The server reports a nonce other than the one this ceremony accepted: someone cancelled
    /// and restarted it. No share is sent under a nonce the caller did not accept.
    #[error("the server's ceremony nonce {found:?} is not the accepted {expected:?}")]
    ForeignNonce {
        /// The nonce this ceremony accepted.
        expected: String,
        /// The nonce the server reported.
        found: String,
    },
    /// The server's ceremony encrypts to other PGP keys than the ones this ceremony accepted
    /// (someone restarted it with another key set): no share is sent to it. Fingerprints are
    /// lowercase hex, in the server's order.
    ///
    /// No share went to it, but it stays on the server until cancelled: the ceremony that
    /// refused it is left cancellable ([`cancel`](crate::ceremony::RekeyCeremony::cancel), then
    /// drive), which sends the cancel with `nonce`.
    #[error(
        "the server's ceremony encrypts to the PGP keys {found:?}, not the accepted {expected:?}; no share was sent{}",
        match nonce {
            Some(nonce) => format!(", and it stays on the server until cancelled (cancel this ceremony and drive it, or cancel nonce {nonce})"),
            None => String::new(),
        }
    )]
    FingerprintMismatch {
        /// The fingerprints this ceremony accepted.
        expected: Vec<String>,
        /// The fingerprints the server reported.
        found: Vec<String>,
        /// The nonce of the server's ceremony, when it said.
        nonce: Option<String>,
    },
    /// The server reports no ceremony in progress where one was expected.
    #[error("the server reports no {0} in progress")]
    NotStarted(&'static str),
    /// The call does not fit the ceremony's current phase.
    #[error("{action} is not possible while the ceremony is {phase}")]
    WrongPhase {
        /// What was attempted.
        action: &'static str,
        /// The phase the ceremony is in.
        phase: &'static str,
    },
    /// A response was fed that was not asked for.
    #[error("no request is outstanding; call the ceremony's next-request method first")]
    NothingOutstanding,
    /// The target speaks another dialect than the one the ceremony started on. Vault's classic
    /// paths and OpenBao's paths keep separate rekey state, so switching would reach another
    /// ceremony (or none).
    #[error("the ceremony runs on the {ceremony:?} paths; the target uses the {target:?} dialect")]
    DialectMismatch {
        /// The dialect the ceremony started on.
        ceremony: Dialect,
        /// The dialect of the target given.
        target: Dialect,
    },
    /// The rekey reached its threshold with a share this ceremony did not send: the new shares
    /// went to whoever sent it (or their answer was lost), not to this ceremony.
    #[error("the rekey was completed by a share this ceremony did not send; it never received the new shares")]
    CompletedElsewhere,
    /// This ceremony's share may have completed it, but the answer that carried the result
    /// never arrived (or arrived cut, without the result whole); [`Recovery`] says what is
    /// safe now.
    #[error("the {ceremony} ended after a share whose answer was lost: {recovery}")]
    AnswerLost {
        /// Which ceremony.
        ceremony: &'static str,
        /// What is safe now.
        recovery: Recovery,
    },
    /// The server no longer has the ceremony, and nothing this ceremony sent can have
    /// completed it. What is not known: whether another operator completed it (a rekey's new
    /// shares, or a token, then went to them), cancelled it, or the server restarted, was
    /// sealed or another node became the leader. Whatever this ceremony produced stays
    /// reachable; whether the shares in effect are still the old ones only the other
    /// operators (or an unseal) can tell.
    #[error("the server has no {0} in progress any more, and nothing this ceremony sent completed it: another operator may have completed or cancelled it, or the server restarted, was sealed or lost its leadership; what took effect cannot be told from here: ask the other operators before starting a new one")]
    LostByServer(&'static str),
    /// The start request got no answer, and the server now runs a ceremony this one cannot
    /// prove is its own. `cancel` ends it (use a new ceremony after), or resume it with
    /// `require_nonce` if the operators confirm the nonce.
    #[error("the start got no answer and the server now runs a {ceremony} with nonce {found:?} that may not be this one's: cancel it and start again, or resume it")]
    StartUnconfirmed {
        /// Which ceremony.
        ceremony: &'static str,
        /// The nonce the server reports.
        found: Option<String>,
    },
    /// A verification share whose answer was lost may have completed the verification, or
    /// the server lost the rekey: the new shares ([`result`](crate::ceremony::RekeyCeremony::result))
    /// are in effect in the first case, the old ones in the second. Both are in hand; an
    /// unseal (or a root-token generation) tells which.
    #[error("the verification ended after a share whose answer was lost: either the new shares are now in effect, or the server lost the rekey and the old shares are; both are in hand, an unseal tells which")]
    VerificationUnconfirmed,
    /// The verification restarted under a new nonce at the share that would have completed
    /// it (the server failed there, or had already restarted it): the new shares are not in
    /// effect (the old ones are), and still in hand; the shares given under the old nonce no
    /// longer count. A node that is not the cluster's active one does this (OpenBao 2.7.2 on
    /// a former leader that still holds the rekey in memory), and sending the shares to it
    /// again only restarts it again: cancel there and start a new rekey on the active node.
    /// On the active node (another operator restarted the verification, or a passing
    /// failure) the ceremony can verify again under the new nonce: it waits for the shares.
    #[error("the verification restarted at the share that would have completed it: the new shares are not in effect; if this node is not the cluster's active one, cancel and start a new rekey on the active node, otherwise enter the verification shares again")]
    VerificationRestartedAtCompletion,
}

/// What is safe after a ceremony's result was lost with its answer
/// ([`CeremonyError::AnswerLost`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Recovery {
    /// The new shares wait for verification, so the old ones are still in effect: cancel the
    /// rekey (the ceremony still can) and start a new one.
    CancelAndRestart,
    /// The rekey kept a PGP-encrypted backup: read it, check it with `is_own_backup`, and
    /// decrypt the new shares from it. If it is not this rekey's, the server lost the rekey
    /// and the old shares are still in effect.
    ReadBackup,
    /// Without verification or backup nothing can be recovered: if this share completed the
    /// rekey, the new shares are in effect and gone, and the old ones no longer unseal; if the
    /// server lost the rekey instead, the old ones still do. Unseal with the old shares to
    /// tell; never rekey without verification.
    SharesGone,
    /// A token may have been generated that nobody holds: start a new generation, and revoke
    /// the lost one if it exists (list the root tokens by accessor).
    TokenGone,
}

impl fmt::Display for Recovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Recovery::CancelAndRestart => {
                "the new shares were never verified, so the old shares are still in effect: cancel this rekey and start a new one"
            }
            Recovery::ReadBackup => {
                "read the PGP-encrypted backup and check it with is_own_backup: if it is this rekey's, it holds the new shares; if not, the server lost the rekey and the old shares are still in effect"
            }
            Recovery::SharesGone => {
                "either this share completed the rekey, and the new shares (now in effect) are gone while the old ones no longer unseal, or the server lost the rekey and the old shares still work; unseal with the old shares to tell"
            }
            Recovery::TokenGone => {
                "a token may have been generated that nobody holds: start a new generation and revoke the lost token if it exists"
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(status: u16, message: &str) -> Refusal {
        ServerError::new(status, vec![message.to_string()]).refusal
    }

    #[test]
    fn classifies_documented_messages() {
        assert_eq!(
            refusal(
                400,
                "incorrect nonce supplied; nonce for this rekey operation is \"abc-123\""
            ),
            Refusal::WrongNonce {
                expected: Some("abc-123".into())
            }
        );
        assert_eq!(
            refusal(500, "1 error occurred:\n\t* incorrect nonce supplied; nonce for this root generation operation is \"n1\"\n\n"),
            Refusal::WrongNonce { expected: Some("n1".into()) }
        );
        assert_eq!(
            refusal(
                400,
                "given key has already been provided during this generation operation"
            ),
            Refusal::AlreadyProvided
        );
        assert_eq!(
            refusal(400, "no barrier rekey in progress"),
            Refusal::NotInProgress
        );
        assert_eq!(
            refusal(
                500,
                "1 error occurred:\n\t* no root generation in progress\n\n"
            ),
            Refusal::NotInProgress
        );
        assert_eq!(
            refusal(400, "no rekey configuration found"),
            Refusal::NotInProgress
        );
        assert_eq!(refusal(400, "no backed-up keys found"), Refusal::NoBackup);
        assert_eq!(
            refusal(405, "unsupported operation"),
            Refusal::EndpointDisabled
        );
        assert_eq!(refusal(503, "Vault is sealed"), Refusal::Sealed);
        assert_eq!(refusal(403, "permission denied"), Refusal::PermissionDenied);
        assert_eq!(
            refusal(400, "rekey operation already finished; verification must be performed; nonce for the verification operation is \"v-1\""),
            Refusal::VerificationPending { verification_nonce: Some("v-1".into()) }
        );
        assert_eq!(
            refusal(400, "root generation aborted: unable to authenticate: x"),
            Refusal::SharesDidNotCombine
        );
        assert_eq!(
            refusal(400, "rotation already in progress"),
            Refusal::AlreadyInProgress
        );
        assert_eq!(refusal(429, ""), Refusal::RateLimited);
        assert_eq!(refusal(405, ""), Refusal::MethodNotAllowed);
        assert_eq!(
            refusal(400, "rekey operation not in progress"),
            Refusal::NotInProgress
        );
        assert_eq!(refusal(418, "teapot"), Refusal::InvalidRequest);
    }

    #[test]
    fn multierror_is_unwrapped() {
        let e = ServerError::new(
            500,
            vec!["1 error occurred:\n\t* permission denied\n\n".into()],
        );
        assert_eq!(e.errors, vec!["permission denied".to_string()]);
        assert_eq!(e.refusal, Refusal::PermissionDenied);
    }

    #[test]
    fn decode_reason_redacts_quoted_values() {
        let e = DecodeError::new(
            200,
            "invalid type: string \"s.secret\", expected u32",
            b"{}",
        );
        assert!(!e.to_string().contains("s.secret"), "{e}");
        assert!(e.to_string().contains("expected u32"));
    }
}
