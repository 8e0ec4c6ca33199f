//! One-time passwords and decoding the encoded root token.
//!
//! A root-token generation hands the new token out only once, encoded: XORed with a one-time
//! password the caller (or the server) chose when the generation started. Two schemes exist,
//! told apart by the `otp_length` the server reports:
//!
//! - **current** (`otp_length > 0`, Vault 1.0+ and OpenBao): the OTP is `otp_length` base62
//!   characters, and `encoded = base64_std_nopad(token_bytes XOR otp_ascii_bytes)`;
//! - **legacy** (`otp_length == 0`, Vault before 1.0): the OTP is std base64 of 16 random bytes
//!   and the token is the UUID text of `b64decode(encoded) XOR b64decode(otp)`.
//!
//! With a PGP key instead of an OTP, the encoded token is a base64 OpenPGP message: decrypt it
//! with the private key; nothing here applies.
//!
//! This module needs randomness only to generate an OTP, and takes it from the caller (a
//! [`RandomSource`]): the core never reads the operating system's random source.
//!
//! ```
//! use vault_key_core::{otp, EncodedToken, Otp};
//!
//! // From a real exchange with OpenBao 2.7.2 (server-generated OTP, 26 characters).
//! let encoded = EncodedToken::new("MR4veh4NFyZ4FgwCAhQWADwFF300Nik9BXY");
//! let otp = Otp::new("B0F8lbreLPbrgNXcHnv3GWbtF7");
//! let token = otp::decode_token(&encoded, &otp, 26)?;
//! assert_eq!(token.expose(), "s.iBroeC4FnpeZNctkaNsaKICA");
//! # Ok::<(), vault_key_core::Error>(())
//! ```

use crate::error::{Error, InvalidInput};
use crate::secret::{EncodedToken, Otp, Token};
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use zeroize::Zeroizing;

/// The characters of a current-scheme OTP, as the servers draw them (base62).
pub const OTP_ALPHABET: &[u8; 62] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Bytes of randomness in a legacy-scheme OTP (it is their std base64, 24 characters).
pub const LEGACY_OTP_BYTES: usize = 16;

/// Longest OTP [`generate_otp`] makes; servers ask for 26 to 33 characters.
pub const MAX_OTP_LENGTH: usize = 1024;

/// Bytes at or above this value are rejected so that `byte % 62` is uniform (248 = 4 × 62).
const REJECT_FROM: u8 = 248;

/// Rounds of fresh bytes [`generate_otp`] draws before it calls the source broken. A uniform
/// source fails this check with probability below 2^-300.
const MAX_ROUNDS: usize = 64;

/// Where random bytes come from: the caller's CSPRNG (`getrandom`, `rand`'s `OsRng`, a WASM
/// `crypto.getRandomValues` binding, an HSM). Any `FnMut(&mut [u8])` that fills the slice is
/// one.
///
/// The bytes must be uniformly random and unpredictable: they become the OTP that protects
/// the new root token.
pub trait RandomSource {
    /// Fills `dest` entirely with random bytes.
    fn fill_bytes(&mut self, dest: &mut [u8]);
}

impl<F: FnMut(&mut [u8])> RandomSource for F {
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self(dest)
    }
}

/// Which encoding a server uses for the generated token, from the `otp_length` it reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OtpScheme {
    /// `otp_length` base62 characters; token XOR OTP, base64 without padding.
    Current {
        /// Characters in the OTP (and bytes in the token).
        otp_length: u32,
    },
    /// Vault before 1.0 (`otp_length` 0): base64 OTP of 16 bytes, the token is a UUID.
    Legacy,
}

impl OtpScheme {
    /// The scheme a server reporting `otp_length` uses.
    pub fn from_otp_length(otp_length: u32) -> Self {
        if otp_length == 0 {
            OtpScheme::Legacy
        } else {
            OtpScheme::Current { otp_length }
        }
    }

    /// Makes an OTP for this scheme from `source`.
    pub fn generate<R: RandomSource + ?Sized>(&self, source: &mut R) -> Result<Otp, Error> {
        match *self {
            OtpScheme::Current { otp_length } => generate_otp(otp_length as usize, source),
            OtpScheme::Legacy => Ok(generate_legacy_otp(source)),
        }
    }

