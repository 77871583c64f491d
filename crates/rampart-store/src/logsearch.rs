//! Log search: a parsed [`Query`] compiled to one parameterised SQL
//! statement over `audit_events` for SQLite or PostgreSQL. Statements are
//! assembled from fixed fragments only; every value of the query (words,
//! phrases, bounds, JSON paths) is a bound parameter, never spliced.
//!
//! Fields map to columns where there is one (`kind`, `actor`, `object`,
//! `outcome`, `source`, `host`, `source_addr`, `tenant`, `id`, `time`,
//! `index`), indexed as (column, seq) so a field query reads an index range
//! newest first and stops at the page size; `message`, `ocsf.*`,
//! `syslog.*`, `source.*` and `logsource.*` are read from the event's JSON;
//! any other name is a parsed field (`User`, `src_ip`, `CommandLine`, … or
//! `fields.User`). A bare word or phrase matches anywhere in the event's
//! JSON text, case-insensitively (ASCII). See `docs/search.md`.

use rampart_ingest::query::{Bound, Expr, Match, Query};
use sqlx::Row;

use crate::audit::{COLUMNS, StoredEvent, stored_event};
use crate::{Backend, Result, Store, terms};

/// A bound value.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    Int(i64),
    Real(f64),
}

/// Where a field lives.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Target {
    /// A text column.
    Column(&'static str),
    /// An integer column (`time_ms`, `ledger_index`).
    IntColumn(&'static str),
    /// A path into `attrs`.
    Json(Vec<String>),
}

pub(crate) fn target(field: &str) -> Target {
    match field {
        "kind" | "actor" | "object" | "outcome" | "source" | "host" | "source_addr" | "id" => {
            Target::Column(match field {
                "kind" => "kind",
                "actor" => "actor",
                "object" => "object",
                "outcome" => "outcome",
                "source" => "source",
                "host" => "host",
                "source_addr" => "source_addr",
                _ => "id",
            })
        }
        "tenant" | "tenant_id" => Target::Column("tenant_id"),
        "time" => Target::IntColumn("time_ms"),
        "index" | "ledger_index" => Target::IntColumn("ledger_index"),
        "message" | "ocsf.class_uid" | "ocsf.class_name" | "raw_base64" => Target::Json(vec![field.to_owned()]),
        _ => {
            for prefix in ["syslog.", "source.", "logsource.", "receiver."] {
                if let Some(rest) = field.strip_prefix(prefix) {
                    let mut path = vec![prefix.trim_end_matches('.').to_owned()];
                    path.extend(rest.split('.').map(str::to_owned));
                    return Target::Json(path);
                }
            }
            // Parsed fields keep dotted names (`userIdentity.arn`) as one key.
            let name = field.strip_prefix("fields.").unwrap_or(field);
            Target::Json(vec!["fields".to_owned(), name.to_owned()])
        }
    }
}

/// A statement under construction.
struct Sql {
    backend: Backend,
    text: String,
    params: Vec<Param>,
}

impl Sql {
    fn bind(&mut self, p: Param) -> String {
        self.params.push(p);
        format!("${}", self.params.len())
    }

    /// The field's value as text (NULL when absent).
    fn value(&mut self, t: &Target) -> String {
        match t {
            Target::Column(c) => (*c).to_owned(),
            Target::IntColumn(c) => format!("CAST({c} AS TEXT)"),
            Target::Json(path) => match self.backend {
                Backend::Sqlite => {
                    // Keys hold only the characters `valid_field` allows, so
                    // quoting them cannot break out; the path is bound anyway.
                    let p = self.bind(Param::Text(
                        std::iter::once("$".to_owned())
                            .chain(path.iter().map(|k| format!("\"{k}\"")))
                            .collect::<Vec<_>>()
                            .join("."),
                    ));
                    format!("CAST(json_extract(attrs, {p}) AS TEXT)")
                }
                Backend::Postgres => {
                    let p = self.bind(Param::Text(format!("{{{}}}", path.join(","))));
                    format!("(CAST(attrs AS jsonb) #>> CAST({p} AS text[]))")
                }
            },
        }
    }

    fn like(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "LIKE",
            Backend::Postgres => "ILIKE",
        }
    }

    fn expr(&mut self, e: &Expr) {
        match e {
            Expr::And(a, b) | Expr::Or(a, b) => {
                self.text.push('(');
                self.expr(a);
                self.text.push_str(if matches!(e, Expr::And(..)) { " AND " } else { " OR " });
                self.expr(b);
                self.text.push(')');
            }
            Expr::Not(a) => {
                // NULL (field absent) counts as "not matching", so NOT of it
                // matches.
                self.text.push_str("(NOT COALESCE(");
                self.expr(a);
                self.text.push_str(", FALSE))");
            }
            Expr::Text(m) => {
                let needle = match m {
                    Match::Exact(s) => format!("%{}%", like_escape(&json_inner(s))),
                    Match::Wildcard(s) => format!("%{}%", wildcard(&json_inner(s))),
                    // The parser gives ranges to fields only.
                    Match::Range { .. } => "%".to_owned(),
                };
                let p = self.bind(Param::Text(needle));
                let like = self.like();
                self.text.push_str(&format!("(attrs {like} {p} ESCAPE '\\')"));
            }
            Expr::Field(name, m) => self.field(&target(name), m),
        }
    }

    fn field(&mut self, t: &Target, m: &Match) {
        match m {
            Match::Exact(s) => {
                let cond = match t {
                    Target::IntColumn(c) => match s.parse::<i64>() {
                        Ok(n) => {
                            let p = self.bind(Param::Int(n));
                            format!("{c} = {p}")
                        }
                        Err(_) => "FALSE".to_owned(),
                    },
                    _ => {
                        let v = self.value(t);
                        let p = self.bind(Param::Text(s.clone()));
                        format!("{v} = {p}")
                    }
                };
                self.text.push_str(&format!("({cond})"));
            }
            Match::Wildcard(s) => {
                let v = self.value(t);
                let p = self.bind(Param::Text(wildcard(s)));
                let like = self.like();
                self.text.push_str(&format!("({v} {like} {p} ESCAPE '\\')"));
            }
            Match::Range { lo, hi, lo_strict, hi_strict } => {
                let subject = match t {
                    Target::IntColumn(c) => (*c).to_owned(),
                    _ => {
                        let v = self.value(t);
                        match self.backend {
                            Backend::Sqlite => {
                                format!("(CASE WHEN {v} GLOB '*[0-9]*' THEN CAST({v} AS REAL) END)")
                            }
                            Backend::Postgres => format!(
                                "(CASE WHEN {v} ~ '^\\s*-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?\\s*$' \
                                 THEN CAST({v} AS double precision) END)"
                            ),
                        }
                    }
                };
                let mut conds = Vec::new();
                for (bound, strict, op) in [(lo, lo_strict, ">"), (hi, hi_strict, "<")] {
                    if let Some(b) = bound {
                        let p = match b {
                            Bound::Time(t) => self.bind(Param::Int(*t)),
                            Bound::Number(n) if matches!(t, Target::IntColumn(_)) && n.fract() == 0.0 => {
                                self.bind(Param::Int(*n as i64))
                            }
                            Bound::Number(n) => self.bind(Param::Real(*n)),
                        };
                        let eq = if *strict { "" } else { "=" };
                        conds.push(format!("{subject} {op}{eq} {p}"));
                    }
                }
                if conds.is_empty() {
                    conds.push(format!("{subject} IS NOT NULL"));
                }
                self.text.push_str(&format!("({})", conds.join(" AND ")));
            }
        }
    }
}

