//! Rekeying the recovery shares for real, on an auto-unseal server (OpenBao's `transit` seal, backed by a second
//! OpenBao), with both transports and both dialects: a rekey driven by the core's ceremony, whose new shares then
//! generate a root token while the old ones no longer combine; a rekey with verification through the hvac-style calls,
//! where the old shares stay in effect until the verification (cancelled once for a new nonce) completes; and a rekey
//! with PGP keys and a backup, whose shares decrypt with the fixture keys, the backup read from the recovery backup
//! path and deleted.
//!
//! On such a server root-token generation takes the recovery shares, which is how a test proves which shares are in
//! effect. The Vault dialect runs on a server with the classic unauthenticated endpoints enabled, the OpenBao dialect
//! on a server with OpenBao's default listener.

use std::path::Path;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use vault_key_core::ceremony::{RekeyCeremony, RekeyPhase, Verification};
use vault_key_core::ops::generate_root::StartRootTokenGeneration;
use vault_key_core::ops::rekey::{KeyKind, RekeyUpdate, StartRekey};
use vault_key_core::ops::rekey_verify::VerifyUpdate;
use vault_key_core::{Dialect, InvalidInput, KeyShare, Refusal};
use vault_key_tests::clients::{Client, ClientFactory, Transport};
use vault_key_tests::pgp::{self, Keyring};
use vault_key_tests::server::{SealKind, Server};
use vault_key_tests::support::{
    assert_root_token, cancel_reset_rekey, completed, decode_locally, refusal, server_error,
    shares, start, verified,
};

/// A nonce no ceremony has.
const STRANGER_NONCE: &str = "00000000-0000-0000-0000-000000000000";
/// How the server refuses recovery shares that do not combine into the recovery key.
const RECOVERY_MISMATCH: &str =
    "recovery key verification failed: recovery key does not match submitted values";

fn server_for(dialect: Dialect) -> Server {
    start(
        Server::builder()
            .transit_seal(true)
            .legacy_endpoints(dialect == Dialect::Vault),
    )
}

/// The recovery configuration the seal status reports: `(n, t)`.
fn recovery_config(client: &Client) -> (u32, u32) {
    let status = client.read_seal_status().expect("seal status");
    assert!(
        !status.sealed && status.recovery_seal,
        "an unsealed server with recovery shares: {status:?}"
    );
    (status.n, status.t)
}

/// Generates a root token with `keys` (the threshold of them is used) and checks that it works.
fn root_token_from(server: &Server, client: &Client, keys: &[KeyShare], step: &str) {
    let started = client
        .start_root_token_generation(StartRootTokenGeneration::new())
        .unwrap_or_else(|e| panic!("{step}: start a root-token generation: {e}"));
    let otp = started.otp.clone().expect("server OTP");
    let otp_length = started.otp_length;
    let nonce = started.nonce.clone().expect("nonce");
    let required = started.required as usize;
    assert!(
        required >= 1 && required <= keys.len(),
        "{step}: {started:?}"
    );
    let mut last = started;
    for key in &keys[..required] {
        last = client
            .generate_root(key.clone(), &nonce)
            .unwrap_or_else(|e| panic!("{step}: recovery share refused: {e}"));
    }
    assert!(last.complete, "{step}: {last:?}");
    let encoded = last.encoded_token.clone().expect("encoded token");
    let token = decode_locally(&encoded, &otp, otp_length);
    assert_root_token(server, token.expose());
}

/// Starts a root-token generation and submits `keys` up to the threshold: the last one is refused as not combining.
/// The generation is then cancelled.
fn root_token_refused(client: &Client, keys: &[KeyShare], step: &str) {
    let started = client
        .start_root_token_generation(StartRootTokenGeneration::new())
        .unwrap_or_else(|e| panic!("{step}: start a root-token generation: {e}"));
    let nonce = started.nonce.clone().expect("nonce");
    let required = started.required as usize;
    assert!(
        required >= 1 && required <= keys.len(),
        "{step}: {started:?}"
    );
    for key in &keys[..required - 1] {
        let status = client
            .generate_root(key.clone(), &nonce)
            .unwrap_or_else(|e| panic!("{step}: a share below the threshold: {e}"));
        assert!(!status.complete, "{step}: {status:?}");
    }
    let error = server_error(
        client.generate_root(keys[required - 1].clone(), &nonce),
        step,
    );
    // OpenBao's authenticated path answers 500, the classic one 400, with the same message.
    let status = match client.dialect() {
        Dialect::OpenBao => 500,
        _ => 400,
    };
    assert_eq!(
        (error.status, &error.refusal, error.errors.as_slice()),
        (
            status,
            &Refusal::SharesDidNotCombine,
            [format!(
                "root generation aborted: unable to authenticate: {RECOVERY_MISMATCH}"
            )]
            .as_slice()
        ),
        "{step}"
    );
    let after = client
        .read_root_generation_progress()
        .expect("progress after the refusal");
    assert!(after.started && after.progress == 0, "{step}: {after:?}");
    client
        .cancel_root_generation()
        .expect("cancel the generation");
}

