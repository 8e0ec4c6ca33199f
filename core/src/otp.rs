//! One-time passwords and decoding the encoded root token.
