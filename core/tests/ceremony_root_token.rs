//! The root-token and recovery-token generation ceremony driven end to end against captured
//! OpenBao 2.7.2 exchanges: classic `sys/generate-root/*` (server B), OpenBao's
//! `sys/generate-root-token/*` (server A) and `sys/generate-recovery-token/*` (recovery mode).

mod ceremony_support;

use ceremony_support::{drive, target, Capture, Server};
use serde_json::json;
use vault_key_core::ceremony::{
    Next, RootTokenCeremony, RootTokenEvent, RootTokenPhase, TokenProtection,
};
use vault_key_core::ops::generate_root::TokenKind;
use vault_key_core::{
    otp, CeremonyError, Dialect, EncodedToken, Error, ExecuteError, InvalidInput, KeyShare, Otp,
    Refusal, Token,
};

fn shares(capture: &Capture, captures: &[usize]) -> Vec<KeyShare> {
    captures
        .iter()
        .map(|&c| KeyShare::new(capture.row(c).key()))
        .collect()
}

fn core_error<E: std::fmt::Debug>(result: Result<RootTokenPhase, ExecuteError<E>>) -> Error {
    match result {
        Err(ExecuteError::Core(err)) => err,
        other => panic!("expected a core error, got {other:?}"),
    }
}

fn refusal_of<E: std::fmt::Debug>(result: Result<RootTokenPhase, ExecuteError<E>>) -> Refusal {
    core_error(result).refusal().cloned().expect("a refusal")
}

/// Start with a server OTP; a share; the same share again (refused); the rest; decode.
fn server_otp(
    dialect: Dialect,
    kind: TokenKind,
    script: &[usize],
    duplicate_at: usize,
    token: &str,
) {
    let capture = Capture::load();
    let server = Server::new(capture.rows(script));
    let client = server.client();
    let target = target(dialect);
    let start = capture.row(script[0]);
    let mut generation = RootTokenCeremony::start(kind, TokenProtection::ServerOtp);
    generation
        .submit_shares(shares(&capture, &script[1..]))
        .unwrap();

    let refusal = refusal_of(drive(&client, &target, &mut generation));
    assert_eq!(refusal, Refusal::AlreadyProvided);
    assert_eq!(generation.phase(), RootTokenPhase::CollectingShares);
    assert_eq!(generation.progress(), duplicate_at as u32 - 1);
    assert_eq!(
        generation.otp().map(Otp::expose),
        start.field("otp").as_str(),
        "the OTP of the start answer is kept"
    );

    assert_eq!(
        drive(&client, &target, &mut generation).unwrap(),
        RootTokenPhase::Done
    );
    server.finished();
    let last = capture.row(*script.last().unwrap());
    assert_eq!(
        generation.encoded_token().map(EncodedToken::expose),
        last.field("encoded_token").as_str()
    );
    assert_eq!(
        generation.otp_length(),
        start.field("otp_length").as_u64().map(|l| l as u32),
        "the length seen at the start, not the 0 of the update answers"
    );
    assert_eq!(generation.decode_token().unwrap().expose(), token);
    assert_eq!(generation.token_kind(), kind);
    assert!(!generation.result().unwrap().is_pgp_encrypted());
}

#[test]
fn legacy_root_token_with_server_otp() {
    server_otp(
        Dialect::Vault,
        TokenKind::Root,
        &[99, 107, 108, 109, 111],
        2,
        "s.iBroeC4FnpeZNctkaNsaKICA",
    );
}

#[test]
fn openbao_root_token_with_server_otp() {
    server_otp(
        Dialect::OpenBao,
        TokenKind::Root,
        &[145, 154, 155, 156, 157],
        2,
        "s.waIGj7uPa5bfvIpw671GkVmu",
    );
}

#[test]
fn recovery_token_with_server_otp() {
    server_otp(
        Dialect::Vault,
        TokenKind::Recovery,
        &[585, 589, 590, 591],
        2,
        "hvr.nXS0TmUXRAlBlleWy39cOKHI",
    );
}

