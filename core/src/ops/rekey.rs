//! Rekeying the unseal (or recovery) key shares: read, start, submit a share, cancel.
//!
//! Classic paths `sys/rekey/*` and `sys/rekey-recovery-key/*`; OpenBao's authenticated
//! `sys/rotate/root/*` and `sys/rotate/recovery/*`. OpenBao keeps the two families' state
//! apart, so a ceremony stays on one dialect from start to finish.

use crate::dialect::Dialect;
use crate::error::Error;
use crate::ops::fields::{share_body, validate_pgp_count, validate_shares};
use crate::ops::operation;
use crate::secret::KeyShare;
use crate::target::Target;
use crate::wire;
use crate::InvalidInput;
use http::Method;
use serde::{Deserialize, Serialize};

/// Which shares are rekeyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyKind {
    /// The unseal (barrier) key shares.
    #[default]
    Unseal,
    /// The recovery key shares of an auto-unseal server.
    Recovery,
}

/// The path of `leaf` (`init`, `update`, `verify`, `backup`) for this dialect and key kind.
pub(crate) fn path(target: &Target, kind: KeyKind, leaf: &str) -> String {
    match (target.dialect(), kind, leaf) {
        (Dialect::Vault, KeyKind::Unseal, _) => format!("sys/rekey/{leaf}"),
        (Dialect::Vault, KeyKind::Recovery, "backup") => "sys/rekey/recovery-key-backup".into(),
        (Dialect::Vault, KeyKind::Recovery, _) => format!("sys/rekey-recovery-key/{leaf}"),
        (Dialect::OpenBao, KeyKind::Unseal, _) => format!("sys/rotate/root/{leaf}"),
        (Dialect::OpenBao, KeyKind::Recovery, _) => format!("sys/rotate/recovery/{leaf}"),
    }
}

/// The state of a rekey, as its `init` and `update` endpoints report it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct RekeyStatus {
    /// The rekey's nonce, once started.
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub nonce: Option<String>,
    /// Whether a rekey is in progress.
    pub started: bool,
    /// The new threshold (0 when not started).
    #[serde(default, deserialize_with = "wire::null_default")]
    pub t: u32,
    /// The new number of shares (0 when not started).
    #[serde(default, deserialize_with = "wire::null_default")]
    pub n: u32,
    /// Current shares submitted so far.
    #[serde(default, deserialize_with = "wire::null_default")]
    pub progress: u32,
    /// Current shares needed (the current threshold).
    #[serde(default, deserialize_with = "wire::null_default")]
    pub required: u32,
    /// Fingerprints of the PGP keys the new shares will be encrypted to, in order.
    #[serde(default, deserialize_with = "wire::null_default")]
    pub pgp_fingerprints: Vec<String>,
    /// Whether the encrypted new shares will be backed up.
    #[serde(default, deserialize_with = "wire::null_default")]
    pub backup: bool,
    /// Whether the new shares must be verified before they take effect.
    #[serde(default, deserialize_with = "wire::null_default")]
    pub verification_required: bool,
    /// The verification nonce, while verification is pending.
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub verification_nonce: Option<String>,
}

/// The answer to the share that completes a rekey: the new shares.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct RekeyResult {
    /// The rekey's nonce.
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub nonce: Option<String>,
    /// The new shares, hex (with PGP keys: hex of each encrypted share, in key order).
    pub keys: Vec<KeyShare>,
    /// The same shares, base64.
    #[serde(default, deserialize_with = "wire::null_default")]
    pub keys_base64: Vec<KeyShare>,
    /// Fingerprints of the PGP keys the shares are encrypted to, in order.
    #[serde(default, deserialize_with = "wire::null_default")]
    pub pgp_fingerprints: Vec<String>,
    /// Whether the encrypted shares were backed up.
    #[serde(default, deserialize_with = "wire::null_default")]
    pub backup: bool,
    /// Whether the new shares must be verified before they take effect.
    #[serde(default, deserialize_with = "wire::null_default")]
    pub verification_required: bool,
    /// The nonce of the verification to perform, when required.
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub verification_nonce: Option<String>,
}

/// What a share submission produced: more progress, or the new shares.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum RekeyUpdate {
    /// Not yet at the threshold.
    Progress(RekeyStatus),
    /// The rekey completed; these are the new shares. Keep them.
    Complete(RekeyResult),
}

