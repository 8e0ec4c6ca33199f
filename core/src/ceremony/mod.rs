//! Key ceremonies as state machines: [`RekeyCeremony`] (new unseal or recovery shares) and
//! [`RootTokenCeremony`] (a new root or recovery token).
//!
//! A ceremony never sends anything itself. The caller asks it what to send
//! ([`poll`](RekeyCeremony::poll)), sends that with any HTTP stack, and feeds
//! the answer back ([`handle_response`](RekeyCeremony::handle_response)); shares and other
//! decisions go in through methods. [`drive`](fn@drive) and [`drive_async`](fn@drive_async)
//! run that loop through an [`HttpClient`](crate::HttpClient) or
//! [`AsyncHttpClient`](crate::AsyncHttpClient) until the ceremony needs the caller again.
//!
//! Each ceremony pins its nonce when it starts (or resumes) and never sends a share under
//! another; it stays on the [`Dialect`](crate::Dialect) of its first request; and what it
//! produced (new shares, an encoded token, an OTP) stays reachable from it after any error.
//!
//! A request the server may have acted on without its answer arriving whole (no answer, a
//! timeout, a cut body, a gateway's 502 or 504, an answer that cannot be decoded) is never sent
//! again blindly: the ceremony enters its "outcome unknown" phase
//! ([`RekeyPhase::OutcomeUnknown`], [`RootTokenPhase::OutcomeUnknown`]) and its next request
//! reads the progress, which says whether the request was counted, not counted (it is resent),
//! finished the ceremony under this nonce, or was lost with the ceremony by the server. New
//! shares, an encoded token or a server OTP complete in what arrived of a cut answer are
//! recovered from it; the caller tells the ceremony how far a failed request got with
//! `request_failed(`[`crate::Delivery`]`)`, which the drivers do.
//!
//! # Rekey, with verification of the new shares
//!
//! The HTTP stack here is a scripted closure that checks each request and answers as
//! OpenBao 2.7.2 does.
//!
//! ```
//! use bytes::Bytes;
//! use std::cell::RefCell;
//! use std::collections::VecDeque;
//! use vault_key_core::ceremony::{drive, Next, RekeyCeremony, RekeyPhase, Verification};
//! use vault_key_core::ops::rekey::StartRekey;
//! use vault_key_core::{Dialect, KeyShare, Target, Token};
//!
//! let script = RefCell::new(VecDeque::from([
//!     ("PUT", "/v1/sys/rotate/root/init", r#"{"data":{"n":3,"nonce":"78eb0f58",
//!         "progress":0,"required":2,"started":true,"t":2,"verification_nonce":"",
//!         "verification_required":true}}"#),
//!     ("PUT", "/v1/sys/rotate/root/update", r#"{"data":{"n":3,"nonce":"78eb0f58",
//!         "progress":1,"required":2,"started":true,"t":2,"verification_nonce":"",
//!         "verification_required":true}}"#),
//!     ("PUT", "/v1/sys/rotate/root/update", r#"{"data":{"backup":false,"complete":true,
//!         "keys":["4738112d","204ebce3","3617bc66"],
//!         "keys_base64":["RzgRLQ==","IE6843","Nhe8Zg=="],
//!         "nonce":"78eb0f58","pgp_fingerprints":null,"verification_nonce":"39cb97e8",
//!         "verification_required":true}}"#),
//!     ("PUT", "/v1/sys/rotate/root/verify", r#"{"data":{"n":3,"nonce":"39cb97e8",
//!         "progress":1,"started":true,"t":2}}"#),
//!     ("PUT", "/v1/sys/rotate/root/verify", r#"{"data":{"complete":true,"nonce":"39cb97e8"}}"#),
//! ]));
//! let server = |request: http::Request<Bytes>| {
//!     let (method, path, body) = script.borrow_mut().pop_front().expect("an expected request");
//!     assert_eq!((request.method().as_str(), request.uri().path()), (method, path));
//!     http::Response::builder().status(200).body(Bytes::from(body))
//! };
//! let target = Target::new("http://127.0.0.1:8200")?
//!     .with_token(Token::new("s.operator"))
//!     .with_dialect(Dialect::OpenBao);
//!
//! let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(true));
//! rekey.submit_shares([KeyShare::new("f50240c8"), KeyShare::new("1875ff65")])?;
//! // drive says what it needs next: the new shares, to verify them.
//! let next = drive(&server, &target, &mut rekey)?;
//! assert!(matches!(next, Next::NeedVerificationShares { progress: 0, required: 2 }));
//! assert_eq!(rekey.phase(), RekeyPhase::Verifying);
//! assert_eq!(rekey.nonce(), Some("78eb0f58"));
//!
//! // The new shares are issued but not in effect until verified.
//! let new_shares = rekey.result().expect("the new shares").keys.clone();
//! assert_eq!(new_shares.len(), 3);
//! rekey.submit_verification_shares(new_shares.into_iter().take(2))?;
//! assert!(drive(&server, &target, &mut rekey)?.is_finished());
//! assert_eq!(rekey.phase(), RekeyPhase::Done);
//! assert_eq!(rekey.verification(), Verification::Verified);
//! assert!(rekey.result().is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Root token with a server-generated OTP
//!
//! On Vault's classic paths, with answers captured from a real server: the OTP arrives once,
//! in the start answer, and the ceremony keeps it to decode the token.
//!
//! ```
//! use bytes::Bytes;
//! use std::cell::RefCell;
//! use std::collections::VecDeque;
//! use vault_key_core::ceremony::{drive, Next, RootTokenCeremony, RootTokenPhase, TokenProtection};
//! use vault_key_core::ops::generate_root::TokenKind;
//! use vault_key_core::{KeyShare, Target};
//!
//! let status = |progress: u32, complete: bool, otp: &str, encoded: &str, otp_length: u32| {
//!     format!(r#"{{"nonce":"8c05c6a8-a68c-5dcf-ab51-c5dd817dcc31","started":true,
//!         "progress":{progress},"required":3,"complete":{complete},"encoded_token":"{encoded}",
//!         "encoded_root_token":"{encoded}","pgp_fingerprint":"","otp":"{otp}",
//!         "otp_length":{otp_length}}}"#)
//! };
//! let script = RefCell::new(VecDeque::from([
//!     ("/v1/sys/generate-root/attempt", status(0, false, "B0F8lbreLPbrgNXcHnv3GWbtF7", "", 26)),
//!     ("/v1/sys/generate-root/update", status(1, false, "", "", 0)),
//!     ("/v1/sys/generate-root/update", status(2, false, "", "", 0)),
//!     ("/v1/sys/generate-root/update",
//!         status(3, true, "", "MR4veh4NFyZ4FgwCAhQWADwFF300Nik9BXY", 0)),
//! ]));
//! let server = |request: http::Request<Bytes>| {
//!     let (path, body) = script.borrow_mut().pop_front().expect("an expected request");
//!     assert_eq!(request.uri().path(), path);
//!     http::Response::builder().status(200).body(Bytes::from(body))
//! };
//! let target = Target::new("http://127.0.0.1:8200")?;
//!
//! let mut generation = RootTokenCeremony::start(TokenKind::Root, TokenProtection::ServerOtp);
//! generation.submit_shares([
//!     KeyShare::new("59fc8632b99b18e1ac5ab103d6d4b9681e6fa22aa43a32274854cbc529551a121e"),
//!     KeyShare::new("a5gUZy8FTmZqYxUDjaqLc230FG+C8I9Wj9qk1hrDmMZW"),
//!     KeyShare::new("628eaa0c59f5c41912099773dbb2d2b2807b02e5425f36ad2081b8a0ef103595d8"),
//! ])?;
//! assert!(drive(&server, &target, &mut generation)?.is_finished());
//! assert_eq!(generation.phase(), RootTokenPhase::Done);
//! assert_eq!(generation.decode_token()?.expose(), "s.iBroeC4FnpeZNctkaNsaKICA");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # An OTP from the caller's randomness, then cancel
//!
//! The core draws no randomness itself: with [`TokenProtection::GenerateOtp`] the ceremony
//! reads the server's `otp_length`, then waits for the caller's random source.
//!
//! ```
//! use bytes::Bytes;
//! use std::cell::RefCell;
//! use std::collections::VecDeque;
//! use vault_key_core::ceremony::{drive, Next, RootTokenCeremony, RootTokenPhase, TokenProtection};
//! use vault_key_core::ops::generate_root::TokenKind;
//! use vault_key_core::{Dialect, Target, Token};
//!
//! let script = RefCell::new(VecDeque::from([
//!     ("GET", 200, r#"{"data":{"complete":false,"otp":"","otp_length":26,"progress":0,
//!         "required":3,"started":false}}"#),
//!     ("PUT", 200, r#"{"data":{"complete":false,"nonce":"0539d3a3","otp":"","otp_length":26,
//!         "pgp_fingerprint":"","progress":0,"required":3,"started":true}}"#),
//!     ("DELETE", 204, ""),
//! ]));
//! let server = |request: http::Request<Bytes>| {
//!     let (method, status, body) = script.borrow_mut().pop_front().expect("an expected request");
//!     assert_eq!(request.method().as_str(), method);
//!     assert_eq!(request.uri().path(), "/v1/sys/generate-root-token/attempt");
//!     http::Response::builder().status(status).body(Bytes::from(body))
//! };
//! let target = Target::new("http://127.0.0.1:8200")?
//!     .with_token(Token::new("s.operator"))
//!     .with_dialect(Dialect::OpenBao);
//!
//! let mut generation = RootTokenCeremony::start(TokenKind::Root, TokenProtection::GenerateOtp);
//! let next = drive(&server, &target, &mut generation)?;
//! assert!(matches!(next, Next::NeedOtp { length: 26 }), "{next:?}");
//! assert_eq!(generation.phase(), RootTokenPhase::AwaitingOtp);
//! assert_eq!(generation.otp_length(), Some(26));
//!
//! // Use your CSPRNG here (getrandom, rand's OsRng, crypto.getRandomValues, ...).
//! let mut source = |buf: &mut [u8]| buf.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
//! generation.generate_otp(&mut source)?;
//! let next = drive(&server, &target, &mut generation)?;
//! assert!(matches!(next, Next::NeedShares { .. }), "{next:?}");
//! assert_eq!(generation.otp().map(|otp| otp.len()), Some(26));
//!
//! generation.cancel()?;
//! assert!(drive(&server, &target, &mut generation)?.is_finished());
//! assert_eq!(generation.phase(), RootTokenPhase::Cancelled);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Without a driver
//!
//! The loop [`drive`](fn@drive) runs, by hand (for an HTTP stack with its own control flow):
//!
//! ```
//! # use bytes::Bytes;
//! use vault_key_core::ceremony::{Next, RekeyCeremony, RekeyEvent, RekeyPhase};
//! use vault_key_core::ops::rekey::{KeyKind, StartRekey};
//! use vault_key_core::{KeyShare, Target};
//!
//! # fn send(request: http::Request<Bytes>) -> http::Response<Bytes> {
//! #     let body: &'static [u8] = match request.uri().path() {
//! #         "/v1/sys/rekey/init" => br#"{"nonce":"935f8a3b","started":true,"t":2,"n":3,
//! #             "progress":0,"required":3,"pgp_fingerprints":null,"backup":false,
//! #             "verification_required":false}"#,
//! #         _ => br#"{"nonce":"935f8a3b","started":true,"t":2,"n":3,"progress":1,
//! #             "required":3,"pgp_fingerprints":null,"backup":false,
//! #             "verification_required":false}"#,
//! #     };
//! #     http::Response::new(Bytes::from_static(body))
//! # }
//! let target = Target::new("http://127.0.0.1:8200")?;
//! let mut rekey = RekeyCeremony::resume(KeyKind::Unseal).require_nonce("935f8a3b");
//! rekey.submit_share(KeyShare::new("59fc8632"))?;
//! loop {
//!     match rekey.poll(&target)? {
//!         Next::Send(request) | Next::Settle(request) => {
//!             let response = send(request);
//!             if rekey.handle_http_response(&response)? == RekeyEvent::Progress {
//!                 println!("{} of {}", rekey.progress(), rekey.required());
//!             }
//!         }
//!         Next::NeedShares { progress, required } => {
//!             assert_eq!((progress, required), (1, 3));
//!             break; // ask the next holder for a share
//!         }
//!         other => panic!("{other:?}"),
//!     }
//! }
//! assert_eq!(rekey.phase(), RekeyPhase::CollectingShares);
//! assert_eq!((rekey.progress(), rekey.required()), (1, 3));
//! # Ok::<(), vault_key_core::Error>(())
//! ```

