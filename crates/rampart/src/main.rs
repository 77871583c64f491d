//! The `rampart` binary: `rampart serve` runs a node; every other command is
//! a client of a node's HTTPS API. This crate only parses arguments and
//! wires things together; behaviour lives in the library crates.

mod client;
mod cmd;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit codes scripts can rely on.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILURE: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const DENIED: u8 = 3;
    pub const NOT_FOUND: u8 = 4;
    pub const CONFLICT: u8 = 5;
    pub const INVALID: u8 = 6;
    pub const UNAVAILABLE: u8 = 7;
}

const EXIT_CODES: &str = "Exit codes: 0 success, 1 failure, 2 usage error, 3 not authenticated or not allowed, \
4 not found, 5 conflict, 6 invalid request, 7 server unreachable or unavailable.";

#[derive(Debug, Parser)]
#[command(name = "rampart", version, about = "Rampart: self-hosted cloud security platform", after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every client command shares.
#[derive(Debug, clap::Args)]
pub struct Global {
    /// Server URL; defaults to the one recorded in the data directory's client.json.
    #[arg(long, global = true, env = "RAMPART_URL")]
    pub server: Option<String>,
    /// CA certificate to trust; defaults to the data directory's tls/ca.pem.
    #[arg(long, global = true, env = "RAMPART_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Data directory (for `serve`, and to find a local server's URL and CA).
    #[arg(long, global = true, env = "RAMPART_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a Rampart node.
    Serve(cmd::serve::ServeArgs),
    /// Check configuration files.
    #[command(subcommand)]
    Config(cmd::serve::ConfigCmd),
    /// Log in and keep the session token in your config directory (0600).
    Login(cmd::session::LoginArgs),
    /// End the stored session.
    Logout,
    /// Show who the stored session belongs to.
    Whoami,
    /// Manage users.
    #[command(subcommand)]
    User(cmd::admin::UserCmd),
    /// Manage tenants (the cloud's customers).
    #[command(subcommand)]
    Tenant(cmd::admin::TenantCmd),
    /// Manage your API tokens.
    #[command(subcommand)]
    Token(cmd::admin::TokenCmd),
    /// Manage your access key pairs (for the KMS APIs).
    #[command(subcommand, name = "access-key")]
    AccessKey(cmd::admin::AccessKeyCmd),
    /// Manage your SSH public keys for the bastion.
    #[command(subcommand, name = "ssh-key")]
    SshKey(cmd::bastion::SshKeyCmd),
    /// Manage the bastion's targets (administrators).
    #[command(subcommand)]
    Target(cmd::bastion::TargetCmd),
    /// Manage who may reach which bastion target (administrators).
    #[command(subcommand)]
    Grant(cmd::bastion::GrantCmd),
    /// Manage user groups, which grants can name (administrators).
    #[command(subcommand)]
    Group(cmd::group::GroupCmd),
    /// Certificates from the bastion's SSH user CA: issue one for your key;
    /// list and revoke (administrators).
    #[command(subcommand, name = "ssh-cert")]
    SshCert(cmd::group::SshCertCmd),
    /// Approve or deny commands a `review` red line holds (reviewers).
    #[command(subcommand)]
    Review(cmd::bastion::ReviewCmd),
    /// Bastion sessions: list, show, play a recording, terminate.
    #[command(subcommand)]
    Session(cmd::bastion::SessionCmd),
    /// Just-in-time access to bastion targets: request, list, show, approve, deny, revoke.
    #[command(subcommand)]
    Access(cmd::access::AccessCmd),
    /// The customer lockbox: request access to a tenant's data, approve or
    /// deny it (customer admins), and see every access (transparency view).
    #[command(subcommand)]
    Lockbox(cmd::access::LockboxCmd),
    /// Keys, aliases, policies and cryptography of the Key Management Service.
    #[command(subcommand)]
    Kms(cmd::kms::KmsCmd),
    /// The log source registry: register, list, show, review, remove.
    #[command(subcommand)]
    Source(cmd::source::SourceCmd),
    /// The ticket desk: list, show, ack, assign, status, resolve, comment; dead letters.
    #[command(subcommand)]
    Tickets(cmd::tickets::TicketsCmd),
    /// Search the logs and follow them as they arrive.
    #[command(subcommand)]
    Logs(cmd::logs::LogsCmd),
    /// The KMS root key sealed by Shamir shares: init, unseal, seal-status, seal.
    #[command(subcommand)]
    Operator(cmd::operator::OperatorCmd),
    /// Verify the tamper-evident ledger.
    #[command(subcommand)]
    Ledger(cmd::ledger::LedgerCmd),
    /// Prove that audit events are in the ledger, and check such proofs offline.
    #[command(subcommand)]
    Audit(cmd::ledger::AuditCmd),
    /// Run a transparency-log witness (C2SP tlog-witness).
    #[command(subcommand)]
    Witness(cmd::witness::WitnessCmd),
    /// Sigma detection rules: check and test them offline; list, status and reload on a node.
    #[command(subcommand)]
    Rules(cmd::rules::RulesCmd),
}

/// jemalloc instead of glibc's malloc: the ingest and KMS paths allocate
/// and free many small objects across threads (an event's attributes are
/// built on one worker and dropped on another), where glibc spent about a
/// seventh of the node's CPU in `_int_malloc`, `_int_free` and
/// `malloc_consolidate` (docs/benchmarks.md, session 11).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let result = runtime.block_on(cmd::run(cli));
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(client::exit_code(&e))
        }
    }
}
