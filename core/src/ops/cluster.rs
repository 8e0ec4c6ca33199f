//! Following a cluster: `sys/health` (whether this node is active, a standby, sealed, ...),
//! `sys/leader` (which node is active) and `sys/step-down` (hand leadership on).
//!
//! `sys/health` says what it knows with its status code (200 active, 429 standby, 472 DR
//! secondary, 473 performance standby, 474 standby without an active node, 501 not
//! initialised, 503 sealed, 530 removed from the cluster), so every one of those answers is a
//! [`Health`] value, not an error.

use crate::error::{DecodeError, Error};
use crate::ops::operation;
use crate::wire;
use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};

/// `GET sys/health`: hvac's `read_health_status`. Unauthenticated. The query flags choose the
/// status codes; whatever they are, the answer is read from its fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadHealthStatus {
    standby_ok: bool,
    perf_standby_ok: bool,
    codes: Vec<(&'static str, u16)>,
}

impl ReadHealthStatus {
    /// The default codes.
    pub fn new() -> Self {
        Self::default()
    }

    /// `standbyok`: a standby answers with the active code (load balancers that only want a
    /// 2xx). Not for performance standbys.
    pub fn standby_ok(mut self, ok: bool) -> Self {
        self.standby_ok = ok;
        self
    }

    /// `perfstandbyok`: a performance standby answers with the active code.
    pub fn perf_standby_ok(mut self, ok: bool) -> Self {
        self.perf_standby_ok = ok;
        self
    }

    fn code(mut self, name: &'static str, code: u16) -> Self {
        self.codes.retain(|(n, _)| *n != name);
        self.codes.push((name, code));
        self
    }

    /// `activecode` (default 200).
    pub fn active_code(self, code: u16) -> Self {
        self.code("activecode", code)
    }

    /// `standbycode` (default 429).
    pub fn standby_code(self, code: u16) -> Self {
        self.code("standbycode", code)
    }

    /// `drsecondarycode` (default 472, Vault Enterprise).
    pub fn dr_secondary_code(self, code: u16) -> Self {
        self.code("drsecondarycode", code)
    }

    /// `performancestandbycode` (default 473, Vault Enterprise).
    pub fn performance_standby_code(self, code: u16) -> Self {
        self.code("performancestandbycode", code)
    }

    /// `sealedcode` (default 503).
    pub fn sealed_code(self, code: u16) -> Self {
        self.code("sealedcode", code)
    }

    /// `uninitcode` (default 501).
    pub fn uninit_code(self, code: u16) -> Self {
        self.code("uninitcode", code)
    }

    /// `removedcode` (default 530, Vault 1.19+).
    pub fn removed_code(self, code: u16) -> Self {
        self.code("removedcode", code)
    }

    fn path(&self) -> String {
        let mut query: Vec<String> = Vec::new();
        if self.standby_ok {
            query.push("standbyok=true".into());
        }
        if self.perf_standby_ok {
            query.push("perfstandbyok=true".into());
        }
        query.extend(
            self.codes
                .iter()
                .map(|(name, code)| format!("{name}={code}")),
        );
        match query.is_empty() {
            true => "sys/health".into(),
            false => format!("sys/health?{}", query.join("&")),
        }
    }
}

/// What a node says of itself in `sys/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum NodeState {
    /// Initialised, unsealed and active.
    Active,
    /// Unsealed, a standby.
    Standby,
    /// A performance standby (Vault Enterprise): serves reads itself.
    PerformanceStandby,
    /// A disaster-recovery secondary (Vault Enterprise).
    DrSecondary,
    /// A standby that cannot reach the active node (474).
    StandbyWithoutActive,
    /// Sealed.
    Sealed,
    /// Not initialised.
    Uninitialized,
    /// Removed from the raft cluster (530).
    Removed,
}

/// The answer of `sys/health`, whatever its status code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Health {
    /// The status code the server chose (see the query flags).
    pub status: u16,
    /// What the node is.
    pub state: NodeState,
    /// The fields of the body (absent on a `HEAD`-like empty answer).
    pub details: Option<HealthDetails>,
}

