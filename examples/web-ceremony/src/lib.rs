//! A rekey with verification and a root-token generation, run from a web page: the core of
//! vault-key compiled to WebAssembly, its requests sent with the browser's `fetch`.
//!
//! The page (`index.html`) is built with `examples/web-ceremony/build`. In the browser the
//! page module mounts itself; on any target, [`explain`] and [`view`] turn the core's errors
//! and ceremonies into the sentences the page shows, and are tested on the host.

#![forbid(unsafe_code)]

pub mod explain;
pub mod failure;
#[cfg(target_arch = "wasm32")]
mod fetch;
#[cfg(target_arch = "wasm32")]
mod page;
pub mod policy;
pub mod view;
