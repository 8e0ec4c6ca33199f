//! What every response shares: error statuses with an `errors` list, success bodies either at
//! the top level (raw handlers) or inside the `data` envelope (logical paths), and empty 204s.

use crate::error::{DecodeError, Error, ServerError};
use bytes::Bytes;
use http::StatusCode;
use serde::de::value::{
    BoolDeserializer, BorrowedStrDeserializer, F64Deserializer, I64Deserializer,
    MapAccessDeserializer, SeqAccessDeserializer, StringDeserializer, U64Deserializer,
    UnitDeserializer,
};
use serde::de::{DeserializeOwned, DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::borrow::Cow;
use std::fmt;

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

/// A success body: the answer is the `data` object when the server used the envelope, the
/// whole body otherwise.
pub(crate) struct Payload<'a> {
    status: StatusCode,
    body: &'a [u8],
}

/// Checks the status and that the body is a JSON object. Each decode afterwards goes straight
/// into its typed value in one pass over the body, so a secret in it is copied only into the
/// zeroizing type that keeps it.
pub(crate) fn payload(status: StatusCode, body: &[u8]) -> Result<Payload<'_>, Error> {
    if let Some(err) = refusal(status, body) {
        return Err(err);
    }
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Error::from(DecodeError::new(
            status.as_u16(),
            "expected a JSON object".to_string(),
            body,
        )));
    }
    Ok(Payload { status, body })
}

impl Payload<'_> {
    /// A decode error about this answer, keeping its whole body.
    pub(crate) fn error(&self, reason: String) -> Error {
        Error::from(DecodeError::new(self.status.as_u16(), reason, self.body))
    }

    /// Decodes the payload into `T`; a mismatch keeps the whole body in the error.
    ///
    /// Both ways of decoding give the same answer; which is faster depends on the shape. An
    /// envelope (the servers' logical responses open with `request_id`) is located first,
    /// then only `data` is decoded; a top-level answer is decoded in one pass.
    pub(crate) fn decode<T: DeserializeOwned>(&self) -> Result<T, Error> {
        if opens_envelope(self.body) {
            return self.decode_in_two_steps();
        }
        match one_pass(self.body) {
            Ok(value) => Ok(value),
            // Whatever went wrong, the two-step decode says it the same way every time.
            Err(_) => self.decode_in_two_steps(),
        }
    }

    /// Locates the payload (a scan of the body), then decodes it.
    fn decode_in_two_steps<T: DeserializeOwned>(&self) -> Result<T, Error> {
        #[derive(Deserialize)]
        struct Probe<'a> {
            #[serde(borrow, default)]
            data: Option<&'a serde_json::value::RawValue>,
        }
        let Ok(text) = std::str::from_utf8(self.body) else {
            // Not UTF-8: decoded from bytes, to fail where the bytes do (or not, in a value
            // that is skipped).
            let probe: Probe<'_> = serde_json::from_slice(self.body)
                .map_err(|e| self.error(format!("not JSON: {e}")))?;
            let payload = match probe.data {
                Some(data) if data.get().starts_with('{') => data.get().as_bytes(),
                _ => self.body,
            };
            return serde_json::from_slice(payload).map_err(|e| self.error(e.to_string()));
        };
        // UTF-8 checked once for the whole body (see `one_pass_over`).
        let probe: Probe<'_> =
            serde_json::from_str(text).map_err(|e| self.error(format!("not JSON: {e}")))?;
        let payload = match probe.data {
            Some(data) if data.get().starts_with('{') => data.get(),
            _ => text,
        };
        serde_json::from_str(payload).map_err(|e| self.error(e.to_string()))
    }
}

/// Whether `body` opens the way the servers' logical responses do, with `request_id`.
fn opens_envelope(body: &[u8]) -> bool {
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let rest = &body[start..];
    let after = rest.get(1..).map(|r| {
        &r[r.iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(r.len())..]
    });
    rest.first() == Some(&b'{') && after.is_some_and(|r| r.starts_with(b"\"request_id\""))
}

/// Decodes `T` in one pass over `body`: from the `data` object when the body has one, else
/// from the top level. `T` is decoded from the top-level fields while a `data` object is
/// decoded into a second `T` on the side, which wins; when the top-level decode fails for want
/// of fields the envelope holds, the side one is the answer.
fn one_pass<T: DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    match std::str::from_utf8(body) {
        Ok(text) => one_pass_over(serde_json::Deserializer::from_str(text)),
        Err(_) => one_pass_over(serde_json::Deserializer::from_slice(body)),
    }
}

