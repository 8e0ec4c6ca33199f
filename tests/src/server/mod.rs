//! Real OpenBao servers for integration tests.
//!
//! Every [`Server`] is a private `bao server` process on loopback ports with single-node raft storage in a fresh
//! temporary directory. It is initialised and unsealed before the test sees it (unless asked otherwise) and is
//! killed, and its directory removed, when the value is dropped — also when the test panics. Its ports stay reserved
//! for it against other harness servers, also those of other test processes, as long as the value lives.
//!
//! A [`Cluster`] is three (or more) such servers sharing one raft storage: the first initialises and leads, the
//! others join it with `retry_join` and serve as standbys; nodes can be killed, restarted and stepped down.
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

mod builder;
mod cluster;
mod install;
mod ports;
mod process;
mod tls;

pub use builder::ServerBuilder;
pub use cluster::{Cluster, DEFAULT_NODES};
pub use install::find_bao;
pub use process::{InitData, Mode, Reply, SealKind, Server};

// What the files of this module share with each other (each takes `use super::*`).
use builder::*;
use ports::*;
use process::*;
use tls::*;

/// Number of key shares a server is initialised with unless the builder says otherwise.
pub const DEFAULT_SHARES: u32 = 5;
/// Number of shares needed to unseal unless the builder says otherwise.
pub const DEFAULT_THRESHOLD: u32 = 3;

/// How long a server may take to answer, to become active, or to stop.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause between two readiness probes.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(25);
/// Upper bound for one harness request; `sys/init` alone can take ten seconds on a slow machine.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Upper bound for one readiness probe.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Grace period between SIGTERM and SIGKILL when stopping a server for a restart.
pub(crate) const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// How often a start is retried when its ports were taken in the meantime.
pub(crate) const START_ATTEMPTS: usize = 5;
/// How long a restart waits for the previous process's ports to be bindable before it moves to fresh ones.
pub(crate) const PORT_FREE_TIMEOUT: Duration = Duration::from_secs(2);
/// How many kernel-picked ports are tried before giving up on finding one no other harness server holds.
pub(crate) const PORT_PICK_ATTEMPTS: usize = 100;
/// Directory (under the system temp dir, followed by the user id) of the lock files that reserve ports for harness
/// servers.
pub(crate) const PORT_LOCK_DIR: &str = "vault-key-ports";
/// How much of the server log an error carries.
pub(crate) const LOG_TAIL_LINES: usize = 30;
/// Upper bound for waiting on another process that installs the binary.
pub(crate) const INSTALL_LOCK_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// Line the server prints once its listeners are set up; proves the answering process is ours.
pub(crate) const STARTED_MARKER: &str = "server started!";
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
pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(log unreadable: {e})"),
    }
}
