//! `sys/decode-token`: request and captured answer.

mod common;

use common::*;
use http::{Method, StatusCode};
use serde_json::json;
use vault_key_core::ops::decode::DecodeToken;
use vault_key_core::{EncodedToken, Error, InvalidInput, Operation, Otp};

const ENCODED: &str = "MR4veh4NFyZ4FgwCAhQWADwFF300Nik9BXY";
const OTP: &str = "B0F8lbreLPbrgNXcHnv3GWbtF7";

#[test]
fn request_for_every_target() {
    for target in all_targets() {
        let op = DecodeToken::new(EncodedToken::new(ENCODED), Otp::new(OTP));
        let request = op.request(&target).unwrap();
        assert_request(
            &request,
            &target,
            Method::PUT,
            "sys/decode-token",
            Some(json!({"encoded_token": ENCODED, "otp": OTP})),
        );
        assert_eq!(request.uri().path(), fixture("decode_token").path);
    }
}

#[test]
fn empty_inputs_are_refused() {
    let target = target(vault_key_core::Dialect::Vault);
    for (encoded, otp) in [("", OTP), (ENCODED, "")] {
        let err = DecodeToken::new(EncodedToken::new(encoded), Otp::new(otp))
            .request(&target)
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput(InvalidInput::Empty(_))));
        let printed = format!("{err} {err:?}");
        assert!(
            !printed.contains(OTP) && !printed.contains(ENCODED),
            "{printed}"
        );
    }
}

#[test]
fn answer_is_the_token() {
    let f = fixture("decode_token");
    let op = DecodeToken::new(EncodedToken::new(ENCODED), Otp::new(OTP));
    let token = op.parse(f.status, &f.body).unwrap();
    assert_eq!(token.expose(), "s.iBroeC4FnpeZNctkaNsaKICA");
    assert!(!format!("{token:?}").contains("iBroeC4Fnpe"));

    let missing = br#"{"data":{}}"#;
    let err = op.parse(StatusCode::OK, missing).unwrap_err();
    assert!(matches!(err, Error::Decode(_)));

    let refused =
        br#"{"errors":["error xoring token: length of byte slices is not equivalent: 26 != 5"]}"#;
    let err = op.parse(StatusCode::BAD_REQUEST, refused).unwrap_err();
    assert!(matches!(err, Error::Server(ref e) if e.status == 400));
}
