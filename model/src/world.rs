//! One ceremony driven to its end against the [`Server`] through a schedule of
//! [`Event`]s, as an operator would drive it (shares when asked, the new shares to verify, an
//! OTP, a cancel once it aborted), with the invariants checked after every step.

use crate::fault::{gateway_page, swap_nonces, Event, Fault};
use crate::server::{decode_hex, Carried, Reply, Scope, Server, FINGERPRINT, PGP_PREFIX};
use http::{Method, StatusCode};
use std::fmt;
use vault_key_core::ceremony::{
    Next, RekeyCeremony, RekeyPhase, RootTokenCeremony, RootTokenPhase, TokenProtection,
};
use vault_key_core::ops::generate_root::TokenKind;
use vault_key_core::ops::rekey::{KeyKind, StartRekey};
use vault_key_core::{
    Delivery, Dialect, Error, KeyShare, Otp, PartialResponse, SecretBytes, Target, Token,
};

/// The token the operator's target sends; a secret like the others.
pub const TARGET_TOKEN: &str = "s.TargetTokenSecret9Kq4Zx";
/// The caller's OTPs are prefixes of this (base62, distinctive).
const CALLER_OTP: &str = "CallerOtpSecret7Qx2Lm9Vz4KZp8Wd";
/// A PGP key as the caller sends it (base64); the model does not parse it.
const PGP_KEY: &str = "bW9kZWwtcGdwLWtleQ";
/// Requests after which a ceremony that neither finished nor needs the caller counts as
/// stuck.
pub const MAX_REQUESTS: usize = 48;

/// The most requests of one run whatever the schedule, which may fault without end.
pub const MAX_FAULTY_REQUESTS: usize = 512;

/// A rekey as the operator starts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RekeySetup {
    /// Unseal or recovery shares.
    pub kind: KeyKind,
    /// New shares.
    pub shares: u32,
    /// New threshold.
    pub threshold: u32,
    /// Verify the new shares before they take effect.
    pub verification: bool,
    /// Encrypt the new shares to PGP keys (one per share).
    pub pgp: bool,
    /// Keep an encrypted backup (with `pgp`).
    pub backup: bool,
}

/// How the generated token is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protection {
    /// The server's OTP, from the start answer.
    ServerOtp,
    /// The caller's OTP, given up front.
    Otp,
    /// The caller's OTP, given once the ceremony read the length.
    GenerateOtp,
    /// A PGP key.
    Pgp,
}

/// A root-token generation as the operator starts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RootSetup {
    /// Root or recovery token.
    pub kind: TokenKind,
    /// How the token is protected.
    pub protection: Protection,
}

/// Which ceremony runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Setup {
    /// A rekey, on the paths of the dialect.
    Rekey(Dialect, RekeySetup),
    /// A root-token generation, on the paths of the dialect.
    Root(Dialect, RootSetup),
}

impl Setup {
    /// The dialect of its paths.
    pub fn dialect(&self) -> Dialect {
        match self {
            Setup::Rekey(dialect, _) | Setup::Root(dialect, _) => *dialect,
        }
    }

