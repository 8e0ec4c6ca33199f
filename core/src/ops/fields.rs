//! Fields several operation families share: share submissions, share and PGP-key counts, Go
//! durations. Each is checked here, once, before anything is sent.

use crate::error::{Error, InvalidInput};
use crate::secret::KeyShare;
use serde::Serialize;
use std::time::Duration;

/// Refuses an empty (or blank) share: the one rule every share follows, wherever it is given.
pub(crate) fn check_share(share: &KeyShare) -> Result<(), InvalidInput> {
    if share.expose().trim().is_empty() {
        return Err(InvalidInput::Empty("key share"));
    }
    Ok(())
}

/// Collects shares, each checked with [`check_share`].
pub(crate) fn checked_shares<I: IntoIterator<Item = KeyShare>>(
    shares: I,
) -> Result<Vec<KeyShare>, Error> {
    let shares: Vec<KeyShare> = shares.into_iter().collect();
    for share in &shares {
        check_share(share)?;
    }
    Ok(shares)
}

/// The body of every share submission: `{"key", "nonce"}`.
#[derive(Serialize)]
pub(crate) struct ShareBody<'a> {
    pub(crate) key: &'a str,
    pub(crate) nonce: &'a str,
}

/// Checks a share and nonce before they are sent.
pub(crate) fn share_body<'a>(key: &'a KeyShare, nonce: &'a str) -> Result<ShareBody<'a>, Error> {
    check_share(key)?;
    if nonce.trim().is_empty() {
        return Err(InvalidInput::Empty("nonce").into());
    }
    Ok(ShareBody {
        key: key.expose(),
        nonce,
    })
}

/// The checks Vault and OpenBao apply to a shares/threshold pair.
pub(crate) fn validate_shares(shares: u32, threshold: u32) -> Result<(), InvalidInput> {
    let reason = if shares < 1 {
        Some("shares must be at least one")
    } else if threshold < 1 {
        Some("threshold must be at least one")
    } else if shares > 255 {
        Some("shares must be at most 255")
    } else if threshold > shares {
        Some("threshold cannot be larger than shares")
    } else if shares > 1 && threshold == 1 {
        Some("threshold must be greater than one for multiple shares")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(InvalidInput::SharesConfig {
            shares,
            threshold,
            reason,
        }),
        None => Ok(()),
    }
}

/// One PGP key per share, when any are given.
pub(crate) fn validate_pgp_count(keys: &[String], shares: u32) -> Result<(), InvalidInput> {
    if keys.iter().any(|k| k.trim().is_empty()) {
        return Err(InvalidInput::Empty("a PGP key"));
    }
    if !keys.is_empty() && keys.len() != shares as usize {
        return Err(InvalidInput::PgpKeyCount {
            given: keys.len(),
            shares,
        });
    }
    Ok(())
}

/// Parses Go's `time.Duration` text (`"4320h0m0s"`, `"1h30m"`, `"90s"`, `"1.5h"`, `"0"`), or
/// plain seconds.
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return None;
        }
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * nanos_per_unit;
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return None;
    }
    Some(Duration::from_nanos(total as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_rules() {
        assert!(validate_shares(5, 3).is_ok());
        assert!(validate_shares(1, 1).is_ok());
        assert!(validate_shares(3, 4).is_err());
        assert!(validate_shares(0, 0).is_err());
        assert!(validate_shares(3, 1).is_err());
        assert!(validate_shares(256, 3).is_err());
    }
}
