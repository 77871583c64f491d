//! `rampart logs search|tail|export|verify-export`: the log search API.
//! Results print one line per event (time, ledger index, kind, host,
//! message), or JSON. An export is a gzip'd JSON-lines file with a signed
//! checkpoint and each event's inclusion proof (`docs/export.md`), checked
//! offline by `verify-export` with the log's key alone.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::Global;
use crate::client::ApiClient;

#[derive(Debug, clap::Subcommand)]
pub enum LogsCmd {
    /// Search the logs, newest first: `host:web01 "Failed password" | count by User`.
    Search {
        /// The query (see docs/search.md); empty matches everything.
        #[arg(default_value = "")]
        query: String,
        /// From: RFC 3339, or a duration ago (15m, 2h, 7d).
        #[arg(long)]
        since: Option<String>,
        /// Until: RFC 3339, or a duration ago.
        #[arg(long)]
        until: Option<String>,
        /// Results per page, 1 to 1000.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// The cursor printed after the previous page.
        #[arg(long)]
        after: Option<String>,
    },
    /// Print the last 20 events, and with -f those that follow as they arrive.
    Tail {
        /// Only events matching this query.
        #[arg(default_value = "")]
        query: String,
        /// Keep following.
        #[arg(short = 'f', long)]
        follow: bool,
    },
    /// Export a time range (gzip'd JSON lines) with a signed checkpoint and
    /// each event's inclusion proof; verified before this returns.
    Export {
        /// From: RFC 3339, or a duration ago (15m, 2h, 7d).
        #[arg(long)]
        since: String,
        /// Until: RFC 3339, or a duration ago; default now.
        #[arg(long)]
        until: Option<String>,
        /// Only this source's events.
        #[arg(long)]
        source: Option<String>,
        /// The file to write.
        #[arg(long, short = 'o')]
        output: PathBuf,
    },
    /// Check an export offline: the checkpoint's signature, every event's
    /// inclusion proof, its window and source, and the trailer.
    VerifyExport {
        file: PathBuf,
        /// The log's verifier key (vkey form), or a file holding it.
        #[arg(long)]
        key: String,
    },
}

/// Checks the export at `file` against `verifier`.
fn verify_file(file: &std::path::Path, verifier: &rampart_ledger::Verifier) -> Result<rampart_ledger::export::Summary> {
    let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(std::io::BufReader::new(f)));
    rampart_ledger::export::verify(reader, std::slice::from_ref(verifier)).map_err(|e| anyhow::anyhow!("FAILED: {e}"))
}

fn print_summary(file: &std::path::Path, s: &rampart_ledger::export::Summary) {
    let range = match (s.first, s.last) {
        (Some(a), Some(b)) => format!("ledger indexes {a}..={b}"),
        _ => "no events".to_owned(),
    };
    println!(
        "export OK: {} events ({range}) from {} to {}{}, proven against the checkpoint of {} entries of {} ({})",
        s.events,
        rampart_core::time::rfc3339(s.header.since_ms),
        rampart_core::time::rfc3339(s.header.until_ms),
        s.header.source.as_ref().map(|x| format!(" of source {x}")).unwrap_or_default(),
        s.header.tree_size,
        s.header.origin,
        file.display()
    );
}

/// Percent-encodes a query-string value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn query_string(pairs: &[(&str, Option<&str>)]) -> String {
    let parts: Vec<String> = pairs.iter().filter_map(|(k, v)| v.map(|v| format!("{k}={}", encode(v)))).collect();
    parts.join("&")
}

/// One line per event.
fn line(e: &Value) -> String {
    let host = e["attrs"]["syslog"]["hostname"].as_str().or(e["attrs"]["source"]["name"].as_str()).unwrap_or("-");
    let message =
        e["attrs"]["message"].as_str().map_or_else(|| e["actor"].as_str().unwrap_or("").to_owned(), str::to_owned);
    format!(
        "{} #{} {} {} {}",
        e["time"].as_str().unwrap_or(""),
        e["ledger_index"].as_i64().map_or_else(|| "-".to_owned(), |i| i.to_string()),
        e["kind"].as_str().unwrap_or(""),
        host,
        message
    )
}

