//! The SSH bastion's rows: users' registered public keys, targets (with
//! their labels and lockbox tenant) and grants (on a target or on a
//! label). A target's credential is stored only sealed (a KMS envelope);
//! this module never sees it in the clear.

use rampart_core::Id;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError};

const KEY_COLUMNS: &str = "id, user_id, fingerprint, public_key, comment, created_at";
const TARGET_COLUMNS: &str =
    "id, name, address, port, host_key, login, credential_kind, credential_sealed, created_at, labels, lockbox_tenant";
const GRANT_COLUMNS: &str = "id, user_id, group_id, target_id, label, login, actions, not_before, not_after, \
     created_by, created_at, request_id";
/// The grants that reach a user: their own, and those of every group they
/// are a member of (as they are a member now).
const GRANT_OF_USER: &str =
    "(user_id = $1 OR group_id IN (SELECT group_id FROM user_group_members WHERE user_id = $1))";

/// A user's registered SSH public key.
#[derive(Debug, Clone)]
pub struct SshKeyRow {
    pub id: Id,
    pub user_id: Id,
    /// `SHA256:…`, as OpenSSH prints it; unique across users.
    pub fingerprint: String,
    /// The key in OpenSSH form, `ALGORITHM BASE64`, without comment.
    pub public_key: String,
    pub comment: String,
    pub created_at: i64,
}

/// A backend system reachable through the bastion.
#[derive(Clone)]
pub struct TargetRow {
    pub id: Id,
    pub name: String,
    pub address: String,
    pub port: u16,
    /// The pinned host key in OpenSSH form, `ALGORITHM BASE64`.
    pub host_key: String,
    /// The account Rampart logs in as.
    pub login: String,
    /// `private_key` or `password`.
    pub credential_kind: String,
    /// The credential, sealed by the KMS envelope API.
    pub credential_sealed: Vec<u8>,
    pub created_at: i64,
    /// Labels, `key=value` or plain names, sorted and unique.
    pub labels: Vec<String>,
    /// The tenant whose data the target holds: access also needs a lockbox
    /// approval by that tenant's customer admin.
    pub lockbox_tenant: Option<Id>,
}

impl std::fmt::Debug for TargetRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetRow")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("address", &self.address)
            .field("port", &self.port)
            .field("login", &self.login)
            .field("credential_kind", &self.credential_kind)
            .field("labels", &self.labels)
            .field("lockbox_tenant", &self.lockbox_tenant)
            .finish_non_exhaustive()
    }
}

/// Who (a user, or every member of a group) may reach which target (or
/// every target with a label) as which login, how, and when.
#[derive(Debug, Clone)]
pub struct GrantRow {
    pub id: Id,
    /// The one user; or `None` for a grant to `group_id`.
    pub user_id: Option<Id>,
    /// The group of a grant to a group: it reaches the group's members as
    /// they are at each check.
    pub group_id: Option<Id>,
    /// The one target, or `None` for a grant on `label`.
    pub target_id: Option<Id>,
    /// The label (`key=value` or a plain name) of a grant on a label.
    pub label: Option<String>,
    /// The login on the target; `*` on a label grant means each target's own.
    pub login: String,
    /// Comma-separated actions: `shell`, `exec`, `sftp`.
    pub actions: String,
    pub not_before: i64,
    pub not_after: i64,
    pub created_by: String,
    pub created_at: i64,
    /// The just-in-time request this grant was made from, if any.
    pub request_id: Option<Id>,
}

fn ssh_key(row: &AnyRow) -> Result<SshKeyRow> {
    Ok(SshKeyRow {
        id: Id::from_trusted(row.try_get("id")?),
        user_id: Id::from_trusted(row.try_get("user_id")?),
        fingerprint: row.try_get("fingerprint")?,
        public_key: row.try_get("public_key")?,
        comment: row.try_get("comment")?,
        created_at: row.try_get("created_at")?,
    })
}

fn target(row: &AnyRow) -> Result<TargetRow> {
    let port: i32 = row.try_get("port")?;
    Ok(TargetRow {
        id: Id::from_trusted(row.try_get("id")?),
        name: row.try_get("name")?,
        address: row.try_get("address")?,
        port: u16::try_from(port).map_err(|_| StoreError::Corrupt(format!("target port {port}")))?,
        host_key: row.try_get("host_key")?,
        login: row.try_get("login")?,
        credential_kind: row.try_get("credential_kind")?,
        credential_sealed: row.try_get("credential_sealed")?,
        created_at: row.try_get("created_at")?,
        labels: split_labels(&row.try_get::<String, _>("labels")?),
        lockbox_tenant: row.try_get::<Option<String>, _>("lockbox_tenant")?.map(Id::from_trusted),
    })
}

/// Labels as stored: sorted, comma-separated (labels hold no comma).
fn join_labels(labels: &[String]) -> String {
    let mut sorted: Vec<&str> = labels.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    sorted.join(",")
}

