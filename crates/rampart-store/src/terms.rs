//! The term index of log search: for the fields analysts pivot on (users,
//! addresses, hosts, programs, status codes: [`TERM_PATHS`]), one row
//! `(bucket, term, event_seq)` per event and field, where `term` is a
//! 64-bit key of the field's path and value and `bucket` a coarse slice of
//! `event_seq` ([`BUCKET_SHIFT`]). A query `User:alice` then reads the
//! key's rows bucket by bucket, newest first, and stops at the page size,
//! like a query on an indexed column, instead of reading every event's JSON.
//!
//! Why a table of hashed terms and not a column per field: columns cost an
//! index entry on every event, with or without the field (Rampart's own
//! audit events have none of them); a term row exists only where the field
//! does. Why hashed: a fixed 8-byte key keeps the index small whatever the
//! value's length, and a collision costs nothing but a read, because the
//! search still checks the field's value on every event it returns.
//!
//! Which values have a term: strings (at most [`MAX_TERM_VALUE`] bytes),
//! integers, and booleans, each as the backend's own JSON-to-text
//! conversion renders it (the comparison search makes). A query uses the
//! term index only for a value those rules would have indexed; any other
//! value is searched by reading the events, as before, so an unindexed
//! value is slow, never missed.
//!
//! Events stored before the term index existed get their terms from a
//! backfill ([`Store::backfill_terms`]) that walks down from the newest
//! such event; until it reaches the oldest, searches read the events.

use serde_json::Value;
use sqlx::Row;

use crate::{Backend, Result, Store};

/// The JSON paths (within an event's attributes) that get terms. The
/// parsed-field names are the Sigma names Rampart's parsers and the JSON
/// flattening produce. Changing this list needs a migration that resets
/// `terms_from` (events stored before would lack the new terms).
pub const TERM_PATHS: &[&[&str]] = &[
    &["fields", "User"],
    &["fields", "TargetUser"],
    &["fields", "TargetUserName"],
    &["fields", "SubjectUserName"],
    &["fields", "invalid_user"],
    &["fields", "ruser"],
    &["fields", "cs-username"],
    &["fields", "identity"],
    &["fields", "src_ip"],
    &["fields", "dst_ip"],
    &["fields", "src_host"],
    &["fields", "dst_port"],
    &["fields", "c-ip"],
    &["fields", "IpAddress"],
    &["fields", "SourceIp"],
    &["fields", "DestinationIp"],
    &["fields", "DestinationPort"],
    &["fields", "ClientIP"],
    &["fields", "sc-status"],
    &["fields", "cs-host"],
    &["fields", "server_name"],
    &["fields", "database"],
    &["fields", "application_name"],
    &["fields", "auth_method"],
    &["fields", "session_id"],
    &["fields", "action"],
    &["fields", "protocol"],
    &["fields", "Image"],
    &["fields", "ParentImage"],
    &["fields", "EventID"],
    &["fields", "Computer"],
    &["fields", "DestinationHostname"],
    &["fields", "QueryName"],
    &["syslog", "app_name"],
];

/// Events per bucket of the term index, as a shift of `event_seq`. The
/// primary key leads with the bucket, so the rows of new events go into
/// the newest bucket's part of the B-tree (a few tens of MB, which the
/// writer's page cache holds) instead of landing on a random page of the
/// whole index for every high-cardinality value (addresses, ports): that
/// kept a 10M-event index writing a page per event. A search reads the
/// buckets newest first, one index seek each.
pub const BUCKET_SHIFT: u32 = 18;

/// Beyond this many buckets (about a billion events) a search reads the
/// events instead of seeking in every bucket.
pub const MAX_BUCKETS_SCANNED: i64 = 4_096;

/// The bucket of an event's term rows, for a bucket size of `1 << shift`.
pub fn bucket(event_seq: i64, shift: u32) -> i64 {
    event_seq >> shift
}

/// Longer values get no term (a query for one reads the events).
pub const MAX_TERM_VALUE: usize = 256;

/// Events whose terms one backfill step writes.
pub const BACKFILL_CHUNK: i64 = 2_000;

