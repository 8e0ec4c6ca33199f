//! The built `vault-key` on a pseudo-terminal of its own against a real OpenBao, as a holder at a
//! terminal sees it: the prompts appear, a typed share is not echoed while the typed nonce is,
//! progress bars count the shares,
//! the nonce confirmation lets the shares in, Ctrl-C between two holders stops the tool with the
//! terminal's echo back on and the journal whole, and the next run resumes from where it stopped
//! and finishes the ceremony: a rekey whose new shares then unseal, a root-token generation whose
//! resumed run reads the progress before it sends a share and ends with a working token. Ctrl-C
//! while a share's answer is on its way (held back by the fault proxy after the server counted
//! it) leaves that share `share-sent` in the journal; the next run reads the progress before it
//! sends anything, says the share counted, and asks only for the shares still needed.
//!
//! Each run goes through `sh`, as from a person's shell: echo on first (the pseudo-terminal
//! starts with it off), then the tool, then its exit code and `stty -a`, which shows whether the
//! tool left the terminal's echo on.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::Command;

use rexpect::session::{spawn_command, PtySession};
use serde_json::Value;
use std::time::{Duration, Instant};

use vault_key_tests::proxy::{Damage, FaultProxy};
use vault_key_tests::server::Server;
use vault_key_tests::support::{assert_root_token, start};

/// How long one expected text may take to appear before the test fails as hung (not a timed
/// assertion: the wait ends as soon as the text is there).
const HANG: u64 = 120_000;

/// The journal and home of the holders' runs, and the address they talk to.
struct Holders<'a> {
    server: &'a Server,
    address: String,
    home: PathBuf,
    journal: PathBuf,
}

impl<'a> Holders<'a> {
    fn new(server: &'a Server) -> Self {
        Self::through(server, server.address())
    }

    /// Holders whose runs go to `address` (a proxy in front of `server`).
    fn through(server: &'a Server, address: String) -> Self {
        let home = server.temp_dir().join("terminal-home");
        std::fs::create_dir_all(&home).unwrap();
        Self {
            server,
            address,
            journal: home.join("journal.jsonl"),
            home,
        }
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TERM", "dumb")
            .env("BAO_ADDR", &self.address)
            .env("BAO_TOKEN", self.server.root_token())
            .env("HOME", &self.home);
        command
    }

    /// `vault-key ARGS` without a terminal (for the operator's start).
    fn plain(&self, args: &[&str]) -> Value {
        let output = self
            .command(env!("CARGO_BIN_EXE_vault-key"))
            .args(args)
            .arg(format!("-journal={}", self.journal.display()))
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// `vault-key ARGS` on a pseudo-terminal, from a shell.
    fn at_terminal(&self, args: &[&str]) -> Terminal {
        let mut command = self.command("sh");
        command
            .arg("-c")
            .arg(r#"trap : INT; stty echo; "$0" "$@"; echo "[exit $?]"; stty -a"#)
            .arg(env!("CARGO_BIN_EXE_vault-key"))
            .args(args)
            .arg(format!("-journal={}", self.journal.display()));
        Terminal {
            session: spawn_command(command, Some(HANG)).expect("a pseudo-terminal"),
            seen: String::new(),
        }
    }

    /// The operator starts a rekey to 3 new shares, threshold 2, without a terminal: its nonce.
    fn start_rekey(&self) -> String {
        let started = self.plain(&[
            "rekey",
            "start",
            "-key-shares=3",
            "-key-threshold=2",
            "-format=json",
        ]);
        started["nonce"].as_str().unwrap().to_owned()
    }

    fn journal(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.journal)
            .unwrap()
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("a journal line is not whole ({e}): {line:?}"))
            })
            .collect()
    }
}

/// One run on a pseudo-terminal, and everything it showed so far.
struct Terminal {
    session: PtySession,
    seen: String,
}

impl Terminal {
    /// Waits until `text` appears.
    fn expect(&mut self, text: &str) {
        match self.session.exp_string(text) {
            Ok(before) => {
                self.seen.push_str(&before);
                self.seen.push_str(text);
            }
            Err(e) => panic!(
                "{text:?} did not appear ({e}); the terminal showed:\n{}",
                self.seen
            ),
        }
    }

