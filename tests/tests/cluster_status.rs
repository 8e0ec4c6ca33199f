//! `sys/health`, `sys/leader` and `sys/step-down` against a real OpenBao (one raft node, so
//! it leads itself), on both clients, with a step-down between two shares of a rekey.

use std::time::{Duration, Instant};
use vault_key_core::ceremony::{Next, RekeyCeremony, RekeyPhase};
use vault_key_core::ops::cluster::{NodeState, ReadHealthStatus};
use vault_key_core::ops::rekey::StartRekey;
use vault_key_core::{Dialect, KeyShare};
use vault_key_tests::server::Server;
use vault_key_tests::support::{shares, start, wait_active};

const DEADLINE: Duration = Duration::from_secs(30);

#[test]
fn health_leader_and_step_down_ureq() {
    let server = start(Server::builder().shares(3, 2));
    wait_active(&server);
    let client = vault_key_ureq::Client::builder()
        .address(server.address())
        .token(server.root_token())
        .dialect(Dialect::OpenBao)
        .build()
        .expect("ureq client");

    let health = client
        .read_health_status(ReadHealthStatus::new())
        .expect("health");
    assert_eq!((health.status, health.state), (200, NodeState::Active));
    let details = health.details.expect("a body");
    assert!(details.initialized && !details.sealed && !details.standby);
    assert_eq!(details.version.as_deref(), Some("2.7.2"));
    // A custom active code changes the status, not what the answer says.
    let custom = client
        .read_health_status(ReadHealthStatus::new().active_code(299))
        .expect("health with activecode");
    assert_eq!((custom.status, custom.state), (299, NodeState::Active));

    let leader = client.read_leader_status().expect("leader");
    assert!(leader.ha_enabled && leader.is_self, "{leader:?}");
    assert!(leader.leader_address.is_some(), "{leader:?}");
    let leading = client
        .leader_client()
        .expect("sys/leader")
        .expect("a leader");
    assert_eq!(leading.target().address(), client.target().address());

    // A rekey with one share in, then the node steps down. Alone in its cluster, an OpenBao
    // 2.7.2 node takes the leadership straight back and keeps the rekey it had in memory
    // (on a cluster another node would lead, without it): the ceremony goes on, and the
    // new shares are the ones in effect.
    let keys = shares(&server.keys());
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(false));
    let next = client
        .drive_rekey(&mut rekey, [keys[0].clone()])
        .expect("start and one share");
    assert!(
        matches!(
            next,
            Next::NeedShares {
                progress: 1,
                required: 2
            }
        ),
        "{next:?}"
    );
    client.step_down().expect("step down");
    let started = Instant::now();
    loop {
        let health = client.read_health_status(ReadHealthStatus::new());
        if matches!(&health, Ok(h) if h.state == NodeState::Active) {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "not active again: {health:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(client.read_leader_status().expect("leader").is_self);
    let done = client
        .drive_rekey(&mut rekey, [keys[1].clone()])
        .expect("the second share");
    assert!(
        done.is_finished() && rekey.phase() == RekeyPhase::Done,
        "{done:?}"
    );
    let new: Vec<KeyShare> = rekey.result().expect("the new shares").keys.clone();
    client.seal().expect("seal");
    let status = client
        .unseal_multi(new.into_iter().take(2))
        .expect("the new shares unseal");
    assert!(!status.sealed);
}

#[test]
fn health_and_leader_hyper() {
    let server = start(Server::builder());
    wait_active(&server);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let client = vault_key_hyper::Client::builder()
            .address(server.address())
            .token(server.root_token())
            .build()
            .expect("hyper client");
        let health = client
            .read_health_status(ReadHealthStatus::new().standby_ok(true))
            .await
            .expect("health");
        assert_eq!(health.state, NodeState::Active);
        let leader = client.read_leader_status().await.expect("leader");
        assert!(leader.is_self, "{leader:?}");
        let leading = client.leader_client().await.expect("sys/leader");
        assert!(leading.is_some());
        client.seal().await.expect("seal");
        // Waiting runs out while the node stays sealed: the last health says so.
        let waited = client
            .wait_until_active(Duration::from_millis(300))
            .await
            .expect("health while sealed");
        assert_eq!(waited.state, NodeState::Sealed);
        // Sealed: 503, still an answer.
        let sealed = client
            .read_health_status(ReadHealthStatus::new())
            .await
            .expect("health while sealed");
        assert_eq!((sealed.status, sealed.state), (503, NodeState::Sealed));
        let as_ok = client
            .read_health_status(ReadHealthStatus::new().sealed_code(200))
            .await
            .expect("health with sealedcode");
        assert_eq!((as_ok.status, as_ok.state), (200, NodeState::Sealed));

        // Every node with the same shares (one here, and one address that is no node).
        let keys = shares(&server.keys());
        let answers = client
            .unseal_nodes(&[server.address().as_str(), "not a url"], &keys)
            .await
            .expect("unseal the nodes");
        assert_eq!(answers.len(), 2);
        assert!(
            matches!(&answers[0], Ok(status) if !status.sealed),
            "{answers:?}"
        );
        assert!(answers[1].is_err());
        let active = client
            .wait_until_active(DEADLINE)
            .await
            .expect("health after the unseal");
        assert_eq!(active.state, NodeState::Active);
    });
}
