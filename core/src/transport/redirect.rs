//! When and where to follow a redirect, decided once for every HTTP stack.
//!
//! A standby Vault or OpenBao node may answer `307 Temporary Redirect` with the active node's
//! address in `Location`. The request must then be sent again, unchanged: same method, same
//! body (a key share, a nonce), same headers (the token). The rules:
//!
//! - `307` and `308` are followed for every method, keeping method, body and headers.
//! - `301`, `302` and `303` are followed only for `GET` and `HEAD` (other methods would turn
//!   into a `GET` and lose their body); for any other method they are an error.
//! - A relative `Location` is resolved against the request's URL.
//! - A redirect to another scheme (`https` to `http`, or `http` to `https`) is never followed
//!   silently: it is an error, so a token is never sent in clear text by surprise and a TLS
//!   setting is never bypassed.
//! - At most [`RedirectPolicy::max_redirects`] redirects are followed per request; one more is
//!   an error.
//! - Only to the hosts [`RedirectHosts`] allows. By default ([`RedirectHosts::Cluster`]) that
//!   is the host the request went to, and the active node as that host names it: an HA
//!   standby redirects to the active node's `api_addr`, often another host, so before the
//!   token and a share follow a redirect to another host, the first host is asked
//!   (`GET sys/leader`, without the token) which node leads, and only that node is followed
//!   to. A proxy, or anyone who can rewrite one answer, cannot send the token elsewhere.
//!   Also: any host, the same host, a list, or none.
//! - The token goes along (Vault's Go client does the same, and the active node needs it), but
//!   headers the caller added to the target are dropped when the redirect leads to another
//!   origin, unless the policy keeps them.
//!
//! [`FollowRedirects`] applies these rules around any [`HttpClient`] or [`AsyncHttpClient`].

use crate::delivery::Delivery;
use crate::exchange::{AsyncHttpClient, HttpClient};
use crate::ops::cluster::ReadLeaderStatus;
use crate::ops::Operation;
use crate::target::Target;
use crate::trace::event;
use crate::transport::{copy_request, TransportFailure};
use bytes::Bytes;
use http::header::{HeaderName, LOCATION};
use http::{Method, Request, Response, StatusCode, Uri};
use std::fmt;

/// Redirects followed per request unless configured otherwise.
///
/// Vault's Go client follows one redirect, which is what a standby answers with (the active
/// node never redirects again); one more leaves room for a proxy or load balancer in front,
/// and a redirect loop still ends after three requests.
pub const DEFAULT_MAX_REDIRECTS: u32 = 2;

/// Why a redirect was not followed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedirectError {
    /// More redirects than allowed (a loop, or a misconfigured cluster).
    TooMany {
        /// The most redirects allowed.
        max: u32,
    },
    /// The redirect leads to another scheme.
    SchemeChange {
        /// Scheme of the request.
        from: String,
        /// Scheme of the redirect target.
        to: String,
    },
    /// A redirect status without a usable `Location` header.
    MissingLocation {
        /// The redirect status.
        status: u16,
    },
    /// The `Location` header is not a URL that can be followed.
    InvalidLocation {
        /// The redirect status.
        status: u16,
        /// The header's value (lossy text).
        location: String,
    },
    /// `301`, `302` or `303` for a method other than `GET` or `HEAD`: following it would drop
    /// the method and body.
    MethodChange {
        /// The redirect status.
        status: u16,
        /// The method of the request.
        method: String,
    },
    /// The redirect leads to a host the policy does not allow.
    HostNotAllowed {
        /// The host (and port, if any) the redirect leads to.
        host: String,
    },
    /// The address a node named as the cluster's leader (`sys/leader`) is not a URL, or the
    /// node's own address is not one.
    InvalidLeaderAddress {
        /// The address that could not be read (lossy text).
        address: String,
    },
}

impl fmt::Display for RedirectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedirectError::TooMany { max } => write!(f, "more than {max} redirects"),
            RedirectError::SchemeChange { from, to } => {
                write!(f, "refusing to follow a redirect from {from} to {to}")
            }
            RedirectError::MissingLocation { status } => {
                write!(f, "redirect {status} without a Location header")
            }
            RedirectError::InvalidLocation { status, location } => {
                write!(f, "redirect {status} to an invalid location {location:?}")
            }
            RedirectError::MethodChange { status, method } => write!(
                f,
                "redirect {status} not followed for {method}: only 307 and 308 keep the method and body"
            ),
            RedirectError::HostNotAllowed { host } => {
                write!(f, "refusing to follow a redirect to {host}: not an allowed host")
            }
            RedirectError::InvalidLeaderAddress { address } => {
                write!(f, "the leader's address {address:?} (sys/leader) is not a URL")
            }
        }
    }
}

impl std::error::Error for RedirectError {}

