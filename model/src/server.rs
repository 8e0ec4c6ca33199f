//! The server: the rekey state of each path family and key kind, the root-token generation
//! state (one, shared by both path families, as OpenBao 2.7.2 keeps it), the shares in
//! effect and the stored backup, answering as OpenBao 2.7.2 answered in the captured
//! exchanges (`shared/reference/openbao-2.7.2-exchanges.md`): the classic paths with top-level
//! bodies, the OpenBao paths in the `data` envelope with sorted fields, each refusal with the
//! captured message and status.
//!
//! Everything the server hands out that must stay secret (shares, OTPs, tokens) is recorded
//! in [`Server::secrets`], so that the invariants can look for it in what the core prints.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use bytes::Bytes;
use http::{Method, Request};
use serde_json::{json, Value};
use vault_key_core::ops::generate_root::TokenKind;
use vault_key_core::ops::rekey::KeyKind;
use vault_key_core::Dialect;

/// The `otp_length` of root tokens (`s.` and 24 characters).
pub const OTP_LENGTH: usize = 26;
/// The `otp_length` of recovery tokens (`hvr.` and 24 characters).
pub const RECOVERY_OTP_LENGTH: usize = 28;
/// A PGP fingerprint the server reports for any key it is given (the core, without its
/// `pgp` feature, does not parse the keys, so any stands in).
pub const FINGERPRINT: &str = "24f0e2e4e7feac8f9c0a1e98886f6e3f5b3148a8";
/// What the model prefixes a share with to "encrypt" it to a PGP key: the ciphertext is
/// `hex(PREFIX ++ share)`, so a holder "decrypts" by hex-decoding and stripping it.
pub const PGP_PREFIX: &[u8] = b"PGP\x01";

/// The answer the server gives, with what of it is a result for the caller.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The body, exactly as sent.
    pub body: String,
    /// The result this answer hands out, if any, and where its last byte ends in the body.
    pub carries: Option<(Carried, usize)>,
}

/// A result an answer hands out, which the ceremony must never drop once it arrived whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Carried {
    /// New shares (`keys`, hex; PGP ciphertexts when encrypted), under the rekey's nonce.
    Keys {
        /// The rekey's nonce.
        nonce: String,
        /// The `keys` entries.
        keys: Vec<String>,
    },
    /// An encoded root (or recovery) token, under the generation's nonce.
    Token {
        /// The generation's nonce.
        nonce: String,
        /// The `encoded_token`.
        encoded: String,
    },
    /// The OTP the server generated, in a start answer (sent only there).
    Otp {
        /// The generation's nonce.
        nonce: String,
        /// The OTP.
        otp: String,
    },
}

/// What another operator does between two of the ceremony's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// Completes the ceremony's server state with shares of their own: a rekey collecting
    /// shares reaches its threshold (the new shares go to them), a verification completes, a
    /// generation produces a token for them.
    Complete,
    /// Cancels it.
    Cancel,
    /// Cancels it and starts another one like it, under a new nonce.
    Restart,
}

/// Which server state a ceremony uses: a rekey's (per path family and key kind) or the root
/// generation's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A rekey of `kind` on the paths of `dialect`.
    Rekey(Dialect, KeyKind),
    /// A token generation of `kind`.
    Root(TokenKind),
}

/// Shares in effect for one key kind.
#[derive(Debug, Clone)]
struct Seal {
    shares: Vec<String>,
    threshold: usize,
}

#[derive(Debug, Clone)]
enum RekeyStage {
    Collecting {
        provided: Vec<String>,
    },
    Verifying {
        new: Vec<String>,
        plain: Vec<String>,
        vnonce: String,
        provided: Vec<String>,
    },
}

#[derive(Debug, Clone)]
struct Rekey {
    nonce: String,
    n: usize,
    t: usize,
    pgp: bool,
    backup: bool,
    verification: bool,
    stage: RekeyStage,
}

#[derive(Debug, Clone)]
struct Generation {
    kind: TokenKind,
    nonce: String,
    otp: Option<String>,
    pgp: bool,
    provided: Vec<String>,
}

/// New shares that took effect, by the nonce of the rekey that made them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// Which shares.
    pub kind: KeyKind,
    /// The rekey's nonce.
    pub nonce: String,
    /// The `keys` entries as handed out (ciphertexts with PGP).
    pub keys: Vec<String>,
    /// Whether they were verified first.
    pub verified: bool,
}

/// A token the server generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// The generation's nonce.
    pub nonce: String,
    /// The `encoded_token`.
    pub encoded: String,
    /// The token itself.
    pub token: String,
}

/// The stateful server model. One instance serves both path families.
#[derive(Debug, Clone)]
pub struct Server {
    seals: [Seal; 2],
    /// Rekeys by [family][kind]: OpenBao keeps the classic and the `sys/rotate` state apart.
    rekeys: [[Option<Rekey>; 2]; 2],
    generation: Option<Generation>,
    backups: [Option<(String, Vec<String>)>; 2],
    counter: u64,
    /// Every secret the server knows or handed out, and the caller's.
    secrets: Vec<String>,
    /// Shares that took effect, oldest first.
    pub effective: Vec<Effective>,
    /// Tokens generated, oldest first.
    pub generated: Vec<Generated>,
}