    /// Types `line` and Enter.
    fn type_line(&mut self, line: &str) {
        self.session.send_line(line).unwrap();
    }

    /// Waits for the end: the tool's exit code, and whether it left the terminal's echo on.
    fn end(mut self) -> (i32, bool, String) {
        self.expect("[exit ");
        let rest = self.session.exp_eof().unwrap();
        self.seen.push_str(&rest);
        let code = rest
            .split(']')
            .next()
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or_else(|| panic!("no exit code:\n{}", self.seen));
        let flags: Vec<&str> = rest.split_whitespace().collect();
        let echo_on = flags.contains(&"echo") && !flags.contains(&"-echo");
        (code, echo_on, self.seen)
    }
}

fn read_shares(dir: &Path, count: usize) -> Vec<String> {
    (1..=count)
        .map(|i| {
            std::fs::read_to_string(dir.join(format!("share-{i}")))
                .unwrap()
                .trim()
                .to_owned()
        })
        .collect()
}

fn assert_hidden(seen: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !seen.contains(secret.as_str()),
            "a share shows on the terminal:\n{seen}"
        );
    }
}

/// The first holder runs `args` at the terminal, confirms `nonce` by typing its first 8
/// characters, gives `share` at the first prompt (`PROMPT (1 of 3 needed, input hidden)`), and
/// presses Ctrl-C at the second holder's: the tool stops with exit 130 and the terminal's echo
/// back on, the typed nonce was echoed and no secret showed, and the journal's last line is
/// `interrupted` at 1 of 3 under `nonce`, of `ceremony`.
fn interrupt_at_the_second_holder(
    holders: &Holders,
    args: &[&str],
    (ceremony, nonce): (&str, &str),
    prompt: &str,
    share: &str,
    secrets: &[String],
) {
    let mut first = holders.at_terminal(args);
    first.expect(&format!("Nonce {nonce}: check it"));
    first.expect("Type the nonce (at least its first 8 characters) to confirm: ");
    first.type_line(&nonce[..8]);
    first.expect(&format!("{prompt} (1 of 3 needed, input hidden): "));
    first.type_line(share);
    first.expect("[#--] 1 of 3 shares counted");
    first.expect(&format!("{prompt} (2 of 3 needed, input hidden): "));
    first.session.send_control('c').unwrap();
    first.expect("Interrupted. No share was in flight: 1 of 3 counted.");
    let (code, echo_on, seen) = first.end();
    assert_eq!(code, 130, "Ctrl-C is exit code 130:\n{seen}");
    assert!(echo_on, "the terminal's echo is left off:\n{seen}");
    assert!(
        seen.contains(&format!("confirm: {}", &nonce[..8])),
        "the typed nonce is echoed (echo was on):\n{seen}"
    );
    assert_hidden(&seen, secrets);

    let journal = holders.journal();
    let last = journal.last().unwrap();
    assert_eq!(
        (&last["event"], &last["ceremony"]),
        (&Value::from("interrupted"), &Value::from(ceremony)),
        "{last}"
    );
    assert_eq!(
        (&last["nonce"], &last["progress"]),
        (&Value::from(nonce), &Value::from(1)),
        "{last}"
    );
}

/// The next run of `args` at the terminal says it goes on with the `called` interrupted at 1
/// of 3 (1 of 3 now), takes `shares` (the second and third holders') at `PROMPT (N of 3 needed,
/// input hidden)` until `done` shows, and ends with exit 0, echo on, no share shown. Returns
/// what the terminal showed.
fn resume_at_the_second_holder(
    holders: &Holders,
    args: &[&str],
    called: &str,
    prompt: &str,
    shares: &[String],
    done: &str,
) -> String {
    let mut second = holders.at_terminal(args);
    second.expect(&format!("Going on with the {called} interrupted at"));
    second.expect("1 of 3 counted then, 1 of 3 now.");
    second.expect(&format!("{prompt} (2 of 3 needed, input hidden): "));
    second.type_line(&shares[0]);
    second.expect("[##-] 2 of 3 shares counted");
    second.expect(&format!("{prompt} (3 of 3 needed, input hidden): "));
    second.type_line(&shares[1]);
    second.expect(done);
    let (code, echo_on, seen) = second.end();
    assert_eq!(code, 0, "{seen}");
    assert!(echo_on, "{seen}");
    assert_hidden(&seen, shares);
    seen
}

