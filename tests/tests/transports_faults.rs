//! Both transports against a misbehaving server: redirects, timeouts, oversized, truncated and
//! garbled answers, refused connections, and connection reuse. Every check runs on ureq and on
//! hyper and expects the same outcome.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use vault_key_core::ops::rekey::{KeyKind, ReadRekeyProgress, Rekey, RekeyResult, RekeyUpdate};
use vault_key_core::ops::rekey_verify::CancelRekeyVerify;
use vault_key_core::ops::seal::{ReadSealStatus, SealStatus};
use vault_key_core::transport::config::ClientBuilder;
use vault_key_core::transport::redirect::{RedirectError, RedirectHosts};
use vault_key_core::transport::TransportErrorKind;
use vault_key_core::{Error as CoreError, ExecuteError, KeyShare, Operation};
use vault_key_tests::faults::{Fault, FaultServer};

type Error = ExecuteError<vault_key_core::transport::TransportError>;

const TOKEN: &str = "s.fault-token";

const SEAL_STATUS: &str = r#"{"type":"shamir","initialized":true,"sealed":false,"t":3,"n":5,"progress":0,"nonce":"","version":"2.7.2","build_date":"","commit_date":"2026-01-01T00:00:00Z","migration":false,"recovery_seal":false,"storage_type":"raft"}"#;

const REKEY_PROGRESS: &str = r#"{"nonce":"n-1","started":true,"t":2,"n":3,"progress":1,"required":3,"pgp_fingerprints":null,"backup":false,"verification_required":false}"#;

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

/// Client settings, applied the same way to either transport's builder.
#[derive(Clone, Default)]
struct Settings {
    timeout: Option<Duration>,
    max_response_bytes: Option<usize>,
    max_redirects: Option<u32>,
    redirect_hosts: Option<RedirectHosts>,
    keep_custom_headers: bool,
}

impl Settings {
    fn apply<C>(&self, address: &str) -> ClientBuilder<C> {
        let mut builder = ClientBuilder::<C>::new().address(address).token(TOKEN);
        if let Some(timeout) = self.timeout {
            builder = builder.timeout(timeout);
        }
        if let Some(limit) = self.max_response_bytes {
            builder = builder.max_response_bytes(limit);
        }
        if let Some(max) = self.max_redirects {
            builder = builder.max_redirects(max);
        }
        if let Some(hosts) = &self.redirect_hosts {
            builder = builder.redirect_hosts(hosts.clone());
        }
        builder
            .header(PROXY_HEADER, "proxy-secret")
            .keep_custom_headers_across_origins(self.keep_custom_headers)
    }
}

/// Sends `operation` to `address` through a fresh client of `via`.
fn exec<O>(via: Via, address: &str, settings: &Settings, operation: &O) -> Result<O::Output, Error>
where
    O: Operation + Sync,
    O::Output: Send,
{
    match via {
        Via::Ureq => settings
            .apply::<vault_key_ureq::Client>(address)
            .build()?
            .execute(operation),
        Via::Hyper => runtime().block_on(async {
            let client = settings.apply::<vault_key_hyper::Client>(address).build()?;
            client.execute(operation).await
        }),
    }
}

fn transport_kind<T: std::fmt::Debug>(via: Via, result: Result<T, Error>) -> TransportErrorKind {
    match result {
        Err(ExecuteError::Transport(e)) => {
            assert!(!e.to_string().contains(TOKEN), "{via:?}: {e}");
            e.kind()
        }
        other => panic!("{via:?}: expected a transport error, got {other:?}"),
    }
}

fn redirect_error<T: std::fmt::Debug>(via: Via, result: Result<T, Error>) -> RedirectError {
    match result {
        Err(ExecuteError::Transport(e)) if e.kind() == TransportErrorKind::Redirect => {
            e.redirect().cloned().expect("redirect details")
        }
        other => panic!("{via:?}: expected a redirect error, got {other:?}"),
    }
}

fn share_op() -> Rekey {
    Rekey::new(KeyShare::new("aabbcc"), "n-1")
}

