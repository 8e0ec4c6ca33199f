//! Root- and recovery-token generation: requests for both dialects and token kinds, and the
//! captured answers of the classic, OpenBao and recovery-mode paths.

mod common;

use common::*;
use http::{Method, StatusCode};
use serde_json::json;
use vault_key_core::ops::generate_root::{
    CancelRootGeneration, GenerateRoot, ReadRootGenerationProgress, RootGenerationStatus,
    StartRootTokenGeneration, TokenKind,
};
use vault_key_core::{Dialect, Error, InvalidInput, KeyShare, Operation, Otp};

const SHARE: &str = "59fc8632b99b18e1ac5ab103d6d4b9681e6fa22aa43a32274854cbc529551a121e";
const NONCE: &str = "8c05c6a8-a68c-5dcf-ab51-c5dd817dcc31";

fn family(dialect: Dialect, kind: TokenKind) -> &'static str {
    match (dialect, kind) {
        (Dialect::Vault, TokenKind::Root) => "sys/generate-root",
        (Dialect::OpenBao, TokenKind::Root) => "sys/generate-root-token",
        (_, TokenKind::Recovery) => "sys/generate-recovery-token",
        // Vault's http/handler.go routes these to the generate-root handlers; no dialect has
        // another path for them.
        (_, TokenKind::DrOperation) => "sys/replication/dr/secondary/generate-operation-token",
        _ => unreachable!(),
    }
}

#[test]
fn paths_match_the_capture() {
    let cases = [
        (
            Dialect::Vault,
            TokenKind::Root,
            "legacy_generate_root_attempt_idle",
        ),
        (
            Dialect::OpenBao,
            TokenKind::Root,
            "openbao_generate_root_token_attempt_idle",
        ),
        (
            Dialect::Vault,
            TokenKind::Recovery,
            "recovery_generate_recovery_token_attempt_idle",
        ),
        (
            Dialect::OpenBao,
            TokenKind::Recovery,
            "recovery_generate_recovery_token_attempt_idle",
        ),
    ];
    for (dialect, kind, name) in cases {
        let f = fixture(name);
        let request = ReadRootGenerationProgress::new()
            .kind(kind)
            .request(&target(dialect))
            .unwrap();
        assert_eq!(request.uri().path(), f.path, "{dialect:?} {kind:?}");
    }
}

#[test]
fn requests_for_every_dialect_and_kind() {
    for target in all_targets() {
        for kind in [TokenKind::Root, TokenKind::Recovery, TokenKind::DrOperation] {
            let family = family(target.dialect(), kind);
            let attempt = format!("{family}/attempt");
            let update = format!("{family}/update");

            let request = ReadRootGenerationProgress::new()
                .kind(kind)
                .request(&target)
                .unwrap();
            assert_request(&request, &target, Method::GET, &attempt, None);

            let request = StartRootTokenGeneration::new()
                .kind(kind)
                .request(&target)
                .unwrap();
            assert_request(&request, &target, Method::PUT, &attempt, Some(json!({})));

            let request = StartRootTokenGeneration::new()
                .kind(kind)
                .otp(Otp::new("abcdefghijklmnopqrstuvwxyz"))
                .request(&target)
                .unwrap();
            assert_request(
                &request,
                &target,
                Method::PUT,
                &attempt,
                Some(json!({"otp": "abcdefghijklmnopqrstuvwxyz"})),
            );

            let request = StartRootTokenGeneration::new()
                .kind(kind)
                .pgp_key("bW9jayBwZ3Aga2V5")
                .request(&target)
                .unwrap();
            assert_request(
                &request,
                &target,
                Method::PUT,
                &attempt,
                Some(json!({"pgp_key": "bW9jayBwZ3Aga2V5"})),
            );

            let request = GenerateRoot::new(KeyShare::new(SHARE), NONCE)
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

            let request = CancelRootGeneration::new()
                .kind(kind)
                .request(&target)
                .unwrap();
            assert_request(&request, &target, Method::DELETE, &attempt, None);
        }
    }
}

#[test]
fn defaults_are_root_tokens() {
    let target = target(Dialect::Vault);
    let paths = [
        ReadRootGenerationProgress::new().request(&target).unwrap(),
        StartRootTokenGeneration::new().request(&target).unwrap(),
        GenerateRoot::new(KeyShare::new(SHARE), NONCE)
            .request(&target)
            .unwrap(),
        CancelRootGeneration::new().request(&target).unwrap(),
    ]
    .map(|r| r.uri().path().to_string());
    assert_eq!(
        paths,
        [
            "/v1/sys/generate-root/attempt",
            "/v1/sys/generate-root/attempt",
            "/v1/sys/generate-root/update",
            "/v1/sys/generate-root/attempt",
        ]
    );
}

