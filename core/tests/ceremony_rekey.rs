//! The rekey ceremony driven end to end against captured OpenBao 2.7.2 exchanges, on both
//! dialects: the classic `sys/rekey/*` paths (server B) and OpenBao's `sys/rotate/root/*`
//! (server A), and the recovery-key variants of both.

mod ceremony_support;

use bytes::Bytes;
use ceremony_support::{block_on, drive, drive_async, target, Capture, Row, Server};
use http::{Request, Response};
use serde_json::{json, Value};
use std::cell::Cell;
use std::convert::Infallible;
use vault_key_core::ceremony::{Next, RekeyCeremony, RekeyEvent, RekeyPhase, Verification};
use vault_key_core::ops::rekey::{KeyKind, StartRekey};
use vault_key_core::transport::redirect::{FollowRedirects, RedirectPolicy};
use vault_key_core::transport::{TransportError, TransportErrorKind};
use vault_key_core::{
    execute, CeremonyError, Dialect, Error, ExecuteError, KeyShare, Refusal, Target,
};

/// The captures of one flow, on the paths of `kind`.
fn rows(capture: &Capture, kind: KeyKind, captures: &[usize]) -> Vec<Row> {
    capture
        .rows(captures)
        .into_iter()
        .map(|row| on_kind(row, kind))
        .collect()
}

fn on_kind(row: Row, kind: KeyKind) -> Row {
    if kind == KeyKind::Unseal {
        return row;
    }
    if row.path.contains("/sys/rekey/backup") {
        row.on_path("/sys/rekey/backup", "/sys/rekey/recovery-key-backup")
    } else if row.path.contains("/sys/rekey/") {
        row.on_path("/sys/rekey/", "/sys/rekey-recovery-key/")
    } else {
        row.on_path("/sys/rotate/root/", "/sys/rotate/recovery/")
    }
}

fn shares(capture: &Capture, captures: &[usize]) -> Vec<KeyShare> {
    captures
        .iter()
        .map(|&c| KeyShare::new(capture.row(c).key()))
        .collect()
}

fn exposed(keys: &[KeyShare]) -> Vec<String> {
    keys.iter().map(|k| k.expose().to_string()).collect()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_str().expect("a string").to_string())
        .collect()
}

fn core_error<E: std::fmt::Debug>(result: Result<RekeyPhase, ExecuteError<E>>) -> Error {
    match result {
        Err(ExecuteError::Core(err)) => err,
        other => panic!("expected a core error, got {other:?}"),
    }
}

fn refusal_of<E: std::fmt::Debug>(result: Result<RekeyPhase, ExecuteError<E>>) -> Refusal {
    core_error(result)
        .refusal()
        .cloned()
        .expect("a server refusal")
}

struct Flow {
    dialect: Dialect,
    start: usize,
    updates: [usize; 3],
}

const LEGACY_PLAIN: Flow = Flow {
    dialect: Dialect::Vault,
    start: 204,
    updates: [205, 206, 207],
};
const OPENBAO_PLAIN: Flow = Flow {
    dialect: Dialect::OpenBao,
    start: 345,
    updates: [346, 347, 348],
};

fn plain_rekey(flow: &Flow, kind: KeyKind) {
    let capture = Capture::load();
    let mut script = vec![flow.start];
    script.extend(flow.updates);
    let server = Server::new(rows(&capture, kind, &script));
    let mut rekey =
        RekeyCeremony::start(StartRekey::new(3, 2).require_verification(false).kind(kind));
    rekey
        .submit_shares(shares(&capture, &flow.updates))
        .unwrap();
    assert_eq!(rekey.queued_shares(), 3);
    assert_eq!(
        rekey.verification(),
        Verification::Unknown,
        "no new shares yet"
    );

    let phase = drive(&server.client(), &target(flow.dialect), &mut rekey).unwrap();
    server.finished();
    assert_eq!(phase, RekeyPhase::Done);
    let last = capture.row(flow.updates[2]);
    let result = rekey.result().expect("the new shares");
    assert_eq!(exposed(&result.keys), strings(&last.field("keys")));
    assert_eq!(
        exposed(&result.keys_base64),
        strings(&last.field("keys_base64"))
    );
    assert!(result.pgp_fingerprints.is_empty());
    assert!(!result.backup);
    assert_eq!(rekey.verification(), Verification::NotRequired);
    assert_eq!(
        rekey.nonce(),
        capture.row(flow.start).field("nonce").as_str()
    );
    assert_eq!(rekey.dialect(), Some(flow.dialect));
    assert_eq!(rekey.key_kind(), kind);
    // Over: nothing more to send, and no share is accepted any more.
    assert!(rekey
        .poll(&target(flow.dialect))
        .map(Next::into_request)
        .unwrap()
        .is_none());
    assert!(rekey.submit_share(KeyShare::new("00")).is_err());
}

#[test]
fn legacy_plain_rekey() {
    plain_rekey(&LEGACY_PLAIN, KeyKind::Unseal);
}

#[test]
fn openbao_plain_rekey() {
    plain_rekey(&OPENBAO_PLAIN, KeyKind::Unseal);
}

#[test]
fn legacy_recovery_key_rekey() {
    plain_rekey(&LEGACY_PLAIN, KeyKind::Recovery);
}