fn kind_index(kind: KeyKind) -> usize {
    match kind {
        KeyKind::Unseal => 0,
        _ => 1,
    }
}

fn family_index(dialect: Dialect) -> usize {
    match dialect {
        Dialect::Vault => 0,
        _ => 1,
    }
}

/// A deterministic stream of distinctive values (splitmix64).
fn mix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const BASE62: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `fields` as a JSON object in this order (the servers' field orders matter to what a cut
/// answer still holds).
fn object(fields: &[(&str, Value)]) -> String {
    let mut out = String::from("{");
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(key).expect("a key"));
        out.push(':');
        out.push_str(&serde_json::to_string(value).expect("a value"));
    }
    out.push('}');
    out
}

/// Where the value of `field` ends in `body` (the index just past it), for a body the
/// server wrote with [`object`].
fn end_of(body: &str, field: &str) -> usize {
    let key = format!("\"{field}\":");
    let start = body.find(&key).expect("the field is in the body") + key.len();
    let rest = &body[start..];
    let len = if rest.starts_with('[') {
        rest.find(']').expect("a closed array") + 1
    } else {
        // A string: up to its closing quote.
        rest[1..].find('"').expect("a closed string") + 2
    };
    start + len
}

impl Default for Server {
    fn default() -> Self {
        Self::new(1)
    }
}

impl Server {
    /// A server with 3 unseal shares and 3 recovery shares (threshold 2 each), nothing in
    /// progress; `seed` varies every value it draws.
    pub fn new(seed: u64) -> Self {
        let mut server = Self {
            seals: [
                Seal {
                    shares: Vec::new(),
                    threshold: 2,
                },
                Seal {
                    shares: Vec::new(),
                    threshold: 2,
                },
            ],
            rekeys: Default::default(),
            generation: None,
            backups: [None, None],
            counter: seed,
            secrets: Vec::new(),
            effective: Vec::new(),
            generated: Vec::new(),
        };
        for kind in 0..2 {
            let shares = (0..3).map(|_| server.share()).collect();
            server.seals[kind].shares = shares;
        }
        server
    }

    /// The shares in effect for `kind` (what its holders hold).
    pub fn current_shares(&self, kind: KeyKind) -> &[String] {
        &self.seals[kind_index(kind)].shares
    }

