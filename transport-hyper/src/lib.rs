//! Async client for the key-management API of HashiCorp Vault and OpenBao, over
//! [hyper](https://docs.rs/hyper) 1 and hyper-util's pooled client on tokio.
//!
//! Every rule of the protocol (paths, bodies, decoding, errors, redirects, settings from the
//! environment) lives in [`vault_key_core`]; this crate only moves bytes: HTTPS with rustls
//! (the system's roots, plus an optional CA file), a keep-alive connection pool, a connect
//! timeout and a whole-exchange timeout, and a cap on the response body size. A `GET` that
//! breaks on a pooled connection the server closed, before any answer arrived, is sent once
//! more on a new connection; no other request is ever sent twice (see
//! [`may_retry`](vault_key_core::transport::may_retry)).
//!
//! Methods are named as in the Python client hvac and return the core's typed values. Their
//! docs name Vault's classic paths; with [`Dialect::OpenBao`](vault_key_core::Dialect) the
//! same calls use OpenBao's authenticated paths ([`Client::with_detected_dialect`] picks it).
//! [`Client`] is `Clone + Send + Sync`; clones share one connection pool, so many tasks can
//! use it at once, and every method's future is `Send`. It needs a tokio runtime with its
//! timer enabled (as `#[tokio::main]` sets up).
//!
//! # Example
//!
//! ```no_run
//! use vault_key_core::ops::rekey::{KeyKind, RekeyUpdate, StartRekey};
//! use vault_key_core::KeyShare;
//! use vault_key_hyper::Client;
//!
//! # async fn run() -> Result<(), vault_key_hyper::Error> {
//! // VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT, ... fill what is not given explicitly.
//! let client = Client::builder()
//!     .address("https://vault.example.com:8200")
//!     .ca_certificate_file("/etc/vault/ca.pem")
//!     .env(|name| std::env::var(name).ok())
//!     .build()?;
//!
//! let status = client.start_rekey(StartRekey::new(5, 3)).await?;
//! let nonce = status.nonce.expect("a started rekey has a nonce");
//! let current = ["share-1", "share-2", "share-3"].map(KeyShare::new);
//! match client.rekey_multi(current, &nonce, KeyKind::Unseal).await? {
//!     RekeyUpdate::Complete(result) => println!("{} new shares", result.keys.len()),
//!     RekeyUpdate::Progress(progress) => println!("{}/{}", progress.progress, progress.required),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Settings
//!
//! Explicit settings win over the environment, whatever the order they are given in; see
//! [`vault_key_core::transport::config`] for the variables and defaults.
//!
//! ```
//! use std::time::Duration;
//! use vault_key_core::Dialect;
//! use vault_key_hyper::Client;
//!
//! let client = Client::builder()
//!     .address("http://127.0.0.1:8200") // plain HTTP: a loopback development server
//!     .token("s.example")
//!     .namespace("team-a")
//!     .dialect(Dialect::OpenBao)
//!     .timeout(Duration::from_secs(30)) // one whole exchange
//!     .connect_timeout(Duration::from_secs(5))
//!     .max_response_bytes(1 << 20) // larger answers fail, unread
//!     .max_redirects(3) // 307/308 from standby nodes
//!     .build()?;
//! assert_eq!(client.target().namespace(), Some("team-a"));
//! # Ok::<(), vault_key_hyper::Error>(())
//! ```
//!
//! HTTPS trusts the system's roots and, when given, a CA ([`Builder::ca_certificate_file`],
//! [`Builder::ca_certificate_pem`], `VAULT_CACERT`); [`Builder::system_roots`] turns the
//! system's roots off and [`Builder::danger_accept_invalid_certs`] skips verification, for
//! development servers only.
//!
//! # A whole ceremony
//!
//! The core's ceremonies ([`vault_key_core::ceremony`]) pin the nonce, queue shares, survive
//! lost answers and keep what they produced; [`Client::drive`] and its helpers run them.
//!
//! ```no_run
//! use vault_key_core::ceremony::{RootTokenCeremony, RootTokenPhase, TokenProtection};
//! use vault_key_core::ops::generate_root::TokenKind;
//! use vault_key_core::KeyShare;
//! use vault_key_hyper::Client;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let client = Client::from_env()?.with_detected_dialect().await?;
//! let mut generation = RootTokenCeremony::start(TokenKind::Root, TokenProtection::ServerOtp);
//! let shares = ["share-1", "share-2", "share-3"].map(KeyShare::new);
//! if client.drive_root_token(&mut generation, shares).await?.is_finished()
//!     && generation.phase() == RootTokenPhase::Done
//! {
//!     let root_token = generation.decode_token()?;
//!     # let _ = root_token;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Errors are [`Error`]: the core's error (the server refused, the answer could not be
//! decoded, the input was invalid) or a [`TransportError`] (connect, timeout, TLS, body too
//! large, redirect), whose text never contains the token.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod stack;
mod tracking;