    fn scope(&self) -> Scope {
        match *self {
            Setup::Rekey(dialect, setup) => Scope::Rekey(dialect, setup.kind),
            Setup::Root(_, setup) => Scope::Root(setup.kind),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct Report {
    /// Requests the ceremony sent (each a step a schedule can put an event at).
    pub requests: usize,
    /// What happened, one line per step.
    pub trace: Vec<String>,
    /// The phase it ended in.
    pub phase: String,
}

/// An invariant that did not hold, with the steps that led there.
#[derive(Debug, Clone)]
pub struct Violation {
    /// Which invariant.
    pub invariant: &'static str,
    /// What was seen.
    pub detail: String,
    /// The steps up to it.
    pub trace: Vec<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invariant broken: {}: {}", self.invariant, self.detail)?;
        for line in &self.trace {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Violation {}

/// What the driver needs of either ceremony.
trait Subject {
    fn poll(&mut self, target: &Target) -> Result<Next, Error>;
    fn answer(&mut self, status: StatusCode, body: &[u8]) -> Result<String, Error>;
    fn failed(&mut self, delivery: Delivery<'_>);
    fn phase(&self) -> String;
    fn done(&self) -> bool;
    fn cancelled(&self) -> bool;
    fn aborted(&self) -> bool;
    fn nonce(&self) -> Option<String>;
    fn cancel(&mut self) -> Result<(), Error>;
    /// The result as strings (the `keys`, or the encoded token).
    fn result(&self) -> Option<Vec<String>>;
    /// Every value reachable through the ceremony's API, printed.
    fn prints(&self, out: &mut Vec<String>);
    /// Gives what `next` asks for; `false` when the operator has nothing more to give.
    fn feed(&mut self, next: &Next, operator: &mut Operator) -> bool;
    /// Whether the server's records say the ceremony is done.
    fn server_agrees(&self, server: &Server) -> Result<(), String>;
}

/// The operator: the shares they hold, and how many more times they will hand one over.
struct Operator {
    shares: Vec<String>,
    next: usize,
    left: usize,
    verify_next: usize,
    verify_left: usize,
    otp_given: bool,
}

impl Operator {
    fn share(&mut self) -> Option<KeyShare> {
        if self.left == 0 || self.shares.is_empty() {
            return None;
        }
        self.left -= 1;
        let share = self.shares[self.next % self.shares.len()].clone();
        self.next += 1;
        Some(KeyShare::new(share))
    }
}

struct Rekey {
    ceremony: RekeyCeremony,
    pgp: bool,
}

impl Subject for Rekey {
    fn poll(&mut self, target: &Target) -> Result<Next, Error> {
        self.ceremony.poll(target)
    }
    fn answer(&mut self, status: StatusCode, body: &[u8]) -> Result<String, Error> {
        self.ceremony
            .handle_response(status, body)
            .map(|event| format!("{event:?}"))
    }
    fn failed(&mut self, delivery: Delivery<'_>) {
        self.ceremony.request_failed(delivery)
    }
    fn phase(&self) -> String {
        format!("{:?}", self.ceremony.phase())
    }
    fn done(&self) -> bool {
        self.ceremony.phase() == RekeyPhase::Done
    }
    fn cancelled(&self) -> bool {
        self.ceremony.phase() == RekeyPhase::Cancelled
    }
    fn aborted(&self) -> bool {
        self.ceremony.phase() == RekeyPhase::Aborted
    }
    fn nonce(&self) -> Option<String> {
        self.ceremony.nonce().map(str::to_string)
    }
    fn cancel(&mut self) -> Result<(), Error> {
        self.ceremony.cancel()
    }
    fn result(&self) -> Option<Vec<String>> {
        self.ceremony
            .result()
            .map(|r| r.keys.iter().map(|k| k.expose().to_string()).collect())
    }
    fn prints(&self, out: &mut Vec<String>) {
        let c = &self.ceremony;
        out.push(format!(
            "{c:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
            c.phase(),
            c.result(),
            c.status(),
            c.verify_status(),
            c.verification(),
            c.undecoded_responses(),
            c.nonce(),
            c.verification_nonce()
        ));
        if let Some(result) = c.result() {
            out.push(format!("{:?} {:?}", result.keys, result.keys_base64));
        }
    }
    fn feed(&mut self, next: &Next, operator: &mut Operator) -> bool {
        match next {
            Next::NeedShares { .. } => match operator.share() {
                Some(share) => self.ceremony.submit_share(share).is_ok(),
                None => false,
            },
            Next::NeedVerificationShares { .. } => {
                let Some(result) = self.ceremony.result() else {
                    return false;
                };
                if operator.verify_left == 0 || result.keys.is_empty() {
                    return false;
                }
                operator.verify_left -= 1;
                let key = result.keys[operator.verify_next % result.keys.len()].expose();
                operator.verify_next += 1;
                let share = if self.pgp {
                    let bytes = decode_hex(key);
                    let plain = bytes.strip_prefix(PGP_PREFIX).unwrap_or(&bytes);
                    String::from_utf8_lossy(plain).into_owned()
                } else {
                    key.to_string()
                };
                self.ceremony
                    .submit_verification_share(KeyShare::new(share))
                    .is_ok()
            }
            _ => false,
        }
    }
    fn server_agrees(&self, server: &Server) -> Result<(), String> {
        let nonce = self.nonce().ok_or("done without a nonce")?;
        let effective = server
            .effective
            .iter()
            .find(|e| e.nonce == nonce && e.kind == self.ceremony.key_kind())
            .ok_or_else(|| format!("the server never put the shares of rekey {nonce} in effect"))?;
        match self.result() {
            Some(keys) if keys != effective.keys => Err(format!(
                "the ceremony's shares are not those in effect under {nonce}"
            )),
            None => Err("done without the new shares".into()),
            _ => Ok(()),
        }
    }
}

struct Root {
    ceremony: RootTokenCeremony,
    protection: Protection,
    otp_length: usize,
}

impl Subject for Root {
    fn poll(&mut self, target: &Target) -> Result<Next, Error> {
        self.ceremony.poll(target)
    }
    fn answer(&mut self, status: StatusCode, body: &[u8]) -> Result<String, Error> {
        self.ceremony
            .handle_response(status, body)
            .map(|event| format!("{event:?}"))
    }
    fn failed(&mut self, delivery: Delivery<'_>) {
        self.ceremony.request_failed(delivery)
    }
    fn phase(&self) -> String {
        format!("{:?}", self.ceremony.phase())
    }
    fn done(&self) -> bool {
        self.ceremony.phase() == RootTokenPhase::Done
    }
    fn cancelled(&self) -> bool {
        self.ceremony.phase() == RootTokenPhase::Cancelled
    }
    fn aborted(&self) -> bool {
        self.ceremony.phase() == RootTokenPhase::Aborted
    }
    fn nonce(&self) -> Option<String> {
        self.ceremony.nonce().map(str::to_string)
    }
    fn cancel(&mut self) -> Result<(), Error> {
        self.ceremony.cancel()
    }
    fn result(&self) -> Option<Vec<String>> {
        self.ceremony
            .encoded_token()
            .map(|t| vec![t.expose().to_string()])
    }
    fn prints(&self, out: &mut Vec<String>) {
        let c = &self.ceremony;
        out.push(format!(
            "{c:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
            c.phase(),
            c.result(),
            c.encoded_token(),
            c.otp(),
            c.status(),
            c.undecoded_responses(),
            c.pgp_fingerprint()
        ));
        match c.decode_token() {
            Ok(token) => out.push(format!("{token:?}")),
            Err(err) => out.push(format!("{err} {err:?}")),
        }
    }
    fn feed(&mut self, next: &Next, operator: &mut Operator) -> bool {
        match next {
            Next::NeedShares { .. } => match operator.share() {
                Some(share) => self.ceremony.submit_share(share).is_ok(),
                None => false,
            },
            Next::NeedOtp { length } if !operator.otp_given => {
                operator.otp_given = true;
                let otp = caller_otp(*length as usize);
                self.ceremony.provide_otp(Otp::new(otp)).is_ok()
            }
            _ => false,
        }
    }
    fn server_agrees(&self, server: &Server) -> Result<(), String> {
        let nonce = self.nonce().ok_or("done without a nonce")?;
        let generated = server
            .generated
            .iter()
            .find(|g| g.nonce == nonce)
            .ok_or_else(|| format!("the server generated no token under {nonce}"))?;
        match self.result() {
            Some(encoded) if encoded[0] == generated.encoded => {}
            Some(_) => return Err(format!("the encoded token is not the one of {nonce}")),
            None => return Err("done without the encoded token".into()),
        }
        if self.protection != Protection::Pgp {
            match self.ceremony.decode_token() {
                Ok(token) if token.expose() == generated.token => {}
                Ok(_) => return Err("the token decodes to another token".into()),
                Err(err) => return Err(format!("the token does not decode: {err}")),
            }
        }
        let _ = self.otp_length;
        Ok(())
    }
}

/// A caller's OTP of `length` characters.
fn caller_otp(length: usize) -> String {
    CALLER_OTP.chars().cycle().take(length).collect()
}

fn violation(invariant: &'static str, detail: impl Into<String>, trace: &[String]) -> Violation {
    Violation {
        invariant,
        detail: detail.into(),
        trace: trace.to_vec(),
    }
}

/// How the exchange of one request went, as the caller can tell.
enum Exchange {
    /// A whole answer (the server's, a gateway's, garbage).
    Answer(u16, Vec<u8>),
    /// No whole answer: how far it got.
    Failed(Failure),
}

enum Failure {
    NotSent,
    Unknown,
    Cut(PartialResponse),
}

/// Runs the ceremony `setup` names against a fresh server (drawing its values from `seed`),
/// with `schedule` saying what happens at each step (request index), and checks the
/// invariants after every step:
///
/// - **no blind resend**: no request that may change the server (PUT, POST, DELETE) goes
///   out after one whose outcome the caller could not know (no answer, a cut one, a gateway's
///   page, a bare 5xx, garbage) before a read (GET) has gone out;
/// - **no result dropped**: new shares or an encoded token that arrived whole (in an answer,
///   or in what arrived of a cut one) are in the ceremony's result from then on, unchanged;
/// - **done only when the server says so**: `Done` only when the server's records show this
///   ceremony's shares in effect (or its token generated, and it decodes to the server's
///   token); `Cancelled` only when the server runs no ceremony under its nonce (unless a
///   read's answer named another nonce than the server's: a lie no client can see through);
/// - **no secret printed**: no share, OTP, token or encoded token the server or the caller
///   knows appears in the `Debug` or `Display` of the ceremony, of what `poll` returns, of
///   any event or error, or of any result;
/// - **bounded**: within [`MAX_REQUESTS`] requests without a fault the ceremony finishes or
///   needs the caller (a schedule that faults at every request keeps an honest ceremony
///   reading; such a run stops after [`MAX_FAULTY_REQUESTS`]).
pub fn run(
    setup: &Setup,
    seed: u64,
    schedule: &mut dyn FnMut(usize) -> Option<Event>,
) -> Result<Report, Violation> {
    let mut server = Server::new(seed);
    server.add_secret(TARGET_TOKEN);
    let dialect = setup.dialect();
    let target = Target::new("http://127.0.0.1:8200")
        .expect("a valid address")
        .with_token(Token::new(TARGET_TOKEN))
        .with_dialect(dialect);
    let scope = setup.scope();
    let (mut subject, mut operator): (Box<dyn Subject>, Operator) = match *setup {
        Setup::Rekey(_, rekey) => {
            let mut config = StartRekey::new(rekey.shares, rekey.threshold)
                .kind(rekey.kind)
                .require_verification(rekey.verification)
                .backup(rekey.backup);
            if rekey.pgp {
                config = config.pgp_keys(vec![PGP_KEY.to_string(); rekey.shares as usize]);
            }
            let mut ceremony = RekeyCeremony::start(config);
            if rekey.pgp {
                // Without the core's `pgp` feature the keys are not read: their fingerprints
                // are pinned as a holder would, by hand.
                ceremony = ceremony.require_fingerprints(vec![FINGERPRINT; rekey.shares as usize]);
            }
            let shares = server.current_shares(rekey.kind).to_vec();
            let left = 2 * shares.len() + 2;
            (
                Box::new(Rekey {
                    ceremony,
                    pgp: rekey.pgp,
                }),
                Operator {
                    shares,
                    next: 0,
                    left,
                    verify_next: 0,
                    verify_left: 2 * rekey.shares as usize + 2,
                    otp_given: false,
                },
            )
        }
        Setup::Root(_, root) => {
            let otp_length = match root.kind {
                TokenKind::Recovery => crate::server::RECOVERY_OTP_LENGTH,
                _ => crate::server::OTP_LENGTH,
            };
            let otp = caller_otp(otp_length);
            server.add_secret(otp.clone());
            let protection = match root.protection {
                Protection::ServerOtp => TokenProtection::ServerOtp,
                Protection::Otp => TokenProtection::Otp(Otp::new(otp)),
                Protection::GenerateOtp => TokenProtection::GenerateOtp,
                Protection::Pgp => TokenProtection::PgpKey(PGP_KEY.to_string()),
            };
            let shares = server.current_shares(KeyKind::Unseal).to_vec();
            let left = 2 * shares.len() + 2;
            let mut ceremony = RootTokenCeremony::start(root.kind, protection);
            if root.protection == Protection::Pgp {
                ceremony = ceremony.require_fingerprint(FINGERPRINT);
            }
            (
                Box::new(Root {
                    ceremony,
                    protection: root.protection,
                    otp_length,
                }),
                Operator {
                    shares,
                    next: 0,
                    left,
                    verify_next: 0,
                    verify_left: 0,
                    otp_given: false,
                },
            )
        }
    };

    let mut trace: Vec<String> = Vec::new();
    let mut requests = 0usize;
    let mut unsettled: Option<String> = None;
    let mut kept: Option<Vec<String>> = None;
    let mut cancel_tried = false;
    let mut printed: Vec<String> = Vec::new();
    let mut lied_about_state = false;
    // Requests since the last event of the schedule: the bound holds once faults stop.
    let mut quiet = 0usize;

    loop {
        let next = match subject.poll(&target) {
            Ok(next) => next,
            Err(err) => {
                printed.push(format!("{err} {err:?}"));
                trace.push(format!("poll failed: {err}"));
                check_prints(&server, &*subject, &mut printed, &trace)?;
                break;
            }
        };
        printed.push(format!("{next:?}"));
        let request = match next {
            Next::Send(request) | Next::Settle(request) => request,
            Next::AwaitingAnswer => {
                return Err(violation(
                    "bounded",
                    "poll says an answer is awaited, but none is out",
                    &trace,
                ))
            }
            Next::Finished => {
                check_prints(&server, &*subject, &mut printed, &trace)?;
                if subject.aborted() && !cancel_tried {
                    cancel_tried = true;
                    if subject.cancel().is_ok() {
                        trace.push("operator: cancel the aborted ceremony".into());
                        continue;
                    }
                }
                break;
            }
            other => {
                if subject.feed(&other, &mut operator) {
                    check_prints(&server, &*subject, &mut printed, &trace)?;
                    continue;
                }
                break;
            }
        };
        if quiet == MAX_REQUESTS {
            return Err(violation(
                "bounded",
                format!("still sending after {MAX_REQUESTS} requests without a fault"),
                &trace,
            ));
        }
        if requests == MAX_FAULTY_REQUESTS {
            // A schedule that faults without end: the ceremony keeps reading (never
            // resending blindly, which the other invariants check), and the run stops here.
            break;
        }
        let step = requests;
        requests += 1;
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let writes = method != Method::GET;
        if writes {
            if let Some(before) = &unsettled {
                return Err(violation(
                    "no blind resend",
                    format!("{method} {path} sent after {before}, whose outcome was not known, with no read between"),
                    &trace,
                ));
            }
        } else {
            unsettled = None;
        }

        let event = schedule(step);
        quiet = if event.is_some() { 0 } else { quiet + 1 };
        match event {
            Some(Event::Operator(action)) => server.operator(action, scope),
            Some(Event::LeaderChange) => server.leader_change(),
            _ => {}
        }
        let fault = match event {
            Some(Event::Fault(fault)) => Some(fault),
            _ => None,
        };
        // A read answered with another nonce than the server's is a lie about the server's
        // state, which no client can see through: after one, "cancelled" is not held to the
        // server's records (a read naming another rekey rightly tells an honest client that
        // its own is gone).
        lied_about_state |= !writes && fault == Some(Fault::WrongNonce);
        let acted = !matches!(
            fault,
            Some(Fault::NotSent)
                | Some(Fault::Timeout { acted: false })
                | Some(Fault::Gateway { acted: false, .. })
                | Some(Fault::Bare5xx { acted: false })
        );
        let reply: Option<Reply> = acted.then(|| server.handle(&request));
        let mut whole: Option<Carried> = None;
        let exchange = match (fault, &reply) {
            (None, Some(reply)) => {
                whole = reply.carries.clone().map(|(c, _)| c);
                Exchange::Answer(reply.status, reply.body.clone().into_bytes())
            }
            (Some(Fault::WrongNonce), Some(reply)) => {
                whole = reply.carries.clone().map(|(c, _)| c);
                let body = swap_nonces(&reply.body, "f0e1d2c3-0000-4000-8000-0000000000ff");
                Exchange::Answer(reply.status, body.into_bytes())
            }
            (Some(Fault::NotSent), _) => Exchange::Failed(Failure::NotSent),
            (Some(Fault::Timeout { .. }), _) => Exchange::Failed(Failure::Unknown),
            (Some(Fault::Gateway { status, .. }), _) => {
                Exchange::Answer(status, gateway_page(status).into_bytes())
            }
            (Some(Fault::Bare5xx { .. }), _) => Exchange::Answer(500, Vec::new()),
            (Some(Fault::Cut(at)), Some(reply)) => {
                let keep = at.resolve(reply);
                if let Some((carried, end)) = &reply.carries {
                    if keep >= *end {
                        whole = Some(carried.clone());
                    }
                }
                let status = StatusCode::from_u16(reply.status).expect("a status");
                Exchange::Failed(Failure::Cut(PartialResponse::new(
                    status,
                    SecretBytes::new(&reply.body.as_bytes()[..keep]),
                )))
            }
            (Some(Fault::Garbage(garbage)), Some(reply)) => {
                Exchange::Answer(reply.status, garbage.body())
            }
            (_, None) => unreachable!("only faults before the server leave no reply"),
        };
        let settled = matches!(
            (fault, &exchange),
            (None | Some(Fault::WrongNonce), _) | (_, Exchange::Failed(Failure::NotSent))
        );
        if writes && !settled {
            unsettled = Some(format!("{method} {path}"));
        }

        let outcome = match &exchange {
            Exchange::Answer(status, body) => {
                let status = StatusCode::from_u16(*status).expect("a status");
                match subject.answer(status, body) {
                    Ok(event) => {
                        printed.push(event.clone());
                        format!("{} → {event}", status.as_u16())
                    }
                    Err(err) => {
                        let shown = format!("{err} {err:?}");
                        printed.push(shown);
                        format!("{} → error: {err}", status.as_u16())
                    }
                }
            }
            Exchange::Failed(failure) => {
                let (delivery, shown) = match failure {
                    Failure::NotSent => (Delivery::NotSent, "not sent".to_string()),
                    Failure::Unknown => (Delivery::Unknown, "no answer".to_string()),
                    Failure::Cut(partial) => (
                        Delivery::Cut(partial),
                        format!("cut after {} bytes", partial.body().len()),
                    ),
                };
                subject.failed(delivery);
                shown
            }
        };
        trace.push(format!(
            "#{step} {method} {path} [{}] {outcome} ⇒ {}",
            event.map_or("-".to_string(), |e| format!("{e:?}")),
            subject.phase()
        ));

        // No result that arrived whole is dropped, nor one the ceremony had.
        let result = subject.result();
        if let Some(carried) = whole {
            let expected = match carried {
                Carried::Keys { keys, .. } => Some(keys),
                Carried::Token { encoded, .. } => Some(vec![encoded]),
                Carried::Otp { .. } => None,
            };
            if let Some(expected) = expected {
                if result.as_ref() != Some(&expected) {
                    return Err(violation(
                        "no result dropped",
                        "a result arrived whole and is not the ceremony's result",
                        &trace,
                    ));
                }
                kept.get_or_insert(expected);
            }
        }
        match (&kept, &result) {
            (Some(had), now) if now.as_ref() != Some(had) => {
                return Err(violation(
                    "no result dropped",
                    "the ceremony's result changed or went away",
                    &trace,
                ))
            }
            (None, Some(now)) => kept = Some(now.clone()),
            _ => {}
        }
        check_state(&server, &*subject, scope, lied_about_state, &trace)?;
        check_prints(&server, &*subject, &mut printed, &trace)?;
    }
    check_state(&server, &*subject, scope, lied_about_state, &trace)?;
    Ok(Report {
        requests,
        phase: subject.phase(),
        trace,
    })
}

fn check_state(
    server: &Server,
    subject: &dyn Subject,
    scope: Scope,
    lied_about_state: bool,
    trace: &[String],
) -> Result<(), Violation> {
    if subject.done() {
        if let Err(detail) = subject.server_agrees(server) {
            return Err(violation(
                "done only when the server says so",
                detail,
                trace,
            ));
        }
    }
    if subject.cancelled() && !lied_about_state {
        if let (Some(ours), Some(running)) = (subject.nonce(), server.running(scope)) {
            if ours == running {
                return Err(violation(
                    "done only when the server says so",
                    format!("cancelled while the server still runs {ours}"),
                    trace,
                ));
            }
        }
    }
    Ok(())
}

fn check_prints(
    server: &Server,
    subject: &dyn Subject,
    printed: &mut Vec<String>,
    trace: &[String],
) -> Result<(), Violation> {
    subject.prints(printed);
    for text in printed.iter() {
        if let Some(secret) = server.secrets().iter().find(|s| text.contains(s.as_str())) {
            return Err(violation(
                "no secret printed",
                format!("{secret:?} appears in {text}"),
                trace,
            ));
        }
    }
    printed.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leak_check_sees_a_printed_share() {
        let server = Server::new(3);
        let share = server.current_shares(KeyKind::Unseal)[0].clone();
        let subject = Rekey {
            ceremony: RekeyCeremony::start(StartRekey::new(3, 2)),
            pgp: false,
        };
        let mut printed = vec![format!("oops {share}")];
        assert!(check_prints(&server, &subject, &mut printed, &[]).is_err());
    }
}
