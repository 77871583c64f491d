//! `rampart user|tenant|token|access-key …`: thin wrappers over the API.

use std::io::Read;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::client::ApiClient;
use crate::{Global, output};

#[derive(Debug, clap::Subcommand)]
pub enum UserCmd {
    /// Create a user. The password is generated (and shown once) unless given on stdin.
    Create {
        username: String,
        /// admin, security_operator, operations_engineer, auditor, customer_admin, customer_user
        #[arg(long)]
        role: String,
        /// Tenant id, for customer roles.
        #[arg(long)]
        tenant: Option<String>,
        /// Read the initial password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users you can see.
    List {
        #[arg(long)]
        after: Option<String>,
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Disable a user (by id or user name) and revoke their tokens and keys.
    Disable { user: String },
    /// Remove a user's second factor; they enrol again at next login.
    ResetTotp { user: String },
}

#[derive(Debug, clap::Subcommand)]
pub enum TenantCmd {
    /// Create a tenant.
    Create { name: String },
    /// List tenants you can see.
    List {
        #[arg(long)]
        after: Option<String>,
        #[arg(long)]
        limit: Option<usize>,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum TokenCmd {
    /// Create an API token (shown once).
    Create {
        name: String,
        /// Permission to grant (repeat); defaults to all of yours.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// List your API tokens.
    List,
    /// Revoke one of your API tokens.
    Revoke { id: String },
}

#[derive(Debug, clap::Subcommand)]
pub enum AccessKeyCmd {
    /// Create an access key pair (the secret is shown once).
    Create {
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List your access keys.
    List,
    /// Revoke one of your access keys.
    Revoke { id: String },
}

fn page_query(after: Option<&str>, limit: Option<usize>) -> String {
    let mut q = Vec::new();
    if let Some(a) = after {
        q.push(format!("after={a}"));
    }
    if let Some(l) = limit {
        q.push(format!("limit={l}"));
    }
    if q.is_empty() { String::new() } else { format!("?{}", q.join("&")) }
}

/// Accepts a user id or a user name; names are looked up page by page.
async fn resolve_user(client: &ApiClient, user: &str) -> Result<String> {
    if user.starts_with("usr_") {
        return Ok(user.to_owned());
    }
    let mut after: Option<String> = None;
    loop {
        let page = client.get(&format!("/api/v1/users{}", page_query(after.as_deref(), Some(500)))).await?;
        if let Some(found) = page["items"].as_array().into_iter().flatten().find(|u| u["username"] == json!(user)) {
            return found["id"].as_str().map(str::to_owned).context("user without id");
        }
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => bail!(crate::client::ApiFailure {
                status: reqwest::StatusCode::NOT_FOUND,
                problem: json!({"title": "Not found", "detail": format!("no user named {user}")}),
            }),
        }
    }
}

pub async fn user(g: &Global, cmd: UserCmd) -> Result<()> {
    let client = ApiClient::new(g)?;
    match cmd {
        UserCmd::Create { username, role, tenant, password_stdin } => {
            let mut body = json!({ "username": username, "role": role, "tenant_id": tenant });
            if password_stdin {
                let mut pw = zeroize::Zeroizing::new(String::new());
                std::io::stdin().read_to_string(&mut pw).context("reading the password")?;
                body["password"] = json!(pw.trim_end_matches(['\r', '\n']));
            }
            let created = client.post("/api/v1/users", &body).await?;
            output::object(g.json, &created["user"]);
            if let Some(pw) = created["initial_password"].as_str() {
                if g.json {
                    println!("{}", json!({ "initial_password": pw }));
                } else {
                    println!("initial password (shown once): {pw}");
                }
            }
        }
        UserCmd::List { after, limit } => {
            let page = client.get(&format!("/api/v1/users{}", page_query(after.as_deref(), limit))).await?;
            output::list(g.json, &page, &["id", "username", "role", "tenant_id", "totp_enrolled", "disabled"]);
        }
        UserCmd::Disable { user } => {
            let id = resolve_user(&client, &user).await?;
            client.post(&format!("/api/v1/users/{id}/disable"), &json!({})).await?;
            eprintln!("disabled {user}");
        }
        UserCmd::ResetTotp { user } => {
            let id = resolve_user(&client, &user).await?;
            client.post(&format!("/api/v1/users/{id}/reset-totp"), &json!({})).await?;
            eprintln!("second factor of {user} removed; they enrol a new one at next login");
        }
    }
    Ok(())
}

pub async fn tenant(g: &Global, cmd: TenantCmd) -> Result<()> {
    let client = ApiClient::new(g)?;
    match cmd {
        TenantCmd::Create { name } => {
            output::object(g.json, &client.post("/api/v1/tenants", &json!({ "name": name })).await?)
        }
        TenantCmd::List { after, limit } => {
            let page = client.get(&format!("/api/v1/tenants{}", page_query(after.as_deref(), limit))).await?;
            output::list(g.json, &page, &["id", "name", "created_at"]);
        }
    }
    Ok(())
}

pub async fn token(g: &Global, cmd: TokenCmd) -> Result<()> {
    let client = ApiClient::new(g)?;
    match cmd {
        TokenCmd::Create { name, scopes, expires_in_days } => {
            let mut body = json!({ "name": name, "expires_in_days": expires_in_days });
            if !scopes.is_empty() {
                body["scopes"] = json!(scopes);
            }
            let created: Value = client.post("/api/v1/tokens", &body).await?;
            if g.json {
                output::object(true, &created);
            } else {
                output::object(false, &created["info"]);
                println!("token (shown once): {}", created["token"].as_str().unwrap_or_default());
            }
        }
        TokenCmd::List => {
            let page = client.get("/api/v1/tokens").await?;
            output::list(g.json, &page, &["id", "name", "scopes", "expires_at", "revoked_at", "last_used_at"]);
        }
        TokenCmd::Revoke { id } => {
            client.delete(&format!("/api/v1/tokens/{id}")).await?;
            eprintln!("revoked {id}");
        }
    }
    Ok(())
}

pub async fn access_key(g: &Global, cmd: AccessKeyCmd) -> Result<()> {
    let client = ApiClient::new(g)?;
    match cmd {
        AccessKeyCmd::Create { description } => {
            let created = client.post("/api/v1/access-keys", &json!({ "description": description })).await?;
            if g.json {
                output::object(true, &created);
            } else {
                println!("access key id:     {}", created["access_key_id"].as_str().unwrap_or_default());
                println!(
                    "secret access key: {} (shown once)",
                    created["secret_access_key"].as_str().unwrap_or_default()
                );
            }
        }
        AccessKeyCmd::List => {
            let page = client.get("/api/v1/access-keys").await?;
            output::list(g.json, &page, &["access_key_id", "description", "created_at", "revoked_at", "last_used_at"]);
        }
        AccessKeyCmd::Revoke { id } => {
            client.delete(&format!("/api/v1/access-keys/{id}")).await?;
            eprintln!("revoked {id}");
        }
    }
    Ok(())
}
