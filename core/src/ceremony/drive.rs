//! The loop every ceremony runs, written once: ask for the next request, send it through an
//! HTTP stack, feed the answer back, until the ceremony needs the caller again.

use super::{Ceremony, Next};
use crate::delivery::Delivery;
use crate::exchange::{AsyncHttpClient, ExecuteError, HttpClient};
use crate::target::Target;

/// Runs `ceremony` through a blocking `client` until it has nothing to send: every queued
/// share was sent, it waits for the caller (more shares, an OTP), or it is over. Returns what
/// it needs next ([`Next`], never a request).
///
/// Stops at the first error, leaving the ceremony usable and its result (if any) reachable.
/// On a transport error the ceremony hears how far the request got
/// ([`HttpClient::delivery`]): a request that never left is built again; one the server
/// may have acted on puts the ceremony in its "outcome unknown" phase, and driving again
/// reads the progress to learn what happened before anything is resent; the part of an
/// answer that broke off is kept, and new shares or a token complete in it are recovered.
/// This is how hvac's `rekey_multi` and `rekey_verify_multi` are built: queue the shares,
/// then drive.
pub fn drive<C, K>(
    client: &C,
    target: &Target,
    ceremony: &mut K,
) -> Result<Next, ExecuteError<C::Error>>
where
    C: HttpClient + ?Sized,
    K: Ceremony + ?Sized,
{
    loop {
        let request = match ceremony.poll(target)? {
            Next::Send(request) | Next::Settle(request) => request,
            next => return Ok(next),
        };
        let mut outstanding = Outstanding::new(ceremony);
        let response = match client.send(request) {
            Ok(response) => response,
            Err(error) => {
                outstanding.settle().request_failed(client.delivery(&error));
                return Err(ExecuteError::Transport(error));
            }
        };
        outstanding
            .settle()
            .handle_response(response.status(), response.body())?;
    }
}

/// The async form of [`drive`](fn@drive), on any runtime. If the returned future is dropped
/// while a request is out, the ceremony is told the request's outcome is unknown, as for a
/// transport error.
pub async fn drive_async<C, K>(
    client: &C,
    target: &Target,
    ceremony: &mut K,
) -> Result<Next, ExecuteError<C::Error>>
where
    C: AsyncHttpClient + ?Sized,
    K: Ceremony + ?Sized,
{
    loop {
        let request = match ceremony.poll(target)? {
            Next::Send(request) | Next::Settle(request) => request,
            next => return Ok(next),
        };
        let mut outstanding = Outstanding::new(ceremony);
        let response = match client.send(request).await {
            Ok(response) => response,
            Err(error) => {
                outstanding.settle().request_failed(client.delivery(&error));
                return Err(ExecuteError::Transport(error));
            }
        };
        outstanding
            .settle()
            .handle_response(response.status(), response.body())?;
    }
}

/// A request handed to the stack: unless its answer (or its failure) is fed back, the ceremony
/// hears that its outcome is unknown (a panic in the stack, or a dropped future).
struct Outstanding<'a, K: Ceremony + ?Sized> {
    ceremony: &'a mut K,
    settled: bool,
}

impl<'a, K: Ceremony + ?Sized> Outstanding<'a, K> {
    fn new(ceremony: &'a mut K) -> Self {
        Self {
            ceremony,
            settled: false,
        }
    }

    fn settle(&mut self) -> &mut K {
        self.settled = true;
        self.ceremony
    }
}

impl<K: Ceremony + ?Sized> Drop for Outstanding<'_, K> {
    fn drop(&mut self) {
        if !self.settled {
            self.ceremony.request_failed(Delivery::Unknown);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ceremony::{RekeyCeremony, RekeyPhase};
    use crate::ops::rekey::StartRekey;
    use crate::secret::KeyShare;
    use bytes::Bytes;
    use http::{Request, Response};
    use std::convert::Infallible;

    // Only where a panic unwinds: with `panic = "abort"` (wasm32) nothing runs after it.
    #[cfg(panic = "unwind")]
    #[test]
    fn a_panicking_stack_leaves_the_ceremony_usable() {
        let target = Target::new("http://127.0.0.1:8200").unwrap();
        let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2));
        rekey.submit_share(KeyShare::new("aa")).unwrap();
        let panicking = |_: Request<Bytes>| -> Result<Response<Bytes>, Infallible> {
            panic!("the stack failed")
        };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            drive(&panicking, &target, &mut rekey)
        }));
        assert!(outcome.is_err());
        assert!(!rekey.awaiting_response());
        assert_eq!(rekey.phase(), RekeyPhase::OutcomeUnknown);
        let next = rekey
            .poll(&target)
            .unwrap()
            .into_request()
            .expect("a request");
        assert_eq!(
            (next.method().as_str(), next.uri().path()),
            ("GET", "/v1/sys/rekey/init"),
            "the progress is read before the start is sent again"
        );
    }
}
