//! The ceremony journal: one JSON object a line, appended, never a secret in it.
//!
//! It holds what a holder needs after a crash or a lost answer: which ceremony (address, kind,
//! nonce), how far it had got, what was sent when, and whether the answer came back. The next
//! run on the same ceremony reads the last line: a share sent without an answer is settled by
//! reading the progress before anything else is sent, and the holder is told in plain words
//! whether it counted.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// One line of the journal. Its fields are the only ones ever written: adding a secret would
/// need a new field here.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Record {
    /// When, UTC (RFC 3339).
    pub time: String,
    /// `rekey`, `rekey-verify`, `generate-root`, `unseal`, `rotate`.
    pub ceremony: String,
    /// The key or token kind (`unseal`, `recovery`, `root`, ...).
    pub kind: String,
    /// The server.
    pub address: String,
    /// The ceremony's nonce, once known.
    pub nonce: Option<String>,
    /// What happened: `started`, `share-sent`, `answer`, `outcome-unknown`, `settled`, `done`,
    /// `cancelled`, `new-shares-written`, `new-shares-shown`, `interrupted` (Ctrl-C; the
    /// other fields are those of the line before it), `resumed`, `failed`.
    pub event: String,
    /// The ceremony's phase after the event.
    pub phase: String,
    /// Shares counted.
    pub progress: u32,
    /// Shares needed.
    pub required: u32,
    /// A note in plain words (never a secret).
    pub note: Option<String>,
}

/// The journal file.
pub struct Journal {
    path: PathBuf,
}

/// The journal this process writes to and the last line it wrote, behind the one lock every
/// write takes: the Ctrl-C handler takes it too, so a line is never cut and none follows the
/// `interrupted` one.
static WRITTEN: Mutex<Option<(PathBuf, Record)>> = Mutex::new(None);

/// Writes the `interrupted` line after the last one this process wrote (the handler of
/// Ctrl-C), and returns where the ceremony stands, in plain words. The lock is kept: the
/// process exits right after.
pub fn interrupted() -> String {
    let guard = WRITTEN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let written = guard.clone();
    // The guard is dropped only by the exit: no line after this one, none cut.
    std::mem::forget(guard);
    let Some((path, last)) = written else {
        return "This run had recorded nothing in the journal yet; `vault-key rekey status` and \
                `vault-key generate-root status` show where a ceremony stands."
            .to_owned();
    };
    let mut record = last.clone();
    record.time = now_rfc3339();
    record.event = "interrupted".to_owned();
    let words = if last.event == "share-sent" {
        format!(
            "A share had been sent and its answer was not read yet: the next run on this \
             ceremony reads the progress before anything is sent and says whether it counted \
             ({} of {} counted before it).",
            last.progress, last.required
        )
    } else {
        format!(
            "No share was in flight: {} of {} counted. Run the same command again to go on.",
            last.progress, last.required
        )
    };
    record.note = Some(words.clone());
    let _ = write_line(&path, &record);
    format!("{words} (journal: {})", path.display())
}

fn write_line(path: &Path, record: &Record) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = open_append(path)?;
    let mut line = serde_json::to_string(record).map_err(std::io::Error::other)?;
    line.push('\n');
    file.write_all(line.as_bytes())
}

