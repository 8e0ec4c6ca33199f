//! `sys/health`, `sys/leader`, `sys/ha-status` and `sys/step-down`: every health status code is
//! an answer. The bodies are OpenBao 2.7.2's, from the capture and (`sys/ha-status`) from a
//! three-node raft cluster of the harness.

use http::{Method, StatusCode};
use vault_key_core::ops::cluster::{
    NodeState, ReadHaStatus, ReadHealthStatus, ReadLeaderStatus, StepDown,
};
use vault_key_core::{Error, Operation, Refusal, Target};

const UNINIT: &str = r#"{"initialized":false,"sealed":true,"standby":true,"replication_performance_mode":"unknown","replication_dr_mode":"unknown","server_time_utc":1795994868,"version":"2.7.2"}"#;
const SEALED: &str = r#"{"initialized":true,"sealed":true,"standby":true,"replication_performance_mode":"unknown","replication_dr_mode":"unknown","server_time_utc":1795994885,"version":"2.7.2"}"#;
const ACTIVE: &str = r#"{"initialized":true,"sealed":false,"standby":false,"replication_performance_mode":"primary","replication_dr_mode":"disabled","server_time_utc":1795994885,"version":"2.7.2","cluster_name":"vault-cluster-b003a5ac","cluster_id":"ec85b082-190d-abd2-66f1-ffbb21c402cb"}"#;

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap()
}

#[test]
fn every_captured_health_answer_is_a_value() {
    let read = ReadHealthStatus::new();
    let cases = [
        (501, UNINIT, NodeState::Uninitialized),
        (503, SEALED, NodeState::Sealed),
        (200, ACTIVE, NodeState::Active),
        // Custom codes (uninitcode=200, sealedcode=200, activecode=299): the body decides.
        (200, UNINIT, NodeState::Uninitialized),
        (200, SEALED, NodeState::Sealed),
        (299, ACTIVE, NodeState::Active),
    ];
    for (code, body, state) in cases {
        let health = read.parse(status(code), body.as_bytes()).unwrap();
        assert_eq!((health.status, health.state), (code, state), "{body}");
        let details = health.details.unwrap();
        assert_eq!(details.version.as_deref(), Some("2.7.2"));
    }
    let active = read.parse(StatusCode::OK, ACTIVE.as_bytes()).unwrap();
    assert!(active.is_serving());
    let details = active.details.unwrap();
    assert_eq!(
        details.cluster_name.as_deref(),
        Some("vault-cluster-b003a5ac")
    );
    assert_eq!(details.replication_dr_mode.as_deref(), Some("disabled"));
}

#[test]
fn standby_and_vault_only_states() {
    let read = ReadHealthStatus::new();
    let standby = r#"{"initialized":true,"sealed":false,"standby":true,"version":"1.19.0"}"#;
    let h = read.parse(status(429), standby.as_bytes()).unwrap();
    assert_eq!(h.state, NodeState::Standby);
    assert!(!h.is_serving());
    let perf = r#"{"initialized":true,"sealed":false,"standby":true,"performance_standby":true}"#;
    let h = read.parse(status(473), perf.as_bytes()).unwrap();
    assert_eq!(h.state, NodeState::PerformanceStandby);
    assert!(h.is_serving());
    let dr =
        r#"{"initialized":true,"sealed":false,"standby":false,"replication_dr_mode":"secondary"}"#;
    assert_eq!(
        read.parse(status(472), dr.as_bytes()).unwrap().state,
        NodeState::DrSecondary
    );
    let lost =
        r#"{"initialized":true,"sealed":false,"standby":true,"ha_connection_healthy":false}"#;
    assert_eq!(
        read.parse(status(474), lost.as_bytes()).unwrap().state,
        NodeState::StandbyWithoutActive
    );
    let removed =
        r#"{"initialized":true,"sealed":false,"standby":true,"removed_from_cluster":true}"#;
    assert_eq!(
        read.parse(status(530), removed.as_bytes()).unwrap().state,
        NodeState::Removed
    );
}

#[test]
fn an_empty_answer_is_read_from_its_code() {
    let read = ReadHealthStatus::new().sealed_code(299).standby_ok(true);
    assert_eq!(
        read.parse(status(299), b"").unwrap().state,
        NodeState::Sealed
    );
    assert_eq!(
        read.parse(status(503), b"").unwrap().state,
        NodeState::Sealed
    );
    assert_eq!(
        read.parse(status(429), b"").unwrap().state,
        NodeState::Standby
    );
    assert!(read.parse(status(200), b"").unwrap().details.is_none());
    // A code health never uses, without a body, is not a health answer.
    assert!(read.parse(status(418), b"").is_err());
}

