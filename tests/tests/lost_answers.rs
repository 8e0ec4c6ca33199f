//! A ceremony never loses its result: every fault between the server's commit and the caller, on a real OpenBao, with
//! both transports and both dialects.
//!
//! A [`FaultProxy`] stands between the client and the server. On cue it damages one answer after the server produced
//! it: cut after the head, cut in the body, dropped, held past the client's timeout, replaced by a gateway's 502 or a
//! proxy's 503 HTML page, or replaced by 800 kB of nested `{"data":` and cut.
//! The server is also restarted between two shares, and two clients race on one rekey. After each case the shares in
//! effect are proven by sealing and unsealing: the old ones when nothing took effect, the new ones (and the old ones
//! failing) when the rekey went through. Each case prints one row of the table: what the caller was told, the phase
//! the ceremony ended in, and which shares unseal.

use std::time::Duration;

use vault_key_core::ceremony::{
    RekeyCeremony, RekeyPhase, RootTokenCeremony, RootTokenPhase, TokenProtection, Verification,
};
use vault_key_core::ops::generate_root::TokenKind;
use vault_key_core::ops::rekey::{KeyKind, StartRekey};
use vault_key_core::transport::TransportErrorKind;
use vault_key_core::{CeremonyError, Dialect, Error, KeyShare, Recovery, Refusal};
use vault_key_tests::clients::{CallError, Client, ClientFactory, Transport};
use vault_key_tests::pgp::{self, Keyring};
use vault_key_tests::proxy::{Damage, FaultProxy};
use vault_key_tests::server::Server;
use vault_key_tests::support::{
    assert_root_token, refusal, reseal_with_new_shares, shares, start, texts,
};

/// The client's timeout for the case where the proxy holds an answer.
const SHORT_TIMEOUT: Duration = Duration::from_secs(1);
/// Two thirds of the body: past the new shares, which both servers write early.
const TWO_THIRDS: Damage = Damage::CutBody {
    numerator: 2,
    denominator: 3,
};

/// A real server behind a fault proxy, a client through the proxy, and the shares in effect.
struct Rig {
    server: Server,
    proxy: FaultProxy,
    factory: ClientFactory,
    client: Client,
    current: Vec<KeyShare>,
    rows: Vec<String>,
}

impl Rig {
    fn new(transport: Transport, dialect: Dialect) -> Rig {
        Rig::on(transport, dialect, KeyKind::Unseal)
    }

    /// A rig whose shares are those of `kind`: recovery shares live on an auto-unseal server (a transit seal).
    fn on(transport: Transport, dialect: Dialect, kind: KeyKind) -> Rig {
        let builder = Server::builder()
            .legacy_endpoints(dialect == Dialect::Vault)
            .transit_seal(kind == KeyKind::Recovery);
        let server = start(builder);
        let proxy = FaultProxy::start(&server.address()).expect("the fault proxy starts");
        let factory = ClientFactory::new(transport, proxy.address(), dialect).with_key_kind(kind);
        let client = factory
            .client(Some(server.root_token()))
            .expect("a client through the proxy");
        let current = match kind {
            KeyKind::Recovery => shares(&server.recovery_keys()),
            _ => shares(&server.keys()),
        };
        Rig {
            server,
            proxy,
            factory,
            client,
            current,
            rows: Vec::new(),
        }
    }

    fn threshold(&self) -> usize {
        let status = self.client.read_seal_status().expect("seal-status");
        status.t as usize
    }

    /// The current shares needed to reach the threshold.
    fn quorum(&self) -> Vec<KeyShare> {
        self.current[..self.threshold()].to_vec()
    }

    /// Seals, then unseals with the shares in effect: nothing the damaged ceremony did took effect.
    fn prove_old_shares(&self) -> &'static str {
        self.client.seal().expect("seal");
        self.server
            .unseal_with(&texts(&self.current))
            .expect("the old shares still unseal");
        "old shares unseal"
    }

    /// Seals, shows that the old shares no longer combine, and unseals with `new`, which are in effect from now on.
    fn prove_new_shares(&mut self, new: Vec<KeyShare>) -> &'static str {
        reseal_with_new_shares(&self.server, &self.client, &self.current, &new);
        self.current = new;
        "new shares unseal, old ones refused"
    }

    fn row(&mut self, case: &str, told: impl AsRef<str>, phase: impl std::fmt::Debug, proof: &str) {
        let row = format!(
            "| {} {:?} | {case} | {} | {phase:?} | {proof} |",
            self.client.transport(),
            self.client.dialect(),
            told.as_ref()
        );
        println!("{row}");
        self.rows.push(row);
    }

    /// A rekey to 3 shares, threshold 2, with the current shares queued and the answer to the `nth` (0-based)
    /// share damaged.
    fn damaged_rekey(&self, start: StartRekey, nth: usize, damage: Damage) -> RekeyCeremony {
        let mut rekey = RekeyCeremony::start(start);
        rekey
            .submit_shares(self.quorum())
            .expect("queue the shares");
        self.proxy.arm("PUT", "/update", nth, damage);
        rekey
    }
}