/// Which hosts a redirect may lead to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RedirectHosts {
    /// The host of the request (another port is allowed), and the active node as the host the
    /// request first went to names it in `sys/leader` (the default: a standby redirects to the
    /// active node, which may be another host).
    #[default]
    Cluster,
    /// Any host.
    Any,
    /// Only the host of the request (another port is allowed).
    SameHost,
    /// Only these hosts, as `host` (any port) or `host:port`, compared without case.
    Listed(Vec<String>),
    /// No redirect is followed.
    Never,
}

impl RedirectHosts {
    /// Whether a redirect from `from` may lead to `to`; `leader` is the active node as the
    /// first host named it, when it was asked.
    fn allows(&self, from: &Uri, to: &Uri, leader: Option<&Uri>) -> bool {
        let host = |uri: &Uri| uri.host().unwrap_or_default().to_ascii_lowercase();
        match self {
            RedirectHosts::Any => true,
            RedirectHosts::Never => false,
            RedirectHosts::SameHost => host(from) == host(to),
            RedirectHosts::Cluster => {
                host(from) == host(to) || leader.is_some_and(|leader| same_node(leader, to))
            }
            RedirectHosts::Listed(hosts) => {
                let authority = to
                    .authority()
                    .map_or(String::new(), |a| a.as_str().to_ascii_lowercase());
                hosts.iter().any(|allowed| {
                    let allowed = allowed.to_ascii_lowercase();
                    allowed == host(to) || allowed == authority
                })
            }
        }
    }
}

/// Whether `a` and `b` name the same node: scheme, host (without case) and port (the
/// scheme's default when none is given).
fn same_node(a: &Uri, b: &Uri) -> bool {
    let port = |uri: &Uri| {
        uri.port_u16().unwrap_or(
            match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
                Some("https") => 443,
                _ => 80,
            },
        )
    };
    let scheme = |uri: &Uri| uri.scheme_str().unwrap_or_default().to_ascii_lowercase();
    let host = |uri: &Uri| uri.host().unwrap_or_default().to_ascii_lowercase();
    scheme(a) == scheme(b) && host(a) == host(b) && port(a) == port(b)
}

/// Which redirects to follow, where to, and with which headers; see the [module](self) for
/// the rules.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RedirectPolicy {
    max_redirects: u32,
    hosts: RedirectHosts,
    custom_headers: Vec<HeaderName>,
    keep_custom_headers: bool,
}

impl Default for RedirectPolicy {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_REDIRECTS)
    }
}

impl RedirectPolicy {
    /// Follows at most `max_redirects` redirects per request, within the cluster
    /// ([`RedirectHosts::Cluster`]); `0` turns every redirect into an error.
    pub fn new(max_redirects: u32) -> Self {
        Self {
            max_redirects,
            hosts: RedirectHosts::Cluster,
            custom_headers: Vec::new(),
            keep_custom_headers: false,
        }
    }

    /// Follows redirects only to these hosts.
    pub fn hosts(mut self, hosts: RedirectHosts) -> Self {
        self.hosts = hosts;
        self
    }

    /// The caller's own headers (the target's `with_header` ones): dropped when a redirect
    /// leads to another origin (scheme, host and port), unless kept with
    /// [`keep_custom_headers_across_origins`](Self::keep_custom_headers_across_origins).
    pub fn custom_headers(mut self, names: impl IntoIterator<Item = HeaderName>) -> Self {
        self.custom_headers = names.into_iter().collect();
        self
    }

    /// Sends the caller's own headers to another origin too.
    pub fn keep_custom_headers_across_origins(mut self, keep: bool) -> Self {
        self.keep_custom_headers = keep;
        self
    }

    /// The most redirects followed per request.
    pub fn max_redirects(&self) -> u32 {
        self.max_redirects
    }

    /// The hosts redirects may lead to.
    pub fn allowed_hosts(&self) -> &RedirectHosts {
        &self.hosts
    }

    /// What to do with `response`, the answer to `request` after `followed` redirects:
    /// `Ok(None)` when it is not a redirect (decode it), `Ok(Some(next))` when `next` must be
    /// sent instead, or an error when the redirect must not be followed.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use vault_key_core::transport::redirect::RedirectPolicy;
    ///
    /// let request = http::Request::put("http://standby:8200/v1/sys/rekey/update")
    ///     .header("X-Vault-Token", "s.example")
    ///     .body(Bytes::from_static(br#"{"key":"00","nonce":"n"}"#))?;
    /// let response = http::Response::builder()
    ///     .status(307)
    ///     .header("Location", "http://active:8200/v1/sys/rekey/update")
    ///     .body(Bytes::new())?;
    /// // The standby named `active` as the leader (`sys/leader`), so the token may go there.
    /// let leader: http::Uri = "http://active:8200".parse()?;
    /// let next = RedirectPolicy::default()
    ///     .next_request_to_leader(&request, &response, 0, Some(&leader))?
    ///     .unwrap();
    /// assert_eq!(next.method(), http::Method::PUT);
    /// assert_eq!(next.uri(), "http://active:8200/v1/sys/rekey/update");
    /// assert_eq!(next.headers()["X-Vault-Token"], "s.example");
    /// assert_eq!(next.body(), request.body());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// Under [`RedirectHosts::Cluster`] a redirect to another host is refused here; a client
    /// that can ask the first host which node leads uses
    /// [`next_request_to_leader`](Self::next_request_to_leader) (as [`FollowRedirects`] does).
    pub fn next_request<B>(
        &self,
        request: &Request<Bytes>,
        response: &Response<B>,
        followed: u32,
    ) -> Result<Option<Request<Bytes>>, RedirectError> {
        self.next_request_to_leader(request, response, followed, None)
    }

