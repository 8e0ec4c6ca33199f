//! An HTTP/1.1 server that misbehaves on purpose.
//!
//! Real servers rarely truncate bodies, send garbage, stall or stream gigabytes, yet a client has to survive all of it
//! without hanging or exhausting memory. [`FaultServer`] answers each request with the next [`Fault`] of a script (the
//! last one repeats) and records what the client sent, so tests can check both the client's reaction and its requests.
//!
//! It listens on 127.0.0.1 only, serves one thread per connection, closes every connection after one answer (unless
//! that answer is a [`Fault::KeepAlive`]), and bounds every wait and every read; dropping it stops all of its threads.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Longest request head (request line and headers) accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body accepted.
const MAX_BODY: usize = 64 * 1024 * 1024;
/// How long a connection may stay silent while a request is read, or blocked while an answer is written.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Chunk size for [`Fault::Huge`] bodies.
const HUGE_CHUNK: usize = 64 * 1024;
/// Connections served over the server's lifetime; beyond that they are closed at once.
const MAX_CONNECTIONS: usize = 10_000;

/// One scripted answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// A well-formed response. `Content-Length` and `Connection: close` are added unless `headers` has them, so a test
    /// can also send lying or conflicting headers on purpose.
    Respond {
        /// Status code.
        status: u16,
        /// Header names and values, sent in this order.
        headers: Vec<(String, String)>,
        /// Body bytes.
        body: Vec<u8>,
    },
    /// A response whose `Content-Length` promises `declared_len` bytes but only `body` is sent before the connection
    /// closes: a body cut off in transit.
    Truncate {
        /// Status code.
        status: u16,
        /// The length announced in `Content-Length`.
        declared_len: usize,
        /// What is actually sent.
        body: Vec<u8>,
    },
    /// Like [`Fault::Truncate`], but the connection then stays silent for `stall` before it closes: an answer that
    /// stops mid-body, for client timeouts that strike after part of the body arrived.
    TruncateThenStall {
        /// Status code.
        status: u16,
        /// The length announced in `Content-Length`.
        declared_len: usize,
        /// What is actually sent.
        body: Vec<u8>,
        /// How long nothing more is sent.
        stall: Duration,
    },
    /// Raw bytes instead of an HTTP response, then close: a peer that does not speak HTTP.
    Garbage(Vec<u8>),
    /// Read the request, send nothing for this long, then close: a hung server, for client timeouts.
    Stall(Duration),
    /// A redirect (e.g. 307) to `location` with an empty body: clients must not follow it with secrets attached.
    Redirect {
        /// Status code, typically 301, 302, 307 or 308.
        status: u16,
        /// Value of the `Location` header.
        location: String,
    },
    /// A response announcing and streaming `len` bytes in chunks, stopping early when the client hangs up: for body
    /// size limits.
    Huge {
        /// Status code.
        status: u16,
        /// Body length in bytes, announced in `Content-Length`.
        len: u64,
    },
    /// Read the request and close without answering: a server that dies mid-exchange.
    Close,
    /// A well-formed JSON response with `Connection: keep-alive`, after which the connection stays open and the next
    /// request on it gets the script's next fault: for connection reuse. Followed by [`Fault::Close`], the server drops
    /// a pooled connection just as a request arrives on it. (A [`Fault::Respond`] with a `Connection: keep-alive`
    /// header promises the same but closes at once, as a server that restarts between two requests.)
    KeepAlive {
        /// Status code.
        status: u16,
        /// Body bytes, sent as `application/json`.
        body: Vec<u8>,
    },
}

impl Fault {
    /// A normal response with a JSON body, the usual shape of a Vault answer.
    pub fn json(status: u16, body: &str) -> Fault {
        Fault::Respond {
            status,
            headers: vec![("Content-Type".to_string(), "application/json".to_string())],
            body: body.as_bytes().to_vec(),
        }
    }

    /// A JSON response that keeps the connection open for the next request; see [`Fault::KeepAlive`].
    pub fn keep_alive_json(status: u16, body: &str) -> Fault {
        Fault::KeepAlive {
            status,
            body: body.as_bytes().to_vec(),
        }
    }

