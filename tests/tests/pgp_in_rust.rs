//! The core's `pgp` feature against a real OpenBao, on both dialects: keys checked before a
//! ceremony, a PGP rekey with backup and a PGP root generation whose outputs are decrypted in
//! Rust and used (verify, unseal, token lookup), cross-checked once with gpg; the pre-flight
//! refusing what the server refuses; and a swapped key set detected when a holder resumes.

use vault_key_core::ceremony::{
    RekeyCeremony, RekeyPhase, RootTokenCeremony, RootTokenPhase, TokenProtection, Verification,
};
use vault_key_core::ops::generate_root::TokenKind;
use vault_key_core::ops::rekey::KeyKind;
use vault_key_core::ops::rekey::StartRekey;
use vault_key_core::pgp::{check_public_keys, PgpError, PgpPublicKey, PgpSecretKey};
use vault_key_core::{CeremonyError, Dialect, Error, ExecuteError, KeyShare};
use vault_key_tests::clients::{Client, ClientFactory, Transport};
use vault_key_tests::pgp::Keyring;
use vault_key_tests::server::Server;
use vault_key_tests::support::{assert_root_token, reseal_with_new_shares, shares, start};

/// 2027-01-15: the caller's clock for the checks.
const NOW: u64 = 1_800_000_000;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../core/tests/fixtures/pgp/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn public_keys() -> Vec<PgpPublicKey> {
    let keys = ["pub1.b64", "pub2.b64", "pub3.b64"].map(fixture);
    check_public_keys(&keys, NOW).expect("the fixture keys pass the pre-flight")
}

fn secret_keys() -> Vec<PgpSecretKey> {
    PgpSecretKey::parse_all(fixture("secret-keys.asc").as_bytes(), "").expect("secret keys")
}

fn secret_for<'a>(keys: &'a [PgpSecretKey], fingerprint: &str) -> &'a PgpSecretKey {
    keys.iter()
        .find(|key| key.fingerprint() == fingerprint)
        .unwrap_or_else(|| panic!("a secret key for {fingerprint}"))
}

fn client(server: &Server, transport: Transport, dialect: Dialect) -> Client {
    ClientFactory::new(transport, server.address(), dialect)
        .client(Some(server.root_token()))
        .expect("a client")
}

#[test]
fn pgp_rekey_with_backup_and_root_token_decrypted_in_rust() {
    let server = start(Server::builder().legacy_endpoints(true).shares(3, 2));
    let public = public_keys();
    let secret = secret_keys();
    let mut keys = shares(&server.keys());
    let mut cross_checked = false;
    for (transport, dialect) in [
        (Transport::Ureq, Dialect::Vault),
        (Transport::Hyper, Dialect::OpenBao),
    ] {
        let client = client(&server, transport, dialect);
        let start = StartRekey::new(3, 2)
            .pgp_public_keys(&public)
            .backup(true)
            .require_verification(true);
        let mut rekey = RekeyCeremony::start(start);
        rekey.submit_shares(keys.iter().take(2).cloned()).unwrap();
        assert_eq!(
            client.drive(&mut rekey).map(|_| rekey.phase()).unwrap(),
            RekeyPhase::Verifying
        );
        let issued = rekey.result().expect("encrypted new shares").clone();
        let fingerprints: Vec<&str> = public.iter().map(PgpPublicKey::fingerprint).collect();
        assert_eq!(issued.pgp_fingerprints, fingerprints, "{dialect:?}");

        // Each holder decrypts their share in Rust; the new shares then verify.
        let new: Vec<KeyShare> = issued
            .keys
            .iter()
            .zip(&issued.pgp_fingerprints)
            .map(|(encrypted, fingerprint)| {
                secret_for(&secret, fingerprint)
                    .decrypt_share(encrypted)
                    .expect("decrypted in Rust")
            })
            .collect();
        if !cross_checked {
            let keyring = Keyring::new().expect("gpg with the fixture keys");
            for (encrypted, ours) in issued.keys.iter().zip(&new) {
                let by_gpg = keyring
                    .decrypt_hex(encrypted.expose())
                    .expect("gpg decrypts");
                assert_eq!(by_gpg, ours.expose(), "gpg agrees");
            }
            cross_checked = true;
        }
        rekey
            .submit_verification_shares(new.iter().take(2).cloned())
            .unwrap();
        assert_eq!(
            client.drive(&mut rekey).map(|_| rekey.phase()).unwrap(),
            RekeyPhase::Done
        );
        assert_eq!(rekey.verification(), Verification::Verified);

        // The backup decrypts to the same shares.
        let backup = client
            .read_backup_keys(KeyKind::Unseal)
            .expect("the backup");
        assert!(rekey.is_own_backup(&backup));
        for (fingerprint, share) in issued.pgp_fingerprints.iter().zip(&new) {
            let entry = &backup.keys[fingerprint][0];
            let restored = secret_for(&secret, fingerprint)
                .decrypt_share(entry)
                .unwrap();
            assert_eq!(restored.expose(), share.expose());
        }
        client
            .delete_backup_keys(KeyKind::Unseal)
            .expect("delete the backup");

        // The decrypted shares are the ones in effect.
        reseal_with_new_shares(&server, &client, &keys, &new);
        keys = new;

        // A root token encrypted to one holder, decrypted in Rust, works.
        let holder = &public[1];
        let protection = TokenProtection::PgpKey(holder.to_base64().to_string());
        let mut generation = RootTokenCeremony::start(TokenKind::Root, protection)
            .require_fingerprint(holder.fingerprint());
        generation
            .submit_shares(keys.iter().take(2).cloned())
            .unwrap();
        assert_eq!(
            client
                .drive(&mut generation)
                .map(|_| generation.phase())
                .unwrap(),
            RootTokenPhase::Done
        );
        let encoded = generation.encoded_token().expect("an encrypted token");
        let token = secret_for(&secret, holder.fingerprint())
            .decrypt_token(encoded)
            .expect("decrypted in Rust");
        assert_root_token(&server, token.expose());
    }
}