#[test]
fn legacy_caller_otp_with_wrong_shares_then_success() {
    let capture = Capture::load();
    let server = Server::new(capture.rows(&[117, 118, 119, 120, 121, 122, 123, 124, 125]));
    let client = server.client();
    let target = target(Dialect::Vault);
    let otp = Otp::new("abcdefghijklmnopqrstuvwxyz");
    let mut generation = RootTokenCeremony::start(TokenKind::Root, TokenProtection::Otp(otp));
    generation
        .submit_shares(shares(&capture, &[119, 120, 121]))
        .unwrap();

    let refusal = refusal_of(drive(&client, &target, &mut generation));
    assert_eq!(refusal, Refusal::SharesDidNotCombine);
    assert_eq!(generation.phase(), RootTokenPhase::CollectingShares);
    assert_eq!((generation.progress(), generation.required()), (0, 3));
    let nonce = "e902eb8e-03ac-d786-4b55-32d254d64d3c";
    assert_eq!(generation.nonce(), Some(nonce));

    generation.refresh().unwrap();
    assert_eq!(
        drive(&client, &target, &mut generation).unwrap(),
        RootTokenPhase::CollectingShares
    );
    assert_eq!(generation.nonce(), Some(nonce), "the same generation");

    generation
        .submit_shares(shares(&capture, &[123, 124, 125]))
        .unwrap();
    assert_eq!(
        drive(&client, &target, &mut generation).unwrap(),
        RootTokenPhase::Done
    );
    server.finished();
    assert_eq!(
        generation.decode_token().unwrap().expose(),
        "s.xxi6ZZaukjlQaphRtFs5D0Rb"
    );
}

fn pgp(dialect: Dialect, script: &[usize], shares_at: &[usize], wrong_at: Option<usize>) {
    let capture = Capture::load();
    let start = capture.row(script[0]);
    let key = start.req_json().unwrap()["pgp_key"]
        .as_str()
        .unwrap()
        .to_string();
    let server = Server::new(capture.rows(script));
    let client = server.client();
    let target = target(dialect);
    // Pinned by the caller: without the `pgp` feature the core does not read the key.
    let pinned = start.field("pgp_fingerprint");
    let mut generation = RootTokenCeremony::start(TokenKind::Root, TokenProtection::PgpKey(key))
        .require_fingerprint(pinned.as_str().unwrap());
    generation
        .submit_shares(shares(&capture, shares_at))
        .unwrap();
    if wrong_at.is_some() {
        let refusal = refusal_of(drive(&client, &target, &mut generation));
        assert_eq!(refusal, Refusal::SharesDidNotCombine);
        generation.refresh().unwrap();
    }
    assert_eq!(
        drive(&client, &target, &mut generation).unwrap(),
        RootTokenPhase::Done
    );
    server.finished();
    let last = capture.row(*script.last().unwrap());
    let result = generation.result().unwrap();
    assert_eq!(
        Some(result.encoded().expose()),
        last.field("encoded_token").as_str(),
        "the OpenPGP message, as is"
    );
    assert!(result.is_pgp_encrypted());
    assert_eq!(
        result.pgp_fingerprint(),
        start.field("pgp_fingerprint").as_str()
    );
    assert!(matches!(
        generation.decode_token(),
        Err(Error::InvalidInput(InvalidInput::TokenDecode(_)))
    ));
}

#[test]
fn legacy_root_token_with_pgp_key() {
    pgp(
        Dialect::Vault,
        &[127, 128, 129, 130],
        &[128, 129, 130],
        None,
    );
}

#[test]
fn openbao_root_token_with_pgp_key_after_wrong_shares() {
    pgp(
        Dialect::OpenBao,
        &[164, 165, 166, 167, 168, 169, 170, 171],
        &[165, 166, 167, 169, 170, 171],
        Some(167),
    );
}

#[test]
fn openbao_caller_otp_then_cancel() {
    let capture = Capture::load();
    let server = Server::new(capture.rows(&[158, 161, 162]));
    let client = server.client();
    let target = target(Dialect::OpenBao);
    let otp = Otp::new("abcdefghijklmnopqrstuvwxyz");
    let mut generation = RootTokenCeremony::start(TokenKind::Root, TokenProtection::Otp(otp));
    assert_eq!(
        drive(&client, &target, &mut generation).unwrap(),
        RootTokenPhase::CollectingShares
    );
    assert_eq!(
        generation.nonce(),
        Some("0539d3a3-cd8e-93a3-c108-d4b08593d5c0")
    );
    generation.cancel().unwrap();
    assert_eq!(
        drive(&client, &target, &mut generation).unwrap(),
        RootTokenPhase::Cancelled
    );
    server.finished();
    assert!(generation.submit_share(KeyShare::new("aa")).is_err());
}