/// The core's rekey ceremony: the recovery shares replaced by 3 new ones, threshold 2, with the refusals on the way.
/// Returns the new shares, proven in effect.
fn rekey_with_ceremony(server: &Server, client: &Client, initial: &[KeyShare]) -> Vec<KeyShare> {
    let idle = client
        .read_rekey_progress(client.key_kind())
        .expect("read while idle");
    assert!(!idle.started && idle.nonce.is_none(), "{idle:?}");
    assert_eq!((idle.n, idle.t, idle.progress), (0, 0, 0), "{idle:?}");
    assert_eq!(idle.required, 3, "the current recovery threshold");
    assert_eq!(
        refusal(
            client.rekey(initial[0].clone(), STRANGER_NONCE, client.key_kind()),
            "update with nothing in progress"
        ),
        Refusal::NotInProgress
    );
    assert_eq!(
        refusal(
            client.read_rekey_verify_progress(client.key_kind()),
            "verification progress with nothing in progress"
        ),
        Refusal::NotInProgress
    );
    assert_eq!(
        refusal(
            client.read_backup_keys(client.key_kind()),
            "backup when there is none"
        ),
        Refusal::NoBackup
    );

    let mut ceremony = RekeyCeremony::start(
        StartRekey::new(3, 2)
            .kind(KeyKind::Recovery)
            .require_verification(false),
    );
    assert_eq!(ceremony.key_kind(), KeyKind::Recovery);
    assert_eq!(
        client
            .drive(&mut ceremony)
            .map(|_| ceremony.phase())
            .expect("start"),
        RekeyPhase::CollectingShares
    );
    let nonce = ceremony.nonce().expect("a pinned nonce").to_string();
    assert_eq!((ceremony.progress(), ceremony.required()), (0, 3));
    let status = client
        .read_rekey_progress(client.key_kind())
        .expect("read while started");
    assert!(status.started, "{status:?}");
    assert_eq!(
        (status.nonce.as_deref(), status.n, status.t, status.required),
        (Some(nonce.as_str()), 3, 2, 3)
    );
    assert_eq!(
        refusal(
            client.start_rekey(StartRekey::new(3, 2).kind(KeyKind::Recovery)),
            "start while one is in progress"
        ),
        Refusal::AlreadyInProgress
    );

    ceremony
        .submit_share(initial[0].clone())
        .expect("queue a share");
    assert_eq!(
        client
            .drive(&mut ceremony)
            .map(|_| ceremony.phase())
            .expect("first share"),
        RekeyPhase::CollectingShares
    );
    assert_eq!(ceremony.progress(), 1);
    assert_eq!(
        refusal(
            client.rekey(initial[0].clone(), &nonce, client.key_kind()),
            "the same share twice"
        ),
        Refusal::AlreadyProvided
    );
    assert_eq!(
        refusal(
            client.rekey(initial[1].clone(), STRANGER_NONCE, client.key_kind()),
            "update with a wrong nonce"
        ),
        Refusal::WrongNonce {
            expected: Some(nonce.clone())
        }
    );
    ceremony
        .submit_shares(initial[1..3].to_vec())
        .expect("queue the remaining shares");
    assert_eq!(
        client
            .drive(&mut ceremony)
            .map(|_| ceremony.phase())
            .expect("remaining shares"),
        RekeyPhase::Done
    );
    assert_eq!(ceremony.verification(), Verification::NotRequired);
    let result = ceremony.into_result().expect("the new recovery shares");
    assert_eq!(result.nonce.as_deref(), Some(nonce.as_str()));
    assert_eq!((result.keys.len(), result.keys_base64.len()), (3, 3));
    assert!(result.keys.iter().all(|k| k.len() == 66), "hex shares");
    assert!(!result.verification_required && !result.backup && result.pgp_fingerprints.is_empty());
    let done = client
        .read_rekey_progress(client.key_kind())
        .expect("read after completion");
    assert!(!done.started, "{done:?}");
    assert_eq!(done.required, 2, "the new recovery threshold");
    assert_eq!(recovery_config(client), (3, 2));

    root_token_refused(
        client,
        initial,
        "root token from the replaced recovery shares",
    );
    root_token_from(
        server,
        client,
        &result.keys,
        "root token from the new recovery shares",
    );
    // The base64 form of the same shares works as well.
    root_token_from(
        server,
        client,
        &result.keys_base64[1..],
        "root token from the new recovery shares, base64",
    );
    result.keys
}