impl RekeyResult {
    /// The new shares from the first bytes of a completing answer that broke off (a
    /// [`PartialResponse`](crate::PartialResponse)'s body), when every share arrived whole:
    /// both servers write `keys` before the fields that follow it. `keys_base64`, the
    /// fingerprints and the verification nonce are filled in when they arrived too.
    ///
    /// ```
    /// use vault_key_core::ops::rekey::RekeyResult;
    ///
    /// let cut = br#"{"nonce":"n-1","complete":true,"keys":["4738112d","204ebce3"],"keys_bas"#;
    /// let salvaged = RekeyResult::salvage(cut).expect("every share arrived");
    /// assert_eq!(salvaged.keys.len(), 2);
    /// assert_eq!(salvaged.nonce.as_deref(), Some("n-1"));
    /// assert!(RekeyResult::salvage(&cut[..40]).is_none());
    /// ```
    pub fn salvage(prefix: &[u8]) -> Option<RekeyResult> {
        crate::salvage::salvage(prefix).filter(|result: &RekeyResult| !result.keys.is_empty())
    }
}

/// An update answer in either shape (progress or completion), read in one pass.
#[derive(Deserialize)]
struct UpdateAnswer {
    #[serde(default, deserialize_with = "wire::null_default")]
    complete: bool,
    #[serde(default)]
    keys: Option<Vec<KeyShare>>,
    #[serde(default, deserialize_with = "wire::null_default")]
    keys_base64: Vec<KeyShare>,
    #[serde(default, deserialize_with = "wire::non_empty")]
    nonce: Option<String>,
    #[serde(default)]
    started: Option<bool>,
    #[serde(default, deserialize_with = "wire::null_default")]
    t: u32,
    #[serde(default, deserialize_with = "wire::null_default")]
    n: u32,
    #[serde(default, deserialize_with = "wire::null_default")]
    progress: u32,
    #[serde(default, deserialize_with = "wire::null_default")]
    required: u32,
    #[serde(default, deserialize_with = "wire::null_default")]
    pgp_fingerprints: Vec<String>,
    #[serde(default, deserialize_with = "wire::null_default")]
    backup: bool,
    #[serde(default, deserialize_with = "wire::null_default")]
    verification_required: bool,
    #[serde(default, deserialize_with = "wire::non_empty")]
    verification_nonce: Option<String>,
}

/// An answer is the completion when it says so or when it carries the new shares: a body
/// with `keys` but no flag is never read as mere progress, which would drop them.
pub(crate) fn parse_update(status: http::StatusCode, body: &[u8]) -> Result<RekeyUpdate, Error> {
    let payload = wire::payload(status, body)?;
    let answer: UpdateAnswer = payload.decode()?;
    let missing = |what: &str| payload.error(format!("missing field `{what}`"));
    if answer.complete || answer.keys.is_some() {
        let keys = answer.keys.ok_or_else(|| missing("keys"))?;
        return Ok(RekeyUpdate::Complete(RekeyResult {
            nonce: answer.nonce,
            keys,
            keys_base64: answer.keys_base64,
            pgp_fingerprints: answer.pgp_fingerprints,
            backup: answer.backup,
            verification_required: answer.verification_required,
            verification_nonce: answer.verification_nonce,
        }));
    }
    Ok(RekeyUpdate::Progress(RekeyStatus {
        nonce: answer.nonce,
        started: answer.started.ok_or_else(|| missing("started"))?,
        t: answer.t,
        n: answer.n,
        progress: answer.progress,
        required: answer.required,
        pgp_fingerprints: answer.pgp_fingerprints,
        backup: answer.backup,
        verification_required: answer.verification_required,
        verification_nonce: answer.verification_nonce,
    }))
}

/// `GET .../init`: hvac's `read_rekey_progress`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadRekeyProgress {
    kind: KeyKind,
}