#[test]
fn a_caller_otp_of_the_wrong_length_is_caught_before_anything_is_sent() {
    let capture = Capture::load();
    let server = Server::new(capture.rows(&[139]));
    let client = server.client();
    let target = target(Dialect::OpenBao);
    let mut generation =
        RootTokenCeremony::start(TokenKind::Root, TokenProtection::Otp(Otp::new("tooshort")));
    let err = core_error(drive(&client, &target, &mut generation));
    assert!(matches!(
        err,
        Error::InvalidInput(InvalidInput::OtpLength {
            expected: 26,
            given: 8
        })
    ));
    server.finished();
    assert_eq!(server.sent.borrow().len(), 1, "only the status was read");
    assert_eq!(generation.phase(), RootTokenPhase::AwaitingOtp);
    assert!(generation.otp().is_none());
    assert!(generation.provide_otp(Otp::new("still-too-short")).is_err());

    generation
        .provide_otp(Otp::new("abcdefghijklmnopqrstuvwxyz"))
        .unwrap();
    server.then(capture.rows(&[161]));
    assert_eq!(
        drive(&client, &target, &mut generation).unwrap(),
        RootTokenPhase::CollectingShares
    );
    server.finished();
}

#[test]
fn a_generated_otp_comes_from_the_callers_source() {
    let capture = Capture::load();
    let server = Server::new(capture.rows(&[139]));
    let client = server.client();
    let target = target(Dialect::OpenBao);
    let mut generation = RootTokenCeremony::start(TokenKind::Root, TokenProtection::GenerateOtp);
    assert!(generation
        .generate_otp(&mut |buf: &mut [u8]| buf.fill(1))
        .is_err());
    assert_eq!(
        drive(&client, &target, &mut generation).unwrap(),
        RootTokenPhase::AwaitingOtp
    );
    assert!(generation
        .poll(&target)
        .map(Next::into_request)
        .unwrap()
        .is_none());
    let mut counter = 0u8;
    let mut source = |buf: &mut [u8]| {
        for b in buf {
            *b = counter;
            counter = counter.wrapping_add(7);
        }
    };
    generation.generate_otp(&mut source).unwrap();
    let otp = generation.otp().unwrap().clone();
    assert_eq!(otp.len(), 26);
    server.then([capture.row(161).expect_body(json!({ "otp": otp.expose() }))]);
    assert_eq!(
        drive(&client, &target, &mut generation).unwrap(),
        RootTokenPhase::CollectingShares
    );
    server.finished();
    assert_eq!(generation.otp(), Some(&otp));
}

#[test]
fn resume_a_recovery_token_generation_with_its_otp() {
    let capture = Capture::load();
    let server = Server::new(capture.rows(&[587, 589, 591]));
    let otp = Otp::new("XO8Tl9Nm5qx1R2SgQ1mrCu2kP17G");
    let mut generation = RootTokenCeremony::resume(TokenKind::Recovery, Some(otp))
        .require_nonce("c30f94bb-dc6c-9104-f2ec-6afbf1b8ffe7");
    generation
        .submit_shares(shares(&capture, &[589, 591]))
        .unwrap();
    assert_eq!(
        drive(&server.client(), &target(Dialect::Vault), &mut generation).unwrap(),
        RootTokenPhase::Done
    );
    server.finished();
    assert_eq!(generation.otp_length(), Some(28));
    assert_eq!(
        generation.decode_token().unwrap().expose(),
        "hvr.nXS0TmUXRAlBlleWy39cOKHI"
    );
}

#[test]
fn resume_refuses_another_generation() {
    let capture = Capture::load();
    let server = Server::new(capture.rows(&[147]));
    let mut generation = RootTokenCeremony::resume(TokenKind::Root, None)
        .require_nonce("0539d3a3-cd8e-93a3-c108-d4b08593d5c0");
    generation.submit_share(KeyShare::new("aa")).unwrap();
    let err = core_error(drive(
        &server.client(),
        &target(Dialect::OpenBao),
        &mut generation,
    ));
    assert!(matches!(
        err,
        Error::Ceremony(CeremonyError::ForeignNonce { ref found, .. })
            if found == "f17d31b3-1bb5-d8b7-301e-66e17fca4e4d"
    ));
    server.finished();
    assert_eq!(generation.phase(), RootTokenPhase::Aborted);
    assert_eq!(generation.queued_shares(), 0);
    assert!(generation
        .poll(&target(Dialect::OpenBao))
        .map(Next::into_request)
        .unwrap()
        .is_none());
}