#[test]
fn openbao_recovery_key_rekey() {
    plain_rekey(&OPENBAO_PLAIN, KeyKind::Recovery);
}

/// Start; one share; the same share again (refused); another; a wrong share that reaches the
/// threshold (the rekey stays, progress 0); read the progress; cancel with the nonce.
fn refusals_then_cancel(dialect: Dialect, kind: KeyKind, script: [usize; 7]) {
    let capture = Capture::load();
    let [start, first, again, second, wrong, read, _cancel] = script;
    let nonce = capture.row(start).field("nonce");
    let mut rows = rows(&capture, kind, &script);
    rows[6] = rows[6].clone().expect_body(json!({ "nonce": nonce }));
    let server = Server::new(rows);
    let client = server.client();
    let target = target(dialect);
    let mut rekey =
        RekeyCeremony::start(StartRekey::new(3, 2).require_verification(false).kind(kind));
    rekey
        .submit_shares(shares(&capture, &[first, again, second, wrong]))
        .unwrap();

    let refusal = refusal_of(drive(&client, &target, &mut rekey));
    assert_eq!(refusal, Refusal::AlreadyProvided);
    assert_eq!(rekey.phase(), RekeyPhase::CollectingShares);
    assert_eq!((rekey.progress(), rekey.required()), (1, 3));
    assert_eq!(rekey.queued_shares(), 2);

    let refusal = refusal_of(drive(&client, &target, &mut rekey));
    assert_eq!(refusal, Refusal::SharesDidNotCombine);
    assert_eq!(rekey.phase(), RekeyPhase::CollectingShares);
    assert_eq!((rekey.progress(), rekey.required()), (0, 3));
    assert_eq!(rekey.nonce(), nonce.as_str());
    assert!(rekey.result().is_none());

    rekey.refresh().unwrap();
    assert_eq!(
        drive(&client, &target, &mut rekey).unwrap(),
        RekeyPhase::CollectingShares
    );
    assert_eq!(rekey.status().unwrap().progress, 0);
    assert_eq!(
        capture.row(read).field("nonce").as_str(),
        rekey.nonce(),
        "the server kept the rekey"
    );

    rekey.cancel().unwrap();
    assert_eq!(
        drive(&client, &target, &mut rekey).unwrap(),
        RekeyPhase::Cancelled
    );
    server.finished();
    assert!(rekey.submit_share(KeyShare::new("00")).is_err());
    rekey.cancel().unwrap();
}

#[test]
fn legacy_rejected_and_wrong_shares_then_cancel() {
    refusals_then_cancel(
        Dialect::Vault,
        KeyKind::Unseal,
        [189, 197, 198, 199, 200, 201, 202],
    );
}

#[test]
fn openbao_rejected_and_wrong_shares_then_cancel() {
    refusals_then_cancel(
        Dialect::OpenBao,
        KeyKind::Unseal,
        [329, 338, 339, 340, 341, 342, 343],
    );
}

#[test]
fn openbao_recovery_rejected_and_wrong_shares_then_cancel() {
    refusals_then_cancel(
        Dialect::OpenBao,
        KeyKind::Recovery,
        [329, 338, 339, 340, 341, 342, 343],
    );
}

struct VerifyFlow {
    dialect: Dialect,
    /// start, two updates (the second completes)
    rekey: [usize; 3],
    /// a progress read during verification (its answer is the template for derived ones)
    read: usize,
    /// accepted, duplicate, accepted, wrong (fails at the threshold)
    first_round: [usize; 4],
    /// whether the server refuses the duplicate (classic) or counts it (OpenBao)
    duplicate_refused: bool,
    /// the verification nonce the server moved to after the failure
    after_failure: usize,
    /// DELETE verify, then three shares that complete verification
    cancel: usize,
    second_round: [usize; 3],
}

const LEGACY_VERIFY: VerifyFlow = VerifyFlow {
    dialect: Dialect::Vault,
    rekey: [219, 222, 223],
    read: 224,
    first_round: [231, 232, 233, 234],
    duplicate_refused: true,
    after_failure: 235,
    cancel: 236,
    second_round: [237, 238, 239],
};
const OPENBAO_VERIFY: VerifyFlow = VerifyFlow {
    dialect: Dialect::OpenBao,
    rekey: [360, 363, 364],
    read: 365,
    first_round: [371, 372, 373, 0],
    duplicate_refused: false,
    after_failure: 374,
    cancel: 375,
    second_round: [376, 377, 378],
};

