//! `rampart serve` and `rampart config check`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use rampart_core::config::{Config, DatabaseFlag, FlagOverrides, LogFlag, LogFormat, ServerFlag};
use tracing_subscriber::EnvFilter;

use crate::Global;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file (overridden by RAMPART_* variables, then by flags).
    #[arg(long, env = "RAMPART_CONFIG")]
    pub config: Option<PathBuf>,
    /// PostgreSQL URL (postgres://…) instead of the embedded database.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Address of the HTTPS API listener.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Log format.
    #[arg(long, value_parser = ["text", "json"])]
    pub log_format: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCmd {
    /// Validate a configuration file (with the environment applied) and print the result.
    Check { file: PathBuf },
}

fn flags(g: &Global, args: &ServeArgs) -> FlagOverrides {
    FlagOverrides {
        data_dir: g.data_dir.clone(),
        database: args.database_url.clone().map(|url| DatabaseFlag { url }),
        server: args.listen.map(|listen| ServerFlag { listen }),
        log: args
            .log_format
            .as_deref()
            .map(|f| LogFlag { format: Some(if f == "json" { LogFormat::Json } else { LogFormat::Text }) }),
    }
}

fn init_logging(config: &Config) -> Result<()> {
    let filter = EnvFilter::try_new(&config.log.level).with_context(|| format!("log.level {:?}", config.log.level))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
    Ok(())
}

pub async fn serve(g: &Global, args: ServeArgs) -> Result<()> {
    let config = Config::load(args.config.as_deref(), &flags(g, &args))?;
    init_logging(&config)?;
    let running = rampart_server::start(config).await?;
    if running.bootstrap.is_some() {
        eprintln!(
            "First start: the administrator's credentials are in {} (mode 0600).\n\
             Log in with `rampart login --username admin`, then delete that file.",
            running.data_dir.bootstrap_path().display()
        );
    }
    eprintln!("Rampart is listening on https://{} (CA: {})", running.addr, running.data_dir.tls().ca_cert.display());
    wait_for_signal().await;
    tracing::info!("shutting down: finishing in-flight requests");
    running.shutdown().await
}

pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub fn config(cmd: ConfigCmd) -> Result<()> {
    match cmd {
        ConfigCmd::Check { file } => {
            let config = Config::load(Some(&file), &FlagOverrides::default())?;
            println!("{}: valid", file.display());
            println!("{}", toml::to_string_pretty(&config).unwrap_or_default());
            Ok(())
        }
    }
}