#[test]
fn a_wrong_nonce_refusal_naming_another_generation_aborts() {
    let capture = Capture::load();
    let pinned = "0539d3a3-cd8e-93a3-c108-d4b08593d5c0";
    let share = capture.row(148).key();
    let server = Server::new([
        capture.row(158),
        capture.row(161),
        capture
            .row(148)
            .expect_body(json!({ "key": share, "nonce": pinned })),
    ]);
    let mut generation = RootTokenCeremony::start(
        TokenKind::Root,
        TokenProtection::Otp(Otp::new("abcdefghijklmnopqrstuvwxyz")),
    );
    generation.submit_share(KeyShare::new(share)).unwrap();
    let err = core_error(drive(
        &server.client(),
        &target(Dialect::OpenBao),
        &mut generation,
    ));
    assert!(matches!(
        err,
        Error::Ceremony(CeremonyError::ForeignNonce { ref expected, ref found })
            if expected == pinned && found == "f17d31b3-1bb5-d8b7-301e-66e17fca4e4d"
    ));
    server.finished();
    assert_eq!(generation.phase(), RootTokenPhase::Aborted);
}

#[test]
fn a_completion_without_a_token_keeps_the_body() {
    let capture = Capture::load();
    let broken = capture
        .row(111)
        .replace(
            "\"encoded_token\":\"MR4veh4NFyZ4FgwCAhQWADwFF300Nik9BXY\"",
            "\"encoded_token\":\"\"",
        )
        .replace(
            "\"encoded_root_token\":\"MR4veh4NFyZ4FgwCAhQWADwFF300Nik9BXY\"",
            "\"encoded_root_token\":\"\"",
        );
    let body = broken.body.clone();
    let server = Server::new([capture.row(99), broken]);
    let mut generation = RootTokenCeremony::start(TokenKind::Root, TokenProtection::ServerOtp);
    generation.submit_shares(shares(&capture, &[111])).unwrap();
    let err = core_error(drive(
        &server.client(),
        &target(Dialect::Vault),
        &mut generation,
    ));
    assert_eq!(err.raw_body().unwrap().expose(), body.as_bytes());
    assert_eq!(generation.undecoded_responses().len(), 1);
    assert_eq!(
        generation.undecoded_responses()[0].expose(),
        body.as_bytes()
    );
    assert_ne!(
        generation.phase(),
        RootTokenPhase::Done,
        "no completion without its token"
    );
    assert!(generation.result().is_none());
    assert!(generation.otp().is_some(), "the OTP is still there");
}

/// An answer that carries the encoded token but not `complete` (or says `false`) is a
/// completion all the same: the token is the result, never taken for progress and dropped.
#[test]
fn a_token_without_complete_is_still_the_result() {
    let capture = Capture::load();
    for flag in ["", "\"complete\":false,"] {
        let mut without = capture.row(111);
        let body = without.body.replace("\"complete\":true,", flag);
        assert_ne!(body, without.body, "the capture says complete");
        without.body = body;
        let server = Server::new([capture.row(99), without]);
        let mut generation = RootTokenCeremony::start(TokenKind::Root, TokenProtection::ServerOtp);
        generation.submit_shares(shares(&capture, &[111])).unwrap();
        drive(&server.client(), &target(Dialect::Vault), &mut generation).unwrap();
        assert_eq!(generation.phase(), RootTokenPhase::Done, "{flag:?}");
        assert_eq!(
            generation
                .result()
                .map(|r| r.encoded().expose().to_string()),
            Some("MR4veh4NFyZ4FgwCAhQWADwFF300Nik9BXY".to_string())
        );
    }
}

#[test]
fn the_manual_loop_reports_each_event() {
    let capture = Capture::load();
    let server = Server::new(capture.rows(&[139, 161, 162]));
    let target = target(Dialect::OpenBao);
    let mut generation = RootTokenCeremony::start(
        TokenKind::Root,
        TokenProtection::Otp(Otp::new("abcdefghijklmnopqrstuvwxyz")),
    );
    let mut events = Vec::new();
    while let Some(request) = generation.poll(&target).map(Next::into_request).unwrap() {
        let response = server.answer(request);
        events.push(generation.handle_http_response(&response).unwrap());
        if events.len() == 2 {
            generation.cancel().unwrap();
        }
    }
    assert_eq!(
        events,
        [
            RootTokenEvent::StatusRead,
            RootTokenEvent::Started,
            RootTokenEvent::Cancelled
        ]
    );
    server.finished();
}

