//! Caller mistakes are caught before any request is built, and no error message carries a
//! secret that was handed in.

mod common;

use bytes::Bytes;
use common::*;
use http::Request;
use std::time::Duration;
use vault_key_core::ops::decode::DecodeToken;
use vault_key_core::ops::encryption_key::{ConfigureRotation, RotateRootKey};
use vault_key_core::ops::generate_root::{GenerateRoot, StartRootTokenGeneration, TokenKind};
use vault_key_core::ops::rekey::{KeyKind, Rekey, StartRekey};
use vault_key_core::ops::rekey_verify::RekeyVerify;
use vault_key_core::ops::seal::{Initialize, Unseal};
use vault_key_core::{
    Dialect, EncodedToken, Error, InvalidInput, KeyShare, Operation, Otp, Target, Token,
};

const SECRET_SHARE: &str = "5ec4e75ec4e75ec4e75ec4e75ec4e75ec4e75ec4e75ec4e75ec4e75ec4e75ec4e7";
const SECRET_OTP: &str = "OtpSecretOtpSecretOtpSecre";
const SECRET_TOKEN: &str = "s.TokenSecretTokenSecret99";
const SECRET_ENCODED: &str = "RW5jb2RlZFNlY3JldEVuY29kZWQ";

fn assert_clean(what: &str, err: &Error) {
    let printed = format!("{err}\n{err:?}");
    for secret in [
        SECRET_SHARE,
        SECRET_OTP,
        SECRET_TOKEN,
        SECRET_ENCODED,
        "Secret",
    ] {
        assert!(!printed.contains(secret), "{what}: {printed}");
    }
}

#[track_caller]
fn invalid(what: &str, result: Result<Request<Bytes>, Error>) -> InvalidInput {
    match result {
        Err(Error::InvalidInput(e)) => {
            assert_clean(what, &Error::InvalidInput(e.clone()));
            e
        }
        other => panic!("{what}: expected an input error, got {other:?}"),
    }
}

#[test]
fn every_operation_checks_its_input() {
    for dialect in DIALECTS {
        let t = target(dialect);
        let share = || KeyShare::new(SECRET_SHARE);
        let cases: Vec<(&str, Result<Request<Bytes>, Error>)> = vec![
            ("threshold > shares", StartRekey::new(3, 5).request(&t)),
            ("shares 0", StartRekey::new(0, 0).request(&t)),
            ("threshold 0", StartRekey::new(3, 0).request(&t)),
            ("threshold 1 of many", StartRekey::new(4, 1).request(&t)),
            ("too many shares", StartRekey::new(256, 3).request(&t)),
            (
                "PGP key count",
                StartRekey::new(3, 2)
                    .pgp_keys(vec!["cGsx".into()])
                    .request(&t),
            ),
            (
                "backup without PGP keys",
                StartRekey::new(3, 2)
                    .kind(KeyKind::Recovery)
                    .backup(true)
                    .request(&t),
            ),
            ("init threshold > shares", Initialize::new(2, 3).request(&t)),
            (
                "OTP and PGP key",
                StartRootTokenGeneration::new()
                    .otp(Otp::new(SECRET_OTP))
                    .pgp_key("cGsx")
                    .request(&t),
            ),
            (
                "empty OTP",
                StartRootTokenGeneration::new()
                    .kind(TokenKind::Recovery)
                    .otp(Otp::new(""))
                    .request(&t),
            ),
            (
                "empty share",
                GenerateRoot::new(KeyShare::new(""), "n").request(&t),
            ),
            ("empty nonce", GenerateRoot::new(share(), "").request(&t)),
            ("blank nonce", Rekey::new(share(), " \n").request(&t)),
            (
                "empty verify nonce",
                RekeyVerify::new(share(), "")
                    .kind(KeyKind::Recovery)
                    .request(&t),
            ),
            (
                "empty unseal share",
                Unseal::new(KeyShare::new(" ")).request(&t),
            ),
            (
                "empty encoded token",
                DecodeToken::new(EncodedToken::new(""), Otp::new(SECRET_OTP)).request(&t),
            ),
            (
                "empty decode OTP",
                DecodeToken::new(EncodedToken::new(SECRET_ENCODED), Otp::new("")).request(&t),
            ),
            (
                "max_operations too low",
                ConfigureRotation::new().max_operations(999_999).request(&t),
            ),
            (
                "max_operations too high",
                ConfigureRotation::new()
                    .max_operations(3_865_470_567)
                    .request(&t),
            ),
            (
                "interval too short",
                ConfigureRotation::new()
                    .interval(Duration::from_secs(3600))
                    .request(&t),
            ),
        ];
        for (what, result) in cases {
            invalid(what, result);
        }
    }
    let e = invalid(
        "rotate root key on Vault",
        RotateRootKey.request(&target(Dialect::Vault)),
    );
    assert_eq!(
        e,
        InvalidInput::UnsupportedByDialect {
            operation: "rotate root key",
            dialect: Dialect::Vault
        }
    );
}

