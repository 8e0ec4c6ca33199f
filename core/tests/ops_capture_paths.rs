//! Every captured exchange (successes and errors) was sent to a path that exactly one
//! operation builds, with the same method (`POST` and `PUT` are one handler), on the dialect
//! that owns the path and only there.

mod common;

use bytes::Bytes;
use common::*;
use http::Request;
use vault_key_core::ops::decode::DecodeToken;
use vault_key_core::ops::encryption_key::{
    ConfigureRotation, GetEncryptionKeyStatus, ReadRotateConfig, RotateEncryptionKey, RotateRootKey,
};
use vault_key_core::ops::generate_root::{
    CancelRootGeneration, GenerateRoot, ReadRootGenerationProgress, StartRootTokenGeneration,
    TokenKind,
};
use vault_key_core::ops::rekey::{CancelRekey, KeyKind, ReadRekeyProgress, Rekey, StartRekey};
use vault_key_core::ops::rekey_backup::{DeleteBackupKeys, ReadBackupKeys};
use vault_key_core::ops::rekey_verify::{CancelRekeyVerify, ReadRekeyVerifyProgress, RekeyVerify};
use vault_key_core::ops::seal::{Initialize, ReadInitStatus, ReadSealStatus, Seal, Unseal};
use vault_key_core::{Dialect, EncodedToken, Error, KeyShare, Operation, Otp, Target};

fn build(
    name: &str,
    target: &Target,
    keys: KeyKind,
    token: TokenKind,
) -> Result<Request<Bytes>, Error> {
    let share = || KeyShare::new("00ff");
    match name {
        "ReadInitStatus" => ReadInitStatus.request(target),
        "Initialize" => Initialize::new(5, 3).request(target),
        "ReadSealStatus" => ReadSealStatus.request(target),
        "Unseal" => Unseal::new(share()).request(target),
        "Seal" => Seal.request(target),
        "ReadRootGenerationProgress" => ReadRootGenerationProgress::new()
            .kind(token)
            .request(target),
        "StartRootTokenGeneration" => StartRootTokenGeneration::new().kind(token).request(target),
        "GenerateRoot" => GenerateRoot::new(share(), "n").kind(token).request(target),
        "CancelRootGeneration" => CancelRootGeneration::new().kind(token).request(target),
        "DecodeToken" => DecodeToken::new(EncodedToken::new("e"), Otp::new("o")).request(target),
        "ReadRekeyProgress" => ReadRekeyProgress::new().kind(keys).request(target),
        "StartRekey" => StartRekey::new(5, 3).kind(keys).request(target),
        "Rekey" => Rekey::new(share(), "n").kind(keys).request(target),
        "CancelRekey" => CancelRekey::new().kind(keys).request(target),
        "ReadRekeyVerifyProgress" => ReadRekeyVerifyProgress::new().kind(keys).request(target),
        "RekeyVerify" => RekeyVerify::new(share(), "n").kind(keys).request(target),
        "CancelRekeyVerify" => CancelRekeyVerify::new().kind(keys).request(target),
        "ReadBackupKeys" => ReadBackupKeys::new().kind(keys).request(target),
        "DeleteBackupKeys" => DeleteBackupKeys::new().kind(keys).request(target),
        "GetEncryptionKeyStatus" => GetEncryptionKeyStatus.request(target),
        "RotateEncryptionKey" => RotateEncryptionKey.request(target),
        "RotateRootKey" => RotateRootKey.request(target),
        "ReadRotateConfig" => ReadRotateConfig.request(target),
        "ConfigureRotation" => ConfigureRotation::new().enabled(true).request(target),
        other => panic!("unknown operation {other}"),
    }
}

/// The dialects whose operations send to `path`.
fn owners(path: &str) -> &'static [Dialect] {
    let p = path.trim_start_matches("/v1/sys/");
    let openbao_only = p.starts_with("generate-root-token/")
        || p.starts_with("rotate/root")
        || p.starts_with("rotate/recovery/")
        || p.starts_with("rotate/keyring");
    let vault_only = p.starts_with("rekey")
        || p.starts_with("generate-root/")
        || p == "rotate"
        || p == "rotate/config";
    match (openbao_only, vault_only) {
        (true, false) => &[Dialect::OpenBao],
        (false, true) => &[Dialect::Vault],
        (false, false) => &[Dialect::Vault, Dialect::OpenBao],
        (true, true) => unreachable!("{path}"),
    }
}

#[test]
fn every_captured_path_is_built_by_its_operation() {
    let exchanges = all_fixtures()
        .iter()
        .chain(error_rows().iter().map(|r| &r.fixture));
    let mut checked = 0;
    for f in exchanges {
        let name = operation_for(&f.method, &f.path);
        let keys = if f.path.contains("recovery-key") || f.path.contains("rotate/recovery") {
            KeyKind::Recovery
        } else {
            KeyKind::Unseal
        };
        let token = if f.path.contains("generate-recovery-token") {
            TokenKind::Recovery
        } else {
            TokenKind::Root
        };
        let method = if f.method == "POST" { "PUT" } else { &f.method };
        for dialect in DIALECTS {
            let built = build(name, &target(dialect), keys, token);
            let same = built
                .as_ref()
                .is_ok_and(|r| r.uri().path() == f.path && r.method().as_str() == method);
            assert_eq!(
                same,
                owners(&f.path).contains(&dialect),
                "{} ({} {}) with {dialect:?}: {:?}",
                f.name,
                f.method,
                f.path,
                built.map(|r| format!("{} {}", r.method(), r.uri().path()))
            );
        }
        checked += 1;
    }
    assert!(checked > 200);
}
