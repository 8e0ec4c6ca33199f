//! Rekey (classic `sys/rekey/*`, `sys/rekey-recovery-key/*`) and rotation (OpenBao
//! `sys/rotate/root/*`, `sys/rotate/recovery/*`): requests and captured answers.

mod common;

use common::*;
use http::{Method, StatusCode};
use serde_json::{json, Value};
use vault_key_core::ops::rekey::{
    CancelRekey, KeyKind, ReadRekeyProgress, Rekey, RekeyResult, RekeyStatus, RekeyUpdate,
    StartRekey,
};
use vault_key_core::{Dialect, Error, InvalidInput, KeyShare, Operation};

const SHARE: &str = "f50240c84a1af2c46e443c815bc960e46fe3c8e3e3f63700de2bfee9e9e53098e5";
const NONCE: &str = "e2d959f5-c1d3-691d-07eb-a22922c3753e";
const FINGERPRINTS: [&str; 3] = [
    "24f0e2e4e7feac8f9c0a1e98886f6e3f5b3148a8",
    "424be52f3e6d21911b2ff0ec27fa7488d7d92e4f",
    "27e665ab8618c4dd024151692a139934e54fb17b",
];

fn family(dialect: Dialect, kind: KeyKind) -> &'static str {
    match (dialect, kind) {
        (Dialect::Vault, KeyKind::Unseal) => "sys/rekey",
        (Dialect::Vault, KeyKind::Recovery) => "sys/rekey-recovery-key",
        (Dialect::OpenBao, KeyKind::Unseal) => "sys/rotate/root",
        (Dialect::OpenBao, KeyKind::Recovery) => "sys/rotate/recovery",
        _ => unreachable!(),
    }
}

#[test]
fn requests_for_every_dialect_and_kind() {
    for target in all_targets() {
        for kind in KEY_KINDS {
            let family = family(target.dialect(), kind);
            let init = format!("{family}/init");
            let update = format!("{family}/update");

            let request = ReadRekeyProgress::new()
                .kind(kind)
                .request(&target)
                .unwrap();
            assert_request(&request, &target, Method::GET, &init, None);

            // Verification is on unless turned off.
            let request = StartRekey::new(5, 3).kind(kind).request(&target).unwrap();
            assert_request(
                &request,
                &target,
                Method::PUT,
                &init,
                Some(json!({
                    "secret_shares": 5,
                    "secret_threshold": 3,
                    "backup": false,
                    "require_verification": true
                })),
            );
            let request = StartRekey::new(5, 3)
                .kind(kind)
                .require_verification(false)
                .request(&target)
                .unwrap();
            assert_eq!(
                serde_json::from_slice::<serde_json::Value>(request.body()).unwrap()
                    ["require_verification"],
                false
            );

            let request = StartRekey::new(3, 2)
                .kind(kind)
                .pgp_keys(vec![
                    "cHViMQ==".into(),
                    "cHViMg==".into(),
                    "cHViMw==".into(),
                ])
                .backup(true)
                .require_verification(true)
                .request(&target)
                .unwrap();
            assert_request(
                &request,
                &target,
                Method::PUT,
                &init,
                Some(json!({
                    "secret_shares": 3,
                    "secret_threshold": 2,
                    "pgp_keys": ["cHViMQ==", "cHViMg==", "cHViMw=="],
                    "backup": true,
                    "require_verification": true
                })),
            );

            let request = Rekey::new(KeyShare::new(SHARE), NONCE)
                .kind(kind)
                .request(&target)
                .unwrap();
            assert_request(
                &request,
                &target,
                Method::PUT,
                &update,
                Some(json!({"key": SHARE, "nonce": NONCE})),
            );

            // Always a JSON body: Vault 1.20+ refuses an empty one with 400 `EOF`
            // (handleSysRekeyInitDelete parses it).
            let request = CancelRekey::new().kind(kind).request(&target).unwrap();
            assert_request(&request, &target, Method::DELETE, &init, Some(json!({})));

            let request = CancelRekey::new()
                .kind(kind)
                .nonce(NONCE)
                .request(&target)
                .unwrap();
            assert_request(
                &request,
                &target,
                Method::DELETE,
                &init,
                Some(json!({"nonce": NONCE})),
            );

            let request = CancelRekey::new()
                .kind(kind)
                .nonce("")
                .request(&target)
                .unwrap();
            assert_request(&request, &target, Method::DELETE, &init, Some(json!({})));
        }
    }
}

