//! `rampart ssh-key`, `rampart target`, `rampart grant`, `rampart review`
//! and `rampart session`: the SSH bastion's API from the command line.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::Global;
use crate::client::ApiClient;
use crate::output;

#[derive(Debug, Subcommand)]
pub enum SshKeyCmd {
    /// Register an SSH public key for logging in to the bastion
    /// (`ssh -p 2222 USER:TARGET@host`).
    Add {
        /// The public key file (e.g. ~/.ssh/id_ed25519.pub), or - for stdin.
        file: PathBuf,
    },
    /// List your SSH public keys.
    List,
    /// Remove one of your SSH public keys.
    Remove { id: String },
}

#[derive(Debug, Subcommand)]
pub enum TargetCmd {
    /// Register a target; its credential is sealed by the KMS and never shown again.
    Create {
        name: String,
        #[arg(long)]
        address: String,
        #[arg(long, default_value_t = 22)]
        port: u16,
        /// The target's host key line (`ssh-ed25519 AAAA…`), pinned.
        #[arg(long, conflicts_with = "host_key_file")]
        host_key: Option<String>,
        /// A file holding the host key line (e.g. /etc/ssh/ssh_host_ed25519_key.pub).
        #[arg(long)]
        host_key_file: Option<PathBuf>,
        /// The account Rampart logs in as.
        #[arg(long)]
        login: String,
        /// An unencrypted OpenSSH private key (Ed25519 or ECDSA) for the login.
        #[arg(long, conflicts_with = "password_stdin")]
        private_key_file: Option<PathBuf>,
        /// Read the login's password from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// A label, `key=value` or a plain name (repeatable); grants on a
        /// label cover every target carrying it.
        #[arg(long = "label")]
        labels: Vec<String>,
        /// Mark the target as holding this tenant's data (a tenant id):
        /// access then also needs that tenant's lockbox approval.
        #[arg(long)]
        lockbox_tenant: Option<String>,
    },
    /// List targets (never their credentials).
    List,
    /// Change a target's labels or lockbox tenant.
    Update {
        name: String,
        /// The target's labels, replacing the present ones (repeatable).
        #[arg(long = "label", conflicts_with = "clear_labels")]
        labels: Vec<String>,
        /// Remove every label.
        #[arg(long)]
        clear_labels: bool,
        /// Mark the target as holding this tenant's data (a tenant id).
        #[arg(long, conflicts_with = "no_lockbox")]
        lockbox_tenant: Option<String>,
        /// Unmark it: no lockbox approval needed any more.
        #[arg(long)]
        no_lockbox: bool,
    },
    /// Delete a target and its grants.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum GrantCmd {
    /// Let a user reach a target for some actions, for a while.
    Create {
        /// The one user; or give --group.
        #[arg(long, required_unless_present = "group", conflicts_with = "group")]
        user: Option<String>,
        /// A group: the grant reaches its members as they are at each check.
        #[arg(long)]
        group: Option<String>,
        /// The one target; or give --label.
        #[arg(long, required_unless_present = "label", conflicts_with = "label")]
        target: Option<String>,
        /// Every target carrying this label (`key=value` or a name), now and later.
        #[arg(long)]
        label: Option<String>,
        /// Comma-separated: shell, exec, sftp-read, sftp-write, port-forward.
        #[arg(long, value_delimiter = ',', required = true)]
        actions: Vec<String>,
        /// How long the grant holds, in hours.
        #[arg(long, default_value_t = 8)]
        hours: u64,
        /// The login on the target (the target's own by default).
        #[arg(long)]
        login: Option<String>,
    },
    /// List grants.
    List,
    /// Revoke a grant.
    Revoke { id: String },
}

fn read_input(path: &PathBuf) -> Result<Zeroizing<String>> {
    let mut text = Zeroizing::new(String::new());
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text).context("reading standard input")?;
    } else {
        let mut file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        file.read_to_string(&mut text).with_context(|| format!("reading {}", path.display()))?;
    }
    Ok(text)
}

fn items(list: Value) -> Value {
    json!({ "items": list })
}

pub async fn ssh_key(g: &Global, cmd: SshKeyCmd) -> Result<()> {
    let client = ApiClient::new(g)?;
    match cmd {
        SshKeyCmd::Add { file } => {
            let line = read_input(&file)?;
            let added = client.post("/api/v1/ssh-keys", &json!({ "public_key": line.trim() })).await?;
            output::object(g.json, &added);
        }
        SshKeyCmd::List => {
            let list = client.get("/api/v1/ssh-keys").await?;
            output::list(g.json, &items(list), &["id", "fingerprint", "comment", "created_at"]);
        }
        SshKeyCmd::Remove { id } => {
            client.delete(&format!("/api/v1/ssh-keys/{id}")).await?;
            eprintln!("removed {id}");
        }
    }
    Ok(())
}

