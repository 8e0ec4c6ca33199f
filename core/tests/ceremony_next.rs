//! What `poll` and `drive` return says what a ceremony needs, with no state to read back.

use bytes::Bytes;
use http::StatusCode;
use std::cell::RefCell;
use std::collections::VecDeque;
use vault_key_core::ceremony::{
    drive, Next, RekeyCeremony, RekeyPhase, RootTokenCeremony, RootTokenPhase, TokenProtection,
};
use vault_key_core::ops::generate_root::TokenKind;
use vault_key_core::ops::rekey::StartRekey;
use vault_key_core::{Delivery, Dialect, KeyShare, Otp, Target, Token};

fn target() -> Target {
    Target::new("http://127.0.0.1:8200")
        .unwrap()
        .with_token(Token::new("s.operator"))
        .with_dialect(Dialect::OpenBao)
}

const STARTED: &str = r#"{"data":{"n":3,"nonce":"78eb0f58","progress":0,"required":2,
    "started":true,"t":2,"verification_nonce":"","verification_required":true}}"#;
const ONE: &str = r#"{"data":{"n":3,"nonce":"78eb0f58","progress":1,"required":2,
    "started":true,"t":2,"verification_nonce":"","verification_required":true}}"#;
const ISSUED: &str = r#"{"data":{"backup":false,"complete":true,
    "keys":["4738112d","204ebce3","3617bc66"],"keys_base64":["RzgRLQ==","IE6843","Nhe8Zg=="],
    "nonce":"78eb0f58","pgp_fingerprints":null,"verification_nonce":"39cb97e8",
    "verification_required":true}}"#;
const VERIFY_ONE: &str = r#"{"data":{"n":3,"nonce":"39cb97e8","progress":1,"started":true,"t":2}}"#;
const VERIFIED: &str = r#"{"data":{"complete":true,"nonce":"39cb97e8"}}"#;

fn answer(next: Next, rekey: &mut RekeyCeremony, body: &str) {
    assert!(matches!(next, Next::Send(_)), "{next:?}");
    rekey
        .handle_response(StatusCode::OK, body.as_bytes())
        .unwrap();
}

#[test]
fn a_rekey_says_each_need_in_turn() {
    let t = target();
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(true));
    let start = rekey.poll(&t).unwrap();
    // The request is out: nothing else until its answer comes back.
    assert!(matches!(rekey.poll(&t).unwrap(), Next::AwaitingAnswer));
    answer(start, &mut rekey, STARTED);
    assert!(matches!(
        rekey.poll(&t).unwrap(),
        Next::NeedShares {
            progress: 0,
            required: 2
        }
    ));
    rekey.submit_share(KeyShare::new("f50240c8")).unwrap();
    let share = rekey.poll(&t).unwrap();
    answer(share, &mut rekey, ONE);
    assert!(matches!(
        rekey.poll(&t).unwrap(),
        Next::NeedShares {
            progress: 1,
            required: 2
        }
    ));

    // The answer to the last share is lost: the next request settles what happened.
    rekey.submit_share(KeyShare::new("1875ff65")).unwrap();
    let last = rekey.poll(&t).unwrap();
    assert!(matches!(last, Next::Send(_)));
    rekey.request_failed(Delivery::Unknown);
    let settle = rekey.poll(&t).unwrap();
    let Next::Settle(read) = settle else {
        panic!("{settle:?}")
    };
    assert_eq!(read.method(), http::Method::GET);
    // Still progress 1: the share was not counted, so it is sent again, as a plain Send.
    rekey
        .handle_response(StatusCode::OK, ONE.as_bytes())
        .unwrap();
    let again = rekey.poll(&t).unwrap();
    let Next::Send(resent) = again else {
        panic!("{again:?}")
    };
    assert_eq!(resent.method(), http::Method::PUT);
    assert!(resent.uri().path().ends_with("/update"));
    rekey
        .handle_response(StatusCode::OK, ISSUED.as_bytes())
        .unwrap();
    assert_eq!(rekey.phase(), RekeyPhase::Verifying);
    assert!(matches!(
        rekey.poll(&t).unwrap(),
        Next::NeedVerificationShares {
            progress: 0,
            required: 2
        }
    ));
}