/// A recovery rekey fed the replaced shares: refused at the threshold as not combining, and left open until cancelled.
fn rekey_refuses(client: &Client, replaced: &[KeyShare]) {
    let started = client
        .start_rekey(
            StartRekey::new(3, 2)
                .kind(KeyKind::Recovery)
                .require_verification(false),
        )
        .expect("start a recovery rekey for the replaced shares");
    let nonce = started.nonce.clone().expect("nonce");
    let required = started.required as usize;
    assert_eq!(required, 2, "{started:?}");
    client
        .rekey(replaced[0].clone(), &nonce, client.key_kind())
        .expect("a replaced share below the threshold is accepted");
    let error = server_error(
        client.rekey(replaced[1].clone(), &nonce, client.key_kind()),
        "replaced shares reach the threshold",
    );
    assert_eq!(
        (error.status, &error.refusal, error.errors.as_slice()),
        (
            400,
            &Refusal::SharesDidNotCombine,
            [RECOVERY_MISMATCH.to_string()].as_slice()
        )
    );
    cancel_reset_rekey(client, &nonce);
}

/// The hvac-style calls: a rekey of the 3 `current` shares (threshold 2) to 5 shares, threshold 3, with verification;
/// the verification is cancelled (new nonce) and then completed. Until then the old shares stay in effect and the new
/// ones do not combine. Returns the new shares, proven in effect.
fn rekey_with_verification(
    server: &Server,
    client: &Client,
    current: &[KeyShare],
) -> Vec<KeyShare> {
    let started = client
        .start_rekey(
            StartRekey::new(5, 3)
                .kind(KeyKind::Recovery)
                .require_verification(true),
        )
        .expect("start a recovery rekey with verification");
    assert!(
        started.started && started.verification_required,
        "{started:?}"
    );
    assert_eq!((started.n, started.t, started.required), (5, 3, 2));
    let nonce = started.nonce.clone().expect("nonce");
    let result = completed(
        client
            .rekey_multi(current[..2].to_vec(), &nonce, client.key_kind())
            .expect("submit the current recovery shares"),
        "recovery rekey with verification",
    );
    assert!(result.verification_required, "{result:?}");
    assert_eq!(result.keys.len(), 5);
    let first_nonce = result
        .verification_nonce
        .clone()
        .expect("a verification nonce comes with the new shares");
    let new = result.keys.clone();

    assert_eq!(
        refusal(
            client.rekey(current[0].clone(), &nonce, client.key_kind()),
            "update while verification is pending"
        ),
        Refusal::VerificationPending {
            verification_nonce: Some(first_nonce.clone())
        }
    );
    let pending = client
        .read_rekey_progress(client.key_kind())
        .expect("read while verifying");
    assert_eq!(
        pending.verification_nonce.as_deref(),
        Some(first_nonce.as_str()),
        "{pending:?}"
    );
    let progress = client
        .read_rekey_verify_progress(client.key_kind())
        .expect("read verification progress");
    assert!(progress.started, "{progress:?}");
    assert_eq!(progress.nonce.as_deref(), Some(first_nonce.as_str()));
    assert_eq!((progress.n, progress.t, progress.progress), (5, 3, 0));

    // Not verified yet: the old recovery shares are in effect, the new ones are not.
    assert_eq!(recovery_config(client), (3, 2));
    root_token_refused(client, &new, "root token from unverified recovery shares");
    root_token_from(
        server,
        client,
        current,
        "root token from the old recovery shares before verification",
    );

    match client
        .rekey_verify(new[0].clone(), &first_nonce, client.key_kind())
        .expect("verify one share")
    {
        VerifyUpdate::Progress(status) => assert_eq!(status.progress, 1, "{status:?}"),
        VerifyUpdate::Complete { .. } => panic!("one share completed verification"),
    }
    let restarted = client
        .cancel_rekey_verify(client.key_kind())
        .expect("cancel the verification");
    let second_nonce = restarted.nonce.clone().expect("a new verification nonce");
    assert_ne!(second_nonce, first_nonce, "cancelling gives a new nonce");
    assert_eq!(restarted.progress, 0, "{restarted:?}");
    assert_eq!(
        refusal(
            client.rekey_verify(new[0].clone(), &first_nonce, client.key_kind()),
            "verify under the cancelled nonce"
        ),
        Refusal::WrongNonce {
            expected: Some(second_nonce.clone())
        }
    );
    assert_eq!(recovery_config(client), (3, 2));
    let update = client
        .rekey_verify_multi(new[2..].to_vec(), &second_nonce, client.key_kind())
        .expect("verify with three new shares");
    assert!(verified(&update), "{update:?}");
    assert_eq!(
        refusal(
            client.read_rekey_verify_progress(client.key_kind()),
            "verification after completion"
        ),
        Refusal::NotInProgress
    );
    let done = client
        .read_rekey_progress(client.key_kind())
        .expect("read after verification");
    assert!(
        !done.started && done.verification_nonce.is_none(),
        "{done:?}"
    );

    assert_eq!(recovery_config(client), (5, 3));
    root_token_refused(
        client,
        current,
        "root token from the replaced recovery shares",
    );
    root_token_from(
        server,
        client,
        &new[1..],
        "root token from the verified recovery shares",
    );
    new
}

