//! Root-token (and recovery-token) generation: read, start, submit a share, cancel.
//!
//! Classic paths `sys/generate-root/{attempt,update}`; OpenBao's authenticated
//! `sys/generate-root-token/{attempt,update}` (one shared state with the classic ones);
//! recovery tokens `sys/generate-recovery-token/{attempt,update}` (recovery mode only); Vault
//! Enterprise DR operation tokens `sys/replication/dr/secondary/generate-operation-token/*`
//! (on a DR secondary, served by the same handlers as `sys/generate-root/*`, so with the
//! same shapes).

use crate::dialect::Dialect;
use crate::error::{Error, InvalidInput};
use crate::ops::fields::share_body;
use crate::ops::operation;
use crate::secret::{EncodedToken, KeyShare, Otp};
use crate::target::Target;
use crate::wire;
use http::Method;
use serde::{Deserialize, Serialize};

/// Which token the ceremony generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TokenKind {
    /// A root token, from unseal (or recovery) key shares.
    #[default]
    Root,
    /// A recovery token, on a server started in recovery mode.
    Recovery,
    /// A DR operation token, on a Vault Enterprise disaster-recovery secondary: it authorises
    /// promoting the secondary or changing its primary, and is generated from the primary's
    /// unseal (or recovery) shares. It decodes with the OTP like a root token; revoke it
    /// after use (`sys/replication/dr/secondary/operation-token/delete`).
    DrOperation,
}

fn path(target: &Target, kind: TokenKind, leaf: &str) -> String {
    let family = match (kind, target.dialect()) {
        (TokenKind::DrOperation, _) => "replication/dr/secondary/generate-operation-token",
        (TokenKind::Recovery, _) => "generate-recovery-token",
        (TokenKind::Root, Dialect::Vault) => "generate-root",
        (TokenKind::Root, Dialect::OpenBao) => "generate-root-token",
    };
    format!("sys/{family}/{leaf}")
}

/// The state of a root-token generation, from any of its endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct RootGenerationStatus {
    /// The ceremony's nonce, once started.
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub nonce: Option<String>,
    /// Whether a generation is in progress.
    pub started: bool,
    /// Shares submitted so far.
    #[serde(default, deserialize_with = "wire::null_default")]
    pub progress: u32,
    /// Shares needed.
    #[serde(default, deserialize_with = "wire::null_default")]
    pub required: u32,
    /// Whether the token has been generated (also when the server sent the token without
    /// saying so).
    #[serde(default, deserialize_with = "wire::null_default")]
    pub complete: bool,
    /// The generated token, encoded with the OTP or encrypted with the PGP key (on completion).
    /// Servers send it as `encoded_token` and, on classic paths, again as `encoded_root_token`.
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub encoded_token: Option<EncodedToken>,
    #[serde(default, deserialize_with = "wire::non_empty")]
    encoded_root_token: Option<EncodedToken>,
    /// Fingerprint of the PGP key the token will be encrypted to.
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub pgp_fingerprint: Option<String>,
    /// The server-generated OTP: present once, in the answer to the start request.
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub otp: Option<Otp>,
    /// Length of OTP the server expects; 0 on classic update answers and on servers that use
    /// the legacy (pre-1.0 Vault) scheme.
    #[serde(default, deserialize_with = "wire::null_default")]
    pub otp_length: u32,
}

pub(crate) fn parse_status(
    status: http::StatusCode,
    body: &[u8],
) -> Result<RootGenerationStatus, Error> {
    let mut parsed: RootGenerationStatus = wire::json(status, body)?;
    if parsed.encoded_token.is_none() {
        parsed.encoded_token = parsed.encoded_root_token.take();
    } else {
        parsed.encoded_root_token = None;
    }
    // A token is only ever sent on completion: an answer that carries one is complete.
    parsed.complete |= parsed.encoded_token.is_some();
    Ok(parsed)
}

/// `GET .../attempt`: hvac's `read_root_generation_progress`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadRootGenerationProgress {
    kind: TokenKind,
}

impl ReadRootGenerationProgress {
    /// For a root token.
    pub fn new() -> Self {
        Self::default()
    }

