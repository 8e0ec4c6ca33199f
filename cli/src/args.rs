//! The command line. Flags are written as the Vault CLI writes them (`-address=...`,
//! `-format=json`); [`vault_style`] turns them into the double-dash form the parser reads, so
//! `--address` works too.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The key holders' tool for Vault and OpenBao: unseal, rekey, root-token generation, key
/// rotation. Shares are read hidden from the terminal, or from standard input when it is not
/// one; never from the command line.
#[derive(Debug, Parser)]
#[command(name = "vault-key", version, disable_help_subcommand = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// The flags every command takes; the environment (`VAULT_*`, `BAO_*`) fills what is not given.
#[derive(Debug, Args)]
pub struct Global {
    /// The server's address. Repeat it for `unseal` to unseal every node of a cluster.
    #[arg(long, global = true, value_name = "URL")]
    pub address: Vec<String>,
    /// A CA certificate (PEM) to trust for the server's certificate.
    #[arg(long = "ca-cert", global = true, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// A directory of CA certificates (PEM) to trust.
    #[arg(long = "ca-path", global = true, value_name = "DIR")]
    pub ca_path: Option<PathBuf>,
    /// The client certificate (PEM) for servers that require one; needs `-client-key`.
    #[arg(
        long = "client-cert",
        global = true,
        value_name = "FILE",
        requires = "client_key"
    )]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM); needs `-client-cert`.
    #[arg(
        long = "client-key",
        global = true,
        value_name = "FILE",
        requires = "client_cert"
    )]
    pub client_key: Option<PathBuf>,
    /// The name checked on the server's certificate, when it differs from the address's host.
    #[arg(long = "tls-server-name", global = true, value_name = "NAME")]
    pub tls_server_name: Option<String>,
    /// The namespace (Vault Enterprise, OpenBao namespaces).
    #[arg(long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Which API the server speaks; `auto` reads it from sys/seal-status.
    #[arg(long, global = true, value_enum, default_value_t = DialectArg::Auto)]
    pub dialect: DialectArg,
    /// Output for people (`table`) or for scripts (`json`, on standard output).
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// The ceremony journal (no secret is ever written to it). Default: under the user's
    /// state directory ($XDG_STATE_HOME or ~/.local/state)/vault-key/journal.jsonl.
    #[arg(long, global = true, value_name = "FILE")]
    pub journal: Option<PathBuf>,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Table,
    /// One JSON object on standard output.
    Json,
}

/// Which API to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DialectArg {
    /// Read it from sys/seal-status (OpenBao 2.5 and later: `openbao`).
    Auto,
    /// Vault's classic paths (sys/rekey, sys/generate-root).
    Vault,
    /// OpenBao's authenticated paths (sys/rotate/root, sys/generate-root-token).
    Openbao,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Seal status, HA and leader, key status. Exit code 2 when sealed.
    Status,
    /// Unseal the server (every node given with `-address`), shares read hidden.
    Unseal(UnsealArgs),
    /// Rekey the unseal or recovery shares.
    #[command(subcommand)]
    Rekey(Rekey),
    /// Generate a root (or recovery, DR operation) token from shares.
    #[command(name = "generate-root", subcommand)]
    GenerateRoot(GenerateRoot),
    /// Rotate the encryption key, or read and change the automatic rotation.
    Rotate(RotateArgs),
    /// Decode an encoded token with its OTP (the same as `generate-root decode`).
    Decode(DecodeArgs),
}

/// `unseal`.
#[derive(Debug, Args)]
pub struct UnsealArgs {
    /// Discard the shares submitted so far instead of submitting one.
    #[arg(long)]
    pub reset: bool,
}

/// Which shares a rekey renews.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RekeyTarget {
    /// The unseal shares (Vault's `barrier`).
    #[value(alias = "barrier")]
    Unseal,
    /// The recovery shares of an auto-unseal server.
    Recovery,
}

/// Which rekey, and whose shares: the flags of every `rekey` subcommand.
#[derive(Debug, Args)]
pub struct RekeyCommon {
    /// Which shares: `unseal` (alias `barrier`) or `recovery`.
    #[arg(long, value_enum, default_value_t = RekeyTarget::Unseal)]
    pub target: RekeyTarget,
}

/// What holders confirm before a share is sent.
#[derive(Debug, Args)]
pub struct Confirm {
    /// The ceremony's nonce, as the operator announced it. Without it the nonce is shown and
    /// must be typed (its first 8 characters at least) before a share is sent.
    #[arg(long)]
    pub nonce: Option<String>,
}

