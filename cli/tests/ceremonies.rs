//! The built `vault-key` binary against a real OpenBao (OpenBao's own paths, detected), scripted
//! through standard input: status, unseal, a rekey with verification whose new shares then
//! unseal, a root-token generation whose token works, cancels, JSON output, refusals that name
//! what is wrong, and no share in the output or the journal.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use vault_key_tests::server::Server;
use vault_key_tests::support::{assert_root_token, start};

/// One run of the binary.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }

    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// The binary pointed at one server, with its own journal, and what it printed kept as a
/// transcript.
struct Session<'a> {
    server: &'a Server,
    home: PathBuf,
    journal: PathBuf,
    transcript: String,
    /// Both streams into one, in the order written (for the transcript in docs/CLI.md).
    interleaved: bool,
    /// Whether runs go into the transcript.
    recording: bool,
}

impl<'a> Session<'a> {
    fn new(server: &'a Server) -> Self {
        let home = server.temp_dir().join("cli-home");
        std::fs::create_dir_all(&home).unwrap();
        Self {
            server,
            journal: home.join("journal.jsonl"),
            home,
            transcript: String::new(),
            interleaved: false,
            recording: true,
        }
    }

    /// Runs `vault-key ARGS` with `stdin` as its standard input (a pipe, not a terminal).
    fn run(&mut self, args: &[&str], stdin: &str) -> Run {
        let journal = format!("-journal={}", self.journal.display());
        let mut command = Command::new(env!("CARGO_BIN_EXE_vault-key"));
        command
            .args(args)
            .arg(&journal)
            .env_clear()
            .env("BAO_ADDR", self.server.address())
            .env("BAO_TOKEN", self.server.root_token())
            .env("HOME", &self.home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if self.interleaved {
            // One file for both streams keeps the order a person sees (prompts on standard
            // error between the lines on standard output).
            let path = self.home.join("output");
            let file = std::fs::File::create(&path).unwrap();
            command.stdout(file.try_clone().unwrap()).stderr(file);
        }
        let mut child = command.spawn().expect("run vault-key");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        let mut run = Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        if self.interleaved {
            run.stdout = std::fs::read_to_string(self.home.join("output")).unwrap();
        }
        if self.recording {
            self.transcript.push_str(&format!(
                "$ vault-key {}\n{}{}(exit {})\n\n",
                args.join(" "),
                run.stderr,
                run.stdout,
                run.code
            ));
        }
        run
    }

    /// Runs and requires exit code 0.
    fn ok(&mut self, args: &[&str], stdin: &str) -> Run {
        let run = self.run(args, stdin);
        assert_eq!(run.code, 0, "vault-key {args:?}:\n{}", run.all());
        run
    }

    fn journal_text(&self) -> String {
        std::fs::read_to_string(&self.journal).unwrap_or_default()
    }
}

fn lines(shares: &[String]) -> String {
    shares.iter().map(|s| format!("{s}\n")).collect()
}

fn threshold_shares(server: &Server) -> Vec<String> {
    server.keys()[..server.threshold() as usize].to_vec()
}

/// Fails if any of `secrets` is in `text`, naming `place`.
fn assert_absent(text: &str, secrets: &[String], place: &str) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a share appears in {place}:\n{text}"
        );
    }
}

fn read_shares(dir: &Path, count: usize) -> Vec<String> {
    (1..=count)
        .map(|i| {
            std::fs::read_to_string(dir.join(format!("share-{i}")))
                .unwrap_or_else(|e| panic!("share-{i}: {e}"))
                .trim()
                .to_owned()
        })
        .collect()
}

