//! Shared helpers for the operation tests: targets, captured fixtures, request checks and a
//! parser for every operation.

#![allow(dead_code)]

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Method, Request, StatusCode};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use vault_key_core::ops::decode::DecodeToken;
use vault_key_core::ops::encryption_key::{
    ConfigureRotation, GetEncryptionKeyStatus, ReadRotateConfig, RotateEncryptionKey, RotateRootKey,
};
use vault_key_core::ops::generate_root::{
    CancelRootGeneration, GenerateRoot, ReadRootGenerationProgress, StartRootTokenGeneration,
};
use vault_key_core::ops::rekey::{CancelRekey, KeyKind, ReadRekeyProgress, Rekey, StartRekey};
use vault_key_core::ops::rekey_backup::{DeleteBackupKeys, ReadBackupKeys};
use vault_key_core::ops::rekey_verify::{CancelRekeyVerify, ReadRekeyVerifyProgress, RekeyVerify};
use vault_key_core::ops::seal::{Initialize, ReadInitStatus, ReadSealStatus, Seal, Unseal};
use vault_key_core::{Dialect, EncodedToken, Error, KeyShare, Operation, Otp, Target, Token};

/// Base address of every test target.
pub const ADDR: &str = "https://vault.example.com:8200";
/// The caller's token of [`target`].
pub const TOKEN: &str = "s.CallerTokenValue0123456";
/// The namespace of [`target`].
pub const NAMESPACE: &str = "team-a/sub";

/// Both dialects, for loops.
pub const DIALECTS: [Dialect; 2] = [Dialect::Vault, Dialect::OpenBao];
/// Both key kinds, for loops.
pub const KEY_KINDS: [KeyKind; 2] = [KeyKind::Unseal, KeyKind::Recovery];

/// A target with a token and a namespace.
pub fn target(dialect: Dialect) -> Target {
    Target::new(ADDR)
        .unwrap()
        .with_token(Token::new(TOKEN))
        .with_namespace(NAMESPACE)
        .unwrap()
        .with_dialect(dialect)
}

/// A target with neither token nor namespace.
pub fn bare_target(dialect: Dialect) -> Target {
    Target::new(ADDR).unwrap().with_dialect(dialect)
}

/// Every target variant worth checking headers on.
pub fn all_targets() -> Vec<Target> {
    DIALECTS
        .iter()
        .flat_map(|&d| [target(d), bare_target(d)])
        .collect()
}

/// The request body as JSON, or `None` when it is empty.
pub fn body_json(request: &Request<Bytes>) -> Option<Value> {
    if request.body().is_empty() {
        None
    } else {
        Some(serde_json::from_slice(request.body()).expect("request body is JSON"))
    }
}

/// Checks method, URI, body and every header a request must (and must not) carry for `target`.
#[track_caller]
pub fn assert_request(
    request: &Request<Bytes>,
    target: &Target,
    method: Method,
    path: &str,
    body: Option<Value>,
) {
    assert_eq!(request.method(), method, "method of {path}");
    assert_eq!(
        request.uri().to_string(),
        format!("{}/v1/{path}", target.address()),
        "URI"
    );
    assert_headers(request, target);
    match body {
        Some(expected) => {
            assert_eq!(
                request
                    .headers()
                    .get(CONTENT_TYPE)
                    .map(|v| v.to_str().unwrap()),
                Some("application/json"),
                "Content-Type of {path}"
            );
            assert_eq!(
                body_json(request),
                Some(expected),
                "body of {method} {path}"
            );
        }
        None => {
            assert!(
                request.headers().get(CONTENT_TYPE).is_none(),
                "no Content-Type without a body ({method} {path})"
            );
            assert!(request.body().is_empty(), "no body for {method} {path}");
        }
    }
}

/// Checks `X-Vault-Request`, `X-Vault-Token` (sensitive) and `X-Vault-Namespace` for `target`.
#[track_caller]
pub fn assert_headers(request: &Request<Bytes>, target: &Target) {
    let headers = request.headers();
    let all = |name: &str| headers.get_all(name).iter().collect::<Vec<_>>();
    let vault_request = all("X-Vault-Request");
    assert_eq!(vault_request.len(), 1, "exactly one X-Vault-Request");
    assert_eq!(vault_request[0], "true");
    let tokens = all("X-Vault-Token");
    match target.token() {
        Some(token) => {
            assert_eq!(tokens.len(), 1, "exactly one X-Vault-Token");
            assert_eq!(tokens[0].to_str().unwrap(), token.expose());
            assert!(tokens[0].is_sensitive(), "X-Vault-Token must be sensitive");
        }
        None => assert!(tokens.is_empty(), "no X-Vault-Token without a token"),
    }
    let namespaces = all("X-Vault-Namespace");
    match target.namespace() {
        Some(namespace) => {
            assert_eq!(namespaces.len(), 1, "exactly one X-Vault-Namespace");
            assert_eq!(namespaces[0].to_str().unwrap(), namespace);
        }
        None => assert!(namespaces.is_empty(), "no X-Vault-Namespace without one"),
    }
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ops")
}

