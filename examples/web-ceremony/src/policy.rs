//! The page's Content-Security-Policy for its connections.
//!
//! The server's address is typed at run time, so the policy in `index.html` cannot name it:
//! it lets the page connect to itself (the wasm is fetched from there) and to any http(s)
//! origin. Once the operator's address is fixed, the page adds a second policy that allows
//! that one origin only. A browser enforces every policy of a page, and a request must pass
//! them all, so from then on nothing the page runs (its own code, or anything that got in)
//! can send a share or the token anywhere else. Policies only narrow: the address cannot
//! change again without a reload, which starts over from `index.html`'s policy.

use vault_key_core::Target;

/// The `connect-src` source expression for the server at `address` (a [`Target`]'s address):
/// its scheme, host and port, or `None` when CSP has no way to write it down.
///
/// Only plain host names and IPv4 addresses qualify: CSP's host grammar has no IPv6 literal,
/// and anything with characters outside it (which could end the directive and start
/// another) is refused rather than quoted.
pub fn connect_source(address: &str) -> Option<String> {
    Target::new(address).ok()?;
    let uri: http::Uri = address.trim().trim_end_matches('/').parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    // The authority as written, checked whole: the URL parser lets through ports that are
    // not numbers.
    let authority = uri.authority()?.as_str().to_ascii_lowercase();
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority.as_str(), None),
    };
    let host_valid = host.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    let port_valid = port.map_or(true, |port| {
        (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit())
    });
    (host_valid && port_valid).then(|| format!("{scheme}://{authority}"))
}

/// The policy added once the server is fixed.
pub fn connect_policy(source: &str) -> String {
    format!("connect-src {source}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_origin_is_what_the_page_may_connect_to() {
        let cases = [
            ("http://127.0.0.1:8200", Some("http://127.0.0.1:8200")),
            ("https://Bao.Example.com/", Some("https://bao.example.com")),
            (
                "HTTPS://bao.example.com:8200/vault",
                Some("https://bao.example.com:8200"),
            ),
            ("http://localhost:8200", Some("http://localhost:8200")),
            // No way to write these in CSP, or not an address at all.
            ("http://[::1]:8200", None),
            ("http://127.0.0.1:8200;script-src", None),
            ("ftp://bao.example.com", None),
            ("bao.example.com:8200", None),
            ("http://user@bao.example.com", None),
        ];
        for (address, expected) in cases {
            assert_eq!(connect_source(address).as_deref(), expected, "{address}");
        }
        assert_eq!(
            connect_policy("http://127.0.0.1:8200"),
            "connect-src http://127.0.0.1:8200"
        );
    }
}
