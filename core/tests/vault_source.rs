//! Answers only HashiCorp Vault gives, synthesised from its Go source (each fixture in
//! `fixtures/vault/` names the function it follows), parsed by the operation that would
//! receive them; and requests Vault's handlers expect.

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{json, Value};
use std::path::PathBuf;
use vault_key_core::ops::decode::DecodeToken;
use vault_key_core::ops::encryption_key::{GetEncryptionKeyStatus, RotateEncryptionKey};
use vault_key_core::ops::generate_root::{
    CancelRootGeneration, GenerateRoot, ReadRootGenerationProgress, StartRootTokenGeneration,
    TokenKind,
};
use vault_key_core::ops::rekey::{CancelRekey, KeyKind, ReadRekeyProgress, Rekey, StartRekey};
use vault_key_core::ops::rekey_backup::ReadBackupKeys;
use vault_key_core::ops::rekey_verify::ReadRekeyVerifyProgress;
use vault_key_core::ops::seal::{
    Initialize, Product, ReadSealBackendStatus, ReadSealStatus, Seal, Unseal,
};
use vault_key_core::otp::{decode_token, decode_token_any_scheme};
use vault_key_core::{
    Dialect, EncodedToken, Error, KeyShare, Operation, Otp, Refusal, Target, Token,
};

struct Fixture {
    source: String,
    method: String,
    path: String,
    status: StatusCode,
    body: Vec<u8>,
    value: Value,
}

fn fixture(name: &str) -> Fixture {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/vault")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    let value: Value = serde_json::from_str(&text).unwrap();
    let body = match value.get("text") {
        Some(Value::String(text)) => text.as_bytes().to_vec(),
        _ => serde_json::to_vec(&value["body"]).unwrap(),
    };
    Fixture {
        source: value["source"]
            .as_str()
            .expect("every fixture names its source")
            .into(),
        method: value["method"].as_str().unwrap().into(),
        path: value["path"].as_str().unwrap().into(),
        status: StatusCode::from_u16(value["status"].as_u64().unwrap() as u16).unwrap(),
        body,
        value,
    }
}

fn vault() -> Target {
    Target::new("http://127.0.0.1:8200")
        .unwrap()
        .with_token(Token::new("hvs.operator"))
        .with_dialect(Dialect::Vault)
}

/// Parses `f` with `op`, after checking that `op` sends what the fixture answers.
fn parse<O: Operation>(f: &Fixture, op: &O) -> Result<O::Output, Error> {
    let request = op.request(&vault()).unwrap();
    assert_eq!(request.method().as_str(), f.method, "{}", f.source);
    assert_eq!(request.uri().path(), f.path, "{}", f.source);
    op.parse(f.status, &f.body)
}

fn refusal<T: std::fmt::Debug>(result: Result<T, Error>) -> Refusal {
    match result {
        Err(Error::Server(e)) => e.refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn every_fixture_names_its_source_and_is_used() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vault");
    let this = include_str!("vault_source.rs");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry
            .unwrap()
            .file_name()
            .to_string_lossy()
            .replace(".json", "");
        let f = fixture(&name);
        assert!(f.source.contains(".go"), "{name}: {}", f.source);
        assert!(
            this.contains(&format!("\"{name}\"")),
            "{name} is not tested"
        );
        count += 1;
    }
    assert!(count >= 16, "{count}");
}