fn rekey_with_verification(flow: &VerifyFlow, kind: KeyKind) {
    let capture = Capture::load();
    let target = target(flow.dialect);
    let [start, first, last] = flow.rekey;
    let issued = capture.row(last);
    let verification_nonce = issued.field("verification_nonce");
    let verification_nonce = verification_nonce.as_str().unwrap();
    let server = Server::new(rows(&capture, kind, &flow.rekey));
    let client = server.client();

    let mut rekey =
        RekeyCeremony::start(StartRekey::new(5, 3).require_verification(true).kind(kind));
    rekey
        .submit_shares(shares(&capture, &[first, last]))
        .unwrap();
    assert_eq!(
        drive(&client, &target, &mut rekey).unwrap(),
        RekeyPhase::Verifying
    );
    assert_eq!(rekey.verification(), Verification::Pending);
    assert_eq!(rekey.verification_nonce(), Some(verification_nonce));
    assert_eq!((rekey.progress(), rekey.required()), (0, 3));
    let new_keys = exposed(&rekey.result().expect("the new shares").keys);
    assert_eq!(new_keys, strings(&issued.field("keys")));
    assert!(rekey.submit_share(KeyShare::new("00")).is_err());

    // First round: one share counted, a duplicate, then wrong shares reach the threshold and
    // the server restarts verification under a new nonce.
    let round: Vec<usize> = flow
        .first_round
        .iter()
        .copied()
        .filter(|&c| c != 0)
        .collect();
    server.then(rows(&capture, kind, &round));
    let mut queued = shares(&capture, &round);
    if !flow.duplicate_refused {
        // OpenBao counts a duplicate, then fails at the threshold on it.
        queued.truncate(3);
    }
    rekey.submit_verification_shares(queued).unwrap();
    let moved_to = capture.row(flow.after_failure).field("nonce");
    let moved_to = moved_to.as_str().unwrap();
    if flow.duplicate_refused {
        let refusal = refusal_of(drive(&client, &target, &mut rekey));
        assert_eq!(refusal, Refusal::AlreadyProvided);
        assert_eq!(rekey.progress(), 1);
    }
    // The read after the failure: the captured read during verification, with the
    // verification nonce the server moved to (taken from its next verify status).
    server.then([on_kind(
        capture.row(flow.read).replace(verification_nonce, moved_to),
        kind,
    )]);
    let refusal = refusal_of(drive(&client, &target, &mut rekey));
    assert_eq!(refusal, Refusal::SharesDidNotCombine);
    assert_eq!(rekey.phase(), RekeyPhase::Verifying);
    assert_eq!(rekey.progress(), 0);
    assert_eq!(
        drive(&client, &target, &mut rekey).unwrap(),
        RekeyPhase::Verifying
    );
    assert_eq!(rekey.verification_nonce(), Some(moved_to));

    // Cancel verification: a fresh verification nonce, read next to the pinned rekey nonce;
    // the same new shares then verify.
    let fresh = capture.row(flow.cancel).field("nonce");
    let fresh = fresh.as_str().unwrap();
    server.then(rows(&capture, kind, &[flow.cancel]));
    server.then([on_kind(
        capture.row(flow.read).replace(verification_nonce, fresh),
        kind,
    )]);
    server.then(rows(&capture, kind, &flow.second_round));
    rekey.cancel_verification().unwrap();
    assert_eq!(
        drive(&client, &target, &mut rekey).unwrap(),
        RekeyPhase::Verifying
    );
    assert_eq!(rekey.verification_nonce(), Some(fresh));
    rekey
        .submit_verification_shares(shares(&capture, &flow.second_round))
        .unwrap();
    assert_eq!(
        drive(&client, &target, &mut rekey).unwrap(),
        RekeyPhase::Done
    );
    server.finished();
    assert_eq!(rekey.verification(), Verification::Verified);
    assert_eq!(exposed(&rekey.result().unwrap().keys), new_keys);
    assert_eq!(rekey.nonce(), capture.row(start).field("nonce").as_str());
    assert!(
        rekey.cancel().is_err(),
        "a finished rekey cannot be cancelled"
    );
}

#[test]
fn legacy_rekey_with_verification_and_a_cancelled_verification() {
    rekey_with_verification(&LEGACY_VERIFY, KeyKind::Unseal);
}

#[test]
fn openbao_rekey_with_verification_and_a_cancelled_verification() {
    rekey_with_verification(&OPENBAO_VERIFY, KeyKind::Unseal);
}

#[test]
fn legacy_recovery_key_rekey_with_verification() {
    rekey_with_verification(&LEGACY_VERIFY, KeyKind::Recovery);
}

#[test]
fn openbao_recovery_key_rekey_with_verification() {
    rekey_with_verification(&OPENBAO_VERIFY, KeyKind::Recovery);
}

#[test]
fn legacy_cancel_during_verification_keeps_the_result() {
    let capture = Capture::load();
    let nonce = capture.row(250).field("nonce");
    let mut script = capture.rows(&[250, 251, 252, 253]);
    script.push(capture.row(254).expect_body(json!({ "nonce": nonce })));
    let server = Server::new(script);
    let target = target(Dialect::Vault);
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(true));
    rekey
        .submit_shares(shares(&capture, &[251, 252, 253]))
        .unwrap();
    assert_eq!(
        drive(&server.client(), &target, &mut rekey).unwrap(),
        RekeyPhase::Verifying
    );
    rekey.cancel().unwrap();
    assert_eq!(
        drive(&server.client(), &target, &mut rekey).unwrap(),
        RekeyPhase::Cancelled
    );
    server.finished();
    let result = rekey.result().expect("still reachable");
    assert_eq!(
        exposed(&result.keys),
        strings(&capture.row(253).field("keys"))
    );
    assert_eq!(rekey.verification(), Verification::Pending);
}

