//! Cost of the core's work per exchange, against a baseline measured in the same run.
//!
//! Parsing: decoding a real captured answer into its typed value, against the least any JSON
//! client does (`serde_json::from_slice` into a `serde_json::Value`). Building: an operation's
//! whole `http::Request`, against `http::Request::builder()` with a body serialised by
//! `serde_json::to_vec`. Hostile answers: 4 MiB bodies of the shapes that cost most (nested a
//! hundred thousand levels deep, a million fields, one string that never ends), fed to a rekey
//! as the cut or undecodable answer to its completing share, against one `serde_json` parse of
//! the same bytes. Run with `cargo bench -p vault-key-core`; it prints nanoseconds per call, the
//! ratio to the baseline, and the allocations per call of both.

use bytes::Bytes;
use http::StatusCode;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::hint::black_box;
use std::time::{Duration, Instant};
use vault_key_core::ceremony::{Next, RekeyCeremony};
use vault_key_core::ops::encryption_key::GetEncryptionKeyStatus;
use vault_key_core::ops::generate_root::GenerateRoot;
use vault_key_core::ops::rekey::{Rekey, StartRekey};
use vault_key_core::ops::seal::ReadSealStatus;
use vault_key_core::{
    Delivery, Dialect, KeyShare, Operation, PartialResponse, SecretBytes, Target, Token,
};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations made by one call of `f` (after a first call, which may fill caches).
fn allocations(mut f: impl FnMut()) -> usize {
    f();
    let region = Region::new(GLOBAL);
    f();
    region.change().allocations
}

/// Runs `f` repeatedly for about `budget` and returns nanoseconds per call (best of 5 rounds).
fn time_per_call(budget: Duration, mut f: impl FnMut()) -> f64 {
    let mut calls = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..calls {
            f();
        }
        if start.elapsed() >= budget / 10 {
            break;
        }
        calls *= 2;
    }
    (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..calls {
                f();
            }
            start.elapsed().as_nanos() as f64 / calls as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// A captured answer: its status, and its body as the server sent it (the fixture's fields in
/// their order, without the fixture's indentation).
fn fixture(name: &str) -> (StatusCode, Bytes) {
    #[derive(serde::Deserialize)]
    struct File<'a> {
        status: u16,
        #[serde(borrow)]
        body: &'a serde_json::value::RawValue,
    }
    let path = format!(
        "{}/tests/fixtures/ops/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let file: File<'_> = serde_json::from_str(&text).expect("fixture is JSON");
    let status = StatusCode::from_u16(file.status).expect("a valid status");
    (status, Bytes::from(compact(file.body.get())))
}

/// `json` without whitespace outside strings.
fn compact(json: &str) -> Vec<u8> {
    let (mut out, mut in_string, mut escaped) = (Vec::with_capacity(json.len()), false, false);
    for &b in json.as_bytes() {
        if in_string {
            in_string = escaped || b != b'"';
            escaped = !escaped && b == b'\\';
        } else if b == b'"' {
            in_string = true;
        } else if b.is_ascii_whitespace() {
            continue;
        }
        out.push(b);
    }
    out
}

/// One measurement: time per call and allocations per call, ours and the baseline's.
struct Measured {
    ns: f64,
    allocations: usize,
}

fn measure(budget: Duration, mut f: impl FnMut()) -> Measured {
    Measured {
        allocations: allocations(&mut f),
        ns: time_per_call(budget, f),
    }
}

fn row(name: &str, ours: Measured, baseline: Measured) {
    println!(
        "{name:<46} {:>9.0} ns {:>9.0} ns {:>7.2}x {:>7} {:>9}",
        ours.ns,
        baseline.ns,
        ours.ns / baseline.ns,
        ours.allocations,
        baseline.allocations,
    );
}

fn parse<O: Operation>(name: &str, fixture_name: &str, op: &O, budget: Duration) {
    let (status, body) = fixture(fixture_name);
    op.parse(status, &body).expect("the fixture parses");
    let ours = measure(budget, || {
        black_box(op.parse(black_box(status), black_box(&body)).ok());
    });
    let baseline = measure(budget, || {
        black_box(serde_json::from_slice::<serde_json::Value>(black_box(&body)).ok());
    });
    row(&format!("parse {name} ({} B)", body.len()), ours, baseline);
}

/// The transports' cap on an answer's body.
const CAP: usize = 4 << 20;

/// Bodies of the transports' cap in the shapes that cost most.
fn hostile_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let fill = |head: &[u8], unit: &[u8]| {
        let mut body = head.to_vec();
        while body.len() + unit.len() <= CAP {
            body.extend_from_slice(unit);
        }
        body
    };
    vec![
        ("{\"data\": nested", fill(b"", b"{\"data\":")),
        ("[ nested in keys", fill(b"{\"keys\":", b"[")),
        ("a million fields", fill(b"{", b"\"f\":1,")),
        ("the same known field", fill(b"{", b"\"keys\":7,")),
        ("one string", fill(b"{\"keys\":[\"", b"ab")),
        ("garbage", fill(b"", b"\x00\xff}]\"\\")),
    ]
}

