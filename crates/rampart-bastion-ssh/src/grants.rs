//! Grants: which user (or every member of a group, as it is at each
//! check) may reach which target (or every target carrying a label, now
//! and later), as which login, for which actions (`shell`,
//! `exec`, `sftp-read`, `sftp-write`, `port-forward`), within which window.
//! Deny by default: without a grant that covers the user, the target, the
//! login, the action and the present moment — and, on a lockbox target, a
//! lockbox approval whose window holds the present moment — the bastion
//! refuses, and says so in the ledger. Agent and X11 forwarding have no
//! grant: they are always refused. Grants are made by an administrator, or by approving a just-in-time
//! request (`requests`).

use rampart_core::time::{now_ms, rfc3339};
use rampart_core::{Event, Id, Outcome, Principal};
use rampart_store::{GrantRow, TargetRow, UserRow};
use serde::{Deserialize, Serialize};

use crate::targets::{valid_label, valid_login};
use crate::{Bastion, BastionError};

/// The longest a grant may last: 90 days.
const MAX_VALIDITY_MS: i64 = 90 * 24 * 3600 * 1000;

/// What a grant allows on a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// An interactive shell (with or without a terminal).
    Shell,
    /// Running a command (`ssh host COMMAND`).
    Exec,
    /// SFTP (which `sftp` and modern `scp` use): listing and downloading.
    SftpRead,
    /// SFTP: uploading, removing, renaming, creating directories, changing
    /// attributes.
    SftpWrite,
    /// Forwarding a local port through the target (`ssh -L`), audited per
    /// connection.
    PortForward,
}

impl Action {
    pub const ALL: [Action; 5] =
        [Action::Shell, Action::Exec, Action::SftpRead, Action::SftpWrite, Action::PortForward];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Shell => "shell",
            Action::Exec => "exec",
            Action::SftpRead => "sftp-read",
            Action::SftpWrite => "sftp-write",
            Action::PortForward => "port-forward",
        }
    }

    pub fn parse(text: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

/// A grant to create.
#[derive(Debug, Clone)]
pub struct NewGrant {
    /// The one user; or give `group`.
    pub username: Option<String>,
    /// A group: the grant reaches its members as they are at each check.
    pub group: Option<String>,
    /// The one target, or `None` for a grant on `label`.
    pub target: Option<String>,
    /// A label (`key=value` or a name): every target carrying it.
    pub label: Option<String>,
    /// The login on the target; the target's login when `None` (on a label:
    /// each target's own).
    pub login: Option<String>,
    pub actions: Vec<Action>,
    /// Start of validity, Unix ms; now when `None`.
    pub not_before: Option<i64>,
    /// How long from `not_before` the grant holds, in seconds.
    pub valid_for_secs: u64,
}

/// A grant as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GrantInfo {
    pub id: String,
    /// The user of a grant to one user.
    pub user_id: Option<String>,
    /// The group of a grant to a group.
    pub group_id: Option<String>,
    /// The target of a grant on one target.
    pub target_id: Option<String>,
    /// The label of a grant on a label.
    pub label: Option<String>,
    /// `*` on a label grant: each target's own login.
    pub login: String,
    pub actions: Vec<Action>,
    pub valid_from: String,
    pub valid_until: String,
    pub created_by: String,
    pub created_at: String,
    /// The just-in-time request the grant was made from.
    pub request_id: Option<String>,
}

impl From<&GrantRow> for GrantInfo {
    fn from(g: &GrantRow) -> Self {
        GrantInfo {
            id: g.id.to_string(),
            user_id: g.user_id.as_ref().map(Id::to_string),
            group_id: g.group_id.as_ref().map(Id::to_string),
            target_id: g.target_id.as_ref().map(Id::to_string),
            label: g.label.clone(),
            login: g.login.clone(),
            actions: actions_of(g),
            valid_from: rfc3339(g.not_before),
            valid_until: rfc3339(g.not_after),
            created_by: g.created_by.clone(),
            created_at: rfc3339(g.created_at),
            request_id: g.request_id.as_ref().map(Id::to_string),
        }
    }
}

/// The actions a stored grant lists. Grants stored before SFTP was split
/// into read and write say `sftp`, which meant both.
fn actions_of(g: &GrantRow) -> Vec<Action> {
    parse_actions(&g.actions)
}

/// The actions a stored grant lists. Grants stored before SFTP was split
/// into read and write say `sftp`, which meant both.
pub(crate) fn parse_actions(text: &str) -> Vec<Action> {
    text.split(',')
        .flat_map(|a| match a {
            "sftp" => vec![Action::SftpRead, Action::SftpWrite],
            other => Action::parse(other).into_iter().collect(),
        })
        .collect()
}

