//! `rekey backup read` / `rekey backup delete`: the PGP-encrypted copy of the new shares a
//! rekey started with `-backup` left on the server.
//!
//! The backup holds the new shares encrypted to the holders' keys, so showing it shows no
//! secret; it is still one per server, whichever rekey wrote it, so `-nonce` pins it to the
//! ceremony the holders know. Deleting it is confirmed like a share (the backup's nonce typed,
//! or given), and a delete whose answer is lost is settled by reading, never sent twice.

use std::path::Path;

use serde_json::json;
use vault_key_core::ops::rekey::KeyKind;
use vault_key_core::ops::rekey_backup::BackupKeys;
use vault_key_core::Refusal;

use crate::args::{BackupDelete, BackupRead, RekeyBackup};
use crate::context::Context;
use crate::fail::{self, Failure, OK};
use crate::rekey::{kind_name, kind_of, write_new_file};

/// Runs a `rekey backup` subcommand.
pub fn run(ctx: &mut Context, command: RekeyBackup) -> Result<u8, Failure> {
    match command {
        RekeyBackup::Read(args) => read(ctx, args),
        RekeyBackup::Delete(args) => delete(ctx, args),
    }
}

/// Reads the backup: `None` when the server has none.
fn fetch(ctx: &Context, kind: KeyKind) -> Result<Option<BackupKeys>, Failure> {
    match ctx.client.read_backup_keys(kind) {
        Ok(backup) => Ok(Some(backup)),
        Err(e) if e.refusal() == Some(&Refusal::NoBackup) => Ok(None),
        Err(e) => Err(Failure::client("reading the rekey backup", &e)),
    }
}

/// The backup, which must exist and (with `-nonce`) be the given rekey's.
fn fetch_pinned(ctx: &Context, kind: KeyKind, nonce: Option<&str>) -> Result<BackupKeys, Failure> {
    let Some(backup) = fetch(ctx, kind)? else {
        return Err(Failure::input(format!(
            "the server keeps no backup of {} shares",
            kind_name(kind)
        )));
    };
    if let Some(given) = nonce {
        if backup.nonce.as_deref() != Some(given) {
            return Err(Failure::stop(format!(
                "the server's backup was written by the rekey {}, not {given}: nothing was done",
                backup.nonce.as_deref().unwrap_or("(no nonce)")
            )));
        }
    }
    Ok(backup)
}

fn read(ctx: &mut Context, args: BackupRead) -> Result<u8, Failure> {
    let kind = kind_of(args.common.target);
    let backup = fetch_pinned(ctx, kind, args.confirm.nonce.as_deref())?;
    let nonce = backup.nonce.clone().unwrap_or_default();
    ctx.out.say(format!(
        "Backup of the new {} shares, written by the rekey {nonce}, PGP-encrypted to {} key(s):",
        kind_name(kind),
        backup.keys.len()
    ));
    let encoded = if backup.keys_base64.is_empty() {
        &backup.keys
    } else {
        &backup.keys_base64
    };
    let mut files = Vec::new();
    for (fingerprint, shares) in encoded {
        match &args.out_dir {
            Some(dir) => {
                let path = write_backup(dir, fingerprint, shares)?;
                ctx.out.say(format!(
                    "  {fingerprint}: {} share(s) -> {path}",
                    shares.len()
                ));
                files.push(path);
            }
            None => {
                ctx.out
                    .say(format!("  {fingerprint}: {} share(s)", shares.len()));
                if !ctx.out.is_json() {
                    for share in shares {
                        println!("    {}", share.expose());
                    }
                }
            }
        }
    }
    ctx.out.say(
        "Each holder decrypts theirs with their PGP key; delete the backup (`vault-key rekey \
         backup delete`) once every holder has confirmed theirs.",
    );
    ctx.out.set("nonce", nonce);
    ctx.out.set(
        "keys",
        encoded
            .iter()
            .map(|(fingerprint, shares)| {
                (
                    fingerprint.clone(),
                    json!(shares.iter().map(|s| s.expose()).collect::<Vec<_>>()),
                )
            })
            .collect::<serde_json::Map<_, _>>(),
    );
    if !files.is_empty() {
        ctx.out.set("files", files);
    }
    Ok(OK)
}

/// Writes one holder's encrypted shares (base64, one a line) to `backup-FINGERPRINT`.
fn write_backup(
    dir: &Path,
    fingerprint: &str,
    shares: &[vault_key_core::KeyShare],
) -> Result<String, Failure> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::input(format!("cannot create {}: {e}", dir.display())))?;
    let path = dir.join(format!("backup-{fingerprint}"));
    let text = shares
        .iter()
        .map(|s| s.expose())
        .collect::<Vec<_>>()
        .join("\n");
    write_new_file(&path, text.as_bytes())?;
    Ok(path.display().to_string())
}

fn delete(ctx: &mut Context, args: BackupDelete) -> Result<u8, Failure> {
    let kind = kind_of(args.common.target);
    let given = args.confirm.nonce.as_deref();
    let backup = fetch_pinned(ctx, kind, given)?;
    let nonce = backup.nonce.clone().unwrap_or_default();
    ctx.out.say(format!(
        "The server's backup of the new {} shares was written by the rekey {nonce} ({} key(s)).",
        kind_name(kind),
        backup.keys.len()
    ));
    ctx.confirm_nonce(given, &nonce)?;
    let mut record = ctx.record("rekey-backup", kind_name(kind), "delete-sent");
    record.nonce = Some(nonce.clone());
    ctx.journal.append(record.clone());
    if let Err(error) = ctx.client.delete_backup_keys(kind) {
        if error.refusal().is_some() {
            return Err(Failure::client("deleting the rekey backup", &error));
        }
        // The answer did not come: read before anything else, never delete twice blindly.
        ctx.out.say(format!(
            "The answer to the delete was lost ({error}). Reading the backup..."
        ));
        match fetch(ctx, kind) {
            Ok(None) => ctx.out.say("Settled: the backup is gone."),
            Ok(Some(_)) => {
                return Err(Failure::input(format!(
                    "the delete did not take effect ({error}): the backup is still there; \
                     run the command again"
                )))
            }
            Err(again) => {
                return Err(Failure::new(
                    fail::OUTCOME_UNKNOWN,
                    format!(
                        "the answer to the delete was lost ({error}) and the backup could not \
                         be read ({again}): whether it is deleted is not known; `vault-key rekey \
                         backup read` tells"
                    ),
                ))
            }
        }
    }
    record.event = "backup-deleted".to_owned();
    ctx.journal.append(record);
    ctx.out.say(format!(
        "Backup of the rekey {nonce} deleted: only the holders have the new shares now."
    ));
    ctx.out.set("nonce", nonce);
    ctx.out.set("deleted", true);
    Ok(OK)
}
