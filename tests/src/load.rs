//! Load on a cluster: many hyper tasks sharing one async client per node, and many threads
//! sharing one blocking ureq client per node, each sending `GET sys/key-status` to the
//! leader and the standbys in turn. Counts requests and errors, and reads the process's
//! resident memory before and after.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vault_key_core::{Dialect, Token};

use crate::server::Cluster;

/// What one client did under load.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadRun {
    /// Concurrent workers (tasks or threads).
    pub workers: usize,
    /// Requests answered with a key status.
    pub ok: u64,
    /// Requests that failed, of any kind.
    pub errors: u64,
    /// The first error seen, if any.
    pub first_error: Option<String>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl LoadRun {
    /// Requests answered per second.
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// Both clients' runs and the resident memory around them.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    /// The async client's first run, which opens its connections.
    pub hyper_warmup: LoadRun,
    /// The async client, on a two-worker Tokio runtime, connections open.
    pub hyper: LoadRun,
    /// The blocking client, one thread per worker.
    pub ureq: LoadRun,
    /// Resident memory (KiB) before the runs.
    pub rss_before_kib: u64,
    /// Resident memory (KiB) after the first (warm-up) run.
    pub rss_warm_kib: u64,
    /// Resident memory (KiB) after both runs.
    pub rss_after_kib: u64,
}

/// This process's resident memory in KiB (`VmRSS` of `/proc/self/status`; 0 where there is
/// none).
pub fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

struct Tally {
    ok: AtomicU64,
    errors: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
}

impl Tally {
    fn new() -> Arc<Self> {
        Arc::new(Tally {
            ok: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            first_error: std::sync::Mutex::new(None),
        })
    }

    fn count<T, E: std::fmt::Display>(&self, result: Result<T, E>) {
        match result {
            Ok(_) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(err) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                let mut first = self
                    .first_error
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                first.get_or_insert_with(|| err.to_string());
            }
        }
    }

    fn run(&self, workers: usize, elapsed: Duration) -> LoadRun {
        LoadRun {
            workers,
            ok: self.ok.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            first_error: self
                .first_error
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone(),
            elapsed,
        }
    }
}

/// `hyper_tasks` tasks sending `hyper_requests` key-status reads each (twice: a warm-up run,
/// then the measured one), then `ureq_threads` threads sending `ureq_requests` each; worker
/// `i` starts at node `i % nodes` and moves on one node per request.
pub fn run(
    cluster: &Cluster,
    (hyper_tasks, hyper_requests): (usize, usize),
    (ureq_threads, ureq_requests): (usize, usize),
) -> Result<LoadReport, String> {
    let token = cluster.root_token().to_string();
    let addresses: Vec<String> = cluster.nodes().iter().map(|node| node.address()).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("a Tokio runtime: {e}"))?;
    let hyper_clients: Vec<vault_key_hyper::Client> = {
        let _inside = runtime.enter();
        addresses
            .iter()
            .map(|address| {
                vault_key_hyper::Client::builder()
                    .address(address.clone())
                    .token(Token::new(token.clone()))
                    .dialect(Dialect::OpenBao)
                    .build()
                    .map_err(|e| format!("a hyper client: {e}"))
            })
            .collect::<Result<_, _>>()?
    };
    let ureq_clients: Vec<vault_key_ureq::Client> = addresses
        .iter()
        .map(|address| {
            vault_key_ureq::Client::builder()
                .address(address.clone())
                .token(Token::new(token.clone()))
                .dialect(Dialect::OpenBao)
                .build()
                .map_err(|e| format!("a ureq client: {e}"))
        })
        .collect::<Result<_, _>>()?;

    let rss_before_kib = resident_kib();
    let hyper_run = |requests: usize| {
        let tally = Tally::new();
        let started = Instant::now();
        runtime.block_on(async {
            let mut tasks = tokio::task::JoinSet::new();
            for task in 0..hyper_tasks {
                let clients = hyper_clients.clone();
                let tally = tally.clone();
                tasks.spawn(async move {
                    for request in 0..requests {
                        let client = &clients[(task + request) % clients.len()];
                        tally.count(client.get_encryption_key_status().await);
                    }
                });
            }
            while let Some(joined) = tasks.join_next().await {
                if let Err(err) = joined {
                    tally.count::<(), _>(Err(err));
                }
            }
        });
        tally.run(hyper_tasks, started.elapsed())
    };
    let hyper_warmup = hyper_run(hyper_requests);
    let rss_warm_kib = resident_kib();
    let hyper = hyper_run(hyper_requests);

    let tally = Tally::new();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for thread in 0..ureq_threads {
            let clients = &ureq_clients;
            let tally = &tally;
            scope.spawn(move || {
                for request in 0..ureq_requests {
                    let client = &clients[(thread + request) % clients.len()];
                    tally.count(client.get_encryption_key_status());
                }
            });
        }
    });
    let ureq = tally.run(ureq_threads, started.elapsed());
    Ok(LoadReport {
        hyper_warmup,
        hyper,
        ureq,
        rss_before_kib,
        rss_warm_kib,
        rss_after_kib: resident_kib(),
    })
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (name, run) in [
            ("hyper (warm-up)", &self.hyper_warmup),
            ("hyper", &self.hyper),
            ("ureq", &self.ureq),
        ] {
            writeln!(
                f,
                "{name:<16} {:>4} workers {:>7} ok {:>3} errors {:>8.0} req/s{}",
                run.workers,
                run.ok,
                run.errors,
                run.per_second(),
                run.first_error
                    .as_ref()
                    .map(|e| format!("  first error: {e}"))
                    .unwrap_or_default()
            )?;
        }
        write!(
            f,
            "resident memory: {} KiB before, {} KiB after the warm-up, {} KiB after",
            self.rss_before_kib, self.rss_warm_kib, self.rss_after_kib
        )
    }
}
