//! Both clients through an HTTP proxy to a real OpenBao, as the Go client under the CLIs goes
//! through one: an `https` server through a `CONNECT` tunnel, an `http` one with each request
//! in absolute form to the proxy, both with the proxy's credentials; loopback direct unless
//! every request is sent through the proxy; a refusing proxy's status in the error, its
//! password nowhere; a proxy that answers `CONNECT` with garbage, without end, cut short or
//! not at all, a typed error. Every check runs on ureq and on hyper.
//!
//! The proxy is the test's own: it records what it is asked and relays bytes.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use vault_key_core::ops::encryption_key::{GetEncryptionKeyStatus, RotateEncryptionKey};
use vault_key_core::ops::seal::ReadSealStatus;
use vault_key_core::transport::config::{ClientBuilder, FromClientConfig, Proxy};
use vault_key_core::transport::{TransportError, TransportErrorKind};
use vault_key_core::{ExecuteError, Operation};
use vault_key_tests::server::Server;

type Error = ExecuteError<TransportError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Ureq,
    Hyper,
}

const VIAS: [Via; 2] = [Via::Ureq, Via::Hyper];

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

/// A client of either transport, called the same way.
enum Client {
    Ureq(vault_key_ureq::Client),
    Hyper(vault_key_hyper::Client),
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Client::Ureq(client) => client.fmt(f),
            Client::Hyper(client) => client.fmt(f),
        }
    }
}

impl Client {
    fn execute<O>(&self, operation: &O) -> Result<O::Output, Error>
    where
        O: Operation + Sync,
        O::Output: Send,
    {
        match self {
            Client::Ureq(client) => client.execute(operation),
            Client::Hyper(client) => runtime().block_on(client.execute(operation)),
        }
    }
}

const USER: &str = "ops";
/// `p@ss:w0rd`, percent-encoded in the proxy URL as a URL must carry it.
const PASSWORD: &str = "p@ss:w0rd";
const PASSWORD_IN_URL: &str = "p%40ss%3Aw0rd";
/// base64 of `ops:p@ss:w0rd`.
const CREDENTIALS: &str = "b3BzOnBAc3M6dzByZA==";

/// What the proxy saw on one connection from the client.
#[derive(Debug, Clone, Default)]
struct Seen {
    /// The first request line.
    first_line: String,
    /// Everything the client sent in the clear (all of it for a forwarded request, the
    /// `CONNECT` head alone for a tunnel).
    clear: Vec<u8>,
}