impl ReadRekeyProgress {
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

operation!(ReadRekeyProgress => RekeyStatus, |self, target| target.request(Method::GET, &path(target, self.kind, "init"), None), wire::json);

/// `PUT .../init`: hvac's `start_rekey`.
///
/// Each setting has one name, hvac's (the request's field): the builder method sets it,
/// `get_` and the same name reads it back, as on `std::process::Command`.
#[derive(Debug, Clone, Serialize)]
pub struct StartRekey {
    #[serde(skip)]
    kind: KeyKind,
    secret_shares: u32,
    secret_threshold: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pgp_keys: Vec<String>,
    backup: bool,
    require_verification: bool,
    /// The fingerprints of checked keys, which a ceremony pins.
    #[serde(skip)]
    pgp_fingerprints: Option<Vec<String>>,
}

impl StartRekey {
    /// New unseal shares: `shares` of which `threshold` unseal, verified before they take
    /// effect (see [`require_verification`](Self::require_verification)).
    pub fn new(shares: u32, threshold: u32) -> Self {
        Self {
            kind: KeyKind::Unseal,
            secret_shares: shares,
            secret_threshold: threshold,
            pgp_keys: Vec::new(),
            backup: false,
            require_verification: true,
            pgp_fingerprints: None,
        }
    }

    /// Rekey the shares of `kind` instead of the unseal shares.
    pub fn kind(mut self, kind: KeyKind) -> Self {
        self.kind = kind;
        self
    }

    /// Encrypt each new share to one PGP public key (base64 of the binary key), in order.
    pub fn pgp_keys(mut self, keys: Vec<String>) -> Self {
        self.pgp_keys = keys;
        self.pgp_fingerprints = None;
        self
    }

    /// Encrypt each new share to one checked PGP key
    /// ([`check_public_keys`](crate::pgp::check_public_keys)), in order; a
    /// [`RekeyCeremony`](crate::ceremony::RekeyCeremony) started with it pins their
    /// fingerprints.
    #[cfg(feature = "pgp")]
    #[cfg_attr(docsrs, doc(cfg(feature = "pgp")))]
    pub fn pgp_public_keys(mut self, keys: &[crate::pgp::PgpPublicKey]) -> Self {
        self.pgp_keys = keys.iter().map(|k| k.to_base64().to_string()).collect();
        self.pgp_fingerprints = Some(keys.iter().map(|k| k.fingerprint().to_string()).collect());
        self
    }

    /// Checks every PGP key given ([`check_public_keys`](crate::pgp::check_public_keys) at
    /// `now`, seconds since the epoch) before anything is sent; the error names the key.
    #[cfg(feature = "pgp")]
    #[cfg_attr(docsrs, doc(cfg(feature = "pgp")))]
    pub fn check_pgp_keys(
        &self,
        now: u64,
    ) -> Result<Vec<crate::pgp::PgpPublicKey>, crate::pgp::PgpError> {
        crate::pgp::check_public_keys(&self.pgp_keys, now)
    }

    /// The fingerprints of the keys given with `pgp_public_keys`.
    pub fn get_pgp_fingerprints(&self) -> Option<&[String]> {
        self.pgp_fingerprints.as_deref()
    }

    /// Store the encrypted new shares on the server, to be read with
    /// [`ReadBackupKeys`](crate::ops::rekey_backup::ReadBackupKeys). Needs PGP keys.
    pub fn backup(mut self, backup: bool) -> Self {
        self.backup = backup;
        self
    }

    /// Keep the old shares valid until the new ones have been verified: on by default.
    ///
    /// Turning it off (`false`) makes the new shares take effect the moment the last current
    /// share is counted, in the same answer that hands them out. If that one answer is lost
    /// (a connection cut, a proxy timeout, a crash of the caller), the old shares no longer
    /// unseal and nobody holds the new ones, unless a PGP backup was kept. With verification
    /// the old shares stay in effect until the new ones are proven, and a lost answer only
    /// means cancelling and starting again.
    pub fn require_verification(mut self, require: bool) -> Self {
        self.require_verification = require;
        self
    }

    /// The shares of key this rekey replaces.
    pub fn get_kind(&self) -> KeyKind {
        self.kind
    }

    /// The new number of shares.
    pub fn get_shares(&self) -> u32 {
        self.secret_shares
    }

    /// The new threshold.
    pub fn get_threshold(&self) -> u32 {
        self.secret_threshold
    }

    /// Whether verification is required.
    pub fn get_require_verification(&self) -> bool {
        self.require_verification
    }

    /// The PGP keys, in order.
    pub fn get_pgp_keys(&self) -> &[String] {
        &self.pgp_keys
    }

    /// Whether a backup is asked for.
    pub fn get_backup(&self) -> bool {
        self.backup
    }