#[test]
fn what_is_not_a_health_answer_is_refused_as_usual() {
    let read = ReadHealthStatus::new();
    match read.parse(status(405), br#"{"errors":[]}"#) {
        Err(Error::Server(e)) => assert_eq!(e.refusal, Refusal::MethodNotAllowed),
        other => panic!("{other:?}"),
    }
    match read.parse(status(404), b"404 page not found\n") {
        Err(Error::Server(e)) => assert_eq!(e.refusal, Refusal::RecoveryMode),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        read.parse(StatusCode::OK, b"<html>"),
        Err(Error::Decode(_))
    ));
}

#[test]
fn requests() {
    let target = Target::new("http://127.0.0.1:8200").unwrap();
    let request = ReadHealthStatus::new().request(&target).unwrap();
    assert_eq!(request.uri(), "http://127.0.0.1:8200/v1/sys/health");
    let request = ReadHealthStatus::new()
        .standby_ok(true)
        .perf_standby_ok(true)
        .sealed_code(200)
        .sealed_code(299)
        .uninit_code(204)
        .request(&target)
        .unwrap();
    assert_eq!(
        request.uri(),
        "http://127.0.0.1:8200/v1/sys/health?standbyok=true&perfstandbyok=true&sealedcode=299&uninitcode=204"
    );
    let request = ReadLeaderStatus.request(&target).unwrap();
    assert_eq!(
        (request.method(), request.uri().path()),
        (&Method::GET, "/v1/sys/leader")
    );
    let request = StepDown.request(&target).unwrap();
    assert_eq!(
        (request.method(), request.uri().path()),
        (&Method::PUT, "/v1/sys/step-down")
    );
}

#[test]
fn another_node_of_the_same_target() {
    use vault_key_core::{Dialect, Token};
    let target = Target::new("http://node-1:8200")
        .unwrap()
        .with_token(Token::new("s.operator"))
        .with_namespace("team")
        .unwrap()
        .with_dialect(Dialect::OpenBao);
    let leader = target.at_address("https://node-2:8200/").unwrap();
    assert_eq!(leader.address(), "https://node-2:8200");
    assert_eq!(leader.token().map(|t| t.expose()), Some("s.operator"));
    assert_eq!(leader.namespace(), Some("team"));
    assert_eq!(leader.dialect(), Dialect::OpenBao);
    let request = ReadLeaderStatus.request(&leader).unwrap();
    assert_eq!(request.uri(), "https://node-2:8200/v1/sys/leader");
    assert_eq!(request.headers()["x-vault-token"], "s.operator");
    assert!(matches!(
        target.at_address("node-3:8200"),
        Err(Error::InvalidInput(_))
    ));
    // A leader named by a node: the same rules, and never from https down to http.
    assert_eq!(
        target
            .at_named_leader("https://node-2:8200")
            .unwrap()
            .address(),
        "https://node-2:8200"
    );
    let secure = target.at_address("https://node-1:8200").unwrap();
    assert!(secure.at_named_leader("HTTPS://node-2:8200").is_ok());
    let err = secure.at_named_leader("http://node-2:8200").unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    assert!(!err.to_string().contains("s.operator"), "{err}");
}

#[test]
fn the_nodes_of_a_cluster() {
    let target = Target::new("http://127.0.0.1:8200").unwrap();
    let request = ReadHaStatus.request(&target).unwrap();
    assert_eq!(
        (request.method(), request.uri().path()),
        (&Method::GET, "/v1/sys/ha-status")
    );
    let body = include_str!("fixtures/openbao/ha-status.json");
    let status = ReadHaStatus.parse(StatusCode::OK, body.as_bytes()).unwrap();
    assert_eq!(status.nodes.len(), 3);
    let active = status.active().expect("an active node");
    assert_eq!(active.api_address, "http://127.0.0.1:36981");
    assert_eq!(
        active.last_echo, None,
        "the active node does not echo itself"
    );
    let standbys: Vec<_> = status.nodes.iter().filter(|n| !n.active_node).collect();
    assert_eq!(standbys.len(), 2);
    assert!(standbys
        .iter()
        .all(|n| n.last_echo.is_some() && n.version.as_deref() == Some("2.7.2")));
    let refused = ReadHaStatus
        .parse(
            StatusCode::FORBIDDEN,
            br#"{"errors":["permission denied"]}"#,
        )
        .unwrap_err();
    assert_eq!(refused.refusal(), Some(&Refusal::PermissionDenied));
    let empty = ReadHaStatus
        .parse(StatusCode::OK, br#"{"data":{"nodes":null}}"#)
        .unwrap();
    assert!(empty.nodes.is_empty() && empty.active().is_none());
}
