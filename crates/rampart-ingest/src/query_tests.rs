//! The search language: what parses to what, and what is refused with
//! which error.

use super::*;

const NOW: i64 = 1_800_000_000_000;

fn p(q: &str) -> Query {
    parse(q, NOW).unwrap_or_else(|e| panic!("{q:?}: {e}"))
}

fn f(field: &str, m: Match) -> Expr {
    Expr::Field(field.into(), m)
}

fn exact(s: &str) -> Match {
    Match::Exact(s.into())
}

fn and(a: Expr, b: Expr) -> Expr {
    Expr::And(Box::new(a), Box::new(b))
}

#[test]
fn fields_phrases_and_words() {
    assert_eq!(p("host:web01").filter, Some(f("host", exact("web01"))));
    assert_eq!(p(r#"message:"Failed password""#).filter, Some(f("message", exact("Failed password"))));
    assert_eq!(p(r#""a \"quoted\" word""#).filter, Some(Expr::Text(exact(r#"a "quoted" word"#))));
    assert_eq!(p("root").filter, Some(Expr::Text(exact("root"))));
    assert_eq!(p("kind:log.sshd.*").filter, Some(f("kind", Match::Wildcard("log.sshd.*".into()))));
    assert_eq!(p("").filter, None);
    assert_eq!(p("   ").filter, None);
}

#[test]
fn boolean_operators_bind_as_usual() {
    // AND binds tighter than OR; adjacency is AND.
    let q = p("a b OR c");
    let ab = and(Expr::Text(exact("a")), Expr::Text(exact("b")));
    assert_eq!(q.filter, Some(Expr::Or(Box::new(ab), Box::new(Expr::Text(exact("c"))))));
    let q = p("a AND (b OR c)");
    let bc = Expr::Or(Box::new(Expr::Text(exact("b"))), Box::new(Expr::Text(exact("c"))));
    assert_eq!(q.filter, Some(and(Expr::Text(exact("a")), bc)));
    assert_eq!(p("NOT user:root").filter, Some(Expr::Not(Box::new(f("user", exact("root"))))));
    assert_eq!(p("-user:root").filter, p("NOT user:root").filter);
    // Lower-case 'and' is a word, not an operator.
    assert_eq!(p("a and").filter, Some(and(Expr::Text(exact("a")), Expr::Text(exact("and")))));
}

#[test]
fn numeric_and_time_ranges() {
    let r = |lo, hi, ls, hs| Match::Range { lo, hi, lo_strict: ls, hi_strict: hs };
    assert_eq!(
        p("status:[500 TO 599]").filter,
        Some(f("status", r(Some(Bound::Number(500.0)), Some(Bound::Number(599.0)), false, false)))
    );
    assert_eq!(p("bytes:>1000").filter, Some(f("bytes", r(Some(Bound::Number(1000.0)), None, true, false))));
    assert_eq!(p("bytes:<=-5").filter, Some(f("bytes", r(None, Some(Bound::Number(-5.0)), false, false))));
    assert_eq!(p("port:[* TO 1024]").filter, Some(f("port", r(None, Some(Bound::Number(1024.0)), false, false))));
    assert_eq!(p("time:>15m").filter, Some(f("time", r(Some(Bound::Time(NOW - 900_000)), None, true, false))));
    assert_eq!(
        p("time:[2027-01-15T08:00:00Z TO 2027-01-15T09:00:00Z]").filter,
        Some(f("time", r(Some(Bound::Time(1_800_000_000_000)), Some(Bound::Time(1_800_003_600_000)), false, false)))
    );
}

#[test]
fn count_by() {
    let q = p("kind:log.sshd.* | count by host");
    assert_eq!(q.count_by.as_deref(), Some("host"));
    assert!(q.filter.is_some());
    assert_eq!(p("| count by source").count_by.as_deref(), Some("source"));
}

#[test]
fn malformed_queries_are_refused_with_where_and_why() {
    for (q, want) in [
        ("(a OR b", "unclosed '('"),
        ("a)", "unexpected input"),
        ("\"open", "unterminated"),
        ("status:[1 2]", "[LOW TO HIGH]"),
        ("status:[1 TO 2", "unclosed '['"),
        ("bytes:>abc", "not a number"),
        ("time:>yesterday", "not a time"),
        ("host:", "needs a value"),
        ("| count host", "count by"),
        ("| count by", "needs a field"),
        ("OR a", "needs a term"),
        ("a OR", "expected a term"),
        ("NOT", "expected a term"),
        ("'x:y", "not a field name"),
        ("bytes:>*", "not a number"),
        (r#""\n""#, "unknown escape"),
    ] {
        match parse(q, NOW) {
            Err(QueryError::Syntax { what, .. }) => assert!(what.contains(want), "{q:?}: {what}"),
            other => panic!("{q:?} gave {other:?}, want an error with {want:?}"),
        }
    }
    assert_eq!(parse(&"a ".repeat(3000), NOW), Err(QueryError::TooLong));
    assert_eq!(parse(&"a ".repeat(65), NOW), Err(QueryError::TooManyTerms));
    assert_eq!(parse(&format!("{}a{}", "(".repeat(40), ")".repeat(40)), NOW), Err(QueryError::TooDeep));
    assert_eq!(parse(&"NOT ".repeat(40), NOW), Err(QueryError::TooDeep));
}

#[test]
fn relative_times() {
    assert_eq!(parse_duration_ms("15m"), Some(900_000));
    assert_eq!(parse_duration_ms("7d"), Some(604_800_000));
    assert_eq!(parse_duration_ms("m"), None);
    assert_eq!(parse_duration_ms("-5m"), None);
    assert_eq!(parse_duration_ms("99999999999999999d"), None);
    assert_eq!(parse_time("2h", NOW), Some(NOW - 7_200_000));
    assert_eq!(parse_time("1970-01-01T00:00:01Z", NOW), Some(1000));
}

proptest::proptest! {
    /// No input panics, and whatever parses stays within the bounds.
    #[test]
    fn any_input_parses_or_is_refused(s in "\\PC{0,200}") {
        let _ = parse(&s, NOW);
    }

    #[test]
    fn query_like_input_parses_or_is_refused(s in "[a-z:()\\[\\]\"*<>=| -]{0,80}|(NOT |AND |OR |TO |count |by |x:1 )*") {
        let _ = parse(&s, NOW);
    }
}
