//! The server's modes as a client meets them, with both transports: detecting OpenBao from its seal status; the
//! classic paths disabled by OpenBao's default listener (reported as such, not as a missing path); a sealed server;
//! a missing token; an uninitialised server initialised and unsealed by the client; a server in recovery mode
//! generating a recovery token; and HTTPS with the harness's own CA, which fails with a TLS error when the CA is not
//! trusted.

use vault_key_core::ceremony::{RootTokenCeremony, RootTokenPhase, TokenProtection};
use vault_key_core::ops::generate_root::StartRootTokenGeneration;
use vault_key_core::ops::generate_root::TokenKind;
use vault_key_core::ops::rekey::KeyKind;
use vault_key_core::ops::rekey::StartRekey;
use vault_key_core::ops::seal::{Initialize, Product};
use vault_key_core::transport::TransportErrorKind;
use vault_key_core::{Dialect, Error, InvalidInput, Refusal};
use vault_key_tests::clients::{ClientFactory, Transport};
use vault_key_tests::server::Server;
use vault_key_tests::support::{
    decode_locally, refusal, server_error, shares, start, wait_active, wrong_shares,
};

/// Detection, disabled classic paths, a sealed server and a missing token, on a server with OpenBao's default
/// listener.
fn default_listener(transport: Transport) {
    let server = start(Server::builder());
    let factory = ClientFactory::new(transport, server.address(), Dialect::Vault);
    let classic = factory
        .client(Some(server.root_token()))
        .expect("client on the classic paths");
    let keys = shares(&server.keys());

    assert!(classic.read_init_status().expect("sys/init"));

    // Server detection from seal-status.
    let info = classic.detect_server().expect("detect the server");
    assert_eq!(info.product, Product::OpenBao);
    assert_eq!(info.version, "2.7.2");
    assert_eq!(info.semver, Some((2, 7, 2)));
    assert_eq!(info.dialect(), Dialect::OpenBao);
    let detected = classic
        .with_detected_dialect()
        .expect("switch to the detected dialect");
    assert_eq!(detected.dialect(), Dialect::OpenBao);
    assert_eq!(detected.transport(), transport);
    let idle = detected
        .read_root_generation_progress()
        .expect("the detected dialect's paths answer");
    assert!(!idle.started);

    // The classic paths are disabled here: said so, not taken for a missing path.
    let disabled = [
        (
            "read root generation progress",
            classic.read_root_generation_progress().map(drop),
        ),
        (
            "start root generation",
            classic
                .start_root_token_generation(StartRootTokenGeneration::new())
                .map(drop),
        ),
        (
            "read rekey progress",
            classic.read_rekey_progress(KeyKind::Unseal).map(drop),
        ),
        (
            "start rekey",
            classic.start_rekey(StartRekey::new(3, 2)).map(drop),
        ),
        (
            "read verification progress",
            classic
                .read_rekey_verify_progress(KeyKind::Unseal)
                .map(drop),
        ),
    ];
    for (step, result) in disabled {
        assert_eq!(refusal(result, step), Refusal::EndpointDisabled, "{step}");
    }
    // What both dialects share still works on the classic client.
    let key_status = classic
        .get_encryption_key_status()
        .expect("key status with the classic client");
    assert!(key_status.term >= 1);
    assert!(
        !detected
            .read_rekey_progress(KeyKind::Unseal)
            .expect("nothing was started by the refused calls")
            .started
    );

    // Without a token.
    let anonymous = factory
        .with_dialect(Dialect::OpenBao)
        .client(None)
        .expect("client without token");
    let denied = [
        (
            "key status",
            anonymous.get_encryption_key_status().map(drop),
        ),
        (
            "root generation progress",
            anonymous.read_root_generation_progress().map(drop),
        ),
        (
            "rekey progress",
            anonymous.read_rekey_progress(KeyKind::Unseal).map(drop),
        ),
        ("seal", anonymous.seal()),
        ("rotate", anonymous.rotate_encryption_key()),
    ];
    for (step, result) in denied {
        assert_eq!(
            refusal(result, step),
            Refusal::PermissionDenied,
            "{step} without a token"
        );
    }

    // A sealed server: every ceremony path says so, on both dialects (the classic ones too: "disabled" cannot be
    // told while sealed).
    detected.seal().expect("seal");
    let status = detected.read_seal_status().expect("seal status");
    assert!(status.sealed && status.initialized, "{status:?}");
    let sealed = [
        (
            "classic root generation progress",
            classic.read_root_generation_progress().map(drop),
        ),
        (
            "root generation progress",
            detected.read_root_generation_progress().map(drop),
        ),
        (
            "start root generation",
            detected
                .start_root_token_generation(StartRootTokenGeneration::new())
                .map(drop),
        ),
        (
            "rekey progress",
            detected.read_rekey_progress(KeyKind::Unseal).map(drop),
        ),
        (
            "start rekey",
            detected.start_rekey(StartRekey::new(3, 2)).map(drop),
        ),
        (
            "backup keys",
            detected.read_backup_keys(KeyKind::Unseal).map(drop),
        ),
        ("key status", detected.get_encryption_key_status().map(drop)),
        ("rotate", detected.rotate_encryption_key()),
    ];
    for (step, result) in sealed {
        assert_eq!(
            refusal(result, step),
            Refusal::Sealed,
            "{step} while sealed"
        );
    }

    // Unseal with the client: progress, reset, then the threshold.
    let first = detected
        .unseal(keys[0].clone())
        .expect("first unseal share");
    assert!(first.sealed && first.progress == 1, "{first:?}");
    let reset = detected.reset_unseal().expect("reset the unseal");
    assert_eq!(reset.progress, 0, "{reset:?}");
    let open = detected
        .unseal_multi(keys[2..].to_vec())
        .expect("unseal with three shares");
    assert!(!open.sealed, "{open:?}");
    wait_active(&server);
    assert!(detected.get_encryption_key_status().is_ok());
}