/// The methods both ceremonies have, the same way: the nonce pin, the sans-IO loop
/// (`poll`, `handle_http_response`, `request_failed`; `handle_response` is each ceremony's
/// own) and what every ceremony tells about itself.
macro_rules! shared_methods {
    ($event:ty) => {
        /// Accept only the ceremony with this nonce (as shown to the operators out of band):
        /// any other fails with [`CeremonyError::ForeignNonce`] before a share is sent.
        pub fn require_nonce(mut self, nonce: impl Into<String>) -> Self {
            self.run.require_nonce(nonce.into());
            self
        }

        /// What the ceremony needs next ([`Next`]): a request to send, the answer to the one
        /// out, shares, an OTP, or nothing more.
        ///
        /// Fails without sending anything if the target's dialect differs from the
        /// ceremony's, or if the request cannot be built (a share that cannot be sent is
        /// dropped).
        pub fn poll(&mut self, target: &Target) -> Result<Next, Error> {
            super::skeleton::Rules::poll(self, target)
        }

        /// [`handle_response`](Self::handle_response) for a whole `http::Response`.
        pub fn handle_http_response<B: AsRef<[u8]>>(
            &mut self,
            response: &Response<B>,
        ) -> Result<$event, Error> {
            self.handle_response(response.status(), response.body().as_ref())
        }

        /// The request last returned by [`poll`](Self::poll) got no whole answer;
        /// `delivery` says how far it got.
        ///
        /// A request that never left ([`Delivery::NotSent`]) is built again (a share goes
        /// back to the front of its queue). One the server may have acted on (a start, a
        /// share, a cancel) puts the ceremony in its "outcome unknown" phase: the next
        /// request reads the progress, and nothing is resent unless it was not acted on.
        /// What arrived of a cut answer ([`Delivery::Cut`]) is kept
        /// ([`undecoded_responses`](Self::undecoded_responses)), and a result complete in it
        /// (new shares, an encoded token, the server's OTP in a start answer) is recovered
        /// into the [`result`](Self::result).
        pub fn request_failed(&mut self, delivery: Delivery<'_>) {
            self.fail(delivery)
        }

        /// The dialect fixed by the first request, if one was built.
        pub fn dialect(&self) -> Option<Dialect> {
            self.run.dialect()
        }

        /// The pinned nonce, once known.
        pub fn nonce(&self) -> Option<&str> {
            self.run.nonce().map(String::as_str)
        }

        /// Whether a request was handed out and its answer is awaited.
        pub fn awaiting_response(&self) -> bool {
            self.run.awaiting()
        }

        /// Every answer kept because it may carry the ceremony's result (new shares, a
        /// token, the server's OTP), oldest first: undecodable answers, unexplained refusals
        /// and what arrived of cut answers to the requests that change the server's state.
        /// None is ever dropped or replaced while the ceremony lives.
        pub fn undecoded_responses(&self) -> &[SecretBytes] {
            self.run.kept()
        }
    };
}

