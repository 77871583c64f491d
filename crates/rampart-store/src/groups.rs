//! User groups: named sets of users that a bastion grant can name instead
//! of one user. Membership is read at every access check, so removing a
//! member takes their group's grants away at once.

use rampart_core::Id;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError};

const GROUP_COLUMNS: &str = "id, name, description, created_by, created_at";

/// A group of users.
#[derive(Debug, Clone)]
pub struct GroupRow {
    pub id: Id,
    pub name: String,
    pub description: String,
    pub created_by: String,
    pub created_at: i64,
}

fn group(row: &AnyRow) -> Result<GroupRow> {
    Ok(GroupRow {
        id: Id::from_trusted(row.try_get("id")?),
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    pub async fn insert_group(&self, g: &GroupRow) -> Result<()> {
        sqlx::query(&format!("INSERT INTO user_groups ({GROUP_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"))
            .bind(g.id.as_str())
            .bind(&g.name)
            .bind(&g.description)
            .bind(&g.created_by)
            .bind(g.created_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn list_groups(&self) -> Result<Vec<GroupRow>> {
        let rows = sqlx::query(&format!("SELECT {GROUP_COLUMNS} FROM user_groups ORDER BY name LIMIT 10000"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(group).collect()
    }

    pub async fn find_group(&self, name: &str) -> Result<Option<GroupRow>> {
        let row = sqlx::query(&format!("SELECT {GROUP_COLUMNS} FROM user_groups WHERE name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(group).transpose()
    }

    /// The usernames of a group's members, sorted.
    pub async fn group_members(&self, group: &Id) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT u.username AS username FROM user_group_members m JOIN users u ON u.id = m.user_id \
             WHERE m.group_id = $1 ORDER BY u.username LIMIT 10000",
        )
        .bind(group.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get::<String, _>("username")?)).collect()
    }

    /// Adds a member; `Conflict` if they already are one.
    pub async fn add_group_member(&self, group: &Id, user: &Id, by: &str, now: i64) -> Result<()> {
        sqlx::query("INSERT INTO user_group_members (group_id, user_id, added_by, added_at) VALUES ($1, $2, $3, $4)")
            .bind(group.as_str())
            .bind(user.as_str())
            .bind(by)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes a member; `NotFound` if they were none.
    pub async fn remove_group_member(&self, group: &Id, user: &Id) -> Result<()> {
        let done = sqlx::query("DELETE FROM user_group_members WHERE group_id = $1 AND user_id = $2")
            .bind(group.as_str())
            .bind(user.as_str())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Deletes a group, its memberships and the grants that name it, in one
    /// transaction; how many grants went with it.
    pub async fn delete_group(&self, id: &Id) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let grants =
            sqlx::query("DELETE FROM bastion_grants WHERE group_id = $1").bind(id.as_str()).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM user_group_members WHERE group_id = $1").bind(id.as_str()).execute(&mut *tx).await?;
        let done = sqlx::query("DELETE FROM user_groups WHERE id = $1").bind(id.as_str()).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(grants.rows_affected())
    }
}