#[test]
fn status_for_people_and_as_json() {
    let server = start(Server::builder());
    let mut session = Session::new(&server);
    let table = session.ok(&["status"], "");
    assert!(table.stdout.contains("unsealed"), "{}", table.all());
    assert!(table.stdout.contains("OpenBao"), "{}", table.all());
    assert!(
        table.stdout.contains("Key         term 1"),
        "{}",
        table.all()
    );

    let json = session.ok(&["status", "-format=json"], "").json();
    assert_eq!(json["seal"]["sealed"], false, "{json}");
    assert_eq!(json["seal"]["t"], server.threshold(), "{json}");
    assert_eq!(json["dialect"], "OpenBao", "{json}");
    assert!(json["key"]["term"].as_u64().unwrap() >= 1, "{json}");
}

#[test]
fn unseal_from_standard_input_never_shows_or_journals_a_share() {
    let server = start(Server::builder().unseal(false));
    let mut session = Session::new(&server);
    let sealed = session.run(&["status"], "");
    assert_eq!(sealed.code, 2, "sealed is exit code 2:\n{}", sealed.all());
    assert!(sealed.stdout.contains("SEALED"), "{}", sealed.all());

    let shares = threshold_shares(&server);
    // One share short: still sealed (exit 2), and the progress is said.
    let partial = session.run(&["unseal"], &lines(&shares[..1]));
    assert_eq!(partial.code, 2, "{}", partial.all());
    assert!(partial.all().contains("1 of"), "{}", partial.all());

    let unsealed = session.ok(&["unseal"], &lines(&shares[1..]));
    assert!(unsealed.stdout.contains("unsealed"), "{}", unsealed.all());
    let json = session.ok(&["status", "-format=json"], "").json();
    assert_eq!(json["seal"]["sealed"], false);

    assert_absent(&session.transcript, &server.keys(), "the output");
    let journal = session.journal_text();
    assert!(journal.contains("\"share-sent\""), "{journal}");
    assert_absent(&journal, &server.keys(), "the journal");
}

#[test]
fn rekey_with_verification_to_new_shares_that_then_unseal() {
    let server = start(Server::builder());
    let mut session = Session::new(&server);
    let old = server.keys();
    let started = session
        .ok(
            &[
                "rekey",
                "start",
                "-key-shares=3",
                "-key-threshold=2",
                "-format=json",
            ],
            "",
        )
        .json();
    let nonce = started["nonce"].as_str().expect("a nonce").to_owned();
    assert_eq!(started["verification_required"], true, "{started}");
    let nonce_flag = format!("-nonce={nonce}");

    // Two holders at one terminal after another; the first stops after one share.
    session.interleaved = true;
    let first = session.ok(&["rekey", "submit", &nonce_flag], &lines(&old[..1]));
    assert!(first.stdout.contains("1 of"), "{}", first.all());
    let out_dir = server.temp_dir().join("new-shares");
    let out_flag = format!("-out-dir={}", out_dir.display());
    let rest = old[1..server.threshold() as usize].to_vec();
    let second = session.ok(&["rekey", "submit", &nonce_flag, &out_flag], &lines(&rest));
    assert!(
        second.stdout.contains("NOT in effect yet"),
        "{}",
        second.all()
    );
    let new = read_shares(&out_dir, 3);
    assert_absent(&second.all(), &new, "the output of the completing submit");
    let modes = std::fs::metadata(out_dir.join("share-1")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&modes.permissions()) & 0o777,
        0o600
    );

    // Before verification the old shares are still the ones in effect.
    session.interleaved = false;
    session.recording = false;
    let status = session.ok(&["rekey", "status", "-format=json"], "").json();
    session.interleaved = true;
    session.recording = true;
    assert_eq!(status["verification"]["progress"], 0, "{status}");

    let verified = session.ok(&["rekey", "verify", &nonce_flag], &lines(&new[..2]));
    assert!(verified.stdout.contains("Verified"), "{}", verified.all());

    // The new shares unseal; the old ones no longer do.
    server.seal().expect("seal");
    let with_old = session.run(&["unseal"], &lines(&old[..2]));
    assert_ne!(
        with_old.code,
        0,
        "the old shares still unseal:\n{}",
        with_old.all()
    );
    session.ok(&["unseal", "-reset"], "");
    let with_new = session.ok(&["unseal"], &lines(&new[..2]));
    assert!(with_new.stdout.contains("unsealed"), "{}", with_new.all());

    let mut secrets = old.clone();
    secrets.extend(new.iter().cloned());
    let journal = session.journal_text();
    assert!(
        journal.contains(&nonce) && journal.contains("new-shares-written"),
        "{journal}"
    );
    assert_absent(&journal, &secrets, "the journal");
    assert_absent(&session.transcript, &old, "the output");
    println!("{}--- journal ---\n{journal}", session.transcript);
    session_in_the_docs(&server, &session.transcript, &journal);
}