fn pgp_backup(dialect: Dialect, script: [usize; 6]) {
    let capture = Capture::load();
    let [start, first, second, last, _read_backup, _delete_backup] = script;
    let server = Server::new(capture.rows(&script));
    let client = server.client();
    let target = target(dialect);
    let pgp_keys = strings(&capture.row(start).req_json().unwrap()["pgp_keys"]);
    assert_eq!(pgp_keys.len(), 3);
    // Pinned by the caller: without the `pgp` feature the core does not read the keys.
    let pinned = strings(&capture.row(start).field("pgp_fingerprints"));
    let mut rekey = RekeyCeremony::start(
        StartRekey::new(3, 2)
            .require_verification(false)
            .pgp_keys(pgp_keys)
            .backup(true),
    )
    .require_fingerprints(pinned);
    rekey
        .submit_shares(shares(&capture, &[first, second, last]))
        .unwrap();
    assert_eq!(
        drive(&client, &target, &mut rekey).unwrap(),
        RekeyPhase::Done
    );

    let fingerprints = strings(&capture.row(start).field("pgp_fingerprints"));
    assert_eq!(rekey.status().unwrap().pgp_fingerprints, fingerprints);
    let result = rekey.result().unwrap();
    assert!(result.backup);
    assert_eq!(
        result.pgp_fingerprints, fingerprints,
        "in the order of the keys"
    );
    assert_eq!(result.keys.len(), 3);
    assert!(
        result
            .keys
            .iter()
            .all(|k| k.expose().starts_with("c1c04c03")),
        "each share is an OpenPGP message (public-key encrypted session key packet)"
    );

    // The backup: plain operations, of the ceremony's key kind; it is this rekey's.
    let backup = execute(&client, &target, &rekey.read_backup()).unwrap();
    assert!(rekey.is_own_backup(&backup));
    for (fingerprint, share) in fingerprints.iter().zip(&result.keys) {
        assert_eq!(exposed(&backup.keys[fingerprint]), [share.expose()]);
    }
    execute(&client, &target, &rekey.delete_backup()).unwrap();
    server.finished();
}

#[test]
fn legacy_rekey_with_pgp_keys_and_backup() {
    pgp_backup(Dialect::Vault, [264, 266, 267, 268, 270, 278]);
}

#[test]
fn openbao_rekey_with_pgp_keys_and_backup() {
    pgp_backup(Dialect::OpenBao, [389, 390, 391, 392, 394, 402]);
}

#[test]
fn legacy_resume_pins_the_nonce_in_progress() {
    let capture = Capture::load();
    let server = Server::new(capture.rows(&[190, 197]));
    let nonce = "935f8a3b-4f22-8f63-6325-d14cfd308e16";
    let mut rekey = RekeyCeremony::resume(KeyKind::Unseal).require_nonce(nonce);
    rekey.submit_shares(shares(&capture, &[197])).unwrap();
    assert_eq!(
        drive(&server.client(), &target(Dialect::Vault), &mut rekey).unwrap(),
        RekeyPhase::CollectingShares
    );
    server.finished();
    assert_eq!(rekey.nonce(), Some(nonce));
    assert_eq!((rekey.progress(), rekey.required()), (1, 3));
    assert_eq!(rekey.status().unwrap().t, 2);
}

#[test]
fn openbao_resume_during_verification_verifies_without_the_new_shares() {
    let capture = Capture::load();
    let server = Server::new(capture.rows(&[365, 371]));
    let mut rekey = RekeyCeremony::resume(KeyKind::Unseal);
    rekey
        .submit_verification_shares(shares(&capture, &[371]))
        .unwrap();
    assert_eq!(
        drive(&server.client(), &target(Dialect::OpenBao), &mut rekey).unwrap(),
        RekeyPhase::Verifying
    );
    server.finished();
    assert_eq!(
        rekey.verification_nonce(),
        Some("39cb97e8-b657-645d-3840-95a93bada389")
    );
    assert_eq!((rekey.progress(), rekey.required()), (1, 3));
    assert!(
        rekey.result().is_none(),
        "the new shares went to whoever completed it"
    );
}

#[test]
fn resume_refuses_a_nonce_other_than_the_required_one() {
    let capture = Capture::load();
    let server = Server::new(capture.rows(&[190]));
    let mut rekey = RekeyCeremony::resume(KeyKind::Unseal)
        .require_nonce("29ab9596-74b4-b5d4-44ff-c4bbe27545d0");
    rekey.submit_shares(shares(&capture, &[197])).unwrap();
    let err = core_error(drive(&server.client(), &target(Dialect::Vault), &mut rekey));
    assert_eq!(
        err.to_string(),
        Error::from(CeremonyError::ForeignNonce {
            expected: "29ab9596-74b4-b5d4-44ff-c4bbe27545d0".into(),
            found: "935f8a3b-4f22-8f63-6325-d14cfd308e16".into(),
        })
        .to_string()
    );
    server.finished();
    assert_eq!(rekey.phase(), RekeyPhase::Aborted);
    assert_eq!(
        rekey.queued_shares(),
        0,
        "the shares are dropped, never sent"
    );
    assert!(rekey
        .poll(&target(Dialect::Vault))
        .map(Next::into_request)
        .unwrap()
        .is_none());
    assert!(
        rekey.cancel().is_err(),
        "the foreign rekey is not ours to cancel"
    );
}

fn foreign(err: Error) -> (String, String) {
    match err {
        Error::Ceremony(CeremonyError::ForeignNonce { expected, found }) => (expected, found),
        other => panic!("expected a foreign nonce, got {other:?}"),
    }
}

