//! Rekeying and the encryption key against a real OpenBao server, with both transports and both dialects: rotation
//! (the key term rises) and its automatic-rotation settings; a rekey finished by a second client, then sealing and
//! unsealing with the new shares while the old ones fail; a rekey with verification whose verification is cancelled
//! (new nonce) and then completed; a rekey with PGP keys and a backup, decrypted with gpg and used to unseal, the
//! backup read and deleted; and every refusal on the way. Also every call on the recovery shares, which a Shamir seal
//! does not have: each is refused as the server documents it, in both dialects.
//!
//! The Vault dialect runs on a server with the classic unauthenticated endpoints enabled, the OpenBao dialect on a
//! server with OpenBao's default listener.

use std::time::Duration;

use vault_key_core::ceremony::{RekeyCeremony, RekeyPhase, Verification};
use vault_key_core::ops::encryption_key::ConfigureRotation;
use vault_key_core::ops::rekey::{KeyKind, RekeyUpdate, StartRekey};
use vault_key_core::ops::rekey_verify::VerifyUpdate;
use vault_key_core::{CeremonyError, Dialect, Error, InvalidInput, KeyShare, Refusal};
use vault_key_tests::clients::{CallError, Client, ClientFactory, Transport};
use vault_key_tests::pgp::{self, Keyring};
use vault_key_tests::server::Server;
use vault_key_tests::support::{
    cancel_reset_rekey, completed, refusal, reseal_with_new_shares, server_error, shares, start,
    verified, wrong_shares,
};

/// A nonce no ceremony has.
const STRANGER_NONCE: &str = "00000000-0000-0000-0000-000000000000";

fn server_for(dialect: Dialect) -> Server {
    start(Server::builder().legacy_endpoints(dialect == Dialect::Vault))
}

/// hvac: rotate and see the key term rise; then the automatic-rotation settings, which hvac does not cover.
fn encryption_key(client: &Client) {
    let before = client
        .get_encryption_key_status()
        .expect("key status before rotation");
    assert!(before.term >= 1, "{before:?}");
    client.rotate_encryption_key().expect("rotate");
    let after = client
        .get_encryption_key_status()
        .expect("key status after rotation");
    assert_eq!(after.term, before.term + 1, "{before:?} -> {after:?}");
    assert!(!after.install_time.is_empty());

    // The root key (OpenBao only): rotated without shares; the key term stays, the shares keep working.
    let root_rotation = client.rotate_root_key();
    match client.dialect() {
        Dialect::OpenBao => {
            root_rotation.expect("rotate the root key");
            let after_root = client
                .get_encryption_key_status()
                .expect("key status after rotating the root key");
            assert_eq!(after_root.term, after.term, "{after_root:?}");
        }
        _ => assert!(
            matches!(
                root_rotation.as_ref().map_err(|e| e.core()),
                Err(Some(Error::InvalidInput(
                    InvalidInput::UnsupportedByDialect { .. }
                )))
            ),
            "the classic dialect has no root-key rotation: {root_rotation:?}"
        ),
    }

    let defaults = client.read_rotate_config().expect("read rotation config");
    assert!(defaults.enabled, "{defaults:?}");
    assert_eq!(defaults.max_operations, 3_865_470_566);
    assert_eq!(defaults.interval, Duration::ZERO);

    let two_days = Duration::from_secs(48 * 3600);
    client
        .configure_rotation(
            ConfigureRotation::new()
                .max_operations(2_000_000)
                .interval(two_days),
        )
        .expect("write rotation config");
    let written = client.read_rotate_config().expect("read back");
    assert_eq!(
        (written.enabled, written.max_operations, written.interval),
        (true, 2_000_000, two_days)
    );
    client
        .configure_rotation(ConfigureRotation::new().enabled(false))
        .expect("turn automatic rotation off");
    let off = client.read_rotate_config().expect("read back");
    assert_eq!(
        (off.enabled, off.max_operations, off.interval),
        (false, 2_000_000, two_days),
        "unset fields are left as they were"
    );
    let too_short =
        client.configure_rotation(ConfigureRotation::new().interval(Duration::from_secs(3600)));
    assert!(
        matches!(
            too_short.as_ref().map_err(|e| e.core()),
            Err(Some(Error::InvalidInput(InvalidInput::OutOfRange { .. })))
        ),
        "an interval under 24h is refused before sending: {too_short:?}"
    );
    client
        .configure_rotation(
            ConfigureRotation::new()
                .enabled(true)
                .max_operations(3_865_470_566)
                .interval(Duration::ZERO),
        )
        .expect("restore rotation config");
    assert_eq!(client.read_rotate_config().expect("read back"), defaults);
}

