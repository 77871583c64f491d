//! Opening a backend, running its migrations, and the health probe.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Transaction};

use crate::Result;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The `i`-th (from 1) bound parameter of a statement whose parameters
    /// are all bound in order. PostgreSQL needs numbered `$N`. SQLite gets
    /// an anonymous `?`: binding a named or numbered parameter makes SQLite
    /// look its name up in a list it scans from the start
    /// (`sqlite3_bind_parameter_name`, which sqlx calls for every one), so
    /// binding a statement of n such parameters costs n²/2 comparisons,
    /// the largest item of the index writer's profile for multi-row
    /// inserts. Anonymous ones are not in that list.
    pub(crate) fn param(self, out: &mut String, i: usize) {
        match self {
            Backend::Sqlite => out.push('?'),
            Backend::Postgres => {
                out.push('$');
                out.push_str(&i.to_string());
            }
        }
    }

    /// `(p,p,…),(p,p,…)…`: `rows` tuples of `cols` parameters, numbered
    /// from 1 in binding order.
    pub(crate) fn value_rows(self, rows: usize, cols: usize) -> String {
        let mut out = String::with_capacity(rows * cols * 5);
        for r in 0..rows {
            out.push_str(if r == 0 { "(" } else { ",(" });
            for c in 0..cols {
                if c > 0 {
                    out.push(',');
                }
                self.param(&mut out, r * cols + c + 1);
            }
            out.push(')');
        }
        out
    }
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
    /// SQLite only: the background checkpointer's connection
    /// ([`spawn_checkpointer`]); the task stops once every clone of this
    /// store is gone or [`Store::close`] closed it.
    checkpointer: Option<std::sync::Arc<AnyPool>>,
    /// The log events of the block being filled (`logindex.rs`), shared
    /// by every clone.
    pub(crate) open_logs: crate::logindex::Open,
    /// Held while a block of waiting log events is written.
    pub(crate) sealer: std::sync::Arc<tokio::sync::Mutex<()>>,
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
                         PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON; \
                         PRAGMA wal_autocheckpoint=8192;",
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
                         PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=8192;",
                    )
                    .await?;
                    Ok(())
                })
            })
            .connect_lazy_with(opts.clone());
        let checkpointer = spawn_checkpointer(opts);
        let store = Store {
            pool,
            relaxed: Some(relaxed),
            backend: Backend::Sqlite,
            term_shift: crate::terms::BUCKET_SHIFT,
            checkpointer: Some(checkpointer),
            open_logs: Default::default(),
            sealer: Default::default(),
        };
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
        let store = Store {
            pool,
            relaxed: None,
            backend: Backend::Postgres,
            term_shift: crate::terms::BUCKET_SHIFT,
            checkpointer: None,
            open_logs: Default::default(),
            sealer: Default::default(),
        };
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

    /// Begins a transaction that writes, on the fully synced pool.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>> {
        begin_write(&self.pool, self.backend).await
    }

    /// Begins a transaction that writes derived data: on SQLite through the
    /// relaxed connection (see [`Store::relaxed`]), elsewhere as any other.
    pub(crate) async fn begin_relaxed_write(&self) -> Result<Transaction<'static, Any>> {
        begin_write(self.relaxed.as_ref().unwrap_or(&self.pool), self.backend).await
    }

    /// Whether the database answers; what `/readyz` reports.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection; used on shutdown.
    pub async fn close(&self) {
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.close().await;
        }
        if let Some(relaxed) = &self.relaxed {
            relaxed.close().await;
        }
        self.pool.close().await;
    }
}

/// How often the background checkpointer copies the WAL into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Copies committed pages from the WAL into the database file on a
/// connection (and thread) of its own, every [`CHECKPOINT_EVERY`], while
/// the returned pool is held and open.
///
/// Left to SQLite, a checkpoint runs inside whichever commit finds the WAL
/// past `wal_autocheckpoint` pages: under sustained ingest that is the
/// index writer's, and checkpoints took 29 % of its thread — the one
/// thread every indexed event passes through. `PASSIVE` never waits for or
/// blocks a writer or reader. The writers keep a (raised) automatic
/// checkpoint as well: when one comes due, the background has copied most
/// frames already, so it finishes the rest — cheap — and lets the next
/// commit restart the WAL from its beginning, which a checkpoint running
/// beside a busy writer alone seldom can (the file would only grow).
fn spawn_checkpointer(opts: AnyConnectOptions) -> std::sync::Arc<AnyPool> {
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("PRAGMA busy_timeout=10000;").await?;
                Ok(())
            })
        })
        .connect_lazy_with(opts);
    let pool = std::sync::Arc::new(pool);
    let weak = std::sync::Arc::downgrade(&pool);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(pool) = weak.upgrade().filter(|p| !p.is_closed()) else {
                break;
            };
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&*pool).await {
                tracing::debug!(error = %e, "background WAL checkpoint failed; the writers' own checkpoints remain");
            }
        }
    });
    pool
}

