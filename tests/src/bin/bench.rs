//! How fast the two clients are against the raw HTTP stacks they are built on, measured in one run against a local
//! OpenBao that the harness starts: `GET sys/key-status` with a token. The async client runs sequentially on a
//! current-thread runtime and on a two-worker one (what `#[tokio::main]` gives), and with 32 requests in flight;
//! its baseline is a raw hyper-util pooled client, measured twice: sending the token alone, as a user of plain hyper
//! writes it, and sending the same headers as ours (the server does measurably more with them), so that one ratio
//! says what a user sees and the other what the client itself costs. The blocking client runs sequentially and from
//! 8 threads sharing one client, against raw ureq; and, when pip can install it into a venv under `target/`, the
//! Python client hvac. Rounds rotate the order within each mode; every ratio is given two ways, the median of the
//! per-round ratios and the ratio of the median rates, which differ as much as the rounds scatter. Client CPU per
//! request is this process's CPU time over a run (the server is another process). Then allocations per request (a
//! counting allocator), resident memory across 100,000 requests, and a whole 5-share rekey with verification and a
//! root-token generation (client CPU time against wall time).
//!
//! `cargo run --release -p vault-key-tests --bin bench [-- --quick]`; the last line is the summary.

use std::alloc::System;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use bytes::Bytes;
use http::header::{HeaderValue, USER_AGENT};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperPool;
use hyper_util::rt::TokioExecutor;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use vault_key_core::ceremony::{
    Next, RekeyCeremony, RekeyPhase, RootTokenCeremony, RootTokenPhase, TokenProtection,
};
use vault_key_core::ops::generate_root::TokenKind;
use vault_key_core::ops::rekey::StartRekey;
use vault_key_core::{Dialect, KeyShare};
use vault_key_tests::server::Server;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// How much work each measurement does.
#[derive(Clone, Copy)]
struct Sizes {
    sequential: usize,
    concurrent: usize,
    rounds: usize,
    memory: usize,
}

const FULL: Sizes = Sizes {
    sequential: 2000,
    concurrent: 4000,
    rounds: 15,
    memory: 100_000,
};
const QUICK: Sizes = Sizes {
    sequential: 300,
    concurrent: 640,
    rounds: 1,
    memory: 2_000,
};
const IN_FLIGHT: usize = 32;
const THREADS: usize = 8;
const PATH: &str = "/v1/sys/key-status";

/// Which headers a raw request carries.
#[derive(Clone, Copy)]
enum Headers {
    /// The token alone: what a comparison against plain hyper sends.
    Token,
    /// The token, `X-Vault-Request` and vault-key's `User-Agent`, as our clients send: a ratio
    /// to this baseline measures the client's own work alone.
    Ours,
}

/// Everything the measurements talk to.
struct Bench {
    url: String,
    token: String,
    /// A current-thread runtime: one thread that drives the connections as it waits, the
    /// fastest way to run one request after another.
    current: Hyper,
    /// Two worker threads, one per core, as `#[tokio::main]` sets up on this machine.
    workers: Hyper,
    raw_ureq: ureq::Agent,
    ours_ureq: vault_key_ureq::Client,
    hvac: Option<PathBuf>,
}

/// A runtime and both hyper clients on it (a pool's connections live on the runtime that made
/// them).
struct Hyper {
    runtime: tokio::runtime::Runtime,
    raw: RawPool,
    ours: vault_key_hyper::Client,
}

type RawPool = HyperPool<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

impl Hyper {
    fn new(runtime: tokio::runtime::Runtime, address: &str, token: &str) -> Hyper {
        let _inside = runtime.enter();
        let ours = vault_key_hyper::Client::builder()
            .address(address)
            .token(token)
            .dialect(Dialect::OpenBao)
            .build()
            .expect("hyper client");
        // As a careful user configures it: no Nagle delay on a request-response protocol.
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        let raw = HyperPool::builder(TokioExecutor::new()).build(connector);
        drop(_inside);
        Hyper { runtime, raw, ours }
    }
}

/// What a raw client sends, from parts parsed once.
#[derive(Clone)]
struct RawRequest {
    uri: http::Uri,
    token: HeaderValue,
    headers: Headers,
}

