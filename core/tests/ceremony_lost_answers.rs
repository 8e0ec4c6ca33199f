//! Answers that never arrived whole: every way a ceremony resolves a request whose outcome it does not know, driven
//! by hand so each step is visible. The bodies are those of OpenBao 2.7.2's authenticated paths (the `data`
//! envelope); the real-server suite (`tests/tests/lost_answers.rs`) runs the same faults through a proxy.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
mod ceremony_support;
use ceremony_support::drive;
use vault_key_core::ceremony::{
    Next, RekeyCeremony, RekeyEvent, RekeyPhase, RootTokenCeremony, RootTokenEvent, RootTokenPhase,
    TokenProtection, Verification,
};
use vault_key_core::ops::generate_root::TokenKind;
use vault_key_core::ops::rekey::{KeyKind, StartRekey};
use vault_key_core::transport::redirect::{FollowRedirects, RedirectPolicy};
use vault_key_core::transport::{TransportError, TransportErrorKind};
use vault_key_core::{
    CeremonyError, Delivery, Dialect, Error, KeyShare, PartialResponse, Recovery, Refusal,
    SecretBytes, Target, Token,
};

const NONCE: &str = "e3598a44-5a49-d5ab-c27e-e871724e4507";

fn target() -> Target {
    Target::new("http://127.0.0.1:8200")
        .unwrap()
        .with_token(Token::new("s.operator"))
        .with_dialect(Dialect::OpenBao)
}

fn status(progress: u32, extra: &str) -> String {
    format!(
        r#"{{"data":{{"n":3,"nonce":"{NONCE}","progress":{progress},"required":2,"started":true,"t":2{extra}}}}}"#
    )
}

/// The progress read once a rekey has issued its new shares and waits for their verification.
fn verification_pending() -> String {
    status(
        0,
        r#","verification_nonce":"v-1","verification_required":true"#,
    )
}

const NOT_STARTED: &str = r#"{"data":{"n":0,"nonce":"","progress":0,"required":2,"started":false,"t":0,"verification_required":false}}"#;

fn completion(verification: bool) -> String {
    let nonce = if verification { "v-1" } else { "" };
    format!(
        r#"{{"request_id":"r-1","lease_id":"","renewable":false,"lease_duration":0,"data":{{"backup":false,"complete":true,"keys":["4738112d","204ebce3","3617bc66"],"keys_base64":["RzgRLQ==","IE6843","Nhe8Zg=="],"nonce":"{NONCE}","pgp_fingerprints":null,"verification_nonce":"{nonce}","verification_required":{verification}}},"wrap_info":null,"warnings":null,"auth":null}}"#
    )
}

/// The next request: its method and path.
fn poll(rekey: &mut RekeyCeremony) -> (Method, String) {
    let request = rekey
        .poll(&target())
        .map(Next::into_request)
        .unwrap()
        .expect("a request");
    (request.method().clone(), request.uri().path().to_string())
}

fn answer(rekey: &mut RekeyCeremony, code: u16, body: &str) -> Result<RekeyEvent, Error> {
    rekey.handle_response(StatusCode::from_u16(code).unwrap(), body.as_bytes())
}

/// A rekey of 3 shares, threshold 2, started and with one of two current shares counted; the second is sent next.
fn one_share_counted(verification: bool) -> RekeyCeremony {
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(verification));
    rekey
        .submit_shares([KeyShare::new("aa"), KeyShare::new("bb")])
        .unwrap();
    let flags = format!(r#","verification_required":{verification}"#);
    poll(&mut rekey);
    answer(&mut rekey, 200, &status(0, &flags)).unwrap();
    poll(&mut rekey);
    answer(&mut rekey, 200, &status(1, &flags)).unwrap();
    rekey
}

fn ceremony_error(error: &Error) -> CeremonyError {
    match error {
        Error::Ceremony(e) => e.clone(),
        other => panic!("expected a ceremony error, got {other:?}"),
    }
}

fn cut(body: &str, keep: usize) -> PartialResponse {
    PartialResponse::new(StatusCode::OK, SecretBytes::new(&body.as_bytes()[..keep]))
}

