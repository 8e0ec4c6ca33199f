//! The browser's `fetch` as the core's HTTP seam ([`AsyncHttpClient`]).
//!
//! Redirects are not followed (`redirect: "manual"`): the browser would follow up to 20 of
//! them, to any origin that allows CORS, with the token and the share along, past the core's
//! redirect policy. The body is read chunk by chunk, so that an answer that breaks off still
//! hands the ceremony what arrived of it ([`FetchError::Cut`]): new shares or a token complete
//! in it are recovered. Any other failure says nothing about how far the request got (the
//! browser reports a CORS refusal, a refused connection and a timeout alike as "Failed to
//! fetch"), so the ceremony reads the server's progress before it sends anything again.

use crate::failure::FetchError;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use js_sys::{Reflect, Uint8Array};
use std::future::Future;
use vault_key_core::transport::config::DEFAULT_MAX_RESPONSE_BYTES;
use vault_key_core::transport::BodyCollector;
use vault_key_core::{AsyncHttpClient, Delivery};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortSignal, Headers, ReadableStreamDefaultReader, RequestInit, RequestMode, RequestRedirect,
    ResponseType,
};
use zeroize::Zeroizing;

/// How long one request may take before the browser abandons it.
const TIMEOUT_MS: u32 = 60_000;

/// Sends each request with `window.fetch`, in CORS mode, following no redirect.
pub struct Fetch;

/// The browser's words for a rejected promise.
fn reason(value: JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|error| String::from(error.to_string()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| "the browser gave no reason".to_string())
}

fn failed(value: JsValue) -> FetchError {
    FetchError::Failed(reason(value))
}

impl AsyncHttpClient for Fetch {
    type Error = FetchError;

    fn send(
        &self,
        request: Request<Bytes>,
    ) -> impl Future<Output = Result<Response<Bytes>, FetchError>> {
        send(request)
    }

    fn delivery<'e>(&self, error: &'e FetchError) -> Delivery<'e> {
        error.delivery()
    }
}

async fn send(request: Request<Bytes>) -> Result<Response<Bytes>, FetchError> {
    let window = web_sys::window().ok_or_else(|| FetchError::Failed("no window".to_string()))?;
    let init = RequestInit::new();
    init.set_method(request.method().as_str());
    init.set_mode(RequestMode::Cors);
    init.set_redirect(RequestRedirect::Manual);
    init.set_signal(Some(&AbortSignal::timeout_with_u32(TIMEOUT_MS)));
    let headers = Headers::new().map_err(failed)?;
    for (name, value) in request.headers() {
        let value = value
            .to_str()
            .map_err(|_| FetchError::Failed(format!("header {name} is not text")))?;
        headers.append(name.as_str(), value).map_err(failed)?;
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
    let response: web_sys::Response =
        JsFuture::from(window.fetch_with_request(&js_request.map_err(failed)?))
            .await
            .map_err(failed)?
            .dyn_into()
            .map_err(failed)?;
    if response.type_() == ResponseType::Opaqueredirect {
        return Err(FetchError::Redirected);
    }
    let status = StatusCode::from_u16(response.status())
        .map_err(|_| FetchError::Failed(format!("status {} is not HTTP", response.status())))?;
    let declared = response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|length| length.trim().parse().ok());
    let mut collected = BodyCollector::new(DEFAULT_MAX_RESPONSE_BYTES, declared)
        .map_err(|error| FetchError::Failed(error.to_string()))?;
    if let Some(stream) = response.body() {
        let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
        loop {
            let read = match JsFuture::from(reader.read()).await {
                Ok(read) => read,
                Err(error) => {
                    return Err(FetchError::Cut {
                        reason: reason(error),
                        partial: collected.into_partial(status),
                    })
                }
            };
            if Reflect::get(&read, &"done".into()).is_ok_and(|done| done.is_truthy()) {
                break;
            }
            let Ok(chunk) =
                Reflect::get(&read, &"value".into()).and_then(|v| v.dyn_into::<Uint8Array>())
            else {
                return Err(FetchError::Cut {
                    reason: "the browser handed a chunk that is not bytes".to_string(),
                    partial: collected.into_partial(status),
                });
            };
            let bytes = Zeroizing::new(chunk.to_vec());
            // New shares or a token may be in it: the JavaScript copy is wiped, the core keeps
            // its own.
            chunk.fill(0, 0, chunk.length());
            if let Err(error) = collected.push(&bytes) {
                let _ = reader.cancel();
                return Err(FetchError::Failed(error.to_string()));
            }
        }
    }
    Response::builder()
        .status(status)
        .body(collected.finish())
        .map_err(|error| FetchError::Failed(error.to_string()))
}
