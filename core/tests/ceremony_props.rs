//! Ceremonies fed arbitrary sequences of answers (real captured bodies, mutated: other
//! nonces, flipped completion, missing fields, truncation, random statuses, garbage) and
//! arbitrary caller actions. Whatever arrives, a ceremony never panics, never reports
//! completion without its result, never loses a result it had, and never sends a request
//! under a nonce other than the one it pinned.

mod ceremony_support;

use bytes::Bytes;
use ceremony_support::{target, Capture};
use http::{Method, Request, StatusCode};
use proptest::prelude::*;
use serde_json::Value;
use std::sync::OnceLock;
use vault_key_core::ceremony::{
    Next, RekeyCeremony, RekeyEvent, RekeyPhase, RootTokenCeremony, RootTokenEvent, RootTokenPhase,
    TokenProtection, Verification,
};
use vault_key_core::ops::generate_root::TokenKind;
use vault_key_core::ops::rekey::{KeyKind, StartRekey};
use vault_key_core::{
    CeremonyError, Delivery, Dialect, Error, KeyShare, Otp, PartialResponse, SecretBytes,
};

/// Captured answers by endpoint: the leaf of the path (`init`, `update`, `verify`,
/// `attempt`, `backup`) and whether the request was a read, a write or a delete.
fn by_endpoint() -> &'static Vec<(String, u16, String)> {
    static ROWS: OnceLock<Vec<(String, u16, String)>> = OnceLock::new();
    ROWS.get_or_init(|| {
        Capture::load()
            .all()
            .into_iter()
            .map(|row| (endpoint(&row.method, &row.path), row.status, row.body))
            .collect()
    })
}

fn endpoint(method: &str, path: &str) -> String {
    let leaf = path.rsplit('/').next().unwrap_or_default();
    let verb = match method {
        "GET" => "read",
        "DELETE" => "delete",
        _ => "write",
    };
    format!("{verb} {leaf}")
}

/// A captured answer of the endpoint just asked, carrying the nonce the ceremony expects
/// (the pinned one, or the verification nonce for verify answers) unless `keep`.
fn plausible(
    pick: prop::sample::Index,
    keep: bool,
    request: &(Method, String),
    nonce: Option<&str>,
    verification_nonce: Option<&str>,
) -> (StatusCode, Vec<u8>) {
    let wanted = endpoint(request.0.as_str(), &request.1);
    let candidates: Vec<&(String, u16, String)> = by_endpoint()
        .iter()
        .filter(|(e, _, _)| *e == wanted)
        .collect();
    if candidates.is_empty() {
        return (StatusCode::NO_CONTENT, Vec::new());
    }
    let (_, status, body) = candidates[pick.index(candidates.len())];
    let mut value: Value = match serde_json::from_str(body) {
        Ok(value) => value,
        Err(_) => return (StatusCode::from_u16(*status).expect("a status"), Vec::new()),
    };
    if !keep {
        let expected = if request.1.ends_with("/verify") {
            verification_nonce
        } else {
            nonce
        };
        align_nonces(&mut value, expected, verification_nonce);
        if let Some(data) = value.get_mut("data") {
            align_nonces(data, expected, verification_nonce);
        }
    }
    (
        StatusCode::from_u16(*status).expect("a status"),
        serde_json::to_vec(&value).expect("JSON"),
    )
}

fn align_nonces(value: &mut Value, nonce: Option<&str>, verification_nonce: Option<&str>) {
    let Some(map) = value.as_object_mut() else {
        return;
    };
    for (field, wanted) in [("nonce", nonce), ("verification_nonce", verification_nonce)] {
        let present = map
            .get(field)
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        if let (true, Some(wanted)) = (present, wanted) {
            map.insert(field.into(), Value::from(wanted));
        }
    }
}

