//! Every error answer of the capture, and every documented error message, maps to the right
//! [`Refusal`] through the parser of the operation that would receive it.

mod common;

use common::*;
use http::StatusCode;
use vault_key_core::{Error, Refusal, ServerError};

fn expected(row: &ErrorRow) -> Refusal {
    match row.refusal.as_str() {
        "PermissionDenied" => Refusal::PermissionDenied,
        "Sealed" => Refusal::Sealed,
        "NotInitialized" => Refusal::NotInitialized,
        "AlreadyInitialized" => Refusal::AlreadyInitialized,
        "Standby" => Refusal::Standby,
        "RateLimited" => Refusal::RateLimited,
        "NoActiveNode" => Refusal::NoActiveNode,
        "NotFound" => Refusal::NotFound,
        "RecoveryMode" => Refusal::RecoveryMode,
        "EndpointDisabled" => Refusal::EndpointDisabled,
        "MethodNotAllowed" => Refusal::MethodNotAllowed,
        "WrongNonce" => Refusal::WrongNonce {
            expected: row.nonce.clone(),
        },
        "AlreadyProvided" => Refusal::AlreadyProvided,
        "NotInProgress" => Refusal::NotInProgress,
        "AlreadyInProgress" => Refusal::AlreadyInProgress,
        "SharesDidNotCombine" => Refusal::SharesDidNotCombine,
        "VerificationPending" => Refusal::VerificationPending {
            verification_nonce: row.nonce.clone(),
        },
        "NoBackup" => Refusal::NoBackup,
        "InvalidRequest" => Refusal::InvalidRequest,
        "ServerFailure" => Refusal::ServerFailure,
        other => panic!("unknown refusal {other}"),
    }
}