use stack::Stack;
use std::fmt;
use std::sync::Arc;
use vault_key_core::ceremony::{self, Ceremony, Next, RekeyCeremony, RootTokenCeremony};
use vault_key_core::ops::decode::DecodeToken;
use vault_key_core::ops::encryption_key::{
    ConfigureRotation, GetEncryptionKeyStatus, KeyStatus, ReadRotateConfig, RotateConfig,
    RotateEncryptionKey, RotateRootKey,
};
use vault_key_core::ops::generate_root::{
    CancelRootGeneration, GenerateRoot, ReadRootGenerationProgress, RootGenerationStatus,
    StartRootTokenGeneration, TokenKind,
};
use vault_key_core::ops::rekey::{
    CancelRekey, KeyKind, ReadRekeyProgress, Rekey, RekeyStatus, RekeyUpdate, StartRekey,
};
use vault_key_core::ops::rekey_backup::{BackupKeys, DeleteBackupKeys, ReadBackupKeys};
use vault_key_core::ops::rekey_verify::{
    CancelRekeyVerify, ReadRekeyVerifyProgress, RekeyVerify, VerifyStatus, VerifyUpdate,
};
use vault_key_core::ops::seal::{
    InitResult, Initialize, ReadInitStatus, ReadSealBackendStatus, ReadSealStatus, Seal,
    SealBackendStatus, SealStatus, ServerInfo, Unseal,
};
use vault_key_core::transport::config::{ClientConfig, FromClientConfig};
use vault_key_core::transport::redirect::FollowRedirects;
use vault_key_core::transport::submit::send_shares_async;
use vault_key_core::{
    execute_async, otp, AsyncHttpClient, Dialect, EncodedToken, ExecuteError, KeyShare, Operation,
    Otp, Refusal, Target, Token,
};

// The settings and errors of this crate's client, documented here.
pub use vault_key_core::transport::config::{CaCertificate, ClientBuilder};
pub use vault_key_core::transport::redirect::RedirectHosts;
pub use vault_key_core::transport::{TransportError, TransportErrorKind};

/// What a call can fail with: [`ExecuteError::Core`] (the server refused, the answer could not
/// be decoded, the input was invalid) or [`ExecuteError::Transport`] (connect, timeout, TLS,
/// body too large, redirect).
pub type Error = ExecuteError<TransportError>;

/// Builds a [`Client`]; see [`ClientBuilder`] for every setting.
pub type Builder = ClientBuilder<Client>;

/// An async client for one server. `Clone + Send + Sync`; clones share the connection pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    target: Target,
    http: FollowRedirects<Stack>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("target", &self.inner.target)
            .finish_non_exhaustive()
    }
}

impl FromClientConfig for Client {
    type Error = Error;

    fn from_config(config: ClientConfig) -> Result<Self, Error> {
        let http = FollowRedirects::new(Stack::new(&config)?, config.redirects);
        Ok(Self::from_parts(config.target, http))
    }
}

impl Client {
    fn from_parts(target: Target, http: FollowRedirects<Stack>) -> Self {
        Self {
            inner: Arc::new(Inner { target, http }),
        }
    }

    /// A client for `address` with default settings and nothing read from the environment.
    pub fn new(address: &str) -> Result<Self, Error> {
        Self::builder().address(address).build()
    }

