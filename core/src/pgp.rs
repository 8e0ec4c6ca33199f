//! OpenPGP without gpg (feature `pgp`): check the holders' public keys before a ceremony, and
//! decrypt what the server encrypted to them (new shares, backup entries, a root token) with a
//! holder's secret key, in pure Rust (rPGP), on any target the core builds for.
//!
//! The servers take each public key as base64 of the binary key and name it by its
//! fingerprint: lowercase hex of the v4 fingerprint. [`PgpPublicKey::parse`] reads that form or
//! an armored block (converted), and [`check_public_keys`] refuses, naming the key, what the
//! server would refuse at the worst moment or what would lock a holder out: a key without a
//! usable encryption key (sign-only), an expired or revoked one, an algorithm that cannot
//! encrypt. The core has no clock: the caller says what time it is (seconds since the epoch).
//!
//! ```
//! # #[cfg(feature = "pgp")] {
//! use vault_key_core::pgp::{check_public_keys, PgpError};
//!
//! let refused = check_public_keys(&["bm90IGEga2V5"], 1_800_000_000).unwrap_err();
//! assert!(matches!(refused, PgpError::Unreadable { key: 0, .. }), "{refused}");
//! # }
//! ```

use crate::secret::{EncodedToken, KeyShare, Token};
use base64::Engine as _;
use pgp::composed::{Deserializable, Message, SignedPublicKey, SignedSecretKey};
use pgp::packet::{Signature, SignatureType};
use pgp::types::{KeyDetails, Password};
use std::fmt;
use std::io::Read;
use zeroize::Zeroizing;

/// Why a PGP key or message was refused. `key` is the position of the key in the list given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PgpError {
    /// The key is neither base64 of a binary key nor an armored block.
    #[error("PGP key {key}: not base64 of a binary OpenPGP key, nor an armored key")]
    NotBase64 {
        /// Which key.
        key: usize,
    },
    /// The key did not parse as an OpenPGP public key, or its self-signatures do not verify.
    #[error("PGP key {key}: {reason}")]
    Unreadable {
        /// Which key.
        key: usize,
        /// What the parser said.
        reason: String,
    },
    /// No part of the key can encrypt (a sign-only key): the server refuses it ("key has no
    /// encryption keys").
    #[error("PGP key {key} ({fingerprint}) has no usable encryption key")]
    NoEncryptionKey {
        /// Which key.
        key: usize,
        /// Its fingerprint.
        fingerprint: String,
    },
    /// The key, or every encryption subkey, has expired.
    #[error("PGP key {key} ({fingerprint}) has expired")]
    Expired {
        /// Which key.
        key: usize,
        /// Its fingerprint.
        fingerprint: String,
    },
    /// The key, or every encryption subkey, is revoked.
    #[error("PGP key {key} ({fingerprint}) is revoked")]
    Revoked {
        /// Which key.
        key: usize,
        /// Its fingerprint.
        fingerprint: String,
    },
    /// The secret key did not parse.
    #[error("PGP secret key: {0}")]
    SecretKeyUnreadable(String),
    /// The message is not hex or base64 of an OpenPGP message, or did not parse.
    #[error("PGP message: {0}")]
    MessageUnreadable(String),
    /// The message could not be decrypted with this key (encrypted to another key, a wrong
    /// passphrase, or a damaged message).
    #[error("PGP message cannot be decrypted with key {fingerprint}: {reason}")]
    Undecryptable {
        /// The secret key's fingerprint.
        fingerprint: String,
        /// What the decryption said (never the plaintext).
        reason: String,
    },
    /// The plaintext is not what the servers encrypt (a share in hex, or a token): text.
    #[error("the decrypted PGP message is not text")]
    NotText,
}

/// A holder's public key, read and checked.
#[derive(Clone, PartialEq, Eq)]
pub struct PgpPublicKey {
    key: SignedPublicKey,
    fingerprint: String,
    base64: String,
}