#[test]
fn a_progress_answer_under_another_nonce_aborts() {
    let capture = Capture::load();
    let pinned = "e3598a44-5a49-d5ab-c27e-e871724e4507";
    let share = capture.row(338).key();
    let server = Server::new([
        capture.row(345),
        capture
            .row(338)
            .expect_body(json!({ "key": share, "nonce": pinned })),
    ]);
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(false));
    rekey
        .submit_shares([KeyShare::new(share), KeyShare::new("1875ff65")])
        .unwrap();
    let err = core_error(drive(
        &server.client(),
        &target(Dialect::OpenBao),
        &mut rekey,
    ));
    assert_eq!(
        foreign(err),
        (pinned.into(), "e2d959f5-c1d3-691d-07eb-a22922c3753e".into())
    );
    server.finished();
    assert_eq!(rekey.phase(), RekeyPhase::Aborted);
    assert_eq!(
        rekey.nonce(),
        Some(pinned),
        "the pinned nonce never changes"
    );
    assert_eq!(rekey.queued_shares(), 0);
}

#[test]
fn a_wrong_nonce_refusal_naming_another_rekey_aborts() {
    let capture = Capture::load();
    let pinned = "e3598a44-5a49-d5ab-c27e-e871724e4507";
    let share = capture.row(332).key();
    let server = Server::new([
        capture.row(345),
        capture
            .row(332)
            .expect_body(json!({ "key": share, "nonce": pinned })),
    ]);
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(false));
    rekey.submit_share(KeyShare::new(share)).unwrap();
    let err = core_error(drive(
        &server.client(),
        &target(Dialect::OpenBao),
        &mut rekey,
    ));
    assert_eq!(foreign(err).1, "e2d959f5-c1d3-691d-07eb-a22922c3753e");
    assert_eq!(rekey.phase(), RekeyPhase::Aborted);
}

#[test]
fn a_completion_under_another_nonce_keeps_the_new_shares() {
    let capture = Capture::load();
    let share = capture.row(348).key();
    let server = Server::new([
        capture.row(329),
        capture
            .row(348)
            .expect_body(json!({ "key": share, "nonce": "e2d959f5-c1d3-691d-07eb-a22922c3753e" })),
    ]);
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(false));
    rekey.submit_share(KeyShare::new(share)).unwrap();
    let err = core_error(drive(
        &server.client(),
        &target(Dialect::OpenBao),
        &mut rekey,
    ));
    assert!(matches!(
        err,
        Error::Ceremony(CeremonyError::ForeignNonce { .. })
    ));
    assert_eq!(rekey.phase(), RekeyPhase::Aborted);
    let result = rekey.result().expect("never lost");
    assert_eq!(
        exposed(&result.keys),
        strings(&capture.row(348).field("keys"))
    );
}

#[test]
fn an_undecodable_completion_is_surfaced_with_its_body() {
    let capture = Capture::load();
    let broken = capture
        .row(207)
        .replace("\"keys_base64\":[", "\"keys_base64\":7,\"unexpected\":[");
    let body = broken.body.clone();
    let server = Server::new([capture.row(204), broken]);
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(false));
    rekey.submit_shares(shares(&capture, &[207])).unwrap();
    let err = core_error(drive(&server.client(), &target(Dialect::Vault), &mut rekey));
    assert_eq!(err.raw_body().unwrap().expose(), body.as_bytes());
    assert!(
        !format!("{err} {err:?}").contains("8cd05f46"),
        "no share printed"
    );
    assert_eq!(rekey.undecoded_responses().len(), 1);
    assert_eq!(rekey.undecoded_responses()[0].expose(), body.as_bytes());
    assert_eq!(
        rekey.phase(),
        RekeyPhase::OutcomeUnknown,
        "the server acted on the share: the progress is read before anything else"
    );
    let salvaged = rekey
        .result()
        .expect("the new shares recovered from the body");
    assert_eq!(
        exposed(&salvaged.keys),
        strings(&capture.row(207).field("keys"))
    );
    assert!(
        salvaged.keys_base64.is_empty(),
        "the malformed field is left out"
    );
}

#[test]
fn a_target_of_another_dialect_is_refused() {
    let capture = Capture::load();
    let server = Server::new(capture.rows(&[204]));
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(false));
    drive(&server.client(), &target(Dialect::Vault), &mut rekey).unwrap();
    rekey.submit_shares(shares(&capture, &[205])).unwrap();
    let err = rekey
        .poll(&target(Dialect::OpenBao))
        .map(Next::into_request)
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Ceremony(CeremonyError::DialectMismatch {
            ceremony: Dialect::Vault,
            target: Dialect::OpenBao
        })
    ));
    assert_eq!(rekey.queued_shares(), 1, "nothing was taken from the queue");
    assert!(!rekey.awaiting_response());
}

