//! Root-token generation against a real OpenBao server, with both transports and both dialects: generation to
//! completion with a server OTP, a caller OTP and a PGP key; decoding locally and with `sys/decode-token`; start then
//! cancel; every refusal of the ceremony; and a second client finishing a generation the first one began.
//!
//! The Vault dialect runs on a server with the classic unauthenticated endpoints enabled, the OpenBao dialect on a
//! server with OpenBao's default listener.

use vault_key_core::ceremony::{RootTokenCeremony, RootTokenPhase, TokenProtection};
use vault_key_core::ops::generate_root::StartRootTokenGeneration;
use vault_key_core::ops::generate_root::TokenKind;
use vault_key_core::{Dialect, KeyShare, Otp, Refusal};
use vault_key_tests::clients::{ClientFactory, Transport};
use vault_key_tests::pgp::{self, Keyring};
use vault_key_tests::server::Server;
use vault_key_tests::support::{
    assert_root_token, decode_locally, random_otp, refusal, shares, start, wrong_shares,
};

const ROOT: TokenKind = TokenKind::Root;
/// A nonce no ceremony has.
const STRANGER_NONCE: &str = "00000000-0000-0000-0000-000000000000";

fn server_for(dialect: Dialect) -> Server {
    start(Server::builder().legacy_endpoints(dialect == Dialect::Vault))
}