#[test]
fn init_on_either_seal() {
    let f = fixture("init_auto_unseal_refuses_shares");
    assert_eq!(
        refusal(parse(&f, &Initialize::new(3, 2))),
        Refusal::InvalidRequest
    );
    let f = fixture("init_shamir_refuses_recovery");
    assert_eq!(
        refusal(parse(&f, &Initialize::auto_unseal().recovery(3, 2))),
        Refusal::InvalidRequest
    );
    let f = fixture("init_auto_unseal_complete");
    let init = parse(&f, &Initialize::auto_unseal().recovery(3, 2)).unwrap();
    assert!(init.keys.is_empty() && init.keys_base64.is_empty());
    assert_eq!(init.recovery_keys.len(), 3);
    assert_eq!(init.recovery_keys_base64.len(), 3);
    assert_eq!(init.root_token.expose(), "hvs.Q2f9RkPz3xDnMpL0aT6uVbWc");
    // The request that gets this answer carries no barrier settings at all.
    let request = Initialize::auto_unseal()
        .recovery(3, 2)
        .request(&vault())
        .unwrap();
    let body: Value = serde_json::from_slice(request.body()).unwrap();
    assert_eq!(body, json!({"recovery_shares": 3, "recovery_threshold": 2}));
}

#[test]
fn cancelling_a_rekey() {
    // What an empty body gets from Vault 1.20+: the client never sends one.
    let f = fixture("rekey_cancel_empty_body");
    assert_eq!(
        refusal(parse(&f, &CancelRekey::new().kind(KeyKind::Unseal))),
        Refusal::InvalidRequest
    );
    for cancel in [
        CancelRekey::new().kind(KeyKind::Unseal),
        CancelRekey::new().kind(KeyKind::Unseal).nonce("n-1"),
    ] {
        let request = cancel.request(&vault()).unwrap();
        assert_eq!(request.method(), Method::DELETE);
        assert!(!request.body().is_empty(), "a JSON body, always");
        let _: Value = serde_json::from_slice(request.body()).unwrap();
    }
    // An update checks the key's length first: a short key never learns that no rekey runs.
    let f = fixture("rekey_update_key_too_short");
    assert_eq!(
        refusal(parse(&f, &Rekey::new(KeyShare::new("abcd"), "n-1"))),
        Refusal::InvalidRequest
    );
    let share = "f50240c84a1af2c46e443c815bc960e46fe3c8e3e3f63700de2bfee9e9e53098e5";
    let f = fixture("rekey_update_not_in_progress");
    assert_eq!(
        refusal(parse(&f, &Rekey::new(KeyShare::new(share), "n-1"))),
        Refusal::NotInProgress
    );
    // A verification read meets RekeyProgress's text only when the rekey ends between the
    // handler's two reads; otherwise the handler's own.
    for name in ["rekey_verify_no_configuration", "rekey_not_in_progress"] {
        let f = fixture(name);
        assert_eq!(
            refusal(parse(
                &f,
                &ReadRekeyVerifyProgress::new().kind(KeyKind::Unseal)
            )),
            Refusal::NotInProgress,
            "{name}"
        );
    }
    let f = fixture("wrong_method");
    let status = ReadRekeyProgress::new()
        .kind(KeyKind::Unseal)
        .parse(f.status, &f.body);
    assert_eq!(refusal(status), Refusal::MethodNotAllowed, "{}", f.source);
}

#[test]
fn cluster_and_load_refusals() {
    let cases = [
        ("standby", Refusal::Standby, true),
        ("overloaded", Refusal::Overloaded, true),
        ("no_active_node", Refusal::NoActiveNode, true),
        ("node_not_active", Refusal::NodeNotActive, true),
        ("namespace_locked", Refusal::NamespaceLocked, false),
    ];
    for (name, expected, retryable) in cases {
        let f = fixture(name);
        let got = match f.path.as_str() {
            "/v1/sys/rekey/init" if f.method == "DELETE" => {
                refusal(parse(&f, &CancelRekey::new().kind(KeyKind::Unseal)))
            }
            "/v1/sys/rekey/init" => {
                refusal(parse(&f, &ReadRekeyProgress::new().kind(KeyKind::Unseal)))
            }
            "/v1/sys/rotate" => refusal(parse(&f, &RotateEncryptionKey)),
            _ => refusal(parse(&f, &GetEncryptionKeyStatus)),
        };
        assert_eq!(got, expected, "{name}: {}", f.source);
        assert_eq!(got.is_retryable(), retryable, "{name}");
        assert_ne!(got, Refusal::Sealed, "a 503 is not always sealed");
    }
}

