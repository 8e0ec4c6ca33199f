//! What every response shares: error statuses with an `errors` list, success bodies either at
//! the top level (raw handlers) or inside the `data` envelope (logical paths), and empty 204s.

use crate::error::{DecodeError, Error, ServerError};
use bytes::Bytes;
use http::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

/// Turns a non-success status into a classified [`ServerError`].
pub(crate) fn refusal(status: StatusCode, body: &[u8]) -> Option<Error> {
    if status.is_success() {
        return None;
    }
    #[derive(Deserialize)]
    struct Errors {
        #[serde(default)]
        errors: Option<Vec<String>>,
    }
    let errors = serde_json::from_slice::<Errors>(body)
        .ok()
        .and_then(|parsed| parsed.errors);
    Some(ServerError::from_answer(status.as_u16(), errors, body).into())
}

/// A success body, with the part that holds the answer located: the `data` object when the
/// server used the envelope, the whole body otherwise.
pub(crate) struct Payload<'a> {
    status: StatusCode,
    body: &'a [u8],
    payload: &'a [u8],
}

/// Checks the status and locates the payload. The body is scanned once without building a
/// tree, and each decode afterwards goes straight into its typed value, so a secret in the
/// body is copied only into the zeroizing type that keeps it.
pub(crate) fn payload(status: StatusCode, body: &[u8]) -> Result<Payload<'_>, Error> {
    if let Some(err) = refusal(status, body) {
        return Err(err);
    }
    let decode_error =
        |reason: String| Error::from(DecodeError::new(status.as_u16(), reason, body));
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(decode_error("expected a JSON object".into()));
    }
    #[derive(Deserialize)]
    struct Probe<'a> {
        #[serde(borrow, default)]
        data: Option<&'a serde_json::value::RawValue>,
    }
    let probe: Probe<'_> =
        serde_json::from_slice(body).map_err(|e| decode_error(format!("not JSON: {e}")))?;
    let payload = match probe.data {
        Some(data) if data.get().starts_with('{') => data.get().as_bytes(),
        _ => body,
    };
    Ok(Payload {
        status,
        body,
        payload,
    })
}

impl Payload<'_> {
    /// A decode error about this answer, keeping its whole body.
    pub(crate) fn error(&self, reason: String) -> Error {
        Error::from(DecodeError::new(self.status.as_u16(), reason, self.body))
    }

    /// Decodes the payload into `T`; a mismatch keeps the whole body in the error.
    pub(crate) fn decode<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(self.payload).map_err(|e| {
            Error::from(DecodeError::new(
                self.status.as_u16(),
                e.to_string(),
                self.body,
            ))
        })
    }
}

/// Decodes a success body into `T`, taking the payload from `data` when the server used the
/// envelope and from the top level otherwise.
pub(crate) fn json<T: DeserializeOwned>(status: StatusCode, body: &[u8]) -> Result<T, Error> {
    payload(status, body)?.decode()
}

/// Accepts any success status, ignoring the body (204 or an envelope nobody needs).
pub(crate) fn empty(status: StatusCode, body: &[u8]) -> Result<(), Error> {
    match refusal(status, body) {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

/// Serialises a request body (a share, an OTP, a token) into memory that is wiped when the
/// last request sharing it drops. It is measured first, so that the buffer never grows and no
/// reallocation leaves a copy behind.
pub(crate) fn body<T: Serialize>(value: &T) -> Option<Bytes> {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    const PLAIN: &str = "request bodies are plain structs of strings and numbers";
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).expect(PLAIN);
    let mut buffer = zeroize::Zeroizing::new(Vec::with_capacity(count.0));
    serde_json::to_writer(&mut *buffer, value).expect(PLAIN);
    Some(Bytes::from_owner(buffer))
}

/// `null` and absent both mean the type's default.
pub(crate) fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// `null`, absent and `""` all mean "none" (the servers send empty strings for unset values).
pub(crate) fn non_empty<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: From<String>,
{
    Ok(Option::<String>::deserialize(deserializer)?
        .filter(|s| !s.is_empty())
        .map(T::from))
}

/// What is complete in the first bytes of a JSON object whose end never arrived: the fields
/// whose values are whole, at the top level or, once the `data` envelope opened, inside it,
/// decoded into `T` (missing fields take `T`'s defaults). `None` when `T` cannot be made from
/// them. Values are copied only into the zeroizing buffer that is decoded.
pub(crate) fn salvage<T: DeserializeOwned>(prefix: &[u8]) -> Option<T> {
    let mut fields = Vec::new();
    complete_fields(prefix, &mut fields);
    // All the fields, or else all but one: a single malformed field does not hide the rest.
    let attempts = std::iter::once(None).chain((0..fields.len()).map(Some));
    let mut object = zeroize::Zeroizing::new(Vec::with_capacity(prefix.len() + 2));
    for skipped in attempts {
        object.clear();
        object.push(b'{');
        for (i, (key, value)) in fields.iter().enumerate() {
            if Some(i) == skipped {
                continue;
            }
            if object.len() > 1 {
                object.push(b',');
            }
            object.extend_from_slice(key);
            object.push(b':');
            object.extend_from_slice(value);
        }
        object.push(b'}');
        if let Ok(value) = serde_json::from_slice(&object) {
            return Some(value);
        }
    }
    None
}

/// Collects `(key, value)` pairs, both as raw JSON text, of the object that `text` begins;
/// descends into an unfinished `data` object, where the answer's own fields are.
fn complete_fields<'a>(text: &'a [u8], fields: &mut Vec<(&'a [u8], &'a [u8])>) {
    let mut at = skip_space(text, 0);
    if text.get(at) != Some(&b'{') {
        return;
    }
    at += 1;
    loop {
        at = skip_space(text, at);
        let Some((key, after_key)) =
            whole_value(text, at).filter(|(k, _)| k.first() == Some(&b'"'))
        else {
            return;
        };
        at = skip_space(text, after_key);
        if text.get(at) != Some(&b':') {
            return;
        }
        at = skip_space(text, at + 1);
        match whole_value(text, at) {
            Some((value, end)) => {
                let next = skip_space(text, end);
                let delimited = matches!(text.get(next), Some(b',' | b'}'));
                // A number or literal is whole only once a delimiter follows it.
                if !delimited && !matches!(value.first(), Some(b'"' | b'[' | b'{')) {
                    return;
                }
                if key == b"\"data\"" && value.first() == Some(&b'{') {
                    fields.clear();
                    complete_fields(value, fields);
                    return;
                }
                fields.push((key, value));
                if text.get(next) != Some(&b',') {
                    return;
                }
                at = next + 1;
            }
            None => {
                if key == b"\"data\"" && text.get(at) == Some(&b'{') {
                    fields.clear();
                    complete_fields(&text[at..], fields);
                }
                return;
            }
        }
    }
}

