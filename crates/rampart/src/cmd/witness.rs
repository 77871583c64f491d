//! `rampart witness serve --config FILE`: run a C2SP tlog-witness for one or
//! more logs, typically on another machine than the log it watches.

use std::path::PathBuf;

use anyhow::{Context, Result};

#[derive(Debug, clap::Subcommand)]
pub enum WitnessCmd {
    /// Run the witness: cosign checkpoints that consistently extend what it saw.
    Serve {
        /// The witness configuration (TOML: name, key_file, state_dir, listen, [[log]]).
        #[arg(long)]
        config: PathBuf,
    },
}

pub async fn witness(cmd: WitnessCmd) -> Result<()> {
    let WitnessCmd::Serve { config } = cmd;
    let _ = tracing_subscriber::fmt().with_writer(std::io::stderr).try_init();
    let cfg = rampart_witness::config::Config::load(&config)?;
    let witness = cfg.open_witness()?;
    let listener =
        tokio::net::TcpListener::bind(cfg.listen).await.with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    eprintln!("witness key: {}", witness.verifier());
    eprintln!("witness listening on http://{addr}");
    rampart_witness::server::serve_until(listener, witness, super::serve::wait_for_signal()).await?;
    Ok(())
}