    /// Checks that `otp` has the shape this scheme needs (the servers check only its length),
    /// before it is sent to the server.
    pub fn check(&self, otp: &Otp) -> Result<(), Error> {
        match *self {
            OtpScheme::Current { otp_length } => {
                if otp.len() != otp_length as usize {
                    return Err(InvalidInput::OtpLength {
                        expected: otp_length as usize,
                        given: otp.len(),
                    }
                    .into());
                }
                Ok(())
            }
            OtpScheme::Legacy => legacy_otp_bytes(otp).map(drop),
        }
    }
}

/// A current-scheme OTP of `len` base62 characters, drawn uniformly from `source` by
/// rejection sampling (no modulo bias).
///
/// Fails when `len` is 0 (the legacy scheme: see [`generate_legacy_otp`]) or above
/// [`MAX_OTP_LENGTH`], or when the source keeps returning only bytes that must be rejected
/// (it is broken).
///
/// ```
/// use vault_key_core::otp::generate_otp;
///
/// // A real caller passes its CSPRNG; this counter only shows the plumbing.
/// let mut next = 0u8;
/// let mut source = |buf: &mut [u8]| for b in buf { *b = next; next = next.wrapping_add(1); };
/// let otp = generate_otp(26, &mut source)?;
/// assert_eq!(otp.len(), 26);
/// assert!(otp.expose().bytes().all(|c| c.is_ascii_alphanumeric()));
/// # Ok::<(), vault_key_core::Error>(())
/// ```
pub fn generate_otp<R: RandomSource + ?Sized>(len: usize, source: &mut R) -> Result<Otp, Error> {
    if len == 0 {
        return Err(InvalidInput::OutOfRange {
            field: "OTP length",
            reason: "must be at least 1 (length 0 is the legacy scheme: use generate_legacy_otp)",
        }
        .into());
    }
    if len > MAX_OTP_LENGTH {
        return Err(InvalidInput::OutOfRange {
            field: "OTP length",
            reason: "must be at most 1024",
        }
        .into());
    }
    let mut otp = Zeroizing::new(String::with_capacity(len));
    let mut buf = Zeroizing::new(vec![0u8; len + len / 8 + 8]);
    for _ in 0..MAX_ROUNDS {
        source.fill_bytes(&mut buf);
        for &byte in buf.iter() {
            if byte < REJECT_FROM {
                otp.push(char::from(OTP_ALPHABET[usize::from(byte % 62)]));
                if otp.len() == len {
                    return Ok(Otp::new(std::mem::take(&mut *otp)));
                }
            }
        }
    }
    Err(InvalidInput::OutOfRange {
        field: "random source",
        reason: "returned almost only bytes >= 248 for many rounds: it is not uniformly random",
    }
    .into())
}

/// A legacy-scheme OTP (Vault before 1.0): std base64 of 16 bytes from `source`.
pub fn generate_legacy_otp<R: RandomSource + ?Sized>(source: &mut R) -> Otp {
    let mut bytes = Zeroizing::new([0u8; LEGACY_OTP_BYTES]);
    source.fill_bytes(&mut bytes[..]);
    Otp::new(base64::engine::general_purpose::STANDARD.encode(&bytes[..]))
}

/// Decodes a generated token with the OTP of its generation. `otp_length` is the value the
/// server reported when the generation started (its attempt status or start answer; update
/// answers of the classic paths say 0 and must not be used): 0 selects the legacy scheme.
///
/// The encoded token and the OTP must have the same length; otherwise this fails
/// ([`InvalidInput::TokenLength`]) rather than return a truncated token. A result that is not
/// printable ASCII means the OTP is not the one the token was encoded with.
pub fn decode_token(encoded: &EncodedToken, otp: &Otp, otp_length: u32) -> Result<Token, Error> {
    match OtpScheme::from_otp_length(otp_length) {
        OtpScheme::Legacy => decode_legacy(encoded, otp),
        OtpScheme::Current { otp_length } => {
            if otp.len() != otp_length as usize {
                return Err(InvalidInput::OtpLength {
                    expected: otp_length as usize,
                    given: otp.len(),
                }
                .into());
            }
            let bytes = decode_base64(encoded.expose())?;
            let plain = xor(&bytes, otp.expose().as_bytes())?;
            if !plain.iter().all(|b| (0x21..=0x7e).contains(b)) {
                return Err(InvalidInput::TokenDecode(
                    "the decoded token is not printable text: wrong OTP?",
                )
                .into());
            }
            let text = String::from_utf8(plain.to_vec())
                .map_err(|_| InvalidInput::TokenDecode("the decoded token is not text"))?;
            Ok(Token::new(text))
        }
    }
}

