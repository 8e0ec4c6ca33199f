//! One blocking interface over every client the integration scenarios run with.
//!
//! A scenario is written once against [`KeyClient`] (hvac's method names, the core's types) and run with each
//! [`Transport`]. [`ClientFactory`] makes clients for one server and dialect, with any token, so a scenario can also
//! hand a ceremony to a second client half way through.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use vault_key_core::ceremony::{RekeyCeremony, RekeyPhase, RootTokenCeremony, RootTokenPhase};
use vault_key_core::ops::cluster::{HaStatus, Health, LeaderStatus, ReadHealthStatus};
use vault_key_core::ops::encryption_key::{ConfigureRotation, KeyStatus, RotateConfig};
use vault_key_core::ops::generate_root::{
    RootGenerationStatus, StartRootTokenGeneration, TokenKind,
};
use vault_key_core::ops::rekey::{KeyKind, RekeyStatus, RekeyUpdate, StartRekey};
use vault_key_core::ops::rekey_backup::BackupKeys;
use vault_key_core::ops::rekey_verify::{VerifyStatus, VerifyUpdate};
use vault_key_core::ops::seal::{InitResult, Initialize, SealStatus, ServerInfo};
use vault_key_core::transport::redirect::RedirectHosts;
use vault_key_core::transport::{TransportError, TransportErrorKind};
use vault_key_core::{Dialect, EncodedToken, ExecuteError, KeyShare, Otp, Token};

/// What a client call returns on failure: the transport's error or the core's.
pub type CallError = ExecuteError<TransportError>;

/// The HTTP stacks the scenarios run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// The blocking client of `vault-key-ureq`.
    Ureq,
    /// The async client of `vault-key-hyper`, driven on a Tokio runtime.
    Hyper,
}

impl Transport {
    /// Every transport, in a fixed order.
    pub const ALL: [Transport; 2] = [Transport::Ureq, Transport::Hyper];
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Ureq => "ureq",
            Transport::Hyper => "hyper",
        })
    }
}

/// The key-management calls the scenarios make, blocking, with hvac's names.
///
/// Rekey, verify and backup calls act on the shares of the client's [`KeyKind`] (the unseal shares unless the
/// factory was given another, see [`ClientFactory::with_key_kind`]), except `start_rekey`, whose request names its own;
/// generate-root calls take the [`TokenKind`] (recovery tokens go through the transports' `*_recovery_token_*`
/// methods).
pub trait KeyClient: Send + Sync {
    /// The transport under test.
    fn transport(&self) -> Transport;
    /// The dialect the client speaks.
    fn dialect(&self) -> Dialect;
    /// The shares the rekey, verify and backup calls act on.
    fn key_kind(&self) -> KeyKind;

    /// `GET sys/init`.
    fn read_init_status(&self) -> Result<bool, CallError>;
    /// `PUT sys/init`.
    fn initialize(&self, init: &Initialize) -> Result<InitResult, CallError>;
    /// `GET sys/seal-status`.
    fn read_seal_status(&self) -> Result<SealStatus, CallError>;
    /// Which server this is, from its seal status.
    fn detect_server(&self) -> Result<ServerInfo, CallError>;
    /// The same client speaking the dialect detected from the server.
    fn with_detected_dialect(&self) -> Result<Box<dyn KeyClient>, CallError>;
    /// `PUT sys/unseal` with one share.
    fn unseal(&self, key: &KeyShare) -> Result<SealStatus, CallError>;
    /// Submits shares until the server is unsealed.
    fn unseal_multi(&self, keys: &[KeyShare]) -> Result<SealStatus, CallError>;
    /// `PUT sys/unseal` with `reset`.
    fn reset_unseal(&self) -> Result<SealStatus, CallError>;
    /// Submits `keys` to each node at `addresses` in turn, one answer per node.
    #[allow(clippy::type_complexity)]
    fn unseal_nodes(
        &self,
        addresses: &[&str],
        keys: &[KeyShare],
    ) -> Result<Vec<Result<SealStatus, CallError>>, CallError>;
    /// `PUT sys/seal`.
    fn seal(&self) -> Result<(), CallError>;
    /// `GET sys/health` with the default codes (a standby answers 429).
    fn read_health_status(&self) -> Result<Health, CallError>;
    /// `GET sys/leader`.
    fn read_leader_status(&self) -> Result<LeaderStatus, CallError>;
    /// `GET sys/ha-status`.
    fn read_ha_status(&self) -> Result<HaStatus, CallError>;

