//! What an application keeps of the server's answers (status, health, leader, progress, key
//! status) serializes and reads back as the same value; no secret ever serializes, neither on
//! its own nor inside a type that holds one.

mod common;

use common::all_fixtures;
use http::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::fmt::Debug;
use std::time::Duration;
use vault_key_core::ops::cluster::{ReadHaStatus, ReadHealthStatus, ReadLeaderStatus};
use vault_key_core::ops::encryption_key::{GetEncryptionKeyStatus, ReadRotateConfig};
use vault_key_core::ops::rekey::ReadRekeyProgress;
use vault_key_core::ops::rekey_verify::ReadRekeyVerifyProgress;
use vault_key_core::ops::seal::ReadSealStatus;
use vault_key_core::Operation;

/// Fields of the captured answers that hold a share, a token or an OTP.
const SECRET_FIELDS: [&str; 8] = [
    "keys",
    "keys_base64",
    "recovery_keys",
    "recovery_keys_base64",
    "root_token",
    "encoded_token",
    "encoded_root_token",
    "otp",
];

/// Every secret the captured answers hold, as the text a serializer would write.
fn secrets() -> Vec<String> {
    fn strings(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) if s.len() >= 8 => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
            Value::Object(map) => map.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    if SECRET_FIELDS.contains(&key.as_str()) {
                        strings(v, out);
                    } else {
                        walk(v, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for fixture in all_fixtures() {
        if let Some(json) = &fixture.json {
            walk(json, &mut out);
        }
    }
    out
}

/// Serializes `value`, checks that none of `secrets` is in the text, and that the text reads
/// back as the same value.
fn keeps<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T, secrets: &[String]) {
    let text = serde_json::to_string(value).unwrap();
    for secret in secrets {
        assert!(!text.contains(secret.as_str()), "a secret in {text}");
    }
    let back: T = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(&back, value, "{text}");
}

#[test]
fn every_captured_answer_a_status_type_reads_serializes_without_a_secret() {
    let secrets = secrets();
    assert!(secrets.len() > 20, "the fixtures hold shares and tokens");
    let mut kept = [0usize; 5];
    for f in all_fixtures() {
        if let Ok(v) = GetEncryptionKeyStatus.parse(f.status, &f.body) {
            keeps(&v, &secrets);
            kept[0] += 1;
        }
        if let Ok(v) = ReadRotateConfig.parse(f.status, &f.body) {
            keeps(&v, &secrets);
            kept[1] += 1;
        }
        if let Ok(v) = ReadSealStatus.parse(f.status, &f.body) {
            keeps(&v, &secrets);
            kept[2] += 1;
        }
        // A progress read decodes the answers that completed a rekey too, shares and all.
        if let Ok(v) = ReadRekeyProgress::new().parse(f.status, &f.body) {
            keeps(&v, &secrets);
            kept[3] += 1;
        }
        if let Ok(v) = ReadRekeyVerifyProgress::new().parse(f.status, &f.body) {
            keeps(&v, &secrets);
            kept[4] += 1;
        }
    }
    assert!(
        kept.iter().all(|&n| n >= 2),
        "each type read some answers: {kept:?}"
    );
}

#[test]
fn health_leader_and_ha_status_serialize() {
    let active = br#"{"initialized":true,"sealed":false,"standby":false,"replication_performance_mode":"primary","replication_dr_mode":"disabled","server_time_utc":1795994885,"version":"2.7.2","cluster_name":"vault-cluster-b003a5ac","cluster_id":"ec85b082-190d-abd2-66f1-ffbb21c402cb"}"#;
    let health = ReadHealthStatus::new()
        .parse(StatusCode::OK, active)
        .unwrap();
    let text = serde_json::to_value(&health).unwrap();
    assert_eq!(text["status"], 200);
    assert_eq!(text["state"], "Active");
    assert_eq!(text["details"]["cluster_name"], "vault-cluster-b003a5ac");
    keeps(health.details.as_ref().unwrap(), &[]);

    let leader = br#"{"ha_enabled":true,"is_self":false,"active_time":"0001-01-01T00:00:00Z","leader_address":"http://127.0.0.1:8200","leader_cluster_address":"https://127.0.0.1:8201","performance_standby":false,"performance_standby_last_remote_wal":0,"raft_committed_index":42,"raft_applied_index":42}"#;
    keeps(
        &ReadLeaderStatus.parse(StatusCode::OK, leader).unwrap(),
        &[],
    );
    let ha = include_str!("fixtures/openbao/ha-status.json");
    keeps(
        &ReadHaStatus.parse(StatusCode::OK, ha.as_bytes()).unwrap(),
        &[],
    );
}

#[test]
fn a_rotation_interval_reads_back_to_the_nanosecond() {
    let finer = br#"{"enabled":true,"max_operations":1000000,"interval":"90000.5s"}"#;
    let config = ReadRotateConfig.parse(StatusCode::OK, finer).unwrap();
    assert_eq!(config.interval, Duration::from_millis(90_000_500));
    keeps(&config, &[]);
    let whole = serde_json::to_value(
        ReadRotateConfig
            .parse(StatusCode::OK, br#"{"interval":"48h"}"#)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        whole["interval"],
        48 * 3600,
        "whole seconds as the server's integer"
    );
}

/// Fails to compile when `T` implements `Serialize`: two impls of `NotSerialize` then apply.
fn assert_not_serialize<T: ?Sized + NotSerialize<A>, A>() {}
trait NotSerialize<A> {}
impl<T: ?Sized> NotSerialize<()> for T {}
/// The second impl, for what serializes.
struct Serializes;
impl<T: ?Sized + Serialize> NotSerialize<Serializes> for T {}

#[test]
fn no_secret_and_nothing_that_holds_one_serializes() {
    use vault_key_core::ceremony::{GeneratedToken, RekeyCeremony, RootTokenCeremony};
    use vault_key_core::ops::generate_root::RootGenerationStatus;
    use vault_key_core::ops::rekey::{RekeyResult, RekeyUpdate};
    use vault_key_core::ops::rekey_backup::BackupKeys;
    use vault_key_core::ops::seal::InitResult;
    use vault_key_core::{EncodedToken, KeyShare, Otp, SecretBytes, Token};
    assert_not_serialize::<KeyShare, _>();
    assert_not_serialize::<Token, _>();
    assert_not_serialize::<Otp, _>();
    assert_not_serialize::<EncodedToken, _>();
    assert_not_serialize::<SecretBytes, _>();
    assert_not_serialize::<RekeyResult, _>();
    assert_not_serialize::<RekeyUpdate, _>();
    assert_not_serialize::<RootGenerationStatus, _>();
    assert_not_serialize::<BackupKeys, _>();
    assert_not_serialize::<InitResult, _>();
    assert_not_serialize::<GeneratedToken, _>();
    assert_not_serialize::<RekeyCeremony, _>();
    assert_not_serialize::<RootTokenCeremony, _>();
}