/// Implements [`Ceremony`] for a ceremony by its inherent methods of the same names.
macro_rules! impl_ceremony {
    ($ceremony:ty, $phase:ty, $event:ty) => {
        impl super::sealed::Sealed for $ceremony {}

        impl super::Ceremony for $ceremony {
            type Phase = $phase;
            type Event = $event;

            fn poll(&mut self, target: &Target) -> Result<Next, Error> {
                <$ceremony>::poll(self, target)
            }

            fn handle_response(
                &mut self,
                status: StatusCode,
                body: &[u8],
            ) -> Result<$event, Error> {
                <$ceremony>::handle_response(self, status, body)
            }

            fn request_failed(&mut self, delivery: Delivery<'_>) {
                <$ceremony>::request_failed(self, delivery)
            }

            fn phase(&self) -> $phase {
                <$ceremony>::phase(self)
            }

            fn report(&self) -> super::Progress {
                super::Progress {
                    counted: <$ceremony>::progress(self),
                    required: <$ceremony>::required(self),
                    verifying: <$ceremony>::verifying(self),
                    finished: <$ceremony>::phase(self).is_terminal(),
                }
            }
        }
    };
}

mod drive;
mod next;
mod rekey;
mod root_token;
mod skeleton;

pub use drive::{drive, drive_async, drive_reporting, drive_reporting_async};
pub use next::Next;
pub use rekey::{RekeyCeremony, RekeyEvent, RekeyPhase, Verification};
pub use root_token::{
    GeneratedToken, RootTokenCeremony, RootTokenEvent, RootTokenPhase, TokenProtection,
};

