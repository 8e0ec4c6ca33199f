//! The page of `examples/web-ceremony` in a real headless Chromium, against a real OpenBao that
//! allows the page's origin (`sys/config/cors`): typed into and clicked as an operator would,
//! with only what the page shows read back.
//!
//! On each dialect's paths (OpenBao's own on a default listener, Vault's on a listener with the
//! legacy endpoints on): a refusal shown as a sentence (the other dialect's paths, a share that
//! is not one), a rekey with verification to new shares, which then unseal the server while the
//! old ones no longer do, and a root-token generation with an OTP drawn in the browser, where a
//! wrong share is refused as a sentence and the count starts again, and whose token, decoded in
//! the page, has the root policy. And ceremonies started by another client, joined from the
//! page: a rekey restarted meanwhile (the page's share refused, counted nowhere) and a
//! generation whose OTP the other operator hands over.
//!
//! And what the page defends against a hostile network, proxy or server: its secret fields kept
//! from password managers, its connections held to the chosen server by its
//! Content-Security-Policy, a redirect from a node followed nowhere, and a token that arrived
//! in an answer that then broke off shown and kept.

use serde_json::json;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;
use vault_key_core::ops::generate_root::StartRootTokenGeneration;
use vault_key_core::ops::rekey::KeyKind;
use vault_key_core::ops::rekey::StartRekey;
use vault_key_core::Dialect;
use vault_key_tests::browser::{page, Browser, StaticSite};
use vault_key_tests::clients::{ClientFactory, Transport};
use vault_key_tests::server::Server;
use vault_key_tests::support::{assert_root_token, reseal_with_new_shares, shares, start};

fn allow_origin(server: &Server, origin: &str) {
    let reply = server
        .call(
            "PUT",
            "/v1/sys/config/cors",
            Some(server.root_token()),
            Some(&json!({"allowed_origins": [origin], "allowed_headers": ["X-Vault-Request"]})),
        )
        .expect("sys/config/cors");
    assert!(reply.status < 300, "sys/config/cors: {}", reply.status);
}

struct Fixture {
    browser: Browser,
    site: StaticSite,
}

fn fixture() -> Fixture {
    let dir = page().expect("the page must build (examples/web-ceremony/build)");
    let site = StaticSite::serve(&dir).expect("serve the page");
    let browser = Browser::start().expect("a headless Chromium is needed for this test");
    Fixture { browser, site }
}

fn expect_contains(browser: &Browser, css: &str, wanted: &str) -> String {
    let text = browser.text(css).expect(css);
    assert!(
        text.contains(wanted),
        "{css} says {text:?}, not {wanted:?}; console: {}",
        browser.console().unwrap_or_default()
    );
    text
}

/// Sends `share` through the share field `field` and its button.
fn give(browser: &Browser, field: &str, button: &str, share: &str) {
    browser.type_into(field, share).expect(field);
    browser.step(button).expect(button);
    assert_eq!(
        browser.property(field, "value").expect("value"),
        json!(""),
        "the share field is emptied at once"
    );
}