    /// [`next_request`](Self::next_request), knowing `leader`: the active node's address as
    /// the host the request first went to named it ([`leader_request`](Self::leader_request)),
    /// which [`RedirectHosts::Cluster`] lets a redirect lead to.
    pub fn next_request_to_leader<B>(
        &self,
        request: &Request<Bytes>,
        response: &Response<B>,
        followed: u32,
        leader: Option<&Uri>,
    ) -> Result<Option<Request<Bytes>>, RedirectError> {
        let status = response.status();
        let keeps_method = matches!(
            status,
            StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
        );
        let changes_method = matches!(
            status,
            StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND | StatusCode::SEE_OTHER
        );
        if !keeps_method && !changes_method {
            return Ok(None);
        }
        let method = request.method();
        if changes_method && method != Method::GET && method != Method::HEAD {
            return Err(RedirectError::MethodChange {
                status: status.as_u16(),
                method: method.to_string(),
            });
        }
        if followed >= self.max_redirects {
            return Err(RedirectError::TooMany {
                max: self.max_redirects,
            });
        }
        let location = response
            .headers()
            .get(LOCATION)
            .ok_or(RedirectError::MissingLocation {
                status: status.as_u16(),
            })?;
        let invalid = || RedirectError::InvalidLocation {
            status: status.as_u16(),
            location: String::from_utf8_lossy(location.as_bytes()).into_owned(),
        };
        let location = location.to_str().map_err(|_| invalid())?;
        let target = resolve_location(request.uri(), location).ok_or_else(invalid)?;
        let from = request.uri().scheme_str().unwrap_or_default();
        let to = target.scheme_str().unwrap_or_default();
        if !from.eq_ignore_ascii_case(to) {
            return Err(RedirectError::SchemeChange {
                from: from.to_string(),
                to: to.to_string(),
            });
        }
        if !self.hosts.allows(request.uri(), &target, leader) {
            return Err(RedirectError::HostNotAllowed {
                host: target
                    .authority()
                    .map_or(String::new(), |a| a.as_str().to_string()),
            });
        }
        let same_origin = request
            .uri()
            .authority()
            .zip(target.authority())
            .is_some_and(|(a, b)| a.as_str().eq_ignore_ascii_case(b.as_str()));
        let mut next = Request::new(request.body().clone());
        *next.method_mut() = method.clone();
        *next.uri_mut() = target;
        *next.version_mut() = request.version();
        *next.headers_mut() = request.headers().clone();
        if !same_origin && !self.keep_custom_headers {
            for name in &self.custom_headers {
                next.headers_mut().remove(name);
            }
        }
        Ok(Some(next))
    }

    /// The read that names the cluster's leader: `GET sys/leader` at `origin`'s scheme and
    /// authority, without the token or any header of the caller (it needs none). Only under
    /// [`RedirectHosts::Cluster`], for a redirect to another host; `None` otherwise.
    pub fn leader_request(&self, origin: &Uri) -> Option<Request<Bytes>> {
        if self.hosts != RedirectHosts::Cluster {
            return None;
        }
        let address = format!("{}://{}", origin.scheme_str()?, origin.authority()?);
        ReadLeaderStatus.request(&Target::new(&address).ok()?).ok()
    }

    /// The active node's address in an answer to [`leader_request`](Self::leader_request):
    /// `None` when the answer is not a leader status, names none, or names the node that
    /// answered (which then redirected elsewhere, away from itself).
    pub fn named_leader(response: &Response<Bytes>) -> Option<Uri> {
        let status = ReadLeaderStatus.parse_response(response).ok()?;
        if status.is_self {
            return None;
        }
        status.leader_address?.parse().ok()
    }

    /// Whether the token may go to `leader`, the address that the node at `from` names as
    /// the cluster's leader (`sys/leader`), by the same host rules as a redirect: under
    /// [`RedirectHosts::Cluster`] and [`RedirectHosts::Any`] yes, otherwise only to a host
    /// the policy allows.
    pub fn check_named_leader(&self, from: &str, leader: &str) -> Result<(), RedirectError> {
        let invalid = |address: &str| RedirectError::InvalidLeaderAddress {
            address: address.to_string(),
        };
        let from: Uri = from.parse().map_err(|_| invalid(from))?;
        let to: Uri = leader.parse().map_err(|_| invalid(leader))?;
        if self.hosts.allows(&from, &to, Some(&to)) {
            Ok(())
        } else {
            Err(RedirectError::HostNotAllowed {
                host: to
                    .authority()
                    .map_or(String::new(), |a| a.as_str().to_string()),
            })
        }
    }
}