impl fmt::Debug for PgpPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgpPublicKey")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl PgpPublicKey {
    /// Reads a public key as the servers take it (base64 of the binary key) or as an armored
    /// block (`-----BEGIN PGP PUBLIC KEY BLOCK-----`), which [`to_base64`](Self::to_base64)
    /// converts. Errors name the key as number 0; [`check_public_keys`] numbers them.
    pub fn parse(text: &str) -> Result<Self, PgpError> {
        Self::parse_at(0, text)
    }

    fn parse_at(index: usize, text: &str) -> Result<Self, PgpError> {
        let text = text.trim();
        let unreadable = |reason: String| PgpError::Unreadable { key: index, reason };
        let key = if text.starts_with("-----BEGIN PGP") {
            SignedPublicKey::from_armor_single(text.as_bytes())
                .map(|(key, _)| key)
                .map_err(|e| unreadable(e.to_string()))?
        } else {
            let binary = base64::engine::general_purpose::STANDARD
                .decode(text.split_whitespace().collect::<String>())
                .map_err(|_| PgpError::NotBase64 { key: index })?;
            SignedPublicKey::from_bytes(&binary[..]).map_err(|e| unreadable(e.to_string()))?
        };
        key.verify_bindings()
            .map_err(|e| unreadable(format!("its self-signatures do not verify: {e}")))?;
        let mut binary = Vec::new();
        pgp::ser::Serialize::to_writer(&key, &mut binary).map_err(|e| unreadable(e.to_string()))?;
        Ok(PgpPublicKey {
            fingerprint: fingerprint_hex(&key.fingerprint()),
            base64: base64::engine::general_purpose::STANDARD.encode(binary),
            key,
        })
    }

    /// The fingerprint as the servers report it (`pgp_fingerprints`, `pgp_fingerprint`):
    /// lowercase hex.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The key as the servers take it in `pgp_keys` / `pgp_key`: base64 of the binary key.
    pub fn to_base64(&self) -> &str {
        &self.base64
    }

    /// Whether the key can receive a share at `now` (seconds since the epoch): it, or one of
    /// its subkeys, has an algorithm that encrypts, is meant for encryption, and is neither
    /// expired nor revoked.
    pub fn check(&self, now: u64) -> Result<(), PgpError> {
        self.check_at(0, now)
    }

    fn check_at(&self, index: usize, now: u64) -> Result<(), PgpError> {
        let fingerprint = || self.fingerprint.clone();
        if !self.key.details.revocation_signatures.is_empty() {
            return Err(PgpError::Revoked {
                key: index,
                fingerprint: fingerprint(),
            });
        }
        let primary_created = u64::from(self.key.primary_key.created_at().as_secs());
        let self_signatures: Vec<&Signature> = self
            .key
            .details
            .users
            .iter()
            .flat_map(|user| user.signatures.iter())
            .chain(self.key.details.direct_signatures.iter())
            .collect();
        if expired(primary_created, self_signatures.iter().copied(), now) {
            return Err(PgpError::Expired {
                key: index,
                fingerprint: fingerprint(),
            });
        }
        // Every part that can encrypt, with its state.
        let mut states = Vec::new();
        if self.key.primary_key.algorithm().can_encrypt() {
            states.push(part_state(
                primary_created,
                self_signatures.iter().copied(),
                now,
            ));
        }
        for subkey in &self.key.public_subkeys {
            if !subkey.key.algorithm().can_encrypt() {
                continue;
            }
            let created = u64::from(subkey.key.created_at().as_secs());
            states.push(part_state(created, subkey.signatures.iter(), now));
        }
        if states.contains(&Part::Usable) {
            return Ok(());
        }
        let (key, fingerprint) = (index, fingerprint());
        Err(if states.contains(&Part::Revoked) {
            PgpError::Revoked { key, fingerprint }
        } else if states.contains(&Part::Expired) {
            PgpError::Expired { key, fingerprint }
        } else {
            PgpError::NoEncryptionKey { key, fingerprint }
        })
    }
}

