//! The ceremonies against the adversarial server model (`vault-key-model`): every schedule of
//! faults, another operator's actions and leader changes up to a bound, and random schedules
//! beyond it, with the invariants of `vault_key_model::run` checked after every step (no
//! blind resend, no result dropped, done only when the server says so, no secret printed).
//!
//! The suite's bound is small enough for a debug build; `CEREMONY_MODEL_BOUND=full` runs the
//! bound recorded in `docs/CEREMONIES.md` instead (best with `--release`).

use proptest::prelude::*;
use std::time::Instant;
use vault_key_core::ops::generate_root::TokenKind;
use vault_key_core::ops::rekey::KeyKind;
use vault_key_core::Dialect;
use vault_key_model::{
    explore, run, Bound, CutAt, Event, Explored, Fault, Operator, Protection, RekeySetup,
    RootSetup, Setup,
};

fn rekey(dialect: Dialect, kind: KeyKind, verification: bool, pgp: bool) -> Setup {
    Setup::Rekey(
        dialect,
        RekeySetup {
            kind,
            shares: 3,
            threshold: 2,
            verification,
            pgp,
            backup: pgp,
        },
    )
}

fn root(dialect: Dialect, kind: TokenKind, protection: Protection) -> Setup {
    Setup::Root(dialect, RootSetup { kind, protection })
}

/// Every ceremony the model check runs: both dialects; rekeys with verification, without,
/// and with PGP and a backup, of the unseal shares and (once per dialect) the recovery
/// shares; generations with each protection, of a root token and (once) a recovery token.
fn rekeys() -> Vec<Setup> {
    let mut setups = Vec::new();
    for dialect in [Dialect::Vault, Dialect::OpenBao] {
        setups.push(rekey(dialect, KeyKind::Unseal, true, false));
        setups.push(rekey(dialect, KeyKind::Unseal, false, false));
        setups.push(rekey(dialect, KeyKind::Unseal, false, true));
        setups.push(rekey(dialect, KeyKind::Recovery, true, false));
    }
    setups
}

fn generations() -> Vec<Setup> {
    let mut setups = Vec::new();
    for dialect in [Dialect::Vault, Dialect::OpenBao] {
        for protection in [
            Protection::ServerOtp,
            Protection::Otp,
            Protection::GenerateOtp,
            Protection::Pgp,
        ] {
            setups.push(root(dialect, TokenKind::Root, protection));
        }
    }
    setups.push(root(
        Dialect::Vault,
        TokenKind::Recovery,
        Protection::ServerOtp,
    ));
    setups
}

fn full() -> bool {
    std::env::var("CEREMONY_MODEL_BOUND").is_ok_and(|v| v == "full")
}

/// Explores `setups` within `bound`, printing what each explored, and fails at the first
/// counterexample.
fn check(name: &str, setups: &[Setup], bound: Bound) -> Explored {
    let start = Instant::now();
    let mut total = Explored::default();
    for setup in setups {
        match explore(setup, bound) {
            Ok(explored) => total += explored,
            Err(counterexample) => panic!("{counterexample}"),
        }
    }
    println!(
        "{name}: {bound:?}, {} ceremonies: {} schedules, {} steps checked, in {:.1?}",
        setups.len(),
        total.schedules,
        total.steps,
        start.elapsed()
    );
    total
}

const ONE_OF_EACH: Bound = Bound {
    faults: 1,
    operators: 1,
    leader_changes: 1,
};
const TWO_FAULTS: Bound = Bound {
    faults: 2,
    operators: 0,
    leader_changes: 0,
};
/// The full bound, first part: up to two faults at any steps, one other operator's action
/// and one leader change.
const FULL: Bound = Bound {
    faults: 2,
    operators: 1,
    leader_changes: 1,
};
/// The full bound, second part: up to three faults at any steps.
const THREE_FAULTS: Bound = Bound {
    faults: 3,
    operators: 0,
    leader_changes: 0,
};

#[test]
fn every_rekey_schedule_within_the_bound_keeps_the_invariants() {
    let bound = if full() { FULL } else { ONE_OF_EACH };
    let explored = check("rekey", &rekeys(), bound);
    assert!(explored.schedules > 5_000, "{explored:?}");
    if full() {
        check("rekey", &rekeys(), THREE_FAULTS);
    }
}