/// A redirect not followed, told to the events.
fn refused(error: RedirectError) -> RedirectError {
    event!(debug, reason = %error, "redirect refused");
    error
}

/// One request's way through its redirects, for the loops of [`FollowRedirects`]: each
/// answer goes in, and out comes the answer to return or the next request to send.
struct RedirectRun<'p> {
    policy: &'p RedirectPolicy,
    origin: Uri,
    followed: u32,
    /// `None` until `sys/leader` was asked; then the leader it named, if any.
    leader: Option<Option<Uri>>,
}

/// A redirect to another host, held while `sys/leader` is asked: the request it answered,
/// and itself.
struct HeldRedirect {
    sent: Request<Bytes>,
    response: Response<Bytes>,
}

/// What [`RedirectRun`] wants next.
enum RedirectStep {
    /// Not a redirect: the answer.
    Answer(Response<Bytes>),
    /// The redirect's request, to send.
    Send(Request<Bytes>),
    /// The read of `sys/leader`, whose answer goes to [`RedirectRun::on_leader`] with the
    /// redirect held.
    AskLeader(Request<Bytes>, Box<HeldRedirect>),
}

impl<'p> RedirectRun<'p> {
    fn new(policy: &'p RedirectPolicy, request: &Request<Bytes>) -> Self {
        Self {
            policy,
            origin: request.uri().clone(),
            followed: 0,
            leader: None,
        }
    }

    fn on_answer(
        &mut self,
        sent: Request<Bytes>,
        response: Response<Bytes>,
    ) -> Result<RedirectStep, RedirectError> {
        let leader = self.leader.as_ref().and_then(Option::as_ref);
        match self
            .policy
            .next_request_to_leader(&sent, &response, self.followed, leader)
        {
            Ok(None) => Ok(RedirectStep::Answer(response)),
            Ok(Some(next)) => {
                self.followed += 1;
                event!(
                    debug,
                    status = response.status().as_u16(),
                    to = next.uri().authority().map_or("", |a| a.as_str()),
                    "redirect followed"
                );
                Ok(RedirectStep::Send(next))
            }
            Err(RedirectError::HostNotAllowed { host }) if self.leader.is_none() => {
                match self.policy.leader_request(&self.origin) {
                    Some(ask) => {
                        event!(debug, to = %host, "redirect to another host: asking which node leads");
                        Ok(RedirectStep::AskLeader(
                            ask,
                            Box::new(HeldRedirect { sent, response }),
                        ))
                    }
                    None => Err(refused(RedirectError::HostNotAllowed { host })),
                }
            }
            Err(error) => Err(refused(error)),
        }
    }

    /// The answer to [`RedirectStep::AskLeader`] (`None` when the read failed: no leader is
    /// known, and the redirect to another host is refused).
    fn on_leader(
        &mut self,
        held: Box<HeldRedirect>,
        answer: Option<Response<Bytes>>,
    ) -> Result<RedirectStep, RedirectError> {
        self.leader = Some(answer.as_ref().and_then(RedirectPolicy::named_leader));
        self.on_answer(held.sent, held.response)
    }
}

/// Resolves `location` (absolute, scheme-relative, absolute-path or relative) against `base`,
/// as RFC 3986 section 5.2 does; the fragment is dropped. `None` when the result is not an
/// `http` or `https` URL with a host.
pub fn resolve_location(base: &Uri, location: &str) -> Option<Uri> {
    let location = location.trim();
    let location = location.split('#').next().unwrap_or_default();
    if location.is_empty() || location.chars().any(|c| c.is_ascii_whitespace()) {
        return None;
    }
    let base_scheme = base.scheme_str()?;
    let base_authority = base.authority()?.as_str();
    let resolved = if has_scheme(location) {
        let (scheme, rest) = location.split_once(':')?;
        let rest = rest.strip_prefix("//")?;
        let (authority, path_and_query) = split_authority(rest);
        format!(
            "{scheme}://{authority}{}",
            normalize_path_and_query(path_and_query)
        )
    } else if let Some(rest) = location.strip_prefix("//") {
        let (authority, path_and_query) = split_authority(rest);
        format!(
            "{base_scheme}://{authority}{}",
            normalize_path_and_query(path_and_query)
        )
    } else if location.starts_with('/') {
        format!(
            "{base_scheme}://{base_authority}{}",
            normalize_path_and_query(location)
        )
    } else if location.starts_with('?') {
        format!("{base_scheme}://{base_authority}{}{location}", base.path())
    } else {
        let base_path = base.path();
        let directory = &base_path[..base_path.rfind('/').map_or(0, |i| i + 1)];
        let directory = if directory.is_empty() { "/" } else { directory };
        format!(
            "{base_scheme}://{base_authority}{}",
            normalize_path_and_query(&format!("{directory}{location}"))
        )
    };
    let uri: Uri = resolved.parse().ok()?;
    let scheme_ok = uri
        .scheme_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"));
    let host_ok = uri.authority().is_some_and(|a| !a.host().is_empty());
    (scheme_ok && host_ok).then_some(uri)
}

