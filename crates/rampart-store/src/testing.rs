//! Test support: a throw-away database on each backend, so the one storage
//! test suite (and the server tests) run against SQLite and PostgreSQL alike.
//!
//! PostgreSQL tests create a uniquely named database on the server named by
//! `RAMPART_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`)
//! and drop it afterwards. Where no server answers, [`TestPostgres::create`]
//! returns `None` after printing a loud skip notice; CI sets
//! `RAMPART_REQUIRE_POSTGRES=1` so a missing server fails instead.

use sqlx::{Connection, Executor};

use crate::{Result, Store};

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A uniquely named PostgreSQL database that is dropped by [`TestPostgres::drop_db`].
#[derive(Debug)]
pub struct TestPostgres {
    admin_url: String,
    name: String,
    url: String,
}

impl TestPostgres {
    /// Creates a fresh database, or `None` (with a notice on stderr) when no
    /// PostgreSQL server answers and `RAMPART_REQUIRE_POSTGRES` is unset.
    pub async fn create() -> Option<TestPostgres> {
        sqlx::any::install_default_drivers();
        let admin_url = std::env::var("RAMPART_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.into());
        let name = format!("rampart_test_{}", uuid::Uuid::now_v7().simple());
        let created = async {
            let mut conn = sqlx::AnyConnection::connect(&admin_url).await?;
            conn.execute(format!("CREATE DATABASE {name}").as_str()).await?;
            conn.close().await?;
            Ok::<_, sqlx::Error>(())
        }
        .await;
        match created {
            Ok(()) => {
                let url = match admin_url.rsplit_once('/') {
                    Some((base, _)) => format!("{base}/{name}"),
                    None => format!("{admin_url}/{name}"),
                };
                Some(TestPostgres { admin_url, name, url })
            }
            Err(e) => {
                let required = std::env::var_os("RAMPART_REQUIRE_POSTGRES").is_some();
                assert!(!required, "RAMPART_REQUIRE_POSTGRES is set but PostgreSQL at {admin_url} failed: {e}");
                eprintln!(
                    "\n*** SKIPPED: PostgreSQL backend test: no server at {admin_url} ({e}).\n\
                     *** Set RAMPART_TEST_POSTGRES_URL to a server where the test may create databases.\n"
                );
                None
            }
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Opens a migrated store on this database.
    pub async fn store(&self) -> Result<Store> {
        Store::open_postgres(&self.url, 8).await
    }

    /// Drops the database, disconnecting anyone still on it.
    pub async fn drop_db(self) {
        if let Ok(mut conn) = sqlx::AnyConnection::connect(&self.admin_url).await {
            let _ = conn.execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str()).await;
            let _ = conn.close().await;
        }
    }
}

/// Runs `case` on a fresh SQLite store in a temporary directory, then
/// closes it: the SQLite half of a suite that runs on both backends.
// A test harness: a store that cannot be set up fails the test.
#[allow(clippy::expect_used)]
pub async fn with_sqlite<F, Fut>(case: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(&dir.path().join("rampart.db"), 4).await.expect("open sqlite");
    case(store.clone()).await;
    store.close().await;
}

/// Runs `case` on a throw-away PostgreSQL database, then drops it; does
/// nothing (after saying so) where no PostgreSQL can be had, as
/// [`TestPostgres::create`].
#[allow(clippy::expect_used)]
pub async fn with_postgres<F, Fut>(case: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(db) = TestPostgres::create().await else { return };
    let store = db.store().await.expect("open postgres");
    case(store.clone()).await;
    store.close().await;
    db.drop_db().await;
}