/// Actions as stored: sorted, unique, comma-separated.
pub(crate) fn join_actions(actions: &[Action]) -> String {
    let mut names: Vec<&str> = actions.iter().map(|a| a.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names.join(",")
}

/// The login a label grant stores to mean "each target's own".
pub const ANY_LOGIN: &str = "*";

/// Whether `grant` lets its user do `action` (any action when `None`) on
/// `target` at `now`: it names the target, or a label the target carries
/// (as it carries it now). Pure, so the rule is tested on its own.
pub fn covers(grant: &GrantRow, target: &TargetRow, action: Option<Action>, now: i64) -> bool {
    let names_target = match (&grant.target_id, &grant.label) {
        (Some(id), None) => *id == target.id,
        (None, Some(label)) => target.labels.iter().any(|l| l == label),
        _ => false,
    };
    let login_ok = grant.login == target.login || (grant.label.is_some() && grant.login == ANY_LOGIN);
    names_target
        && login_ok
        && grant.not_before <= now
        && now < grant.not_after
        && action.is_none_or(|a| actions_of(grant).contains(&a))
}

impl Bastion {
    pub async fn create_grant(
        &self,
        actor: &Principal,
        new: NewGrant,
        source: Option<String>,
    ) -> Result<GrantInfo, BastionError> {
        let (user, group) = match (new.username.as_deref(), new.group.as_deref()) {
            (Some(name), None) => match self.store().find_user_by_name(name).await? {
                Some(user) => (Some(user), None),
                None => return Err(BastionError::Invalid(format!("no user named {name:?}"))),
            },
            (None, Some(name)) => match self.store().find_group(name).await? {
                Some(group) => (None, Some(group)),
                None => return Err(BastionError::Invalid(format!("no group named {name:?}"))),
            },
            _ => return Err(BastionError::Invalid("name exactly one of username and group".into())),
        };
        let (target, login) = self.grant_scope(new.target.as_deref(), new.label.as_deref(), new.login).await?;
        if new.actions.is_empty() {
            return Err(BastionError::Invalid(
                "a grant needs at least one action: shell, exec, sftp-read, sftp-write or port-forward".into(),
            ));
        }
        let now = now_ms();
        let not_before = new.not_before.unwrap_or(now);
        let span = i64::try_from(new.valid_for_secs).unwrap_or(i64::MAX).saturating_mul(1000);
        if span <= 0 || span > MAX_VALIDITY_MS {
            return Err(BastionError::Invalid("valid_for_secs must be between 1 and 7776000 (90 days)".into()));
        }
        let row = GrantRow {
            id: Id::new("grt"),
            user_id: user.as_ref().map(|u| u.id.clone()),
            group_id: group.as_ref().map(|g| g.id.clone()),
            target_id: target.as_ref().map(|t| t.id.clone()),
            label: new.label.clone().filter(|_| target.is_none()),
            login,
            actions: join_actions(&new.actions),
            not_before,
            not_after: not_before.saturating_add(span),
            created_by: actor.username.clone(),
            created_at: now,
            request_id: None,
        };
        self.audit()
            .record(
                Event::new("bastion.grant.created", Outcome::Success, &actor.username)
                    .object(row.id.as_str())
                    .source(source)
                    .attr("user", user.as_ref().map_or("", |u| u.username.as_str()))
                    .attr("group", group.as_ref().map_or("", |g| g.name.as_str()))
                    .attr("target", target.as_ref().map_or("", |t| t.name.as_str()))
                    .attr("label", row.label.as_deref().unwrap_or(""))
                    .attr("login", row.login.as_str())
                    .attr("actions", row.actions.as_str())
                    .attr("valid_from", rfc3339(row.not_before))
                    .attr("valid_until", rfc3339(row.not_after)),
            )
            .await?;
        self.store().insert_grant(&row).await?;
        Ok(GrantInfo::from(&row))
    }

    pub async fn list_grants(&self) -> Result<Vec<GrantInfo>, BastionError> {
        Ok(self.store().list_grants().await?.iter().map(GrantInfo::from).collect())
    }

    pub async fn delete_grant(&self, actor: &Principal, id: &str, source: Option<String>) -> Result<(), BastionError> {
        let id = Id::parse(id).ok_or(BastionError::NotFound)?;
        if !self.store().list_grants().await?.iter().any(|g| g.id == id) {
            return Err(BastionError::NotFound);
        }
        self.audit()
            .record(
                Event::new("bastion.grant.deleted", Outcome::Success, &actor.username)
                    .object(id.as_str())
                    .source(source),
            )
            .await?;
        self.store().delete_grant(&id).await?;
        Ok(())
    }

    /// The targets `user` has a grant to do `action` on now, by name,
    /// sorted: what the target picker offers. (A lockbox target is offered
    /// too; choosing it without the customer's approval is refused with
    /// that reason, as a named login would be.)
    pub(crate) async fn reachable_targets(&self, user: &UserRow, action: Action) -> Result<Vec<String>, BastionError> {
        let now = now_ms();
        let grants = self.store().grants_of_user(&user.id).await?;
        let mut names: Vec<String> = self
            .store()
            .list_targets()
            .await?
            .into_iter()
            .filter(|t| grants.iter().any(|g| covers(g, t, Some(action), now)))
            .map(|t| t.name)
            .collect();
        names.sort();
        Ok(names)
    }

    /// What a grant (or a just-in-time request) names: exactly one of a
    /// target, whose login it must use, or a label; and the login stored.
    pub(crate) async fn grant_scope(
        &self,
        target: Option<&str>,
        label: Option<&str>,
        login: Option<String>,
    ) -> Result<(Option<TargetRow>, String), BastionError> {
        match (target, label) {
            (Some(name), None) => {
                let Some(target) = self.store().find_target(name).await? else {
                    return Err(BastionError::Invalid(format!("no target named {name:?}")));
                };
                let login = login.unwrap_or_else(|| target.login.clone());
                if !valid_login(&login) {
                    return Err(BastionError::Invalid("login must be 1-64 letters, digits, '-', '_' or '.'".into()));
                }
                // A target holds one credential, for one login: a grant for
                // another login could never be used, so it is refused
                // rather than stored.
                if login != target.login {
                    return Err(BastionError::Invalid(format!(
                        "target {:?} logs in as {:?} only; a grant for {login:?} would never apply",
                        target.name, target.login
                    )));
                }
                Ok((Some(target), login))
            }
            (None, Some(label)) => {
                if !valid_label(label) {
                    return Err(BastionError::Invalid(format!("label {label:?} is not KEY or KEY=VALUE")));
                }
                let login = login.unwrap_or_else(|| ANY_LOGIN.to_owned());
                if login != ANY_LOGIN && !valid_login(&login) {
                    return Err(BastionError::Invalid("login must be 1-64 letters, digits, '-', '_' or '.'".into()));
                }
                Ok((None, login))
            }
            _ => Err(BastionError::Invalid("name exactly one of target and label".into())),
        }
    }

    /// The grant that lets `user` do `action` on `target` now, if any. On a
    /// lockbox target it also needs a lockbox approval whose window holds
    /// now, and the grant returned ends when that window ends (so the
    /// session watcher cuts the session then).
    pub(crate) async fn authorize(
        &self,
        user: &UserRow,
        target: &TargetRow,
        action: Option<Action>,
    ) -> Result<Option<GrantRow>, BastionError> {
        Ok(match self.access(user, target, action).await? {
            Access::Granted { mut grant, lockbox_until } => {
                if let Some(until) = lockbox_until {
                    grant.not_after = grant.not_after.min(until);
                }
                Some(*grant)
            }
            Access::NoGrant | Access::NoLockbox => None,
        })
    }

    /// Whether `user` may do `action` on `target` now, and if not, why.
    pub(crate) async fn access(
        &self,
        user: &UserRow,
        target: &TargetRow,
        action: Option<Action>,
    ) -> Result<Access, BastionError> {
        let now = now_ms();
        let grant =
            self.store().grants_for(&user.id, &target.id).await?.into_iter().find(|g| covers(g, target, action, now));
        let Some(grant) = grant.map(Box::new) else { return Ok(Access::NoGrant) };
        let tenant = match self.effective_lockbox_tenant(target).await {
            Ok(Some(tenant)) => tenant,
            Ok(None) => return Ok(Access::Granted { grant, lockbox_until: None }),
            // Two tenants' marks: no one approval can be enough.
            Err(BastionError::Conflict(_)) => return Ok(Access::NoLockbox),
            Err(e) => return Err(e),
        };
        match self.store().lockbox_approval(&user.id, &target.name, &tenant, now).await? {
            Some(approval) => Ok(Access::Granted { grant, lockbox_until: approval.valid_until.or(Some(now)) }),
            None => Ok(Access::NoLockbox),
        }
    }
}

/// The outcome of an access check.
#[derive(Debug)]
pub(crate) enum Access {
    /// A grant covers it; on a lockbox target, until the approval's window ends.
    Granted {
        grant: Box<GrantRow>,
        lockbox_until: Option<i64>,
    },
    NoGrant,
    /// A grant covers it, but the target holds a tenant's data and no
    /// approval of that tenant's customer admin is in force.
    NoLockbox,
}

impl Bastion {}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> TargetRow {
        TargetRow {
            id: Id::from_trusted("tgt_1".into()),
            name: "db".into(),
            address: "127.0.0.1".into(),
            port: 22,
            host_key: String::new(),
            login: "ops".into(),
            credential_kind: "password".into(),
            credential_sealed: Vec::new(),
            created_at: 0,
            labels: vec!["env=prod".into(), "pci".into()],
            lockbox_tenant: None,
        }
    }

    fn grant(actions: &str, from: i64, until: i64) -> GrantRow {
        GrantRow {
            id: Id::from_trusted("grt_1".into()),
            user_id: Some(Id::from_trusted("usr_1".into())),
            group_id: None,
            target_id: Some(Id::from_trusted("tgt_1".into())),
            label: None,
            login: "ops".into(),
            actions: actions.into(),
            not_before: from,
            not_after: until,
            created_by: "admin".into(),
            created_at: 0,
            request_id: None,
        }
    }

    #[test]
    fn a_grant_stored_with_the_old_sftp_action_means_read_and_write() {
        let t = target();
        let g = grant("exec,sftp", 100, 200);
        assert!(covers(&g, &t, Some(Action::SftpRead), 150));
        assert!(covers(&g, &t, Some(Action::SftpWrite), 150));
        assert!(!covers(&g, &t, Some(Action::PortForward), 150));
        let read_only = grant("sftp-read", 100, 200);
        assert!(covers(&read_only, &t, Some(Action::SftpRead), 150));
        assert!(!covers(&read_only, &t, Some(Action::SftpWrite), 150));
    }

    #[test]
    fn action_names_round_trip_and_the_api_spells_them_in_kebab_case() {
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
            assert_eq!(serde_json::to_value(a).expect("serialises"), serde_json::json!(a.as_str()));
        }
        assert!(serde_json::from_value::<Action>(serde_json::json!("sftp")).is_err(), "say read or write");
    }

    #[test]
    fn a_grant_covers_only_its_actions_target_login_and_window() {
        let t = target();
        let g = grant("exec,shell", 100, 200);
        assert!(covers(&g, &t, Some(Action::Shell), 150));
        assert!(covers(&g, &t, None, 100));
        assert!(!covers(&g, &t, Some(Action::SftpRead), 150), "an action not granted");
        assert!(!covers(&g, &t, Some(Action::Shell), 99), "before the window");
        assert!(!covers(&g, &t, Some(Action::Shell), 200), "the window's end is exclusive");
        let mut other_login = t.clone();
        other_login.login = "root".into();
        assert!(!covers(&g, &other_login, None, 150), "a target re-registered with another login");
        let mut other = t;
        other.id = Id::from_trusted("tgt_2".into());
        assert!(!covers(&g, &other, None, 150));
    }

    fn on_label(label: &str, login: &str) -> GrantRow {
        GrantRow { target_id: None, label: Some(label.into()), login: login.into(), ..grant("shell", 100, 200) }
    }

    #[test]
    fn a_label_grant_covers_every_target_carrying_the_label_and_no_other() {
        let t = target();
        assert!(covers(&on_label("env=prod", ANY_LOGIN), &t, Some(Action::Shell), 150));
        assert!(covers(&on_label("pci", "ops"), &t, Some(Action::Shell), 150));
        assert!(!covers(&on_label("pci", "root"), &t, None, 150), "another login");
        assert!(!covers(&on_label("env=dev", ANY_LOGIN), &t, None, 150), "a label the target lacks");
        assert!(!covers(&on_label("env", ANY_LOGIN), &t, None, 150), "a key alone is not key=value");
        assert!(!covers(&on_label("env=prod", ANY_LOGIN), &t, Some(Action::Exec), 150), "an action not granted");
        assert!(!covers(&on_label("env=prod", ANY_LOGIN), &t, None, 200), "outside the window");
        // A label added later brings the target under the grant; removed, out.
        let mut later = t.clone();
        later.labels = vec!["env=staging".into()];
        assert!(!covers(&on_label("env=prod", ANY_LOGIN), &later, None, 150));
        later.labels.push("env=prod".into());
        assert!(covers(&on_label("env=prod", ANY_LOGIN), &later, None, 150));
        // `*` means each target's own login only on a label grant.
        let mut star = grant("shell", 100, 200);
        star.login = ANY_LOGIN.into();
        assert!(!covers(&star, &t, None, 150));
        // A row naming both, or neither, covers nothing.
        let mut both = grant("shell", 100, 200);
        both.label = Some("pci".into());
        assert!(!covers(&both, &t, None, 150));
    }
}
