//! Requests built from arbitrary valid inputs always go to the right path with the right
//! headers, and carry a JSON body holding exactly the inputs (whatever characters they contain).

mod common;

use bytes::Bytes;
use common::*;
use http::header::CONTENT_TYPE;
use http::{Method, Request};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::time::Duration;
use vault_key_core::ops::decode::DecodeToken;
use vault_key_core::ops::encryption_key::{
    ConfigureRotation, GetEncryptionKeyStatus, ReadRotateConfig, RotateEncryptionKey,
    RotateRootKey, MAX_MAX_OPERATIONS, MIN_INTERVAL, MIN_MAX_OPERATIONS,
};
use vault_key_core::ops::generate_root::{
    CancelRootGeneration, GenerateRoot, ReadRootGenerationProgress, StartRootTokenGeneration,
    TokenKind,
};
use vault_key_core::ops::rekey::{CancelRekey, KeyKind, ReadRekeyProgress, Rekey, StartRekey};
use vault_key_core::ops::rekey_backup::{DeleteBackupKeys, ReadBackupKeys};
use vault_key_core::ops::rekey_verify::{CancelRekeyVerify, ReadRekeyVerifyProgress, RekeyVerify};
use vault_key_core::ops::seal::{Initialize, ReadInitStatus, ReadSealStatus, Seal, Unseal};
use vault_key_core::{Dialect, EncodedToken, Error, KeyShare, Operation, Otp, Target, Token};

fn dialect() -> impl Strategy<Value = Dialect> {
    prop_oneof![Just(Dialect::Vault), Just(Dialect::OpenBao)]
}

fn key_kind() -> impl Strategy<Value = KeyKind> {
    prop_oneof![Just(KeyKind::Unseal), Just(KeyKind::Recovery)]
}

fn token_kind() -> impl Strategy<Value = TokenKind> {
    prop_oneof![
        Just(TokenKind::Root),
        Just(TokenKind::Recovery),
        Just(TokenKind::DrOperation)
    ]
}

fn address() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("http"), Just("https")],
        "[a-z][a-z0-9-]{0,12}(\\.[a-z][a-z0-9-]{0,8}){0,2}",
        prop::option::of(1u16..),
        "(/[a-zA-Z0-9_.-]{1,8}){0,2}/?",
    )
        // A prefix ending in `/v1` is refused on purpose (requests add it).
        .prop_filter("a prefix ending in /v1", |(_, _, _, prefix)| {
            !prefix.trim_end_matches('/').ends_with("/v1")
        })
        .prop_map(|(scheme, host, port, prefix)| match port {
            Some(port) => format!("{scheme}://{host}:{port}{prefix}"),
            None => format!("{scheme}://{host}{prefix}"),
        })
}

fn target() -> impl Strategy<Value = Target> {
    (
        address(),
        dialect(),
        prop::option::of("[!-~]{1,64}"),
        prop::option::of("[a-zA-Z0-9_-]{1,12}(/[a-zA-Z0-9_-]{1,12}){0,2}"),
    )
        .prop_map(|(address, dialect, token, namespace)| {
            let mut target = Target::new(&address).unwrap().with_dialect(dialect);
            if let Some(token) = token {
                target = target.with_token(Token::new(token));
            }
            if let Some(namespace) = namespace {
                target = target.with_namespace(namespace).unwrap();
            }
            target
        })
}

/// Printable ASCII with at least one non-space character: quotes and backslashes included.
fn text() -> impl Strategy<Value = String> {
    "[ -~]{0,40}[!-~][ -~]{0,40}"
}

fn shares_and_threshold() -> impl Strategy<Value = (u32, u32)> {
    (1u32..=255).prop_flat_map(|shares| {
        let threshold = if shares == 1 { 1..=1 } else { 2..=shares };
        (Just(shares), threshold)
    })
}

/// One operation with valid input, and the method, path and body it must produce.
#[derive(Debug, Clone)]
enum Op {
    InitStatus,
    Initialize(u32, u32, bool),
    SealStatus,
    Unseal(String),
    UnsealReset,
    Seal,
    ReadGeneration(TokenKind),
    StartGeneration(TokenKind, Option<String>, Option<String>),
    Generate(TokenKind, String, String),
    CancelGeneration(TokenKind),
    Decode(String, String),
    ReadRekey(KeyKind),
    StartRekey(KeyKind, u32, u32, bool, bool, bool),
    Rekey(KeyKind, String, String),
    CancelRekey(KeyKind, Option<String>),
    ReadVerify(KeyKind),
    Verify(KeyKind, String, String),
    CancelVerify(KeyKind),
    ReadBackup(KeyKind),
    DeleteBackup(KeyKind),
    KeyStatus,
    Rotate,
    RotateRoot,
    ReadConfig,
    Configure(Option<bool>, Option<u64>, Option<u64>),
}

