//! Checks of the test harness itself: real servers come up in the promised state and vanish without trace, and the
//! fault server misbehaves exactly as scripted.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use vault_key_tests::faults::{Fault, FaultServer};
use vault_key_tests::server::{Mode, Server};

fn health(server: &Server) -> u16 {
    server
        .call("GET", "/v1/sys/health", None, None)
        .expect("sys/health")
        .status
}

#[test]
fn default_server_is_active_and_vanishes_on_drop() {
    let server = Server::start().expect("start default OpenBao server");
    assert!(server.address().starts_with("http://127.0.0.1:"));
    assert_eq!(health(&server), 200);
    assert_eq!((server.shares(), server.threshold()), (5, 3));
    assert_eq!(server.keys().len(), 5);
    assert_eq!(server.keys_base64().len(), 5);
    assert!(server.keys().iter().all(|k| k.len() == 66));
    assert!(server.root_token().starts_with("s."));
    assert_eq!(server.mode(), Mode::Normal);

    let status = server
        .call("GET", "/v1/sys/key-status", Some(server.root_token()), None)
        .expect("sys/key-status");
    assert_eq!(status.status, 200, "{}", status.body);
    assert!(status.json().expect("json")["data"]["term"].as_u64() >= Some(1));

    // OpenBao's default listener disables the legacy unauthenticated endpoints.
    let legacy = server
        .call("GET", "/v1/sys/generate-root/attempt", None, None)
        .expect("generate-root/attempt");
    assert_eq!(legacy.status, 405, "{}", legacy.body);

    let pid = server.pid().expect("running server has a pid");
    let port = server.port();
    let temp_dir = server.temp_dir().to_path_buf();
    let data_dir = server.data_dir().to_path_buf();
    assert!(data_dir.is_dir() && data_dir.starts_with(&temp_dir));
    assert!(server.log_tail(100).contains("server started"));

    drop(server);
    assert!(!data_dir.exists(), "data dir left behind");
    assert!(!temp_dir.exists(), "temp dir left behind");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "server process {pid} still exists"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still answers"
    );
}

#[test]
fn tls_server_answers_over_https_trusting_only_its_ca() {
    let server = Server::builder()
        .tls(true)
        .start()
        .expect("start TLS OpenBao server");
    assert!(server.address().starts_with("https://127.0.0.1:"));
    let ca_pem = server.ca_pem().expect("TLS server has a CA");
    assert!(ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let ca_file =
        std::fs::read_to_string(server.ca_path().expect("CA path")).expect("read CA file");
    assert_eq!(ca_file, ca_pem);

    let url = format!("{}/v1/sys/health", server.address());
    let ca = ureq::tls::Certificate::from_pem(ca_pem.as_bytes()).expect("CA PEM");
    let trusting: ureq::Agent = ureq::Agent::config_builder()
        .proxy(None)
        .http_status_as_error(false)
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![ca])))
                .build(),
        )
        .build()
        .into();
    let response = trusting
        .get(&url)
        .call()
        .expect("https with the generated CA");
    assert_eq!(response.status().as_u16(), 200);

    // Public roots do not know the generated CA, so the handshake must fail.
    let public: ureq::Agent = ureq::Agent::config_builder()
        .proxy(None)
        .http_status_as_error(false)
        .build()
        .into();
    assert!(
        public.get(&url).call().is_err(),
        "untrusted certificate was accepted"
    );
}

#[test]
fn legacy_endpoints_can_be_enabled() {
    let server = Server::builder()
        .legacy_endpoints(true)
        .start()
        .expect("start legacy-enabled OpenBao server");
    assert!(server.legacy_endpoints());
    let reply = server
        .call("GET", "/v1/sys/generate-root/attempt", None, None)
        .expect("generate-root/attempt");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json().expect("json")["started"], json!(false));
}

