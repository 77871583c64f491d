//! The audit trail as a table. The tamper-evident ledger replaces this
//! storage later; the API (`append_event`, `list_events`) stays.

use rampart_core::{Event, Id, Outcome};
use sqlx::Row;

use crate::{Page, Result, Store, StoreError};

impl Store {
    /// Appends one event (with its ledger position, when it has one) and
    /// returns its sequence number. The write is a committed transaction
    /// (SQLite: fsynced WAL) before this returns.
    pub async fn append_event(&self, ev: &Event, ledger_index: Option<i64>) -> Result<i64> {
        let terms = crate::terms::event_terms(&ev.attrs, self.backend());
        if terms.is_empty() {
            let row = insert_event(INSERT_RETURNING_SEQ, ev, ledger_index)?.fetch_one(&self.pool).await?;
            return Ok(row.try_get("seq")?);
        }
        let mut tx = self.begin_write().await?;
        let seq: i64 =
            insert_event(INSERT_RETURNING_SEQ, ev, ledger_index)?.fetch_one(&mut *tx).await?.try_get("seq")?;
        let rows: Vec<(i64, i64)> = terms.into_iter().map(|t| (t, seq)).collect();
        crate::terms::insert_terms(&mut tx, &rows, self.backend(), self.term_shift).await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// Appends a batch of events, each with its ledger position, in one
    /// transaction: the audit index's group commit, so a burst of actions
    /// costs one commit instead of one per event (and one writer instead of
    /// many contending for SQLite's write lock). An event already indexed
    /// (same id or same ledger position, e.g. when re-indexing after a
    /// crash) is skipped, not an error.
    ///
    /// The commit is atomic but not synced to disk before this returns (the
    /// table is derived from the ledger, which is, and which re-fills it at
    /// start): indexing then costs no fsync on the path of every audited
    /// action. On PostgreSQL that is `synchronous_commit = off` for this
    /// transaction alone.
    pub async fn append_events(&self, events: &[(&Event, Option<i64>)]) -> Result<()> {
        let rows: Vec<IndexRow<'_>> = events
            .iter()
            .map(|(event, ledger_index)| IndexRow { event, ledger_index: *ledger_index, attrs_json: None })
            .collect();
        self.append_rows(&rows).await
    }

    /// As [`Store::append_events`], taking each event's attributes as the
    /// JSON text its caller already has (the ledger sink serialises them
    /// once, for the ledger entry and for this row).
    pub async fn append_rows(&self, events: &[IndexRow<'_>]) -> Result<()> {
        let mut tx = self.begin_relaxed_write().await?;
        if self.backend() == crate::Backend::Postgres {
            sqlx::query("SET LOCAL synchronous_commit TO OFF").execute(&mut *tx).await?;
        }
        // Multi-row inserts: one statement (prepared once per connection
        // and cached) per chunk instead of one per event.
        let rows = ROWS_PER_INSERT;
        let backend = self.backend();
        let full = insert_rows(backend, rows);
        let mut terms = Vec::new();
        for chunk in events.chunks(rows) {
            let partial;
            let sql = if chunk.len() == rows {
                full.as_str()
            } else {
                partial = insert_rows(backend, chunk.len());
                partial.as_str()
            };
            let mut query = sqlx::query(sql);
            for row in chunk {
                query = match row.attrs_json {
                    Some(attrs) => bind_columns(query, row.event, row.ledger_index, attrs),
                    None => bind_event(query, row.event, row.ledger_index)?,
                };
            }
            // The rows inserted (not those skipped as already indexed),
            // with their sequence numbers: what the term rows point at.
            for row in query.fetch_all(&mut *tx).await? {
                let seq: i64 = row.try_get("seq")?;
                let id: String = row.try_get("id")?;
                if let Some(r) = chunk.iter().find(|r| r.event.id.as_str() == id) {
                    terms.extend(crate::terms::event_terms(&r.event.attrs, backend).into_iter().map(|t| (t, seq)));
                }
            }
        }
        crate::terms::insert_terms(&mut tx, &terms, backend, self.term_shift).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The highest ledger position indexed so far (or pruned by retention
    /// after it was indexed), if any: where re-indexing from the ledger
    /// resumes.
    pub async fn max_indexed_ledger_position(&self) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT MAX(ledger_index) AS m FROM audit_events").fetch_one(&self.pool).await?;
        let indexed = row.try_get::<Option<i64>, _>("m")?;
        // Retention may have pruned the newest rows: they were indexed.
        let pruned = sqlx::query("SELECT value FROM audit_index_state WHERE name = 'pruned_through'")
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get::<i64, _>("value"))
            .transpose()?;
        Ok(indexed.max(pruned))
    }

    /// Removes the events at ledger positions from `position` on: only for
    /// tests that simulate an index which lost its tail in a crash.
    #[doc(hidden)]
    pub async fn delete_events_from_position_for_tests(&self, position: i64) -> Result<u64> {
        let done =
            sqlx::query("DELETE FROM audit_events WHERE ledger_index >= $1").bind(position).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    /// Events matching `filter`, in sequence order after `after`.
    pub async fn list_events(&self, filter: &EventFilter, after: i64, limit: usize) -> Result<Page<StoredEvent>> {
        // The statement is assembled from fixed fragments only; every value
        // is a bound parameter.
        let mut sql = format!("SELECT {COLUMNS} FROM audit_events WHERE seq > $1");
        let mut texts: Vec<(&str, &str)> = Vec::new();
        for (column, value) in
            [("kind", &filter.kind), ("actor", &filter.actor), ("object", &filter.object), ("outcome", &filter.outcome)]
        {
            if let Some(v) = value {
                texts.push((column, v.as_str()));
            }
        }
        let mut n = 1;
        for (column, _) in &texts {
            n += 1;
            sql.push_str(&format!(" AND {column} = ${n}"));
        }
        let mut times = Vec::new();
        if let Some(since) = filter.since_ms {
            n += 1;
            sql.push_str(&format!(" AND time_ms >= ${n}"));
            times.push(since);
        }
        if let Some(until) = filter.until_ms {
            n += 1;
            sql.push_str(&format!(" AND time_ms < ${n}"));
            times.push(until);
        }
        n += 1;
        sql.push_str(&format!(" ORDER BY seq LIMIT ${n}"));
        let mut query = sqlx::query(&sql).bind(after);
        for (_, v) in &texts {
            query = query.bind(*v);
        }
        for t in times {
            query = query.bind(t);
        }
        let rows = query.bind(i64::try_from(limit + 1).unwrap_or(i64::MAX)).fetch_all(&self.pool).await?;
        let out = rows.iter().map(stored_event).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(out, limit, |e| e.seq.to_string()))
    }

    /// One event by its id: a row, or a log event in a block or waiting
    /// for one.
    pub async fn find_event(&self, id: &str) -> Result<Option<StoredEvent>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM audit_events WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        match row.as_ref().map(stored_event).transpose()? {
            Some(e) => Ok(Some(e)),
            None => self.find_log(id).await,
        }
    }
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// One event bound to `sql`, the single-row insert below.
fn insert_event<'q>(sql: &'static str, ev: &'q Event, ledger_index: Option<i64>) -> Result<AnyQuery<'q>> {
    bind_event(sqlx::query(sql), ev, ledger_index)
}

/// Binds one event's columns, in the inserts' order. `source` (the
/// registered log source's name) and `host` (the syslog host name) are
/// copied out of the attributes of ingested events so that search finds
/// them through an index.
fn bind_event<'q>(query: AnyQuery<'q>, ev: &'q Event, ledger_index: Option<i64>) -> Result<AnyQuery<'q>> {
    let attrs = serde_json::to_string(&ev.attrs).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(bind_columns(query, ev, ledger_index, attrs))
}

/// [`bind_event`] with the attributes' JSON text given (owned or borrowed).
fn bind_columns<'q, A>(query: AnyQuery<'q>, ev: &'q Event, ledger_index: Option<i64>, attrs: A) -> AnyQuery<'q>
where
    A: sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any> + 'q,
{
    query
        .bind(ev.id.as_str())
        .bind(ev.time_ms)
        .bind(&ev.kind)
        .bind(ev.outcome.as_str())
        .bind(&ev.actor)
        .bind(ev.tenant_id.as_ref().map(|t| t.as_str().to_owned()))
        .bind(ev.source_addr.clone())
        .bind(attrs)
        .bind(ledger_index)
        .bind(ev.object.clone())
        .bind(ev.attrs.pointer("/source/name").and_then(|v| v.as_str()).map(str::to_owned))
        .bind(ev.attrs.pointer("/syslog/hostname").and_then(|v| v.as_str()).map(str::to_owned))
}

const INSERT_RETURNING_SEQ: &str = "INSERT INTO audit_events (id, time_ms, kind, outcome, actor, tenant_id, \
     source_addr, attrs, ledger_index, object, source, host) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
     RETURNING seq";

/// Rows per multi-row insert: 768 parameters, well below SQLite's
/// (32,766) and PostgreSQL's (65,535) limits. SQLite's statements take
/// anonymous parameters (see [`crate::Backend::param`]), so their binding
/// cost is linear and they can be as large as PostgreSQL's.
const ROWS_PER_INSERT: usize = 64;
const COLUMNS_PER_ROW: usize = 12;

/// An insert of `rows` events that skips the ones already indexed.
fn insert_rows(backend: crate::Backend, rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO audit_events (id, time_ms, kind, outcome, actor, tenant_id, source_addr, attrs, ledger_index, \
         object, source, host) VALUES ",
    );
    sql.push_str(&backend.value_rows(rows, COLUMNS_PER_ROW));
    sql.push_str(" ON CONFLICT DO NOTHING RETURNING seq, id");
    sql
}

pub(crate) const COLUMNS: &str =
    "seq, id, time_ms, kind, outcome, actor, object, tenant_id, source_addr, attrs, ledger_index";

/// One event to index and where the ledger holds it.
#[derive(Debug, Clone, Copy)]
pub struct IndexRow<'a> {
    pub event: &'a Event,
    pub ledger_index: Option<i64>,
    /// `event.attrs` as JSON text, when the caller serialised them already
    /// (it must be exactly that: it is what search reads); `None` has the
    /// store serialise them.
    pub attrs_json: Option<&'a str>,
}

