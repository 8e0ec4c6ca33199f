//! The demo binary, run end to end: on its own throwaway server (the README's command), against an existing server
//! in each of its scopes when told to change it, unchanged when not told, and failing clearly. Its output must show every step and no unmasked secret.

use std::process::{Command, Output};

use vault_key_tests::server::Server;
use vault_key_tests::support::{start, texts, wrong_shares};

/// Variables that would point the demo at another server.
const SERVER_VARS: [&str; 6] = [
    "BAO_ADDR",
    "VAULT_ADDR",
    "BAO_TOKEN",
    "VAULT_TOKEN",
    "VAULT_KEY_DEMO_SHARES",
    "VAULT_CACERT",
];

fn demo() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_demo"));
    for name in SERVER_VARS {
        command.env_remove(name);
    }
    command.env_remove("BAO_CACERT");
    command
}

fn run(command: &mut Command) -> (Output, String, String) {
    let output = command.output().expect("run the demo binary");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

/// Every maximal run of characters that can make up a token or a share.
fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .filter(|w| !w.is_empty())
        .collect()
}

/// Tokens of the `s.` or `hvs.` + 24 characters shape printed in full.
fn full_tokens(text: &str) -> Vec<&str> {
    words(text)
        .into_iter()
        .filter(|w| {
            (w.starts_with("s.") && w.len() >= 26) || (w.starts_with("hvs.") && w.len() >= 28)
        })
        .collect()
}

/// The 66-character hex shares printed in full.
fn full_shares(text: &str) -> Vec<String> {
    words(text)
        .into_iter()
        .filter(|w| w.len() == 66 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(String::from)
        .collect()
}

/// Position of `needle` in `haystack`, failing the test if it is missing.
fn position(haystack: &str, needle: &str) -> usize {
    haystack
        .find(needle)
        .unwrap_or_else(|| panic!("the demo output lacks {needle:?}:\n{haystack}"))
}

/// The key-status line ends in the number of encryptions, with the noun agreeing with it.
fn assert_encryptions_phrase(stdout: &str) {
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("term ") && l.contains(", installed "))
        .unwrap_or_else(|| panic!("the demo output lacks the key-status line:\n{stdout}"));
    let phrase = line.rsplit(", ").next().unwrap_or_default();
    let (count, noun) = phrase
        .split_once(' ')
        .unwrap_or_else(|| panic!("no count in {line:?}"));
    let expected = if count == "1" {
        "encryption"
    } else {
        "encryptions"
    };
    assert_eq!(noun, expected, "{line:?}");
}

#[test]
fn demo_walks_the_lifecycle_on_its_own_server() {
    let (output, stdout, stderr) = run(&mut demo());
    assert!(
        output.status.success(),
        "demo failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let steps = [
        "[1/5] Server status",
        "product:  OpenBao 2.7.2",
        "dialect:  OpenBao",
        "[2/5] Key status",
        "This demo will now change the server",
        "[3/5] Rotation of the encryption key",
        "term 1 -> 2",
        "[4/5] Rekey with verification",
        "rekey: 1/3 shares",
        "rekey: 3/3 shares",
        "New unseal shares (shown once",
        "verify: 3/3 new shares",
        "verified: the new shares are in effect",
        "[5/5] Root-token generation",
        "root token: 3/3 shares",
        "decoded locally with the OTP",
        "sys/decode-token agrees",
        "the new token works",
        "revoked again",
        "[Summary]",
    ];
    let mut last = 0;
    for expected in steps {
        let at = position(&stdout, expected);
        assert!(at >= last, "{expected:?} is out of order:\n{stdout}");
        last = at;
    }
    assert_encryptions_phrase(&stdout);
    assert!(
        full_tokens(&stdout).is_empty(),
        "unmasked tokens: {:?}\n{stdout}",
        full_tokens(&stdout)
    );
    assert!(
        stdout.contains("root token s."),
        "the masked root token is shown"
    );
    let shares = full_shares(&stdout);
    assert_eq!(shares.len(), 5, "only the five new shares, once:\n{stdout}");
    let mut unique = shares.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 5, "each new share once");
}

