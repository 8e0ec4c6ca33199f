//! The answer to the share that completes a rekey, cut on its way back by the suite's fault
//! proxy (the real OpenBao behind it acted on the share): the holder is told the truth, from a
//! progress read made before anything else is sent, and the share is never sent twice.
//!
//! - Cut right after the head: the new shares are gone, but with verification on they never
//!   took effect. The tool says so, names the cancel command, and the old shares still unseal.
//! - Cut in the body, after the new shares: they are recovered from what arrived, written to
//!   their files, verified, and they unseal.
//!
//! And a root-token generation whose run stopped after a share went out and before its answer
//! was read (the journal's last line for it is `share-sent`, as after a crash or a lost
//! connection): the next run reads the progress before it sends anything, tells the holder
//! whether that share counted, and the generation finishes with the token decoded by the OTP.
//! When that share completed the ceremony (a generation, a rekey without verification), the
//! next run finds none in progress and says, from the journal, that the share left without an
//! answer may have completed it and what went with the answer.

mod common;

use common::{assert_absent, lines, read_shares, Holder};
use serde_json::Value;
use vault_key_tests::proxy::{Damage, FaultProxy};
use vault_key_tests::server::Server;
use vault_key_tests::support::{assert_root_token, start};

/// A holder whose runs go through a fault proxy in front of `server` (forwarding until armed).
fn through_proxy(server: &Server) -> (FaultProxy, Holder) {
    let proxy = FaultProxy::start(&server.address()).expect("the fault proxy");
    let holder = Holder::new(
        proxy.address(),
        server.root_token(),
        &server.temp_dir().join("holder"),
    );
    (proxy, holder)
}

/// Starts a rekey to 3 shares, threshold 2, verification on; returns its nonce.
fn start_rekey(holder: &Holder) -> String {
    holder
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
        .nonce()
}

/// The proxy's exchanges from `from` on, as `METHOD path-end` (the last path segment).
fn exchanges(proxy: &FaultProxy, from: usize) -> Vec<String> {
    proxy.exchanges()[from..]
        .iter()
        .map(|e| {
            let end = e.path.rsplit('/').next().unwrap_or_default();
            format!("{} {end}", e.method)
        })
        .collect()
}

#[test]
fn a_cut_completing_answer_leaves_the_holder_told_the_truth() {
    let server = start(Server::builder());
    let (proxy, holder) = through_proxy(&server);
    let old = server.keys();
    let threshold = server.threshold() as usize;
    let quorum = lines(&old[..threshold]);

    // Cut after the head: the new shares are lost, the old ones stay in effect.
    let nonce = start_rekey(&holder);
    let seen = proxy.exchanges().len();
    proxy.arm("PUT", "/update", threshold - 1, Damage::CutAfterHead);
    let out_dir = server.temp_dir().join("lost");
    let cut = holder.run(
        &[
            "rekey",
            "submit",
            &format!("-nonce={nonce}"),
            &format!("-out-dir={}", out_dir.display()),
        ],
        &quorum,
    );
    assert!(proxy.all_fired());
    assert_eq!(
        cut.code,
        1,
        "nothing is unknown after the read:\n{}",
        cut.all()
    );
    for words in [
        "Reading the progress before anything else is sent",
        "the old shares are still in effect",
        &format!("`vault-key rekey cancel -nonce={nonce}`"),
    ] {
        assert!(
            cut.all().contains(words),
            "{words:?} is not said:\n{}",
            cut.all()
        );
    }
    assert!(!out_dir.exists(), "no share file without shares");
    // Each share sent once; after the cut answer a read, and nothing sent again.
    let sent = exchanges(&proxy, seen);
    let updates = sent.iter().filter(|e| *e == "PUT update").count();
    assert_eq!(updates, threshold, "{sent:?}");
    let last_update = sent.iter().rposition(|e| e == "PUT update").unwrap();
    assert_eq!(
        sent.get(last_update + 1).map(String::as_str),
        Some("GET init"),
        "{sent:?}"
    );
    let journal = holder.journal_text();
    assert!(
        journal.contains("\"outcome-unknown\"") && journal.contains("\"settled\""),
        "{journal}"
    );

    holder.ok(&["rekey", "cancel", &format!("-nonce={nonce}")], "");
    server.seal().expect("seal");
    server
        .unseal_with(&old[..threshold])
        .expect("the old shares are still in effect");

    // Cut in the body: the new shares are recovered, kept, verified, in effect.
    let nonce = start_rekey(&holder);
    proxy.arm(
        "PUT",
        "/update",
        threshold - 1,
        Damage::CutBody {
            numerator: 2,
            denominator: 3,
        },
    );
    let out_dir = server.temp_dir().join("kept");
    let nonce_flag = format!("-nonce={nonce}");
    let kept = holder.ok(
        &[
            "rekey",
            "submit",
            &nonce_flag,
            &format!("-out-dir={}", out_dir.display()),
        ],
        &quorum,
    );
    assert!(proxy.all_fired());
    for words in [
        "the new shares were recovered from what arrived of the answer",
        "NOT in effect yet",
    ] {
        assert!(
            kept.all().contains(words),
            "{words:?} is not said:\n{}",
            kept.all()
        );
    }
    let new = read_shares(&out_dir, 3);
    let verified = holder.ok(&["rekey", "verify", &nonce_flag], &lines(&new[..2]));
    assert!(verified.stdout.contains("Verified"), "{}", verified.all());
    server.seal().expect("seal");
    server
        .unseal_with(&new[..2])
        .expect("the recovered shares unseal");

    let journal = holder.journal_text();
    assert_absent(&journal, &old, "the journal");
    assert_absent(&journal, &new, "the journal");
    assert_absent(&cut.all(), &old, "the output");
    assert_absent(&kept.all(), &new, "the output");
}