/// The hvac-style calls: a rekey to 3 shares, threshold 2, encrypted to the fixture PGP keys and backed up. The
/// shares decrypt, work, and the backup (read from the recovery backup path) holds the same; it is then deleted.
fn rekey_with_pgp_and_backup(
    server: &Server,
    client: &Client,
    current: &[KeyShare],
) -> Vec<KeyShare> {
    let public = pgp::public_keys().expect("fixture public keys");
    let fingerprints: Vec<String> = pgp::FINGERPRINTS
        .iter()
        .map(|f| f.to_ascii_lowercase())
        .collect();
    let started = client
        .start_rekey(
            StartRekey::new(3, 2)
                .kind(KeyKind::Recovery)
                .pgp_keys(public)
                .backup(true)
                .require_verification(false),
        )
        .expect("start a PGP recovery rekey with backup");
    assert_eq!(started.pgp_fingerprints, fingerprints);
    assert!(started.backup, "{started:?}");
    let nonce = started.nonce.clone().expect("nonce");
    let mut last = None;
    for key in &current[..3] {
        last = Some(
            client
                .rekey(key.clone(), &nonce, client.key_kind())
                .expect("a current recovery share"),
        );
    }
    let result = match last.expect("three shares were sent") {
        RekeyUpdate::Complete(result) => result,
        RekeyUpdate::Progress(status) => panic!("not complete at the threshold: {status:?}"),
    };
    assert_eq!(result.pgp_fingerprints, fingerprints);
    assert!(result.backup);
    assert_eq!((result.keys.len(), result.keys_base64.len()), (3, 3));

    let keyring = Keyring::new().expect("gpg keyring with the fixture keys");
    let mut decrypted = Vec::new();
    for (hex, base64) in result.keys.iter().zip(&result.keys_base64) {
        let share = keyring
            .decrypt_base64(base64.expose())
            .expect("decrypt keys_base64");
        assert_eq!(share.len(), 66, "the plaintext is the hex share");
        assert!(share.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            keyring.decrypt_hex(hex.expose()).expect("decrypt keys"),
            share
        );
        decrypted.push(share);
    }

    let backup = client
        .read_backup_keys(client.key_kind())
        .expect("read the recovery backup");
    assert_eq!(backup.nonce.as_deref(), Some(nonce.as_str()));
    let mut sorted = fingerprints.clone();
    sorted.sort();
    assert_eq!(
        backup.keys.keys().cloned().collect::<Vec<_>>(),
        sorted,
        "one entry per PGP key"
    );
    for (fingerprint, share) in fingerprints.iter().zip(&decrypted) {
        let stored = &backup.keys[fingerprint];
        assert_eq!(stored.len(), 1, "{fingerprint}");
        assert_eq!(
            &keyring
                .decrypt_hex(stored[0].expose())
                .expect("decrypt the backup"),
            share,
            "the backup for {fingerprint} holds the same share"
        );
        assert_eq!(
            &keyring
                .decrypt_base64(backup.keys_base64[fingerprint][0].expose())
                .expect("decrypt the backup"),
            share
        );
    }
    // The unseal backup is a separate one, and there is none.
    let unseal_client = ClientFactory::new(client.transport(), server.address(), client.dialect())
        .client(Some(server.root_token()))
        .expect("client for the unseal shares");
    assert_eq!(
        refusal(
            unseal_client.read_backup_keys(unseal_client.key_kind()),
            "the unseal backup"
        ),
        Refusal::NoBackup
    );

    client
        .delete_backup_keys(client.key_kind())
        .expect("delete the recovery backup");
    assert_eq!(
        refusal(
            client.read_backup_keys(client.key_kind()),
            "read the deleted backup"
        ),
        Refusal::NoBackup
    );

    let new = shares(&decrypted);
    assert_eq!(recovery_config(client), (3, 2));
    root_token_refused(
        client,
        current,
        "root token from the replaced recovery shares",
    );
    root_token_from(
        server,
        client,
        &new,
        "root token from the decrypted recovery shares",
    );
    new
}

