//! Submitting several key shares in a row (hvac's `rekey_multi`, `rekey_verify_multi`, and
//! unsealing with several shares): one request per share, in order, stopping as soon as the
//! server reports the step complete, so no share is sent past the threshold.

use crate::error::{Error, InvalidInput};
use crate::exchange::{execute, execute_async, AsyncHttpClient, ExecuteError, HttpClient};
use crate::ops::rekey::RekeyUpdate;
use crate::ops::rekey_verify::VerifyUpdate;
use crate::ops::seal::SealStatus;
use crate::ops::Operation;
use crate::secret::KeyShare;
use crate::target::Target;

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

fn no_shares<E>() -> ExecuteError<E> {
    ExecuteError::Core(Error::from(InvalidInput::Empty("key shares")))
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
    let mut last = None;
    for share in shares {
        let answer = execute(client, target, &operation(share))?;
        let done = answer.is_complete();
        last = Some(answer);
        if done {
            break;
        }
    }
    last.ok_or_else(no_shares)
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
    let mut last = None;
    for share in shares {
        let answer = execute_async(client, target, &operation(share)).await?;
        let done = answer.is_complete();
        last = Some(answer);
        if done {
            break;
        }
    }
    last.ok_or_else(no_shares)
}
