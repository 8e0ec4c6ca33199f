//! Driving the `bao` command-line client against a test server, for interoperability checks.
//!
//! [`Cli`] runs the same binary the harness runs as a server, with `BAO_ADDR`, `BAO_TOKEN` and (for a TLS server)
//! `BAO_CACERT` set, and nothing inherited that could point it elsewhere.

use std::fmt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::server::{find_bao, HarnessError, Server};

/// What a CLI run printed and how it ended.
#[derive(Debug, Clone)]
pub struct CliOutput {
    /// Whether the exit status was 0.
    pub success: bool,
    /// The exit code, when there is one.
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CliOutput {
    /// Standard output parsed as JSON (for `-format=json` runs).
    pub fn json(&self) -> Result<Value, CliError> {
        serde_json::from_str(&self.stdout)
            .map_err(|e| CliError(format!("CLI output is not JSON ({e}): {self}")))
    }
}

impl fmt::Display for CliOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Why the CLI could not be run or did not succeed.
#[derive(Clone)]
pub struct CliError(String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

impl From<HarnessError> for CliError {
    fn from(e: HarnessError) -> Self {
        CliError(e.to_string())
    }
}

/// The `bao` CLI pointed at one server.
#[derive(Debug, Clone)]
pub struct Cli {
    bao: PathBuf,
    address: String,
    token: Option<String>,
    ca_cert: Option<PathBuf>,
}

impl Cli {
    /// The CLI for `server`, authenticated with its initial root token.
    pub fn for_server(server: &Server) -> Result<Cli, CliError> {
        Ok(Cli {
            bao: find_bao()?,
            address: server.address(),
            token: server.init_data().map(|d| d.root_token.clone()),
            ca_cert: server.ca_path().map(PathBuf::from),
        })
    }

    /// The same CLI with another token, or none.
    pub fn with_token(mut self, token: Option<&str>) -> Cli {
        self.token = token.map(String::from);
        self
    }

    /// Runs `bao <args>` and returns what happened, whatever the exit status.
    pub fn run(&self, args: &[&str]) -> Result<CliOutput, CliError> {
        let mut command = Command::new(&self.bao);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", std::env::temp_dir())
            .env("BAO_ADDR", &self.address)
            .env("BAO_CLI_NO_COLOR", "true")
            .stdin(Stdio::null());
        if let Some(token) = &self.token {
            command.env("BAO_TOKEN", token);
        }
        if let Some(ca) = &self.ca_cert {
            command.env("BAO_CACERT", ca);
        }
        let output = command
            .output()
            .map_err(|e| CliError(format!("cannot run {}: {e}", self.bao.display())))?;
        Ok(CliOutput {
            success: output.status.success(),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    /// Runs `bao <args>` and demands exit status 0.
    pub fn run_ok(&self, args: &[&str]) -> Result<CliOutput, CliError> {
        let output = self.run(args)?;
        if output.success {
            Ok(output)
        } else {
            Err(CliError(format!(
                "`bao {}` failed: {output}",
                args.join(" ")
            )))
        }
    }

    /// Runs `bao <command_and_flags> -format=json <positional>` (flags must come before positional arguments) and
    /// parses the output.
    pub fn run_json(
        &self,
        command_and_flags: &[&str],
        positional: &[&str],
    ) -> Result<Value, CliError> {
        let mut args: Vec<&str> = command_and_flags.to_vec();
        args.push("-format=json");
        args.extend_from_slice(positional);
        self.run_ok(&args)?.json()
    }
}
