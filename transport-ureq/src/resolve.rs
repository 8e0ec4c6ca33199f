//! Name resolution without a thread per request.
//!
//! ureq resolves the host before it looks in its connection pool, so every request pays for
//! a lookup, even one that goes out on a kept-alive connection; with a timeout set, its
//! resolver runs each lookup on a new thread (to be able to give up on it). For an address
//! such as `https://10.0.0.5:8200` there is nothing to look up, and for a name the answer is
//! reused for a few seconds, as long as a pooled connection would have been reused anyway.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

use crate::proxy::Route;

/// How long a name's addresses are reused before it is looked up again.
const REUSE_FOR: Duration = Duration::from_secs(5);

/// IP literals as they are, names through ureq's resolver, briefly remembered; nothing for
/// a server reached through the proxy, which resolves the name itself.
#[derive(Debug, Default)]
pub(crate) struct QuickResolver {
    lookup: DefaultResolver,
    last: Mutex<Option<Remembered>>,
    route: Option<Arc<Route>>,
}

impl QuickResolver {
    /// A resolver that leaves the names `route`'s proxy applies to unresolved.
    pub(crate) fn new(route: Option<Arc<Route>>) -> Self {
        Self {
            route,
            ..Self::default()
        }
    }
}

#[derive(Debug)]
struct Remembered {
    host_and_port: String,
    at: Instant,
    addrs: ResolvedSocketAddrs,
}

impl Resolver for QuickResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        if self
            .route
            .as_ref()
            .is_some_and(|route| route.applies_to(uri))
        {
            return Ok(self.empty());
        }
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return self.lookup.resolve(uri, config, timeout);
        };
        let port = authority.port_u16().or_else(|| match scheme.as_str() {
            "https" => Some(443),
            "http" => Some(80),
            _ => None,
        });
        let Some(port) = port else {
            return self.lookup.resolve(uri, config, timeout);
        };
        let host = authority.host();
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            let mut addrs = self.empty();
            addrs.push(SocketAddr::new(ip, port));
            return Ok(addrs);
        }
        let host_and_port = format!("{host}:{port}");
        let last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(remembered) = last.as_ref() {
            if remembered.host_and_port == host_and_port && remembered.at.elapsed() < REUSE_FOR {
                return Ok(remembered.addrs.clone());
            }
        }
        // Looked up without holding the lock: a slow lookup does not stall other threads.
        drop(last);
        let addrs = self.lookup.resolve(uri, config, timeout)?;
        *self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Remembered {
            host_and_port,
            at: Instant::now(),
            addrs: addrs.clone(),
        });
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(resolver: &QuickResolver, address: &str) -> Vec<SocketAddr> {
        let uri: Uri = address.parse().unwrap();
        let config = ureq::Agent::config_builder().build();
        let timeout = NextTimeout {
            after: ureq::unversioned::transport::time::Duration::from_secs(5),
            reason: ureq::Timeout::Resolve,
            ..NextTimeout::default()
        };
        resolver
            .resolve(&uri, &config, timeout)
            .unwrap()
            .iter()
            .copied()
            .collect()
    }

    #[test]
    fn literals_need_no_lookup_and_names_are_remembered() {
        let resolver = QuickResolver::default();
        assert_eq!(
            resolve(&resolver, "http://127.0.0.1:8200/v1/x"),
            ["127.0.0.1:8200".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(
            resolve(&resolver, "https://[::1]/v1/x"),
            ["[::1]:443".parse::<SocketAddr>().unwrap()]
        );
        assert!(
            resolver.last.lock().unwrap().is_none(),
            "no lookup for literals"
        );
        let first = resolve(&resolver, "http://localhost:8200/v1/x");
        assert!(!first.is_empty());
        assert!(resolver.last.lock().unwrap().is_some());
        assert_eq!(resolve(&resolver, "http://localhost:8200/v1/y"), first);
    }
}