fn bodies() -> &'static Vec<(u16, String)> {
    static BODIES: OnceLock<Vec<(u16, String)>> = OnceLock::new();
    BODIES.get_or_init(|| {
        let mut bodies: Vec<(u16, String)> = Capture::load()
            .all()
            .into_iter()
            .map(|row| (row.status, row.body))
            .collect();
        for extra in [
            "",
            "{}",
            "null",
            "[]",
            "{\"complete\":true}",
            "{\"data\":{\"complete\":true,\"keys\":[]}}",
            "{\"data\":{\"complete\":true,\"nonce\":\"n-1\"}}",
            "{\"nonce\":\"n-1\",\"started\":true,\"progress\":1,\"required\":3}",
            "{\"nonce\":\"n-1\",\"started\":true,\"verification_nonce\":\"v-1\",\"t\":3}",
            "{\"errors\":[\"incorrect nonce supplied; nonce for this rekey operation is \\\"n-2\\\"\"]}",
            "{\"errors\":[\"rekey operation already finished; verification must be performed; nonce for the verification operation is \\\"v-2\\\"\"]}",
            "{\"errors\":[]}",
        ] {
            bodies.push((200, extra.to_string()));
        }
        bodies
    })
}

const NONCES: [&str; 4] = ["n-1", "n-2", "", "e3598a44-5a49-d5ab-c27e-e871724e4507"];
const STATUSES: [u16; 10] = [200, 204, 307, 400, 403, 404, 405, 429, 500, 503];

#[derive(Debug, Clone)]
enum Action {
    Plausible(prop::sample::Index, bool),
    Answer {
        body: usize,
        status: Option<usize>,
        nonce: Option<usize>,
        verification_nonce: Option<usize>,
        flip_complete: bool,
        drop_field: Option<usize>,
        truncate: Option<usize>,
    },
    Garbage(Vec<u8>, u16),
    Submit,
    SubmitVerification,
    Cancel,
    CancelVerification,
    Refresh,
    RequestFailed(u8, prop::sample::Index, prop::sample::Index),
    Stray,
    Otp(bool),
}

fn action() -> impl Strategy<Value = Action> {
    let answer = (
        any::<prop::sample::Index>(),
        proptest::option::weighted(0.3, 0..STATUSES.len()),
        proptest::option::weighted(0.4, 0..NONCES.len()),
        proptest::option::weighted(0.3, 0..NONCES.len()),
        proptest::bool::weighted(0.15),
        proptest::option::weighted(0.15, 0..12usize),
        proptest::option::weighted(0.05, 0..200usize),
    )
        .prop_map(
            |(body, status, nonce, verification_nonce, flip_complete, drop_field, truncate)| {
                Action::Answer {
                    body: body.index(bodies().len()),
                    status,
                    nonce,
                    verification_nonce,
                    flip_complete,
                    drop_field,
                    truncate,
                }
            },
        );
    prop_oneof![
        30 => (any::<prop::sample::Index>(), proptest::bool::weighted(0.1))
            .prop_map(|(pick, keep)| Action::Plausible(pick, keep)),
        6 => answer,
        1 => (proptest::collection::vec(any::<u8>(), 0..64), 100u16..600)
            .prop_map(|(bytes, status)| Action::Garbage(bytes, status)),
        6 => Just(Action::Submit),
        4 => Just(Action::SubmitVerification),
        1 => Just(Action::Cancel),
        1 => Just(Action::CancelVerification),
        1 => Just(Action::Refresh),
        2 => (0u8..3, any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(how, pick, cut)| Action::RequestFailed(how, pick, cut)),
        1 => Just(Action::Stray),
        2 => any::<bool>().prop_map(Action::Otp),
    ]
}

/// The first bytes of an answer, as a stack keeps them when the connection breaks.
fn cut_answer(status: StatusCode, body: &[u8], cut: prop::sample::Index) -> PartialResponse {
    let kept = cut.index(body.len() + 1);
    PartialResponse::new(status, SecretBytes::new(&body[..kept]))
}

fn delivery(how: u8, partial: &PartialResponse) -> Delivery<'_> {
    match how {
        0 => Delivery::NotSent,
        1 => Delivery::Unknown,
        _ => Delivery::Cut(partial),
    }
}