#[test]
fn paths_match_the_capture() {
    let cases = [
        (Dialect::Vault, "legacy_rekey_init_idle"),
        (Dialect::OpenBao, "openbao_rotate_root_init_idle"),
    ];
    for (dialect, name) in cases {
        let request = ReadRekeyProgress::new()
            .kind(KeyKind::Unseal)
            .request(&target(dialect))
            .unwrap();
        assert_eq!(request.uri().path(), fixture(name).path);
    }
    let request = Rekey::new(KeyShare::new(SHARE), NONCE)
        .request(&target(Dialect::OpenBao))
        .unwrap();
    assert_eq!(
        request.uri().path(),
        fixture("openbao_rotate_root_update_progress").path
    );
    let request = CancelRekey::new()
        .kind(KeyKind::Recovery)
        .request(&target(Dialect::OpenBao))
        .unwrap();
    assert_eq!(
        request.uri().path(),
        fixture("openbao_rotate_recovery_init_cancel").path
    );
}

#[test]
fn defaults_are_unseal_keys() {
    let target = target(Dialect::Vault);
    assert_eq!(
        StartRekey::new(5, 3).request(&target).unwrap().uri().path(),
        "/v1/sys/rekey/init"
    );
    assert_eq!(
        Rekey::new(KeyShare::new(SHARE), NONCE)
            .request(&target)
            .unwrap()
            .uri()
            .path(),
        "/v1/sys/rekey/update"
    );
    let start = StartRekey::new(5, 3).require_verification(true);
    assert_eq!(start.get_kind(), KeyKind::Unseal);
    assert_eq!((start.get_shares(), start.get_threshold()), (5, 3));
    assert!(start.get_require_verification());
    assert!(!start.get_backup());
    assert!(start.get_pgp_keys().is_empty());
}

#[test]
fn start_rejects_invalid_input() {
    for dialect in DIALECTS {
        let target = target(dialect);
        for (shares, threshold) in [(3, 5), (0, 0), (0, 1), (2, 1), (5, 1), (256, 2), (3, 0)] {
            let err = StartRekey::new(shares, threshold)
                .request(&target)
                .unwrap_err();
            assert!(
                matches!(err, Error::InvalidInput(InvalidInput::SharesConfig { shares: s, threshold: t, .. }) if s == shares && t == threshold),
                "{shares}/{threshold}: {err:?}"
            );
        }
        for (shares, threshold) in [(1, 1), (2, 2), (255, 255), (255, 2)] {
            assert!(StartRekey::new(shares, threshold).request(&target).is_ok());
        }
        let err = StartRekey::new(3, 2)
            .pgp_keys(vec!["cHViMQ==".into(), "cHViMg==".into()])
            .request(&target)
            .unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidInput(InvalidInput::PgpKeyCount {
                given: 2,
                shares: 3
            })
        ));
        let err = StartRekey::new(2, 2)
            .pgp_keys(vec!["cHViMQ==".into(), " ".into()])
            .request(&target)
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput(InvalidInput::Empty(_))));
        let err = StartRekey::new(5, 3)
            .backup(true)
            .request(&target)
            .unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidInput(InvalidInput::BackupWithoutPgpKeys)
        ));
        for (key, nonce) in [("", NONCE), (" ", NONCE), (SHARE, ""), (SHARE, "\t")] {
            let err = Rekey::new(KeyShare::new(key), nonce)
                .request(&target)
                .unwrap_err();
            assert!(matches!(err, Error::InvalidInput(InvalidInput::Empty(_))));
            assert!(!format!("{err} {err:?}").contains(SHARE));
        }
    }
}

