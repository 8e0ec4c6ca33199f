//! Secret values: key shares, tokens, one-time passwords.
//!
//! Each is a distinct type so a share cannot be passed where a token is expected, each
//! zeroizes its memory on drop, and none of them ever prints: `Debug` shows only the type name.
//! The text is reachable only through an explicit [`expose`](KeyShare::expose) call. They
//! deserialize (answers carry them) but do not serialize: a caller's struct that derives
//! `Serialize` cannot write a share into a log by accident. The core writes them into request
//! bodies itself, through `expose`.

use serde::{Deserialize, Deserializer};
use std::fmt;
use zeroize::Zeroizing;

macro_rules! secret_string {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(Zeroizing<String>);

        impl $name {
            /// Wraps a secret value; the string's memory is zeroized when this value drops.
            pub fn new(value: impl Into<String>) -> Self {
                Self(Zeroizing::new(value.into()))
            }

            /// The secret text. Callers decide where it may go; this crate never prints it.
            pub fn expose(&self) -> &str {
                self.0.as_str()
            }

            /// Length of the secret in bytes (safe to print).
            pub fn len(&self) -> usize {
                self.0.len()
            }

            /// Whether the secret is the empty string.
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self::new(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self::new(value)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self::new)
            }
        }
    };
}

secret_string!(
    /// One unseal or recovery key share, hex or base64 as the server gives it (or, after a
    /// rekey with PGP keys, the encrypted share).
    KeyShare
);
secret_string!(
    /// A Vault/OpenBao token: a root token, a recovery token, or the caller's own token.
    Token
);
secret_string!(
    /// The one-time password of a root-token generation, used to decode its encoded token.
    Otp
);
secret_string!(
    /// A root token as the server hands it out on completion: XORed with the OTP and base64
    /// encoded, or PGP-encrypted. Decode it with [`crate::otp::decode_token`].
    EncodedToken
);

/// Raw bytes that may hold secrets (a response body the parser could not understand, which
/// may carry new key shares or a token). Zeroized on drop, printed only as its length.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Copies `bytes` into zeroizing storage.
    pub fn new(bytes: &[u8]) -> Self {
        Self(Zeroizing::new(bytes.to_vec()))
    }

    /// Takes `bytes` into zeroizing storage without copying them.
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The bytes themselves.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Number of bytes (safe to print).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let share = KeyShare::new("abcdef0123");
        let token = Token::new("s.supersecret");
        let otp = Otp::new("otpotpotp");
        let encoded = EncodedToken::new("ZW5jb2RlZA");
        let bytes = SecretBytes::new(b"s.supersecret");
        let printed = format!("{share:?} {token:?} {otp:?} {encoded:?} {bytes:?}");
        for secret in ["abcdef0123", "supersecret", "otpotpotp", "ZW5jb2RlZA"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(printed.contains("KeyShare(<redacted>)"));
        assert!(printed.contains("13 bytes"));
    }

    #[test]
    fn deserializing_keeps_the_value() {
        let share: KeyShare = serde_json::from_str("\"00ff\"").unwrap();
        assert_eq!(share.expose(), "00ff");
    }
}
