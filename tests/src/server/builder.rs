//! Building a server: its options, its directory, its HTTP agents.

use super::*;

// ---------------------------------------------------------------------------------------------------------------------
// Builder
// ---------------------------------------------------------------------------------------------------------------------

/// Options for starting a [`Server`]; the defaults give an initialised, unsealed, plain-HTTP server with OpenBao's
/// default listener (legacy unauthenticated endpoints disabled), a Shamir seal and 5 shares / threshold 3.
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    pub(super) legacy_endpoints: bool,
    pub(super) tls: bool,
    pub(super) client_certificates: bool,
    pub(super) shares: u32,
    pub(super) threshold: u32,
    pub(super) init: bool,
    pub(super) unseal: bool,
    pub(super) seal: SealKind,
    /// The raft node id.
    pub(super) node_id: String,
    /// The API addresses of the cluster nodes this one joins (`retry_join`); empty for a node that
    /// starts its own cluster.
    pub(super) join: Vec<String>,
    /// A member of a cluster: unsealed as a standby counts as serving.
    pub(super) clustered: bool,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            legacy_endpoints: false,
            tls: false,
            client_certificates: false,
            shares: DEFAULT_SHARES,
            threshold: DEFAULT_THRESHOLD,
            init: true,
            unseal: true,
            seal: SealKind::Shamir,
            node_id: "vault-key-test".to_string(),
            join: Vec::new(),
            clustered: false,
        }
    }
}

impl ServerBuilder {
    /// Same as [`ServerBuilder::default`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Enables the Vault-compatible unauthenticated `sys/rekey/*` and `sys/generate-root/*` endpoints
    /// (`disable_unauthed_*_endpoints = false`), which OpenBao 2.x disables by default.
    pub fn legacy_endpoints(mut self, enabled: bool) -> Self {
        self.legacy_endpoints = enabled;
        self
    }

    /// Serves HTTPS with a freshly generated CA and server certificate for `127.0.0.1` / `localhost`; the CA is
    /// available through [`Server::ca_pem`] so clients can trust exactly it.
    pub fn tls(mut self, enabled: bool) -> Self {
        self.tls = enabled;
        self
    }

    /// Serves HTTPS (as [`ServerBuilder::tls`]) on a listener that requires and verifies a client certificate
    /// (`tls_require_and_verify_client_cert`, `tls_client_ca_file` the generated CA); a client certificate the CA
    /// signed is generated with it ([`Server::client_cert_path`], [`Server::client_key_path`]) and the harness's
    /// own calls present it.
    pub fn client_certificates(mut self, required: bool) -> Self {
        self.client_certificates = required;
        self.tls |= required;
        self
    }

    /// Number of key shares and how many of them unseal, for `sys/init`; on an auto-unseal server (see
    /// [`ServerBuilder::transit_seal`]) the number of recovery key shares and their threshold.
    pub fn shares(mut self, shares: u32, threshold: u32) -> Self {
        self.shares = shares;
        self.threshold = threshold;
        self
    }

    /// Whether to call `sys/init` before handing out the server; `false` gives an uninitialised server
    /// (see [`Server::init`]).
    pub fn init(mut self, init: bool) -> Self {
        self.init = init;
        self
    }

    /// Whether to unseal after initialising; `false` gives an initialised but sealed server. An auto-unseal server
    /// unseals itself after `sys/init` anyway; there `false` only skips waiting until it is active.
    pub fn unseal(mut self, unseal: bool) -> Self {
        self.unseal = unseal;
        self
    }

    /// Auto-unseal through OpenBao's `transit` seal instead of the Shamir seal.
    ///
    /// Before the server itself, a provider is started: a default harness server (1 share, threshold 1) with the
    /// transit secrets engine mounted at [`TRANSIT_MOUNT_PATH`] and an `aes256-gcm96` key [`TRANSIT_KEY_NAME`]. The
    /// server's configuration gets `seal "transit" { address, token, key_name, mount_path }` pointing at it with the
    /// provider's root token. `sys/init` is then called with `recovery_shares` / `recovery_threshold` (see
    /// [`ServerBuilder::shares`]); it returns no unseal shares ([`Server::keys`] is empty) but recovery shares
    /// ([`Server::recovery_keys`]), and the server unseals itself. The provider lives as long as the server and is
    /// dropped with it. Costs a second server start and `sys/init`, about two seconds.
    pub fn transit_seal(mut self, enabled: bool) -> Self {
        self.seal = if enabled {
            SealKind::Transit
        } else {
            SealKind::Shamir
        };
        self
    }

