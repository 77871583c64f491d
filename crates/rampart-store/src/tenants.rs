//! Tenants: the cloud's customers.

use rampart_core::Id;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Page, Result, Store};

#[derive(Debug, Clone)]
pub struct TenantRow {
    pub id: Id,
    pub name: String,
    pub created_at: i64,
}

fn tenant(row: &AnyRow) -> Result<TenantRow> {
    Ok(TenantRow {
        id: Id::from_trusted(row.try_get("id")?),
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    pub async fn create_tenant(&self, name: &str, now: i64) -> Result<TenantRow> {
        let id = Id::new("tnt");
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(id.as_str())
            .bind(name)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(TenantRow { id, name: name.to_owned(), created_at: now })
    }

    pub async fn get_tenant(&self, id: &Id) -> Result<TenantRow> {
        let row = sqlx::query("SELECT id, name, created_at FROM tenants WHERE id = $1")
            .bind(id.as_str())
            .fetch_one(&self.pool)
            .await?;
        tenant(&row)
    }

    /// Tenants in creation order after the cursor; `only` confines the
    /// listing to one tenant (for customer roles).
    pub async fn list_tenants(&self, only: Option<&Id>, after: Option<&str>, limit: usize) -> Result<Page<TenantRow>> {
        let after = after.unwrap_or("");
        let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
        let rows = match only {
            Some(t) => {
                sqlx::query("SELECT id, name, created_at FROM tenants WHERE id = $1 AND id > $2 ORDER BY id LIMIT $3")
                    .bind(t.as_str())
                    .bind(after)
                    .bind(fetch)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query("SELECT id, name, created_at FROM tenants WHERE id > $1 ORDER BY id LIMIT $2")
                    .bind(after)
                    .bind(fetch)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        let rows = rows.iter().map(tenant).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(rows, limit, |t| t.id.to_string()))
    }
}
