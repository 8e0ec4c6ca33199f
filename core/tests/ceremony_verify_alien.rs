//! A 200 answer to a verification share that is no verification status (a proxy's `{}`, or
//! anything else) leaves the share's outcome unknown: the next request reads, and no other
//! share goes out before it. Found by the model check (`ceremony_model.rs`).

use http::StatusCode;
use vault_key_core::ceremony::{Next, RekeyCeremony, RekeyEvent, RekeyPhase};
use vault_key_core::ops::rekey::StartRekey;
use vault_key_core::{Dialect, KeyShare, Target, Token};

const NONCE: &str = "78eb0f58-13d5-0c89-cb67-f2afd720da9e";

#[test]
fn an_answer_that_is_no_verification_status_is_not_progress() {
    let target = Target::new("http://127.0.0.1:8200")
        .unwrap()
        .with_token(Token::new("s.operator"))
        .with_dialect(Dialect::OpenBao);
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(true));
    rekey.submit_share(KeyShare::new("aa")).unwrap();
    let answer = |rekey: &mut RekeyCeremony, body: &str| {
        let request = rekey
            .poll(&target)
            .unwrap()
            .into_request()
            .expect("a request");
        let sent = format!("{} {}", request.method(), request.uri().path());
        (sent, rekey.handle_response(StatusCode::OK, body.as_bytes()))
    };
    let (_, started) = answer(
        &mut rekey,
        &format!(
            r#"{{"data":{{"n":3,"nonce":"{NONCE}","progress":0,"required":1,"started":true,"t":2,"verification_nonce":"","verification_required":true}}}}"#
        ),
    );
    started.expect("started");
    let (_, completed) = answer(
        &mut rekey,
        &format!(
            r#"{{"data":{{"backup":false,"complete":true,"keys":["4738112d","204ebce3","3617bc66"],"keys_base64":["RzgRLQ==","IE6843","Nhe8Zg=="],"nonce":"{NONCE}","pgp_fingerprints":null,"verification_nonce":"39cb97e8","verification_required":true}}}}"#
        ),
    );
    completed.expect("the new shares");
    assert_eq!(rekey.phase(), RekeyPhase::Verifying);
    rekey
        .submit_verification_shares([
            KeyShare::new("4738112d"),
            KeyShare::new("204ebce3"),
            KeyShare::new("3617bc66"),
        ])
        .unwrap();
    let (_, counted) = answer(
        &mut rekey,
        r#"{"data":{"n":3,"nonce":"39cb97e8","progress":1,"started":true,"t":2}}"#,
    );
    counted.expect("one verification share counted");
    // The share that reaches the new threshold: the server verified, and a proxy (or
    // anything else between) answered 200 with an object that is no verification status.
    let (sent, event) = answer(&mut rekey, r#"{"data":{"padding":"xxxxxxxx"}}"#);
    assert_eq!(sent, "PUT /v1/sys/rotate/root/verify");
    assert_eq!(rekey.phase(), RekeyPhase::OutcomeUnknown);
    let next = rekey.poll(&target).unwrap();
    assert!(
        !matches!(event, Ok(RekeyEvent::VerificationProgress)),
        "an answer without nonce, started or progress was read as verification progress"
    );
    assert!(
        matches!(&next, Next::Settle(r) if r.method() == "GET"),
        "the next request must read the outcome first: {next:?}"
    );
}
