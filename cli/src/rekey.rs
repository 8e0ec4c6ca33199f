//! `rekey`: new unseal or recovery shares, verified before they take effect.

use std::path::{Path, PathBuf};

use serde_json::json;
use vault_key_core::ceremony::{Next, RekeyCeremony, RekeyPhase, Verification};
use vault_key_core::ops::rekey::{KeyKind, StartRekey};
use vault_key_core::pgp::PgpPublicKey;
use vault_key_core::Dialect;

use crate::args::{Rekey, RekeyCancel, RekeyStart, RekeySubmit, RekeyTarget, RekeyVerify};
use crate::context::Context;
use crate::fail::{not_started, Failure, OK};
use crate::journal::Record;

/// Runs a `rekey` subcommand.
pub fn run(ctx: &mut Context, command: Rekey) -> Result<u8, Failure> {
    ctx.single_address()?;
    match command {
        Rekey::Start(args) => start(ctx, args),
        Rekey::Submit(args) => submit(ctx, args),
        Rekey::Verify(args) => verify(ctx, args),
        Rekey::Cancel(args) => cancel(ctx, args),
        Rekey::Status(args) => status(ctx, kind_of(args.target)),
        Rekey::Backup(command) => crate::backup::run(ctx, command),
    }
}

pub fn kind_of(target: RekeyTarget) -> KeyKind {
    match target {
        RekeyTarget::Unseal => KeyKind::Unseal,
        RekeyTarget::Recovery => KeyKind::Recovery,
    }
}

pub fn kind_name(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::Recovery => "recovery",
        _ => "unseal",
    }
}

fn phase_name(phase: RekeyPhase) -> String {
    format!("{phase:?}")
}

fn record(ctx: &Context, rekey: &RekeyCeremony, event: &str) -> Record {
    let mut record = ctx.record("rekey", kind_name(rekey.key_kind()), event);
    record.nonce = rekey.nonce().map(str::to_owned);
    record.phase = phase_name(rekey.phase());
    record.progress = rekey.progress();
    record.required = rekey.required();
    record
}

/// Reads PGP public key files (armored, binary, or base64 of the binary key) and checks each
/// can take a share now, naming the file that cannot.
pub fn read_pgp_keys(files: &[PathBuf]) -> Result<Vec<PgpPublicKey>, Failure> {
    files.iter().map(|file| read_pgp_key(file)).collect()
}

/// One PGP public key file, checked.
pub fn read_pgp_key(file: &Path) -> Result<PgpPublicKey, Failure> {
    use base64::Engine as _;
    let bytes = std::fs::read(file)
        .map_err(|e| Failure::input(format!("cannot read {}: {e}", file.display())))?;
    let text = match std::str::from_utf8(&bytes) {
        Ok(text) if text.is_ascii() => text.trim().to_owned(),
        _ => base64::engine::general_purpose::STANDARD.encode(&bytes),
    };
    let key = PgpPublicKey::parse(&text)
        .map_err(|e| Failure::input(format!("{}: {e}", file.display())))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    key.check(now)
        .map_err(|e| Failure::input(format!("{}: {e}", file.display())))?;
    Ok(key)
}