#[test]
fn new_shares_in_a_cut_completion_are_recovered_and_confirmed_by_the_read() {
    let mut rekey = one_share_counted(false);
    assert_eq!(poll(&mut rekey).1, "/v1/sys/rotate/root/update");
    let body = completion(false);
    let partial = cut(&body, body.len() * 2 / 3);
    rekey.request_failed(Delivery::Cut(&partial));
    assert_eq!(rekey.phase(), RekeyPhase::OutcomeUnknown);
    let salvaged = rekey.result().expect("every share arrived");
    let keys: Vec<&str> = salvaged.keys.iter().map(KeyShare::expose).collect();
    assert_eq!(keys, ["4738112d", "204ebce3", "3617bc66"]);
    assert_eq!(salvaged.nonce.as_deref(), Some(NONCE));
    assert_eq!(rekey.undecoded_responses().len(), 1);
    assert_eq!(
        rekey.undecoded_responses()[0].expose(),
        partial.body().expose()
    );
    // Nothing is resent: the progress is read, and says the rekey finished.
    assert_eq!(
        poll(&mut rekey),
        (Method::GET, "/v1/sys/rotate/root/init".into())
    );
    assert_eq!(
        answer(&mut rekey, 200, NOT_STARTED).unwrap(),
        RekeyEvent::Rekeyed
    );
    assert_eq!(rekey.phase(), RekeyPhase::Done);
    assert!(rekey
        .poll(&target())
        .map(Next::into_request)
        .unwrap()
        .is_none());
}

#[test]
fn a_cut_before_the_last_share_is_not_salvaged() {
    let mut rekey = one_share_counted(true);
    poll(&mut rekey);
    let body = completion(true);
    let before_last = body.find("3617bc66").unwrap();
    rekey.request_failed(Delivery::Cut(&cut(&body, before_last)));
    assert!(
        rekey.result().is_none(),
        "two of three shares are not a result"
    );
    poll(&mut rekey);
    // The read finds the verification pending under this nonce: its own share finished it.
    let err = answer(&mut rekey, 200, &verification_pending()).unwrap_err();
    assert_eq!(
        ceremony_error(&err),
        CeremonyError::AnswerLost {
            ceremony: "rekey",
            recovery: Recovery::CancelAndRestart
        }
    );
    assert_eq!(rekey.phase(), RekeyPhase::Aborted);
    assert!(
        err.to_string().contains("old shares are still in effect"),
        "{err}"
    );
    rekey.cancel().expect("still cancellable");
    let (method, path) = poll(&mut rekey);
    assert_eq!(
        (method, path.as_str()),
        (Method::DELETE, "/v1/sys/rotate/root/init")
    );
    answer(&mut rekey, 204, "").unwrap();
    assert_eq!(rekey.phase(), RekeyPhase::Cancelled);
}

#[test]
fn the_read_tells_counted_from_not_counted_from_reset() {
    for (progress, event, queued) in [
        (2, RekeyEvent::Progress, 0),
        (1, RekeyEvent::Requeued, 1),
        (0, RekeyEvent::ProgressReset, 0),
    ] {
        let mut rekey = RekeyCeremony::start(StartRekey::new(3, 3));
        rekey
            .submit_shares(["aa", "bb", "cc"].map(KeyShare::new))
            .unwrap();
        poll(&mut rekey);
        answer(&mut rekey, 200, &status(0, "")).unwrap();
        poll(&mut rekey);
        answer(&mut rekey, 200, &status(1, "")).unwrap();
        poll(&mut rekey);
        rekey.request_failed(Delivery::Unknown);
        assert_eq!(rekey.queued_shares(), 1);
        assert_eq!(poll(&mut rekey).0, Method::GET);
        assert_eq!(
            answer(&mut rekey, 200, &status(progress, "")).unwrap(),
            event
        );
        assert_eq!(rekey.phase(), RekeyPhase::CollectingShares);
        assert_eq!(rekey.queued_shares(), 1 + queued, "progress {progress}");
        assert_eq!(rekey.progress(), progress);
    }
}

