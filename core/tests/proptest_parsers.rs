//! No parser panics, whatever comes back: arbitrary bytes, arbitrary JSON trees, and the
//! captured answers with a field removed or retyped. A success status never turns into a
//! server refusal, an error status always does, and an undecodable body is always kept.

mod common;

use common::*;
use http::StatusCode;
use proptest::prelude::*;
use serde_json::{Map, Value};
use vault_key_core::Error;

const FIELDS: &[&str] = &[
    "data",
    "nonce",
    "started",
    "progress",
    "required",
    "complete",
    "encoded_token",
    "encoded_root_token",
    "pgp_fingerprint",
    "otp",
    "otp_length",
    "t",
    "n",
    "pgp_fingerprints",
    "backup",
    "verification_required",
    "verification_nonce",
    "keys",
    "keys_base64",
    "token",
    "term",
    "install_time",
    "encryptions",
    "enabled",
    "interval",
    "max_operations",
    "errors",
    "initialized",
    "sealed",
    "type",
    "version",
    "root_token",
    "commit_date",
    "build_date",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(FIELDS).prop_map(str::to_string),
        1 => ".{0,8}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        prop_oneof![Just(String::new()), ".{0,12}", "[0-9]{1,4}(h|m|s|ms|us)"]
            .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Value> {
    prop::collection::vec((key(), json_value()), 0..8)
        .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>()))
}

fn any_status() -> impl Strategy<Value = StatusCode> {
    prop_oneof![
        4 => prop::sample::select(vec![200u16, 204, 400, 403, 404, 405, 429, 500, 503]),
        1 => 100u16..=599,
    ]
    .prop_map(|s| StatusCode::from_u16(s).unwrap())
}

/// What every parse result must satisfy for a response of `status` with `body`.
fn check(
    name: &str,
    status: StatusCode,
    body: &[u8],
    result: &Result<String, Error>,
) -> Result<(), TestCaseError> {
    match result {
        Ok(_) => prop_assert!(status.is_success(), "{name}: accepted a {status}"),
        Err(Error::Server(e)) => {
            prop_assert!(!status.is_success(), "{name}: refused a {status}: {e:?}");
            prop_assert_eq!(e.status, status.as_u16());
        }
        Err(Error::Decode(e)) => {
            prop_assert!(status.is_success(), "{name}: decode error for {status}");
            prop_assert_eq!(e.body.expose(), body, "{}: body kept", name);
            prop_assert_eq!(e.status, status.as_u16());
        }
        Err(other) => prop_assert!(false, "{name}: unexpected {other:?}"),
    }
    Ok(())
}

fn check_all(status: StatusCode, body: &[u8]) -> Result<(), TestCaseError> {
    for (name, parse) in parsers() {
        let result = parse(status, body);
        check(name, status, body, &result)?;
    }
    Ok(())
}

/// Removes or replaces one field of `object` (chosen by `pick`); `None` removes it.
fn mutate(object: &mut Map<String, Value>, pick: usize, replacement: Option<Value>) {
    if object.is_empty() {
        if let Some(value) = replacement {
            object.insert("data".into(), value);
        }
        return;
    }
    let key = object.keys().nth(pick % object.len()).unwrap().clone();
    match replacement {
        Some(value) => {
            object.insert(key, value);
        }
        None => {
            object.remove(&key);
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes(status in any_status(), body in prop::collection::vec(any::<u8>(), 0..256)) {
        check_all(status, &body)?;
    }

    #[test]
    fn arbitrary_json_values(status in any_status(), value in json_value()) {
        check_all(status, &serde_json::to_vec(&value).unwrap())?;
    }

    #[test]
    fn arbitrary_json_objects_and_envelopes(
        status in any_status(),
        top in json_object(),
        data in json_object(),
        wrap in any::<bool>(),
    ) {
        let value = if wrap {
            let mut top = top;
            top.as_object_mut().unwrap().insert("data".into(), data);
            top
        } else {
            top
        };
        check_all(status, &serde_json::to_vec(&value).unwrap())?;
    }

    #[test]
    fn captured_answers_with_a_field_removed_or_retyped(
        index in any::<prop::sample::Index>(),
        inside_data in any::<bool>(),
        pick in any::<usize>(),
        replacement in prop::option::of(json_value()),
    ) {
        let fixtures: Vec<&Fixture> = all_fixtures()
            .iter()
            .chain(error_rows().iter().map(|r| &r.fixture))
            .filter(|f| f.json.is_some())
            .collect();
        let fixture = *index.get(&fixtures);
        let mut json = fixture.json.clone().unwrap();
        let object = json.as_object_mut().unwrap();
        match object.get_mut("data") {
            Some(Value::Object(data)) if inside_data => mutate(data, pick, replacement),
            _ => mutate(object, pick, replacement),
        }
        let body = serde_json::to_vec(&json).unwrap();
        let name = operation_for(&fixture.method, &fixture.path);
        let parse = parser_for(&fixture.method, &fixture.path);
        let result = parse(fixture.status, &body);
        check(name, fixture.status, &body, &result)?;
    }

    #[test]
    fn captured_answers_truncated(index in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>()) {
        let fixtures = all_fixtures();
        let fixture = index.get(fixtures);
        if !fixture.body.is_empty() {
            let body = &fixture.body[..cut.index(fixture.body.len())];
            check_all(fixture.status, body)?;
        }
    }
}

#[test]
fn every_captured_answer_parses_with_its_operation() {
    let fixtures = all_fixtures();
    assert!(fixtures.len() >= 70);
    for fixture in fixtures {
        let parse = parser_for(&fixture.method, &fixture.path);
        let result = parse(fixture.status, &fixture.body);
        assert!(
            result.is_ok(),
            "{} ({} {}): {:?}",
            fixture.name,
            fixture.method,
            fixture.path,
            result
        );
    }
}

#[test]
fn removing_a_required_field_is_a_decode_error() {
    for (name, field) in [
        ("legacy_rekey_init_started", "started"),
        ("legacy_generate_root_attempt_idle", "started"),
        ("legacy_rekey_update_complete", "keys"),
        ("key_status", "term"),
        ("seal_status_sealed", "sealed"),
    ] {
        let fixture = fixture(name);
        let mut json = fixture.json.clone().unwrap();
        let object = json.as_object_mut().unwrap();
        if let Some(Value::Object(data)) = object.get_mut("data") {
            data.remove(field);
        }
        object.remove(field);
        let body = serde_json::to_vec(&json).unwrap();
        let result = parser_for(&fixture.method, &fixture.path)(fixture.status, &body);
        match result {
            Err(Error::Decode(e)) => assert_eq!(e.body.expose(), &body[..]),
            other => panic!("{name} without {field}: {other:?}"),
        }
    }
}
