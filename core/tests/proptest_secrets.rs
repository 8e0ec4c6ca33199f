//! No `Debug` or `Display` of an operation, a parsed value or an error shows a secret that was
//! fed in: not from a request, not from a response body where a secret belongs, and not from a
//! response body where a secret lands in a field of another type.

mod common;

use common::*;
use http::StatusCode;
use proptest::prelude::*;
use serde_json::{json, Value};
use vault_key_core::ops::decode::DecodeToken;
use vault_key_core::ops::generate_root::{GenerateRoot, StartRootTokenGeneration};
use vault_key_core::ops::rekey::{Rekey, StartRekey};
use vault_key_core::ops::rekey_verify::RekeyVerify;
use vault_key_core::ops::seal::Unseal;
use vault_key_core::{Dialect, EncodedToken, Error, KeyShare, Operation, Otp, Target, Token};

/// A secret made of distinctive alphanumeric runs joined by characters that need escaping in
/// JSON or in Rust's `Debug` (quotes, backslashes, control characters).
#[derive(Debug, Clone)]
struct Secret {
    text: String,
    runs: Vec<String>,
}

fn secret() -> impl Strategy<Value = Secret> {
    let separator = prop_oneof![
        Just("".to_string()),
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just("\\\"".to_string()),
        Just("'".to_string()),
        Just("`".to_string()),
        Just("\n".to_string()),
        Just("\u{1b}".to_string()),
        Just(" ".to_string()),
        Just(".".to_string()),
        "[!-~]".prop_map(|s| s),
    ];
    (
        prop::collection::vec(("[A-Za-z0-9]{10,16}", separator), 1..4),
        prop::bool::ANY,
    )
        .prop_map(|(parts, quote_first)| {
            let mut text = if quote_first {
                "\"".to_string()
            } else {
                String::new()
            };
            let mut runs = Vec::new();
            for (run, sep) in parts {
                text.push_str(&run);
                text.push_str(&sep);
                runs.push(run);
            }
            Secret { text, runs }
        })
}

fn assert_hidden(secret: &Secret, printed: &str) -> Result<(), TestCaseError> {
    for run in &secret.runs {
        prop_assert!(
            !printed.contains(run.as_str()),
            "secret part {run:?} shown in {printed:?}"
        );
    }
    Ok(())
}

fn show(result: &Result<String, Error>) -> String {
    match result {
        Ok(debug) => debug.clone(),
        Err(e) => format!("{e}\n{e:?}"),
    }
}

/// Where a secret lands in a success body, by operation.
fn bodies_with(secret: &str) -> Vec<(&'static str, Value)> {
    let s = Value::String(secret.to_string());
    vec![
        // Where a secret belongs.
        (
            "StartRootTokenGeneration",
            json!({"nonce": "n", "started": true, "otp": s, "otp_length": 26}),
        ),
        (
            "GenerateRoot",
            json!({"data": {"nonce": "n", "started": true, "complete": true, "encoded_token": s}}),
        ),
        (
            "GenerateRoot",
            json!({"nonce": "n", "started": true, "complete": true, "encoded_token": "", "encoded_root_token": s}),
        ),
        (
            "Rekey",
            json!({"nonce": "n", "complete": true, "keys": [s], "keys_base64": [s]}),
        ),
        (
            "ReadBackupKeys",
            json!({"data": {"nonce": "n", "keys": {"fp": [s]}, "keys_base64": {"fp": [s]}}}),
        ),
        ("DecodeToken", json!({"data": {"token": s}})),
        (
            "Initialize",
            json!({"keys": [s], "keys_base64": [s], "recovery_keys": [s], "root_token": s}),
        ),
        // Where another type is expected.
        ("ReadRootGenerationProgress", json!({"started": s})),
        (
            "ReadRootGenerationProgress",
            json!({"started": true, "progress": s}),
        ),
        (
            "ReadRootGenerationProgress",
            json!({"started": true, "otp_length": s}),
        ),
        (
            "GenerateRoot",
            json!({"data": {"started": true, "complete": s, "encoded_token": s}}),
        ),
        (
            "GenerateRoot",
            json!({"data": {"started": true, "otp": [s]}}),
        ),
        ("Rekey", json!({"complete": true, "keys": s})),
        ("Rekey", json!({"complete": true, "keys": [[s]]})),
        ("Rekey", json!({"complete": true, "keys": {"k": s}})),
        ("Rekey", json!({"complete": true, "keys": [], "backup": s})),
        ("Rekey", json!({"started": true, "t": s})),
        (
            "ReadRekeyProgress",
            json!({"data": {"started": true, "n": s}}),
        ),
        (
            "ReadRekeyProgress",
            json!({"started": true, "pgp_fingerprints": s}),
        ),
        ("RekeyVerify", json!({"complete": s})),
        ("RekeyVerify", json!({"started": true, "progress": s})),
        ("ReadBackupKeys", json!({"keys": {"fp": s}})),
        ("ReadBackupKeys", json!({"keys": [s]})),
        ("DecodeToken", json!({"data": {"token": [s]}})),
        ("DecodeToken", json!({"data": {"token": {"t": s}}})),
        ("DecodeToken", json!({"data": s})),
        ("GetEncryptionKeyStatus", json!({"term": s})),
        (
            "GetEncryptionKeyStatus",
            json!({"term": 1, "encryptions": s}),
        ),
        ("ReadRotateConfig", json!({"data": {"interval": s}})),
        ("ReadRotateConfig", json!({"data": {"max_operations": s}})),
        ("ReadSealStatus", json!({"initialized": s, "sealed": true})),
        ("ReadInitStatus", json!({"initialized": s})),
        ("Initialize", json!({"keys": [], "root_token": [s]})),
        ("Unseal", json!({"initialized": true, "sealed": s})),
    ]
}