fn start(ctx: &mut Context, args: RekeyStart) -> Result<u8, Failure> {
    let kind = kind_of(args.common.target);
    if args.backup && args.pgp_keys.is_empty() {
        return Err(Failure::input(
            "-backup needs -pgp-keys: the backup is encrypted to the holders' keys",
        ));
    }
    let keys = read_pgp_keys(&args.pgp_keys)?;
    if !keys.is_empty() && keys.len() != args.key_shares as usize {
        return Err(Failure::input(format!(
            "-pgp-keys names {} keys for {} new shares: give one key per share",
            keys.len(),
            args.key_shares
        )));
    }
    let mut config = StartRekey::new(args.key_shares, args.key_threshold)
        .kind(kind)
        .require_verification(args.verify)
        .backup(args.backup);
    if !keys.is_empty() {
        config = config.pgp_public_keys(&keys);
    }
    let seal = ctx
        .client
        .read_seal_status()
        .map_err(|e| Failure::client("reading sys/seal-status", &e))?;
    config
        .check_seal(&seal)
        .map_err(|e| Failure::input(format!("this rekey cannot run on this server: {e}")))?;
    let mut rekey = RekeyCeremony::start(config);
    let next = ctx.drive(
        &mut rekey,
        |r| r.phase() == RekeyPhase::OutcomeUnknown,
        |r| r.nonce().map(str::to_owned),
        "rekey",
        kind_name(kind),
    )?;
    let nonce = rekey.nonce().unwrap_or_default().to_owned();
    ctx.journal.append(record(ctx, &rekey, "started"));
    ctx.out.say(format!(
        "Rekey of the {} shares started: {} new shares, {} to unseal, verification {}.",
        kind_name(kind),
        args.key_shares,
        args.key_threshold,
        if args.verify { "required" } else { "OFF" }
    ));
    for (index, key) in keys.iter().enumerate() {
        ctx.out.say(format!(
            "  new share {} goes to PGP key {}",
            index + 1,
            key.fingerprint()
        ));
    }
    ctx.out.say(format!("Nonce: {nonce}"));
    ctx.out.say(format!(
        "Announce the nonce to the holders; each runs `vault-key rekey submit -nonce={nonce}`."
    ));
    let required = match next {
        Next::NeedShares { required, .. } => required,
        _ => rekey.required(),
    };
    ctx.out.set("nonce", nonce);
    ctx.out.set("kind", kind_name(kind));
    ctx.out.set("required", required);
    ctx.out.set("verification_required", args.verify);
    ctx.out.set(
        "pgp_fingerprints",
        keys.iter()
            .map(|k| k.fingerprint().to_owned())
            .collect::<Vec<_>>(),
    );
    Ok(OK)
}

/// Resumes the rekey of `kind` in progress (only under `nonce` when given) and reads it.
fn resume(
    ctx: &mut Context,
    kind: KeyKind,
    nonce: Option<&str>,
    fingerprints: &[String],
) -> Result<(RekeyCeremony, Next), Failure> {
    let mut rekey = RekeyCeremony::resume(kind);
    if let Some(nonce) = nonce {
        rekey = rekey.require_nonce(nonce);
    }
    if !fingerprints.is_empty() {
        rekey = rekey.require_fingerprints(fingerprints.iter().cloned());
    }
    let next = ctx.client.drive(&mut rekey).map_err(|e| {
        let mut failure = Failure::client("reading the rekey in progress", &e);
        let none = not_started(&e);
        if none {
            let now = record(ctx, &rekey, "");
            let lost = "the new shares (if the rekey kept a backup, `vault-key rekey backup read` \
                        has them, encrypted to the holders' keys)";
            if let Some(words) = ctx.journal.gone_after_unanswered(&now, "rekey", lost) {
                failure.message = format!("{words}\n{}", failure.message);
            }
        }
        if none && ctx.client.target().dialect() == Dialect::OpenBao {
            failure.message.push_str(
                " on OpenBao's paths (sys/rotate/root); a rekey started with `bao operator \
                 rekey` or `vault operator rekey` runs on the classic paths (sys/rekey), kept \
                 apart: join it with -dialect=vault",
            );
        }
        failure
    })?;
    settle_from_journal(ctx, &rekey);
    Ok((rekey, next))
}