/// docs/CLI.md's session, between these lines, is the one this test ran.
const SESSION_BEGIN: &str = "<!-- the session below is written by cli/tests/ceremonies.rs -->\n";
const SESSION_END: &str = "<!-- end of the session -->\n";

/// Checks that docs/CLI.md shows the session this test just ran (the same commands, output and
/// journal, but for nonces and times), or writes it there when `VAULT_KEY_WRITE_DOCS=1`. The
/// temporary directory and the server's port read as fixed ones, so that a rewrite changes
/// only what changed.
fn session_in_the_docs(server: &Server, transcript: &str, journal: &str) {
    let fixed = |text: &str| {
        text.replace(&server.temp_dir().display().to_string(), "/tmp/ceremony")
            .replace(&server.address(), "http://127.0.0.1:8200")
    };
    let head: String = journal.lines().take(3).map(|l| format!("{l}\n")).collect();
    let section = format!(
        "```text\n{}```\n\nThe journal after it, first lines:\n\n```text\n{}```\n",
        fixed(transcript).trim_end_matches('\n').to_owned() + "\n",
        fixed(&head)
    );
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/CLI.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let (Some(begin), Some(end)) = (doc.find(SESSION_BEGIN), doc.find(SESSION_END)) else {
        panic!("docs/CLI.md lacks the session markers {SESSION_BEGIN:?} and {SESSION_END:?}");
    };
    let shown = &doc[begin + SESSION_BEGIN.len()..end];
    if std::env::var_os("VAULT_KEY_WRITE_DOCS").is_some_and(|v| v == "1") {
        let written = format!("{}{SESSION_BEGIN}{section}{}", &doc[..begin], &doc[end..]);
        std::fs::write(&path, written).unwrap();
        return;
    }
    assert_eq!(
        normalized(shown),
        normalized(&section),
        "docs/CLI.md shows another session than this test runs: run it again with \
         VAULT_KEY_WRITE_DOCS=1 to write the new one"
    );
}