/// How the server answers a call on the recovery shares.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// 204.
    Done,
    /// An error status with one message.
    Refused(u16, Refusal, &'static str),
}

/// The answers of a server with a Shamir seal to every call on the recovery shares, per dialect and listener.
struct RecoveryAnswers {
    read: Answer,
    start: Answer,
    update: Answer,
    cancel: Answer,
    read_verify: Answer,
    verify: Answer,
    cancel_verify: Answer,
}

/// OpenBao's answer to reading a recovery rotation: the seal's error behind a broken format verb.
const OPENBAO_LOOKUP: &str =
    "unable to look up config: %!w(*errors.errorString=&{recovery not supported})";
/// OpenBao's answer to a recovery share, likewise.
const OPENBAO_FETCH: &str =
    "failed to fetch existing config: %!w(*errors.errorString=&{recovery not supported})";

fn recovery_answers(dialect: Dialect, legacy_endpoints: bool) -> RecoveryAnswers {
    use Answer::{Done, Refused};
    let invalid = |status, message| Refused(status, Refusal::InvalidRequest, message);
    let not_in_progress = |message| Refused(400, Refusal::NotInProgress, message);
    let same = |answer: Answer| RecoveryAnswers {
        read: answer.clone(),
        start: answer.clone(),
        update: answer.clone(),
        cancel: answer.clone(),
        read_verify: answer.clone(),
        verify: answer.clone(),
        cancel_verify: answer,
    };
    match (dialect, legacy_endpoints) {
        (Dialect::OpenBao, _) => RecoveryAnswers {
            read: invalid(400, OPENBAO_LOOKUP),
            start: invalid(400, "recovery keys not supported"),
            update: invalid(400, OPENBAO_FETCH),
            cancel: Done,
            read_verify: not_in_progress("no rotation configuration found"),
            verify: not_in_progress("no rotation in progress"),
            cancel_verify: not_in_progress("no rotation configuration found"),
        },
        (_, true) => RecoveryAnswers {
            update: invalid(
                500,
                "failed to fetch existing recovery config: recovery not supported",
            ),
            ..same(invalid(400, "recovery rekeying not supported"))
        },
        (_, false) => same(Refused(404, Refusal::NotFound, "unsupported path")),
    }
}

/// Asserts that a call got `expected`: success, or the status, refusal and message.
fn assert_answer<T: std::fmt::Debug>(result: Result<T, CallError>, expected: &Answer, step: &str) {
    match expected {
        Answer::Done => {
            if let Err(error) = result {
                panic!("{step}: expected success, got {error}");
            }
        }
        Answer::Refused(status, refusal, message) => {
            let error = server_error(result, step);
            assert_eq!(
                (error.status, &error.refusal, error.errors.as_slice()),
                (*status, refusal, [message.to_string()].as_slice()),
                "{step}"
            );
        }
    }
}