fn has_scheme(location: &str) -> bool {
    let Some((scheme, _)) = location.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !scheme.contains('/')
}

/// Splits `host:port/path?query` into the authority and the rest.
fn split_authority(rest: &str) -> (&str, &str) {
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    (&rest[..end], &rest[end..])
}

/// Removes `.` and `..` segments from the path; keeps the query as it is.
fn normalize_path_and_query(path_and_query: &str) -> String {
    let (path, query) = match path_and_query.find('?') {
        Some(i) => path_and_query.split_at(i),
        None => (path_and_query, ""),
    };
    let mut segments: Vec<&str> = Vec::new();
    let mut parts = path.split('/').peekable();
    // A path is empty or starts with '/': the first part is empty.
    parts.next();
    while let Some(segment) = parts.next() {
        let last = parts.peek().is_none();
        match segment {
            "." => {
                if last {
                    segments.push("");
                }
            }
            ".." => {
                segments.pop();
                if last {
                    segments.push("");
                }
            }
            other => segments.push(other),
        }
    }
    format!("/{}{query}", segments.join("/"))
}

/// Wraps an HTTP stack so that redirects are followed by the [`RedirectPolicy`].
///
/// The stack's error type must be able to carry a [`RedirectError`].
///
/// ```
/// use bytes::Bytes;
/// use vault_key_core::transport::redirect::{FollowRedirects, RedirectError, RedirectPolicy};
/// use vault_key_core::HttpClient;
///
/// // A stack where the standby node redirects to the active one, which it names as leader.
/// let stack = |request: http::Request<Bytes>| {
///     let response = if request.uri() == "http://standby:8200/v1/sys/leader" {
///         http::Response::builder().status(200).body(Bytes::from_static(
///             br#"{"ha_enabled":true,"is_self":false,"leader_address":"http://active:8200"}"#,
///         ))
///     } else if request.uri().host() == Some("standby") {
///         http::Response::builder()
///             .status(307)
///             .header("Location", "http://active:8200/v1/sys/seal-status")
///             .body(Bytes::new())
///     } else {
///         http::Response::builder().status(200).body(Bytes::from_static(b"{}"))
///     };
///     Ok::<_, RedirectError>(response.unwrap())
/// };
/// let client = FollowRedirects::new(stack, RedirectPolicy::default());
/// let request = http::Request::get("http://standby:8200/v1/sys/seal-status").body(Bytes::new())?;
/// assert_eq!(client.send(request)?.status(), 200);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct FollowRedirects<C> {
    client: C,
    policy: RedirectPolicy,
}

impl<C> FollowRedirects<C> {
    /// Follows redirects by `policy` around `client`.
    pub fn new(client: C, policy: RedirectPolicy) -> Self {
        Self { client, policy }
    }

    /// The wrapped stack.
    pub fn inner(&self) -> &C {
        &self.client
    }

    /// The policy in force.
    pub fn policy(&self) -> &RedirectPolicy {
        &self.policy
    }
}

impl<C> HttpClient for FollowRedirects<C>
where
    C: HttpClient,
    C::Error: From<RedirectError> + TransportFailure,
{
    type Error = C::Error;

    fn delivery<'e>(&self, error: &'e C::Error) -> Delivery<'e> {
        error.delivery()
    }

    fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, C::Error> {
        let mut run = RedirectRun::new(&self.policy, &request);
        let mut step = RedirectStep::Send(request);
        loop {
            step = match step {
                RedirectStep::Answer(response) => return Ok(response),
                RedirectStep::Send(request) => {
                    let sent = copy_request(&request);
                    run.on_answer(sent, self.client.send(request)?)?
                }
                RedirectStep::AskLeader(ask, held) => {
                    run.on_leader(held, self.client.send(ask).ok())?
                }
            }
        }
    }
}

impl<C> AsyncHttpClient for FollowRedirects<C>
where
    C: AsyncHttpClient,
    C::Error: From<RedirectError> + TransportFailure,
{
    type Error = C::Error;

    fn delivery<'e>(&self, error: &'e C::Error) -> Delivery<'e> {
        error.delivery()
    }

    async fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, C::Error> {
        let mut run = RedirectRun::new(&self.policy, &request);
        let mut step = RedirectStep::Send(request);
        loop {
            step = match step {
                RedirectStep::Answer(response) => return Ok(response),
                RedirectStep::Send(request) => {
                    let sent = copy_request(&request);
                    run.on_answer(sent, self.client.send(request).await?)?
                }
                RedirectStep::AskLeader(ask, held) => {
                    run.on_leader(held, self.client.send(ask).await.ok())?
                }
            }
        }
    }
}

/// A refused redirect: the node that answered it did not act on the request.
impl TransportFailure for RedirectError {
    fn delivery(&self) -> Delivery<'_> {
        Delivery::NotSent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn resolve(base: &str, location: &str) -> Option<String> {
        resolve_location(&base.parse().unwrap(), location).map(|u| u.to_string())
    }

