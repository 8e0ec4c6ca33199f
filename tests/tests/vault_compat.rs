//! Behaviour read from Vault's source, checked against a real OpenBao where OpenBao shares it:
//! `sys/init` on an auto-unseal seal, a rekey cancelled without a nonce, and a server in
//! recovery mode (no `sys/seal-status`, no `sys/decode-token`).

use vault_key_core::ops::rekey::{KeyKind, StartRekey};
use vault_key_core::ops::seal::Initialize;
use vault_key_core::otp::encode_token;
use vault_key_core::{Dialect, EncodedToken, Error, InvalidInput, Otp, Refusal, Token};
use vault_key_tests::clients::{ClientFactory, Transport};
use vault_key_tests::server::Server;
use vault_key_tests::support::{random_otp, server_error, start, wait_active};

/// An auto-unseal (transit) server refuses unseal shares, as Vault's `validateInitParameters`
/// does, and is initialised with recovery settings only; it then unseals itself.
fn auto_unseal_init(transport: Transport) {
    let server = start(Server::builder().transit_seal(true).init(false));
    let client = ClientFactory::new(transport, server.address(), Dialect::OpenBao)
        .client(None)
        .expect("client");
    let refused = server_error(
        client.initialize(Initialize::new(3, 2)),
        "unseal shares on an auto-unseal seal",
    );
    assert_eq!(refused.status, 400, "{refused:?}");
    assert_eq!(refused.refusal, Refusal::InvalidRequest, "{refused:?}");
    assert!(
        refused.errors[0].contains("not applicable to seal type"),
        "{refused:?}"
    );
    // One seal's settings with the other's never leave the client.
    let mixed = client.initialize(Initialize::new(3, 2).recovery(3, 2));
    assert!(
        matches!(
            mixed.as_ref().map_err(|e| e.core()),
            Err(Some(Error::InvalidInput(InvalidInput::SealMismatch(_))))
        ),
        "{mixed:?}"
    );
    assert!(!client.read_init_status().expect("still uninitialised"));

    let init = client
        .initialize(Initialize::auto_unseal().recovery(3, 2))
        .expect("initialise with recovery settings only");
    assert!(
        init.keys.is_empty() && init.keys_base64.is_empty(),
        "{init:?}"
    );
    assert_eq!(
        (init.recovery_keys.len(), init.recovery_keys_base64.len()),
        (3, 3)
    );
    assert!(!init.root_token.is_empty());
    for _ in 0..100 {
        if !client.read_seal_status().expect("seal status").sealed {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let status = client.read_seal_status().expect("seal status");
    assert!(!status.sealed && status.initialized, "{status:?}");
    assert_eq!((status.t, status.n), (2, 3), "the recovery settings");
}

#[test]
fn auto_unseal_init_ureq() {
    auto_unseal_init(Transport::Ureq);
}

#[test]
fn auto_unseal_init_hyper() {
    auto_unseal_init(Transport::Hyper);
}

/// `cancel_rekey` without a nonce reads the one in progress and sends it in a JSON body
/// (Vault 1.20+ needs both); OpenBao accepts that body on both dialects' paths.
#[test]
fn cancel_rekey_without_a_nonce() {
    let server = start(Server::builder().legacy_endpoints(true));
    wait_active(&server);
    for transport in [Transport::Ureq, Transport::Hyper] {
        for dialect in [Dialect::Vault, Dialect::OpenBao] {
            let client = ClientFactory::new(transport, server.address(), dialect)
                .client(Some(server.root_token()))
                .expect("client");
            assert_eq!(client.key_kind(), KeyKind::Unseal);
            let started = client
                .start_rekey(StartRekey::new(3, 2))
                .expect("start a rekey");
            assert!(started.started && started.nonce.is_some(), "{started:?}");
            client
                .cancel_rekey(KeyKind::Unseal, None)
                .expect("cancel without a nonce");
            let after = client
                .read_rekey_progress(KeyKind::Unseal)
                .expect("progress");
            assert!(!after.started, "{transport:?} {dialect:?}: {after:?}");
            // Nothing in progress: the read finds no nonce and the cancel still succeeds.
            client
                .cancel_rekey(KeyKind::Unseal, None)
                .expect("cancel with nothing started");
        }
    }
}

/// In recovery mode only `sys/raw` and `sys/generate-recovery-token/*` are served: detection
/// says so plainly, and `decode_token` decodes locally instead of failing.
#[test]
fn recovery_mode_is_named_and_tokens_decode_locally() {
    let server = start(Server::builder().shares(1, 1));
    server
        .restart_in_recovery_mode()
        .expect("restart in recovery mode");
    let token = Token::new("s.AbCdEfGhIjKlMnOpQrStUvWx");
    let otp: Otp = random_otp(token.len());
    let encoded: EncodedToken =
        encode_token(&token, &otp, token.len() as u32).expect("encode a token");
    for transport in [Transport::Ureq, Transport::Hyper] {
        let client = ClientFactory::new(transport, server.address(), Dialect::OpenBao)
            .client(Some(server.root_token()))
            .expect("client");
        let detection = server_error(client.detect_server(), "detect in recovery mode");
        assert_eq!(detection.refusal, Refusal::RecoveryMode, "{detection:?}");
        assert!(
            detection.to_string().contains("recovery mode"),
            "{detection}"
        );
        let decoded = client
            .decode_token(encoded.clone(), otp.clone())
            .expect("decoded locally");
        assert_eq!(decoded.expose(), token.expose(), "{transport:?}");
    }
}