#[test]
fn redirect_307_keeps_method_body_and_token() {
    for via in VIAS {
        let active = FaultServer::start(vec![Fault::json(200, REKEY_PROGRESS)]);
        let standby = FaultServer::start(vec![Fault::Redirect {
            status: 307,
            location: format!("{}/v1/sys/rekey/update", active.address()),
        }]);
        let update = exec(via, &standby.address(), &Settings::default(), &share_op())
            .unwrap_or_else(|e| panic!("{via:?}: {e}"));
        assert!(
            matches!(update, RekeyUpdate::Progress(ref s) if s.progress == 1),
            "{via:?}"
        );

        let first = &standby.requests()[0];
        let followed = &active.requests()[0];
        assert_eq!(active.requests().len(), 1, "{via:?}");
        for request in [first, followed] {
            assert_eq!(request.method, "PUT", "{via:?}");
            assert_eq!(request.path, "/v1/sys/rekey/update", "{via:?}");
            assert_eq!(request.header("x-vault-token"), Some(TOKEN), "{via:?}");
            assert_eq!(
                request.json(),
                Some(serde_json::json!({"key": "aabbcc", "nonce": "n-1"})),
                "{via:?}"
            );
        }
    }
}

#[test]
fn redirect_308_and_relative_location_are_followed() {
    for via in VIAS {
        let server = FaultServer::start(vec![
            Fault::Redirect {
                status: 308,
                location: "../sys/seal-status?again=1".into(),
            },
            Fault::json(200, SEAL_STATUS),
        ]);
        let status: SealStatus = exec(
            via,
            &server.address(),
            &Settings::default(),
            &ReadSealStatus,
        )
        .unwrap_or_else(|e| panic!("{via:?}: {e}"));
        assert!(!status.sealed);
        let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
        assert_eq!(
            paths,
            ["/v1/sys/seal-status", "/v1/sys/seal-status?again=1"],
            "{via:?}"
        );
    }
}

#[test]
fn redirect_to_another_scheme_is_refused() {
    for via in VIAS {
        let server = FaultServer::start(vec![Fault::Redirect {
            status: 307,
            location: format!("https://{}/v1/sys/rekey/update", server_authority()),
        }]);
        let err = redirect_error(
            via,
            exec(via, &server.address(), &Settings::default(), &share_op()),
        );
        assert_eq!(
            err,
            RedirectError::SchemeChange {
                from: "http".into(),
                to: "https".into()
            },
            "{via:?}"
        );
        assert_eq!(server.requests().len(), 1, "{via:?}");
    }
}

/// Some loopback authority; the redirect to it must never be followed.
fn server_authority() -> String {
    "127.0.0.1:9".into()
}

#[test]
fn redirect_loop_is_bounded() {
    for via in VIAS {
        let server = FaultServer::start(vec![Fault::Redirect {
            status: 307,
            location: "/v1/sys/seal-status".into(),
        }]);
        let err = redirect_error(
            via,
            exec(
                via,
                &server.address(),
                &Settings::default(),
                &ReadSealStatus,
            ),
        );
        assert_eq!(err, RedirectError::TooMany { max: 2 }, "{via:?}");
        assert_eq!(server.requests().len(), 3, "{via:?}");

        let server = FaultServer::start(vec![Fault::Redirect {
            status: 307,
            location: "/v1/sys/seal-status".into(),
        }]);
        let settings = Settings {
            max_redirects: Some(1),
            ..Settings::default()
        };
        let err = redirect_error(
            via,
            exec(via, &server.address(), &settings, &ReadSealStatus),
        );
        assert_eq!(err, RedirectError::TooMany { max: 1 }, "{via:?}");
        assert_eq!(server.requests().len(), 2, "{via:?}");
    }
}

/// A header the caller adds (for a proxy in front of the server).
const PROXY_HEADER: &str = "X-Proxy-Auth";

