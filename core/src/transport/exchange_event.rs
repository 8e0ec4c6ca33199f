//! The event a transport emits for each exchange it made (feature `tracing`, target
//! `vault_key`): method, path, status and how long it took. The core's own events say what
//! was asked and answered; only the transport has a clock to say how long it took.

use bytes::Bytes;
use http::{Method, Request, Response};
use std::time::Duration;

use crate::transport::{TransportError, TransportFailure as _};

/// What the event of one exchange says: taken from the request before it goes, finished with
/// the outcome and the time the transport measured. Never a header, a query or a body.
///
/// ```
/// use std::time::{Duration, Instant};
/// use vault_key_core::transport::ExchangeEvent;
///
/// let request = http::Request::get("https://vault:8200/v1/sys/seal-status?x=1")
///     .body(bytes::Bytes::new())?;
/// let (event, started) = (ExchangeEvent::of(&request), Instant::now());
/// let outcome = Ok(http::Response::new(bytes::Bytes::from_static(b"{}"))); // sent
/// event.finished(&outcome, started.elapsed());
/// # Ok::<(), http::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "an exchange's event is emitted by `finished`"]
pub struct ExchangeEvent {
    /// The method and path; `None` when no subscriber listens (nothing is copied then).
    request: Option<(Method, String)>,
}

impl ExchangeEvent {
    /// The method and path of `request` (never its query, headers or body).
    pub fn of(request: &Request<Bytes>) -> Self {
        Self {
            request: crate::trace::listened_request(request),
        }
    }

    /// Emits the event: the answer's status and size, or the kind of failure and how far the
    /// exchange got; `elapsed` from just before the request went to the end of the answer.
    pub fn finished(self, outcome: &Result<Response<Bytes>, TransportError>, elapsed: Duration) {
        let Some((method, path)) = &self.request else {
            return;
        };
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        match outcome {
            Ok(response) => tracing::debug!(target: "vault_key", %method, path = %path,
                status = response.status().as_u16(), bytes = response.body().len(), micros,
                "exchanged"),
            Err(error) => tracing::debug!(target: "vault_key", %method, path = %path,
                kind = ?error.kind(), delivery = error.delivery().name(), micros,
                "exchange failed"),
        }
    }
}