    #[test]
    fn resolves_locations() {
        let base = "http://standby:8200/v1/sys/rekey/init";
        assert_eq!(
            resolve(base, "https://active:8200/v1/sys/rekey/init?x=1#frag").as_deref(),
            Some("https://active:8200/v1/sys/rekey/init?x=1")
        );
        assert_eq!(
            resolve(base, "//active:8201/v1/a").as_deref(),
            Some("http://active:8201/v1/a")
        );
        assert_eq!(
            resolve(base, "/v1/sys/seal-status").as_deref(),
            Some("http://standby:8200/v1/sys/seal-status")
        );
        assert_eq!(
            resolve(base, "update").as_deref(),
            Some("http://standby:8200/v1/sys/rekey/update")
        );
        assert_eq!(
            resolve(base, "../rotate/root/init").as_deref(),
            Some("http://standby:8200/v1/sys/rotate/root/init")
        );
        assert_eq!(
            resolve(base, "../../../../../x").as_deref(),
            Some("http://standby:8200/x")
        );
        assert_eq!(
            resolve(base, "./").as_deref(),
            Some("http://standby:8200/v1/sys/rekey/")
        );
        assert_eq!(
            resolve(base, "?nonce=1").as_deref(),
            Some("http://standby:8200/v1/sys/rekey/init?nonce=1")
        );
        assert_eq!(resolve("http://h", "a/b").as_deref(), Some("http://h/a/b"));
        for bad in [
            "",
            "ftp://h/x",
            "http://",
            "mailto:x@y",
            "a b",
            "http:///path",
        ] {
            assert_eq!(resolve(base, bad), None, "{bad}");
        }
    }

    fn request(method: Method, uri: &str) -> Request<Bytes> {
        Request::builder()
            .method(method)
            .uri(uri)
            .header("X-Vault-Token", "s.token")
            .body(Bytes::from_static(b"{\"key\":\"k\"}"))
            .unwrap()
    }

    fn redirect(status: u16, location: Option<&str>) -> Response<Bytes> {
        let mut builder = Response::builder().status(status);
        if let Some(location) = location {
            builder = builder.header(LOCATION, location);
        }
        builder.body(Bytes::new()).unwrap()
    }

    #[test]
    fn keeps_method_body_and_headers_on_307_and_308() {
        let policy = RedirectPolicy::default();
        let leader: Uri = "http://b:8200".parse().unwrap();
        for status in [307, 308] {
            let req = request(Method::PUT, "http://a:8200/v1/sys/rekey/update");
            let next = policy
                .next_request_to_leader(
                    &req,
                    &redirect(status, Some("http://b:8200/v1/sys/rekey/update")),
                    0,
                    Some(&leader),
                )
                .unwrap()
                .unwrap();
            assert_eq!(next.method(), Method::PUT);
            assert_eq!(next.uri(), "http://b:8200/v1/sys/rekey/update");
            assert_eq!(next.headers()["X-Vault-Token"], "s.token");
            assert_eq!(next.body(), req.body());
        }
    }

    #[test]
    fn method_changing_redirects_only_for_get() {
        let policy = RedirectPolicy::default();
        for status in [301, 302, 303] {
            let put = request(Method::PUT, "http://a/v1/x");
            assert_eq!(
                policy
                    .next_request(&put, &redirect(status, Some("/v1/y")), 0)
                    .err(),
                Some(RedirectError::MethodChange {
                    status,
                    method: "PUT".into()
                })
            );
            let get = request(Method::GET, "http://a/v1/x");
            let next = policy
                .next_request(&get, &redirect(status, Some("/v1/y")), 0)
                .unwrap()
                .unwrap();
            assert_eq!(next.uri(), "http://a/v1/y");
        }
    }

    #[test]
    fn refuses_scheme_changes_and_bad_locations() {
        let policy = RedirectPolicy::default();
        let req = request(Method::GET, "https://a/v1/x");
        assert_eq!(
            policy
                .next_request(&req, &redirect(307, Some("http://a/v1/x")), 0)
                .err(),
            Some(RedirectError::SchemeChange {
                from: "https".into(),
                to: "http".into()
            })
        );
        let req = request(Method::GET, "http://a/v1/x");
        assert!(matches!(
            policy.next_request(&req, &redirect(307, Some("https://a/v1/x")), 0),
            Err(RedirectError::SchemeChange { .. })
        ));
        assert_eq!(
            policy.next_request(&req, &redirect(307, None), 0).err(),
            Some(RedirectError::MissingLocation { status: 307 })
        );
        assert!(matches!(
            policy.next_request(&req, &redirect(307, Some("gopher://a/")), 0),
            Err(RedirectError::InvalidLocation { status: 307, .. })
        ));
    }

    #[test]
    fn other_statuses_are_not_redirects() {
        let policy = RedirectPolicy::default();
        let req = request(Method::GET, "http://a/v1/x");
        for status in [200, 204, 304, 400, 404, 503] {
            assert!(policy
                .next_request(&req, &redirect(status, Some("/y")), 0)
                .unwrap()
                .is_none());
        }
    }