    /// A normal response without body (e.g. 204).
    pub fn empty(status: u16) -> Fault {
        Fault::Respond {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}

/// One request as the fault server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The method, as sent (e.g. `PUT`).
    pub method: String,
    /// The request target, as sent (path and query, e.g. `/v1/sys/rekey/init`).
    pub path: String,
    /// The protocol version, as sent (e.g. `HTTP/1.1`).
    pub version: String,
    /// Header names and values in the order received (names as sent; compare case-insensitively).
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked if it was sent chunked.
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// Value of the first header called `name` (case-insensitive), to check what the client sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy), for readable assertions.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON, `None` if it is not JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

struct Shared {
    script: Vec<Fault>,
    next_fault: AtomicUsize,
    connections: AtomicUsize,
    stop: AtomicBool,
    requests: Mutex<Vec<RecordedRequest>>,
    workers: Mutex<Vec<(TcpStream, JoinHandle<()>)>>,
}

/// A scripted misbehaving HTTP server on 127.0.0.1; stops when dropped.
pub struct FaultServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FaultServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultServer")
            .field("addr", &self.addr)
            .field("script", &self.shared.script)
            .finish_non_exhaustive()
    }
}

impl FaultServer {
    /// Starts serving `script`: the n-th request gets the n-th fault, and every request after the last gets the last.
    ///
    /// Panics when the script is empty or no loopback port can be bound, since no test can proceed then.
    pub fn start(script: Vec<Fault>) -> FaultServer {
        assert!(
            !script.is_empty(),
            "FaultServer needs at least one fault in its script"
        );
        let listener =
            TcpListener::bind("127.0.0.1:0").expect("cannot bind 127.0.0.1:0 for the fault server");
        let addr = listener
            .local_addr()
            .expect("cannot read the fault server's address");
        let shared = Arc::new(Shared {
            script,
            next_fault: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            requests: Mutex::new(Vec::new()),
            workers: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("fault-server-accept".into())
                .spawn(move || accept_loop(&listener, &shared))
                .expect("cannot spawn the fault server thread")
        };
        FaultServer {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Base address for clients, `http://127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address, for raw TCP clients.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every complete request received so far, in the order they were read.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Connections accepted so far, including those that never sent a complete request; shows retries and probes.
    pub fn connection_count(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Closes every connection still open (one kept alive by [`Fault::KeepAlive`], waiting for its next request), as
    /// a server that restarts does; new connections are served as before.
    pub fn close_open_connections(&self) {
        for (stream, _) in lock(&self.shared.workers).iter() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept() so the acceptor sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let workers = std::mem::take(&mut *lock(&self.shared.workers));
        for (stream, handle) in workers {
            // Unblocks reads and writes still in progress.
            let _ = stream.shutdown(Shutdown::Both);
            let _ = handle.join();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            continue;
        };
        if shared.connections.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            continue;
        }
        let Ok(handle_copy) = stream.try_clone() else {
            continue;
        };
        let worker_shared = Arc::clone(shared);
        let spawned = thread::Builder::new()
            .name("fault-server-conn".into())
            .spawn(move || serve(stream, &worker_shared));
        if let Ok(handle) = spawned {
            let mut workers = lock(&shared.workers);
            workers.retain(|(_, h)| !h.is_finished());
            workers.push((handle_copy, handle));
        }
    }
}

fn serve(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_nodelay(true);
    loop {
        let Ok(Some(request)) = read_request(&mut stream) else {
            return;
        };
        lock(&shared.requests).push(request);
        let index = shared.next_fault.fetch_add(1, Ordering::SeqCst);
        let fault = &shared.script[index.min(shared.script.len() - 1)];
        let answered = answer(&mut stream, fault, &shared.stop);
        let _ = stream.flush();
        let keep_open = matches!(fault, Fault::KeepAlive { .. });
        if answered.is_err() || !keep_open || shared.stop.load(Ordering::SeqCst) {
            break;
        }
    }
    let _ = stream.shutdown(Shutdown::Write);
}

fn answer(stream: &mut TcpStream, fault: &Fault, stop: &AtomicBool) -> io::Result<()> {
    match fault {
        Fault::Respond {
            status,
            headers,
            body,
        } => {
            let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
            let mut head = status_line(*status);
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            if !has("content-length") && !has("transfer-encoding") {
                head.push_str(&format!("Content-Length: {}\r\n", body.len()));
            }
            if !has("connection") {
                head.push_str("Connection: close\r\n");
            }
            head.push_str("\r\n");
            stream.write_all(head.as_bytes())?;
            stream.write_all(body)
        }
        Fault::Truncate {
            status,
            declared_len,
            body,
        } => {
            let head = format!(
                "{}Content-Type: application/json\r\nContent-Length: {declared_len}\r\nConnection: close\r\n\r\n",
                status_line(*status)
            );
            stream.write_all(head.as_bytes())?;
            stream.write_all(body)
        }
        Fault::TruncateThenStall {
            status,
            declared_len,
            body,
            stall,
        } => {
            let head = format!(
                "{}Content-Type: application/json\r\nContent-Length: {declared_len}\r\nConnection: close\r\n\r\n",
                status_line(*status)
            );
            stream.write_all(head.as_bytes())?;
            stream.write_all(body)?;
            stream.flush()?;
            wait(*stall, stop);
            Ok(())
        }
        Fault::Garbage(bytes) => stream.write_all(bytes),
        Fault::Stall(duration) => {
            wait(*duration, stop);
            Ok(())
        }
        Fault::Redirect { status, location } => {
            let head = format!(
                "{}Location: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                status_line(*status)
            );
            stream.write_all(head.as_bytes())
        }
        Fault::Huge { status, len } => {
            let head = format!(
                "{}Content-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n",
                status_line(*status)
            );
            stream.write_all(head.as_bytes())?;
            let chunk = vec![b'a'; HUGE_CHUNK];
            let mut left = *len;
            while left > 0 && !stop.load(Ordering::SeqCst) {
                let n = usize::try_from(left).unwrap_or(HUGE_CHUNK).min(HUGE_CHUNK);
                // A write error means the client hung up (or stopped reading for IO_TIMEOUT): stop streaming.
                stream.write_all(&chunk[..n])?;
                left -= n as u64;
            }
            Ok(())
        }
        Fault::Close => Ok(()),
        Fault::KeepAlive { status, body } => {
            let head = format!(
                "{}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n",
                status_line(*status),
                body.len()
            );
            stream.write_all(head.as_bytes())?;
            stream.write_all(body)
        }
    }
}

fn status_line(status: u16) -> String {
    let reason = match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    };
    format!("HTTP/1.1 {status} {reason}\r\n")
}

/// Reads one request; `Ok(None)` when the peer closed or sent something that is not a complete request.
fn read_request(stream: &mut TcpStream) -> io::Result<Option<RecordedRequest>> {
    let mut buf = Vec::with_capacity(1024);
    let head_end = loop {
        if let Some(pos) = find(&buf, b"\r\n\r\n") {
            break pos;
        }
        if buf.len() > MAX_HEAD {
            return Ok(None);
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut rest = buf[head_end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let mut parts = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(path), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Ok(None);
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    if header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let chunked =
        header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        match read_chunked(stream, &mut rest)? {
            Some(body) => body,
            None => return Ok(None),
        }
    } else {
        let len = match header("content-length").map(|v| v.parse::<usize>()) {
            None => 0,
            Some(Ok(len)) if len <= MAX_BODY => len,
            Some(_) => return Ok(None),
        };
        if !fill(stream, &mut rest, len)? {
            return Ok(None);
        }
        rest.truncate(len);
        rest
    };
    Ok(Some(RecordedRequest {
        method: method.to_string(),
        path: path.to_string(),
        version: version.to_string(),
        headers,
        body,
    }))
}

/// Reads until `buf` holds at least `len` bytes; `false` if the peer closed first.
fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>, len: usize) -> io::Result<bool> {
    let mut chunk = [0u8; 16 * 1024];
    while buf.len() < len {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(false);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(true)
}

/// Decodes a chunked body; `buf` holds the bytes already read past the head. Trailers are skipped.
fn read_chunked(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        // Chunk-size line.
        let line_end = loop {
            if let Some(i) = find(&buf[pos..], b"\r\n") {
                break pos + i;
            }
            if buf.len() - pos > MAX_HEAD || !fill(stream, buf, buf.len() + 1)? {
                return Ok(None);
            }
        };
        let size_text = String::from_utf8_lossy(&buf[pos..line_end]).into_owned();
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_hex, 16) else {
            return Ok(None);
        };
        pos = line_end + 2;
        if size == 0 {
            // Trailer section ends with an empty line.
            loop {
                if let Some(i) = find(&buf[pos..], b"\r\n") {
                    if i == 0 {
                        return Ok(Some(body));
                    }
                    pos += i + 2;
                    continue;
                }
                if buf.len() - pos > MAX_HEAD || !fill(stream, buf, buf.len() + 1)? {
                    return Ok(None);
                }
            }
        }
        if body.len() + size > MAX_BODY {
            return Ok(None);
        }
        if !fill(stream, buf, pos + size + 2)? {
            return Ok(None);
        }
        body.extend_from_slice(&buf[pos..pos + size]);
        pos += size + 2;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Sleeps for `duration`, or until the server stops.
fn wait(duration: Duration, stop: &AtomicBool) {
    let until = Instant::now() + duration;
    while Instant::now() < until && !stop.load(Ordering::SeqCst) {
        thread::sleep(
            until
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(10)),
        );
    }
}
