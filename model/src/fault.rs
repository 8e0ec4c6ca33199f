//! What can happen to one exchange between the ceremony and the server, and between two of
//! them: the network's and the gateways' faults, and the world's (another operator, a
//! leader change).

use crate::server::{Operator, Reply};

/// Where a cut answer breaks off, resolved against the answer's length and the end of the
/// result it carries (if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CutAt {
    /// Nothing of the body arrived (the status did).
    Empty,
    /// Half of it.
    Half,
    /// One byte short of the end of the result the answer carries (the new shares' array,
    /// the encoded token, the server's OTP); half when it carries none.
    BeforeResultEnd,
    /// Just past the end of that result: it arrived whole, the rest did not.
    AfterResult,
    /// All but the last byte.
    LastByte,
    /// After this many bytes (modulo the body's length plus one).
    Byte(u32),
}

impl CutAt {
    /// The number of bytes of `reply`'s body that arrive.
    pub fn resolve(self, reply: &Reply) -> usize {
        let len = reply.body.len();
        let end = reply.carries.as_ref().map(|(_, end)| *end);
        match self {
            CutAt::Empty => 0,
            CutAt::Half => len / 2,
            CutAt::BeforeResultEnd => end.map_or(len / 2, |e| e - 1),
            CutAt::AfterResult => end.map_or(len / 2, |e| e),
            CutAt::LastByte => len.saturating_sub(1),
            CutAt::Byte(n) => n as usize % (len + 1),
        }
    }
}

/// A body that is not the server's answer, replacing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Garbage {
    /// Arrays nested far deeper than any parser's recursion limit.
    Nested,
    /// A huge JSON string.
    Huge,
    /// Bytes that are not JSON (nor UTF-8).
    Bytes,
    /// A JSON object that is no answer of the endpoint (a proxy's or another service's
    /// `{"data":{…}}`), with none of the fields the endpoint's answers have: no answer of the
    /// endpoint, so the outcome of the request it answers is unknown (the model check found
    /// the core once read it, on a verification share, as progress; see `docs/CEREMONIES.md`).
    Alien,
}

impl Garbage {
    /// The body.
    pub fn body(self) -> Vec<u8> {
        match self {
            Garbage::Nested => {
                let mut body = vec![b'['; 10_000];
                body.resize(20_000, b']');
                body
            }
            Garbage::Huge => {
                let mut body = b"\"".to_vec();
                body.resize(64 * 1024, b'x');
                body.push(b'"');
                body
            }
            Garbage::Alien => br#"{"data":{"padding":"xxxxxxxx"}}"#.to_vec(),
            Garbage::Bytes => (0u8..=255).cycle().take(1024).map(|b| b ^ 0xA5).collect(),
        }
    }
}

/// A fault of one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The request never left (no connection): `Delivery::NotSent`.
    NotSent,
    /// No answer within the time-out: `Delivery::Unknown`. `acted`: the server got the
    /// request and acted on it.
    Timeout {
        /// Whether the server acted.
        acted: bool,
    },
    /// A gateway's page (HTML) with this status (502, 503 or 504) instead of the answer.
    Gateway {
        /// 502, 503 or 504.
        status: u16,
        /// Whether the server acted behind it.
        acted: bool,
    },
    /// A bare 500 with an empty body (a proxy, a crashed handler).
    Bare5xx {
        /// Whether the server acted.
        acted: bool,
    },
    /// The server acted and its answer broke off: `Delivery::Cut` with what arrived.
    Cut(CutAt),
    /// The server acted and the answer's body is replaced by garbage (same status).
    Garbage(Garbage),
    /// The server acted and its answer names another nonce than its own (a lying or
    /// confused server, or a proxy mixing answers).
    WrongNonce,
}

/// Something that happens at one step of a ceremony (one request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// The exchange of this request fails this way.
    Fault(Fault),
    /// Before the server sees this request, another operator acts.
    Operator(Operator),
    /// Before the server sees this request, the leader changes and the ceremony's state is
    /// lost.
    LeaderChange,
}

impl Event {
    /// Every event the model check tries at each step: each fault kind (both sides of "the
    /// server acted" where that differs), each operator action and a leader change.
    pub const ALL: [Event; 22] = [
        Event::Fault(Fault::NotSent),
        Event::Fault(Fault::Timeout { acted: false }),
        Event::Fault(Fault::Timeout { acted: true }),
        Event::Fault(Fault::Gateway {
            status: 502,
            acted: false,
        }),
        Event::Fault(Fault::Gateway {
            status: 502,
            acted: true,
        }),
        Event::Fault(Fault::Gateway {
            status: 503,
            acted: true,
        }),
        Event::Fault(Fault::Gateway {
            status: 504,
            acted: true,
        }),
        Event::Fault(Fault::Bare5xx { acted: false }),
        Event::Fault(Fault::Bare5xx { acted: true }),
        Event::Fault(Fault::Cut(CutAt::Empty)),
        Event::Fault(Fault::Cut(CutAt::Half)),
        Event::Fault(Fault::Cut(CutAt::BeforeResultEnd)),
        Event::Fault(Fault::Cut(CutAt::AfterResult)),
        Event::Fault(Fault::Cut(CutAt::LastByte)),
        Event::Fault(Fault::Garbage(Garbage::Nested)),
        Event::Fault(Fault::Garbage(Garbage::Huge)),
        Event::Fault(Fault::Garbage(Garbage::Alien)),
        Event::Fault(Fault::Garbage(Garbage::Bytes)),
        Event::Fault(Fault::WrongNonce),
        Event::Operator(Operator::Complete),
        Event::Operator(Operator::Cancel),
        Event::Operator(Operator::Restart),
    ];

    /// The same with a leader change: [`ALL`](Self::ALL) and [`Event::LeaderChange`].
    pub fn all() -> impl Iterator<Item = Event> {
        Self::ALL.into_iter().chain([Event::LeaderChange])
    }

    /// Whether this is a fault of the exchange (as opposed to the world's doing).
    pub fn is_fault(&self) -> bool {
        matches!(self, Event::Fault(_))
    }
}

/// The HTML page a gateway sends.
pub fn gateway_page(status: u16) -> String {
    let reason = match status {
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Gateway Timeout",
    };
    format!(
        "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
}

/// `body` with every `"nonce":"…"` value that is not empty replaced by `foreign`.
pub fn swap_nonces(body: &str, foreign: &str) -> String {
    let key = "\"nonce\":\"";
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(at) = rest.find(key) {
        let (head, tail) = rest.split_at(at + key.len());
        out.push_str(head);
        let close = tail.find('"').unwrap_or(tail.len());
        if close > 0 {
            out.push_str(foreign);
        }
        rest = &tail[close..];
    }
    out.push_str(rest);
    out
}
