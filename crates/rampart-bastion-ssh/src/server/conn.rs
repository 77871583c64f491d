//! The connection's own steps, apart from the protocol callbacks: who a
//! key belongs to (registered, or certified by the bastion's CA), the
//! second factor a proved key leads to, completing a login (recorded before it is accepted),
//! the shared lockout, ledger events, and opening the target for a session
//! (target, grant, pinned host key, sealed credential, in that order).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rampart_auth::SshSecondFactor;
use rampart_core::{Event, Id, Outcome};
use rampart_store::UserRow;
use russh::MethodKind;
use russh::server::Auth;

use super::{Connection, Stage, parse_login};
use crate::grants::Access;
use crate::targets::parse_host_key;
use crate::{Bastion, upstream};

impl Connection {
    pub(super) fn new(bastion: Bastion, peer: SocketAddr) -> Self {
        Connection {
            bastion,
            peer,
            id: Id::new("ssh"),
            stage: Stage::Key,
            ssh_user: String::new(),
            user: None,
            target_name: String::new(),
            key_fingerprint: String::new(),
            cert: None,
            target: None,
            upstream: None,
            channels: HashMap::new(),
            pickers: HashMap::new(),
        }
    }

    pub(super) fn source(&self) -> Option<String> {
        Some(self.peer.ip().to_string())
    }

    pub(super) fn username(&self) -> &str {
        self.user.as_ref().map_or("anonymous", |u| u.username.as_str())
    }

    /// An event about this connection, with who, where from and which target.
    pub(super) fn event(&self, kind: &str, outcome: Outcome) -> Event {
        Event::new(kind, outcome, self.username())
            .object(self.target_name.as_str())
            .tenant(self.user.as_ref().and_then(|u| u.tenant_id.clone()))
            .source(self.source())
            .attr("connection", self.id.as_str())
            .attr("target", self.target_name.as_str())
    }

    /// Records a refusal; a refusal that cannot be recorded is still a refusal.
    pub(super) async fn refused(&self, reason: &str, event: Event) {
        let event = event.attr("reason", reason);
        if let Err(e) = self.bastion.audit().record(event).await {
            tracing::error!(error = %e, reason, "recording a bastion refusal failed");
        }
    }

    pub(super) async fn key_owner(&self, ssh_user: &str, key: &russh::keys::PublicKey) -> Option<UserRow> {
        let (username, _) = parse_login(ssh_user)?;
        let blob = key.to_bytes().ok()?;
        let fingerprint = rampart_auth::ssh::fingerprint(&blob);
        match self.bastion.inner.auth.ssh_key_owner(username, &fingerprint).await {
            Ok(owner) => owner,
            Err(e) => {
                tracing::error!(error = %e, "looking up an SSH key failed");
                None
            }
        }
    }

    /// The active user called as the login says, if there is one.
    pub(super) async fn active_user(&self, username: &str) -> Option<UserRow> {
        match self.bastion.store().find_user_by_name(username).await {
            Ok(user) => user.filter(|u| u.disabled_at.is_none()),
            Err(e) => {
                tracing::error!(error = %e, "looking up a user failed");
                None
            }
        }
    }

    /// The user the login names, if the CA certified this key for them
    /// (a live, unrevoked certificate).
    pub(super) async fn cert_holder(&self, ssh_user: &str, key: &russh::keys::PublicKey) -> Option<UserRow> {
        let (username, _) = parse_login(ssh_user)?;
        let user = self.active_user(username).await?;
        let fingerprint = key.fingerprint(Default::default()).to_string();
        self.bastion.has_live_cert(&user, &fingerprint).await.then_some(user)
    }

    /// What follows a proved key or certificate of `owner`: the shared
    /// lockout, then the second factor the user needs (or none).
    pub(super) async fn proved(&mut self, ssh_user: &str, owner: UserRow) -> Auth {
        if self.locked(&owner.username).await {
            let event = Event::new("bastion.login.refused", Outcome::Denied, owner.username.as_str())
                .source(self.source())
                .attr("connection", self.id.as_str());
            self.refused("locked_out", self.with_credential(event)).await;
            return super::rejected().await;
        }
        let factor = self.bastion.inner.auth.ssh_second_factor(&owner);
        self.ssh_user = ssh_user.to_owned();
        self.user = Some(owner);
        match factor {
            SshSecondFactor::NotRequired => self.logged_in("none").await,
            SshSecondFactor::Totp => {
                self.stage = Stage::Totp;
                Auth::Reject {
                    proceed_with_methods: super::methods(&[MethodKind::KeyboardInteractive]),
                    partial_success: true,
                }
            }
            SshSecondFactor::NotEnrolled => {
                let event = self.with_credential(self.event("bastion.login.refused", Outcome::Denied));
                self.refused("totp_not_enrolled", event).await;
                self.user = None;
                super::rejected().await
            }
        }
    }