    /// `GET .../attempt`.
    fn read_root_generation_progress(
        &self,
        kind: TokenKind,
    ) -> Result<RootGenerationStatus, CallError>;
    /// `PUT .../attempt`, with the server generating the OTP unless one or a PGP key is given.
    fn start_root_token_generation(
        &self,
        kind: TokenKind,
        otp: Option<&Otp>,
        pgp_key: Option<&str>,
    ) -> Result<RootGenerationStatus, CallError>;
    /// `PUT .../update` with one share.
    fn generate_root(
        &self,
        kind: TokenKind,
        key: &KeyShare,
        nonce: &str,
    ) -> Result<RootGenerationStatus, CallError>;
    /// `DELETE .../attempt`.
    fn cancel_root_generation(&self, kind: TokenKind) -> Result<(), CallError>;
    /// `PUT sys/decode-token`: the server decodes the token.
    fn decode_token(&self, encoded: &EncodedToken, otp: &Otp) -> Result<Token, CallError>;

    /// `GET sys/key-status`.
    fn get_encryption_key_status(&self) -> Result<KeyStatus, CallError>;
    /// `PUT sys/rotate` (or `sys/rotate/keyring`).
    fn rotate_encryption_key(&self) -> Result<(), CallError>;
    /// `PUT sys/rotate/root` (OpenBao): rotates the root key without shares.
    fn rotate_root_key(&self) -> Result<(), CallError>;
    /// `GET sys/rotate/config`.
    fn read_rotate_config(&self) -> Result<RotateConfig, CallError>;
    /// `PUT sys/rotate/config`.
    fn configure_rotation(&self, config: &ConfigureRotation) -> Result<(), CallError>;

    /// `GET .../init`.
    fn read_rekey_progress(&self) -> Result<RekeyStatus, CallError>;
    /// `PUT .../init`, for the shares the request names.
    fn start_rekey(&self, request: &StartRekey) -> Result<RekeyStatus, CallError>;
    /// `PUT .../update` with one current share.
    fn rekey(&self, key: &KeyShare, nonce: &str) -> Result<RekeyUpdate, CallError>;
    /// Submits current shares until the rekey completes.
    fn rekey_multi(&self, keys: &[KeyShare], nonce: &str) -> Result<RekeyUpdate, CallError>;
    /// `DELETE .../init`.
    fn cancel_rekey(&self, nonce: Option<&str>) -> Result<(), CallError>;
    /// `GET .../backup`.
    fn read_backup_keys(&self) -> Result<BackupKeys, CallError>;
    /// `DELETE .../backup`.
    fn delete_backup_keys(&self) -> Result<(), CallError>;
    /// `GET .../verify`.
    fn read_rekey_verify_progress(&self) -> Result<VerifyStatus, CallError>;
    /// `DELETE .../verify`: restarts verification with a new nonce.
    fn cancel_rekey_verify(&self) -> Result<VerifyStatus, CallError>;
    /// `PUT .../verify` with one new share.
    fn rekey_verify(&self, key: &KeyShare, nonce: &str) -> Result<VerifyUpdate, CallError>;
    /// Submits new shares until the verification completes.
    fn rekey_verify_multi(&self, keys: &[KeyShare], nonce: &str)
        -> Result<VerifyUpdate, CallError>;

    /// Runs a rekey ceremony through the transport's HTTP stack until it needs the caller again;
    /// the phase it stopped in (what the scenarios compare; the core's tests check the `Next`).
    fn drive_rekey(&self, ceremony: &mut RekeyCeremony) -> Result<RekeyPhase, CallError>;
    /// Runs a root-token ceremony through the transport's HTTP stack until it needs the caller again.
    fn drive_root_token(
        &self,
        ceremony: &mut RootTokenCeremony,
    ) -> Result<RootTokenPhase, CallError>;
}

/// Which certificate authority a client trusts for HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The operating system's roots only.
    System,
    /// Only the CA in this PEM file (the transports' custom CA file option).
    CaFile(PathBuf),
}

/// Makes clients of one transport for one server.
#[derive(Debug, Clone)]
pub struct ClientFactory {
    transport: Transport,
    address: String,
    trust: Trust,
    dialect: Dialect,
    keys: KeyKind,
    timeout: Option<std::time::Duration>,
    headers: Vec<(String, String)>,
    redirect_hosts: Option<RedirectHosts>,
}

impl ClientFactory {
    /// Clients of `transport` for the server at `address`, speaking `dialect`, trusting the system's roots.
    pub fn new(transport: Transport, address: impl Into<String>, dialect: Dialect) -> Self {
        ClientFactory {
            transport,
            address: address.into(),
            trust: Trust::System,
            dialect,
            keys: KeyKind::Unseal,
            timeout: None,
            headers: Vec::new(),
            redirect_hosts: None,
        }
    }

