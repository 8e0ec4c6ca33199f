//! The one way a request runs through an HTTP stack, for everything the core sends: an
//! operation, shares sent in turn, a whole ceremony.
//!
//! Each of them is a [`Conversation`]: it hands out the next request ([`Step::Send`]) or what
//! it came to ([`Step::Done`]), takes the answer, and hears how a request that got no answer
//! ended. [`run`] (blocking) and [`run_async`] are the only loops that send the core's
//! requests, so what they guarantee holds for every caller:
//!
//! ```text
//!            poll_request
//!   +----------------------------+
//!   |                            v
//!   |                   Step::Done(out) ----> Ok(out)
//!   |                   Step::Send(request)
//!   |                            | client.send
//!   |            +---------------+------------------+
//!   |            v                                  v
//!   |  handle_response(answer)            request_failed(delivery)
//!   |            |                                  |
//!   +---- Ok ----+---- Err ----> Err(Core)          +----> Err(Transport)
//! ```
//!
//! A request handed to the stack is always settled: its answer or its failure reaches the
//! conversation, and when neither can (the stack panicked, or the future was dropped while
//! the request was out) the conversation hears [`Delivery::Unknown`], so it never takes a
//! request the server may have acted on for one that was never sent.

use crate::delivery::Delivery;
use crate::error::Error;
use crate::exchange::{AsyncHttpClient, ExecuteError, HttpClient};
use crate::ops::Operation;
use crate::target::Target;
use crate::trace::event;
use bytes::Bytes;
use http::{Request, Response};

/// What a conversation wants next.
#[derive(Debug)]
#[must_use]
// A step is handed straight to the loop, never stored: boxing the request would cost an
// allocation per request for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Step<T> {
    /// This request is to be sent; its answer goes to
    /// [`handle_response`](Conversation::handle_response).
    Send(Request<Bytes>),
    /// The conversation came to this; nothing more is sent.
    Done(T),
}

/// Anything that talks to the server one request at a time.
pub trait Conversation {
    /// What the conversation comes to.
    type Output;

    /// The next request to send, or what the conversation came to.
    fn poll_request(&mut self, target: &Target) -> Result<Step<Self::Output>, Error>;

    /// The answer to the request handed out last.
    fn handle_response(&mut self, response: &Response<Bytes>) -> Result<(), Error>;

    /// The request handed out last got no (whole) answer; `delivery` says how far it got.
    fn request_failed(&mut self, delivery: Delivery<'_>);
}

/// Runs `conversation` through a blocking `client` until it is done, or until the first
/// error (the conversation stays usable: running it again goes on from where it stopped).
pub fn run<C, X>(
    client: &C,
    target: &Target,
    conversation: &mut X,
) -> Result<X::Output, ExecuteError<C::Error>>
where
    C: HttpClient + ?Sized,
    X: Conversation + ?Sized,
{
    loop {
        let request = match conversation.poll_request(target)? {
            Step::Send(request) => request,
            Step::Done(output) => return Ok(output),
        };
        let sent = Sent::of(&request);
        let mut outstanding = Outstanding::new(conversation);
        match client.send(request) {
            Ok(response) => {
                sent.answered(&response);
                outstanding.settle().handle_response(&response)?
            }
            Err(error) => {
                let delivery = client.delivery(&error);
                sent.failed(&delivery);
                outstanding.settle().request_failed(delivery);
                return Err(ExecuteError::Transport(error));
            }
        }
    }
}

/// The async form of [`run`], on any runtime. If the returned future is dropped while a
/// request is out, the conversation hears that the request's outcome is unknown.
pub async fn run_async<C, X>(
    client: &C,
    target: &Target,
    conversation: &mut X,
) -> Result<X::Output, ExecuteError<C::Error>>
where
    C: AsyncHttpClient + ?Sized,
    X: Conversation + ?Sized,
{
    loop {
        let request = match conversation.poll_request(target)? {
            Step::Send(request) => request,
            Step::Done(output) => return Ok(output),
        };
        let sent = Sent::of(&request);
        let mut outstanding = Outstanding::new(conversation);
        match client.send(request).await {
            Ok(response) => {
                sent.answered(&response);
                outstanding.settle().handle_response(&response)?
            }
            Err(error) => {
                let delivery = client.delivery(&error);
                sent.failed(&delivery);
                outstanding.settle().request_failed(delivery);
                return Err(ExecuteError::Transport(error));
            }
        }
    }
}

/// What the events say of a request out: its method and path (never the query, the headers
/// or the body), copied only when a subscriber listens.
struct Sent {
    #[cfg(feature = "tracing")]
    request: Option<(http::Method, String)>,
}

impl Sent {
    fn of(request: &Request<Bytes>) -> Self {
        event!(debug, method = %request.method(), path = %request.uri().path(), "request");
        #[cfg(not(feature = "tracing"))]
        let _ = request;
        Self {
            #[cfg(feature = "tracing")]
            request: crate::trace::listened_request(request),
        }
    }

