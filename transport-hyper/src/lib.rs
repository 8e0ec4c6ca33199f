//! Async client for the key-management API of HashiCorp Vault and OpenBao, over
//! [hyper](https://docs.rs/hyper) 1's HTTP/1.1 connections on tokio, kept in a pool of its own.
//!
//! Every rule of the protocol (paths, bodies, decoding, errors, redirects, settings from the
//! environment) lives in [`vault_key_core`]; this crate only moves bytes: HTTPS with rustls
//! (the system's roots, plus an optional CA file), a keep-alive connection pool, a connect
//! timeout and a whole-exchange timeout, and a cap on the response body size. A `GET` that
//! breaks on a pooled connection the server closed, before any answer arrived, is sent once
//! more on a new connection; no other request is ever sent twice (see
//! [`may_retry`](vault_key_core::transport::may_retry)).
//!
//! Methods are named as in the Python client hvac and return the core's typed values. Their
//! docs name Vault's classic paths; with [`Dialect::OpenBao`](vault_key_core::Dialect) the
//! same calls use OpenBao's authenticated paths ([`Client::with_detected_dialect`] picks it).
//! [`Client`] is `Clone + Send + Sync`; clones share one connection pool, so many tasks can
//! use it at once, and every method's future is `Send`. It needs a tokio runtime with its
//! timer enabled (as `#[tokio::main]` sets up).
//!
//! # Example
//!
//! ```no_run
//! use vault_key_hyper::core::ops::rekey::{KeyKind, RekeyUpdate, StartRekey};
//! use vault_key_hyper::core::KeyShare;
//! use vault_key_hyper::Client;
//!
//! # async fn run() -> Result<(), vault_key_hyper::Error> {
//! // VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT, ... fill what is not given explicitly.
//! let client = Client::builder()
//!     .address("https://vault.example.com:8200")
//!     .ca_certificate_file("/etc/vault/ca.pem")
//!     .env(|name| std::env::var(name).ok())
//!     .build()?;
//!
//! let status = client.start_rekey(StartRekey::new(5, 3)).await?;
//! let nonce = status.nonce.expect("a started rekey has a nonce");
//! let current = ["share-1", "share-2", "share-3"].map(KeyShare::new);
//! match client.rekey_multi(current, &nonce, KeyKind::Unseal).await? {
//!     RekeyUpdate::Complete(result) => println!("{} new shares", result.keys.len()),
//!     RekeyUpdate::Progress(progress) => println!("{}/{}", progress.progress, progress.required),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Settings
//!
//! Explicit settings win over the environment, whatever the order they are given in; see
//! [`vault_key_core::transport::config`] for the variables and defaults.
//!
//! ```
//! use std::time::Duration;
//! use vault_key_hyper::core::Dialect;
//! use vault_key_hyper::Client;
//!
//! let client = Client::builder()
//!     .address("http://127.0.0.1:8200") // plain HTTP: a loopback development server
//!     .token("s.example")
//!     .namespace("team-a")
//!     .dialect(Dialect::OpenBao)
//!     .timeout(Duration::from_secs(30)) // one whole exchange
//!     .connect_timeout(Duration::from_secs(5))
//!     .max_response_bytes(1 << 20) // larger answers fail, unread
//!     .max_redirects(3) // 307/308 from standby nodes
//!     .build()?;
//! assert_eq!(client.target().namespace(), Some("team-a"));
//! # Ok::<(), vault_key_hyper::Error>(())
//! ```
//!
//! HTTPS trusts the system's roots and, when given, a CA ([`Builder::ca_certificate_file`],
//! [`Builder::ca_certificate_pem`], `VAULT_CACERT`); [`Builder::system_roots`] turns the
//! system's roots off and [`Builder::danger_accept_invalid_certs`] skips verification, for
//! development servers only.
//!
//! A proxy ([`Builder::proxy`], `VAULT_PROXY_ADDR`, `VAULT_HTTP_PROXY`, or `HTTPS_PROXY` /
//! `HTTP_PROXY` with `NO_PROXY`; see [`Proxy`](vault_key_core::transport::config::Proxy)) is
//! used as the Go client uses it: an `https` server through a `CONNECT` tunnel, an `http` one
//! with each request in absolute form to the proxy, both with the credentials of the proxy's
//! URL as `Proxy-Authorization: Basic`, which no `Debug`, `Display` or error shows. Only an
//! `http://` proxy is supported; another is refused when the client is built.
//!
//! # A whole ceremony
//!
//! The core's ceremonies ([`vault_key_core::ceremony`]) pin the nonce, queue shares, survive
//! lost answers and keep what they produced; [`Client::drive`] and its helpers run them.
//!
//! ```no_run
//! use vault_key_hyper::core::ceremony::{RootTokenCeremony, RootTokenPhase, TokenProtection};
//! use vault_key_hyper::core::ops::generate_root::TokenKind;
//! use vault_key_hyper::core::KeyShare;
//! use vault_key_hyper::Client;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let client = Client::from_env()?.with_detected_dialect().await?;
//! let mut generation = RootTokenCeremony::start(TokenKind::Root, TokenProtection::ServerOtp);
//! let shares = ["share-1", "share-2", "share-3"].map(KeyShare::new);
//! if client.drive_root_token(&mut generation, shares).await?.is_finished()
//!     && generation.phase() == RootTokenPhase::Done
//! {
//!     let root_token = generation.decode_token()?;
//!     # let _ = root_token;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Errors are [`Error`]: the core's error (the server refused, the answer could not be
//! decoded, the input was invalid) or a [`TransportError`] (connect, timeout, TLS, body too
//! large, redirect), whose text never contains the token.
//!
//! # Features
//!
//! - `ring` (default): TLS cryptography from ring. `aws-lc-rs`: from aws-lc-rs instead (used
//!   when `ring` is off). An application that installed a process-wide rustls
//!   `CryptoProvider` gets that one whatever the features say.
//! - `pgp`: the core's `pgp` module (`core::pgp`), for holders' keys checked before a
//!   ceremony and PGP-encrypted shares, backups and tokens decrypted in pure Rust. It needs
//!   Rust 1.88, where the rest of the crate needs 1.85.
//! - `tracing`: the core's events (target `vault_key`) for every request, redirect, retry,
//!   settle decision and ceremony step, and one per exchange with its status and how long
//!   it took (`core::transport::ExchangeEvent`); never a secret.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod stack;
mod tracking;

