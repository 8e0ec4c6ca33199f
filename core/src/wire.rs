//! What every response shares: error statuses with an `errors` list, success bodies either at
//! the top level (raw handlers) or inside the `data` envelope (logical paths), and empty 204s.

use crate::error::{DecodeError, Error, ServerError};
use http::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

/// Longest non-JSON error text kept from a refusal.
const MAX_PLAIN_ERROR: usize = 512;

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
    let errors = match serde_json::from_slice::<Errors>(body) {
        Ok(Errors { errors: Some(list) }) => list,
        _ => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                Vec::new()
            } else {
                let cut: String = text.chars().take(MAX_PLAIN_ERROR).collect();
                vec![cut]
            }
        }
    };
    Some(ServerError::new(status.as_u16(), errors).into())
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

/// Serialises a request body.
pub(crate) fn body<T: Serialize>(value: &T) -> Option<Vec<u8>> {
    Some(
        serde_json::to_vec(value).expect("request bodies are plain structs of strings and numbers"),
    )
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
        assert!(matches!(plain, Error::Server(ref e) if e.errors == ["404 page not found"]));
    }

    #[test]
    fn undecodable_success_keeps_body() {
        let err = json::<Term>(StatusCode::OK, b"{\"term\":\"s.secret\"}").unwrap_err();
        assert_eq!(err.raw_body().unwrap().expose(), b"{\"term\":\"s.secret\"}");
        assert!(!format!("{err} {err:?}").contains("s.secret"));
    }
}
