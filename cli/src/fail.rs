//! How a command ends when it does not succeed, and the exit code scripts read from it.
//!
//! The codes are part of the interface (docs/CLI.md): a script must tell "refused, nothing
//! happened" from "the answer was lost, look before you retry" from "stopped before sending,
//! the ceremony is not the one you were told about".

use std::fmt;

use vault_key_core::{CeremonyError, Error};
use vault_key_ureq::Error as ClientError;

/// Success.
pub const OK: u8 = 0;
/// The server refused, could not be reached, or the input was wrong; nothing unknown.
pub const ERROR: u8 = 1;
/// `status`: the server is sealed.
pub const SEALED: u8 = 2;
/// A request's answer was lost and could not be settled: what happened is not known yet.
pub const OUTCOME_UNKNOWN: u8 = 3;
/// Stopped before a share was sent: the nonce was not confirmed, or the server's ceremony is
/// not the one confirmed (another nonce, other PGP keys).
pub const SAFETY_STOP: u8 = 4;
/// Bad flags or arguments.
pub const USAGE: u8 = 64;
/// Interrupted by Ctrl-C (128 + SIGINT, as shells report it); the journal says where it stood.
pub const INTERRUPTED: u8 = 130;

/// A command's failure: the exit code and what to tell the user. Never holds a secret: it is
/// built from the errors' `Display`, which shows none.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub code: u8,
    /// What happened, in plain words.
    pub message: String,
}

impl Failure {
    /// A failure with `code`.
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// Wrong input (a file that cannot be read, an empty share list).
    pub fn input(message: impl Into<String>) -> Self {
        Self::new(ERROR, message)
    }

    /// A safety stop: nothing was sent.
    pub fn stop(message: impl Into<String>) -> Self {
        Self::new(SAFETY_STOP, message)
    }

    /// The failure for a client error, with `context` (what was being done).
    pub fn client(context: &str, error: &ClientError) -> Self {
        let code = match error.core() {
            Some(Error::Ceremony(
                CeremonyError::ForeignNonce { .. } | CeremonyError::FingerprintMismatch { .. },
            )) => SAFETY_STOP,
            _ => ERROR,
        };
        let mut message = format!("{context}: {error}");
        if let Some(refusal) = error.refusal() {
            message.push_str(&format!(" ({refusal:?})"));
        }
        Self::new(code, message)
    }
}

/// Whether `error` says the ceremony resumed is not in progress on the server.
pub fn not_started(error: &ClientError) -> bool {
    matches!(
        error.core(),
        Some(Error::Ceremony(CeremonyError::NotStarted(_)))
    )
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
