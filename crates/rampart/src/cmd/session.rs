//! `rampart login`, `logout` and `whoami`.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::client::{ApiClient, store_token};
use crate::{Global, output};

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// User name (asked for when absent).
    #[arg(long)]
    pub username: Option<String>,
    /// Read the password, then the TOTP code, as lines from standard input
    /// instead of prompting (for scripts).
    #[arg(long)]
    pub password_stdin: bool,
}

/// Reads answers from standard input lines or from the terminal.
struct Prompter {
    stdin: bool,
    lines: std::io::StdinLock<'static>,
}

impl Prompter {
    fn line(&mut self, prompt: &str) -> Result<Zeroizing<String>> {
        if !self.stdin {
            eprint!("{prompt}");
        }
        let mut s = Zeroizing::new(String::new());
        self.lines.read_line(&mut s).context("reading standard input")?;
        let trimmed = Zeroizing::new(s.trim_end_matches(['\r', '\n']).to_owned());
        Ok(trimmed)
    }

    fn secret(&mut self, prompt: &str) -> Result<Zeroizing<String>> {
        if self.stdin || !std::io::stdin().is_terminal() {
            return self.line(prompt);
        }
        Ok(Zeroizing::new(rpassword::prompt_password(prompt).context("reading the password")?))
    }
}

pub async fn login(g: &Global, args: LoginArgs) -> Result<()> {
    let client = ApiClient::new(g)?;
    let mut p = Prompter { stdin: args.password_stdin, lines: std::io::stdin().lock() };
    let username = match args.username {
        Some(u) => u,
        None => p.line("Username: ")?.to_string(),
    };
    let password = p.secret("Password: ")?;
    let code = p.secret("TOTP code (empty if none): ")?;
    let mut body = json!({ "username": username, "password": password.as_str() });
    if !code.is_empty() {
        body["totp_code"] = json!(code.as_str());
    }
    let resp = client.post("/api/v1/auth/login", &body).await?;
    let token = resp["token"].as_str().context("the server sent no token")?.to_owned();

    if resp["enrollment_required"] == json!(true) {
        let enrolling = client.with_token(token);
        let e = enrolling.post("/api/v1/auth/totp/enroll", &json!({})).await?;
        eprintln!("Your role needs a second factor. Add this to your authenticator app:");
        eprintln!("  {}", e["otpauth_uri"].as_str().unwrap_or_default());
        eprintln!("  (secret: {})", e["secret"].as_str().unwrap_or_default());
        let first = p.secret("Code shown by the authenticator: ")?;
        enrolling.post("/api/v1/auth/totp/confirm", &json!({ "code": first.as_str() })).await?;
        eprintln!("Second factor enrolled. Log in again with the next code: `rampart login`.");
        return Ok(());
    }

    store_token(&client.base, Some(json!({ "token": token, "username": username, "expires_at": resp["expires_at"] })))?;
    eprintln!("Logged in to {} as {username} until {}.", client.base, resp["expires_at"].as_str().unwrap_or("?"));
    Ok(())
}

pub async fn logout(g: &Global) -> Result<()> {
    let client = ApiClient::new(g)?;
    if !client.has_token() {
        bail!("not logged in to {}", client.base);
    }
    // Forget the token locally even if the server has already expired it.
    let result = client.post("/api/v1/auth/logout", &json!({})).await;
    store_token(&client.base, None)?;
    result.map(|_| ())
}

pub async fn whoami(g: &Global) -> Result<()> {
    let me: Value = ApiClient::new(g)?.get("/api/v1/auth/whoami").await?;
    output::object(g.json, &me);
    Ok(())
}