#[test]
fn a_request_that_never_left_is_sent_again() {
    let capture = Capture::load();
    let server = Server::new(capture.rows(&[204, 205, 206, 207]));
    let calls = Cell::new(0);
    let flaky = |request: Request<Bytes>| -> Result<Response<Bytes>, TransportError> {
        calls.set(calls.get() + 1);
        if calls.get() == 3 {
            return Err(TransportError::new(TransportErrorKind::Connect, "refused"));
        }
        Ok(server.answer(request))
    };
    let stack = FollowRedirects::new(flaky, RedirectPolicy::default());
    let target = target(Dialect::Vault);
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(false));
    rekey
        .submit_shares(shares(&capture, &[205, 206, 207]))
        .unwrap();
    let err = drive(&stack, &target, &mut rekey).unwrap_err();
    assert_eq!(err.transport_kind(), Some(TransportErrorKind::Connect));
    assert!(!rekey.awaiting_response());
    assert_eq!(rekey.phase(), RekeyPhase::CollectingShares);
    assert_eq!(rekey.queued_shares(), 2, "the unsent share is queued again");
    assert_eq!(rekey.progress(), 1);
    assert_eq!(
        drive(&stack, &target, &mut rekey).unwrap(),
        RekeyPhase::Done
    );
    server.finished();
}

/// A share whose answer was lost, then the progress read that says whether it was counted.
fn lost_answer_then(then: Vec<Row>) -> (Server, RekeyCeremony, Result<RekeyPhase, Error>) {
    let capture = Capture::load();
    let server = Server::new(capture.rows(&[204, 205, 206]));
    let calls = Cell::new(0);
    let flaky = |request: Request<Bytes>| -> Result<Response<Bytes>, &'static str> {
        calls.set(calls.get() + 1);
        let answer = server.answer(request);
        if calls.get() == 3 {
            // The server answered; the answer never reached the caller.
            return Err("connection reset");
        }
        Ok(answer)
    };
    let target = target(Dialect::Vault);
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(false));
    rekey
        .submit_shares(shares(&capture, &[205, 206, 207]))
        .unwrap();
    let err = drive(&flaky, &target, &mut rekey).unwrap_err();
    assert!(matches!(err, ExecuteError::Transport("connection reset")));
    assert_eq!(rekey.phase(), RekeyPhase::OutcomeUnknown);
    assert_eq!(
        rekey.queued_shares(),
        1,
        "the lost share is not queued again yet"
    );
    server.then(then);
    let outcome = drive(&server.client(), &target, &mut rekey).map_err(|e| match e {
        ExecuteError::Core(e) => e,
        other => panic!("{other:?}"),
    });
    (server, rekey, outcome)
}

#[test]
fn a_lost_answer_to_a_counted_share_is_not_resent() {
    let capture = Capture::load();
    // The read says progress 2: the lost share was counted, and the next one completes.
    let read = capture.row(206).answering("GET", "/v1/sys/rekey/init");
    let (server, rekey, outcome) = lost_answer_then(vec![read, capture.row(207)]);
    assert!(matches!(outcome, Ok(RekeyPhase::Done)), "{outcome:?}");
    assert_eq!(rekey.result().unwrap().keys.len(), 3);
    server.finished();
}

#[test]
fn a_lost_answer_to_an_uncounted_share_resends_it() {
    let capture = Capture::load();
    // The read says progress 1: the lost share was not counted; it is sent again (the
    // scripted server checks that the request is the captured one with that share).
    let read = capture.row(205).answering("GET", "/v1/sys/rekey/init");
    let (server, rekey, outcome) = lost_answer_then(vec![read, capture.row(206), capture.row(207)]);
    assert!(matches!(outcome, Ok(RekeyPhase::Done)), "{outcome:?}");
    assert_eq!(rekey.result().unwrap().keys.len(), 3);
    server.finished();
}

#[test]
fn drive_async_runs_the_same_loop() {
    let capture = Capture::load();
    let server = Server::new(capture.rows(&[345, 346, 347, 348]));
    let client =
        |request: Request<Bytes>| std::future::ready(Ok::<_, Infallible>(server.answer(request)));
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(false));
    rekey
        .submit_shares(shares(&capture, &[346, 347, 348]))
        .unwrap();
    let phase = block_on(drive_async(&client, &target(Dialect::OpenBao), &mut rekey)).unwrap();
    assert_eq!(phase, RekeyPhase::Done);
    server.finished();
}

#[test]
fn the_async_driver_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let client =
        |_: Request<Bytes>| std::future::ready(Ok::<_, Infallible>(Response::new(Bytes::new())));
    let target = target(Dialect::OpenBao);
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(false));
    let future = drive_async(&client, &target, &mut rekey);
    assert_send(&future);
}

#[test]
fn a_dropped_async_drive_gives_the_request_back() {
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    let capture = Capture::load();
    let server = Server::new(capture.rows(&[204]));
    let target = target(Dialect::Vault);
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(false));
    drive(&server.client(), &target, &mut rekey).unwrap();
    rekey.submit_shares(shares(&capture, &[205])).unwrap();

    let never = |_: Request<Bytes>| std::future::pending::<Result<Response<Bytes>, Infallible>>();
    {
        let mut future = pin!(drive_async(&never, &target, &mut rekey));
        let waker = Waker::from(Arc::new(Noop));
        let polled = future.as_mut().poll(&mut Context::from_waker(&waker));
        assert!(matches!(polled, Poll::Pending));
    }
    assert!(!rekey.awaiting_response());
    assert_eq!(
        rekey.phase(),
        RekeyPhase::OutcomeUnknown,
        "the share may have reached the server"
    );
    assert_eq!(rekey.queued_shares(), 0);
    let next = rekey
        .poll(&target)
        .map(Next::into_request)
        .unwrap()
        .expect("a request");
    assert_eq!(
        next.method(),
        http::Method::GET,
        "the progress is read first"
    );
}

