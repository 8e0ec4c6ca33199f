//! Ceremonies on a three-node OpenBao 2.7.2 raft cluster of the harness, on both clients and
//! both dialects.
//!
//! What was measured there, and what these tests hold the library to: a standby serves reads
//! itself (`sys/health` 429, `sys/leader`, `sys/ha-status`, even `sys/key-status`), forwards
//! writes such as `sys/rotate` to the leader, or answers them with a 307 to it when forwarding
//! is off (`X-Vault-No-Request-Forwarding`), which the clients follow with the token. A root
//! generation runs on a standby and gives a token that works on the leader. Rekey
//! progress lives in each node's memory: a rekey started on a standby counts shares there but
//! is refused at the share that would complete it ("no rotation in progress"), so ceremonies run
//! on the leader that a standby names (`sys/leader`). A leader killed or stepped down between
//! two shares takes its rekey with it: the ceremony reports the loss, keeps what it had, and a
//! new ceremony on the new leader completes; every node then seals and unseals with the shares
//! in effect.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use vault_key_core::ceremony::{
    Next, RekeyCeremony, RekeyPhase, RootTokenCeremony, RootTokenPhase, TokenProtection,
    Verification,
};
use vault_key_core::ops::cluster::NodeState;
use vault_key_core::ops::cluster::ReadHealthStatus;
use vault_key_core::ops::generate_root::TokenKind;
use vault_key_core::ops::rekey::KeyKind;
use vault_key_core::ops::rekey::StartRekey;
use vault_key_core::transport::redirect::RedirectHosts;
use vault_key_core::{CeremonyError, Dialect, Error, ExecuteError, KeyShare, Target, Token};
use vault_key_tests::clients::{Client, ClientFactory, Transport};
use vault_key_tests::server::{Cluster, Server};
use vault_key_tests::support::{assert_root_token, reseal_with_new_shares, shares, texts};

const DEADLINE: Duration = Duration::from_secs(60);

/// Three nodes at a time are enough for two cores: the tests take turns.
static ONE_CLUSTER_AT_A_TIME: Mutex<()> = Mutex::new(());

fn cluster() -> (MutexGuard<'static, ()>, Cluster) {
    let turn = ONE_CLUSTER_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let cluster = Cluster::start_with(Server::builder().legacy_endpoints(true).shares(3, 2), 3)
        .expect(
            "an OpenBao cluster is needed for this test (set BAO_BIN or install python3 with pip)",
        );
    (turn, cluster)
}

fn factory(
    cluster: &Cluster,
    node: usize,
    transport: Transport,
    dialect: Dialect,
) -> ClientFactory {
    ClientFactory::new(transport, cluster.node(node).address(), dialect)
}

fn client(cluster: &Cluster, node: usize, transport: Transport, dialect: Dialect) -> Client {
    factory(cluster, node, transport, dialect)
        .client(Some(cluster.root_token()))
        .expect("a client")
}

