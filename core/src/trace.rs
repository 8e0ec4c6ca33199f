//! The core's events, for the application's own `tracing` subscriber (feature `tracing`,
//! target `vault_key`): each request and its answer (method, path, status), each redirect
//! followed or refused, each retry allowed, each settle decision and each ceremony step.
//!
//! An event carries only what cannot be a secret: methods, paths (never a query), statuses,
//! hosts, phases, counts, and the names of what happened. Bodies, headers and the core's
//! secret types never go into one (`core/tests/trace_events.rs` records every event of whole
//! ceremonies and looks for their secrets). Without the feature every event compiles to
//! nothing. The core has no clock: how long an exchange took is the transports' to say.

/// One event at `level` (`debug` or `info`), with `tracing`'s field syntax.
macro_rules! event {
    (debug, $($arg:tt)+) => {
        #[cfg(feature = "tracing")]
        {
            ::tracing::debug!(target: "vault_key", $($arg)+);
        }
    };
    (info, $($arg:tt)+) => {
        #[cfg(feature = "tracing")]
        {
            ::tracing::info!(target: "vault_key", $($arg)+);
        }
    };
}
pub(crate) use event;

/// The method and path of `request` for the events that follow it (never its query, headers
/// or body), copied only when a subscriber listens for the core's events.
#[cfg(feature = "tracing")]
pub(crate) fn listened_request(
    request: &http::Request<bytes::Bytes>,
) -> Option<(http::Method, String)> {
    tracing::enabled!(target: "vault_key", tracing::Level::DEBUG)
        .then(|| (request.method().clone(), request.uri().path().to_string()))
}