/// What a failed drive said, in a few words.
fn told(error: &CallError) -> String {
    match error {
        CallError::Transport(e) => format!("transport {:?}", e.kind()),
        CallError::Core(Error::Ceremony(e)) => format!("{e:?}"),
        CallError::Core(Error::Server(e)) => format!("server {} {:?}", e.status, e.refusal),
        CallError::Core(e) => format!("{e}"),
        _ => format!("{error}"),
    }
}

fn ceremony_error(result: Result<impl std::fmt::Debug, CallError>, step: &str) -> CeremonyError {
    match result {
        Err(CallError::Core(Error::Ceremony(e))) => e,
        other => panic!("{step}: expected a ceremony error, got {other:?}"),
    }
}

fn new_shares(rekey: &RekeyCeremony) -> Vec<KeyShare> {
    rekey.result().expect("the new shares").keys.clone()
}

/// Verifies the new shares of `rekey`, which must end in effect.
fn verify(rig: &Rig, rekey: &mut RekeyCeremony) {
    let new = new_shares(rekey);
    rekey
        .submit_verification_shares(new[..2].to_vec())
        .expect("queue verification shares");
    assert_eq!(
        rig.client
            .drive(rekey)
            .map(|_| rekey.phase())
            .expect("verify"),
        RekeyPhase::Done
    );
    assert_eq!(rekey.verification(), Verification::Verified);
}

/// Verifies the new shares of `rekey`, proves them in effect, and records the case.
fn verify_and_prove(rig: &mut Rig, rekey: &mut RekeyCeremony, case: &str, told: &str) {
    verify(rig, rekey);
    let proof = rig.prove_new_shares(new_shares(rekey));
    rig.row(case, told, rekey.phase(), proof);
}

/// (a) The completing answer cut right after its head, with verification: the ceremony learns from the progress
/// read that its own share finished the rekey, says the answer was lost and that the old shares are still in
/// effect, and can still cancel.
fn cut_after_head_with_verification(rig: &mut Rig) {
    let threshold = rig.threshold();
    let mut rekey = rig.damaged_rekey(StartRekey::new(3, 2), threshold - 1, Damage::CutAfterHead);
    let err = rig.client.drive(&mut rekey).unwrap_err();
    assert_eq!(
        err.transport_kind(),
        Some(TransportErrorKind::Protocol),
        "{err}"
    );
    assert_eq!(rekey.phase(), RekeyPhase::OutcomeUnknown);
    assert!(rekey.result().is_none(), "no byte of the body arrived");
    let err = ceremony_error(
        rig.client.drive(&mut rekey).map(|_| rekey.phase()),
        "resolve",
    );
    assert_eq!(
        err,
        CeremonyError::AnswerLost {
            ceremony: "rekey",
            recovery: Recovery::CancelAndRestart
        }
    );
    assert_eq!(rekey.phase(), RekeyPhase::Aborted);
    rekey
        .cancel()
        .expect("an aborted rekey still on the server can cancel");
    assert_eq!(
        rig.client
            .drive(&mut rekey)
            .map(|_| rekey.phase())
            .expect("cancel"),
        RekeyPhase::Cancelled
    );
    assert!(
        !rig.client
            .read_rekey_progress(rig.client.key_kind())
            .expect("progress")
            .started
    );
    let proof = rig.prove_old_shares();
    rig.row(
        "(a) completion cut after head, verification",
        format!("{err:?}, then cancel"),
        rekey.phase(),
        proof,
    );
}