    /// Checks this rekey against the server's seal (`sys/seal-status`, which needs no
    /// token) before anything is sent: an auto-unsealed server rotates its barrier key
    /// without shares and refuses verification, PGP keys and a backup for it (Vault's and
    /// OpenBao's `BarrierRekeyInit`), so a rekey of its unseal keys that asks for one fails
    /// here with what to do instead; a Shamir-sealed server has no recovery keys to rekey.
    ///
    /// ```
    /// use vault_key_core::ops::rekey::{KeyKind, StartRekey};
    /// use vault_key_core::ops::seal::SealStatus;
    ///
    /// let transit: SealStatus = serde_json::from_str(
    ///     r#"{"type":"transit","initialized":true,"sealed":false,"recovery_seal":true}"#,
    /// )?;
    /// assert!(StartRekey::new(3, 2).check_seal(&transit).is_err()); // verifies by default
    /// assert!(StartRekey::new(3, 2).kind(KeyKind::Recovery).check_seal(&transit).is_ok());
    /// assert!(StartRekey::new(1, 1).require_verification(false).check_seal(&transit).is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check_seal(&self, seal: &crate::ops::seal::SealStatus) -> Result<(), InvalidInput> {
        let auto_unseal = !seal.seal_type.is_empty() && seal.seal_type != "shamir";
        match self.kind {
            KeyKind::Recovery if !auto_unseal && !seal.recovery_seal => {
                Err(InvalidInput::NoRecoveryKeys)
            }
            KeyKind::Unseal if auto_unseal => {
                let refused = if self.require_verification {
                    Some("verification")
                } else if !self.pgp_keys.is_empty() {
                    Some("PGP keys")
                } else if self.backup {
                    Some("a backup")
                } else {
                    None
                };
                match refused {
                    Some(refused) => Err(InvalidInput::AutoUnsealRekey {
                        refused,
                        seal_type: seal.seal_type.clone(),
                    }),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    fn validate(&self) -> Result<(), InvalidInput> {
        validate_shares(self.secret_shares, self.secret_threshold)?;
        validate_pgp_count(&self.pgp_keys, self.secret_shares)?;
        if self.backup && self.pgp_keys.is_empty() {
            return Err(InvalidInput::BackupWithoutPgpKeys);
        }
        Ok(())
    }
}

operation!(StartRekey => RekeyStatus, |self, target| {
    self.validate()?;
    target.request(Method::PUT, &path(target, self.kind, "init"), wire::body(self))
}, wire::json);

/// `PUT .../update`: hvac's `rekey`, submitting one current share under the rekey's nonce.
#[derive(Debug, Clone)]
pub struct Rekey {
    kind: KeyKind,
    key: KeyShare,
    nonce: String,
}

impl Rekey {
    /// Submit `key` to the rekey with `nonce`.
    pub fn new(key: KeyShare, nonce: impl Into<String>) -> Self {
        Self {
            kind: KeyKind::Unseal,
            key,
            nonce: nonce.into(),
        }
    }

    /// Submit to a rekey of the shares of `kind`.
    pub fn kind(mut self, kind: KeyKind) -> Self {
        self.kind = kind;
        self
    }
}

operation!(Rekey => RekeyUpdate, |self, target| {
    let body = share_body(&self.key, &self.nonce)?;
    target.request(Method::PUT, &path(target, self.kind, "update"), wire::body(&body))
}, parse_update);

/// `DELETE .../init`: hvac's `cancel_rekey`. Always sends a JSON body, with the nonce when
/// known: from Vault 1.20 `handleSysRekeyInitDelete` parses the body (an empty one is refused
/// with 400 `EOF`) and `RekeyCancel` wants the nonce for a rekey started less than ten
/// minutes ago. OpenBao ignores the body.
#[derive(Debug, Clone, Default)]
pub struct CancelRekey {
    kind: KeyKind,
    nonce: Option<String>,
}

impl CancelRekey {
    /// Cancel a rekey of the unseal shares; [`kind`](Self::kind) chooses the recovery shares.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancel a rekey of the shares of `kind`.
    pub fn kind(mut self, kind: KeyKind) -> Self {
        self.kind = kind;
        self
    }

    /// The nonce of the rekey to cancel.
    pub fn nonce(mut self, nonce: impl Into<String>) -> Self {
        self.nonce = Some(nonce.into()).filter(|n: &String| !n.is_empty());
        self
    }
}

#[derive(Serialize)]
struct NonceBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
}

operation!(CancelRekey => (), |self, target| {
    let body = wire::body(&NonceBody { nonce: self.nonce.as_deref() });
    target.request(Method::DELETE, &path(target, self.kind, "init"), body)
}, wire::empty);
