//! Every response parser, chosen by the first byte, fed any status and body.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vault_key_core::ops::cluster::{ReadHaStatus, ReadHealthStatus, ReadLeaderStatus, StepDown};
use vault_key_core::ops::decode::DecodeToken;
use vault_key_core::ops::encryption_key::{
    ConfigureRotation, GetEncryptionKeyStatus, ReadRotateConfig, RotateEncryptionKey, RotateRootKey,
};
use vault_key_core::ops::generate_root::{
    CancelRootGeneration, GenerateRoot, ReadRootGenerationProgress, StartRootTokenGeneration,
    TokenKind,
};
use vault_key_core::ops::rekey::{
    CancelRekey, KeyKind, ReadRekeyProgress, Rekey, RekeyResult, StartRekey,
};
use vault_key_core::ops::rekey_backup::{DeleteBackupKeys, ReadBackupKeys};
use vault_key_core::ops::rekey_verify::{CancelRekeyVerify, ReadRekeyVerifyProgress, RekeyVerify};
use vault_key_core::ops::seal::{Initialize, ReadInitStatus, ReadSealStatus, Seal, Unseal};
use vault_key_core::{EncodedToken, KeyShare, Operation, Otp};
use vault_key_fuzz::{Input, Leaks};

fn run<O: Operation>(op: O, status: http::StatusCode, body: &[u8], leaks: &Leaks)
where
    O::Output: std::fmt::Debug,
{
    match op.parse(status, body) {
        Ok(output) => leaks.check(&format!("{output:?}")),
        Err(error) => leaks.check(&format!("{error} {error:?}")),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let (Some(selector), Some(status)) = (input.byte(), input.status()) else {
        return;
    };
    let body = input.body();
    let mut leaks = Leaks::default();
    leaks.fed(body);
    let leaks = &leaks;
    let kind = if selector & 0x80 == 0 {
        KeyKind::Unseal
    } else {
        KeyKind::Recovery
    };
    let token = if selector & 0x80 == 0 {
        TokenKind::Root
    } else {
        TokenKind::Recovery
    };
    let share = || KeyShare::new(vault_key_fuzz::SECRETS[0]);
    match selector & 0x7F {
        0 => run(GetEncryptionKeyStatus, status, body, leaks),
        1 => run(RotateEncryptionKey, status, body, leaks),
        2 => run(RotateRootKey, status, body, leaks),
        3 => run(ReadRotateConfig, status, body, leaks),
        4 => run(ConfigureRotation::new(), status, body, leaks),
        5 => run(
            ReadRootGenerationProgress::new().kind(token),
            status,
            body,
            leaks,
        ),
        6 => run(
            StartRootTokenGeneration::new().kind(token),
            status,
            body,
            leaks,
        ),
        7 => run(
            GenerateRoot::new(share(), "n").kind(token),
            status,
            body,
            leaks,
        ),
        8 => run(CancelRootGeneration::new().kind(token), status, body, leaks),
        9 => run(ReadRekeyProgress::new().kind(kind), status, body, leaks),
        10 => run(StartRekey::new(5, 3).kind(kind), status, body, leaks),
        11 => run(Rekey::new(share(), "n").kind(kind), status, body, leaks),
        12 => run(CancelRekey::new().kind(kind), status, body, leaks),
        13 => run(
            ReadRekeyVerifyProgress::new().kind(kind),
            status,
            body,
            leaks,
        ),
        14 => run(
            RekeyVerify::new(share(), "n").kind(kind),
            status,
            body,
            leaks,
        ),
        15 => run(CancelRekeyVerify::new().kind(kind), status, body, leaks),
        16 => run(ReadBackupKeys::new().kind(kind), status, body, leaks),
        17 => run(DeleteBackupKeys::new().kind(kind), status, body, leaks),
        18 => run(ReadInitStatus, status, body, leaks),
        19 => run(Initialize::new(5, 3), status, body, leaks),
        20 => run(ReadSealStatus, status, body, leaks),
        21 => run(Unseal::new(share()), status, body, leaks),
        22 => run(Seal, status, body, leaks),
        23 => {
            let op = DecodeToken::new(
                EncodedToken::new(vault_key_fuzz::SECRETS[2]),
                Otp::new(vault_key_fuzz::SECRETS[3]),
            );
            run(op, status, body, leaks)
        }
        24 => run(
            ReadHealthStatus::new().sealed_code(299),
            status,
            body,
            leaks,
        ),
        25 => run(ReadLeaderStatus, status, body, leaks),
        26 => run(StepDown, status, body, leaks),
        27 => run(ReadHaStatus, status, body, leaks),
        _ => {
            if let Some(result) = RekeyResult::salvage(body) {
                leaks.check(&format!("{result:?}"));
            }
        }
    }
});
