//! Setting up and opening the vault: `sys/init`, `sys/seal-status`, `sys/unseal`, `sys/seal`.
//! A key ceremony needs these around it (initialise, unseal with the new shares, seal).

use crate::dialect::Dialect;
use crate::error::{Error, InvalidInput};
use crate::ops::fields::{check_share, validate_pgp_count, validate_shares};
use crate::ops::operation;
use crate::secret::{KeyShare, Token};
use crate::wire;
use http::Method;
use serde::{Deserialize, Serialize};

/// `GET sys/init`: whether the server is initialised.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadInitStatus;

#[derive(Deserialize)]
struct InitStatus {
    initialized: bool,
}

fn parse_init_status(status: http::StatusCode, body: &[u8]) -> Result<bool, Error> {
    wire::json::<InitStatus>(status, body).map(|s| s.initialized)
}

operation!(ReadInitStatus => bool, |self, target| target.request(Method::GET, "sys/init", None), parse_init_status);

/// `PUT sys/init`: initialise a new server and receive its first shares and root token.
///
/// A server with a Shamir seal takes unseal shares ([`new`](Self::new)); one with an
/// auto-unseal seal (cloud KMS, HSM, transit) refuses them (Vault's and OpenBao's
/// `validateInitParameters`: `parameters secret_shares,secret_threshold not applicable to seal
/// type ...`) and takes only recovery settings ([`auto_unseal`](Self::auto_unseal)).
#[derive(Debug, Clone, Serialize)]
pub struct Initialize {
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_shares: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_threshold: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pgp_keys: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_shares: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_threshold: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    recovery_pgp_keys: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    root_token_pgp_key: Option<String>,
}

impl Initialize {
    /// For a Shamir seal: `shares` unseal key shares of which `threshold` unseal.
    pub fn new(shares: u32, threshold: u32) -> Self {
        Self {
            secret_shares: Some(shares),
            secret_threshold: Some(threshold),
            pgp_keys: Vec::new(),
            recovery_shares: None,
            recovery_threshold: None,
            recovery_pgp_keys: Vec::new(),
            root_token_pgp_key: None,
        }
    }

    /// For an auto-unseal seal: no unseal shares are sent (the seal holds the root key).
    /// Add [`recovery`](Self::recovery) to choose the recovery shares; without it the server
    /// applies its own rule for recovery keys.
    pub fn auto_unseal() -> Self {
        Self {
            secret_shares: None,
            secret_threshold: None,
            ..Self::new(0, 0)
        }
    }

    /// Encrypt each share to one PGP public key (base64 of the binary key), in order.
    pub fn pgp_keys(mut self, keys: Vec<String>) -> Self {
        self.pgp_keys = keys;
        self
    }

    /// Recovery shares and threshold. Only for an auto-unseal seal
    /// ([`auto_unseal`](Self::auto_unseal)): a Shamir seal refuses them.
    pub fn recovery(mut self, shares: u32, threshold: u32) -> Self {
        self.recovery_shares = Some(shares);
        self.recovery_threshold = Some(threshold);
        self
    }

    /// Encrypt each recovery share to one PGP public key, in order.
    pub fn recovery_pgp_keys(mut self, keys: Vec<String>) -> Self {
        self.recovery_pgp_keys = keys;
        self
    }

    /// Encrypt the initial root token to this PGP public key.
    pub fn root_token_pgp_key(mut self, key: impl Into<String>) -> Self {
        self.root_token_pgp_key = Some(key.into());
        self
    }

