//! Verification of the new shares of a rekey: requests and captured answers.

mod common;

use common::*;
use http::{Method, StatusCode};
use serde_json::json;
use vault_key_core::ops::rekey::KeyKind;
use vault_key_core::ops::rekey_verify::{
    CancelRekeyVerify, ReadRekeyVerifyProgress, RekeyVerify, VerifyStatus, VerifyUpdate,
};
use vault_key_core::{Dialect, Error, InvalidInput, KeyShare, Operation};

const SHARE: &str = "308e6298928567b694b8c72e92aca006022b189e5d6be9f8dbb789d64ecdec43fb";
const NONCE: &str = "4941f959-2e3a-44b9-53a7-15164eddd28c";

fn verify_path(dialect: Dialect, kind: KeyKind) -> &'static str {
    match (dialect, kind) {
        (Dialect::Vault, KeyKind::Unseal) => "sys/rekey/verify",
        (Dialect::Vault, KeyKind::Recovery) => "sys/rekey-recovery-key/verify",
        (Dialect::OpenBao, KeyKind::Unseal) => "sys/rotate/root/verify",
        (Dialect::OpenBao, KeyKind::Recovery) => "sys/rotate/recovery/verify",
        _ => unreachable!(),
    }
}

#[test]
fn requests_for_every_dialect_and_kind() {
    for target in all_targets() {
        for kind in KEY_KINDS {
            let path = verify_path(target.dialect(), kind);
            let request = ReadRekeyVerifyProgress::new()
                .kind(kind)
                .request(&target)
                .unwrap();
            assert_request(&request, &target, Method::GET, path, None);

            let request = RekeyVerify::new(KeyShare::new(SHARE), NONCE)
                .kind(kind)
                .request(&target)
                .unwrap();
            assert_request(
                &request,
                &target,
                Method::PUT,
                path,
                Some(json!({"key": SHARE, "nonce": NONCE})),
            );

            let request = CancelRekeyVerify::new()
                .kind(kind)
                .request(&target)
                .unwrap();
            assert_request(&request, &target, Method::DELETE, path, None);
        }
    }
    let request = RekeyVerify::new(KeyShare::new(SHARE), NONCE)
        .request(&target(Dialect::Vault))
        .unwrap();
    assert_eq!(
        request.uri().path(),
        fixture("legacy_rekey_verify_progress").path
    );
    let request = RekeyVerify::new(KeyShare::new(SHARE), NONCE)
        .request(&target(Dialect::OpenBao))
        .unwrap();
    assert_eq!(
        request.uri().path(),
        fixture("openbao_rotate_root_verify_progress").path
    );
}

#[test]
fn empty_share_or_nonce_is_refused() {
    for (key, nonce) in [("", NONCE), ("  ", NONCE), (SHARE, ""), (SHARE, " ")] {
        let err = RekeyVerify::new(KeyShare::new(key), nonce)
            .kind(KeyKind::Recovery)
            .request(&target(Dialect::OpenBao))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput(InvalidInput::Empty(_))));
        assert!(!format!("{err} {err:?}").contains(SHARE));
    }
}

fn read(name: &str) -> VerifyStatus {
    let f = fixture(name);
    ReadRekeyVerifyProgress::new()
        .kind(KeyKind::Unseal)
        .parse(f.status, &f.body)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn submit(name: &str) -> VerifyUpdate {
    let f = fixture(name);
    RekeyVerify::new(KeyShare::new(SHARE), NONCE)
        .parse(f.status, &f.body)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn before_the_verification_phase() {
    for name in [
        "legacy_rekey_verify_not_started",
        "openbao_rotate_root_verify_not_started",
    ] {
        let s = read(name);
        assert_eq!(
            (s.nonce, s.started, s.t, s.n, s.progress),
            (None, false, 3, 5, 0),
            "{name}"
        );
    }
}

#[test]
fn during_verification() {
    for (name, nonce) in [
        ("legacy_rekey_verify_in_progress", NONCE),
        (
            "openbao_rotate_root_verify_in_progress",
            "39cb97e8-b657-645d-3840-95a93bada389",
        ),
    ] {
        let s = read(name);
        assert!(s.started, "{name}");
        assert_eq!(s.nonce.as_deref(), Some(nonce), "{name}");
        assert_eq!((s.t, s.n, s.progress), (3, 5, 0));
    }
    for (name, nonce) in [
        ("legacy_rekey_verify_progress", NONCE),
        (
            "openbao_rotate_root_verify_progress",
            "39cb97e8-b657-645d-3840-95a93bada389",
        ),
    ] {
        match submit(name) {
            VerifyUpdate::Progress(s) => {
                assert_eq!(s.progress, 1, "{name}");
                assert_eq!(s.nonce.as_deref(), Some(nonce), "{name}");
                assert!(s.started);
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn completion() {
    for (name, nonce) in [
        (
            "legacy_rekey_verify_complete",
            "4b09b32a-54e2-61f4-6efe-a4346cf1d73a",
        ),
        (
            "openbao_rotate_root_verify_complete",
            "74e13ce6-e500-3623-1f16-5c2475bad7fb",
        ),
    ] {
        assert_eq!(
            submit(name),
            VerifyUpdate::Complete {
                nonce: Some(nonce.to_string())
            },
            "{name}"
        );
    }
}

#[test]
fn cancel_restarts_with_a_new_nonce_and_a_body() {
    for (name, nonce) in [
        (
            "legacy_rekey_verify_restart",
            "4b09b32a-54e2-61f4-6efe-a4346cf1d73a",
        ),
        (
            "openbao_rotate_root_verify_restart",
            "74e13ce6-e500-3623-1f16-5c2475bad7fb",
        ),
    ] {
        let f = fixture(name);
        assert_eq!(f.status, StatusCode::OK, "DELETE answers 200 with a body");
        let s = CancelRekeyVerify::new()
            .kind(KeyKind::Unseal)
            .parse(f.status, &f.body)
            .unwrap();
        assert_eq!(s.nonce.as_deref(), Some(nonce), "{name}");
        assert!(s.started);
        assert_eq!(s.progress, 0);
    }
}
