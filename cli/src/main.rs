//! `vault-key`: the key holders' tool for Vault and OpenBao key ceremonies.
#![forbid(unsafe_code)]

fn main() {}