    /// Checks every PGP key given (for the unseal shares, the recovery shares and the root
    /// token; [`check_public_keys`](crate::pgp::check_public_keys) at `now`, seconds since the
    /// epoch) before anything is sent; the error names the key by its position in its list.
    #[cfg(feature = "pgp")]
    #[cfg_attr(docsrs, doc(cfg(feature = "pgp")))]
    pub fn check_pgp_keys(&self, now: u64) -> Result<(), crate::pgp::PgpError> {
        crate::pgp::check_public_keys(&self.pgp_keys, now)?;
        crate::pgp::check_public_keys(&self.recovery_pgp_keys, now)?;
        if let Some(key) = &self.root_token_pgp_key {
            crate::pgp::check_public_keys(std::slice::from_ref(key), now)?;
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), InvalidInput> {
        match (self.secret_shares, self.secret_threshold) {
            (Some(shares), Some(threshold)) => {
                validate_shares(shares, threshold)?;
                validate_pgp_count(&self.pgp_keys, shares)?;
                if self.recovery_shares.is_some() || !self.recovery_pgp_keys.is_empty() {
                    return Err(InvalidInput::SealMismatch(
                        "recovery shares apply only to an auto-unseal seal, which takes no unseal shares: use Initialize::auto_unseal()",
                    ));
                }
            }
            _ if !self.pgp_keys.is_empty() => {
                return Err(InvalidInput::SealMismatch(
                    "an auto-unseal seal hands out no unseal shares to encrypt: give PGP keys with recovery_pgp_keys",
                ));
            }
            _ => {}
        }
        if let (Some(shares), Some(threshold)) = (self.recovery_shares, self.recovery_threshold) {
            validate_shares(shares, threshold)?;
            validate_pgp_count(&self.recovery_pgp_keys, shares)?;
        }
        Ok(())
    }
}

/// What `sys/init` hands out, once: the shares and the initial root token.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct InitResult {
    /// Unseal shares, hex (PGP-encrypted when PGP keys were given).
    #[serde(default, deserialize_with = "wire::null_default")]
    pub keys: Vec<KeyShare>,
    /// The same shares, base64.
    #[serde(default, deserialize_with = "wire::null_default")]
    pub keys_base64: Vec<KeyShare>,
    /// Recovery shares, hex (auto-unseal servers).
    #[serde(default, deserialize_with = "wire::null_default")]
    pub recovery_keys: Vec<KeyShare>,
    /// Recovery shares, base64.
    #[serde(default, deserialize_with = "wire::null_default")]
    pub recovery_keys_base64: Vec<KeyShare>,
    /// The initial root token (PGP-encrypted when a root token PGP key was given).
    pub root_token: Token,
}

operation!(Initialize => InitResult, |self, target| {
    self.validate()?;
    target.request(Method::PUT, "sys/init", wire::body(self))
}, wire::json);

/// `GET sys/seal-status`: sealed or not, unseal progress, and what server this is.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadSealStatus;

operation!(ReadSealStatus => SealStatus, |self, target| target.request(Method::GET, "sys/seal-status", None), wire::json);

/// The seal state, as `sys/seal-status` and `sys/unseal` report it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct SealStatus {
    /// Seal type (`shamir`, `awskms`, ...).
    #[serde(rename = "type", default, deserialize_with = "wire::null_default")]
    pub seal_type: String,
    /// Whether the server is initialised.
    pub initialized: bool,
    /// Whether it is sealed.
    pub sealed: bool,
    /// Shares needed to unseal.
    #[serde(default, deserialize_with = "wire::null_default")]
    pub t: u32,
    /// Shares in total.
    #[serde(default, deserialize_with = "wire::null_default")]
    pub n: u32,
    /// Shares submitted so far in the current unseal.
    #[serde(default, deserialize_with = "wire::null_default")]
    pub progress: u32,
    /// Nonce of the current unseal attempt.
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub nonce: Option<String>,
    /// Server version, e.g. `2.7.2` or `1.17.3+ent`.
    #[serde(default, deserialize_with = "wire::null_default")]
    pub version: String,
    /// Whether a seal migration is in progress.
    #[serde(default, deserialize_with = "wire::null_default")]
    pub migration: bool,
    /// Whether the server uses recovery keys (auto-unseal).
    #[serde(default, deserialize_with = "wire::null_default")]
    pub recovery_seal: bool,
    /// Cluster name, once unsealed.
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub cluster_name: Option<String>,
    /// Cluster id, once unsealed.
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub cluster_id: Option<String>,
    /// Storage backend, e.g. `raft`.
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub storage_type: Option<String>,
    /// Vault's build date (Vault only).
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub build_date: Option<String>,
    /// OpenBao's commit date (OpenBao only).
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub commit_date: Option<String>,
    /// The recovery seal's type (`shamir` on an auto-unsealed server), where the server
    /// reports it: it tells the kind of the recovery shares a recovery rekey asks for.
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub recovery_seal_type: Option<String>,
    /// Whether the node was removed from its raft cluster (Vault 1.19+): a removed node is
    /// sealed for good, so unsealing it again is pointless.
    #[serde(default)]
    pub removed_from_cluster: Option<bool>,
    /// Warnings the server attached (Vault), kept so an operator sees what it flagged.
    #[serde(default, deserialize_with = "wire::null_default")]
    pub warnings: Vec<String>,
    /// When the last seal migration finished, in seconds since the epoch (Vault 1.19+): a
    /// migration is only over for the operator once this is set.
    #[serde(default)]
    pub migration_done_at_epoch: Option<i64>,
    /// The HCP link's status (Vault releases with HCP link).
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub hcp_link_status: Option<String>,
    /// The HCP resource the link points to (Vault releases with HCP link).
    #[serde(
        rename = "hcp_link_resource_ID",
        default,
        deserialize_with = "wire::non_empty"
    )]
    pub hcp_link_resource_id: Option<String>,
}