#[test]
fn demo_on_an_existing_server_in_each_scope() {
    let server = start(Server::builder());
    let root = server.root_token().to_string();
    let old = server.keys();
    // Told to change this server: the demo did not start it.
    let external = |command: &mut Command| {
        command
            .env("BAO_ADDR", server.address())
            .env("BAO_TOKEN", &root)
            .arg("--yes-change-this-server");
    };
    let term = || {
        server
            .call("GET", "/v1/sys/key-status", Some(&root), None)
            .expect("key status")
            .json()
            .expect("JSON")["data"]["term"]
            .as_u64()
            .expect("term")
    };

    // --read-only changes nothing.
    let mut command = demo();
    external(&mut command);
    let (output, stdout, stderr) = run(command.arg("--read-only"));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    position(&stdout, "[2/2] Key status");
    assert_encryptions_phrase(&stdout);
    assert!(!stdout.contains("will now change"), "{stdout}");
    assert_eq!(term(), 1, "nothing rotated");

    // Without shares: rotation only, announced first.
    let mut command = demo();
    external(&mut command);
    let (output, stdout, stderr) = run(&mut command);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(position(&stdout, "will now change") < position(&stdout, "[3/3] Rotation"));
    position(&stdout, "term 1 -> 2");
    position(&stdout, "rekey and the root-token generation are skipped");
    assert_eq!(term(), 2);

    // Shares that are not the server's: the rekey fails at the threshold and is cancelled again.
    let wrong = texts(&wrong_shares(3)).join(",");
    let mut command = demo();
    external(&mut command);
    let (output, stdout, stderr) = run(command.env("VAULT_KEY_DEMO_SHARES", &wrong));
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("error: the rekey failed") && stderr.contains("the rekey was cancelled"),
        "{stderr}"
    );
    assert!(!stdout.contains("New unseal shares"), "{stdout}");
    let progress = server
        .call("GET", "/v1/sys/rotate/root/init", Some(&root), None)
        .expect("rekey progress")
        .json()
        .expect("JSON");
    assert_eq!(progress["data"]["started"], false, "{progress}");
    assert_eq!(term(), 3);

    // With shares: everything, and the printed new shares are the server's shares afterwards.
    let mut command = demo();
    external(&mut command);
    let (output, stdout, stderr) = run(command.env("VAULT_KEY_DEMO_SHARES", old[..3].join(",")));
    assert!(
        output.status.success(),
        "demo failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(position(&stdout, "will now change") < position(&stdout, "[3/5] Rotation"));
    position(&stdout, "term 3 -> 4");
    position(&stdout, "revoked again");
    let all = format!("{stdout}{stderr}");
    assert!(!all.contains(&root), "the root token is printed:\n{all}");
    for share in &old {
        assert!(!all.contains(share.as_str()), "an old share is printed");
    }
    let new = full_shares(&stdout);
    assert_eq!(new.len(), 5, "{stdout}");
    server.seal().expect("seal");
    server
        .unseal_with(&new[..3])
        .expect("the shares the demo printed unseal the server");
}

#[test]
fn demo_leaves_a_server_it_did_not_start_unchanged_unless_told() {
    let server = start(Server::builder());
    let root = server.root_token().to_string();
    let old = server.keys();
    let read = |path: &str| {
        server
            .call("GET", path, Some(&root), None)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .json()
            .expect("JSON")["data"]
            .clone()
    };
    let term_before = read("/v1/sys/key-status")["term"].clone();
    assert_eq!(term_before, 1, "a fresh server");

    // With the shares given, and with none: no rotation, no rekey, the reason said, exit 3.
    for shares in [old[..3].join(","), String::new()] {
        let mut command = demo();
        command
            .env("BAO_ADDR", server.address())
            .env("BAO_TOKEN", &root)
            .env("VAULT_KEY_DEMO_SHARES", &shares);
        let (output, stdout, stderr) = run(&mut command);
        assert_eq!(
            output.status.code(),
            Some(3),
            "not confirmed is exit code 3:\n{stdout}\n{stderr}"
        );
        // The reads ran and what would change was said; then it stopped.
        position(&stdout, "[2/");
        position(&stdout, "will now change");
        assert!(!stdout.contains("Rotation"), "{stdout}");
        assert!(
            stderr.contains("was not changed")
                && stderr.contains("no terminal to ask on")
                && stderr.contains("--yes-change-this-server"),
            "{stderr}"
        );
        assert_eq!(
            read("/v1/sys/key-status")["term"],
            term_before,
            "the key was not rotated"
        );
        let rekey = read("/v1/sys/rotate/root/init");
        assert_eq!(rekey["started"], false, "no rekey was started: {rekey}");
        assert!(full_shares(&stdout).is_empty(), "{stdout}");
    }
    // The shares still in effect are the old ones.
    server.seal().expect("seal");
    server
        .unseal_with(&old[..3])
        .expect("the old shares still unseal");
}