#[test]
fn uninitialised_start_seal_restart_and_recovery_mode() {
    let server = Server::builder()
        .shares(3, 2)
        .init(false)
        .start()
        .expect("start uninitialised OpenBao server");
    assert!(server.init_data().is_none());
    assert_eq!(health(&server), 501);

    let init = server.init().expect("init").clone();
    assert_eq!((init.keys.len(), init.keys_base64.len()), (3, 3));
    assert_eq!(health(&server), 503, "init leaves the server sealed");
    server
        .unseal_with(&init.keys[..2])
        .expect("unseal with two shares");
    assert_eq!(health(&server), 200);

    server.seal().expect("seal");
    assert_eq!(health(&server), 503);
    server.unseal().expect("unseal with the initial shares");
    assert_eq!(health(&server), 200);

    let pid = server.pid();
    server.restart().expect("restart");
    assert_eq!(
        server.address(),
        format!("http://127.0.0.1:{}", server.port())
    );
    assert_ne!(server.pid(), pid);
    assert_eq!(health(&server), 503, "a restarted server is sealed");
    let error = server
        .unseal_with(&init.keys_base64[..1])
        .expect_err("one share is below the threshold");
    assert!(error.message().contains("still sealed"), "{error}");
    server
        .unseal_with(&init.keys_base64[1..2])
        .expect("second share completes the unseal");
    assert_eq!(health(&server), 200);

    server.restart_in_recovery_mode().expect("recovery mode");
    assert_eq!(server.mode(), Mode::Recovery);
    let attempt = server
        .call("GET", "/v1/sys/generate-recovery-token/attempt", None, None)
        .expect("generate-recovery-token/attempt");
    assert_eq!(attempt.status, 200, "{}", attempt.body);
    assert_eq!(attempt.json().expect("json")["required"], json!(2));
    let health_reply = server
        .call("GET", "/v1/sys/health", None, None)
        .expect("sys/health in recovery mode");
    assert_eq!(health_reply.status, 404);
    assert!(health_reply
        .content_type
        .as_deref()
        .is_some_and(|ct| ct.starts_with("text/plain")));

    server.restart().expect("restart normally");
    assert_eq!(server.mode(), Mode::Normal);
    assert_eq!(health(&server), 503);
    server.unseal().expect("unseal after recovery mode");
    assert_eq!(health(&server), 200);
}

/// Ports another program took while the server was down: the server comes back on fresh ones, in either mode, with
/// its data, and the address follows.
#[test]
fn restart_moves_to_fresh_ports_when_its_own_were_taken() {
    let server = Server::builder()
        .shares(1, 1)
        .start()
        .expect("start OpenBao server");
    let (api, cluster) = (server.port(), server.cluster_port());
    assert_ne!(api, cluster);
    server.stop().expect("stop");
    assert_eq!(server.mode(), Mode::Stopped);
    // Bound the way OpenBao binds (SO_REUSEADDR), which succeeds even while old connections linger in TIME_WAIT.
    let api_thief = TcpListener::bind(("127.0.0.1", api)).expect("take the API port");
    let cluster_thief = TcpListener::bind(("127.0.0.1", cluster)).expect("take the cluster port");

    server
        .restart_in_recovery_mode()
        .expect("recovery mode on fresh ports");
    assert_eq!(server.mode(), Mode::Recovery);
    assert!(
        server.port() != api && server.cluster_port() != cluster,
        "{api}/{cluster} are taken"
    );
    assert_eq!(
        server.address(),
        format!("http://127.0.0.1:{}", server.port())
    );
    let attempt = server
        .call("GET", "/v1/sys/generate-recovery-token/attempt", None, None)
        .expect("generate-recovery-token/attempt on the new port");
    assert_eq!(attempt.status, 200, "{}", attempt.body);

    server.restart().expect("restart normally");
    assert_eq!(server.mode(), Mode::Normal);
    assert_eq!(health(&server), 503, "the same data, sealed");
    server.unseal().expect("the initial share still unseals");
    assert_eq!(health(&server), 200);
    drop((api_thief, cluster_thief));
}

// ---------------------------------------------------------------------------------------------------------------------
// Fault server
// ---------------------------------------------------------------------------------------------------------------------

/// Sends `request` and reads until the server closes (or 5 s pass), returning the bytes and the time it took.
fn exchange(server: &FaultServer, request: &[u8]) -> (Vec<u8>, Duration) {
    let mut stream = TcpStream::connect(server.local_addr()).expect("connect to fault server");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let started = Instant::now();
    stream.write_all(request).expect("send request");
    let mut received = Vec::new();
    stream.read_to_end(&mut received).expect("read answer");
    (received, started.elapsed())
}