/// Checking a whole body for UTF-8 once is far cheaper than checking each of its strings as
/// it is read, which is what decoding from bytes does; a body that is not UTF-8 is decoded
/// from bytes, so that it fails (or not) exactly as before.
fn one_pass_over<'de, R, T>(
    mut deserializer: serde_json::Deserializer<R>,
) -> Result<T, serde_json::Error>
where
    R: serde_json::de::Read<'de>,
    T: DeserializeOwned,
{
    let mut data = None;
    let top = T::deserialize(Intercept {
        inner: &mut deserializer,
        data: &mut data,
    });
    let value = match data {
        Some(data) => data,
        None => top?,
    };
    // A top-level decode that stopped early leaves the rest unread: then this fails too.
    deserializer.end()?;
    Ok(value)
}

/// A deserializer of the top-level object that keeps `data` from `T` and decodes it aside.
struct Intercept<'a, D, T> {
    inner: D,
    data: &'a mut Option<T>,
}

impl<'de, D, T> Deserializer<'de> for Intercept<'_, D, T>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_map(InterceptVisitor {
            visitor,
            data: self.data,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

struct InterceptVisitor<'a, V, T> {
    visitor: V,
    data: &'a mut Option<T>,
}

impl<'de, V, T> Visitor<'de> for InterceptVisitor<'_, V, T>
where
    V: Visitor<'de>,
    T: Deserialize<'de>,
{
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_map(InterceptMap {
            map,
            data: self.data,
            seen_data: false,
            at_data: false,
        })
    }
}

/// The top-level entries. A `data` object is decoded into a `T` on the side, and `T` sees
/// `data` as `null`; any other `data` value reaches `T` as it is.
struct InterceptMap<'a, A, T> {
    map: A,
    data: &'a mut Option<T>,
    seen_data: bool,
    at_data: bool,
}

impl<'de, A, T> MapAccess<'de> for InterceptMap<'_, A, T>
where
    A: MapAccess<'de>,
    T: Deserialize<'de>,
{
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let Some(FieldName(key)) = self.map.next_key::<FieldName<'de>>()? else {
            return Ok(None);
        };
        if key == "data" {
            if std::mem::replace(&mut self.seen_data, true) {
                return Err(A::Error::custom("duplicate field `data`"));
            }
            self.at_data = true;
        }
        match key {
            Cow::Borrowed(key) => seed.deserialize(BorrowedStrDeserializer::new(key)),
            Cow::Owned(key) => seed.deserialize(StringDeserializer::new(key)),
        }
        .map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        if std::mem::take(&mut self.at_data) {
            self.map.next_value_seed(DataSeed {
                seed,
                data: &mut *self.data,
            })
        } else {
            self.map.next_value_seed(seed)
        }
    }
}

/// A top-level field's name, borrowed from the body unless it holds an escape (serde's own
/// `Cow<str>` always copies: one allocation per field of every answer).
struct FieldName<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for FieldName<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;
        impl<'de> Visitor<'de> for Name {
            type Value = FieldName<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }

            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(FieldName(Cow::Borrowed(v)))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(FieldName(Cow::Owned(v.to_string())))
            }

            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(FieldName(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(Name)
    }
}

/// The value of `data`: an object goes to the side as a `T`, anything else to `seed`.
struct DataSeed<'a, S, T> {
    seed: S,
    data: &'a mut Option<T>,
}

