//! `sys/decode-token`: let the server decode an encoded root token with its OTP.

use crate::error::{Error, InvalidInput};
use crate::ops::operation;
use crate::secret::{EncodedToken, Otp, Token};
use crate::wire;
use http::Method;
use serde::{Deserialize, Serialize};

/// `PUT sys/decode-token`: the server-side counterpart of [`crate::otp::decode_token`].
#[derive(Debug, Clone)]
pub struct DecodeToken {
    encoded_token: EncodedToken,
    otp: Otp,
}

impl DecodeToken {
    /// Decode `encoded_token` with `otp`.
    pub fn new(encoded_token: EncodedToken, otp: Otp) -> Self {
        Self { encoded_token, otp }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    encoded_token: &'a str,
    otp: &'a str,
}

#[derive(Deserialize)]
struct Decoded {
    token: Token,
}

fn parse(status: http::StatusCode, body: &[u8]) -> Result<Token, Error> {
    wire::json::<Decoded>(status, body).map(|d| d.token)
}

operation!(DecodeToken => Token, |self, target| {
    if self.encoded_token.is_empty() {
        return Err(InvalidInput::Empty("encoded token").into());
    }
    if self.otp.is_empty() {
        return Err(InvalidInput::Empty("OTP").into());
    }
    let body = Body { encoded_token: self.encoded_token.expose(), otp: self.otp.expose() };
    target.request(Method::PUT, "sys/decode-token", wire::body(&body))
}, parse);
