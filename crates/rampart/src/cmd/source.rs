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
    /// Issue a client certificate for mutual TLS on the syslog TLS listener,
    /// or list or revoke them. Without --csr the key (ECDSA P-256) is made
    /// here and only its signing request is sent: writes NAME.pem,
    /// NAME-key.pem (0600) and ca.pem. With --csr the certificate is for
    /// the request's key, made on the sender (`openssl req -new -newkey
    /// ec -pkeyopt ec_paramgen_curve:P-256 ...`): writes NAME.pem and ca.pem.
    Cert {
        source: String,
        /// Validity in days (1 to 3650).
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Where to write the certificate, its key (0600) and the CA.
        #[arg(long, short = 'o', default_value = ".")]
        out_dir: PathBuf,
        /// Certify the key of this PKCS#10 request (PEM) instead of making one.
        #[arg(long, conflicts_with_all = ["revoke", "list"])]
        csr: Option<PathBuf>,
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
        SourceCmd::Cert { source, days, out_dir, revoke, list, csr } => {
            let base = format!("/api/v1/sources/{}/certs", path_segment(&source));
            if list {
                let page = client.get(&base).await?;
                output::list(g.json, &page, &["serial", "fingerprint", "issued_at", "not_after", "revoked_at"]);
            } else if let Some(serial) = revoke {
                let revoked = client.post(&format!("{base}/{}/revoke", path_segment(&serial)), &json!({})).await?;
                output::object(g.json, &revoked);
            } else {
                let (request, key) = match csr {
                    Some(path) => (read_csr(&path)?, None),
                    None => {
                        let (request, key) = new_csr(&source)?;
                        (request, Some(key))
                    }
                };
                let issued = client.post(&base, &json!({ "days": days, "csr": request })).await?;
                write_cert(&out_dir, &issued, key.as_ref())?;
                if g.json {
                    output::object(true, &issued);
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

/// The largest request file read.
const MAX_CSR_FILE: u64 = 16 * 1024;

fn read_csr(path: &std::path::Path) -> Result<String> {
    let len = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.len();
    if len > MAX_CSR_FILE {
        anyhow::bail!("{} is {len} bytes: a certificate signing request is at most {MAX_CSR_FILE}", path.display());
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {} (PEM text)", path.display()))
}

/// A fresh ECDSA P-256 key and its PKCS#10 request (PEM), made here so the
/// key never crosses the network.
fn new_csr(source: &str) -> Result<(String, zeroize::Zeroizing<String>)> {
    let key = rcgen::KeyPair::generate().context("generating the client key")?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name.push(rcgen::DnType::CommonName, source);
    let request = params.serialize_request(&key).context("making the signing request")?;
    Ok((request.pem().context("encoding the signing request")?, zeroize::Zeroizing::new(key.serialize_pem())))
}

/// Writes an issued certificate, the key made for it if any (0600,
/// atomically) and the CA into `dir`, and says where.
fn write_cert(
    dir: &std::path::Path,
    issued: &serde_json::Value,
    key: Option<&zeroize::Zeroizing<String>>,
) -> Result<()> {
    let field = |k: &str| issued[k].as_str().with_context(|| format!("the answer has no {k}"));
    let name = field("source")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (cert, ca) = (dir.join(format!("{name}.pem")), dir.join("ca.pem"));
    let key_path = dir.join(format!("{name}-key.pem"));
    if let Some(key) = key {
        rampart_core::secret::write_private_atomic(&key_path, key.as_bytes())
            .with_context(|| format!("writing {}", key_path.display()))?;
    }
    std::fs::write(&cert, field("certificate")?).with_context(|| format!("writing {}", cert.display()))?;
    std::fs::write(&ca, field("ca")?).with_context(|| format!("writing {}", ca.display()))?;
    let key_line = match key {
        Some(_) => format!("\n  {} (private key, made here and kept nowhere else)", key_path.display()),
        None => String::new(),
    };
    eprintln!(
        "issued certificate {} for {name}, valid until {}:\n  {}{key_line}\n  {} (the CA)",
        field("serial")?,
        field("not_after")?,
        cert.display(),
        ca.display()
    );
    Ok(())
}