fn ceremonies(fixture: &Fixture, server: &Server, paths: &str, dialect: Dialect) {
    let browser = &fixture.browser;
    allow_origin(server, &fixture.site.origin());
    browser.open(&fixture.site.origin()).expect("open the page");
    assert_eq!(
        browser
            .attribute("#rekey-share", "type")
            .unwrap()
            .as_deref(),
        Some("password"),
        "share inputs are masked"
    );
    browser.type_into("#address", &server.address()).unwrap();
    browser.type_into("#token", server.root_token()).unwrap();
    let check_status = || {
        expect_contains(browser, "#server-status", "OpenBao 2.");
        expect_contains(
            browser,
            "#server-status",
            "unsealed; 3 of 5 shares unseal it",
        );
    };
    if dialect == Dialect::OpenBao {
        // A refusal: the Vault paths, which a default OpenBao listener does not serve.
        browser.choose("#dialect", "vault").unwrap();
        browser.step("#root-start").unwrap();
        expect_contains(browser, "#message", "does not serve the Vault paths");
        assert_eq!(
            browser.attribute("#message", "class").unwrap().as_deref(),
            Some("refusal")
        );
        expect_contains(browser, "#root-progress", "No generation started.");
    } else {
        browser.step("#check").unwrap();
        check_status();
    }
    browser.choose("#dialect", paths).unwrap();

    // A rekey with verification, 5 shares of 3 to 4 of 2.
    let old = server.keys();
    browser.type_into("#rekey-shares", "4").unwrap();
    browser.type_into("#rekey-threshold", "2").unwrap();
    browser.step("#rekey-start").unwrap();
    if dialect == Dialect::OpenBao {
        // Started without a check: the page asked the server which paths it serves.
        check_status();
        expect_contains(
            browser,
            "#server-status",
            "Ceremonies use the OpenBao paths.",
        );
    }
    expect_contains(
        browser,
        "#rekey-progress",
        "Rekey started: 0 of 3 current shares given. It makes 4 new shares with threshold 2, \
         verified before they take effect.",
    );
    // A refusal from the server, as a sentence: a share that is not one.
    give(browser, "#rekey-share", "#rekey-submit", "not-a-share");
    expect_contains(browser, "#message", "That is not a key share");
    expect_contains(browser, "#rekey-progress", "0 of 3 current shares given");
    for (i, share) in old.iter().take(3).enumerate() {
        give(browser, "#rekey-share", "#rekey-submit", share);
        assert_eq!(browser.text("#message").unwrap(), "", "share {i}");
    }
    expect_contains(
        browser,
        "#rekey-progress",
        "New shares issued: 0 of 2 verified.",
    );
    expect_contains(browser, "#rekey-share-label", "New share, to verify");
    let new = browser.texts("#rekey-new-shares li").unwrap();
    assert_eq!(new.len(), 4, "{new:?}");
    for share in new.iter().take(2) {
        give(browser, "#rekey-share", "#rekey-submit", share);
    }
    expect_contains(
        browser,
        "#rekey-progress",
        "Verified: the new shares are in effect, the old ones no longer unseal.",
    );
    if dialect == Dialect::OpenBao {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/web-ceremony/screenshot.png");
        browser.screenshot(&path).expect("screenshot");
    }
    // Shown once: stored, they are gone from the page.
    browser.step("#rekey-stored").unwrap();
    assert!(browser.texts("#rekey-new-shares li").unwrap().is_empty());
    expect_contains(browser, "#rekey-progress", "No rekey started.");

    // The server agrees: the new shares unseal it, the old ones no longer do.
    let factory = ClientFactory::new(Transport::Ureq, server.address(), dialect);
    let client = factory.client(Some(server.root_token())).expect("client");
    reseal_with_new_shares(server, &client, &shares(&old), &shares(&new));

    // A root token, with an OTP drawn by the page, from 2 of the new shares; first with a
    // wrong share, well formed but not one of them, which the server refuses as a sentence.
    browser.step("#root-start").unwrap();
    expect_contains(
        browser,
        "#root-progress",
        "Generation in progress: 0 of 2 shares given. The token will be decoded here with its \
         one-time password.",
    );
    give(browser, "#root-share", "#root-submit", &"5a".repeat(33));
    give(browser, "#root-share", "#root-submit", &new[0]);
    expect_contains(
        browser,
        "#message",
        "The shares did not combine into the key",
    );
    // Counting starts again, on the same generation.
    expect_contains(browser, "#root-progress", "0 of 2 shares given.");
    for share in new.iter().take(2) {
        give(browser, "#root-share", "#root-submit", share);
        assert_eq!(browser.text("#message").unwrap(), "");
    }
    expect_contains(
        browser,
        "#root-progress",
        "Done: the new root token is below",
    );
    let token = browser.text("#root-token").unwrap();
    assert!(
        token.starts_with("s."),
        "a token, decoded: {} chars",
        token.len()
    );
    let lookup = server
        .call("GET", "/v1/auth/token/lookup-self", Some(&token), None)
        .expect("lookup-self");
    assert_eq!(lookup.status, 200, "the page's token works");
    let policies = lookup.json().unwrap()["data"]["policies"].clone();
    assert_eq!(policies, json!(["root"]));
    browser.step("#root-stored").unwrap();
    assert_eq!(browser.text("#root-token").unwrap(), "");
}

#[test]
fn ceremonies_in_a_browser_on_openbaos_paths() {
    let fixture = fixture();
    let server = start(Server::builder());
    ceremonies(&fixture, &server, "auto", Dialect::OpenBao);
}

#[test]
fn ceremonies_in_a_browser_on_vaults_paths() {
    let fixture = fixture();
    let server = start(Server::builder().legacy_endpoints(true));
    ceremonies(&fixture, &server, "vault", Dialect::Vault);
}