fn op() -> impl Strategy<Value = Op> {
    let interval = prop_oneof![Just(0u64), MIN_INTERVAL.as_secs()..=10 * 365 * 86400];
    prop_oneof![
        Just(Op::InitStatus),
        (shares_and_threshold(), any::<bool>()).prop_map(|((s, t), pgp)| Op::Initialize(s, t, pgp)),
        Just(Op::SealStatus),
        text().prop_map(Op::Unseal),
        Just(Op::UnsealReset),
        Just(Op::Seal),
        token_kind().prop_map(Op::ReadGeneration),
        (
            token_kind(),
            prop::option::of(text()),
            prop::option::of("[A-Za-z0-9+/]{4,64}={0,2}")
        )
            .prop_map(|(k, otp, pgp)| match (otp, pgp) {
                (Some(otp), Some(_)) => Op::StartGeneration(k, Some(otp), None),
                (otp, pgp) => Op::StartGeneration(k, otp, pgp),
            }),
        (token_kind(), text(), text()).prop_map(|(k, key, nonce)| Op::Generate(k, key, nonce)),
        token_kind().prop_map(Op::CancelGeneration),
        (text(), text()).prop_map(|(e, o)| Op::Decode(e, o)),
        key_kind().prop_map(Op::ReadRekey),
        (
            key_kind(),
            shares_and_threshold(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(k, (s, t), pgp, backup, verify)| Op::StartRekey(
                k,
                s,
                t,
                pgp,
                pgp && backup,
                verify
            )),
        (key_kind(), text(), text()).prop_map(|(k, key, nonce)| Op::Rekey(k, key, nonce)),
        (key_kind(), prop::option::of(text())).prop_map(|(k, n)| Op::CancelRekey(k, n)),
        key_kind().prop_map(Op::ReadVerify),
        (key_kind(), text(), text()).prop_map(|(k, key, nonce)| Op::Verify(k, key, nonce)),
        key_kind().prop_map(Op::CancelVerify),
        key_kind().prop_map(Op::ReadBackup),
        key_kind().prop_map(Op::DeleteBackup),
        Just(Op::KeyStatus),
        Just(Op::Rotate),
        Just(Op::RotateRoot),
        Just(Op::ReadConfig),
        (
            prop::option::of(any::<bool>()),
            prop::option::of(MIN_MAX_OPERATIONS..=MAX_MAX_OPERATIONS),
            prop::option::of(interval),
        )
            .prop_map(|(e, m, i)| Op::Configure(e, m, i)),
    ]
}

fn pgp_keys(n: u32) -> Vec<String> {
    (0..n).map(|i| format!("cGdwa2V5{i:03}")).collect()
}

fn generation_family(dialect: Dialect, kind: TokenKind) -> &'static str {
    match (kind, dialect) {
        (TokenKind::Recovery, _) => "sys/generate-recovery-token",
        (TokenKind::DrOperation, _) => "sys/replication/dr/secondary/generate-operation-token",
        (TokenKind::Root, Dialect::Vault) => "sys/generate-root",
        (TokenKind::Root, _) => "sys/generate-root-token",
    }
}

fn rekey_path(dialect: Dialect, kind: KeyKind, leaf: &str) -> String {
    match (dialect, kind, leaf) {
        (Dialect::Vault, KeyKind::Unseal, _) => format!("sys/rekey/{leaf}"),
        (Dialect::Vault, KeyKind::Recovery, "backup") => "sys/rekey/recovery-key-backup".into(),
        (Dialect::Vault, KeyKind::Recovery, _) => format!("sys/rekey-recovery-key/{leaf}"),
        (_, KeyKind::Unseal, _) => format!("sys/rotate/root/{leaf}"),
        (_, KeyKind::Recovery, _) => format!("sys/rotate/recovery/{leaf}"),
    }
}

