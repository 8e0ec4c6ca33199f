//! Submitting several key shares in a row (hvac's `rekey_multi`, `rekey_verify_multi`, and
//! unsealing with several shares): one request per share, in order, stopping as soon as the
//! server reports the step complete, so no share is sent past the threshold.

use crate::delivery::Delivery;
use crate::error::{Error, InvalidInput};
use crate::exchange::{AsyncHttpClient, ExecuteError, HttpClient};
use crate::ops::rekey::RekeyUpdate;
use crate::ops::rekey_verify::VerifyUpdate;
use crate::ops::seal::SealStatus;
use crate::ops::Operation;
use crate::run::{run, run_async, Conversation, Step};
use crate::secret::KeyShare;
use crate::target::Target;
use bytes::Bytes;
use http::Response;
use std::collections::VecDeque;

/// An answer to a share submission that may end the submissions.
pub trait Completion {
    /// Whether the step is done and no further share should be sent.
    fn is_complete(&self) -> bool;
}

impl Completion for RekeyUpdate {
    fn is_complete(&self) -> bool {
        matches!(self, RekeyUpdate::Complete(_))
    }
}

impl Completion for VerifyUpdate {
    fn is_complete(&self) -> bool {
        matches!(self, VerifyUpdate::Complete { .. })
    }
}

impl Completion for SealStatus {
    fn is_complete(&self) -> bool {
        !self.sealed
    }
}

/// Sends `operation(share)` for each share in turn and returns the last answer: the first
/// complete one, or the progress after the last share.
///
/// ```
/// use bytes::Bytes;
/// use vault_key_core::ops::seal::Unseal;
/// use vault_key_core::transport::submit::send_shares;
/// use vault_key_core::{KeyShare, Target};
///
/// let target = Target::new("http://127.0.0.1:8200")?;
/// let sent = std::cell::Cell::new(0);
/// let stack = |_request: http::Request<Bytes>| {
///     sent.set(sent.get() + 1);
///     let sealed = sent.get() < 2;
///     let body = format!(r#"{{"type":"shamir","initialized":true,"sealed":{sealed},"t":2,"n":3,"progress":{}}}"#, sent.get() % 2);
///     Ok::<_, std::convert::Infallible>(http::Response::new(Bytes::from(body)))
/// };
/// let shares = ["aa", "bb", "cc"].map(KeyShare::new);
/// let status = send_shares(&stack, &target, shares, Unseal::new)?;
/// assert!(!status.sealed);
/// assert_eq!(sent.get(), 2); // the third share was not sent
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn send_shares<C, O>(
    client: &C,
    target: &Target,
    shares: impl IntoIterator<Item = KeyShare>,
    operation: impl Fn(KeyShare) -> O,
) -> Result<O::Output, ExecuteError<C::Error>>
where
    C: HttpClient + ?Sized,
    O: Operation,
    O::Output: Completion,
{
    run(client, target, &mut InTurn::new(shares, operation))
}

/// The async form of [`send_shares`].
pub async fn send_shares_async<C, O>(
    client: &C,
    target: &Target,
    shares: impl IntoIterator<Item = KeyShare>,
    operation: impl Fn(KeyShare) -> O,
) -> Result<O::Output, ExecuteError<C::Error>>
where
    C: AsyncHttpClient + ?Sized,
    O: Operation,
    O::Output: Completion,
{
    run_async(client, target, &mut InTurn::new(shares, operation)).await
}

/// Shares sent in turn as one conversation: the next share's request until an answer is
/// complete or no share is left, then the last answer.
struct InTurn<O: Operation, F> {
    shares: VecDeque<KeyShare>,
    operation: F,
    /// The operation whose request is out.
    sent: Option<O>,
    last: Option<O::Output>,
}

impl<O, F> InTurn<O, F>
where
    O: Operation,
    F: Fn(KeyShare) -> O,
{
    fn new(shares: impl IntoIterator<Item = KeyShare>, operation: F) -> Self {
        Self {
            shares: shares.into_iter().collect(),
            operation,
            sent: None,
            last: None,
        }
    }
}

impl<O, F> Conversation for InTurn<O, F>
where
    O: Operation,
    O::Output: Completion,
    F: Fn(KeyShare) -> O,
{
    type Output = O::Output;

    fn poll_request(&mut self, target: &Target) -> Result<Step<O::Output>, Error> {
        let done = self.last.as_ref().is_some_and(Completion::is_complete);
        match self.shares.pop_front() {
            Some(share) if !done => {
                let operation = (self.operation)(share);
                let request = operation.request(target)?;
                self.sent = Some(operation);
                Ok(Step::Send(request))
            }
            _ => match self.last.take() {
                Some(last) => Ok(Step::Done(last)),
                None => Err(InvalidInput::Empty("key shares").into()),
            },
        }
    }

    fn handle_response(&mut self, response: &Response<Bytes>) -> Result<(), Error> {
        if let Some(operation) = self.sent.take() {
            self.last = Some(operation.parse_response(response)?);
        }
        Ok(())
    }

    fn request_failed(&mut self, _: Delivery<'_>) {
        self.sent = None;
    }
}