    #[test]
    fn bounded_loop() {
        let calls = RefCell::new(0u32);
        let stack = |request: Request<Bytes>| {
            *calls.borrow_mut() += 1;
            assert_eq!(request.headers()["X-Vault-Token"], "s.token");
            Ok::<_, RedirectError>(redirect(307, Some("/v1/loop")))
        };
        let client = FollowRedirects::new(stack, RedirectPolicy::new(3));
        let err = client
            .send(request(Method::PUT, "http://a/v1/x"))
            .unwrap_err();
        assert_eq!(err, RedirectError::TooMany { max: 3 });
        assert_eq!(*calls.borrow(), 4);

        let none = FollowRedirects::new(
            |_: Request<Bytes>| Ok::<_, RedirectError>(redirect(307, Some("/v1/y"))),
            RedirectPolicy::new(0),
        );
        assert_eq!(
            none.send(request(Method::GET, "http://a/v1/x"))
                .unwrap_err(),
            RedirectError::TooMany { max: 0 }
        );
    }

    #[test]
    fn hosts_and_caller_headers_follow_the_policy() {
        let mut req = request(Method::PUT, "http://standby:8200/v1/sys/rekey/update");
        req.headers_mut()
            .insert("x-proxy-auth", http::HeaderValue::from_static("p"));
        let to = |location: &str| redirect(307, Some(location));
        let custom = [HeaderName::from_static("x-proxy-auth")];
        let any = RedirectPolicy::default()
            .hosts(RedirectHosts::Any)
            .custom_headers(custom.clone());
        let next = any
            .next_request(&req, &to("http://active:8200/v1/x"), 0)
            .unwrap()
            .unwrap();
        assert_eq!(next.headers()["X-Vault-Token"], "s.token");
        assert!(
            next.headers().get("x-proxy-auth").is_none(),
            "another origin"
        );
        let same = any.next_request(&req, &to("/v1/y"), 0).unwrap().unwrap();
        assert_eq!(same.headers()["x-proxy-auth"], "p", "the same origin");
        let keep = any.clone().keep_custom_headers_across_origins(true);
        let next = keep
            .next_request(&req, &to("http://active:8200/v1/x"), 0)
            .unwrap()
            .unwrap();
        assert_eq!(next.headers()["x-proxy-auth"], "p");

        let refused = |policy: RedirectPolicy, location: &str| {
            policy.next_request(&req, &to(location), 0).err()
        };
        let same_host = RedirectPolicy::default().hosts(RedirectHosts::SameHost);
        assert!(refused(same_host.clone(), "http://standby:8300/v1/x").is_none());
        assert_eq!(
            refused(same_host, "http://active:8200/v1/x"),
            Some(RedirectError::HostNotAllowed {
                host: "active:8200".into()
            })
        );
        let listed = |hosts: &[&str]| {
            RedirectPolicy::default().hosts(RedirectHosts::Listed(
                hosts.iter().map(|h| h.to_string()).collect(),
            ))
        };
        assert!(refused(listed(&["Active"]), "http://active:8200/v1/x").is_none());
        assert!(refused(listed(&["active:8200"]), "http://active:8200/v1/x").is_none());
        assert!(refused(listed(&["active:8300"]), "http://active:8200/v1/x").is_some());
        let never = RedirectPolicy::default().hosts(RedirectHosts::Never);
        assert!(refused(never, "/v1/y").is_some());
    }

    #[test]
    fn error_text_never_has_the_token() {
        let policy = RedirectPolicy::new(0);
        let req = request(Method::PUT, "http://a/v1/x");
        for response in [
            redirect(307, Some("/y")),
            redirect(302, Some("/y")),
            redirect(307, None),
        ] {
            let err = policy.next_request(&req, &response, 0).unwrap_err();
            assert!(!format!("{err} {err:?}").contains("s.token"));
        }
    }

    fn leader_answer(leader: &str, is_self: bool) -> Response<Bytes> {
        let body = format!(
            r#"{{"ha_enabled":true,"is_self":{is_self},"leader_address":"{leader}","leader_cluster_address":""}}"#
        );
        Response::builder()
            .status(200)
            .body(Bytes::from(body))
            .unwrap()
    }

