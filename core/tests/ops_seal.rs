//! `sys/init`, `sys/seal-status`, `sys/unseal`, `sys/seal`: requests and captured answers.

mod common;

use common::*;
use http::{Method, StatusCode};
use serde_json::json;
use vault_key_core::ops::seal::{
    Initialize, Product, ReadInitStatus, ReadSealStatus, Seal, Unseal,
};
use vault_key_core::{Dialect, Error, InvalidInput, KeyShare, Operation};

#[test]
fn init_status_request_and_answers() {
    for target in all_targets() {
        let request = ReadInitStatus.request(&target).unwrap();
        assert_request(&request, &target, Method::GET, "sys/init", None);
    }
    let f = fixture("init_status_uninitialized");
    assert!(!ReadInitStatus.parse(f.status, &f.body).unwrap());
    let f = fixture("init_status_initialized");
    assert!(ReadInitStatus.parse(f.status, &f.body).unwrap());
}

#[test]
fn initialize_request_bodies() {
    for target in all_targets() {
        let request = Initialize::new(5, 3).request(&target).unwrap();
        assert_request(
            &request,
            &target,
            Method::PUT,
            "sys/init",
            Some(json!({"secret_shares": 5, "secret_threshold": 3})),
        );
        let full = Initialize::new(2, 2)
            .pgp_keys(vec!["cGsx".into(), "cGsy".into()])
            .root_token_pgp_key("cm9vdA==");
        let request = full.request(&target).unwrap();
        assert_request(
            &request,
            &target,
            Method::PUT,
            "sys/init",
            Some(json!({
                "secret_shares": 2,
                "secret_threshold": 2,
                "pgp_keys": ["cGsx", "cGsy"],
                "root_token_pgp_key": "cm9vdA==",
            })),
        );
        // An auto-unseal seal refuses secret_shares and secret_threshold, even as 0
        // (validateInitParameters in Vault's http/sys_init.go): none are sent.
        let request = Initialize::auto_unseal().request(&target).unwrap();
        assert_request(&request, &target, Method::PUT, "sys/init", Some(json!({})));
        let full = Initialize::auto_unseal()
            .recovery(3, 2)
            .recovery_pgp_keys(vec!["cjE=".into(), "cjI=".into(), "cjM=".into()])
            .root_token_pgp_key("cm9vdA==");
        let request = full.request(&target).unwrap();
        assert_request(
            &request,
            &target,
            Method::PUT,
            "sys/init",
            Some(json!({
                "recovery_shares": 3,
                "recovery_threshold": 2,
                "recovery_pgp_keys": ["cjE=", "cjI=", "cjM="],
                "root_token_pgp_key": "cm9vdA=="
            })),
        );
    }
}

#[test]
fn initialize_answer_keeps_the_shares_and_the_root_token() {
    let f = fixture("init_complete");
    let result = Initialize::new(5, 3).parse(f.status, &f.body).unwrap();
    let json = f.json.unwrap();
    let keys: Vec<&str> = result.keys.iter().map(KeyShare::expose).collect();
    let expected: Vec<&str> = json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(keys, expected);
    assert_eq!(
        keys[0],
        "f50240c84a1af2c46e443c815bc960e46fe3c8e3e3f63700de2bfee9e9e53098e5"
    );
    assert_eq!(result.keys_base64.len(), 5);
    assert_eq!(
        result.keys_base64[0].expose(),
        "9QJAyEoa8sRuRDyBW8lg5G/jyOPj9jcA3iv+6enlMJjl"
    );
    assert!(result.recovery_keys.is_empty());
    assert!(result.recovery_keys_base64.is_empty());
    assert_eq!(result.root_token.expose(), "s.JS0wWz7v8J4aTa1dWOsmW0YY");
    let printed = format!("{result:?}");
    assert!(!printed.contains("s.JS0wWz7v8J4aTa1dWOsmW0YY"), "{printed}");
    assert!(!printed.contains("f50240c84a1af2c4"), "{printed}");
}

#[test]
fn initialize_rejects_invalid_configurations() {
    let target = target(Dialect::Vault);
    for (shares, threshold) in [(3, 5), (0, 0), (2, 1), (256, 3), (5, 0)] {
        let err = Initialize::new(shares, threshold)
            .request(&target)
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidInput(InvalidInput::SharesConfig { shares: s, threshold: t, .. }) if s == shares && t == threshold),
            "{shares}/{threshold}: {err:?}"
        );
    }
    let err = Initialize::new(5, 3)
        .pgp_keys(vec!["cGsx".into()])
        .request(&target)
        .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidInput(InvalidInput::PgpKeyCount {
            given: 1,
            shares: 5
        })
    ));
    let err = Initialize::auto_unseal()
        .recovery(3, 4)
        .request(&target)
        .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidInput(InvalidInput::SharesConfig {
            shares: 3,
            threshold: 4,
            ..
        })
    ));
    let err = Initialize::auto_unseal()
        .recovery(3, 2)
        .recovery_pgp_keys(vec!["cjE=".into()])
        .request(&target)
        .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidInput(InvalidInput::PgpKeyCount {
            given: 1,
            shares: 3
        })
    ));
    assert!(Initialize::new(1, 1).request(&target).is_ok());
    // One seal's settings with the other's: the server would refuse, so nothing is sent.
    for mixed in [
        Initialize::new(3, 2).recovery(3, 2),
        Initialize::new(3, 2).recovery_pgp_keys(vec!["cjE=".into()]),
        Initialize::auto_unseal().pgp_keys(vec!["cGsx".into()]),
    ] {
        let err = mixed.request(&target).unwrap_err();
        assert!(
            matches!(err, Error::InvalidInput(InvalidInput::SealMismatch(_))),
            "{err}"
        );
    }
}