/// The journal went on from the `interrupted` line with a `resumed` one, and holds none of
/// `secrets`.
fn assert_resumed_in_the_journal(holders: &Holders, secrets: &[String]) {
    let journal = holders.journal();
    let events: Vec<&str> = journal.iter().filter_map(|r| r["event"].as_str()).collect();
    assert!(
        events.windows(2).any(|w| w == ["interrupted", "resumed"]),
        "{events:?}"
    );
    let text = std::fs::read_to_string(&holders.journal).unwrap();
    assert_hidden(&text, secrets);
}

#[test]
fn a_rekey_at_the_terminal_interrupted_between_two_holders_then_resumed_and_verified() {
    let server = start(Server::builder());
    let holders = Holders::new(&server);
    let old = server.keys();
    let nonce = holders.start_rekey();

    // The first holder confirms the nonce by typing it, gives one share; the second holder's
    // prompt is up when Ctrl-C comes.
    let prompt = "Current unseal share";
    interrupt_at_the_second_holder(
        &holders,
        &["rekey", "submit"],
        ("rekey", &nonce),
        prompt,
        &old[0],
        &old,
    );

    // The next run resumes from the journal and the server's progress, and completes.
    let out_dir = server.temp_dir().join("new-shares");
    let seen = resume_at_the_second_holder(
        &holders,
        &[
            "rekey",
            "submit",
            &format!("-nonce={nonce}"),
            &format!("-out-dir={}", out_dir.display()),
        ],
        "rekey",
        prompt,
        &old[1..3],
        "The new shares are NOT in effect yet",
    );
    let new = read_shares(&out_dir, 3);
    assert_hidden(&seen, &old);
    assert_hidden(&seen, &new);

    // The new holders verify at the terminal.
    let mut verify = holders.at_terminal(&["rekey", "verify", &format!("-nonce={nonce}")]);
    verify.expect("NEW unseal share (1 of 2 needed, input hidden): ");
    verify.type_line(&new[0]);
    verify.expect("[#-] 1 of 2 new shares verified");
    verify.expect("NEW unseal share (2 of 2 needed, input hidden): ");
    verify.type_line(&new[1]);
    verify.expect("Verified: the new shares are in effect");
    let (code, echo_on, seen) = verify.end();
    assert_eq!(code, 0, "{seen}");
    assert!(echo_on, "{seen}");
    assert_hidden(&seen, &new);

    assert_resumed_in_the_journal(&holders, &[old, new.clone()].concat());

    server.seal().expect("seal");
    server
        .unseal_with(&new[..2])
        .expect("the new shares unseal");
}

#[test]
fn a_generate_root_at_the_terminal_interrupted_between_two_holders_then_resumed_to_its_token() {
    let server = start(Server::builder());
    // The proxy only forwards: it shows what each run sent, in order.
    let proxy = FaultProxy::start(&server.address()).expect("the fault proxy");
    let holders = Holders::through(&server, proxy.address());
    let shares = server.keys();
    let otp_file = server.temp_dir().join("otp");
    let otp_flag = format!("-otp-file={}", otp_file.display());
    let started = holders.plain(&["generate-root", "start", &otp_flag, "-format=json"]);
    let nonce = started["nonce"].as_str().unwrap().to_owned();
    let otp = std::fs::read_to_string(&otp_file)
        .unwrap()
        .trim()
        .to_owned();

    // The first holder confirms the nonce and gives one share; Ctrl-C at the second one's prompt.
    interrupt_at_the_second_holder(
        &holders,
        &["generate-root", "submit"],
        ("generate-root", &nonce),
        "Share",
        &shares[0],
        &shares,
    );

    // The next run says where it stood, reads the progress before it sends anything, and
    // finishes with the token decoded by the OTP.
    let before = proxy.exchanges().len();
    let seen = resume_at_the_second_holder(
        &holders,
        &[
            "generate-root",
            "submit",
            &format!("-nonce={nonce}"),
            &otp_flag,
        ],
        "root token generation",
        "Share",
        &shares[1..3],
        "The new token (shown once):",
    );
    let after = seen
        .split("The new token (shown once):")
        .nth(1)
        .unwrap_or_default();
    let token = after.split_whitespace().next().unwrap_or_default();
    assert_root_token(&server, token);

    let sent: Vec<String> = proxy.exchanges()[before..]
        .iter()
        .map(|e| format!("{} {}", e.method, e.path))
        .collect();
    let first_sent = sent.iter().position(|e| !e.starts_with("GET ")).unwrap();
    assert!(
        sent[..first_sent].iter().any(|e| e.ends_with("/attempt")),
        "the progress is read before the first share is sent: {sent:?}"
    );
    let sends: Vec<&String> = sent.iter().filter(|e| !e.starts_with("GET ")).collect();
    assert!(
        sends.len() == 2
            && sends
                .iter()
                .all(|e| e.starts_with("PUT ") && e.ends_with("/update")),
        "each of the two shares sent once, nothing else: {sent:?}"
    );

    assert_resumed_in_the_journal(&holders, &[shares, vec![otp, token.to_owned()]].concat());
}