fn parser(name: &str) -> Parser {
    parsers().into_iter().find(|(n, _)| *n == name).unwrap().1
}

proptest! {
    #[test]
    fn parsed_values_and_decode_errors_hide_secrets(secret in secret(), status in 200u16..=206) {
        let status = StatusCode::from_u16(status).unwrap();
        for (name, body) in bodies_with(&secret.text) {
            let bytes = serde_json::to_vec(&body).unwrap();
            let result = parser(name)(status, &bytes);
            if let Err(e) = &result {
                prop_assert!(matches!(e, Error::Decode(_)), "{name}: {e:?}");
                prop_assert_eq!(e.raw_body().unwrap().expose(), &bytes[..]);
            }
            assert_hidden(&secret, &show(&result))?;
        }
    }

    #[test]
    fn secrets_in_malformed_json_stay_hidden(secret in secret()) {
        for (name, parse) in parsers() {
            for body in [
                format!("{{\"data\": {{\"token\": \"{}", secret.text),
                format!("{{\"keys\": [\"{}\"], ", secret.text),
                format!("\"{}\"", secret.text),
                secret.text.clone(),
            ] {
                let result = parse(StatusCode::OK, body.as_bytes());
                assert_hidden(&secret, &show(&result)).map_err(|e| {
                    TestCaseError::fail(format!("{name}: {e}"))
                })?;
            }
        }
    }

    #[test]
    fn operations_and_their_input_errors_hide_secrets(secret in secret()) {
        let target = target(Dialect::OpenBao);
        let share = || KeyShare::new(secret.text.as_str());
        let ops = [
            format!("{:?}", GenerateRoot::new(share(), "nonce")),
            format!("{:?}", Rekey::new(share(), "nonce")),
            format!("{:?}", RekeyVerify::new(share(), "nonce")),
            format!("{:?}", Unseal::new(share())),
            format!("{:?}", StartRootTokenGeneration::new().otp(Otp::new(secret.text.as_str()))),
            format!("{:?}", DecodeToken::new(EncodedToken::new(secret.text.as_str()), Otp::new(secret.text.as_str()))),
            format!("{:?}", Target::new(ADDR).unwrap().with_token(Token::new(secret.text.as_str()))),
            format!("{:?}", StartRekey::new(3, 2)),
        ];
        for printed in &ops {
            assert_hidden(&secret, printed)?;
        }
        let errors = [
            GenerateRoot::new(share(), "").request(&target).unwrap_err(),
            Rekey::new(share(), " ").request(&target).unwrap_err(),
            RekeyVerify::new(share(), "").request(&target).unwrap_err(),
            StartRootTokenGeneration::new()
                .otp(Otp::new(secret.text.as_str()))
                .pgp_key("cGsx")
                .request(&target)
                .unwrap_err(),
            DecodeToken::new(EncodedToken::new(""), Otp::new(secret.text.as_str()))
                .request(&target)
                .unwrap_err(),
            DecodeToken::new(EncodedToken::new(secret.text.as_str()), Otp::new(""))
                .request(&target)
                .unwrap_err(),
        ];
        for e in &errors {
            prop_assert!(matches!(e, Error::InvalidInput(_)));
            assert_hidden(&secret, &format!("{e}\n{e:?}"))?;
        }
    }

    #[test]
    fn header_and_address_errors_hide_secrets(secret in secret()) {
        let with_newline = format!("{}\n", secret.text);
        let target = Target::new(ADDR).unwrap().with_token(Token::new(with_newline.as_str()));
        let err = vault_key_core::ops::seal::Seal.request(&target).unwrap_err();
        assert_hidden(&secret, &format!("{err}\n{err:?}"))?;

        if let Err(err) = Target::new(ADDR).unwrap().with_header("X-Proxy", &with_newline) {
            assert_hidden(&secret, &format!("{err}\n{err:?}"))?;
        }
        if let Err(err) = Target::new(ADDR).unwrap().with_namespace(with_newline.as_str()) {
            assert_hidden(&secret, &format!("{err}\n{err:?}"))?;
        }
        let encoded: String = secret.text.chars().filter(char::is_ascii_alphanumeric).collect();
        for address in [
            format!("https://user:{encoded}@vault.example.com"),
            format!("https://{encoded}@vault.example.com:8200/prefix"),
            format!("https://vault.example.com/?token={encoded}"),
            format!("https://vault.example.com/#{encoded}"),
        ] {
            let err = Target::new(&address).unwrap_err();
            assert_hidden(&secret, &format!("{err}\n{err:?}"))?;
        }
    }
}