/// Every rekey, verify and backup call on the recovery shares, with `dialect`, on a server with a Shamir seal: each
/// answered as the server documents it.
fn recovery_calls(
    factory: &ClientFactory,
    server: &Server,
    dialect: Dialect,
    current: &[KeyShare],
) {
    let client = factory
        .with_dialect(dialect)
        .with_key_kind(KeyKind::Recovery)
        .client(Some(server.root_token()))
        .expect("client for the recovery shares");
    assert_eq!(client.key_kind(), KeyKind::Recovery);
    let answers = recovery_answers(dialect, server.legacy_endpoints());
    let step = |name: &str| {
        format!(
            "{dialect:?} recovery keys, legacy endpoints {}: {name}",
            server.legacy_endpoints()
        )
    };
    let start = StartRekey::new(5, 3).kind(KeyKind::Recovery);

    assert_answer(
        client.read_rekey_progress(client.key_kind()),
        &answers.read,
        &step("read rekey progress"),
    );
    assert_answer(
        client.start_rekey(start.clone()),
        &answers.start,
        &step("start rekey"),
    );
    assert_answer(
        client.rekey(current[0].clone(), STRANGER_NONCE, client.key_kind()),
        &answers.update,
        &step("rekey"),
    );
    assert_answer(
        client.rekey_multi(current.to_vec(), STRANGER_NONCE, client.key_kind()),
        &answers.update,
        &step("rekey_multi"),
    );
    assert_answer(
        client.cancel_rekey(client.key_kind(), None),
        &answers.cancel,
        &step("cancel rekey"),
    );
    assert_answer(
        client.read_rekey_verify_progress(client.key_kind()),
        &answers.read_verify,
        &step("read verification progress"),
    );
    assert_answer(
        client.rekey_verify(current[0].clone(), STRANGER_NONCE, client.key_kind()),
        &answers.verify,
        &step("rekey_verify"),
    );
    assert_answer(
        client.rekey_verify_multi(current.to_vec(), STRANGER_NONCE, client.key_kind()),
        &answers.verify,
        &step("rekey_verify_multi"),
    );
    assert_answer(
        client.cancel_rekey_verify(client.key_kind()),
        &answers.cancel_verify,
        &step("cancel verification"),
    );
    assert_answer(
        client.read_backup_keys(client.key_kind()),
        &Answer::Refused(400, Refusal::NoBackup, "no backed-up keys found"),
        &step("read backup keys"),
    );
    assert_answer(
        client.delete_backup_keys(client.key_kind()),
        &Answer::Done,
        &step("delete backup keys"),
    );

    // A ceremony on the recovery shares meets the same answers when it starts or joins.
    let mut starting = RekeyCeremony::start(start);
    assert_answer(
        client.drive(&mut starting).map(|_| starting.phase()),
        &answers.start,
        &step("ceremony start"),
    );
    let mut joining = RekeyCeremony::resume(KeyKind::Recovery);
    assert_answer(
        client.drive(&mut joining).map(|_| joining.phase()),
        &answers.read,
        &step("ceremony resume"),
    );
}

/// The calls on the recovery shares, which this Shamir seal does not have, in both dialects, while unseal rekeys wait
/// for verification on every unseal path family the server serves and an unseal backup is stored: a call reaching
/// an unseal path instead would be answered otherwise, or would change that state. The unseal rekeys are then
/// cancelled, which keeps `current` in effect.
fn recovery_keys_on_shamir_seal(factory: &ClientFactory, server: &Server, current: &[KeyShare]) {
    let mut families = vec![Dialect::OpenBao];
    if server.legacy_endpoints() {
        families.push(Dialect::Vault);
    }
    let mut pending = Vec::new();
    for dialect in families {
        let client = factory
            .with_dialect(dialect)
            .client(Some(server.root_token()))
            .expect("client for the unseal shares");
        let mut start = StartRekey::new(3, 2).require_verification(true);
        if dialect == Dialect::OpenBao {
            start = start
                .pgp_keys(pgp::public_keys().expect("fixture public keys"))
                .backup(true);
        }
        let nonce = client
            .start_rekey(start.clone())
            .expect("start an unseal rekey")
            .nonce
            .expect("nonce");
        let result = completed(
            client
                .rekey_multi(current.to_vec(), &nonce, client.key_kind())
                .expect("submit the current shares"),
            "unseal rekey awaiting verification",
        );
        let verification_nonce = result.verification_nonce.expect("verification nonce");
        pending.push((client, nonce, verification_nonce));
    }
    let backup_nonce = pending[0].1.clone();
    assert_eq!(
        pending[0]
            .0
            .read_backup_keys(KeyKind::Unseal)
            .expect("the unseal backup")
            .nonce
            .as_deref(),
        Some(backup_nonce.as_str())
    );

    for dialect in [Dialect::Vault, Dialect::OpenBao] {
        recovery_calls(factory, server, dialect, current);
    }

    for (client, nonce, verification_nonce) in &pending {
        let dialect = client.dialect();
        let status = client
            .read_rekey_progress(client.key_kind())
            .expect("unseal rekey progress");
        assert!(status.started, "{dialect:?}: {status:?}");
        assert_eq!(
            status.verification_nonce.as_deref(),
            Some(verification_nonce.as_str()),
            "{dialect:?}"
        );
        let verify = client
            .read_rekey_verify_progress(client.key_kind())
            .expect("unseal verification progress");
        assert_eq!(
            (verify.nonce.as_deref(), verify.progress),
            (Some(verification_nonce.as_str()), 0),
            "{dialect:?}"
        );
        assert_eq!(
            client
                .read_backup_keys(client.key_kind())
                .expect("the unseal backup is still there")
                .nonce
                .as_deref(),
            Some(backup_nonce.as_str()),
            "{dialect:?}"
        );
        client
            .cancel_rekey(client.key_kind(), Some(nonce))
            .expect("cancel the unseal rekey");
        assert!(
            !client
                .read_rekey_progress(client.key_kind())
                .expect("read")
                .started
        );
    }
    pending[0]
        .0
        .delete_backup_keys(KeyKind::Unseal)
        .expect("delete the unseal backup");
}

