//! What the page says when something goes wrong: one plain sentence an operator can act on,
//! from the core's typed errors. The server's own words follow where they add something; a
//! secret never appears (the core's errors carry none in their text).

use crate::failure::FetchError;
use vault_key_core::{CeremonyError, Error, ExecuteError, Refusal, ServerError, Target};

/// A sentence for a failed exchange: the browser could not reach the server, the answer broke
/// off or was a redirect, or the core or the server refused. A redirect reads better with the
/// leader the node names: see [`redirected`].
pub fn exchange(error: &ExecuteError<FetchError>, address: &str) -> String {
    match error {
        ExecuteError::Transport(FetchError::Redirected) => redirected(address, None),
        ExecuteError::Transport(error @ FetchError::Cut { .. }) => format!(
            "The answer from {address} broke off ({error}). What arrived of it is kept in the \
             ceremony; the next step reads the server's progress before anything is sent again."
        ),
        ExecuteError::Transport(error) => format!(
            "The browser could not reach {address} ({error}): the address is wrong, the server \
             is down, or it does not allow this page's origin (CORS, sys/config/cors). \
             To use another address, reload the page."
        ),
        ExecuteError::Core(error) => core(error),
        other => other.to_string(),
    }
}

/// A sentence for a node that answered with a redirect, which the page never follows: it
/// cannot see where to, so the operator chooses the next address. `leader` is what the node
/// says in `sys/leader`, named only when it is an address, and marked when it would take the
/// token from https down to plain http.
pub fn redirected(address: &str, leader: Option<&str>) -> String {
    let leader = leader
        .map(str::trim)
        .filter(|leader| Target::new(leader).is_ok())
        .map(|leader| {
            // The core's own rule for a named leader: never from https down to http.
            let downgrade = Target::new(address)
                .and_then(|node| node.at_named_leader(leader))
                .is_err();
            format!(
                " It names {leader} as the active node{}.",
                if downgrade {
                    ", over plain http: the token would travel unencrypted there, so do not \
                     use it from this page"
                } else {
                    ""
                }
            )
        })
        .unwrap_or_default();
    format!(
        "The node at {address} answered with a redirect (it is likely a standby), and this \
         page follows no redirect: the token and the share would go along to an address \
         nobody checked. The node did not act on the request; nothing was sent anywhere else.\
         {leader} Point the page at the active node: reload it and type that node's address."
    )
}

/// A sentence for an error of the core.
pub fn core(error: &Error) -> String {
    match error {
        Error::Server(error) => server(error),
        Error::Decode(error) => format!(
            "The server's answer could not be understood ({error}); whatever it held is kept \
             in the ceremony."
        ),
        Error::InvalidInput(error) => format!("{}.", capitalised(&error.to_string())),
        Error::Ceremony(error) => ceremony(error),
        other => capitalised(&other.to_string()),
    }
}

fn ceremony(error: &CeremonyError) -> String {
    match error {
        CeremonyError::ForeignNonce { .. } => "The server now runs another ceremony than the \
             one this page started (its nonce changed): someone cancelled and restarted it. \
             Nothing more is sent to it from here; start again once you know who runs it."
            .to_string(),
        CeremonyError::LostByServer(what) => format!(
            "The server no longer has this {what}: it was cancelled, or the server restarted \
             or was sealed. Nothing it would have produced took effect; start a new one."
        ),
        other => format!("{}.", capitalised(&other.to_string())),
    }
}

/// A sentence for a server's refusal.
pub fn server(error: &ServerError) -> String {
    let said = said(error);
    match &error.refusal {
        Refusal::PermissionDenied => {
            "The server refused the token: it is missing, wrong, expired, or its policy does \
             not allow this path."
                .to_string()
        }
        Refusal::Sealed => "The server is sealed: unseal it first.".to_string(),
        Refusal::NotInitialized => "The server is not initialised yet.".to_string(),
        Refusal::Standby | Refusal::NodeNotActive => {
            "This node is a standby: use the address of the active node.".to_string()
        }
        Refusal::NoActiveNode => {
            "The cluster has no active node right now; try again once a leader is elected."
                .to_string()
        }
        Refusal::RateLimited | Refusal::Overloaded => {
            "The server is busy (rate limit or overload); try again in a moment.".to_string()
        }
        Refusal::EndpointDisabled => "This server does not serve the Vault paths (sys/rekey, \
             sys/generate-root) on this listener: choose the OpenBao paths, or enable the \
             legacy endpoints in the listener's configuration."
            .to_string(),
        Refusal::NotFound | Refusal::RecoveryMode => {
            "The server does not serve this path: is it Vault or OpenBao, with the right \
             paths chosen?"
                .to_string()
        }
        Refusal::WrongNonce { .. } => "The server runs another ceremony than this one (the \
             nonce does not match): someone else started or restarted it."
            .to_string(),
        Refusal::AlreadyProvided => {
            "That share was already given in this ceremony; enter another holder's share."
                .to_string()
        }
        Refusal::NotInProgress => "No ceremony is in progress on the server: it was \
             cancelled, finished elsewhere, or the server restarted."
            .to_string(),
        Refusal::AlreadyInProgress => "A ceremony of this kind is already in progress on the \
             server: finish or cancel it before starting another."
            .to_string(),
        Refusal::SharesDidNotCombine => "The shares did not combine into the key: at least \
             one of them is wrong. The server starts counting again; enter the shares again."
            .to_string(),
        Refusal::VerificationPending { .. } => "The rekey is done and waits for the new shares \
             to be verified: enter the new shares, or cancel the verification."
            .to_string(),
        Refusal::InvalidRequest if error.errors.iter().any(|e| e.contains("hex or base64")) => {
            "That is not a key share: a share is the hex or base64 text its holder was given."
                .to_string()
        }
        Refusal::InvalidRequest => format!("The server refused the request as invalid{said}."),
        Refusal::ServerFailure => format!("The server failed ({}){said}.", error.status),
        _ => format!("The server refused ({}){said}.", error.status),
    }
}