/// Whether `path` has terms.
pub fn is_term_path(path: &[String]) -> bool {
    TERM_PATHS.iter().any(|p| p.len() == path.len() && p.iter().zip(path).all(|(a, b)| *a == b))
}

/// The term key of `value` at `path`: the first 8 bytes of a SHA-256 of
/// both, length-prefixed so no two (path, value) pairs share an input.
pub fn term_key(path: &[&str], value: &str) -> i64 {
    // The input assembled first and hashed in one call: a digest context
    // fed piece by piece cost several calls into aws-lc per term.
    let mut input =
        Vec::with_capacity(15 + 8 * (path.len() + 1) + path.iter().map(|p| p.len()).sum::<usize>() + value.len());
    input.extend_from_slice(b"rampart-term-v1");
    for part in path.iter().copied().chain(std::iter::once(value)) {
        input.extend_from_slice(&(part.len() as u64).to_be_bytes());
        input.extend_from_slice(part.as_bytes());
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &input);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_ref()[..8]);
    i64::from_be_bytes(first)
}

/// Whether a query's exact `value` is one an event would have a term for
/// (see the module doc): if not, the search must read the events.
pub fn value_has_term(value: &str) -> bool {
    if value.len() > MAX_TERM_VALUE || value.starts_with('[') || value.starts_with('{') {
        return false;
    }
    // A number that is not an integer may be stored as a JSON float, whose
    // text form differs between backends; floats get no term.
    if value.parse::<f64>().is_ok() && value.parse::<i64>().is_err() {
        return false;
    }
    // Booleans get terms as each backend renders them (true/false on
    // PostgreSQL, 1/0 on SQLite), the text the query's value is compared
    // with, so any other value may have one.
    true
}

/// How the backend's `CAST(json … AS TEXT)` renders `v`, for the values
/// that get terms.
fn rendered(v: &Value, backend: Backend) -> Option<std::borrow::Cow<'_, str>> {
    use std::borrow::Cow;
    match v {
        Value::String(s) if s.len() <= MAX_TERM_VALUE => Some(Cow::Borrowed(s)),
        Value::Number(n) if n.is_i64() => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(match (backend, b) {
            (Backend::Sqlite, true) => "1",
            (Backend::Sqlite, false) => "0",
            (Backend::Postgres, true) => "true",
            (Backend::Postgres, false) => "false",
        })),
        _ => None,
    }
}

/// The names under `fields` that get terms, sorted, each with its path's
/// position in [`TERM_PATHS`].
fn field_term_names() -> &'static [(&'static str, usize)] {
    static NAMES: std::sync::OnceLock<Vec<(&'static str, usize)>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        let mut names: Vec<(&'static str, usize)> = TERM_PATHS
            .iter()
            .enumerate()
            .filter_map(|(at, path)| match path {
                ["fields", name] => Some((*name, at)),
                _ => None,
            })
            .collect();
        names.sort_unstable();
        names
    })
}

/// The term keys of one event, without duplicates, in [`TERM_PATHS`]
/// order.
///
/// Looking each of the listed paths up in turn cost dozens of map
/// searches per event (the largest part of indexing on the async workers
/// under ingest load); the parsed fields are walked instead, or the names
/// looked up when the event has more fields than there are names (a
/// flattened JSON payload may have hundreds).
pub fn event_terms(attrs: &Value, backend: Backend) -> Vec<i64> {
    event_terms_by(attrs, backend, |at, text| term_key(TERM_PATHS[at], &text))
}

/// [`event_terms`] with the keys of values already seen taken from
/// `cache` (a block's events repeat most of their values: hosts, programs,
/// users, status codes), so only new values are hashed.
pub fn event_terms_cached<'a>(
    attrs: &'a Value,
    backend: Backend,
    cache: &mut std::collections::HashMap<(usize, std::borrow::Cow<'a, str>), i64>,
) -> Vec<i64> {
    event_terms_by(attrs, backend, |at, text| {
        *cache.entry((at, text)).or_insert_with_key(|(at, text)| term_key(TERM_PATHS[*at], text))
    })
}