#[test]
fn decode_token_where_it_is_not_served() {
    let encoded = EncodedToken::new("AzxASBVKIiguXQcSHA0MfCcvAyM4VH0zQgoUZg==");
    let otp = Otp::new("kJ3fQ8mXz2LwR5tNvB7yHc1DsAe4");
    let f = fixture("decode_token_unsupported_path");
    let refused = refusal(parse(&f, &DecodeToken::new(encoded.clone(), otp.clone())));
    assert_eq!(refused, Refusal::NotFound);
    assert!(refused.is_path_not_served());
    // What the clients fall back to: the local decode, the scheme told by the lengths.
    let token = decode_token_any_scheme(&encoded, &otp).unwrap();
    assert_eq!(token.expose(), "hvs.DrOpToKeN8x2Qm4Zp7Lw1KqR");

    let f = fixture("recovery_mode_seal_status");
    let error = match ReadSealStatus.parse(f.status, &f.body) {
        Err(Error::Server(e)) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(error.refusal, Refusal::RecoveryMode, "{}", f.source);
    assert!(error.refusal.is_path_not_served());
    assert!(error.to_string().contains("recovery mode"), "{error}");
    let request = ReadSealStatus.request(&vault()).unwrap();
    assert_eq!(request.uri().path(), f.path);
}

#[test]
fn seal_backend_status() {
    let f = fixture("seal_backend_status");
    let status = parse(&f, &ReadSealBackendStatus).unwrap();
    assert!(!status.healthy);
    assert_eq!(
        status.unhealthy_since.as_deref(),
        Some("2023-09-22T08:34:11Z")
    );
    assert_eq!(status.fully_wrapped, Some(false));
    assert_eq!(status.backends.len(), 2);
    assert_eq!(status.backends[0].name, "hsm");
    assert!(status.backends[0].healthy && status.backends[0].unhealthy_since.is_none());
    assert_eq!(status.backends[1].disabled, Some(false));
    assert!(!status.backends[1].healthy);
    // Older releases send only name and healthy.
    let older = br#"{"healthy":true,"backends":[{"name":"shamir","healthy":true}]}"#;
    let status = ReadSealBackendStatus.parse(StatusCode::OK, older).unwrap();
    assert!(status.healthy && status.backends[0].configured.is_none());
}

#[test]
fn dr_operation_token_generation() {
    let f = fixture("dr_operation_token_attempt_started");
    let started = parse(
        &f,
        &StartRootTokenGeneration::new().kind(TokenKind::DrOperation),
    )
    .unwrap();
    assert!(started.started && !started.complete);
    // 24 characters and the 4 of `hvs.`: 26 only on a server with SSC tokens off.
    assert_eq!(started.otp_length, 28);
    let otp = started.otp.clone().expect("the server's OTP, once");
    let nonce = started.nonce.clone().unwrap();

    let f = fixture("dr_operation_token_update_complete");
    let done = parse(
        &f,
        &GenerateRoot::new(KeyShare::new("abcd"), nonce).kind(TokenKind::DrOperation),
    )
    .unwrap();
    assert!(done.complete);
    let encoded = done.encoded_token.expect("the encoded DR operation token");
    let token = decode_token(&encoded, &otp, started.otp_length).unwrap();
    assert_eq!(token.expose(), f.value["decodes_to"].as_str().unwrap());

    let base = "/v1/sys/replication/dr/secondary/generate-operation-token";
    for (request, method, path) in [
        (
            ReadRootGenerationProgress::new()
                .kind(TokenKind::DrOperation)
                .request(&vault()),
            Method::GET,
            format!("{base}/attempt"),
        ),
        (
            CancelRootGeneration::new()
                .kind(TokenKind::DrOperation)
                .request(&vault()),
            Method::DELETE,
            format!("{base}/attempt"),
        ),
    ] {
        let request = request.unwrap();
        assert_eq!(
            (request.method(), request.uri().path()),
            (&method, path.as_str())
        );
    }
    // One path on both dialects: OpenBao has no DR replication to name it otherwise.
    let openbao = vault().with_dialect(Dialect::OpenBao);
    let request = ReadRootGenerationProgress::new()
        .kind(TokenKind::DrOperation)
        .request(&openbao)
        .unwrap();
    assert_eq!(request.uri().path(), format!("{base}/attempt"));
}

#[test]
fn unseal_for_a_seal_migration() {
    let request = Unseal::new(KeyShare::new("abcd"))
        .migrate(true)
        .request(&vault())
        .unwrap();
    let body: Value = serde_json::from_slice(request.body()).unwrap();
    assert_eq!(body, json!({"key": "abcd", "migrate": true}));
    let request = Unseal::new(KeyShare::new("abcd"))
        .request(&vault())
        .unwrap();
    let body: Value = serde_json::from_slice(request.body()).unwrap();
    assert_eq!(body, json!({"key": "abcd"}));
}

/// From Vault 2.0 the classic rekey and generate-root paths need a token unless
/// `enable_unauthenticated_access` lists them: every classic-path request carries it.
#[test]
fn every_classic_path_request_carries_the_token() {
    let target = vault();
    let share = || KeyShare::new("abcd");
    let requests: Vec<http::Request<Bytes>> = vec![
        ReadRekeyProgress::new()
            .kind(KeyKind::Unseal)
            .request(&target),
        StartRekey::new(3, 2).request(&target),
        Rekey::new(share(), "n").request(&target),
        CancelRekey::new().kind(KeyKind::Unseal).request(&target),
        ReadRekeyVerifyProgress::new()
            .kind(KeyKind::Unseal)
            .request(&target),
        ReadBackupKeys::new()
            .kind(KeyKind::Recovery)
            .request(&target),
        ReadRootGenerationProgress::new().request(&target),
        StartRootTokenGeneration::new().request(&target),
        GenerateRoot::new(share(), "n").request(&target),
        CancelRootGeneration::new().request(&target),
        Unseal::new(share()).request(&target),
        Seal.request(&target),
    ]
    .into_iter()
    .collect::<Result<_, _>>()
    .unwrap();
    for request in requests {
        assert_eq!(
            request.headers()["x-vault-token"],
            "hvs.operator",
            "{} {}",
            request.method(),
            request.uri()
        );
    }
}

/// A DR operation token generation is a root-token ceremony with another kind: the same
/// state machine, on the DR paths, decoded with the server's OTP.
#[test]
fn dr_operation_token_ceremony() {
    use std::cell::RefCell;
    use vault_key_core::ceremony::{drive, RootTokenCeremony, RootTokenPhase, TokenProtection};
    let started = fixture("dr_operation_token_attempt_started");
    let done = fixture("dr_operation_token_update_complete");
    let progress = |n: u32| {
        let mut body = started.value["body"].clone();
        body["otp"] = json!("");
        body["progress"] = json!(n);
        serde_json::to_vec(&body).unwrap()
    };
    let script = RefCell::new(vec![
        ("PUT", "attempt", started.body.clone()),
        ("PUT", "update", progress(1)),
        ("PUT", "update", progress(2)),
        ("PUT", "update", done.body.clone()),
    ]);
    let server = |request: http::Request<Bytes>| {
        let (method, leaf, body) = script.borrow_mut().remove(0);
        assert_eq!(request.method().as_str(), method);
        assert_eq!(
            request.uri().path(),
            format!("/v1/sys/replication/dr/secondary/generate-operation-token/{leaf}")
        );
        http::Response::builder()
            .status(200)
            .body(Bytes::from(body))
    };
    let mut generation =
        RootTokenCeremony::start(TokenKind::DrOperation, TokenProtection::ServerOtp);
    generation
        .submit_shares(["a1", "b2", "c3"].map(KeyShare::new))
        .unwrap();
    assert!(drive(&server, &vault(), &mut generation)
        .unwrap()
        .is_finished());
    assert_eq!(generation.phase(), RootTokenPhase::Done);
    assert!(script.borrow().is_empty());
    assert_eq!(generation.token_kind(), TokenKind::DrOperation);
    let token = generation.decode_token().unwrap();
    assert_eq!(token.expose(), done.value["decodes_to"].as_str().unwrap());
}

#[test]
fn an_auto_unseal_vault_refuses_what_its_barrier_rekey_cannot_have() {
    for name in [
        "rekey_auto_unseal_refuses_verification",
        "rekey_auto_unseal_refuses_pgp",
        "rekey_auto_unseal_refuses_backup",
    ] {
        let f = fixture(name);
        assert_eq!(
            (f.method.as_str(), f.path.as_str()),
            ("PUT", "/v1/sys/rekey/init")
        );
        assert_eq!(
            refusal(parse(&f, &StartRekey::new(3, 2))),
            Refusal::AutoUnseal,
            "{name}"
        );
    }
    // OpenBao 2.7.2 on a transit-sealed server says the same of its own path (measured).
    let openbao = br#"{"errors":["requiring verification not supported when rotating the barrier key with recovery keys"]}"#;
    assert_eq!(
        refusal(StartRekey::new(3, 2).parse(StatusCode::BAD_REQUEST, openbao)),
        Refusal::AutoUnseal
    );
}

#[test]
fn seal_status_fields_of_later_vault_releases() {
    let f = fixture("seal_status_auto_unseal");
    let status = parse(&f, &ReadSealStatus).unwrap();
    assert!(status.recovery_seal);
    assert_eq!(status.recovery_seal_type.as_deref(), Some("shamir"));
    assert_eq!(status.removed_from_cluster, Some(false));
    assert_eq!(status.warnings, ["seal wrap is not supported by this seal"]);
    assert_eq!(status.migration_done_at_epoch, Some(1744366073));
    assert_eq!(status.hcp_link_status.as_deref(), Some("connected"));
    assert_eq!(
        status.hcp_link_resource_id.as_deref(),
        Some("vault-cluster-prod")
    );
    let server = status.server();
    assert_eq!(
        (server.product, server.semver),
        (Product::Vault, Some((1, 19, 2)))
    );
    assert!(!server.is_version_redacted());
    assert_eq!(server.dialect(), Dialect::Vault);
}

/// Without a token a Vault listener may redact the version, the build date and the cluster
/// name: the product is still told from the fields only one product sends, and a Vault's
/// dialect does not depend on its version.
#[test]
fn a_redacted_seal_status_is_still_vault() {
    let f = fixture("seal_status_redacted");
    let status = parse(&f, &ReadSealStatus).unwrap();
    assert_eq!(
        (
            status.version.as_str(),
            &status.build_date,
            &status.cluster_name
        ),
        ("", &None, &None)
    );
    let server = status.server();
    assert_eq!(server.product, Product::Vault);
    assert!(server.is_version_redacted() && server.semver.is_none());
    assert_eq!(server.dialect(), Dialect::Vault);

    // The same answer with nothing Vault-only left (an older Vault, redacted): still Vault,
    // since only OpenBao sends commit_date.
    let mut body = f.value["body"].clone();
    body.as_object_mut().unwrap().remove("removed_from_cluster");
    body.as_object_mut().unwrap().remove("build_date");
    let status = ReadSealStatus
        .parse(StatusCode::OK, &serde_json::to_vec(&body).unwrap())
        .unwrap();
    assert_eq!(status.server().product, Product::Vault);
    assert_eq!(status.server().dialect(), Dialect::Vault);

    // A commit date beside a Vault-only field is no OpenBao (no OpenBao sends either).
    body["commit_date"] = json!("2026-10-26T20:32:27Z");
    body["removed_from_cluster"] = json!(false);
    let status = ReadSealStatus
        .parse(StatusCode::OK, &serde_json::to_vec(&body).unwrap())
        .unwrap();
    assert_eq!(status.server().product, Product::Vault);
}
