//! `Location` resolution and the redirect policy.
//!
//! Besides not panicking: a resolved location is an http(s) URL with a host; a policy never
//! leads to a host it does not allow, never changes the scheme from https to http, and never
//! carries a caller header across origins unless told to.

#![no_main]

use arbitrary::Unstructured;
use bytes::Bytes;
use http::{HeaderName, Request, Response, Uri};
use libfuzzer_sys::fuzz_target;
use vault_key_core::transport::redirect::{resolve_location, RedirectHosts, RedirectPolicy};

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = run(&mut u);
});

const BASES: [&str; 4] = [
    "http://127.0.0.1:8200/v1/sys/rekey/update",
    "https://vault.example.com:8200/v1/sys/generate-root/update?x=1",
    "https://[::1]:8200/v1/sys/rotate/root/update",
    "http://standby/v1/sys/seal-status",
];

fn run(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let base: Uri = if u.ratio(1u8, 4u8)? {
        match u.arbitrary::<&str>()?.parse() {
            Ok(uri) => uri,
            Err(_) => return Ok(()),
        }
    } else {
        u.choose(&BASES)?.parse().expect("a valid base")
    };
    let location: &str = u.arbitrary()?;
    if let Some(resolved) = resolve_location(&base, location) {
        assert!(matches!(resolved.scheme_str(), Some("http" | "https")));
        assert!(resolved.host().is_some_and(|h| !h.is_empty()));
    }

    let listed = vec![u.arbitrary::<String>()?, "active:8200".into()];
    let hosts = match u.int_in_range(0u8..=4)? {
        0 => RedirectHosts::Any,
        1 => RedirectHosts::SameHost,
        2 => RedirectHosts::Listed(listed.clone()),
        3 => RedirectHosts::Cluster,
        _ => RedirectHosts::Never,
    };
    // The leader the first host named (under the cluster policy), when it was asked.
    let leader: Option<Uri> = if u.arbitrary()? {
        u.choose(&["http://active:8200", "https://active:8200", "http://other"])?
            .parse()
            .ok()
    } else {
        None
    };
    let custom = HeaderName::from_static("x-custom");
    let keep = u.arbitrary()?;
    let policy = RedirectPolicy::new(u.int_in_range(0..=3)?)
        .hosts(hosts.clone())
        .custom_headers([custom.clone()])
        .keep_custom_headers_across_origins(keep);
    let Ok(request) = Request::put(base.clone())
        .header("x-vault-token", "s.token")
        .header(&custom, "value")
        .body(Bytes::from_static(b"{\"key\":\"share\"}"))
    else {
        return Ok(());
    };
    let status = *u.choose(&[301u16, 302, 303, 307, 308, 200, 400])?;
    let Ok(response) = Response::builder()
        .status(status)
        .header("location", location.trim_matches(|c: char| c.is_control()))
        .body(())
    else {
        return Ok(());
    };
    let followed = u.int_in_range(0..=4)?;
    if let Ok(Some(next)) =
        policy.next_request_to_leader(&request, &response, followed, leader.as_ref())
    {
        assert!(followed < policy.max_redirects(), "followed past the limit");
        assert_ne!(hosts, RedirectHosts::Never);
        let (from, to) = (request.uri(), next.uri());
        let host = |uri: &Uri| uri.host().unwrap_or_default().to_ascii_lowercase();
        let authority = |uri: &Uri| {
            uri.authority()
                .map_or(String::new(), |a| a.as_str().to_ascii_lowercase())
        };
        let port = |uri: &Uri| {
            uri.port_u16()
                .unwrap_or(if uri.scheme_str() == Some("https") {
                    443
                } else {
                    80
                })
        };
        match &hosts {
            RedirectHosts::SameHost => assert_eq!(host(from), host(to)),
            RedirectHosts::Listed(listed) => assert!(
                listed.iter().any(|allowed| {
                    let allowed = allowed.to_ascii_lowercase();
                    allowed == host(to) || allowed == authority(to)
                }),
                "a host not listed"
            ),
            RedirectHosts::Cluster => assert!(
                host(from) == host(to)
                    || leader.as_ref().is_some_and(|leader| {
                        host(leader) == host(to)
                            && leader.scheme() == to.scheme()
                            && port(leader) == port(to)
                    }),
                "neither the same host nor the named leader"
            ),
            _ => {}
        }
        assert!(
            !(from.scheme_str() == Some("https") && to.scheme_str() == Some("http")),
            "downgraded to http"
        );
        let same_origin = from.scheme() == to.scheme() && from.authority() == to.authority();
        if !same_origin && !keep {
            assert!(
                next.headers().get(&custom).is_none(),
                "custom header crossed"
            );
        }
    }
    Ok(())
}