/// (a) The completing answer cut in its body, with verification: the new shares are recovered from what arrived,
/// the read finds the verification pending under this ceremony's nonce, and the rekey is verified and in effect.
fn cut_body_with_verification(rig: &mut Rig) {
    let threshold = rig.threshold();
    let mut rekey = rig.damaged_rekey(StartRekey::new(3, 2), threshold - 1, TWO_THIRDS);
    let err = rig.client.drive(&mut rekey).unwrap_err();
    assert_eq!(
        err.transport_kind(),
        Some(TransportErrorKind::Protocol),
        "{err}"
    );
    let partial = err
        .transport()
        .and_then(|e| e.partial_response())
        .expect("the transport keeps what arrived");
    assert_eq!(partial.status(), 200);
    assert!(!partial.body().is_empty());
    assert_eq!(rekey.phase(), RekeyPhase::OutcomeUnknown);
    assert_eq!(
        new_shares(&rekey).len(),
        3,
        "every new share was in the cut answer"
    );
    assert_eq!(rekey.undecoded_responses().len(), 1, "the cut body is kept");
    assert_eq!(
        rig.client
            .drive(&mut rekey)
            .map(|_| rekey.phase())
            .expect("resolve"),
        RekeyPhase::Verifying
    );
    verify_and_prove(
        rig,
        &mut rekey,
        "(a) completion cut mid-body, verification",
        "transport Protocol; shares salvaged, then verified",
    );
}

/// (a) The same cut without verification: the shares recovered from the cut answer are the ones in effect.
fn cut_body_without_verification(rig: &mut Rig) {
    let threshold = rig.threshold();
    let start = StartRekey::new(3, 2).require_verification(false);
    let mut rekey = rig.damaged_rekey(start, threshold - 1, TWO_THIRDS);
    let err = rig.client.drive(&mut rekey).unwrap_err();
    assert_eq!(
        err.transport_kind(),
        Some(TransportErrorKind::Protocol),
        "{err}"
    );
    assert_eq!(new_shares(&rekey).len(), 3);
    assert_eq!(
        rig.client
            .drive(&mut rekey)
            .map(|_| rekey.phase())
            .expect("resolve"),
        RekeyPhase::Done
    );
    let new = new_shares(&rekey);
    let proof = rig.prove_new_shares(new);
    rig.row(
        "(a) completion cut mid-body, no verification",
        "transport Protocol; shares salvaged",
        rekey.phase(),
        proof,
    );
}

/// (b) The completing answer dropped after the server answered, with verification; (c) the same answer held past
/// the client's timeout; (d) a 502 from the proxy in its place; (e) a proxy's 503 HTML page; (f) a deeply nested
/// body, cut. All: the answer is lost, the read says so, the old shares are still in effect, and cancel
/// ends the rekey.
fn lost_completion_with_verification(rig: &mut Rig, damage: Damage, client: &Client, case: &str) {
    let threshold = rig.threshold();
    let mut rekey = rig.damaged_rekey(StartRekey::new(3, 2), threshold - 1, damage);
    let err = client.drive(&mut rekey).unwrap_err();
    match damage {
        Damage::BadGateway => assert!(
            matches!(err.core(), Some(Error::Server(e)) if e.status == 502),
            "{err}"
        ),
        Damage::Hold(_) => assert_eq!(err.transport_kind(), Some(TransportErrorKind::Timeout)),
        Damage::ServiceUnavailablePage => assert!(
            matches!(err.core(), Some(Error::Server(e)) if e.status == 503 && !e.written_by_server()),
            "{err}"
        ),
        _ => assert_eq!(
            err.transport_kind(),
            Some(TransportErrorKind::Protocol),
            "{err}"
        ),
    }
    assert_eq!(rekey.phase(), RekeyPhase::OutcomeUnknown);
    // The server did complete the rekey; its answer is what was lost.
    let damaged = rig.proxy.damaged();
    assert_eq!(damaged.last().map(|e| e.status), Some(200), "{damaged:?}");
    let lost = ceremony_error(client.drive(&mut rekey).map(|_| rekey.phase()), "resolve");
    assert_eq!(
        lost,
        CeremonyError::AnswerLost {
            ceremony: "rekey",
            recovery: Recovery::CancelAndRestart
        }
    );
    rekey.cancel().expect("cancel after the lost answer");
    assert_eq!(
        client
            .drive(&mut rekey)
            .map(|_| rekey.phase())
            .expect("cancel"),
        RekeyPhase::Cancelled
    );
    let proof = rig.prove_old_shares();
    rig.row(
        case,
        format!("{}; {lost:?}, then cancel", told(&err)),
        rekey.phase(),
        proof,
    );
}