/// The walk of [`event_terms`], with `key` giving the term key of the
/// rendered value at the path `TERM_PATHS[at]`.
fn event_terms_by<'a>(
    attrs: &'a Value,
    backend: Backend,
    mut key: impl FnMut(usize, std::borrow::Cow<'a, str>) -> i64,
) -> Vec<i64> {
    let mut found: Vec<(usize, i64)> = Vec::new();
    let mut add = |at: usize, v: &'a Value| {
        if at < TERM_PATHS.len()
            && let Some(text) = rendered(v, backend)
        {
            found.push((at, key(at, text)));
        }
    };
    let names = field_term_names();
    if let Some(Value::Object(fields)) = attrs.get("fields") {
        if fields.len() <= names.len() {
            for (name, v) in fields {
                if let Ok(i) = names.binary_search_by(|(n, _)| (*n).cmp(name.as_str())) {
                    add(names[i].1, v);
                }
            }
        } else {
            for (name, at) in names {
                if let Some(v) = fields.get(*name) {
                    add(*at, v);
                }
            }
        }
    }
    for (at, path) in TERM_PATHS.iter().enumerate() {
        if matches!(path, ["fields", _]) {
            continue;
        }
        let mut v = Some(attrs);
        for part in *path {
            v = v.and_then(|x| x.get(*part));
        }
        if let Some(v) = v {
            add(at, v);
        }
    }
    found.sort_unstable_by_key(|(at, _)| *at);
    let mut keys = Vec::with_capacity(found.len());
    for (_, key) in found {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// Rows per multi-row term insert or delete (three parameters each). With
/// anonymous parameters on SQLite (see [`Backend::param`]) binding is
/// linear, so a statement can carry many rows: fewer round trips to the
/// database's worker.
const TERMS_PER_INSERT: usize = 128;
/// Rows per term delete (retention): each is an OR of three-column
/// matches, which SQLite plans one index probe at a time.
const TERMS_PER_DELETE: usize = 32;

/// Inserts the `(term, event_seq)` rows (in their buckets), skipping ones
/// already there.
pub(crate) async fn insert_terms(
    conn: &mut sqlx::AnyConnection,
    rows: &[(i64, i64)],
    backend: Backend,
    shift: u32,
) -> Result<()> {
    for chunk in rows.chunks(TERMS_PER_INSERT) {
        let mut sql = String::from("INSERT INTO log_terms (bucket, term, event_seq) VALUES ");
        sql.push_str(&backend.value_rows(chunk.len(), 3));
        sql.push_str(" ON CONFLICT DO NOTHING");
        execute_with_rows(conn, &sql, chunk, shift).await?;
    }
    Ok(())
}

/// Runs `sql` with each `(term, event_seq)` row of `chunk` bound, in
/// order, as its three parameters `bucket, term, event_seq`.
async fn execute_with_rows(conn: &mut sqlx::AnyConnection, sql: &str, chunk: &[(i64, i64)], shift: u32) -> Result<()> {
    let mut q = sqlx::query(sql);
    for (term, seq) in chunk {
        q = q.bind(bucket(*seq, shift)).bind(*term).bind(*seq);
    }
    q.execute(&mut *conn).await?;
    Ok(())
}

/// Deletes the term rows of the events `(seq, attrs)`.
pub(crate) async fn delete_terms(
    conn: &mut sqlx::AnyConnection,
    events: &[(i64, Value)],
    backend: Backend,
    shift: u32,
) -> Result<()> {
    let rows: Vec<(i64, i64)> = events
        .iter()
        .flat_map(|(seq, attrs)| event_terms(attrs, backend).into_iter().map(move |t| (t, *seq)))
        .collect();
    for chunk in rows.chunks(TERMS_PER_DELETE) {
        let mut sql = String::from("DELETE FROM log_terms WHERE ");
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push_str(" OR ");
            }
            sql.push_str("(bucket = ");
            backend.param(&mut sql, 3 * i + 1);
            sql.push_str(" AND term = ");
            backend.param(&mut sql, 3 * i + 2);
            sql.push_str(" AND event_seq = ");
            backend.param(&mut sql, 3 * i + 3);
            sql.push(')');
        }
        execute_with_rows(conn, &sql, chunk, shift).await?;
    }
    Ok(())
}