/// Builds the request, and says what it must be: method, path and body.
fn build(
    op: &Op,
    target: &Target,
) -> (Result<Request<Bytes>, Error>, Method, String, Option<Value>) {
    let d = target.dialect();
    let openbao = d == Dialect::OpenBao;
    match op.clone() {
        Op::InitStatus => (
            ReadInitStatus.request(target),
            Method::GET,
            "sys/init".into(),
            None,
        ),
        Op::Initialize(s, t, pgp) => {
            let mut init = Initialize::new(s, t);
            let mut body = json!({"secret_shares": s, "secret_threshold": t});
            if pgp {
                init = init.pgp_keys(pgp_keys(s));
                body["pgp_keys"] = json!(pgp_keys(s));
            }
            (
                init.request(target),
                Method::PUT,
                "sys/init".into(),
                Some(body),
            )
        }
        Op::SealStatus => (
            ReadSealStatus.request(target),
            Method::GET,
            "sys/seal-status".into(),
            None,
        ),
        Op::Unseal(key) => (
            Unseal::new(KeyShare::new(key.as_str())).request(target),
            Method::PUT,
            "sys/unseal".into(),
            Some(json!({"key": key})),
        ),
        Op::UnsealReset => (
            Unseal::reset().request(target),
            Method::PUT,
            "sys/unseal".into(),
            Some(json!({"reset": true})),
        ),
        Op::Seal => (Seal.request(target), Method::PUT, "sys/seal".into(), None),
        Op::ReadGeneration(k) => (
            ReadRootGenerationProgress::new().kind(k).request(target),
            Method::GET,
            format!("{}/attempt", generation_family(d, k)),
            None,
        ),
        Op::StartGeneration(k, otp, pgp) => {
            let mut start = StartRootTokenGeneration::new().kind(k);
            let mut body = json!({});
            if let Some(otp) = &otp {
                start = start.otp(Otp::new(otp.as_str()));
                body["otp"] = json!(otp);
            }
            if let Some(pgp) = &pgp {
                start = start.pgp_key(pgp.as_str());
                body["pgp_key"] = json!(pgp);
            }
            (
                start.request(target),
                Method::PUT,
                format!("{}/attempt", generation_family(d, k)),
                Some(body),
            )
        }
        Op::Generate(k, key, nonce) => (
            GenerateRoot::new(KeyShare::new(key.as_str()), nonce.as_str())
                .kind(k)
                .request(target),
            Method::PUT,
            format!("{}/update", generation_family(d, k)),
            Some(json!({"key": key, "nonce": nonce})),
        ),
        Op::CancelGeneration(k) => (
            CancelRootGeneration::new().kind(k).request(target),
            Method::DELETE,
            format!("{}/attempt", generation_family(d, k)),
            None,
        ),
        Op::Decode(encoded, otp) => (
            DecodeToken::new(EncodedToken::new(encoded.as_str()), Otp::new(otp.as_str()))
                .request(target),
            Method::PUT,
            "sys/decode-token".into(),
            Some(json!({"encoded_token": encoded, "otp": otp})),
        ),
        Op::ReadRekey(k) => (
            ReadRekeyProgress::new().kind(k).request(target),
            Method::GET,
            rekey_path(d, k, "init"),
            None,
        ),
        Op::StartRekey(k, s, t, pgp, backup, verify) => {
            let mut start = StartRekey::new(s, t)
                .kind(k)
                .backup(backup)
                .require_verification(verify);
            let mut body = json!({
                "secret_shares": s,
                "secret_threshold": t,
                "backup": backup,
                "require_verification": verify
            });
            if pgp {
                start = start.pgp_keys(pgp_keys(s));
                body["pgp_keys"] = json!(pgp_keys(s));
            }
            (
                start.request(target),
                Method::PUT,
                rekey_path(d, k, "init"),
                Some(body),
            )
        }
        Op::Rekey(k, key, nonce) => (
            Rekey::new(KeyShare::new(key.as_str()), nonce.as_str())
                .kind(k)
                .request(target),
            Method::PUT,
            rekey_path(d, k, "update"),
            Some(json!({"key": key, "nonce": nonce})),
        ),
        Op::CancelRekey(k, nonce) => {
            let mut cancel = CancelRekey::new().kind(k);
            if let Some(nonce) = &nonce {
                cancel = cancel.nonce(nonce.as_str());
            }
            (
                cancel.request(target),
                Method::DELETE,
                rekey_path(d, k, "init"),
                // Always a JSON body (Vault 1.20+ refuses an empty one).
                Some(match nonce.filter(|n| !n.is_empty()) {
                    Some(n) => json!({"nonce": n}),
                    None => json!({}),
                }),
            )
        }
        Op::ReadVerify(k) => (
            ReadRekeyVerifyProgress::new().kind(k).request(target),
            Method::GET,
            rekey_path(d, k, "verify"),
            None,
        ),
        Op::Verify(k, key, nonce) => (
            RekeyVerify::new(KeyShare::new(key.as_str()), nonce.as_str())
                .kind(k)
                .request(target),
            Method::PUT,
            rekey_path(d, k, "verify"),
            Some(json!({"key": key, "nonce": nonce})),
        ),
        Op::CancelVerify(k) => (
            CancelRekeyVerify::new().kind(k).request(target),
            Method::DELETE,
            rekey_path(d, k, "verify"),
            None,
        ),
        Op::ReadBackup(k) => (
            ReadBackupKeys::new().kind(k).request(target),
            Method::GET,
            rekey_path(d, k, "backup"),
            None,
        ),
        Op::DeleteBackup(k) => (
            DeleteBackupKeys::new().kind(k).request(target),
            Method::DELETE,
            rekey_path(d, k, "backup"),
            None,
        ),
        Op::KeyStatus => (
            GetEncryptionKeyStatus.request(target),
            Method::GET,
            "sys/key-status".into(),
            None,
        ),
        Op::Rotate => (
            RotateEncryptionKey.request(target),
            Method::PUT,
            if openbao {
                "sys/rotate/keyring"
            } else {
                "sys/rotate"
            }
            .into(),
            None,
        ),
        Op::RotateRoot => (
            RotateRootKey.request(target),
            Method::PUT,
            "sys/rotate/root".into(),
            None,
        ),
        Op::ReadConfig => (
            ReadRotateConfig.request(target),
            Method::GET,
            if openbao {
                "sys/rotate/keyring/config"
            } else {
                "sys/rotate/config"
            }
            .into(),
            None,
        ),
        Op::Configure(enabled, max_operations, interval) => {
            let mut configure = ConfigureRotation::new();
            let mut body = json!({});
            if let Some(e) = enabled {
                configure = configure.enabled(e);
                body["enabled"] = json!(e);
            }
            if let Some(m) = max_operations {
                configure = configure.max_operations(m);
                body["max_operations"] = json!(m);
            }
            if let Some(i) = interval {
                configure = configure.interval(Duration::from_secs(i));
                body["interval"] = json!(format!("{i}s"));
            }
            (
                configure.request(target),
                Method::PUT,
                if openbao {
                    "sys/rotate/keyring/config"
                } else {
                    "sys/rotate/config"
                }
                .into(),
                Some(body),
            )
        }
    }
}