/// A client at the leader `via` names (other than `not`, a node just lost), waiting until it
/// names one.
fn leader_named_by(
    cluster: &Cluster,
    via: usize,
    not: Option<usize>,
    transport: Transport,
    dialect: Dialect,
) -> (usize, Client) {
    let asked = client(cluster, via, transport, dialect);
    let started = Instant::now();
    loop {
        let named = asked.read_leader_status();
        if let Ok(Some(address)) = named.as_ref().map(|status| status.leader_address.clone()) {
            let index = cluster
                .nodes()
                .iter()
                .position(|node| node.address() == address)
                .expect("the leader is a node of the cluster");
            if Some(index) != not {
                return (index, client(cluster, index, transport, dialect));
            }
        }
        assert!(
            started.elapsed() < DEADLINE,
            "no new leader named: {named:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn lost_by_server<T: std::fmt::Debug>(result: Result<T, vault_key_tests::clients::CallError>) {
    match result {
        Err(ExecuteError::Core(Error::Ceremony(CeremonyError::LostByServer(_)))) => {}
        other => panic!("expected the ceremony to be reported lost by the server: {other:?}"),
    }
}

/// `drive` again while the node answers that it cannot judge the request yet (no leader, a
/// standby, overload): the ceremony keeps the share queued meanwhile.
fn judged<T>(
    mut drive: impl FnMut() -> Result<T, vault_key_tests::clients::CallError>,
) -> Result<T, vault_key_tests::clients::CallError> {
    let started = Instant::now();
    loop {
        match drive() {
            Err(ExecuteError::Core(err))
                if err.refusal().is_some_and(|r| r.is_retryable())
                    && started.elapsed() < DEADLINE =>
            {
                std::thread::sleep(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

/// Drives `rekey` until it stops without an error or ends: a refusal it recovers from (a
/// verification nonce the node changed: it reads the progress and sends the share again) is
/// driven again, a few times.
fn until_it_ends(
    client: &Client,
    rekey: &mut RekeyCeremony,
) -> Result<RekeyPhase, vault_key_tests::clients::CallError> {
    let mut outcome = judged(|| client.drive(rekey).map(|_| rekey.phase()));
    for _ in 0..5 {
        let restarted = matches!(
            outcome,
            Err(ExecuteError::Core(Error::Ceremony(
                CeremonyError::VerificationRestartedAtCompletion
            )))
        );
        if outcome.is_ok() || restarted || rekey.phase() == RekeyPhase::Aborted {
            break;
        }
        outcome = judged(|| client.drive(rekey).map(|_| rekey.phase()));
    }
    outcome
}

/// A rekey with verification of the current `keys` into three new shares (threshold 2), run
/// on `client`; returns the new shares.
fn rekey_with_verification(client: &Client, keys: &[KeyShare]) -> Vec<KeyShare> {
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(true));
    rekey.submit_shares(keys.iter().take(2).cloned()).unwrap();
    assert_eq!(
        client.drive(&mut rekey).map(|_| rekey.phase()).unwrap(),
        RekeyPhase::Verifying
    );
    let new = rekey.result().expect("the new shares").keys.clone();
    rekey
        .submit_verification_shares(new.iter().take(2).cloned())
        .unwrap();
    assert_eq!(
        client.drive(&mut rekey).map(|_| rekey.phase()).unwrap(),
        RekeyPhase::Done
    );
    assert_eq!(rekey.verification(), Verification::Verified);
    new
}

/// A root generation with `keys`, its token checked on `server`.
fn generate_root(client: &Client, keys: &[KeyShare], server: &Server) {
    let mut generation = RootTokenCeremony::start(TokenKind::Root, TokenProtection::ServerOtp);
    generation
        .submit_shares(keys.iter().take(2).cloned())
        .unwrap();
    assert_eq!(
        client
            .drive(&mut generation)
            .map(|_| generation.phase())
            .unwrap(),
        RootTokenPhase::Done
    );
    assert_root_token(server, generation.decode_token().unwrap().expose());
}

/// Every node, one at a time, sealed and unsealed with `keys`; when `old` are given (the
/// shares before a rekey), they no longer open it.
fn every_node_reseals(cluster: &Cluster, old: Option<&[KeyShare]>, keys: &[KeyShare]) {
    for index in 0..cluster.nodes().len() {
        cluster.wait_leader(DEADLINE).expect("a leader");
        let node = client(cluster, index, Transport::Ureq, Dialect::OpenBao);
        match old {
            Some(old) => reseal_with_new_shares(cluster.node(index), &node, old, keys),
            None => {
                node.seal().expect("seal");
                cluster
                    .unseal(index, &texts(keys))
                    .expect("the shares in effect unseal the node");
            }
        }
    }
    let states = cluster.states();
    assert_eq!(
        states.iter().filter(|s| **s == Some(200)).count(),
        1,
        "{states:?}"
    );
    assert_eq!(
        states.iter().filter(|s| **s == Some(429)).count(),
        2,
        "{states:?}"
    );
}

/// The address of the client `leader_client` gives for the node at `address`, on
/// `transport`'s own client with `hosts` as its redirect hosts (or the default).
fn named_leader_client(
    transport: Transport,
    address: &str,
    token: &str,
    hosts: Option<RedirectHosts>,
) -> Result<Option<String>, String> {
    let address_of = |target: &Target| target.address().to_string();
    match transport {
        Transport::Ureq => {
            let mut builder = vault_key_ureq::Client::builder()
                .address(address)
                .token(Token::new(token));
            if let Some(hosts) = hosts {
                builder = builder.redirect_hosts(hosts);
            }
            let client = builder.build().map_err(|e| e.to_string())?;
            let leader = client.leader_client().map_err(|e| e.to_string())?;
            Ok(leader.map(|c| address_of(c.target())))
        }
        Transport::Hyper => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let mut builder = vault_key_hyper::Client::builder()
                    .address(address)
                    .token(Token::new(token));
                if let Some(hosts) = hosts {
                    builder = builder.redirect_hosts(hosts);
                }
                let client = builder.build().map_err(|e| e.to_string())?;
                let leader = client.leader_client().await.map_err(|e| e.to_string())?;
                Ok(leader.map(|c| address_of(c.target())))
            })
        }
    }
}

#[test]
fn standbys_serve_status_pass_writes_on_and_name_the_leader() {
    let (_turn, cluster) = cluster();
    let leader = cluster.wait_leader(DEADLINE).unwrap();
    let standby = cluster.standbys()[0];
    let leader_address = cluster.node(leader).address();

    // With forwarding off, the standby sends a write to the leader.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into();
    let answer = agent
        .put(format!("{}/v1/sys/rotate", cluster.node(standby).address()))
        .header("X-Vault-Token", cluster.root_token())
        .header("X-Vault-No-Request-Forwarding", "true")
        .send_empty()
        .expect("a raw answer");
    assert_eq!(answer.status(), 307);
    assert_eq!(
        answer
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok()),
        Some(format!("{leader_address}/v1/sys/rotate").as_str())
    );

    let on_leader = client(&cluster, leader, Transport::Ureq, Dialect::OpenBao);
    let mut term = on_leader.get_encryption_key_status().unwrap().term;
    for transport in Transport::ALL {
        let via = client(&cluster, standby, transport, Dialect::OpenBao);
        let health = via.read_health_status(ReadHealthStatus::new()).unwrap();
        assert_eq!((health.status, health.state), (429, NodeState::Standby));
        let named = via.read_leader_status().unwrap();
        assert!(named.ha_enabled && !named.is_self, "{named:?}");
        assert_eq!(
            named.leader_address.as_deref(),
            Some(leader_address.as_str())
        );
        let ha = via.read_ha_status().unwrap();
        assert_eq!(ha.nodes.len(), 3, "{ha:?}");
        assert_eq!(
            ha.active().map(|n| n.api_address.as_str()),
            Some(leader_address.as_str())
        );
        via.get_encryption_key_status().unwrap();

        // A rotation through the standby is forwarded; with forwarding off its 307 is
        // followed, with the token.
        via.rotate_encryption_key().unwrap();
        factory(&cluster, standby, transport, Dialect::OpenBao)
            .with_header("X-Vault-No-Request-Forwarding", "true")
            .client(Some(cluster.root_token()))
            .unwrap()
            .rotate_encryption_key()
            .unwrap();
        // Reached as `localhost`, the standby redirects to the leader at 127.0.0.1, another
        // host: followed once the standby names it as the leader (the default), refused under
        // the same-host policy before anything is sent there.
        let as_localhost = factory(&cluster, standby, transport, Dialect::OpenBao)
            .with_address(
                cluster
                    .node(standby)
                    .address()
                    .replace("127.0.0.1", "localhost"),
            )
            .with_header("X-Vault-No-Request-Forwarding", "true");
        as_localhost
            .client(Some(cluster.root_token()))
            .unwrap()
            .rotate_encryption_key()
            .unwrap();
        let refused = as_localhost
            .with_redirect_hosts(RedirectHosts::SameHost)
            .client(Some(cluster.root_token()))
            .unwrap()
            .rotate_encryption_key();
        match refused {
            Err(ExecuteError::Transport(error)) => assert!(
                error.to_string().contains("not an allowed host"),
                "{transport}: {error}"
            ),
            other => panic!("{transport}: {other:?}"),
        }
        let now = on_leader.get_encryption_key_status().unwrap().term;
        assert_eq!(
            now,
            term + 3,
            "{transport}: three rotations reached the leader, the refused one did not"
        );
        term = now;

        // The leader it names, under the host policy too.
        let at = cluster
            .node(standby)
            .address()
            .replace("127.0.0.1", "localhost");
        let named = named_leader_client(transport, &at, cluster.root_token(), None);
        assert_eq!(named, Ok(Some(leader_address.clone())), "{transport}");
        let same_host = Some(RedirectHosts::SameHost);
        let refused = named_leader_client(transport, &at, cluster.root_token(), same_host);
        assert!(
            refused
                .as_ref()
                .is_err_and(|error| error.contains("not an allowed host")),
            "{transport}: {refused:?}"
        );

        // A root generation runs on the standby itself, and its token works on the leader.
        generate_root(&via, &shares(&cluster.keys()), cluster.node(leader));
    }
}

#[test]
fn ceremonies_run_on_the_leader_a_standby_names() {
    let (_turn, cluster) = cluster();
    let standby = {
        cluster.wait_leader(DEADLINE).unwrap();
        cluster.standbys()[0]
    };
    let first = shares(&cluster.keys());
    let mut keys = first.clone();
    for transport in Transport::ALL {
        for dialect in [Dialect::OpenBao, Dialect::Vault] {
            let (leader, on_leader) = leader_named_by(&cluster, standby, None, transport, dialect);
            keys = rekey_with_verification(&on_leader, &keys);
            generate_root(&on_leader, &keys, cluster.node(leader));
        }
    }
    every_node_reseals(&cluster, Some(&first), &keys);
}

#[test]
fn a_rekey_on_a_standby_cannot_complete_and_says_so() {
    let (_turn, cluster) = cluster();
    let leader = cluster.wait_leader(DEADLINE).unwrap();
    let standby = cluster.standbys()[0];
    let keys = shares(&cluster.keys());
    for transport in Transport::ALL {
        for verification in [false, true] {
            let via = client(&cluster, standby, transport, Dialect::OpenBao);
            let start = StartRekey::new(3, 2).require_verification(verification);
            let mut rekey = RekeyCeremony::start(start);
            rekey.submit_share(keys[0].clone()).unwrap();
            assert_eq!(
                via.drive(&mut rekey).map(|_| rekey.phase()).unwrap(),
                RekeyPhase::CollectingShares
            );
            assert_eq!(rekey.progress(), 1, "the standby counts the share itself");
            // The leader knows nothing of it.
            let on_leader = client(&cluster, leader, transport, Dialect::OpenBao);
            assert!(
                !on_leader
                    .read_rekey_progress(KeyKind::Unseal)
                    .unwrap()
                    .started
            );
            rekey.submit_share(keys[1].clone()).unwrap();
            if verification {
                // The standby hands out new shares, which cannot take effect: their
                // verification is refused at the completing share.
                assert_eq!(
                    via.drive(&mut rekey).map(|_| rekey.phase()).unwrap(),
                    RekeyPhase::Verifying
                );
                let new = rekey.result().expect("new shares").keys.clone();
                rekey
                    .submit_verification_shares(new.into_iter().take(2))
                    .unwrap();
            }
            lost_by_server(via.drive(&mut rekey).map(|_| rekey.phase()));
            assert_eq!(rekey.phase(), RekeyPhase::Aborted);
            if verification {
                assert_eq!(rekey.verification(), Verification::Pending, "not in effect");
                assert!(rekey.result().is_some(), "what it received stays reachable");
            } else {
                assert!(rekey.result().is_none(), "no new shares were issued");
            }
            // The standby still holds its rekey in memory; cancelled for the next round.
            via.cancel_rekey(KeyKind::Unseal, rekey.nonce()).unwrap();
        }
    }
    // The old shares are the ones in effect on every node.
    every_node_reseals(&cluster, None, &keys);
}

/// The leader lost (killed, or stepped down when `step_down`) after the first share of a
/// rekey, on each client in turn: the ceremony says so, a new one on the new leader completes,
/// and every node reseals with the new shares.
fn leader_lost_between_two_shares(step_down: bool) {
    let (_turn, cluster) = cluster();
    let first = shares(&cluster.keys());
    let mut keys = first.clone();
    let mut stale = Vec::new();
    for transport in Transport::ALL {
        let leader = cluster.wait_leader(DEADLINE).unwrap();
        let on_leader = client(&cluster, leader, transport, Dialect::OpenBao);
        let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(true));
        rekey.submit_share(keys[0].clone()).unwrap();
        assert_eq!(
            on_leader.drive(&mut rekey).map(|_| rekey.phase()).unwrap(),
            RekeyPhase::CollectingShares
        );
        let nonce = rekey.nonce().expect("pinned").to_string();
        let mut left_waiting = false;

        if step_down {
            cluster.step_down(leader).unwrap();
        } else {
            cluster.kill(leader).unwrap();
        }
        rekey.submit_share(keys[1].clone()).unwrap();
        let survivor = (leader + 1) % 3;
        let (_, on_new_leader) = leader_named_by(
            &cluster,
            survivor,
            Some(leader),
            transport,
            Dialect::OpenBao,
        );
        if step_down {
            // The old leader, a standby now (right after the step-down it answers that no node
            // is active, and the share stays queued), may still count its rekey and hand out
            // new shares, but refuses the share that would complete their verification; or,
            // when it dropped the rekey with the leadership, it refuses the share at once.
            match judged(|| on_leader.drive(&mut rekey).map(|_| rekey.phase())) {
                Ok(RekeyPhase::Verifying) => {
                    let issued = rekey.result().expect("new shares").keys.clone();
                    rekey
                        .submit_verification_shares(issued.iter().take(2).cloned())
                        .unwrap();
                    let outcome = until_it_ends(&on_leader, &mut rekey);
                    assert_eq!(rekey.verification(), Verification::Pending, "not in effect");
                    match outcome {
                        // It failed at the completing share and restarted the verification
                        // (seen in CI): the ceremony says so once, and waits; the shares
                        // are not sent to it again.
                        Err(ExecuteError::Core(Error::Ceremony(
                            CeremonyError::VerificationRestartedAtCompletion,
                        ))) => left_waiting = true,
                        other => lost_by_server(other),
                    }
                }
                other => lost_by_server(other),
            }
        } else {
            // The killed node takes no share; the new leader has no such rekey.
            assert!(matches!(
                on_leader.drive(&mut rekey).map(|_| rekey.phase()),
                Err(ExecuteError::Transport(_))
            ));
            lost_by_server(on_new_leader.drive(&mut rekey).map(|_| rekey.phase()));
        }
        assert_eq!(rekey.nonce(), Some(nonce.as_str()), "what it had stays");
        let anywhere = Target::new("http://127.0.0.1:1")
            .unwrap()
            .with_dialect(Dialect::OpenBao);
        if left_waiting {
            // Still verifying on the stale node: the new shares are not in effect, and the
            // ceremony asks for them again rather than sending anything of its own.
            assert_eq!(rekey.phase(), RekeyPhase::Verifying);
            assert!(
                matches!(
                    rekey.poll(&anywhere),
                    Ok(Next::NeedVerificationShares { .. })
                ),
                "it waits for the caller"
            );
        } else {
            assert_eq!(rekey.phase(), RekeyPhase::Aborted);
            assert!(
                matches!(rekey.poll(&anywhere), Ok(Next::Finished)),
                "it sends nothing more"
            );
        }
        if step_down {
            stale.push(nonce);
        }

        // A node that stepped down earlier keeps its rekey in memory, and brings it back when
        // it leads again: the new leader may hold one of those; it is cancelled first.
        let found = on_new_leader.read_rekey_progress(KeyKind::Unseal).unwrap();
        if found.started {
            let nonce = found.nonce.expect("a nonce");
            assert!(
                stale.contains(&nonce),
                "only a stepped-down rekey comes back"
            );
            on_new_leader
                .cancel_rekey(KeyKind::Unseal, Some(&nonce))
                .unwrap();
        }
        // A new ceremony on the new leader completes.
        let new = rekey_with_verification(&on_new_leader, &keys);
        let before = std::mem::replace(&mut keys, new);
        if !step_down {
            // The killed node missed the rekey: its storage still holds the root key under
            // the old shares, which unseal it once; then it catches up.
            let refused = cluster.restart(leader, &texts(&keys)).unwrap_err();
            assert!(
                refused
                    .message()
                    .contains("failed to decrypt keys from storage"),
                "{refused}"
            );
            cluster
                .unseal(leader, &texts(&before))
                .expect("the old shares unseal the node that missed the rekey");
            cluster
                .wait_caught_up(leader)
                .expect("the node that missed the rekey catches up");
        }
    }
    every_node_reseals(&cluster, Some(&first), &keys);
}

#[test]
fn the_leader_killed_between_two_shares() {
    leader_lost_between_two_shares(false);
}

#[test]
fn the_leader_stepped_down_between_two_shares() {
    leader_lost_between_two_shares(true);
}

#[test]
fn load_on_the_leader_and_the_standbys_without_an_error() {
    let (_turn, cluster) = cluster();
    cluster.wait_leader(DEADLINE).unwrap();
    let (hyper, ureq) = ((256, 20), (16, 250));
    let report = vault_key_tests::load::run(&cluster, hyper, ureq).expect("the load runs");
    eprintln!("{report}");
    for (run, expected) in [
        (&report.hyper_warmup, hyper.0 * hyper.1),
        (&report.hyper, hyper.0 * hyper.1),
        (&report.ureq, ureq.0 * ureq.1),
    ] {
        assert_eq!(run.errors, 0, "{report}");
        assert_eq!(run.ok, expected as u64, "{report}");
    }
}

/// Each node's health code, waiting up to the deadline until they are `expected`.
fn wait_states(cluster: &Cluster, expected: &[Option<u16>]) {
    let started = Instant::now();
    loop {
        let states = cluster.states();
        if states == expected {
            return;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "sys/health codes {states:?}, not {expected:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `sys/unseal` and `sys/seal-status` are served by the node asked, never forwarded to the
/// leader: two standbys sealed while the leader stays unsealed keep their own unseal progress,
/// and `unseal_nodes` from a client of the leader unseals each of them itself. With the whole
/// cluster sealed, no leader left to forward to, it unseals every node all the same.
#[test]
fn unsealing_reaches_each_node_not_the_leader() {
    let (_turn, cluster) = cluster();
    let keys = shares(&cluster.keys());
    let addresses: Vec<String> = cluster.nodes().iter().map(|n| n.address()).collect();
    for transport in Transport::ALL {
        let leader = cluster.wait_leader(DEADLINE).unwrap();
        let standbys = cluster.standbys();
        assert_eq!(standbys.len(), 2, "{transport}: {:?}", cluster.states());
        let on_leader = client(&cluster, leader, transport, Dialect::OpenBao);
        for &standby in &standbys {
            client(&cluster, standby, transport, Dialect::OpenBao)
                .seal()
                .expect("a standby seals itself");
        }
        let mut expected = vec![Some(503); 3];
        expected[leader] = Some(200);
        wait_states(&cluster, &expected);
        let own = client(&cluster, standbys[0], transport, Dialect::OpenBao)
            .read_seal_status()
            .unwrap();
        assert!(own.sealed, "{transport}: the standby's own seal status");
        assert!(!on_leader.read_seal_status().unwrap().sealed);

        // One share each: every standby counts it itself; the leader, unsealed, would have
        // answered that it is.
        let sealed: Vec<&str> = standbys.iter().map(|&i| addresses[i].as_str()).collect();
        let answers = on_leader.unseal_nodes(&sealed, &keys[..1]).unwrap();
        assert_eq!(answers.len(), 2);
        for answer in &answers {
            let status = answer.as_ref().expect("each node answers");
            assert!(
                status.sealed && status.progress == 1 && status.t == 2,
                "{transport}: {status:?}"
            );
        }
        assert!(!on_leader.read_seal_status().unwrap().sealed);
        // The rest of the threshold: each standby is unsealed and serves again.
        let answers = on_leader.unseal_nodes(&sealed, &keys[1..2]).unwrap();
        for answer in &answers {
            let status = answer.as_ref().expect("each node answers");
            assert!(!status.sealed, "{transport}: {status:?}");
        }
        let mut expected = vec![Some(429); 3];
        expected[leader] = Some(200);
        wait_states(&cluster, &expected);

        // The whole cluster sealed: no leader, and still every node unsealed from one client.
        for &standby in &standbys {
            client(&cluster, standby, transport, Dialect::OpenBao)
                .seal()
                .expect("a standby seals itself");
        }
        on_leader.seal().expect("the leader seals");
        wait_states(&cluster, &[Some(503); 3]);
        let all: Vec<&str> = addresses.iter().map(String::as_str).collect();
        let from = client(&cluster, standbys[0], transport, Dialect::OpenBao);
        let answers = from.unseal_nodes(&all, &keys[..2]).unwrap();
        assert_eq!(answers.len(), 3);
        for answer in &answers {
            let status = answer.as_ref().expect("each node answers");
            assert!(!status.sealed, "{transport}: {status:?}");
        }
        let leader = cluster.wait_leader(DEADLINE).unwrap();
        let mut expected = vec![Some(429); 3];
        expected[leader] = Some(200);
        wait_states(&cluster, &expected);

        // The WAL indexes come from Vault's replication, which OpenBao has not: it sends
        // neither, on the leader or a standby.
        for index in [leader, cluster.standbys()[0]] {
            let status = client(&cluster, index, transport, Dialect::OpenBao)
                .read_leader_status()
                .unwrap();
            assert!(status.raft_committed_index.is_some(), "{status:?}");
            assert_eq!(
                (status.last_wal, status.performance_standby_last_remote_wal),
                (None, None),
                "{transport}: {status:?}"
            );
        }
    }
}