/// (d) The proxy answers 502 itself after the server counted the first share: the read says it was counted, it is
/// not resent, and the rekey goes on to completion and verification.
fn bad_gateway_on_a_counted_share(rig: &mut Rig) {
    let before = rig.proxy.exchanges().len();
    let threshold = rig.threshold();
    let mut rekey = rig.damaged_rekey(StartRekey::new(3, 2), 0, Damage::BadGateway);
    let err = rig.client.drive(&mut rekey).unwrap_err();
    assert!(
        matches!(err.core(), Some(Error::Server(e)) if e.status == 502 && e.from_gateway()),
        "{err}"
    );
    assert_eq!(rekey.phase(), RekeyPhase::OutcomeUnknown);
    assert_eq!(
        rig.client
            .drive(&mut rekey)
            .map(|_| rekey.phase())
            .expect("resolve and go on"),
        RekeyPhase::Verifying
    );
    let updates = rig.proxy.exchanges()[before..]
        .iter()
        .filter(|e| e.method == "PUT" && e.path.ends_with("/update"))
        .count();
    assert_eq!(
        updates, threshold,
        "each share was sent once: the counted one was not resent"
    );
    verify_and_prove(
        rig,
        &mut rekey,
        "(d) 502 from the proxy after a counted share",
        "server 502; read: counted, not resent",
    );
}

/// (e) The server restarts between two shares of a rekey: the rekey is gone with the server's memory, and the
/// ceremony says exactly that. The harness unseals the restarted server with the shares in effect.
fn restart_between_rekey_shares(rig: &mut Rig) {
    let quorum = rig.quorum();
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2));
    rekey.submit_share(quorum[0].clone()).expect("queue");
    assert_eq!(
        rig.client
            .drive(&mut rekey)
            .map(|_| rekey.phase())
            .expect("first share"),
        RekeyPhase::CollectingShares
    );
    assert_eq!(rekey.progress(), 1);
    restart(rig);
    rekey.submit_share(quorum[1].clone()).expect("queue");
    let err = ceremony_error(
        rig.client.drive(&mut rekey).map(|_| rekey.phase()),
        "after the restart",
    );
    assert_eq!(err, CeremonyError::LostByServer("rekey"));
    assert_eq!(rekey.phase(), RekeyPhase::Aborted);
    let proof = rig.prove_old_shares();
    rig.row(
        "(e) server restarted between two rekey shares",
        format!("{err:?}"),
        rekey.phase(),
        proof,
    );
}

fn restart(rig: &mut Rig) {
    rig.server.restart().expect("restart the server");
    rig.proxy
        .set_upstream(&rig.server.address())
        .expect("point the proxy at the restarted server");
    rig.server
        .unseal_with(&texts(&rig.current))
        .expect("the restarted server unseals with the shares in effect");
}

/// (e) The server restarts between two shares of a root-token generation.
fn restart_between_root_shares(rig: &mut Rig) {
    let quorum = rig.quorum();
    let mut generation = RootTokenCeremony::start(TokenKind::Root, TokenProtection::ServerOtp);
    generation.submit_share(quorum[0].clone()).expect("queue");
    assert_eq!(
        rig.client
            .drive(&mut generation)
            .map(|_| generation.phase())
            .expect("first share"),
        RootTokenPhase::CollectingShares
    );
    restart(rig);
    generation
        .submit_shares(quorum[1..].to_vec())
        .expect("queue");
    let err = ceremony_error(
        rig.client
            .drive(&mut generation)
            .map(|_| generation.phase()),
        "after the restart",
    );
    assert_eq!(err, CeremonyError::LostByServer("root-token generation"));
    assert_eq!(generation.phase(), RootTokenPhase::Aborted);
    rig.row(
        "(e) server restarted between two root-token shares",
        format!("{err:?}"),
        generation.phase(),
        "old shares unseal (after the restart)",
    );
}

/// A root-token generation with the server's OTP whose completing answer is damaged.
fn damaged_generation(rig: &Rig, damage: Damage) -> RootTokenCeremony {
    let mut generation = RootTokenCeremony::start(TokenKind::Root, TokenProtection::ServerOtp);
    let quorum = rig.quorum();
    generation.submit_shares(quorum.clone()).expect("queue");
    rig.proxy.arm("PUT", "/update", quorum.len() - 1, damage);
    generation
}

/// (a) The answer carrying the encoded root token cut in its body: the token is recovered and works.
fn root_completion_cut(rig: &mut Rig) {
    let mut generation = damaged_generation(rig, TWO_THIRDS);
    let err = rig.client.drive(&mut generation).unwrap_err();
    assert_eq!(
        err.transport_kind(),
        Some(TransportErrorKind::Protocol),
        "{err}"
    );
    assert!(
        generation.result().is_some(),
        "the encoded token was in the cut answer"
    );
    assert_eq!(
        rig.client
            .drive(&mut generation)
            .map(|_| generation.phase())
            .expect("resolve"),
        RootTokenPhase::Done
    );
    let token = generation
        .decode_token()
        .expect("decode the salvaged token");
    assert_root_token(&rig.server, token.expose());
    rig.row(
        "(a) root-token completion cut mid-body",
        "transport Protocol; token salvaged, works",
        generation.phase(),
        "shares unchanged",
    );
}