#[test]
fn redirects_follow_the_host_policy_and_keep_caller_headers_on_their_origin() {
    for via in VIAS {
        // The standby at 127.0.0.1 redirects to the active node, named `localhost` (another
        // host) or at another port of the same host. Asked which node leads (`sys/leader`),
        // it names `leader` (the active node unless another is given).
        let run_naming = |hosts: Option<RedirectHosts>,
                          keep: bool,
                          other_host: bool,
                          leader: Option<&str>| {
            let active = FaultServer::start(vec![Fault::json(200, SEAL_STATUS)]);
            let port = active.local_addr().port();
            let host = if other_host { "localhost" } else { "127.0.0.1" };
            let named = leader.map_or(format!("http://{host}:{port}"), str::to_string);
            let standby = FaultServer::start(vec![
                Fault::Redirect {
                    status: 307,
                    location: format!("http://{host}:{port}/v1/sys/seal-status"),
                },
                Fault::json(
                    200,
                    &format!(
                        r#"{{"ha_enabled":true,"is_self":false,"leader_address":"{named}","leader_cluster_address":""}}"#
                    ),
                ),
            ]);
            let settings = Settings {
                redirect_hosts: hosts,
                keep_custom_headers: keep,
                ..Settings::default()
            };
            let outcome = exec(via, &standby.address(), &settings, &ReadSealStatus);
            let asked = standby.requests();
            assert_eq!(asked[0].header(PROXY_HEADER), Some("proxy-secret"));
            (outcome, active.requests(), asked)
        };
        let run = |hosts: Option<RedirectHosts>, keep: bool, other_host: bool| {
            let (outcome, seen, _) = run_naming(hosts, keep, other_host, None);
            (outcome, seen)
        };
        let host_refused = |outcome: Result<SealStatus, Error>| match redirect_error(via, outcome) {
            RedirectError::HostNotAllowed { host } => host,
            other => panic!("{via:?}: {other:?}"),
        };

        // The cluster (the default): another host only once the standby names it as the
        // leader, asked without the token or the caller's header; then followed with the
        // token, and the caller's header stays behind.
        let (outcome, seen, asked) = run_naming(None, false, true, None);
        assert!(outcome.is_ok(), "{via:?}: {outcome:?}");
        assert_eq!(asked.len(), 2, "{via:?}: {asked:?}");
        assert_eq!(
            (asked[1].method.as_str(), asked[1].path.as_str()),
            ("GET", "/v1/sys/leader")
        );
        assert_eq!(asked[1].header("x-vault-token"), None, "{via:?}");
        assert_eq!(asked[1].header(PROXY_HEADER), None, "{via:?}");
        assert_eq!(seen[0].header("x-vault-token"), Some(TOKEN), "{via:?}");
        assert_eq!(
            seen[0].header(PROXY_HEADER),
            None,
            "{via:?}: dropped across origins"
        );
        // ...unless the caller keeps it.
        let (_, seen) = run(None, true, true);
        assert_eq!(
            seen[0].header(PROXY_HEADER),
            Some("proxy-secret"),
            "{via:?}"
        );
        // A redirect to a host the standby does not name as leader: refused, nothing sent
        // there.
        let (outcome, seen, _) = run_naming(None, false, true, Some("http://vault-9:8200"));
        assert!(host_refused(outcome).starts_with("localhost:"), "{via:?}");
        assert!(seen.is_empty(), "{via:?}");
        // Any host: followed without asking.
        let (outcome, seen, asked) = run_naming(Some(RedirectHosts::Any), false, true, None);
        assert!(outcome.is_ok(), "{via:?}: {outcome:?}");
        assert_eq!((asked.len(), seen.len()), (1, 1), "{via:?}");
        // Same host: another port is fine (and another origin, so the header is dropped),
        // another host is refused before anything is sent there.
        let (outcome, seen) = run(Some(RedirectHosts::SameHost), false, false);
        assert!(outcome.is_ok(), "{via:?}: {outcome:?}");
        assert_eq!(seen[0].header(PROXY_HEADER), None, "{via:?}");
        let (outcome, seen) = run(Some(RedirectHosts::SameHost), false, true);
        assert!(host_refused(outcome).starts_with("localhost:"), "{via:?}");
        assert!(seen.is_empty(), "{via:?}");
        // Listed hosts.
        let listed = RedirectHosts::Listed(vec!["LOCALHOST".into()]);
        let (outcome, _) = run(Some(listed), false, true);
        assert!(outcome.is_ok(), "{via:?}: {outcome:?}");
        let (outcome, seen) = run(
            Some(RedirectHosts::Listed(vec!["vault-2".into()])),
            false,
            true,
        );
        host_refused(outcome);
        assert!(seen.is_empty(), "{via:?}");
        // None at all.
        let (outcome, seen) = run(Some(RedirectHosts::Never), false, false);
        host_refused(outcome);
        assert!(seen.is_empty(), "{via:?}");
    }
}

#[test]
fn method_changing_redirect_is_not_followed_for_put() {
    for via in VIAS {
        let server = FaultServer::start(vec![
            Fault::Redirect {
                status: 302,
                location: "/v1/sys/elsewhere".into(),
            },
            Fault::json(200, SEAL_STATUS),
        ]);
        let err = redirect_error(
            via,
            exec(via, &server.address(), &Settings::default(), &share_op()),
        );
        assert_eq!(
            err,
            RedirectError::MethodChange {
                status: 302,
                method: "PUT".into()
            },
            "{via:?}"
        );
        assert_eq!(server.requests().len(), 1, "{via:?}");

        // The same redirect for a GET is followed.
        let server = FaultServer::start(vec![
            Fault::Redirect {
                status: 302,
                location: "/v1/sys/seal-status".into(),
            },
            Fault::json(200, SEAL_STATUS),
        ]);
        exec(
            via,
            &server.address(),
            &Settings::default(),
            &ReadSealStatus,
        )
        .unwrap_or_else(|e| panic!("{via:?}: {e}"));
        assert_eq!(server.requests().len(), 2, "{via:?}");
    }
}