/// The raw JSON value that starts at `at`, if it ends within `text`, and where it ends.
fn whole_value(text: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let rest = text.get(at..)?;
    let mut values =
        serde_json::Deserializer::from_slice(rest).into_iter::<&serde_json::value::RawValue>();
    values.next()?.ok()?;
    let end = values.byte_offset();
    Some((&rest[..end], at + end))
}

fn skip_space(text: &[u8], mut at: usize) -> usize {
    while text.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Term {
        term: u32,
    }

    #[test]
    fn reads_top_level_and_envelope() {
        let ok = StatusCode::OK;
        let top: Term = json(ok, br#"{"term":3}"#).unwrap();
        let env: Term = json(ok, br#"{"request_id":"x","data":{"term":4},"term":9}"#).unwrap();
        let null_data: Term = json(ok, br#"{"data":null,"term":5}"#).unwrap();
        assert_eq!((top.term, env.term, null_data.term), (3, 4, 5));
    }

    #[test]
    fn error_status_wins_over_body() {
        let err = json::<Term>(
            StatusCode::BAD_REQUEST,
            br#"{"errors":["no rekey in progress"]}"#,
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::Server(ref e) if e.status == 400 && e.errors == ["no rekey in progress"])
        );
        let plain = json::<Term>(StatusCode::NOT_FOUND, b"404 page not found").unwrap_err();
        assert!(matches!(plain, Error::Server(ref e) if e.errors.is_empty()
            && e.body.expose() == b"404 page not found"
            && e.refusal == crate::Refusal::RecoveryMode));
        let page = b"<html>bad gateway: {\"keys\":[\"4738112d\"]}</html>";
        let gateway = json::<Term>(StatusCode::BAD_GATEWAY, page).unwrap_err();
        let shown = format!("{gateway} {gateway:?}");
        assert!(!shown.contains("4738112d"), "{shown}");
        assert!(
            matches!(gateway, Error::Server(ref e) if e.from_gateway() && e.body.len() == page.len())
        );
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Salvaged {
        keys: Vec<String>,
        #[serde(default)]
        nonce: Option<String>,
    }

    #[test]
    fn salvage_takes_only_whole_fields() {
        let body = br#"{"request_id":"r","data":{"backup":false,"complete":true,"keys":["aa","bb"],"keys_base64":["qq","uw=="],"nonce":"n-1","verification_nonce":""}}"#;
        for cut in 0..body.len() {
            let salvaged: Option<Salvaged> = salvage(&body[..cut]);
            let keys_end = body.windows(2).position(|w| w == b"],").unwrap() + 1;
            match salvaged {
                Some(s) => {
                    assert!(cut >= keys_end, "{cut}");
                    assert_eq!(s.keys, ["aa", "bb"]);
                    let nonce_end = body.windows(4).position(|w| w == b"n-1\"").unwrap() + 4;
                    assert_eq!(s.nonce.is_some(), cut >= nonce_end, "{cut}");
                }
                None => assert!(cut < keys_end, "{cut}"),
            }
        }
        let top: Salvaged =
            salvage(br#"{"nonce":"n-2","complete":true,"keys":["cc"],"keys_b"#).unwrap();
        assert_eq!(
            (top.keys, top.nonce.as_deref()),
            (vec!["cc".to_string()], Some("n-2"))
        );
    }

    #[test]
    fn salvage_waits_for_a_delimiter_after_numbers() {
        #[derive(Deserialize)]
        struct Progress {
            progress: u32,
        }
        assert!(salvage::<Progress>(br#"{"progress":12"#).is_none());
        assert_eq!(
            salvage::<Progress>(br#"{"progress":12,"#).unwrap().progress,
            12
        );
        assert!(salvage::<Progress>(b"garbage").is_none());
        assert!(salvage::<Progress>(b"").is_none());
    }

    #[test]
    fn undecodable_success_keeps_body() {
        let err = json::<Term>(StatusCode::OK, b"{\"term\":\"s.secret\"}").unwrap_err();
        assert_eq!(err.raw_body().unwrap().expose(), b"{\"term\":\"s.secret\"}");
        assert!(!format!("{err} {err:?}").contains("s.secret"));
    }
}