proptest! {
    #[test]
    fn valid_input_gives_the_right_request(target in target(), op in op()) {
        let (result, method, path, body) = build(&op, &target);
        if matches!(op, Op::RotateRoot) && target.dialect() == Dialect::Vault {
            prop_assert!(matches!(result, Err(Error::InvalidInput(_))));
            return Ok(());
        }
        let request = result.map_err(|e| TestCaseError::fail(format!("{op:?}: {e}")))?;
        prop_assert_eq!(request.method(), &method);
        prop_assert_eq!(request.uri().to_string(), format!("{}/v1/{path}", target.address()));
        prop_assert!(!target.address().ends_with('/'));
        assert_headers(&request, &target);
        match body {
            Some(expected) => {
                prop_assert_eq!(
                    request.headers().get(CONTENT_TYPE).map(|v| v.to_str().unwrap()),
                    Some("application/json")
                );
                let sent: Value = serde_json::from_slice(request.body())
                    .map_err(|e| TestCaseError::fail(format!("body is not JSON: {e}")))?;
                prop_assert!(sent.is_object());
                prop_assert_eq!(sent, expected);
            }
            None => {
                prop_assert!(request.headers().get(CONTENT_TYPE).is_none());
                prop_assert!(request.body().is_empty());
            }
        }
    }

    #[test]
    fn invalid_share_settings_are_refused_for_every_dialect(
        target in target(),
        kind in key_kind(),
        shares in 0u32..300,
        threshold in 0u32..300,
    ) {
        let valid = (1..=255).contains(&shares)
            && (1..=shares).contains(&threshold)
            && (shares == 1 || threshold >= 2);
        let result = StartRekey::new(shares, threshold).kind(kind).request(&target);
        prop_assert_eq!(result.is_ok(), valid, "{}/{}: {:?}", shares, threshold, result.err());
        let result = Initialize::new(shares, threshold).request(&target);
        prop_assert_eq!(result.is_ok(), valid);
    }

    #[test]
    fn pgp_key_count_must_match(target in target(), (shares, threshold) in shares_and_threshold(), count in 0u32..8) {
        let result = StartRekey::new(shares, threshold).pgp_keys(pgp_keys(count)).request(&target);
        prop_assert_eq!(result.is_ok(), count == 0 || count == shares);
    }

    #[test]
    fn rotation_settings_bounds(max_operations in any::<u64>(), interval in any::<u64>()) {
        let target = Target::new(ADDR).unwrap();
        let result = ConfigureRotation::new().max_operations(max_operations).request(&target);
        prop_assert_eq!(
            result.is_ok(),
            (MIN_MAX_OPERATIONS..=MAX_MAX_OPERATIONS).contains(&max_operations)
        );
        let result = ConfigureRotation::new()
            .interval(Duration::from_secs(interval))
            .request(&target);
        prop_assert_eq!(result.is_ok(), interval == 0 || interval >= MIN_INTERVAL.as_secs());
    }
}