/// (b) The answer carrying the encoded root token dropped: the token is gone, and the ceremony says so.
fn root_completion_dropped(rig: &mut Rig) {
    let mut generation = damaged_generation(rig, Damage::Drop);
    let err = rig.client.drive(&mut generation).unwrap_err();
    assert_eq!(generation.phase(), RootTokenPhase::OutcomeUnknown);
    let lost = ceremony_error(
        rig.client
            .drive(&mut generation)
            .map(|_| generation.phase()),
        "resolve",
    );
    assert_eq!(
        lost,
        CeremonyError::AnswerLost {
            ceremony: "root-token generation",
            recovery: Recovery::TokenGone
        }
    );
    assert!(
        !rig.client
            .read_root_generation_progress()
            .expect("progress")
            .started
    );
    rig.row(
        "(b) root-token completion dropped",
        format!("{}; {lost:?}", told(&err)),
        generation.phase(),
        "shares unchanged",
    );
}

/// (a) The start answer, which carries the server's only copy of the OTP, cut. OpenBao's envelope sorts `nonce`
/// and `otp` early, so two thirds of it hold both and the generation goes on; the classic answer puts the OTP last,
/// so the ceremony cannot prove the running generation is its own, says so, and cancels it.
fn root_start_cut(rig: &mut Rig) {
    let mut generation = RootTokenCeremony::start(TokenKind::Root, TokenProtection::ServerOtp);
    rig.proxy.arm("PUT", "/attempt", 0, TWO_THIRDS);
    let err = rig.client.drive(&mut generation).unwrap_err();
    assert_eq!(
        err.transport_kind(),
        Some(TransportErrorKind::Protocol),
        "{err}"
    );
    assert_eq!(generation.phase(), RootTokenPhase::OutcomeUnknown);
    match rig.client.dialect() {
        Dialect::OpenBao => {
            assert_eq!(
                rig.client
                    .drive(&mut generation)
                    .map(|_| generation.phase())
                    .expect("resolve"),
                RootTokenPhase::CollectingShares
            );
            assert!(generation.otp().is_some(), "the OTP was recovered");
            generation.submit_shares(rig.quorum()).expect("queue");
            assert_eq!(
                rig.client
                    .drive(&mut generation)
                    .map(|_| generation.phase())
                    .expect("shares"),
                RootTokenPhase::Done
            );
            let token = generation
                .decode_token()
                .expect("decode with the recovered OTP");
            assert_root_token(&rig.server, token.expose());
            rig.row(
                "(a) root-token start cut mid-body",
                "transport Protocol; nonce and OTP salvaged, token works",
                generation.phase(),
                "shares unchanged",
            );
        }
        _ => {
            let err = ceremony_error(
                rig.client
                    .drive(&mut generation)
                    .map(|_| generation.phase()),
                "resolve",
            );
            assert!(
                matches!(err, CeremonyError::StartUnconfirmed { found: Some(_), .. }),
                "{err:?}"
            );
            generation
                .cancel()
                .expect("cancel the unconfirmed generation");
            assert_eq!(
                rig.client
                    .drive(&mut generation)
                    .map(|_| generation.phase())
                    .expect("cancel"),
                RootTokenPhase::Cancelled
            );
            rig.row(
                "(a) root-token start cut mid-body",
                "transport Protocol; StartUnconfirmed, then cancel",
                generation.phase(),
                "shares unchanged",
            );
        }
    }
}