/// Reads and checks every key (see [`PgpPublicKey::parse`] and [`PgpPublicKey::check`]); the
/// first problem is returned, naming its key by position.
pub fn check_public_keys<S: AsRef<str>>(
    keys: &[S],
    now: u64,
) -> Result<Vec<PgpPublicKey>, PgpError> {
    keys.iter()
        .enumerate()
        .map(|(index, text)| {
            let key = PgpPublicKey::parse_at(index, text.as_ref())?;
            key.check_at(index, now)?;
            Ok(key)
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq)]
enum Part {
    Usable,
    NotForEncryption,
    Expired,
    Revoked,
}

/// The state of a key part that can encrypt, from its signatures.
fn part_state<'a>(
    created: u64,
    signatures: impl Iterator<Item = &'a Signature> + Clone,
    now: u64,
) -> Part {
    if signatures
        .clone()
        .any(|s| s.typ() == Some(SignatureType::SubkeyRevocation))
    {
        return Part::Revoked;
    }
    let flagged: Vec<_> = signatures
        .clone()
        .map(Signature::key_flags)
        .filter(|flags| {
            flags.encrypt_comms() || flags.encrypt_storage() || flags.sign() || flags.certify()
        })
        .collect();
    if !flagged.is_empty()
        && !flagged
            .iter()
            .any(|flags| flags.encrypt_comms() || flags.encrypt_storage())
    {
        return Part::NotForEncryption;
    }
    if expired(created, signatures, now) {
        return Part::Expired;
    }
    Part::Usable
}

/// Whether a key part created at `created` has expired at `now`, by the latest expiration
/// its signatures set.
fn expired<'a>(created: u64, signatures: impl Iterator<Item = &'a Signature>, now: u64) -> bool {
    signatures
        .filter_map(Signature::key_expiration_time)
        .map(|lifetime| u64::from(lifetime.as_secs()))
        .filter(|&lifetime| lifetime > 0)
        .max()
        .is_some_and(|lifetime| created.saturating_add(lifetime) <= now)
}

fn fingerprint_hex(fingerprint: &pgp::types::Fingerprint) -> String {
    format!("{fingerprint:x}")
}

/// A holder's secret key, to decrypt what the server encrypted to its public key. The
/// passphrase (if any) is kept in zeroizing memory; neither shows in `Debug`.
pub struct PgpSecretKey {
    key: SignedSecretKey,
    passphrase: Zeroizing<String>,
    fingerprint: String,
}