    /// A client configured from `VAULT_ADDR`, `VAULT_TOKEN`, `VAULT_NAMESPACE`,
    /// `VAULT_CACERT`, `VAULT_CLIENT_TIMEOUT` (or their `BAO_` forms); see
    /// [`vault_key_core::transport::config`].
    pub fn from_env() -> Result<Self, Error> {
        Self::builder().env(|name| std::env::var(name).ok()).build()
    }

    /// Settings to build a client from; explicit settings win over the environment.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// The server and identity requests go to.
    pub fn target(&self) -> &Target {
        &self.inner.target
    }

    /// The same client (sharing its pool) with another target: another token, namespace or
    /// dialect. Redirects and limits stay as configured.
    pub fn with_target(&self, target: Target) -> Self {
        Self::from_parts(target, self.inner.http.clone())
    }

    /// The same client speaking `dialect`.
    pub fn with_dialect(&self, dialect: Dialect) -> Self {
        self.with_target(self.target().clone().with_dialect(dialect))
    }

    /// The same client sending `token`.
    pub fn with_token(&self, token: Token) -> Self {
        self.with_target(self.target().clone().with_token(token))
    }

    /// The HTTP stack (with redirects followed), for the core's ceremony drivers and
    /// [`vault_key_core::execute_async`].
    pub fn http_client(&self) -> &impl AsyncHttpClient<Error = TransportError> {
        &self.inner.http
    }

    /// Sends any operation and decodes its answer.
    pub async fn execute<O: Operation + ?Sized>(&self, operation: &O) -> Result<O::Output, Error> {
        execute_async(&self.inner.http, &self.inner.target, operation).await
    }

    // Ceremonies.

    /// Runs `ceremony` until it needs the caller again (more shares, an OTP) or is over, and
    /// returns what it needs ([`Next`]); see [`vault_key_core::ceremony`]. The ceremony stays
    /// with the caller: what it produced (new shares, an encoded token, the OTP) remains
    /// reachable from it after any error, and driving it again resumes where it stopped.
    pub async fn drive<K: Ceremony + ?Sized>(&self, ceremony: &mut K) -> Result<Next, Error> {
        ceremony::drive_async(&self.inner.http, &self.inner.target, ceremony).await
    }

    /// Queues current shares on a rekey and drives it: starts (or resumes) it, submits the
    /// shares, and stops once the new shares are issued, verification waits for new shares,
    /// or more current shares are needed.
    pub async fn drive_rekey(
        &self,
        rekey: &mut RekeyCeremony,
        current_shares: impl IntoIterator<Item = KeyShare>,
    ) -> Result<Next, Error> {
        rekey.submit_shares(current_shares)?;
        self.drive(rekey).await
    }

    /// Queues new shares for verification on a rekey and drives it until they are verified
    /// or more are needed.
    pub async fn drive_rekey_verification(
        &self,
        rekey: &mut RekeyCeremony,
        new_shares: impl IntoIterator<Item = KeyShare>,
    ) -> Result<Next, Error> {
        rekey.submit_verification_shares(new_shares)?;
        self.drive(rekey).await
    }

    /// Queues shares on a root-token (or recovery-token) generation and drives it; once it
    /// is finished ([`RootTokenPhase::Done`](vault_key_core::ceremony::RootTokenPhase::Done)), [`RootTokenCeremony::decode_token`] gives the
    /// token.
    pub async fn drive_root_token(
        &self,
        generation: &mut RootTokenCeremony,
        shares: impl IntoIterator<Item = KeyShare>,
    ) -> Result<Next, Error> {
        generation.submit_shares(shares)?;
        self.drive(generation).await
    }

    // Root-token generation.

    /// `GET sys/generate-root/attempt`: the root-token generation in progress, if any.
    pub async fn read_root_generation_progress(&self) -> Result<RootGenerationStatus, Error> {
        self.execute(&ReadRootGenerationProgress::new()).await
    }

    /// `PUT sys/generate-root/attempt`: starts a root-token generation. Without an OTP or PGP
    /// key the server generates the OTP and returns it in the answer, once.
    pub async fn start_root_token_generation(
        &self,
        start: StartRootTokenGeneration,
    ) -> Result<RootGenerationStatus, Error> {
        self.execute(&start).await
    }

