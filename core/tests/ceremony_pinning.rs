//! A ceremony started with PGP keys pins their fingerprints before any share is sent, so that
//! a re-init that swaps in someone else's keys is caught. When it cannot read the keys (one
//! does not parse, or the core is built without `pgp`), it sends nothing at all until the
//! caller pins the fingerprints themselves: pinning never silently does nothing.

mod ceremony_support;

use ceremony_support::target;
use vault_key_core::ceremony::{Next, RekeyCeremony, RootTokenCeremony, TokenProtection};
use vault_key_core::ops::generate_root::TokenKind;
use vault_key_core::ops::rekey::StartRekey;
#[cfg(feature = "pgp")]
use vault_key_core::CeremonyError;
use vault_key_core::{Dialect, Error, InvalidInput};

/// Base64 that no PGP reader takes for a key.
const NOT_A_KEY: &str = "bm90IGEga2V5";

fn unpinned(next: Result<Next, Error>) -> String {
    match next {
        Err(Error::InvalidInput(InvalidInput::UnpinnedPgpKeys { reason })) => reason,
        other => panic!("expected the unpinned keys refused, got {other:?}"),
    }
}

fn sends(next: Result<Next, Error>) -> http::Request<bytes::Bytes> {
    match next {
        Ok(Next::Send(request)) => request,
        other => panic!("expected the start to go out, got {other:?}"),
    }
}

#[test]
fn keys_that_cannot_be_read_hold_the_rekey_back_until_their_fingerprints_are_pinned() {
    let config = || StartRekey::new(2, 2).pgp_keys(vec![pgp_key(), NOT_A_KEY.into()]);
    let mut rekey = RekeyCeremony::start(config());
    let reason = unpinned(rekey.poll(&target(Dialect::OpenBao)));
    #[cfg(feature = "pgp")]
    assert!(reason.starts_with("PGP key 2 does not read"), "{reason}");
    #[cfg(not(feature = "pgp"))]
    assert!(reason.contains("`pgp` feature"), "{reason}");
    // Asked again, the same: nothing went out, and the error says what to do.
    let error = rekey
        .poll(&target(Dialect::OpenBao))
        .unwrap_err()
        .to_string();
    assert!(error.contains("require_fingerprints"), "{error}");

    let mut pinned = RekeyCeremony::start(config()).require_fingerprints(["aa11", "bb22"]);
    let start = sends(pinned.poll(&target(Dialect::OpenBao)));
    assert!(start.uri().path().ends_with("/init"), "{start:?}");
}

#[test]
fn a_pgp_key_that_cannot_be_read_holds_the_generation_back_until_it_is_pinned() {
    let start =
        || RootTokenCeremony::start(TokenKind::Root, TokenProtection::PgpKey(NOT_A_KEY.into()));
    let mut generation = start();
    let reason = unpinned(generation.poll(&target(Dialect::OpenBao)));
    #[cfg(feature = "pgp")]
    assert!(reason.starts_with("PGP key 1 does not read"), "{reason}");
    #[cfg(not(feature = "pgp"))]
    assert!(reason.contains("`pgp` feature"), "{reason}");

    let mut pinned = start().require_fingerprint("aa11");
    sends(pinned.poll(&target(Dialect::OpenBao)));
    // Other protections pin nothing, and start at once.
    let mut otp = RootTokenCeremony::start(TokenKind::Root, TokenProtection::ServerOtp);
    assert!(matches!(
        otp.poll(&target(Dialect::OpenBao)),
        Ok(Next::Send(_))
    ));
}

/// A key that reads with the `pgp` feature (one of the suite's throwaway keys); any text
/// without it.
fn pgp_key() -> String {
    include_str!("fixtures/pgp/pub1.b64").trim().to_string()
}

#[cfg(feature = "pgp")]
#[test]
fn keys_that_read_are_pinned_by_themselves() {
    let keys = vec![
        pgp_key(),
        include_str!("fixtures/pgp/pub2.b64").trim().to_string(),
    ];
    let mut rekey = RekeyCeremony::start(StartRekey::new(2, 2).pgp_keys(keys));
    sends(rekey.poll(&target(Dialect::OpenBao)));
    // A start answer for other keys than these is refused.
    let other = r#"{"nonce":"n-1","started":true,"t":2,"n":2,"progress":0,"required":3,"pgp_fingerprints":["00aa","00bb"],"backup":false,"verification_required":false}"#;
    let refused = rekey.handle_response(http::StatusCode::OK, other.as_bytes());
    assert!(
        matches!(
            refused,
            Err(Error::Ceremony(CeremonyError::FingerprintMismatch { .. }))
        ),
        "{refused:?}"
    );
    let mut generation =
        RootTokenCeremony::start(TokenKind::Root, TokenProtection::PgpKey(pgp_key()));
    sends(generation.poll(&target(Dialect::OpenBao)));
}
