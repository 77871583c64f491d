//! Edge cases of the message parsers and the dispatcher that the golden
//! snapshots do not show: odd user names, embedded separators, detection.

use rampart_core::Outcome;

use super::*;
use crate::record::Value;

#[test]
fn sshd_empty_invalid_user_and_ipv6_source() {
    let p = sshd::parse("Invalid user  from 2001:db8::5 port 2222").unwrap();
    assert_eq!(p.kind, "log.sshd.invalid_user");
    assert_eq!(p.fields.str("User"), Some(""));
    assert_eq!(p.fields.str("src_ip"), Some("2001:db8::5"));
}

#[test]
fn sshd_user_names_containing_from_are_split_at_the_last_from() {
    let p = sshd::parse("Failed password for invalid user from from 203.0.113.5 port 1 ssh2").unwrap();
    assert_eq!(p.fields.str("User"), Some("from"));
    assert_eq!(p.fields.get("src_port"), Some(&Value::Int(1)));
}

#[test]
fn sudo_command_may_contain_semicolons() {
    let p = sudo::parse("alice : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/sh -c echo a ; echo b").unwrap();
    assert_eq!(p.fields.str("CommandLine"), Some("/bin/sh -c echo a ; echo b"));
    assert_eq!(p.fields.str("Image"), Some("/bin/sh"));
    assert_eq!(p.outcome, Some(Outcome::Success));
}

#[test]
fn sudo_informational_lines_are_not_denials() {
    let p = sudo::parse("alice : unable to resolve host web01: Name or service not known").unwrap();
    assert_eq!(p.kind, "log.sudo.other");
}

#[test]
fn web_escaped_quotes_in_user_agent() {
    let line = r#"1.2.3.4 - - [15/Jun/2024:11:59:40 +0000] "GET / HTTP/1.1" 200 1 "-" "a \"quoted\" agent""#;
    let p = web::parse(line).unwrap();
    assert_eq!(p.fields.str("c-useragent"), Some(r#"a \"quoted\" agent"#));
    assert_eq!(p.fields.get("sc-status"), Some(&Value::Int(200)));
}

#[test]
fn web_malformed_request_line_is_kept_whole() {
    let line = r#"1.2.3.4 - - [15/Jun/2024:11:59:40 +0000] "\x16\x03\x01" 400 157 "-" "-""#;
    let p = web::parse(line).unwrap();
    assert_eq!(p.fields.get("cs-method"), None);
    assert_eq!(p.fields.str("request"), Some(r"\x16\x03\x01"));
    assert_eq!(p.outcome, Some(Outcome::Failure));
}

#[test]
fn kv_needs_two_pairs_and_identifier_keys() {
    assert!(kv::parse("x=1").is_none());
    assert!(kv::parse("the answer is a=b or c").is_none());
    let p = kv::parse("a=1 b=007 c=\"x y\"").unwrap();
    assert_eq!(p.fields.get("a"), Some(&Value::Int(1)));
    assert_eq!(p.fields.str("b"), Some("007"));
    assert_eq!(p.fields.str("c"), Some("x y"));
}

#[test]
fn json_rejects_non_objects_and_bad_json() {
    assert!(json::parse("[1,2]").is_none());
    assert!(json::parse("{\"a\":").is_none());
    assert!(json::parse("not json").is_none());
}

#[test]
fn detection_by_app_name_and_content() {
    assert_eq!(detect(Some("sshd-session"), "x"), ParserKind::Sshd);
    assert_eq!(detect(Some("/usr/sbin/sshd"), "x"), ParserKind::Sshd);
    assert_eq!(detect(Some("systemd-logind"), "pam_unix(login:session): x"), ParserKind::Pam);
    assert_eq!(detect(Some("kernel"), "audit: type=1300 audit(1.2:3): x"), ParserKind::Auditd);
    assert_eq!(detect(None, "node=h type=EOE msg=audit(1.2:3): "), ParserKind::Auditd);
    assert_eq!(detect(None, " {\"a\":1}"), ParserKind::Json);
    assert_eq!(detect(None, "hello world"), ParserKind::Raw);
    assert_eq!(detect(Some("myapp"), "hello a=b"), ParserKind::Kv);
}

#[test]
fn parser_names_round_trip_and_unknown_names_are_rejected() {
    for kind in [ParserKind::Auto, ParserKind::Sshd, ParserKind::Web, ParserKind::Postgres, ParserKind::Raw] {
        assert_eq!(kind.name().parse::<ParserKind>(), Ok(kind));
    }
    assert_eq!("nginx".parse::<ParserKind>(), Ok(ParserKind::Web));
    assert!("sendmail".parse::<ParserKind>().is_err());
}

#[test]
fn a_configured_parser_that_does_not_match_keeps_its_other_kind() {
    let p = parse_message(ParserKind::Postgres, None, "not a postgres line");
    assert_eq!((p.kind, p.class), ("log.postgresql.other", crate::record::OcsfClass::Base));
}