#[test]
fn input_errors_before_any_request() {
    let target = target(Dialect::OpenBao);
    let err = StartRootTokenGeneration::new()
        .otp(Otp::new("otp-secret-value-abcdefghij"))
        .pgp_key("bW9jayBwZ3Aga2V5")
        .request(&target)
        .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidInput(InvalidInput::OtpAndPgpKey)
    ));
    assert!(!format!("{err} {err:?}").contains("otp-secret-value"));

    let err = StartRootTokenGeneration::new()
        .otp(Otp::new(""))
        .request(&target)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(InvalidInput::Empty(_))));

    let err = StartRootTokenGeneration::new()
        .pgp_key(" ")
        .request(&target)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(InvalidInput::Empty(_))));

    for (key, nonce) in [("", NONCE), (" \t", NONCE), (SHARE, ""), (SHARE, "  ")] {
        let err = GenerateRoot::new(KeyShare::new(key), nonce)
            .request(&target)
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidInput(InvalidInput::Empty(_))),
            "{key:?}/{nonce:?}"
        );
        assert!(!format!("{err} {err:?}").contains(SHARE));
    }
}

fn parse(name: &str) -> RootGenerationStatus {
    let f = fixture(name);
    let op = GenerateRoot::new(KeyShare::new(SHARE), NONCE);
    op.parse(f.status, &f.body)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn idle_status_on_every_path() {
    for (name, required, otp_length) in [
        ("legacy_generate_root_attempt_idle", 3, 26),
        ("openbao_generate_root_token_attempt_idle", 3, 26),
        ("recovery_generate_recovery_token_attempt_idle", 2, 28),
    ] {
        let status = parse(name);
        assert_eq!(status.nonce, None, "{name}");
        assert_eq!((status.progress, status.required), (0, required), "{name}");
        assert_eq!(status.encoded_token, None, "{name}");
        assert_eq!(status.pgp_fingerprint, None, "{name}");
        assert_eq!(status.otp, None, "{name}");
        assert_eq!(status.otp_length, otp_length, "{name}");
        assert!(!status.started && !status.complete, "{name}");
    }
}

#[test]
fn start_returns_the_server_otp_once() {
    for (name, nonce, otp, otp_length) in [
        (
            "legacy_generate_root_attempt_started_server_otp",
            NONCE,
            "B0F8lbreLPbrgNXcHnv3GWbtF7",
            26,
        ),
        (
            "openbao_generate_root_token_attempt_started_server_otp",
            "f17d31b3-1bb5-d8b7-301e-66e17fca4e4d",
            "7nlDBuF737nFq18hZuHjWWS0Wd",
            26,
        ),
        (
            "recovery_generate_recovery_token_attempt_started_server_otp",
            "c30f94bb-dc6c-9104-f2ec-6afbf1b8ffe7",
            "XO8Tl9Nm5qx1R2SgQ1mrCu2kP17G",
            28,
        ),
    ] {
        let f = fixture(name);
        let status = StartRootTokenGeneration::new()
            .parse(f.status, &f.body)
            .unwrap();
        assert!(status.started, "{name}");
        assert_eq!(status.nonce.as_deref(), Some(nonce), "{name}");
        assert_eq!(status.otp.as_ref().map(Otp::expose), Some(otp), "{name}");
        assert_eq!(status.otp_length, otp_length, "{name}");
        assert_eq!(status.otp_length as usize, otp.len(), "{name}");
        assert_eq!(status.progress, 0);
        assert_eq!(status.encoded_token, None);
        assert_eq!(status.pgp_fingerprint, None);
        assert!(!format!("{status:?}").contains(otp), "{name}");
    }
    for name in [
        "legacy_generate_root_attempt_in_progress",
        "openbao_generate_root_token_attempt_in_progress",
    ] {
        let status = parse(name);
        assert!(status.started);
        assert_eq!(status.otp, None, "{name}: the OTP is not repeated");
        assert_eq!(status.otp_length, 26);
    }
}

#[test]
fn progress_answers() {
    let status = parse("legacy_generate_root_update_progress");
    assert_eq!((status.progress, status.required), (1, 3));
    assert_eq!(status.otp_length, 0, "classic update answers say 0");
    assert_eq!(status.nonce.as_deref(), Some(NONCE));
    assert!(!status.complete);

    let status = parse("openbao_generate_root_token_update_progress");
    assert_eq!((status.progress, status.required), (1, 3));
    assert!(status.started && !status.complete);
    assert_eq!(status.encoded_token, None);

    let status = parse("recovery_generate_recovery_token_update_progress");
    assert_eq!((status.progress, status.required), (1, 2));
}

#[test]
fn completion_carries_the_encoded_token() {
    for (name, encoded) in [
        (
            "legacy_generate_root_update_complete",
            "MR4veh4NFyZ4FgwCAhQWADwFF300Nik9BXY",
        ),
        (
            "openbao_generate_root_token_update_complete",
            "REAbJQsyLABGZw9zE1dOISoCfl1mEDhmOhE",
        ),
        (
            "recovery_generate_recovery_token_update_complete",
            "MDlKegJhHV1hHC1pAHM/JT1dCCU6RgsIH3p/Dg",
        ),
    ] {
        let status = parse(name);
        assert!(status.complete, "{name}");
        assert_eq!(
            status.encoded_token.as_ref().map(|t| t.expose()),
            Some(encoded),
            "{name}"
        );
        assert!(!format!("{status:?}").contains(encoded), "{name}");
    }
}

#[test]
fn pgp_generation() {
    let status = parse("legacy_generate_root_attempt_started_pgp");
    assert_eq!(
        status.pgp_fingerprint.as_deref(),
        Some("24f0e2e4e7feac8f9c0a1e98886f6e3f5b3148a8")
    );
    assert_eq!(status.otp, None);

    let status = parse("openbao_generate_root_token_attempt_started_pgp");
    assert_eq!(
        status.pgp_fingerprint.as_deref(),
        Some("424be52f3e6d21911b2ff0ec27fa7488d7d92e4f")
    );

    for name in [
        "legacy_generate_root_update_complete_pgp",
        "openbao_generate_root_token_update_complete_pgp",
    ] {
        let f = fixture(name);
        let json = f.json.clone().unwrap();
        let data = json.get("data").unwrap_or(&json);
        let expected = data["encoded_token"].as_str().unwrap();
        let status = parse(name);
        assert!(status.complete);
        assert!(expected.starts_with("wcBMA"), "a binary OpenPGP message");
        assert_eq!(status.encoded_token.unwrap().expose(), expected, "{name}");
        assert!(status.pgp_fingerprint.is_some());
    }
}

#[test]
fn encoded_root_token_alone_is_used() {
    let body = br#"{"nonce":"n","started":true,"progress":3,"required":3,"complete":true,
        "encoded_token":"","encoded_root_token":"ZW5jb2RlZA","pgp_fingerprint":"","otp":"",
        "otp_length":0}"#;
    let status = GenerateRoot::new(KeyShare::new(SHARE), "n")
        .parse(StatusCode::OK, body)
        .unwrap();
    assert_eq!(status.encoded_token.unwrap().expose(), "ZW5jb2RlZA");
}