pub async fn target(g: &Global, cmd: TargetCmd) -> Result<()> {
    let client = ApiClient::new(g)?;
    match cmd {
        TargetCmd::Create {
            name,
            address,
            port,
            host_key,
            host_key_file,
            login,
            private_key_file,
            password_stdin,
            labels,
            lockbox_tenant,
        } => {
            let host_key = match (host_key, host_key_file) {
                (Some(k), _) => k,
                (None, Some(f)) => read_input(&f)?.trim().to_owned(),
                (None, None) => bail!("give the target's host key with --host-key or --host-key-file"),
            };
            let mut body = json!({ "name": name, "address": address, "port": port, "host_key": host_key,
                "login": login, "labels": labels, "lockbox_tenant": lockbox_tenant });
            // The credential travels once, to the server, which seals it.
            let secret = match (private_key_file, password_stdin) {
                (Some(f), false) => ("private_key", read_input(&f)?),
                (None, true) => {
                    let text = read_input(&PathBuf::from("-"))?;
                    ("password", Zeroizing::new(text.trim_end_matches(['\r', '\n']).to_owned()))
                }
                _ => bail!("give the login's credential with --private-key-file or --password-stdin"),
            };
            body[secret.0] = json!(secret.1.as_str());
            let created = client.post("/api/v1/bastion/targets", &body).await;
            if let Some(map) = body.as_object_mut() {
                map.remove(secret.0);
            }
            output::object(g.json, &created?);
        }
        TargetCmd::List => {
            let list = client.get("/api/v1/bastion/targets").await?;
            output::list(
                g.json,
                &items(list),
                &["name", "address", "port", "login", "labels", "lockbox_tenant", "host_key_fingerprint"],
            );
        }
        TargetCmd::Update { name, labels, clear_labels, lockbox_tenant, no_lockbox } => {
            let mut body = json!({});
            if clear_labels || !labels.is_empty() {
                body["labels"] = json!(labels);
            }
            if no_lockbox {
                body["lockbox_tenant"] = json!("");
            } else if let Some(t) = lockbox_tenant {
                body["lockbox_tenant"] = json!(t);
            }
            let path = format!("/api/v1/bastion/targets/{name}");
            let updated = client.send(reqwest::Method::PATCH, &path, Some(&body)).await?;
            output::object(g.json, &updated);
        }
        TargetCmd::Delete { name } => {
            client.delete(&format!("/api/v1/bastion/targets/{name}")).await?;
            eprintln!("deleted {name}");
        }
    }
    Ok(())
}