/// A rekey whose completing share is in flight.
fn rekey_in_flight(target: &Target) -> RekeyCeremony {
    const STARTED: &[u8] =
        br#"{"data":{"n":3,"nonce":"n","progress":1,"required":2,"started":true,"t":2}}"#;
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2));
    let start = rekey.poll(target).expect("a start");
    assert!(matches!(start, Next::Send(_)));
    rekey
        .handle_response(StatusCode::OK, STARTED)
        .expect("started");
    rekey
        .submit_share(KeyShare::new("f50240c8"))
        .expect("a share");
    let share = rekey.poll(target).expect("the share");
    assert!(matches!(share, Next::Send(_)));
    rekey
}

/// What a hostile answer to the completing share costs, cut (the connection closed) and whole
/// (undecodable), against one untyped parse of the same bytes.
fn hostile(name: &str, body: &[u8], target: &Target, budget: Duration) {
    let partial = PartialResponse::new(StatusCode::OK, SecretBytes::new(body));
    let baseline = || {
        black_box(serde_json::from_slice::<serde_json::Value>(black_box(body)).ok());
    };
    let cut = measure(budget, || {
        let mut rekey = rekey_in_flight(target);
        rekey.request_failed(Delivery::Cut(black_box(&partial)));
        black_box(rekey.poll(target).ok());
    });
    row(
        &format!("cut 4 MiB: {name}"),
        cut,
        measure(budget, baseline),
    );
    let whole = measure(budget, || {
        let mut rekey = rekey_in_flight(target);
        black_box(rekey.handle_response(StatusCode::OK, black_box(body)).ok());
        black_box(rekey.poll(target).ok());
    });
    row(
        &format!("whole 4 MiB: {name}"),
        whole,
        measure(budget, baseline),
    );
}

/// `baseline_body`: the JSON body the baseline serialises, `None` for a `GET` without one.
fn build<O: Operation>(
    name: &str,
    op: &O,
    baseline_body: Option<serde_json::Value>,
    target: &Target,
    budget: Duration,
) {
    let uri = op.request(target).expect("valid input").uri().to_string();
    let ours = measure(budget, || {
        black_box(op.request(black_box(target)).ok());
    });
    let baseline = measure(budget, || {
        let (method, body) = match &baseline_body {
            Some(json) => ("PUT", serde_json::to_vec(json).expect("serialises")),
            None => ("GET", Vec::new()),
        };
        black_box(
            http::Request::builder()
                .method(method)
                .uri(uri.as_str())
                .header("X-Vault-Token", "s.token")
                .body(Bytes::from(body))
                .ok(),
        );
    });
    row(&format!("build {name}"), ours, baseline);
}

fn main() {
    let budget = if std::env::args().any(|a| a == "--quick") {
        Duration::from_millis(20)
    } else {
        Duration::from_millis(300)
    };
    println!(
        "{:<46} {:>12} {:>12} {:>8} {:>7} {:>9}",
        "what", "vault-key", "baseline", "ratio", "allocs", "baseline"
    );
    let share = KeyShare::new("f50240c84a1af2c46e443c815bc960e46fe3c8e3e3f63700de2bfee9e9e53098e5");
    parse(
        "rekey completion, PGP (legacy)",
        "legacy_rekey_update_complete_pgp",
        &Rekey::new(share.clone(), "n"),
        budget,
    );
    parse(
        "rekey completion (OpenBao envelope)",
        "openbao_rotate_root_update_complete",
        &Rekey::new(share.clone(), "n"),
        budget,
    );
    parse(
        "root generation progress",
        "legacy_generate_root_update_progress",
        &GenerateRoot::new(share.clone(), "n"),
        budget,
    );
    parse(
        "seal status",
        "seal_status_unsealed",
        &ReadSealStatus,
        budget,
    );
    parse(
        "key status (envelope)",
        "key_status",
        &GetEncryptionKeyStatus,
        budget,
    );
    let target = Target::new("http://127.0.0.1:8200")
        .expect("valid address")
        .with_token(Token::new("s.token"))
        .with_dialect(Dialect::OpenBao);
    build("key status", &GetEncryptionKeyStatus, None, &target, budget);
    build(
        "rekey share submission",
        &Rekey::new(share.clone(), "n"),
        Some(serde_json::json!({"key": share.expose(), "nonce": "n"})),
        &target,
        budget,
    );
    build(
        "start rekey",
        &StartRekey::new(5, 3),
        Some(
            serde_json::json!({"secret_shares": 5, "secret_threshold": 3, "backup": false,
            "require_verification": false}),
        ),
        &target,
        budget,
    );
    for (name, body) in hostile_bodies() {
        hostile(name, &body, &target, budget);
    }
}
