//! What every command works with: the client (from the flags, then the environment the Vault
//! CLI reads), the journal, the holders' input and the output.

use std::io::IsTerminal;

use serde_json::{Map, Value};
use vault_key_core::ceremony::{Ceremony, Next, Progress};
use vault_key_core::{CeremonyError, Dialect, Error, Recovery};
use vault_key_ureq::Client;

use crate::args::{DialectArg, Format, Global};
use crate::entry::Entry;
use crate::fail::{self, Failure};
use crate::journal::{Journal, Record};

/// `[##---]`: `counted` of `required` (one mark a share, at most 20 marks).
fn bar(counted: u32, required: u32) -> String {
    let width = required.clamp(1, 20);
    let done =
        (u64::from(counted.min(required)) * u64::from(width) / u64::from(required.max(1))) as u32;
    format!(
        "[{}{}]",
        "#".repeat(done as usize),
        "-".repeat((width - done) as usize)
    )
}

/// The output: for people on standard output, or one JSON object at the end.
pub struct Out {
    json: bool,
    fields: Map<String, Value>,
}

impl Out {
    fn new(format: Format) -> Self {
        Self {
            json: format == Format::Json,
            fields: Map::new(),
        }
    }

    /// Whether the output is JSON.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// A line for people: on standard output, or on standard error when standard output is
    /// JSON (scripts read only the object there).
    pub fn say(&self, text: impl AsRef<str>) {
        if self.json {
            eprintln!("{}", text.as_ref());
        } else {
            println!("{}", text.as_ref());
        }
    }

    /// A field of the JSON object.
    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.fields.insert(key.to_owned(), value.into());
    }

    /// Prints the JSON object (JSON output only).
    pub fn finish(&mut self) {
        if self.json {
            let object = Value::Object(std::mem::take(&mut self.fields));
            println!(
                "{}",
                serde_json::to_string_pretty(&object).unwrap_or_default()
            );
        }
    }
}

/// A command's surroundings.
pub struct Context {
    /// The client for the first (or only) address.
    pub client: Client,
    /// Every address given (`unseal` uses them all), at least the client's.
    pub addresses: Vec<String>,
    /// The journal.
    pub journal: Journal,
    /// The holders' input.
    pub entry: Entry,
    /// The output.
    pub out: Out,
}

impl Context {
    /// Builds the client from `global` and the environment; the dialect is read from the
    /// server unless given. `detect` is false for commands that must work on a server that
    /// cannot answer sys/seal-status usefully (none so far, but decoding needs no dialect).
    pub fn new(global: &Global, detect: bool) -> Result<Self, Failure> {
        let mut builder = Client::builder()
            .env(|name| std::env::var(name).ok())
            .token_file_reader(|path| std::fs::read(path));
        if let Some(address) = global.address.first() {
            builder = builder.address(address.clone());
        }
        if let Some(ca) = &global.ca_cert {
            builder = builder.ca_certificate_file(ca.clone());
        }
        if let Some(dir) = &global.ca_path {
            builder = builder.ca_certificate_directory(dir.clone());
        }
        if let (Some(cert), Some(key)) = (&global.client_cert, &global.client_key) {
            builder = builder.client_certificate_files(cert.clone(), key.clone());
        }
        if let Some(name) = &global.tls_server_name {
            builder = builder.tls_server_name(name.clone());
        }
        if let Some(namespace) = &global.namespace {
            builder = builder.namespace(namespace.clone());
        }
        match global.dialect {
            DialectArg::Vault => builder = builder.dialect(Dialect::Vault),
            DialectArg::Openbao => builder = builder.dialect(Dialect::OpenBao),
            DialectArg::Auto => {}
        }
        let mut client = builder
            .build()
            .map_err(|e| Failure::new(fail::USAGE, format!("client settings: {e}")))?;
        for warning in client.warnings() {
            eprintln!("warning: {warning:?}");
        }
        if detect && global.dialect == DialectArg::Auto {
            client = client
                .with_detected_dialect()
                .map_err(|e| Failure::client("reading sys/seal-status", &e))?;
        }
        let addresses = if global.address.is_empty() {
            vec![client.target().address().to_string()]
        } else {
            global.address.clone()
        };
        Ok(Self {
            client,
            addresses,
            journal: Journal::open(global.journal.as_deref()),
            entry: Entry::new(),
            out: Out::new(global.format),
        })
    }

    /// Fails unless one address was given: only `unseal` works on several nodes.
    pub fn single_address(&self) -> Result<(), Failure> {
        if self.addresses.len() > 1 {
            return Err(Failure::new(
                fail::USAGE,
                "only `unseal` takes several -address flags; run ceremonies on the leader",
            ));
        }
        Ok(())
    }

    /// A journal record for this server, to be completed.
    pub fn record(&self, ceremony: &str, kind: &str, event: &str) -> Record {
        Record {
            time: String::new(),
            ceremony: ceremony.to_owned(),
            kind: kind.to_owned(),
            address: self.client.target().address().to_string(),
            nonce: None,
            event: event.to_owned(),
            phase: String::new(),
            progress: 0,
            required: 0,
            note: None,
        }
    }

