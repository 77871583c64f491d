//! `rampart access` (just-in-time access to bastion targets: ask, list,
//! show, approve, deny, revoke) and `rampart lockbox` (the customer
//! lockbox: ask a tenant's customer admin, who approves or denies, and the
//! tenant's access transparency view).

use anyhow::Result;
use clap::Subcommand;
use serde_json::{Value, json};

use crate::Global;
use crate::client::ApiClient;
use crate::output;

/// How long to ask for: `90s`, `30m`, `8h` or plain seconds.
pub(crate) fn duration_secs(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = digits.parse().map_err(|_| format!("{text:?} is not a duration like 90s, 30m or 8h"))?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("{text:?}: the unit must be s, m or h")),
    };
    n.checked_mul(scale).ok_or_else(|| format!("{text:?} is too long"))
}

#[derive(Debug, Subcommand)]
pub enum AccessCmd {
    /// Ask for just-in-time access to a target (or every target with a label).
    Request {
        /// The target.
        #[arg(required_unless_present = "label", conflicts_with = "label")]
        target: Option<String>,
        /// Every target carrying this label, instead of one target.
        #[arg(long)]
        label: Option<String>,
        /// Comma-separated: shell, exec, sftp.
        #[arg(long, value_delimiter = ',', required = true)]
        actions: Vec<String>,
        /// Why: the approver reads it, the ledger keeps it.
        #[arg(long)]
        reason: String,
        /// How long, once approved: 90s, 30m, 8h (at most the server's jit_max_duration_secs).
        #[arg(long, value_parser = duration_secs, default_value = "1h")]
        duration: u64,
        /// The login on the target (the target's own by default).
        #[arg(long)]
        login: Option<String>,
    },
    /// Requests: all of them for approvers, your own otherwise.
    List {
        /// pending, approved, denied, expired, revoked or all.
        #[arg(long, default_value = "all")]
        status: String,
    },
    /// One request.
    Show { id: String },
    /// Approve a request (approvers; never your own): a grant for its duration, from now.
    Approve {
        id: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Deny a request (approvers).
    Deny {
        id: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Revoke an approved request: its grant goes, live sessions are cut.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum LockboxCmd {
    /// Ask the customer's admin for access to a target holding their data.
    Request {
        target: String,
        /// customer_support, incident, maintenance, security or legal.
        #[arg(long)]
        reason_code: String,
        /// Why, in words the customer reads.
        #[arg(long)]
        reason: String,
        /// The window asked for, from approval: 90s, 30m, 8h.
        #[arg(long, value_parser = duration_secs, default_value = "1h")]
        duration: u64,
    },
    /// Lockbox requests (a customer admin: their tenant's).
    List {
        /// pending, approved, denied, expired, revoked or all.
        #[arg(long, default_value = "all")]
        status: String,
    },
    /// One lockbox request.
    Show { id: String },
    /// Approve a request for your tenant's data (customer admins).
    Approve {
        id: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Deny a request for your tenant's data (customer admins).
    Deny {
        id: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// End an approved window now.
    Revoke { id: String },
    /// Mark a label: every target carrying it holds this tenant's data
    /// (administrators).
    MarkLabel {
        label: String,
        #[arg(long)]
        tenant: String,
    },
    /// Remove a label's lockbox mark (administrators).
    UnmarkLabel { label: String },
    /// Labels marked as holding a tenant's data.
    Labels,
    /// Every access to your tenant's data: who, when, why, the session and
    /// its recording's SHA-256.
    Accesses {
        /// A tenant id (the operator's administrator only).
        #[arg(long)]
        tenant: Option<String>,
    },
}

const REQUEST_COLUMNS: [&str; 8] =
    ["id", "requester", "target", "label", "status", "duration_secs", "reason", "expires_at"];

fn items(list: Value) -> Value {
    json!({ "items": list })
}

pub async fn access(g: &Global, cmd: AccessCmd) -> Result<()> {
    let client = ApiClient::new(g)?;
    let base = "/api/v1/bastion/requests";
    match cmd {
        AccessCmd::Request { target, label, actions, reason, duration, login } => {
            let body = json!({ "target": target, "label": label, "login": login, "actions": actions,
                "reason": reason, "duration_secs": duration });
            output::object(g.json, &client.post(base, &body).await?);
        }
        AccessCmd::List { status } => {
            let list = client.get(&format!("{base}?status={status}")).await?;
            output::list(g.json, &items(list), &REQUEST_COLUMNS);
        }
        AccessCmd::Show { id } => output::object(g.json, &client.get(&format!("{base}/{id}")).await?),
        AccessCmd::Approve { id, comment } => {
            output::object(g.json, &client.post(&format!("{base}/{id}/approve"), &json!({ "comment": comment })).await?)
        }
        AccessCmd::Deny { id, comment } => {
            output::object(g.json, &client.post(&format!("{base}/{id}/deny"), &json!({ "comment": comment })).await?)
        }
        AccessCmd::Revoke { id } => {
            output::object(g.json, &client.post(&format!("{base}/{id}/revoke"), &json!({})).await?)
        }
    }
    Ok(())
}

pub async fn lockbox(g: &Global, cmd: LockboxCmd) -> Result<()> {
    let client = ApiClient::new(g)?;
    let base = "/api/v1/lockbox/requests";
    match cmd {
        LockboxCmd::Request { target, reason_code, reason, duration } => {
            let body =
                json!({ "target": target, "reason_code": reason_code, "reason": reason, "duration_secs": duration });
            output::object(g.json, &client.post(base, &body).await?);
        }
        LockboxCmd::List { status } => {
            let list = client.get(&format!("{base}?status={status}")).await?;
            output::list(
                g.json,
                &items(list),
                &["id", "requester", "target", "tenant_id", "reason_code", "status", "valid_until"],
            );
        }
        LockboxCmd::Show { id } => output::object(g.json, &client.get(&format!("{base}/{id}")).await?),
        LockboxCmd::Approve { id, comment } => {
            output::object(g.json, &client.post(&format!("{base}/{id}/approve"), &json!({ "comment": comment })).await?)
        }
        LockboxCmd::Deny { id, comment } => {
            output::object(g.json, &client.post(&format!("{base}/{id}/deny"), &json!({ "comment": comment })).await?)
        }
        LockboxCmd::Revoke { id } => {
            output::object(g.json, &client.post(&format!("{base}/{id}/revoke"), &json!({})).await?)
        }
        LockboxCmd::MarkLabel { label, tenant } => {
            let path = format!("/api/v1/lockbox/labels/{}", label.replace('/', "%2F"));
            client.send(reqwest::Method::PUT, &path, Some(&json!({ "tenant_id": tenant }))).await?;
            eprintln!("marked {label}");
        }
        LockboxCmd::UnmarkLabel { label } => {
            client.delete(&format!("/api/v1/lockbox/labels/{}", label.replace('/', "%2F"))).await?;
            eprintln!("unmarked {label}");
        }
        LockboxCmd::Labels => {
            let list = client.get("/api/v1/lockbox/labels").await?;
            output::list(g.json, &items(list), &["label", "tenant_id"]);
        }
        LockboxCmd::Accesses { tenant } => {
            let path = match tenant {
                Some(t) => format!("/api/v1/lockbox/accesses?tenant={t}"),
                None => "/api/v1/lockbox/accesses".to_owned(),
            };
            let list = client.get(&path).await?;
            output::list(
                g.json,
                &items(list),
                &["started_at", "username", "target", "reason_code", "reason", "session_id", "recording_sha256"],
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::duration_secs;

    #[test]
    fn durations_take_units() {
        assert_eq!(duration_secs("90"), Ok(90));
        assert_eq!(duration_secs("90s"), Ok(90));
        assert_eq!(duration_secs("30m"), Ok(1800));
        assert_eq!(duration_secs("8h"), Ok(28_800));
        assert!(duration_secs("1d").is_err());
        assert!(duration_secs("h").is_err());
        assert!(duration_secs("-5m").is_err());
        assert!(duration_secs("99999999999999999999h").is_err());
    }
}
