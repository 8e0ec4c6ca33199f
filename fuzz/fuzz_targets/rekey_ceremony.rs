//! A rekey ceremony driven by any sequence of caller actions, answers and failed exchanges.
//!
//! Besides not panicking: new shares, once produced, stay reachable to the end; kept raw
//! answers are never dropped; and nothing printed shows a share or the token.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vault_key_core::ceremony::{Next, RekeyCeremony, RekeyPhase};
use vault_key_core::ops::rekey::{KeyKind, StartRekey};
use vault_key_fuzz::{request_debug, Failure, Input, Leaks};

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Input::new(data));
});

fn run(u: &mut Input<'_>) -> Option<()> {
    let kind = if u.flag()? {
        KeyKind::Unseal
    } else {
        KeyKind::Recovery
    };
    let mut rekey = match u.below(3)? {
        0 => RekeyCeremony::resume(kind),
        1 => RekeyCeremony::resume(kind).require_nonce("8d4bd8f4"),
        _ => RekeyCeremony::start(
            StartRekey::new(u32::from(u.below(7)?), u32::from(u.below(7)?))
                .kind(kind)
                .backup(u.flag()?)
                .require_verification(u.flag()?),
        ),
    };
    let target = u.target()?;
    let mut leaks = Leaks::default();
    let mut had_result = false;
    let mut kept = 0;
    for _ in 0..64 {
        match u.below(10)? {
            0 => drop(rekey.submit_share(u.share()?)),
            1 => drop(rekey.submit_verification_share(u.share()?)),
            2 => drop(rekey.cancel()),
            3 => drop(rekey.cancel_verification()),
            4 => drop(rekey.refresh()),
            5 => rekey.clear_queued_shares(),
            6 => rekey.request_failed(Failure::read(u, &mut leaks)?.delivery()),
            _ => {
                // Poll, and answer what was asked (or answer unasked, to test the refusal).
                if u.byte()? < 230 {
                    match rekey.poll(&target) {
                        Ok(Next::Send(request) | Next::Settle(request)) => {
                            leaks.check(&request_debug(&request))
                        }
                        // What the value says agrees with the state it was read from.
                        Ok(Next::Finished) => assert!(matches!(
                            rekey.phase(),
                            RekeyPhase::Done | RekeyPhase::Cancelled | RekeyPhase::Aborted
                        )),
                        Ok(Next::AwaitingAnswer) => assert!(rekey.awaiting_response()),
                        Ok(next) => leaks.check(&format!("{next:?}")),
                        Err(error) => leaks.check(&format!("{error} {error:?}")),
                    }
                }
                let (status, answer) = (u.status()?, u.body());
                leaks.fed(answer);
                match rekey.handle_response(status, answer) {
                    Ok(event) => leaks.check(&format!("{event:?}")),
                    Err(error) => leaks.check(&format!("{error} {error:?}")),
                }
            }
        }
        had_result |= rekey.result().is_some();
        assert!(
            !had_result || rekey.result().is_some(),
            "new shares were produced and then lost"
        );
        let now_kept = rekey.undecoded_responses().len();
        assert!(now_kept >= kept, "a kept answer was dropped");
        kept = now_kept;
        leaks.check(&format!("{rekey:?} {:?}", rekey.phase()));
    }
    Some(())
}