    /// Every secret the server knows or handed out, and those the caller registered.
    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }

    /// Registers a secret of the caller's (an OTP, the target's token).
    pub fn add_secret(&mut self, secret: impl Into<String>) {
        self.secrets.push(secret.into());
    }

    /// The nonce of the rekey running in `scope`, or of the generation.
    pub fn running(&self, scope: Scope) -> Option<&str> {
        match scope {
            Scope::Rekey(dialect, kind) => self.rekeys[family_index(dialect)][kind_index(kind)]
                .as_ref()
                .map(|r| r.nonce.as_str()),
            Scope::Root(_) => self.generation.as_ref().map(|g| g.nonce.as_str()),
        }
    }

    fn draw(&mut self) -> u64 {
        mix(&mut self.counter)
    }

    fn nonce(&mut self) -> String {
        let (a, b) = (self.draw(), self.draw());
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )
    }

    /// A new share: 33 bytes, hex (66 characters, as the servers' shares).
    fn share(&mut self) -> String {
        let mut hex = String::new();
        while hex.len() < 66 {
            hex.push_str(&format!("{:016x}", self.draw()));
        }
        hex.truncate(66);
        self.secrets.push(hex.clone());
        self.secrets.push(STANDARD.encode(decode_hex(&hex)));
        hex
    }

    fn base62(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| BASE62[(self.draw() % 62) as usize] as char)
            .collect()
    }

    fn request_id(&mut self) -> String {
        self.nonce()
    }

    fn envelope(&mut self, data: String) -> String {
        let id = self.request_id();
        format!(
            r#"{{"request_id":"{id}","lease_id":"","renewable":false,"lease_duration":0,"data":{data},"wrap_info":null,"warnings":null,"auth":null}}"#
        )
    }

    fn error(status: u16, message: &str) -> Reply {
        Reply {
            status,
            body: object(&[("errors", json!([message]))]),
            carries: None,
        }
    }

    /// A logical path's error as Go's multierror wraps it.
    fn multierror(status: u16, message: &str) -> Reply {
        Self::error(status, &format!("1 error occurred:\n\t* {message}\n\n"))
    }

    fn ok(body: String) -> Reply {
        Reply {
            status: 200,
            body,
            carries: None,
        }
    }

    fn no_content() -> Reply {
        Reply {
            status: 204,
            body: String::new(),
            carries: None,
        }
    }

    /// Answers one request as the server would, changing its state as the server would.
    pub fn handle(&mut self, request: &Request<Bytes>) -> Reply {
        let path = request.uri().path().trim_start_matches("/v1/").to_string();
        let method = request.method().clone();
        let body: Value = if request.body().is_empty() {
            Value::Null
        } else {
            match serde_json::from_slice(request.body()) {
                Ok(value) => value,
                Err(_) => {
                    return Self::error(400, "failed to decode JSON input: unexpected EOF");
                }
            }
        };
        let authenticated = request.headers().contains_key("X-Vault-Token");
        let route = |prefix: &str| path.strip_prefix(prefix).map(str::to_string);
        if let Some(leaf) = route("sys/rekey/backup").map(|_| String::new()) {
            let _ = leaf;
            return self.backup(KeyKind::Unseal, Dialect::Vault, &method, authenticated);
        }
        if route("sys/rekey/recovery-key-backup").is_some() {
            return self.backup(KeyKind::Recovery, Dialect::Vault, &method, authenticated);
        }
        let rekey = [
            ("sys/rekey/", Dialect::Vault, KeyKind::Unseal),
            ("sys/rekey-recovery-key/", Dialect::Vault, KeyKind::Recovery),
            ("sys/rotate/root/", Dialect::OpenBao, KeyKind::Unseal),
            ("sys/rotate/recovery/", Dialect::OpenBao, KeyKind::Recovery),
        ];
        for (prefix, dialect, kind) in rekey {
            if let Some(leaf) = route(prefix) {
                if dialect == Dialect::OpenBao && !authenticated {
                    return Self::error(403, "permission denied");
                }
                return match leaf.as_str() {
                    "backup" => self.backup(kind, dialect, &method, authenticated),
                    "init" => self.rekey_init(dialect, kind, &method, &body),
                    "update" => self.rekey_update(dialect, kind, &body),
                    "verify" => self.rekey_verify(dialect, kind, &method, &body),
                    _ => Self::error(404, "unsupported path"),
                };
            }
        }
        let generation = [
            ("sys/generate-root/", Dialect::Vault, TokenKind::Root),
            (
                "sys/generate-root-token/",
                Dialect::OpenBao,
                TokenKind::Root,
            ),
            (
                "sys/generate-recovery-token/",
                Dialect::Vault,
                TokenKind::Recovery,
            ),
        ];
        for (prefix, dialect, kind) in generation {
            if let Some(leaf) = route(prefix) {
                if prefix == "sys/generate-root-token/" && !authenticated {
                    return Self::error(403, "permission denied");
                }
                return match leaf.as_str() {
                    "attempt" => self.attempt(dialect, kind, &method, &body),
                    "update" => self.generate_update(dialect, kind, &body),
                    _ => Self::error(404, "unsupported path"),
                };
            }
        }
        Self::error(404, "unsupported path")
    }

    // ---- rekey ----

    fn rekey_status(&mut self, dialect: Dialect, kind: KeyKind) -> String {
        let required = self.seals[kind_index(kind)].threshold;
        let rekey = self.rekeys[family_index(dialect)][kind_index(kind)].clone();
        let (progress, vnonce) = match rekey.as_ref().map(|r| &r.stage) {
            Some(RekeyStage::Collecting { provided }) => (provided.len(), None),
            Some(RekeyStage::Verifying { vnonce, .. }) => (0, Some(vnonce.clone())),
            None => (0, None),
        };
        let fingerprints = |r: &Rekey| {
            if r.pgp {
                json!(vec![FINGERPRINT; r.n])
            } else {
                Value::Null
            }
        };
        match (dialect, rekey) {
            (Dialect::Vault, None) => object(&[
                ("nonce", json!("")),
                ("started", json!(false)),
                ("t", json!(0)),
                ("n", json!(0)),
                ("progress", json!(0)),
                ("required", json!(required)),
                ("pgp_fingerprints", Value::Null),
                ("backup", json!(false)),
                ("verification_required", json!(false)),
            ]),
            (Dialect::Vault, Some(r)) => {
                let mut fields = vec![
                    ("nonce", json!(r.nonce)),
                    ("started", json!(true)),
                    ("t", json!(r.t)),
                    ("n", json!(r.n)),
                    ("progress", json!(progress)),
                    ("required", json!(required)),
                    ("pgp_fingerprints", fingerprints(&r)),
                    ("backup", json!(r.backup)),
                    ("verification_required", json!(r.verification)),
                ];
                if let Some(vnonce) = vnonce {
                    fields.push(("verification_nonce", json!(vnonce)));
                }
                object(&fields)
            }
            (_, None) => {
                let data = object(&[
                    ("n", json!(0)),
                    ("required", json!(required)),
                    ("started", json!(false)),
                    ("t", json!(0)),
                ]);
                self.envelope(data)
            }
            (_, Some(r)) => {
                let mut fields = Vec::new();
                if r.pgp || r.backup {
                    fields.push(("backup", json!(r.backup)));
                }
                fields.push(("n", json!(r.n)));
                fields.push(("nonce", json!(r.nonce)));
                if r.pgp || r.backup {
                    fields.push(("pgp_fingerprints", fingerprints(&r)));
                }
                fields.extend([
                    ("progress", json!(progress)),
                    ("required", json!(required)),
                    ("started", json!(true)),
                    ("t", json!(r.t)),
                    ("verification_nonce", json!(vnonce.unwrap_or_default())),
                    ("verification_required", json!(r.verification)),
                ]);
                let data = object(&fields);
                self.envelope(data)
            }
        }
    }

    fn no_rekey(dialect: Dialect, kind: KeyKind) -> Reply {
        match (dialect, kind) {
            (Dialect::Vault, KeyKind::Unseal) => Self::error(400, "no barrier rekey in progress"),
            (Dialect::Vault, _) => Self::error(400, "no recovery rekey in progress"),
            _ => Self::error(400, "no rotation in progress"),
        }
    }

    fn rekey_init(
        &mut self,
        dialect: Dialect,
        kind: KeyKind,
        method: &Method,
        body: &Value,
    ) -> Reply {
        let slot = (family_index(dialect), kind_index(kind));
        match *method {
            Method::GET => {
                let body = self.rekey_status(dialect, kind);
                Self::ok(body)
            }
            Method::DELETE => {
                self.rekeys[slot.0][slot.1] = None;
                Self::no_content()
            }
            Method::PUT | Method::POST => {
                if self.rekeys[slot.0][slot.1].is_some() {
                    return Self::error(
                        400,
                        if dialect == Dialect::Vault {
                            "rekey already in progress"
                        } else {
                            "rotation already in progress"
                        },
                    );
                }
                let n = body["secret_shares"].as_u64().unwrap_or(0) as usize;
                let t = body["secret_threshold"].as_u64().unwrap_or(0) as usize;
                let pgp = body["pgp_keys"].as_array().map_or(0, Vec::len);
                let backup = body["backup"].as_bool().unwrap_or(false);
                let verification = body["require_verification"].as_bool().unwrap_or(false);
                let invalid = if n < 1 {
                    Some("shares must be at least one")
                } else if t > n {
                    Some("threshold cannot be larger than shares")
                } else if t < 2 && n > 1 {
                    Some("threshold must be greater than one for multiple shares")
                } else {
                    None
                };
                if let Some(why) = invalid {
                    return match dialect {
                        Dialect::Vault => Self::error(
                            500,
                            &format!("invalid rekey seal configuration: {why}"),
                        ),
                        _ => Self::error(
                            400,
                            &format!(
                                "invalid rotate seal configuration: %!w(*errors.errorString=&{{{why}}})"
                            ),
                        ),
                    };
                }
                if pgp > 0 && pgp != n {
                    return Self::error(400, "incorrect number of PGP keys for rekey");
                }
                if backup && pgp == 0 && dialect == Dialect::Vault {
                    return Self::error(
                        400,
                        "cannot request a backup of the new keys without providing PGP keys for encryption",
                    );
                }
                let nonce = self.nonce();
                self.rekeys[slot.0][slot.1] = Some(Rekey {
                    nonce,
                    n,
                    t,
                    pgp: pgp > 0,
                    backup,
                    verification,
                    stage: RekeyStage::Collecting {
                        provided: Vec::new(),
                    },
                });
                let body = self.rekey_status(dialect, kind);
                Self::ok(body)
            }
            _ => Self::error(405, "1 error occurred:\n\t* unsupported operation\n\n"),
        }
    }

    fn rekey_update(&mut self, dialect: Dialect, kind: KeyKind, body: &Value) -> Reply {
        let slot = (family_index(dialect), kind_index(kind));
        let key = body["key"].as_str().unwrap_or_default().to_string();
        let nonce = body["nonce"].as_str().unwrap_or_default().to_string();
        let Some(rekey) = self.rekeys[slot.0][slot.1].as_mut() else {
            return Self::no_rekey(dialect, kind);
        };
        if let RekeyStage::Verifying { vnonce, .. } = &rekey.stage {
            let message = if dialect == Dialect::Vault {
                "rekey operation already finished; verification must be performed; nonce for the verification operation is"
            } else {
                "rotation already finished; verification must be performed; nonce for the verification operation is"
            };
            return Self::error(400, &format!("{message} \"{vnonce}\""));
        }
        if nonce != rekey.nonce {
            let message = if dialect == Dialect::Vault {
                "incorrect nonce supplied; nonce for this rekey operation is"
            } else {
                "incorrect nonce supplied; nonce for rotation is"
            };
            return Self::error(400, &format!("{message} \"{}\"", rekey.nonce));
        }
        let RekeyStage::Collecting { provided } = &mut rekey.stage else {
            unreachable!("verifying was answered above");
        };
        if provided.contains(&key) {
            return Self::error(
                400,
                if dialect == Dialect::Vault {
                    "given key has already been provided during this generation operation"
                } else {
                    "given key has already been provided during this rotation"
                },
            );
        }
        provided.push(key);
        let seal = &self.seals[kind_index(kind)];
        if provided.len() < seal.threshold {
            let body = self.rekey_status(dialect, kind);
            return Self::ok(body);
        }
        let combine = provided.iter().all(|k| seal.shares.contains(k));
        provided.clear();
        if !combine {
            return match dialect {
                Dialect::Vault => Self::error(
                    500,
                    "failed to read root key: invalid key: failed to decrypt keys from storage: cipher: message authentication failed",
                ),
                _ => Self::error(
                    400,
                    "failed to read root key: %!w(*vault.ErrInvalidKey=&{failed to decrypt keys from storage: cipher: message authentication failed})",
                ),
            };
        }
        self.complete_rekey(dialect, kind, true)
    }

    /// The rekey in `dialect`/`kind` reaches its threshold: the new shares, in the answer
    /// the server writes (for the ceremony when `to_caller`, or for another operator).
    fn complete_rekey(&mut self, dialect: Dialect, kind: KeyKind, to_caller: bool) -> Reply {
        let slot = (family_index(dialect), kind_index(kind));
        let rekey = self.rekeys[slot.0][slot.1].clone().expect("a rekey");
        let plain: Vec<String> = (0..rekey.n).map(|_| self.share()).collect();
        let keys: Vec<String> = if rekey.pgp {
            plain
                .iter()
                .map(|share| {
                    let mut bytes = PGP_PREFIX.to_vec();
                    bytes.extend_from_slice(share.as_bytes());
                    let hex = encode_hex(&bytes);
                    self.secrets.push(hex.clone());
                    self.secrets.push(STANDARD.encode(&bytes));
                    hex
                })
                .collect()
        } else {
            plain.clone()
        };
        let keys_base64: Vec<String> = keys
            .iter()
            .map(|k| STANDARD.encode(decode_hex(k)))
            .collect();
        if rekey.backup {
            self.backups[kind_index(kind)] = Some((rekey.nonce.clone(), keys.clone()));
        }
        let vnonce = if rekey.verification {
            let vnonce = self.nonce();
            self.rekeys[slot.0][slot.1] = Some(Rekey {
                stage: RekeyStage::Verifying {
                    new: keys.clone(),
                    plain: plain.clone(),
                    vnonce: vnonce.clone(),
                    provided: Vec::new(),
                },
                ..rekey.clone()
            });
            Some(vnonce)
        } else {
            self.take_effect(
                dialect,
                kind,
                &rekey.nonce,
                keys.clone(),
                plain,
                rekey.t,
                false,
            );
            None
        };
        let fingerprints = if rekey.pgp {
            json!(vec![FINGERPRINT; rekey.n])
        } else {
            Value::Null
        };
        let body = match dialect {
            Dialect::Vault => {
                let mut fields = vec![
                    ("nonce", json!(rekey.nonce)),
                    ("complete", json!(true)),
                    ("keys", json!(keys)),
                    ("keys_base64", json!(keys_base64)),
                    ("pgp_fingerprints", fingerprints),
                    ("backup", json!(rekey.backup)),
                    ("verification_required", json!(rekey.verification)),
                ];
                if let Some(vnonce) = &vnonce {
                    fields.push(("verification_nonce", json!(vnonce)));
                }
                object(&fields)
            }
            _ => {
                let data = object(&[
                    ("backup", json!(rekey.backup)),
                    ("complete", json!(true)),
                    ("keys", json!(keys)),
                    ("keys_base64", json!(keys_base64)),
                    ("nonce", json!(rekey.nonce)),
                    ("pgp_fingerprints", fingerprints),
                    (
                        "verification_nonce",
                        json!(vnonce.clone().unwrap_or_default()),
                    ),
                    ("verification_required", json!(rekey.verification)),
                ]);
                self.envelope(data)
            }
        };
        let end = end_of(&body, "keys");
        Reply {
            status: 200,
            body,
            carries: to_caller.then(|| {
                (
                    Carried::Keys {
                        nonce: rekey.nonce.clone(),
                        keys,
                    },
                    end,
                )
            }),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn take_effect(
        &mut self,
        dialect: Dialect,
        kind: KeyKind,
        nonce: &str,
        keys: Vec<String>,
        plain: Vec<String>,
        t: usize,
        verified: bool,
    ) {
        self.rekeys[family_index(dialect)][kind_index(kind)] = None;
        self.seals[kind_index(kind)] = Seal {
            shares: plain,
            threshold: t,
        };
        self.effective.push(Effective {
            kind,
            nonce: nonce.to_string(),
            keys,
            verified,
        });
    }

    fn verify_status(&mut self, dialect: Dialect, r: &Rekey) -> String {
        let (nonce, started, progress) = match &r.stage {
            RekeyStage::Collecting { .. } => (String::new(), false, 0),
            RekeyStage::Verifying {
                vnonce, provided, ..
            } => (vnonce.clone(), true, provided.len()),
        };
        match dialect {
            Dialect::Vault => object(&[
                ("nonce", json!(nonce)),
                ("started", json!(started)),
                ("t", json!(r.t)),
                ("n", json!(r.n)),
                ("progress", json!(progress)),
            ]),
            _ => {
                let data = object(&[
                    ("n", json!(r.n)),
                    ("nonce", json!(nonce)),
                    ("progress", json!(progress)),
                    ("started", json!(started)),
                    ("t", json!(r.t)),
                ]);
                self.envelope(data)
            }
        }
    }

    fn rekey_verify(
        &mut self,
        dialect: Dialect,
        kind: KeyKind,
        method: &Method,
        body: &Value,
    ) -> Reply {
        let slot = (family_index(dialect), kind_index(kind));
        let vault = dialect == Dialect::Vault;
        let no_config = || {
            Self::error(
                400,
                if vault {
                    "no rekey configuration found"
                } else {
                    "no rotation configuration found"
                },
            )
        };
        let Some(mut rekey) = self.rekeys[slot.0][slot.1].clone() else {
            return match *method {
                Method::GET | Method::DELETE => no_config(),
                _ => Self::error(
                    400,
                    if vault {
                        "no rekey in progress"
                    } else {
                        "no rotation in progress"
                    },
                ),
            };
        };
        match *method {
            Method::GET => {
                let body = self.verify_status(dialect, &rekey);
                Self::ok(body)
            }
            Method::DELETE => {
                if let RekeyStage::Verifying {
                    vnonce, provided, ..
                } = &mut rekey.stage
                {
                    *vnonce = self.nonce();
                    provided.clear();
                    self.rekeys[slot.0][slot.1] = Some(rekey.clone());
                    let body = self.verify_status(dialect, &rekey);
                    Self::ok(body)
                } else {
                    no_config()
                }
            }
            Method::PUT | Method::POST => {
                let key = body["key"].as_str().unwrap_or_default().to_string();
                let nonce = body["nonce"].as_str().unwrap_or_default().to_string();
                let RekeyStage::Verifying {
                    new,
                    plain,
                    vnonce,
                    provided,
                } = &mut rekey.stage
                else {
                    return Self::error(
                        400,
                        if vault {
                            "no rekey verification in progress"
                        } else {
                            "no rotation verification in progress"
                        },
                    );
                };
                if nonce != *vnonce {
                    return Self::error(
                        400,
                        &format!(
                            "incorrect nonce supplied; nonce for this verify operation is \"{vnonce}\""
                        ),
                    );
                }
                if vault && provided.contains(&key) {
                    return Self::error(
                        400,
                        "given key has already been provided during this verify operation",
                    );
                }
                provided.push(key);
                if provided.len() < rekey.t {
                    self.rekeys[slot.0][slot.1] = Some(rekey.clone());
                    let body = self.verify_status(dialect, &rekey);
                    return Self::ok(body);
                }
                let mut distinct = provided.clone();
                distinct.sort();
                distinct.dedup();
                let combine =
                    distinct.len() == provided.len() && provided.iter().all(|k| plain.contains(k));
                if !combine {
                    *vnonce = self.nonce();
                    provided.clear();
                    self.rekeys[slot.0][slot.1] = Some(rekey.clone());
                    return Self::error(
                        400,
                        if vault {
                            "rekey verification failed; incorrect key shares supplied"
                        } else {
                            "failed to compute key for verification: %!w(*errors.errorString=&{duplicate part detected})"
                        },
                    );
                }
                let (new, plain, vnonce) = (new.clone(), plain.clone(), vnonce.clone());
                self.take_effect(dialect, kind, &rekey.nonce, new, plain, rekey.t, true);
                let body = match dialect {
                    Dialect::Vault => {
                        object(&[("nonce", json!(vnonce)), ("complete", json!(true))])
                    }
                    _ => {
                        let data = object(&[("complete", json!(true)), ("nonce", json!(vnonce))]);
                        self.envelope(data)
                    }
                };
                Self::ok(body)
            }
            _ => Self::error(405, "1 error occurred:\n\t* unsupported operation\n\n"),
        }
    }

    fn backup(
        &mut self,
        kind: KeyKind,
        _dialect: Dialect,
        method: &Method,
        authenticated: bool,
    ) -> Reply {
        if !authenticated {
            return Self::error(403, "permission denied");
        }
        match *method {
            Method::DELETE => {
                self.backups[kind_index(kind)] = None;
                Self::no_content()
            }
            Method::GET => match self.backups[kind_index(kind)].clone() {
                None => Self::error(400, "no backed-up keys found"),
                Some((nonce, keys)) => {
                    let b64: Vec<String> = keys
                        .iter()
                        .map(|k| STANDARD.encode(decode_hex(k)))
                        .collect();
                    let data = object(&[
                        ("keys", json!({ FINGERPRINT: keys })),
                        ("keys_base64", json!({ FINGERPRINT: b64 })),
                        ("nonce", json!(nonce)),
                    ]);
                    let id = self.request_id();
                    let top = data.trim_start_matches('{').trim_end_matches('}');
                    Self::ok(format!(
                        r#"{{"request_id":"{id}","lease_id":"","renewable":false,"lease_duration":0,"data":{data},"wrap_info":null,"warnings":null,"auth":null,{top}}}"#
                    ))
                }
            },
            _ => Self::error(405, "1 error occurred:\n\t* unsupported operation\n\n"),
        }
    }

    // ---- root-token generation ----

    fn otp_length(kind: TokenKind) -> usize {
        match kind {
            TokenKind::Recovery => RECOVERY_OTP_LENGTH,
            _ => OTP_LENGTH,
        }
    }

    /// The status a classic answer (top-level) or an OpenBao one (`data`) carries.
    #[allow(clippy::too_many_arguments)]
    fn generation_status(
        &mut self,
        dialect: Dialect,
        kind: TokenKind,
        update: bool,
        otp: &str,
        encoded: &str,
        complete: bool,
        progress_override: Option<usize>,
    ) -> String {
        let required = self.seals[0].threshold;
        let generation = self.generation.clone();
        let progress = progress_override
            .unwrap_or_else(|| generation.as_ref().map_or(0, |g| g.provided.len()));
        let fingerprint = match &generation {
            Some(g) if g.pgp => FINGERPRINT,
            _ => "",
        };
        let otp_length = Self::otp_length(kind);
        if dialect == Dialect::Vault || kind == TokenKind::Recovery {
            let nonce = generation.as_ref().map_or("", |g| g.nonce.as_str());
            let root = if kind == TokenKind::Recovery {
                ""
            } else {
                encoded
            };
            return object(&[
                ("nonce", json!(nonce)),
                ("started", json!(generation.is_some())),
                ("progress", json!(progress)),
                ("required", json!(required)),
                ("complete", json!(complete)),
                ("encoded_token", json!(encoded)),
                ("encoded_root_token", json!(root)),
                ("pgp_fingerprint", json!(fingerprint)),
                ("otp", json!(otp)),
                ("otp_length", json!(if update { 0 } else { otp_length })),
            ]);
        }
        let data = match (&generation, update) {
            (None, _) => object(&[
                ("complete", json!(false)),
                ("otp", json!("")),
                ("otp_length", json!(otp_length)),
                ("progress", json!(0)),
                ("required", json!(required)),
                ("started", json!(false)),
            ]),
            (Some(g), false) => object(&[
                ("complete", json!(complete)),
                ("nonce", json!(g.nonce)),
                ("otp", json!(otp)),
                ("otp_length", json!(otp_length)),
                ("pgp_fingerprint", json!(fingerprint)),
                ("progress", json!(progress)),
                ("required", json!(required)),
                ("started", json!(true)),
            ]),
            (Some(g), true) => object(&[
                ("complete", json!(complete)),
                ("encoded_token", json!(encoded)),
                ("nonce", json!(g.nonce)),
                ("pgp_fingerprint", json!(fingerprint)),
                ("progress", json!(progress)),
                ("required", json!(required)),
                ("started", json!(true)),
            ]),
        };
        self.envelope(data)
    }

    fn attempt(
        &mut self,
        dialect: Dialect,
        kind: TokenKind,
        method: &Method,
        body: &Value,
    ) -> Reply {
        match *method {
            Method::GET => {
                let body = self.generation_status(dialect, kind, false, "", "", false, None);
                Self::ok(body)
            }
            Method::DELETE => {
                self.generation = None;
                Self::no_content()
            }
            Method::PUT | Method::POST => {
                if self.generation.is_some() {
                    return Self::error(
                        400,
                        "root generation already in progress for this namespace",
                    );
                }
                let otp = body["otp"].as_str().filter(|o| !o.is_empty());
                let pgp = body["pgp_key"].as_str().is_some_and(|k| !k.is_empty());
                if otp.is_some_and(|o| o.len() != Self::otp_length(kind)) {
                    return Self::error(400, "OTP string has incorrect length");
                }
                let server_otp = (otp.is_none() && !pgp).then(|| {
                    let otp = self.base62(Self::otp_length(kind));
                    self.secrets.push(otp.clone());
                    otp
                });
                let nonce = self.nonce();
                self.generation = Some(Generation {
                    kind,
                    nonce: nonce.clone(),
                    otp: otp.map(str::to_string).or(server_otp.clone()),
                    pgp,
                    provided: Vec::new(),
                });
                let shown = server_otp.clone().unwrap_or_default();
                let body = self.generation_status(dialect, kind, false, &shown, "", false, None);
                let carries = server_otp.map(|otp| {
                    let end = end_of(&body, "otp");
                    (Carried::Otp { nonce, otp }, end)
                });
                Reply {
                    status: 200,
                    body,
                    carries,
                }
            }
            _ => Self::error(405, "1 error occurred:\n\t* unsupported operation\n\n"),
        }
    }

    fn generate_update(&mut self, dialect: Dialect, kind: TokenKind, body: &Value) -> Reply {
        let classic = dialect == Dialect::Vault || kind == TokenKind::Recovery;
        let refuse = |message: &str| {
            if classic {
                Self::error(400, message)
            } else {
                Self::multierror(500, message)
            }
        };
        let key = body["key"].as_str().unwrap_or_default().to_string();
        let nonce = body["nonce"].as_str().unwrap_or_default().to_string();
        let Some(generation) = self.generation.as_mut() else {
            return refuse("no root generation in progress");
        };
        if nonce != generation.nonce {
            return refuse(&format!(
                "incorrect nonce supplied; nonce for this root generation operation is \"{}\"",
                generation.nonce
            ));
        }
        if generation.provided.contains(&key) {
            return refuse("given key has already been provided during this generation operation");
        }
        generation.provided.push(key);
        let seal = &self.seals[0];
        if generation.provided.len() < seal.threshold {
            let body = self.generation_status(dialect, kind, true, "", "", false, None);
            return Self::ok(body);
        }
        let combine = generation.provided.iter().all(|k| seal.shares.contains(k));
        if !combine {
            generation.provided.clear();
            return refuse("root generation aborted: unable to authenticate: unable to retrieve stored keys: invalid key: failed to decrypt keys from storage: cipher: message authentication failed");
        }
        self.complete_generation(dialect, kind, true)
    }

    fn complete_generation(&mut self, dialect: Dialect, kind: TokenKind, to_caller: bool) -> Reply {
        let generation = self.generation.clone().expect("a generation");
        let prefix = if generation.kind == TokenKind::Recovery {
            "hvr."
        } else {
            "s."
        };
        let token = format!("{prefix}{}", self.base62(24));
        let encoded = match (&generation.otp, generation.pgp) {
            (_, true) => {
                let mut message = b"PGPMSG".to_vec();
                message.extend_from_slice(token.as_bytes());
                STANDARD.encode(message)
            }
            (Some(otp), false) => {
                let xored: Vec<u8> = token.bytes().zip(otp.bytes()).map(|(t, o)| t ^ o).collect();
                STANDARD_NO_PAD.encode(xored)
            }
            (None, false) => unreachable!("a generation has an OTP or a PGP key"),
        };
        self.secrets.push(token.clone());
        self.secrets.push(encoded.clone());
        self.generated.push(Generated {
            nonce: generation.nonce.clone(),
            encoded: encoded.clone(),
            token,
        });
        let progress = generation.provided.len().max(self.seals[0].threshold);
        let body = self.generation_status(dialect, kind, true, "", &encoded, true, Some(progress));
        self.generation = None;
        let end = end_of(&body, "encoded_token");
        Reply {
            status: 200,
            body,
            carries: to_caller.then(|| {
                (
                    Carried::Token {
                        nonce: generation.nonce.clone(),
                        encoded,
                    },
                    end,
                )
            }),
        }
    }

    // ---- the world around the ceremony ----

    /// Another operator acts on the state `scope` names.
    pub fn operator(&mut self, action: Operator, scope: Scope) {
        match (action, scope) {
            (Operator::Cancel, Scope::Rekey(dialect, kind)) => {
                self.rekeys[family_index(dialect)][kind_index(kind)] = None;
            }
            (Operator::Cancel, Scope::Root(_)) => self.generation = None,
            (Operator::Restart, Scope::Rekey(dialect, kind)) => {
                let slot = (family_index(dialect), kind_index(kind));
                if let Some(rekey) = self.rekeys[slot.0][slot.1].take() {
                    let nonce = self.nonce();
                    self.rekeys[slot.0][slot.1] = Some(Rekey {
                        nonce,
                        stage: RekeyStage::Collecting {
                            provided: Vec::new(),
                        },
                        ..rekey
                    });
                }
            }
            (Operator::Restart, Scope::Root(kind)) => {
                if self.generation.take().is_some() {
                    let nonce = self.nonce();
                    let otp = self.base62(Self::otp_length(kind));
                    self.secrets.push(otp.clone());
                    self.generation = Some(Generation {
                        kind,
                        nonce,
                        otp: Some(otp),
                        pgp: false,
                        provided: Vec::new(),
                    });
                }
            }
            (Operator::Complete, Scope::Rekey(dialect, kind)) => {
                let slot = (family_index(dialect), kind_index(kind));
                match self.rekeys[slot.0][slot.1].clone() {
                    Some(Rekey {
                        stage: RekeyStage::Collecting { .. },
                        ..
                    }) => {
                        let _ = self.complete_rekey(dialect, kind, false);
                    }
                    Some(Rekey {
                        nonce,
                        t,
                        stage: RekeyStage::Verifying { new, plain, .. },
                        ..
                    }) => self.take_effect(dialect, kind, &nonce, new, plain, t, true),
                    None => {}
                }
            }
            (Operator::Complete, Scope::Root(kind)) => {
                if self.generation.is_some() {
                    let dialect = Dialect::Vault;
                    let _ = self.complete_generation(dialect, kind, false);
                }
            }
        }
    }

    /// The active node changes: every ceremony's progress, kept in the old leader's memory,
    /// is gone. The shares in effect and the stored backup (in storage) stay.
    pub fn leader_change(&mut self) {
        self.rekeys = Default::default();
        self.generation = None;
    }
}

/// Lowercase hex of `bytes`.
pub fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of lowercase or uppercase hex (an odd last digit is dropped).
pub fn decode_hex(hex: &str) -> Vec<u8> {
    hex.as_bytes()
        .chunks_exact(2)
        .filter_map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}
