//! The PGP-encrypted backup of the new shares that a rekey with `backup` stores on the server.

use crate::ops::operation;
use crate::ops::rekey::{path, KeyKind};
use crate::secret::KeyShare;
use crate::wire;
use http::Method;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The stored backup: for each PGP key fingerprint, the shares encrypted to it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct BackupKeys {
    /// The nonce of the rekey that wrote the backup.
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub nonce: Option<String>,
    /// Encrypted shares, hex, by fingerprint.
    pub keys: BTreeMap<String, Vec<KeyShare>>,
    /// The same, base64.
    #[serde(default, deserialize_with = "wire::null_default")]
    pub keys_base64: BTreeMap<String, Vec<KeyShare>>,
}

/// `GET .../backup`: hvac's `read_backup_keys`. Without a backup the server refuses with
/// [`Refusal::NoBackup`](crate::Refusal::NoBackup).
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadBackupKeys {
    kind: KeyKind,
}

impl ReadBackupKeys {
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

operation!(ReadBackupKeys => BackupKeys, |self, target| target.request(Method::GET, &path(target, self.kind, "backup"), None), wire::json);

/// `DELETE .../backup`: remove the stored backup.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeleteBackupKeys {
    kind: KeyKind,
}

impl DeleteBackupKeys {
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

operation!(DeleteBackupKeys => (), |self, target| target.request(Method::DELETE, &path(target, self.kind, "backup"), None), wire::empty);
