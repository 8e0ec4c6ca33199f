use super::*;

fn target() -> Target {
    Target::new("http://127.0.0.1:8200").unwrap()
}

fn poll(generation: &mut RootTokenCeremony) -> (String, serde_json::Value) {
    let request = generation
        .poll(&target())
        .unwrap()
        .into_request()
        .expect("a request");
    let body = serde_json::from_slice(request.body()).unwrap_or(serde_json::Value::Null);
    (request.method().to_string(), body)
}

fn answer(
    generation: &mut RootTokenCeremony,
    status: u16,
    body: &str,
) -> Result<RootTokenEvent, Error> {
    generation.handle_response(StatusCode::from_u16(status).unwrap(), body.as_bytes())
}

const STARTED: &str = r#"{"nonce":"n-1","started":true,"progress":0,"required":3,"complete":false,"otp":"","otp_length":26}"#;

#[test]
fn a_start_answer_without_the_server_otp_is_an_error_but_cancellable() {
    let mut generation = RootTokenCeremony::start(TokenKind::Root, TokenProtection::ServerOtp);
    poll(&mut generation);
    let err = answer(&mut generation, 200, STARTED).unwrap_err();
    assert!(err.raw_body().is_some());
    assert_eq!(generation.phase(), RootTokenPhase::CollectingShares);
    assert_eq!(generation.nonce(), Some("n-1"));
    generation.cancel().unwrap();
    assert_eq!(poll(&mut generation).0, "DELETE");
    answer(&mut generation, 204, "").unwrap();
    assert_eq!(generation.phase(), RootTokenPhase::Cancelled);
}

#[test]
fn a_resumed_generation_checks_the_otp_it_was_given() {
    let mut generation = RootTokenCeremony::resume(TokenKind::Root, Some(Otp::new("too-short")));
    assert_eq!(poll(&mut generation).0, "GET");
    let err = answer(&mut generation, 200, STARTED).unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidInput(InvalidInput::OtpLength { expected: 26, .. })
    ));
    assert_eq!(generation.phase(), RootTokenPhase::CollectingShares);
    assert!(generation.otp().is_none());
    generation
        .provide_otp(Otp::new("abcdefghijklmnopqrstuvwxyz"))
        .unwrap();
    assert_eq!(generation.otp_length(), Some(26));
}

#[test]
fn update_answers_do_not_change_the_otp_length() {
    let mut generation = RootTokenCeremony::start(
        TokenKind::Root,
        TokenProtection::Otp(Otp::new("abcdefghijklmnopqrstuvwxyz")),
    );
    poll(&mut generation);
    answer(&mut generation, 200, &STARTED.replace("\"n-1\"", "\"\"")).unwrap();
    let (method, body) = poll(&mut generation);
    assert_eq!(method, "PUT");
    assert_eq!(body["otp"], "abcdefghijklmnopqrstuvwxyz");
    answer(&mut generation, 200, STARTED).unwrap();
    generation.submit_share(KeyShare::new("aa")).unwrap();
    poll(&mut generation);
    answer(
        &mut generation,
        200,
        r#"{"nonce":"n-1","started":true,"progress":1,"required":3,"complete":false,"otp_length":0}"#,
    )
    .unwrap();
    assert_eq!(generation.otp_length(), Some(26));
    generation.refresh().unwrap();
    poll(&mut generation);
    answer(&mut generation, 200, STARTED).unwrap();
    assert_eq!(generation.otp_length(), Some(26));
}

#[test]
fn nothing_is_sent_while_awaiting_the_otp() {
    let mut generation = RootTokenCeremony::start(TokenKind::Root, TokenProtection::GenerateOtp);
    poll(&mut generation);
    answer(&mut generation, 200, &STARTED.replace("true", "false")).unwrap();
    assert_eq!(generation.phase(), RootTokenPhase::AwaitingOtp);
    assert!(matches!(
        generation.poll(&target()).unwrap(),
        Next::NeedOtp { length: 26 }
    ));
    assert!(generation.refresh().is_err());
    generation.cancel().unwrap();
    assert!(generation.poll(&target()).unwrap().is_finished());
    assert_eq!(generation.phase(), RootTokenPhase::Cancelled);
}