/// How the text of a value appears inside the event's JSON: escaped as a
/// JSON string (without the quotes), so phrases with quotes or
/// backslashes are found.
pub(crate) fn json_inner(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or_default().to_owned()
}

/// Escapes LIKE's own wildcards (with `\`).
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A `*`/`?` pattern as a LIKE pattern.
fn wildcard(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '*' => out.push('%'),
            '?' => out.push('_'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// What to search: a parsed query, a time window and a page.
#[derive(Debug, Clone)]
pub struct LogSearch {
    pub query: Query,
    /// From this time (inclusive), Unix milliseconds.
    pub since_ms: Option<i64>,
    /// Until this time (exclusive), Unix milliseconds.
    pub until_ms: Option<i64>,
    /// Only events older (smaller `seq`) than this cursor.
    pub before: Option<i64>,
    pub limit: usize,
}

/// A compiled statement: SQL text and its parameters in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    pub sql: String,
    pub params: Vec<Param>,
}

/// The WHERE clause of `search` (time window, cursor, filter) with its
/// parameters bound so far.
fn where_clause(search: &LogSearch, backend: Backend) -> (Sql, String) {
    let mut sql = Sql { backend, text: String::new(), params: Vec::new() };
    let mut conds = Vec::new();
    if let Some(since) = search.since_ms {
        conds.push(format!("time_ms >= {}", sql.bind(Param::Int(since))));
    }
    if let Some(until) = search.until_ms {
        conds.push(format!("time_ms < {}", sql.bind(Param::Int(until))));
    }
    if let Some(before) = search.before {
        conds.push(format!("seq < {}", sql.bind(Param::Int(before))));
    }
    if let Some(filter) = &search.query.filter {
        sql.expr(filter);
        conds.push(std::mem::take(&mut sql.text));
    }
    let filter = if conds.is_empty() { "TRUE".to_owned() } else { conds.join(" AND ") };
    (sql, filter)
}

/// The terms of the filter's top-level conjunction, left to right (the
/// filter itself when it is not an AND).
pub(crate) fn conjuncts(filter: &Expr) -> Vec<&Expr> {
    let mut out = Vec::new();
    let mut stack = vec![filter];
    while let Some(e) = stack.pop() {
        match e {
            Expr::And(a, b) => {
                stack.push(b);
                stack.push(a);
            }
            other => out.push(other),
        }
    }
    out
}

/// The term key a search can be driven by: an exact match, in the
/// filter's top-level conjunction, on a field the term index covers, with
/// a value that would have a term (see `terms.rs`). The leftmost wins.
fn driver(filter: &Expr) -> Option<i64> {
    for e in conjuncts(filter) {
        if let Expr::Field(name, Match::Exact(value)) = e
            && let Target::Json(path) = target(name)
            && terms::is_term_path(&path)
            && terms::value_has_term(value)
        {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            return Some(terms::term_key(&path, value));
        }
    }
    None
}

/// Which part of the term index a compiled search reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermScan<'a> {
    /// None: the search reads the events.
    No,
    /// The driver term's rows in one bucket (pages are read bucket by
    /// bucket, newest first).
    Bucket(i64),
    /// The driver term's rows in these buckets (counts).
    Buckets(&'a [i64]),
}

/// The term key `search` can be driven by, if any (see [`driver`]).
pub fn driver_term(search: &LogSearch) -> Option<i64> {
    search.query.filter.as_ref().and_then(driver)
}

/// Compiles `search` for `backend`: matching events newest first, or with
/// `| count by FIELD` the counts per value, largest first. With a
/// [`TermScan`] other than `No` and a driver term, the search reads that
/// term's rows (in the given buckets) newest first and checks the rest of
/// the filter (that field's value included, so a hash collision cannot
/// leak) on those events only.
pub fn compile(search: &LogSearch, backend: Backend, scan: TermScan<'_>) -> Compiled {
    let (mut sql, filter) = where_clause(search, backend);
    let limit = i64::try_from(search.limit).unwrap_or(i64::MAX);
    let driven = match scan {
        TermScan::No => None,
        _ => driver_term(search),
    };
    // CROSS JOIN makes SQLite read the term's rows first; PostgreSQL's
    // planner picks the same with the LIMIT.
    let (from, filter, order) = match driven {
        Some(term) => {
            let k = sql.bind(Param::Int(term));
            let buckets = match scan {
                TermScan::Bucket(b) => format!("t.bucket = {}", sql.bind(Param::Int(b))),
                TermScan::Buckets(list) if !list.is_empty() => {
                    let ps: Vec<String> = list.iter().map(|b| sql.bind(Param::Int(*b))).collect();
                    format!("t.bucket IN ({})", ps.join(","))
                }
                _ => "FALSE".to_owned(),
            };
            (
                "log_terms t CROSS JOIN audit_events e".to_owned(),
                format!("{buckets} AND t.term = {k} AND e.seq = t.event_seq AND {filter}"),
                "t.event_seq DESC",
            )
        }
        None => ("audit_events".to_owned(), filter, "seq DESC"),
    };
    let text = match &search.query.count_by {
        Some(field) => {
            let value = sql.value(&target(field));
            let p = sql.bind(Param::Int(limit));
            format!(
                "SELECT {value} AS value, COUNT(*) AS n FROM {from} WHERE {filter} \
                 GROUP BY 1 ORDER BY n DESC, value LIMIT {p}"
            )
        }
        None => {
            // One more than asked: whether there is a next page.
            let p = sql.bind(Param::Int(limit.saturating_add(1)));
            format!("SELECT {COLUMNS} FROM {from} WHERE {filter} ORDER BY {order} LIMIT {p}")
        }
    };
    Compiled { sql: text, params: sql.params }
}

/// The events matching `search` after `after_seq`, oldest first.
pub fn compile_after(search: &LogSearch, after_seq: i64, backend: Backend) -> Compiled {
    let (mut sql, filter) = where_clause(search, backend);
    let after = sql.bind(Param::Int(after_seq));
    let p = sql.bind(Param::Int(i64::try_from(search.limit).unwrap_or(i64::MAX)));
    Compiled {
        sql: format!("SELECT {COLUMNS} FROM audit_events WHERE {filter} AND seq > {after} ORDER BY seq LIMIT {p}"),
        params: sql.params,
    }
}

/// A page of matching events, newest first, and the cursor of the next.
#[derive(Debug, Clone)]
pub struct LogPage {
    pub events: Vec<StoredEvent>,
    pub next: Option<i64>,
}

/// One value's count in `| count by FIELD`; `None` for events without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub value: Option<String>,
    pub count: i64,
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    params: &'q [Param],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for p in params {
        q = match p {
            Param::Text(s) => q.bind(s.as_str()),
            Param::Int(n) => q.bind(*n),
            Param::Real(x) => q.bind(*x),
        };
    }
    q
}