fn split_labels(text: &str) -> Vec<String> {
    text.split(',').filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

fn grant(row: &AnyRow) -> Result<GrantRow> {
    Ok(GrantRow {
        id: Id::from_trusted(row.try_get("id")?),
        user_id: row.try_get::<Option<String>, _>("user_id")?.map(Id::from_trusted),
        group_id: row.try_get::<Option<String>, _>("group_id")?.map(Id::from_trusted),
        target_id: row.try_get::<Option<String>, _>("target_id")?.map(Id::from_trusted),
        label: row.try_get("label")?,
        login: row.try_get("login")?,
        actions: row.try_get("actions")?,
        not_before: row.try_get("not_before")?,
        not_after: row.try_get("not_after")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        request_id: row.try_get::<Option<String>, _>("request_id")?.map(Id::from_trusted),
    })
}

impl Store {
    pub async fn insert_ssh_key(&self, k: &SshKeyRow) -> Result<()> {
        sqlx::query(&format!("INSERT INTO ssh_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"))
            .bind(k.id.as_str())
            .bind(k.user_id.as_str())
            .bind(&k.fingerprint)
            .bind(&k.public_key)
            .bind(&k.comment)
            .bind(k.created_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A user's keys, oldest first (a user has few).
    pub async fn list_ssh_keys(&self, user: &Id) -> Result<Vec<SshKeyRow>> {
        let rows =
            sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM ssh_keys WHERE user_id = $1 ORDER BY id LIMIT 1000"))
                .bind(user.as_str())
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(ssh_key).collect()
    }

    pub async fn find_ssh_key(&self, fingerprint: &str) -> Result<Option<SshKeyRow>> {
        let row = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM ssh_keys WHERE fingerprint = $1"))
            .bind(fingerprint)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(ssh_key).transpose()
    }

    pub async fn delete_ssh_key(&self, user: &Id, id: &Id) -> Result<()> {
        let done = sqlx::query("DELETE FROM ssh_keys WHERE id = $1 AND user_id = $2")
            .bind(id.as_str())
            .bind(user.as_str())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn insert_target(&self, t: &TargetRow) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO bastion_targets ({TARGET_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(t.id.as_str())
        .bind(&t.name)
        .bind(&t.address)
        .bind(i32::from(t.port))
        .bind(&t.host_key)
        .bind(&t.login)
        .bind(&t.credential_kind)
        .bind(t.credential_sealed.clone())
        .bind(t.created_at)
        .bind(join_labels(&t.labels))
        .bind(t.lockbox_tenant.as_ref().map(Id::as_str))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Replaces a target's labels and lockbox tenant.
    pub async fn update_target_access(&self, id: &Id, labels: &[String], lockbox_tenant: Option<&Id>) -> Result<()> {
        let done = sqlx::query("UPDATE bastion_targets SET labels = $2, lockbox_tenant = $3 WHERE id = $1")
            .bind(id.as_str())
            .bind(join_labels(labels))
            .bind(lockbox_tenant.map(Id::as_str))
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn list_targets(&self) -> Result<Vec<TargetRow>> {
        let rows = sqlx::query(&format!("SELECT {TARGET_COLUMNS} FROM bastion_targets ORDER BY name LIMIT 10000"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(target).collect()
    }

    pub async fn find_target(&self, name: &str) -> Result<Option<TargetRow>> {
        let row = sqlx::query(&format!("SELECT {TARGET_COLUMNS} FROM bastion_targets WHERE name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(target).transpose()
    }

    /// Deletes a target and the grants that name it.
    pub async fn delete_target(&self, id: &Id) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM bastion_grants WHERE target_id = $1").bind(id.as_str()).execute(&mut *tx).await?;
        let done = sqlx::query("DELETE FROM bastion_targets WHERE id = $1").bind(id.as_str()).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn insert_grant(&self, g: &GrantRow) -> Result<()> {
        grant_insert(g).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn list_grants(&self) -> Result<Vec<GrantRow>> {
        let rows = sqlx::query(&format!("SELECT {GRANT_COLUMNS} FROM bastion_grants ORDER BY id LIMIT 10000"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(grant).collect()
    }

    /// Every grant that reaches one user (on targets and labels): the
    /// user's own and their groups'.
    pub async fn grants_of_user(&self, user: &Id) -> Result<Vec<GrantRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {GRANT_COLUMNS} FROM bastion_grants WHERE {GRANT_OF_USER} ORDER BY id LIMIT 1000"
        ))
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(grant).collect()
    }

    /// The grants reaching one user (their own and their groups') that
    /// may cover one target, whatever their window: those naming it, and
    /// every such grant on a label (which labels the target carries is the
    /// caller's rule).
    pub async fn grants_for(&self, user: &Id, target: &Id) -> Result<Vec<GrantRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {GRANT_COLUMNS} FROM bastion_grants \
             WHERE {GRANT_OF_USER} AND (target_id = $2 OR label IS NOT NULL) ORDER BY id LIMIT 1000"
        ))
        .bind(user.as_str())
        .bind(target.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(grant).collect()
    }

    pub async fn delete_grant(&self, id: &Id) -> Result<()> {
        let done =
            sqlx::query("DELETE FROM bastion_grants WHERE id = $1").bind(id.as_str()).execute(&self.pool).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

/// The statement that stores a grant, on the pool or inside a transaction
/// (an approved just-in-time request stores its grant with its decision).
pub(crate) fn grant_insert(g: &GrantRow) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
    sqlx::query(
        "INSERT INTO bastion_grants (id, user_id, group_id, target_id, label, login, actions, not_before, \
         not_after, created_by, created_at, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(g.id.as_str())
    .bind(g.user_id.as_ref().map(Id::as_str))
    .bind(g.group_id.as_ref().map(Id::as_str))
    .bind(g.target_id.as_ref().map(Id::as_str))
    .bind(g.label.as_deref())
    .bind(&g.login)
    .bind(&g.actions)
    .bind(g.not_before)
    .bind(g.not_after)
    .bind(&g.created_by)
    .bind(g.created_at)
    .bind(g.request_id.as_ref().map(Id::as_str))
}