#[test]
fn every_generation_schedule_within_the_bound_keeps_the_invariants() {
    let bound = if full() { FULL } else { ONE_OF_EACH };
    let explored = check("root token", &generations(), bound);
    assert!(explored.schedules > 5_000, "{explored:?}");
    if full() {
        check("root token", &generations(), THREE_FAULTS);
    }
}

#[test]
fn every_pair_of_faults_keeps_the_invariants() {
    if full() {
        return; // within THREE_FAULTS
    }
    let setups = [
        rekey(Dialect::Vault, KeyKind::Unseal, true, false),
        rekey(Dialect::OpenBao, KeyKind::Unseal, true, false),
        rekey(Dialect::OpenBao, KeyKind::Unseal, false, false),
        root(Dialect::Vault, TokenKind::Root, Protection::ServerOtp),
        root(Dialect::OpenBao, TokenKind::Root, Protection::GenerateOtp),
    ];
    let explored = check("two faults", &setups, TWO_FAULTS);
    assert!(explored.schedules > 5_000, "{explored:?}");
}

/// Without faults every ceremony ends as the operator wants it: done, and the server agrees
/// (the invariants alone would also accept a ceremony that gives up).
#[test]
fn without_faults_every_ceremony_completes() {
    for setup in rekeys().into_iter().chain(generations()) {
        let report = run(&setup, 1, &mut |_| None).unwrap_or_else(|v| panic!("{v}"));
        assert_eq!(report.phase, "Done", "{setup:?}: {:#?}", report.trace);
    }
}

fn setup() -> impl Strategy<Value = Setup> {
    let dialect = prop_oneof![Just(Dialect::Vault), Just(Dialect::OpenBao)];
    let rekey = (
        dialect.clone(),
        prop_oneof![Just(KeyKind::Unseal), Just(KeyKind::Recovery)],
        2u32..5,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(dialect, kind, shares, verification, pgp)| {
            Setup::Rekey(
                dialect,
                RekeySetup {
                    kind,
                    shares,
                    threshold: 2,
                    verification,
                    pgp,
                    backup: pgp,
                },
            )
        });
    let generation = (
        dialect,
        prop_oneof![Just(TokenKind::Root), Just(TokenKind::Recovery)],
        prop_oneof![
            Just(Protection::ServerOtp),
            Just(Protection::Otp),
            Just(Protection::GenerateOtp),
            Just(Protection::Pgp),
        ],
    )
        .prop_map(|(dialect, kind, protection)| root(dialect, kind, protection));
    prop_oneof![rekey, generation]
}

/// Any event the model check tries, and cuts at any byte.
fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        4 => prop::sample::select(Event::all().collect::<Vec<_>>()),
        1 => any::<u32>().prop_map(|at| Event::Fault(Fault::Cut(CutAt::Byte(at)))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if full() { 20_000 } else { 512 }))]

    /// Random schedules past the model check's bound: any number of events, at any steps.
    #[test]
    fn random_schedules_keep_the_invariants(
        setup in setup(),
        seed in any::<u64>(),
        schedule in prop::collection::vec(prop::option::weighted(0.4, event()), 0..24),
    ) {
        let outcome = run(&setup, seed, &mut |step| schedule.get(step).copied().flatten());
        if let Err(violation) = outcome {
            panic!("{setup:?} {schedule:?}\n{violation}");
        }
    }

    /// Another operator acting again and again (the model check allows one action).
    #[test]
    fn other_operators_again_and_again_keep_the_invariants(
        setup in setup(),
        seed in any::<u64>(),
        schedule in prop::collection::vec(
            prop::option::weighted(0.3, prop_oneof![
                Just(Event::Operator(Operator::Complete)),
                Just(Event::Operator(Operator::Cancel)),
                Just(Event::Operator(Operator::Restart)),
                Just(Event::LeaderChange),
            ]),
            0..16,
        ),
    ) {
        let outcome = run(&setup, seed, &mut |step| schedule.get(step).copied().flatten());
        if let Err(violation) = outcome {
            panic!("{setup:?} {schedule:?}\n{violation}");
        }
    }
}