fn status(name: &str) -> RekeyStatus {
    let f = fixture(name);
    ReadRekeyProgress::new()
        .kind(KeyKind::Unseal)
        .parse(f.status, &f.body)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn update(name: &str) -> RekeyUpdate {
    let f = fixture(name);
    Rekey::new(KeyShare::new(SHARE), NONCE)
        .parse(f.status, &f.body)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn complete(name: &str) -> RekeyResult {
    match update(name) {
        RekeyUpdate::Complete(result) => result,
        other => panic!("{name}: expected completion, got {other:?}"),
    }
}

fn progress(name: &str) -> RekeyStatus {
    match update(name) {
        RekeyUpdate::Progress(status) => status,
        other => panic!("{name}: expected progress, got {other:?}"),
    }
}

/// The payload of a captured body: `data` of an envelope, or the body itself.
fn payload(name: &str) -> Value {
    let json = fixture(name).json.unwrap();
    json.get("data").cloned().unwrap_or(json)
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn exposed(shares: &[KeyShare]) -> Vec<String> {
    shares.iter().map(|s| s.expose().to_string()).collect()
}

#[test]
fn idle_status() {
    let legacy = status("legacy_rekey_init_idle");
    let openbao = status("openbao_rotate_root_init_idle");
    for s in [&legacy, &openbao] {
        assert!(!s.started);
        assert_eq!(s.nonce, None);
        assert_eq!((s.t, s.n, s.progress, s.required), (0, 0, 0, 3));
        assert!(s.pgp_fingerprints.is_empty());
        assert!(!s.backup && !s.verification_required);
        assert_eq!(s.verification_nonce, None);
    }
    assert_eq!(legacy, openbao);
}

#[test]
fn started_status() {
    let s = status("legacy_rekey_init_started");
    assert!(s.started);
    assert_eq!(
        s.nonce.as_deref(),
        Some("935f8a3b-4f22-8f63-6325-d14cfd308e16")
    );
    assert_eq!((s.t, s.n, s.progress, s.required), (2, 3, 0, 3));

    let s = status("openbao_rotate_root_init_started");
    assert!(s.started);
    assert_eq!(s.nonce.as_deref(), Some(NONCE));
    assert_eq!((s.t, s.n, s.progress, s.required), (2, 3, 0, 3));
    assert_eq!(s.verification_nonce, None, "an empty string is no nonce");

    let f = fixture("openbao_rotate_root_init_started");
    let started = StartRekey::new(3, 2).parse(f.status, &f.body).unwrap();
    assert_eq!(started, s);

    for name in [
        "legacy_rekey_init_started_verification",
        "openbao_rotate_root_init_started_verification",
    ] {
        let s = status(name);
        assert!(s.started && s.verification_required, "{name}");
        assert_eq!((s.t, s.n, s.required), (3, 5, 2), "{name}");
        assert_eq!(s.verification_nonce, None, "{name}");
    }
    for (name, nonce) in [
        (
            "legacy_rekey_init_verification_pending",
            "4941f959-2e3a-44b9-53a7-15164eddd28c",
        ),
        (
            "openbao_rotate_root_init_verification_pending",
            "39cb97e8-b657-645d-3840-95a93bada389",
        ),
    ] {
        let s = status(name);
        assert_eq!(s.verification_nonce.as_deref(), Some(nonce), "{name}");
        assert!(s.verification_required);
    }
}

#[test]
fn pgp_and_backup_status() {
    for name in [
        "legacy_rekey_init_started_pgp_backup",
        "openbao_rotate_root_init_started_pgp_backup",
    ] {
        let s = status(name);
        assert!(s.backup, "{name}");
        assert_eq!(s.pgp_fingerprints, FINGERPRINTS, "{name}");
    }
}

#[test]
fn progress_answers() {
    let s = progress("legacy_rekey_update_progress");
    assert_eq!(s.progress, 1);
    assert_eq!(
        s.nonce.as_deref(),
        Some("935f8a3b-4f22-8f63-6325-d14cfd308e16")
    );
    let s = progress("openbao_rotate_root_update_progress");
    assert_eq!(s.progress, 1);
    assert_eq!((s.t, s.n, s.required), (2, 3, 3));
}

#[test]
fn completion_returns_the_new_shares() {
    for (name, verification_nonce) in [
        ("legacy_rekey_update_complete", None),
        ("openbao_rotate_root_update_complete", None),
        (
            "legacy_rekey_update_complete_verification",
            Some("4941f959-2e3a-44b9-53a7-15164eddd28c"),
        ),
        (
            "openbao_rotate_root_update_complete_verification",
            Some("39cb97e8-b657-645d-3840-95a93bada389"),
        ),
    ] {
        let data = payload(name);
        let result = complete(name);
        assert_eq!(exposed(&result.keys), strings(&data["keys"]), "{name}");
        assert_eq!(
            exposed(&result.keys_base64),
            strings(&data["keys_base64"]),
            "{name}"
        );
        assert!(!result.keys.is_empty());
        assert_eq!(result.nonce.as_deref(), data["nonce"].as_str(), "{name}");
        assert_eq!(
            result.verification_nonce.as_deref(),
            verification_nonce,
            "{name}"
        );
        assert_eq!(result.verification_required, verification_nonce.is_some());
        assert!(
            result.pgp_fingerprints.is_empty(),
            "null is no fingerprints"
        );
        assert!(!result.backup);
        let printed = format!("{result:?}");
        for key in strings(&data["keys"])
            .iter()
            .chain(&strings(&data["keys_base64"]))
        {
            assert!(!printed.contains(key.as_str()), "{name}: {printed}");
        }
    }
    let result = complete("legacy_rekey_update_complete");
    assert_eq!(
        result.keys[0].expose(),
        "8cd05f4611ecf0b3e425e0468576e3d0bd9c9aa90a62c75a0c0d2ff92dfc6e9b02"
    );
}

#[test]
fn pgp_completion() {
    for name in [
        "legacy_rekey_update_complete_pgp",
        "openbao_rotate_root_update_complete_pgp",
    ] {
        let data = payload(name);
        let result = complete(name);
        assert!(result.backup, "{name}");
        assert_eq!(result.pgp_fingerprints, FINGERPRINTS, "{name}");
        assert_eq!(result.keys.len(), 3);
        assert_eq!(exposed(&result.keys), strings(&data["keys"]), "{name}");
        assert!(result.keys_base64[0].expose().starts_with("wcBMA"));
    }
}

#[test]
fn both_shapes_parse_to_the_same_status() {
    let top = br#"{"nonce":"n","started":true,"t":2,"n":3,"progress":1,"required":3,
        "pgp_fingerprints":null,"backup":false,"verification_required":false}"#;
    let envelope = br#"{"request_id":"r","data":{"n":3,"nonce":"n","progress":1,"required":3,
        "started":true,"t":2,"verification_nonce":"","verification_required":false}}"#;
    let a = progress_of(top);
    let b = progress_of(envelope);
    assert_eq!(a, b);
    assert_eq!((a.t, a.n, a.progress), (2, 3, 1));
}