/// Which server product answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum Product {
    /// HashiCorp Vault.
    Vault,
    /// OpenBao.
    OpenBao,
}

/// What [`SealStatus::server`] concludes about the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ServerInfo {
    /// The product.
    pub product: Product,
    /// The version as reported.
    pub version: String,
    /// Major, minor and patch, when the version parses.
    pub semver: Option<(u32, u32, u32)>,
}

impl ServerInfo {
    /// Whether the server hid its version (an empty one): Vault's `redact_version` does so
    /// for requests without a valid token. The product is still known; sending the token
    /// brings the version back.
    pub fn is_version_redacted(&self) -> bool {
        self.version.trim().is_empty()
    }

    /// The dialect whose ceremony paths this server serves without extra listener settings:
    /// OpenBao from 2.5, whose listeners turn the classic unauthenticated paths off by default
    /// (its `sys/rotate/*` paths exist from 2.4, `sys/generate-root-token/*` from 2.6); Vault
    /// otherwise.
    pub fn dialect(&self) -> Dialect {
        match (self.product, self.semver) {
            (Product::OpenBao, Some((major, minor, _))) if (major, minor) >= (2, 5) => {
                Dialect::OpenBao
            }
            _ => Dialect::Vault,
        }
    }
}

impl SealStatus {
    /// Tells Vault from OpenBao and parses the version, in a way that stays right when a
    /// Vault listener redacts `version`, `build_date` and `cluster_name` (its
    /// `redact_version` and `redact_cluster_name`, for a request without a valid token).
    ///
    /// The product comes from the fields only one of them sends, never from the version:
    /// OpenBao always sends `commit_date` and never `build_date` or Vault's later fields
    /// (`removed_from_cluster`, `migration_done_at_epoch`, `hcp_link_*`), and its listeners
    /// have no redaction (2.7.2); Vault never sends `commit_date`. So a redacted answer, which
    /// carries neither date, can only be Vault's, and is read as such. The dialect of a Vault
    /// is [`Dialect::Vault`] whatever its version, so a redacted version costs nothing there;
    /// [`ServerInfo::is_version_redacted`] says when it happened.
    pub fn server(&self) -> ServerInfo {
        let vault_only = self.build_date.is_some()
            || self.removed_from_cluster.is_some()
            || self.migration_done_at_epoch.is_some()
            || self.hcp_link_status.is_some()
            || self.hcp_link_resource_id.is_some();
        let product = if self.commit_date.is_some() && !vault_only {
            Product::OpenBao
        } else {
            Product::Vault
        };
        ServerInfo {
            product,
            version: self.version.clone(),
            semver: parse_semver(&self.version),
        }
    }
}

fn parse_semver(version: &str) -> Option<(u32, u32, u32)> {
    let core = version
        .trim()
        .trim_start_matches('v')
        .split(['+', '-'])
        .next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().unwrap_or(Some(0))?,
    ))
}

