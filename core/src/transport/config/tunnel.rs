//! The proxy's answer to `CONNECT`, read as it arrives.
//!
//! A proxy may answer a byte at a time. Each read is looked at once: the reader remembers
//! where the status line ended and how far it has searched for the end of the head, so an
//! answer of `n` bytes costs `O(n)` however it is cut, up to
//! [`Proxy::MAX_TUNNEL_ANSWER`].

use http::Uri;

use super::proxy::{parse_status_line, shown, tunnel_target, Proxy};
use crate::transport::{TransportError, TransportErrorKind};

/// The answer to one tunnel's `CONNECT`, as far as it has arrived: made by
/// [`Proxy::tunnel_answer`], fed with [`push`](Self::push) after each read.
///
/// ```
/// use vault_key_core::transport::config::Proxy;
///
/// let proxy = Proxy::all("http://proxy.example:3128");
/// let uri = "https://vault.example:8200/".parse().unwrap();
/// let mut answer = proxy.tunnel_answer(&uri).unwrap();
/// assert!(!answer.push(b"HTTP/1.1 200 Connection estab").unwrap());
/// assert!(answer.push(b"lished\r\n\r\n").unwrap());
/// ```
#[derive(Debug)]
#[must_use = "an answer is read by pushing the proxy's bytes to it"]
pub struct TunnelAnswer {
    /// The proxy and the tunnel's `host:port`, as errors name them.
    proxy: String,
    target: String,
    answer: Vec<u8>,
    /// The end of the status line, once it has arrived.
    line_end: Option<usize>,
    /// How far the end of the head has been searched for.
    searched: usize,
}

impl Proxy {
    /// A reader of the proxy's answer to [`connect_request`](Self::connect_request) for
    /// `uri`. A `uri` without a host is a [`Config`](TransportErrorKind::Config) error.
    pub fn tunnel_answer(&self, uri: &Uri) -> Result<TunnelAnswer, TransportError> {
        Ok(TunnelAnswer {
            proxy: self.shown_host(),
            target: tunnel_target(uri)?,
            answer: Vec::new(),
            line_end: None,
            searched: 0,
        })
    }
}

impl TunnelAnswer {
    /// Takes the next bytes the proxy sent: `Ok(false)` to read more, `Ok(true)` when the
    /// tunnel is open.
    ///
    /// A refusal (any status but 2xx) is a [`Connect`](TransportErrorKind::Connect) error
    /// that names the status line; an answer that is not HTTP, has no end within
    /// [`MAX_TUNNEL_ANSWER`](Proxy::MAX_TUNNEL_ANSWER) bytes, or has bytes after its head
    /// (the server speaks only after the client's TLS hello) is a
    /// [`Protocol`](TransportErrorKind::Protocol) error.
    pub fn push(&mut self, bytes: &[u8]) -> Result<bool, TransportError> {
        let before = self.answer.len();
        self.answer.extend_from_slice(bytes);
        let answer = &self.answer;
        if self.line_end.is_none() {
            // A "\r\n" may straddle the previous read and this one.
            self.line_end = find(&answer[before.saturating_sub(1)..], b"\r\n")
                .map(|at| at + before.saturating_sub(1));
        }
        let status_line = &answer[..self.line_end.unwrap_or(answer.len())];
        // Garbage is refused as soon as it shows, not after 16 KiB of it: the first seven
        // bytes say whether this is HTTP, and the status line is parsed once, when whole.
        let looks_like_http = b"HTTP/1.".starts_with(&status_line[..status_line.len().min(7)]);
        let status = self.line_end.and_then(|_| parse_status_line(status_line));
        if (self.line_end.is_some() && status.is_none()) || !looks_like_http {
            return Err(self.broken(format!("the answer is not HTTP: {}", shown(status_line))));
        }
        let from = self.searched.saturating_sub(3);
        let end = find(&answer[from..], b"\r\n\r\n").map(|at| from + at + 4);
        self.searched = answer.len();
        let Some(end) = end else {
            if answer.len() > Proxy::MAX_TUNNEL_ANSWER {
                return Err(self.broken(format!(
                    "the answer has no end within {} bytes",
                    Proxy::MAX_TUNNEL_ANSWER
                )));
            }
            return Ok(false);
        };
        let status = status.unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(TransportError::new(
                TransportErrorKind::Connect,
                format!(
                    "the proxy {} refused the tunnel to {}: {}{}",
                    self.proxy,
                    self.target,
                    shown(status_line),
                    if status == 407 {
                        " (the proxy wants credentials: put them in the proxy URL, \
                         user:password@host)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        if end != answer.len() {
            return Err(
                self.broken("bytes followed the answer before the TLS handshake".to_string())
            );
        }
        Ok(true)
    }

    /// The error for a proxy that closed the connection after what was pushed (perhaps
    /// nothing) of its answer.
    pub fn closed(&self) -> TransportError {
        if self.answer.is_empty() {
            TransportError::new(
                TransportErrorKind::Connect,
                format!(
                    "the proxy {} closed the connection before answering CONNECT to {}",
                    self.proxy, self.target
                ),
            )
        } else {
            TransportError::new(
                TransportErrorKind::Protocol,
                format!(
                    "the proxy {}'s answer to CONNECT to {} broke off",
                    self.proxy, self.target
                ),
            )
        }
    }

    fn broken(&self, why: String) -> TransportError {
        TransportError::new(
            TransportErrorKind::Protocol,
            format!(
                "the proxy {}, asked for a tunnel to {}: {why}",
                self.proxy, self.target
            ),
        )
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
