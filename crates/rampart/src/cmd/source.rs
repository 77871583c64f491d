//! `rampart source add|list|show|rm|review|token|retention|cert`: the log
//! source registry, its ingest tokens, retention and client certificates.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::json;

use crate::client::ApiClient;
use crate::{Global, output};

#[derive(Debug, clap::Subcommand)]
pub enum SourceCmd {
    /// Register a log source.
    Add {
        /// The host name its syslog header carries, or its address.
        name: String,
        /// server, network_device, database or application.
        #[arg(long = "type", default_value = "server")]
        source_type: String,
        #[arg(long)]
        owner: Option<String>,
        /// Sigma logsource product (e.g. linux, windows).
        #[arg(long)]
        product: Option<String>,
        /// Sigma logsource service (e.g. sshd, auditd).
        #[arg(long)]
        service: Option<String>,
        /// Sigma logsource category (e.g. firewall).
        #[arg(long)]
        category: Option<String>,
        /// auto, sshd, sudo, su, pam, auditd, netfilter, nginx, apache, postgresql, mysql, json, kv, raw.
        #[arg(long)]
        parser: Option<String>,
        /// Longest expected silence in seconds; beyond it `source.silent` is recorded.
        #[arg(long)]
        heartbeat: Option<i64>,
        /// Days its events stay searchable (the ledger keeps them); default: kept.
        #[arg(long)]
        retention: Option<i64>,
    },
    /// List registered sources.
    List {
        #[arg(long)]
        after: Option<String>,
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Show one source (by id or name).
    Show { source: String },
    /// Mark a source reviewed (releasing it if it was held).
    Review { source: String },
    /// Remove a source (its stored events stay in the ledger).
    Rm { source: String },
    /// Create or rotate the source's ingest token for POST /api/v1/ingest (shown once).
    Token { source: String },
    /// Set how many days the source's events stay searchable (0: keep them).
    Retention { source: String, days: i64 },
    /// Issue a client certificate for mutual TLS on the syslog TLS listener
    /// (writes NAME.pem, NAME-key.pem and ca.pem), or list or revoke them.
    Cert {
        source: String,
        /// Validity in days (1 to 3650).
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Where to write the certificate, its key (0600) and the CA.
        #[arg(long, short = 'o', default_value = ".")]
        out_dir: PathBuf,
        /// Revoke the certificate with this serial instead.
        #[arg(long, conflicts_with = "list")]
        revoke: Option<String>,
        /// List the source's certificates instead.
        #[arg(long)]
        list: bool,
    },
}

pub async fn source(g: &Global, cmd: SourceCmd) -> Result<()> {
    let client = ApiClient::new(g)?;
    match cmd {
        SourceCmd::Add { name, source_type, owner, product, service, category, parser, heartbeat, retention } => {
            let body = json!({
                "name": name, "type": source_type, "owner": owner, "product": product, "service": service,
                "category": category, "parser": parser, "heartbeat_secs": heartbeat, "retention_days": retention,
            });
            output::object(g.json, &client.post("/api/v1/sources", &body).await?);
        }
        SourceCmd::List { after, limit } => {
            let mut q = Vec::new();
            if let Some(a) = after {
                q.push(format!("after={a}"));
            }
            if let Some(l) = limit {
                q.push(format!("limit={l}"));
            }
            let query = if q.is_empty() { String::new() } else { format!("?{}", q.join("&")) };
            let page = client.get(&format!("/api/v1/sources{query}")).await?;
            output::list(
                g.json,
                &page,
                &["id", "name", "type", "owner", "parser", "heartbeat_secs", "reviewed", "status", "last_seen"],
            );
        }
        SourceCmd::Token { source } => {
            let answer = client.post(&format!("/api/v1/sources/{}/token", path_segment(&source)), &json!({})).await?;
            if g.json {
                output::object(true, &answer);
            } else {
                println!("{}", answer["token"].as_str().unwrap_or_default());
            }
        }
        SourceCmd::Show { source } => {
            output::object(g.json, &client.get(&format!("/api/v1/sources/{}", path_segment(&source))).await?)
        }
        SourceCmd::Review { source } => {
            let path = format!("/api/v1/sources/{}", path_segment(&source));
            let updated = client.send(reqwest::Method::PATCH, &path, Some(&json!({ "reviewed": true }))).await?;
            output::object(g.json, &updated);
        }
        SourceCmd::Retention { source, days } => {
            let path = format!("/api/v1/sources/{}", path_segment(&source));
            let updated = client.send(reqwest::Method::PATCH, &path, Some(&json!({ "retention_days": days }))).await?;
            output::object(g.json, &updated);
        }
        SourceCmd::Cert { source, days, out_dir, revoke, list } => {
            let base = format!("/api/v1/sources/{}/certs", path_segment(&source));
            if list {
                let page = client.get(&base).await?;
                output::list(g.json, &page, &["serial", "fingerprint", "issued_at", "not_after", "revoked_at"]);
            } else if let Some(serial) = revoke {
                let revoked = client.post(&format!("{base}/{}/revoke", path_segment(&serial)), &json!({})).await?;
                output::object(g.json, &revoked);
            } else {
                let issued = client.post(&base, &json!({ "days": days })).await?;
                write_cert(&out_dir, &issued)?;
                if g.json {
                    let mut shown = issued.clone();
                    if let Some(o) = shown.as_object_mut() {
                        o.remove("key");
                    }
                    output::object(true, &shown);
                }
            }
        }
        SourceCmd::Rm { source } => {
            client.delete(&format!("/api/v1/sources/{}", path_segment(&source))).await?;
            eprintln!("removed {source}");
        }
    }
    Ok(())
}

/// Source names are host names or addresses; anything else is escaped so
/// it stays one path segment.
fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Writes an issued certificate, its key (0600, atomically) and the CA
/// into `dir`, and says where.
fn write_cert(dir: &std::path::Path, issued: &serde_json::Value) -> Result<()> {
    let field = |k: &str| issued[k].as_str().with_context(|| format!("the answer has no {k}"));
    let name = field("source")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (cert, key, ca) = (dir.join(format!("{name}.pem")), dir.join(format!("{name}-key.pem")), dir.join("ca.pem"));
    rampart_core::secret::write_private_atomic(&key, field("key")?.as_bytes())
        .with_context(|| format!("writing {}", key.display()))?;
    std::fs::write(&cert, field("certificate")?).with_context(|| format!("writing {}", cert.display()))?;
    std::fs::write(&ca, field("ca")?).with_context(|| format!("writing {}", ca.display()))?;
    eprintln!(
        "issued certificate {} for {name}, valid until {}:\n  {}\n  {} (private key, kept nowhere else)\n  {} (the CA)",
        field("serial")?,
        field("not_after")?,
        cert.display(),
        key.display(),
        ca.display()
    );
    Ok(())
}