use crate::delivery::Delivery;
use crate::error::Error;
use crate::target::Target;
use http::StatusCode;
use std::fmt;

mod sealed {
    pub trait Sealed {}
}

/// What [`drive`](fn@drive) and [`drive_async`](fn@drive_async) need from a ceremony.
/// Implemented by [`RekeyCeremony`] and [`RootTokenCeremony`] (their inherent methods of the
/// same names are the same calls).
pub trait Ceremony: sealed::Sealed {
    /// Where the ceremony stands.
    type Phase: Copy + fmt::Debug + Eq;
    /// What an answer changed.
    type Event: fmt::Debug;

    /// What the ceremony needs next.
    fn poll(&mut self, target: &Target) -> Result<Next, Error>;

    /// Feeds the answer to the request last returned by `poll`.
    fn handle_response(&mut self, status: StatusCode, body: &[u8]) -> Result<Self::Event, Error>;

    /// The request last returned by `poll` got no whole answer; `delivery` says how
    /// far it got.
    fn request_failed(&mut self, delivery: Delivery<'_>);

    /// Where the ceremony stands.
    fn phase(&self) -> Self::Phase;

    /// How far it got, for a progress bar.
    fn report(&self) -> Progress;
}

/// How far a ceremony got, as an application shows it (a progress bar, "2 of 3 shares"):
/// what [`drive_reporting`] hands over after every answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Progress {
    /// Shares counted so far: current shares, or new shares while [`verifying`](Self::verifying).
    pub counted: u32,
    /// Shares the server needs (0 until it said).
    pub required: u32,
    /// Whether the shares counted are new shares being verified.
    pub verifying: bool,
    /// Whether the ceremony is over (done, cancelled or aborted).
    pub finished: bool,
}