#[test]
fn a_rekey_interrupted_while_a_share_awaits_its_answer_is_settled_by_the_next_run() {
    let server = start(Server::builder());
    let proxy = FaultProxy::start(&server.address()).expect("the fault proxy");
    let holders = Holders::through(&server, proxy.address());
    let old = server.keys();
    let nonce = holders.start_rekey();

    // The server counts the first share; its answer is held back, and Ctrl-C comes while the
    // holder's run still waits for it.
    proxy.arm("PUT", "/update", 0, Damage::Hold(Duration::from_secs(10)));
    let mut first = holders.at_terminal(&["rekey", "submit"]);
    first.expect("Type the nonce (at least its first 8 characters) to confirm: ");
    first.type_line(&nonce[..8]);
    first.expect("Current unseal share (1 of 3 needed, input hidden): ");
    first.type_line(&old[0]);
    let waiting_since = Instant::now();
    while !proxy.all_fired() {
        assert!(
            waiting_since.elapsed() < Duration::from_millis(HANG),
            "the share never reached the server: {:?}",
            proxy.exchanges()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    first.session.send_control('c').unwrap();
    first.expect("Interrupted. A share had been sent and its answer was not read yet");
    let (code, echo_on, seen) = first.end();
    assert_eq!(code, 130, "{seen}");
    assert!(echo_on, "{seen}");
    assert_hidden(&seen, &old);
    let journal = holders.journal();
    let events: Vec<&str> = journal.iter().filter_map(|r| r["event"].as_str()).collect();
    assert_eq!(
        events[events.len() - 2..],
        ["share-sent", "interrupted"],
        "{events:?}"
    );

    // The next run reads the progress before it sends anything, says the share counted, and
    // asks only for the two shares still needed.
    let before = proxy.exchanges().len();
    let out_dir = server.temp_dir().join("new-shares");
    let mut second = holders.at_terminal(&[
        "rekey",
        "submit",
        &format!("-nonce={nonce}"),
        &format!("-out-dir={}", out_dir.display()),
    ]);
    second.expect("Going on with the rekey interrupted at");
    second.expect("counted then, 1 of 3 now.");
    second.expect("got no answer, but it was counted: the progress went from 0 to 1.");
    second.expect("Current unseal share (2 of 3 needed, input hidden): ");
    second.type_line(&old[1]);
    second.expect("Current unseal share (3 of 3 needed, input hidden): ");
    second.type_line(&old[2]);
    second.expect("The new shares are NOT in effect yet");
    let (code, echo_on, seen) = second.end();
    assert_eq!(code, 0, "{seen}");
    assert!(echo_on, "{seen}");
    assert_hidden(&seen, &old);
    assert_eq!(read_shares(&out_dir, 3).len(), 3);

    let sent: Vec<String> = proxy.exchanges()[before..]
        .iter()
        .map(|e| format!("{} {}", e.method, e.path))
        .collect();
    let updates: Vec<usize> = (0..sent.len())
        .filter(|&i| sent[i].starts_with("PUT ") && sent[i].ends_with("/update"))
        .collect();
    assert!(
        updates.len() == 2 && sent[..updates[0]].iter().any(|e| e.starts_with("GET ")),
        "the progress is read first, then each remaining share is sent once: {sent:?}"
    );
    assert_resumed_in_the_journal(&holders, &old);
}
