//! `vault-key`: the key holders' tool for Vault and OpenBao key ceremonies.
//!
//! Built on the blocking client (`vault-key-ureq`), whose ceremonies pin the nonce, never
//! resend a share blindly after a lost answer, and keep what they produced. The tool adds what
//! the holders need around them: hidden share entry, the nonce confirmed before a share is
//! sent, a journal without secrets, and the new shares handed out once. docs/CLI.md has each
//! command and the exit codes.
#![forbid(unsafe_code)]

mod args;
mod backup;
mod context;
mod entry;
mod fail;
mod interrupt;
mod journal;
mod rekey;
mod root;
mod server;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use context::Context;

fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(args::vault_style(std::env::args())) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                fail::USAGE
            } else {
                fail::OK
            });
        }
    };
    interrupt::install();
    let decode_only = matches!(cli.command, Command::Decode(_));
    let mut ctx = match Context::new(&cli.global, !decode_only) {
        Ok(ctx) => ctx,
        Err(failure) => {
            eprintln!("Error: {failure}");
            return ExitCode::from(failure.code);
        }
    };
    let outcome = match cli.command {
        Command::Status => server::status(&mut ctx),
        Command::Unseal(args) => server::unseal(&mut ctx, args),
        Command::Rekey(command) => rekey::run(&mut ctx, command),
        Command::GenerateRoot(command) => root::run(&mut ctx, command),
        Command::Rotate(args) => server::rotate(&mut ctx, args),
        Command::Decode(args) => root::decode(&mut ctx, args),
    };
    match outcome {
        Ok(code) => {
            ctx.out.finish();
            ExitCode::from(code)
        }
        Err(failure) => {
            if ctx.out.is_json() {
                ctx.out.set("error", failure.message.clone());
                ctx.out.set("exit_code", failure.code);
                ctx.out.finish();
            }
            eprintln!("Error: {failure}");
            ExitCode::from(failure.code)
        }
    }
}