    /// `PUT sys/generate-root/update`: submits one unseal (or recovery) share.
    pub async fn generate_root(
        &self,
        key: KeyShare,
        nonce: impl Into<String>,
    ) -> Result<RootGenerationStatus, Error> {
        self.execute(&GenerateRoot::new(key, nonce)).await
    }

    /// `DELETE sys/generate-root/attempt`: cancels the root-token generation.
    pub async fn cancel_root_generation(&self) -> Result<(), Error> {
        self.execute(&CancelRootGeneration::new()).await
    }

    /// `GET sys/generate-recovery-token/attempt`: the recovery-token generation in progress.
    pub async fn read_recovery_token_generation_progress(
        &self,
    ) -> Result<RootGenerationStatus, Error> {
        self.execute(&ReadRootGenerationProgress::new().kind(TokenKind::Recovery))
            .await
    }

    /// `PUT sys/generate-recovery-token/attempt`: starts a recovery-token generation (server in
    /// recovery mode).
    pub async fn start_recovery_token_generation(
        &self,
        start: StartRootTokenGeneration,
    ) -> Result<RootGenerationStatus, Error> {
        self.execute(&start.kind(TokenKind::Recovery)).await
    }

    /// `PUT sys/generate-recovery-token/update`: submits one share.
    pub async fn generate_recovery_token(
        &self,
        key: KeyShare,
        nonce: impl Into<String>,
    ) -> Result<RootGenerationStatus, Error> {
        self.execute(&GenerateRoot::new(key, nonce).kind(TokenKind::Recovery))
            .await
    }

    /// `DELETE sys/generate-recovery-token/attempt`: cancels the recovery-token generation.
    pub async fn cancel_recovery_token_generation(&self) -> Result<(), Error> {
        self.execute(&CancelRootGeneration::new().kind(TokenKind::Recovery))
            .await
    }

    /// `GET sys/replication/dr/secondary/generate-operation-token/attempt`: the DR operation
    /// token generation in progress (Vault Enterprise, on a DR secondary).
    pub async fn read_dr_operation_token_generation_progress(
        &self,
    ) -> Result<RootGenerationStatus, Error> {
        self.execute(&ReadRootGenerationProgress::new().kind(TokenKind::DrOperation))
            .await
    }

    /// `PUT sys/replication/dr/secondary/generate-operation-token/attempt`: starts a DR
    /// operation token generation, from the primary's shares.
    pub async fn start_dr_operation_token_generation(
        &self,
        start: StartRootTokenGeneration,
    ) -> Result<RootGenerationStatus, Error> {
        self.execute(&start.kind(TokenKind::DrOperation)).await
    }

    /// `PUT sys/replication/dr/secondary/generate-operation-token/update`: submits one share.
    pub async fn generate_dr_operation_token(
        &self,
        key: KeyShare,
        nonce: impl Into<String>,
    ) -> Result<RootGenerationStatus, Error> {
        self.execute(&GenerateRoot::new(key, nonce).kind(TokenKind::DrOperation))
            .await
    }

    /// `DELETE sys/replication/dr/secondary/generate-operation-token/attempt`: cancels it.
    pub async fn cancel_dr_operation_token_generation(&self) -> Result<(), Error> {
        self.execute(&CancelRootGeneration::new().kind(TokenKind::DrOperation))
            .await
    }

    /// `PUT sys/decode-token`: lets the server decode an encoded token with its OTP. A server
    /// that does not serve the path (Vault before 1.13.3, any server in recovery mode) gets
    /// the token decoded locally instead ([`otp::decode_token_any_scheme`]).
    pub async fn decode_token(
        &self,
        encoded_token: EncodedToken,
        otp: Otp,
    ) -> Result<Token, Error> {
        match self
            .execute(&DecodeToken::new(encoded_token.clone(), otp.clone()))
            .await
        {
            Err(e) if e.refusal().is_some_and(Refusal::is_path_not_served) => {
                Ok(otp::decode_token_any_scheme(&encoded_token, &otp)?)
            }
            answer => answer,
        }
    }

    // Encryption key.

    /// `GET sys/key-status`: the active encryption key's term and install time.
    pub async fn get_encryption_key_status(&self) -> Result<KeyStatus, Error> {
        self.execute(&GetEncryptionKeyStatus).await
    }