impl fmt::Debug for PgpSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgpSecretKey")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl PgpSecretKey {
    /// Reads an armored secret key (`-----BEGIN PGP PRIVATE KEY BLOCK-----`) or a binary one,
    /// unlocked with `passphrase` ("" for none). When the block holds several keys, the first
    /// is taken; [`parse_all`](Self::parse_all) takes them all.
    pub fn parse(key: &[u8], passphrase: &str) -> Result<Self, PgpError> {
        Self::parse_all(key, passphrase)?
            .into_iter()
            .next()
            .ok_or_else(|| PgpError::SecretKeyUnreadable("no secret key in the input".into()))
    }

    /// Every secret key in an armored block (or binary input), each unlocked with
    /// `passphrase`.
    pub fn parse_all(key: &[u8], passphrase: &str) -> Result<Vec<Self>, PgpError> {
        let unreadable = |e: pgp::errors::Error| PgpError::SecretKeyUnreadable(e.to_string());
        let keys: Vec<SignedSecretKey> = if key.trim_ascii_start().starts_with(b"-----BEGIN PGP") {
            SignedSecretKey::from_armor_many(key)
                .map_err(unreadable)?
                .0
                .collect::<Result<_, _>>()
                .map_err(unreadable)?
        } else {
            SignedSecretKey::from_bytes_many(key)
                .map_err(unreadable)?
                .collect::<Result<_, _>>()
                .map_err(unreadable)?
        };
        Ok(keys
            .into_iter()
            .map(|key| PgpSecretKey {
                fingerprint: fingerprint_hex(&key.fingerprint()),
                passphrase: Zeroizing::new(passphrase.to_string()),
                key,
            })
            .collect())
    }

    /// The fingerprint of the key, lowercase hex as the servers report it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Decrypts a PGP-encrypted share: an entry of a PGP rekey's `keys` (hex of the message)
    /// or `keys_base64` (base64), or of a backup. The plaintext is the share (hex).
    pub fn decrypt_share(&self, encrypted: &KeyShare) -> Result<KeyShare, PgpError> {
        let plain = self.decrypt(&message_bytes(encrypted.expose())?)?;
        Ok(KeyShare::new(plain.trim()))
    }

    /// Decrypts a PGP-encrypted root (or recovery) token: the `encoded_token` of a generation
    /// started with a PGP key (base64 of the message).
    pub fn decrypt_token(&self, encoded: &EncodedToken) -> Result<Token, PgpError> {
        let plain = self.decrypt(&message_bytes(encoded.expose())?)?;
        Ok(Token::new(plain.trim()))
    }

    fn decrypt(&self, message: &[u8]) -> Result<Zeroizing<String>, PgpError> {
        let undecryptable = |reason: String| PgpError::Undecryptable {
            fingerprint: self.fingerprint.clone(),
            reason,
        };
        let parsed =
            Message::from_bytes(message).map_err(|e| PgpError::MessageUnreadable(e.to_string()))?;
        let password = Password::from(self.passphrase.as_str());
        let mut decrypted = parsed
            .decrypt(&password, &self.key)
            .map_err(|e| undecryptable(e.to_string()))?;
        // gpg compresses what it encrypts; the servers do not. Nested compression is refused.
        if decrypted.is_compressed() {
            decrypted = decrypted
                .decompress()
                .map_err(|e| undecryptable(e.to_string()))?;
        }
        if !decrypted.is_literal() {
            return Err(undecryptable("not a literal message".into()));
        }
        // Read no further than a share or a token can be: a compression bomb (megabytes in a
        // few kilobytes) stops here. The buffer is sized once, so no reallocation leaves a copy
        // of the plaintext behind.
        let mut plain = Zeroizing::new(Vec::with_capacity(MAX_PLAINTEXT + 1));
        (&mut decrypted)
            .take(MAX_PLAINTEXT as u64 + 1)
            .read_to_end(&mut plain)
            .map_err(|e| undecryptable(e.to_string()))?;
        if plain.len() > MAX_PLAINTEXT {
            return Err(undecryptable(format!(
                "the plaintext is larger than {MAX_PLAINTEXT} bytes: not a share or a token"
            )));
        }
        let text = std::str::from_utf8(&plain).map_err(|_| PgpError::NotText)?;
        Ok(Zeroizing::new(text.to_string()))
    }
}

/// The most a decrypted share or token may hold (a share is tens of bytes, a token about a
/// hundred); beyond it the message is refused unread.
const MAX_PLAINTEXT: usize = 4096;

/// The bytes of a message given as hex (a rekey's `keys`) or base64 (`keys_base64`, a token).
fn message_bytes(text: &str) -> Result<Zeroizing<Vec<u8>>, PgpError> {
    let text = text.trim();
    let hex =
        !text.is_empty() && text.len() % 2 == 0 && text.bytes().all(|b| b.is_ascii_hexdigit());
    if hex {
        let bytes = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| PgpError::MessageUnreadable("not hex".into()))?;
        return Ok(Zeroizing::new(bytes));
    }
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map(Zeroizing::new)
        .map_err(|_| PgpError::MessageUnreadable("neither hex nor base64".into()))
}