fn progress_of(body: &[u8]) -> RekeyStatus {
    match Rekey::new(KeyShare::new(SHARE), "n")
        .parse(StatusCode::OK, body)
        .unwrap()
    {
        RekeyUpdate::Progress(s) => s,
        other => panic!("{other:?}"),
    }
}

#[test]
fn completion_without_keys_is_a_decode_error_that_keeps_the_body() {
    let body = br#"{"nonce":"n","complete":true}"#;
    let err = Rekey::new(KeyShare::new(SHARE), "n")
        .parse(StatusCode::OK, body)
        .unwrap_err();
    assert_eq!(err.raw_body().unwrap().expose(), body);
}

#[test]
fn cancel_answers_204() {
    for name in [
        "legacy_rekey_init_cancel",
        "openbao_rotate_root_init_cancel",
        "openbao_rotate_recovery_init_cancel",
    ] {
        let f = fixture(name);
        assert_eq!(f.status, StatusCode::NO_CONTENT);
        CancelRekey::new()
            .kind(KeyKind::Unseal)
            .parse(f.status, &f.body)
            .unwrap();
    }
}

#[test]
fn a_rekey_is_checked_against_the_seal_before_it_is_sent() {
    use vault_key_core::ops::seal::SealStatus;
    let seal = |json: &str| serde_json::from_str::<SealStatus>(json).unwrap();
    let transit = seal(
        r#"{"type":"transit","initialized":true,"sealed":false,"t":2,"n":3,"recovery_seal":true}"#,
    );
    let shamir = seal(
        r#"{"type":"shamir","initialized":true,"sealed":false,"t":2,"n":3,"recovery_seal":false}"#,
    );
    let refused = |start: StartRekey| match start.check_seal(&transit) {
        Err(InvalidInput::AutoUnsealRekey { refused, seal_type }) => {
            assert_eq!(seal_type, "transit");
            refused
        }
        other => panic!("{other:?}"),
    };
    // The default verifies: refused, with what to do instead.
    assert_eq!(refused(StartRekey::new(3, 2)), "verification");
    let text = StartRekey::new(3, 2)
        .check_seal(&transit)
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("KeyKind::Recovery") && text.contains("transit"),
        "{text}"
    );
    let unverified = || StartRekey::new(1, 1).require_verification(false);
    assert_eq!(
        refused(unverified().pgp_keys(vec!["a2V5".into()])),
        "PGP keys"
    );
    assert!(unverified().check_seal(&transit).is_ok());
    // Recovery keys: on an auto-unseal server, with verification; never on a Shamir one.
    let recovery = StartRekey::new(3, 2).kind(KeyKind::Recovery);
    assert!(recovery.check_seal(&transit).is_ok());
    assert_eq!(
        recovery.check_seal(&shamir),
        Err(InvalidInput::NoRecoveryKeys)
    );
    assert!(StartRekey::new(3, 2).check_seal(&shamir).is_ok());
}