impl Journal {
    /// The journal at `path`, or the default one under the user's state directory.
    pub fn open(path: Option<&Path>) -> Self {
        let path = path.map(Path::to_path_buf).unwrap_or_else(default_path);
        Self { path }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` (its time set now). A journal that cannot be written is reported on
    /// standard error but does not stop the ceremony: the server's progress is the truth,
    /// the journal only helps to read it.
    pub fn append(&self, mut record: Record) {
        record.time = now_rfc3339();
        let mut written = WRITTEN
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match write_line(&self.path, &record) {
            Ok(()) => *written = Some((self.path.clone(), record)),
            Err(e) => eprintln!(
                "warning: cannot write the journal {}: {e}",
                self.path.display()
            ),
        }
    }

    /// The last record of this ceremony (by name, kind and address), if any, and the last one
    /// that is not an `interrupted` line (which describes the one before it).
    pub fn last(
        &self,
        ceremony: &str,
        kind: &str,
        address: &str,
    ) -> (Option<Record>, Option<Record>) {
        let Ok(file) = File::open(&self.path) else {
            return (None, None);
        };
        let mut last = None;
        let mut step = None;
        for record in BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .filter_map(|line| serde_json::from_str::<Record>(&line).ok())
            .filter(|r| r.ceremony == ceremony && r.kind == kind && r.address == address)
        {
            if record.event != "interrupted" {
                step = Some(record.clone());
            }
            last = Some(record);
        }
        (last, step)
    }

    /// Sets the start of a run on a ceremony against the journal: `now` is the ceremony as just
    /// read from the server (before anything is sent), as a record of it; `called` names it in
    /// the holder's words (`rekey`, `root token generation`). When the run before on it was
    /// interrupted by Ctrl-C, the holder is told it goes on, with the progress then and now (a
    /// `resumed` line); when its last share got no answer (a crash, a lost connection), whether
    /// the progress read shows it counted, not counted, or the ceremony gone (a `settled`
    /// line). `moved_on` gets that share's line and says, when the ceremony has since moved to
    /// a stage whose progress counts other shares (a rekey's verification), what became of it.
    /// Returns what to tell the holder, already journalled.
    pub fn settle(
        &self,
        now: Record,
        called: &str,
        moved_on: impl FnOnce(&Record) -> Option<String>,
    ) -> Vec<String> {
        let (last, step) = self.last(&now.ceremony, &now.kind, &now.address);
        let mut said = Vec::new();
        let mut tell = |event: &str, words: String| {
            let mut line = now.clone();
            line.event = event.to_owned();
            line.note = Some(words.clone());
            self.append(line);
            said.push(words);
        };
        if let Some(stopped) = last.filter(|l| l.event == "interrupted" && l.nonce == now.nonce) {
            tell(
                "resumed",
                format!(
                    "Going on with the {called} interrupted at {}: {} of {} counted then, {} of \
                     {} now.",
                    stopped.time, stopped.progress, stopped.required, now.progress, now.required
                ),
            );
        }
        let Some(sent) = step.filter(|s| s.event == "share-sent" || s.event == "outcome-unknown")
        else {
            return said;
        };
        let words = if sent.nonce != now.nonce {
            format!(
                "The share sent at {} to the {called} under nonce {} got no answer, and that \
                 {called} is no longer in progress (now: nonce {}): it was completed, cancelled \
                 or lost by the server.",
                sent.time,
                sent.nonce.as_deref().unwrap_or("?"),
                now.nonce.as_deref().unwrap_or("?")
            )
        } else if let Some(words) = moved_on(&sent) {
            words
        } else if now.progress > sent.progress {
            format!(
                "The share sent at {} got no answer, but it was counted: the progress went from \
                 {} to {}.",
                sent.time, sent.progress, now.progress
            )
        } else {
            format!(
                "The share sent at {} got no answer and was not counted (the progress is still \
                 {}): enter it again.",
                sent.time, sent.progress
            )
        };
        tell("settled", words);
        said
    }

    /// When no `called` ceremony is in progress any more (`now` names it: ceremony, kind,
    /// address): what the journal says if its last line for it is a share left without an
    /// answer, which may then have completed it. `lost` is what the completing answer carried.
    /// The words are journalled too.
    pub fn gone_after_unanswered(&self, now: &Record, called: &str, lost: &str) -> Option<String> {
        let (_, step) = self.last(&now.ceremony, &now.kind, &now.address);
        let sent = step.filter(|s| s.event == "share-sent" || s.event == "outcome-unknown")?;
        let words = format!(
            "The journal shows a share sent at {} to the {called} under nonce {} that got no \
             answer, and no {called} is in progress now: that share may have completed it, and \
             {lost} went with the lost answer; or another operator completed or cancelled it.",
            sent.time,
            sent.nonce.as_deref().unwrap_or("?"),
        );
        let mut line = sent;
        line.event = "settled".to_owned();
        line.note = Some(words.clone());
        self.append(line);
        Some(words)
    }
}

#[cfg(unix)]
fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // Not secret, but whose ceremonies ran when is nobody else's business.
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// `$XDG_STATE_HOME/vault-key/journal.jsonl`, else `~/.local/state/vault-key/journal.jsonl`
/// (`%LOCALAPPDATA%` on Windows), else the current directory.
fn default_path() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let base = var("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|home| PathBuf::from(home).join(".local").join("state")))
        .or_else(|| var("LOCALAPPDATA").map(PathBuf::from))
        .unwrap_or_default();
    base.join("vault-key").join("journal.jsonl")
}

/// Now as `2026-01-31T12:34:56Z`.
pub fn now_rfc3339() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(seconds)
}

/// Seconds since the epoch as RFC 3339 UTC (Howard Hinnant's days-to-civil).
fn rfc3339(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let rest = seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_767_225_599), "2025-12-31T23:59:59Z");
    }
}