/// A small HTTP proxy: `CONNECT` opens a tunnel, a request in absolute form is passed to the
/// server it names as it is (Go's server takes absolute form too), and a request without the
/// expected credentials gets 407.
struct TestProxy {
    address: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl TestProxy {
    fn start(credentials: &'static str) -> TestProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let address = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let record = record.clone();
                thread::spawn(move || {
                    let _ = serve(client, credentials, &record);
                });
            }
        });
        TestProxy { address, seen }
    }

    fn url(&self, password: &str) -> String {
        format!("http://{USER}:{password}@{}", self.address)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn read_head(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    Ok(head)
}

/// How many lines of `text` are a `Proxy-Authorization` (a field name of any case) with
/// `credentials`.
fn credentials_sent(text: &str, credentials: &str) -> usize {
    text.split("\r\n")
        .filter(|line| {
            line.split_once(':').is_some_and(|(name, value)| {
                name.eq_ignore_ascii_case("proxy-authorization")
                    && value.trim() == format!("Basic {credentials}")
            })
        })
        .count()
}

fn serve(mut client: TcpStream, credentials: &str, record: &Mutex<Vec<Seen>>) -> io::Result<()> {
    let head = read_head(&mut client)?;
    let text = String::from_utf8_lossy(&head).to_string();
    let first_line = text.lines().next().unwrap_or_default().to_string();
    let authorized = credentials_sent(&text, credentials) > 0;
    let index = {
        let mut seen = record.lock().unwrap();
        seen.push(Seen {
            first_line: first_line.clone(),
            clear: head.clone(),
        });
        seen.len() - 1
    };
    if !authorized {
        client.write_all(
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\
              Content-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
        return Ok(());
    }
    let mut parts = first_line.split(' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let (server, tunnel) = if method == "CONNECT" {
        (TcpStream::connect(target)?, true)
    } else {
        let authority = target
            .strip_prefix("http://")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default();
        (TcpStream::connect(authority)?, false)
    };
    let mut server = server;
    if tunnel {
        client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    } else {
        server.write_all(&head)?;
    }
    // Server to client as it comes; client to server recorded when in the clear.
    let (mut from_server, mut to_client) = (server.try_clone()?, client.try_clone()?);
    let back = thread::spawn(move || {
        let _ = io::copy(&mut from_server, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Both);
    });
    let mut chunk = [0u8; 4096];
    loop {
        let n = match client.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if !tunnel {
            record.lock().unwrap()[index]
                .clear
                .extend_from_slice(&chunk[..n]);
        }
        if server.write_all(&chunk[..n]).is_err() {
            break;
        }
    }
    let _ = server.shutdown(Shutdown::Both);
    let _ = back.join();
    Ok(())
}

fn client(via: Via, builder: ClientBuilder) -> Client {
    let config = builder
        .timeout(Duration::from_secs(30))
        .config()
        .expect("valid settings");
    match via {
        Via::Ureq => Client::Ureq(vault_key_ureq::Client::from_config(config).expect("a client")),
        Via::Hyper => {
            Client::Hyper(vault_key_hyper::Client::from_config(config).expect("a client"))
        }
    }
}

fn server(tls: bool) -> Server {
    Server::builder().tls(tls).start().expect(
        "an OpenBao server is needed for this test (set BAO_BIN or install python3 with pip)",
    )
}

/// Request lines of what a client sent in the clear.
fn request_lines(clear: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(clear)
        .split("\r\n")
        .filter(|line| {
            ["GET ", "PUT ", "POST ", "DELETE ", "HEAD "]
                .iter()
                .any(|method| line.starts_with(method))
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn an_http_server_gets_requests_in_absolute_form_with_the_credentials() {
    let server = server(false);
    for via in VIAS {
        let proxy = TestProxy::start(CREDENTIALS);
        // Every request through the proxy, as VAULT_HTTP_PROXY sends it: loopback included.
        let client = client(
            via,
            ClientBuilder::new()
                .address(server.address())
                .token(server.root_token().to_string())
                .proxy(Some(Proxy::all(proxy.url(PASSWORD_IN_URL)))),
        );
        assert!(!client.execute(&ReadSealStatus).unwrap().sealed, "{via:?}");
        let term = client.execute(&GetEncryptionKeyStatus).unwrap().term;
        client.execute(&RotateEncryptionKey).unwrap();
        assert_eq!(
            client.execute(&GetEncryptionKeyStatus).unwrap().term,
            term + 1,
            "{via:?}"
        );

        let seen = proxy.seen();
        assert!(!seen.is_empty(), "{via:?}: the proxy was not used");
        let origin = server.address();
        let mut lines = Vec::new();
        for connection in &seen {
            let clear = String::from_utf8_lossy(&connection.clear).to_string();
            let connection_lines = request_lines(&connection.clear);
            // Every request of the connection carries the credentials, not only the first.
            assert_eq!(
                credentials_sent(&clear, CREDENTIALS),
                connection_lines.len(),
                "{via:?}: {clear}"
            );
            lines.extend(connection_lines);
        }
        assert_eq!(lines.len(), 4, "{via:?}: {lines:?}");
        for line in &lines {
            assert!(
                line.starts_with(&format!(
                    "{} {origin}/v1/sys/",
                    line.split(' ').next().unwrap()
                )),
                "{via:?}: not in absolute form: {line}"
            );
        }
        assert!(
            lines[2].starts_with(&format!("PUT {origin}/v1/sys/rotate ")),
            "{via:?}: {lines:?}"
        );
    }
}

#[test]
fn an_https_server_is_reached_through_a_connect_tunnel() {
    let server = server(true);
    let authority = server.address().trim_start_matches("https://").to_string();
    for via in VIAS {
        let proxy = TestProxy::start(CREDENTIALS);
        let client = client(
            via,
            ClientBuilder::new()
                .address(server.address())
                .token(server.root_token().to_string())
                .ca_certificate_file(server.ca_path().expect("the CA file").to_path_buf())
                .system_roots(false)
                .proxy(Some(Proxy::all(proxy.url(PASSWORD_IN_URL)))),
        );
        assert!(!client.execute(&ReadSealStatus).unwrap().sealed, "{via:?}");
        assert!(client.execute(&GetEncryptionKeyStatus).unwrap().term >= 1);

        let seen = proxy.seen();
        assert!(!seen.is_empty(), "{via:?}: the proxy was not used");
        for connection in &seen {
            assert_eq!(
                connection.first_line,
                format!("CONNECT {authority} HTTP/1.1"),
                "{via:?}"
            );
            let head = String::from_utf8_lossy(&connection.clear);
            assert!(
                head.contains(&format!("Proxy-Authorization: Basic {CREDENTIALS}\r\n")),
                "{via:?}: {head}"
            );
            // The token went inside the tunnel, never in the clear.
            assert!(!head.contains(server.root_token()), "{via:?}: {head}");
        }
    }
}

#[test]
fn a_refusing_proxy_shows_its_status_and_its_password_is_nowhere() {
    for tls in [false, true] {
        let server = server(tls);
        for via in VIAS {
            let proxy = TestProxy::start(CREDENTIALS);
            let wrong = "hunter2-wrong%21";
            let mut builder = ClientBuilder::new()
                .address(server.address())
                .token(server.root_token().to_string())
                .proxy(Some(Proxy::all(proxy.url(wrong))));
            if let Some(ca) = server.ca_path() {
                builder = builder
                    .ca_certificate_file(ca.to_path_buf())
                    .system_roots(false);
            }
            let client = client(via, builder);
            let error = client
                .execute(&GetEncryptionKeyStatus)
                .expect_err("the proxy refuses these credentials");
            let shown = format!("{error} {error:?} {client:?}");
            for secret in ["hunter2", PASSWORD, CREDENTIALS] {
                assert!(
                    !shown.contains(secret),
                    "{via:?}, tls {tls}: {secret} shown in {shown}"
                );
            }
            assert!(shown.contains("407"), "{via:?}, tls {tls}: {shown}");
            assert!(!proxy.seen().is_empty(), "{via:?}, tls {tls}");
        }
    }
}

#[test]
fn loopback_goes_direct_by_go_rules() {
    let server = server(false);
    for via in VIAS {
        let proxy = TestProxy::start(CREDENTIALS);
        // HTTPS_PROXY/HTTP_PROXY's rules: loopback never through the proxy, whatever NO_PROXY
        // says.
        for address in [
            server.address(),
            server.address().replace("127.0.0.1", "localhost"),
        ] {
            let client = client(
                via,
                ClientBuilder::new()
                    .address(address)
                    .token(server.root_token().to_string())
                    .proxy(Some(Proxy::with_no_proxy(proxy.url(PASSWORD_IN_URL), ""))),
            );
            client.execute(&GetEncryptionKeyStatus).unwrap();
        }
        assert!(proxy.seen().is_empty(), "{via:?}: {:?}", proxy.seen());
    }
}

/// How a broken proxy answers `CONNECT`.
#[derive(Debug, Clone, Copy)]
enum BadAnswer {
    /// Something that is not HTTP.
    Garbage,
    /// A status line, then header lines without end.
    Endless,
    /// Part of a status line, then the connection closed.
    Cut,
    /// The connection closed before any answer.
    Closed,
    /// Nothing at all, the connection held open.
    Silent,
}

/// A proxy that reads the client's `CONNECT` and answers it as `answer` says.
fn bad_proxy(answer: BadAnswer) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
    let address = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            thread::spawn(move || {
                let _ = misbehave(client, answer);
            });
        }
    });
    address
}

fn misbehave(mut client: TcpStream, answer: BadAnswer) -> io::Result<()> {
    read_head(&mut client)?;
    match answer {
        BadAnswer::Garbage => client.write_all(b"SSH-2.0-OpenSSH_9.6\r\n")?,
        BadAnswer::Endless => {
            client.write_all(b"HTTP/1.1 200 Connection established\r\n")?;
            // At most 1 MiB, however much the client reads.
            for _ in 0..(1 << 20) / 32 {
                client.write_all(b"X-Filler: 0123456789abcdefghij\r\n")?;
            }
        }
        BadAnswer::Cut => {
            client.write_all(b"HTTP/1.1 200 Conn")?;
            return client.shutdown(Shutdown::Both);
        }
        BadAnswer::Closed => return client.shutdown(Shutdown::Both),
        BadAnswer::Silent => {}
    }
    // Held open until the client gives up on it.
    let mut sink = [0u8; 1024];
    while client.read(&mut sink)? > 0 {}
    Ok(())
}

#[test]
fn a_broken_answer_to_connect_is_a_typed_error_without_the_password() {
    let cases = [
        (BadAnswer::Garbage, TransportErrorKind::Protocol),
        (BadAnswer::Endless, TransportErrorKind::Protocol),
        (BadAnswer::Cut, TransportErrorKind::Protocol),
        (BadAnswer::Closed, TransportErrorKind::Connect),
        (BadAnswer::Silent, TransportErrorKind::Timeout),
    ];
    for (answer, expected) in cases {
        let proxy = bad_proxy(answer);
        for via in VIAS {
            // The server is never reached: the proxy would resolve its name.
            let client = client(
                via,
                ClientBuilder::new()
                    .address("https://vault.example.invalid:8200")
                    .token("s.proxy-test-token")
                    .connect_timeout(Duration::from_millis(500))
                    .proxy(Some(Proxy::all(format!(
                        "http://{USER}:{PASSWORD_IN_URL}@{proxy}"
                    )))),
            );
            let error = match client.execute(&ReadSealStatus) {
                Err(ExecuteError::Transport(error)) => error,
                other => panic!("{via:?}, {answer:?}: expected a transport error, got {other:?}"),
            };
            let shown = format!("{error} {error:?}");
            assert_eq!(error.kind(), expected, "{via:?}, {answer:?}: {shown}");
            for secret in ["w0rd", PASSWORD_IN_URL, CREDENTIALS, "s.proxy-test-token"] {
                assert!(
                    !shown.contains(secret),
                    "{via:?}, {answer:?}: {secret} shown in {shown}"
                );
            }
        }
    }
}

#[test]
fn a_proxy_of_another_scheme_is_refused_when_the_client_is_built() {
    for via in VIAS {
        let builder: ClientBuilder = ClientBuilder::new();
        let config = builder
            .address("https://vault.example.invalid:8200")
            .proxy(Some(Proxy::all(format!(
                "socks5://{USER}:{PASSWORD_IN_URL}@127.0.0.1:1080"
            ))))
            .config()
            .expect("valid settings");
        let error = match via {
            Via::Ureq => vault_key_ureq::Client::from_config(config).map(|_| ()),
            Via::Hyper => vault_key_hyper::Client::from_config(config).map(|_| ()),
        };
        match error {
            Err(ExecuteError::Transport(error)) => {
                assert_eq!(error.kind(), TransportErrorKind::Config, "{via:?}: {error}");
                let shown = format!("{error} {error:?}");
                assert!(!shown.contains("w0rd"), "{via:?}: {shown}");
            }
            other => panic!("{via:?}: expected a Config error, got {other:?}"),
        }
    }
}