impl<'de, S, T> DeserializeSeed<'de> for DataSeed<'_, S, T>
where
    S: DeserializeSeed<'de>,
    T: Deserialize<'de>,
{
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, S, T> Visitor<'de> for DataSeed<'_, S, T>
where
    S: DeserializeSeed<'de>,
    T: Deserialize<'de>,
{
    type Value = S::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<S::Value, M::Error> {
        *self.data = Some(T::deserialize(MapAccessDeserializer::new(map))?);
        self.seed.deserialize(UnitDeserializer::new())
    }

    fn visit_seq<Q: SeqAccess<'de>>(self, seq: Q) -> Result<S::Value, Q::Error> {
        self.seed.deserialize(SeqAccessDeserializer::new(seq))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<S::Value, E> {
        self.seed.deserialize(UnitDeserializer::new())
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<S::Value, E> {
        self.seed.deserialize(BoolDeserializer::new(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<S::Value, E> {
        self.seed.deserialize(I64Deserializer::new(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<S::Value, E> {
        self.seed.deserialize(U64Deserializer::new(v))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<S::Value, E> {
        self.seed.deserialize(F64Deserializer::new(v))
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<S::Value, E> {
        self.seed.deserialize(BorrowedStrDeserializer::new(v))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<S::Value, E> {
        self.seed
            .deserialize(StringDeserializer::new(v.to_string()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<S::Value, E> {
        self.seed.deserialize(StringDeserializer::new(v))
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Status {
        nonce: String,
        #[serde(default)]
        progress: u32,
        #[serde(default)]
        keys: Option<Vec<String>>,
    }

    fn two_steps<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
        Payload {
            status: StatusCode::OK,
            body,
        }
        .decode_in_two_steps()
        .map_err(|e| e.to_string())
    }

    /// Where the one-pass decode answers, it answers what locating the payload first does.
    fn same<T: DeserializeOwned + PartialEq + fmt::Debug>(body: &[u8]) {
        if let Ok(fast) = one_pass::<T>(body) {
            assert_eq!(
                Ok(fast),
                two_steps::<T>(body),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        // And decode, which picks one of the two, says what the two-step decode says.
        let picked = Payload {
            status: StatusCode::OK,
            body,
        }
        .decode::<T>()
        .map_err(|e| e.to_string());
        assert_eq!(
            picked,
            two_steps::<T>(body),
            "{}",
            String::from_utf8_lossy(body)
        );
    }

    #[test]
    fn one_pass_agrees_on_every_shape() {
        for body in [
            &br#"{"nonce":"n","progress":2}"#[..],
            br#"{"request_id":"r","data":{"nonce":"n","progress":2},"warnings":null}"#,
            br#"{"nonce":"top","data":{"nonce":"inner"}}"#,
            br#"{"data":{"nonce":"inner"},"nonce":"top","progress":"not a number"}"#,
            br#"{"nonce":"n","data":null}"#,
            br#"{"nonce":"n","data":"text"}"#,
            br#"{"nonce":"n","data":[1,{"a":2}]}"#,
            br#"{"data":{"nonce":"a"},"data":{"nonce":"b"}}"#,
            br#"{"data":{"progress":1}}"#,
            br#"{"d\u0061ta":{"nonce":"escaped"}}"#,
            br#"{"nonce":"n","keys":["k1","k2"],"data":{"nonce":"m","keys":null}}"#,
            br#"{"nonce":"n"} trailing"#,
            br#"{"nonce":"n","#,
            br#"{"request_id":"r","nonce":"top"}"#,
        ] {
            same::<Status>(body);
            same::<serde_json::Value>(body);
        }
        // Field names are borrowed from the body unless escaped; an escaped `data` is `data`.
        let escaped = one_pass::<Status>(br#"{"nonce":"top","d\u0061ta":{"nonce":"inner"}}"#);
        assert_eq!(escaped.map(|s| s.nonce).ok().as_deref(), Some("inner"));
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<u8>().prop_map(|n| serde_json::json!(n)),
            "[a-z]{0,3}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(serde_json::Value::Array),
                prop::collection::vec(
                    (
                        prop::sample::select(vec!["data", "nonce", "progress", "keys", "x"]),
                        inner
                    ),
                    0..4
                )
                .prop_map(|entries| {
                    let text: Vec<String> =
                        entries.iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
                    serde_json::from_str(&format!("{{{}}}", text.join(","))).unwrap_or_default()
                }),
            ]
        })
    }

    proptest! {
        /// Objects with duplicate keys, `data` of every kind and nested envelopes.
        #[test]
        fn one_pass_agrees_with_two_steps(
            entries in prop::collection::vec(
                (prop::sample::select(vec!["data", "nonce", "progress", "keys", "request_id"]),
                 json_value()),
                0..5,
            )
        ) {
            let text: Vec<String> = entries.iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
            let body = format!("{{{}}}", text.join(","));
            same::<Status>(body.as_bytes());
            same::<serde_json::Value>(body.as_bytes());
        }
    }

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

    #[test]
    fn undecodable_success_keeps_body() {
        let err = json::<Term>(StatusCode::OK, b"{\"term\":\"s.secret\"}").unwrap_err();
        assert_eq!(err.raw_body().unwrap().expose(), b"{\"term\":\"s.secret\"}");
        assert!(!format!("{err} {err:?}").contains("s.secret"));
    }
}