impl RawRequest {
    fn build(&self) -> http::Request<Full<Bytes>> {
        let request = http::Request::get(self.uri.clone()).header("X-Vault-Token", &self.token);
        let request = match self.headers {
            Headers::Token => request,
            Headers::Ours => request.header("X-Vault-Request", "true").header(
                USER_AGENT,
                HeaderValue::from_static(vault_key_core::transport::config::USER_AGENT),
            ),
        };
        request.body(Full::new(Bytes::new())).expect("a request")
    }

    /// One exchange on plain hyper: the request sent, the answer's body drained.
    async fn send(&self, pool: &RawPool) {
        let response = pool.request(self.build()).await.expect("raw hyper answer");
        assert!(response.status().is_success());
        response
            .into_body()
            .collect()
            .await
            .expect("raw hyper body");
    }
}

impl Bench {
    fn raw_request(&self, headers: Headers) -> RawRequest {
        RawRequest {
            uri: self.url.parse().expect("the URL"),
            token: HeaderValue::from_str(&self.token).expect("the token"),
            headers,
        }
    }

    fn raw_ureq_once(&self) {
        let mut response = self
            .raw_ureq
            .get(&self.url)
            .header("X-Vault-Token", &self.token)
            .header("X-Vault-Request", "true")
            .header("User-Agent", vault_key_core::transport::config::USER_AGENT)
            .call()
            .expect("raw ureq answer");
        response.body_mut().read_to_vec().expect("raw ureq body");
    }
}

/// Requests per second for `n` requests done by `work`.
fn rate(n: usize, work: impl FnOnce()) -> f64 {
    let started = Instant::now();
    work();
    n as f64 / started.elapsed().as_secs_f64()
}

/// `n` raw hyper requests one after another, from the runtime's `block_on` (where
/// `#[tokio::main]` runs its body).
fn raw_hyper(on: &Hyper, request: RawRequest, n: usize) -> f64 {
    rate(n, || {
        on.runtime.block_on(async {
            for _ in 0..n {
                request.send(&on.raw).await;
            }
        })
    })
}

fn ours_hyper(on: &Hyper, n: usize) -> f64 {
    rate(n, || {
        on.runtime.block_on(async {
            for _ in 0..n {
                on.ours
                    .get_encryption_key_status()
                    .await
                    .expect("key status");
            }
        })
    })
}

