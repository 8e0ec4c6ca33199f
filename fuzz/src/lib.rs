//! What the fuzz targets share: reading statuses, bodies and failures from the fuzzer's bytes,
//! and the checks every target makes on what the core prints.
#![forbid(unsafe_code)]

use bytes::Bytes;
use http::StatusCode;
use vault_key_core::{Delivery, Dialect, KeyShare, PartialResponse, SecretBytes, Target, Token};

/// Shares, OTPs and tokens the targets hand to the core. Distinctive, so that finding one in
/// printed output means it leaked (unless a fed body already contained it).
pub const SECRETS: [&str; 4] = [
    "c2hhcmUtb25lLXNlY3JldA",
    "c2hhcmUtdHdvLXNlY3JldA",
    "dG9rZW4tc2VjcmV0LXZhbHVl",
    "b3RwLXNlY3JldC12YWx1ZQ",
];

/// Status codes servers send, chosen by most status bytes.
pub const STATUSES: [u16; 12] = [200, 204, 307, 400, 403, 404, 405, 429, 500, 502, 503, 504];

/// Ends a body in the input; never part of valid UTF-8, so JSON seeds stay whole.
pub const BODY_END: u8 = 0xFF;

/// The fuzzer's bytes read as a simple script: one byte per choice, bodies ended by
/// [`BODY_END`]. Simple enough that seeds can be written from captured exchanges.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// Reads `data` from its start.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// The next byte; `None` at the end.
    pub fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.data.split_first()?;
        self.data = rest;
        Some(first)
    }

    /// A choice among `n` (`n` > 0).
    pub fn below(&mut self, n: u8) -> Option<u8> {
        Some(self.byte()? % n)
    }

    /// A yes or no.
    pub fn flag(&mut self) -> Option<bool> {
        Some(self.byte()? & 1 == 1)
    }

    /// A status: one of [`STATUSES`] for a byte below 0xF0, otherwise any code from the
    /// next two bytes.
    pub fn status(&mut self) -> Option<StatusCode> {
        let first = self.byte()?;
        let code = if first < 0xF0 {
            STATUSES[usize::from(first) % STATUSES.len()]
        } else {
            let wide = u16::from_be_bytes([self.byte()?, self.byte()?]);
            100 + wide % 900
        };
        StatusCode::from_u16(code).ok()
    }

    /// A body: the bytes up to the next [`BODY_END`] (consumed) or the end.
    pub fn body(&mut self) -> &'a [u8] {
        let end = self
            .data
            .iter()
            .position(|&b| b == BODY_END)
            .unwrap_or(self.data.len());
        let (body, rest) = self.data.split_at(end);
        self.data = rest.get(1..).unwrap_or_default();
        body
    }

    /// One of the fixed secret shares.
    pub fn share(&mut self) -> Option<KeyShare> {
        Some(KeyShare::new(SECRETS[usize::from(self.below(2)?)]))
    }

    /// A target on either dialect, with a token.
    pub fn target(&mut self) -> Option<Target> {
        let dialect = if self.flag()? {
            Dialect::Vault
        } else {
            Dialect::OpenBao
        };
        Some(
            Target::new("http://127.0.0.1:8200")
                .expect("a valid address")
                .with_token(Token::new(SECRETS[2]))
                .with_dialect(dialect),
        )
    }
}

/// How far a failed exchange got, read from the input (a cut answer keeps what arrived).
pub enum Failure {
    /// The request never left.
    NotSent,
    /// No answer arrived.
    Unknown,
    /// An answer began and broke off.
    Cut(PartialResponse),
}

impl Failure {
    /// Reads one; a cut answer's bytes are recorded in `leaks`.
    pub fn read(u: &mut Input<'_>, leaks: &mut Leaks) -> Option<Self> {
        Some(match u.below(3)? {
            0 => Failure::NotSent,
            1 => Failure::Unknown,
            _ => {
                let (status, cut) = (u.status()?, u.body());
                leaks.fed(cut);
                Failure::Cut(PartialResponse::new(status, SecretBytes::new(cut)))
            }
        })
    }

    /// What a ceremony's `request_failed` takes.
    pub fn delivery(&self) -> Delivery<'_> {
        match self {
            Failure::NotSent => Delivery::NotSent,
            Failure::Unknown => Delivery::Unknown,
            Failure::Cut(partial) => Delivery::Cut(partial),
        }
    }
}

/// Tracks which secrets a fed body already held, and checks that printed text holds no other.
#[derive(Default)]
pub struct Leaks {
    echoed: [bool; SECRETS.len()],
}

impl Leaks {
    /// Records a body (or cut body) handed to the core.
    pub fn fed(&mut self, body: &[u8]) {
        for (echoed, secret) in self.echoed.iter_mut().zip(SECRETS) {
            *echoed |= body.windows(secret.len()).any(|w| w == secret.as_bytes());
        }
    }

    /// Panics if `text` holds a secret that no fed body held.
    pub fn check(&self, text: &str) {
        for (echoed, secret) in self.echoed.iter().zip(SECRETS) {
            assert!(
                *echoed || !text.contains(secret),
                "a secret was printed: {text}"
            );
        }
    }
}

/// Panics if `text`, printed for inputs holding `secret`, shows it while `control` (the same
/// output for inputs where the secret was replaced) does not: then the secret itself was
/// printed, not text that happens to hold the same characters.
///
/// Only a secret holding a character no message of the core uses is checked: otherwise the
/// fuzzer can (and did) hand in the core's own error text as the "secret" and see it printed.
pub fn check_differential(secret: &str, text: &str, control: &str) {
    let distinctive = secret
        .chars()
        .any(|c| !(c.is_ascii_alphanumeric() || " :,.()\"'_{}-[]<>".contains(c)));
    if distinctive && secret.len() >= 8 && text.contains(secret) && !control.contains(secret) {
        panic!("a secret was printed: {text}");
    }
}

/// `text` with every character replaced by another: the same length in characters.
pub fn replaced(text: &str) -> String {
    text.chars()
        .map(|c| if c == 'Q' { 'R' } else { 'Q' })
        .collect()
}

/// What a request shows when printed, body left out (it carries shares by design).
pub fn request_debug(request: &http::Request<Bytes>) -> String {
    format!(
        "{:?} {:?} {:?}",
        request.method(),
        request.uri(),
        request.headers()
    )
}
