//! The browser's `fetch` as the core's HTTP seam ([`AsyncHttpClient`]).
//!
//! A failed fetch says nothing about how far the request got (the browser reports a CORS
//! refusal, a refused connection and a cut answer alike as "Failed to fetch"), so the
//! default [`Delivery::Unknown`](vault_key_core::Delivery::Unknown) applies: the ceremony reads
//! the server's progress before it sends anything again.

use bytes::Bytes;
use http::{Request, Response};
use js_sys::Uint8Array;
use std::fmt;
use std::future::Future;
use vault_key_core::AsyncHttpClient;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Headers, RequestInit, RequestMode};

/// How long one request may take before the browser abandons it.
const TIMEOUT_MS: u32 = 60_000;

/// Sends each request with `window.fetch`, in CORS mode.
pub struct Fetch;

/// What the browser said when a fetch failed.
#[derive(Debug)]
pub struct FetchError(String);

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FetchError {}

impl From<JsValue> for FetchError {
    fn from(value: JsValue) -> Self {
        let text = value
            .dyn_ref::<js_sys::Error>()
            .map(|error| String::from(error.to_string()))
            .or_else(|| value.as_string())
            .unwrap_or_else(|| "the browser gave no reason".to_string());
        FetchError(text)
    }
}

impl AsyncHttpClient for Fetch {
    type Error = FetchError;

    fn send(
        &self,
        request: Request<Bytes>,
    ) -> impl Future<Output = Result<Response<Bytes>, FetchError>> {
        send(request)
    }
}

async fn send(request: Request<Bytes>) -> Result<Response<Bytes>, FetchError> {
    let window = web_sys::window().ok_or_else(|| FetchError("no window".to_string()))?;
    let init = RequestInit::new();
    init.set_method(request.method().as_str());
    init.set_mode(RequestMode::Cors);
    init.set_signal(Some(&AbortSignal::timeout_with_u32(TIMEOUT_MS)));
    let headers = Headers::new()?;
    for (name, value) in request.headers() {
        let value = value
            .to_str()
            .map_err(|_| FetchError(format!("header {name} is not text")))?;
        headers.append(name.as_str(), value)?;
    }
    init.set_headers(&headers);
    let body = (!request.body().is_empty()).then(|| Uint8Array::from(&request.body()[..]));
    if let Some(body) = &body {
        init.set_body(body);
    }
    let js_request = web_sys::Request::new_with_str_and_init(&request.uri().to_string(), &init);
    // The request's copy of the body (it may hold a share) is wiped once the browser has it.
    if let Some(body) = &body {
        body.fill(0, 0, body.length());
    }
    let response: web_sys::Response = JsFuture::from(window.fetch_with_request(&js_request?))
        .await?
        .dyn_into()?;
    let buffer = JsFuture::from(response.array_buffer()?).await?;
    let array = Uint8Array::new(&buffer);
    let bytes = array.to_vec();
    // New shares or a token may be in it: the JavaScript copy is wiped, the core keeps its own.
    array.fill(0, 0, array.length());
    Response::builder()
        .status(response.status())
        .body(Bytes::from(bytes))
        .map_err(|error| FetchError(error.to_string()))
}