    /// `PUT sys/rotate`: installs a new encryption key (needs sudo).
    pub async fn rotate_encryption_key(&self) -> Result<(), Error> {
        self.execute(&RotateEncryptionKey).await
    }

    /// `GET sys/rotate/config`: the automatic-rotation settings.
    pub async fn read_rotate_config(&self) -> Result<RotateConfig, Error> {
        self.execute(&ReadRotateConfig).await
    }

    /// `PUT sys/rotate/config`: changes the automatic-rotation settings.
    pub async fn configure_rotation(&self, settings: ConfigureRotation) -> Result<(), Error> {
        self.execute(&settings).await
    }

    /// `PUT sys/rotate/root` (OpenBao): rotates the root key without key shares.
    pub async fn rotate_root_key(&self) -> Result<(), Error> {
        self.execute(&RotateRootKey).await
    }

    // Rekey.

    /// `GET sys/rekey/init`: the rekey in progress, if any.
    pub async fn read_rekey_progress(&self, kind: KeyKind) -> Result<RekeyStatus, Error> {
        self.execute(&ReadRekeyProgress::new().kind(kind)).await
    }

    /// `PUT sys/rekey/init`: starts a rekey.
    pub async fn start_rekey(&self, start: StartRekey) -> Result<RekeyStatus, Error> {
        self.execute(&start).await
    }

    /// `DELETE sys/rekey/init`: cancels the rekey. Vault 1.20+ wants its nonce for a rekey
    /// started in the last ten minutes, so without one the progress is read first and the
    /// nonce in progress is sent.
    pub async fn cancel_rekey(&self, kind: KeyKind, nonce: Option<&str>) -> Result<(), Error> {
        let nonce = match nonce {
            Some(nonce) => Some(nonce.to_owned()),
            None => self.read_rekey_progress(kind).await?.nonce,
        };
        self.execute(
            &CancelRekey::new()
                .kind(kind)
                .nonce(nonce.unwrap_or_default()),
        )
        .await
    }

    /// `PUT sys/rekey/update`: submits one current share.
    pub async fn rekey(
        &self,
        key: KeyShare,
        nonce: impl Into<String>,
        kind: KeyKind,
    ) -> Result<RekeyUpdate, Error> {
        self.execute(&Rekey::new(key, nonce).kind(kind)).await
    }

    /// Submits current shares in turn until the rekey completes; the answer is the new
    /// shares, or the progress after the last share.
    pub async fn rekey_multi(
        &self,
        keys: impl IntoIterator<Item = KeyShare>,
        nonce: &str,
        kind: KeyKind,
    ) -> Result<RekeyUpdate, Error> {
        let target = self.target();
        send_shares_async(&self.inner.http, target, keys, |key| {
            Rekey::new(key, nonce).kind(kind)
        })
        .await
    }

    /// `GET sys/rekey/backup`: the PGP-encrypted backup of the new shares.
    pub async fn read_backup_keys(&self, kind: KeyKind) -> Result<BackupKeys, Error> {
        self.execute(&ReadBackupKeys::new().kind(kind)).await
    }

    /// `DELETE sys/rekey/backup`: deletes the backup of the new shares.
    pub async fn delete_backup_keys(&self, kind: KeyKind) -> Result<(), Error> {
        self.execute(&DeleteBackupKeys::new().kind(kind)).await
    }

    /// `GET sys/rekey/verify`: the verification of new shares in progress.
    pub async fn read_rekey_verify_progress(&self, kind: KeyKind) -> Result<VerifyStatus, Error> {
        self.execute(&ReadRekeyVerifyProgress::new().kind(kind))
            .await
    }

    /// `PUT sys/rekey/verify`: submits one new share for verification.
    pub async fn rekey_verify(
        &self,
        key: KeyShare,
        nonce: impl Into<String>,
        kind: KeyKind,
    ) -> Result<VerifyUpdate, Error> {
        self.execute(&RekeyVerify::new(key, nonce).kind(kind)).await
    }

    /// Submits new shares in turn until verification completes.
    pub async fn rekey_verify_multi(
        &self,
        keys: impl IntoIterator<Item = KeyShare>,
        nonce: &str,
        kind: KeyKind,
    ) -> Result<VerifyUpdate, Error> {
        let target = self.target();
        send_shares_async(&self.inner.http, target, keys, |key| {
            RekeyVerify::new(key, nonce).kind(kind)
        })
        .await
    }