/// (f) Two clients race to submit the last share of one rekey. Exactly one receives the new shares; the other
/// either learns it did not (the starter: `CompletedElsewhere`) or joins the verification without them (a resumed
/// ceremony). The winner verifies; the new shares are in effect.
fn two_clients_race(rig: &mut Rig) {
    let quorum = rig.quorum();
    let other = rig
        .factory
        .client(Some(rig.server.root_token()))
        .expect("a second client");
    let mut first = RekeyCeremony::start(StartRekey::new(3, 2));
    first
        .submit_shares(quorum[..quorum.len() - 1].to_vec())
        .expect("queue");
    assert_eq!(
        rig.client
            .drive(&mut first)
            .map(|_| first.phase())
            .expect("start"),
        RekeyPhase::CollectingShares
    );
    let nonce = first.nonce().expect("a nonce").to_string();
    let mut second = RekeyCeremony::resume(KeyKind::Unseal).require_nonce(nonce);
    assert_eq!(
        other
            .drive(&mut second)
            .map(|_| second.phase())
            .expect("resume"),
        RekeyPhase::CollectingShares
    );
    let last = quorum.last().expect("a share").clone();
    first.submit_share(last.clone()).expect("queue");
    second.submit_share(last).expect("queue");
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| {
            rig.client
                .drive(&mut first)
                .map(|_| first.phase())
                .map_err(|e| told(&e))
        });
        let b = scope.spawn(|| {
            other
                .drive(&mut second)
                .map(|_| second.phase())
                .map_err(|e| told(&e))
        });
        (a.join().expect("first"), b.join().expect("second"))
    });
    // The loser was refused (verification pending): reading the progress tells it where it stands.
    for (ceremony, client) in [(&mut first, &rig.client), (&mut second, &other)] {
        if ceremony.result().is_none() && ceremony.phase() == RekeyPhase::CollectingShares {
            ceremony.refresh().expect("refresh");
            let _ = client.drive(ceremony).map(|_| ceremony.phase());
        }
    }
    let winners = [&first, &second]
        .iter()
        .filter(|c| c.result().is_some())
        .count();
    assert_eq!(
        winners, 1,
        "exactly one ceremony holds the new shares: {a:?} {b:?}"
    );
    let (winner, winner_client, loser) = if first.result().is_some() {
        (&mut first, &rig.client, &second)
    } else {
        (&mut second, &other, &first)
    };
    assert_eq!(winner.phase(), RekeyPhase::Verifying);
    let loser_said = match (loser.phase(), loser.result()) {
        (RekeyPhase::Aborted, None) => "CompletedElsewhere (the starter lost the race)",
        (RekeyPhase::Verifying, None) => {
            "joined the verification without the shares (the resumed one lost)"
        }
        other => panic!("the loser ended in {other:?}"),
    };
    let new = winner.result().expect("shares").keys.clone();
    winner
        .submit_verification_shares(new[..2].to_vec())
        .expect("queue");
    assert_eq!(
        winner_client
            .drive(winner)
            .map(|_| winner.phase())
            .expect("verify"),
        RekeyPhase::Done
    );
    let proof = rig.prove_new_shares(new);
    rig.row(
        "(f) two clients race on the last share",
        format!("starter {a:?}, resumed {b:?}; loser: {loser_said}"),
        RekeyPhase::Done,
        proof,
    );
}

/// (b) The completing answer of a rekey with a PGP backup and no verification, dropped: the ceremony points to the
/// backup; it is this rekey's, and its shares, decrypted, are the ones in effect.
fn lost_completion_with_backup(rig: &mut Rig) {
    let public = pgp::public_keys().expect("the fixture PGP keys");
    let threshold = rig.threshold();
    let start = StartRekey::new(3, 2)
        .pgp_keys(public)
        .backup(true)
        .require_verification(false);
    let mut rekey = rig.damaged_rekey(start, threshold - 1, Damage::Drop);
    let err = rig.client.drive(&mut rekey).unwrap_err();
    let lost = ceremony_error(
        rig.client.drive(&mut rekey).map(|_| rekey.phase()),
        "resolve",
    );
    assert_eq!(
        lost,
        CeremonyError::AnswerLost {
            ceremony: "rekey",
            recovery: Recovery::ReadBackup
        }
    );
    let backup = rig
        .client
        .read_backup_keys(rig.client.key_kind())
        .expect("read the backup");
    assert!(rekey.is_own_backup(&backup), "the backup is this rekey's");
    let keyring = Keyring::new().expect("a gpg keyring with the fixture keys");
    let new: Vec<KeyShare> = backup
        .keys
        .values()
        .map(|stored| {
            KeyShare::new(
                keyring
                    .decrypt_hex(stored[0].expose())
                    .expect("decrypt the backup"),
            )
        })
        .collect();
    assert_eq!(new.len(), 3);
    rig.client
        .delete_backup_keys(rig.client.key_kind())
        .expect("delete the backup");
    let proof = rig.prove_new_shares(new);
    rig.row(
        "(b) completion dropped, no verification, PGP backup",
        format!("{}; {lost:?}; backup read, is_own_backup", told(&err)),
        rekey.phase(),
        proof,
    );
}

