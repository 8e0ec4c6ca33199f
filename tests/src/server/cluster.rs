//! A raft cluster of OpenBao servers on loopback: the first node initialises itself and leads,
//! the others join it (`retry_join`) and are unsealed with its shares. Nodes can be killed,
//! restarted and stepped down one by one.

use super::*;

/// How many nodes [`Cluster::start`] starts.
pub const DEFAULT_NODES: usize = 3;

/// A cluster of [`Server`]s sharing one raft storage, each with its own process, ports and
/// directory; dropping it stops them all.
#[derive(Debug)]
pub struct Cluster {
    nodes: Vec<Server>,
}

impl Cluster {
    /// Three nodes with the default options, all unsealed, the first one active.
    pub fn start() -> Result<Cluster, HarnessError> {
        Self::start_with(ServerBuilder::new(), DEFAULT_NODES)
    }

    /// `size` nodes started from `builder` (its listener options and shares; a cluster is plain
    /// HTTP with the Shamir seal). The first node is initialised and unsealed and leads; each
    /// other one joins it and is unsealed with its shares, then serves as a standby.
    pub fn start_with(builder: ServerBuilder, size: usize) -> Result<Cluster, HarnessError> {
        if builder.tls || builder.seal != SealKind::Shamir || size == 0 {
            return Err(HarnessError::new(
                "a harness cluster has one node or more, plain HTTP and the Shamir seal",
            ));
        }
        let member = |index: usize| ServerBuilder {
            node_id: format!("node-{index}"),
            clustered: true,
            ..builder.clone()
        };
        let first = ServerBuilder {
            init: true,
            unseal: true,
            ..member(1)
        }
        .start()?;
        // A node that joined becomes a voter after a second of health instead of ten: the
        // cluster is whole, able to elect a leader when one is lost, that much sooner.
        wait_leading(&first)?;
        let reply = first.call(
            "POST",
            "/v1/sys/storage/raft/autopilot/configuration",
            Some(first.root_token()),
            Some(&json!({ "server_stabilization_time": "1s" })),
        )?;
        if reply.status != 204 && reply.status != 200 {
            return Err(first.error(format!(
                "POST /v1/sys/storage/raft/autopilot/configuration answered {}: {}",
                reply.status, reply.body
            )));
        }
        let init = first.init_data_or_panic().clone();
        let leader_address = first.address();
        // The other nodes start, join and are unsealed all at once: each waits mostly on its
        // own process and on the leader, not on the machine.
        let joined: Vec<Result<Server, HarnessError>> = thread::scope(|scope| {
            let joining: Vec<_> = (2..=size)
                .map(|index| {
                    let (node, init, leader_address) = (member(index), &init, &leader_address);
                    scope.spawn(move || {
                        let node = ServerBuilder {
                            init: false,
                            unseal: false,
                            join: vec![leader_address.clone()],
                            ..node
                        }
                        .start()?;
                        node.adopt(init.clone());
                        unseal_member(&node, &init.keys)?;
                        Ok(node)
                    })
                })
                .collect();
            joining
                .into_iter()
                .map(|handle| {
                    handle.join().unwrap_or_else(|_| {
                        Err(HarnessError::new("a joining node's start panicked"))
                    })
                })
                .collect()
        });
        let mut nodes = vec![first];
        for node in joined {
            nodes.push(node?);
        }
        let cluster = Cluster { nodes };
        cluster.wait_voters(size)?;
        Ok(cluster)
    }

    /// Every node, in the order they were started (node ids `node-1`, `node-2`, ...).
    pub fn nodes(&self) -> &[Server] {
        &self.nodes
    }

    /// The node at `index`.
    pub fn node(&self, index: usize) -> &Server {
        &self.nodes[index]
    }

    /// The root token `sys/init` gave the first node.
    pub fn root_token(&self) -> &str {
        self.nodes[0].root_token()
    }

    /// The unseal shares `sys/init` gave (in effect until a rekey replaces them).
    pub fn keys(&self) -> Vec<String> {
        self.nodes[0].keys()
    }