#[test]
fn a_request_that_never_left_is_rebuilt_without_a_read() {
    let mut rekey = one_share_counted(true);
    poll(&mut rekey);
    rekey.request_failed(Delivery::NotSent);
    assert_eq!(rekey.phase(), RekeyPhase::CollectingShares);
    assert_eq!(poll(&mut rekey).1, "/v1/sys/rotate/root/update");
}

#[test]
fn a_rekey_the_server_lost_says_so() {
    // With verification a completed rekey stays started: not started means lost.
    let mut rekey = one_share_counted(true);
    poll(&mut rekey);
    rekey.request_failed(Delivery::Unknown);
    poll(&mut rekey);
    assert_eq!(
        ceremony_error(&answer(&mut rekey, 200, NOT_STARTED).unwrap_err()),
        CeremonyError::LostByServer("rekey")
    );
    assert!(rekey.cancel().is_err(), "nothing of it is left to cancel");

    // Without verification, a share below the threshold cannot have completed it either.
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(false));
    rekey.submit_share(KeyShare::new("aa")).unwrap();
    poll(&mut rekey);
    answer(&mut rekey, 200, &status(0, "")).unwrap();
    poll(&mut rekey);
    rekey.request_failed(Delivery::Unknown);
    poll(&mut rekey);
    assert_eq!(
        ceremony_error(&answer(&mut rekey, 200, NOT_STARTED).unwrap_err()),
        CeremonyError::LostByServer("rekey")
    );

    // A share refused as not in progress: the same.
    let mut rekey = one_share_counted(true);
    poll(&mut rekey);
    let err = answer(
        &mut rekey,
        400,
        r#"{"errors":["no barrier rekey in progress"]}"#,
    );
    assert_eq!(
        ceremony_error(&err.unwrap_err()),
        CeremonyError::LostByServer("rekey")
    );
    assert_eq!(rekey.phase(), RekeyPhase::Aborted);
}

#[test]
fn without_verification_a_lost_completion_says_the_shares_are_gone_or_points_to_the_backup() {
    for (backup, recovery) in [(false, Recovery::SharesGone), (true, Recovery::ReadBackup)] {
        let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(false));
        rekey
            .submit_shares([KeyShare::new("aa"), KeyShare::new("bb")])
            .unwrap();
        poll(&mut rekey);
        let flags = format!(r#","backup":{backup},"pgp_fingerprints":["a","b","c"]"#);
        answer(&mut rekey, 200, &status(0, &flags)).unwrap();
        poll(&mut rekey);
        answer(&mut rekey, 200, &status(1, &flags)).unwrap();
        poll(&mut rekey);
        rekey.request_failed(Delivery::Unknown);
        poll(&mut rekey);
        let err = answer(&mut rekey, 200, NOT_STARTED).unwrap_err();
        assert_eq!(
            ceremony_error(&err),
            CeremonyError::AnswerLost {
                ceremony: "rekey",
                recovery
            }
        );
        assert_eq!(rekey.nonce(), Some(NONCE), "kept, to match the backup");
    }
}

#[test]
fn a_gateway_error_after_a_share_is_an_unknown_outcome() {
    let mut rekey = one_share_counted(true);
    poll(&mut rekey);
    let page = "<html><body>502 Bad Gateway</body></html>";
    let err = answer(&mut rekey, 502, page).unwrap_err();
    assert!(matches!(&err, Error::Server(e) if e.from_gateway()));
    assert!(!err.to_string().contains("Bad Gateway</body>"), "{err}");
    assert_eq!(rekey.phase(), RekeyPhase::OutcomeUnknown);
    assert_eq!(rekey.undecoded_responses()[0].expose(), page.as_bytes());
    assert_eq!(poll(&mut rekey).0, Method::GET);
}

