//! The encryption key (keyring): its status, rotation, and automatic-rotation settings.

use crate::dialect::Dialect;
use crate::error::{Error, InvalidInput};
use crate::ops::operation;
use crate::target::Target;
use crate::wire;
use http::Method;
use serde::{Deserialize, Deserializer, Serialize};
use std::time::Duration;

/// `GET sys/key-status`: hvac's `get_encryption_key_status`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GetEncryptionKeyStatus;

/// The active encryption key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct KeyStatus {
    /// Key term: rises by one at every rotation.
    pub term: u64,
    /// When the key was installed (RFC 3339).
    #[serde(default, deserialize_with = "wire::null_default")]
    pub install_time: String,
    /// Encryptions performed with this key, when the server counts them.
    #[serde(default)]
    pub encryptions: Option<u64>,
}

operation!(GetEncryptionKeyStatus => KeyStatus, |self, target| target.request(Method::GET, "sys/key-status", None), wire::json);

/// `PUT sys/rotate` (OpenBao: `sys/rotate/keyring`): hvac's `rotate_encryption_key`. Needs sudo.
#[derive(Debug, Clone, Copy, Default)]
pub struct RotateEncryptionKey;

operation!(RotateEncryptionKey => (), |self, target| {
    let path = match target.dialect() {
        Dialect::Vault => "sys/rotate",
        Dialect::OpenBao => "sys/rotate/keyring",
    };
    target.request(Method::PUT, path, None)
}, wire::empty);

/// `PUT sys/rotate/root` (OpenBao only): rotate the root key that protects the keyring,
/// without key shares; the existing shares keep working. Needs sudo.
#[derive(Debug, Clone, Copy, Default)]
pub struct RotateRootKey;

operation!(RotateRootKey => (), |self, target| {
    if target.dialect() != Dialect::OpenBao {
        return Err(InvalidInput::UnsupportedByDialect { operation: "rotate root key", dialect: target.dialect() }.into());
    }
    target.request(Method::PUT, "sys/rotate/root", None)
}, wire::empty);

fn config_path(target: &Target) -> &'static str {
    match target.dialect() {
        Dialect::Vault => "sys/rotate/config",
        Dialect::OpenBao => "sys/rotate/keyring/config",
    }
}

/// Automatic rotation of the encryption key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct RotateConfig {
    /// Whether automatic rotation is on.
    #[serde(default, deserialize_with = "wire::null_default")]
    pub enabled: bool,
    /// Rotate after this many encryptions.
    #[serde(default, deserialize_with = "wire::null_default")]
    pub max_operations: u64,
    /// Rotate after this long; zero means no time-based rotation. The server sends a Go
    /// duration (`"48h0m0s"`) or the integer `0`.
    #[serde(
        default,
        deserialize_with = "interval",
        serialize_with = "interval_out"
    )]
    pub interval: Duration,
}

/// Whole seconds as the integer the server also sends, anything finer as a Go duration in
/// nanoseconds: either reads back through [`interval`] as the same duration.
fn interval_out<S: serde::Serializer>(
    interval: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if interval.subsec_nanos() == 0 {
        serializer.serialize_u64(interval.as_secs())
    } else {
        serializer.collect_str(&format_args!("{}ns", interval.as_nanos()))
    }
}

fn interval<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
        Null(()),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Seconds(s) => Ok(Duration::from_secs(s)),
        Raw::Text(t) => parse_go_duration(&t)
            .ok_or_else(|| serde::de::Error::custom("interval is not a duration")),
        Raw::Null(()) => Ok(Duration::ZERO),
    }
}

pub use super::fields::parse_go_duration;

/// `GET sys/rotate/config`: read the automatic-rotation settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadRotateConfig;

operation!(ReadRotateConfig => RotateConfig, |self, target| target.request(Method::GET, config_path(target), None), wire::json);

/// `PUT sys/rotate/config`: change the automatic-rotation settings; unset fields are left as
/// they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigureRotation {
    enabled: Option<bool>,
    max_operations: Option<u64>,
    interval: Option<Duration>,
}

/// Fewest encryptions the server accepts as `max_operations`.
pub const MIN_MAX_OPERATIONS: u64 = 1_000_000;
/// Most encryptions the server accepts as `max_operations` (also its default).
pub const MAX_MAX_OPERATIONS: u64 = 3_865_470_566;
/// Shortest rotation interval the server accepts (other than zero, which turns it off).
pub const MIN_INTERVAL: Duration = Duration::from_secs(24 * 3600);

impl ConfigureRotation {
    /// Changes nothing until a setter is called.
    pub fn new() -> Self {
        Self::default()
    }

    /// Turn automatic rotation on or off.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = Some(enabled);
        self
    }

    /// Rotate after this many encryptions
    /// ([`MIN_MAX_OPERATIONS`]..=[`MAX_MAX_OPERATIONS`]).
    pub fn max_operations(mut self, operations: u64) -> Self {
        self.max_operations = Some(operations);
        self
    }

    /// Rotate after this long (at least [`MIN_INTERVAL`], or zero for no time-based rotation).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }
}

#[derive(Serialize)]
struct ConfigBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_operations: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interval: Option<String>,
}

impl ConfigureRotation {
    fn body(&self) -> Result<ConfigBody, Error> {
        if let Some(ops) = self.max_operations {
            if !(MIN_MAX_OPERATIONS..=MAX_MAX_OPERATIONS).contains(&ops) {
                return Err(InvalidInput::OutOfRange {
                    field: "max_operations",
                    reason: "must be between 1000000 and 3865470566",
                }
                .into());
            }
        }
        if let Some(interval) = self.interval {
            if !interval.is_zero() && interval < MIN_INTERVAL {
                return Err(InvalidInput::OutOfRange {
                    field: "interval",
                    reason: "must be at least 24h, or zero to turn it off",
                }
                .into());
            }
            if interval.subsec_nanos() != 0 {
                return Err(InvalidInput::OutOfRange {
                    field: "interval",
                    reason: "must be a whole number of seconds",
                }
                .into());
            }
        }
        Ok(ConfigBody {
            enabled: self.enabled,
            max_operations: self.max_operations,
            interval: self.interval.map(|i| format!("{}s", i.as_secs())),
        })
    }
}

operation!(ConfigureRotation => (), |self, target| {
    let body = self.body()?;
    target.request(Method::PUT, config_path(target), wire::body(&body))
}, wire::empty);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let h = |n: u64| Duration::from_secs(n * 3600);
        assert_eq!(parse_go_duration("48h0m0s"), Some(h(48)));
        assert_eq!(parse_go_duration("4320h"), Some(h(4320)));
        assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("86400"), Some(h(24)));
        for bad in ["", "h", "5x", "1h-2m", "..h"] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
    }
}