/// An uninitialised server initialised by a client speaking `dialect` (the other dialect's client is refused a second
/// initialisation), then unsealed by the client with the new shares, an unseal reset on the way.
fn initialize(transport: Transport, dialect: Dialect) {
    let server = start(Server::builder().init(false));
    let factory = ClientFactory::new(transport, server.address(), dialect);
    let client = factory.client(None).expect("client without token");
    let other = factory
        .with_dialect(match dialect {
            Dialect::Vault => Dialect::OpenBao,
            _ => Dialect::Vault,
        })
        .client(None)
        .expect("client of the other dialect");

    for reader in [&client, &other] {
        assert!(
            !reader
                .read_init_status()
                .expect("sys/init before initialising"),
            "{:?}",
            reader.dialect()
        );
    }
    let status = client
        .read_seal_status()
        .expect("seal status before initialising");
    assert!(!status.initialized && status.sealed, "{status:?}");
    let early = server_error(
        client.unseal(wrong_shares(1)[0].clone()),
        "unseal before initialising",
    );
    assert_eq!(
        (early.status, &early.refusal),
        (400, &Refusal::NotInitialized),
        "{early:?}"
    );

    let invalid = client.initialize(Initialize::new(2, 3));
    assert!(
        matches!(
            invalid.as_ref().map_err(|e| e.core()),
            Err(Some(Error::InvalidInput(InvalidInput::SharesConfig {
                shares: 2,
                threshold: 3,
                ..
            })))
        ),
        "a threshold above the shares is refused before sending: {invalid:?}"
    );
    assert!(!client
        .read_init_status()
        .expect("sys/init after the invalid request"));

    let init = client
        .initialize(Initialize::new(3, 2))
        .expect("initialise with 3 shares, threshold 2");
    assert_eq!((init.keys.len(), init.keys_base64.len()), (3, 3));
    assert!(init.keys.iter().all(|k| k.len() == 66), "hex shares");
    assert!(init.recovery_keys.is_empty() && init.recovery_keys_base64.is_empty());
    assert!(init.root_token.expose().starts_with("s."), "a root token");
    for reader in [&client, &other] {
        assert!(
            reader
                .read_init_status()
                .expect("sys/init after initialising"),
            "{:?}",
            reader.dialect()
        );
    }
    let sealed = client
        .read_seal_status()
        .expect("seal status after initialising");
    assert!(sealed.initialized && sealed.sealed, "{sealed:?}");
    assert_eq!(
        (sealed.t, sealed.n, sealed.progress),
        (2, 3, 0),
        "{sealed:?}"
    );

    let again = server_error(
        other.initialize(Initialize::new(3, 2)),
        "initialise a second time",
    );
    assert_eq!(
        (again.status, &again.refusal, again.errors.as_slice()),
        (
            400,
            &Refusal::AlreadyInitialized,
            ["Vault is already initialized".to_string()].as_slice()
        )
    );

    // One share, a reset, then two other shares (base64) through unseal_multi.
    let first = client
        .unseal(init.keys[0].clone())
        .expect("first unseal share");
    assert!(first.sealed && first.progress == 1, "{first:?}");
    let reset = client.reset_unseal().expect("reset the unseal");
    assert!(reset.sealed && reset.progress == 0, "{reset:?}");
    assert_eq!(
        client
            .read_seal_status()
            .expect("seal status after the reset")
            .progress,
        0
    );
    let open = client
        .unseal_multi(init.keys_base64[1..].to_vec())
        .expect("unseal with two new shares");
    assert!(!open.sealed, "{open:?}");
    wait_active(&server);

    let root = factory
        .client(Some(init.root_token.expose()))
        .expect("client with the new root token");
    let key = root
        .get_encryption_key_status()
        .expect("the new root token reads the key status");
    assert_eq!(key.term, 1, "{key:?}");
    assert_eq!(
        refusal(
            client.get_encryption_key_status(),
            "key status without a token"
        ),
        Refusal::PermissionDenied
    );
}

