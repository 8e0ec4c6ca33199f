//! A fault proxy in front of a real server: it forwards every request to the server and hands the server's answer
//! back, except that, on cue, it damages one answer after the server produced it.
//!
//! This is how a ceremony is tested against the faults that matter most to it, those that strike after the server
//! committed a change (new shares in effect, a token generated): the server really acts on the request, and only the
//! way back breaks. [`Fault`](crate::faults::Fault) scripts a server that does not exist; this proxy never invents
//! behaviour, it only loses or cuts what the real server said.
//!
//! Each client connection carries one exchange: the proxy asks the server to close after answering and says
//! `Connection: close` to the client, so every request is seen and matched on its own. It listens on 127.0.0.1 only;
//! dropping it stops accepting.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How long the proxy waits on either side before giving up on an exchange.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request or answer head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// What happens to the answer of a request that matches an armed cue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// The head (with its `Content-Length`) is sent, none of the body, then the connection closes.
    CutAfterHead,
    /// The head and the first `numerator/denominator` of the body are sent, then the connection closes.
    CutBody {
        /// Of the body, how many parts are sent...
        numerator: usize,
        /// ...out of how many.
        denominator: usize,
    },
    /// Nothing is sent back: the connection closes after the server answered.
    Drop,
    /// Nothing is sent back for this long (past the client's timeout), then the connection closes.
    Hold(Duration),
    /// The proxy answers `502 Bad Gateway` itself, as a load balancer does when its upstream broke, after the
    /// server answered.
    BadGateway,
    /// The proxy answers `503 Service Temporarily Unavailable` itself with an HTML page (no Vault `errors`), as a
    /// load balancer does, after the server answered.
    ServiceUnavailablePage,
    /// A `200` whose body is `{"data":` nested `depth` times, announced longer than it is, then the connection
    /// closes: a hostile answer, cut, inside the clients' cap.
    NestedCut {
        /// How many times `{"data":` is sent.
        depth: usize,
    },
}

/// A cue: damage the answer to the `skip + 1`-th request whose method is `method` and whose path ends in `path_end`,
/// counted from when it was armed.
#[derive(Debug, Clone)]
struct Cue {
    method: String,
    path_end: String,
    skip: usize,
    damage: Damage,
}

/// One exchange as the proxy saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The request method.
    pub method: String,
    /// The request path.
    pub path: String,
    /// The status the server answered with (0 if the server could not be reached).
    pub status: u16,
    /// What the proxy did to the answer, if anything.
    pub damage: Option<Damage>,
}

#[derive(Default)]
struct State {
    upstream: Option<SocketAddr>,
    cues: Vec<Cue>,
    seen: Vec<Exchange>,
}

/// The proxy. Clients talk to [`FaultProxy::address`]; the server is wherever [`FaultProxy::set_upstream`] says.
pub struct FaultProxy {
    address: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FaultProxy {
    /// A proxy in front of the server at `upstream` (`http://host:port`), forwarding everything until a cue is armed.
    pub fn start(upstream: &str) -> io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let proxy = FaultProxy {
            address,
            state: state.clone(),
            stop: stop.clone(),
            acceptor: Some(thread::spawn(move || accept(listener, state, stop))),
        };
        proxy.set_upstream(upstream)?;
        Ok(proxy)
    }

    /// The proxy's own address, `http://127.0.0.1:port`.
    pub fn address(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Forwards to the server at `upstream` from now on (a restarted server may have moved).
    pub fn set_upstream(&self, upstream: &str) -> io::Result<()> {
        let host = upstream
            .strip_prefix("http://")
            .ok_or_else(|| io::Error::other(format!("only plain http upstreams: {upstream}")))?
            .trim_end_matches('/');
        let address = host
            .parse()
            .map_err(|e| io::Error::other(format!("{upstream}: {e}")))?;
        lock(&self.state).upstream = Some(address);
        Ok(())
    }

    /// Damages the answer to the `skip + 1`-th `method` request whose path ends in `path_end`, from now on. Cues fire
    /// once each, in the order they were armed.
    pub fn arm(&self, method: &str, path_end: &str, skip: usize, damage: Damage) {
        lock(&self.state).cues.push(Cue {
            method: method.to_string(),
            path_end: path_end.to_string(),
            skip,
            damage,
        });
    }

    /// Whether every armed cue has fired.
    pub fn all_fired(&self) -> bool {
        lock(&self.state).cues.is_empty()
    }

    /// Every exchange so far, in order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        lock(&self.state).seen.clone()
    }

    /// The exchanges whose answer was damaged.
    pub fn damaged(&self) -> Vec<Exchange> {
        self.exchanges()
            .into_iter()
            .filter(|e| e.damage.is_some())
            .collect()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept(listener: TcpListener, state: Arc<Mutex<State>>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                let state = state.clone();
                thread::spawn(move || {
                    let _ = serve(client, &state);
                });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(2));
            }
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// A request or answer: its head (up to and including the blank line) and its body.
struct Message {
    head: Vec<u8>,
    body: Vec<u8>,
}

impl Message {
    fn first_line(&self) -> String {
        let text = String::from_utf8_lossy(&self.head);
        text.lines().next().unwrap_or_default().to_string()
    }

