//! `generate-root` and `decode`: a root (recovery, DR operation) token from the holders' shares.

use vault_key_core::ceremony::{Next, RootTokenCeremony, RootTokenPhase, TokenProtection};
use vault_key_core::ops::generate_root::TokenKind;
use vault_key_core::{EncodedToken, Otp};

use crate::args::{
    DecodeArgs, GenerateCancel, GenerateRoot, GenerateStart, GenerateSubmit, TokenKindArg,
};
use crate::context::Context;
use crate::fail::{not_started, Failure, OK};
use crate::journal::Record;
use crate::rekey::{read_pgp_key, write_new_file};

/// Runs a `generate-root` subcommand.
pub fn run(ctx: &mut Context, command: GenerateRoot) -> Result<u8, Failure> {
    ctx.single_address()?;
    match command {
        GenerateRoot::Start(args) => start(ctx, args),
        GenerateRoot::Submit(args) => submit(ctx, args),
        GenerateRoot::Decode(args) => decode(ctx, args),
        GenerateRoot::Cancel(args) => cancel(ctx, args),
        GenerateRoot::Status(args) => status(ctx, kind_of(args.kind)),
    }
}

fn kind_of(kind: TokenKindArg) -> TokenKind {
    match kind {
        TokenKindArg::Root => TokenKind::Root,
        TokenKindArg::Recovery => TokenKind::Recovery,
        TokenKindArg::Dr => TokenKind::DrOperation,
    }
}

fn kind_name(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::Recovery => "recovery",
        TokenKind::DrOperation => "dr",
        _ => "root",
    }
}

fn record(ctx: &Context, generation: &RootTokenCeremony, event: &str) -> Record {
    let mut record = ctx.record("generate-root", kind_name(generation.token_kind()), event);
    record.nonce = generation.nonce().map(str::to_owned);
    record.phase = format!("{:?}", generation.phase());
    record.progress = generation.progress();
    record.required = generation.required();
    record
}

fn drive(ctx: &mut Context, generation: &mut RootTokenCeremony) -> Result<Next, Failure> {
    let kind = kind_name(generation.token_kind());
    ctx.drive(
        generation,
        |g| g.phase() == RootTokenPhase::OutcomeUnknown,
        |g| g.nonce().map(str::to_owned),
        "generate-root",
        kind,
    )
}

fn read_otp_file(path: &std::path::Path) -> Result<Otp, Failure> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| Failure::input(format!("cannot read {}: {e}", path.display())))?,
    );
    Ok(Otp::new(text.trim().to_owned()))
}

fn start(ctx: &mut Context, args: GenerateStart) -> Result<u8, Failure> {
    let kind = kind_of(args.common.kind);
    let protection = match &args.pgp_key {
        Some(file) => TokenProtection::PgpKey(read_pgp_key(file)?.to_base64().to_owned()),
        None => TokenProtection::ServerOtp,
    };
    let mut generation = RootTokenCeremony::start(kind, protection);
    let _next = drive(ctx, &mut generation)?;
    let nonce = generation.nonce().unwrap_or_default().to_owned();
    ctx.journal.append(record(ctx, &generation, "started"));
    ctx.out.say(format!(
        "Generation of a {} token started: {} shares needed.",
        kind_name(kind),
        generation.required()
    ));
    ctx.out.say(format!("Nonce: {nonce}"));
    if let Some(fingerprint) = generation.pgp_fingerprint() {
        ctx.out.say(format!(
            "The token will be encrypted to PGP key {fingerprint}."
        ));
        ctx.out.set("pgp_fingerprint", fingerprint.to_owned());
    } else if let Some(otp) = generation.otp() {
        match &args.otp_file {
            Some(path) => {
                write_new_file(path, otp.expose().as_bytes())?;
                ctx.out.say(format!(
                    "The OTP is in {} (keep it: it decodes the token).",
                    path.display()
                ));
                ctx.out.set("otp_file", path.display().to_string());
            }
            None => {
                ctx.out
                    .say("OTP (shown once; keep it: it decodes the token):");
                if !ctx.out.is_json() {
                    println!("  {}", otp.expose());
                }
                ctx.out.set("otp", otp.expose().to_owned());
            }
        }
    }
    ctx.out.say(format!(
        "Each holder runs `vault-key generate-root submit -nonce={nonce}`."
    ));
    ctx.out.set("nonce", nonce);
    ctx.out.set("required", generation.required());
    Ok(OK)
}

/// Resumes the generation of a `kind` token in progress (only under `nonce` when given), reads
/// it before anything is sent, and sets what it shows against the journal: an interrupted run
/// is gone on with, a share left without an answer settled.
fn resume(
    ctx: &mut Context,
    kind: TokenKind,
    nonce: Option<&str>,
    otp: Option<Otp>,
) -> Result<(RootTokenCeremony, Next), Failure> {
    let mut generation = RootTokenCeremony::resume(kind, otp);
    if let Some(nonce) = nonce {
        generation = generation.require_nonce(nonce);
    }
    let called = format!("{} token generation", kind_name(kind));
    let next = ctx.client.drive(&mut generation).map_err(|e| {
        let mut failure = Failure::client("reading the generation in progress", &e);
        if not_started(&e) {
            let now = record(ctx, &generation, "");
            let lost = "the encoded token (a new generation is needed; the token, if one was \
                        made, is valid until revoked)";
            if let Some(words) = ctx.journal.gone_after_unanswered(&now, &called, lost) {
                failure.message = format!("{words}\n{}", failure.message);
            }
        }
        failure
    })?;
    for words in ctx
        .journal
        .settle(record(ctx, &generation, ""), &called, |_| None)
    {
        ctx.out.say(words);
    }
    Ok((generation, next))
}