impl Health {
    /// Whether the node serves requests itself: active, or a performance standby.
    pub fn is_serving(&self) -> bool {
        matches!(
            self.state,
            NodeState::Active | NodeState::PerformanceStandby
        )
    }
}

/// The body of `sys/health`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct HealthDetails {
    /// Whether the server is initialised.
    pub initialized: bool,
    /// Whether it is sealed.
    pub sealed: bool,
    /// Whether it is a standby (also `true` while sealed).
    pub standby: bool,
    /// Whether it is a performance standby.
    #[serde(default)]
    pub performance_standby: bool,
    /// `disabled`, `primary`, `secondary`, or `unknown` while sealed.
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub replication_performance_mode: Option<String>,
    /// The same for DR replication.
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub replication_dr_mode: Option<String>,
    /// The server's clock, in Unix seconds.
    #[serde(default)]
    pub server_time_utc: Option<u64>,
    /// The server's version.
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub version: Option<String>,
    /// The cluster's name, once unsealed.
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub cluster_name: Option<String>,
    /// The cluster's id, once unsealed.
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub cluster_id: Option<String>,
    /// Vault 1.19+: the node was removed from the raft cluster.
    #[serde(default)]
    pub removed_from_cluster: Option<bool>,
    /// Vault 1.19+: whether a standby reaches the active node.
    #[serde(default)]
    pub ha_connection_healthy: Option<bool>,
}

impl HealthDetails {
    fn state(&self) -> NodeState {
        if self.removed_from_cluster == Some(true) {
            NodeState::Removed
        } else if !self.initialized {
            NodeState::Uninitialized
        } else if self.sealed {
            NodeState::Sealed
        } else if self.replication_dr_mode.as_deref() == Some("secondary") {
            NodeState::DrSecondary
        } else if self.performance_standby {
            NodeState::PerformanceStandby
        } else if self.standby && self.ha_connection_healthy == Some(false) {
            NodeState::StandbyWithoutActive
        } else if self.standby {
            NodeState::Standby
        } else {
            NodeState::Active
        }
    }
}

/// What a default status code says, for an answer without a body.
fn state_of_code(code: u16) -> Option<NodeState> {
    Some(match code {
        200..=299 => NodeState::Active,
        429 => NodeState::Standby,
        472 => NodeState::DrSecondary,
        473 => NodeState::PerformanceStandby,
        474 => NodeState::StandbyWithoutActive,
        501 => NodeState::Uninitialized,
        503 => NodeState::Sealed,
        530 => NodeState::Removed,
        _ => return None,
    })
}

impl ReadHealthStatus {
    fn parse_health(&self, status: StatusCode, body: &[u8]) -> Result<Health, Error> {
        let code = status.as_u16();
        // Anything that is not a health answer (an error list, a proxy's page): the usual
        // refusal for an error status, a decode error (body kept) otherwise.
        let not_health = |reason: &str| {
            wire::refusal(status, body)
                .unwrap_or_else(|| DecodeError::new(code, reason.to_string(), body).into())
        };
        if body.iter().all(u8::is_ascii_whitespace) {
            let custom = self
                .codes
                .iter()
                .find(|(_, c)| *c == code)
                .map(|(name, _)| *name);
            let state = match custom {
                Some("activecode") => Some(NodeState::Active),
                Some("standbycode") => Some(NodeState::Standby),
                Some("drsecondarycode") => Some(NodeState::DrSecondary),
                Some("performancestandbycode") => Some(NodeState::PerformanceStandby),
                Some("sealedcode") => Some(NodeState::Sealed),
                Some("uninitcode") => Some(NodeState::Uninitialized),
                Some("removedcode") => Some(NodeState::Removed),
                _ => state_of_code(code),
            };
            return state
                .map(|state| Health {
                    status: code,
                    state,
                    details: None,
                })
                .ok_or_else(|| not_health("an empty answer with a status health does not use"));
        }
        // The body says what the node is, whatever code the query chose.
        let details: HealthDetails = serde_json::from_slice(body)
            .map_err(|e| not_health(&format!("not a health answer: {e}")))?;
        Ok(Health {
            status: code,
            state: details.state(),
            details: Some(details),
        })
    }
}

