//! Loopback ports reserved across test processes.

use super::*;

/// A loopback port reserved for one server for as long as the server lives, also while it is down for a restart.
///
/// The reservation is an exclusive lock on `<temp>/vault-key-ports-<uid>/<port>.lock`, so it holds across test
/// processes: no other harness server, in this process or another, picks the port meanwhile. It cannot keep out
/// unrelated programs; a start therefore still checks that the port is free (see [`Server::secure_ports`]).
#[derive(Debug)]
pub(super) struct PortLease {
    pub(super) port: u16,
    pub(super) path: PathBuf,
    /// Holds the lock; closed (and so unlocked) after the file is removed.
    pub(super) _file: File,
}

impl PortLease {
    /// Reserves `port`; `None` when another harness server holds it.
    pub(super) fn acquire(port: u16) -> Result<Option<PortLease>, HarnessError> {
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
pub(super) fn port_lock_dir() -> PathBuf {
    let name = match fs::metadata("/proc/self") {
        Ok(proc_self) => format!("{PORT_LOCK_DIR}-{}", proc_self.uid()),
        Err(_) => PORT_LOCK_DIR.to_string(),
    };
    env::temp_dir().join(name)
}

/// A loopback port that is free now and reserved for the caller; ports other harness servers hold are skipped.
pub(super) fn reserve_port() -> Result<PortLease, HarnessError> {
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
pub(super) fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// The API and cluster ports of a server.
#[derive(Debug)]
pub(super) struct Ports {
    pub(super) api: PortLease,
    pub(super) cluster: PortLease,
}