/// A load balancer's bare 503 on the completing share, after the server acted on it: the share
/// is not sent again; the read that follows finds the verification waiting under this
/// ceremony's nonce and says its own share completed the rekey, its answer lost.
#[test]
fn a_proxys_503_page_after_the_completing_share_is_settled_by_a_read() {
    let mut rekey = one_share_counted(true);
    assert_eq!(poll(&mut rekey).0, Method::PUT);
    let page = "<html><head><title>503 Service Temporarily Unavailable</title></head></html>";
    let err = answer(&mut rekey, 503, page).unwrap_err();
    assert!(
        matches!(&err, Error::Server(e) if e.refusal != Refusal::Sealed && !e.written_by_server()),
        "{err:?}"
    );
    assert_eq!(rekey.phase(), RekeyPhase::OutcomeUnknown);
    assert_eq!(
        poll(&mut rekey),
        (Method::GET, "/v1/sys/rotate/root/init".into()),
        "a read before anything else"
    );
    let err = answer(&mut rekey, 200, &verification_pending()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Ceremony(CeremonyError::AnswerLost {
                recovery: Recovery::CancelAndRestart,
                ..
            })
        ),
        "{err:?}"
    );

    // Vault's own 503 is its refusal: the share was not judged and goes again.
    let mut rekey = one_share_counted(true);
    poll(&mut rekey);
    answer(&mut rekey, 503, r#"{"errors":["Vault is sealed"]}"#).unwrap_err();
    assert_eq!(
        poll(&mut rekey),
        (Method::PUT, "/v1/sys/rotate/root/update".into())
    );
}

#[test]
fn a_lost_verification_share_is_resolved_from_the_verification_progress() {
    let verifying = || {
        let mut rekey = one_share_counted(true);
        poll(&mut rekey);
        assert_eq!(
            answer(&mut rekey, 200, &completion(true)).unwrap(),
            RekeyEvent::Rekeyed
        );
        rekey
            .submit_verification_shares(["4738112d", "204ebce3"].map(KeyShare::new))
            .unwrap();
        rekey
    };
    let verify = |progress: u32, nonce: &str| {
        format!(
            r#"{{"data":{{"n":3,"nonce":"{nonce}","progress":{progress},"started":true,"t":2}}}}"#
        )
    };

    let mut rekey = verifying();
    assert_eq!(
        poll(&mut rekey),
        (Method::PUT, "/v1/sys/rotate/root/verify".into())
    );
    rekey.request_failed(Delivery::Unknown);
    assert_eq!(
        poll(&mut rekey),
        (Method::GET, "/v1/sys/rotate/root/verify".into())
    );
    assert_eq!(
        answer(&mut rekey, 200, &verify(1, "v-1")).unwrap(),
        RekeyEvent::VerificationProgress
    );
    assert_eq!(rekey.queued_verification_shares(), 1, "counted: not resent");

    // The last verification share lost, and no verification left: it completed, or the server lost the rekey.
    poll(&mut rekey);
    rekey.request_failed(Delivery::Unknown);
    poll(&mut rekey);
    let err = answer(
        &mut rekey,
        400,
        r#"{"errors":["no rekey configuration found"]}"#,
    );
    assert_eq!(
        ceremony_error(&err.unwrap_err()),
        CeremonyError::VerificationUnconfirmed
    );
    assert!(rekey.result().is_some(), "both sets of shares are in hand");

    // A restarted verification (another nonce): the share is sent again under the fresh nonce, read next to the
    // pinned one.
    let mut rekey = verifying();
    poll(&mut rekey);
    rekey.request_failed(Delivery::Unknown);
    poll(&mut rekey);
    assert_eq!(
        answer(&mut rekey, 200, &verify(0, "v-2")).unwrap(),
        RekeyEvent::Requeued
    );
    assert_eq!(rekey.queued_verification_shares(), 2);
    assert_eq!(
        poll(&mut rekey),
        (Method::GET, "/v1/sys/rotate/root/init".into())
    );
}