fn root_token_lifecycle(transport: Transport, dialect: Dialect) {
    let server = server_for(dialect);
    let factory = ClientFactory::new(transport, server.address(), dialect);
    let client = factory
        .client(Some(server.root_token()))
        .expect("client with the root token");
    let keys = shares(&server.keys());

    // Nothing in progress.
    let idle = client
        .read_root_generation_progress()
        .expect("read progress while idle");
    assert!(!idle.started && !idle.complete, "{idle:?}");
    assert_eq!(idle.nonce, None);
    assert_eq!(idle.otp_length, 26, "OpenBao root tokens are s. + 24 chars");
    assert_eq!(
        refusal(
            client.generate_root(keys[0].clone(), STRANGER_NONCE),
            "update with nothing in progress"
        ),
        Refusal::NotInProgress
    );

    // hvac: start, then cancel.
    let started = client
        .start_root_token_generation(StartRootTokenGeneration::new())
        .expect("start with a server OTP");
    assert!(started.started && !started.complete, "{started:?}");
    assert_eq!((started.progress, started.required), (0, 3));
    let otp = started
        .otp
        .clone()
        .expect("the server OTP comes with the start");
    assert_eq!(otp.len(), 26);
    assert!(otp.expose().bytes().all(|b| b.is_ascii_alphanumeric()));
    let nonce = started
        .nonce
        .clone()
        .expect("a started generation has a nonce");
    client.cancel_root_generation().expect("cancel");
    let cancelled = client
        .read_root_generation_progress()
        .expect("read after cancel");
    assert!(!cancelled.started, "{cancelled:?}");
    assert_eq!(
        refusal(
            client.generate_root(keys[0].clone(), &nonce),
            "update after cancel"
        ),
        Refusal::NotInProgress
    );

    // hvac: generate to completion, here with the refusals a ceremony meets on the way, and handed to a second
    // client half way through.
    let started = client
        .start_root_token_generation(StartRootTokenGeneration::new())
        .expect("start again");
    let otp = started.otp.clone().expect("server OTP");
    let nonce = started.nonce.clone().expect("nonce");
    assert_eq!(
        refusal(
            client.start_root_token_generation(StartRootTokenGeneration::new()),
            "start while one is in progress"
        ),
        Refusal::AlreadyInProgress
    );
    assert_eq!(
        refusal(
            client.generate_root(keys[0].clone(), STRANGER_NONCE),
            "update with a wrong nonce"
        ),
        Refusal::WrongNonce {
            expected: Some(nonce.clone())
        }
    );
    let first = client
        .generate_root(keys[0].clone(), &nonce)
        .expect("first share");
    assert_eq!((first.progress, first.complete), (1, false), "{first:?}");
    assert_eq!(
        refusal(
            client.generate_root(keys[0].clone(), &nonce),
            "the same share twice"
        ),
        Refusal::AlreadyProvided
    );
    assert_eq!(
        refusal(
            client.generate_root(KeyShare::new("not-a-share"), &nonce),
            "a share that is neither hex nor base64",
        ),
        Refusal::InvalidRequest
    );

    // The second client: on the classic paths it needs no token at all.
    let second_token = match dialect {
        Dialect::Vault => None,
        _ => Some(server.root_token()),
    };
    let second = factory.client(second_token).expect("second client");
    let resumed = second
        .read_root_generation_progress()
        .expect("second client reads the progress");
    assert_eq!(resumed.nonce.as_deref(), Some(nonce.as_str()));
    assert_eq!((resumed.progress, resumed.required), (1, 3));
    assert_eq!(
        resumed.otp, None,
        "the OTP is handed out once, at the start"
    );
    let mut ceremony =
        RootTokenCeremony::resume(ROOT, Some(otp.clone())).require_nonce(nonce.clone());
    ceremony
        .submit_share(keys[1].clone())
        .expect("queue a share");
    assert_eq!(
        second
            .drive(&mut ceremony)
            .map(|_| ceremony.phase())
            .expect("second client joins and submits a share"),
        RootTokenPhase::CollectingShares
    );
    assert_eq!((ceremony.progress(), ceremony.required()), (2, 3));
    assert_eq!(ceremony.nonce(), Some(nonce.as_str()));
    ceremony
        .submit_share(keys[2].clone())
        .expect("queue the last share");
    assert_eq!(
        second
            .drive(&mut ceremony)
            .map(|_| ceremony.phase())
            .expect("the last share"),
        RootTokenPhase::Done
    );
    let encoded = ceremony
        .encoded_token()
        .cloned()
        .expect("the completing share returns the encoded token");
    let from_ceremony = ceremony
        .decode_token()
        .expect("the ceremony decodes with its OTP");
    let after = client
        .read_root_generation_progress()
        .expect("read after completion");
    assert!(!after.started, "{after:?}");

    // Decode locally and on the server, and use the token.
    let token = decode_locally(&encoded, &otp, idle.otp_length);
    assert!(
        token.expose().starts_with("s.") && token.len() == 26,
        "token shape"
    );
    assert_eq!(from_ceremony.expose(), token.expose());
    assert_ne!(token.expose(), server.root_token());
    let anonymous = factory.client(None).expect("client without token");
    let decoded = anonymous
        .decode_token(encoded.clone(), otp.clone())
        .expect("sys/decode-token needs no token");
    assert_eq!(
        decoded.expose(),
        token.expose(),
        "server and local decode agree"
    );
    assert_root_token(&server, token.expose());
    let with_new_token = factory
        .client(Some(token.expose()))
        .expect("client with the new token");
    assert!(with_new_token.get_encryption_key_status().is_ok());

    // Shares that do not combine: refused at the threshold; the generation stays open with the same nonce.
    let started = client
        .start_root_token_generation(StartRootTokenGeneration::new())
        .expect("start for wrong shares");
    let nonce = started.nonce.clone().expect("nonce");
    let wrong = wrong_shares(3);
    for key in &wrong[..2] {
        client
            .generate_root(key.clone(), &nonce)
            .expect("a wrong share below the threshold is accepted");
    }
    assert_eq!(
        refusal(
            client.generate_root(wrong[2].clone(), &nonce),
            "wrong shares reach the threshold"
        ),
        Refusal::SharesDidNotCombine
    );
    let status = client
        .read_root_generation_progress()
        .expect("read after failed threshold");
    assert!(status.started && status.progress == 0, "{status:?}");
    assert_eq!(status.nonce.as_deref(), Some(nonce.as_str()));
    client.cancel_root_generation().expect("cancel");

    // The caller's own OTP: a wrong length is refused, the right one decodes the token.
    assert_eq!(
        refusal(
            client.start_root_token_generation(
                StartRootTokenGeneration::new().otp(Otp::new("tooShort"))
            ),
            "an OTP of the wrong length"
        ),
        Refusal::InvalidRequest
    );
    let own_otp = random_otp(idle.otp_length as usize);
    let started = client
        .start_root_token_generation(StartRootTokenGeneration::new().otp(own_otp.clone()))
        .expect("start with the caller's OTP");
    assert_eq!(started.otp, None, "the server hands out no OTP of its own");
    let nonce = started.nonce.clone().expect("nonce");
    let mut last = started;
    for key in &keys[..3] {
        last = client.generate_root(key.clone(), &nonce).expect("share");
    }
    let encoded = last.encoded_token.clone().expect("encoded token");
    let token = decode_locally(&encoded, &own_otp, idle.otp_length);
    assert_root_token(&server, token.expose());

    // A ceremony that reads the server's OTP length and takes its OTP from the caller's random source.
    let mut ceremony = RootTokenCeremony::start(ROOT, TokenProtection::GenerateOtp);
    assert_eq!(
        client
            .drive(&mut ceremony)
            .map(|_| ceremony.phase())
            .expect("read the attempt status"),
        RootTokenPhase::AwaitingOtp
    );
    assert_eq!(ceremony.otp_length(), Some(idle.otp_length));
    let mut urandom = std::fs::File::open("/dev/urandom").expect("/dev/urandom");
    ceremony
        .generate_otp(&mut |buf: &mut [u8]| {
            std::io::Read::read_exact(&mut urandom, buf).expect("random bytes")
        })
        .expect("generate the OTP");
    ceremony
        .submit_shares(keys[2..5].to_vec())
        .expect("queue shares");
    assert_eq!(
        client
            .drive(&mut ceremony)
            .map(|_| ceremony.phase())
            .expect("start and submit"),
        RootTokenPhase::Done
    );
    let token = ceremony.decode_token().expect("decode");
    assert_root_token(&server, token.expose());

    // A PGP key instead of an OTP: the token comes back encrypted to it.
    let public = pgp::public_keys().expect("fixture public keys");
    let started = client
        .start_root_token_generation(StartRootTokenGeneration::new().pgp_key(&public[0]))
        .expect("start with a PGP key");
    assert_eq!(
        started.pgp_fingerprint.as_deref(),
        Some(pgp::FINGERPRINTS[0].to_ascii_lowercase().as_str())
    );
    assert_eq!(started.otp, None);
    let nonce = started.nonce.clone().expect("nonce");
    let mut last = started;
    for key in &keys[..3] {
        last = client.generate_root(key.clone(), &nonce).expect("share");
    }
    let encrypted = last.encoded_token.clone().expect("encrypted token");
    let keyring = Keyring::new().expect("gpg keyring with the fixture keys");
    let token = keyring
        .decrypt_base64(encrypted.expose())
        .expect("decrypt the token");
    assert_root_token(&server, &token);

    // Without a token: OpenBao's paths refuse, the classic ones do not ask.
    let progress = anonymous.read_root_generation_progress();
    match dialect {
        Dialect::Vault => assert!(progress.is_ok(), "{progress:?}"),
        _ => assert_eq!(
            refusal(progress, "read progress without a token"),
            Refusal::PermissionDenied
        ),
    }
    let start = anonymous.start_root_token_generation(StartRootTokenGeneration::new());
    match dialect {
        Dialect::Vault => {
            assert!(start.expect("a classic start needs no token").started);
            anonymous
                .cancel_root_generation()
                .expect("a classic cancel needs no token");
        }
        _ => assert_eq!(
            refusal(start, "start without a token"),
            Refusal::PermissionDenied
        ),
    }
}

#[test]
fn root_token_ureq_vault() {
    root_token_lifecycle(Transport::Ureq, Dialect::Vault);
}

#[test]
fn root_token_ureq_openbao() {
    root_token_lifecycle(Transport::Ureq, Dialect::OpenBao);
}

#[test]
fn root_token_hyper_vault() {
    root_token_lifecycle(Transport::Hyper, Dialect::Vault);
}

#[test]
fn root_token_hyper_openbao() {
    root_token_lifecycle(Transport::Hyper, Dialect::OpenBao);
}
