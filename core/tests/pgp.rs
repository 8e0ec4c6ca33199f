//! The `pgp` feature: holders' keys checked before a ceremony, and what OpenBao 2.7.2 encrypted
//! to them (new shares, backup entries, root tokens, from the captures) decrypted without gpg.
//! Keys and messages: `fixtures/pgp/README.md`.
#![cfg(feature = "pgp")]

use proptest::prelude::*;
use serde_json::Value;
use vault_key_core::ceremony::{RekeyCeremony, RootTokenCeremony, TokenProtection};
use vault_key_core::ops::generate_root::{StartRootTokenGeneration, TokenKind};
use vault_key_core::ops::rekey::StartRekey;
use vault_key_core::ops::seal::Initialize;
use vault_key_core::pgp::{check_public_keys, PgpError, PgpPublicKey, PgpSecretKey};
use vault_key_core::{CeremonyError, Dialect, EncodedToken, Error, KeyShare, Target};

/// 2027-01-15, when every fixture key but the expired one is valid.
const NOW: u64 = 1_800_000_000;
/// 2020-03-23, while the expired key was still valid.
const IN_2020: u64 = 1_585_000_000;

const CAPTURE_FINGERPRINTS: [&str; 3] = [
    "24f0e2e4e7feac8f9c0a1e98886f6e3f5b3148a8",
    "424be52f3e6d21911b2ff0ec27fa7488d7d92e4f",
    "27e665ab8618c4dd024151692a139934e54fb17b",
];

/// A fixture file, compiled in (the tests also run under WASI, without the file system).
fn fixture(name: &str) -> String {
    macro_rules! files {
        ($($file:literal),*) => {
            match name {
                $($file => include_str!(concat!("fixtures/pgp/", $file)),)*
                other => panic!("no fixture {other}"),
            }
        };
    }
    files!(
        "pub1.b64",
        "pub2.b64",
        "pub3.b64",
        "secret-keys.asc",
        "sign-only.b64",
        "expired.b64",
        "revoked.b64",
        "passphrase.b64",
        "passphrase.pub.asc",
        "bomb.msg.b64",
        "passphrase.sec.asc",
        "passphrase.msg.b64",
        "curve.b64",
        "curve.sec.asc",
        "curve.msg.b64",
        "captured.jsonl"
    )
    .to_string()
}

fn capture_keys() -> Vec<PgpSecretKey> {
    PgpSecretKey::parse_all(fixture("secret-keys.asc").as_bytes(), "").expect("the secret keys")
}

fn key_for<'a>(keys: &'a [PgpSecretKey], fingerprint: &str) -> &'a PgpSecretKey {
    keys.iter()
        .find(|key| key.fingerprint() == fingerprint)
        .unwrap_or_else(|| panic!("a secret key for {fingerprint}"))
}

