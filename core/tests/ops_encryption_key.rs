//! Encryption key: status, rotation, root-key rotation and the automatic-rotation settings.

mod common;

use common::*;
use http::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;
use vault_key_core::ops::encryption_key::{
    parse_go_duration, ConfigureRotation, GetEncryptionKeyStatus, KeyStatus, ReadRotateConfig,
    RotateConfig, RotateEncryptionKey, RotateRootKey, MAX_MAX_OPERATIONS, MIN_INTERVAL,
    MIN_MAX_OPERATIONS,
};
use vault_key_core::{Dialect, Error, InvalidInput, Operation};

const HOUR: u64 = 3600;

#[test]
fn key_status_request_and_answers() {
    for target in all_targets() {
        let request = GetEncryptionKeyStatus.request(&target).unwrap();
        assert_request(&request, &target, Method::GET, "sys/key-status", None);
    }
    let f = fixture("key_status");
    let status: KeyStatus = GetEncryptionKeyStatus.parse(f.status, &f.body).unwrap();
    assert_eq!(
        (
            status.term,
            status.install_time.as_str(),
            status.encryptions
        ),
        (1, "2026-11-29T23:27:57.994257802Z", Some(1))
    );
    let f = fixture("key_status_top_level_first");
    let status = GetEncryptionKeyStatus.parse(f.status, &f.body).unwrap();
    assert_eq!(status.term, 3);
    assert_eq!(status.install_time, "2026-11-29T23:28:16.364180482Z");

    let vault_without_count = br#"{"term":7,"install_time":"2024-01-01T00:00:00Z"}"#;
    let status = GetEncryptionKeyStatus
        .parse(StatusCode::OK, vault_without_count)
        .unwrap();
    assert_eq!((status.term, status.encryptions), (7, None));
}

#[test]
fn rotation_requests() {
    for target in all_targets() {
        let path = match target.dialect() {
            Dialect::Vault => "sys/rotate",
            _ => "sys/rotate/keyring",
        };
        let request = RotateEncryptionKey.request(&target).unwrap();
        assert_request(&request, &target, Method::PUT, path, None);
    }
    let request = RotateEncryptionKey
        .request(&target(Dialect::Vault))
        .unwrap();
    assert_eq!(request.uri().path(), fixture("rotate").path);
    let request = RotateEncryptionKey
        .request(&target(Dialect::OpenBao))
        .unwrap();
    assert_eq!(request.uri().path(), fixture("rotate_keyring").path);
    for name in ["rotate", "rotate_keyring"] {
        let f = fixture(name);
        assert_eq!(f.status, StatusCode::NO_CONTENT);
        RotateEncryptionKey.parse(f.status, &f.body).unwrap();
    }
}

#[test]
fn root_key_rotation_is_openbao_only() {
    for target in [target(Dialect::OpenBao), bare_target(Dialect::OpenBao)] {
        let request = RotateRootKey.request(&target).unwrap();
        assert_request(&request, &target, Method::PUT, "sys/rotate/root", None);
        assert_eq!(request.uri().path(), fixture("rotate_root_bare").path);
    }
    let err = RotateRootKey.request(&target(Dialect::Vault)).unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidInput(InvalidInput::UnsupportedByDialect {
            dialect: Dialect::Vault,
            ..
        })
    ));
    let f = fixture("rotate_root_bare");
    RotateRootKey.parse(f.status, &f.body).unwrap();
}

fn config_path(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Vault => "sys/rotate/config",
        _ => "sys/rotate/keyring/config",
    }
}

#[test]
fn config_read_requests_and_answers() {
    for target in all_targets() {
        let request = ReadRotateConfig.request(&target).unwrap();
        assert_request(
            &request,
            &target,
            Method::GET,
            config_path(target.dialect()),
            None,
        );
    }
    let request = ReadRotateConfig.request(&target(Dialect::OpenBao)).unwrap();
    assert_eq!(request.uri().path(), fixture("rotate_keyring_config").path);

    let read = |name: &str| {
        let f = fixture(name);
        ReadRotateConfig.parse(f.status, &f.body).unwrap()
    };
    let fields = |c: RotateConfig| (c.enabled, c.max_operations, c.interval);
    let expected_default = (true, 3_865_470_566, Duration::ZERO);
    assert_eq!(
        fields(read("rotate_config_interval_zero")),
        expected_default
    );
    assert_eq!(fields(read("rotate_keyring_config")), expected_default);
    assert_eq!(
        fields(read("rotate_config_interval_duration")),
        (false, 1_000_000_000, Duration::from_secs(48 * HOUR))
    );
    let seconds = br#"{"data":{"enabled":true,"interval":86400,"max_operations":1000000}}"#;
    assert_eq!(
        ReadRotateConfig
            .parse(StatusCode::OK, seconds)
            .unwrap()
            .interval,
        Duration::from_secs(24 * HOUR)
    );
    let bad = br#"{"data":{"enabled":true,"interval":"soon","max_operations":1000000}}"#;
    let err = ReadRotateConfig.parse(StatusCode::OK, bad).unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
}