    fn answered(&self, response: &Response<Bytes>) {
        #[cfg(feature = "tracing")]
        if let Some((method, path)) = &self.request {
            event!(debug, %method, path = %path,
                status = response.status().as_u16(), bytes = response.body().len(), "answer");
        }
        #[cfg(not(feature = "tracing"))]
        let _ = response;
    }

    fn failed(&self, delivery: &Delivery<'_>) {
        #[cfg(feature = "tracing")]
        if let Some((method, path)) = &self.request {
            event!(debug, %method, path = %path, delivery = delivery.name(),
                "no whole answer");
        }
        #[cfg(not(feature = "tracing"))]
        let _ = delivery;
    }
}

/// A request handed to the stack: unless its answer (or its failure) is fed back, the
/// conversation hears that its outcome is unknown (a panic in the stack, or a dropped future).
struct Outstanding<'a, X: Conversation + ?Sized> {
    conversation: &'a mut X,
    settled: bool,
}

impl<'a, X: Conversation + ?Sized> Outstanding<'a, X> {
    fn new(conversation: &'a mut X) -> Self {
        Self {
            conversation,
            settled: false,
        }
    }

    fn settle(&mut self) -> &mut X {
        self.settled = true;
        self.conversation
    }
}

impl<X: Conversation + ?Sized> Drop for Outstanding<'_, X> {
    fn drop(&mut self) {
        if !self.settled {
            self.conversation.request_failed(Delivery::Unknown);
        }
    }
}

/// Builds the operation's request, sends it through `client`, and decodes the answer.
///
/// ```
/// use bytes::Bytes;
/// use vault_key_core::{execute, ops::encryption_key::GetEncryptionKeyStatus, Target};
///
/// let target = Target::new("http://127.0.0.1:8200")?;
/// // A scripted stack; a real one would send the request over the network.
/// let stack = |request: http::Request<Bytes>| {
///     assert_eq!(request.uri(), "http://127.0.0.1:8200/v1/sys/key-status");
///     Ok::<_, std::convert::Infallible>(http::Response::new(Bytes::from_static(
///         br#"{"data":{"term":2,"install_time":"2026-11-29T23:27:57Z","encryptions":7}}"#,
///     )))
/// };
/// let status = execute(&stack, &target, &GetEncryptionKeyStatus)?;
/// assert_eq!(status.term, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn execute<C, O>(
    client: &C,
    target: &Target,
    operation: &O,
) -> Result<O::Output, ExecuteError<C::Error>>
where
    C: HttpClient + ?Sized,
    O: Operation + ?Sized,
{
    run(client, target, &mut Once::new(operation))
}

/// The async form of [`execute`].
pub async fn execute_async<C, O>(
    client: &C,
    target: &Target,
    operation: &O,
) -> Result<O::Output, ExecuteError<C::Error>>
where
    C: AsyncHttpClient + ?Sized,
    O: Operation + ?Sized,
{
    run_async(client, target, &mut Once::new(operation)).await
}

/// One operation as a conversation: its request, then its decoded answer.
struct Once<'o, O: Operation + ?Sized> {
    operation: &'o O,
    output: Option<O::Output>,
}

impl<'o, O: Operation + ?Sized> Once<'o, O> {
    fn new(operation: &'o O) -> Self {
        Self {
            operation,
            output: None,
        }
    }
}

impl<O: Operation + ?Sized> Conversation for Once<'_, O> {
    type Output = O::Output;

    fn poll_request(&mut self, target: &Target) -> Result<Step<O::Output>, Error> {
        if let Some(output) = self.output.take() {
            return Ok(Step::Done(output));
        }
        Ok(Step::Send(self.operation.request(target)?))
    }

    fn handle_response(&mut self, response: &Response<Bytes>) -> Result<(), Error> {
        self.output = Some(self.operation.parse_response(response)?);
        Ok(())
    }

    fn request_failed(&mut self, _: Delivery<'_>) {}
}