impl crate::ops::Operation for ReadHealthStatus {
    type Output = Health;

    fn request(
        &self,
        target: &crate::target::Target,
    ) -> Result<http::Request<bytes::Bytes>, Error> {
        target.request(Method::GET, &self.path(), None)
    }

    fn parse(&self, status: StatusCode, body: &[u8]) -> Result<Health, Error> {
        self.parse_health(status, body)
    }
}

/// `GET sys/leader`: hvac's `read_leader_status`. Unauthenticated; a standby answers it too.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadLeaderStatus;

/// Which node leads the cluster, as one node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct LeaderStatus {
    /// Whether high availability is on (raft storage always has it).
    pub ha_enabled: bool,
    /// Whether the node that answered is the leader.
    #[serde(default)]
    pub is_self: bool,
    /// The leader's API address (`api_addr`), once one is known.
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub leader_address: Option<String>,
    /// The leader's cluster address.
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub leader_cluster_address: Option<String>,
    /// Since when the leader is active (RFC 3339).
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub active_time: Option<String>,
    /// Whether the node that answered is a performance standby.
    #[serde(default)]
    pub performance_standby: bool,
    /// The raft index committed, on raft storage.
    #[serde(default)]
    pub raft_committed_index: Option<u64>,
    /// The raft index applied, on raft storage.
    #[serde(default)]
    pub raft_applied_index: Option<u64>,
    /// The last write-ahead-log index the node wrote (Vault's replication; OpenBao 2.7.2 sends
    /// none): compared with a standby's, it says how far behind the standby is.
    #[serde(default)]
    pub last_wal: Option<u64>,
    /// On a performance standby, the last WAL index it received from the leader: a read it
    /// serves may be this far behind the leader's `last_wal`.
    #[serde(default)]
    pub performance_standby_last_remote_wal: Option<u64>,
}

operation!(ReadLeaderStatus => LeaderStatus, |self, target| target.request(Method::GET, "sys/leader", None), wire::json);

/// `GET sys/ha-status` (OpenBao; Vault has it since 1.10): every node of the cluster as the
/// answering node knows them. Needs a token.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadHaStatus;

/// The nodes of an HA cluster.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct HaStatus {
    /// Every node that reported to the active node, the active one among them.
    #[serde(default, deserialize_with = "wire::null_default")]
    pub nodes: Vec<HaNode>,
}

impl HaStatus {
    /// The active node, if the answer names one.
    pub fn active(&self) -> Option<&HaNode> {
        self.nodes.iter().find(|node| node.active_node)
    }
}

/// One node of an HA cluster, as `sys/ha-status` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct HaNode {
    /// The node's host name.
    #[serde(default)]
    pub hostname: String,
    /// Its API address (`api_addr`).
    #[serde(default)]
    pub api_address: String,
    /// Its cluster address.
    #[serde(default)]
    pub cluster_address: String,
    /// Whether it is the active node.
    #[serde(default)]
    pub active_node: bool,
    /// When it last reported to the active node (RFC 3339; none for the active node itself).
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub last_echo: Option<String>,
    /// The server version it runs.
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub version: Option<String>,
    /// The version it upgrades to, during an autopilot upgrade.
    #[serde(default, deserialize_with = "wire::non_empty")]
    pub upgrade_version: Option<String>,
}

operation!(ReadHaStatus => HaStatus, |self, target| target.request(Method::GET, "sys/ha-status", None), wire::json);

/// `PUT sys/step-down`: hvac's `step_down`. The active node gives up leadership (needs a token
/// with sudo); another node (or, alone, the same one) takes over. A rekey or root-token
/// generation in progress on it cannot complete any more: the new leader does not know it (an
/// OpenBao 2.7.2 node keeps counting the shares of its rekey as a standby but refuses the
/// share that would complete it).
#[derive(Debug, Clone, Copy, Default)]
pub struct StepDown;

operation!(StepDown => (), |self, target| target.request(Method::PUT, "sys/step-down", None), wire::empty);