/// Which audit events to list; `None` fields match everything.
#[derive(Debug, Default, Clone)]
pub struct EventFilter {
    /// The action, e.g. `auth.login.failed`.
    pub kind: Option<String>,
    pub actor: Option<String>,
    pub object: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: Option<String>,
    /// From this time (inclusive), Unix milliseconds.
    pub since_ms: Option<i64>,
    /// Until this time (exclusive), Unix milliseconds.
    pub until_ms: Option<i64>,
}

/// An event as stored, with its table sequence and ledger position.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub seq: i64,
    pub ledger_index: Option<i64>,
    pub event: Event,
}

pub(crate) fn stored_event(r: &sqlx::any::AnyRow) -> Result<StoredEvent> {
    let outcome = match r.try_get::<String, _>("outcome")?.as_str() {
        "success" => Outcome::Success,
        "failure" => Outcome::Failure,
        "denied" => Outcome::Denied,
        other => return Err(StoreError::Corrupt(format!("audit_events.outcome {other:?}"))),
    };
    let attrs: String = r.try_get("attrs")?;
    Ok(StoredEvent {
        seq: r.try_get("seq")?,
        ledger_index: r.try_get("ledger_index")?,
        event: Event {
            id: Id::from_trusted(r.try_get("id")?),
            time_ms: r.try_get("time_ms")?,
            kind: r.try_get("kind")?,
            outcome,
            actor: r.try_get("actor")?,
            object: r.try_get("object")?,
            tenant_id: r.try_get::<Option<String>, _>("tenant_id")?.map(Id::from_trusted),
            source_addr: r.try_get("source_addr")?,
            attrs: serde_json::from_str(&attrs).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        },
    })
}

/// The audit sink that appends to the `audit_events` table.
#[derive(Debug, Clone)]
pub struct TableAuditSink(pub Store);

impl rampart_core::audit::AuditSink for TableAuditSink {
    fn append<'a>(
        &'a self,
        event: &'a Event,
    ) -> rampart_core::audit::BoxFuture<'a, Result<rampart_core::audit::Appended, rampart_core::audit::AuditError>>
    {
        Box::pin(async move {
            let seq = self
                .0
                .append_event(event, None)
                .await
                .map_err(|e| rampart_core::audit::AuditError::Failed(e.to_string()))?;
            Ok(rampart_core::audit::Appended::at(u64::try_from(seq).unwrap_or_default()))
        })
    }
}
