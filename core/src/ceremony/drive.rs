//! A ceremony driven through an HTTP stack by the core's one run loop ([`crate::run`]): ask
//! for the next request, send it, feed the answer back, until the ceremony needs the caller
//! again.

use super::{Ceremony, Next, Progress};
use crate::delivery::Delivery;
use crate::error::Error;
use crate::exchange::{AsyncHttpClient, ExecuteError, HttpClient};
use crate::run::{run, run_async, Conversation, Step};
use crate::target::Target;
use crate::trace::event;
use bytes::Bytes;
use http::Response;

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
    drive_reporting(client, target, ceremony, |_| {})
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
    drive_reporting_async(client, target, ceremony, |_| {}).await
}

/// [`drive`](fn@drive), handing `report` how far the ceremony got ([`Progress`]) after every
/// answer: shares counted, verification progress, the end. For a progress bar while the
/// shares go out one by one.
pub fn drive_reporting<C, K>(
    client: &C,
    target: &Target,
    ceremony: &mut K,
    report: impl FnMut(Progress),
) -> Result<Next, ExecuteError<C::Error>>
where
    C: HttpClient + ?Sized,
    K: Ceremony + ?Sized,
{
    run(client, target, &mut Driven { ceremony, report })
}

/// The async form of [`drive_reporting`].
pub async fn drive_reporting_async<C, K>(
    client: &C,
    target: &Target,
    ceremony: &mut K,
    report: impl FnMut(Progress),
) -> Result<Next, ExecuteError<C::Error>>
where
    C: AsyncHttpClient + ?Sized,
    K: Ceremony + ?Sized,
{
    run_async(client, target, &mut Driven { ceremony, report }).await
}

/// A ceremony as a conversation: it sends until it needs the caller again, and comes to
/// what it needs ([`Next`], never a request); `report` hears how far it got after each
/// answer.
struct Driven<'c, K: Ceremony + ?Sized, R> {
    ceremony: &'c mut K,
    report: R,
}

impl<K: Ceremony + ?Sized, R: FnMut(Progress)> Conversation for Driven<'_, K, R> {
    type Output = Next;

    fn poll_request(&mut self, target: &Target) -> Result<Step<Next>, Error> {
        Ok(match self.ceremony.poll(target)? {
            Next::Send(request) | Next::Settle(request) => Step::Send(request),
            next => Step::Done(next),
        })
    }

    fn handle_response(&mut self, response: &Response<Bytes>) -> Result<(), Error> {
        let event = self
            .ceremony
            .handle_response(response.status(), response.body());
        let progress = self.ceremony.report();
        event!(debug, phase = ?self.ceremony.phase(), counted = progress.counted,
            required = progress.required, outcome = ?event.as_ref().map_err(|e| e.refusal()),
            "ceremony step");
        (self.report)(progress);
        event.map(drop)
    }

    fn request_failed(&mut self, delivery: Delivery<'_>) {
        self.ceremony.request_failed(delivery);
        (self.report)(self.ceremony.report());
    }
}

// Only where a panic unwinds: with `panic = "abort"` (wasm32) nothing runs after it.
#[cfg(all(test, panic = "unwind"))]
mod tests {
    use super::*;
    use crate::ceremony::{RekeyCeremony, RekeyPhase};
    use crate::ops::rekey::StartRekey;
    use crate::secret::KeyShare;
    use bytes::Bytes;
    use http::{Request, Response};
    use std::convert::Infallible;

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
