//! Load on a three-node OpenBao raft cluster of the harness: 256 tasks on the hyper client
//! and 16 threads on the ureq client, against the leader and the standbys in turn; prints
//! requests per second, errors and resident memory.
//!
//! `cargo run --release -p vault-key-tests --bin cluster_load [hyper requests per task]
//! [ureq requests per thread]` (defaults 100 and 1000).

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let hyper_requests = args.next().and_then(Result::ok).unwrap_or(100);
    let ureq_requests = args.next().and_then(Result::ok).unwrap_or(1000);
    let cluster = vault_key_tests::server::Cluster::start().unwrap_or_else(|e| {
        eprintln!("no cluster: {e}");
        std::process::exit(2)
    });
    if let Err(e) = cluster.wait_leader(std::time::Duration::from_secs(60)) {
        eprintln!("no leader: {e}");
        drop(cluster);
        std::process::exit(2);
    }
    // The cluster is dropped (its servers stopped) before the process exits.
    let code =
        match vault_key_tests::load::run(&cluster, (256, hyper_requests), (16, ureq_requests)) {
            Ok(report) => {
                println!("{report}");
                let errors = report.hyper_warmup.errors + report.hyper.errors + report.ureq.errors;
                i32::from(errors != 0)
            }
            Err(e) => {
                eprintln!("{e}");
                2
            }
        };
    drop(cluster);
    std::process::exit(code);
}
