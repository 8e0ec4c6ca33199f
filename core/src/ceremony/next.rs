//! What a ceremony needs next, said by the value its `poll` returns (as str0m's
//! `poll_output` and tame-oauth's `TokenOrRequest` do): there is no state to read back to
//! tell "wait for the answer" from "give me shares" from "over".

use std::fmt;

use bytes::Bytes;
use http::Request;

/// What a ceremony needs next: a request sent, an answer fed back, shares or an OTP from the
/// caller, or nothing (it is over).
///
/// Returned by [`RekeyCeremony::poll`](super::RekeyCeremony::poll) and
/// [`RootTokenCeremony::poll`](super::RootTokenCeremony::poll); [`drive`](fn@super::drive)
/// sends the requests and returns the first value that needs the caller.
///
/// Its `Debug` shows a request's method, address and headers (the token as `Sensitive`) and
/// its body's length, never the body: it holds shares and OTPs.
#[must_use = "a ceremony moves only when what it needs is done"]
#[non_exhaustive]
pub enum Next {
    /// Send this request, then feed its answer to `handle_response` (or its failure to
    /// `request_failed`).
    Send(Request<Bytes>),
    /// The outcome of the last request that may have changed the server is unknown: send
    /// this read, which settles it, before anything else (and feed its answer back the same
    /// way).
    Settle(Request<Bytes>),
    /// A request is out: its answer (or its failure) is awaited.
    AwaitingAnswer,
    /// Current shares are needed (unseal or recovery shares; for a root token, the shares
    /// that generate it): `progress` of `required` counted so far (`required` is 0 until the
    /// server has said).
    NeedShares {
        /// Shares counted so far.
        progress: u32,
        /// Shares the server needs in all.
        required: u32,
    },
    /// The new shares of a rekey must be verified: `progress` of `required` new shares
    /// counted so far. Until then the old shares stay in effect.
    NeedVerificationShares {
        /// New shares counted so far.
        progress: u32,
        /// New shares needed in all (the new threshold).
        required: u32,
    },
    /// An OTP of `length` characters is needed for the root token
    /// (`provide_otp` or `generate_otp`).
    NeedOtp {
        /// The server's `otp_length`.
        length: u32,
    },
    /// Nothing more to do: the ceremony is done, cancelled or aborted (its `phase` says
    /// which; its result, if any, stays reachable).
    Finished,
}

impl Next {
    /// The request to send, if this is one ([`Send`](Next::Send) or
    /// [`Settle`](Next::Settle)).
    pub fn into_request(self) -> Option<Request<Bytes>> {
        match self {
            Next::Send(request) | Next::Settle(request) => Some(request),
            _ => None,
        }
    }

    /// Whether the ceremony is over.
    pub fn is_finished(&self) -> bool {
        matches!(self, Next::Finished)
    }
}

impl fmt::Debug for Next {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Next::Send(request) => f.debug_tuple("Send").field(&Shown(request)).finish(),
            Next::Settle(request) => f.debug_tuple("Settle").field(&Shown(request)).finish(),
            Next::AwaitingAnswer => f.write_str("AwaitingAnswer"),
            Next::NeedShares { progress, required } => f
                .debug_struct("NeedShares")
                .field("progress", progress)
                .field("required", required)
                .finish(),
            Next::NeedVerificationShares { progress, required } => f
                .debug_struct("NeedVerificationShares")
                .field("progress", progress)
                .field("required", required)
                .finish(),
            Next::NeedOtp { length } => f.debug_struct("NeedOtp").field("length", length).finish(),
            Next::Finished => f.write_str("Finished"),
        }
    }
}

/// A request as `Debug` may show it: everything but the body, which is only measured.
struct Shown<'a>(&'a Request<Bytes>);

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let request = self.0;
        f.debug_struct("Request")
            .field("method", request.method())
            .field("uri", request.uri())
            .field("version", &request.version())
            .field("headers", request.headers())
            .field("body", &format_args!("<{} bytes>", request.body().len()))
            .finish()
    }
}