#[test]
fn both_shapes_parse_to_the_same_status() {
    let top = br#"{"nonce":"n1","started":true,"progress":2,"required":3,"complete":false,
        "encoded_token":"","encoded_root_token":"","pgp_fingerprint":"","otp":"","otp_length":26}"#;
    let envelope = br#"{"request_id":"r","lease_id":"","renewable":false,"lease_duration":0,
        "data":{"nonce":"n1","started":true,"progress":2,"required":3,"complete":false,
        "otp":"","otp_length":26,"pgp_fingerprint":""},"wrap_info":null,"warnings":null,"auth":null}"#;
    let op = ReadRootGenerationProgress::new();
    let a = op.parse(StatusCode::OK, top).unwrap();
    let b = op.parse(StatusCode::OK, envelope).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.progress, 2);
}

#[test]
fn cancel_answers_204() {
    for name in [
        "legacy_generate_root_attempt_cancel",
        "openbao_generate_root_token_attempt_cancel",
        "recovery_generate_recovery_token_attempt_cancel",
    ] {
        let f = fixture(name);
        assert_eq!(f.status, StatusCode::NO_CONTENT);
        assert!(f.body.is_empty());
        CancelRootGeneration::new()
            .parse(f.status, &f.body)
            .unwrap();
    }
}