pub async fn grant(g: &Global, cmd: GrantCmd) -> Result<()> {
    let client = ApiClient::new(g)?;
    match cmd {
        GrantCmd::Create { user, group, target, label, actions, hours, login } => {
            let body = json!({
                "username": user,
                "group": group,
                "target": target,
                "label": label,
                "login": login,
                "actions": actions,
                "valid_for_secs": hours.saturating_mul(3600),
            });
            let created = client.post("/api/v1/bastion/grants", &body).await?;
            output::object(g.json, &created);
        }
        GrantCmd::List => {
            let list = client.get("/api/v1/bastion/grants").await?;
            output::list(
                g.json,
                &items(list),
                &["id", "user_id", "group_id", "target_id", "label", "login", "actions", "valid_until"],
            );
        }
        GrantCmd::Revoke { id } => {
            client.delete(&format!("/api/v1/bastion/grants/{id}")).await?;
            eprintln!("revoked {id}");
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum ReviewCmd {
    /// Commands held by a `review` red line (pending ones by default).
    List {
        /// pending, approved, denied, expired or all.
        #[arg(long, default_value = "pending")]
        status: String,
    },
    /// Let a held command run (not one you typed yourself).
    Approve {
        id: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Refuse a held command.
    Deny {
        id: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
}

pub async fn review(g: &Global, cmd: ReviewCmd) -> Result<()> {
    let client = ApiClient::new(g)?;
    match cmd {
        ReviewCmd::List { status } => {
            let list = client.get(&format!("/api/v1/bastion/reviews?status={status}")).await?;
            output::list(
                g.json,
                &items(list),
                &["id", "requester", "target", "command", "policy", "status", "expires_at"],
            );
        }
        ReviewCmd::Approve { id, comment } => {
            let decided =
                client.post(&format!("/api/v1/bastion/reviews/{id}/approve"), &json!({ "comment": comment })).await?;
            output::object(g.json, &decided);
        }
        ReviewCmd::Deny { id, comment } => {
            let decided =
                client.post(&format!("/api/v1/bastion/reviews/{id}/deny"), &json!({ "comment": comment })).await?;
            output::object(g.json, &decided);
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum SessionCmd {
    /// Bastion sessions, newest first.
    List {
        /// Only those still running.
        #[arg(long)]
        live: bool,
    },
    /// One session: who, where, when, how it ended, its recording's hash.
    Show { id: String },
    /// Replay a session's recording in this terminal, with its timing.
    Play {
        id: String,
        /// Play this many times faster.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Shorten every pause to at most this many seconds.
        #[arg(long, default_value_t = 2.0)]
        idle_limit: f64,
        /// Write the recording (asciicast v2) to this file instead of playing it.
        #[arg(long)]
        save: Option<PathBuf>,
    },
    /// Watch a session live (reviewers and administrators): what it
    /// recorded so far, then its output as it happens, until it ends.
    Watch { id: String },
    /// Cut a running session (administrators); it ends within seconds.
    Terminate { id: String },
}

pub async fn session(g: &Global, cmd: SessionCmd) -> Result<()> {
    let client = ApiClient::new(g)?;
    match cmd {
        SessionCmd::List { live } => {
            let list = client.get(&format!("/api/v1/bastion/sessions?live={live}")).await?;
            output::list(
                g.json,
                &items(list),
                &["id", "username", "target", "action", "started_at", "outcome", "reason"],
            );
        }
        SessionCmd::Show { id } => {
            output::object(g.json, &client.get(&format!("/api/v1/bastion/sessions/{id}")).await?)
        }
        SessionCmd::Terminate { id } => {
            let s = client.post(&format!("/api/v1/bastion/sessions/{id}/terminate"), &json!({})).await?;
            output::object(g.json, &s);
        }
        SessionCmd::Play { id, speed, idle_limit, save } => {
            if !(speed.is_finite() && speed > 0.0 && idle_limit.is_finite() && idle_limit >= 0.0) {
                bail!("--speed must be above 0 and --idle-limit at least 0");
            }
            let cast = client.get_bytes(&format!("/api/v1/bastion/sessions/{id}/recording")).await?;
            if let Some(path) = save {
                std::fs::write(&path, &cast).with_context(|| format!("writing {}", path.display()))?;
                eprintln!("wrote {} ({} bytes)", path.display(), cast.len());
                return Ok(());
            }
            play(&cast, speed, idle_limit)?;
        }
        SessionCmd::Watch { id } => watch(&client, &id).await?,
    }
    Ok(())
}

/// The live view's chunks as a `Read`, for the asciicast reader on its
/// own thread.
struct Chunks {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    at: usize,
}

impl std::io::Read for Chunks {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.buf.len() {
            match self.rx.recv() {
                Ok(chunk) => (self.buf, self.at) = (chunk, 0),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Shows a session's output as the server streams it: everything so far at
/// once, then each event as it is recorded, until the session ends.
async fn watch(client: &ApiClient, id: &str) -> Result<()> {
    use rampart_bastion::recording::{EventKind, reader};
    use std::io::Write;
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let shown = tokio::task::spawn_blocking(move || -> Result<usize> {
        let input = std::io::BufReader::new(Chunks { rx, buf: Vec::new(), at: 0 });
        let mut events = reader::CastReader::new(input, reader::Limits::default()).context("reading the live view")?;
        let mut out = std::io::stdout().lock();
        while let Some(event) = events.next_event().context("reading the live view")? {
            match event.kind {
                EventKind::Output => {
                    out.write_all(event.data.as_bytes())?;
                    out.flush()?;
                }
                EventKind::Marker => eprintln!("\n[marker] {}", event.data),
                _ => {}
            }
        }
        Ok(events.skipped())
    });
    let mut reader_stopped = false;
    let followed = client
        .follow(&format!("/api/v1/bastion/sessions/{id}/live"), |chunk| {
            let sent = tx.send(chunk.to_vec());
            reader_stopped = sent.is_err();
            sent.map_err(|_| anyhow::anyhow!("the live view's reader stopped"))
        })
        .await;
    drop(tx);
    let shown = shown.await.context("the live view's reader")?;
    // The server's refusal explains more than the empty stream it leaves;
    // a reader that gave up explains more than the send that failed.
    let skipped = match followed {
        Err(e) if !reader_stopped => return Err(e),
        _ => shown?,
    };
    if skipped > 0 {
        eprintln!("({skipped} malformed event lines were skipped)");
    }
    eprintln!("\n(session {id} ended)");
    Ok(())
}

/// Writes a recording's output events to standard output at their pace
/// (divided by `speed`, pauses capped at `idle_limit` seconds). Input and
/// resize events are not replayed; markers are shown on standard error.
fn play(cast: &[u8], speed: f64, idle_limit: f64) -> Result<()> {
    use rampart_bastion::recording::{EventKind, reader};
    use std::io::Write;
    let mut events = reader::CastReader::new(cast, reader::Limits::default()).context("reading the recording")?;
    let mut out = std::io::stdout().lock();
    let mut last = std::time::Duration::ZERO;
    while let Some(event) = events.next_event().context("reading the recording")? {
        let gap = event.time.saturating_sub(last).as_secs_f64().min(idle_limit) / speed;
        last = event.time;
        if gap > 0.0 {
            out.flush()?;
            std::thread::sleep(std::time::Duration::from_secs_f64(gap));
        }
        match event.kind {
            EventKind::Output => out.write_all(event.data.as_bytes())?,
            EventKind::Marker => eprintln!("\n[marker] {}", event.data),
            _ => {}
        }
    }
    out.flush()?;
    if events.skipped() > 0 {
        eprintln!("({} malformed event lines were skipped)", events.skipped());
    }
    Ok(())
}
