//! Verifying the new shares of a rekey before they take effect: read, submit, cancel.
//!
//! hvac has this for unseal shares only; here every call also works for recovery shares.

use crate::error::Error;
use crate::ops::fields::share_body;
use crate::ops::operation;
use crate::ops::rekey::{path, KeyKind};
use crate::secret::KeyShare;
use crate::wire;
use http::Method;
use serde::{Deserialize, Serialize};

/// The state of a rekey verification.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct VerifyStatus {
    /// The verification nonce.
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub nonce: Option<String>,
    /// Whether verification is in progress. Required: an object without it (a proxy's `{}`,
    /// anything else) is no verification status, and an answer to a verification share that
    /// is not one leaves its outcome unknown rather than reading as progress.
    pub started: bool,
    /// The new threshold.
    #[serde(default, deserialize_with = "wire::null_default")]
    pub t: u32,
    /// The new number of shares.
    #[serde(default, deserialize_with = "wire::null_default")]
    pub n: u32,
    /// New shares submitted so far.
    #[serde(default, deserialize_with = "wire::null_default")]
    pub progress: u32,
}

/// What a verification submission produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyUpdate {
    /// Not yet at the threshold.
    Progress(VerifyStatus),
    /// Verified: the new shares are now in effect.
    Complete {
        /// The verification nonce that completed.
        nonce: Option<String>,
    },
}

#[derive(Deserialize)]
struct Completion {
    #[serde(default, deserialize_with = "wire::null_default")]
    complete: bool,
    #[serde(default, deserialize_with = "wire::non_empty")]
    nonce: Option<String>,
}

pub(crate) fn parse_update(status: http::StatusCode, body: &[u8]) -> Result<VerifyUpdate, Error> {
    let payload = wire::payload(status, body)?;
    let completion: Completion = payload.decode()?;
    if completion.complete {
        Ok(VerifyUpdate::Complete {
            nonce: completion.nonce,
        })
    } else {
        payload.decode().map(VerifyUpdate::Progress)
    }
}

/// `GET .../verify`: hvac's `read_rekey_verify_progress`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadRekeyVerifyProgress {
    kind: KeyKind,
}

impl ReadRekeyVerifyProgress {
    /// For the unseal shares; [`kind`](Self::kind) chooses the recovery shares.
    pub fn new() -> Self {
        Self::default()
    }

    /// The shares of `kind`.
    pub fn kind(mut self, kind: KeyKind) -> Self {
        self.kind = kind;
        self
    }
}

operation!(ReadRekeyVerifyProgress => VerifyStatus, |self, target| target.request(Method::GET, &path(target, self.kind, "verify"), None), wire::json);

/// `PUT .../verify`: hvac's `rekey_verify`, submitting one new share under the verification
/// nonce.
#[derive(Debug, Clone)]
pub struct RekeyVerify {
    kind: KeyKind,
    key: KeyShare,
    nonce: String,
}

impl RekeyVerify {
    /// Submit new share `key` to the verification with `nonce`.
    pub fn new(key: KeyShare, nonce: impl Into<String>) -> Self {
        Self {
            kind: KeyKind::Unseal,
            key,
            nonce: nonce.into(),
        }
    }

    /// Verify new shares of `kind`.
    pub fn kind(mut self, kind: KeyKind) -> Self {
        self.kind = kind;
        self
    }
}

operation!(RekeyVerify => VerifyUpdate, |self, target| {
    let body = share_body(&self.key, &self.nonce)?;
    target.request(Method::PUT, &path(target, self.kind, "verify"), wire::body(&body))
}, parse_update);

/// `DELETE .../verify`: hvac's `cancel_rekey_verify`. The server restarts verification with a
/// fresh nonce (the new shares stay the same) and answers with the new status.
#[derive(Debug, Clone, Copy, Default)]
pub struct CancelRekeyVerify {
    kind: KeyKind,
}

impl CancelRekeyVerify {
    /// For the unseal shares; [`kind`](Self::kind) chooses the recovery shares.
    pub fn new() -> Self {
        Self::default()
    }

    /// The shares of `kind`.
    pub fn kind(mut self, kind: KeyKind) -> Self {
        self.kind = kind;
        self
    }
}

operation!(CancelRekeyVerify => VerifyStatus, |self, target| target.request(Method::DELETE, &path(target, self.kind, "verify"), None), wire::json);