    fn header(&self, name: &str) -> Option<String> {
        let text = String::from_utf8_lossy(&self.head);
        text.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    }

    /// The head with `Connection: close` in place of any connection header.
    fn closing_head(&self) -> Vec<u8> {
        let text = String::from_utf8_lossy(&self.head);
        let mut lines: Vec<&str> = text
            .split("\r\n")
            .filter(|line| {
                !line
                    .split_once(':')
                    .is_some_and(|(key, _)| key.trim().eq_ignore_ascii_case("connection"))
            })
            .collect();
        // The head ends with two empty items (the blank line); the header goes before them.
        while lines.last() == Some(&"") {
            lines.pop();
        }
        lines.push("Connection: close");
        let mut head = lines.join("\r\n").into_bytes();
        head.extend_from_slice(b"\r\n\r\n");
        head
    }
}

/// Reads a head, then a body of `Content-Length` bytes, or (without one, for answers) everything until the peer
/// closes.
fn read_message(stream: &mut TcpStream, until_close: bool) -> io::Result<Message> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buffer.len() > MAX_HEAD {
            return Err(io::Error::other("head too long"));
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed in the head",
            ));
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let body = buffer.split_off(head_end);
    let mut message = Message { head: buffer, body };
    match message
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        Some(length) => {
            while message.body.len() < length {
                let n = stream.read(&mut chunk)?;
                if n == 0 {
                    break;
                }
                message.body.extend_from_slice(&chunk[..n]);
            }
            message.body.truncate(length);
        }
        None if until_close => loop {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            message.body.extend_from_slice(&chunk[..n]);
        },
        None => {}
    }
    Ok(message)
}

fn serve(mut client: TcpStream, state: &Mutex<State>) -> io::Result<()> {
    client.set_read_timeout(Some(IO_TIMEOUT))?;
    client.set_write_timeout(Some(IO_TIMEOUT))?;
    let request = read_message(&mut client, false)?;
    let line = request.first_line();
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or_default().to_string();
    let path = words.next().unwrap_or_default().to_string();

    let upstream = lock(state).upstream;
    let answer = upstream.and_then(|upstream| forward(upstream, &request).ok());
    let status = answer
        .as_ref()
        .and_then(|a| a.first_line().split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0);
    let damage = {
        let mut state = lock(state);
        let cue = state.cues.iter().position(|cue| {
            cue.method.eq_ignore_ascii_case(&method) && path.ends_with(&cue.path_end)
        });
        let damage = match cue {
            Some(at) if state.cues[at].skip == 0 => Some(state.cues.remove(at).damage),
            Some(at) => {
                state.cues[at].skip -= 1;
                None
            }
            None => None,
        };
        state.seen.push(Exchange {
            method,
            path,
            status,
            damage,
        });
        damage
    };
    let Some(answer) = answer else {
        client.write_all(
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
        return Ok(());
    };
    let head = answer.closing_head();
    match damage {
        None => {
            client.write_all(&head)?;
            client.write_all(&answer.body)?;
        }
        Some(Damage::CutAfterHead) => client.write_all(&head)?,
        Some(Damage::CutBody {
            numerator,
            denominator,
        }) => {
            client.write_all(&head)?;
            let sent = answer.body.len() * numerator / denominator.max(1);
            client.write_all(&answer.body[..sent])?;
        }
        Some(Damage::Drop) => {}
        Some(Damage::Hold(how_long)) => thread::sleep(how_long),
        Some(Damage::BadGateway) => {
            let body = br#"{"errors":["upstream connection closed"]}"#;
            let head = format!(
                "HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            client.write_all(head.as_bytes())?;
            client.write_all(body)?;
        }
        Some(Damage::ServiceUnavailablePage) => {
            let body = b"<html><head><title>503 Service Temporarily Unavailable</title></head>\r\n<body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>\r\n";
            let head = format!(
                "HTTP/1.1 503 Service Temporarily Unavailable\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            client.write_all(head.as_bytes())?;
            client.write_all(body)?;
        }
        Some(Damage::NestedCut { depth }) => {
            let body = b"{\"data\":".repeat(depth);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len() + 1024
            );
            client.write_all(head.as_bytes())?;
            client.write_all(&body)?;
        }
    }
    client.flush()?;
    // A close, not a reset: what was written arrives before the end of the stream.
    let _ = client.shutdown(Shutdown::Write);
    let mut rest = [0u8; 1024];
    while matches!(client.read(&mut rest), Ok(n) if n > 0) {}
    Ok(())
}

/// Sends the request to the server on a new connection, asking it to close after answering, and reads the whole
/// answer.
fn forward(upstream: SocketAddr, request: &Message) -> io::Result<Message> {
    let mut server = TcpStream::connect_timeout(&upstream, IO_TIMEOUT)?;
    server.set_read_timeout(Some(IO_TIMEOUT))?;
    server.set_write_timeout(Some(IO_TIMEOUT))?;
    server.write_all(&request.closing_head())?;
    server.write_all(&request.body)?;
    server.flush()?;
    read_message(&mut server, true)
}
