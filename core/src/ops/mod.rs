//! One small value per endpoint: it knows its request and how to read the response.
//!
//! Every operation implements [`Operation`]: [`request`](Operation::request) builds the
//! `http::Request` for a [`Target`], [`parse`](Operation::parse) turns the answer into a typed
//! value. Method names follow the Python client hvac where it has the call.

use crate::error::Error;
use crate::target::Target;
use bytes::Bytes;
use http::{Request, Response, StatusCode};

pub mod cluster;
pub mod decode;
pub mod encryption_key;
pub(crate) mod fields;
pub mod generate_root;
pub mod rekey;
pub mod rekey_backup;
pub mod rekey_verify;
pub mod seal;

/// An API call: its inputs, its request, and the type its response decodes to.
pub trait Operation {
    /// What a successful response decodes to.
    type Output;

    /// The request to send. Fails only on invalid input, before anything is sent.
    fn request(&self, target: &Target) -> Result<Request<Bytes>, Error>;

    /// Decodes a response from its status and body.
    fn parse(&self, status: StatusCode, body: &[u8]) -> Result<Self::Output, Error>;

    /// Decodes a whole `http::Response`.
    fn parse_response<B: AsRef<[u8]>>(
        &self,
        response: &Response<B>,
    ) -> Result<Self::Output, Error> {
        self.parse(response.status(), response.body().as_ref())
    }
}

/// Implements [`Operation`] for a type from a request builder and a body decoder.
macro_rules! operation {
    ($ty:ty => $out:ty, |$self_:ident, $target:ident| $request:expr, $parse:path) => {
        impl $crate::ops::Operation for $ty {
            type Output = $out;

            fn request(
                &$self_,
                $target: &$crate::target::Target,
            ) -> Result<http::Request<bytes::Bytes>, $crate::error::Error> {
                $request
            }

            fn parse(
                &self,
                status: http::StatusCode,
                body: &[u8],
            ) -> Result<Self::Output, $crate::error::Error> {
                $parse(status, body)
            }
        }
    };
}
pub(crate) use operation;