    /// `event` with how the login proved its key: the key's fingerprint,
    /// and a certificate's serial and key id when it was one.
    pub(super) fn with_credential(&self, event: Event) -> Event {
        let event = event.attr("key_fingerprint", self.key_fingerprint.as_str());
        match &self.cert {
            Some(cert) => event
                .attr("auth_method", "certificate")
                .attr("certificate_serial", cert.serial.to_string())
                .attr("certificate_key_id", cert.key_id.as_str()),
            None => event.attr("auth_method", "public_key"),
        }
    }

    /// Completes the login: recorded before the user can do anything.
    pub(super) async fn logged_in(&mut self, second_factor: &str) -> Auth {
        self.stage = Stage::Done;
        let event = self
            .with_credential(self.event("bastion.login.succeeded", Outcome::Success))
            .attr("second_factor", second_factor);
        match self.bastion.audit().record(event).await {
            Ok(_) => Auth::Accept,
            Err(e) => {
                tracing::error!(error = %e, "recording a bastion login failed; refusing it");
                self.stage = Stage::Key;
                Auth::reject()
            }
        }
    }

    pub(super) async fn locked(&self, username: &str) -> bool {
        match self.bastion.inner.auth.ssh_locked(username, Some(self.peer.ip())).await {
            Ok(None) => false,
            Ok(Some(_)) => true,
            Err(e) => {
                tracing::error!(error = %e, "reading the login throttle failed");
                true
            }
        }
    }

    /// The target for a new session, checked and connected, or why not.
    pub(super) async fn open_target(&mut self) -> Result<Arc<upstream::Connection>, (String, &'static str)> {
        let Some(user) = self.user.clone() else { return Err(("not logged in".into(), "not_authenticated")) };
        if self.target_name.is_empty() {
            return Err(("name the target: ssh -p 2222 USER:TARGET@host".into(), "no_target_named"));
        }
        let target = match self.bastion.store().find_target(&self.target_name).await {
            Ok(Some(t)) => t,
            Ok(None) => return Err((format!("no target named {}", self.target_name), "unknown_target")),
            Err(e) => {
                tracing::error!(error = %e, "reading a target failed");
                return Err(("internal error".into(), "internal_error"));
            }
        };
        match self.bastion.access(&user, &target, None).await {
            Ok(Access::Granted { .. }) => {}
            Ok(Access::NoGrant) => {
                return Err((format!("{} has no grant on {}", user.username, target.name), "no_grant"));
            }
            Ok(Access::NoLockbox) => {
                return Err((
                    format!(
                        "{} holds a customer's data: {} needs the customer's lockbox approval \
                         (rampart lockbox request {})",
                        target.name, user.username, target.name
                    ),
                    "lockbox_not_approved",
                ));
            }
            Err(e) => {
                tracing::error!(error = %e, "reading grants failed");
                return Err(("internal error".into(), "internal_error"));
            }
        }
        if let Some(up) = &self.upstream
            && !up.is_closed()
        {
            return Ok(up.clone());
        }
        let pinned = parse_host_key(&target.host_key)
            .map_err(|_| ("the target's pinned host key is invalid".to_owned(), "bad_host_key"))?;
        let credential = self.bastion.open_credential(&target).await.map_err(|e| {
            tracing::error!(error = %e, target = %target.name, "opening a target credential failed");
            ("the target's credential cannot be opened".to_owned(), "credential_unavailable")
        })?;
        let timeout = Duration::from_secs(self.bastion.config().connect_timeout_secs);
        let up = upstream::connect(&target.address, target.port, pinned, &target.login, &credential, timeout)
            .await
            .map_err(|e| match e {
                upstream::UpstreamError::HostKeyMismatch => (
                    format!("the host key of {} does not match the pinned key; refusing", target.name),
                    "host_key_mismatch",
                ),
                upstream::UpstreamError::AuthRefused => {
                    (format!("{} refused Rampart's credential", target.name), "target_auth_refused")
                }
                other => (format!("{} is unreachable: {other}", target.name), "target_unreachable"),
            })?;
        let up = Arc::new(up);
        self.upstream = Some(up.clone());
        self.target = Some(target);
        Ok(up)
    }
}
