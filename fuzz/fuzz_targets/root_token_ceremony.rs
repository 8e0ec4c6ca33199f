//! A root-token generation driven by any sequence of caller actions, answers and failed
//! exchanges.
//!
//! Besides not panicking: an encoded token, once produced, stays reachable to the end, and so
//! does the OTP that decodes it; kept raw answers are never dropped; nothing printed shows a
//! share, the OTP or the token.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vault_key_core::ceremony::{Next, RootTokenCeremony, RootTokenPhase, TokenProtection};
use vault_key_core::ops::generate_root::TokenKind;
use vault_key_core::Otp;
use vault_key_fuzz::{request_debug, Failure, Input, Leaks, SECRETS};

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Input::new(data));
});

fn run(u: &mut Input<'_>) -> Option<()> {
    let kind = if u.flag()? {
        TokenKind::Root
    } else {
        TokenKind::Recovery
    };
    let protection = match u.below(4)? {
        0 => TokenProtection::ServerOtp,
        1 => TokenProtection::Otp(Otp::new(SECRETS[3])),
        2 => TokenProtection::GenerateOtp,
        _ => TokenProtection::PgpKey("bWFkZSB1cA==".into()),
    };
    let mut generation = match u.below(4)? {
        0 => RootTokenCeremony::resume(kind, None),
        1 => RootTokenCeremony::resume(kind, Some(Otp::new(SECRETS[3]))),
        2 => RootTokenCeremony::resume(kind, None).require_nonce("2dbd10f1"),
        // A key that does not read is pinned by the captured generation's fingerprint.
        _ if matches!(protection, TokenProtection::PgpKey(_)) => {
            RootTokenCeremony::start(kind, protection)
                .require_fingerprint("424be52f3e6d21911b2ff0ec27fa7488d7d92e4f")
        }
        _ => RootTokenCeremony::start(kind, protection),
    };
    let target = u.target()?;
    let mut leaks = Leaks::default();
    let mut had_result = false;
    let mut had_otp = false;
    let mut kept = 0;
    for _ in 0..64 {
        match u.below(10)? {
            0 => drop(generation.submit_share(u.share()?)),
            1 => drop(generation.provide_otp(Otp::new(SECRETS[3]))),
            2 => {
                // Randomness from the fuzzer's bytes, zeros once they run out.
                let mut random = |dest: &mut [u8]| {
                    for byte in dest {
                        *byte = u.byte().unwrap_or(0);
                    }
                };
                drop(generation.generate_otp(&mut random));
            }
            3 => drop(generation.cancel()),
            4 => drop(generation.refresh()),
            5 => generation.clear_queued_shares(),
            6 => generation.request_failed(Failure::read(u, &mut leaks)?.delivery()),
            _ => {
                if u.byte()? < 230 {
                    match generation.poll(&target) {
                        Ok(Next::Send(request) | Next::Settle(request)) => {
                            leaks.check(&request_debug(&request))
                        }
                        // What the value says agrees with the state it was read from.
                        Ok(Next::Finished) => assert!(matches!(
                            generation.phase(),
                            RootTokenPhase::Done
                                | RootTokenPhase::Cancelled
                                | RootTokenPhase::Aborted
                        )),
                        Ok(Next::AwaitingAnswer) => assert!(generation.awaiting_response()),
                        Ok(next) => leaks.check(&format!("{next:?}")),
                        Err(error) => leaks.check(&format!("{error} {error:?}")),
                    }
                }
                let (status, answer) = (u.status()?, u.body());
                leaks.fed(answer);
                match generation.handle_response(status, answer) {
                    Ok(event) => leaks.check(&format!("{event:?}")),
                    Err(error) => leaks.check(&format!("{error} {error:?}")),
                }
            }
        }
        had_result |= generation.result().is_some();
        assert!(
            !had_result || generation.result().is_some(),
            "an encoded token was produced and then lost"
        );
        had_otp |= had_result && generation.otp().is_some();
        assert!(
            !had_otp || generation.otp().is_some(),
            "the OTP that decodes the token was lost"
        );
        let now_kept = generation.undecoded_responses().len();
        assert!(now_kept >= kept, "a kept answer was dropped");
        kept = now_kept;
        match generation.decode_token() {
            Ok(_) => {}
            Err(error) => leaks.check(&format!("{error} {error:?}")),
        }
        leaks.check(&format!("{generation:?} {:?}", generation.phase()));
    }
    Some(())
}