#[test]
fn the_pre_flight_refuses_what_the_server_refuses() {
    let server = start(Server::builder().shares(3, 2));
    let client = client(&server, Transport::Ureq, Dialect::OpenBao);
    let good = ["pub1.b64", "pub2.b64"].map(fixture);

    // A sign-only key: refused by the pre-flight, naming it, and by the server too.
    let sign_only = fixture("sign-only.b64");
    let keys = [good[0].clone(), good[1].clone(), sign_only.clone()];
    assert!(matches!(
        check_public_keys(&keys, NOW),
        Err(PgpError::NoEncryptionKey { key: 2, .. })
    ));
    // OpenBao 2.7.2 takes it at the start and refuses only at the share that completes the
    // rekey, when it encrypts the new shares: the worst moment, which the pre-flight avoids.
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).pgp_keys(keys.to_vec()));
    rekey
        .submit_shares(shares(&server.keys()).into_iter().take(2))
        .unwrap();
    let refused = client
        .drive(&mut rekey)
        .map(|_| rekey.phase())
        .expect_err("the server refuses the sign-only key at the end");
    assert!(
        refused.to_string().contains("has no valid encryption keys"),
        "the server's reason: {refused}"
    );
    assert!(rekey.result().is_none(), "no new shares: {refused}");
    let left = client.read_rekey_progress(KeyKind::Unseal).unwrap();
    if left.started {
        client
            .cancel_rekey(KeyKind::Unseal, left.nonce.as_deref())
            .unwrap();
    }

    // An armored key: the pre-flight converts it; the server takes the converted form.
    let armored = fixture("passphrase.pub.asc");
    let converted = check_public_keys(&[good[0].clone(), good[1].clone(), armored], NOW)
        .expect("an armored key is converted");
    assert_eq!(
        converted[2].fingerprint(),
        "94862142fa0ff61be6ae08a4f2b729f3953239d6"
    );
    let started = client
        .start_rekey(StartRekey::new(3, 2).pgp_public_keys(&converted))
        .expect("the converted key is taken");
    assert_eq!(started.pgp_fingerprints.len(), 3);
    client
        .cancel_rekey(KeyKind::Unseal, started.nonce.as_deref())
        .unwrap();

    // Expired and revoked keys are refused before anything is sent.
    for (name, expected) in [("expired.b64", "expired"), ("revoked.b64", "revoked")] {
        let err = check_public_keys(&[good[0].clone(), fixture(name)], NOW).unwrap_err();
        assert!(err.to_string().contains(expected), "{name}: {err}");
        assert!(err.to_string().starts_with("PGP key 1"), "{name}: {err}");
    }

    // The wrong count: refused before anything is sent.
    let checked = public_keys();
    let two = StartRekey::new(3, 2).pgp_public_keys(&checked[..2]);
    assert!(matches!(
        client.start_rekey(two.clone()),
        Err(ExecuteError::Core(Error::InvalidInput(_)))
    ));
    assert!(
        !client.read_rekey_progress(KeyKind::Unseal).unwrap().started,
        "nothing was sent"
    );
}

