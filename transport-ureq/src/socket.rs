//! The TCP connection under ureq, made for one request after another on a kept-alive
//! connection at the fewest system calls: a write and a read per exchange, and one
//! non-blocking peek when the pool hands the connection out again.
//!
//! ureq's own TCP transport checks a pooled connection twice per exchange (when it goes back
//! to the pool and when it comes out), each time by switching the socket to non-blocking and
//! back around a read (three calls), and sets the socket's timeouts anew for each exchange
//! because the time left differs by microseconds. Here:
//!
//! - the check when a connection goes back is left out: nothing can be learnt from it that
//!   the check on the way out does not learn, and answer bytes left unread are seen by ureq
//!   itself before either;
//! - the check on the way out is one `recv(MSG_PEEK | MSG_DONTWAIT)` where the platform has it;
//! - a socket timeout is changed only when the one in place would wait past the exchange's
//!   deadline, or is far shorter than the time left; a wake-up before the deadline just waits
//!   again for what is left.
//!
//! This uses ureq's `unversioned` transport API, as [`tracking`](crate::tracking) does.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, ShutdownHandle, Transport,
};
use ureq::Timeout;
use zeroize::Zeroizing;

use crate::proxy::{Forward, Route};

/// Opens plain TCP connections (TLS, when the address asks for it, goes on top): to the
/// server, or to the proxy of `route` when it applies, through which an `https` server is
/// reached by a tunnel and an `http` one by requests in absolute form.
#[derive(Debug, Clone, Default)]
pub(crate) struct Socket {
    pub(crate) route: Option<Arc<Route>>,
}

impl Connector<()> for Socket {
    type Out = SocketTransport;

    fn connect(
        &self,
        details: &ConnectionDetails,
        _chained: Option<()>,
    ) -> Result<Option<SocketTransport>, ureq::Error> {
        let route = self
            .route
            .as_deref()
            .filter(|route| route.applies_to(details.uri));
        let (stream, forward) = match route {
            None => (connect(&details.addrs, details.timeout)?, None),
            Some(route) => {
                let mut stream = connect(&route.addresses()?, details.timeout)?;
                if details.uri.scheme_str() == Some("https") {
                    let limit = details.timeout.not_zero().map(|after| *after);
                    route.tunnel(&mut stream, details.uri, limit)?;
                    (stream, None)
                } else {
                    (stream, Some(route.forward(details.uri)))
                }
            }
        };
        stream.set_nodelay(true)?;
        let stream = Arc::new(stream);
        (details.register_shutdown)(Arc::downgrade(&stream) as Weak<dyn ShutdownHandle>)?;
        let config = details.config;
        Ok(Some(SocketTransport {
            stream,
            buffers: LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size()),
            read_timeout: None,
            write_timeout: None,
            answered: false,
            forward,
        }))
    }
}

/// Tries each address in turn, each with an equal share of what is left of the connect
/// timeout, so that one address that never answers cannot use up the time of the others.
fn connect(addrs: &[SocketAddr], timeout: NextTimeout) -> Result<TcpStream, ureq::Error> {
    let deadline = timeout.not_zero().map(|after| (Instant::now(), *after));
    let mut last = None;
    for (i, addr) in addrs.iter().enumerate() {
        let attempt = match deadline {
            None => TcpStream::connect(addr),
            Some((start, limit)) => {
                let left = limit.saturating_sub(start.elapsed());
                if left.is_zero() {
                    return Err(ureq::Error::Timeout(Timeout::Connect));
                }
                let share = left / (addrs.len() - i) as u32;
                TcpStream::connect_timeout(addr, share.max(Duration::from_millis(10)))
            }
        };
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(error) => last = Some(error),
        }
    }
    match last {
        Some(error) if matches!(error.kind(), io::ErrorKind::TimedOut) => {
            Err(ureq::Error::Timeout(Timeout::Connect))
        }
        Some(error) => Err(ureq::Error::Io(error)),
        None => Err(ureq::Error::ConnectionFailed),
    }
}

/// A TCP connection with ureq's buffers.
#[derive(Debug)]
pub(crate) struct SocketTransport {
    stream: Arc<TcpStream>,
    buffers: LazyBuffers,
    /// The socket's timeouts as last set (`None`: none).
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    /// An answer arrived since the last check: the next check is the pool's on the way back.
    answered: bool,
    /// The rewriting of requests to an `http` server through a proxy.
    forward: Option<Forward>,
}

/// Which of the socket's two timeouts.
#[derive(Clone, Copy)]
enum Direction {
    Read,
    Write,
}