/// On a terminal the demo asks: a wrong answer changes nothing (exit 3), the address typed back lets it go on.
#[cfg(unix)]
#[test]
fn demo_asks_on_a_terminal_and_goes_on_only_when_the_address_is_typed() {
    use rexpect::process::WaitStatus;

    let server = start(Server::builder());
    let root = server.root_token().to_string();
    let term = || {
        server
            .call("GET", "/v1/sys/key-status", Some(&root), None)
            .expect("key status")
            .json()
            .expect("JSON")["data"]["term"]
            .as_u64()
            .expect("term")
    };
    let at_terminal = |answer: &str| {
        let mut command = demo();
        command
            .env("BAO_ADDR", server.address())
            .env("BAO_TOKEN", &root);
        // Not a timed assertion: how long a hung demo may take before the test fails.
        let mut session =
            rexpect::session::spawn_command(command, Some(120_000)).expect("a pseudo-terminal");
        let mut seen = session
            .exp_string("will now change")
            .expect("the announcement");
        seen += &session
            .exp_string(&format!(
                "Type its address ({}) to let the demo change it: ",
                server.address()
            ))
            .expect("the question");
        session.send_line(answer).expect("type");
        seen += &session.exp_eof().expect("the end");
        let code = match session.process().wait().expect("exit status") {
            WaitStatus::Exited(_, code) => code,
            other => panic!("{other:?}:\n{seen}"),
        };
        (code, seen)
    };

    let (code, seen) = at_terminal("http://127.0.0.1:1");
    assert_eq!(code, 3, "{seen}");
    assert!(
        seen.contains("the address typed does not match") && seen.contains("was not changed"),
        "{seen}"
    );
    assert!(!seen.contains("Rotation"), "{seen}");
    assert_eq!(term(), 1, "nothing rotated");

    let (code, seen) = at_terminal(&server.address());
    assert_eq!(code, 0, "{seen}");
    position(&seen, "[3/3] Rotation");
    assert_eq!(term(), 2, "rotated once confirmed");
}

#[test]
fn demo_fails_clearly() {
    let (output, stdout, _) = run(demo().arg("--help"));
    assert!(output.status.success());
    for topic in [
        "VAULT_ADDR",
        "VAULT_TOKEN",
        "VAULT_KEY_DEMO_SHARES",
        "--read-only",
        "--yes-change-this-server",
    ] {
        assert!(stdout.contains(topic), "--help mentions {topic}");
    }

    let (output, _, stderr) = run(demo().arg("--bogus"));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown option"), "{stderr}");

    // An address where nothing listens: a port that was free a moment ago.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!(
            "http://127.0.0.1:{}",
            listener.local_addr().expect("addr").port()
        )
    };
    let (output, _, stderr) = run(demo().env("BAO_ADDR", &closed));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error:") && stderr.contains("VAULT_TOKEN or BAO_TOKEN"),
        "{stderr}"
    );

    let (output, _, stderr) = run(demo()
        .env("BAO_ADDR", &closed)
        .env("BAO_TOKEN", "s.not-a-real-token-at-all"));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: reading sys/seal-status failed"),
        "{stderr}"
    );
    assert!(!stderr.contains("s.not-a-real-token-at-all"), "{stderr}");
}
