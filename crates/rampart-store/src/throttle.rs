//! Failed-login counters per user name and per source address, shared by
//! every node through the database.

use sqlx::Row;

use crate::{Result, Store};

/// The state of one throttle key after a failure was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    /// Failures inside the current window.
    pub failures: i64,
    /// Until when attempts are refused (milliseconds; 0 when not locked).
    pub locked_until: i64,
}

impl Store {
    /// Until when `key` is locked, 0 if it is not.
    pub async fn throttle_locked_until(&self, key: &str) -> Result<i64> {
        let row = sqlx::query("SELECT locked_until FROM login_throttle WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get("locked_until")?,
            None => 0,
        })
    }

    /// Counts one failure for `key`. Failures older than `window_ms` are
    /// forgotten. `backoff` maps the failure count to a lock duration in
    /// milliseconds (0 for none). Atomic per key on both backends.
    pub async fn throttle_fail(
        &self,
        key: &str,
        now: i64,
        window_ms: i64,
        backoff: impl Fn(i64) -> i64,
    ) -> Result<Throttle> {
        let row = sqlx::query(
            "INSERT INTO login_throttle (key, failures, window_start, locked_until) VALUES ($1, 1, $2, 0) \
             ON CONFLICT (key) DO UPDATE SET \
               failures = CASE WHEN login_throttle.window_start < $3 THEN 1 ELSE login_throttle.failures + 1 END, \
               window_start = CASE WHEN login_throttle.window_start < $3 THEN $2 ELSE login_throttle.window_start END \
             RETURNING failures",
        )
        .bind(key)
        .bind(now)
        .bind(now - window_ms)
        .fetch_one(&self.pool)
        .await?;
        let failures: i64 = row.try_get("failures")?;
        let lock = backoff(failures);
        let locked_until = if lock > 0 { now + lock } else { 0 };
        if locked_until > 0 {
            sqlx::query("UPDATE login_throttle SET locked_until = $1 WHERE key = $2")
                .bind(locked_until)
                .bind(key)
                .execute(&self.pool)
                .await?;
        }
        Ok(Throttle { failures, locked_until })
    }

    /// Forgets the failures of `key` (after a successful login).
    pub async fn throttle_clear(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_throttle WHERE key = $1").bind(key).execute(&self.pool).await?;
        Ok(())
    }
}
