//! A scripted server for ceremony tests: it replays exchanges captured from OpenBao 2.7.2
//! (`fixtures/ceremony/capture.jsonl`, lines copied verbatim from
//! `openbao-2.7.2-exchanges.jsonl`; `capture` is the 0-based line number there) and checks
//! that each request the ceremony sends is the one the capture recorded: method, path, token
//! header and JSON body.
//!
//! A few answers the capture does not have (a progress read at a moment the capture did not
//! read) are derived from a captured answer of the same endpoint by replacing one value;
//! [`Row::replace`] says so where it is used.

#![allow(dead_code)]

use bytes::Bytes;
use http::{Request, Response};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use vault_key_core::{Dialect, Target, Token};

const CAPTURE: &str = include_str!("../fixtures/ceremony/capture.jsonl");

/// One captured exchange.
#[derive(Debug, Clone)]
pub struct Row {
    pub capture: usize,
    pub method: String,
    pub path: String,
    pub authenticated: bool,
    pub req: Option<String>,
    pub status: u16,
    pub body: String,
    /// The body this test expects instead of the captured one (for example a cancel that
    /// sends the nonce, which the capture's client did not).
    pub expect: Option<Value>,
}

impl Row {
    /// The answer with `from` replaced by `to` (a derived answer, not a captured one).
    pub fn replace(mut self, from: &str, to: &str) -> Self {
        assert!(
            self.body.contains(from),
            "{from} not in row {}",
            self.capture
        );
        self.body = self.body.replace(from, to);
        self
    }

    /// Expects exactly this request body.
    pub fn expect_body(mut self, body: Value) -> Self {
        self.expect = Some(body);
        self
    }

    /// The same exchange on another path family (recovery-key variants, whose success
    /// shapes equal the unseal-key ones but were not captured on a Shamir-sealed server).
    pub fn on_path(mut self, from: &str, to: &str) -> Self {
        assert!(self.path.contains(from), "{from} not in {}", self.path);
        self.path = self.path.replace(from, to);
        self
    }

    /// The same answer to another request (a derived exchange: a progress read answered as
    /// the captured update reported the progress).
    pub fn answering(mut self, method: &str, path: &str) -> Self {
        self.method = method.to_string();
        self.path = path.to_string();
        self.req = None;
        self
    }

    /// The captured request body as JSON.
    pub fn req_json(&self) -> Option<Value> {
        self.req
            .as_deref()
            .map(|r| serde_json::from_str(r).expect("captured request bodies are JSON"))
    }

    /// The captured answer as JSON.
    pub fn body_json(&self) -> Value {
        serde_json::from_str(&self.body).expect("captured answers are JSON")
    }

    /// A value of the captured answer, in `data` or at the top level.
    pub fn field(&self, name: &str) -> Value {
        let body = self.body_json();
        body.get("data")
            .and_then(|d| d.get(name))
            .or_else(|| body.get(name))
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// The `key` the captured request submitted.
    pub fn key(&self) -> String {
        self.req_json().expect("a request body")["key"]
            .as_str()
            .expect("a key")
            .to_string()
    }
}

/// The captured exchanges used by the ceremony tests.
pub struct Capture {
    rows: HashMap<usize, Row>,
}

impl Capture {
    pub fn load() -> Self {
        let rows = CAPTURE
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let v: Value = serde_json::from_str(line).expect("capture line is JSON");
                let row = Row {
                    capture: v["capture"].as_u64().expect("capture") as usize,
                    method: v["method"].as_str().expect("method").to_string(),
                    path: v["path"].as_str().expect("path").to_string(),
                    authenticated: v["authenticated"].as_bool().expect("authenticated"),
                    req: v["req"].as_str().map(str::to_string),
                    status: v["status"].as_u64().expect("status") as u16,
                    body: v["body"].as_str().expect("body").to_string(),
                    expect: None,
                };
                (row.capture, row)
            })
            .collect();
        Self { rows }
    }

    pub fn row(&self, capture: usize) -> Row {
        self.rows
            .get(&capture)
            .cloned()
            .unwrap_or_else(|| panic!("capture {capture} not in the fixture"))
    }

    pub fn rows(&self, captures: &[usize]) -> Vec<Row> {
        captures.iter().map(|&c| self.row(c)).collect()
    }

    /// Every captured answer body (for the property tests).
    pub fn all(&self) -> Vec<Row> {
        let mut rows: Vec<Row> = self.rows.values().cloned().collect();
        rows.sort_by_key(|r| r.capture);
        rows
    }
}

/// A server that answers with a script and checks every request against it.
pub struct Server {
    script: RefCell<VecDeque<Row>>,
    pub sent: RefCell<Vec<(String, String, Option<Value>)>>,
}

impl Server {
    pub fn new(rows: impl IntoIterator<Item = Row>) -> Self {
        Self {
            script: RefCell::new(rows.into_iter().collect()),
            sent: RefCell::new(Vec::new()),
        }
    }

