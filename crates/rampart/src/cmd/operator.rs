//! `rampart operator …`: the KMS root key sealed by Shamir shares.
//!
//! `init` runs locally against the data directory (an operator with access
//! to the machine): it generates the root key, writes only the seal record
//! (threshold and fingerprint) and prints the shares once. `unseal`,
//! `seal-status` and `seal` talk to a running node.
//!
//! `unseal` reads the share from a hidden prompt, or from standard input
//! when that is not a terminal, and never from the command line: arguments
//! are readable by every local user in `ps` and `/proc/PID/cmdline`, and
//! end up in shell history.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use rampart_core::config::{Config, FlagOverrides, KeystoreKind, SealKind, ShamirSettings};
use secrecy::ExposeSecret;
use serde_json::json;
use zeroize::Zeroizing;

use crate::Global;
use crate::client::ApiClient;
use crate::output;

#[derive(Debug, clap::Subcommand)]
pub enum OperatorCmd {
    /// Generate the KMS root key, split it into shares and print them once.
    /// Runs on the server's machine against its data directory, before the
    /// first start with kms.seal = "shamir". The shares are stored nowhere.
    Init(InitArgs),
    /// Enter one unseal share (prompted without echo, or one line on stdin).
    Unseal,
    /// Show whether the node's KMS is sealed and how many shares it has.
    #[command(name = "seal-status")]
    SealStatus,
    /// Seal the node's KMS: drop the root key until operators unseal it
    /// (needs the system_write permission: administrators).
    Seal,
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The server's TOML configuration file (as for `rampart serve`).
    #[arg(long, env = "RAMPART_CONFIG")]
    pub config: Option<PathBuf>,
    /// Shares to print (default: kms.shamir.shares, 5).
    #[arg(long)]
    pub shares: Option<u8>,
    /// Shares needed to unseal (default: kms.shamir.threshold, 3).
    #[arg(long)]
    pub threshold: Option<u8>,
}

pub async fn operator(g: &Global, cmd: OperatorCmd) -> Result<()> {
    match cmd {
        OperatorCmd::Init(args) => init(g, args),
        OperatorCmd::Unseal => unseal(g).await,
        OperatorCmd::SealStatus => {
            let status = ApiClient::new(g)?.get("/api/v1/operator/seal-status").await?;
            output::object(g.json, &status);
            Ok(())
        }
        OperatorCmd::Seal => {
            let status = ApiClient::new(g)?.post("/api/v1/operator/seal", &json!({})).await?;
            if !g.json {
                eprintln!("The KMS is sealed: every KMS operation is refused until it is unsealed.");
            }
            output::object(g.json, &status);
            Ok(())
        }
    }
}

fn init(g: &Global, args: InitArgs) -> Result<()> {
    let flags = FlagOverrides { data_dir: g.data_dir.clone(), ..FlagOverrides::default() };
    let config = Config::load(args.config.as_deref(), &flags)?;
    if config.kms.keystore != KeystoreKind::Software || config.kms.seal != SealKind::Shamir {
        bail!(
            "the configuration seals the KMS root key with a key file or keeps it in an HSM; set kms.seal = \"shamir\" \
             (in the configuration file, or RAMPART_KMS__SEAL=shamir) for `rampart serve` and for this command"
        );
    }
    let split = ShamirSettings {
        shares: args.shares.unwrap_or(config.kms.shamir.shares),
        threshold: args.threshold.unwrap_or(config.kms.shamir.threshold),
    };
    split.validate()?;
    let data_dir = rampart_server::datadir::DataDir::prepare(&config.data_dir)?;
    let key_file = data_dir.kms_key_path();
    if key_file.exists() {
        bail!(
            "{} exists: this data directory already has a root key in a key file, and keys wrapped under it \
             would become unreadable; Shamir sealing is for a new data directory",
            key_file.display()
        );
    }
    let seal_path = data_dir.kms_seal_path();
    let (record, shares) = rampart_kms::keystore::sealed::initialise(
        &seal_path,
        split.threshold,
        split.shares,
        rampart_core::time::now_ms(),
    )
    .context("initialising the KMS seal")?;
    if g.json {
        let texts: Vec<&str> = shares.iter().map(|s| s.expose_secret()).collect();
        let out = Zeroizing::new(serde_json::to_string_pretty(&json!({
            "fingerprint": record.fingerprint,
            "threshold": record.threshold,
            "shares": texts,
            "seal_record": seal_path,
        }))?);
        println!("{}", out.as_str());
    } else {
        println!("KMS root key fingerprint: {}", record.fingerprint);
        println!("Unseal shares (any {} of {} reconstruct the root key):\n", record.threshold, record.shares);
        for (i, share) in shares.iter().enumerate() {
            println!("  {}. {}", i + 1, share.expose_secret());
        }
        println!();
    }
    eprintln!(
        "WARNING: these {n} shares are shown this once and stored nowhere. Give each to a different operator \
         and keep it offline. Nobody can recover them: with fewer than {k} left, every KMS key is lost for good.\n\
         Start the server with kms.seal = \"shamir\"; it starts sealed. Unseal it with `rampart operator unseal`, \
         run {k} times with different shares. Only {} was written.",
        seal_path.display(),
        n = record.shares,
        k = record.threshold,
    );
    Ok(())
}

/// Reads one share: a hidden prompt on a terminal, else one stdin line.
fn read_share() -> Result<Zeroizing<String>> {
    if std::io::stdin().is_terminal() {
        return Ok(Zeroizing::new(
            rpassword::prompt_password("Unseal share (input hidden): ").context("reading the share")?,
        ));
    }
    let mut line = Zeroizing::new(String::new());
    std::io::stdin().lock().read_line(&mut line).context("reading the share from standard input")?;
    Ok(Zeroizing::new(line.trim().to_owned()))
}

async fn unseal(g: &Global) -> Result<()> {
    let client = ApiClient::new(g)?;
    let share = read_share()?;
    if share.is_empty() {
        bail!("no share given: type it at the prompt, or pipe it on standard input");
    }
    let status = client.post("/api/v1/operator/unseal", &json!({ "share": share.as_str() })).await?;
    if !g.json {
        if status["sealed"] == json!(false) {
            eprintln!("The KMS is unsealed.");
        } else {
            eprintln!("Share accepted: {} of {} entered.", status["progress"], status["threshold"]);
        }
    }
    output::object(g.json, &status);
    Ok(())
}