/// One captured exchange: what was asked and what the server answered.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// File name without `.json`.
    pub name: String,
    /// Request method as captured (`PUT` and `POST` are the same handler).
    pub method: String,
    /// Request path as captured, e.g. `/v1/sys/rekey/update`.
    pub path: String,
    /// Response status.
    pub status: StatusCode,
    /// Response body bytes.
    pub body: Vec<u8>,
    /// Response body as JSON, when it is JSON.
    pub json: Option<Value>,
}

fn fixture_from(name: String, value: &Value) -> Fixture {
    let status = value["status"].as_u64().expect("status") as u16;
    let (body, json) = match (&value["body"], value.get("text")) {
        (_, Some(Value::String(text))) => (text.as_bytes().to_vec(), None),
        (Value::Null, _) => (Vec::new(), None),
        (json, _) => (serde_json::to_vec(json).unwrap(), Some(json.clone())),
    };
    Fixture {
        name,
        method: value["method"].as_str().expect("method").to_string(),
        path: value["path"].as_str().expect("path").to_string(),
        status: StatusCode::from_u16(status).unwrap(),
        body,
        json,
    }
}

/// Loads `tests/fixtures/ops/{name}.json`.
pub fn fixture(name: &str) -> Fixture {
    let path = fixture_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let value: Value = serde_json::from_str(&text).unwrap();
    fixture_from(name.to_string(), &value)
}

/// Every single-exchange fixture (all files except the error table), read once.
pub fn all_fixtures() -> &'static [Fixture] {
    static ALL: OnceLock<Vec<Fixture>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json") && n != "errors.json")
            .map(|n| n.trim_end_matches(".json").to_string())
            .collect();
        names.sort();
        names.iter().map(|n| fixture(n)).collect()
    })
}

/// One row of the captured error table.
#[derive(Debug, Clone)]
pub struct ErrorRow {
    /// The exchange.
    pub fixture: Fixture,
    /// The expected `Refusal` variant name.
    pub refusal: String,
    /// The nonce the server names, when it does.
    pub nonce: Option<String>,
}

/// `tests/fixtures/ops/errors.json`: every distinct error answer of the capture on a path and
/// method some operation uses. Read once.
pub fn error_rows() -> &'static [ErrorRow] {
    static ROWS: OnceLock<Vec<ErrorRow>> = OnceLock::new();
    ROWS.get_or_init(|| {
        let text = std::fs::read_to_string(fixture_dir().join("errors.json")).unwrap();
        let rows: Vec<Value> = serde_json::from_str(&text).unwrap();
        rows.iter()
            .map(|row| ErrorRow {
                fixture: fixture_from(format!("errors.json line {}", row["line"]), row),
                refusal: row["refusal"].as_str().unwrap().to_string(),
                nonce: row["nonce"].as_str().map(str::to_string),
            })
            .collect()
    })
}

/// A parse function of some operation, returning the output's `Debug` text.
pub type Parser = fn(StatusCode, &[u8]) -> Result<String, Error>;

fn dbg<T: std::fmt::Debug>(result: Result<T, Error>) -> Result<String, Error> {
    result.map(|v| format!("{v:?}"))
}

fn share() -> KeyShare {
    KeyShare::new("00")
}