/// `rekey ...`.
#[derive(Debug, Subcommand)]
pub enum Rekey {
    /// Start a rekey; prints its nonce for the holders.
    Start(RekeyStart),
    /// Submit current shares to the rekey in progress; the share completing it receives the
    /// new shares.
    Submit(RekeySubmit),
    /// Submit new shares to verify them; only then do they replace the old ones.
    Verify(RekeyVerify),
    /// Cancel the rekey (the old shares stay in effect), or only its verification.
    Cancel(RekeyCancel),
    /// The rekey in progress, and its verification.
    Status(RekeyCommon),
    /// The PGP-encrypted backup of the new shares (a rekey started with `-backup`).
    #[command(subcommand)]
    Backup(RekeyBackup),
}

/// `rekey backup ...`.
#[derive(Debug, Subcommand)]
pub enum RekeyBackup {
    /// Show the backup (the new shares, PGP-encrypted to each holder's key), or write one file
    /// per key with `-out-dir`.
    Read(BackupRead),
    /// Delete the backup, once every holder has confirmed their new share.
    Delete(BackupDelete),
}

/// `rekey backup read`.
#[derive(Debug, Args)]
pub struct BackupRead {
    #[command(flatten)]
    pub common: RekeyCommon,
    #[command(flatten)]
    pub confirm: Confirm,
    /// Write each key's encrypted shares to `backup-FINGERPRINT` in this directory.
    #[arg(long = "out-dir", value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// `rekey backup delete`.
#[derive(Debug, Args)]
pub struct BackupDelete {
    #[command(flatten)]
    pub common: RekeyCommon,
    #[command(flatten)]
    pub confirm: Confirm,
}

/// `rekey start`.
#[derive(Debug, Args)]
pub struct RekeyStart {
    #[command(flatten)]
    pub common: RekeyCommon,
    /// How many new shares.
    #[arg(long = "key-shares", default_value_t = 5)]
    pub key_shares: u32,
    /// How many of them unseal.
    #[arg(long = "key-threshold", default_value_t = 3)]
    pub key_threshold: u32,
    /// Verify the new shares before they take effect (`-verify=false` to skip: then the old
    /// shares stop working in the answer that hands out the new ones).
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true",
        action = clap::ArgAction::Set)]
    pub verify: bool,
    /// PGP public key files, comma separated, one per new share in order (armored, binary or
    /// base64 of the binary key): each new share comes back encrypted to its holder's key.
    #[arg(long = "pgp-keys", value_delimiter = ',', value_name = "FILE,...")]
    pub pgp_keys: Vec<PathBuf>,
    /// Have the server keep a PGP-encrypted backup of the new shares (needs `-pgp-keys`).
    #[arg(long)]
    pub backup: bool,
}

/// `rekey submit`.
#[derive(Debug, Args)]
pub struct RekeySubmit {
    #[command(flatten)]
    pub common: RekeyCommon,
    #[command(flatten)]
    pub confirm: Confirm,
    /// Accept only a rekey whose new shares go to these PGP keys (fingerprints, in order).
    #[arg(long = "pgp-fingerprint", value_name = "HEX")]
    pub pgp_fingerprints: Vec<String>,
    /// Write the new shares one file per holder (share-1, share-2, ...) into this directory
    /// instead of showing them.
    #[arg(long = "out-dir", value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// `rekey verify`.
#[derive(Debug, Args)]
pub struct RekeyVerify {
    #[command(flatten)]
    pub common: RekeyCommon,
    #[command(flatten)]
    pub confirm: Confirm,
}

/// `rekey cancel`.
#[derive(Debug, Args)]
pub struct RekeyCancel {
    #[command(flatten)]
    pub common: RekeyCommon,
    #[command(flatten)]
    pub confirm: Confirm,
    /// Restart only the verification (with a fresh nonce); the new shares stay the same.
    #[arg(long)]
    pub verification: bool,
}

/// Which token a generation makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenKindArg {
    /// A root token.
    Root,
    /// A recovery token (server in recovery mode).
    Recovery,
    /// A DR operation token (Vault Enterprise DR secondary).
    Dr,
}

/// Which generation.
#[derive(Debug, Args)]
pub struct GenerateCommon {
    /// Which token: `root`, `recovery` or `dr`.
    #[arg(long, value_enum, default_value_t = TokenKindArg::Root)]
    pub kind: TokenKindArg,
}

/// `generate-root ...`.
#[derive(Debug, Subcommand)]
pub enum GenerateRoot {
    /// Start a generation: the server makes the OTP (shown once, or written to `-otp-file`),
    /// or the token is encrypted to `-pgp-key`.
    Start(GenerateStart),
    /// Submit shares to the generation in progress; the share completing it receives the
    /// encoded token.
    Submit(GenerateSubmit),
    /// Decode an encoded token with the OTP.
    Decode(DecodeArgs),
    /// Cancel the generation in progress (whoever started it).
    Cancel(GenerateCancel),
    /// The generation in progress.
    Status(GenerateCommon),
}