fn submit(ctx: &mut Context, args: GenerateSubmit) -> Result<u8, Failure> {
    let kind = kind_of(args.common.kind);
    let given = args.confirm.nonce.as_deref();
    let otp = args.otp_file.as_deref().map(read_otp_file).transpose()?;
    let (mut generation, mut next) = resume(ctx, kind, given, otp)?;
    let nonce = generation.nonce().unwrap_or_default().to_owned();
    ctx.out.say(format!(
        "Generation of a {} token: {} of {} shares counted.",
        kind_name(kind),
        generation.progress(),
        generation.required()
    ));
    if let Some(fingerprint) = generation.pgp_fingerprint() {
        ctx.out.say(format!(
            "The token will be encrypted to PGP key {fingerprint}."
        ));
    }
    ctx.confirm_nonce(given, &nonce)?;
    while let Next::NeedShares { progress, required } = next {
        let prompt = format!(
            "Share ({} of {required} needed, input hidden)",
            progress + 1
        );
        let Some(share) = ctx.entry.share(&prompt)? else {
            ctx.out.say(format!(
                "No more shares here: {progress} of {required} counted. The next holder runs \
                 `vault-key generate-root submit -nonce={nonce}`."
            ));
            break;
        };
        generation
            .submit_share(share)
            .map_err(|e| Failure::input(format!("{e}")))?;
        ctx.journal.append(record(ctx, &generation, "share-sent"));
        next = drive(ctx, &mut generation)?;
        ctx.journal.append(record(ctx, &generation, "answer"));
    }
    ctx.out.set("nonce", nonce.clone());
    ctx.out.set("progress", generation.progress());
    ctx.out.set("required", generation.required());
    ctx.out.set("phase", format!("{:?}", generation.phase()));
    if let Some(result) = generation.result() {
        ctx.journal.append(record(ctx, &generation, "done"));
        let encoded = result.encoded().expose().to_owned();
        ctx.out.set("encoded_token", encoded.clone());
        if generation.otp().is_some() {
            let token = generation
                .decode_token()
                .map_err(|e| Failure::input(format!("decoding the token: {e}")))?;
            ctx.out.say("The new token (shown once):");
            if !ctx.out.is_json() {
                println!("  {}", token.expose());
            }
            ctx.out.set("token", token.expose().to_owned());
        } else {
            ctx.out.say(format!("Encoded token: {encoded}"));
            if result.is_pgp_encrypted() {
                ctx.out
                    .say("It is encrypted to the PGP key: its holder decrypts it.");
            } else {
                ctx.out.say(format!(
                    "The holder of the OTP decodes it: `vault-key decode -encoded-token={encoded}`."
                ));
            }
        }
    }
    Ok(OK)
}

/// `decode` and `generate-root decode`.
pub fn decode(ctx: &mut Context, args: DecodeArgs) -> Result<u8, Failure> {
    let otp = match &args.otp_file {
        Some(path) => read_otp_file(path)?,
        None => ctx.entry.otp()?,
    };
    let token = ctx
        .client
        .decode_token(EncodedToken::new(args.encoded_token.trim()), otp)
        .map_err(|e| Failure::client("decoding the token", &e))?;
    ctx.out.say("The token (shown once):");
    if !ctx.out.is_json() {
        println!("  {}", token.expose());
    }
    ctx.out.set("token", token.expose().to_owned());
    Ok(OK)
}

fn cancel(ctx: &mut Context, args: GenerateCancel) -> Result<u8, Failure> {
    let kind = kind_of(args.common.kind);
    let given = args.confirm.nonce.as_deref();
    let (mut generation, _next) = resume(ctx, kind, given, None)?;
    let nonce = generation.nonce().unwrap_or_default().to_owned();
    ctx.out.say(format!(
        "Generation of a {} token in progress: {} of {} shares counted. A cancel ends it \
         whoever started it.",
        kind_name(kind),
        generation.progress(),
        generation.required()
    ));
    ctx.confirm_nonce(given, &nonce)?;
    generation
        .cancel()
        .map_err(|e| Failure::input(format!("{e}")))?;
    let _next = drive(ctx, &mut generation)?;
    if generation.phase() != RootTokenPhase::Cancelled {
        return Err(Failure::input(format!(
            "the generation {nonce} was not cancelled (phase {:?})",
            generation.phase()
        )));
    }
    ctx.journal.append(record(ctx, &generation, "cancelled"));
    ctx.out.say(format!("Generation {nonce} cancelled."));
    ctx.out.set("nonce", nonce);
    ctx.out.set("phase", format!("{:?}", generation.phase()));
    Ok(OK)
}

fn status(ctx: &mut Context, kind: TokenKind) -> Result<u8, Failure> {
    let status = match kind {
        TokenKind::Recovery => ctx.client.read_recovery_token_generation_progress(),
        TokenKind::DrOperation => ctx.client.read_dr_operation_token_generation_progress(),
        _ => ctx.client.read_root_generation_progress(),
    }
    .map_err(|e| Failure::client("reading the generation progress", &e))?;
    if status.started {
        ctx.out.say(format!(
            "Generation of a {} token in progress, nonce {}: {} of {} shares counted.",
            kind_name(kind),
            status.nonce.as_deref().unwrap_or("?"),
            status.progress,
            status.required
        ));
    } else {
        ctx.out.say(format!(
            "No generation of a {} token in progress.",
            kind_name(kind)
        ));
    }
    ctx.out.set("started", status.started);
    ctx.out.set("nonce", status.nonce.clone());
    ctx.out.set("progress", status.progress);
    ctx.out.set("required", status.required);
    ctx.out.set("complete", status.complete);
    ctx.out
        .set("pgp_fingerprint", status.pgp_fingerprint.clone());
    Ok(OK)
}
