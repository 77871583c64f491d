//! One module per command family; [`run`] dispatches.

pub mod access;
pub mod admin;
pub mod bastion;
pub mod group;
pub mod kms;
mod kms_file;
pub mod ledger;
pub mod logs;
pub mod operator;
pub mod rules;
pub mod serve;
pub mod session;
pub mod source;
pub mod tickets;
pub mod witness;

use anyhow::Result;

use crate::{Cli, Command};

pub async fn run(cli: Cli) -> Result<()> {
    let g = &cli.global;
    match cli.command {
        Command::Serve(args) => serve::serve(g, args).await,
        Command::Config(c) => serve::config(c),
        Command::Login(args) => session::login(g, args).await,
        Command::Logout => session::logout(g).await,
        Command::Whoami => session::whoami(g).await,
        Command::User(c) => admin::user(g, c).await,
        Command::Tenant(c) => admin::tenant(g, c).await,
        Command::Token(c) => admin::token(g, c).await,
        Command::AccessKey(c) => admin::access_key(g, c).await,
        Command::SshKey(c) => bastion::ssh_key(g, c).await,
        Command::Target(c) => bastion::target(g, c).await,
        Command::Grant(c) => bastion::grant(g, c).await,
        Command::Group(c) => group::group(g, c).await,
        Command::SshCert(c) => group::ssh_cert(g, c).await,
        Command::Review(c) => bastion::review(g, c).await,
        Command::Session(c) => bastion::session(g, c).await,
        Command::Access(c) => access::access(g, c).await,
        Command::Lockbox(c) => access::lockbox(g, c).await,
        Command::Kms(c) => kms::kms(g, c).await,
        Command::Source(c) => source::source(g, c).await,
        Command::Tickets(c) => tickets::tickets(g, c).await,
        Command::Logs(c) => logs::logs(g, c).await,
        Command::Ledger(c) => ledger::ledger(g, c).await,
        Command::Operator(c) => operator::operator(g, c).await,
        Command::Audit(c) => ledger::audit(g, c).await,
        Command::Witness(c) => witness::witness(c).await,
        Command::Rules(c) => rules::rules(g, c).await,
    }
}