/// Ceremonies another operator started, joined from the page: a rekey (whose restart by the
/// other operator the page refuses to follow, in a sentence) and a root-token generation whose
/// OTP the other operator hands over.
#[test]
fn joining_ceremonies_started_elsewhere() {
    let fixture = fixture();
    let browser = &fixture.browser;
    let server = start(Server::builder());
    allow_origin(&server, &fixture.site.origin());
    browser.open(&fixture.site.origin()).expect("open the page");
    browser.type_into("#address", &server.address()).unwrap();
    browser.type_into("#token", server.root_token()).unwrap();
    let other = ClientFactory::new(Transport::Ureq, server.address(), Dialect::OpenBao)
        .client(Some(server.root_token()))
        .expect("the other operator's client");
    let old = server.keys();
    let config = StartRekey::new(3, 2).require_verification(false);

    let first = other
        .start_rekey(config.clone())
        .expect("the other operator starts");
    browser.step("#rekey-join").unwrap();
    expect_contains(
        browser,
        "#rekey-progress",
        "Rekey started: 0 of 3 current shares given. It makes 3 new shares with threshold 2.",
    );
    give(browser, "#rekey-share", "#rekey-submit", &old[0]);
    expect_contains(browser, "#rekey-progress", "1 of 3 current shares given");

    // The other operator cancels and starts again: the page does not follow.
    other
        .cancel_rekey(KeyKind::Unseal, first.nonce.as_deref())
        .expect("cancel");
    other.start_rekey(config.clone()).expect("start again");
    give(browser, "#rekey-share", "#rekey-submit", &old[1]);
    expect_contains(browser, "#message", "another ceremony");
    let progress = other
        .read_rekey_progress(KeyKind::Unseal)
        .expect("progress");
    assert_eq!(progress.progress, 0, "the share went to no ceremony");

    // Joined again, on purpose: the new rekey, to its end.
    browser.step("#rekey-join").unwrap();
    expect_contains(browser, "#rekey-progress", "0 of 3 current shares given");
    for share in old.iter().take(3) {
        give(browser, "#rekey-share", "#rekey-submit", share);
    }
    expect_contains(
        browser,
        "#rekey-progress",
        "Rekeyed: the new shares are in effect.",
    );
    let new = browser.texts("#rekey-new-shares li").unwrap();
    assert_eq!(new.len(), 3, "{new:?}");
    browser.step("#rekey-stored").unwrap();
    reseal_with_new_shares(&server, &other, &shares(&old), &shares(&new));

    // A generation the other operator started, with the server's OTP, which they hand over.
    let generation = other
        .start_root_token_generation(StartRootTokenGeneration::new())
        .expect("the other operator starts a generation");
    let otp = generation.otp.expect("a server-generated OTP");
    browser.type_into("#root-otp", otp.expose()).unwrap();
    browser.step("#root-join").unwrap();
    expect_contains(
        browser,
        "#root-progress",
        "Generation in progress: 0 of 2 shares given. The token will be decoded here",
    );
    assert_eq!(browser.property("#root-otp", "value").unwrap(), json!(""));
    for share in new.iter().take(2) {
        give(browser, "#root-share", "#root-submit", share);
    }
    expect_contains(
        browser,
        "#root-progress",
        "Done: the new root token is below",
    );
    let token = browser.text("#root-token").unwrap();
    let lookup = server
        .call("GET", "/v1/auth/token/lookup-self", Some(&token), None)
        .expect("lookup-self");
    assert_eq!(lookup.status, 200, "the token decoded in the page works");
}

/// Each answer a [`Scripted`] server gives: status, headers, body.
type Answer = (u16, Vec<(String, String)>, String);
/// What a [`Scripted`] server answers to a method and a path.
type Script = Arc<dyn Fn(&str, &str) -> Answer + Send + Sync>;

/// One request a [`Scripted`] server saw.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    token: bool,
}

/// A loopback HTTP server whose every answer `answer` decides from the method and path, with
/// the CORS headers a server gives an allowed origin; it records what it was sent. It stands
/// for what no real OpenBao does on cue: a node that redirects a ceremony's request, or a
/// server the page must never reach.
struct Scripted {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Scripted {
    fn start(answer: impl Fn(&str, &str) -> Answer + Send + Sync + 'static) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let answer: Script = Arc::new(answer);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (record, answer) = (Arc::clone(&record), Arc::clone(&answer));
                thread::spawn(move || serve_scripted(stream, &*answer, &record));
            }
        });
        Scripted { port, seen }
    }

    fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A request as read off a connection: its method, path, head lines and body.