#[test]
fn a_swapped_key_set_is_detected_when_a_holder_resumes() {
    let server = start(Server::builder().shares(3, 2));
    let operator = client(&server, Transport::Ureq, Dialect::OpenBao);
    let public = public_keys();
    let keys = shares(&server.keys());
    let ours: Vec<String> = public.iter().map(|k| k.fingerprint().to_string()).collect();

    // The operator starts with the holders' keys; a holder resumes, pinned to them.
    let mut started =
        RekeyCeremony::start(StartRekey::new(3, 2).pgp_public_keys(&public).backup(true));
    assert_eq!(
        operator
            .drive(&mut started)
            .map(|_| started.phase())
            .unwrap(),
        RekeyPhase::CollectingShares
    );
    let mut holder = RekeyCeremony::resume(vault_key_core::ops::rekey::KeyKind::Unseal)
        .require_fingerprints(ours.clone());
    holder.submit_share(keys[0].clone()).unwrap();
    let holder_client = client(&server, Transport::Hyper, Dialect::OpenBao);
    assert_eq!(
        holder_client
            .drive(&mut holder)
            .map(|_| holder.phase())
            .unwrap(),
        RekeyPhase::CollectingShares
    );

    // Someone cancels and re-inits with one key swapped for their own.
    operator
        .cancel_rekey(KeyKind::Unseal, started.nonce())
        .unwrap();
    let swapped = check_public_keys(
        &[
            fixture("pub1.b64"),
            fixture("pub2.b64"),
            fixture("passphrase.b64"),
        ],
        NOW,
    )
    .unwrap();
    let bait = operator
        .start_rekey(StartRekey::new(3, 2).pgp_public_keys(&swapped).backup(true))
        .unwrap();

    // The first holder's ceremony stops at the changed nonce; a holder who resumes now (and
    // so would accept the new nonce) is stopped by the fingerprints, before any share.
    holder.submit_share(keys[1].clone()).unwrap();
    assert!(matches!(
        holder_client.drive(&mut holder).map(|_| holder.phase()),
        Err(ExecuteError::Core(Error::Ceremony(
            CeremonyError::ForeignNonce { .. }
        )))
    ));
    let mut late = RekeyCeremony::resume(vault_key_core::ops::rekey::KeyKind::Unseal)
        .require_fingerprints(ours.clone());
    late.submit_share(keys[1].clone()).unwrap();
    match holder_client.drive(&mut late).map(|_| late.phase()) {
        Err(ExecuteError::Core(Error::Ceremony(CeremonyError::FingerprintMismatch {
            expected,
            found,
            nonce,
        }))) => {
            assert_eq!(expected, ours);
            assert_eq!(nonce, bait.nonce, "the swapped rekey, named");
            assert_eq!(
                found, bait.pgp_fingerprints,
                "whose keys the shares would go to"
            );
            assert_eq!(found[2], "94862142fa0ff61be6ae08a4f2b729f3953239d6");
        }
        other => panic!("the swap is detected: {other:?}"),
    }
    assert_eq!(late.phase(), RekeyPhase::Aborted);
    let progress = operator.read_rekey_progress(KeyKind::Unseal).unwrap();
    assert_eq!(progress.progress, 0, "no share reached the swapped rekey");
    // The ceremony that refused it cancels it, under its nonce.
    late.cancel().unwrap();
    assert_eq!(
        holder_client
            .drive(&mut late)
            .map(|_| late.phase())
            .unwrap(),
        RekeyPhase::Cancelled
    );
    assert!(
        !operator
            .read_rekey_progress(KeyKind::Unseal)
            .unwrap()
            .started,
        "the swapped rekey is gone"
    );
}
