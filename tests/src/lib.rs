//! Test harness for vault-key.