/// The refusals of a rekey, then a rekey begun by `client` and finished by a second client. Returns the new shares.
fn rekey_resumed_by_second_client(
    factory: &ClientFactory,
    client: &Client,
    current: &[KeyShare],
    second_token: Option<&str>,
) -> Vec<KeyShare> {
    let idle = client
        .read_rekey_progress(client.key_kind())
        .expect("read while idle");
    assert!(!idle.started && idle.nonce.is_none(), "{idle:?}");
    assert_eq!(
        refusal(
            client.rekey(current[0].clone(), STRANGER_NONCE, client.key_kind()),
            "update with nothing in progress"
        ),
        Refusal::NotInProgress
    );
    assert_eq!(
        refusal(
            client.read_rekey_verify_progress(client.key_kind()),
            "verify with nothing in progress"
        ),
        Refusal::NotInProgress
    );
    assert_eq!(
        refusal(
            client.read_backup_keys(client.key_kind()),
            "read backup keys when there are none"
        ),
        Refusal::NoBackup
    );

    let started = client
        .start_rekey(StartRekey::new(3, 2).require_verification(false))
        .expect("start a rekey to 3 shares, threshold 2");
    assert!(started.started, "{started:?}");
    assert_eq!((started.n, started.t, started.progress), (3, 2, 0));
    assert_eq!(started.required as usize, 3, "the current threshold");
    let nonce = started.nonce.clone().expect("a started rekey has a nonce");
    assert_eq!(
        refusal(
            client.start_rekey(StartRekey::new(3, 2)),
            "start while one is in progress"
        ),
        Refusal::AlreadyInProgress
    );
    assert_eq!(
        refusal(
            client.rekey(current[0].clone(), STRANGER_NONCE, client.key_kind()),
            "update with a wrong nonce"
        ),
        Refusal::WrongNonce {
            expected: Some(nonce.clone())
        }
    );
    match client
        .rekey(current[0].clone(), &nonce, client.key_kind())
        .expect("first share")
    {
        RekeyUpdate::Progress(status) => assert_eq!(status.progress, 1, "{status:?}"),
        RekeyUpdate::Complete(_) => panic!("one share completed the rekey"),
    }
    assert_eq!(
        refusal(
            client.rekey(current[0].clone(), &nonce, client.key_kind()),
            "the same share twice"
        ),
        Refusal::AlreadyProvided
    );
    assert_eq!(
        refusal(
            client.rekey(KeyShare::new("not-a-share"), &nonce, client.key_kind()),
            "a share that is neither hex nor base64"
        ),
        Refusal::InvalidRequest
    );

    // A rekey ceremony on a second client joins the one in progress, but only under a nonce it was told.
    let second = factory.client(second_token).expect("second client");
    let mut stranger = RekeyCeremony::resume(KeyKind::Unseal).require_nonce(STRANGER_NONCE);
    let foreign = second.drive(&mut stranger).map(|_| stranger.phase());
    assert!(
        matches!(
            foreign.as_ref().map_err(|e| e.core()),
            Err(Some(Error::Ceremony(CeremonyError::ForeignNonce { .. })))
        ),
        "a ceremony told another nonce sends no share: {foreign:?}"
    );
    let mut ceremony = RekeyCeremony::resume(KeyKind::Unseal).require_nonce(nonce.clone());
    assert_eq!(
        second
            .drive(&mut ceremony)
            .map(|_| ceremony.phase())
            .expect("resume on the second client"),
        RekeyPhase::CollectingShares
    );
    assert_eq!(ceremony.nonce(), Some(nonce.as_str()));
    assert_eq!((ceremony.progress(), ceremony.required()), (1, 3));
    ceremony
        .submit_shares(current[1..].to_vec())
        .expect("queue the remaining shares");
    assert_eq!(
        second
            .drive(&mut ceremony)
            .map(|_| ceremony.phase())
            .expect("second client submits the remaining shares"),
        RekeyPhase::Done
    );
    assert_eq!(ceremony.verification(), Verification::NotRequired);
    let result = ceremony.into_result().expect("the new shares");
    assert_eq!(result.nonce.as_deref(), Some(nonce.as_str()));
    assert_eq!(result.keys.len(), 3);
    assert_eq!(result.keys_base64.len(), 3);
    assert!(!result.verification_required && result.pgp_fingerprints.is_empty());
    assert!(result.keys.iter().all(|k| k.len() == 66), "hex shares");
    let done = client
        .read_rekey_progress(client.key_kind())
        .expect("read after completion");
    assert!(!done.started, "{done:?}");
    result.keys
}