/// The body of an `Answer`, mutated as asked.
fn answer_body(action: &Action) -> (StatusCode, Vec<u8>) {
    let Action::Answer {
        body,
        status,
        nonce,
        verification_nonce,
        flip_complete,
        drop_field,
        truncate,
    } = action
    else {
        unreachable!("only answers have bodies")
    };
    let (captured_status, text) = &bodies()[*body];
    let status = status.map_or(*captured_status, |i| STATUSES[i]);
    let mut bytes = match serde_json::from_str::<Value>(text) {
        Ok(mut value) => {
            mutate(
                &mut value,
                *nonce,
                *verification_nonce,
                *flip_complete,
                *drop_field,
            );
            if let Some(data) = value.get_mut("data") {
                mutate(
                    data,
                    *nonce,
                    *verification_nonce,
                    *flip_complete,
                    *drop_field,
                );
            }
            serde_json::to_vec(&value).expect("JSON")
        }
        Err(_) => text.as_bytes().to_vec(),
    };
    if let Some(cut) = truncate {
        bytes.truncate(*cut);
    }
    (StatusCode::from_u16(status).expect("a status"), bytes)
}

fn mutate(
    value: &mut Value,
    nonce: Option<usize>,
    verification_nonce: Option<usize>,
    flip_complete: bool,
    drop_field: Option<usize>,
) {
    let Some(map) = value.as_object_mut() else {
        return;
    };
    if let Some(i) = nonce {
        if map.contains_key("nonce") {
            map.insert("nonce".into(), Value::from(NONCES[i]));
        }
    }
    if let Some(i) = verification_nonce {
        map.insert("verification_nonce".into(), Value::from(NONCES[i]));
    }
    if flip_complete {
        let complete = map
            .get("complete")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        map.insert("complete".into(), Value::from(!complete));
    }
    if let Some(i) = drop_field {
        if let Some(key) = map.keys().nth(i).cloned() {
            map.remove(&key);
        }
    }
}

fn request_nonce(request: &Request<Bytes>) -> Option<String> {
    let body: Value = serde_json::from_slice(request.body()).ok()?;
    body.get("nonce")?.as_str().map(str::to_string)
}

#[derive(Debug, Clone)]
enum RekeySetup {
    Start { verify: bool },
    Resume { require: Option<usize> },
}

fn rekey_setup() -> impl Strategy<Value = (RekeySetup, bool, bool)> {
    (
        prop_oneof![
            any::<bool>().prop_map(|verify| RekeySetup::Start { verify }),
            proptest::option::of(0..NONCES.len())
                .prop_map(|require| RekeySetup::Resume { require }),
        ],
        any::<bool>(),
        any::<bool>(),
    )
}

fn check_rekey_request(rekey: &RekeyCeremony, request: &Request<Bytes>, required: Option<&str>) {
    let path = request.uri().path();
    let pinned = rekey.nonce();
    if let (Some(required), Some(pinned)) = (required, pinned) {
        assert_eq!(
            required, pinned,
            "pinned a nonce other than the required one"
        );
    }
    if path.ends_with("/update") {
        let pinned = pinned.expect("a share is sent only under a pinned nonce");
        assert_eq!(request_nonce(request).as_deref(), Some(pinned));
        assert!(matches!(rekey.phase(), RekeyPhase::CollectingShares));
    } else if path.ends_with("/verify") && request.method() == Method::PUT {
        assert!(pinned.is_some(), "verification only inside a pinned rekey");
        assert_eq!(
            request_nonce(request).as_deref(),
            rekey.verification_nonce(),
            "a verification share only under the current verification nonce"
        );
        assert_eq!(rekey.phase(), RekeyPhase::Verifying);
    } else if path.ends_with("/init") && request.method() == Method::DELETE {
        if pinned.is_some() {
            assert_eq!(request_nonce(request).as_deref(), pinned);
        } else {
            // Only the rekey found after a lost start, on the caller's word.
            assert_eq!(rekey.phase(), RekeyPhase::Aborted);
        }
    }
}