    /// The index of the active node, waiting up to `within` until one is active (after a kill or
    /// a step-down the others elect one in a few seconds).
    pub fn wait_leader(&self, within: Duration) -> Result<usize, HarnessError> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(index) = self.states().iter().position(|&status| status == Some(200)) {
                return Ok(index);
            }
            if Instant::now() >= deadline {
                return Err(self.error(format!(
                    "no active node after {within:?}; sys/health codes: {:?}",
                    self.states()
                )));
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// The indices of the nodes that serve as standbys now (`sys/health` 429).
    pub fn standbys(&self) -> Vec<usize> {
        self.states()
            .iter()
            .enumerate()
            .filter(|(_, &status)| status == Some(429))
            .map(|(index, _)| index)
            .collect()
    }

    /// Each node's `sys/health` status code (`None`: stopped or not answering).
    pub fn states(&self) -> Vec<Option<u16>> {
        self.nodes
            .iter()
            .map(|node| {
                if node.mode() != Mode::Normal {
                    return None;
                }
                node.send(&node.probe_agent, "GET", "/v1/sys/health", None, None)
                    .ok()
                    .map(|reply| reply.status)
            })
            .collect()
    }

    /// Kills node `index` at once, as a crash would.
    pub fn kill(&self, index: usize) -> Result<(), HarnessError> {
        self.nodes[index].kill()
    }

    /// Starts node `index` again (on its data; it comes back sealed) and unseals it with `keys`,
    /// the shares in effect now.
    pub fn restart<S: AsRef<str>>(&self, index: usize, keys: &[S]) -> Result<(), HarnessError> {
        let node = &self.nodes[index];
        node.restart()?;
        unseal_member(node, keys)
    }

    /// Unseals node `index` (running and sealed) with `keys`, the shares in effect now, and waits
    /// until it serves.
    pub fn unseal<S: AsRef<str>>(&self, index: usize, keys: &[S]) -> Result<(), HarnessError> {
        unseal_member(&self.nodes[index], keys)
    }

    /// Asks node `index`, which must be active, to step down (`PUT sys/step-down` with the root
    /// token): another node takes the lead.
    pub fn step_down(&self, index: usize) -> Result<(), HarnessError> {
        let node = &self.nodes[index];
        let reply = node.call("PUT", "/v1/sys/step-down", Some(node.root_token()), None)?;
        if reply.status != 204 {
            return Err(node.error(format!(
                "PUT /v1/sys/step-down answered {}: {}",
                reply.status, reply.body
            )));
        }
        Ok(())
    }

    /// Waits until node `index` (unsealed) has applied all that the active node had committed
    /// when asked. A node that was down catches up on what it missed (a rekey's new keyring
    /// among it) only a moment after it is unsealed; until then its storage is what it was.
    pub fn wait_caught_up(&self, index: usize) -> Result<(), HarnessError> {
        let leader = &self.nodes[self.wait_leader(READY_TIMEOUT)?];
        let committed = raft_index(leader, "raft_committed_index")?;
        let node = &self.nodes[index];
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let applied = raft_index(node, "raft_applied_index").ok();
            if applied.is_some_and(|applied| applied >= committed) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(node.error(format!(
                    "raft index {applied:?} applied, not {committed}, after {READY_TIMEOUT:?}"
                )));
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Waits until the active node's raft configuration lists `count` voters.
    fn wait_voters(&self, count: usize) -> Result<(), HarnessError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let leader = &self.nodes[self.wait_leader(READY_TIMEOUT)?];
            let reply = leader.call(
                "GET",
                "/v1/sys/storage/raft/configuration",
                Some(leader.root_token()),
                None,
            )?;
            let voters = reply.json().ok().and_then(|value| {
                value["data"]["config"]["servers"]
                    .as_array()
                    .map(|servers| servers.iter().filter(|s| s["voter"] == true).count())
            });
            if voters == Some(count) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(leader.error(format!(
                    "raft lists {voters:?} voters, not {count}, after {READY_TIMEOUT:?}: {}",
                    reply.body
                )));
            }
            thread::sleep(POLL_INTERVAL * 4);
        }
    }

    fn error(&self, message: String) -> HarnessError {
        let mut message = message;
        for node in &self.nodes {
            message.push_str(&format!(
                "\n--- last {LOG_TAIL_LINES} lines of {}'s log ---\n{}",
                node.node_id(),
                log_tail(&node.log_path, LOG_TAIL_LINES)
            ));
        }
        HarnessError::new(message)
    }
}

/// Waits until `node` is the active node (`sys/health` 200; a node unsealed first may answer
/// as a standby for a moment).
fn wait_leading(node: &Server) -> Result<(), HarnessError> {
    poll_until(
        node,
        "/v1/sys/health",
        "not active after its start",
        |reply| Ok(reply.status == 200),
    )
}

/// Asks `node` for `path` until `done` holds of the answer, for at most [`READY_TIMEOUT`]; the
/// error says the node `failed` and shows the last answer.
fn poll_until(
    node: &Server,
    path: &str,
    failed: &str,
    done: impl Fn(&Reply) -> Result<bool, HarnessError>,
) -> Result<(), HarnessError> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let reply = node.call("GET", path, None, None)?;
        if done(&reply)? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(node.error(format!(
                "{} {failed} ({READY_TIMEOUT:?}): GET {path} answered {} {}",
                node.node_id(),
                reply.status,
                reply.body
            )));
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// Unseals a cluster member with `keys`: a node joining the cluster is initialised once it
/// reached the leader, takes the threshold of shares and is unsealed only once it has joined,
/// so the seal status is polled before and after them.
fn unseal_member<S: AsRef<str>>(node: &Server, keys: &[S]) -> Result<(), HarnessError> {
    // A joining node is initialised once `retry_join` has reached the leader.
    poll_until(
        node,
        "/v1/sys/seal-status",
        "not initialised after joining",
        |reply| Ok(reply.json()?["initialized"] == Value::Bool(true)),
    )?;
    let needed = usize::try_from(node.threshold()).unwrap_or(usize::MAX);
    for key in keys.iter().take(needed) {
        let reply = node.submit_unseal_key(key.as_ref())?;
        if reply.json()?["sealed"] == Value::Bool(false) {
            break;
        }
    }
    poll_until(
        node,
        "/v1/sys/seal-status",
        "still sealed after its shares",
        |reply| Ok(reply.json()?["sealed"] == Value::Bool(false)),
    )?;
    node.wait_active()
}

/// A raft index `node` reports in `sys/leader` (`raft_committed_index`, `raft_applied_index`).
fn raft_index(node: &Server, field: &str) -> Result<u64, HarnessError> {
    let reply = node.call("GET", "/v1/sys/leader", None, None)?;
    reply
        .json()
        .ok()
        .and_then(|value| value[field].as_u64())
        .ok_or_else(|| node.error(format!("GET /v1/sys/leader has no {field}: {}", reply.body)))
}