impl Store {
    /// The lowest event `seq` from which every event has its terms (1
    /// when all have): searches use the term index only when it is 1.
    pub async fn terms_from(&self) -> Result<i64> {
        let row = sqlx::query("SELECT value FROM audit_index_state WHERE name = 'terms_from'")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get::<i64, _>("value")).transpose()?.unwrap_or(1))
    }

    /// One backfill step: writes the terms of up to [`BACKFILL_CHUNK`]
    /// events below `terms_from`, newest first, and lowers it. Returns the
    /// new `terms_from` (1: done). Safe to run on several nodes at once:
    /// inserts skip rows already there and `terms_from` only goes down.
    pub async fn backfill_terms(&self) -> Result<i64> {
        let from = self.terms_from().await?;
        if from <= 1 {
            return Ok(1);
        }
        let backend = self.backend();
        let mut tx = self.begin_relaxed_write().await?;
        let rows = sqlx::query("SELECT seq, attrs FROM audit_events WHERE seq < $1 ORDER BY seq DESC LIMIT $2")
            .bind(from)
            .bind(BACKFILL_CHUNK)
            .fetch_all(&mut *tx)
            .await?;
        let mut terms = Vec::new();
        let mut lowest = from;
        for r in &rows {
            let seq: i64 = r.try_get("seq")?;
            let attrs: String = r.try_get("attrs")?;
            // An unreadable row has no terms; search still reads it.
            if let Ok(attrs) = serde_json::from_str::<Value>(&attrs) {
                terms.extend(event_terms(&attrs, backend).into_iter().map(|t| (t, seq)));
            }
            lowest = lowest.min(seq);
        }
        insert_terms(&mut tx, &terms, backend, self.term_shift).await?;
        // Fewer rows than asked: nothing older is left.
        let next = if (rows.len() as i64) < BACKFILL_CHUNK { 1 } else { lowest };
        sqlx::query("UPDATE audit_index_state SET value = $1 WHERE name = 'terms_from' AND value > $1")
            .bind(next)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(next)
    }
}

/// Test hooks: the term index's state, and what an older database looks like.
impl Store {
    /// How many term rows there are.
    #[doc(hidden)]
    pub async fn term_rows_for_tests(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM log_terms").fetch_one(&self.pool).await?.try_get("n")?)
    }