use stack::Stack;
// The settings and errors of this crate's client, documented here.
pub use vault_key_core::transport::config::{CaCertificate, ClientBuilder};
pub use vault_key_core::transport::redirect::RedirectHosts;
pub use vault_key_core::transport::{TransportError, TransportErrorKind};

/// The protocol core under this client, so that one dependency is enough: every operation,
/// ceremony, result and error the client's methods take and return is reachable here, at the
/// version the client was built with.
pub use vault_key_core as core;
// What nearly every caller names, at the root. The core's own `Error` is `core::Error`: here
// `Error` is this client's.
#[doc(no_inline)]
pub use vault_key_core::ceremony::{
    Next, RekeyCeremony, RekeyPhase, RootTokenCeremony, RootTokenPhase, TokenProtection,
};
#[doc(no_inline)]
pub use vault_key_core::ops::generate_root::{StartRootTokenGeneration, TokenKind};
#[doc(no_inline)]
pub use vault_key_core::ops::rekey::{KeyKind, RekeyUpdate, StartRekey};
#[doc(no_inline)]
pub use vault_key_core::{
    Dialect, EncodedToken, KeyShare, Otp, Refusal, SecretBytes, ServerError, Target, Token,
};

// The README's examples are compiled and run as doctests, so the page on crates.io stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

vault_key_core::client_shell!(
    async,
    Stack,
    sleep = tokio::time::sleep,
    "An async client for one server. `Clone + Send + Sync`; clones share the connection pool."
);

#[cfg(test)]
mod tests {
    use super::*;
    use vault_key_core::ceremony::{RekeyCeremony, RootTokenCeremony};
    use vault_key_core::ops::encryption_key::ConfigureRotation;
    use vault_key_core::ops::generate_root::TokenKind;
    use vault_key_core::ops::rekey::{KeyKind, StartRekey};
    use vault_key_core::ops::seal::ReadSealStatus;
    use vault_key_core::{EncodedToken, KeyShare, Otp};

    #[test]
    fn client_is_send_sync_and_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<Client>();
    }

    fn assert_send<T: Send>(_: T) {}

    /// A caller's task holds one of these futures per request in flight: connecting and the
    /// retry are boxed, so a request on a pooled connection carries neither (with both inline
    /// a call's future was 17 KB; 32 in flight then outgrow a core's cache).
    #[test]
    fn a_call_future_stays_small() {
        let client = Client::new("http://127.0.0.1:8200").unwrap();
        let size = std::mem::size_of_val(&client.get_encryption_key_status());
        assert!(size < 8 * 1024, "a call's future is {size} bytes");
    }

    #[test]
    fn method_futures_are_send() {
        let client = Client::new("http://127.0.0.1:8200").unwrap();
        let share = || KeyShare::new("00");
        assert_send(client.execute(&ReadSealStatus));
        assert_send(client.read_seal_status());
        assert_send(client.with_detected_dialect());
        assert_send(client.generate_root(share(), "nonce"));
        assert_send(client.start_rekey(StartRekey::new(5, 3)));
        assert_send(client.rekey(share(), String::from("nonce"), KeyKind::Unseal));
        assert_send(client.rekey_multi(vec![share(), share()], "nonce", KeyKind::Recovery));
        assert_send(client.rekey_verify_multi([share()], "nonce", KeyKind::Unseal));
        assert_send(client.unseal_multi(vec![share()]));
        assert_send(client.read_backup_keys(KeyKind::Unseal));
        assert_send(client.configure_rotation(ConfigureRotation::new().enabled(true)));
        assert_send(client.decode_token(EncodedToken::new("e"), Otp::new("o")));

        let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2));
        assert_send(client.drive_rekey(&mut rekey, vec![share()]));
        let mut generation = RootTokenCeremony::start(
            TokenKind::Root,
            vault_key_core::ceremony::TokenProtection::ServerOtp,
        );
        assert_send(client.drive_root_token(&mut generation, [share()]));
        assert_send(client.drive(&mut generation));
        assert_send(client.wait_until_active(std::time::Duration::from_secs(1)));
        assert_send(client.leader_client());
        assert_send(client.unseal_nodes(&["http://127.0.0.1:1"], &[share()]));
    }
}
