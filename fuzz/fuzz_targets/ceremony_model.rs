//! Both ceremonies, both dialects, against the server model of `vault-key-model`, with the
//! schedule of faults, other operators' actions and leader changes read from the fuzzer's
//! bytes; every invariant of `vault_key_model::run` is checked after every step.
//!
//! Input: one byte choosing the ceremony (see [`setup`]), one byte seeding the server's
//! values, then one byte per request: below 128 nothing happens, otherwise the event
//! `Event::all()` lists at that index, or past its end a cut at the byte the next two
//! bytes give.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vault_key_core::ops::generate_root::TokenKind;
use vault_key_core::ops::rekey::KeyKind;
use vault_key_core::Dialect;
use vault_key_fuzz::Input;
use vault_key_model::{run, CutAt, Event, Fault, Protection, RekeySetup, RootSetup, Setup};

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let Some(setup) = input.byte().map(setup) else {
        return;
    };
    let seed = u64::from(input.byte().unwrap_or(0));
    let events: Vec<Event> = Event::all().collect();
    let mut schedule = |_step: usize| {
        let b = input.byte()?;
        let index = usize::from(b.checked_sub(128)?);
        Some(match events.get(index) {
            Some(event) => *event,
            None => {
                let at = u16::from_be_bytes([input.byte()?, input.byte()?]);
                Event::Fault(Fault::Cut(CutAt::Byte(u32::from(at))))
            }
        })
    };
    if let Err(violation) = run(&setup, seed, &mut schedule) {
        panic!("{setup:?}\n{violation}");
    }
});

/// The ceremony a byte names: bit 0 rekey or generation, bit 1 the dialect; for a rekey,
/// bit 2 recovery shares, bit 3 verification, bit 4 PGP with a backup, bits 5 and 6 two to
/// five new shares; for a generation, bits 2 and 3 the protection, bit 4 a recovery token.
fn setup(b: u8) -> Setup {
    let dialect = if b & 2 == 0 {
        Dialect::Vault
    } else {
        Dialect::OpenBao
    };
    if b & 1 == 0 {
        let pgp = b & 16 != 0;
        Setup::Rekey(
            dialect,
            RekeySetup {
                kind: if b & 4 == 0 {
                    KeyKind::Unseal
                } else {
                    KeyKind::Recovery
                },
                shares: 2 + u32::from((b >> 5) & 3),
                threshold: 2,
                verification: b & 8 != 0,
                pgp,
                backup: pgp,
            },
        )
    } else {
        let protection = match (b >> 2) & 3 {
            0 => Protection::ServerOtp,
            1 => Protection::Otp,
            2 => Protection::GenerateOtp,
            _ => Protection::Pgp,
        };
        let kind = if b & 16 == 0 {
            TokenKind::Root
        } else {
            TokenKind::Recovery
        };
        Setup::Root(dialect, RootSetup { kind, protection })
    }
}