/// Every operation's parser, by name.
pub fn parsers() -> Vec<(&'static str, Parser)> {
    vec![
        ("ReadInitStatus", |s, b| dbg(ReadInitStatus.parse(s, b))),
        ("Initialize", |s, b| dbg(Initialize::new(1, 1).parse(s, b))),
        ("ReadSealStatus", |s, b| dbg(ReadSealStatus.parse(s, b))),
        ("Unseal", |s, b| dbg(Unseal::reset().parse(s, b))),
        ("Seal", |s, b| dbg(Seal.parse(s, b))),
        ("ReadRootGenerationProgress", |s, b| {
            dbg(ReadRootGenerationProgress::new().parse(s, b))
        }),
        ("StartRootTokenGeneration", |s, b| {
            dbg(StartRootTokenGeneration::new().parse(s, b))
        }),
        ("GenerateRoot", |s, b| {
            dbg(GenerateRoot::new(share(), "n").parse(s, b))
        }),
        ("CancelRootGeneration", |s, b| {
            dbg(CancelRootGeneration::new().parse(s, b))
        }),
        ("DecodeToken", |s, b| {
            dbg(DecodeToken::new(EncodedToken::new("e"), Otp::new("o")).parse(s, b))
        }),
        ("ReadRekeyProgress", |s, b| {
            dbg(ReadRekeyProgress::new().kind(KeyKind::Unseal).parse(s, b))
        }),
        ("StartRekey", |s, b| dbg(StartRekey::new(3, 2).parse(s, b))),
        ("Rekey", |s, b| dbg(Rekey::new(share(), "n").parse(s, b))),
        ("CancelRekey", |s, b| {
            dbg(CancelRekey::new().kind(KeyKind::Unseal).parse(s, b))
        }),
        ("ReadRekeyVerifyProgress", |s, b| {
            dbg(ReadRekeyVerifyProgress::new()
                .kind(KeyKind::Unseal)
                .parse(s, b))
        }),
        ("RekeyVerify", |s, b| {
            dbg(RekeyVerify::new(share(), "n").parse(s, b))
        }),
        ("CancelRekeyVerify", |s, b| {
            dbg(CancelRekeyVerify::new().kind(KeyKind::Unseal).parse(s, b))
        }),
        ("ReadBackupKeys", |s, b| {
            dbg(ReadBackupKeys::new().kind(KeyKind::Unseal).parse(s, b))
        }),
        ("DeleteBackupKeys", |s, b| {
            dbg(DeleteBackupKeys::new().kind(KeyKind::Unseal).parse(s, b))
        }),
        ("GetEncryptionKeyStatus", |s, b| {
            dbg(GetEncryptionKeyStatus.parse(s, b))
        }),
        ("RotateEncryptionKey", |s, b| {
            dbg(RotateEncryptionKey.parse(s, b))
        }),
        ("RotateRootKey", |s, b| dbg(RotateRootKey.parse(s, b))),
        ("ReadRotateConfig", |s, b| dbg(ReadRotateConfig.parse(s, b))),
        ("ConfigureRotation", |s, b| {
            dbg(ConfigureRotation::new().parse(s, b))
        }),
    ]
}

/// The name of the operation that sends `method` to `path` (a captured `/v1/sys/...` path).
pub fn operation_for(method: &str, path: &str) -> &'static str {
    let p = path.strip_prefix("/v1/sys/").expect("a /v1/sys/ path");
    let method = if method == "POST" { "PUT" } else { method };
    let leaf = p.rsplit('/').next().unwrap();
    let generate = p.starts_with("generate-");
    let rekey = p.starts_with("rekey")
        || p.starts_with("rotate/root/")
        || p.starts_with("rotate/recovery/");
    match (method, p, leaf) {
        ("GET", "init", _) => "ReadInitStatus",
        ("PUT", "init", _) => "Initialize",
        ("GET", "seal-status", _) => "ReadSealStatus",
        ("PUT", "unseal", _) => "Unseal",
        ("PUT", "seal", _) => "Seal",
        ("PUT", "decode-token", _) => "DecodeToken",
        ("GET", "key-status", _) => "GetEncryptionKeyStatus",
        ("PUT", "rotate" | "rotate/keyring", _) => "RotateEncryptionKey",
        ("PUT", "rotate/root", _) => "RotateRootKey",
        ("GET", "rotate/config" | "rotate/keyring/config", _) => "ReadRotateConfig",
        ("PUT", "rotate/config" | "rotate/keyring/config", _) => "ConfigureRotation",
        ("GET", _, "attempt") if generate => "ReadRootGenerationProgress",
        ("PUT", _, "attempt") if generate => "StartRootTokenGeneration",
        ("DELETE", _, "attempt") if generate => "CancelRootGeneration",
        ("PUT", _, "update") if generate => "GenerateRoot",
        ("GET", _, "init") if rekey => "ReadRekeyProgress",
        ("PUT", _, "init") if rekey => "StartRekey",
        ("DELETE", _, "init") if rekey => "CancelRekey",
        ("PUT", _, "update") if rekey => "Rekey",
        ("GET", _, "verify") if rekey => "ReadRekeyVerifyProgress",
        ("PUT", _, "verify") if rekey => "RekeyVerify",
        ("DELETE", _, "verify") if rekey => "CancelRekeyVerify",
        ("GET", _, "backup" | "recovery-key-backup") if rekey => "ReadBackupKeys",
        ("DELETE", _, "backup" | "recovery-key-backup") if rekey => "DeleteBackupKeys",
        _ => panic!("no operation sends {method} {path}"),
    }
}

/// The parser of the operation that sends `method` to `path`.
pub fn parser_for(method: &str, path: &str) -> Parser {
    let name = operation_for(method, path);
    parsers()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, p)| p)
        .unwrap()
}

/// The error of a parse that must fail with a server refusal.
#[track_caller]
pub fn server_error(result: Result<String, Error>) -> vault_key_core::ServerError {
    match result {
        Err(Error::Server(e)) => e,
        other => panic!("expected a server error, got {other:?}"),
    }
}