fn print_events(g: &Global, page: &Value) {
    for e in page["items"].as_array().into_iter().flatten() {
        if g.json {
            println!("{e}");
        } else {
            println!("{}", line(e));
        }
    }
}

pub async fn logs(g: &Global, cmd: LogsCmd) -> Result<()> {
    if let LogsCmd::VerifyExport { file, key } = &cmd {
        let text = if std::path::Path::new(key).exists() { std::fs::read_to_string(key)? } else { key.clone() };
        let verifier =
            rampart_ledger::Verifier::parse(text.trim()).map_err(|e| anyhow::anyhow!("not a verifier key: {e}"))?;
        let summary = verify_file(file, &verifier)?;
        print_summary(file, &summary);
        return Ok(());
    }
    let client = ApiClient::new(g)?;
    match cmd {
        LogsCmd::VerifyExport { .. } => {}
        LogsCmd::Export { since, until, source, output } => {
            let until = until.unwrap_or_else(|| rampart_core::time::rfc3339(rampart_core::time::now_ms()));
            let qs = query_string(&[("since", Some(&since)), ("until", Some(&until)), ("source", source.as_deref())]);
            let bytes = client.download(&format!("/api/v1/logs/export?{qs}"), &output).await?;
            let key = String::from_utf8(client.get_bytes("/ledger/key").await?)?;
            let verifier =
                rampart_ledger::Verifier::parse(key.trim()).map_err(|e| anyhow::anyhow!("server key: {e}"))?;
            let summary = verify_file(&output, &verifier)?;
            eprintln!("wrote {} ({bytes} bytes); verify it offline with:", output.display());
            eprintln!("  rampart logs verify-export {} --key '{}'", output.display(), verifier);
            print_summary(&output, &summary);
        }
        LogsCmd::Search { query, since, until, limit, after } => {
            let limit = limit.to_string();
            let qs = query_string(&[
                ("q", Some(&query)),
                ("since", since.as_deref()),
                ("until", until.as_deref()),
                ("limit", Some(&limit)),
                ("after", after.as_deref()),
            ]);
            let page = client.get(&format!("/api/v1/logs/search?{qs}")).await?;
            if let Some(counts) = page["counts"].as_array() {
                if g.json {
                    println!("{}", serde_json::to_string_pretty(&page["counts"]).unwrap_or_default());
                } else {
                    for c in counts {
                        println!(
                            "{:>10}  {}",
                            c["count"].as_i64().unwrap_or_default(),
                            c["value"].as_str().unwrap_or("(none)")
                        );
                    }
                }
                return Ok(());
            }
            print_events(g, &page);
            if let Some(next) = page["next"].as_str()
                && !g.json
            {
                eprintln!("more: --after {next}");
            }
        }
        LogsCmd::Tail { query, follow } => {
            // The last few, oldest first, then (with -f) what follows them.
            let qs = query_string(&[("q", Some(&query)), ("limit", Some("20"))]);
            let last = client.get(&format!("/api/v1/logs/search?{qs}")).await?;
            let mut items = last["items"].as_array().cloned().unwrap_or_default();
            let mut after = items.first().and_then(|e| e["seq"].as_i64()).map(|s| s.to_string());
            items.reverse();
            print_events(g, &serde_json::json!({ "items": items }));
            if !follow {
                return Ok(());
            }
            loop {
                let qs = query_string(&[("q", Some(&query)), ("after", after.as_deref()), ("wait", Some("15"))]);
                let page = client.get(&format!("/api/v1/logs/tail?{qs}")).await?;
                print_events(g, &page);
                after = page["next"].as_str().map(str::to_owned);
            }
        }
    }
    Ok(())
}
