//! Writes starting corpora for the fuzz targets from captured server exchanges.
//!
//! `cargo run --example seeds -- EXCHANGES.jsonl CORPUS_DIR`: each answer becomes a
//! `responses` seed for the operation of its method and path, and each captured section
//! becomes a ceremony script (its rekey or root-token answers in order, a share before each).

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use vault_key_fuzz::{BODY_END, STATUSES};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(exchanges), Some(corpus)) = (args.next(), args.next()) else {
        eprintln!("usage: seeds EXCHANGES.jsonl CORPUS_DIR");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(&exchanges).expect("the exchanges file");
    let mut sections: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let exchange: Value = serde_json::from_str(line).expect("a JSON line");
        let section = exchange["section"].as_str().unwrap_or_default().to_string();
        sections.entry(section).or_default().push(exchange);
    }
    let corpus = Path::new(&corpus);
    let mut written = 0;
    for (n, exchanges) in sections.values().enumerate() {
        let (mut rekey, mut root) = (Vec::new(), Vec::new());
        let mut classic = false;
        for (m, exchange) in exchanges.iter().enumerate() {
            let method = exchange["method"].as_str().unwrap_or_default();
            let path = exchange["path"].as_str().unwrap_or_default();
            let status = exchange["status"].as_u64().unwrap_or(200) as u16;
            let body = exchange["body"].as_str().unwrap_or_default().as_bytes();
            let mut answer = status_bytes(status);
            answer.extend_from_slice(body);
            answer.push(BODY_END);
            if let Some(selector) = selector(method, path) {
                let mut seed = vec![selector];
                seed.extend_from_slice(&answer);
                written += write(corpus, "responses", &format!("{n}-{m}"), &seed);
            }
            let step = |script: &mut Vec<u8>| {
                script.extend_from_slice(&[0, 0, 7, 0]);
                script.extend_from_slice(&answer);
            };
            classic |= path.contains("/sys/rekey") || path.contains("/sys/generate-root/");
            if ["rekey", "rotate/root/", "rotate/recovery"]
                .iter()
                .any(|p| path.contains(p))
            {
                step(&mut rekey);
            }
            if path.contains("generate-r") {
                step(&mut root);
            }
        }
        // Headers as the targets read them: unseal keys, a started 5-of-3 rekey without
        // backup and with verification; a root token with a server OTP; then the dialect.
        let dialect = u8::from(classic);
        if !rekey.is_empty() {
            let script = [&[1, 2, 5, 3, 0, 1, dialect][..], &rekey].concat();
            written += write(corpus, "rekey_ceremony", &n.to_string(), &script);
        }
        if !root.is_empty() {
            let script = [&[1, 0, 3, dialect][..], &root].concat();
            written += write(corpus, "root_token_ceremony", &n.to_string(), &script);
        }
    }
    // The model target: every ceremony its first byte names, with no event (one byte per
    // request, below 128).
    for setup in 0..=u8::MAX {
        written += write(
            corpus,
            "ceremony_model",
            &setup.to_string(),
            &[setup, 1, 0, 0, 0, 0],
        );
    }
    println!("{written} seeds written under {}", corpus.display());
}

/// The status as `Input::status` reads it.
fn status_bytes(status: u16) -> Vec<u8> {
    match STATUSES.iter().position(|&s| s == status) {
        Some(index) => vec![index as u8],
        None => {
            let [high, low] = (status - 100).to_be_bytes();
            vec![0xF0, high, low]
        }
    }
}

/// The `responses` target's operation for a captured request.
fn selector(method: &str, path: &str) -> Option<u8> {
    let path = path.trim_start_matches("/v1/sys/");
    let recovery = path.contains("recovery");
    let leaf = path.rsplit('/').next().unwrap_or_default();
    let op = match (method, path, leaf) {
        (_, "key-status", _) => 0,
        ("PUT" | "POST", "rotate" | "rotate/keyring", _) => 1,
        ("PUT" | "POST", "rotate/root", _) => 2,
        ("GET", p, _) if p.ends_with("rotate/config") => 3,
        (_, p, _) if p.ends_with("rotate/config") => 4,
        (_, p, leaf) if p.starts_with("generate-r") => match (method, leaf) {
            ("GET", _) => 5,
            ("DELETE", _) => 8,
            (_, "update") => 7,
            _ => 6,
        },
        (_, p, leaf) if p.starts_with("rekey") || p.starts_with("rotate/") => {
            match (method, leaf) {
                ("GET", "verify") => 13,
                ("DELETE", "verify") => 15,
                (_, "verify") => 14,
                ("GET", l) if l.contains("backup") => 16,
                (_, l) if l.contains("backup") => 17,
                ("GET", _) => 9,
                ("DELETE", _) => 12,
                (_, "update") => 11,
                _ => 10,
            }
        }
        ("GET", "init", _) => 18,
        (_, "init", _) => 19,
        (_, "seal-status", _) => 20,
        (_, "unseal", _) => 21,
        (_, "seal", _) => 22,
        (_, "decode-token", _) => 23,
        (_, p, _) if p.starts_with("health") => 24,
        (_, "leader", _) => 25,
        (_, "step-down", _) => 26,
        (_, "ha-status", _) => 27,
        _ => return None,
    };
    Some(op | if recovery { 0x80 } else { 0 })
}

fn write(corpus: &Path, target: &str, name: &str, seed: &[u8]) -> usize {
    let dir = corpus.join(target);
    std::fs::create_dir_all(&dir).expect("the corpus directory");
    std::fs::write(dir.join(format!("seed-{name}")), seed).expect("a seed file");
    1
}
