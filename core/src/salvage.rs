//! What is whole in an answer that was cut: the fields of the object it begins whose values
//! arrived complete, at the top level or inside the `data` envelope.
//!
//! The body is hostile until proven otherwise: up to the transports' cap (4 MiB), of any shape,
//! cut anywhere. So the scan is a loop, not a recursion (no stack to overflow, however deep the
//! nesting), opens one `data` envelope at most (the servers never nest them), reads each value
//! once, and decodes only the fields the wanted type has, each once: linear in the body.

use serde::de::{self, DeserializeOwned, Visitor};
use serde::Deserializer;

/// How many `data` envelopes are opened: the servers wrap an answer in one at most.
const ENVELOPES: usize = 1;

/// The complete fields of the object `prefix` begins, decoded into `T` (missing fields take
/// `T`'s defaults); `None` when `T` cannot be made from them. Values are copied only into the
/// zeroizing buffer that is decoded.
///
/// All the fields are tried, or else all but one, so that a single malformed field does not
/// hide the rest; only fields of `T` take part, so the attempts are as many as `T` has fields.
pub(crate) fn salvage<T: DeserializeOwned>(prefix: &[u8]) -> Option<T> {
    let mut fields = complete_fields(prefix);
    if let Some(names) = field_names::<T>() {
        keep_known_once(&mut fields, names);
    } else {
        // Not a plain struct (a map, say): every field, in one attempt.
        return decode(&fields, None);
    }
    std::iter::once(None)
        .chain((0..fields.len()).map(Some))
        .find_map(|skipped| decode(&fields, skipped))
}

/// Decodes `fields` (but the one at `skipped`) as one object.
fn decode<T: DeserializeOwned>(fields: &[(&[u8], &[u8])], skipped: Option<usize>) -> Option<T> {
    let size: usize = fields.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    let mut object = zeroize::Zeroizing::new(Vec::with_capacity(size + 2));
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
    serde_json::from_slice(&object).ok()
}

/// Keeps the first field of each name in `names`, in their order in the body.
fn keep_known_once(fields: &mut Vec<(&[u8], &[u8])>, names: &[&str]) {
    let mut seen = vec![false; names.len()];
    fields.retain(|(key, _)| {
        let name = key
            .strip_prefix(b"\"")
            .and_then(|k| k.strip_suffix(b"\""))
            .unwrap_or(key);
        match names.iter().position(|n| n.as_bytes() == name) {
            Some(i) if !seen[i] => {
                seen[i] = true;
                true
            }
            _ => false,
        }
    });
}

/// The names of the fields of `T`, when `T` is a struct that derives `Deserialize`: serde hands
/// them to `deserialize_struct`, where this deserializer takes them and stops.
fn field_names<'de, T: serde::Deserialize<'de>>() -> Option<&'static [&'static str]> {
    struct Names(Option<&'static [&'static str]>);
    struct Taker<'a>(&'a mut Names);
    impl<'de> Deserializer<'de> for Taker<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 .0 = Some(fields);
            Err(de::Error::custom("names taken"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut names = Names(None);
    let _ = T::deserialize(Taker(&mut names));
    names.0
}

/// The `(key, value)` pairs, both as raw JSON text, that are whole in the object `text` begins;
/// once a `data` object opens, its own pairs instead (what came before it was the envelope's).
fn complete_fields(mut text: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut fields = Vec::new();
    let mut envelopes = 0;
    'object: loop {
        let mut at = skip_space(text, 0);
        if text.get(at) != Some(&b'{') {
            return fields;
        }
        at += 1;
        loop {
            at = skip_space(text, at);
            let Some((key, after_key)) =
                whole_value(text, at).filter(|(k, _)| k.first() == Some(&b'"'))
            else {
                return fields;
            };
            at = skip_space(text, after_key);
            if text.get(at) != Some(&b':') {
                return fields;
            }
            at = skip_space(text, at + 1);
            if key == b"\"data\"" && text.get(at) == Some(&b'{') && envelopes < ENVELOPES {
                // Whole or cut, the answer's own fields are inside; what follows the envelope
                // is not read.
                envelopes += 1;
                fields.clear();
                text = &text[at..];
                continue 'object;
            }
            let Some((value, end)) = whole_value(text, at) else {
                return fields;
            };
            let next = skip_space(text, end);
            let delimited = matches!(text.get(next), Some(b',' | b'}'));
            // A number or literal is whole only once a delimiter follows it.
            if !delimited && !matches!(value.first(), Some(b'"' | b'[' | b'{')) {
                return fields;
            }
            fields.push((key, value));
            if text.get(next) != Some(&b',') {
                return fields;
            }
            at = next + 1;
        }
    }
}

/// The raw JSON value that starts at `at`, if it ends within `text`, and where it ends. Read
/// once, by serde_json, whose nesting limit (128) bounds the depth.
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
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Salvaged {
        keys: Vec<String>,
        #[serde(default)]
        nonce: Option<String>,
    }

    #[test]
    fn takes_only_whole_fields() {
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
    fn waits_for_a_delimiter_after_numbers() {
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
    fn one_malformed_field_does_not_hide_the_rest() {
        let body = br#"{"nonce":7,"keys":["aa"],"x"#;
        let salvaged: Salvaged = salvage(body).unwrap();
        assert_eq!((salvaged.keys, salvaged.nonce), (vec!["aa".into()], None));
        // The first of two fields of one name is the one taken.
        let twice: Salvaged = salvage(br#"{"keys":["first"],"keys":["second"],"#).unwrap();
        assert_eq!(twice.keys, ["first"]);
    }

    #[test]
    fn only_the_servers_envelope_is_opened() {
        let nested = br#"{"data":{"data":{"keys":["deep"]},"keys":["inner"],"#;
        assert_eq!(salvage::<Salvaged>(nested).unwrap().keys, ["inner"]);
        let fields = complete_fields(br#"{"data":{"data":{"data":{"keys":["x"]"#);
        assert!(fields.is_empty(), "{}", fields.len());
    }

    #[test]
    fn field_names_are_those_of_the_struct() {
        assert_eq!(field_names::<Salvaged>(), Some(&["keys", "nonce"][..]));
        assert_eq!(field_names::<serde_json::Value>(), None);
        assert_eq!(field_names::<Vec<String>>(), None);
        // A map takes every field, in one attempt.
        let map: std::collections::BTreeMap<String, u32> = salvage(br#"{"a":1,"b":2,"c"#).unwrap();
        assert_eq!(map.len(), 2);
    }

    /// The shapes that once cost a recursion per level or a decode per field: settled, with
    /// nothing salvaged, whatever their size (their time is in the core bench).
    #[test]
    fn hostile_shapes_settle() {
        let deep = b"{\"data\":".repeat(100_000);
        assert!(salvage::<Salvaged>(&deep).is_none());
        let arrays = [&b"{\"keys\":"[..], &b"[".repeat(100_000)].concat();
        assert!(salvage::<Salvaged>(&arrays).is_none());
        let mut many = b"{".to_vec();
        for i in 0..50_000 {
            many.extend_from_slice(format!("\"f{i}\":{i},").as_bytes());
        }
        assert!(salvage::<Salvaged>(&many).is_none());
        let many_keys = [&b"{"[..], &b"\"keys\":7,".repeat(100_000)].concat();
        assert!(salvage::<Salvaged>(&many_keys).is_none());
    }
}
