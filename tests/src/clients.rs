//! One blocking interface over every client the integration scenarios run with.
//!
//! A scenario is written once against [`Client`], which has the transports' own methods (hvac's names, the core's
//! types) and makes each call on the transport's client, and is run with each [`Transport`]. [`ClientFactory`] makes clients for one server and dialect, with any token, so a scenario can also
//! hand a ceremony to a second client half way through.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use vault_key_core::ops::rekey::KeyKind;
use vault_key_core::transport::redirect::RedirectHosts;
use vault_key_core::transport::{TransportError, TransportErrorKind};
use vault_key_core::{Dialect, ExecuteError, Token};

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
    pub fn client(&self, token: Option<&str>) -> Result<Client, CallError> {
        let stack = match self.transport {
            Transport::Ureq => Stack::Ureq(self.builder::<vault_key_ureq::Client>(token).build()?),
            Transport::Hyper => {
                let runtime = Arc::new(runtime()?);
                let client = {
                    let _inside = runtime.enter();
                    self.builder::<vault_key_hyper::Client>(token).build()?
                };
                Stack::Hyper { client, runtime }
            }
        };
        Ok(Client {
            stack,
            kind: self.keys,
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

/// A client of either transport, blocking: every method of the transports' clients, with
/// their names and arguments (the core's method list, expanded once more to forward each
/// call), so a scenario is written once and runs on each [`Transport`].
#[derive(Debug, Clone)]
pub struct Client {
    stack: Stack,
    kind: KeyKind,
}

/// The transport's own client; the async one with the runtime its calls are run on.
#[derive(Debug, Clone)]
enum Stack {
    Ureq(vault_key_ureq::Client),
    Hyper {
        client: vault_key_hyper::Client,
        runtime: Arc<tokio::runtime::Runtime>,
    },
}

/// What the method list's calls fail with, the same type for both transports.
type Error = CallError;

/// One call of the method list on the transport's client: made, or run to completion on the
/// runtime; a client it returns is wrapped again with the same key kind.
macro_rules! forward_call {
    ($s:ident, $name:ident($($a:expr),*) -> Self) => {
        Ok(Client {
            stack: match &$s.stack {
                Stack::Ureq(client) => Stack::Ureq(client.$name($($a),*)?),
                Stack::Hyper { client, runtime } => Stack::Hyper {
                    client: runtime.block_on(client.$name($($a),*))?,
                    runtime: runtime.clone(),
                },
            },
            kind: $s.kind,
        })
    };
    ($s:ident, $name:ident($($a:expr),*) -> Option<Self>) => {
        Ok(match &$s.stack {
            Stack::Ureq(client) => client.$name($($a),*)?.map(Stack::Ureq),
            Stack::Hyper { client, runtime } => runtime
                .block_on(client.$name($($a),*))?
                .map(|client| Stack::Hyper {
                    client,
                    runtime: runtime.clone(),
                }),
        }
        .map(|stack| Client {
            stack,
            kind: $s.kind,
        }))
    };
    ($s:ident, $name:ident($($a:expr),*)) => {
        match &$s.stack {
            Stack::Ureq(client) => client.$name($($a),*),
            Stack::Hyper { client, runtime } => runtime.block_on(client.$name($($a),*)),
        }
    };
}

impl Client {
    /// The transport under test.
    pub fn transport(&self) -> Transport {
        match self.stack {
            Stack::Ureq(_) => Transport::Ureq,
            Stack::Hyper { .. } => Transport::Hyper,
        }
    }

    /// The server and identity requests go to.
    pub fn target(&self) -> &vault_key_core::Target {
        match &self.stack {
            Stack::Ureq(client) => client.target(),
            Stack::Hyper { client, .. } => client.target(),
        }
    }

    /// The dialect the client speaks.
    pub fn dialect(&self) -> Dialect {
        self.target().dialect()
    }

    /// The shares the scenario's rekey, verify and backup calls act on (the factory's
    /// [`with_key_kind`](ClientFactory::with_key_kind)); the calls themselves take it, as the
    /// transports' do.
    pub fn key_kind(&self) -> KeyKind {
        self.kind
    }

    vault_key_core::client_methods!(forward);
}