    /// Appends exchanges to the script.
    pub fn then(&self, rows: impl IntoIterator<Item = Row>) {
        self.script.borrow_mut().extend(rows);
    }

    /// Exchanges left in the script.
    pub fn remaining(&self) -> usize {
        self.script.borrow().len()
    }

    /// Asserts the whole script was played.
    pub fn finished(&self) {
        let left: Vec<usize> = self.script.borrow().iter().map(|r| r.capture).collect();
        assert!(left.is_empty(), "unplayed exchanges: {left:?}");
    }

    /// The HTTP stack to drive ceremonies with.
    pub fn client(&self) -> impl Fn(Request<Bytes>) -> Result<Response<Bytes>, Infallible> + '_ {
        move |request| Ok(self.answer(request))
    }

    pub fn answer(&self, request: Request<Bytes>) -> Response<Bytes> {
        let row =
            self.script.borrow_mut().pop_front().unwrap_or_else(|| {
                panic!("unexpected request {} {}", request.method(), request.uri())
            });
        let method = request.method().as_str().to_string();
        let path = request.uri().path().to_string();
        let body = parse_body(request.body());
        self.sent
            .borrow_mut()
            .push((method.clone(), path.clone(), body.clone()));
        let context = format!("capture {} ({} {})", row.capture, row.method, row.path);
        assert!(
            method == row.method || (method == "PUT" && row.method == "POST"),
            "{context}: method {method}"
        );
        assert_eq!(path, row.path, "{context}: path");
        if row.authenticated {
            assert!(
                request.headers().contains_key("X-Vault-Token"),
                "{context}: no token sent"
            );
        }
        match (&row.expect, row.req_json()) {
            (Some(expected), _) => assert_eq!(body.as_ref(), Some(expected), "{context}: body"),
            (None, None) => assert!(
                body.is_none() || body == Some(serde_json::json!({})),
                "{context}: unexpected body {body:?}"
            ),
            (None, Some(expected)) => {
                let ours = body.unwrap_or_else(|| panic!("{context}: no body sent"));
                same_body(&ours, &expected, &context);
            }
        }
        Response::builder()
            .status(row.status)
            .header("content-type", "application/json")
            .body(Bytes::from(row.body))
            .expect("a valid response")
    }
}

fn parse_body(body: &Bytes) -> Option<Value> {
    if body.is_empty() {
        None
    } else {
        Some(serde_json::from_slice(body).expect("requests carry JSON bodies"))
    }
}

/// Every field the capture sent must be sent alike; any further field must be a default the
/// server ignores (`false`, empty).
fn same_body(ours: &Value, captured: &Value, context: &str) {
    let (Some(ours), Some(captured)) = (ours.as_object(), captured.as_object()) else {
        panic!("{context}: bodies are not objects: {ours} vs {captured}");
    };
    for (key, value) in captured {
        assert_eq!(ours.get(key), Some(value), "{context}: field {key}");
    }
    for (key, value) in ours {
        if !captured.contains_key(key) {
            let default = matches!(value, Value::Bool(false) | Value::Null)
                || value.as_array().is_some_and(Vec::is_empty)
                || value.as_str().is_some_and(str::is_empty);
            assert!(default, "{context}: extra field {key} = {value}");
        }
    }
}

/// A target on the captured server's dialect.
pub fn target(dialect: Dialect) -> Target {
    Target::new("http://127.0.0.1:8200")
        .expect("a valid address")
        .with_token(Token::new("s.JS0wWz7v8J4aTa1dWOsmW0YY"))
        .with_dialect(dialect)
}

/// Runs a future that never waits on anything but the scripted server (which answers at
/// once).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    let waker = Waker::from(Arc::new(Noop));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}

/// [`vault_key_core::ceremony::drive`], returning the phase the ceremony stopped in, which is
/// what most assertions compare (`ceremony_rekey.rs` checks the [`Next`] it returns).
///
/// [`Next`]: vault_key_core::ceremony::Next
pub fn drive<C, K>(
    client: &C,
    target: &Target,
    ceremony: &mut K,
) -> Result<K::Phase, vault_key_core::ExecuteError<C::Error>>
where
    C: vault_key_core::HttpClient + ?Sized,
    K: vault_key_core::ceremony::Ceremony + ?Sized,
{
    vault_key_core::ceremony::drive(client, target, ceremony).map(|_| ceremony.phase())
}

/// [`vault_key_core::ceremony::drive_async`], returning the phase the ceremony stopped in.
pub async fn drive_async<C, K>(
    client: &C,
    target: &Target,
    ceremony: &mut K,
) -> Result<K::Phase, vault_key_core::ExecuteError<C::Error>>
where
    C: vault_key_core::AsyncHttpClient + ?Sized,
    K: vault_key_core::ceremony::Ceremony + ?Sized,
{
    let next = vault_key_core::ceremony::drive_async(client, target, ceremony).await;
    next.map(|_| ceremony.phase())
}
