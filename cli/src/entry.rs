//! What holders type: shares and OTPs hidden, the nonce confirmation in the clear.
//!
//! On a terminal a secret is read with echo off (rpassword), and a script's standard input is
//! read a line at a time; a secret is never an argument, where `ps` and shell history would
//! show it. What was read lives in zeroizing memory until it becomes a [`KeyShare`] or [`Otp`],
//! which zeroize themselves.

use std::io::{BufRead, IsTerminal, Write};

use vault_key_core::{KeyShare, Otp};
use zeroize::Zeroizing;

use crate::fail::Failure;
use crate::interrupt::{self, terminal};

/// The terminal the hidden prompts are shown on (what rpassword reads from).
#[cfg(unix)]
const TTY: &str = "/dev/tty";
#[cfg(windows)]
const TTY: &str = "CONOUT$";

/// Where holders' input comes from.
pub struct Entry {
    terminal: bool,
}

impl Entry {
    /// The terminal when standard input is one, else standard input's lines.
    pub fn new() -> Self {
        Self {
            terminal: std::io::stdin().is_terminal(),
        }
    }

    /// A secret, or `None` at the end of input or on an empty line (no more holders).
    fn secret(&mut self, prompt: &str) -> Result<Option<Zeroizing<String>>, Failure> {
        let line = if self.terminal {
            // Echo goes off before the prompt is shown, so that nothing typed after it shows.
            let read = terminal::without_echo(|| {
                let mut tty = std::fs::OpenOptions::new().write(true).open(TTY)?;
                tty.write_all(format!("{prompt}: ").as_bytes())?;
                tty.flush()?;
                rpassword::read_password()
            });
            match read {
                Ok(line) => Zeroizing::new(line),
                // The hidden prompt reads Ctrl-C itself (the terminal is in raw mode there).
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => interrupt::stop(),
                Err(e) => {
                    return Err(Failure::input(format!(
                        "cannot read from the terminal: {e}"
                    )))
                }
            }
        } else {
            eprintln!("{prompt}:");
            match self.line()? {
                Some(line) => line,
                None => return Ok(None),
            }
        };
        let trimmed = line.trim();
        Ok((!trimmed.is_empty()).then(|| Zeroizing::new(trimmed.to_owned())))
    }

    /// A share, or `None` when the holders are done.
    pub fn share(&mut self, prompt: &str) -> Result<Option<KeyShare>, Failure> {
        Ok(self
            .secret(prompt)?
            .map(|mut text| KeyShare::new(std::mem::take(&mut *text))))
    }

    /// An OTP, required.
    pub fn otp(&mut self) -> Result<Otp, Failure> {
        match self.secret("OTP (input hidden)")? {
            // The text moves into the OTP, which zeroizes itself; nothing is copied.
            Some(mut text) => Ok(Otp::new(std::mem::take(&mut *text))),
            None => Err(Failure::input("no OTP was entered")),
        }
    }

    /// Asks the holder to type the nonce shown; true when what was typed is the nonce or at
    /// least its first 8 characters.
    pub fn confirm_nonce(&mut self, nonce: &str) -> Result<bool, Failure> {
        eprint!("Type the nonce (at least its first 8 characters) to confirm: ");
        if !self.terminal {
            eprintln!();
        }
        let _ = std::io::stderr().flush();
        let typed = self.line()?.unwrap_or_default();
        let typed = typed.trim();
        Ok(typed.len() >= 8.min(nonce.len()) && nonce.starts_with(typed))
    }

    fn line(&mut self) -> Result<Option<Zeroizing<String>>, Failure> {
        let mut line = Zeroizing::new(String::new());
        let read = std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::input(format!("cannot read standard input: {e}")))?;
        Ok((read > 0).then_some(line))
    }
}
