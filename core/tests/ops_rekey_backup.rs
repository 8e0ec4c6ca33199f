//! The PGP-encrypted backup of rekeyed shares: requests and captured answers.

mod common;

use common::*;
use http::{Method, StatusCode};
use serde_json::Value;
use vault_key_core::ops::rekey::KeyKind;
use vault_key_core::ops::rekey_backup::{BackupKeys, DeleteBackupKeys, ReadBackupKeys};
use vault_key_core::{Dialect, Operation, Refusal};

fn backup_path(dialect: Dialect, kind: KeyKind) -> &'static str {
    match (dialect, kind) {
        (Dialect::Vault, KeyKind::Unseal) => "sys/rekey/backup",
        (Dialect::Vault, KeyKind::Recovery) => "sys/rekey/recovery-key-backup",
        (Dialect::OpenBao, KeyKind::Unseal) => "sys/rotate/root/backup",
        (Dialect::OpenBao, KeyKind::Recovery) => "sys/rotate/recovery/backup",
        _ => unreachable!(),
    }
}

#[test]
fn requests_for_every_dialect_and_kind() {
    for target in all_targets() {
        for kind in KEY_KINDS {
            let path = backup_path(target.dialect(), kind);
            let request = ReadBackupKeys::new().kind(kind).request(&target).unwrap();
            assert_request(&request, &target, Method::GET, path, None);
            let request = DeleteBackupKeys::new().kind(kind).request(&target).unwrap();
            assert_request(&request, &target, Method::DELETE, path, None);
        }
    }
}

#[test]
fn paths_match_the_capture() {
    for (dialect, kind, name) in [
        (
            Dialect::Vault,
            KeyKind::Unseal,
            "legacy_rekey_backup_delete",
        ),
        (
            Dialect::Vault,
            KeyKind::Recovery,
            "legacy_recovery_key_backup_delete",
        ),
        (
            Dialect::OpenBao,
            KeyKind::Unseal,
            "openbao_rotate_root_backup_delete",
        ),
        (
            Dialect::OpenBao,
            KeyKind::Recovery,
            "openbao_rotate_recovery_backup_delete",
        ),
    ] {
        let request = DeleteBackupKeys::new()
            .kind(kind)
            .request(&target(dialect))
            .unwrap();
        assert_eq!(
            request.uri().path(),
            fixture(name).path,
            "{dialect:?} {kind:?}"
        );
    }
}

fn read(name: &str) -> BackupKeys {
    let f = fixture(name);
    ReadBackupKeys::new()
        .kind(KeyKind::Unseal)
        .parse(f.status, &f.body)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn expected(json: &Value, field: &str) -> Vec<(String, Vec<String>)> {
    json[field]
        .as_object()
        .unwrap()
        .iter()
        .map(|(fp, keys)| {
            let keys = keys
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap().to_string())
                .collect();
            (fp.clone(), keys)
        })
        .collect()
}

fn actual(
    map: &std::collections::BTreeMap<String, Vec<vault_key_core::KeyShare>>,
) -> Vec<(String, Vec<String>)> {
    map.iter()
        .map(|(fp, keys)| {
            (
                fp.clone(),
                keys.iter().map(|k| k.expose().to_string()).collect(),
            )
        })
        .collect()
}

#[test]
fn backups_by_fingerprint() {
    for (name, nonce) in [
        (
            "legacy_rekey_backup",
            "ced10ed0-10e9-4470-a515-9bb86d12d9d2",
        ),
        (
            "openbao_rotate_root_backup",
            "0a039f5b-87f1-65dd-2124-48c3a8c98d3a",
        ),
        (
            "openbao_rekey_backup_shared",
            "0a039f5b-87f1-65dd-2124-48c3a8c98d3a",
        ),
    ] {
        let json = fixture(name).json.unwrap();
        let data = &json["data"];
        assert!(data.is_object(), "{name}: the capture has the envelope");
        let backup = read(name);
        assert_eq!(backup.nonce.as_deref(), Some(nonce), "{name}");
        assert_eq!(backup.keys.len(), 3, "{name}");
        assert_eq!(actual(&backup.keys), expected(data, "keys"), "{name}");
        assert_eq!(
            actual(&backup.keys_base64),
            expected(data, "keys_base64"),
            "{name}"
        );
        assert!(backup
            .keys
            .contains_key("24f0e2e4e7feac8f9c0a1e98886f6e3f5b3148a8"));
        let printed = format!("{backup:?}");
        for (_, keys) in expected(data, "keys") {
            assert!(!printed.contains(&keys[0][..40]), "{name}");
        }
    }
    assert_eq!(
        read("openbao_rotate_root_backup"),
        read("openbao_rekey_backup_shared"),
        "one backup, two paths"
    );
}

#[test]
fn no_backup_is_its_own_refusal() {
    let body = br#"{"errors":["no backed-up keys found"]}"#;
    let err = ReadBackupKeys::new()
        .kind(KeyKind::Recovery)
        .parse(StatusCode::BAD_REQUEST, body)
        .unwrap_err();
    assert_eq!(err.refusal(), Some(&Refusal::NoBackup));
}

#[test]
fn delete_answers_204() {
    for name in [
        "legacy_rekey_backup_delete",
        "legacy_recovery_key_backup_delete",
        "openbao_rotate_root_backup_delete",
        "openbao_rotate_recovery_backup_delete",
    ] {
        let f = fixture(name);
        assert_eq!(f.status, StatusCode::NO_CONTENT);
        assert!(f.body.is_empty());
        DeleteBackupKeys::new()
            .kind(KeyKind::Unseal)
            .parse(f.status, &f.body)
            .unwrap();
    }
}