    /// The same factory for clients that follow redirects only to `hosts`.
    pub fn with_redirect_hosts(&self, hosts: RedirectHosts) -> Self {
        ClientFactory {
            redirect_hosts: Some(hosts),
            ..self.clone()
        }
    }

    /// The same factory for clients that give up on an exchange after `timeout`.
    pub fn with_timeout(&self, timeout: std::time::Duration) -> Self {
        ClientFactory {
            timeout: Some(timeout),
            ..self.clone()
        }
    }

    /// The same factory for clients that send the header `name: value` on every request (as
    /// `X-Vault-No-Request-Forwarding: true`, which turns a standby's forwarding off).
    pub fn with_header(&self, name: &str, value: &str) -> Self {
        let mut factory = self.clone();
        factory.headers.push((name.to_string(), value.to_string()));
        factory
    }

    /// Trust only the CA in this PEM file.
    pub fn trusting(mut self, ca_file: &Path) -> Self {
        self.trust = Trust::CaFile(ca_file.to_path_buf());
        self
    }

    /// The same factory for another dialect.
    pub fn with_dialect(&self, dialect: Dialect) -> Self {
        ClientFactory {
            dialect,
            ..self.clone()
        }
    }

    /// The same factory for a server now at `address` (a restarted server may have moved).
    pub fn with_address(&self, address: impl Into<String>) -> Self {
        ClientFactory {
            address: address.into(),
            ..self.clone()
        }
    }

    /// The same factory for clients whose rekey, verify and backup calls act on the shares of `kind`.
    pub fn with_key_kind(&self, kind: KeyKind) -> Self {
        ClientFactory {
            keys: kind,
            ..self.clone()
        }
    }

    /// The transport.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The dialect.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The shares the clients' rekey, verify and backup calls act on.
    pub fn key_kind(&self) -> KeyKind {
        self.keys
    }

    fn builder<C>(
        &self,
        token: Option<&str>,
    ) -> vault_key_core::transport::config::ClientBuilder<C> {
        let mut builder = vault_key_core::transport::config::ClientBuilder::<C>::new()
            .address(self.address.clone())
            .dialect(self.dialect);
        if let Some(token) = token {
            builder = builder.token(Token::new(token));
        }
        if let Some(timeout) = self.timeout {
            builder = builder.timeout(timeout);
        }
        for (name, value) in &self.headers {
            builder = builder.header(name.clone(), value.clone());
        }
        if let Some(hosts) = &self.redirect_hosts {
            builder = builder.redirect_hosts(hosts.clone());
        }
        match &self.trust {
            Trust::System => builder,
            Trust::CaFile(path) => builder.ca_certificate_file(path).system_roots(false),
        }
    }

    /// A client sending `token`, or no token.
    pub fn client(&self, token: Option<&str>) -> Result<Box<dyn KeyClient>, CallError> {
        Ok(match self.transport {
            Transport::Ureq => Box::new(UreqClient {
                client: self.builder::<vault_key_ureq::Client>(token).build()?,
                kind: self.keys,
            }),
            Transport::Hyper => {
                let runtime = Arc::new(runtime()?);
                let client = {
                    let _inside = runtime.enter();
                    self.builder::<vault_key_hyper::Client>(token).build()?
                };
                Box::new(HyperClient {
                    client,
                    runtime,
                    kind: self.keys,
                })
            }
        })
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, TransportError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            TransportError::new(
                TransportErrorKind::Config,
                format!("cannot start a Tokio runtime: {e}"),
            )
        })
}

/// [`KeyClient`] over the blocking `vault_key_ureq::Client`.
#[derive(Debug, Clone)]
pub struct UreqClient {
    client: vault_key_ureq::Client,
    kind: KeyKind,
}

impl UreqClient {
    /// The transport's own client.
    pub fn inner(&self) -> &vault_key_ureq::Client {
        &self.client
    }
}

fn start_request(otp: Option<&Otp>, pgp_key: Option<&str>) -> StartRootTokenGeneration {
    let mut start = StartRootTokenGeneration::new();
    if let Some(otp) = otp {
        start = start.otp(otp.clone());
    }
    if let Some(key) = pgp_key {
        start = start.pgp_key(key);
    }
    start
}

/// A ureq call, blocking already.
macro_rules! now {
    ($client:expr, $call:expr) => {
        $call
    };
}