fn run_rekey(setup: RekeySetup, dialect: bool, recovery: bool, actions: Vec<Action>) {
    let target = target(if dialect {
        Dialect::OpenBao
    } else {
        Dialect::Vault
    });
    let kind = if recovery {
        KeyKind::Recovery
    } else {
        KeyKind::Unseal
    };
    let required = match &setup {
        RekeySetup::Resume { require: Some(i) } => Some(NONCES[*i]).filter(|n| !n.is_empty()),
        _ => None,
    };
    let started_here = matches!(setup, RekeySetup::Start { .. });
    let mut rekey = match setup {
        RekeySetup::Start { verify } => RekeyCeremony::start(
            StartRekey::new(3, 2)
                .require_verification(verify)
                .kind(kind),
        ),
        RekeySetup::Resume { .. } => {
            let ceremony = RekeyCeremony::resume(kind);
            match required {
                Some(nonce) => ceremony.require_nonce(nonce),
                None => ceremony,
            }
        }
    };
    let mut first_pinned: Option<String> = None;
    let mut kept: Option<Vec<String>> = None;
    let mut share = 0u32;
    let mut outstanding = false;
    let mut last_request = (Method::GET, String::new());
    for action in actions {
        if !outstanding {
            let terminal = matches!(rekey.phase(), RekeyPhase::Done | RekeyPhase::Cancelled);
            let aborted = rekey.phase() == RekeyPhase::Aborted;
            if let Ok(Some(request)) = rekey.poll(&target).map(Next::into_request) {
                assert!(!terminal, "a request after the ceremony ended");
                if aborted {
                    assert_eq!(
                        request.method(),
                        Method::DELETE,
                        "only a cancel once aborted"
                    );
                }
                check_rekey_request(&rekey, &request, required);
                last_request = (request.method().clone(), request.uri().path().to_string());
                outstanding = true;
            }
        }
        match &action {
            Action::Answer { .. } | Action::Garbage(..) | Action::Plausible(..) => {
                let (status, body) = match &action {
                    Action::Garbage(bytes, status) => (
                        StatusCode::from_u16(*status).expect("a status"),
                        bytes.clone(),
                    ),
                    Action::Plausible(pick, keep) => plausible(
                        *pick,
                        *keep,
                        &last_request,
                        rekey.nonce().or(required),
                        rekey.verification_nonce(),
                    ),
                    _ => answer_body(&action),
                };
                if outstanding {
                    outstanding = false;
                    let event = rekey.handle_response(status, &body);
                    if matches!(event, Ok(RekeyEvent::Rekeyed)) {
                        assert!(rekey.result().is_some(), "rekeyed without the new shares");
                    }
                    if matches!(event, Ok(RekeyEvent::Verified)) {
                        assert_eq!(rekey.verification(), Verification::Verified);
                    }
                    if let Err(Error::Ceremony(CeremonyError::ForeignNonce { .. })) = &event {
                        assert_eq!(rekey.phase(), RekeyPhase::Aborted);
                    }
                } else {
                    assert!(rekey.handle_response(status, &body).is_err());
                }
            }
            Action::Submit => {
                share += 1;
                let _ = rekey.submit_share(KeyShare::new(format!("{share:066x}")));
            }
            Action::SubmitVerification => {
                share += 1;
                let _ = rekey.submit_verification_share(KeyShare::new(format!("{share:066x}")));
            }
            Action::Cancel => {
                let _ = rekey.cancel();
            }
            Action::CancelVerification => {
                let _ = rekey.cancel_verification();
            }
            Action::Refresh => {
                let _ = rekey.refresh();
            }
            Action::RequestFailed(how, pick, cut) => {
                if outstanding {
                    outstanding = false;
                    let (status, body) = plausible(
                        *pick,
                        true,
                        &last_request,
                        rekey.nonce().or(required),
                        rekey.verification_nonce(),
                    );
                    let partial = cut_answer(status, &body, *cut);
                    rekey.request_failed(delivery(*how, &partial));
                }
            }
            Action::Stray => {
                if !outstanding {
                    assert!(matches!(
                        rekey.handle_response(StatusCode::OK, b"{}"),
                        Err(Error::Ceremony(CeremonyError::NothingOutstanding))
                    ));
                }
            }
            Action::Otp(_) => {}
        }
        assert_eq!(rekey.awaiting_response(), outstanding);
        if let Some(nonce) = rekey.nonce() {
            let first = first_pinned.get_or_insert_with(|| nonce.to_string());
            assert_eq!(first, nonce, "the pinned nonce changed");
        }
        if let Some(keys) = &kept {
            let now: Vec<String> = rekey
                .result()
                .expect("a result is never lost")
                .keys
                .iter()
                .map(|k| k.expose().to_string())
                .collect();
            assert_eq!(&now, keys, "the result changed");
        } else if let Some(result) = rekey.result() {
            // Only an auto-unseal server's root-key rotation completes without shares.
            assert!(!result.keys.is_empty() || kind == KeyKind::Unseal);
            kept = Some(result.keys.iter().map(|k| k.expose().to_string()).collect());
        }
        if started_here && matches!(rekey.phase(), RekeyPhase::Verifying | RekeyPhase::Done) {
            assert!(rekey.result().is_some(), "completion without its result");
        }
        if rekey.phase() == RekeyPhase::Done {
            assert_ne!(rekey.verification(), Verification::Pending);
        }
        let _ = (rekey.progress(), rekey.required(), rekey.status());
    }
}

