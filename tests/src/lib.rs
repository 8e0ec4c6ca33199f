//! The real-server harness, fault injection, integration support and demo of vault-key.
//!
//! - [`server`] runs real OpenBao servers (finding or installing `bao`), initialised and
//!   unsealed, in plain HTTP, TLS, legacy-endpoint, recovery-mode and auto-unseal (transit
//!   seal, with recovery shares) variants;
//! - [`faults`] is an HTTP server that misbehaves on purpose, for the failures a real server
//!   does not produce on demand (truncation, garbage, stalls, huge bodies), and [`proxy`] sits
//!   in front of a real server and, on cue, cuts, drops, holds or replaces one answer after the
//!   server produced it;
//! - [`clients`] runs one scenario through either transport, [`pgp`] decrypts PGP-encrypted
//!   shares and tokens with gpg, [`cli`] drives the `bao` CLI for interoperability tests, and
//!   [`support`] holds what the scenarios share.

pub mod browser;
pub mod cli;
pub mod clients;
pub mod faults;
pub mod load;
pub mod pgp;
pub mod proxy;
pub mod server;
pub mod support;

/// The README's examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExamples;
