//! Opening a backend, running its migrations, and the health probe.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::Result;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The handle every service stores and fetches through. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    /// SQLite only: one connection whose commits are not fsynced (WAL with
    /// `synchronous=NORMAL`: atomic and consistent, durable at the next
    /// checkpoint or the next fully synced commit of any connection), for
    /// derived data that is rebuilt from the ledger after a crash — the
    /// audit index. Everything else goes through `pool`, fully synced.
    pub(crate) relaxed: Option<AnyPool>,
    backend: Backend,
    /// The term index's bucket size (`terms::BUCKET_SHIFT`; smaller only
    /// in tests, to cross buckets with few events).
    pub(crate) term_shift: u32,
}

impl Store {
    /// Opens (creating if needed) the embedded SQLite database at `path`, in
    /// WAL mode with full fsync on commit, and migrates it.
    pub async fn open_sqlite(path: &Path, max_connections: u32) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let opts = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL lets readers run beside the writer; synchronous=FULL
                    // makes every acknowledged commit survive power loss;
                    // busy_timeout queues writers instead of failing them;
                    // secure_delete zeroes deleted content (destroyed keys).
                    conn.execute(
                        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; \
                         PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON;",
                    )
                    .await?;
                    Ok(())
                })
            })
            .connect_with(opts.clone())
            .await?;
        let relaxed = AnyPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // The index writer's page cache (64 MiB, filled only as
                    // used; SQLite's default is 2 MiB): a batch updates the
                    // newest pages of a dozen indexes and of the term
                    // index's newest bucket, which must stay in memory
                    // between batches or every insert re-reads its page.
                    conn.execute(
                        "PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON; \
                         PRAGMA cache_size=-65536;",
                    )
                    .await?;
                    Ok(())
                })
            })
            .connect_lazy_with(opts);
        let store =
            Store { pool, relaxed: Some(relaxed), backend: Backend::Sqlite, term_shift: crate::terms::BUCKET_SHIFT };
        store.migrate().await?;
        Ok(store)
    }

    /// Connects to PostgreSQL at `url` and migrates it.
    pub async fn open_postgres(url: &str, max_connections: u32) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        let store = Store { pool, relaxed: None, backend: Backend::Postgres, term_shift: crate::terms::BUCKET_SHIFT };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        // sqlx's migrator takes an advisory lock on PostgreSQL, so several
        // nodes starting at once migrate exactly once.
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers; what `/readyz` reports.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection; used on shutdown.
    pub async fn close(&self) {
        if let Some(relaxed) = &self.relaxed {
            relaxed.close().await;
        }
        self.pool.close().await;
    }
}