    /// Starts the server and brings it into the requested state.
    pub fn start(self) -> Result<Server, HarnessError> {
        let bao = find_bao()?;
        let transit_provider = match self.seal {
            SealKind::Shamir => None,
            SealKind::Transit => Some(Box::new(start_transit_provider()?)),
        };
        let dir = make_temp_dir()?;
        let agent_tls = if self.tls {
            match write_tls_material(&dir, self.client_certificates) {
                Ok(tls) => Some(tls),
                Err(e) => {
                    let _ = fs::remove_dir_all(&dir);
                    return Err(e);
                }
            }
        } else {
            None
        };
        let data_dir = dir.join("data");
        if let Err(e) = fs::create_dir(&data_dir) {
            let _ = fs::remove_dir_all(&dir);
            return Err(HarnessError::new(format!(
                "cannot create {}: {e}",
                data_dir.display()
            )));
        }
        let (call_agent, probe_agent) = match make_agents(
            agent_tls.as_ref().map(|t| t.ca_pem.as_str()),
            agent_tls
                .as_ref()
                .and_then(|t| t.client.as_ref())
                .map(|c| (c.cert_pem.as_str(), c.key_pem.as_str())),
        ) {
            Ok(agents) => agents,
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let server = Server {
            bao,
            config_path: dir.join("server.hcl"),
            log_path: dir.join("server.log"),
            data_dir,
            dir,
            tls: agent_tls,
            legacy_endpoints: self.legacy_endpoints,
            shares: self.shares,
            threshold: self.threshold,
            seal: self.seal,
            call_agent,
            probe_agent,
            ports: Mutex::new(None),
            init: OnceLock::new(),
            process: Mutex::new(Process {
                child: None,
                mode: Mode::Stopped,
            }),
            node_id: self.node_id,
            join: self.join,
            clustered: self.clustered,
            transit_provider,
        };
        // From here on `server` owns the directory: an early return drops it, which cleans up.
        server.first_start()?;
        if self.init {
            server.init()?;
            if self.unseal {
                server.unseal()?;
            }
        }
        Ok(server)
    }
}

/// A default server with the transit secrets engine mounted at [`TRANSIT_MOUNT_PATH`] and the key
/// [`TRANSIT_KEY_NAME`] created, for an auto-unseal server's `transit` seal.
pub(super) fn start_transit_provider() -> Result<Server, HarnessError> {
    let provider = ServerBuilder::new().shares(1, 1).start()?;
    let mount = TRANSIT_MOUNT_PATH.trim_end_matches('/');
    for (path, body) in [
        (
            format!("/v1/sys/mounts/{mount}"),
            json!({"type": "transit"}),
        ),
        (format!("/v1/{mount}/keys/{TRANSIT_KEY_NAME}"), json!({})),
    ] {
        let reply = provider.call("POST", &path, Some(provider.root_token()), Some(&body))?;
        if !(200..300).contains(&reply.status) {
            return Err(provider.error(format!(
                "transit provider: POST {path} answered {}: {}",
                reply.status, reply.body
            )));
        }
    }
    Ok(provider)
}

/// A unique, freshly created directory under the system temp dir.
pub(super) fn make_temp_dir() -> Result<PathBuf, HarnessError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let base = env::temp_dir();
    for _ in 0..100 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "vault-key-bao-{}-{}-{nanos:08x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let dir = base.join(name);
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(HarnessError::new(format!(
                    "cannot create a temporary directory in {}: {e}",
                    base.display()
                )))
            }
        }
    }
    Err(HarnessError::new(format!(
        "no unused temporary directory name found in {}",
        base.display()
    )))
}

/// One agent for harness calls (long timeout, `sys/init` is slow) and one for readiness probes (short timeout).
pub(super) fn make_agents(
    ca_pem: Option<&str>,
    client: Option<(&str, &str)>,
) -> Result<(ureq::Agent, ureq::Agent), HarnessError> {
    let tls = match ca_pem {
        Some(pem) => {
            let cert = ureq::tls::Certificate::from_pem(pem.as_bytes())
                .map_err(|e| HarnessError::new(format!("generated CA is not valid PEM: {e}")))?;
            let client_cert = match client {
                Some((cert, key)) => Some(ureq::tls::ClientCert::new_with_certs(
                    &[ureq::tls::Certificate::from_pem(cert.as_bytes())
                        .map_err(|e| {
                            HarnessError::new(format!("generated client certificate: {e}"))
                        })?
                        .to_owned()],
                    ureq::tls::PrivateKey::from_pem(key.as_bytes())
                        .map_err(|e| HarnessError::new(format!("generated client key: {e}")))?
                        .to_owned(),
                )),
                None => None,
            };
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![cert])))
                .client_cert(client_cert)
                .build()
        }
        None => ureq::tls::TlsConfig::default(),
    };
    let agent = |timeout: Duration| -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .max_redirects(0)
            .allow_non_standard_methods(true)
            .timeout_global(Some(timeout))
            .tls_config(tls.clone())
            .build()
            .into()
    };
    Ok((agent(CALL_TIMEOUT), agent(PROBE_TIMEOUT)))
}

/// Quotes a string for HCL.
pub(super) fn hcl_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
