use super::*;

const NONCE: &str = "e3598a44-5a49-d5ab-c27e-e871724e4507";

fn target() -> Target {
    Target::new("http://127.0.0.1:8200")
        .unwrap()
        .with_dialect(Dialect::OpenBao)
}

fn poll(rekey: &mut RekeyCeremony) -> (String, String, serde_json::Value) {
    let request = rekey
        .poll(&target())
        .unwrap()
        .into_request()
        .expect("a request");
    let body = if request.body().is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(request.body()).unwrap()
    };
    (
        request.method().to_string(),
        request.uri().path().to_string(),
        body,
    )
}

fn answer(rekey: &mut RekeyCeremony, status: u16, body: &str) -> Result<RekeyEvent, Error> {
    rekey.handle_response(StatusCode::from_u16(status).unwrap(), body.as_bytes())
}

fn status(extra: &str) -> String {
    format!(
        r#"{{"data":{{"n":3,"nonce":"{NONCE}","progress":0,"required":3,"started":true,"t":2{extra}}}}}"#
    )
}

fn verifying() -> RekeyCeremony {
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(true));
    rekey.submit_share(KeyShare::new("aa")).unwrap();
    poll(&mut rekey);
    answer(&mut rekey, 200, &status(r#","verification_required":true"#)).unwrap();
    poll(&mut rekey);
    let done = format!(
        r#"{{"data":{{"complete":true,"keys":["k1","k2","k3"],"nonce":"{NONCE}","verification_nonce":"v-1","verification_required":true}}}}"#
    );
    assert_eq!(answer(&mut rekey, 200, &done).unwrap(), RekeyEvent::Rekeyed);
    assert_eq!(rekey.phase(), RekeyPhase::Verifying);
    rekey
}

#[test]
fn a_resumed_rekey_reads_before_it_cancels() {
    let mut rekey = RekeyCeremony::resume(KeyKind::Unseal);
    rekey.cancel().unwrap();
    let (method, path, _) = poll(&mut rekey);
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("GET", "/v1/sys/rotate/root/init")
    );
    assert_eq!(
        answer(&mut rekey, 200, &status("")).unwrap(),
        RekeyEvent::Started
    );
    let (method, _, body) = poll(&mut rekey);
    assert_eq!(method, "DELETE");
    assert_eq!(body["nonce"], NONCE);
    answer(&mut rekey, 204, "").unwrap();
    assert_eq!(rekey.phase(), RekeyPhase::Cancelled);
}

#[test]
fn a_stale_verification_nonce_is_read_again_and_the_share_resent() {
    let mut rekey = verifying();
    rekey
        .submit_verification_share(KeyShare::new("k1"))
        .unwrap();
    let (_, path, body) = poll(&mut rekey);
    assert!(path.ends_with("/verify"));
    assert_eq!(body["nonce"], "v-1");
    let stale =
        r#"{"errors":["incorrect nonce supplied; nonce for this verify operation is \"v-2\""]}"#;
    assert!(answer(&mut rekey, 400, stale).is_err());
    assert_eq!(rekey.phase(), RekeyPhase::Verifying, "not a foreign rekey");
    assert_eq!(rekey.queued_verification_shares(), 1);
    let (method, path, _) = poll(&mut rekey);
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("GET", "/v1/sys/rotate/root/init")
    );
    answer(
        &mut rekey,
        200,
        &status(r#","verification_nonce":"v-2","verification_required":true"#),
    )
    .unwrap();
    let (_, _, body) = poll(&mut rekey);
    assert_eq!(body, serde_json::json!({"key": "k1", "nonce": "v-2"}));
}

#[test]
fn the_verification_nonce_is_accepted_only_next_to_the_pinned_nonce() {
    let mut rekey = verifying();
    rekey.cancel_verification().unwrap();
    let (method, path, _) = poll(&mut rekey);
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("DELETE", "/v1/sys/rotate/root/verify")
    );
    let restarted = r#"{"data":{"n":3,"nonce":"v-3","progress":0,"started":true,"t":2}}"#;
    assert_eq!(
        answer(&mut rekey, 200, restarted).unwrap(),
        RekeyEvent::VerificationRestarted
    );
    assert_eq!(rekey.verification_nonce(), None);
    poll(&mut rekey);
    let other = status(r#","verification_nonce":"v-3""#).replace(NONCE, "someone-else");
    assert!(matches!(
        answer(&mut rekey, 200, &other),
        Err(Error::Ceremony(CeremonyError::ForeignNonce { .. }))
    ));
    assert_eq!(rekey.phase(), RekeyPhase::Aborted);
    assert!(rekey.result().is_some(), "the new shares stay reachable");
}

#[test]
fn a_rekey_finished_by_someone_else_is_not_ours_to_verify() {
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(true));
    rekey.submit_share(KeyShare::new("aa")).unwrap();
    poll(&mut rekey);
    answer(&mut rekey, 200, &status(r#","verification_required":true"#)).unwrap();
    poll(&mut rekey);
    let finished = r#"{"errors":["rotation already finished; verification must be performed; nonce for the verification operation is \"v-1\""]}"#;
    assert!(answer(&mut rekey, 400, finished).is_err());
    poll(&mut rekey);
    let err = answer(
        &mut rekey,
        200,
        &status(r#","verification_nonce":"v-1","verification_required":true"#),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        Error::Ceremony(CeremonyError::CompletedElsewhere)
    ));
    assert_eq!(rekey.phase(), RekeyPhase::Aborted);
}

#[test]
fn a_verification_the_server_forgot_aborts() {
    let mut rekey = verifying();
    rekey.refresh().unwrap();
    poll(&mut rekey);
    assert!(matches!(
        answer(&mut rekey, 200, &status("")),
        Err(Error::Ceremony(CeremonyError::NotStarted(_)))
    ));
    assert_eq!(rekey.phase(), RekeyPhase::Aborted);
    assert!(rekey.result().is_some());
}

#[test]
fn a_lost_refresh_is_read_again() {
    let mut rekey = verifying();
    rekey.refresh().unwrap();
    poll(&mut rekey);
    rekey.request_failed(Delivery::Unknown);
    let (method, _, _) = poll(&mut rekey);
    assert_eq!(method, "GET");
    assert!(answer(&mut rekey, 503, r#"{"errors":["Vault is sealed"]}"#).is_err());
    let (method, _, _) = poll(&mut rekey);
    assert_eq!(method, "GET", "a refused refresh is retried");
}

#[test]
fn a_missing_nonce_in_the_start_answer_aborts() {
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2));
    poll(&mut rekey);
    let err = answer(&mut rekey, 200, r#"{"started":true,"t":2,"n":3}"#).unwrap_err();
    assert!(matches!(err, Error::Ceremony(CeremonyError::NotStarted(_))));
    assert_eq!(rekey.phase(), RekeyPhase::Aborted);
}

#[test]
fn phases_name_themselves_in_errors() {
    let mut rekey = verifying();
    let err = rekey.submit_share(KeyShare::new("aa")).unwrap_err();
    assert!(err.to_string().contains("verifying"), "{err}");
}