#[derive(Debug, Clone)]
enum RootSetup {
    Start(u8),
    Resume { require: Option<usize>, otp: bool },
}

fn root_setup() -> impl Strategy<Value = (RootSetup, bool, bool)> {
    (
        prop_oneof![
            (0u8..4).prop_map(RootSetup::Start),
            (proptest::option::of(0..NONCES.len()), any::<bool>())
                .prop_map(|(require, otp)| RootSetup::Resume { require, otp }),
        ],
        any::<bool>(),
        any::<bool>(),
    )
}

fn run_root(setup: RootSetup, dialect: bool, recovery: bool, actions: Vec<Action>) {
    let target = target(if dialect {
        Dialect::OpenBao
    } else {
        Dialect::Vault
    });
    let kind = if recovery {
        TokenKind::Recovery
    } else {
        TokenKind::Root
    };
    let otp = Otp::new("abcdefghijklmnopqrstuvwxyz");
    let required = match &setup {
        RootSetup::Resume {
            require: Some(i), ..
        } => Some(NONCES[*i]).filter(|n| !n.is_empty()),
        _ => None,
    };
    let mut generation = match setup {
        RootSetup::Start(0) => RootTokenCeremony::start(kind, TokenProtection::ServerOtp),
        RootSetup::Start(1) => RootTokenCeremony::start(kind, TokenProtection::Otp(otp.clone())),
        RootSetup::Start(2) => RootTokenCeremony::start(kind, TokenProtection::GenerateOtp),
        RootSetup::Start(_) => {
            // A key the core cannot read without `pgp`, pinned by the fingerprint the
            // captured PGP generation carries.
            RootTokenCeremony::start(kind, TokenProtection::PgpKey("bWVudGlvbg==".into()))
                .require_fingerprint("424be52f3e6d21911b2ff0ec27fa7488d7d92e4f")
        }
        RootSetup::Resume { otp: with_otp, .. } => {
            let ceremony = RootTokenCeremony::resume(kind, with_otp.then(|| otp.clone()));
            match required {
                Some(nonce) => ceremony.require_nonce(nonce),
                None => ceremony,
            }
        }
    };
    let mut first_pinned: Option<String> = None;
    let mut kept: Option<String> = None;
    let mut share = 0u32;
    let mut outstanding = false;
    let mut last_request = (Method::GET, String::new());
    for action in actions {
        if !outstanding {
            let terminal = matches!(
                generation.phase(),
                RootTokenPhase::Done | RootTokenPhase::Cancelled
            );
            let aborted = generation.phase() == RootTokenPhase::Aborted;
            if let Ok(Some(request)) = generation.poll(&target).map(Next::into_request) {
                assert!(!terminal, "a request after the ceremony ended");
                if aborted {
                    assert_eq!(
                        request.method(),
                        Method::DELETE,
                        "only a cancel once aborted"
                    );
                }
                if request.uri().path().ends_with("/update") {
                    let pinned = generation
                        .nonce()
                        .expect("a share only under a pinned nonce");
                    assert_eq!(request_nonce(&request).as_deref(), Some(pinned));
                    if let Some(required) = required {
                        assert_eq!(pinned, required);
                    }
                }
                last_request = (request.method().clone(), request.uri().path().to_string());
                outstanding = true;
            }
        }
        match &action {
            Action::Answer { .. } | Action::Garbage(..) | Action::Plausible(..) => {
                let (status, body) = match &action {
                    Action::Garbage(bytes, status) => (
                        StatusCode::from_u16(*status).expect("a status"),
                        bytes.clone(),
                    ),
                    Action::Plausible(pick, keep) => plausible(
                        *pick,
                        *keep,
                        &last_request,
                        generation.nonce().or(required),
                        None,
                    ),
                    _ => answer_body(&action),
                };
                if outstanding {
                    outstanding = false;
                    let event = generation.handle_response(status, &body);
                    if matches!(event, Ok(RootTokenEvent::Generated)) {
                        assert!(generation.result().is_some(), "generated without the token");
                    }
                } else {
                    assert!(generation.handle_response(status, &body).is_err());
                }
            }
            Action::Submit | Action::SubmitVerification => {
                share += 1;
                let _ = generation.submit_share(KeyShare::new(format!("{share:066x}")));
            }
            Action::Cancel => {
                let _ = generation.cancel();
            }
            Action::Refresh | Action::CancelVerification => {
                let _ = generation.refresh();
            }
            Action::RequestFailed(how, pick, cut) => {
                if outstanding {
                    outstanding = false;
                    let (status, body) = plausible(
                        *pick,
                        true,
                        &last_request,
                        generation.nonce().or(required),
                        None,
                    );
                    let partial = cut_answer(status, &body, *cut);
                    generation.request_failed(delivery(*how, &partial));
                }
            }
            Action::Stray => {
                if !outstanding {
                    assert!(generation.handle_response(StatusCode::OK, b"{}").is_err());
                }
            }
            Action::Otp(generate) => {
                if *generate {
                    let mut source = |buf: &mut [u8]| buf.fill(7);
                    let _ = generation.generate_otp(&mut source);
                } else {
                    let _ = generation.provide_otp(otp.clone());
                }
            }
        }
        assert_eq!(generation.awaiting_response(), outstanding);
        if let Some(nonce) = generation.nonce() {
            let first = first_pinned.get_or_insert_with(|| nonce.to_string());
            assert_eq!(first, nonce, "the pinned nonce changed");
        }
        if let Some(token) = &kept {
            let now = generation.encoded_token().expect("a result is never lost");
            assert_eq!(now.expose(), token);
        } else if let Some(token) = generation.encoded_token() {
            assert!(!token.is_empty());
            kept = Some(token.expose().to_string());
        }
        if generation.phase() == RootTokenPhase::Done {
            assert!(
                generation.result().is_some(),
                "completion without its token"
            );
        }
        let _ = (
            generation.progress(),
            generation.required(),
            generation.decode_token(),
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn rekey_survives_any_answers(
        (setup, dialect, recovery) in rekey_setup(),
        actions in proptest::collection::vec(action(), 0..60),
    ) {
        run_rekey(setup, dialect, recovery, actions);
    }

    #[test]
    fn root_token_survives_any_answers(
        (setup, dialect, recovery) in root_setup(),
        actions in proptest::collection::vec(action(), 0..60),
    ) {
        run_root(setup, dialect, recovery, actions);
    }
}

/// Real answers in the order a real ceremony gets them, but with a foreign nonce spliced in
/// at every possible position: the ceremony aborts there, and sends no share afterwards.
#[test]
fn a_foreign_nonce_anywhere_stops_the_shares() {
    let capture = Capture::load();
    let flow = [345, 346, 347, 348];
    let target = target(Dialect::OpenBao);
    for at in 1..flow.len() {
        let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2));
        rekey
            .submit_shares((0..3).map(|i| KeyShare::new(format!("{i:066x}"))))
            .unwrap();
        for (step, &c) in flow.iter().enumerate() {
            let Some(request) = rekey.poll(&target).map(Next::into_request).unwrap() else {
                assert!(step > at, "stopped early at {step}");
                break;
            };
            if step > at {
                panic!("sent {} after the foreign nonce", request.uri());
            }
            let mut body = capture.row(c).body;
            if step == at {
                body = body.replace("e3598a44-5a49-d5ab-c27e-e871724e4507", "someone-else");
            }
            let result = rekey.handle_response(StatusCode::OK, body.as_bytes());
            if step == at {
                assert!(matches!(
                    result,
                    Err(Error::Ceremony(CeremonyError::ForeignNonce { .. }))
                ));
                assert_eq!(rekey.phase(), RekeyPhase::Aborted);
            }
        }
        assert!(rekey
            .poll(&target)
            .map(Next::into_request)
            .unwrap()
            .is_none());
    }
}
