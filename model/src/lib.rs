//! An adversarial model of a Vault or OpenBao server for the key ceremonies of
//! `vault-key-core`, written once for the core's property tests and model check and for the
//! fuzz target.
//!
//! - [`Server`] keeps the state a real server keeps (the rekeys of both path families and both
//!   key kinds, with verification, PGP and backup; the root-token generation, with the
//!   server's OTP, the caller's or a PGP key; the shares in effect) and answers each request
//!   with the bodies and refusals OpenBao 2.7.2 gave in the captured exchanges. It also knows
//!   every secret it handed out, so that nothing printed can hide one.
//! - [`Event`] is what can go wrong at one step: a [`Fault`] of the exchange (not sent, no
//!   answer, a gateway's page, a bare 5xx, a cut answer, garbage, a wrong nonce), before or
//!   after the server acted, or the world's doing: another [`Operator`] completing,
//!   cancelling or restarting the ceremony, or a leader change that loses it.
//! - [`run`] drives one ceremony through a schedule of events as an operator would and checks
//!   the invariants after every step; [`explore`] runs every schedule up to a [`Bound`].
//!
//! The model is meant to be believed only as far as the captures go: where the captures
//! are silent (a cancel of a verification that has not begun, say) it answers as the nearest
//! captured case.
#![forbid(unsafe_code)]

mod explore;
mod fault;
mod server;
mod world;

pub use explore::{explore, run_schedule, Bound, Counterexample, Explored, SEED};
pub use fault::{gateway_page, swap_nonces, CutAt, Event, Fault, Garbage};
pub use server::{
    decode_hex, encode_hex, Carried, Effective, Generated, Operator, Reply, Scope, Server,
    FINGERPRINT, OTP_LENGTH, PGP_PREFIX, RECOVERY_OTP_LENGTH,
};
pub use world::{
    run, Protection, RekeySetup, Report, RootSetup, Setup, Violation, MAX_FAULTY_REQUESTS,
    MAX_REQUESTS, TARGET_TOKEN,
};
