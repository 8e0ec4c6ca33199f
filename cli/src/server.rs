//! `status`, `unseal` and `rotate`: the server's state, and what needs no ceremony.

use serde_json::json;
use vault_key_core::ops::encryption_key::ConfigureRotation;
use vault_key_core::ops::seal::SealStatus;

use crate::args::{RotateArgs, RotateCommand, UnsealArgs};
use crate::context::Context;
use crate::fail::{Failure, ERROR, OK, SEALED};

fn seal_json(seal: &SealStatus) -> serde_json::Value {
    json!({
        "sealed": seal.sealed,
        "initialized": seal.initialized,
        "type": seal.seal_type,
        "t": seal.t,
        "n": seal.n,
        "progress": seal.progress,
        "version": seal.version,
        "recovery_seal": seal.recovery_seal,
        "cluster_name": seal.cluster_name,
    })
}

/// `status`: exit code 2 when sealed, as `vault status`.
pub fn status(ctx: &mut Context) -> Result<u8, Failure> {
    ctx.single_address()?;
    let seal = ctx
        .client
        .read_seal_status()
        .map_err(|e| Failure::client("reading sys/seal-status", &e))?;
    let server = seal.server();
    ctx.out.say(format!(
        "Server      {:?} {} at {}",
        server.product,
        server.version,
        ctx.client.target().address()
    ));
    ctx.out.say(format!(
        "Seal        {} ({}), {}{}",
        if seal.sealed { "SEALED" } else { "unsealed" },
        seal.seal_type,
        if seal.recovery_seal {
            format!("recovery shares: {} of {} needed", seal.t, seal.n)
        } else {
            format!("unseal shares: {} of {} needed", seal.t, seal.n)
        },
        if seal.sealed {
            format!(", {} counted", seal.progress)
        } else {
            String::new()
        }
    ));
    ctx.out.set(
        "server",
        json!({"product": format!("{:?}", server.product), "version": server.version}),
    );
    ctx.out
        .set("dialect", format!("{:?}", ctx.client.target().dialect()));
    ctx.out.set("seal", seal_json(&seal));
    if seal.sealed {
        return Ok(SEALED);
    }
    match ctx.client.read_leader_status() {
        Ok(leader) => {
            if leader.ha_enabled {
                ctx.out.say(format!(
                    "HA          {}; leader {}",
                    if leader.is_self {
                        "this node leads"
                    } else {
                        "standby"
                    },
                    leader.leader_address.as_deref().unwrap_or("unknown")
                ));
            } else {
                ctx.out.say("HA          not enabled");
            }
            ctx.out.set(
                "ha",
                json!({"enabled": leader.ha_enabled, "is_self": leader.is_self,
                    "leader_address": leader.leader_address}),
            );
        }
        Err(e) => ctx.out.say(format!("HA          cannot be read: {e}")),
    }
    match ctx.client.get_encryption_key_status() {
        Ok(key) => {
            ctx.out.say(format!(
                "Key         term {}, installed {}",
                key.term, key.install_time
            ));
            ctx.out.set(
                "key",
                json!({"term": key.term, "install_time": key.install_time,
                    "encryptions": key.encryptions}),
            );
        }
        Err(e) => ctx.out.say(format!(
            "Key         cannot be read (a token is needed): {e}"
        )),
    }
    Ok(OK)
}

