//! Sans-IO client for the key-management API of HashiCorp Vault and OpenBao: root-token
//! generation, rekeying the unseal and recovery shares (with verification, PGP and backups),
//! encryption-key status and rotation.
//!
//! This crate never opens a socket, reads a clock or spawns a thread. Each operation turns
//! into an [`http::Request`]; you send it with any HTTP stack and hand the
//! [`http::Response`] back to be decoded into a typed value. Ceremonies (rekey, root-token
//! generation) are state machines in [`ceremony`] that say what to send next; its docs have
//! a complete example for each, and [`otp`] decodes the generated root token. The crates
//! `vault-key-ureq` (blocking) and `vault-key-hyper` (async) do the sending for you. Given
//! any stack, [`run`] is the one loop that sends: an operation ([`execute`]), shares in turn
//! ([`transport::submit`]) and a ceremony ([`ceremony::drive`]) all run through it.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use vault_key_core::ops::rekey::{RekeyStatus, StartRekey};
//! use vault_key_core::{Dialect, Operation, Target, Token};
//!
//! let target = Target::new("http://127.0.0.1:8200")?
//!     .with_token(Token::new("s.example"))
//!     .with_dialect(Dialect::OpenBao);
//!
//! // Build the request...
//! let start = StartRekey::new(5, 3).require_verification(true);
//! let request = start.request(&target)?;
//! assert_eq!(request.method(), http::Method::PUT);
//! assert_eq!(request.uri(), "http://127.0.0.1:8200/v1/sys/rotate/root/init");
//!
//! // ...send it with your HTTP stack, and decode what comes back.
//! let response = http::Response::builder().status(200).body(Bytes::from_static(
//!     br#"{"data":{"n":5,"nonce":"e3598a44","progress":0,"required":3,"started":true,
//!          "t":3,"verification_nonce":"","verification_required":true}}"#,
//! ))?;
//! let status: RekeyStatus = start.parse_response(&response)?;
//! assert_eq!(status.nonce.as_deref(), Some("e3598a44"));
//! assert!(status.verification_required);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Errors say which of three things happened ([`Error`]): the server refused (with its
//! messages, classified as a [`Refusal`]), the response could not be understood (the raw body
//! is kept, so a result is never lost), or the input was invalid (nothing was sent).
//! Secrets ([`KeyShare`], [`Token`], [`Otp`], [`EncodedToken`]) zeroize on drop and never print.
//!
//! # Features
//!
//! - `pgp`: checks holders' PGP keys before a ceremony and decrypts PGP-encrypted shares,
//!   backups and root tokens in pure Rust (the `pgp` module; rPGP, which needs Rust 1.88).
//! - `pgp-web`: `pgp` for `wasm32-unknown-unknown` in a browser.
//! - `tracing`: events (target `vault_key`) for every request, answer, redirect, retry,
//!   settle decision and ceremony step, with no secret in them.
//! - `rustls` (with `rustls-ring` or `rustls-aws-lc-rs` for the crypto): the rustls client
//!   settings of a [`ClientConfig`](transport::config::ClientConfig), for a transport over
//!   rustls (`transport::tls`).
//!
//! Pinning a ceremony to PGP fingerprints (`require_fingerprints`) needs no feature.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
// docs.rs builds with `--cfg docsrs`: each item behind a feature then names it.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod ceremony;
mod client_shell;
mod delivery;
mod dialect;
mod error;
mod exchange;
pub mod ops;
pub mod otp;
#[cfg(feature = "pgp")]
#[cfg_attr(docsrs, doc(cfg(feature = "pgp")))]
pub mod pgp;
pub mod run;
mod salvage;
mod secret;
mod target;
mod trace;
pub mod transport;
mod wire;

pub use delivery::{Delivery, PartialResponse};
pub use dialect::Dialect;
pub use error::{CeremonyError, DecodeError, Error, InvalidInput, Recovery, Refusal, ServerError};
pub use exchange::{AsyncHttpClient, ExecuteError, HttpClient};
pub use ops::Operation;
pub use run::{execute, execute_async};
pub use secret::{EncodedToken, KeyShare, Otp, SecretBytes, Token};
pub use target::Target;

// The README's examples are compiled and run as doctests, so the page on crates.io stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