#[test]
fn config_write_requests() {
    for target in all_targets() {
        let path = config_path(target.dialect());
        let request = ConfigureRotation::new()
            .enabled(false)
            .max_operations(1_000_000_000)
            .interval(Duration::from_secs(48 * HOUR))
            .request(&target)
            .unwrap();
        assert_request(
            &request,
            &target,
            Method::PUT,
            path,
            Some(
                json!({"enabled": false, "max_operations": 1_000_000_000u64, "interval": "172800s"}),
            ),
        );
        let request = ConfigureRotation::new()
            .enabled(true)
            .request(&target)
            .unwrap();
        assert_request(
            &request,
            &target,
            Method::PUT,
            path,
            Some(json!({"enabled": true})),
        );
        let request = ConfigureRotation::new()
            .interval(Duration::ZERO)
            .request(&target)
            .unwrap();
        assert_request(
            &request,
            &target,
            Method::PUT,
            path,
            Some(json!({"interval": "0s"})),
        );
    }
    for name in ["rotate_config_update", "rotate_keyring_config_update"] {
        let f = fixture(name);
        assert_eq!(f.status, StatusCode::NO_CONTENT);
        ConfigureRotation::new().parse(f.status, &f.body).unwrap();
    }
}

#[test]
fn config_write_bounds() {
    let target = target(Dialect::OpenBao);
    for ops in [
        0,
        1,
        MIN_MAX_OPERATIONS - 1,
        MAX_MAX_OPERATIONS + 1,
        u64::MAX,
    ] {
        let err = ConfigureRotation::new()
            .max_operations(ops)
            .request(&target)
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidInput(InvalidInput::OutOfRange {
                    field: "max_operations",
                    ..
                })
            ),
            "{ops}: {err:?}"
        );
    }
    for ops in [MIN_MAX_OPERATIONS, 1_000_000_000, MAX_MAX_OPERATIONS] {
        assert!(ConfigureRotation::new()
            .max_operations(ops)
            .request(&target)
            .is_ok());
    }
    for interval in [
        Duration::from_secs(1),
        Duration::from_secs(HOUR),
        MIN_INTERVAL - Duration::from_secs(1),
        MIN_INTERVAL + Duration::from_millis(500),
    ] {
        let err = ConfigureRotation::new()
            .interval(interval)
            .request(&target)
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidInput(InvalidInput::OutOfRange {
                    field: "interval",
                    ..
                })
            ),
            "{interval:?}: {err:?}"
        );
    }
    for interval in [
        Duration::ZERO,
        MIN_INTERVAL,
        Duration::from_secs(4320 * HOUR),
    ] {
        assert!(ConfigureRotation::new()
            .interval(interval)
            .request(&target)
            .is_ok());
    }
}

#[test]
fn go_durations_from_the_server() {
    assert_eq!(
        parse_go_duration("48h0m0s"),
        Some(Duration::from_secs(48 * HOUR))
    );
    assert_eq!(parse_go_duration("24h0m0s"), Some(MIN_INTERVAL));
    assert_eq!(
        parse_go_duration("2h45m30.5s"),
        Some(Duration::from_millis(
            (2 * 3600 + 45 * 60 + 30) * 1000 + 500
        ))
    );
    assert_eq!(parse_go_duration("1µs"), Some(Duration::from_micros(1)));
    assert_eq!(parse_go_duration("0s"), Some(Duration::ZERO));
    for bad in ["soon", "h1", "1d", "--", "1h 2m", "99999999999999999999h"] {
        assert_eq!(parse_go_duration(bad), None, "{bad}");
    }
}