/// Every transaction that writes starts here. On SQLite it is `BEGIN
/// IMMEDIATE`, which takes the write lock up front and so waits for it under
/// `busy_timeout` like a single statement does. A plain (deferred) `BEGIN`
/// that reads first and writes later cannot wait: if another connection has
/// committed since its read began, its snapshot is stale and SQLite fails
/// the write at once with `SQLITE_BUSY` ("database is locked"), whatever
/// `busy_timeout` says — which the server, writing the ledger from several
/// tasks, hits as soon as two of them meet.
async fn begin_write(pool: &AnyPool, backend: Backend) -> Result<Transaction<'static, Any>> {
    Ok(match backend {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => pool.begin().await?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    async fn count(store: &Store) -> i64 {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM audit_index_state WHERE name LIKE 'race-%'")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        sqlx::Row::try_get(&row, "n").unwrap()
    }

    async fn insert(pool: &AnyPool, name: &str) -> std::result::Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO audit_index_state (name, value) VALUES ($1, 1)").bind(name).execute(pool).await?;
        Ok(())
    }

    /// The index writer's commits leave their pages in the WAL (below the
    /// raised automatic checkpoint); the background checkpointer copies them
    /// into the database file on its own.
    #[tokio::test]
    async fn committed_pages_reach_the_database_file_without_a_writer_checkpointing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt.db");
        let store = Store::open_sqlite(&path, 4).await.unwrap();
        let size = || std::fs::metadata(&path).unwrap().len();
        // Let a checkpoint of the migrations pass first.
        tokio::time::sleep(CHECKPOINT_EVERY * 3).await;
        let before = size();
        let events: Vec<rampart_core::Event> = (0..400)
            .map(|i| {
                rampart_core::Event::new("log.kv", rampart_core::Outcome::Success, "t")
                    .attr("message", format!("{i} {}", "x".repeat(2000)))
            })
            .collect();
        let rows: Vec<(&rampart_core::Event, Option<i64>)> =
            events.iter().zip(0..).map(|(e, i)| (e, Some(i))).collect();
        store.append_events(&rows).await.unwrap();
        // About 800 KiB: some 200 pages, far below the writers' 8192.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while size() < before + 500 * 1024 {
            assert!(
                std::time::Instant::now() < deadline,
                "the pages stayed in the WAL: {} bytes, was {before}",
                size()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        store.close().await;
    }

    /// The failure `begin_write` exists for, then its fix: a transaction
    /// that reads, sees another connection commit, then writes.
    #[tokio::test]
    async fn a_transaction_that_reads_before_it_writes_waits_instead_of_failing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("race.db"), 4).await.unwrap();

        // A deferred BEGIN: its snapshot goes stale under the other
        // writer's commit, and SQLite refuses its write at once, although
        // busy_timeout is ten seconds.
        let mut deferred = store.pool.begin().await.unwrap();
        sqlx::query("SELECT COUNT(*) FROM audit_index_state").fetch_one(&mut *deferred).await.unwrap();
        insert(&store.pool, "race-other-1").await.expect("a reader does not block a writer");
        let refused = sqlx::query("INSERT INTO audit_index_state (name, value) VALUES ('race-stale', 1)")
            .execute(&mut *deferred)
            .await
            .expect_err("a stale snapshot cannot write");
        assert!(refused.to_string().contains("database is locked"), "{refused}");
        drop(deferred);

        // begin_write: the other writer waits for this transaction, which
        // reads, writes and commits; then the other writer goes through.
        let mut tx = store.begin_write().await.unwrap();
        sqlx::query("SELECT COUNT(*) FROM audit_index_state").fetch_one(&mut *tx).await.unwrap();
        let pool = store.pool.clone();
        let other = tokio::spawn(async move { insert(&pool, "race-other-2").await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!other.is_finished(), "the other writer queues behind the write lock");
        sqlx::query("INSERT INTO audit_index_state (name, value) VALUES ('race-mine', 1)")
            .execute(&mut *tx)
            .await
            .expect("the write lock was taken at BEGIN");
        tx.commit().await.unwrap();
        other.await.unwrap().expect("the queued writer goes through after the commit");
        assert_eq!(count(&store).await, 3, "race-other-1, race-mine and race-other-2; not race-stale");
        store.close().await;
    }
}
