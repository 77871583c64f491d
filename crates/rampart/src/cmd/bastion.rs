//! `rampart ssh-key`, `rampart target`, `rampart grant` and `rampart
//! review`: the SSH bastion's API from the command line.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::Global;
use crate::client::ApiClient;
use crate::output;

#[derive(Debug, Subcommand)]
pub enum SshKeyCmd {
    /// Register an SSH public key for logging in to the bastion
    /// (`ssh -p 2222 USER:TARGET@host`).
    Add {
        /// The public key file (e.g. ~/.ssh/id_ed25519.pub), or - for stdin.
        file: PathBuf,
    },
    /// List your SSH public keys.
    List,
    /// Remove one of your SSH public keys.
    Remove { id: String },
}

#[derive(Debug, Subcommand)]
pub enum TargetCmd {
    /// Register a target; its credential is sealed by the KMS and never shown again.
    Create {
        name: String,
        #[arg(long)]
        address: String,
        #[arg(long, default_value_t = 22)]
        port: u16,
        /// The target's host key line (`ssh-ed25519 AAAA…`), pinned.
        #[arg(long, conflicts_with = "host_key_file")]
        host_key: Option<String>,
        /// A file holding the host key line (e.g. /etc/ssh/ssh_host_ed25519_key.pub).
        #[arg(long)]
        host_key_file: Option<PathBuf>,
        /// The account Rampart logs in as.
        #[arg(long)]
        login: String,
        /// An unencrypted OpenSSH private key (Ed25519 or ECDSA) for the login.
        #[arg(long, conflicts_with = "password_stdin")]
        private_key_file: Option<PathBuf>,
        /// Read the login's password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List targets (never their credentials).
    List,
    /// Delete a target and its grants.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum GrantCmd {
    /// Let a user reach a target for some actions, for a while.
    Create {
        #[arg(long)]
        user: String,
        #[arg(long)]
        target: String,
        /// Comma-separated: shell, exec, sftp.
        #[arg(long, value_delimiter = ',', required = true)]
        actions: Vec<String>,
        /// How long the grant holds, in hours.
        #[arg(long, default_value_t = 8)]
        hours: u64,
        /// The login on the target (the target's own by default).
        #[arg(long)]
        login: Option<String>,
    },
    /// List grants.
    List,
    /// Revoke a grant.
    Revoke { id: String },
}

fn read_input(path: &PathBuf) -> Result<Zeroizing<String>> {
    let mut text = Zeroizing::new(String::new());
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text).context("reading standard input")?;
    } else {
        let mut file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        file.read_to_string(&mut text).with_context(|| format!("reading {}", path.display()))?;
    }
    Ok(text)
}

fn items(list: Value) -> Value {
    json!({ "items": list })
}

pub async fn ssh_key(g: &Global, cmd: SshKeyCmd) -> Result<()> {
    let client = ApiClient::new(g)?;
    match cmd {
        SshKeyCmd::Add { file } => {
            let line = read_input(&file)?;
            let added = client.post("/api/v1/ssh-keys", &json!({ "public_key": line.trim() })).await?;
            output::object(g.json, &added);
        }
        SshKeyCmd::List => {
            let list = client.get("/api/v1/ssh-keys").await?;
            output::list(g.json, &items(list), &["id", "fingerprint", "comment", "created_at"]);
        }
        SshKeyCmd::Remove { id } => {
            client.delete(&format!("/api/v1/ssh-keys/{id}")).await?;
            eprintln!("removed {id}");
        }
    }
    Ok(())
}

pub async fn target(g: &Global, cmd: TargetCmd) -> Result<()> {
    let client = ApiClient::new(g)?;
    match cmd {
        TargetCmd::Create { name, address, port, host_key, host_key_file, login, private_key_file, password_stdin } => {
            let host_key = match (host_key, host_key_file) {
                (Some(k), _) => k,
                (None, Some(f)) => read_input(&f)?.trim().to_owned(),
                (None, None) => bail!("give the target's host key with --host-key or --host-key-file"),
            };
            let mut body =
                json!({ "name": name, "address": address, "port": port, "host_key": host_key, "login": login });
            // The credential travels once, to the server, which seals it.
            let secret = match (private_key_file, password_stdin) {
                (Some(f), false) => ("private_key", read_input(&f)?),
                (None, true) => {
                    let text = read_input(&PathBuf::from("-"))?;
                    ("password", Zeroizing::new(text.trim_end_matches(['\r', '\n']).to_owned()))
                }
                _ => bail!("give the login's credential with --private-key-file or --password-stdin"),
            };
            body[secret.0] = json!(secret.1.as_str());
            let created = client.post("/api/v1/bastion/targets", &body).await;
            if let Some(map) = body.as_object_mut() {
                map.remove(secret.0);
            }
            output::object(g.json, &created?);
        }
        TargetCmd::List => {
            let list = client.get("/api/v1/bastion/targets").await?;
            output::list(
                g.json,
                &items(list),
                &["name", "address", "port", "login", "host_key_fingerprint", "credential_kind"],
            );
        }
        TargetCmd::Delete { name } => {
            client.delete(&format!("/api/v1/bastion/targets/{name}")).await?;
            eprintln!("deleted {name}");
        }
    }
    Ok(())
}

pub async fn grant(g: &Global, cmd: GrantCmd) -> Result<()> {
    let client = ApiClient::new(g)?;
    match cmd {
        GrantCmd::Create { user, target, actions, hours, login } => {
            let body = json!({
                "username": user,
                "target": target,
                "login": login,
                "actions": actions,
                "valid_for_secs": hours.saturating_mul(3600),
            });
            let created = client.post("/api/v1/bastion/grants", &body).await?;
            output::object(g.json, &created);
        }
        GrantCmd::List => {
            let list = client.get("/api/v1/bastion/grants").await?;
            output::list(g.json, &items(list), &["id", "user_id", "target_id", "login", "actions", "valid_until"]);
        }
        GrantCmd::Revoke { id } => {
            client.delete(&format!("/api/v1/bastion/grants/{id}")).await?;
            eprintln!("revoked {id}");
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum ReviewCmd {
    /// Commands held by a `review` red line (pending ones by default).
    List {
        /// pending, approved, denied, expired or all.
        #[arg(long, default_value = "pending")]
        status: String,
    },
    /// Let a held command run (not one you typed yourself).
    Approve {
        id: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Refuse a held command.
    Deny {
        id: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
}

pub async fn review(g: &Global, cmd: ReviewCmd) -> Result<()> {
    let client = ApiClient::new(g)?;
    match cmd {
        ReviewCmd::List { status } => {
            let list = client.get(&format!("/api/v1/bastion/reviews?status={status}")).await?;
            output::list(
                g.json,
                &items(list),
                &["id", "requester", "target", "command", "policy", "status", "expires_at"],
            );
        }
        ReviewCmd::Approve { id, comment } => {
            let decided =
                client.post(&format!("/api/v1/bastion/reviews/{id}/approve"), &json!({ "comment": comment })).await?;
            output::object(g.json, &decided);
        }
        ReviewCmd::Deny { id, comment } => {
            let decided =
                client.post(&format!("/api/v1/bastion/reviews/{id}/deny"), &json!({ "comment": comment })).await?;
            output::object(g.json, &decided);
        }
    }
    Ok(())
}