/// (b) What no client can cover: the completing answer of a rekey without verification or backup, dropped. The
/// ceremony says the new shares are gone; sealing proves it, as the old shares no longer combine. Runs last: the
/// server cannot be unsealed again.
fn lost_completion_without_verification(rig: &mut Rig) {
    let threshold = rig.threshold();
    let start = StartRekey::new(3, 2).require_verification(false);
    let mut rekey = rig.damaged_rekey(start, threshold - 1, Damage::Drop);
    let err = rig.client.drive(&mut rekey).unwrap_err();
    let lost = ceremony_error(
        rig.client.drive(&mut rekey).map(|_| rekey.phase()),
        "resolve",
    );
    assert_eq!(
        lost,
        CeremonyError::AnswerLost {
            ceremony: "rekey",
            recovery: Recovery::SharesGone
        }
    );
    assert!(
        rekey.cancel().is_err(),
        "nothing is left on the server to cancel"
    );
    rig.client.seal().expect("seal");
    let old = rig.quorum();
    for (i, share) in old.iter().enumerate() {
        let result = rig.client.unseal(share.clone());
        if i + 1 < old.len() {
            result.expect("below the threshold");
        } else {
            assert_eq!(
                refusal(result, "unseal with the old shares"),
                Refusal::SharesDidNotCombine
            );
        }
    }
    rig.row(
        "(b) completion dropped, no verification, no backup",
        format!("{}; {lost:?}", told(&err)),
        rekey.phase(),
        "old shares refused: the new ones are gone",
    );
}

fn every_fault(transport: Transport, dialect: Dialect) {
    let mut rig = Rig::new(transport, dialect);
    cut_after_head_with_verification(&mut rig);
    cut_body_with_verification(&mut rig);
    cut_body_without_verification(&mut rig);
    let client = rig
        .factory
        .client(Some(rig.server.root_token()))
        .expect("client");
    lost_completion_with_verification(
        &mut rig,
        Damage::Drop,
        &client,
        "(b) completion dropped, verification",
    );
    let impatient = rig
        .factory
        .with_timeout(SHORT_TIMEOUT)
        .client(Some(rig.server.root_token()))
        .expect("a client with a short timeout");
    lost_completion_with_verification(
        &mut rig,
        Damage::Hold(SHORT_TIMEOUT * 3),
        &impatient,
        "(c) completion held past the client timeout, verification",
    );
    bad_gateway_on_a_counted_share(&mut rig);
    lost_completion_with_verification(
        &mut rig,
        Damage::BadGateway,
        &client,
        "(d) 502 from the proxy for the completion",
    );
    lost_completion_with_verification(
        &mut rig,
        Damage::ServiceUnavailablePage,
        &client,
        "(d) a proxy's 503 HTML page for the completion",
    );
    // 800 kB of `{"data":`, cut: settled at once, nothing salvaged, the read decides.
    lost_completion_with_verification(
        &mut rig,
        Damage::NestedCut { depth: 100_000 },
        &client,
        "(a) completion replaced by 100,000 nested {\"data\": and cut",
    );
    root_completion_cut(&mut rig);
    root_completion_dropped(&mut rig);
    root_start_cut(&mut rig);
    two_clients_race(&mut rig);
    restart_between_rekey_shares(&mut rig);
    restart_between_root_shares(&mut rig);
    lost_completion_with_backup(&mut rig);
    lost_completion_without_verification(&mut rig);
    assert!(rig.proxy.all_fired(), "every cue fired");
    assert_eq!(rig.rows.len(), 17);
}

/// A root token generated with `keys` through the proxy: works when they are the recovery shares in effect, and
/// the threshold share is refused as not combining otherwise.
fn root_token_with(rig: &Rig, keys: &[KeyShare]) -> Result<(), Refusal> {
    let mut generation = RootTokenCeremony::start(TokenKind::Root, TokenProtection::ServerOtp);
    generation.submit_shares(keys.to_vec()).expect("queue");
    match rig
        .client
        .drive(&mut generation)
        .map(|_| generation.phase())
    {
        Ok(RootTokenPhase::Done) => {
            let token = generation.decode_token().expect("decode");
            assert_root_token(&rig.server, token.expose());
            Ok(())
        }
        Ok(phase) => panic!("the generation stopped in {phase:?}"),
        Err(e) => {
            let refused = e.refusal().cloned().unwrap_or_else(|| panic!("{e}"));
            generation.cancel().expect("cancel");
            rig.client
                .drive(&mut generation)
                .map(|_| generation.phase())
                .expect("cancel");
            Err(refused)
        }
    }
}

