//! A running server: its state, process control (start, restart, recovery mode, stop), calls and init.

use super::*;

// ---------------------------------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------------------------------

/// What `sys/init` returned: the unseal key shares (or, on an auto-unseal server, the recovery key shares) and the
/// initial root token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitData {
    /// Key shares, hex encoded (the `keys` field); empty on an auto-unseal server.
    pub keys: Vec<String>,
    /// The same shares, standard base64 (the `keys_base64` field).
    pub keys_base64: Vec<String>,
    /// Recovery key shares, hex encoded (the `recovery_keys` field); empty on a Shamir-sealed server.
    pub recovery_keys: Vec<String>,
    /// The same recovery shares, standard base64 (the `recovery_keys_base64` field).
    pub recovery_keys_base64: Vec<String>,
    /// The initial root token.
    pub root_token: String,
}

/// How a server's root key is protected, which decides the shares `sys/init` hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SealKind {
    /// OpenBao's default Shamir seal: unseal key shares, which unseal the server.
    Shamir,
    /// Auto-unseal through the `transit` seal and a provider server: recovery key shares; the server unseals itself.
    Transit,
}

/// How the server process currently runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Normal operation: the whole API is served.
    Normal,
    /// Started with `-recovery`: only `sys/generate-recovery-token/*` and `sys/raw` are served.
    Recovery,
    /// No process is running (between stop and start).
    Stopped,
}

#[derive(Debug)]
pub(super) struct Process {
    pub(super) child: Option<Child>,
    pub(super) mode: Mode,
}

/// A status and body from the server, as the harness received them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// The `Content-Type` header, if any; tells the JSON API apart from the plain-text mux 404s.
    pub content_type: Option<String>,
    /// The body as text (lossy for non-UTF-8 bytes).
    pub body: String,
}

impl Reply {
    /// The body parsed as JSON, for checking fields of the answer.
    pub fn json(&self) -> Result<Value, HarnessError> {
        serde_json::from_str(&self.body).map_err(|e| {
            HarnessError::new(format!(
                "response ({}) is not JSON: {e}: {}",
                self.status, self.body
            ))
        })
    }
}

/// A running OpenBao server owned by one test.
///
/// Dropping it kills the process and removes its temporary directory (configuration, raft data, certificates and
/// log); an auto-unseal server then drops its transit provider the same way. It is `Send + Sync`; state-changing
/// methods take `&self` and serialise on an internal lock.
#[derive(Debug)]
pub struct Server {
    pub(super) bao: PathBuf,
    pub(super) dir: PathBuf,
    pub(super) config_path: PathBuf,
    pub(super) data_dir: PathBuf,
    pub(super) log_path: PathBuf,
    pub(super) tls: Option<TlsFiles>,
    pub(super) legacy_endpoints: bool,
    pub(super) shares: u32,
    pub(super) threshold: u32,
    pub(super) seal: SealKind,
    pub(super) call_agent: ureq::Agent,
    pub(super) probe_agent: ureq::Agent,
    /// `None` until the first start.
    pub(super) ports: Mutex<Option<Ports>>,
    pub(super) init: OnceLock<InitData>,
    pub(super) process: Mutex<Process>,
    /// The raft node id.
    pub(super) node_id: String,
    /// The API addresses of the nodes this one joins (`retry_join`).
    pub(super) join: Vec<String>,
    /// A member of a cluster: unsealed as a standby counts as serving.
    pub(super) clustered: bool,
    /// The server behind the transit seal; declared last so that it is dropped after this server's process is gone.
    pub(super) transit_provider: Option<Box<Server>>,
}

impl Server {
    /// Starts a server with the default options (see [`ServerBuilder`]).
    pub fn start() -> Result<Server, HarnessError> {
        ServerBuilder::default().start()
    }