/// `unseal`: the same shares to every node given with `-address`; one node that fails does
/// not stop the others.
pub fn unseal(ctx: &mut Context, args: UnsealArgs) -> Result<u8, Failure> {
    let mut nodes = Vec::new();
    for address in &ctx.addresses {
        let target = ctx
            .client
            .target()
            .at_address(address)
            .map_err(|e| Failure::input(format!("{address}: {e}")))?;
        nodes.push((address.clone(), ctx.client.with_target(target)));
    }
    if args.reset {
        for (address, node) in &nodes {
            node.reset_unseal()
                .map_err(|e| Failure::client(&format!("{address}: reset"), &e))?;
            ctx.out.say(format!(
                "{address}: the shares submitted so far are discarded"
            ));
        }
        return Ok(OK);
    }
    let mut needed = 0;
    let mut statuses = Vec::new();
    for (address, node) in &nodes {
        match node.read_seal_status() {
            Ok(seal) => {
                if seal.sealed {
                    needed = needed.max(seal.t.saturating_sub(seal.progress));
                    ctx.out.say(format!(
                        "{address}: sealed, {} of {} shares counted",
                        seal.progress, seal.t
                    ));
                } else {
                    ctx.out.say(format!("{address}: already unsealed"));
                }
                statuses.push(Some(seal));
            }
            Err(e) => {
                ctx.out
                    .say(format!("{address}: cannot read the seal status: {e}"));
                statuses.push(None);
            }
        }
    }
    let mut shares = Vec::new();
    while shares.len() < needed as usize {
        let prompt = format!(
            "Unseal share ({} of {needed} still needed, input hidden)",
            shares.len() + 1
        );
        match ctx.entry.share(&prompt)? {
            Some(share) => shares.push(share),
            None => break,
        }
    }
    let mut code = OK;
    let mut results = Vec::new();
    for ((address, node), status) in nodes.iter().zip(statuses) {
        let Some(mut seal) = status else {
            code = ERROR;
            results.push(json!({"address": address, "error": "seal status unreadable"}));
            continue;
        };
        for share in &shares {
            if !seal.sealed {
                break;
            }
            let mut record = ctx.record("unseal", "unseal", "share-sent");
            record.address = address.clone();
            record.nonce = seal.nonce.clone();
            record.progress = seal.progress;
            record.required = seal.t;
            ctx.journal.append(record);
            match node.unseal(share.clone()) {
                Ok(next) => {
                    seal = next;
                    if seal.sealed {
                        ctx.out.say(format!(
                            "{address}: {} of {} shares counted",
                            seal.progress, seal.t
                        ));
                    }
                }
                Err(e) => {
                    ctx.out.say(format!("{address}: {e}"));
                    code = ERROR;
                    // A refused share can reset the progress: say what the node holds now.
                    if let Ok(now) = node.read_seal_status() {
                        seal = now;
                    }
                    break;
                }
            }
        }
        if seal.sealed {
            if code == OK {
                code = SEALED;
            }
            ctx.out.say(format!(
                "{address}: still sealed, {} of {} shares counted",
                seal.progress, seal.t
            ));
        } else {
            ctx.out.say(format!("{address}: unsealed"));
        }
        let mut record = ctx.record("unseal", "unseal", "answer");
        record.address = address.clone();
        record.phase = if seal.sealed { "sealed" } else { "unsealed" }.into();
        record.progress = seal.progress;
        record.required = seal.t;
        ctx.journal.append(record);
        results.push(json!({"address": address, "sealed": seal.sealed,
            "progress": seal.progress, "t": seal.t}));
    }
    ctx.out.set("nodes", results);
    Ok(code)
}

/// `rotate`, `rotate config`.
pub fn rotate(ctx: &mut Context, args: RotateArgs) -> Result<u8, Failure> {
    ctx.single_address()?;
    match args.config {
        None => {
            let before = ctx
                .client
                .get_encryption_key_status()
                .map_err(|e| Failure::client("reading the key status", &e))?;
            ctx.client
                .rotate_encryption_key()
                .map_err(|e| Failure::client("rotating the encryption key", &e))?;
            let after = ctx
                .client
                .get_encryption_key_status()
                .map_err(|e| Failure::client("reading the key status", &e))?;
            let mut record = ctx.record("rotate", "encryption", "done");
            record.note = Some(format!("key term {} -> {}", before.term, after.term));
            ctx.journal.append(record);
            ctx.out.say(format!(
                "Encryption key rotated: term {} (was {}), installed {}.",
                after.term, before.term, after.install_time
            ));
            ctx.out.set("term", after.term);
            ctx.out.set("install_time", after.install_time);
        }
        Some(RotateCommand::Config(config)) => {
            if config.enable.is_some()
                || config.max_operations.is_some()
                || config.interval.is_some()
            {
                let mut settings = ConfigureRotation::new();
                if let Some(enabled) = config.enable {
                    settings = settings.enabled(enabled);
                }
                if let Some(operations) = config.max_operations {
                    settings = settings.max_operations(operations);
                }
                if let Some(interval) = config.interval {
                    settings = settings.interval(interval);
                }
                ctx.client
                    .configure_rotation(settings)
                    .map_err(|e| Failure::client("writing sys/rotate/config", &e))?;
            }
            let current = ctx
                .client
                .read_rotate_config()
                .map_err(|e| Failure::client("reading sys/rotate/config", &e))?;
            ctx.out.say(format!(
                "Automatic rotation {}: after {} encryptions{}.",
                if current.enabled { "on" } else { "off" },
                current.max_operations,
                if current.interval.is_zero() {
                    String::new()
                } else {
                    format!(" or every {} s", current.interval.as_secs())
                }
            ));
            ctx.out.set("enabled", current.enabled);
            ctx.out.set("max_operations", current.max_operations);
            ctx.out.set("interval_seconds", current.interval.as_secs());
        }
    }
    Ok(OK)
}