/// On an auto-unseal server a rekey's shares are the recovery shares, proven by generating a root token.
fn recovery_faults(transport: Transport, dialect: Dialect) {
    let mut rig = Rig::on(transport, dialect, KeyKind::Recovery);
    let recovery = || StartRekey::new(3, 2).kind(KeyKind::Recovery);

    // (a) The completion cut in its body, with verification: salvaged, verified, in effect.
    let threshold = rig.threshold();
    let mut rekey = rig.damaged_rekey(recovery(), threshold - 1, TWO_THIRDS);
    let err = rig.client.drive(&mut rekey).unwrap_err();
    assert_eq!(
        err.transport_kind(),
        Some(TransportErrorKind::Protocol),
        "{err}"
    );
    assert_eq!(new_shares(&rekey).len(), 3);
    assert_eq!(
        rig.client
            .drive(&mut rekey)
            .map(|_| rekey.phase())
            .expect("resolve"),
        RekeyPhase::Verifying
    );
    verify(&rig, &mut rekey);
    let old = std::mem::replace(&mut rig.current, new_shares(&rekey));
    assert_eq!(
        root_token_with(&rig, &old[..threshold]),
        Err(Refusal::SharesDidNotCombine)
    );
    root_token_with(&rig, &rig.quorum()).expect("the new recovery shares generate a root token");
    rig.row(
        "(a) recovery completion cut mid-body, verification",
        "transport Protocol; shares salvaged, then verified",
        rekey.phase(),
        "new recovery shares generate a root token, old refused",
    );

    // (b) The completion dropped, with verification: lost, cancelled, the old shares still in effect.
    let threshold = rig.threshold();
    let mut rekey = rig.damaged_rekey(recovery(), threshold - 1, Damage::Drop);
    rig.client.drive(&mut rekey).unwrap_err();
    let lost = ceremony_error(
        rig.client.drive(&mut rekey).map(|_| rekey.phase()),
        "resolve",
    );
    assert!(
        matches!(
            lost,
            CeremonyError::AnswerLost {
                recovery: Recovery::CancelAndRestart,
                ..
            }
        ),
        "{lost:?}"
    );
    rekey.cancel().expect("cancel");
    assert_eq!(
        rig.client
            .drive(&mut rekey)
            .map(|_| rekey.phase())
            .expect("cancel"),
        RekeyPhase::Cancelled
    );
    root_token_with(&rig, &rig.quorum())
        .expect("the recovery shares in effect still generate a root token");
    rig.row(
        "(b) recovery completion dropped, verification",
        format!("transport Protocol; {lost:?}, then cancel"),
        rekey.phase(),
        "old recovery shares generate a root token",
    );

    // A root-key rotation on an auto-unseal server: the rekey of the unseal key completes with no shares at all
    // (the seal keeps the key), which is success.
    let mut rotation = RekeyCeremony::start(StartRekey::new(1, 1).require_verification(false));
    rotation
        .submit_shares(rig.quorum())
        .expect("queue the recovery shares");
    let phase = rig
        .client
        .drive(&mut rotation)
        .map(|_| rotation.phase())
        .expect("rotate the root key");
    assert_eq!(phase, RekeyPhase::Done);
    let result = rotation.result().expect("the completion");
    assert!(result.keys.is_empty(), "no shares on an auto-unseal server");
    root_token_with(&rig, &rig.quorum()).expect("the recovery shares are untouched");
    rig.row(
        "root-key rotation on auto-unseal (keys: [])",
        "Ok(Done), no shares",
        phase,
        "recovery shares still generate a root token",
    );
    assert!(rig.proxy.all_fired());
}

#[test]
fn recovery_faults_ureq_vault() {
    recovery_faults(Transport::Ureq, Dialect::Vault);
}

#[test]
fn recovery_faults_hyper_openbao() {
    recovery_faults(Transport::Hyper, Dialect::OpenBao);
}

#[test]
fn recovery_faults_ureq_openbao() {
    recovery_faults(Transport::Ureq, Dialect::OpenBao);
}

#[test]
fn recovery_faults_hyper_vault() {
    recovery_faults(Transport::Hyper, Dialect::Vault);
}

#[test]
fn every_fault_ureq_vault() {
    every_fault(Transport::Ureq, Dialect::Vault);
}

#[test]
fn every_fault_ureq_openbao() {
    every_fault(Transport::Ureq, Dialect::OpenBao);
}

#[test]
fn every_fault_hyper_vault() {
    every_fault(Transport::Hyper, Dialect::Vault);
}

#[test]
fn every_fault_hyper_openbao() {
    every_fault(Transport::Hyper, Dialect::OpenBao);
}