impl Store {
    /// The buckets of the term index a search driven by a term reads,
    /// newest first, below `before` when given; `None` when it must read
    /// the events instead (no driver term, or the term index not complete).
    async fn term_buckets(&self, search: &LogSearch) -> Result<Option<Vec<i64>>> {
        if driver_term(search).is_none() || self.terms_from().await? > 1 {
            return Ok(None);
        }
        // Two subqueries: SQLite answers a lone MIN or MAX from the index
        // edge, but both in one SELECT read the whole table (240 ms at 2M
        // events).
        let row =
            sqlx::query("SELECT (SELECT MIN(seq) FROM audit_events) AS lo, (SELECT MAX(seq) FROM audit_events) AS hi")
                .fetch_one(&self.pool)
                .await?;
        let (lo, hi) = match (row.try_get::<Option<i64>, _>("lo")?, row.try_get::<Option<i64>, _>("hi")?) {
            (Some(lo), Some(hi)) => (lo, hi),
            _ => return Ok(Some(Vec::new())),
        };
        let hi = search.before.map_or(hi, |b| hi.min(b - 1));
        if hi < lo {
            return Ok(Some(Vec::new()));
        }
        let (top, bottom) = (terms::bucket(hi, self.term_shift), terms::bucket(lo, self.term_shift));
        if top - bottom >= terms::MAX_BUCKETS_SCANNED {
            return Ok(None);
        }
        Ok(Some((bottom..=top).rev().collect()))
    }