/// The data of the captured answer on `line` of the exchanges.
fn captured(line: u64) -> Value {
    let row = fixture("captured.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|row| row["line"] == line)
        .unwrap_or_else(|| panic!("capture line {line}"));
    let body: Value = serde_json::from_str(row["body"].as_str().unwrap()).unwrap();
    if body["data"].is_object() {
        body["data"].clone()
    } else {
        body
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_servers_form_and_fingerprints() {
    let keys = ["pub1.b64", "pub2.b64", "pub3.b64"].map(fixture);
    let checked = check_public_keys(&keys, NOW).expect("the capture keys pass");
    let fingerprints: Vec<&str> = checked.iter().map(PgpPublicKey::fingerprint).collect();
    assert_eq!(fingerprints, CAPTURE_FINGERPRINTS);
    for (key, text) in checked.iter().zip(&keys) {
        assert_eq!(
            key.to_base64(),
            text.trim(),
            "the binary form is kept as it is"
        );
    }
    // An armored key is read and converted to the form the servers take.
    let armored = PgpPublicKey::parse(&fixture("passphrase.pub.asc")).unwrap();
    let binary = PgpPublicKey::parse(&fixture("passphrase.b64")).unwrap();
    assert_eq!(armored.fingerprint(), binary.fingerprint());
    assert_eq!(armored.to_base64(), binary.to_base64());
    assert_eq!(
        armored.fingerprint(),
        "94862142fa0ff61be6ae08a4f2b729f3953239d6"
    );
    // An ECDH (cv25519) encryption subkey counts.
    check_public_keys(&[fixture("curve.b64")], NOW).expect("an ECDH key passes");
}

#[test]
fn each_problem_names_its_key() {
    let good = fixture("pub1.b64");
    type Expected = fn(&PgpError) -> bool;
    let cases: [(&str, String, Expected); 5] = [
        (
            "sign-only",
            fixture("sign-only.b64"),
            |e| matches!(e, PgpError::NoEncryptionKey { key: 1, fingerprint } if fingerprint == "6e52eed02f2f89590c590ea8c134e7ddeb016b3f"),
        ),
        ("expired", fixture("expired.b64"), |e| {
            matches!(e, PgpError::Expired { key: 1, .. })
        }),
        ("revoked", fixture("revoked.b64"), |e| {
            matches!(e, PgpError::Revoked { key: 1, .. })
        }),
        ("not base64", "-- not a key --".to_string(), |e| {
            matches!(e, PgpError::NotBase64 { key: 1 })
        }),
        ("base64 of no key", "bm90IGEga2V5".to_string(), |e| {
            matches!(e, PgpError::Unreadable { key: 1, .. })
        }),
    ];
    for (name, bad, expected) in cases {
        let err = check_public_keys(&[good.clone(), bad], NOW).unwrap_err();
        assert!(expected(&err), "{name}: {err:?}");
        assert!(err.to_string().starts_with("PGP key 1"), "{name}: {err}");
    }
    // The core has no clock: the expired key was fine in 2020.
    check_public_keys(&[fixture("expired.b64")], IN_2020).expect("valid in 2020");
}

#[test]
fn new_shares_and_backups_decrypt_to_the_same_shares() {
    let secret = capture_keys();
    // (completing answer, backup) of the classic and the OpenBao PGP rekey.
    for (update, backup) in [(268, 270), (392, 394)] {
        let answer = captured(update);
        let fingerprints = strings(&answer["pgp_fingerprints"]);
        assert_eq!(fingerprints, CAPTURE_FINGERPRINTS);
        let (hex, base64) = (strings(&answer["keys"]), strings(&answer["keys_base64"]));
        let stored = captured(backup);
        for (i, fingerprint) in fingerprints.iter().enumerate() {
            let key = key_for(&secret, fingerprint);
            let share = key.decrypt_share(&KeyShare::new(hex[i].as_str())).unwrap();
            let same = key
                .decrypt_share(&KeyShare::new(base64[i].as_str()))
                .unwrap();
            assert_eq!(share.expose(), same.expose());
            assert_eq!(share.expose().len(), 66, "33 bytes of share, in hex");
            assert!(share.expose().bytes().all(|b| b.is_ascii_hexdigit()));
            let entry = stored["keys"][fingerprint.as_str()][0].as_str().unwrap();
            let from_backup = key.decrypt_share(&KeyShare::new(entry)).unwrap();
            assert_eq!(from_backup.expose(), share.expose(), "line {backup}");
            // Another holder's key cannot read it.
            let other = key_for(&secret, &fingerprints[(i + 1) % 3]);
            assert!(matches!(
                other.decrypt_share(&KeyShare::new(hex[i].as_str())),
                Err(PgpError::Undecryptable { .. })
            ));
        }
    }
}

#[test]
fn pgp_root_tokens_decrypt() {
    let secret = capture_keys();
    for line in [130, 171] {
        let answer = captured(line);
        let fingerprint = answer["pgp_fingerprint"].as_str().unwrap();
        let encoded = EncodedToken::new(answer["encoded_token"].as_str().unwrap());
        let token = key_for(&secret, fingerprint)
            .decrypt_token(&encoded)
            .unwrap();
        assert!(token.expose().starts_with("s."), "line {line}");
        assert!(!format!("{token:?}").contains(token.expose()), "redacted");
    }
}

#[test]
fn passphrases_and_ecdh() {
    let locked = fixture("passphrase.sec.asc");
    let message = KeyShare::new(fixture("passphrase.msg.b64").trim());
    let wrong = PgpSecretKey::parse(locked.as_bytes(), "wrong").unwrap();
    assert!(matches!(
        wrong.decrypt_share(&message),
        Err(PgpError::Undecryptable { .. })
    ));
    let key = PgpSecretKey::parse(locked.as_bytes(), "correct horse").unwrap();
    assert!(!format!("{key:?}").contains("correct horse"));
    assert_eq!(
        key.decrypt_share(&message).unwrap().expose(),
        "8cd05f4611ecf0b3e425e0468576e3d0bd9c9aa90a62c75a0c0d2ff92dfc6e9b02"
    );
    let curve = PgpSecretKey::parse(fixture("curve.sec.asc").as_bytes(), "").unwrap();
    let token = EncodedToken::new(fixture("curve.msg.b64").trim());
    assert_eq!(
        curve.decrypt_token(&token).unwrap().expose(),
        "s.curveToken0123456789"
    );
}

/// A compression bomb as a share or a token (16 MiB of plaintext in 16 kB) is refused once the
/// plaintext passes what a share or a token can be, without inflating the rest.
#[test]
fn a_compression_bomb_is_refused() {
    let curve = PgpSecretKey::parse(fixture("curve.sec.asc").as_bytes(), "").unwrap();
    let bomb = fixture("bomb.msg.b64");
    let err = curve
        .decrypt_share(&KeyShare::new(bomb.trim()))
        .unwrap_err();
    assert!(
        matches!(&err, PgpError::Undecryptable { reason, .. } if reason.contains("larger than")),
        "{err:?}"
    );
    let err = curve
        .decrypt_token(&EncodedToken::new(bomb.trim()))
        .unwrap_err();
    assert!(matches!(err, PgpError::Undecryptable { .. }), "{err:?}");
}

#[test]
fn unreadable_input_is_an_error() {
    assert!(matches!(
        PgpSecretKey::parse(b"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nnope\n", ""),
        Err(PgpError::SecretKeyUnreadable(_))
    ));
    let key = &capture_keys()[0];
    for garbage in ["", "zz", "not base64 !", "AAAA", "c1c04c03"] {
        let err = key.decrypt_share(&KeyShare::new(garbage)).unwrap_err();
        assert!(
            matches!(
                err,
                PgpError::MessageUnreadable(_) | PgpError::Undecryptable { .. }
            ),
            "{garbage:?}: {err:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decryption_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600), text in ".{0,200}") {
        let key = &capture_keys()[0];
        let base64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &bytes);
        let _ = key.decrypt_share(&KeyShare::new(base64.as_str()));
        let _ = key.decrypt_token(&EncodedToken::new(text.as_str()));
        let _ = PgpPublicKey::parse(&base64);
        let _ = PgpSecretKey::parse(&bytes, "");
    }

    #[test]
    fn damaged_captured_shares_never_panic(flip in 0usize..530, bit in 0u8..8) {
        let key = &capture_keys()[0];
        let hex = strings(&captured(268)["keys"])[0].clone();
        let mut bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        let at = flip % bytes.len();
        bytes[at] ^= 1 << bit;
        let damaged: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let _ = key.decrypt_share(&KeyShare::new(damaged.as_str()));
    }
}

#[test]
fn the_operations_check_their_keys_before_sending() {
    let good = [fixture("pub1.b64"), fixture("pub2.b64")];
    let sign_only = fixture("sign-only.b64");
    let rekey =
        StartRekey::new(3, 2).pgp_keys(vec![good[0].clone(), good[1].clone(), sign_only.clone()]);
    assert!(matches!(
        rekey.check_pgp_keys(NOW),
        Err(PgpError::NoEncryptionKey { key: 2, .. })
    ));
    let init = Initialize::new(2, 2)
        .pgp_keys(good.to_vec())
        .root_token_pgp_key(fixture("expired.b64"));
    assert!(matches!(
        init.check_pgp_keys(NOW),
        Err(PgpError::Expired { key: 0, .. })
    ));
    assert!(Initialize::new(2, 2)
        .pgp_keys(good.to_vec())
        .check_pgp_keys(NOW)
        .is_ok());
    let generation = StartRootTokenGeneration::new().pgp_key(fixture("revoked.b64"));
    assert!(matches!(
        generation.check_pgp_key(NOW),
        Err(PgpError::Revoked { .. })
    ));
    assert!(StartRootTokenGeneration::new().check_pgp_key(NOW).is_ok());
}

#[test]
fn ceremonies_started_with_pgp_keys_pin_them() {
    let target = Target::new("http://127.0.0.1:8200")
        .unwrap()
        .with_dialect(Dialect::OpenBao);
    let keys = vec![
        fixture("pub1.b64"),
        fixture("pub2.b64"),
        fixture("pub3.b64"),
    ];
    let started = |fingerprints: [&str; 3]| {
        format!(
            r#"{{"data":{{"n":3,"nonce":"n-1","progress":0,"required":2,"started":true,"t":2,"pgp_fingerprints":["{}","{}","{}"],"verification_required":true}}}}"#,
            fingerprints[0], fingerprints[1], fingerprints[2]
        )
    };
    let [one, two, three] = CAPTURE_FINGERPRINTS;
    for (answer, pinned_ok) in [
        (started([one, two, three]), true),
        (started([one, three, two]), false),
    ] {
        let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).pgp_keys(keys.clone()));
        rekey.poll(&target).unwrap().into_request().unwrap();
        let event = rekey.handle_response(http::StatusCode::OK, answer.as_bytes());
        assert_eq!(event.is_ok(), pinned_ok, "{event:?}");
        if !pinned_ok {
            assert!(matches!(
                event,
                Err(Error::Ceremony(CeremonyError::FingerprintMismatch { .. }))
            ));
        }
    }
    let token = |fingerprint: &str| {
        format!(
            r#"{{"data":{{"complete":false,"nonce":"n-1","otp":"","otp_length":0,"pgp_fingerprint":"{fingerprint}","progress":0,"required":3,"started":true}}}}"#
        )
    };
    for (answer, pinned_ok) in [(token(two), true), (token(one), false)] {
        let protection = TokenProtection::PgpKey(fixture("pub2.b64").trim().to_string());
        let mut generation = RootTokenCeremony::start(TokenKind::Root, protection);
        generation.poll(&target).unwrap().into_request().unwrap();
        let event = generation.handle_response(http::StatusCode::OK, answer.as_bytes());
        assert_eq!(event.is_ok(), pinned_ok, "{event:?}");
    }
}