/// A recovery token from a server in recovery mode: 28-character OTP, `hvr.` token that opens `sys/raw`.
fn recovery_mode(transport: Transport) {
    let server = start(Server::builder());
    let keys = shares(&server.keys());
    server
        .restart_in_recovery_mode()
        .expect("restart in recovery mode");
    let factory = ClientFactory::new(transport, server.address(), Dialect::OpenBao);
    let client = factory.client(None).expect("client without token");

    // Only the recovery-token and raw paths are served.
    assert_eq!(
        refusal(client.read_seal_status(), "seal status in recovery mode"),
        Refusal::RecoveryMode
    );
    let idle = client
        .read_recovery_token_generation_progress()
        .expect("read the recovery-token generation");
    assert!(!idle.started, "{idle:?}");
    assert_eq!(idle.otp_length, 28, "recovery tokens are hvr. + 24 chars");

    let started = client
        .start_recovery_token_generation(StartRootTokenGeneration::new())
        .expect("start");
    let otp = started.otp.clone().expect("server OTP");
    assert_eq!(otp.len(), 28);
    let nonce = started.nonce.clone().expect("nonce");
    assert_eq!(
        refusal(
            client.generate_recovery_token(keys[0].clone(), "00000000-0000-0000-0000-000000000000"),
            "recovery share under a wrong nonce"
        ),
        Refusal::WrongNonce {
            expected: Some(nonce.clone())
        }
    );
    let first = client
        .generate_recovery_token(keys[0].clone(), &nonce)
        .expect("first share");
    assert_eq!(first.progress, 1);
    assert_eq!(
        refusal(
            client.generate_recovery_token(keys[0].clone(), &nonce),
            "the same recovery share twice"
        ),
        Refusal::AlreadyProvided
    );

    // The rest through a ceremony that joins the generation in progress.
    let mut ceremony =
        RootTokenCeremony::resume(TokenKind::Recovery, Some(otp.clone())).require_nonce(nonce);
    ceremony
        .submit_shares(keys[1..3].to_vec())
        .expect("queue shares");
    assert_eq!(
        client
            .drive(&mut ceremony)
            .map(|_| ceremony.phase())
            .expect("finish the recovery-token generation"),
        RootTokenPhase::Done
    );
    let encoded = ceremony.encoded_token().cloned().expect("encoded token");
    let token = decode_locally(&encoded, &otp, idle.otp_length);
    assert!(
        token.expose().starts_with("hvr.") && token.len() == 28,
        "recovery token shape"
    );
    assert_eq!(
        ceremony.decode_token().expect("ceremony decode").expose(),
        token.expose()
    );
    let raw = server
        .call(
            "GET",
            "/v1/sys/raw/core/seal-config",
            Some(token.expose()),
            None,
        )
        .expect("sys/raw with the recovery token");
    assert_eq!(raw.status, 200, "{}", raw.body);
    let without = server
        .call("GET", "/v1/sys/raw/core/seal-config", None, None)
        .expect("sys/raw without a token");
    assert_ne!(without.status, 200, "{}", without.body);

    // Back to normal operation: sealed, and the unseal shares still open it. The address is taken again: a restart
    // keeps it unless the port was taken while the server was down.
    server.restart().expect("restart normally");
    let normal = ClientFactory::new(transport, server.address(), Dialect::OpenBao)
        .client(Some(server.root_token()))
        .expect("client with the root token");
    assert!(normal.read_seal_status().expect("seal status").sealed);
    server.unseal().expect("unseal after recovery mode");
    assert!(normal.get_encryption_key_status().is_ok());
}

