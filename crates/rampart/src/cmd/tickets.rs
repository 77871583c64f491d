//! `rampart tickets list|show|ack|assign|status|resolve|comment` and
//! `rampart tickets dead-letters|redrive`: the ticket desk.

use anyhow::Result;
use serde_json::{Value, json};

use crate::client::ApiClient;
use crate::{Global, output};

#[derive(Debug, clap::Subcommand)]
pub enum TicketsCmd {
    /// List tickets, newest first.
    List {
        /// new, acknowledged, in_progress, resolved, false_positive or closed.
        #[arg(long)]
        status: Option<String>,
        /// informational, low, medium, high or critical.
        #[arg(long)]
        severity: Option<String>,
        #[arg(long)]
        queue: Option<String>,
        #[arg(long)]
        assignee: Option<String>,
        /// alarm, vulnerability or incident.
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        after: Option<String>,
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Show a ticket with its events, comments and history.
    Show { id: String },
    /// Acknowledge a new ticket.
    Ack { id: String },
    /// Assign a ticket to a user (or `--none` to unassign), optionally to a queue.
    Assign {
        id: String,
        /// The user to assign it to.
        user: Option<String>,
        #[arg(long, conflicts_with = "user")]
        none: bool,
        #[arg(long)]
        queue: Option<String>,
    },
    /// Change a ticket's status (in_progress, false_positive, closed, …).
    Status {
        id: String,
        status: String,
        #[arg(long)]
        resolution: Option<String>,
    },
    /// Resolve a ticket, saying what was found and done.
    Resolve { id: String, resolution: String },
    /// Comment on a ticket.
    Comment { id: String, body: String },
    /// The notification outbox's dead-letter list (or `--status pending|delivered`).
    DeadLetters {
        #[arg(long, default_value = "dead")]
        status: String,
        #[arg(long)]
        after: Option<String>,
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Put a dead-lettered notification back in the queue.
    Redrive { id: String },
}

pub async fn tickets(g: &Global, cmd: TicketsCmd) -> Result<()> {
    let client = ApiClient::new(g)?;
    match cmd {
        TicketsCmd::List { status, severity, queue, assignee, kind, after, limit } => {
            let query = query(&[
                ("status", status),
                ("severity", severity),
                ("queue", queue),
                ("assignee", assignee),
                ("kind", kind),
                ("after", after),
                ("limit", limit.map(|l| l.to_string())),
            ]);
            let page = client.get(&format!("/api/v1/tickets{query}")).await?;
            output::list(
                g.json,
                &page,
                &["id", "severity", "status", "title", "queue", "assignee", "event_count", "last_seen"],
            );
        }
        TicketsCmd::Show { id } => {
            let t = client.get(&format!("/api/v1/tickets/{}", segment(&id))).await?;
            show(g.json, &t);
        }
        TicketsCmd::Ack { id } => {
            output::object(g.json, &client.post(&format!("/api/v1/tickets/{}/ack", segment(&id)), &json!({})).await?)
        }
        TicketsCmd::Assign { id, user, none, queue } => {
            if user.is_none() && !none && queue.is_none() {
                anyhow::bail!("name a user, or --none to unassign, or --queue");
            }
            let body = json!({ "assignee": user, "queue": queue });
            output::object(g.json, &client.post(&format!("/api/v1/tickets/{}/assign", segment(&id)), &body).await?);
        }
        TicketsCmd::Status { id, status, resolution } => {
            let body = json!({ "status": status, "resolution": resolution });
            output::object(g.json, &client.post(&format!("/api/v1/tickets/{}/status", segment(&id)), &body).await?);
        }
        TicketsCmd::Resolve { id, resolution } => {
            let body = json!({ "resolution": resolution });
            output::object(g.json, &client.post(&format!("/api/v1/tickets/{}/resolve", segment(&id)), &body).await?);
        }
        TicketsCmd::Comment { id, body } => {
            let body = json!({ "body": body });
            output::object(g.json, &client.post(&format!("/api/v1/tickets/{}/comments", segment(&id)), &body).await?);
        }
        TicketsCmd::DeadLetters { status, after, limit } => {
            let query = query(&[("status", Some(status)), ("after", after), ("limit", limit.map(|l| l.to_string()))]);
            let page = client.get(&format!("/api/v1/notifications{query}")).await?;
            output::list(
                g.json,
                &page,
                &["id", "event", "channel", "target", "status", "attempts", "last_error", "created_at"],
            );
        }
        TicketsCmd::Redrive { id } => {
            let path = format!("/api/v1/notifications/{}/redrive", segment(&id));
            output::object(g.json, &client.post(&path, &json!({})).await?);
        }
    }
    Ok(())
}

/// The ticket, then its events, comments and history as tables.
fn show(json: bool, t: &Value) {
    if json {
        output::object(true, t);
        return;
    }
    let mut summary = t.clone();
    if let Some(map) = summary.as_object_mut() {
        for k in ["events", "comments", "history"] {
            map.remove(k);
        }
    }
    output::object(false, &summary);
    for (title, key, columns) in [
        ("events (contents in the ledger)", "events", &["ledger_index", "time", "kind"][..]),
        ("comments", "comments", &["created_at", "author", "body"][..]),
        ("history", "history", &["time", "actor", "action", "ledger_index"][..]),
    ] {
        println!("\n{title}:");
        output::list(false, &json!({ "items": t[key] }), columns);
    }
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> =
        pairs.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", segment(v)))).collect();
    if parts.is_empty() { String::new() } else { format!("?{}", parts.join("&")) }
}

/// Escapes a value so it stays one path segment or query value.
fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}