/// A hyper call, run to completion on the client's runtime.
macro_rules! on_runtime {
    ($client:expr, $call:expr) => {
        $client.block_on($call)
    };
}

/// Implements [`KeyClient`] for a client whose `client` field is a transport's client, each
/// call made blocking by `$wait` (`now` or `on_runtime`): the method list, written once.
macro_rules! key_client {
    ($ty:ty, $transport:expr, $wait:ident) => {
        impl KeyClient for $ty {
            fn transport(&self) -> Transport {
                $transport
            }

            fn dialect(&self) -> Dialect {
                self.client.target().dialect()
            }

            fn key_kind(&self) -> KeyKind {
                self.kind
            }

            fn read_init_status(&self) -> Result<bool, CallError> {
                $wait!(self, self.client.read_init_status())
            }

            fn initialize(&self, init: &Initialize) -> Result<InitResult, CallError> {
                $wait!(self, self.client.initialize(init.clone()))
            }

            fn read_seal_status(&self) -> Result<SealStatus, CallError> {
                $wait!(self, self.client.read_seal_status())
            }

            fn detect_server(&self) -> Result<ServerInfo, CallError> {
                $wait!(self, self.client.detect_server())
            }

            fn with_detected_dialect(&self) -> Result<Box<dyn KeyClient>, CallError> {
                let client = $wait!(self, self.client.with_detected_dialect())?;
                Ok(Box::new(Self {
                    client,
                    ..self.clone()
                }))
            }

            fn unseal(&self, key: &KeyShare) -> Result<SealStatus, CallError> {
                $wait!(self, self.client.unseal(key.clone()))
            }

            fn unseal_multi(&self, keys: &[KeyShare]) -> Result<SealStatus, CallError> {
                $wait!(self, self.client.unseal_multi(keys.to_vec()))
            }

            fn reset_unseal(&self) -> Result<SealStatus, CallError> {
                $wait!(self, self.client.reset_unseal())
            }

            fn unseal_nodes(
                &self,
                addresses: &[&str],
                keys: &[KeyShare],
            ) -> Result<Vec<Result<SealStatus, CallError>>, CallError> {
                $wait!(self, self.client.unseal_nodes(addresses, keys))
            }

            fn seal(&self) -> Result<(), CallError> {
                $wait!(self, self.client.seal())
            }

            fn read_health_status(&self) -> Result<Health, CallError> {
                $wait!(
                    self,
                    self.client.read_health_status(ReadHealthStatus::new())
                )
            }

            fn read_leader_status(&self) -> Result<LeaderStatus, CallError> {
                $wait!(self, self.client.read_leader_status())
            }

            fn read_ha_status(&self) -> Result<HaStatus, CallError> {
                $wait!(self, self.client.read_ha_status())
            }

            fn read_root_generation_progress(
                &self,
                kind: TokenKind,
            ) -> Result<RootGenerationStatus, CallError> {
                let client = &self.client;
                match kind {
                    TokenKind::Root => $wait!(self, client.read_root_generation_progress()),
                    TokenKind::Recovery => {
                        $wait!(self, client.read_recovery_token_generation_progress())
                    }
                    TokenKind::DrOperation => {
                        $wait!(self, client.read_dr_operation_token_generation_progress())
                    }
                }
            }

            fn start_root_token_generation(
                &self,
                kind: TokenKind,
                otp: Option<&Otp>,
                pgp_key: Option<&str>,
            ) -> Result<RootGenerationStatus, CallError> {
                let start = start_request(otp, pgp_key);
                let client = &self.client;
                match kind {
                    TokenKind::Root => $wait!(self, client.start_root_token_generation(start)),
                    TokenKind::Recovery => {
                        $wait!(self, client.start_recovery_token_generation(start))
                    }
                    TokenKind::DrOperation => {
                        $wait!(self, client.start_dr_operation_token_generation(start))
                    }
                }
            }

            fn generate_root(
                &self,
                kind: TokenKind,
                key: &KeyShare,
                nonce: &str,
            ) -> Result<RootGenerationStatus, CallError> {
                let (client, key) = (&self.client, key.clone());
                match kind {
                    TokenKind::Root => $wait!(self, client.generate_root(key, nonce)),
                    TokenKind::Recovery => $wait!(self, client.generate_recovery_token(key, nonce)),
                    TokenKind::DrOperation => {
                        $wait!(self, client.generate_dr_operation_token(key, nonce))
                    }
                }
            }

            fn cancel_root_generation(&self, kind: TokenKind) -> Result<(), CallError> {
                let client = &self.client;
                match kind {
                    TokenKind::Root => $wait!(self, client.cancel_root_generation()),
                    TokenKind::Recovery => $wait!(self, client.cancel_recovery_token_generation()),
                    TokenKind::DrOperation => {
                        $wait!(self, client.cancel_dr_operation_token_generation())
                    }
                }
            }

            fn decode_token(&self, encoded: &EncodedToken, otp: &Otp) -> Result<Token, CallError> {
                $wait!(self, self.client.decode_token(encoded.clone(), otp.clone()))
            }

            fn get_encryption_key_status(&self) -> Result<KeyStatus, CallError> {
                $wait!(self, self.client.get_encryption_key_status())
            }

            fn rotate_encryption_key(&self) -> Result<(), CallError> {
                $wait!(self, self.client.rotate_encryption_key())
            }

            fn rotate_root_key(&self) -> Result<(), CallError> {
                $wait!(self, self.client.rotate_root_key())
            }

            fn read_rotate_config(&self) -> Result<RotateConfig, CallError> {
                $wait!(self, self.client.read_rotate_config())
            }

            fn configure_rotation(&self, config: &ConfigureRotation) -> Result<(), CallError> {
                $wait!(self, self.client.configure_rotation(config.clone()))
            }

            fn read_rekey_progress(&self) -> Result<RekeyStatus, CallError> {
                $wait!(self, self.client.read_rekey_progress(self.kind))
            }

            fn start_rekey(&self, request: &StartRekey) -> Result<RekeyStatus, CallError> {
                $wait!(self, self.client.start_rekey(request.clone()))
            }

            fn rekey(&self, key: &KeyShare, nonce: &str) -> Result<RekeyUpdate, CallError> {
                $wait!(self, self.client.rekey(key.clone(), nonce, self.kind))
            }

            fn rekey_multi(
                &self,
                keys: &[KeyShare],
                nonce: &str,
            ) -> Result<RekeyUpdate, CallError> {
                $wait!(
                    self,
                    self.client.rekey_multi(keys.to_vec(), nonce, self.kind)
                )
            }

            fn cancel_rekey(&self, nonce: Option<&str>) -> Result<(), CallError> {
                $wait!(self, self.client.cancel_rekey(self.kind, nonce))
            }

            fn read_backup_keys(&self) -> Result<BackupKeys, CallError> {
                $wait!(self, self.client.read_backup_keys(self.kind))
            }

            fn delete_backup_keys(&self) -> Result<(), CallError> {
                $wait!(self, self.client.delete_backup_keys(self.kind))
            }

            fn read_rekey_verify_progress(&self) -> Result<VerifyStatus, CallError> {
                $wait!(self, self.client.read_rekey_verify_progress(self.kind))
            }

            fn cancel_rekey_verify(&self) -> Result<VerifyStatus, CallError> {
                $wait!(self, self.client.cancel_rekey_verify(self.kind))
            }

            fn rekey_verify(&self, key: &KeyShare, nonce: &str) -> Result<VerifyUpdate, CallError> {
                $wait!(
                    self,
                    self.client.rekey_verify(key.clone(), nonce, self.kind)
                )
            }

            fn rekey_verify_multi(
                &self,
                keys: &[KeyShare],
                nonce: &str,
            ) -> Result<VerifyUpdate, CallError> {
                $wait!(
                    self,
                    self.client
                        .rekey_verify_multi(keys.to_vec(), nonce, self.kind)
                )
            }

            fn drive_rekey(&self, ceremony: &mut RekeyCeremony) -> Result<RekeyPhase, CallError> {
                let next = $wait!(self, self.client.drive(ceremony));
                next.map(|_| ceremony.phase())
            }

            fn drive_root_token(
                &self,
                ceremony: &mut RootTokenCeremony,
            ) -> Result<RootTokenPhase, CallError> {
                let next = $wait!(self, self.client.drive(ceremony));
                next.map(|_| ceremony.phase())
            }
        }
    };
}

key_client!(UreqClient, Transport::Ureq, now);

/// [`KeyClient`] over the async `vault_key_hyper::Client`, each call driven to completion on the client's own
/// single-threaded Tokio runtime.
#[derive(Debug, Clone)]
pub struct HyperClient {
    client: vault_key_hyper::Client,
    runtime: Arc<tokio::runtime::Runtime>,
    kind: KeyKind,
}

impl HyperClient {
    /// The transport's own client.
    pub fn inner(&self) -> &vault_key_hyper::Client {
        &self.client
    }

    /// Runs a future of the client on its runtime.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}

key_client!(HyperClient, Transport::Hyper, on_runtime);