/// hvac: a rekey with verification; the verification is cancelled (new nonce), then completed. Returns the new
/// shares, which are in effect only after verification.
fn rekey_with_verification(client: &Client, current: &[KeyShare]) -> Vec<KeyShare> {
    let started = client
        .start_rekey(StartRekey::new(5, 3).require_verification(true))
        .expect("start a rekey with verification");
    assert!(started.verification_required, "{started:?}");
    let nonce = started.nonce.clone().expect("nonce");
    let result = completed(
        client
            .rekey_multi(current.to_vec(), &nonce, client.key_kind())
            .expect("submit the current shares"),
        "rekey with verification",
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
    let progress = client
        .read_rekey_verify_progress(client.key_kind())
        .expect("read verification progress");
    assert_eq!(progress.nonce.as_deref(), Some(first_nonce.as_str()));
    assert_eq!((progress.n, progress.t, progress.progress), (5, 3, 0));
    assert!(progress.started);

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
    let second_nonce = restarted
        .nonce
        .clone()
        .expect("a restarted verification has a nonce");
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
    new
}

/// Shares that do not combine are refused at the threshold; the rekey stays open until cancelled.
fn rekey_with_wrong_shares(client: &Client) {
    let started = client
        .start_rekey(StartRekey::new(3, 2).require_verification(false))
        .expect("start a rekey for wrong shares");
    let nonce = started.nonce.clone().expect("nonce");
    let threshold = started.required as usize;
    let wrong = wrong_shares(threshold);
    for key in &wrong[..threshold - 1] {
        client
            .rekey(key.clone(), &nonce, client.key_kind())
            .expect("a wrong share below the threshold is accepted");
    }
    assert_eq!(
        refusal(
            client.rekey(wrong[threshold - 1].clone(), &nonce, client.key_kind()),
            "wrong shares reach the threshold"
        ),
        Refusal::SharesDidNotCombine
    );
    cancel_reset_rekey(client, &nonce);
}

/// A rekey with PGP keys and a backup: the new shares come back encrypted, decrypt with the fixture keys, and the
/// backup holds the same. Returns the decrypted new shares.
fn rekey_with_pgp_and_backup(client: &Client, current: &[KeyShare]) -> Vec<KeyShare> {
    let public = pgp::public_keys().expect("fixture public keys");
    let fingerprints: Vec<String> = pgp::FINGERPRINTS
        .iter()
        .map(|f| f.to_ascii_lowercase())
        .collect();
    let started = client
        .start_rekey(
            StartRekey::new(3, 2)
                .pgp_keys(public)
                .backup(true)
                .require_verification(false),
        )
        .expect("start a PGP rekey with backup");
    assert_eq!(started.pgp_fingerprints, fingerprints);
    assert!(started.backup);
    let nonce = started.nonce.clone().expect("nonce");
    let result = completed(
        client
            .rekey_multi(current.to_vec(), &nonce, client.key_kind())
            .expect("submit shares"),
        "PGP rekey",
    );
    assert_eq!(result.pgp_fingerprints, fingerprints);
    assert!(result.backup);
    assert_eq!(result.keys_base64.len(), 3);

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
        .expect("read the backup");
    assert_eq!(backup.nonce.as_deref(), Some(nonce.as_str()));
    assert_eq!(
        backup.keys.keys().cloned().collect::<Vec<_>>(),
        {
            let mut sorted = fingerprints.clone();
            sorted.sort();
            sorted
        },
        "one entry per PGP key"
    );
    for (fingerprint, share) in fingerprints.iter().zip(&decrypted) {
        let stored = &backup.keys[fingerprint];
        assert_eq!(stored.len(), 1, "{fingerprint}");
        assert_eq!(
            &keyring
                .decrypt_hex(stored[0].expose())
                .expect("decrypt backup"),
            share,
            "the backup for {fingerprint} holds the same share"
        );
        let stored_base64 = &backup.keys_base64[fingerprint];
        assert_eq!(
            &keyring
                .decrypt_base64(stored_base64[0].expose())
                .expect("decrypt backup"),
            share
        );
    }
    client
        .delete_backup_keys(client.key_kind())
        .expect("delete the backup");
    assert_eq!(
        refusal(
            client.read_backup_keys(client.key_kind()),
            "read the deleted backup"
        ),
        Refusal::NoBackup
    );
    shares(&decrypted)
}

fn rekey_lifecycle(transport: Transport, dialect: Dialect) {
    let server = server_for(dialect);
    let factory = ClientFactory::new(transport, server.address(), dialect);
    let client = factory
        .client(Some(server.root_token()))
        .expect("client with the root token");
    let anonymous = factory.client(None).expect("client without token");
    let initial = shares(&server.keys());

    encryption_key(&client);

    recovery_keys_on_shamir_seal(&factory, &server, &initial[..3]);

    // The classic rekey paths need no token; a second client without one can take over there.
    let second_token = match dialect {
        Dialect::Vault => None,
        _ => Some(server.root_token()),
    };
    let current = rekey_resumed_by_second_client(&factory, &client, &initial[..3], second_token);
    reseal_with_new_shares(&server, &client, &initial, &current);

    let verified = rekey_with_verification(&client, &current[..2]);
    reseal_with_new_shares(&server, &client, &current, &verified);

    rekey_with_wrong_shares(&client);

    let decrypted = rekey_with_pgp_and_backup(&client, &verified[..3]);
    reseal_with_new_shares(&server, &client, &verified, &decrypted);

    // Without a token.
    assert_eq!(
        refusal(
            anonymous.get_encryption_key_status(),
            "key status without a token"
        ),
        Refusal::PermissionDenied
    );
    assert_eq!(
        refusal(
            anonymous.read_backup_keys(anonymous.key_kind()),
            "backup without a token"
        ),
        Refusal::PermissionDenied
    );
    let progress = anonymous.read_rekey_progress(anonymous.key_kind());
    match dialect {
        Dialect::Vault => assert!(progress.is_ok(), "{progress:?}"),
        _ => assert_eq!(
            refusal(progress, "rekey progress without a token"),
            Refusal::PermissionDenied
        ),
    }
}

#[test]
fn rekey_ureq_vault() {
    rekey_lifecycle(Transport::Ureq, Dialect::Vault);
}

#[test]
fn rekey_ureq_openbao() {
    rekey_lifecycle(Transport::Ureq, Dialect::OpenBao);
}

#[test]
fn rekey_hyper_vault() {
    rekey_lifecycle(Transport::Hyper, Dialect::Vault);
}

#[test]
fn rekey_hyper_openbao() {
    rekey_lifecycle(Transport::Hyper, Dialect::OpenBao);
}