    /// Drops every term row and marks every stored event as still to be
    /// backfilled: a database from before the term index.
    #[doc(hidden)]
    pub async fn forget_terms_for_tests(&self) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM log_terms").execute(&mut *tx).await?;
        sqlx::query(
            "UPDATE audit_index_state SET value = (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_events) \
             WHERE name = 'terms_from'",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Makes the term index's buckets hold `1 << shift` events, so a test
    /// crosses buckets with few events. Only on a store with no events.
    #[doc(hidden)]
    pub fn with_term_buckets_for_tests(mut self, shift: u32) -> Store {
        self.term_shift = shift;
        self
    }

    /// Adds one term row as it is given: a hash collision, for tests.
    #[doc(hidden)]
    pub async fn add_term_for_tests(&self, term: i64, event_seq: i64) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        insert_terms(&mut conn, &[(term, event_seq)], self.backend(), self.term_shift).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_path_and_value() {
        assert_ne!(term_key(&["fields", "User"], "alice"), term_key(&["fields", "Use"], "ralice"));
        assert_ne!(term_key(&["fields", "User"], "alice"), term_key(&["fields", "User"], "Alice"));
        assert_eq!(term_key(&["fields", "User"], "alice"), term_key(&["fields", "User"], "alice"));
    }

    /// Keys are stored (term rows, block summaries): they must never
    /// change. The values are SHA-256 of the documented input, computed
    /// independently (Python's hashlib).
    #[test]
    fn keys_are_stable() {
        assert_eq!(term_key(&["fields", "User"], "alice"), 8857564520539598399);
        assert_eq!(term_key(&["@column", "host"], "web01"), 8222429751390880719);
    }

    #[test]
    fn cached_keys_are_the_keys() {
        let events = [
            serde_json::json!({"fields": {"User": "alice", "src_ip": "10.0.0.1", "dst_port": 22}, "syslog": {"app_name": "sshd"}}),
            serde_json::json!({"fields": {"User": "alice", "src_ip": "10.0.0.2", "dst_port": 22}, "syslog": {"app_name": "sshd"}}),
        ];
        let mut cache = std::collections::HashMap::new();
        for backend in [Backend::Sqlite, Backend::Postgres] {
            for attrs in &events {
                assert_eq!(event_terms_cached(attrs, backend, &mut cache), event_terms(attrs, backend));
            }
            cache.clear();
        }
    }

    #[test]
    fn only_listed_scalar_values_get_terms() {
        let attrs = serde_json::json!({
            "fields": {"User": "alice", "dst_port": 22, "src_ip": "10.0.0.1", "CommandLine": "id",
                       "EventID": 4625.5, "Image": "x".repeat(MAX_TERM_VALUE + 1), "action": true},
            "syslog": {"app_name": "sshd"},
        });
        let keys = event_terms(&attrs, Backend::Sqlite);
        let want = [
            term_key(&["fields", "User"], "alice"),
            term_key(&["fields", "src_ip"], "10.0.0.1"),
            term_key(&["fields", "dst_port"], "22"),
            term_key(&["fields", "action"], "1"),
            term_key(&["syslog", "app_name"], "sshd"),
        ];
        assert_eq!(keys.len(), want.len(), "{keys:?}");
        assert!(want.iter().all(|k| keys.contains(k)));
        assert!(event_terms(&attrs, Backend::Postgres).contains(&term_key(&["fields", "action"], "true")));
        assert!(event_terms(&serde_json::json!({"fields": "not an object"}), Backend::Sqlite).is_empty());
    }

    /// What `event_terms` gives, by the definition: every listed path
    /// looked up in turn.
    fn terms_by_walking_every_path(attrs: &Value, backend: Backend) -> Vec<i64> {
        let mut keys = Vec::new();
        for path in TERM_PATHS {
            let mut at = Some(attrs);
            for part in *path {
                at = at.and_then(|v| v.get(*part));
            }
            if let Some(text) = at.and_then(|v| rendered(v, backend)) {
                let key = term_key(path, &text);
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
        keys
    }

    #[test]
    fn walking_the_fields_gives_the_terms_of_walking_the_paths() {
        let mut many = serde_json::Map::new();
        for i in 0..300 {
            many.insert(format!("f{i:03}"), Value::from(i));
        }
        many.insert("User".into(), "alice".into());
        many.insert("QueryName".into(), "example.org".into());
        many.insert("sc-status".into(), 404.into());
        let cases = [
            serde_json::json!({"fields": {"User": "alice", "src_ip": "10.0.0.1", "dst_port": 22, "action": true,
                                          "CommandLine": "id", "zzz": "x", "AAA": 1},
                               "syslog": {"app_name": "sshd"}}),
            serde_json::json!({"fields": Value::Object(many), "syslog": {"app_name": 7}}),
            serde_json::json!({"fields": {"User": "same", "TargetUser": "same"}}),
            serde_json::json!({"fields": {"Image": "x".repeat(MAX_TERM_VALUE + 1), "EventID": 1.5}}),
            serde_json::json!({"fields": {}, "syslog": {}}),
            serde_json::json!({"syslog": {"app_name": "cron"}}),
            serde_json::json!("not an object"),
        ];
        for attrs in &cases {
            for backend in [Backend::Sqlite, Backend::Postgres] {
                assert_eq!(event_terms(attrs, backend), terms_by_walking_every_path(attrs, backend), "{attrs}");
            }
        }
        assert_eq!(event_terms(&cases[1], Backend::Sqlite).len(), 4, "User, sc-status, QueryName and app_name");
    }

    #[test]
    fn queries_use_terms_only_for_values_that_have_them() {
        for (v, has) in [("alice", true), ("22", true), ("-3", true), ("1.5", false), ("1e3", false), ("[1]", false)] {
            assert_eq!(value_has_term(v), has, "{v}");
        }
        assert!(!value_has_term(&"x".repeat(MAX_TERM_VALUE + 1)));
    }
}