    /// Shows the nonce and has the holder confirm it, unless `-nonce` was given (the ceremony
    /// then refuses any other before a share is sent).
    pub fn confirm_nonce(&mut self, given: Option<&str>, nonce: &str) -> Result<(), Failure> {
        if given.is_some() {
            self.out
                .say(format!("Nonce {nonce}: the one given with -nonce."));
            return Ok(());
        }
        self.out.say(format!(
            "Nonce {nonce}: check it against the one the operator announced."
        ));
        if self.entry.confirm_nonce(nonce)? {
            Ok(())
        } else {
            Err(Failure::stop(format!(
                "the nonce was not confirmed: no share was sent (the server's nonce is {nonce})"
            )))
        }
    }

    /// Drives `ceremony` (reporting each share counted), and when an answer is lost, drives
    /// once more: the ceremony then reads the progress before anything is resent, and the
    /// holder is told what it found. `unknown` says whether the ceremony is in its "outcome
    /// unknown" phase; `name`, `kind` name it in the journal.
    pub fn drive<K: Ceremony>(
        &mut self,
        ceremony: &mut K,
        unknown: impl Fn(&K) -> bool,
        nonce: impl Fn(&K) -> Option<String>,
        name: &str,
        kind: &str,
    ) -> Result<Next, Failure> {
        let before = ceremony.report();
        let json = self.out.is_json();
        // A bar for people at a terminal; the plain line for logs and scripts.
        let terminal = if json {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        };
        // Only what changed: a read that found the same progress says nothing new.
        let mut shown = (before.counted, before.verifying);
        let report = move |progress: Progress| {
            let now = (progress.counted, progress.verifying);
            if progress.required > 0 && !progress.finished && now != shown {
                shown = now;
                let what = if progress.verifying {
                    "new shares verified"
                } else {
                    "shares counted"
                };
                let counted = format!("{} of {} {what}", progress.counted, progress.required);
                let line = if terminal {
                    format!("  {} {counted}", bar(progress.counted, progress.required))
                } else {
                    format!("  {counted}")
                };
                if json {
                    eprintln!("{line}");
                } else {
                    println!("{line}");
                }
            }
        };
        match self.client.drive_reporting(ceremony, report) {
            Ok(next) => Ok(next),
            Err(error) if unknown(ceremony) => {
                let mut record = self.record(name, kind, "outcome-unknown");
                record.nonce = nonce(ceremony);
                record.progress = before.counted;
                record.required = before.required;
                record.note = Some(format!("the answer was lost: {error}"));
                self.journal.append(record);
                self.out.say(format!(
                    "The answer to what was just sent was lost ({error}). Reading the progress \
                     before anything else is sent..."
                ));
                match self.client.drive(ceremony) {
                    Ok(next) => {
                        let after = ceremony.report();
                        let words = if after.verifying && !before.verifying {
                            "Settled: that share completed the rekey, and the new shares were \
                             recovered from what arrived of the answer; their verification \
                             comes next."
                                .to_owned()
                        } else if after.finished {
                            "Settled: that share completed the ceremony, and what it produced \
                             was recovered from what arrived of the answer."
                                .to_owned()
                        } else {
                            format!(
                                "Settled: {} of {} counted now ({} before the lost answer).",
                                after.counted, after.required, before.counted
                            )
                        };
                        self.out.say(&words);
                        let mut record = self.record(name, kind, "settled");
                        record.nonce = nonce(ceremony);
                        record.progress = after.counted;
                        record.required = after.required;
                        record.note = Some(words);
                        self.journal.append(record);
                        Ok(next)
                    }
                    // The progress was read, and it tells what happened: the ceremony says it.
                    Err(again) if matches!(again.core(), Some(Error::Ceremony(_))) => {
                        let hint = match again.core() {
                            Some(Error::Ceremony(CeremonyError::AnswerLost {
                                recovery: Recovery::CancelAndRestart,
                                ..
                            })) => nonce(ceremony)
                                .map(|n| format!(" (`vault-key {name} cancel -nonce={n}`)"))
                                .unwrap_or_default(),
                            Some(Error::Ceremony(CeremonyError::AnswerLost {
                                recovery: Recovery::ReadBackup,
                                ..
                            })) => nonce(ceremony)
                                .map(|n| format!(" (`vault-key {name} backup read -nonce={n}`)"))
                                .unwrap_or_default(),
                            _ => String::new(),
                        };
                        let words = format!(
                            "the answer to what was just sent was lost ({error}); the progress \
                             read since shows: {again}{hint}"
                        );
                        let mut record = self.record(name, kind, "settled");
                        record.nonce = nonce(ceremony);
                        record.progress = ceremony.report().counted;
                        record.required = ceremony.report().required;
                        record.note = Some(words.clone());
                        self.journal.append(record);
                        Err(Failure::new(fail::ERROR, words))
                    }
                    Err(again) => Err(Failure::new(
                        fail::OUTCOME_UNKNOWN,
                        format!(
                            "the answer was lost ({error}) and the progress could not be read \
                             ({again}): whether the last share counted is not known. Run the \
                             same command again: it reads the progress first (journal: {})",
                            self.journal.path().display()
                        ),
                    )),
                }
            }
            Err(error) => Err(Failure::client("the ceremony stopped", &error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::bar;

    #[test]
    fn progress_bars() {
        assert_eq!(bar(0, 3), "[---]");
        assert_eq!(bar(2, 3), "[##-]");
        assert_eq!(bar(5, 5), "[#####]");
        assert_eq!(bar(20, 40), "[##########----------]");
        assert_eq!(bar(7, 3), "[###]");
    }
}