/// `n` raw hyper requests from 32 tasks.
fn raw_hyper_32(on: &Hyper, request: RawRequest, n: usize) -> f64 {
    rate(n, || {
        on.runtime.block_on(async {
            let tasks: Vec<_> = (0..IN_FLIGHT)
                .map(|_| {
                    let (pool, request) = (on.raw.clone(), request.clone());
                    tokio::spawn(async move {
                        for _ in 0..n / IN_FLIGHT {
                            request.send(&pool).await;
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("task");
            }
        })
    })
}

fn ours_hyper_32(on: &Hyper, n: usize) -> f64 {
    rate(n, || {
        on.runtime.block_on(async {
            let tasks: Vec<_> = (0..IN_FLIGHT)
                .map(|_| {
                    let client = on.ours.clone();
                    tokio::spawn(async move {
                        for _ in 0..n / IN_FLIGHT {
                            client
                                .get_encryption_key_status()
                                .await
                                .expect("key status");
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("task");
            }
        })
    })
}

fn raw_ureq(bench: &Bench, n: usize) -> f64 {
    rate(n, || (0..n).for_each(|_| bench.raw_ureq_once()))
}

fn ours_ureq(bench: &Bench, n: usize) -> f64 {
    rate(n, || {
        for _ in 0..n {
            bench
                .ours_ureq
                .get_encryption_key_status()
                .expect("key status");
        }
    })
}

fn raw_ureq_8(bench: &Bench, n: usize) -> f64 {
    rate(n, || {
        std::thread::scope(|scope| {
            for _ in 0..THREADS {
                scope.spawn(|| (0..n / THREADS).for_each(|_| bench.raw_ureq_once()));
            }
        })
    })
}

fn ours_ureq_8(bench: &Bench, n: usize) -> f64 {
    rate(n, || {
        std::thread::scope(|scope| {
            for _ in 0..THREADS {
                scope.spawn(|| {
                    for _ in 0..n / THREADS {
                        bench
                            .ours_ureq
                            .get_encryption_key_status()
                            .expect("key status");
                    }
                });
            }
        })
    })
}

/// Requests per second for `n` requests.
type Measure = Box<dyn Fn(&Bench, usize) -> f64>;

/// One measurement: its name, what it does (requests per second for `n` requests), how many,
/// and the baselines its ratios are to.
struct Run {
    name: &'static str,
    measure: Measure,
    n: usize,
    bases: &'static [&'static str],
    /// Whether this process's CPU time over the run is the client's alone: not for hvac (a
    /// process of its own) nor for the threads of a scope, whose time leaves with them.
    cpu: bool,
}

/// The measurements, in groups that a round runs back to back.
fn runs(sizes: Sizes) -> Vec<Vec<Run>> {
    const RAW: &str = "raw hyper";
    const RAW_OURS: &str = "raw hyper, our headers";
    const RAW_W: &str = "raw hyper, two workers";
    const RAW_OURS_W: &str = "raw hyper, our headers, two workers";
    const RAW_32: &str = "raw hyper, 32 in flight";
    const RAW_OURS_32: &str = "raw hyper, our headers, 32 in flight";
    let (seq, conc) = (sizes.sequential, sizes.concurrent);
    let run = |name, n, bases, cpu, measure: Measure| Run {
        name,
        measure,
        n,
        bases,
        cpu,
    };
    vec![
        vec![
            run(
                RAW,
                seq,
                &[],
                true,
                Box::new(|b, n| raw_hyper(&b.current, b.raw_request(Headers::Token), n)),
            ),
            run(
                RAW_OURS,
                seq,
                &[RAW],
                true,
                Box::new(|b, n| raw_hyper(&b.current, b.raw_request(Headers::Ours), n)),
            ),
            run(
                "vault-key-hyper",
                seq,
                &[RAW, RAW_OURS],
                true,
                Box::new(|b, n| ours_hyper(&b.current, n)),
            ),
            run("raw ureq", seq, &[RAW], true, Box::new(raw_ureq)),
            run(
                "vault-key-ureq",
                seq,
                &[RAW, "raw ureq"],
                true,
                Box::new(ours_ureq),
            ),
            run("hvac (Python)", seq / 4, &[], false, Box::new(run_hvac)),
        ],
        vec![
            run(
                RAW_W,
                seq,
                &[],
                true,
                Box::new(|b, n| raw_hyper(&b.workers, b.raw_request(Headers::Token), n)),
            ),
            run(
                RAW_OURS_W,
                seq,
                &[RAW_W],
                true,
                Box::new(|b, n| raw_hyper(&b.workers, b.raw_request(Headers::Ours), n)),
            ),
            run(
                "vault-key-hyper, two workers",
                seq,
                &[RAW_W, RAW_OURS_W],
                true,
                Box::new(|b, n| ours_hyper(&b.workers, n)),
            ),
        ],
        vec![
            run(
                RAW_32,
                conc,
                &[],
                true,
                Box::new(|b, n| raw_hyper_32(&b.workers, b.raw_request(Headers::Token), n)),
            ),
            run(
                RAW_OURS_32,
                conc,
                &[RAW_32],
                true,
                Box::new(|b, n| raw_hyper_32(&b.workers, b.raw_request(Headers::Ours), n)),
            ),
            run(
                "vault-key-hyper, 32 in flight",
                conc,
                &[RAW_32, RAW_OURS_32],
                true,
                Box::new(|b, n| ours_hyper_32(&b.workers, n)),
            ),
        ],
        vec![
            run(
                "raw ureq, 8 threads",
                conc,
                &[],
                false,
                Box::new(raw_ureq_8),
            ),
            run(
                "vault-key-ureq, 8 threads",
                conc,
                &["raw ureq, 8 threads"],
                false,
                Box::new(ours_ureq_8),
            ),
        ],
    ]
}

fn run_hvac(bench: &Bench, n: usize) -> f64 {
    let Some(python) = &bench.hvac else {
        return f64::NAN;
    };
    let script = format!(
        "import hvac, time\nc = hvac.Client(url={url:?}, token={token:?})\nfor _ in range(50): c.sys.get_encryption_key_status()\nt = time.perf_counter()\nfor _ in range({n}): c.sys.get_encryption_key_status()\nprint({n} / (time.perf_counter() - t))\n",
        url = bench.url.trim_end_matches(PATH),
        token = bench.token,
    );
    let output = Command::new(python)
        .arg("-c")
        .arg(script)
        .output()
        .expect("run python");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or(f64::NAN)
}

/// A venv under `target/` with hvac, or why there is none.
fn hvac_python() -> Result<PathBuf, String> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-venv");
    let python = venv.join("bin/python");
    let ready = |python: &Path| {
        Command::new(python)
            .args(["-c", "import hvac"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if ready(&python) {
        return Ok(python);
    }
    let status = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .map_err(|e| format!("python3 -m venv: {e}"))?;
    if !status.success() {
        return Err(format!("python3 -m venv failed: {status}"));
    }
    let pip = Command::new(venv.join("bin/pip"))
        .args(["install", "-q", "hvac"])
        .status()
        .map_err(|e| format!("pip: {e}"))?;
    if !pip.success() || !ready(&python) {
        return Err(format!("pip install hvac failed: {pip}"));
    }
    Ok(python)
}

fn median(values: &[f64]) -> f64 {
    let mut values = values.to_vec();
    values.sort_by(|a, b| a.total_cmp(b));
    let middle = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    }
}

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4
}

/// CPU time a thread has used (its `schedstat`), in nanoseconds.
fn cpu_ns(schedstat: &Path) -> u64 {
    std::fs::read_to_string(schedstat)
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU time this thread has used, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    cpu_ns(Path::new("/proc/thread-self/schedstat"))
}

/// CPU time the threads of this process that are still running have used, in nanoseconds:
/// the client's whole cost, on whichever thread its runtime ran it, apart from the server's.
///
/// The sum over the threads alive now: a thread that exited during a run (a scope's, or a
/// runtime's idle blocking thread) takes its time with it, so the sum can fall; a run's CPU
/// is then counted from zero rather than wrapping around.
fn process_cpu_ns() -> u64 {
    std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .map(|task| cpu_ns(&task.path().join("schedstat")))
        .sum()
}

/// Allocations per request of `n` calls to `once`.
fn allocations(n: usize, once: impl Fn()) -> (f64, f64) {
    once();
    let region = Region::new(GLOBAL);
    for _ in 0..n {
        once();
    }
    let change = region.change();
    (
        change.allocations as f64 / n as f64,
        change.bytes_allocated as f64 / n as f64,
    )
}

fn ceremonies(server: &Server, client: &vault_key_ureq::Client) {
    let current: Vec<KeyShare> = server.keys().iter().map(KeyShare::new).collect();
    let threshold = server.threshold() as usize;
    let (wall, cpu) = (Instant::now(), thread_cpu_ns());
    let mut rekey = RekeyCeremony::start(StartRekey::new(5, 3));
    let phase = client
        .drive_rekey(&mut rekey, current[..threshold].to_vec())
        .expect("rekey");
    assert!(
        matches!(phase, Next::NeedVerificationShares { .. }),
        "{phase:?}"
    );
    let new = rekey.result().expect("new shares").keys.clone();
    let phase = client
        .drive_rekey_verification(&mut rekey, new[..3].to_vec())
        .expect("verify");
    assert!(phase.is_finished() && rekey.phase() == RekeyPhase::Done);
    report("5-share rekey with verification", wall, cpu);

    let (wall, cpu) = (Instant::now(), thread_cpu_ns());
    let mut generation = RootTokenCeremony::start(TokenKind::Root, TokenProtection::ServerOtp);
    let phase = client
        .drive_root_token(&mut generation, new[..3].to_vec())
        .expect("root generation");
    assert!(phase.is_finished() && generation.phase() == RootTokenPhase::Done);
    generation.decode_token().expect("decode");
    report("root-token generation (3 shares) and decode", wall, cpu);
}

fn report(what: &str, wall: Instant, cpu: u64) {
    let wall = wall.elapsed().as_secs_f64() * 1000.0;
    let cpu = (thread_cpu_ns() - cpu) as f64 / 1e6;
    println!(
        "{what}: {wall:.1} ms wall, {cpu:.2} ms client CPU ({:.1}%)",
        100.0 * cpu / wall
    );
}

fn main() -> ExitCode {
    let sizes = if std::env::args().any(|a| a == "--quick") {
        QUICK
    } else {
        FULL
    };
    if cfg!(debug_assertions) {
        println!(
            "bench: an unoptimised build; its figures say that it runs, not how fast \
             (cargo run --release -p vault-key-tests --bin bench)"
        );
    }
    let server = match Server::builder().start() {
        Ok(server) => server,
        Err(e) => {
            eprintln!("bench: no OpenBao server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let address = server.address();
    let token = server.root_token().to_string();
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let workers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let hvac = match hvac_python() {
        Ok(python) => Some(python),
        Err(why) => {
            println!("hvac: not measured ({why})");
            None
        }
    };
    let bench = Bench {
        url: format!("{address}{PATH}"),
        token: token.clone(),
        current: Hyper::new(current, &address, &token),
        workers: Hyper::new(workers, &address, &token),
        raw_ureq: ureq::Agent::new_with_defaults(),
        ours_ureq: vault_key_ureq::Client::builder()
            .address(address.clone())
            .token(token)
            .dialect(Dialect::OpenBao)
            .build()
            .expect("ureq client"),
        hvac,
    };

    let groups = runs(sizes);
    let all: Vec<&Run> = groups.iter().flatten().collect();
    // `--only NAME` measures the run of that name, and nothing else (for a profiler or
    // `strace -c`); `--only "A;B"` several, in that order.
    let args: Vec<String> = std::env::args().collect();
    if let Some(only) = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
    {
        for one in only.split(';') {
            for run in all.iter().filter(|r| r.name == one) {
                (run.measure)(&bench, run.n / 10 + 1);
                let before = process_cpu_ns();
                let rate = (run.measure)(&bench, run.n);
                let cpu = process_cpu_ns().saturating_sub(before) as f64 / run.n as f64 / 1000.0;
                println!(
                    "{}: {rate:.0} req/s, {cpu:.1} µs client CPU per request",
                    run.name
                );
            }
        }
        return ExitCode::SUCCESS;
    }
    // Warm-up: connections, pools and the venv's imports.
    for run in &all {
        (run.measure)(&bench, run.n / 10 + 1);
    }
    // Each round measures every run once, the runs of a group back to back. The order of the
    // groups and within each rotates from round to round, so that a ratio compares runs
    // seconds apart and no client always goes first.
    let verbose = args.iter().any(|a| a == "--verbose");
    let index = |name: &str| all.iter().position(|r| r.name == name).expect(name);
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); all.len()];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); all.len()];
    for round in 0..sizes.rounds {
        for group in 0..groups.len() {
            let members = &groups[(group + round) % groups.len()];
            for k in 0..members.len() {
                let run = &members[(k + round) % members.len()];
                let i = index(run.name);
                let before = process_cpu_ns();
                rates[i].push((run.measure)(&bench, run.n));
                cpu[i].push(process_cpu_ns().saturating_sub(before) as f64 / run.n as f64 / 1000.0);
                if verbose {
                    eprintln!(
                        "round {round}: {}: {:.0} req/s, {:.1} µs",
                        run.name, rates[i][round], cpu[i][round]
                    );
                }
            }
        }
    }
    // A ratio of `name` to `base`, both ways: the median of the rounds' ratios, and the ratio
    // of the median rates.
    let ratios = |name: &str, base: &str| {
        let (ours, theirs) = (&rates[index(name)], &rates[index(base)]);
        let per_round: Vec<f64> = ours.iter().zip(theirs).map(|(a, b)| a / b).collect();
        (median(&per_round), median(ours) / median(theirs))
    };
    let cpu_of = |name: &str| median(&cpu[index(name)]);
    println!(
        "\nGET sys/key-status, {} rounds: the median rate and client CPU per request of each run; \
         each ratio to a baseline of the same mode, as the median of the rounds' ratios and as \
         the ratio of the median rates (and the client CPU's, of the medians)",
        sizes.rounds
    );
    println!("| run | req/s | client CPU per request | to | median of round ratios | ratio of medians | CPU ratio |");
    println!("|---|---|---|---|---|---|---|");
    for run in &all {
        let rate = median(&rates[index(run.name)]);
        let cpu = if run.cpu {
            format!("{:.1} µs", cpu_of(run.name))
        } else {
            "-".to_string()
        };
        if run.bases.is_empty() {
            println!("| {} | {rate:.0} | {cpu} | | | | |", run.name);
        }
        for (k, base) in run.bases.iter().enumerate() {
            let (per_round, of_medians) = ratios(run.name, base);
            let cpu_ratio = if run.cpu {
                format!("{:.2}", cpu_of(run.name) / cpu_of(base))
            } else {
                String::new()
            };
            if k == 0 {
                println!(
                    "| {} | {rate:.0} | {cpu} | {base} | {per_round:.2} | {of_medians:.2} | {cpu_ratio} |",
                    run.name
                );
            } else {
                println!("| | | | {base} | {per_round:.2} | {of_medians:.2} | {cpu_ratio} |");
            }
        }
    }

    println!("\nallocations per request (whole process)");
    let count = sizes.sequential / 4;
    let on = &bench.current;
    let raw = bench.raw_request(Headers::Ours);
    for (name, (allocs, bytes)) in [
        ("raw ureq", allocations(count, || bench.raw_ureq_once())),
        (
            "vault-key-ureq",
            allocations(count, || {
                bench
                    .ours_ureq
                    .get_encryption_key_status()
                    .expect("key status");
            }),
        ),
        (
            "raw hyper, our headers",
            allocations(count, || on.runtime.block_on(raw.send(&on.raw))),
        ),
        (
            "vault-key-hyper",
            allocations(count, || {
                on.runtime
                    .block_on(on.ours.get_encryption_key_status())
                    .expect("key status");
            }),
        ),
    ] {
        println!("{name}: {allocs:.1} allocations, {bytes:.0} bytes");
    }

    println!("\nresident memory across {} requests", sizes.memory);
    for (name, run) in [
        ("vault-key-ureq", index("vault-key-ureq")),
        ("vault-key-hyper", index("vault-key-hyper")),
    ] {
        (all[run].measure)(&bench, sizes.memory / 10);
        let before = rss_kib();
        (all[run].measure)(&bench, sizes.memory);
        let after = rss_kib();
        println!(
            "{name}: {before} KiB after a warm-up of {}, {after} KiB after {} more",
            sizes.memory / 10,
            sizes.memory
        );
    }

    println!();
    ceremonies(&server, &bench.ours_ureq);

    let hvac_rate = median(&rates[index("hvac (Python)")]);
    let pair = |name: &str, base: &str| {
        if base.starts_with("hvac") && hvac_rate.is_nan() {
            return "n/a".to_string();
        }
        let (per_round, of_medians) = ratios(name, base);
        format!("{of_medians:.2}/{per_round:.2}")
    };
    println!(
        "\nsummary (ratio of medians/median of round ratios): \
         hyper/raw={} hyper/raw-ours={} hyper2w/raw2w={} hyper2w/raw2w-ours={} \
         hyper32/raw32={} hyper32/raw32-ours={} ureq/raw={} ureq/rawureq={} \
         ureq8/rawureq8={} ureq/hvac={} hyper/hvac={}",
        pair("vault-key-hyper", "raw hyper"),
        pair("vault-key-hyper", "raw hyper, our headers"),
        pair("vault-key-hyper, two workers", "raw hyper, two workers"),
        pair(
            "vault-key-hyper, two workers",
            "raw hyper, our headers, two workers"
        ),
        pair("vault-key-hyper, 32 in flight", "raw hyper, 32 in flight"),
        pair(
            "vault-key-hyper, 32 in flight",
            "raw hyper, our headers, 32 in flight"
        ),
        pair("vault-key-ureq", "raw hyper"),
        pair("vault-key-ureq", "raw ureq"),
        pair("vault-key-ureq, 8 threads", "raw ureq, 8 threads"),
        pair("vault-key-ureq", "hvac (Python)"),
        pair("vault-key-hyper", "hvac (Python)"),
    );
    ExitCode::SUCCESS
}
