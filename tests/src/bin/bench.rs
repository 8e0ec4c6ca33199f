//! How fast the two clients are against the raw HTTP stacks they are built on, measured in one run against a local
//! OpenBao that the harness starts: `GET sys/key-status` with a token (and the same headers for every client),
//! sequentially, with 32 requests in flight
//! (hyper) and from 8 threads sharing one client (ureq), against a raw hyper client (a request built once per call
//! from cached parts, the body drained), raw ureq, and, when pip can install it into a venv under `target/`, the
//! Python client hvac. Rounds rotate the order within each mode; each figure is the median of the rounds, with the
//! sequential clients' CPU time per request (their work runs on the main thread). Then allocations per
//! request (a counting allocator), resident memory across 100,000 requests, and a whole 5-share rekey with
//! verification and a root-token generation (client CPU time against wall time).
//!
//! `cargo run --release -p vault-key-tests --bin bench [-- --quick]`; the last line is the summary.

use std::alloc::System;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use bytes::Bytes;
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
    rounds: 7,
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
/// The raw clients send the same request as ours (the server does measurably more with these
/// headers), so that the ratios measure the clients alone.
const USER_AGENT: &str = vault_key_core::transport::config::USER_AGENT;

/// Everything the measurements talk to.
struct Bench {
    url: String,
    token: String,
    /// Sequential hyper runs: one thread that drives the connections as it waits, the fastest
    /// way to run one request after another.
    sequential: Hyper,
    /// Requests in flight: two worker threads, one per core.
    parallel: Hyper,
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

type Run = fn(&Bench, usize) -> f64;

impl Bench {
    fn raw_hyper_once(&self, on: &Hyper) -> impl std::future::Future<Output = ()> + Send + 'static {
        let request = http::Request::get(&self.url)
            .header("X-Vault-Token", &self.token)
            .header("X-Vault-Request", "true")
            .header("User-Agent", USER_AGENT)
            .body(Full::new(Bytes::new()))
            .expect("a request");
        let pool = on.raw.clone();
        async move {
            // Lets the finished exchange hand its connection back to the pool first, as
            // vault-key-hyper does: otherwise a sequential caller often opens a new one.
            tokio::task::yield_now().await;
            let response = pool.request(request).await.expect("raw hyper answer");
            assert!(response.status().is_success());
            response
                .into_body()
                .collect()
                .await
                .expect("raw hyper body");
        }
    }