    /// Rows of `audit_events` matching `search` (its `before` a `seq`
    /// here), newest first, at most `search.limit + 1`.
    pub(crate) async fn search_rows(&self, search: &LogSearch) -> Result<Vec<StoredEvent>> {
        let search = LogSearch { query: Query { count_by: None, ..search.query.clone() }, ..search.clone() };
        let mut events = Vec::new();
        match self.term_buckets(&search).await? {
            None => {
                let compiled = compile(&search, self.backend(), TermScan::No);
                let rows = bind_all(sqlx::query(&compiled.sql), &compiled.params).fetch_all(&self.pool).await?;
                events = rows.iter().map(stored_event).collect::<Result<Vec<_>>>()?;
            }
            // Bucket by bucket, newest first, until one more than the page.
            Some(buckets) => {
                for bucket in buckets {
                    let want = search.limit + 1 - events.len();
                    let compiled = compile(
                        &LogSearch { limit: want - 1, ..search.clone() },
                        self.backend(),
                        TermScan::Bucket(bucket),
                    );
                    let rows = bind_all(sqlx::query(&compiled.sql), &compiled.params).fetch_all(&self.pool).await?;
                    for row in &rows {
                        events.push(stored_event(row)?);
                    }
                    if events.len() > search.limit {
                        break;
                    }
                }
            }
        }
        events.truncate(search.limit + 1);
        Ok(events)
    }