struct Incoming {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Incoming {
    fn read(stream: &TcpStream) -> Option<Incoming> {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line.is_empty() {
            return None;
        }
        let mut headers = Vec::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) <= 2 {
                break;
            }
            let (name, value) = header.split_once(':').unwrap_or_default();
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        let mut words = line.split_whitespace();
        let mut incoming = Incoming {
            method: words.next().unwrap_or_default().to_string(),
            path: words.next().unwrap_or_default().to_string(),
            headers,
            body: Vec::new(),
        };
        let length = incoming
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        incoming.body = vec![0u8; length];
        reader.read_exact(&mut incoming.body).ok()?;
        Some(incoming)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

fn serve_scripted(
    stream: TcpStream,
    answer: &(dyn Fn(&str, &str) -> Answer + Send + Sync),
    seen: &Mutex<Vec<Seen>>,
) {
    let Some(request) = Incoming::read(&stream) else {
        return;
    };
    let (method, path) = (request.method.clone(), request.path.clone());
    let origin = request.header("origin").unwrap_or_default().to_string();
    seen.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        token: request.header("x-vault-token").is_some(),
    });
    let (status, headers, body) = answer(&method, &path);
    let mut head = format!("HTTP/1.1 {status} Scripted\r\n");
    let cors = [
        ("Access-Control-Allow-Origin", origin.as_str()),
        (
            "Access-Control-Allow-Methods",
            "GET, PUT, POST, DELETE, LIST",
        ),
        (
            "Access-Control-Allow-Headers",
            "X-Vault-Request, X-Vault-Token, Content-Type",
        ),
    ];
    for (name, value) in cors {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut stream = &stream;
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
}

/// A proxy in front of a real server that cuts one answer as a broken network does: the
/// answer's head and the first two thirds of its body go out, then, a moment later, the
/// connection closes. (Cut in the same write as the close, a browser drops what came with the
/// error, so the page is shown a break after the bytes arrived.)
struct CuttingProxy {
    port: u16,
    cuts: Arc<Mutex<Vec<String>>>,
}

impl CuttingProxy {
    /// Forwards to `upstream` (`http://host:port`), cutting the answer to the `skip + 1`-th
    /// `PUT` whose path ends in `path_end`.
    fn start(upstream: &str, path_end: &'static str, skip: usize) -> CuttingProxy {
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let cuts = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&cuts);
        let matched = Arc::new(Mutex::new(0usize));
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (upstream, record, matched) =
                    (upstream.clone(), Arc::clone(&record), Arc::clone(&matched));
                thread::spawn(move || {
                    let Some(request) = Incoming::read(&client) else {
                        return;
                    };
                    let cut = request.method == "PUT" && request.path.ends_with(path_end) && {
                        let mut matched = matched.lock().unwrap();
                        *matched += 1;
                        *matched == skip + 1
                    };
                    let Some(answer) = forward(&upstream, &request) else {
                        return;
                    };
                    let head_end = answer
                        .windows(4)
                        .position(|w| w == b"\r\n\r\n")
                        .map_or(answer.len(), |at| at + 4);
                    let mut client = &client;
                    if cut {
                        let sent = head_end + (answer.len() - head_end) * 2 / 3;
                        let _ = client.write_all(&answer[..sent]);
                        let _ = client.flush();
                        thread::sleep(Duration::from_millis(500));
                        record.lock().unwrap().push(request.path.clone());
                    } else {
                        let _ = client.write_all(&answer);
                    }
                    let _ = client.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        CuttingProxy { port, cuts }
    }

    fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn cuts(&self) -> Vec<String> {
        self.cuts.lock().unwrap().clone()
    }
}

/// Sends `request` to `upstream` on a connection of its own, and reads the whole answer.
fn forward(upstream: &str, request: &Incoming) -> Option<Vec<u8>> {
    let mut server = TcpStream::connect(upstream).ok()?;
    let _ = server.set_read_timeout(Some(Duration::from_secs(30)));
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method, request.path);
    for (name, value) in &request.headers {
        if !name.eq_ignore_ascii_case("connection") {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    server.write_all(head.as_bytes()).ok()?;
    server.write_all(&request.body).ok()?;
    let mut answer = Vec::new();
    server.read_to_end(&mut answer).ok()?;
    Some(answer)
}

/// A server nobody should reach: it answers everything with an empty 200.
fn elsewhere(_: &str, _: &str) -> Answer {
    (200, Vec::new(), String::new())
}

/// A standby as the page meets it: a rekey starts, then the node redirects the share to the
/// active node at `active`, which it names in `sys/leader`.
fn standby(active: String) -> impl Fn(&str, &str) -> Answer + Send + Sync + 'static {
    move |method, path| {
        let json = |body: String| {
            (
                200,
                vec![("Content-Type".to_string(), "application/json".to_string())],
                body,
            )
        };
        match (method, path) {
            ("OPTIONS", _) => (204, Vec::new(), String::new()),
            ("GET", "/v1/sys/leader") => json(format!(
                r#"{{"ha_enabled":true,"is_self":false,"leader_address":"{active}",
                    "leader_cluster_address":"https://127.0.0.1:8201"}}"#
            )),
            ("PUT", p) if p.ends_with("/init") => json(
                r#"{"nonce":"n1","started":true,"t":2,"n":3,"progress":0,"required":3,
                    "verification_required":false,"verification_nonce":""}"#
                    .to_string(),
            ),
            _ => (
                307,
                vec![("Location".to_string(), format!("{active}{path}"))],
                String::new(),
            ),
        }
    }
}