#[test]
fn stalled_server_times_out() {
    for via in VIAS {
        let server = FaultServer::start(vec![Fault::Stall(Duration::from_secs(20))]);
        let settings = Settings {
            timeout: Some(Duration::from_millis(300)),
            ..Settings::default()
        };
        let started = Instant::now();
        let kind = transport_kind(
            via,
            exec(via, &server.address(), &settings, &ReadSealStatus),
        );
        assert_eq!(kind, TransportErrorKind::Timeout, "{via:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{via:?}: {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn huge_body_is_refused_promptly() {
    for via in VIAS {
        // 100 MiB announced against the default 4 MiB limit.
        let server = FaultServer::start(vec![Fault::Huge {
            status: 200,
            len: 100 * 1024 * 1024,
        }]);
        let started = Instant::now();
        let kind = transport_kind(
            via,
            exec(
                via,
                &server.address(),
                &Settings::default(),
                &ReadSealStatus,
            ),
        );
        assert_eq!(kind, TransportErrorKind::BodyTooLarge, "{via:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{via:?}: {:?}",
            started.elapsed()
        );
    }
}

/// A chunked body (no length announced) of `len` bytes.
fn chunked(len: usize) -> Fault {
    let mut body = Vec::new();
    let chunk = vec![b'x'; 4096];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len());
        body.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        body.extend_from_slice(&chunk[..n]);
        body.extend_from_slice(b"\r\n");
        left -= n;
    }
    body.extend_from_slice(b"0\r\n\r\n");
    Fault::Respond {
        status: 200,
        headers: vec![("Transfer-Encoding".into(), "chunked".into())],
        body,
    }
}

#[test]
fn streamed_body_past_the_limit_is_refused() {
    for via in VIAS {
        let server = FaultServer::start(vec![chunked(256 * 1024)]);
        let settings = Settings {
            max_response_bytes: Some(16 * 1024),
            ..Settings::default()
        };
        let kind = transport_kind(
            via,
            exec(via, &server.address(), &settings, &ReadSealStatus),
        );
        assert_eq!(kind, TransportErrorKind::BodyTooLarge, "{via:?}");

        // Just under the limit is read whole (and then fails to decode: it is not JSON).
        let server = FaultServer::start(vec![chunked(16 * 1024)]);
        match exec(via, &server.address(), &settings, &ReadSealStatus) {
            Err(ExecuteError::Core(CoreError::Decode(e))) => assert_eq!(e.body.len(), 16 * 1024),
            other => panic!("{via:?}: {other:?}"),
        }
    }
}

#[test]
fn what_arrived_of_a_cut_answer_is_kept() {
    let body = br#"{"nonce":"n-1","complete":true,"keys":["4738112d","204ebce3"],"keys_bas"#;
    let faults = [
        Fault::Truncate {
            status: 200,
            declared_len: 400,
            body: body.to_vec(),
        },
        // Cut by the client's own timeout, after part of the body arrived.
        Fault::TruncateThenStall {
            status: 200,
            declared_len: 400,
            body: body.to_vec(),
            stall: Duration::from_secs(5),
        },
    ];
    let settings = Settings {
        timeout: Some(Duration::from_millis(700)),
        ..Settings::default()
    };
    for via in VIAS {
        for (fault, kind) in faults
            .iter()
            .zip([TransportErrorKind::Protocol, TransportErrorKind::Timeout])
        {
            let server = FaultServer::start(vec![fault.clone()]);
            let result = exec(
                via,
                &server.address(),
                &settings,
                &ReadRekeyProgress::new().kind(KeyKind::Unseal),
            );
            let Err(ExecuteError::Transport(error)) = result else {
                panic!("{via:?} {fault:?}: expected a transport error, got {result:?}");
            };
            assert_eq!(error.kind(), kind, "{via:?} {fault:?}");
            let partial = error
                .partial_response()
                .unwrap_or_else(|| panic!("{via:?} {fault:?}: {error}"));
            assert_eq!(partial.status(), 200);
            assert_eq!(
                partial.body().expose(),
                body,
                "{via:?} {fault:?}: every byte that arrived"
            );
            assert!(
                !format!("{error} {error:?}").contains("4738112d"),
                "{via:?}: {error}"
            );
            assert_eq!(
                RekeyResult::salvage(partial.body().expose()).map(|r| r.keys.len()),
                Some(2),
                "{via:?}"
            );
        }
        // Nothing of an answer arrived: nothing is kept, and nothing claims otherwise.
        let server = FaultServer::start(vec![Fault::Close]);
        let result = exec(
            via,
            &server.address(),
            &Settings::default(),
            &ReadSealStatus,
        );
        let Err(ExecuteError::Transport(error)) = result else {
            panic!("{via:?}: expected a transport error");
        };
        assert!(error.partial_response().is_none(), "{via:?}");
    }
}

