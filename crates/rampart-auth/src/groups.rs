//! User groups: named sets of operator users that a bastion grant can name
//! instead of one user. They are the operator's: to a tenant-scoped actor
//! (a customer admin) there are none, as another tenant's objects read as
//! not found. Every change is a ledger event recorded before it takes
//! effect.

use rampart_core::time::{now_ms, rfc3339};
use rampart_core::{Event, Id, Outcome, Principal};
use rampart_store::GroupRow;
use serde::Serialize;

use crate::{Auth, AuthError};

/// The most members one group has.
const MAX_MEMBERS: usize = 1000;

/// A group as listed, with its members.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupInfo {
    pub id: String,
    pub name: String,
    pub description: String,
    /// The members' usernames, sorted.
    pub members: Vec<String>,
    pub created_by: String,
    pub created_at: String,
}

/// A group name: 1-63 lowercase letters, digits, '-', '_' or '.',
/// starting with a letter or digit.
pub fn valid_group_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        && name.as_bytes()[0].is_ascii_alphanumeric()
}

impl Auth {
    /// Groups do not exist for a tenant-scoped actor.
    fn operator_only(actor: &Principal) -> Result<(), AuthError> {
        if actor.tenant_id.is_some() {
            return Err(AuthError::NotFound);
        }
        Ok(())
    }

    async fn group_info(&self, g: &GroupRow) -> Result<GroupInfo, AuthError> {
        Ok(GroupInfo {
            id: g.id.to_string(),
            name: g.name.clone(),
            description: g.description.clone(),
            members: self.store().group_members(&g.id).await?,
            created_by: g.created_by.clone(),
            created_at: rfc3339(g.created_at),
        })
    }

    async fn named_group(&self, name: &str) -> Result<GroupRow, AuthError> {
        if !valid_group_name(name) {
            return Err(AuthError::NotFound);
        }
        self.store().find_group(name).await?.ok_or(AuthError::NotFound)
    }

    pub async fn create_group(
        &self,
        actor: &Principal,
        name: &str,
        description: &str,
        source: Option<String>,
    ) -> Result<GroupInfo, AuthError> {
        if actor.tenant_id.is_some() {
            return Err(AuthError::Invalid("groups belong to the operator; a tenant cannot have one".into()));
        }
        if !valid_group_name(name) {
            return Err(AuthError::Invalid(
                "name must be 1-63 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit".into(),
            ));
        }
        if description.len() > 1024 || description.chars().any(char::is_control) {
            return Err(AuthError::Invalid("description must be at most 1024 printable bytes".into()));
        }
        if self.store().find_group(name).await?.is_some() {
            return Err(AuthError::Conflict(format!("a group named {name:?} exists")));
        }
        let row = GroupRow {
            id: Id::new("grp"),
            name: name.to_owned(),
            description: description.to_owned(),
            created_by: actor.username.clone(),
            created_at: now_ms(),
        };
        self.audit()
            .record(
                Event::new("group.created", Outcome::Success, &actor.username)
                    .object(name)
                    .source(source)
                    .attr("group_id", row.id.as_str()),
            )
            .await?;
        self.store().insert_group(&row).await?;
        self.group_info(&row).await
    }

    pub async fn list_groups(&self, actor: &Principal) -> Result<Vec<GroupInfo>, AuthError> {
        let mut out = Vec::new();
        if actor.tenant_id.is_some() {
            return Ok(out);
        }
        for g in self.store().list_groups().await? {
            out.push(self.group_info(&g).await?);
        }
        Ok(out)
    }

    pub async fn get_group(&self, actor: &Principal, name: &str) -> Result<GroupInfo, AuthError> {
        Self::operator_only(actor)?;
        let g = self.named_group(name).await?;
        self.group_info(&g).await
    }

    /// Adds `username` to the group; a user already a member is a conflict.
    pub async fn add_group_member(
        &self,
        actor: &Principal,
        name: &str,
        username: &str,
        source: Option<String>,
    ) -> Result<GroupInfo, AuthError> {
        Self::operator_only(actor)?;
        let g = self.named_group(name).await?;
        let Some(user) = self.store().find_user_by_name(username).await? else {
            return Err(AuthError::Invalid(format!("no user named {username:?}")));
        };
        if user.role.is_customer() {
            return Err(AuthError::Invalid(format!("{username:?} is a customer user; groups hold operator users")));
        }
        let members = self.store().group_members(&g.id).await?;
        if members.iter().any(|m| m == username) {
            return Err(AuthError::Conflict(format!("{username:?} is already a member of {name:?}")));
        }
        if members.len() >= MAX_MEMBERS {
            return Err(AuthError::Invalid(format!("a group has at most {MAX_MEMBERS} members")));
        }
        self.audit()
            .record(
                Event::new("group.member.added", Outcome::Success, &actor.username)
                    .object(name)
                    .source(source)
                    .attr("group_id", g.id.as_str())
                    .attr("user", username),
            )
            .await?;
        self.store().add_group_member(&g.id, &user.id, &actor.username, now_ms()).await?;
        self.group_info(&g).await
    }

    /// Removes `username` from the group: the group's grants stop reaching
    /// them at the next access check (a live session's watcher cuts it).
    pub async fn remove_group_member(
        &self,
        actor: &Principal,
        name: &str,
        username: &str,
        source: Option<String>,
    ) -> Result<GroupInfo, AuthError> {
        Self::operator_only(actor)?;
        let g = self.named_group(name).await?;
        let Some(user) = self.store().find_user_by_name(username).await? else { return Err(AuthError::NotFound) };
        if !self.store().group_members(&g.id).await?.iter().any(|m| m == username) {
            return Err(AuthError::NotFound);
        }
        self.audit()
            .record(
                Event::new("group.member.removed", Outcome::Success, &actor.username)
                    .object(name)
                    .source(source)
                    .attr("group_id", g.id.as_str())
                    .attr("user", username),
            )
            .await?;
        self.store().remove_group_member(&g.id, &user.id).await?;
        self.group_info(&g).await
    }

    /// Deletes a group with its memberships and the grants that name it.
    pub async fn delete_group(&self, actor: &Principal, name: &str, source: Option<String>) -> Result<(), AuthError> {
        Self::operator_only(actor)?;
        let g = self.named_group(name).await?;
        self.audit()
            .record(
                Event::new("group.deleted", Outcome::Success, &actor.username)
                    .object(name)
                    .source(source)
                    .attr("group_id", g.id.as_str()),
            )
            .await?;
        self.store().delete_group(&g.id).await?;
        Ok(())
    }
}