/// Starts, in the page, a fetch to `url` that no CSP would stop (`no-cors`), and waits until it
/// ends; returns how it ended and the CSP violations seen meanwhile.
fn injected_fetch(browser: &Browser, url: &str) -> (String, String) {
    browser
        .script(&format!(
            "window.__violations = window.__violations || [];
             if (!window.__listening) {{
               window.__listening = true;
               document.addEventListener('securitypolicyviolation',
                 e => window.__violations.push(e.effectiveDirective + ' ' + e.blockedURI));
             }}
             window.__fetched = '';
             fetch({url:?}, {{mode: 'no-cors'}})
               .then(() => window.__fetched = 'answered', e => window.__fetched = 'failed: ' + e);
             return ''"
        ))
        .expect("inject a fetch");
    browser
        .wait("the injected fetch", || {
            Ok(!browser.script("return window.__fetched")?.is_empty())
        })
        .expect("the injected fetch ends");
    (
        browser.script("return window.__fetched").unwrap(),
        browser
            .script("return window.__violations.join('; ')")
            .unwrap(),
    )
}

/// The fields that take a share, the token or an OTP keep password managers, autofill, spell
/// checkers and capitalisation away, and sit in no form (what a manager offers to save).
#[test]
fn secret_fields_keep_password_managers_away() {
    let fixture = fixture();
    let browser = &fixture.browser;
    browser.open(&fixture.site.origin()).expect("open the page");
    let wanted = [
        ("type", Some("password")),
        ("autocomplete", Some("new-password")),
        ("autocapitalize", Some("off")),
        ("autocorrect", Some("off")),
        ("spellcheck", Some("false")),
        ("data-1p-ignore", Some("")),
        ("data-lpignore", Some("true")),
        ("data-bwignore", Some("")),
        ("data-form-type", Some("other")),
    ];
    for field in ["#token", "#rekey-share", "#root-otp", "#root-share"] {
        for (name, value) in wanted {
            assert_eq!(
                browser.attribute(field, name).unwrap().as_deref(),
                value,
                "{field} {name}"
            );
        }
        let name = browser
            .attribute(field, "name")
            .unwrap()
            .unwrap_or_default();
        for word in ["pass", "pwd", "otp", "token", "secret", "share", "key"] {
            assert!(!name.contains(word), "{field} is named {name:?}");
        }
    }
    assert_eq!(
        browser
            .script("return String(document.querySelectorAll('form').length)")
            .unwrap(),
        "0"
    );
}