/// After a run whose last share got no answer (a crash, a lost connection), says what the
/// progress read shows: counted, not counted, or the ceremony gone.
fn settle_from_journal(ctx: &mut Context, rekey: &RekeyCeremony) {
    let verifying = rekey.phase() == RekeyPhase::Verifying;
    // A share sent while collecting whose rekey has since reached verification (or the
    // other way round) completed a phase: the progress counts of the two do not compare.
    let moved_on = |sent: &Record| {
        ((sent.phase == "Verifying") != verifying).then(|| {
            format!(
                "The share sent at {} got no answer; the rekey has since reached verification: \
                 the new shares went to whoever sent the completing share (or were lost with \
                 the answer: then cancel and start again).",
                sent.time
            )
        })
    };
    for words in ctx
        .journal
        .settle(record(ctx, rekey, ""), "rekey", moved_on)
    {
        ctx.out.say(words);
    }
}

fn describe(ctx: &mut Context, rekey: &RekeyCeremony) {
    if let Some(status) = rekey.status() {
        ctx.out.say(format!(
            "Rekey of the {} shares: {} of {} current shares counted; {} new shares, {} to \
             unseal; verification {}.",
            kind_name(rekey.key_kind()),
            status.progress,
            status.required,
            status.n,
            status.t,
            if status.verification_required {
                "required"
            } else {
                "OFF"
            }
        ));
        for (index, fingerprint) in status.pgp_fingerprints.iter().enumerate() {
            ctx.out.say(format!(
                "  new share {} goes to PGP key {fingerprint}",
                index + 1
            ));
        }
    }
}

fn submit(ctx: &mut Context, args: RekeySubmit) -> Result<u8, Failure> {
    let kind = kind_of(args.common.target);
    let given = args.confirm.nonce.as_deref();
    let (mut rekey, mut next) = resume(ctx, kind, given, &args.pgp_fingerprints)?;
    if let Next::NeedVerificationShares { .. } = next {
        return Err(Failure::input(format!(
            "this rekey already has its new shares and waits for their verification: run \
             `vault-key rekey verify -nonce={}`",
            rekey.nonce().unwrap_or_default()
        )));
    }
    describe(ctx, &rekey);
    let nonce = rekey.nonce().unwrap_or_default().to_owned();
    ctx.confirm_nonce(given, &nonce)?;
    while let Next::NeedShares { progress, required } = next {
        let prompt = format!(
            "Current {} share ({} of {} needed, input hidden)",
            kind_name(kind),
            progress + 1,
            required
        );
        let Some(share) = ctx.entry.share(&prompt)? else {
            ctx.out.say(format!(
                "No more shares here: {progress} of {required} counted. The next holder runs \
                 `vault-key rekey submit -nonce={nonce}`."
            ));
            break;
        };
        rekey
            .submit_share(share)
            .map_err(|e| Failure::input(format!("{e}")))?;
        ctx.journal.append(record(ctx, &rekey, "share-sent"));
        next = ctx.drive(
            &mut rekey,
            |r| r.phase() == RekeyPhase::OutcomeUnknown,
            |r| r.nonce().map(str::to_owned),
            "rekey",
            kind_name(kind),
        )?;
        ctx.journal.append(record(ctx, &rekey, "answer"));
    }
    ctx.out.set("nonce", nonce.clone());
    ctx.out.set("progress", rekey.progress());
    ctx.out.set("required", rekey.required());
    if rekey.result().is_some() {
        hand_out(ctx, &rekey, args.out_dir.as_deref())?;
        if rekey.phase() == RekeyPhase::Verifying {
            ctx.out.say(format!(
                "The new shares are NOT in effect yet: the old ones still unseal. Each new \
                 holder verifies with `vault-key rekey verify -nonce={nonce}`."
            ));
        } else {
            ctx.out
                .say("The new shares are in effect; the old ones no longer unseal.");
        }
    }
    ctx.out.set("phase", phase_name(rekey.phase()));
    Ok(OK)
}

