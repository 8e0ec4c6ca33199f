//! Running the built `vault-key` against any address (a server, or a fault proxy in front of
//! one), scripted through standard input, with a journal of its own.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// One run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }

    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// The `nonce` of a `-format=json` run's object.
    #[allow(dead_code)] // each suite compiles this module; not all read a nonce
    pub fn nonce(&self) -> String {
        let object = self.json();
        object["nonce"]
            .as_str()
            .unwrap_or_else(|| panic!("no nonce in {object}"))
            .to_owned()
    }
}

/// The binary pointed at `address` with `token`.
pub struct Holder {
    address: String,
    token: String,
    home: PathBuf,
    pub journal: PathBuf,
}

impl Holder {
    pub fn new(address: String, token: &str, home: &Path) -> Self {
        std::fs::create_dir_all(home).unwrap();
        Self {
            address,
            token: token.to_owned(),
            journal: home.join("journal.jsonl"),
            home: home.to_path_buf(),
        }
    }

    /// Runs `vault-key ARGS` with `stdin` as its standard input (a pipe, not a terminal).
    pub fn run(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vault-key"))
            .args(args)
            .arg(format!("-journal={}", self.journal.display()))
            .env_clear()
            .env("BAO_ADDR", &self.address)
            .env("BAO_TOKEN", &self.token)
            .env("HOME", &self.home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run vault-key");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs and requires exit code 0.
    pub fn ok(&self, args: &[&str], stdin: &str) -> Run {
        let run = self.run(args, stdin);
        assert_eq!(run.code, 0, "vault-key {args:?}:\n{}", run.all());
        run
    }

    pub fn journal_text(&self) -> String {
        std::fs::read_to_string(&self.journal).unwrap_or_default()
    }
}

/// One share a line.
pub fn lines(shares: &[String]) -> String {
    shares.iter().map(|s| format!("{s}\n")).collect()
}

/// `share-1`.. `share-COUNT` of `dir`.
pub fn read_shares(dir: &Path, count: usize) -> Vec<String> {
    (1..=count)
        .map(|i| {
            std::fs::read_to_string(dir.join(format!("share-{i}")))
                .unwrap_or_else(|e| panic!("share-{i}: {e}"))
                .trim()
                .to_owned()
        })
        .collect()
}

/// Fails if any of `secrets` is in `text`, naming `place`.
pub fn assert_absent(text: &str, secrets: &[String], place: &str) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a share appears in {place}:\n{text}"
        );
    }
}