    /// `| count by FIELD` over rows: counts per value, largest first, at
    /// most `search.limit` values.
    pub(crate) async fn count_rows(&self, search: &LogSearch) -> Result<Vec<Bucket>> {
        let buckets = self.term_buckets(search).await?;
        let scan = buckets.as_deref().map_or(TermScan::No, TermScan::Buckets);
        let compiled = compile(search, self.backend(), scan);
        let rows = bind_all(sqlx::query(&compiled.sql), &compiled.params).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| Ok(Bucket { value: r.try_get::<Option<String>, _>("value")?, count: r.try_get("n")? }))
            .collect()
    }

    /// Rows after `after_seq` (oldest first, at most `limit`).
    pub(crate) async fn rows_after(&self, search: &LogSearch, after_seq: i64) -> Result<Vec<StoredEvent>> {
        let compiled = compile_after(search, after_seq, self.backend());
        let rows = bind_all(sqlx::query(&compiled.sql), &compiled.params).fetch_all(&self.pool).await?;
        rows.iter().map(stored_event).collect()
    }

    /// The `seq` of the first row at ledger position `position` or later:
    /// a position cursor as a bound on rows (`None`: every row is below).
    pub(crate) async fn seq_from_position(&self, position: i64) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT seq FROM audit_events WHERE ledger_index >= $1 ORDER BY ledger_index LIMIT 1")
            .bind(position)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("seq")).transpose()?)
    }

    /// The `seq` of the last row at ledger position `position` or earlier
    /// (0 when there is none).
    pub(crate) async fn seq_through_position(&self, position: i64) -> Result<i64> {
        let row =
            sqlx::query("SELECT seq FROM audit_events WHERE ledger_index <= $1 ORDER BY ledger_index DESC LIMIT 1")
                .bind(position)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| r.try_get("seq")).transpose()?.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_ingest::query::parse;

    fn c(q: &str, backend: Backend) -> Compiled {
        let query = parse(q, 1_000_000).unwrap_or_else(|e| panic!("{e}"));
        compile(&LogSearch { query, since_ms: None, until_ms: None, before: None, limit: 10 }, backend, TermScan::No)
    }

    #[test]
    fn values_are_bound_never_spliced() {
        let hostile = r#"host:"x' OR 1=1 --" "'; DROP TABLE audit_events; --" User:"a%b_c""#;
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let compiled = c(hostile, backend);
            assert!(!compiled.sql.contains("DROP"), "{}", compiled.sql);
            assert!(!compiled.sql.contains("1=1"), "{}", compiled.sql);
            assert!(compiled.params.contains(&Param::Text("x' OR 1=1 --".into())));
            // LIKE wildcards in a phrase are matched literally.
            assert!(compiled.params.contains(&Param::Text("%'; DROP TABLE audit\\_events; --%".into())));
        }
    }

    #[test]
    fn fields_map_to_columns_or_json_paths() {
        let s = c("host:web01 User:root syslog.app_name:sshd time:>5m", Backend::Sqlite);
        assert!(s.sql.contains("(host = $1)"), "{}", s.sql);
        assert!(s.sql.contains("json_extract(attrs, $2)"), "{}", s.sql);
        assert_eq!(s.params[1], Param::Text(r#"$."fields"."User""#.into()));
        assert_eq!(s.params[3], Param::Text(r#"$."syslog"."app_name""#.into()));
        assert!(s.sql.contains("time_ms > $6"), "{}", s.sql);
        assert_eq!(s.params[5], Param::Int(1_000_000 - 300_000));
        let p = c("User:root", Backend::Postgres);
        assert!(p.sql.contains("#>> CAST($1 AS text[])"), "{}", p.sql);
        assert_eq!(p.params[0], Param::Text("{fields,User}".into()));
    }

    #[test]
    fn an_exact_term_field_drives_the_search_when_terms_are_ready() {
        let search = |q: &str| LogSearch {
            query: parse(q, 1_000_000).unwrap_or_else(|e| panic!("{e}")),
            since_ms: None,
            until_ms: None,
            before: Some(99),
            limit: 10,
        };
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let driven = compile(&search("host:web01 AND User:alice"), backend, TermScan::Bucket(3));
            assert!(driven.sql.contains("FROM log_terms t CROSS JOIN audit_events e"), "{}", driven.sql);
            assert!(driven.sql.contains("t.bucket = $"), "{}", driven.sql);
            let counted = compile(&search("User:alice | count by host"), backend, TermScan::Buckets(&[4, 3]));
            assert!(counted.sql.contains("t.bucket IN ($"), "{}", counted.sql);
            assert!(driven.sql.contains("ORDER BY t.event_seq DESC"), "{}", driven.sql);
            let key = terms::term_key(&["fields", "User"], "alice");
            assert!(driven.params.contains(&Param::Int(key)));
            // The value is still compared on each event (collisions).
            assert!(driven.params.contains(&Param::Text("alice".into())));
            for q in ["User:alice*", "User:alice OR host:x", "NOT User:alice", "CommandLine:id", "User:1.5", "alice"] {
                let plain = compile(&search(q), backend, TermScan::Bucket(0));
                assert!(!plain.sql.contains("log_terms"), "{q}: {}", plain.sql);
            }
            assert!(!compile(&search("User:alice"), backend, TermScan::No).sql.contains("log_terms"));
        }
    }

    #[test]
    fn count_by_groups_on_the_field() {
        let s = c("kind:log.* | count by host", Backend::Sqlite);
        assert!(s.sql.starts_with("SELECT host AS value, COUNT(*) AS n"), "{}", s.sql);
        assert!(s.sql.contains("kind LIKE $1 ESCAPE"), "{}", s.sql);
        assert_eq!(s.params[0], Param::Text("log.%".into()));
    }
}