#[test]
fn a_lost_start_is_read_before_another_is_sent() {
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2));
    assert_eq!(poll(&mut rekey).0, Method::PUT);
    rekey.request_failed(Delivery::Unknown);
    assert_eq!(poll(&mut rekey).0, Method::GET);
    assert_eq!(
        answer(&mut rekey, 200, NOT_STARTED).unwrap(),
        RekeyEvent::Requeued
    );
    assert_eq!(
        poll(&mut rekey),
        (Method::PUT, "/v1/sys/rotate/root/init".into())
    );

    // A rekey runs, but nothing proves it is this one's.
    rekey.request_failed(Delivery::Unknown);
    poll(&mut rekey);
    let err = answer(&mut rekey, 200, &status(0, "")).unwrap_err();
    assert!(matches!(
        err,
        Error::Ceremony(CeremonyError::StartUnconfirmed { found: Some(ref n), .. }) if n == NONCE
    ));
    assert_eq!(rekey.nonce(), None, "not pinned");
    rekey.cancel().unwrap();
    let request = rekey
        .poll(&target())
        .map(Next::into_request)
        .unwrap()
        .unwrap();
    assert_eq!(request.method(), Method::DELETE);
    let body: serde_json::Value = serde_json::from_slice(request.body()).unwrap();
    assert_eq!(body["nonce"], NONCE);

    // A start cut after its nonce arrived: the read confirms it, and the rekey goes on.
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2));
    poll(&mut rekey);
    let started = status(0, "");
    rekey.request_failed(Delivery::Cut(&cut(
        &started,
        started.find("\"progress\"").unwrap(),
    )));
    poll(&mut rekey);
    assert_eq!(
        answer(&mut rekey, 200, &started).unwrap(),
        RekeyEvent::Started
    );
    assert_eq!(rekey.nonce(), Some(NONCE));
}

#[test]
fn a_cancel_asked_for_while_the_outcome_is_unknown_still_goes_out() {
    let mut rekey = one_share_counted(true);
    poll(&mut rekey);
    rekey.request_failed(Delivery::Unknown);
    rekey.cancel().expect("cancel while the outcome is unknown");
    assert_eq!(poll(&mut rekey).0, Method::GET, "the read comes first");
    let pending = status(
        0,
        r#","verification_nonce":"v-1","verification_required":true"#,
    );
    assert!(
        answer(&mut rekey, 200, &pending).is_err(),
        "the answer was lost"
    );
    let (method, _) = poll(&mut rekey);
    assert_eq!(
        method,
        Method::DELETE,
        "and the cancel follows, without asking again"
    );
    answer(&mut rekey, 204, "").unwrap();
    assert_eq!(rekey.phase(), RekeyPhase::Cancelled);
}

#[test]
fn a_lost_last_verification_share_is_judged_against_the_new_threshold() {
    // Old threshold 3, new threshold 2: one new share counted, the second lost.
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2));
    rekey
        .submit_shares(["aa", "bb", "cc"].map(KeyShare::new))
        .unwrap();
    let old = |progress: u32| {
        format!(
            r#"{{"data":{{"n":3,"nonce":"{NONCE}","progress":{progress},"required":3,"started":true,"t":2,"verification_required":true}}}}"#
        )
    };
    poll(&mut rekey);
    answer(&mut rekey, 200, &old(0)).unwrap();
    poll(&mut rekey);
    answer(&mut rekey, 200, &old(1)).unwrap();
    poll(&mut rekey);
    answer(&mut rekey, 200, &old(2)).unwrap();
    poll(&mut rekey);
    answer(&mut rekey, 200, &completion(true)).unwrap();
    rekey
        .submit_verification_shares(["4738112d", "204ebce3"].map(KeyShare::new))
        .unwrap();
    poll(&mut rekey);
    answer(
        &mut rekey,
        200,
        r#"{"data":{"n":3,"nonce":"v-1","progress":1,"started":true,"t":2}}"#,
    )
    .unwrap();
    poll(&mut rekey);
    rekey.request_failed(Delivery::Unknown);
    poll(&mut rekey);
    let gone = answer(
        &mut rekey,
        400,
        r#"{"errors":["no rekey configuration found"]}"#,
    );
    assert_eq!(
        ceremony_error(&gone.unwrap_err()),
        CeremonyError::VerificationUnconfirmed,
        "1 + 1 reaches the new threshold 2 (not the old 3)"
    );
}

#[test]
fn a_lost_cancel_is_confirmed_by_the_read() {
    let mut rekey = one_share_counted(true);
    rekey.cancel().unwrap();
    assert_eq!(poll(&mut rekey).0, Method::DELETE);
    rekey.request_failed(Delivery::Unknown);
    assert_eq!(poll(&mut rekey).0, Method::GET);
    assert_eq!(
        answer(&mut rekey, 200, NOT_STARTED).unwrap(),
        RekeyEvent::Cancelled
    );
    assert_eq!(rekey.phase(), RekeyPhase::Cancelled);
}