    /// `DELETE sys/rekey/verify`: restarts verification with a fresh nonce.
    pub async fn cancel_rekey_verify(&self, kind: KeyKind) -> Result<VerifyStatus, Error> {
        self.execute(&CancelRekeyVerify::new().kind(kind)).await
    }

    // Setup and seal.

    /// `GET sys/init`: whether the server is initialised.
    pub async fn read_init_status(&self) -> Result<bool, Error> {
        self.execute(&ReadInitStatus).await
    }

    /// `PUT sys/init`: initialises the server; the answer holds its first shares and root
    /// token, once.
    pub async fn initialize(&self, init: Initialize) -> Result<InitResult, Error> {
        self.execute(&init).await
    }

    /// `GET sys/seal-status`: sealed or not, unseal progress, version.
    pub async fn read_seal_status(&self) -> Result<SealStatus, Error> {
        self.execute(&ReadSealStatus).await
    }

    /// Which server this is (Vault or OpenBao, version), from its seal status.
    pub async fn detect_server(&self) -> Result<ServerInfo, Error> {
        Ok(self.read_seal_status().await?.server())
    }

    /// The same client speaking the dialect the server serves by default
    /// ([`ServerInfo::dialect`]).
    pub async fn with_detected_dialect(&self) -> Result<Self, Error> {
        Ok(self.with_dialect(self.detect_server().await?.dialect()))
    }

    /// `GET sys/seal-backend-status`: the health of each seal backend (Vault 1.16+; OpenBao
    /// does not serve it).
    pub async fn read_seal_backend_status(&self) -> Result<SealBackendStatus, Error> {
        self.execute(&ReadSealBackendStatus).await
    }

    /// `PUT sys/unseal`: submits one unseal share.
    pub async fn unseal(&self, key: KeyShare) -> Result<SealStatus, Error> {
        self.execute(&Unseal::new(key)).await
    }

    /// Submits unseal shares in turn until the server is unsealed.
    pub async fn unseal_multi(
        &self,
        keys: impl IntoIterator<Item = KeyShare>,
    ) -> Result<SealStatus, Error> {
        send_shares_async(&self.inner.http, self.target(), keys, Unseal::new).await
    }

    /// `PUT sys/unseal` with `reset`: discards the shares submitted so far.
    pub async fn reset_unseal(&self) -> Result<SealStatus, Error> {
        self.execute(&Unseal::reset()).await
    }

    /// `PUT sys/seal`: seals the server (needs sudo).
    pub async fn seal(&self) -> Result<(), Error> {
        self.execute(&Seal).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_send_sync_and_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<Client>();
    }

    fn assert_send<T: Send>(_: T) {}

    #[test]
    fn method_futures_are_send() {
        let client = Client::new("http://127.0.0.1:8200").unwrap();
        let share = || KeyShare::new("00");
        assert_send(client.execute(&ReadSealStatus));
        assert_send(client.read_seal_status());
        assert_send(client.with_detected_dialect());
        assert_send(client.generate_root(share(), "nonce"));
        assert_send(client.start_rekey(StartRekey::new(5, 3)));
        assert_send(client.rekey(share(), String::from("nonce"), KeyKind::Unseal));
        assert_send(client.rekey_multi(vec![share(), share()], "nonce", KeyKind::Recovery));
        assert_send(client.rekey_verify_multi([share()], "nonce", KeyKind::Unseal));
        assert_send(client.unseal_multi(vec![share()]));
        assert_send(client.read_backup_keys(KeyKind::Unseal));
        assert_send(client.configure_rotation(ConfigureRotation::new().enabled(true)));
        assert_send(client.decode_token(EncodedToken::new("e"), Otp::new("o")));

        let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2));
        assert_send(client.drive_rekey(&mut rekey, vec![share()]));
        let mut generation = RootTokenCeremony::start(
            TokenKind::Root,
            vault_key_core::ceremony::TokenProtection::ServerOtp,
        );
        assert_send(client.drive_root_token(&mut generation, [share()]));
        assert_send(client.drive(&mut generation));
    }
}
