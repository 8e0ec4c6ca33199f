//! Throwaway PGP keys for the PGP rekey tests, and decryption of what the server encrypted to them.
//!
//! The three key pairs live in `tests/fixtures/pgp/`: `pubN.b64` is the binary public key in base64 (the form the
//! server accepts in `pgp_keys`), `secret-keys.asc` the matching secret keys. [`Keyring`] imports the secret keys into
//! a private temporary `GNUPGHOME` and decrypts with the `gpg` binary, so nothing touches the user's own keyring.

use std::env;
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;

/// Fingerprints of the three fixture keys, upper-case hex, in the order of [`public_keys`].
pub const FINGERPRINTS: [&str; 3] = [
    "24F0E2E4E7FEAC8F9C0A1E98886F6E3F5B3148A8",
    "424BE52F3E6D21911B2FF0EC27FA7488D7D92E4F",
    "27E665AB8618C4DD024151692A139934E54FB17B",
];

/// Why a PGP step failed.
#[derive(Clone)]
pub struct PgpError(String);

impl PgpError {
    /// What failed.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PgpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PgpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PgpError {}

/// The directory holding the PGP fixtures.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("pgp")
}

/// The three public keys, base64 of the binary key, ready for `pgp_keys`.
pub fn public_keys() -> Result<Vec<String>, PgpError> {
    (1..=3)
        .map(|n| {
            let path = fixtures_dir().join(format!("pub{n}.b64"));
            fs::read_to_string(&path)
                .map(|text| text.trim().to_string())
                .map_err(|e| PgpError(format!("cannot read {}: {e}", path.display())))
        })
        .collect()
}

/// A private GnuPG home with the three fixture secret keys imported; removed (and its agent stopped) on drop.
#[derive(Debug)]
pub struct Keyring {
    home: PathBuf,
}

impl Keyring {
    /// Creates the home directory and imports `secret-keys.asc` into it.
    pub fn new() -> Result<Keyring, PgpError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        // The agent's socket lives in the home directory, and socket paths are short: stay directly under /tmp.
        let home = PathBuf::from("/tmp").join(format!(
            "vk-gpg-{}-{}-{nanos:x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir(&home)
            .map_err(|e| PgpError(format!("cannot create {}: {e}", home.display())))?;
        let keyring = Keyring { home };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(&keyring.home, fs::Permissions::from_mode(0o700));
        }
        let secret = fixtures_dir().join("secret-keys.asc");
        let output = keyring
            .gpg()
            .args(["--import"])
            .arg(&secret)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| PgpError(format!("cannot run gpg (is GnuPG installed?): {e}")))?;
        if !output.status.success() {
            return Err(PgpError(format!(
                "gpg --import {} failed ({}): {}",
                secret.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        Ok(keyring)
    }

    /// The `GNUPGHOME` directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    fn gpg(&self) -> Command {
        let mut command = Command::new(env::var_os("GPG").unwrap_or_else(|| "gpg".into()));
        command.env("GNUPGHOME", &self.home).args([
            "--batch",
            "--quiet",
            "--no-tty",
            "--pinentry-mode",
            "loopback",
        ]);
        command
    }

    /// Decrypts base64 of a binary OpenPGP message (a `keys_base64` entry, a PGP `encoded_token`) and returns the
    /// plaintext as text.
    pub fn decrypt_base64(&self, message: &str) -> Result<String, PgpError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(message.trim())
            .map_err(|e| PgpError(format!("PGP message is not base64: {e}")))?;
        self.decrypt(&bytes)
    }

    /// Decrypts hex of a binary OpenPGP message (a `keys` entry of a PGP rekey) and returns the plaintext as text.
    pub fn decrypt_hex(&self, message: &str) -> Result<String, PgpError> {
        let text = message.trim();
        if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(PgpError("PGP message is not hex".into()));
        }
        let bytes: Vec<u8> = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap_or(0))
            .collect();
        self.decrypt(&bytes)
    }

    fn decrypt(&self, message: &[u8]) -> Result<String, PgpError> {
        let mut child = self
            .gpg()
            .arg("--decrypt")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| PgpError(format!("cannot run gpg: {e}")))?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let message = message.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&message));
        let output = child
            .wait_with_output()
            .map_err(|e| PgpError(format!("gpg --decrypt did not finish: {e}")))?;
        let _ = writer.join();
        if !output.status.success() {
            return Err(PgpError(format!(
                "gpg --decrypt failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        String::from_utf8(output.stdout)
            .map(|text| text.trim().to_string())
            .map_err(|_| PgpError("decrypted PGP message is not text".into()))
    }
}

impl Drop for Keyring {
    fn drop(&mut self) {
        // Stops the agent that gpg started for this home, then removes the home.
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", &self.home)
            .args(["--kill", "all"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = fs::remove_dir_all(&self.home);
    }
}
