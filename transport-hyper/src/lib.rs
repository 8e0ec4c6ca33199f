//! hyper transport for `vault-key-core` (work in progress).