#[test]
fn seal_status_request_and_answers() {
    for target in all_targets() {
        let request = ReadSealStatus.request(&target).unwrap();
        assert_request(&request, &target, Method::GET, "sys/seal-status", None);
    }

    let f = fixture("seal_status_uninitialized");
    let status = ReadSealStatus.parse(f.status, &f.body).unwrap();
    assert!(!status.initialized);
    assert!(status.sealed);
    assert_eq!((status.t, status.n, status.progress), (0, 0, 0));
    assert_eq!(status.nonce, None);
    assert_eq!(status.cluster_name, None);

    let f = fixture("seal_status_sealed");
    let status = ReadSealStatus.parse(f.status, &f.body).unwrap();
    assert!(status.initialized && status.sealed);
    assert_eq!((status.t, status.n), (3, 5));
    assert_eq!(status.seal_type, "shamir");
    assert!(!status.recovery_seal);
    assert!(!status.migration);

    let f = fixture("seal_status_unsealed");
    let status = ReadSealStatus.parse(f.status, &f.body).unwrap();
    assert!(!status.sealed);
    assert_eq!(
        status.cluster_name.as_deref(),
        Some("vault-cluster-b003a5ac")
    );
    assert_eq!(
        status.cluster_id.as_deref(),
        Some("ec85b082-190d-abd2-66f1-ffbb21c402cb")
    );
    assert_eq!(status.storage_type.as_deref(), Some("raft"));
    assert_eq!(status.version, "2.7.2");
    assert_eq!(status.commit_date.as_deref(), Some("2026-10-26T20:32:27Z"));
    assert_eq!(status.build_date, None);

    let server = status.server();
    assert_eq!(server.product, Product::OpenBao);
    assert_eq!(server.semver, Some((2, 7, 2)));
    assert_eq!(server.dialect(), Dialect::OpenBao);
}

#[test]
fn vault_seal_status_is_told_apart() {
    let body = br#"{"type":"shamir","initialized":true,"sealed":false,"t":3,"n":5,"progress":0,
        "nonce":"","version":"1.17.3","build_date":"2024-08-06T14:28:45Z","migration":false,
        "recovery_seal":false,"storage_type":"raft"}"#;
    let status = ReadSealStatus.parse(StatusCode::OK, body).unwrap();
    let server = status.server();
    assert_eq!(server.product, Product::Vault);
    assert_eq!(server.semver, Some((1, 17, 3)));
    assert_eq!(server.dialect(), Dialect::Vault);
}

#[test]
fn unseal_requests() {
    for target in all_targets() {
        let share = "f50240c84a1af2c46e443c815bc960e46fe3c8e3e3f63700de2bfee9e9e53098e5";
        let request = Unseal::new(KeyShare::new(share)).request(&target).unwrap();
        assert_request(
            &request,
            &target,
            Method::PUT,
            "sys/unseal",
            Some(json!({"key": share})),
        );
        let request = Unseal::reset().request(&target).unwrap();
        assert_request(
            &request,
            &target,
            Method::PUT,
            "sys/unseal",
            Some(json!({"reset": true})),
        );
    }
    for empty in ["", "  "] {
        let err = Unseal::new(KeyShare::new(empty))
            .request(&target(Dialect::Vault))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput(InvalidInput::Empty(_))));
    }
}

#[test]
fn unseal_answers() {
    let f = fixture("unseal_progress");
    let status = Unseal::reset().parse(f.status, &f.body).unwrap();
    assert!(status.sealed);
    assert_eq!(status.progress, 1);
    assert_eq!(
        status.nonce.as_deref(),
        Some("2c60b6cd-3517-0d52-8d77-a75dadd41259")
    );

    let f = fixture("unseal_reset");
    let status = Unseal::reset().parse(f.status, &f.body).unwrap();
    assert_eq!((status.progress, status.nonce), (0, None));

    let f = fixture("unseal_complete");
    let status = Unseal::reset().parse(f.status, &f.body).unwrap();
    assert!(!status.sealed);
    assert_eq!(status.progress, 0);
}

#[test]
fn seal_request_and_204() {
    for target in all_targets() {
        let request = Seal.request(&target).unwrap();
        assert_request(&request, &target, Method::PUT, "sys/seal", None);
    }
    let f = fixture("seal");
    assert_eq!(f.status, StatusCode::NO_CONTENT);
    assert!(f.body.is_empty());
    Seal.parse(f.status, &f.body).unwrap();
}