const GET: &[u8] = b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn fault_respond_records_the_request() {
    let server = FaultServer::start(vec![Fault::json(200, r#"{"ok":true}"#)]);
    assert!(server.address().starts_with("http://127.0.0.1:"));
    let body = r#"{"key":"abcd"}"#;
    let request = format!(
        "PUT /v1/sys/unseal HTTP/1.1\r\nHost: x\r\nX-Vault-Token: t0k\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (answer, _) = exchange(&server, request.as_bytes());
    let answer = text(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("Content-Length: 11\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\n{\"ok\":true}"), "{answer}");

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let recorded = &requests[0];
    assert_eq!(recorded.method, "PUT");
    assert_eq!(recorded.path, "/v1/sys/unseal");
    assert_eq!(recorded.version, "HTTP/1.1");
    assert_eq!(recorded.header("x-vault-token"), Some("t0k"));
    assert_eq!(recorded.body_text(), body);
    assert_eq!(recorded.json(), Some(json!({"key": "abcd"})));
}

#[test]
fn fault_chunked_request_body_is_decoded() {
    let server = FaultServer::start(vec![Fault::empty(204)]);
    let request = b"POST /v1/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
    let (answer, _) = exchange(&server, request);
    assert!(text(&answer).starts_with("HTTP/1.1 204 No Content\r\n"));
    assert_eq!(server.requests()[0].body_text(), r#"{"a":1}"#);
}

#[test]
fn fault_truncate_declares_more_than_it_sends() {
    let server = FaultServer::start(vec![Fault::Truncate {
        status: 200,
        declared_len: 100,
        body: b"{\"keys\":[".to_vec(),
    }]);
    let (answer, _) = exchange(&server, GET);
    let answer = text(&answer);
    assert!(answer.contains("Content-Length: 100\r\n"), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).expect("body");
    assert_eq!(body, "{\"keys\":[");
}

#[test]
fn fault_garbage_is_sent_raw() {
    let garbage = b"\x00\xffSSH-2.0-nonsense\r\n".to_vec();
    let server = FaultServer::start(vec![Fault::Garbage(garbage.clone())]);
    let (answer, _) = exchange(&server, GET);
    assert_eq!(answer, garbage);
}

#[test]
fn fault_stall_sends_nothing_then_closes() {
    let server = FaultServer::start(vec![Fault::Stall(Duration::from_millis(300))]);
    let (answer, elapsed) = exchange(&server, GET);
    assert!(answer.is_empty());
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert_eq!(
        server.requests().len(),
        1,
        "the stalled request is still recorded"
    );
}

#[test]
fn fault_redirect_carries_location() {
    let server = FaultServer::start(vec![Fault::Redirect {
        status: 307,
        location: "http://127.0.0.1:9/v1/sys/health".to_string(),
    }]);
    let (answer, _) = exchange(&server, GET);
    let answer = text(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 307 Temporary Redirect\r\n"),
        "{answer}"
    );
    assert!(answer.contains("Location: http://127.0.0.1:9/v1/sys/health\r\n"));
    assert!(answer.contains("Content-Length: 0\r\n"));
}

#[test]
fn fault_huge_streams_the_declared_length() {
    let len = 3 * 1024 * 1024 + 17;
    let server = FaultServer::start(vec![Fault::Huge { status: 200, len }]);
    let (answer, _) = exchange(&server, GET);
    let head_end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head")
        + 4;
    assert!(text(&answer[..head_end]).contains(&format!("Content-Length: {len}\r\n")));
    assert_eq!((answer.len() - head_end) as u64, len);
}

#[test]
fn fault_huge_stops_when_the_client_hangs_up() {
    let server = FaultServer::start(vec![Fault::Huge {
        status: 200,
        len: 100 * 1024 * 1024 * 1024,
    }]);
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(GET).unwrap();
    let mut buf = vec![0u8; 1024 * 1024];
    stream.read_exact(&mut buf).expect("first MiB");
    assert!(text(&buf).contains("Content-Length: 107374182400\r\n"));
    drop(stream);
    // Dropping joins the streaming thread; it must notice the hang-up instead of sending 100 GiB.
    let started = Instant::now();
    drop(server);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn fault_close_answers_nothing_and_the_last_fault_repeats() {
    let server = FaultServer::start(vec![Fault::json(200, "{}"), Fault::Close]);
    let (first, _) = exchange(&server, GET);
    assert!(text(&first).starts_with("HTTP/1.1 200 OK\r\n"));
    for _ in 0..2 {
        let (answer, _) = exchange(&server, GET);
        assert!(answer.is_empty(), "{}", text(&answer));
    }
    assert_eq!(server.requests().len(), 3);
    assert_eq!(server.connection_count(), 3);
}

#[test]
fn fault_server_stops_listening_when_dropped() {
    let server = FaultServer::start(vec![Fault::Stall(Duration::from_secs(60))]);
    let addr = server.local_addr();
    // A connection stuck in a long stall must not delay the shutdown.
    let mut stalled = TcpStream::connect(addr).unwrap();
    stalled.write_all(GET).unwrap();
    while server.requests().is_empty() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    drop(server);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        TcpStream::connect(addr).is_err(),
        "still listening after drop"
    );
}

#[test]
fn harness_types_can_be_shared_between_test_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Server>();
    assert_send_sync::<FaultServer>();
    assert_send_sync::<vault_key_tests::server::HarnessError>();
}
