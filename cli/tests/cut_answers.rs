//! The answer to the share that completes a rekey, cut on its way back by the suite's fault
//! proxy (the real OpenBao behind it acted on the share): the holder is told the truth, from a
//! progress read made before anything else is sent, and the share is never sent twice.
//!
//! - Cut right after the head: the new shares are gone, but with verification on they never
//!   took effect. The tool says so, names the cancel command, and the old shares still unseal.
//! - Cut in the body, after the new shares: they are recovered from what arrived, written to
//!   their files, verified, and they unseal.

mod common;

use common::{assert_absent, lines, read_shares, Holder};
use vault_key_tests::proxy::{Damage, FaultProxy};
use vault_key_tests::server::Server;
use vault_key_tests::support::start;

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
        .json()["nonce"]
        .as_str()
        .unwrap()
        .to_owned()
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
    let proxy = FaultProxy::start(&server.address()).expect("the fault proxy");
    let holder = Holder::new(
        proxy.address(),
        server.root_token(),
        &server.temp_dir().join("holder"),
    );
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