/// Decodes without the server's `otp_length`, the scheme told by the lengths: under the
/// current scheme the encoded token decodes to as many bytes as the OTP has characters;
/// under the legacy one both are base64 of 16 bytes (24 characters). For a caller that kept
/// the OTP but not the status, and for servers that do not serve `sys/decode-token`.
pub fn decode_token_any_scheme(encoded: &EncodedToken, otp: &Otp) -> Result<Token, Error> {
    let bytes = decode_base64(encoded.expose())?;
    let otp_length = if bytes.len() == otp.len() {
        u32::try_from(otp.len()).map_err(|_| InvalidInput::TokenDecode("the OTP is too long"))?
    } else {
        0
    };
    decode_token(encoded, otp, otp_length)
}

/// The reverse of [`decode_token`]: what the server hands out for `token` under `otp`. For
/// tests, and for callers who want to check a decoding.
///
/// With `otp_length` 0 (legacy scheme) the token must be UUID text and the OTP std base64 of
/// 16 bytes; otherwise the OTP must have `otp_length` characters and as many bytes as the
/// token.
pub fn encode_token(token: &Token, otp: &Otp, otp_length: u32) -> Result<EncodedToken, Error> {
    match OtpScheme::from_otp_length(otp_length) {
        OtpScheme::Legacy => {
            let token_bytes = parse_uuid(token.expose())?;
            let otp_bytes = legacy_otp_bytes(otp)?;
            let mixed = xor(&token_bytes[..], &otp_bytes[..])?;
            Ok(EncodedToken::new(
                base64::engine::general_purpose::STANDARD.encode(&mixed[..]),
            ))
        }
        OtpScheme::Current { otp_length } => {
            if otp.len() != otp_length as usize {
                return Err(InvalidInput::OtpLength {
                    expected: otp_length as usize,
                    given: otp.len(),
                }
                .into());
            }
            let mixed = xor(token.expose().as_bytes(), otp.expose().as_bytes())?;
            Ok(EncodedToken::new(
                base64::engine::general_purpose::STANDARD_NO_PAD.encode(&mixed[..]),
            ))
        }
    }
}

fn decode_legacy(encoded: &EncodedToken, otp: &Otp) -> Result<Token, Error> {
    let otp_bytes = legacy_otp_bytes(otp)?;
    let bytes = decode_base64(encoded.expose())?;
    let plain = xor(&bytes, &otp_bytes[..])?;
    Ok(Token::new(format_uuid(&plain)))
}

/// Std base64, padded or not, with surrounding whitespace ignored (Go's decoder also accepts
/// non-zero trailing bits).
fn decode_base64(text: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    const TOLERANT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    TOLERANT
        .decode(text.trim())
        .map(Zeroizing::new)
        .map_err(|_| InvalidInput::TokenDecode("the encoded token is not base64").into())
}

fn legacy_otp_bytes(otp: &Otp) -> Result<Zeroizing<Vec<u8>>, Error> {
    let bytes = decode_base64(otp.expose())
        .map_err(|_| InvalidInput::TokenDecode("a legacy OTP must be base64 of 16 bytes"))?;
    if bytes.len() != LEGACY_OTP_BYTES {
        return Err(InvalidInput::TokenDecode("a legacy OTP must be base64 of 16 bytes").into());
    }
    Ok(bytes)
}

fn xor(token: &[u8], otp: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    if token.len() != otp.len() {
        return Err(InvalidInput::TokenLength {
            token: token.len(),
            otp: otp.len(),
        }
        .into());
    }
    Ok(Zeroizing::new(
        token.iter().zip(otp).map(|(a, b)| a ^ b).collect(),
    ))
}

