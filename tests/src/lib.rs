//! Test harness for vault-key.
//!
//! [`server`] runs real OpenBao servers for integration tests; [`faults`] is an HTTP server that misbehaves on
//! purpose, for the failure paths a real server does not produce on demand.

pub mod faults;
pub mod server;