    /// For a token of `kind`.
    pub fn kind(mut self, kind: TokenKind) -> Self {
        self.kind = kind;
        self
    }
}

operation!(ReadRootGenerationProgress => RootGenerationStatus, |self, target| target.request(Method::GET, &path(target, self.kind, "attempt"), None), parse_status);

/// `PUT .../attempt`: hvac's `start_root_token_generation`. With neither an OTP nor a PGP
/// key the server generates the OTP and returns it once, in the answer.
#[derive(Debug, Clone, Default)]
pub struct StartRootTokenGeneration {
    kind: TokenKind,
    otp: Option<Otp>,
    pgp_key: Option<String>,
}

impl StartRootTokenGeneration {
    /// Start with a server-generated OTP.
    pub fn new() -> Self {
        Self::default()
    }

    /// Generate a token of `kind`.
    pub fn kind(mut self, kind: TokenKind) -> Self {
        self.kind = kind;
        self
    }

    /// Use the caller's OTP (it must have the server's `otp_length` characters).
    pub fn otp(mut self, otp: Otp) -> Self {
        self.otp = Some(otp);
        self
    }

    /// Encrypt the token to this PGP public key (base64 of the binary key).
    pub fn pgp_key(mut self, key: impl Into<String>) -> Self {
        self.pgp_key = Some(key.into());
        self
    }

    /// Checks the PGP key, if one is given ([`PgpPublicKey::check`](crate::pgp::PgpPublicKey::check)
    /// at `now`, seconds since the epoch), before anything is sent.
    #[cfg(feature = "pgp")]
    #[cfg_attr(docsrs, doc(cfg(feature = "pgp")))]
    pub fn check_pgp_key(&self, now: u64) -> Result<(), crate::pgp::PgpError> {
        match &self.pgp_key {
            Some(key) => crate::pgp::check_public_keys(std::slice::from_ref(key), now).map(drop),
            None => Ok(()),
        }
    }
}

#[derive(Serialize)]
struct StartBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    otp: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pgp_key: Option<&'a str>,
}

operation!(StartRootTokenGeneration => RootGenerationStatus, |self, target| {
    if self.otp.is_some() && self.pgp_key.is_some() {
        return Err(InvalidInput::OtpAndPgpKey.into());
    }
    if self.otp.as_ref().is_some_and(|o| o.is_empty()) {
        return Err(InvalidInput::Empty("OTP").into());
    }
    if self.pgp_key.as_ref().is_some_and(|k| k.trim().is_empty()) {
        return Err(InvalidInput::Empty("PGP key").into());
    }
    let body = StartBody { otp: self.otp.as_ref().map(Otp::expose), pgp_key: self.pgp_key.as_deref() };
    target.request(Method::PUT, &path(target, self.kind, "attempt"), wire::body(&body))
}, parse_status);

/// `PUT .../update`: hvac's `generate_root`, submitting one share under the ceremony's nonce.
#[derive(Debug, Clone)]
pub struct GenerateRoot {
    kind: TokenKind,
    key: KeyShare,
    nonce: String,
}

impl GenerateRoot {
    /// Submit `key` to the root generation with `nonce`.
    pub fn new(key: KeyShare, nonce: impl Into<String>) -> Self {
        Self {
            kind: TokenKind::Root,
            key,
            nonce: nonce.into(),
        }
    }

    /// Submit to a generation of `kind`.
    pub fn kind(mut self, kind: TokenKind) -> Self {
        self.kind = kind;
        self
    }
}

operation!(GenerateRoot => RootGenerationStatus, |self, target| {
    let body = share_body(&self.key, &self.nonce)?;
    target.request(Method::PUT, &path(target, self.kind, "update"), wire::body(&body))
}, parse_status);

/// `DELETE .../attempt`: hvac's `cancel_root_generation`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CancelRootGeneration {
    kind: TokenKind,
}

impl CancelRootGeneration {
    /// Cancel a root-token generation.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancel a generation of `kind`.
    pub fn kind(mut self, kind: TokenKind) -> Self {
        self.kind = kind;
        self
    }
}

operation!(CancelRootGeneration => (), |self, target| target.request(Method::DELETE, &path(target, self.kind, "attempt"), None), wire::empty);