/// `text` with every UUID (nonces) and RFC 3339 time replaced by a placeholder.
fn normalized(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let uuid = |at: usize| {
        let shape = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
        at + shape.len() <= chars.len()
            && shape.chars().zip(&chars[at..]).all(|(s, c)| match s {
                '-' => *c == '-',
                _ => c.is_ascii_hexdigit(),
            })
    };
    let time = |at: usize| {
        let shape = "dddd-dd-ddTdd:dd:ddZ";
        at + shape.len() <= chars.len()
            && shape.chars().zip(&chars[at..]).all(|(s, c)| match s {
                'd' => c.is_ascii_digit(),
                _ => *c == s,
            })
    };
    while i < chars.len() {
        if uuid(i) {
            out.push_str("<uuid>");
            i += 36;
        } else if time(i) {
            out.push_str("<time>");
            i += 20;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn root_token_generation_whose_token_works_and_decodes_again() {
    let server = start(Server::builder());
    let mut session = Session::new(&server);
    let otp_file = server.temp_dir().join("otp");
    let otp_flag = format!("-otp-file={}", otp_file.display());
    let started = session
        .ok(&["generate-root", "start", &otp_flag, "-format=json"], "")
        .json();
    assert!(
        started.get("otp").is_none(),
        "the OTP went to its file: {started}"
    );
    let nonce_flag = format!("-nonce={}", started["nonce"].as_str().unwrap());
    let done = session
        .ok(
            &[
                "generate-root",
                "submit",
                &nonce_flag,
                &otp_flag,
                "-format=json",
            ],
            &lines(&threshold_shares(&server)),
        )
        .json();
    let token = done["token"].as_str().expect("the token").to_owned();
    assert_root_token(&server, &token);

    // The encoded token decodes again with the OTP typed on standard input.
    let otp = std::fs::read_to_string(&otp_file).unwrap();
    let encoded = format!("-encoded-token={}", done["encoded_token"].as_str().unwrap());
    let decoded = session
        .ok(&["decode", &encoded, "-format=json"], &otp)
        .json();
    assert_eq!(decoded["token"], token.as_str());
    assert_absent(
        &session.journal_text(),
        &[token, otp.trim().to_owned()],
        "the journal",
    );
}

#[test]
fn cancels_after_the_nonce_is_typed() {
    let server = start(Server::builder());
    let mut session = Session::new(&server);
    let nonce = session.ok(&["rekey", "start", "-format=json"], "").json()["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    // The holder types the nonce's first 8 characters to confirm.
    let cancelled = session.ok(&["rekey", "cancel"], &format!("{}\n", &nonce[..8]));
    assert!(
        cancelled.stdout.contains("cancelled"),
        "{}",
        cancelled.all()
    );
    let status = session.ok(&["rekey", "status", "-format=json"], "").json();
    assert_eq!(status["started"], false, "{status}");

    session.ok(&["generate-root", "start", "-format=json"], "");
    let generation = session
        .ok(&["generate-root", "status", "-format=json"], "")
        .json();
    let nonce = generation["nonce"].as_str().unwrap().to_owned();
    session.ok(&["generate-root", "cancel", &format!("-nonce={nonce}")], "");
    let generation = session
        .ok(&["generate-root", "status", "-format=json"], "")
        .json();
    assert_eq!(generation["started"], false, "{generation}");
}

#[test]
fn refusals_name_what_is_wrong_and_send_no_share() {
    let server = start(Server::builder());
    let mut session = Session::new(&server);
    let shares = lines(&threshold_shares(&server));

    let no_keys = session.run(&["rekey", "start", "-backup"], "");
    assert_eq!(no_keys.code, 1, "{}", no_keys.all());
    assert!(
        no_keys.stderr.contains("-backup needs -pgp-keys"),
        "{}",
        no_keys.all()
    );

    let nothing = session.run(&["rekey", "submit"], &shares);
    assert_eq!(nothing.code, 1, "{}", nothing.all());
    assert!(nothing.stderr.contains("rekey"), "{}", nothing.all());

    let nonce = session.ok(&["rekey", "start", "-format=json"], "").json()["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    // A mistyped confirmation: safety stop (4), the server's nonce named, nothing counted.
    let mistyped = session.run(&["rekey", "submit"], &format!("0000000000\n{shares}"));
    assert_eq!(mistyped.code, 4, "{}", mistyped.all());
    assert!(
        mistyped.stderr.contains("not confirmed"),
        "{}",
        mistyped.all()
    );
    assert!(mistyped.stderr.contains(&nonce), "{}", mistyped.all());
    // Another nonce given: the same stop.
    let stranger = "00000000-0000-0000-0000-000000000000";
    let foreign = session.run(&["rekey", "submit", &format!("-nonce={stranger}")], &shares);
    assert_eq!(foreign.code, 4, "{}", foreign.all());
    assert!(foreign.stderr.contains(stranger), "{}", foreign.all());
    let status = session.ok(&["rekey", "status", "-format=json"], "").json();
    assert_eq!(status["progress"], 0, "no share was counted: {status}");

    // Usage errors are 64 and the JSON form of a failure names it.
    let usage = session.run(&["rekey", "start", "-key-shares=many"], "");
    assert_eq!(usage.code, 64, "{}", usage.all());
    let json = session.run(&["rekey", "start", "-backup", "-format=json"], "");
    assert_eq!(json.json()["exit_code"], 1);
    assert_absent(&session.transcript, &server.keys(), "the output");
    assert_absent(&session.journal_text(), &server.keys(), "the journal");
}

#[test]
fn the_rekey_backup_is_read_pinned_to_its_nonce_and_deleted_after_confirmation() {
    let server = start(Server::builder());
    let mut session = Session::new(&server);
    let keys: Vec<String> = (1..=3)
        .map(|n| {
            vault_key_tests::pgp::fixtures_dir()
                .join(format!("pub{n}.b64"))
                .display()
                .to_string()
        })
        .collect();
    let started = session
        .ok(
            &[
                "rekey",
                "start",
                "-key-shares=3",
                "-key-threshold=2",
                "-verify=false",
                "-backup",
                &format!("-pgp-keys={}", keys.join(",")),
                "-format=json",
            ],
            "",
        )
        .json();
    let nonce = started["nonce"].as_str().unwrap().to_owned();
    let fingerprints: Vec<String> = started["pgp_fingerprints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fingerprints.len(), 3, "{started}");
    let done = session
        .ok(
            &[
                "rekey",
                "submit",
                &format!("-nonce={nonce}"),
                "-format=json",
            ],
            &lines(&threshold_shares(&server)),
        )
        .json();
    assert_eq!(done["phase"], "Done", "{done}");

    // Read: the rekey's nonce, one encrypted share for each holder's key.
    let backup = session
        .ok(
            &[
                "rekey",
                "backup",
                "read",
                &format!("-nonce={nonce}"),
                "-format=json",
            ],
            "",
        )
        .json();
    assert_eq!(backup["nonce"], nonce.as_str(), "{backup}");
    let by_key = backup["keys"].as_object().unwrap();
    let mut held: Vec<String> = by_key.keys().map(|k| k.to_lowercase()).collect();
    held.sort();
    let mut given: Vec<String> = fingerprints.iter().map(|f| f.to_lowercase()).collect();
    given.sort();
    assert_eq!(held, given, "{backup}");
    assert!(by_key.values().all(|v| v.as_array().unwrap().len() == 1));
    let out_dir = server.temp_dir().join("backup");
    session.ok(
        &[
            "rekey",
            "backup",
            "read",
            &format!("-out-dir={}", out_dir.display()),
        ],
        "",
    );
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 3);

    // Another rekey's nonce: safety stop, for reading and deleting alike, and nothing deleted.
    let stranger = "-nonce=00000000-0000-0000-0000-000000000000";
    for command in ["read", "delete"] {
        let run = session.run(&["rekey", "backup", command, stranger], "");
        assert_eq!(run.code, 4, "{}", run.all());
        assert!(run.stderr.contains(&nonce), "{}", run.all());
    }
    // A mistyped confirmation deletes nothing; the typed nonce deletes it.
    let mistyped = session.run(&["rekey", "backup", "delete"], "not-the-nonce\n");
    assert_eq!(mistyped.code, 4, "{}", mistyped.all());
    session.ok(&["rekey", "backup", "read"], "");
    let deleted = session.ok(
        &["rekey", "backup", "delete"],
        &format!("{}\n", &nonce[..8]),
    );
    assert!(deleted.stdout.contains("deleted"), "{}", deleted.all());
    let gone = session.run(&["rekey", "backup", "read"], "");
    assert_eq!(gone.code, 1, "{}", gone.all());
    assert!(gone.stderr.contains("no backup"), "{}", gone.all());
    let journal = session.journal_text();
    assert!(journal.contains("\"backup-deleted\""), "{journal}");
}