/// The server's own messages, as a clause: `: "…"`, or nothing.
fn said(error: &ServerError) -> String {
    if error.errors.is_empty() {
        String::new()
    } else {
        format!(": \"{}\"", error.errors.join("; "))
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vault_key_core::ceremony::{Next, RekeyCeremony};
    use vault_key_core::ops::rekey::StartRekey;
    use vault_key_core::{KeyShare, Target};

    fn refused(status: u16, message: &str) -> String {
        server(&ServerError::new(status, vec![message.to_string()]))
    }

    // The messages are OpenBao 2.7.2's, as captured in the reference exchanges.
    #[test]
    fn refusals_read_as_sentences() {
        let cases = [
            (403, "permission denied", "refused the token"),
            (503, "Vault is sealed", "is sealed: unseal it first"),
            (405, "unsupported operation", "choose the OpenBao paths"),
            (
                400,
                "incorrect nonce supplied; nonce for this rekey operation is \"abc\"",
                "another ceremony",
            ),
            (
                400,
                "given key has already been provided during this generation operation",
                "already given",
            ),
            (400, "no rotation in progress", "No ceremony is in progress"),
            (400, "rekey already in progress", "already in progress"),
            (
                400,
                "'key' must be a valid hex or base64 string",
                "That is not a key share",
            ),
        ];
        for (status, message, expected) in cases {
            let sentence = refused(status, message);
            assert!(sentence.contains(expected), "{message:?} → {sentence:?}");
            assert!(sentence.ends_with('.'), "{sentence:?}");
        }
    }

    #[test]
    fn an_unexplained_refusal_keeps_the_servers_words() {
        let sentence = refused(400, "something new");
        assert_eq!(
            sentence,
            "The server refused the request as invalid: \"something new\"."
        );
    }

    #[test]
    fn a_fetch_failure_names_the_address_and_cors() {
        let error =
            ExecuteError::Transport(FetchError::Failed("TypeError: Failed to fetch".to_string()));
        let sentence = exchange(&error, "http://127.0.0.1:8200");
        assert!(sentence.contains("could not reach http://127.0.0.1:8200"));
        assert!(sentence.contains("CORS"));
    }

    #[test]
    fn a_redirect_says_what_happened_and_names_the_leader_it_is_told() {
        let error = ExecuteError::Transport(FetchError::Redirected);
        let plain = exchange(&error, "https://standby:8200");
        assert!(plain.contains("answered with a redirect"), "{plain}");
        assert!(
            plain.contains("Point the page at the active node"),
            "{plain}"
        );
        assert!(!plain.contains("names"), "{plain}");

        let named = redirected("https://standby:8200", Some("https://active:8200"));
        assert!(
            named.contains("It names https://active:8200 as the active node."),
            "{named}"
        );
        let down = redirected("https://standby:8200", Some("http://active:8200"));
        assert!(down.contains("over plain http"), "{down}");
        // What a node says is named only when it is an address.
        let odd = redirected("https://standby:8200", Some("not an address"));
        assert!(!odd.contains("not an address"), "{odd}");
    }

    #[test]
    fn a_cut_answer_says_it_is_kept() {
        let error = ExecuteError::Transport(FetchError::Cut {
            reason: "TypeError: network error".to_string(),
            partial: vault_key_core::PartialResponse::new(
                http::StatusCode::OK,
                vault_key_core::SecretBytes::new(b"{\"encoded_token\":\"abc"),
            ),
        });
        let sentence = exchange(&error, "http://127.0.0.1:8200");
        assert!(sentence.contains("broke off"), "{sentence}");
        assert!(sentence.contains("is kept"), "{sentence}");
        assert!(!sentence.contains("abc"), "{sentence}");
    }

    /// A ceremony error as the page meets it: a rekey whose share the server refuses.
    #[test]
    fn a_refused_share_through_a_ceremony() {
        let target = Target::new("http://127.0.0.1:8200").unwrap();
        let mut ceremony = RekeyCeremony::start(StartRekey::new(3, 2));
        let Ok(Next::Send(_)) = ceremony.poll(&target) else {
            panic!("the start is sent first")
        };
        ceremony
            .handle_response(
                http::StatusCode::OK,
                br#"{"nonce":"n1","started":true,"t":2,"n":3,"progress":0,"required":1}"#,
            )
            .unwrap();
        ceremony
            .submit_share(KeyShare::new("00aa".repeat(8)))
            .unwrap();
        let Ok(Next::Send(_)) = ceremony.poll(&target) else {
            panic!("the share is sent")
        };
        let error = ceremony
            .handle_response(
                http::StatusCode::BAD_REQUEST,
                br#"{"errors":["given key has already been provided during this rekey operation"]}"#,
            )
            .unwrap_err();
        let sentence = core(&error);
        assert!(sentence.contains("already given"), "{sentence}");
        assert!(!sentence.contains("00aa"), "{sentence}");
    }
}
