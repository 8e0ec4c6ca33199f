//! How a fetch failed, as far as the browser lets the page tell. It builds on every target, so
//! that what the ceremonies are told about it, and the sentences for it, are tested on the
//! host.

use std::fmt;
use vault_key_core::{Delivery, PartialResponse};

/// Why a fetch brought back no whole answer. Its text never holds a secret: the browser's
/// reason, a length, at most.
#[derive(Debug)]
pub enum FetchError {
    /// No answer came, and the browser does not say how far the request got: a refused
    /// connection, a CORS refusal, a timeout and a dropped answer all read "Failed to fetch".
    Failed(String),
    /// The node answered with a redirect. The browser hides where to (an opaque redirect has
    /// no status and no `Location`), so the page cannot check the target against the core's
    /// redirect policy, and follows none: the token and a share go nowhere else.
    Redirected,
    /// An answer began (its status arrived) and broke off; what arrived of its body is kept
    /// for the ceremony, which recovers new shares or a token complete in it.
    Cut {
        /// The browser's reason.
        reason: String,
        /// The status and the body bytes read before the break.
        partial: PartialResponse,
    },
}

impl FetchError {
    /// What the ceremony may assume about the request: a node that redirects has not acted on
    /// it, a cut answer was begun, and of any other failure nothing is known.
    pub fn delivery(&self) -> Delivery<'_> {
        match self {
            FetchError::Redirected => Delivery::NotSent,
            FetchError::Cut { partial, .. } => Delivery::Cut(partial),
            FetchError::Failed(_) => Delivery::Unknown,
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Failed(reason) => f.write_str(reason),
            FetchError::Redirected => f.write_str("the node answered with a redirect"),
            FetchError::Cut { reason, partial } => write!(
                f,
                "the answer ({}) broke off after {} bytes of its body: {reason}",
                partial.status().as_u16(),
                partial.body().len()
            ),
        }
    }
}

impl std::error::Error for FetchError {}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;
    use vault_key_core::SecretBytes;

    #[test]
    fn a_redirect_was_not_acted_on_and_a_cut_answer_is_kept() {
        assert!(matches!(
            FetchError::Redirected.delivery(),
            Delivery::NotSent
        ));
        assert!(matches!(
            FetchError::Failed("TypeError: Failed to fetch".into()).delivery(),
            Delivery::Unknown
        ));
        let cut = FetchError::Cut {
            reason: "TypeError: network error".into(),
            partial: PartialResponse::new(StatusCode::OK, SecretBytes::new(b"{\"keys\":[\"0a")),
        };
        match cut.delivery() {
            Delivery::Cut(partial) => assert_eq!(partial.body().expose(), b"{\"keys\":[\"0a"),
            other => panic!("{other:?}"),
        }
        let text = cut.to_string();
        assert_eq!(
            text,
            "the answer (200) broke off after 12 bytes of its body: TypeError: network error"
        );
        assert!(!text.contains("0a"), "{text}");
    }
}