#[test]
fn truncated_garbled_and_closed_answers_are_errors() {
    let faults = [
        Fault::Truncate {
            status: 200,
            declared_len: 400,
            body: br#"{"type":"shamir","initialized":tr"#.to_vec(),
        },
        Fault::Garbage(b"this is not HTTP at all\r\n\r\n".to_vec()),
        Fault::Garbage(vec![0xff; 2048]),
        Fault::Garbage(b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n{}".to_vec()),
        Fault::Close,
    ];
    for via in VIAS {
        for fault in &faults {
            let server = FaultServer::start(vec![fault.clone()]);
            let kind = transport_kind(
                via,
                exec(
                    via,
                    &server.address(),
                    &Settings::default(),
                    &ReadSealStatus,
                ),
            );
            assert_eq!(kind, TransportErrorKind::Protocol, "{via:?} {fault:?}");
            // A new connection that fails is a failing server: the GET is not sent again.
            assert_eq!(server.requests().len(), 1, "{via:?} {fault:?}");
        }
        // Well-formed HTTP carrying a body that is not what was asked for: a decode error
        // that keeps the body.
        let server = FaultServer::start(vec![Fault::json(200, r#"{"sealed":"maybe"}"#)]);
        match exec(
            via,
            &server.address(),
            &Settings::default(),
            &ReadSealStatus,
        ) {
            Err(ExecuteError::Core(CoreError::Decode(e))) => {
                assert_eq!(e.body.expose(), br#"{"sealed":"maybe"}"#)
            }
            other => panic!("{via:?}: {other:?}"),
        }
    }
}

#[test]
fn refused_connection_is_a_connect_error() {
    let address = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    for via in VIAS {
        let kind = transport_kind(
            via,
            exec(via, &address, &Settings::default(), &ReadSealStatus),
        );
        assert_eq!(kind, TransportErrorKind::Connect, "{via:?}");
    }
}

/// A tiny HTTP/1.1 server that keeps connections open and counts them.
struct KeepAliveServer {
    address: String,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    /// For each request served, in order, the number of the connection it came on.
    served_on: Arc<Mutex<Vec<usize>>>,
    /// Connections the client closed.
    closed: Arc<AtomicUsize>,
}

impl KeepAliveServer {
    fn start() -> Self {
        Self::holding(0)
    }

    /// A server that answers none of the first `held` requests until all of them arrived, so
    /// that a client sending `held` at once needs as many connections.
    fn holding(held: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let served_on = Arc::new(Mutex::new(Vec::new()));
        let closed = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(Barrier::new(held.max(1)));
        let (c, r, on, x) = (
            connections.clone(),
            requests.clone(),
            served_on.clone(),
            closed.clone(),
        );
        thread::spawn(move || {
            for stream in listener.incoming().take(64) {
                let Ok(stream) = stream else { continue };
                let number = c.fetch_add(1, Ordering::SeqCst);
                let (r, on, gate, x) = (r.clone(), on.clone(), gate.clone(), x.clone());
                thread::spawn(move || {
                    serve_keep_alive(
                        stream,
                        |request| {
                            if request < held {
                                gate.wait();
                            }
                            on.lock().unwrap().push(number);
                        },
                        &r,
                    );
                    x.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        Self {
            address,
            connections,
            requests,
            served_on,
            closed,
        }
    }
}

/// Answers every request on `stream` with a seal status, until the client closes it (or stays
/// silent for 10 s); `arrived` is told the number of each request (counted over all
/// connections) before its answer goes out.
fn serve_keep_alive(stream: TcpStream, arrived: impl Fn(usize), requests: &AtomicUsize) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        arrived(requests.fetch_add(1, Ordering::SeqCst));
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{SEAL_STATUS}",
            SEAL_STATUS.len()
        );
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

#[test]
fn connections_are_reused() {
    let server = KeepAliveServer::start();
    let client = vault_key_ureq::Client::new(&server.address).unwrap();
    for _ in 0..5 {
        client.read_seal_status().unwrap();
    }
    let shared = client.clone();
    thread::spawn(move || shared.read_seal_status().unwrap())
        .join()
        .unwrap();
    assert_eq!(server.requests.load(Ordering::SeqCst), 6);
    assert_eq!(server.connections.load(Ordering::SeqCst), 1, "ureq");

    let server = KeepAliveServer::start();
    runtime().block_on(async {
        let client = vault_key_hyper::Client::new(&server.address).unwrap();
        for _ in 0..5 {
            client.read_seal_status().await.unwrap();
            // hyper hands a connection back to its pool from the connection's own task, just
            // after the answer is read: give it that moment.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let shared = client.clone();
        tokio::spawn(async move { shared.read_seal_status().await.unwrap() })
            .await
            .unwrap();
    });
    assert_eq!(server.requests.load(Ordering::SeqCst), 6);
    assert!(server.connections.load(Ordering::SeqCst) <= 2, "hyper");
}

/// After requests in flight at once left several connections idle, one request after another
/// goes out on the connection used last, not on each idle one in turn (a server answers slower
/// on a connection that has been idle).
#[test]
fn the_connection_used_last_goes_out_first() {
    const AT_ONCE: usize = 3;
    const AFTER: usize = 6;
    let check = |via: Via, server: &KeepAliveServer| {
        assert_eq!(
            server.connections.load(Ordering::SeqCst),
            AT_ONCE,
            "{via:?}: one connection per request in flight, then none"
        );
        let served_on = server.served_on.lock().unwrap();
        let sequential = &served_on[AT_ONCE..];
        assert_eq!(sequential.len(), AFTER, "{via:?}");
        assert!(
            sequential.iter().all(|&c| c == sequential[0]),
            "{via:?}: one request after another went out on connections {sequential:?}"
        );
    };

    let server = KeepAliveServer::holding(AT_ONCE);
    let client = vault_key_ureq::Client::new(&server.address).unwrap();
    thread::scope(|scope| {
        for _ in 0..AT_ONCE {
            scope.spawn(|| client.read_seal_status().unwrap());
        }
    });
    for _ in 0..AFTER {
        client.read_seal_status().unwrap();
    }
    check(Via::Ureq, &server);

    let server = KeepAliveServer::holding(AT_ONCE);
    runtime().block_on(async {
        let client = vault_key_hyper::Client::new(&server.address).unwrap();
        let tasks: Vec<_> = (0..AT_ONCE)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move { client.read_seal_status().await.unwrap() })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        for _ in 0..AFTER {
            // As in `connections_are_reused`: hyper's connection task hands it back.
            tokio::time::sleep(Duration::from_millis(50)).await;
            client.read_seal_status().await.unwrap();
        }
    });
    check(Via::Hyper, &server);
}

/// vault-key-ureq keeps at most 32 idle connections: of 40 left by requests in flight at once,
/// it closes the 8 that waited longest.
#[test]
fn the_ureq_pool_keeps_at_most_32_idle_connections() {
    const AT_ONCE: usize = 40;
    let server = KeepAliveServer::holding(AT_ONCE);
    let client = vault_key_ureq::Client::new(&server.address).unwrap();
    thread::scope(|scope| {
        for _ in 0..AT_ONCE {
            scope.spawn(|| client.read_seal_status().unwrap());
        }
    });
    assert_eq!(server.connections.load(Ordering::SeqCst), AT_ONCE);
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.closed.load(Ordering::SeqCst) < AT_ONCE - 32 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    // A moment more, for a close too many to show.
    thread::sleep(Duration::from_millis(100));
    assert_eq!(server.closed.load(Ordering::SeqCst), AT_ONCE - 32);
    // The 32 kept serve what comes next without a new connection.
    thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| client.read_seal_status().unwrap());
        }
    });
    assert_eq!(server.connections.load(Ordering::SeqCst), AT_ONCE);
}

#[test]
fn hyper_client_serves_many_tasks_at_once() {
    let server = KeepAliveServer::start();
    let statuses = runtime().block_on(async {
        let client = vault_key_hyper::Client::new(&server.address).unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move { client.read_seal_status().await })
            })
            .collect();
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await.unwrap().unwrap());
        }
        statuses
    });
    assert_eq!(statuses.len(), 16);
    assert_eq!(server.requests.load(Ordering::SeqCst), 16);
    assert!(server.connections.load(Ordering::SeqCst) <= 16);
}