#[test]
fn keys_without_the_complete_flag_complete_the_rekey() {
    let mut rekey = one_share_counted(false);
    poll(&mut rekey);
    let body = completion(false).replace(r#""complete":true,"#, "");
    assert_eq!(answer(&mut rekey, 200, &body).unwrap(), RekeyEvent::Rekeyed);
    assert_eq!(rekey.result().unwrap().keys.len(), 3);
}

#[test]
fn an_auto_unseal_root_key_rotation_completes_without_shares() {
    let mut rekey = one_share_counted(false);
    poll(&mut rekey);
    let body = format!(
        r#"{{"data":{{"backup":false,"complete":true,"keys":[],"keys_base64":[],"nonce":"{NONCE}","pgp_fingerprints":null,"verification_nonce":"","verification_required":false}}}}"#
    );
    assert_eq!(answer(&mut rekey, 200, &body).unwrap(), RekeyEvent::Rekeyed);
    assert_eq!(rekey.phase(), RekeyPhase::Done);
    assert!(rekey.result().unwrap().keys.is_empty());

    // Recovery shares are always handed out: without them the answer is broken, and kept.
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).kind(KeyKind::Recovery));
    rekey
        .submit_shares([KeyShare::new("aa"), KeyShare::new("bb")])
        .unwrap();
    poll(&mut rekey);
    answer(&mut rekey, 200, &status(0, "")).unwrap();
    poll(&mut rekey);
    answer(&mut rekey, 200, &status(1, "")).unwrap();
    poll(&mut rekey);
    assert!(matches!(
        answer(&mut rekey, 200, &body),
        Err(Error::Decode(_))
    ));
    assert_eq!(rekey.phase(), RekeyPhase::OutcomeUnknown);
    assert_eq!(rekey.undecoded_responses().len(), 1);
}