/// HTTPS with the harness's CA given as the custom CA file; without it the TLS handshake fails.
fn tls(transport: Transport) {
    let server = start(Server::builder().tls(true));
    assert!(server.address().starts_with("https://"));
    let ca = server.ca_path().expect("TLS server has a CA file");
    let factory = ClientFactory::new(transport, server.address(), Dialect::OpenBao);

    let trusting = factory
        .clone()
        .trusting(ca)
        .client(Some(server.root_token()))
        .expect("client trusting the CA file");
    let info = trusting.detect_server().expect("seal status over HTTPS");
    assert_eq!(info.product, Product::OpenBao);
    assert!(
        trusting
            .get_encryption_key_status()
            .expect("key status")
            .term
            >= 1
    );
    let mut ceremony = RootTokenCeremony::start(TokenKind::Root, TokenProtection::ServerOtp);
    assert_eq!(
        trusting
            .drive(&mut ceremony)
            .map(|_| ceremony.phase())
            .expect("start"),
        RootTokenPhase::CollectingShares
    );
    ceremony.cancel().expect("cancel");
    assert_eq!(
        trusting
            .drive(&mut ceremony)
            .map(|_| ceremony.phase())
            .expect("cancel"),
        RootTokenPhase::Cancelled
    );

    let untrusting = factory
        .client(Some(server.root_token()))
        .expect("client with the system roots only");
    let error = untrusting
        .read_seal_status()
        .expect_err("the harness CA is not among the system roots");
    assert_eq!(
        error.transport_kind(),
        Some(TransportErrorKind::Tls),
        "{error}"
    );
    assert!(
        !error.to_string().contains(server.root_token()),
        "the error does not show the token: {error}"
    );
}

#[test]
fn default_listener_ureq() {
    default_listener(Transport::Ureq);
}

#[test]
fn default_listener_hyper() {
    default_listener(Transport::Hyper);
}

#[test]
fn initialize_ureq_vault() {
    initialize(Transport::Ureq, Dialect::Vault);
}

#[test]
fn initialize_hyper_openbao() {
    initialize(Transport::Hyper, Dialect::OpenBao);
}

#[test]
fn recovery_mode_ureq() {
    recovery_mode(Transport::Ureq);
}

#[test]
fn recovery_mode_hyper() {
    recovery_mode(Transport::Hyper);
}

#[test]
fn tls_ureq() {
    tls(Transport::Ureq);
}

#[test]
fn tls_hyper() {
    tls(Transport::Hyper);
}
