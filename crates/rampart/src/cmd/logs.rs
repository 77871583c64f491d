//! `rampart logs search|tail`: the log search API. Results print one line
//! per event (time, ledger index, kind, host, message), or JSON.

use anyhow::Result;
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
    let client = ApiClient::new(g)?;
    match cmd {
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