    /// Options for a server that differs from the default.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// Base address for clients, `http://127.0.0.1:PORT` (or `https://…` for a TLS server), without trailing slash.
    ///
    /// A restart keeps it unless the port was taken by another program while the server was down; then the server
    /// comes back on a fresh port, so take the address again after a restart.
    pub fn address(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port())
    }

    /// The listener's TCP port (see [`Server::address`] on restarts).
    pub fn port(&self) -> u16 {
        lock(&self.ports).as_ref().map_or(0, |ports| ports.api.port)
    }

    /// The port of the cluster listener, which OpenBao opens only while unsealed.
    pub fn cluster_port(&self) -> u16 {
        lock(&self.ports)
            .as_ref()
            .map_or(0, |ports| ports.cluster.port)
    }

    /// The initial root token; panics on a server started without initialisation (use [`Server::init_data`] there).
    pub fn root_token(&self) -> &str {
        &self.init_data_or_panic().root_token
    }

    /// The initial key shares, hex encoded; panics on an uninitialised server. Empty on an auto-unseal server.
    pub fn keys(&self) -> Vec<String> {
        self.init_data_or_panic().keys.clone()
    }

    /// The initial key shares, base64 encoded; panics on an uninitialised server. Empty on an auto-unseal server.
    pub fn keys_base64(&self) -> Vec<String> {
        self.init_data_or_panic().keys_base64.clone()
    }

    /// The initial recovery key shares, hex encoded; panics on an uninitialised server. Empty on a Shamir-sealed
    /// server.
    pub fn recovery_keys(&self) -> Vec<String> {
        self.init_data_or_panic().recovery_keys.clone()
    }

    /// The initial recovery key shares, base64 encoded; panics on an uninitialised server. Empty on a Shamir-sealed
    /// server.
    pub fn recovery_keys_base64(&self) -> Vec<String> {
        self.init_data_or_panic().recovery_keys_base64.clone()
    }

    /// How the server is sealed.
    pub fn seal_kind(&self) -> SealKind {
        self.seal
    }

    /// The server behind an auto-unseal server's transit seal (its root token opens the transit mount); `None` for a
    /// Shamir-sealed server.
    pub fn transit_provider(&self) -> Option<&Server> {
        self.transit_provider.as_deref()
    }

    /// Everything `sys/init` returned, or `None` while the server is uninitialised.
    pub fn init_data(&self) -> Option<&InitData> {
        self.init.get()
    }

    /// Number of shares needed to unseal (on an auto-unseal server: recovery shares needed), as configured for
    /// `sys/init`.
    pub fn threshold(&self) -> u32 {
        self.threshold
    }

    /// Number of key shares (on an auto-unseal server: recovery key shares), as configured for `sys/init`.
    pub fn shares(&self) -> u32 {
        self.shares
    }

    /// Whether the listener has the legacy unauthenticated endpoints enabled.
    pub fn legacy_endpoints(&self) -> bool {
        self.legacy_endpoints
    }

    /// PEM of the CA that signed the server certificate, for clients that must trust it; `None` without TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|t| t.ca_pem.as_str())
    }

    /// Path of the CA PEM file; `None` without TLS.
    pub fn ca_path(&self) -> Option<&Path> {
        self.tls.as_ref().map(|t| t.ca_path.as_path())
    }

    /// Path of the client certificate a listener with [`ServerBuilder::client_certificates`] accepts.
    pub fn client_cert_path(&self) -> Option<&Path> {
        self.client_files().map(|c| c.cert_path.as_path())
    }

    /// Path of that client certificate's private key.
    pub fn client_key_path(&self) -> Option<&Path> {
        self.client_files().map(|c| c.key_path.as_path())
    }

    /// The client certificate and key as PEM text.
    pub fn client_pem(&self) -> Option<(&str, &str)> {
        self.client_files()
            .map(|c| (c.cert_pem.as_str(), c.key_pem.as_str()))
    }

    fn client_files(&self) -> Option<&ClientFiles> {
        self.tls.as_ref().and_then(|t| t.client.as_ref())
    }

    /// The raft storage directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The temporary directory holding everything of this server; removed on drop.
    pub fn temp_dir(&self) -> &Path {
        &self.dir
    }

    /// The file receiving the server's stdout and stderr, across restarts.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last `lines` lines of the server log, for diagnostics in test failures.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log_path, lines)
    }

    /// Process id of the running server, `None` while stopped.
    pub fn pid(&self) -> Option<u32> {
        lock(&self.process).child.as_ref().map(Child::id)
    }

    /// How the process currently runs.
    pub fn mode(&self) -> Mode {
        lock(&self.process).mode
    }

    /// Sends one request and returns whatever status came back, so tests can inspect server state independently of
    /// the library under test. `path` starts with `/` (e.g. `/v1/sys/health`); `token` goes into `X-Vault-Token`.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Reply, HarnessError> {
        self.send(&self.call_agent, method, path, token, body)
            .map_err(|e| self.error(format!("{method} {path} failed: {e}")))
    }

    /// Calls `sys/init` with the configured shares and threshold and remembers the answer; a Shamir-sealed server
    /// stays sealed. An auto-unseal server gets them as `recovery_shares` / `recovery_threshold` and unseals itself
    /// soon after ([`Server::unseal`] waits for that).
    pub fn init(&self) -> Result<&InitData, HarnessError> {
        if let Some(data) = self.init.get() {
            return Ok(data);
        }
        let body = match self.seal {
            SealKind::Shamir => {
                json!({"secret_shares": self.shares, "secret_threshold": self.threshold})
            }
            SealKind::Transit => {
                json!({"recovery_shares": self.shares, "recovery_threshold": self.threshold})
            }
        };
        let reply = self.call("PUT", "/v1/sys/init", None, Some(&body))?;
        if reply.status != 200 {
            return Err(self.error(format!(
                "PUT /v1/sys/init answered {}: {}",
                reply.status, reply.body
            )));
        }
        let value = reply.json()?;
        let strings = |field: &str| -> Result<Vec<String>, HarnessError> {
            value[field]
                .as_array()
                .and_then(|a| a.iter().map(|k| k.as_str().map(String::from)).collect())
                .ok_or_else(|| {
                    self.error(format!("sys/init answer lacks `{field}`: {}", reply.body))
                })
        };
        let (recovery_keys, recovery_keys_base64) = match self.seal {
            SealKind::Shamir => (Vec::new(), Vec::new()),
            SealKind::Transit => (strings("recovery_keys")?, strings("recovery_keys_base64")?),
        };
        let data = InitData {
            keys: strings("keys")?,
            keys_base64: strings("keys_base64")?,
            recovery_keys,
            recovery_keys_base64,
            root_token: value["root_token"]
                .as_str()
                .ok_or_else(|| {
                    self.error(format!(
                        "sys/init answer lacks `root_token`: {}",
                        reply.body
                    ))
                })?
                .to_string(),
        };
        Ok(self.init.get_or_init(|| data))
    }

    /// Unseals with the first `threshold` initial shares and waits until the server is active. An auto-unseal server
    /// unseals itself; there this only waits until it is active.
    pub fn unseal(&self) -> Result<(), HarnessError> {
        if self.seal == SealKind::Transit {
            return self.wait_active();
        }
        let keys = self.keys();
        let needed = usize::try_from(self.threshold).unwrap_or(usize::MAX);
        self.unseal_with(&keys[..needed.min(keys.len())])
    }

    /// Submits `keys` (hex or base64) to `sys/unseal` in order until the server reports unsealed, then waits until
    /// `sys/health` says active (200). Fails if the keys run out while still sealed or a key is rejected.
    pub fn unseal_with<S: AsRef<str>>(&self, keys: &[S]) -> Result<(), HarnessError> {
        let mut last = String::new();
        for key in keys {
            let reply = self.submit_unseal_key(key.as_ref())?;
            if reply.json()?["sealed"] == Value::Bool(false) {
                return self.wait_active();
            }
            last = reply.body;
        }
        Err(self.error(format!(
            "still sealed after {} key(s); last sys/unseal answer: {last}",
            keys.len()
        )))
    }

    /// `PUT sys/unseal` with one share; an answer other than 200 is an error.
    pub(super) fn submit_unseal_key(&self, key: &str) -> Result<Reply, HarnessError> {
        let reply = self.call("PUT", "/v1/sys/unseal", None, Some(&json!({ "key": key })))?;
        if reply.status != 200 {
            return Err(self.error(format!(
                "PUT /v1/sys/unseal answered {}: {}",
                reply.status, reply.body
            )));
        }
        Ok(reply)
    }

    /// Seals the server with the root token (`PUT sys/seal`, which takes about a second).
    pub fn seal(&self) -> Result<(), HarnessError> {
        let reply = self.call("PUT", "/v1/sys/seal", Some(self.root_token()), None)?;
        if reply.status != 204 {
            return Err(self.error(format!(
                "PUT /v1/sys/seal answered {}: {}",
                reply.status, reply.body
            )));
        }
        Ok(())
    }

    /// Stops the process (SIGTERM, then SIGKILL after a grace period) and starts it again normally on the same data;
    /// the server comes back sealed (an auto-unseal server then unseals itself; [`Server::unseal`] waits for it). Also
    /// the way back from recovery mode.
    ///
    /// The new process starts once the old one has exited and its ports can be bound again, normally on the same
    /// ports; a port that another program took in between is replaced by a fresh one (see [`Server::address`]).
    pub fn restart(&self) -> Result<(), HarnessError> {
        self.restart_as(Mode::Normal)
    }

    /// Stops the process and starts it with `-recovery` on the same data, on the same terms as [`Server::restart`]
    /// (the address changes only when the port was taken in between). There only
    /// `sys/generate-recovery-token/*` and `sys/raw` are served; everything else, `sys/health` included, is a plain-text
    /// 404. Use [`Server::restart`] to return to normal operation.
    pub fn restart_in_recovery_mode(&self) -> Result<(), HarnessError> {
        self.restart_as(Mode::Recovery)
    }

    /// Stops the process without removing any data; [`Server::restart`] brings it back.
    pub fn stop(&self) -> Result<(), HarnessError> {
        let mut process = lock(&self.process);
        self.stop_locked(&mut process)
    }

    /// Kills the process at once (SIGKILL: no step-down, no clean raft shutdown), as a crash would; the data stays
    /// and [`Server::restart`] brings it back.
    pub fn kill(&self) -> Result<(), HarnessError> {
        let mut process = lock(&self.process);
        process.mode = Mode::Stopped;
        let Some(mut child) = process.child.take() else {
            return Ok(());
        };
        let _ = child.kill();
        child
            .wait()
            .map(|_| ())
            .map_err(|e| self.error(format!("cannot wait for the killed bao server: {e}")))
    }

    /// The raft node id.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Takes the shares and root token of the cluster this node joined, for [`Server::unseal`] and the like.
    pub(super) fn adopt(&self, init: InitData) {
        let _ = self.init.set(init);
    }

    pub(super) fn restart_as(&self, mode: Mode) -> Result<(), HarnessError> {
        let mut process = lock(&self.process);
        self.stop_locked(&mut process)?;
        self.start_locked(&mut process, mode)
    }

    pub(super) fn first_start(&self) -> Result<(), HarnessError> {
        let mut process = lock(&self.process);
        self.start_locked(&mut process, Mode::Normal)
    }

    /// Starts the process in `mode` on ports it can bind (see [`Server::secure_ports`]) and waits until it answers.
    /// When another program takes a port between the check and the server's own bind, the start is retried.
    pub(super) fn start_locked(
        &self,
        process: &mut Process,
        mode: Mode,
    ) -> Result<(), HarnessError> {
        let mut clashes = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let (api, cluster) = self.secure_ports()?;
            self.write_config(api, cluster)?;
            match self.spawn_and_wait(process, mode, api)? {
                Started::Ready => return Ok(()),
                Started::Exited { status, output } if output.contains("address already in use") => {
                    clashes.push(format!("ports {api}/{cluster}: {status}"));
                }
                Started::Exited { status, .. } => {
                    return Err(self.error(format!(
                        "bao server exited ({status}) while starting in {mode:?} mode on port {api}"
                    )))
                }
            }
        }
        Err(self.error(format!(
            "bao server could not bind its ports in {START_ATTEMPTS} attempts ({})",
            clashes.join("; ")
        )))
    }

    /// The API and cluster port for the next start. The first start reserves two. Later starts keep the server's
    /// ports, waiting up to [`PORT_FREE_TIMEOUT`] until they can be bound again; a port still taken then is in the
    /// hands of some other program and is replaced by a fresh one.
    pub(super) fn secure_ports(&self) -> Result<(u16, u16), HarnessError> {
        let current = lock(&self.ports)
            .as_ref()
            .map(|ports| (ports.api.port, ports.cluster.port));
        let Some((api, cluster)) = current else {
            let ports = Ports {
                api: reserve_port()?,
                cluster: reserve_port()?,
            };
            let pair = (ports.api.port, ports.cluster.port);
            *lock(&self.ports) = Some(ports);
            return Ok(pair);
        };
        let deadline = Instant::now() + PORT_FREE_TIMEOUT;
        let (api_free, cluster_free) = loop {
            let free = (port_is_free(api), port_is_free(cluster));
            if free == (true, true) || Instant::now() >= deadline {
                break free;
            }
            thread::sleep(POLL_INTERVAL);
        };
        let mut guard = lock(&self.ports);
        if let Some(ports) = guard.as_mut() {
            if !api_free {
                ports.api = reserve_port()?;
            }
            if !cluster_free {
                ports.cluster = reserve_port()?;
            }
        }
        Ok(guard
            .as_ref()
            .map_or((api, cluster), |ports| (ports.api.port, ports.cluster.port)))
    }

    pub(super) fn write_config(&self, api: u16, cluster: u16) -> Result<(), HarnessError> {
        let (scheme, tls_lines) = match &self.tls {
            Some(tls) => (
                "https",
                format!(
                    "  tls_cert_file = {}\n  tls_key_file = {}\n{}",
                    hcl_string(&tls.cert_path.to_string_lossy()),
                    hcl_string(&tls.key_path.to_string_lossy()),
                    match tls.client {
                        Some(_) => format!(
                            "  tls_require_and_verify_client_cert = true\n  tls_client_ca_file = {}\n",
                            hcl_string(&tls.ca_path.to_string_lossy())
                        ),
                        None => String::new(),
                    }
                ),
            ),
            None => ("http", "  tls_disable = true\n".to_string()),
        };
        let legacy_lines = if self.legacy_endpoints {
            "  disable_unauthed_rekey_endpoints = false\n  disable_unauthed_generate_root_endpoints = false\n"
        } else {
            ""
        };
        let seal_stanza = match &self.transit_provider {
            Some(provider) => format!(
                "seal \"transit\" {{\n  address = {address}\n  token = {token}\n  key_name = {key}\n  mount_path = {mount}\n}}\n",
                address = hcl_string(&provider.address()),
                token = hcl_string(provider.root_token()),
                key = hcl_string(TRANSIT_KEY_NAME),
                mount = hcl_string(TRANSIT_MOUNT_PATH),
            ),
            None => String::new(),
        };
        let join_lines: String = self
            .join
            .iter()
            .map(|leader| {
                format!(
                    "  retry_join {{\n    leader_api_addr = {}\n  }}\n",
                    hcl_string(leader)
                )
            })
            .collect();
        // Autopilot promotes a node that joined to a voter once it has been healthy for its
        // stabilization time (set on the cluster's first node); these make it look every
        // half second instead of every ten.
        let autopilot_lines = if self.clustered {
            "  autopilot_reconcile_interval = \"500ms\"\n  autopilot_update_interval = \"500ms\"\n"
        } else {
            ""
        };
        let config = format!(
            "storage \"raft\" {{\n  path = {data}\n  node_id = {node_id}\n  performance_multiplier = 1\n{autopilot_lines}{join_lines}}}\n\
             listener \"tcp\" {{\n  address = \"127.0.0.1:{api}\"\n  cluster_address = \"127.0.0.1:{cluster}\"\n\
             {tls_lines}{legacy_lines}}}\n\
             {seal_stanza}\
             api_addr = \"{scheme}://127.0.0.1:{api}\"\n\
             cluster_addr = \"https://127.0.0.1:{cluster}\"\n",
            data = hcl_string(&self.data_dir.to_string_lossy()),
            node_id = hcl_string(&self.node_id),
        );
        fs::write(&self.config_path, config).map_err(|e| {
            HarnessError::new(format!("cannot write {}: {e}", self.config_path.display()))
        })
    }

    /// Starts the process and waits until it is ours that answers on `port`, or until it exits.
    pub(super) fn spawn_and_wait(
        &self,
        process: &mut Process,
        mode: Mode,
        port: u16,
    ) -> Result<Started, HarnessError> {
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|e| {
                HarnessError::new(format!("cannot open {}: {e}", self.log_path.display()))
            })?;
        let log_start = log.seek(SeekFrom::End(0)).map_err(|e| {
            HarnessError::new(format!("cannot seek {}: {e}", self.log_path.display()))
        })?;
        let stderr = log
            .try_clone()
            .map_err(|e| HarnessError::new(format!("cannot duplicate log handle: {e}")))?;
        let mut command = Command::new(&self.bao);
        command
            .arg("server")
            .arg(format!("-config={}", self.config_path.display()));
        if mode == Mode::Recovery {
            command.arg("-recovery");
        }
        let _ = log.flush();
        let child = command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .map_err(|e| HarnessError::new(format!("cannot start {}: {e}", self.bao.display())))?;
        process.child = Some(child);
        process.mode = mode;

        // Readiness: our process printed its start line (so a port clash cannot make another server look like ours)
        // and the listener answers HTTP at all.
        let probe_path = match mode {
            Mode::Recovery => "/v1/sys/generate-recovery-token/attempt",
            _ => "/v1/sys/health",
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut started = false;
        let mut last_error = String::from("no probe made");
        loop {
            if let Some(status) = self.reap(process)? {
                let output = log_since(&self.log_path, log_start);
                return Ok(Started::Exited { status, output });
            }
            if !started {
                started = log_since(&self.log_path, log_start).contains(STARTED_MARKER);
            }
            if started {
                match self.send_to(&self.probe_agent, port, "GET", probe_path, None, None) {
                    Ok(_) => return Ok(Started::Ready),
                    Err(e) => last_error = e.to_string(),
                }
            }
            if Instant::now() >= deadline {
                return Err(self.error(format!(
                    "bao server ({mode:?} mode) on port {port} not ready after {READY_TIMEOUT:?} \
                     (start line seen: {started}; last probe of {probe_path}: {last_error})"
                )));
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Whether the child has exited; clears it if so.
    pub(super) fn reap(&self, process: &mut Process) -> Result<Option<ExitStatus>, HarnessError> {
        let Some(child) = process.child.as_mut() else {
            return Ok(None);
        };
        match child.try_wait() {
            Ok(Some(status)) => {
                process.child = None;
                process.mode = Mode::Stopped;
                Ok(Some(status))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(self.error(format!("cannot query bao server process: {e}"))),
        }
    }

    pub(super) fn stop_locked(&self, process: &mut Process) -> Result<(), HarnessError> {
        let Some(mut child) = process.child.take() else {
            process.mode = Mode::Stopped;
            return Ok(());
        };
        process.mode = Mode::Stopped;
        // A graceful stop lets raft close its files cleanly before the same data is opened again.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return Ok(()),
                Ok(None) if Instant::now() < deadline => thread::sleep(POLL_INTERVAL),
                Ok(None) => {
                    let _ = child.kill();
                    return child
                        .wait()
                        .map(|_| ())
                        .map_err(|e| self.error(format!("cannot wait for bao server: {e}")));
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(self.error(format!("cannot query bao server process: {e}")));
                }
            }
        }
    }

    /// Polls `sys/health` until it answers 200 (active); right after unsealing it answers 429 (standby) briefly. A
    /// cluster member is serving as a standby too (429, or 473 as a performance standby).
    pub(super) fn wait_active(&self) -> Result<(), HarnessError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let last = match self.send(&self.probe_agent, "GET", "/v1/sys/health", None, None) {
                Ok(reply) if reply.status == 200 => return Ok(()),
                Ok(reply) if self.clustered && matches!(reply.status, 429 | 473) => return Ok(()),
                Ok(reply) => format!("{}: {}", reply.status, reply.body),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(self.error(format!(
                    "server not active after {READY_TIMEOUT:?}; last sys/health: {last}"
                )));
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    pub(super) fn send(
        &self,
        agent: &ureq::Agent,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Reply, ureq::Error> {
        self.send_to(agent, self.port(), method, path, token, body)
    }

    pub(super) fn send_to(
        &self,
        agent: &ureq::Agent,
        port: u16,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Reply, ureq::Error> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{scheme}://127.0.0.1:{port}{path}"));
        if let Some(token) = token {
            request = request.header("X-Vault-Token", token);
        }
        let mut response = match body {
            Some(body) => agent.run(
                request
                    .header("Content-Type", "application/json")
                    .body(body.to_string())?,
            )?,
            None => agent.run(request.body(())?)?,
        };
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let bytes = response.body_mut().read_to_vec()?;
        Ok(Reply {
            status,
            content_type,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }

    pub(super) fn init_data_or_panic(&self) -> &InitData {
        self.init
            .get()
            .expect("server was started without initialisation; call Server::init first")
    }

    /// An error carrying the end of this server's log and, for an auto-unseal server, of its provider's.
    pub(super) fn error(&self, message: String) -> HarnessError {
        let mut error = HarnessError::with_log(message, &self.log_path);
        if let (Some(provider), Some(tail)) = (&self.transit_provider, error.log_tail.as_mut()) {
            tail.push_str(&format!(
                "\n--- last {LOG_TAIL_LINES} lines of the transit provider's log ---\n{}",
                log_tail(&provider.log_path, LOG_TAIL_LINES)
            ));
        }
        error
    }
}

pub(super) enum Started {
    Ready,
    /// The process ended before it was ready; `output` is what it logged in this run.
    Exited {
        status: ExitStatus,
        output: String,
    },
}

impl Drop for Server {
    fn drop(&mut self) {
        let process = self
            .process
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(mut child) = process.child.take() {
            // The data is thrown away, so there is nothing to shut down gracefully.
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Locks a mutex, tolerating poisoning: a panicking test must not prevent cleanup or later calls.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What was written to the log file after byte offset `start` (empty if it cannot be read).
pub(super) fn log_since(path: &Path, start: u64) -> String {
    let mut text = Vec::new();
    if let Ok(mut file) = File::open(path) {
        if file.seek(SeekFrom::Start(start)).is_ok() {
            let _ = file.read_to_end(&mut text);
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}