/// Vault before 1.0 (`otp_length` absent, so 0): the OTP is base64 of 16 bytes and the token
/// a UUID. No server of that age was captured; the answers have the classic shape without
/// `otp_length`, and the encoded token is the legacy vector of `tests/otp.rs`.
#[test]
fn legacy_scheme_generation() {
    let capture = Capture::load();
    let otp = Otp::new("AAECAwQFBgcICQoLDA0ODw==");
    let token = Token::new("9c7b5a38-1d2e-4f60-8a9b-0c1d2e3f4a5b");
    let encoded = otp::encode_token(&token, &otp, 0).unwrap();
    let nonce = "2dbd10f0-0e9b-4e2b-a5b6-5f4b1fd2ce47";
    let status = |progress: u32, complete: bool, encoded: &str| {
        format!(
            r#"{{"nonce":"{nonce}","started":true,"progress":{progress},"required":1,"complete":{complete},"encoded_root_token":"{encoded}","pgp_fingerprint":""}}"#
        )
    };
    let mut idle = capture.row(117);
    idle.body = r#"{"nonce":"","started":false,"progress":0,"required":1,"complete":false,"encoded_root_token":"","pgp_fingerprint":""}"#.into();
    let mut start = capture.row(118).expect_body(json!({ "otp": otp.expose() }));
    start.body = status(0, false, "");
    let mut update = capture.row(119);
    update.body = status(1, true, encoded.expose());
    update.req = Some(
        json!({ "key": "59fc8632b99b18e1ac5ab103d6d4b9681e6fa22aa43a32274854cbc529551a121e", "nonce": nonce })
            .to_string(),
    );
    let server = Server::new([idle, start, update]);
    let mut generation =
        RootTokenCeremony::start(TokenKind::Root, TokenProtection::Otp(otp.clone()));
    generation
        .submit_share(KeyShare::new(
            "59fc8632b99b18e1ac5ab103d6d4b9681e6fa22aa43a32274854cbc529551a121e",
        ))
        .unwrap();
    assert_eq!(
        drive(&server.client(), &target(Dialect::Vault), &mut generation).unwrap(),
        RootTokenPhase::Done
    );
    server.finished();
    assert_eq!(generation.otp_length(), Some(0));
    assert_eq!(generation.decode_token().unwrap(), token);
}

#[test]
fn a_legacy_server_wants_a_base64_otp() {
    let capture = Capture::load();
    let mut idle = capture.row(117);
    idle.body = r#"{"nonce":"","started":false,"progress":0,"required":1,"complete":false}"#.into();
    let server = Server::new([idle]);
    let mut generation = RootTokenCeremony::start(TokenKind::Root, TokenProtection::GenerateOtp);
    assert_eq!(
        drive(&server.client(), &target(Dialect::Vault), &mut generation).unwrap(),
        RootTokenPhase::AwaitingOtp
    );
    assert_eq!(generation.otp_length(), Some(0));
    assert!(generation
        .provide_otp(Otp::new("abcdefghijklmnopqrstuvwxyz"))
        .is_err());
    generation
        .generate_otp(&mut |buf: &mut [u8]| buf.fill(0xa5))
        .unwrap();
    assert_eq!(generation.otp().unwrap().len(), 24);
}

#[test]
fn a_generation_to_another_pgp_key_gets_no_share() {
    let target = ceremony_support::target(Dialect::OpenBao);
    let status = |fingerprint: &str| {
        format!(
            r#"{{"data":{{"complete":false,"nonce":"n-1","otp":"","otp_length":26,"pgp_fingerprint":"{fingerprint}","progress":0,"required":3,"started":true}}}}"#
        )
    };
    let ours = "424BE52F3E6D21911B2FF0EC27FA7488D7D92E4F";
    let mut generation = RootTokenCeremony::resume(TokenKind::Root, None).require_fingerprint(ours);
    generation.submit_share(KeyShare::new("aa")).unwrap();
    generation.poll(&target).unwrap().into_request().unwrap();
    let same = status(&ours.to_ascii_lowercase());
    generation
        .handle_response(http::StatusCode::OK, same.as_bytes())
        .unwrap();
    assert!(matches!(generation.poll(&target).unwrap(), Next::Send(_)));

    for other in ["27e665ab8618c4dd024151692a139934e54fb17b", ""] {
        let mut generation =
            RootTokenCeremony::resume(TokenKind::Root, None).require_fingerprint(ours);
        generation.submit_share(KeyShare::new("aa")).unwrap();
        generation.poll(&target).unwrap().into_request().unwrap();
        let err = generation
            .handle_response(http::StatusCode::OK, status(other).as_bytes())
            .unwrap_err();
        assert!(
            matches!(err, Error::Ceremony(CeremonyError::FingerprintMismatch { ref found, .. }) if found.iter().map(String::as_str).eq((!other.is_empty()).then_some(other))),
            "{other:?}: {err:?}"
        );
        assert_eq!(generation.phase(), RootTokenPhase::Aborted);
        assert!(generation.poll(&target).unwrap().is_finished());
    }
}