/// Shows the new shares once, or writes one file per holder; the journal only says where.
fn hand_out(
    ctx: &mut Context,
    rekey: &RekeyCeremony,
    out_dir: Option<&Path>,
) -> Result<(), Failure> {
    let Some(result) = rekey.result() else {
        return Ok(());
    };
    let encrypted = !result.pgp_fingerprints.is_empty();
    match out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::input(format!("cannot create {}: {e}", dir.display())))?;
            let mut files = Vec::new();
            for (index, key) in result.keys.iter().enumerate() {
                let path = dir.join(format!("share-{}", index + 1));
                write_new_file(&path, key.expose().as_bytes())?;
                files.push(path.display().to_string());
            }
            ctx.out.say(format!(
                "{} new shares{} written, one file per holder: {}",
                files.len(),
                if encrypted { " (PGP-encrypted)" } else { "" },
                files.join(", ")
            ));
            let mut written = record(ctx, rekey, "new-shares-written");
            written.note = Some(format!("files: {}", files.join(", ")));
            ctx.journal.append(written);
            ctx.out.set("files", files);
        }
        None => {
            ctx.out.say(format!(
                "New shares{} (shown once; give each to its holder):",
                if encrypted {
                    ", PGP-encrypted to the holders' keys"
                } else {
                    ""
                }
            ));
            if !ctx.out.is_json() {
                for (index, key) in result.keys.iter().enumerate() {
                    println!("  share {}: {}", index + 1, key.expose());
                }
            }
            ctx.out.set(
                "keys",
                result
                    .keys
                    .iter()
                    .map(|k| k.expose().to_owned())
                    .collect::<Vec<_>>(),
            );
            let mut shown = record(ctx, rekey, "new-shares-shown");
            shown.note = Some(format!("{} new shares shown", result.keys.len()));
            ctx.journal.append(shown);
        }
    }
    if result.backup {
        ctx.out.say(
            "The server keeps a PGP-encrypted backup of the new shares: delete it once every \
             holder has confirmed theirs.",
        );
    }
    ctx.out
        .set("verification_nonce", result.verification_nonce.clone());
    Ok(())
}

/// Creates `path` (never overwriting), readable by its owner only, holding `bytes`.
pub fn write_new_file(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| Failure::input(format!("cannot create {}: {e}", path.display())))?;
    file.write_all(bytes)
        .and_then(|()| file.write_all(b"\n"))
        .map_err(|e| Failure::input(format!("cannot write {}: {e}", path.display())))
}

fn verify(ctx: &mut Context, args: RekeyVerify) -> Result<u8, Failure> {
    let kind = kind_of(args.common.target);
    let given = args.confirm.nonce.as_deref();
    let (mut rekey, mut next) = resume(ctx, kind, given, &[])?;
    if let Next::NeedShares { .. } = next {
        return Err(Failure::input(
            "this rekey has no new shares yet: the current shares go in first (`vault-key \
             rekey submit`)",
        ));
    }
    let nonce = rekey.nonce().unwrap_or_default().to_owned();
    ctx.out.say(format!(
        "Verification of the new {} shares.",
        kind_name(kind)
    ));
    ctx.confirm_nonce(given, &nonce)?;
    while let Next::NeedVerificationShares { progress, required } = next {
        let prompt = format!(
            "NEW {} share ({} of {} needed, input hidden)",
            kind_name(kind),
            progress + 1,
            required
        );
        let Some(share) = ctx.entry.share(&prompt)? else {
            ctx.out.say(format!(
                "No more new shares here: {progress} of {required} verified. The next holder \
                 runs `vault-key rekey verify -nonce={nonce}`."
            ));
            break;
        };
        rekey
            .submit_verification_share(share)
            .map_err(|e| Failure::input(format!("{e}")))?;
        let mut sent = record(ctx, &rekey, "share-sent");
        sent.ceremony = "rekey".into();
        ctx.journal.append(sent);
        next = ctx.drive(
            &mut rekey,
            |r| r.phase() == RekeyPhase::OutcomeUnknown,
            |r| r.nonce().map(str::to_owned),
            "rekey",
            kind_name(kind),
        )?;
        ctx.journal.append(record(ctx, &rekey, "answer"));
    }
    let verified = rekey.verification() == Verification::Verified;
    if verified {
        ctx.journal.append(record(ctx, &rekey, "done"));
        ctx.out
            .say("Verified: the new shares are in effect; the old ones no longer unseal.");
    }
    ctx.out.set("nonce", nonce);
    ctx.out.set("verified", verified);
    ctx.out.set("phase", phase_name(rekey.phase()));
    Ok(OK)
}

