//! `rampart group` and `rampart ssh-cert`: user groups (which bastion
//! grants can name), and certificates from the bastion's SSH user CA.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::access::duration_secs;
use super::kms::segment;
use crate::Global;
use crate::client::ApiClient;
use crate::output;

#[derive(Debug, Subcommand)]
pub enum GroupCmd {
    /// Create a group (administrators).
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Add a user to a group: the group's grants reach them from now on.
    Add { group: String, user: String },
    /// Remove a user from a group: a live session they hold through one of
    /// the group's grants is cut at its next check.
    Remove { group: String, user: String },
    /// List groups and their members.
    List,
    /// Delete a group, its memberships and the grants that name it.
    Delete { name: String },
}

fn items(list: Value) -> Value {
    json!({ "items": list })
}

pub async fn group(g: &Global, cmd: GroupCmd) -> Result<()> {
    let client = ApiClient::new(g)?;
    match cmd {
        GroupCmd::Create { name, description } => {
            let created = client.post("/api/v1/groups", &json!({ "name": name, "description": description })).await?;
            output::object(g.json, &created);
        }
        GroupCmd::Add { group, user } => {
            let path = format!("/api/v1/groups/{}/members/{}", segment(&group), segment(&user));
            let updated = client.send(Method::PUT, &path, None).await?;
            output::object(g.json, &updated);
        }
        GroupCmd::Remove { group, user } => {
            let path = format!("/api/v1/groups/{}/members/{}", segment(&group), segment(&user));
            let updated = client.delete(&path).await?;
            output::object(g.json, &updated);
        }
        GroupCmd::List => {
            let mut list = client.get("/api/v1/groups").await?;
            if !g.json
                && let Some(groups) = list.as_array_mut()
            {
                for group in groups {
                    let members: Vec<&str> =
                        group["members"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                    group["members"] = Value::String(members.join(","));
                }
            }
            output::list(g.json, &items(list), &["name", "members", "description", "created_by"]);
        }
        GroupCmd::Delete { name } => {
            client.delete(&format!("/api/v1/groups/{}", segment(&name))).await?;
            eprintln!("deleted {name}");
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum SshCertCmd {
    /// Get an OpenSSH user certificate for one of your public keys, printed
    /// on standard output: `rampart ssh-cert issue --key ~/.ssh/id_ed25519.pub > ~/.ssh/id_ed25519-cert.pub`.
    Issue {
        /// The public key file, or - for standard input.
        #[arg(long)]
        key: PathBuf,
        /// How long it is valid: 90s, 30m, 8h (at most the server's
        /// bastion.ssh_cert_max_secs, which is the default).
        #[arg(long, value_parser = duration_secs)]
        valid: Option<u64>,
    },
    /// Print the bastion's SSH user CA public key (for TrustedUserCAKeys).
    Ca,
    /// List issued certificates (administrators; unexpired ones unless --all).
    List {
        #[arg(long)]
        all: bool,
    },
    /// Revoke a certificate by serial (administrators): refused at the next
    /// login, and a live session that logged in with it is cut.
    Revoke { serial: String },
}

pub async fn ssh_cert(g: &Global, cmd: SshCertCmd) -> Result<()> {
    let client = ApiClient::new(g)?;
    match cmd {
        SshCertCmd::Issue { key, valid } => {
            let line = if key.as_os_str() == "-" {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).context("reading standard input")?;
                text
            } else {
                std::fs::read_to_string(&key).with_context(|| format!("reading {}", key.display()))?
            };
            let body = json!({ "public_key": line.trim(), "valid_for_secs": valid });
            let issued = client.post("/api/v1/bastion/ssh-certs", &body).await?;
            if g.json {
                output::object(true, &issued);
            } else {
                println!("{}", issued["certificate"].as_str().unwrap_or_default());
                eprintln!(
                    "serial {} for {}, valid until {}",
                    issued["serial"].as_str().unwrap_or_default(),
                    issued["username"].as_str().unwrap_or_default(),
                    issued["valid_before"].as_str().unwrap_or_default()
                );
            }
        }
        SshCertCmd::Ca => {
            let ca = client.get("/api/v1/bastion/ssh-ca").await?;
            if g.json {
                output::object(true, &ca);
            } else {
                println!("{}", ca["public_key"].as_str().unwrap_or_default());
            }
        }
        SshCertCmd::List { all } => {
            let list = client.get(&format!("/api/v1/bastion/ssh-certs?all={all}")).await?;
            output::list(
                g.json,
                &items(list),
                &["serial", "username", "key_id", "key_fingerprint", "valid_before", "status"],
            );
        }
        SshCertCmd::Revoke { serial } => {
            let revoked =
                client.post(&format!("/api/v1/bastion/ssh-certs/{}/revoke", segment(&serial)), &json!({})).await?;
            output::object(g.json, &revoked);
        }
    }
    Ok(())
}