#[test]
fn every_captured_error_is_classified() {
    let rows = error_rows();
    assert!(rows.len() > 100, "the table covers the capture");
    let mut failures = Vec::new();
    for row in rows {
        let f = &row.fixture;
        let parse = parser_for(&f.method, &f.path);
        let error = match parse(f.status, &f.body) {
            Err(Error::Server(e)) => e,
            other => panic!("{}: {} {} gave {other:?}", f.name, f.method, f.path),
        };
        assert_eq!(error.status, f.status.as_u16(), "{}", f.name);
        for message in &error.errors {
            assert!(
                !message.contains("error occurred") && !message.contains("\n\t*"),
                "{}: multierror not unwrapped: {message:?}",
                f.name
            );
        }
        let want = expected(row);
        if error.refusal != want {
            failures.push(format!(
                "{} ({} {} {}): {:?}, expected {:?}; messages {:?}",
                f.name, f.method, f.path, f.status, error.refusal, want, error.errors
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_table_covers_every_refusal_of_the_cheat_sheet() {
    let rows = error_rows();
    for refusal in [
        "PermissionDenied",
        "Sealed",
        "NotInitialized",
        "AlreadyInitialized",
        "NotFound",
        "EndpointDisabled",
        "WrongNonce",
        "AlreadyProvided",
        "NotInProgress",
        "AlreadyInProgress",
        "SharesDidNotCombine",
        "VerificationPending",
        "NoBackup",
        "InvalidRequest",
    ] {
        assert!(
            rows.iter().any(|r| r.refusal == refusal),
            "no captured {refusal}"
        );
    }
    for row in rows
        .iter()
        .filter(|r| r.refusal == "WrongNonce" || r.refusal == "VerificationPending")
    {
        assert!(row.nonce.is_some(), "{}", row.fixture.name);
    }
}

fn classify(status: u16, message: &str) -> ServerError {
    let body = serde_json::json!({ "errors": [message] }).to_string();
    let status = StatusCode::from_u16(status).unwrap();
    let mut seen = None;
    for (name, parse) in parsers() {
        let error = server_error(parse(status, body.as_bytes()));
        if let Some(first) = &seen {
            assert_eq!(&error, first, "{name} classifies like the others");
        }
        seen = Some(error);
    }
    seen.unwrap()
}

#[test]
fn cheat_sheet_rows() {
    let multi = |m: &str| format!("1 error occurred:\n\t* {m}\n\n");
    let nonce = "f17d31b3-1bb5-d8b7-301e-66e17fca4e4d";
    let cases: Vec<(u16, String, Refusal)> = vec![
        (403, "permission denied".into(), Refusal::PermissionDenied),
        (403, multi("permission denied"), Refusal::PermissionDenied),
        (503, "Vault is sealed".into(), Refusal::Sealed),
        (405, "unsupported operation".into(), Refusal::EndpointDisabled),
        (400, "failed to decode JSON input: unexpected EOF".into(), Refusal::InvalidRequest),
        (
            400,
            "root generation already in progress for this namespace".into(),
            Refusal::AlreadyInProgress,
        ),
        (400, "rekey already in progress".into(), Refusal::AlreadyInProgress),
        (400, "rotation already in progress".into(), Refusal::AlreadyInProgress),
        (
            500,
            "invalid rekey seal configuration: threshold cannot be larger than shares".into(),
            Refusal::InvalidRequest,
        ),
        (
            400,
            "invalid rotate seal configuration: %!w(*errors.errorString=&{threshold cannot be larger than shares})".into(),
            Refusal::InvalidRequest,
        ),
        (
            400,
            "cannot request a backup of the new keys without providing PGP keys for encryption".into(),
            Refusal::InvalidRequest,
        ),
        (400, "incorrect number of PGP keys for rekey".into(), Refusal::InvalidRequest),
        (
            500,
            "invalid rekey seal configuration: error parsing given PGP key: openpgp: invalid data".into(),
            Refusal::InvalidRequest,
        ),
        (400, "OTP string has incorrect length".into(), Refusal::InvalidRequest),
        (400, "OTP string is wrong length".into(), Refusal::InvalidRequest),
        (400, "no root generation in progress".into(), Refusal::NotInProgress),
        (500, multi("no root generation in progress"), Refusal::NotInProgress),
        (400, "no barrier rekey in progress".into(), Refusal::NotInProgress),
        (400, "no recovery rekey in progress".into(), Refusal::NotInProgress),
        (400, "no rotation in progress".into(), Refusal::NotInProgress),
        (
            400,
            format!("incorrect nonce supplied; nonce for this root generation operation is \"{nonce}\""),
            Refusal::WrongNonce { expected: Some(nonce.into()) },
        ),
        (
            500,
            multi(&format!("incorrect nonce supplied; nonce for this root generation operation is \"{nonce}\"")),
            Refusal::WrongNonce { expected: Some(nonce.into()) },
        ),
        (
            400,
            format!("incorrect nonce supplied; nonce for this rekey operation is \"{nonce}\""),
            Refusal::WrongNonce { expected: Some(nonce.into()) },
        ),
        (
            400,
            format!("incorrect nonce supplied; nonce for rotation is \"{nonce}\""),
            Refusal::WrongNonce { expected: Some(nonce.into()) },
        ),
        (400, "'key' must be specified in request body as JSON".into(), Refusal::InvalidRequest),
        (400, "key is required".into(), Refusal::InvalidRequest),
        (400, "missing required field 'key'".into(), Refusal::InvalidRequest),
        (400, "nonce is required".into(), Refusal::InvalidRequest),
        (400, "missing required field 'nonce'".into(), Refusal::InvalidRequest),
        (400, "'key' must be a valid hex or base64 string".into(), Refusal::InvalidRequest),
        (500, multi("'key' must be a valid hex or base64 string"), Refusal::InvalidRequest),
        (
            400,
            "given key has already been provided during this generation operation".into(),
            Refusal::AlreadyProvided,
        ),
        (
            500,
            multi("given key has already been provided during this generation operation"),
            Refusal::AlreadyProvided,
        ),
        (
            400,
            "given key has already been provided during this rotation".into(),
            Refusal::AlreadyProvided,
        ),
        (
            400,
            "root generation aborted: unable to authenticate: unable to retrieve stored keys".into(),
            Refusal::SharesDidNotCombine,
        ),
        (
            500,
            multi("root generation aborted: unable to authenticate: x"),
            Refusal::SharesDidNotCombine,
        ),
        (
            500,
            "failed to read root key: invalid key: failed to decrypt keys from storage".into(),
            Refusal::SharesDidNotCombine,
        ),
        (
            400,
            "failed to read root key: %!w(*vault.ErrInvalidKey=&{failed to decrypt keys})".into(),
            Refusal::SharesDidNotCombine,
        ),
        (
            400,
            format!("rekey operation already finished; verification must be performed; nonce for the verification operation is \"{nonce}\""),
            Refusal::VerificationPending { verification_nonce: Some(nonce.into()) },
        ),
        (
            400,
            format!("rotation already finished; verification must be performed; nonce for the verification operation is \"{nonce}\""),
            Refusal::VerificationPending { verification_nonce: Some(nonce.into()) },
        ),
        (400, "no rekey configuration found".into(), Refusal::NotInProgress),
        (400, "no rekey in progress".into(), Refusal::NotInProgress),
        (400, "no rekey verification in progress".into(), Refusal::NotInProgress),
        (400, "no rotation configuration found".into(), Refusal::NotInProgress),
        (400, "no rotation verification in progress".into(), Refusal::NotInProgress),
        (
            400,
            "rekey verification failed; incorrect key shares supplied".into(),
            Refusal::SharesDidNotCombine,
        ),
        (
            400,
            "failed to compute key for verification: %!w(*errors.errorString=&{duplicate part detected})".into(),
            Refusal::SharesDidNotCombine,
        ),
        (400, "no backed-up keys found".into(), Refusal::NoBackup),
    ];
    for (status, message, refusal) in cases {
        let error = classify(status, &message);
        assert_eq!(error.refusal, refusal, "{status} {message:?}");
        assert_eq!(error.status, status);
    }
}

#[test]
fn documented_messages_of_the_api_notes() {
    let cases: Vec<(u16, &str, Refusal)> = vec![
        (503, "Vault is sealed", Refusal::Sealed),
        (503, "namespace is sealed", Refusal::Sealed),
        (503, "Vault is in standby mode", Refusal::Standby),
        (503, "no active Vault instance found", Refusal::NoActiveNode),
        (503, "Vault is not initialized", Refusal::NotInitialized),
        (400, "Vault is not initialized", Refusal::NotInitialized),
        (503, "server is not yet initialized", Refusal::NotInitialized),
        (429, "", Refusal::RateLimited),
        (
            400,
            "rootter key verification failed: bad shares",
            Refusal::SharesDidNotCombine,
        ),
        (400, "recovery key verification failed", Refusal::SharesDidNotCombine),
        (400, "unseal failed, invalid key", Refusal::SharesDidNotCombine),
        (
            400,
            "unable to retrieve stored keys: invalid key: failed to decrypt keys from storage: cipher: message authentication failed",
            Refusal::SharesDidNotCombine,
        ),
        (400, "recovery rekeying not supported", Refusal::InvalidRequest),
        (
            500,
            "failed to fetch existing recovery config: recovery not supported",
            Refusal::InvalidRequest,
        ),
        (
            400,
            "invalid rekey seal configuration: threshold cannot be larger than shares",
            Refusal::InvalidRequest,
        ),
        (404, "unsupported path", Refusal::NotFound),
        (500, "internal error", Refusal::ServerFailure),
        (502, "", Refusal::ServerFailure),
    ];
    for (status, message, refusal) in cases {
        let error = classify(status, message);
        assert_eq!(error.refusal, refusal, "{status} {message:?}");
    }
}

#[test]
fn error_bodies_of_every_shape() {
    let parse = parser_for("GET", "/v1/sys/rekey/init");
    // Text that is not Vault's `errors` list is classified, kept, and never shown.
    let e = server_error(parse(StatusCode::NOT_FOUND, b"404 page not found\n"));
    assert!(e.errors.is_empty());
    assert_eq!(e.body.expose(), b"404 page not found\n");
    // Go's plain 404 from a server whose API answers JSON: recovery mode.
    assert_eq!(e.refusal, Refusal::RecoveryMode);
    assert!(!e.to_string().contains("page not found"), "{e}");
    assert!(e.to_string().contains("recovery mode"), "{e}");

    // A 503 without Vault's `errors` is a gateway's (a load balancer's page, or nothing): it
    // says nothing of the server, which may have acted on the request.
    for page in [
        &b""[..],
        b"<html><head><title>503 Service Temporarily Unavailable</title></head></html>",
    ] {
        let e = server_error(parse(StatusCode::SERVICE_UNAVAILABLE, page));
        assert!(e.errors.is_empty());
        assert_eq!(e.refusal, Refusal::ServerFailure);
        assert!(e.from_gateway() && !e.written_by_server(), "{e}");
    }
    // Vault's own 503 is its refusal: sealed, not acted on.
    let e = server_error(parse(
        StatusCode::SERVICE_UNAVAILABLE,
        br#"{"errors":["Vault is sealed"]}"#,
    ));
    assert_eq!(e.refusal, Refusal::Sealed);
    assert!(!e.from_gateway() && e.written_by_server());
    // A proxy's 4xx page is not the server's refusal either, though not a gateway failure.
    let e = server_error(parse(
        StatusCode::PAYLOAD_TOO_LARGE,
        b"<html>413 Request Entity Too Large</html>",
    ));
    assert!(!e.from_gateway() && !e.written_by_server());

    let e = server_error(parse(StatusCode::BAD_REQUEST, br#"{"errors":[]}"#));
    assert!(e.errors.is_empty());
    assert_eq!(e.refusal, Refusal::InvalidRequest);

    let e = server_error(parse(
        StatusCode::BAD_REQUEST,
        br#"{"errors":["2 errors occurred:\n\t* first\n\t* second\n\n"]}"#,
    ));
    assert_eq!(e.errors, ["first; second"]);

    let long = format!("{{\"keys\":[\"{}\"]", "ab".repeat(2500));
    let e = server_error(parse(StatusCode::BAD_GATEWAY, long.as_bytes()));
    assert!(e.errors.is_empty());
    assert_eq!(e.body.len(), long.len(), "the whole body is kept");
    assert!(!format!("{e} {e:?}").contains("abab"), "{e}");
    assert!(e.from_gateway());
    assert_eq!(e.refusal, Refusal::ServerFailure);

    let e = server_error(parse(
        StatusCode::TEMPORARY_REDIRECT,
        b"<a href=\"https://active:8200/v1/sys/rekey/init\">Temporary Redirect</a>.",
    ));
    assert_eq!(e.status, 307);
    assert_eq!(e.refusal, Refusal::Other);
}

#[test]
fn a_server_error_wins_over_a_success_shaped_body() {
    for (name, parse) in parsers() {
        let e = server_error(parse(
            StatusCode::INTERNAL_SERVER_ERROR,
            br#"{"data":{"started":true},"errors":["boom"]}"#,
        ));
        assert_eq!(e.refusal, Refusal::ServerFailure, "{name}");
        assert_eq!(e.errors, ["boom"], "{name}");
    }
}