#[test]
fn ureq_client_serves_many_threads_at_once() {
    let server = KeepAliveServer::start();
    let client = vault_key_ureq::Client::new(&server.address).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            thread::spawn(move || client.read_seal_status())
        })
        .collect();
    for thread in threads {
        thread.join().unwrap().unwrap();
    }
    assert_eq!(server.requests.load(Ordering::SeqCst), 8);
}

#[test]
fn rekey_multi_stops_at_completion() {
    let complete = r#"{"nonce":"n-1","complete":true,"keys":["k1","k2","k3"],"keys_base64":["a1","a2","a3"],"pgp_fingerprints":null,"backup":false,"verification_required":false}"#;
    for via in VIAS {
        let server = FaultServer::start(vec![
            Fault::json(200, REKEY_PROGRESS),
            Fault::json(200, complete),
            Fault::json(400, r#"{"errors":["no rekey in progress"]}"#),
        ]);
        let shares = || ["s1", "s2", "s3", "s4"].map(KeyShare::new);
        let update = match via {
            Via::Ureq => vault_key_ureq::Client::new(&server.address())
                .unwrap()
                .rekey_multi(shares(), "n-1", KeyKind::Unseal),
            Via::Hyper => runtime().block_on(async {
                vault_key_hyper::Client::new(&server.address())
                    .unwrap()
                    .rekey_multi(shares(), "n-1", KeyKind::Unseal)
                    .await
            }),
        };
        match update {
            Ok(RekeyUpdate::Complete(result)) => assert_eq!(result.keys.len(), 3),
            other => panic!("{via:?}: {other:?}"),
        }
        let sent: Vec<_> = server
            .requests()
            .iter()
            .map(|r| r.json().unwrap()["key"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(sent, ["s1", "s2"], "{via:?}");
    }
}

/// One client of either transport, kept across calls so that its pool hands the second call
/// the connection the first one used. The hyper client runs on the shared multi-threaded
/// runtime, which keeps serving its connections between calls.
enum Pooled {
    Ureq(vault_key_ureq::Client),
    Hyper(vault_key_hyper::Client),
}

impl Pooled {
    fn new(via: Via, address: &str) -> Self {
        match via {
            Via::Ureq => Pooled::Ureq(vault_key_ureq::Client::new(address).unwrap()),
            Via::Hyper => {
                let _inside = runtime().enter();
                Pooled::Hyper(vault_key_hyper::Client::new(address).unwrap())
            }
        }
    }

    fn run<O>(&self, operation: &O) -> Result<O::Output, Error>
    where
        O: Operation + Sync,
        O::Output: Send,
    {
        match self {
            Pooled::Ureq(client) => client.execute(operation),
            Pooled::Hyper(client) => runtime().block_on(client.execute(operation)),
        }
    }

    /// Sends a first request and waits until its connection is back in the pool (hyper
    /// returns it from the connection's own task, just after the answer is read).
    fn warm_up(&self, via: Via) {
        self.run(&ReadSealStatus)
            .unwrap_or_else(|e| panic!("{via:?}: {e}"));
        thread::sleep(Duration::from_millis(100));
    }
}

/// A first answer that keeps its connection open, then `second` as the answer to the next
/// request (which arrives on that connection), then normal answers on new connections.
fn reused_then(second: Fault) -> FaultServer {
    FaultServer::start(vec![
        Fault::keep_alive_json(200, SEAL_STATUS),
        second,
        Fault::json(200, SEAL_STATUS),
    ])
}

#[test]
fn get_on_a_pooled_connection_closed_by_the_server_is_retried_once() {
    for via in VIAS {
        let server = reused_then(Fault::Close);
        let client = Pooled::new(via, &server.address());
        client.warm_up(via);
        let status = client
            .run(&ReadSealStatus)
            .unwrap_or_else(|e| panic!("{via:?}: {e}"));
        assert!(!status.sealed, "{via:?}");
        let requests: Vec<_> = server
            .requests()
            .into_iter()
            .map(|r| (r.method, r.path))
            .collect();
        let get = ("GET".to_string(), "/v1/sys/seal-status".to_string());
        assert_eq!(requests, [get.clone(), get.clone(), get], "{via:?}");
        // The retry went out on a new connection.
        assert_eq!(server.connection_count(), 2, "{via:?}");
    }
}

#[test]
fn put_and_delete_on_a_pooled_connection_closed_by_the_server_are_not_retried() {
    for via in VIAS {
        let server = reused_then(Fault::Close);
        let client = Pooled::new(via, &server.address());
        client.warm_up(via);
        let kind = transport_kind(via, client.run(&share_op()));
        assert_eq!(kind, TransportErrorKind::Protocol, "{via:?}");
        let sent: Vec<_> = server.requests().into_iter().map(|r| r.method).collect();
        assert_eq!(sent, ["GET", "PUT"], "{via:?}: the share went out once");
        assert_eq!(server.connection_count(), 1, "{via:?}");

        let server = reused_then(Fault::Close);
        let client = Pooled::new(via, &server.address());
        client.warm_up(via);
        let kind = transport_kind(
            via,
            client.run(&CancelRekeyVerify::new().kind(KeyKind::Unseal)),
        );
        assert_eq!(kind, TransportErrorKind::Protocol, "{via:?}");
        let sent: Vec<_> = server
            .requests()
            .into_iter()
            .map(|r| (r.method, r.path))
            .collect();
        assert_eq!(sent.len(), 2, "{via:?}: {sent:?}");
        assert_eq!(
            sent[1],
            ("DELETE".to_string(), "/v1/sys/rekey/verify".to_string()),
            "{via:?}: verification restarted once at most"
        );
        assert_eq!(server.connection_count(), 1, "{via:?}");
    }
}

#[test]
fn get_cut_off_mid_answer_on_a_pooled_connection_is_not_retried() {
    let partial_answers = [
        Fault::Garbage(b"HTTP/1.1 200 OK\r\nContent-Ty".to_vec()),
        Fault::Truncate {
            status: 200,
            declared_len: 400,
            body: br#"{"type":"shamir","#.to_vec(),
        },
    ];
    for via in VIAS {
        for fault in &partial_answers {
            let server = reused_then(fault.clone());
            let client = Pooled::new(via, &server.address());
            client.warm_up(via);
            let kind = transport_kind(via, client.run(&ReadSealStatus));
            assert_eq!(kind, TransportErrorKind::Protocol, "{via:?} {fault:?}");
            assert_eq!(server.requests().len(), 2, "{via:?} {fault:?}");
            assert_eq!(server.connection_count(), 1, "{via:?} {fault:?}");
        }
    }
}

/// Sends a first request, lets the server close the kept-alive connection as a restart would,
/// then sends `second`. The hyper client runs on a runtime of its own, driven only during
/// each call (as tests/src/clients.rs does), so the closed connection stays in its pool
/// unnoticed until the next call.
fn after_restart<O>(via: Via, server: &FaultServer, second: &O) -> Result<O::Output, Error>
where
    O: Operation + Sync,
    O::Output: Send,
{
    match via {
        Via::Ureq => {
            let client = vault_key_ureq::Client::new(&server.address()).unwrap();
            client.read_seal_status().unwrap();
            server.close_open_connections();
            thread::sleep(Duration::from_millis(100));
            client.execute(second)
        }
        Via::Hyper => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let client = runtime.block_on(async {
                let client = vault_key_hyper::Client::new(&server.address()).unwrap();
                client.read_seal_status().await.unwrap();
                // The connection goes back to the pool from its own task.
                tokio::time::sleep(Duration::from_millis(50)).await;
                client
            });
            server.close_open_connections();
            thread::sleep(Duration::from_millis(100));
            runtime.block_on(client.execute(second))
        }
    }
}

#[test]
fn get_after_a_server_restart_reaches_the_new_server() {
    for via in VIAS {
        let server = FaultServer::start(vec![
            Fault::keep_alive_json(200, SEAL_STATUS),
            Fault::json(200, SEAL_STATUS),
        ]);
        let status =
            after_restart(via, &server, &ReadSealStatus).unwrap_or_else(|e| panic!("{via:?}: {e}"));
        assert!(!status.sealed, "{via:?}");
        assert_eq!(server.connection_count(), 2, "{via:?}");
    }
}

#[test]
fn put_after_a_server_restart_is_sent_at_most_once() {
    for via in VIAS {
        let server = FaultServer::start(vec![
            Fault::keep_alive_json(200, SEAL_STATUS),
            Fault::json(200, REKEY_PROGRESS),
        ]);
        let result = after_restart(via, &server, &share_op());
        let puts = server
            .requests()
            .iter()
            .filter(|r| r.method == "PUT")
            .count();
        match result {
            // The closed connection was noticed before the share was written (ureq probes
            // pooled connections; hyper's pool drops those its runtime has seen closed), so
            // the share went out once, on a new connection.
            Ok(update) => {
                assert!(matches!(update, RekeyUpdate::Progress(_)), "{via:?}");
                assert_eq!(puts, 1, "{via:?}");
                assert_eq!(server.connection_count(), 2, "{via:?}");
            }
            // Written on the closed connection: lost, and not sent again. Never with ureq,
            // whose pooled connection is checked on its way out of the pool.
            Err(error) => {
                assert_ne!(
                    via,
                    Via::Ureq,
                    "the ureq client sent on a closed connection"
                );
                assert_eq!(
                    transport_kind(via, Err::<(), _>(error)),
                    TransportErrorKind::Protocol,
                    "{via:?}"
                );
                assert_eq!(puts, 0, "{via:?}");
            }
        }
    }
}