/// The page's Content-Security-Policy: no inline script runs, and once the server is chosen,
/// a fetch to any other origin, by anything running in the page, is blocked by the browser;
/// the same fetch went through before. And a node that redirects the ceremony's share (a
/// standby) is followed nowhere: the token and the share reach no other address, the page says
/// what happened and names the leader the node gives, and since a node that redirects has not
/// acted, the share waits to be sent again rather than leaving the rekey's outcome unknown.
#[test]
fn connections_stay_with_the_chosen_server_and_redirects_are_not_followed() {
    let fixture = fixture();
    let browser = &fixture.browser;
    let active = Scripted::start(elsewhere);
    let node = Scripted::start(standby(active.address()));
    let other = Scripted::start(elsewhere);
    browser.open(&fixture.site.origin()).expect("open the page");

    // No inline script runs (the policy allows the page's own files only).
    browser
        .script(
            "try { const s = document.createElement('script');
                   s.text = 'window.__inline = true'; document.body.append(s); } catch (e) {}
             return ''",
        )
        .unwrap();
    assert_eq!(
        browser
            .script("return String(window.__inline === true)")
            .unwrap(),
        "false"
    );

    // Before a server is chosen, another origin is reachable: the block below is the policy's.
    let (before, _) = injected_fetch(browser, &format!("{}/before", other.address()));
    assert_eq!(before, "answered");
    assert_eq!(other.seen().len(), 1);

    browser.type_into("#address", &node.address()).unwrap();
    browser
        .type_into("#token", "s.the-operators-token")
        .unwrap();
    browser.choose("#dialect", "openbao").unwrap();
    browser.type_into("#rekey-shares", "3").unwrap();
    browser.type_into("#rekey-threshold", "2").unwrap();
    browser.step("#rekey-start").unwrap();
    expect_contains(browser, "#rekey-progress", "0 of 3 current shares given");
    expect_contains(
        browser,
        "#server-fixed",
        &format!("connects to {} only", node.address()),
    );
    assert_eq!(
        browser.property("#address", "readOnly").unwrap(),
        json!(true)
    );
    assert_eq!(
        browser.property("#token", "value").unwrap(),
        json!(""),
        "the token leaves its field once the page holds it"
    );

    let (after, violations) = injected_fetch(browser, &format!("{}/after", other.address()));
    assert!(after.starts_with("failed"), "{after}");
    assert!(
        violations.contains(&format!("connect-src {}/after", other.address())),
        "{violations}"
    );
    assert_eq!(other.seen().len(), 1, "nothing reached the other origin");

    // The share is redirected: not followed.
    give(browser, "#rekey-share", "#rekey-submit", &"ab".repeat(33));
    let message = expect_contains(browser, "#message", "answered with a redirect");
    assert!(
        message.contains(&format!(
            "It names {} as the active node.",
            active.address()
        )),
        "{message}"
    );
    assert!(
        message.contains("Point the page at the active node"),
        "{message}"
    );
    assert!(!message.contains("abab"), "{message}");
    expect_contains(browser, "#rekey-progress", "0 of 3 current shares given");
    assert!(active.seen().is_empty(), "{:?}", active.seen());
    let seen = node.seen();
    let updates: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.method == "PUT" && s.path.ends_with("/update"))
        .collect();
    assert_eq!(updates.len(), 1, "sent once, not retried: {seen:?}");
    assert!(updates[0].token);
    let leader_reads: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.method == "GET" && s.path == "/v1/sys/leader")
        .collect();
    assert_eq!(leader_reads.len(), 1, "{seen:?}");
    assert!(
        !leader_reads[0].token,
        "sys/leader is asked without the token"
    );
}

/// A root token that arrived in an answer that then broke off (a proxy cuts the completing
/// answer after the token): the page shows it at once, says the generation's outcome is not
/// settled, and refuses to start another until the operator has stored it; the token works.
#[test]
fn a_token_in_an_answer_that_broke_off_is_shown() {
    let fixture = fixture();
    let browser = &fixture.browser;
    let server = start(Server::builder());
    allow_origin(&server, &fixture.site.origin());
    let (keys, threshold) = (server.keys(), server.threshold() as usize);
    let proxy = CuttingProxy::start(&server.address(), "/update", threshold - 1);
    browser.open(&fixture.site.origin()).expect("open the page");
    browser.type_into("#address", &proxy.address()).unwrap();
    browser.type_into("#token", server.root_token()).unwrap();
    browser.choose("#dialect", "openbao").unwrap();
    browser.step("#root-start").unwrap();
    expect_contains(
        browser,
        "#root-progress",
        &format!("0 of {threshold} shares given"),
    );
    for share in keys.iter().take(threshold) {
        give(browser, "#root-share", "#root-submit", share);
    }
    assert_eq!(proxy.cuts().len(), 1, "the completing answer was cut");
    let said = expect_contains(browser, "#message", "broke off");
    assert!(!said.contains(server.root_token()), "{said}");
    expect_contains(
        browser,
        "#root-progress",
        "The new token arrived before that and is below",
    );
    let token = browser.text("#root-token").unwrap();
    assert!(token.starts_with("s."), "a token: {} chars", token.len());
    assert_root_token(&server, &token);

    browser.step("#root-start").unwrap();
    expect_contains(
        browser,
        "#message",
        "Store the token of the last generation first",
    );
    assert_eq!(browser.text("#root-token").unwrap(), token);
    browser.step("#root-stored").unwrap();
    assert_eq!(browser.text("#root-token").unwrap(), "");
}