fn cancel(ctx: &mut Context, args: RekeyCancel) -> Result<u8, Failure> {
    let kind = kind_of(args.common.target);
    let given = args.confirm.nonce.as_deref();
    let (mut rekey, _) = resume(ctx, kind, given, &[])?;
    describe(ctx, &rekey);
    let nonce = rekey.nonce().unwrap_or_default().to_owned();
    ctx.confirm_nonce(given, &nonce)?;
    if args.verification {
        rekey
            .cancel_verification()
            .map_err(|e| Failure::input(format!("{e}")))?;
    } else {
        rekey.cancel().map_err(|e| Failure::input(format!("{e}")))?;
    }
    let _next = ctx.drive(
        &mut rekey,
        |r| r.phase() == RekeyPhase::OutcomeUnknown,
        |r| r.nonce().map(str::to_owned),
        "rekey",
        kind_name(kind),
    )?;
    if !args.verification && rekey.phase() != RekeyPhase::Cancelled {
        return Err(Failure::input(format!(
            "the rekey {nonce} was not cancelled (phase {:?})",
            rekey.phase()
        )));
    }
    if args.verification {
        ctx.journal
            .append(record(ctx, &rekey, "verification-restarted"));
        ctx.out.say(format!(
            "Verification restarted{}: the new shares stay the same; every holder verifies again.",
            rekey
                .verification_nonce()
                .map(|n| format!(" (verification nonce {n})"))
                .unwrap_or_default()
        ));
    } else {
        ctx.journal.append(record(ctx, &rekey, "cancelled"));
        ctx.out.say(format!(
            "Rekey {nonce} cancelled: the old shares stay in effect."
        ));
    }
    ctx.out.set("nonce", nonce);
    ctx.out.set("phase", phase_name(rekey.phase()));
    Ok(OK)
}

fn status(ctx: &mut Context, kind: KeyKind) -> Result<u8, Failure> {
    let status = ctx
        .client
        .read_rekey_progress(kind)
        .map_err(|e| Failure::client("reading the rekey progress", &e))?;
    if !status.started {
        ctx.out.say(format!(
            "No rekey of the {} shares in progress.",
            kind_name(kind)
        ));
        ctx.out.set("started", false);
        return Ok(OK);
    }
    ctx.out.say(format!(
        "Rekey of the {} shares in progress, nonce {}: {} of {} current shares counted; {} new \
         shares, {} to unseal; verification {}.",
        kind_name(kind),
        status.nonce.as_deref().unwrap_or("?"),
        status.progress,
        status.required,
        status.n,
        status.t,
        if status.verification_required {
            "required"
        } else {
            "off"
        }
    ));
    let mut value = json!({
        "started": true,
        "nonce": status.nonce,
        "progress": status.progress,
        "required": status.required,
        "n": status.n,
        "t": status.t,
        "verification_required": status.verification_required,
        "pgp_fingerprints": status.pgp_fingerprints,
        "backup": status.backup,
    });
    if status
        .verification_nonce
        .as_deref()
        .is_some_and(|n| !n.is_empty())
    {
        let verify = ctx
            .client
            .read_rekey_verify_progress(kind)
            .map_err(|e| Failure::client("reading the verification progress", &e))?;
        ctx.out.say(format!(
            "The new shares wait for verification: {} of {} verified.",
            verify.progress, verify.t
        ));
        value["verification"] = json!({ "progress": verify.progress, "required": verify.t });
    }
    if let serde_json::Value::Object(fields) = value {
        for (key, value) in fields {
            ctx.out.set(&key, value);
        }
    }
    Ok(OK)
}
