//! How far a failed request got, and what arrived of its answer: what a ceremony needs to
//! decide whether the server may have acted on it, and to keep a result that broke off.

use crate::secret::SecretBytes;
use http::StatusCode;

/// The part of an answer that arrived before its exchange failed: the status line and every
/// body byte read until then.
///
/// The body may hold the very secrets the request produced (the new shares of a rekey whose
/// completing answer was cut, a server OTP), so it is kept in zeroizing memory and never
/// printed. The ceremonies recover what is complete in it; see
/// [`RekeyResult::salvage`](crate::ops::rekey::RekeyResult::salvage).
#[derive(Debug, Clone)]
pub struct PartialResponse {
    status: StatusCode,
    body: SecretBytes,
}

impl PartialResponse {
    /// The status that arrived and the body bytes read before the failure.
    pub fn new(status: StatusCode, body: SecretBytes) -> Self {
        Self { status, body }
    }

    /// The status line's code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body bytes that arrived (a prefix of the whole body).
    pub fn body(&self) -> &SecretBytes {
        &self.body
    }
}

/// How far a request got when its exchange failed, as far as the stack can tell: what a
/// ceremony needs to know to decide whether the server may have acted on it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Delivery<'a> {
    /// The request never left: no connection was made, or the client could not be set up.
    /// Sending it again is safe.
    NotSent,
    /// The request may have reached the server and been acted on, but no answer arrived.
    Unknown,
    /// An answer began (its status and part of its body arrived) and then broke off.
    Cut(&'a PartialResponse),
}

impl Delivery<'_> {
    /// The kind's name, for events and messages: `not sent`, `unknown`, `cut`.
    pub fn name(&self) -> &'static str {
        match self {
            Delivery::NotSent => "not sent",
            Delivery::Unknown => "unknown",
            Delivery::Cut(_) => "cut",
        }
    }
}