/// Lowercase 8-4-4-4-12 hex, as Go's `uuid.FormatUUID`.
fn format_uuid(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

fn parse_uuid(text: &str) -> Result<Zeroizing<[u8; 16]>, Error> {
    let bad = || {
        Error::from(InvalidInput::TokenDecode(
            "a legacy token must be UUID text",
        ))
    };
    let raw = text.as_bytes();
    if raw.len() != 36 || [8, 13, 18, 23].iter().any(|&i| raw[i] != b'-') {
        return Err(bad());
    }
    let mut out = Zeroizing::new([0u8; 16]);
    let mut digits = raw.iter().filter(|&&c| c != b'-');
    for byte in out.iter_mut() {
        let (Some(&hi), Some(&lo)) = (digits.next(), digits.next()) else {
            return Err(bad());
        };
        let value = |c: u8| char::from(c).to_digit(16).map(|d| d as u8);
        let (Some(hi), Some(lo)) = (value(hi), value(lo)) else {
            return Err(bad());
        };
        *byte = hi << 4 | lo;
    }
    if digits.next().is_some() {
        return Err(bad());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_vectors_decode() {
        let cases = [
            (
                "MR4veh4NFyZ4FgwCAhQWADwFF300Nik9BXY",
                "B0F8lbreLPbrgNXcHnv3GWbtF7",
                26,
                "s.iBroeC4FnpeZNctkaNsaKICA",
            ),
            (
                "MDlKegJhHV1hHC1pAHM/JT1dCCU6RgsIH3p/Dg",
                "XO8Tl9Nm5qx1R2SgQ1mrCu2kP17G",
                28,
                "hvr.nXS0TmUXRAlBlleWy39cOKHI",
            ),
        ];
        for (encoded, otp, len, token) in cases {
            let decoded = decode_token(&EncodedToken::new(encoded), &Otp::new(otp), len).unwrap();
            assert_eq!(decoded.expose(), token);
            let again = encode_token(&decoded, &Otp::new(otp), len).unwrap();
            assert_eq!(again.expose(), encoded);
        }
    }

    #[test]
    fn padding_and_whitespace_are_tolerated() {
        let otp = Otp::new("B0F8lbreLPbrgNXcHnv3GWbtF7");
        for encoded in [
            "MR4veh4NFyZ4FgwCAhQWADwFF300Nik9BXY=",
            " MR4veh4NFyZ4FgwCAhQWADwFF300Nik9BXY\n",
        ] {
            let token = decode_token(&EncodedToken::new(encoded), &otp, 26).unwrap();
            assert_eq!(token.expose(), "s.iBroeC4FnpeZNctkaNsaKICA");
        }
    }

    #[test]
    fn uuid_round_trip() {
        let text = "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9";
        let bytes = parse_uuid(text).unwrap();
        assert_eq!(format_uuid(&bytes[..]), text);
        for bad in [
            "0a1b2c3d4e5f-6071-8293-a4b5c6d7e8f9-",
            "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8fz",
            "short",
            "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9a",
        ] {
            assert!(parse_uuid(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rejection_sampling_skips_high_bytes() {
        let mut source = |buf: &mut [u8]| {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = if i % 2 == 0 { 255 } else { 61 };
            }
        };
        let otp = generate_otp(5, &mut source).unwrap();
        assert_eq!(otp.expose(), "zzzzz");
    }

    #[test]
    fn broken_source_is_an_error_not_a_hang() {
        let mut source = |buf: &mut [u8]| buf.fill(0xff);
        assert!(matches!(
            generate_otp(26, &mut source),
            Err(Error::InvalidInput(InvalidInput::OutOfRange { .. }))
        ));
        assert!(generate_otp(0, &mut source).is_err());
        assert!(generate_otp(MAX_OTP_LENGTH + 1, &mut source).is_err());
    }

    #[test]
    fn scheme_checks_otp_shape() {
        let current = OtpScheme::from_otp_length(26);
        assert!(current
            .check(&Otp::new("abcdefghijklmnopqrstuvwxyz"))
            .is_ok());
        assert!(matches!(
            current.check(&Otp::new("tooshort")),
            Err(Error::InvalidInput(InvalidInput::OtpLength {
                expected: 26,
                given: 8
            }))
        ));
        let legacy = OtpScheme::from_otp_length(0);
        assert_eq!(legacy, OtpScheme::Legacy);
        assert!(legacy.check(&Otp::new("AAECAwQFBgcICQoLDA0ODw==")).is_ok());
        assert!(legacy.check(&Otp::new("AAECAw==")).is_err());
    }
}