#[test]
fn bad_addresses() {
    for bad in [
        "",
        "   ",
        "127.0.0.1:8200",
        "vault.example.com",
        "ftp://vault.example.com",
        "unix:///var/run/vault.sock",
        "http://",
        "https://:8200",
        "http://vault.example.com/?x=1",
        "http://vault.example.com/#frag",
        "http://vault example.com",
        "http://user:pass@vault.example.com",
    ] {
        match Target::new(bad) {
            Err(Error::InvalidInput(InvalidInput::Address { .. })) => {}
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    for good in [
        "http://127.0.0.1:8200",
        "https://vault.example.com",
        "https://vault.example.com:8200/",
        "https://proxy.example.com/vault/",
        "http://[::1]:8200",
        "  http://localhost:8200  ",
    ] {
        let target = Target::new(good).unwrap();
        assert!(!target.address().ends_with('/'), "{good}");
        assert!(!target.address().starts_with(' '), "{good}");
    }
}

#[test]
fn address_errors_do_not_repeat_credentials() {
    for bad in [
        format!("https://admin:{SECRET_TOKEN}@vault.example.com:8200"),
        format!("https://{SECRET_TOKEN}@vault.example.com"),
        format!("https://vault.example.com/?token={SECRET_TOKEN}"),
        format!("https://vault.example.com/#{SECRET_TOKEN}"),
    ] {
        let err = Target::new(&bad).unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidInput(InvalidInput::Address { .. })
        ));
        assert_clean(&bad, &err);
    }
    let err = Target::new("ftp://vault.example.com").unwrap_err();
    assert!(err.to_string().contains("ftp://vault.example.com"), "{err}");
    let err = Target::new("https://admin:pw@vault.example.com:8200/x?a=b").unwrap_err();
    assert!(
        err.to_string()
            .contains("https://<redacted>@vault.example.com:8200/x"),
        "the host is still shown: {err}"
    );
}

#[test]
fn bad_headers() {
    let base = Target::new(ADDR).unwrap();
    for namespace in ["a\nb", "a\rb", "ns\0"] {
        match base.clone().with_namespace(namespace) {
            Err(Error::InvalidInput(InvalidInput::Header { name, .. })) => {
                assert_eq!(name, "X-Vault-Namespace")
            }
            other => panic!("{namespace:?}: {other:?}"),
        }
    }
    for name in ["", "bad name", "bad:name", "bäd"] {
        match base.clone().with_header(name, "v") {
            Err(Error::InvalidInput(InvalidInput::Header { .. })) => {}
            other => panic!("{name:?}: {other:?}"),
        }
    }
    let secret_value = format!("Bearer {SECRET_TOKEN}\n");
    let err = base
        .clone()
        .with_header("Proxy-Authorization", &secret_value)
        .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidInput(InvalidInput::Header { .. })
    ));
    assert_clean("header value", &err);

    for token in [
        format!("{SECRET_TOKEN}\n"),
        format!("{SECRET_TOKEN}\r\nX-Injected: 1"),
        format!("{SECRET_TOKEN}\u{7f}"),
    ] {
        let target = base.clone().with_token(Token::new(token.as_str()));
        let err = seal_error(&target);
        assert!(
            matches!(err, Error::InvalidInput(InvalidInput::Header { ref name, .. }) if name == "X-Vault-Token"),
            "{err:?}"
        );
        assert_clean("token header", &err);
    }
}

fn seal_error(target: &Target) -> Error {
    vault_key_core::ops::seal::Seal.request(target).unwrap_err()
}

#[test]
fn extra_headers_are_sent_and_sensitive() {
    let target = target(Dialect::OpenBao)
        .with_header("Proxy-Authorization", "Bearer proxy-secret")
        .unwrap();
    let request = vault_key_core::ops::seal::Seal.request(&target).unwrap();
    assert_headers(&request, &target);
    let value = &request.headers()["Proxy-Authorization"];
    assert_eq!(value, "Bearer proxy-secret");
    assert!(value.is_sensitive());
    assert!(!format!("{target:?}").contains("proxy-secret"));
    assert!(!format!("{target:?}").contains(TOKEN));
}