    #[test]
    fn the_cluster_policy_follows_only_to_the_leader_the_first_host_names() {
        let policy = RedirectPolicy::default();
        assert_eq!(policy.allowed_hosts(), &RedirectHosts::Cluster);
        let req = request(Method::PUT, "http://standby:8200/v1/sys/rekey/update");
        let to_active = redirect(307, Some("http://active:8200/v1/sys/rekey/update"));
        // Another port of the same host needs no lookup; another host does.
        assert!(policy
            .next_request(&req, &redirect(307, Some("http://standby:8300/v1/x")), 0)
            .unwrap()
            .is_some());
        assert_eq!(
            policy.next_request(&req, &to_active, 0).err(),
            Some(RedirectError::HostNotAllowed {
                host: "active:8200".into()
            })
        );
        let named = |leader: &str| leader.parse::<Uri>().unwrap();
        for (leader, followed) in [
            ("http://active:8200", true),
            ("http://ACTIVE:8200/", true),
            ("http://active:8201", false),
            ("http://elsewhere:8200", false),
            ("https://active:8200", false),
        ] {
            let decision = policy.next_request_to_leader(&req, &to_active, 0, Some(&named(leader)));
            assert_eq!(decision.is_ok(), followed, "{leader}: {decision:?}");
        }
        assert_eq!(
            same_node(&named("http://a"), &named("http://a:80")),
            same_node(&named("https://a"), &named("https://a:443"))
        );

        // The lookup: a GET of sys/leader at the first host, with nothing of the caller's.
        let ask = policy
            .leader_request(&"http://standby:8200/v1/sys/rekey/update".parse().unwrap())
            .unwrap();
        assert_eq!(ask.method(), Method::GET);
        assert_eq!(ask.uri(), "http://standby:8200/v1/sys/leader");
        assert!(ask.headers().get("x-vault-token").is_none());
        assert!(ask.body().is_empty());
        let other = RedirectPolicy::default().hosts(RedirectHosts::SameHost);
        assert!(other.leader_request(ask.uri()).is_none());

        assert_eq!(
            RedirectPolicy::named_leader(&leader_answer("http://active:8200", false)),
            Some(named("http://active:8200"))
        );
        for answer in [
            leader_answer("http://active:8200", true),
            leader_answer("", false),
            redirect(500, None),
            Response::new(Bytes::from_static(b"<html>")),
        ] {
            assert_eq!(RedirectPolicy::named_leader(&answer), None);
        }
    }

    #[test]
    fn follow_redirects_asks_the_first_host_once_and_sends_nothing_to_a_host_it_does_not_name() {
        for (named, reached) in [
            (Some("http://active:8200"), true),
            (Some("http://rogue:8200"), false),
            (None, false),
        ] {
            let seen = RefCell::new(Vec::new());
            let stack = |request: Request<Bytes>| {
                seen.borrow_mut().push((
                    request.uri().to_string(),
                    request.headers().contains_key("x-vault-token"),
                ));
                let response = match (request.uri().host(), request.uri().path()) {
                    (Some("standby"), "/v1/sys/leader") => match named {
                        Some(leader) => leader_answer(leader, false),
                        None => redirect(503, None),
                    },
                    (Some("standby"), _) => {
                        redirect(307, Some("http://active:8200/v1/sys/rekey/update"))
                    }
                    _ => Response::new(Bytes::from_static(b"{}")),
                };
                Ok::<_, RedirectError>(response)
            };
            let client = FollowRedirects::new(stack, RedirectPolicy::default());
            let outcome = client.send(request(
                Method::PUT,
                "http://standby:8200/v1/sys/rekey/update",
            ));
            let seen = seen.into_inner();
            assert_eq!(
                seen[..2],
                [
                    ("http://standby:8200/v1/sys/rekey/update".to_string(), true),
                    ("http://standby:8200/v1/sys/leader".to_string(), false),
                ],
                "{named:?}"
            );
            if reached {
                assert_eq!(outcome.unwrap().status(), 200);
                assert_eq!(
                    seen[2..],
                    [("http://active:8200/v1/sys/rekey/update".to_string(), true)]
                );
            } else {
                assert_eq!(
                    outcome.unwrap_err(),
                    RedirectError::HostNotAllowed {
                        host: "active:8200".into()
                    },
                    "{named:?}"
                );
                assert_eq!(seen.len(), 2, "nothing sent to the unnamed host: {seen:?}");
            }
        }
    }

    #[test]
    fn a_named_leader_is_checked_against_the_host_policy() {
        let check = |hosts: RedirectHosts, leader: &str| {
            RedirectPolicy::default()
                .hosts(hosts)
                .check_named_leader("http://standby:8200", leader)
        };
        assert!(check(RedirectHosts::Cluster, "http://active:8200").is_ok());
        assert!(check(RedirectHosts::Any, "http://active:8200").is_ok());
        assert!(check(RedirectHosts::SameHost, "http://standby:8300").is_ok());
        assert_eq!(
            check(RedirectHosts::SameHost, "http://active:8200"),
            Err(RedirectError::HostNotAllowed {
                host: "active:8200".into()
            })
        );
        assert!(check(
            RedirectHosts::Listed(vec!["active".into()]),
            "http://active:8200"
        )
        .is_ok());
        assert!(check(
            RedirectHosts::Listed(vec!["other".into()]),
            "http://active:8200"
        )
        .is_err());
        assert!(check(RedirectHosts::Never, "http://standby:8200").is_err());
        assert!(matches!(
            check(RedirectHosts::Any, "not a url"),
            Err(RedirectError::InvalidLeaderAddress { address }) if address == "not a url"
        ));
    }
}