#[test]
fn every_kept_body_stays_reachable() {
    let mut rekey = one_share_counted(true);
    poll(&mut rekey);
    let first = "{\"data\":{\"keys\":7}}";
    assert!(answer(&mut rekey, 200, first).is_err());
    poll(&mut rekey);
    answer(
        &mut rekey,
        200,
        &status(1, r#","verification_required":true"#),
    )
    .unwrap();
    assert_eq!(rekey.queued_shares(), 1, "not counted: queued again");
    poll(&mut rekey);
    let second = "{\"data\":{\"keys\":8}}";
    assert!(answer(&mut rekey, 200, second).is_err());
    let kept: Vec<&[u8]> = rekey
        .undecoded_responses()
        .iter()
        .map(SecretBytes::expose)
        .collect();
    assert_eq!(kept, [first.as_bytes(), second.as_bytes()]);
}

#[test]
fn shares_that_do_not_combine_reset_the_progress() {
    for message in [
        "failed to compute root key: duplicate part detected",
        "failed to compute recovery key: share too short",
    ] {
        let mut rekey = one_share_counted(true);
        poll(&mut rekey);
        let body = format!(r#"{{"errors":["{message}"]}}"#);
        let err = answer(&mut rekey, 500, &body).unwrap_err();
        assert_eq!(
            err.refusal(),
            Some(&Refusal::SharesDidNotCombine),
            "{message}"
        );
        assert_eq!(rekey.progress(), 0, "as the server did");
        assert_eq!(rekey.phase(), RekeyPhase::CollectingShares);
    }
}

#[test]
fn a_cut_answer_reaches_the_ceremony_through_drive() {
    let body = completion(false);
    let script = std::cell::RefCell::new(vec![
        Ok(status(0, "")),
        Ok(status(1, "")),
        Err(body.len() / 2),
        Ok(NOT_STARTED.to_string()),
    ]);
    let stack = |_: Request<Bytes>| -> Result<Response<Bytes>, TransportError> {
        match script.borrow_mut().remove(0) {
            Ok(body) => Ok(Response::new(Bytes::from(body))),
            Err(keep) => Err(TransportError::new(TransportErrorKind::Protocol, "reset")
                .with_partial_response(cut(&body, keep))),
        }
    };
    let stack = FollowRedirects::new(stack, RedirectPolicy::default());
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(false));
    rekey
        .submit_shares([KeyShare::new("aa"), KeyShare::new("bb")])
        .unwrap();
    let err = drive(&stack, &target(), &mut rekey).unwrap_err();
    assert!(
        err.to_string().contains("body bytes, which are kept"),
        "{err}"
    );
    assert_eq!(rekey.result().unwrap().keys.len(), 3);
    assert_eq!(
        drive(&stack, &target(), &mut rekey).unwrap(),
        RekeyPhase::Done
    );
}

#[test]
fn a_root_token_in_a_cut_answer_is_recovered() {
    let started = r#"{"data":{"complete":false,"nonce":"n-1","otp":"B0F8lbreLPbrgNXcHnv3GWbtF7","otp_length":26,"pgp_fingerprint":"","progress":0,"required":2,"started":true}}"#;
    let progress = |n: u32| {
        format!(
            r#"{{"data":{{"complete":false,"nonce":"n-1","otp":"","otp_length":26,"pgp_fingerprint":"","progress":{n},"required":2,"started":true}}}}"#
        )
    };
    let mut generation = RootTokenCeremony::start(TokenKind::Root, TokenProtection::ServerOtp);
    generation
        .submit_shares([KeyShare::new("aa"), KeyShare::new("bb")])
        .unwrap();
    let next = |g: &mut RootTokenCeremony| {
        g.poll(&target())
            .map(Next::into_request)
            .unwrap()
            .expect("a request")
    };

    // The start answer cut after the OTP: nonce and OTP are recovered, and the read confirms the nonce.
    next(&mut generation);
    let keep = started.find("\"otp_length\"").unwrap();
    let partial = PartialResponse::new(
        StatusCode::OK,
        SecretBytes::new(&started.as_bytes()[..keep]),
    );
    generation.request_failed(Delivery::Cut(&partial));
    assert_eq!(generation.phase(), RootTokenPhase::OutcomeUnknown);
    assert_eq!(next(&mut generation).method(), Method::GET);
    let event = generation.handle_response(StatusCode::OK, progress(0).as_bytes());
    assert_eq!(event.unwrap(), RootTokenEvent::Started);
    assert_eq!(
        generation.otp().map(|o| o.expose()),
        Some("B0F8lbreLPbrgNXcHnv3GWbtF7")
    );

    next(&mut generation);
    generation
        .handle_response(StatusCode::OK, progress(1).as_bytes())
        .unwrap();
    // The completion cut after the encoded token.
    next(&mut generation);
    let done = r#"{"data":{"complete":true,"encoded_token":"MR4veh4NFyZ4FgwCAhQWADwFF300Nik9BXY","nonce":"n-1","pgp_fingerprint":"","progress":2,"required":2,"started":true}}"#;
    let keep = done.find("\"nonce\"").unwrap();
    let partial = PartialResponse::new(StatusCode::OK, SecretBytes::new(&done.as_bytes()[..keep]));
    generation.request_failed(Delivery::Cut(&partial));
    assert!(generation.result().is_some());
    next(&mut generation);
    let idle = r#"{"data":{"complete":false,"otp":"","otp_length":26,"progress":0,"required":2,"started":false}}"#;
    assert_eq!(
        generation
            .handle_response(StatusCode::OK, idle.as_bytes())
            .unwrap(),
        RootTokenEvent::Generated
    );
    assert_eq!(generation.phase(), RootTokenPhase::Done);
    assert_eq!(
        generation.decode_token().unwrap().expose(),
        "s.iBroeC4FnpeZNctkaNsaKICA"
    );
}

#[test]
fn a_lost_root_token_is_reported_gone() {
    let mut generation =
        RootTokenCeremony::start(TokenKind::Root, TokenProtection::PgpKey("a2V5".into()))
            .require_fingerprint("ab12");
    generation.submit_share(KeyShare::new("aa")).unwrap();
    generation
        .poll(&target())
        .map(Next::into_request)
        .unwrap()
        .unwrap();
    let started = r#"{"data":{"complete":false,"nonce":"n-1","otp":"","otp_length":26,"pgp_fingerprint":"ab12","progress":0,"required":1,"started":true}}"#;
    generation
        .handle_response(StatusCode::OK, started.as_bytes())
        .unwrap();
    generation
        .poll(&target())
        .map(Next::into_request)
        .unwrap()
        .unwrap();
    generation.request_failed(Delivery::Unknown);
    generation
        .poll(&target())
        .map(Next::into_request)
        .unwrap()
        .unwrap();
    let idle = r#"{"data":{"complete":false,"otp":"","otp_length":26,"progress":0,"required":1,"started":false}}"#;
    let err = generation
        .handle_response(StatusCode::OK, idle.as_bytes())
        .unwrap_err();
    assert_eq!(
        ceremony_error(&err),
        CeremonyError::AnswerLost {
            ceremony: "root-token generation",
            recovery: Recovery::TokenGone
        }
    );
}

/// New shares issued (threshold 2), one verification share counted, the one that would
/// complete the verification queued next.
fn one_verification_share_counted() -> RekeyCeremony {
    let mut rekey = one_share_counted(true);
    poll(&mut rekey);
    answer(&mut rekey, 200, &completion(true)).unwrap();
    rekey
        .submit_verification_shares(["4738112d", "204ebce3"].map(KeyShare::new))
        .unwrap();
    poll(&mut rekey);
    answer(
        &mut rekey,
        200,
        r#"{"data":{"n":3,"nonce":"v-1","progress":1,"started":true,"t":2}}"#,
    )
    .unwrap();
    rekey
}

#[test]
fn a_server_failure_at_the_completing_verification_share_is_read_and_reported() {
    let mut rekey = one_verification_share_counted();
    assert_eq!(poll(&mut rekey).0, Method::PUT);
    // The share that completes the verification: the server fails to switch keys.
    let failed = answer(
        &mut rekey,
        500,
        r#"{"errors":["failed to perform rotation: failed to persist keyring"]}"#,
    );
    assert!(failed.is_err(), "{failed:?}");
    // Read before anything else goes out; it shows the verification restarted.
    assert_eq!(
        poll(&mut rekey),
        (Method::GET, "/v1/sys/rotate/root/init".into())
    );
    let restarted = status(
        0,
        r#","verification_nonce":"v-2","verification_required":true"#,
    );
    let said = answer(&mut rekey, 200, &restarted).unwrap_err();
    assert_eq!(
        ceremony_error(&said),
        CeremonyError::VerificationRestartedAtCompletion
    );
    assert!(said.to_string().contains("not in effect"), "{said}");
    // The new shares stay in hand, unverified, and the ceremony waits for the caller.
    assert_eq!(rekey.verification(), Verification::Pending);
    assert_eq!(rekey.result().expect("the new shares").keys.len(), 3);
    assert!(matches!(
        rekey.poll(&target()),
        Ok(Next::NeedVerificationShares { .. })
    ));

    // A verification restarted before the completing share arrived: the share is not sent
    // again (the node may restart it again); the restart is read and reported.
    let mut rekey = one_verification_share_counted();
    poll(&mut rekey);
    answer(
        &mut rekey,
        400,
        r#"{"errors":["incorrect nonce supplied; nonce for this verify operation is \"v-2\""]}"#,
    )
    .unwrap_err();
    assert_eq!(poll(&mut rekey).0, Method::GET);
    let said = answer(&mut rekey, 200, &restarted).unwrap_err();
    assert_eq!(
        ceremony_error(&said),
        CeremonyError::VerificationRestartedAtCompletion
    );
    assert!(matches!(
        rekey.poll(&target()),
        Ok(Next::NeedVerificationShares { .. })
    ));

    // The same read after a failure at a share that could not complete: taken up quietly.
    let mut rekey = one_share_counted(true);
    poll(&mut rekey);
    answer(&mut rekey, 200, &completion(true)).unwrap();
    rekey
        .submit_verification_shares([KeyShare::new("4738112d")])
        .unwrap();
    poll(&mut rekey);
    answer(&mut rekey, 500, r#"{"errors":["internal error"]}"#).unwrap_err();
    rekey.refresh().unwrap();
    assert_eq!(poll(&mut rekey).0, Method::GET);
    answer(&mut rekey, 200, &restarted).unwrap();
}