#[test]
fn the_manual_loop_reports_each_event() {
    let capture = Capture::load();
    let server = Server::new(capture.rows(&[204, 205, 206, 207]));
    let target: Target = target(Dialect::Vault);
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(false));
    rekey
        .submit_shares(shares(&capture, &[205, 206, 207]))
        .unwrap();
    let mut events = Vec::new();
    while let Some(request) = rekey.poll(&target).map(Next::into_request).unwrap() {
        assert!(
            rekey
                .poll(&target)
                .map(Next::into_request)
                .unwrap()
                .is_none(),
            "one request at a time"
        );
        let response = server.answer(request);
        events.push(rekey.handle_http_response(&response).unwrap());
    }
    assert_eq!(
        events,
        [
            RekeyEvent::Started,
            RekeyEvent::Progress,
            RekeyEvent::Progress,
            RekeyEvent::Rekeyed
        ]
    );
    assert!(matches!(
        rekey.handle_response(http::StatusCode::OK, b"{}"),
        Err(Error::Ceremony(CeremonyError::NothingOutstanding))
    ));
    assert_eq!(rekey.phase(), RekeyPhase::Done);
}

#[test]
fn shares_are_checked_when_queued() {
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(false));
    assert!(rekey
        .submit_shares([KeyShare::new("aa"), KeyShare::new(" ")])
        .is_err());
    assert_eq!(rekey.queued_shares(), 0, "all or nothing");
    assert!(
        rekey
            .submit_verification_share(KeyShare::new("aa"))
            .is_err(),
        "this rekey does not ask for verification"
    );
    assert!(rekey.cancel_verification().is_err());
    assert!(rekey.refresh().is_err());
}

#[test]
fn cancelling_before_the_start_sends_nothing() {
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(false));
    rekey.submit_share(KeyShare::new("aa")).unwrap();
    rekey.cancel().unwrap();
    assert!(rekey
        .poll(&target(Dialect::Vault))
        .map(Next::into_request)
        .unwrap()
        .is_none());
    assert_eq!(rekey.phase(), RekeyPhase::Cancelled);
    assert_eq!(rekey.queued_shares(), 0);
}

#[test]
fn an_invalid_configuration_is_refused_before_sending() {
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 5).require_verification(false));
    let err = rekey
        .poll(&target(Dialect::Vault))
        .map(Next::into_request)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)));
    assert_eq!(rekey.phase(), RekeyPhase::Starting);
    assert!(!rekey.awaiting_response());
}

#[test]
fn a_refused_start_can_be_retried() {
    let capture = Capture::load();
    let server = Server::new(capture.rows(&[191, 204]));
    let target = target(Dialect::Vault);
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(false));
    let refusal = refusal_of(drive(&server.client(), &target, &mut rekey));
    assert_eq!(refusal, Refusal::AlreadyInProgress);
    assert_eq!(rekey.phase(), RekeyPhase::Starting);
    assert_eq!(
        drive(&server.client(), &target, &mut rekey).unwrap(),
        RekeyPhase::CollectingShares
    );
    server.finished();
}

// A test of a panic: it runs where panics unwind (not on wasm32, where they abort).
#[cfg(panic = "unwind")]
#[test]
#[should_panic(expected = "field nonce")]
fn the_scripted_server_checks_request_bodies() {
    let capture = Capture::load();
    let server = Server::new(capture.rows(&[205]));
    let request = Request::builder()
        .method("PUT")
        .uri("http://127.0.0.1:8200/v1/sys/rekey/update")
        .body(Bytes::from(format!(
            r#"{{"key":"{}","nonce":"someone-else"}}"#,
            capture.row(205).key()
        )))
        .unwrap();
    server.answer(request);
}

/// Answers a node gives when it cannot judge a share (bodies as OpenBao 2.7.2 words them).
const NOT_JUDGED: [(u16, &str, Refusal); 4] = [
    (
        500,
        r#"{"errors":["local node not active but active cluster node not found"]}"#,
        Refusal::NoActiveNode,
    ),
    (503, r#"{"errors":["Vault is sealed"]}"#, Refusal::Sealed),
    (
        503,
        r#"{"errors":["overloaded, try again later"]}"#,
        Refusal::Overloaded,
    ),
    (
        503,
        r#"{"errors":["node is not active"]}"#,
        Refusal::NodeNotActive,
    ),
];

#[test]
fn a_share_the_node_could_not_judge_is_queued_again() {
    let target = target(Dialect::OpenBao);
    let started = r#"{"data":{"n":3,"nonce":"n-1","progress":0,"required":2,"started":true,"t":2,"verification_required":false}}"#;
    for (status, body, refusal) in NOT_JUDGED {
        let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2));
        rekey
            .submit_shares([KeyShare::new("aa"), KeyShare::new("bb")])
            .unwrap();
        rekey.poll(&target).unwrap().into_request().unwrap();
        rekey
            .handle_response(http::StatusCode::OK, started.as_bytes())
            .unwrap();
        let first = rekey.poll(&target).unwrap().into_request().unwrap();
        let err = rekey
            .handle_response(http::StatusCode::from_u16(status).unwrap(), body.as_bytes())
            .unwrap_err();
        assert_eq!(err.refusal(), Some(&refusal), "{body}");
        assert_eq!(rekey.phase(), RekeyPhase::CollectingShares, "{body}");
        assert_eq!(
            rekey.queued_shares(),
            2,
            "{body}: the share is queued again"
        );
        let again = rekey.poll(&target).unwrap().into_request().unwrap();
        assert_eq!(again.body(), first.body(), "{body}: the same share, first");
    }
}

