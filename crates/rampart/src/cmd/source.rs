//! `rampart source add|list|show|rm|review`: the log source registry.

use anyhow::Result;
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
}

pub async fn source(g: &Global, cmd: SourceCmd) -> Result<()> {
    let client = ApiClient::new(g)?;
    match cmd {
        SourceCmd::Add { name, source_type, owner, product, service, category, parser, heartbeat } => {
            let body = json!({
                "name": name, "type": source_type, "owner": owner, "product": product, "service": service,
                "category": category, "parser": parser, "heartbeat_secs": heartbeat,
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