/// `generate-root start`.
#[derive(Debug, Args)]
pub struct GenerateStart {
    #[command(flatten)]
    pub common: GenerateCommon,
    /// Encrypt the token to this PGP public key file instead of an OTP.
    #[arg(long = "pgp-key", value_name = "FILE")]
    pub pgp_key: Option<PathBuf>,
    /// Write the server's OTP to this new file (mode 0600) instead of showing it.
    #[arg(long = "otp-file", value_name = "FILE")]
    pub otp_file: Option<PathBuf>,
}

/// `generate-root submit`.
#[derive(Debug, Args)]
pub struct GenerateSubmit {
    #[command(flatten)]
    pub common: GenerateCommon,
    #[command(flatten)]
    pub confirm: Confirm,
    /// The OTP file of the start: the token is then decoded and shown once.
    #[arg(long = "otp-file", value_name = "FILE")]
    pub otp_file: Option<PathBuf>,
}

/// `generate-root cancel`.
#[derive(Debug, Args)]
pub struct GenerateCancel {
    #[command(flatten)]
    pub common: GenerateCommon,
    #[command(flatten)]
    pub confirm: Confirm,
}

/// `decode`, `generate-root decode`.
#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// The encoded token the completing share received.
    #[arg(long = "encoded-token", value_name = "TEXT")]
    pub encoded_token: String,
    /// The OTP file; without it the OTP is read hidden (or from standard input).
    #[arg(long = "otp-file", value_name = "FILE")]
    pub otp_file: Option<PathBuf>,
}

/// `rotate`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    #[command(subcommand)]
    pub config: Option<RotateCommand>,
}

/// `rotate config`.
#[derive(Debug, Subcommand)]
pub enum RotateCommand {
    /// Read the automatic-rotation settings, or change them with the flags.
    Config(RotateConfigArgs),
}

/// `rotate config`.
#[derive(Debug, Args)]
pub struct RotateConfigArgs {
    /// Turn automatic rotation on or off.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub enable: Option<bool>,
    /// Rotate after this many encryptions.
    #[arg(long = "max-operations")]
    pub max_operations: Option<u64>,
    /// Rotate after this long: seconds, or with a unit (90s, 30m, 12h, 7d).
    #[arg(long, value_parser = parse_duration)]
    pub interval: Option<std::time::Duration>,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 3600, 90s, 30m, 12h, 7d)"))?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("unknown unit {unit:?} (s, m, h, d)")),
    };
    Ok(std::time::Duration::from_secs(number * seconds))
}

/// The arguments with the Vault CLI's single-dash long flags (`-address=...`) doubled, so that
/// both spellings work; single letters (`-h`, `-V`), `-`, and everything after `--` stay.
pub fn vault_style(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut rest_verbatim = false;
    args.into_iter()
        .enumerate()
        .map(|(index, arg)| {
            if index == 0 || rest_verbatim {
                return arg;
            }
            if arg == "--" {
                rest_verbatim = true;
                return arg;
            }
            let name = arg.split('=').next().unwrap_or_default();
            let single_dash_long = name.len() > 2
                && name.starts_with('-')
                && !name.starts_with("--")
                && name[1..].starts_with(|c: char| c.is_ascii_alphabetic());
            if single_dash_long {
                format!("-{arg}")
            } else {
                arg
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn vault_flags_are_read_as_long_flags() {
        let args = vault_style(strings(&[
            "vault-key",
            "-format=json",
            "-address",
            "http://a",
            "--namespace=x",
            "-h",
            "--",
            "-nonce",
        ]));
        assert_eq!(
            args,
            strings(&[
                "vault-key",
                "--format=json",
                "--address",
                "http://a",
                "--namespace=x",
                "-h",
                "--",
                "-nonce"
            ])
        );
    }

    #[test]
    fn the_parser_accepts_every_command() {
        Cli::command_check();
        let cli = Cli::parse_from(vault_style(strings(&[
            "vault-key",
            "rekey",
            "start",
            "-key-shares=3",
            "-key-threshold=2",
            "-verify=false",
            "-target=recovery",
        ])));
        match cli.command {
            Command::Rekey(Rekey::Start(start)) => {
                assert_eq!((start.key_shares, start.key_threshold), (3, 2));
                assert!(!start.verify);
                assert_eq!(start.common.target, RekeyTarget::Recovery);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(std::time::Duration::from_secs(90)));
        assert_eq!(
            parse_duration("12h"),
            Ok(std::time::Duration::from_secs(43_200))
        );
        assert!(parse_duration("12y").is_err());
    }

    impl Cli {
        fn command_check() {
            <Cli as clap::CommandFactory>::command().debug_assert();
        }
    }
}