impl SocketTransport {
    /// Runs `op` on the socket until it completes, fails, or the timeout passes.
    fn within<T>(
        &mut self,
        timeout: NextTimeout,
        direction: Direction,
        mut op: impl FnMut(&TcpStream, &mut LazyBuffers) -> io::Result<T>,
    ) -> Result<T, ureq::Error> {
        let limit = timeout.not_zero().map(|after| *after);
        let started = Instant::now();
        loop {
            let left = limit.map(|limit| limit.saturating_sub(started.elapsed()));
            if left == Some(Duration::ZERO) {
                return Err(ureq::Error::Timeout(timeout.reason));
            }
            let current = match direction {
                Direction::Read => &mut self.read_timeout,
                Direction::Write => &mut self.write_timeout,
            };
            if needs_update(*current, left) {
                match direction {
                    Direction::Read => self.stream.set_read_timeout(left)?,
                    Direction::Write => self.stream.set_write_timeout(left)?,
                }
                *current = left;
            }
            match op(&self.stream, &mut self.buffers) {
                Ok(value) => return Ok(value),
                Err(e) if e.kind() == io::ErrorKind::Interrupted && limit.is_some() => {}
                // The socket's timeout passed; the exchange's deadline may not have.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if limit.is_none() {
                        return Err(ureq::Error::Io(e));
                    }
                }
                Err(e) => return Err(ureq::Error::Io(e)),
            }
        }
    }
}

/// Whether a socket timeout of `current` must change to wait at most `left`: it would wait
/// longer, or it is so much shorter that it would wake up for nothing again and again.
fn needs_update(current: Option<Duration>, left: Option<Duration>) -> bool {
    match (current, left) {
        (None, None) => false,
        (Some(current), Some(left)) => current > left || current < left / 2,
        _ => true,
    }
}

impl Transport for SocketTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.answered = false;
        if let Some(forward) = self.forward.as_mut() {
            let out: Zeroizing<Vec<u8>> = forward.rewrite(&self.buffers.output()[..amount])?;
            let mut written = 0;
            while written < out.len() {
                written += self.within(
                    timeout.for_write(),
                    Direction::Write,
                    |mut stream, _| match stream.write(&out[written..]) {
                        Ok(0) => Err(io::ErrorKind::WriteZero.into()),
                        other => other,
                    },
                )?;
            }
            return Ok(());
        }
        let mut written = 0;
        while written < amount {
            written += self.within(
                timeout.for_write(),
                Direction::Write,
                |mut stream, buffers| match stream.write(&buffers.output()[written..amount]) {
                    Ok(0) => Err(io::ErrorKind::WriteZero.into()),
                    other => other,
                },
            )?;
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let amount = self.within(
            timeout.for_read(),
            Direction::Read,
            |mut stream, buffers| stream.read(buffers.input_append_buf()),
        )?;
        self.buffers.input_appended(amount);
        if amount > 0 {
            self.answered = true;
        }
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        if std::mem::replace(&mut self.answered, false) {
            // The pool's check on the way back, right after the answer: the check on the
            // way out, before any reuse, sees everything this one would.
            return true;
        }
        probe(&self.stream)
    }
}

/// Whether the connection is open and silent: the peer has neither closed it nor sent
/// anything unasked.
#[cfg(unix)]
fn probe(stream: &TcpStream) -> bool {
    let mut byte = [std::mem::MaybeUninit::new(0u8)];
    let socket = socket2::SockRef::from(stream);
    match socket.recv_with_flags(&mut byte, libc::MSG_PEEK | libc::MSG_DONTWAIT) {
        Err(e) => e.kind() == io::ErrorKind::WouldBlock,
        // Closed (0), or bytes nobody asked for.
        Ok(_) => false,
    }
}

#[cfg(not(unix))]
fn probe(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let mut byte = [0u8];
    let open = matches!(stream.peek(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
    stream.set_nonblocking(false).is_ok() && open
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn timeouts_change_only_when_they_must() {
        let s = Duration::from_secs;
        assert!(!needs_update(None, None));
        assert!(needs_update(None, Some(s(60))));
        assert!(needs_update(Some(s(60)), None));
        // The next exchange has a little more time than the last set: left as it is.
        assert!(!needs_update(
            Some(Duration::from_millis(59_990)),
            Some(s(60))
        ));
        // It would wait past the deadline.
        assert!(needs_update(Some(s(60)), Some(s(5))));
        // Far shorter than the time left.
        assert!(needs_update(Some(s(1)), Some(s(60))));
    }

    #[test]
    fn the_probe_tells_silent_from_closed_and_chatty() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        assert!(probe(&client), "open and silent");
        server.write_all(b"x").unwrap();
        server.flush().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(!probe(&client), "bytes nobody asked for");
        let mut byte = [0u8];
        (&client).read_exact(&mut byte).unwrap();
        drop(server);
        std::thread::sleep(Duration::from_millis(50));
        assert!(!probe(&client), "closed by the peer");
    }
}