#[test]
fn a_verification_share_the_node_could_not_judge_is_queued_again() {
    let target = target(Dialect::OpenBao);
    let started = r#"{"data":{"n":3,"nonce":"n-1","progress":0,"required":1,"started":true,"t":2,"verification_required":true}}"#;
    let issued = r#"{"data":{"complete":true,"keys":["k1","k2","k3"],"nonce":"n-1","verification_nonce":"v-1","verification_required":true}}"#;
    for (status, body, refusal) in NOT_JUDGED {
        let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(true));
        rekey.submit_share(KeyShare::new("aa")).unwrap();
        for answer in [started, issued] {
            rekey.poll(&target).unwrap().into_request().unwrap();
            rekey
                .handle_response(http::StatusCode::OK, answer.as_bytes())
                .unwrap();
        }
        assert_eq!(rekey.phase(), RekeyPhase::Verifying);
        rekey
            .submit_verification_share(KeyShare::new("k1"))
            .unwrap();
        rekey.poll(&target).unwrap().into_request().unwrap();
        let err = rekey
            .handle_response(http::StatusCode::from_u16(status).unwrap(), body.as_bytes())
            .unwrap_err();
        assert_eq!(err.refusal(), Some(&refusal), "{body}");
        assert_eq!(rekey.phase(), RekeyPhase::Verifying, "{body}");
        assert_eq!(rekey.queued_verification_shares(), 1, "{body}");
    }
}

#[test]
fn a_rekey_to_other_pgp_keys_gets_no_share() {
    let target = target(Dialect::OpenBao);
    let ours = [
        "24F0E2E4E7FEAC8F9C0A1E98886F6E3F5B3148A8",
        "424be52f3e6d21911b2ff0ec27fa7488d7d92e4f",
    ];
    let status = |fingerprints: &str| {
        format!(
            r#"{{"data":{{"n":2,"nonce":"n-1","progress":0,"required":2,"started":true,"t":2,"pgp_fingerprints":{fingerprints},"backup":true,"verification_required":false}}}}"#
        )
    };
    // The same keys, in the server's lowercase: the holder's share goes out.
    let mut rekey = RekeyCeremony::resume(KeyKind::Unseal).require_fingerprints(ours);
    rekey.submit_share(KeyShare::new("aa")).unwrap();
    rekey.poll(&target).unwrap().into_request().unwrap();
    let same = status(
        r#"["24f0e2e4e7feac8f9c0a1e98886f6e3f5b3148a8","424be52f3e6d21911b2ff0ec27fa7488d7d92e4f"]"#,
    );
    rekey
        .handle_response(http::StatusCode::OK, same.as_bytes())
        .unwrap();
    assert!(matches!(rekey.poll(&target).unwrap(), Next::Send(_)));

    // A re-init swapped one key (or reordered them, or dropped PGP): refused before a share.
    for swapped in [
        r#"["24f0e2e4e7feac8f9c0a1e98886f6e3f5b3148a8","27e665ab8618c4dd024151692a139934e54fb17b"]"#,
        r#"["424be52f3e6d21911b2ff0ec27fa7488d7d92e4f","24f0e2e4e7feac8f9c0a1e98886f6e3f5b3148a8"]"#,
        "null",
    ] {
        let mut rekey = RekeyCeremony::resume(KeyKind::Unseal).require_fingerprints(ours);
        rekey.submit_share(KeyShare::new("aa")).unwrap();
        rekey.poll(&target).unwrap().into_request().unwrap();
        let err = rekey
            .handle_response(http::StatusCode::OK, status(swapped).as_bytes())
            .unwrap_err();
        let shown = err.to_string();
        let Error::Ceremony(CeremonyError::FingerprintMismatch {
            expected,
            found,
            nonce,
        }) = err
        else {
            panic!("{swapped}: {err:?}");
        };
        assert_eq!(nonce.as_deref(), Some("n-1"));
        assert!(
            shown.contains("cancel nonce n-1"),
            "how to cancel it: {shown}"
        );
        assert_eq!(expected[0], "24f0e2e4e7feac8f9c0a1e98886f6e3f5b3148a8");
        assert_eq!(
            found,
            rekey.status().unwrap().pgp_fingerprints,
            "whose keys, shown"
        );
        assert_eq!(rekey.phase(), RekeyPhase::Aborted);
        assert!(
            rekey.poll(&target).unwrap().is_finished(),
            "no share goes out"
        );
        // The rogue rekey stays on the server until cancelled: this ceremony cancels it, under
        // its nonce.
        rekey.cancel().unwrap();
        let cancel = rekey.poll(&target).unwrap().into_request().unwrap();
        assert_eq!(cancel.method(), http::Method::DELETE);
        let body = String::from_utf8_lossy(cancel.body()).into_owned();
        assert!(body.contains("n-1"), "{body}");
    }
}