/// The journal without its last line.
fn drop_last_line(holder: &Holder) -> Value {
    let text = holder.journal_text();
    let mut kept: Vec<&str> = text.lines().collect();
    let dropped: Value = serde_json::from_str(kept.pop().unwrap()).unwrap();
    std::fs::write(&holder.journal, kept.join("\n") + "\n").unwrap();
    dropped
}

/// The journal's last line.
fn last_line(holder: &Holder) -> Value {
    let text = holder.journal_text();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

/// The exchanges from `from` on (as [`exchanges`] gives them); fails unless the progress was
/// read before the first request that is not a read.
fn read_first(proxy: &FaultProxy, from: usize) -> Vec<String> {
    let sent = exchanges(proxy, from);
    let first_sent = sent
        .iter()
        .position(|e| !e.starts_with("GET "))
        .unwrap_or(sent.len());
    assert!(
        sent[..first_sent].contains(&"GET attempt".to_owned()),
        "the progress is read before anything is sent: {sent:?}"
    );
    sent
}

#[test]
fn a_generate_root_left_with_a_share_sent_and_no_answer_is_settled_then_finished() {
    let server = start(Server::builder());
    let (proxy, holder) = through_proxy(&server);
    let shares = server.keys();
    let otp_file = server.temp_dir().join("otp");
    let otp_flag = format!("-otp-file={}", otp_file.display());
    let nonce = holder
        .ok(&["generate-root", "start", &otp_flag, "-format=json"], "")
        .nonce();
    let nonce_flag = format!("-nonce={nonce}");

    // The first holder's share counts, but the run stops before the answer is journalled.
    holder.ok(
        &["generate-root", "submit", &nonce_flag],
        &lines(&shares[..1]),
    );
    let answer = drop_last_line(&holder);
    assert_eq!(answer["event"], "answer", "{answer}");
    let sent = last_line(&holder);
    assert_eq!(
        (&sent["event"], &sent["progress"]),
        (&Value::from("share-sent"), &Value::from(0)),
        "{sent}"
    );

    // The next run reads the progress first and says the share counted; one more share.
    let seen = proxy.exchanges().len();
    let counted = holder.ok(
        &["generate-root", "submit", &nonce_flag],
        &lines(&shares[1..2]),
    );
    let said = format!(
        "The share sent at {} got no answer, but it was counted: the progress went from 0 to 1.",
        sent["time"].as_str().unwrap()
    );
    assert!(counted.stdout.contains(&said), "{}", counted.all());
    let sent_now = read_first(&proxy, seen);
    assert_eq!(
        sent_now
            .iter()
            .filter(|e| !e.starts_with("GET "))
            .collect::<Vec<_>>(),
        ["PUT update"],
        "only the second holder's share is sent: {sent_now:?}"
    );
    let settled = holder.journal_text();
    assert!(settled.contains("\"settled\""), "{settled}");

    // A share that went out and never reached the server (the journal says sent, the
    // progress has not moved): the next run says so, and the last holder finishes.
    let mut lost = last_line(&holder);
    assert_eq!(lost["progress"], 2, "{lost}");
    lost["event"] = "share-sent".into();
    lost["time"] = "2000-01-01T00:00:00Z".into();
    let mut text = holder.journal_text();
    text.push_str(&format!("{lost}\n"));
    std::fs::write(&holder.journal, text).unwrap();
    let seen = proxy.exchanges().len();
    let done = holder.ok(
        &[
            "generate-root",
            "submit",
            &nonce_flag,
            &otp_flag,
            "-format=json",
        ],
        &lines(&shares[2..3]),
    );
    assert!(
        done.stderr.contains(
            "The share sent at 2000-01-01T00:00:00Z got no answer and was not counted (the \
             progress is still 2): enter it again."
        ),
        "{}",
        done.all()
    );
    read_first(&proxy, seen);
    let token = done.json()["token"].as_str().expect("the token").to_owned();
    assert_root_token(&server, &token);

    let otp = std::fs::read_to_string(&otp_file)
        .unwrap()
        .trim()
        .to_owned();
    let journal = holder.journal_text();
    assert_absent(&journal, &shares, "the journal");
    assert_absent(&journal, &[otp, token], "the journal");
    assert_absent(&counted.all(), &shares, "the output");
}

/// The journal cut back to its last `share-sent` line, as a run that died after sending the
/// completing share and before its answer was read leaves it.
fn die_after_last_share_sent(holder: &Holder) {
    let text = holder.journal_text();
    let kept: Vec<&str> = text.lines().collect();
    let last_sent = kept
        .iter()
        .rposition(|l| l.contains("\"share-sent\""))
        .expect("a share-sent line");
    std::fs::write(&holder.journal, kept[..=last_sent].join("\n") + "\n").unwrap();
}

#[test]
fn a_ceremony_gone_after_a_share_without_answer_is_told_from_the_journal() {
    let server = start(Server::builder());
    let (_proxy, holder) = through_proxy(&server);
    let shares = server.keys();

    // A generation completed by a run whose completing answer never reached the journal.
    let nonce = holder
        .ok(&["generate-root", "start", "-format=json"], "")
        .nonce();
    let nonce_flag = format!("-nonce={nonce}");
    holder.ok(
        &["generate-root", "submit", &nonce_flag],
        &lines(&shares[..3]),
    );
    die_after_last_share_sent(&holder);
    let gone = holder.run(&["generate-root", "submit", &nonce_flag], "");
    assert_eq!(gone.code, 1, "{}", gone.all());
    let said = format!(
        "The journal shows a share sent at {{}} to the root token generation under nonce \
         {nonce} that got no answer, and no root token generation is in progress now: that \
         share may have completed it, and the encoded token"
    );
    let (before, after) = said.split_once("{}").unwrap();
    assert!(
        gone.all().contains(before) && gone.all().contains(after),
        "{}",
        gone.all()
    );
    let journal = holder.journal_text();
    let settled: Value = serde_json::from_str(journal.lines().last().unwrap()).unwrap();
    assert_eq!(settled["event"], "settled", "{settled}");

    // A rekey without verification the same way: its new shares went with the answer.
    let nonce = holder
        .ok(
            &[
                "rekey",
                "start",
                "-key-shares=3",
                "-key-threshold=2",
                "-verify=false",
                "-format=json",
            ],
            "",
        )
        .nonce();
    let nonce_flag = format!("-nonce={nonce}");
    let out_dir = server.temp_dir().join("new-shares");
    let out_flag = format!("-out-dir={}", out_dir.display());
    holder.ok(
        &["rekey", "submit", &nonce_flag, &out_flag],
        &lines(&shares[..3]),
    );
    die_after_last_share_sent(&holder);
    let gone = holder.run(&["rekey", "submit", &nonce_flag], "");
    assert_eq!(gone.code, 1, "{}", gone.all());
    for words in [
        format!("to the rekey under nonce {nonce} that got no answer, and no rekey is in progress"),
        "the new shares (if the rekey kept a backup, `vault-key rekey backup read`".to_owned(),
    ] {
        assert!(gone.all().contains(&words), "{words:?} in:\n{}", gone.all());
    }
    let new = read_shares(&out_dir, 3);
    assert_absent(&holder.journal_text(), &shares, "the journal");
    assert_absent(&holder.journal_text(), &new, "the journal");
}