/// `PUT sys/unseal`: submit one unseal share, or reset the unseal progress.
#[derive(Debug, Clone)]
pub struct Unseal {
    key: Option<KeyShare>,
    migrate: bool,
}

impl Unseal {
    /// Submit one share (hex or base64).
    pub fn new(key: KeyShare) -> Self {
        Self {
            key: Some(key),
            migrate: false,
        }
    }

    /// Discard the shares submitted so far.
    pub fn reset() -> Self {
        Self {
            key: None,
            migrate: false,
        }
    }

    /// Unseal while migrating the seal (Shamir to auto-unseal or back, after the server was
    /// restarted with the new seal and the old one marked `disabled`): the shares are the old
    /// seal's, and every share of the migration must be sent with this flag (Vault's
    /// `handleSysUnseal` calls `UnsealMigrate` for them).
    pub fn migrate(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }
}

#[derive(Serialize)]
struct UnsealBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    reset: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    migrate: bool,
}

operation!(Unseal => SealStatus, |self, target| {
    let body = match &self.key {
        Some(key) => {
            check_share(key)?;
            UnsealBody { key: Some(key.expose()), reset: false, migrate: self.migrate }
        }
        None => UnsealBody { key: None, reset: true, migrate: self.migrate },
    };
    target.request(Method::PUT, "sys/unseal", wire::body(&body))
}, wire::json);

/// `GET sys/seal-backend-status`: the health of each seal backend (Vault 1.16+, where a
/// server may have several seals; unauthenticated). OpenBao does not serve it (404).
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadSealBackendStatus;

/// What `sys/seal-backend-status` answers (Vault's `SealBackendStatusResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct SealBackendStatus {
    /// Whether every backend is healthy.
    pub healthy: bool,
    /// When the seal became unhealthy (RFC 3339), while it is.
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub unhealthy_since: Option<String>,
    /// Whether every stored value is wrapped by every backend (Vault 1.17+).
    #[serde(default)]
    pub fully_wrapped: Option<bool>,
    /// Each backend, in configuration order.
    #[serde(default, deserialize_with = "wire::null_default")]
    pub backends: Vec<SealBackend>,
}

/// One seal backend in [`SealBackendStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct SealBackend {
    /// The seal's name in the configuration.
    pub name: String,
    /// Whether it is healthy.
    pub healthy: bool,
    /// When it became unhealthy (RFC 3339), while it is.
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub unhealthy_since: Option<String>,
    /// Whether it was set up successfully (newer Vault releases).
    #[serde(default)]
    pub configured: Option<bool>,
    /// Whether it is disabled, as the old seal of a migration is (newer Vault releases).
    #[serde(default)]
    pub disabled: Option<bool>,
}

operation!(ReadSealBackendStatus => SealBackendStatus, |self, target| target.request(Method::GET, "sys/seal-backend-status", None), wire::json);

/// `PUT sys/seal`: seal the server (needs a token with sudo).
#[derive(Debug, Clone, Copy, Default)]
pub struct Seal;

operation!(Seal => (), |self, target| target.request(Method::PUT, "sys/seal", None), wire::empty);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_parsing() {
        assert_eq!(parse_semver("2.7.2"), Some((2, 7, 2)));
        assert_eq!(parse_semver("v1.17.3+ent"), Some((1, 17, 3)));
        assert_eq!(parse_semver("1.15"), Some((1, 15, 0)));
        assert_eq!(parse_semver("x"), None);
        assert_eq!(parse_semver(""), None);
    }

    #[test]
    fn dialect_follows_product_and_version() {
        let info = |product, version: &str| ServerInfo {
            product,
            version: version.into(),
            semver: parse_semver(version),
        };
        assert_eq!(info(Product::OpenBao, "2.7.2").dialect(), Dialect::OpenBao);
        assert_eq!(info(Product::OpenBao, "2.5.0").dialect(), Dialect::OpenBao);
        assert_eq!(info(Product::OpenBao, "2.4.3").dialect(), Dialect::Vault);
        assert_eq!(info(Product::OpenBao, "dev").dialect(), Dialect::Vault);
        assert_eq!(info(Product::Vault, "2.0.0").dialect(), Dialect::Vault);
    }
}