/// After a restart the server unseals itself through its provider and keeps the last recovery configuration.
fn restart(server: &Server, factory: &ClientFactory, current: &[KeyShare]) {
    server.restart().expect("restart");
    server.unseal().expect("the server unseals itself");
    // A new client at the server's address, which a restart may have moved.
    let client = factory
        .with_address(server.address())
        .client(Some(server.root_token()))
        .expect("client after the restart");
    assert_eq!(recovery_config(&client), (3, 2));
    root_token_from(server, &client, current, "root token after a restart");
}

/// Dropping the server stops both processes, the server's and its provider's, and removes both directories.
fn drop_with_provider(server: Server) {
    let provider = server.transit_provider().expect("the transit provider");
    let pids = [server.pid(), provider.pid()].map(|pid| pid.expect("a running process"));
    let dirs = [server.temp_dir(), provider.temp_dir()].map(Path::to_path_buf);
    drop(server);
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} still exists"
        );
    }
    for dir in dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

/// Every scenario on one auto-unseal server; with `then_restart` also a restart at the end.
fn recovery_lifecycle(transport: Transport, dialect: Dialect, then_restart: bool) {
    let server = server_for(dialect);
    assert_eq!(server.seal_kind(), SealKind::Transit);
    assert!(
        server.keys().is_empty(),
        "an auto-unseal server has no unseal shares"
    );
    let factory =
        ClientFactory::new(transport, server.address(), dialect).with_key_kind(KeyKind::Recovery);
    let client = factory
        .client(Some(server.root_token()))
        .expect("client with the root token");
    assert_eq!(client.key_kind(), KeyKind::Recovery);
    let status = client.read_seal_status().expect("seal status");
    assert_eq!(status.seal_type, "transit", "{status:?}");
    // A rekey of the unseal (barrier) keys with the defaults, which verify: refused before it
    // is sent, with what to do instead; sent anyway, the server refuses it as well.
    assert!(matches!(
        StartRekey::new(3, 2).check_seal(&status),
        Err(InvalidInput::AutoUnsealRekey {
            refused: "verification",
            ..
        })
    ));
    let on_unseal_keys = factory
        .with_key_kind(KeyKind::Unseal)
        .client(Some(server.root_token()))
        .expect("client for the unseal keys");
    assert_eq!(
        refusal(
            on_unseal_keys.start_rekey(StartRekey::new(3, 2)),
            "a verified rekey of an auto-unseal server's barrier key"
        ),
        Refusal::AutoUnseal
    );
    assert!(
        !on_unseal_keys
            .read_rekey_progress(on_unseal_keys.key_kind())
            .expect("read")
            .started
    );
    assert!(StartRekey::new(3, 2)
        .kind(KeyKind::Recovery)
        .check_seal(&status)
        .is_ok());
    assert_eq!(recovery_config(&client), (5, 3));
    let initial = shares(&server.recovery_keys());
    assert_eq!(initial.len(), 5);
    for (hex, base64) in server
        .recovery_keys()
        .iter()
        .zip(server.recovery_keys_base64())
    {
        let bytes = BASE64
            .decode(&base64)
            .expect("the base64 recovery share decodes");
        let as_hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(&as_hex, hex, "both forms hold the same share");
    }

    let current = rekey_with_ceremony(&server, &client, &initial);
    rekey_refuses(&client, &initial);
    let current = rekey_with_verification(&server, &client, &current);
    let current = rekey_with_pgp_and_backup(&server, &client, &current[2..]);
    if then_restart {
        restart(&server, &factory, &current);
    }
    drop_with_provider(server);
}

#[test]
fn recovery_keys_ureq_vault() {
    recovery_lifecycle(Transport::Ureq, Dialect::Vault, false);
}

#[test]
fn recovery_keys_ureq_openbao() {
    recovery_lifecycle(Transport::Ureq, Dialect::OpenBao, true);
}

#[test]
fn recovery_keys_hyper_vault() {
    recovery_lifecycle(Transport::Hyper, Dialect::Vault, false);
}

#[test]
fn recovery_keys_hyper_openbao() {
    recovery_lifecycle(Transport::Hyper, Dialect::OpenBao, false);
}