    fn raw_ureq_once(&self) {
        let mut response = self
            .raw_ureq
            .get(&self.url)
            .header("X-Vault-Token", &self.token)
            .header("X-Vault-Request", "true")
            .header("User-Agent", USER_AGENT)
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

fn run_raw_hyper(bench: &Bench, n: usize) -> f64 {
    let on = &bench.sequential;
    rate(n, || {
        on.runtime.block_on(async {
            for _ in 0..n {
                bench.raw_hyper_once(on).await;
            }
        })
    })
}

fn run_ours_hyper(bench: &Bench, n: usize) -> f64 {
    let on = &bench.sequential;
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

fn run_raw_hyper_32(bench: &Bench, n: usize) -> f64 {
    let on = &bench.parallel;
    rate(n, || {
        on.runtime.block_on(async {
            let tasks: Vec<_> = (0..IN_FLIGHT)
                .map(|_| {
                    let requests: Vec<_> = (0..n / IN_FLIGHT)
                        .map(|_| bench.raw_hyper_once(on))
                        .collect();
                    tokio::spawn(async move {
                        for request in requests {
                            request.await;
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

fn run_ours_hyper_32(bench: &Bench, n: usize) -> f64 {
    let on = &bench.parallel;
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

fn run_raw_ureq(bench: &Bench, n: usize) -> f64 {
    rate(n, || (0..n).for_each(|_| bench.raw_ureq_once()))
}

fn run_ours_ureq(bench: &Bench, n: usize) -> f64 {
    rate(n, || {
        for _ in 0..n {
            bench
                .ours_ureq
                .get_encryption_key_status()
                .expect("key status");
        }
    })
}

fn run_raw_ureq_8(bench: &Bench, n: usize) -> f64 {
    rate(n, || {
        std::thread::scope(|scope| {
            for _ in 0..THREADS {
                scope.spawn(|| (0..n / THREADS).for_each(|_| bench.raw_ureq_once()));
            }
        })
    })
}

fn run_ours_ureq_8(bench: &Bench, n: usize) -> f64 {
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

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
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

/// CPU time this thread has used, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
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
    let sequential = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let parallel = tokio::runtime::Builder::new_multi_thread()
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
        sequential: Hyper::new(sequential, &address, &token),
        parallel: Hyper::new(parallel, &address, &token),
        raw_ureq: ureq::Agent::new_with_defaults(),
        ours_ureq: vault_key_ureq::Client::builder()
            .address(address.clone())
            .token(token)
            .dialect(Dialect::OpenBao)
            .build()
            .expect("ureq client"),
        hvac,
    };

    let runs: [(&str, Run, usize); 9] = [
        ("raw hyper", run_raw_hyper, sizes.sequential),
        ("vault-key-hyper", run_ours_hyper, sizes.sequential),
        ("raw ureq", run_raw_ureq, sizes.sequential),
        ("vault-key-ureq", run_ours_ureq, sizes.sequential),
        (
            "raw hyper, 32 in flight",
            run_raw_hyper_32,
            sizes.concurrent,
        ),
        (
            "vault-key-hyper, 32 in flight",
            run_ours_hyper_32,
            sizes.concurrent,
        ),
        ("raw ureq, 8 threads", run_raw_ureq_8, sizes.concurrent),
        (
            "vault-key-ureq, 8 threads",
            run_ours_ureq_8,
            sizes.concurrent,
        ),
        ("hvac (Python)", run_hvac, sizes.sequential / 4),
    ];
    // `--only NAME` measures the run of that name, and nothing else (for a
    // profiler or `strace -c`).
    let args: Vec<String> = std::env::args().collect();
    if let Some(only) = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
    {
        for one in only.split(';') {
            for (name, run, n) in runs.iter().filter(|r| r.0 == one) {
                run(&bench, n / 10 + 1);
                println!("{name}: {:.0} req/s", run(&bench, *n));
            }
        }
        return ExitCode::SUCCESS;
    }
    // Warm-up: connections, TLS-free pools and the venv's imports.
    for (_, run, n) in &runs {
        run(&bench, n / 10 + 1);
    }
    // Each round measures every run once, the runs of a mode back to back: the four sequential
    // clients and hvac, then each concurrent pair. The order within a mode rotates from round
    // to round, so that a ratio compares runs seconds apart and no client always goes first.
    // The sequential clients run on this thread, whose CPU time is their client cost.
    let groups: [&[usize]; 3] = [&[0, 1, 2, 3, 8], &[4, 5], &[6, 7]];
    let verbose = args.iter().any(|a| a == "--verbose");
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); runs.len()];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); runs.len()];
    for round in 0..sizes.rounds {
        for group in 0..groups.len() {
            let members = groups[(group + round) % groups.len()];
            for k in 0..members.len() {
                let i = members[(k + round) % members.len()];
                let (_, run, n) = runs[i];
                let before = thread_cpu_ns();
                rates[i].push(run(&bench, n));
                cpu[i].push((thread_cpu_ns() - before) as f64 / n as f64 / 1000.0);
                if verbose {
                    eprintln!(
                        "round {round}: {}: {:.0} req/s, {:.1} µs",
                        runs[i].0,
                        rates[i].last().unwrap(),
                        cpu[i].last().unwrap()
                    );
                }
            }
        }
    }
    let index = |name: &str| runs.iter().position(|r| r.0 == name).expect(name);
    let base_of = |name: &str| {
        if name.contains("32 in flight") {
            "raw hyper, 32 in flight"
        } else if name.contains("8 threads") {
            "raw ureq, 8 threads"
        } else {
            "raw hyper"
        }
    };
    // The median of the per-round ratios to `base`, and the median rate.
    let ratio_to = |name: &str, base: &str| {
        let (ours, theirs) = (&rates[index(name)], &rates[index(base)]);
        let mut ratios: Vec<f64> = ours.iter().zip(theirs).map(|(a, b)| a / b).collect();
        median(&mut ratios)
    };
    let by = |name: &str| median(&mut rates[index(name)].clone());
    println!(
        "\nGET sys/key-status, {} rounds: median requests per second, and the median of each round's ratio to raw hyper in the same mode",
        sizes.rounds
    );
    println!("| client | req/s | ratio | client CPU per request |");
    println!("|---|---|---|---|");
    for (i, (name, _, _)) in runs.iter().enumerate() {
        // Only the sequential Rust clients do all their work on this thread.
        let cpu = if groups[0].contains(&i) && !name.starts_with("hvac") {
            format!("{:.1} µs", median(&mut cpu[i].clone()))
        } else {
            "-".to_string()
        };
        println!(
            "| {name} | {:.0} | {:.2} | {cpu} |",
            by(name),
            ratio_to(name, base_of(name))
        );
    }
    let cpu_of = |name: &str| median(&mut cpu[index(name)].clone());

    println!("\nallocations per request (whole process)");
    let count = sizes.sequential / 4;
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
            "raw hyper",
            allocations(count, || {
                let on = &bench.sequential;
                on.runtime.block_on(bench.raw_hyper_once(on))
            }),
        ),
        (
            "vault-key-hyper",
            allocations(count, || {
                let on = &bench.sequential;
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
        ("vault-key-ureq", run_ours_ureq as Run),
        ("vault-key-hyper", run_ours_hyper),
    ] {
        run(&bench, sizes.memory / 10);
        let before = rss_kib();
        run(&bench, sizes.memory);
        let after = rss_kib();
        println!(
            "{name}: {before} KiB after a warm-up of {}, {after} KiB after {} more",
            sizes.memory / 10,
            sizes.memory
        );
    }

    println!();
    ceremonies(&server, &bench.ours_ureq);

    let hyper = ratio_to("vault-key-hyper", "raw hyper");
    let ureq = ratio_to("vault-key-ureq", "raw hyper");
    let hyper32 = ratio_to("vault-key-hyper, 32 in flight", "raw hyper, 32 in flight");
    let ureq8 = ratio_to("vault-key-ureq, 8 threads", "raw ureq, 8 threads");
    println!(
        "vault-key-ureq to raw ureq, sequentially: {:.2}",
        ratio_to("vault-key-ureq", "raw ureq")
    );
    println!(
        "client CPU per request, sequentially, to raw hyper's: vault-key-hyper {:.2}, raw ureq {:.2}, vault-key-ureq {:.2}",
        cpu_of("vault-key-hyper") / cpu_of("raw hyper"),
        cpu_of("raw ureq") / cpu_of("raw hyper"),
        cpu_of("vault-key-ureq") / cpu_of("raw hyper"),
    );
    let hvac_rate = by("hvac (Python)");
    let vs_hvac = |name: &str| {
        if hvac_rate.is_nan() {
            "n/a".to_string()
        } else {
            format!("{:.2}", ratio_to(name, "hvac (Python)"))
        }
    };
    println!(
        "\nsummary: ureq/raw={ureq:.2} hyper/raw={hyper:.2} hyper32/raw32={hyper32:.2} ureq8/rawureq8={ureq8:.2} ureq/hvac={} hyper/hvac={}",
        vs_hvac("vault-key-ureq"),
        vs_hvac("vault-key-hyper")
    );
    ExitCode::SUCCESS
}
