//! One rekey, two tools: holders using `bao operator rekey` (the real OpenBao CLI, on the
//! classic sys/rekey paths the server keeps with its legacy endpoints on) and holders using
//! `vault-key -dialect=vault` (the same paths) feed the same ceremony, by its nonce, and its
//! verification too; the new shares then unseal. OpenBao keeps the rekey of its own paths
//! (sys/rotate/root, `bao operator rotate-keys`, what `vault-key` detects) apart: a holder who
//! joins without the flag is told no rekey runs there, and where to look.

mod common;

use common::{assert_absent, lines, read_shares, Holder};
use vault_key_tests::cli::Cli;
use vault_key_tests::server::Server;
use vault_key_tests::support::start;

#[test]
fn a_rekey_started_with_bao_finished_with_vault_key_verified_by_both() {
    let server = start(Server::builder().legacy_endpoints(true));
    let bao = Cli::for_server(&server).expect("the bao CLI");
    let holder = Holder::new(
        server.address(),
        server.root_token(),
        &server.temp_dir().join("holder"),
    );
    let old = server.keys();
    let threshold = server.threshold() as usize;

    // The operator starts with bao; the first holder gives a share with bao.
    let started = bao
        .run_json(
            &[
                "operator",
                "rekey",
                "-init",
                "-key-shares=3",
                "-key-threshold=2",
                "-verify",
            ],
            &[],
        )
        .expect("bao starts the rekey");
    let nonce = started["nonce"].as_str().expect("nonce").to_owned();
    let nonce_flag = format!("-nonce={nonce}");
    let first = bao
        .run_json(&["operator", "rekey", &nonce_flag], &[&old[0]])
        .expect("bao submits a share");
    assert_eq!(first["progress"], 1, "{first}");

    // On OpenBao's own paths there is no rekey: vault-key says so, and names the flag.
    let elsewhere = holder.run(&["rekey", "submit", &nonce_flag], &lines(&old[1..2]));
    assert_eq!(elsewhere.code, 1, "{}", elsewhere.all());
    assert!(
        elsewhere.stderr.contains("-dialect=vault"),
        "{}",
        elsewhere.all()
    );

    // vault-key on the classic paths sees bao's rekey and its progress, and completes it.
    let status = holder
        .ok(&["rekey", "status", "-dialect=vault", "-format=json"], "")
        .json();
    assert_eq!(
        (
            &status["nonce"],
            &status["progress"],
            &status["verification_required"]
        ),
        (&started["nonce"], &1.into(), &true.into()),
        "{status}"
    );
    let out_dir = server.temp_dir().join("new-shares");
    let completed = holder.ok(
        &[
            "rekey",
            "submit",
            "-dialect=vault",
            &nonce_flag,
            &format!("-out-dir={}", out_dir.display()),
            "-format=json",
        ],
        &lines(&old[1..threshold]),
    );
    let done = completed.json();
    assert_eq!(done["phase"], "Verifying", "{}", completed.all());
    let verification_nonce = done["verification_nonce"].as_str().unwrap().to_owned();
    let new = read_shares(&out_dir, 3);
    assert_absent(&completed.all(), &new, "the output");

    // One new holder verifies with bao, the next with vault-key.
    let verified = bao
        .run_json(
            &[
                "operator",
                "rekey",
                "-verify",
                &format!("-nonce={verification_nonce}"),
            ],
            &[&new[0]],
        )
        .expect("bao verifies a new share");
    assert_eq!(verified["progress"], 1, "{verified}");
    let last = holder.ok(
        &["rekey", "verify", "-dialect=vault", &nonce_flag],
        &lines(&new[1..2]),
    );
    assert!(
        last.stdout
            .contains("Verified: the new shares are in effect"),
        "{}",
        last.all()
    );
    let after = bao
        .run_json(&["operator", "rekey", "-status"], &[])
        .expect("bao reads the finished rekey");
    assert_eq!(after["started"], false, "{after}");

    server.seal().expect("seal");
    server
        .unseal_with(&new[..2])
        .expect("the shares both tools made unseal");
    assert_absent(&holder.journal_text(), &old, "the journal");
    assert_absent(&holder.journal_text(), &new, "the journal");
}