#[test]
fn drive_returns_what_is_needed() {
    let script = RefCell::new(VecDeque::from([STARTED, ONE, ISSUED, VERIFY_ONE, VERIFIED]));
    let server = |_: http::Request<Bytes>| {
        let body = script
            .borrow_mut()
            .pop_front()
            .expect("an expected request");
        http::Response::builder()
            .status(200)
            .body(Bytes::from(body))
    };
    let t = target();
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(true));
    let next = drive(&server, &t, &mut rekey).unwrap();
    assert!(
        matches!(
            next,
            Next::NeedShares {
                progress: 0,
                required: 2
            }
        ),
        "{next:?}"
    );
    rekey
        .submit_shares([KeyShare::new("f50240c8"), KeyShare::new("1875ff65")])
        .unwrap();
    let next = drive(&server, &t, &mut rekey).unwrap();
    assert!(
        matches!(
            next,
            Next::NeedVerificationShares {
                progress: 0,
                required: 2
            }
        ),
        "{next:?}"
    );
    let new_shares = rekey.result().unwrap().keys.clone();
    rekey
        .submit_verification_share(new_shares[0].clone())
        .unwrap();
    let next = drive(&server, &t, &mut rekey).unwrap();
    assert!(
        matches!(
            next,
            Next::NeedVerificationShares {
                progress: 1,
                required: 2
            }
        ),
        "{next:?}"
    );
    rekey
        .submit_verification_share(new_shares[1].clone())
        .unwrap();
    assert!(drive(&server, &t, &mut rekey).unwrap().is_finished());
    assert_eq!(rekey.phase(), RekeyPhase::Done);
    assert!(rekey.poll(&t).unwrap().is_finished());
}

#[test]
fn a_root_token_generation_asks_for_its_otp() {
    let attempt = r#"{"data":{"complete":false,"otp":"","otp_length":26,"progress":0,
        "required":3,"started":false}}"#;
    let t = target();
    let mut generation = RootTokenCeremony::start(TokenKind::Root, TokenProtection::GenerateOtp);
    let read = generation.poll(&t).unwrap();
    assert!(matches!(read, Next::Send(_)));
    generation
        .handle_response(StatusCode::OK, attempt.as_bytes())
        .unwrap();
    assert!(matches!(
        generation.poll(&t).unwrap(),
        Next::NeedOtp { length: 26 }
    ));
    generation
        .provide_otp(Otp::new("abcdefghijklmnopqrstuvwxyz"))
        .unwrap();
    assert!(matches!(generation.poll(&t).unwrap(), Next::Send(_)));
    generation.request_failed(Delivery::NotSent);
    assert_eq!(generation.phase(), RootTokenPhase::Starting);
    assert!(generation.poll(&t).unwrap().into_request().is_some());
}

/// `{:?}` of what `poll` returns shows where a request goes and how long its body is, never the
/// share, the OTP or the token in it.
#[test]
fn debug_shows_no_secret_of_a_request() {
    let t = target();
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2));
    let start = rekey.poll(&t).unwrap();
    answer(start, &mut rekey, STARTED);
    rekey.submit_share(KeyShare::new("f50240c8d1")).unwrap();
    let share = rekey.poll(&t).unwrap();
    let Next::Send(request) = &share else {
        panic!("{share:?}")
    };
    let body = String::from_utf8_lossy(request.body()).into_owned();
    assert!(body.contains("f50240c8d1"), "{body}");
    let shown = format!("{share:?} {share:#?}");
    for secret in ["f50240c8d1", "s.operator"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(
        shown.contains("PUT") && shown.contains("sys/rotate/root/update"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("<{} bytes>", body.len())),
        "{shown}"
    );
}
