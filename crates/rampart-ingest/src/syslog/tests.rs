//! Tests of syslog parsing against the RFC 5424 and RFC 3164 examples and
//! the real-world variants the lenient reader exists for.

use time::macros::datetime;
use time::{OffsetDateTime, UtcOffset};

use super::*;

fn ctx() -> ParseContext {
    ParseContext::new(datetime!(2024-06-15 12:00:00 UTC), UtcOffset::UTC)
}

fn p(line: &[u8]) -> SyslogRecord {
    parse(line.to_vec(), &ctx())
}

fn header(r: &SyslogRecord) -> (Option<&str>, Option<&str>, Option<&str>, Option<&str>) {
    (r.hostname.as_deref(), r.app_name.as_deref(), r.proc_id.as_deref(), r.msg_id.as_deref())
}

#[test]
fn rfc5424_example_with_bom_and_no_structured_data() {
    let r = p(b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xEF\xBB\xBF'su root' failed for lonvick on /dev/pts/8");
    assert_eq!(r.format, Format::Rfc5424);
    assert_eq!(r.priority, Some(Priority { facility: 4, severity: 2 }));
    assert_eq!(r.timestamp, Some(datetime!(2003-10-11 22:14:15.003 UTC)));
    assert_eq!(header(&r), (Some("mymachine.example.com"), Some("su"), None, Some("ID47")));
    assert!(r.flags.bom);
    assert_eq!(r.message, "'su root' failed for lonvick on /dev/pts/8");
    assert_eq!(r.msg_bytes(), b"'su root' failed for lonvick on /dev/pts/8");
}

#[test]
fn rfc5424_example_with_offset_and_microseconds() {
    let r = p(b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.");
    assert_eq!(r.timestamp, Some(datetime!(2003-08-24 05:14:15.000003 -7)));
    assert_eq!(header(&r), (Some("192.0.2.1"), Some("myproc"), Some("8710"), None));
    assert_eq!(r.message, "%% It's time to make the do-nuts.");
}

#[test]
fn rfc5424_structured_data_with_escapes_and_no_message() {
    let r = p(br#"<165>1 2003-10-11T22:14:15.003Z host evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="App\"li\\cation\]"][examplePriority@32473 class="high" path="C:\temp"]"#);
    assert_eq!(r.format, Format::Rfc5424);
    assert_eq!(r.structured_data.len(), 2);
    assert_eq!(r.structured_data[0].id, "exampleSDID@32473");
    assert_eq!(r.structured_data[0].params[1], ("eventSource".to_owned(), "App\"li\\cation]".to_owned()));
    assert_eq!(r.structured_data[1].params[1].1, "C:\\temp", "an unknown escape keeps its backslash");
    assert_eq!(r.message, "");
}

#[test]
fn rfc5424_with_nil_timestamp() {
    let r = p(b"<13>1 - - - - - - hello");
    assert_eq!((r.format, r.timestamp, r.flags.no_timestamp), (Format::Rfc5424, None, true));
    assert_eq!(header(&r), (None, None, None, None));
    assert_eq!(r.message, "hello");
}

#[test]
fn broken_rfc5424_header_falls_back_to_rfc3164() {
    let r = p(br#"<13>1 2003-10-11T22:14:15Z host app - - [unterminated x="y" oops"#);
    assert_eq!(r.format, Format::Rfc3164);
    assert!(r.flags.malformed_header);
    assert_eq!(r.timestamp, Some(datetime!(2003-10-11 22:14:15 UTC)));
    assert_eq!(r.hostname.as_deref(), Some("host"));
}

#[test]
fn rfc3164_examples() {
    let r = p(b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8");
    assert_eq!(r.format, Format::Rfc3164);
    assert_eq!(
        r.timestamp,
        Some(datetime!(2023-10-11 22:14:15 UTC)),
        "October lies ahead of June, so it was last year"
    );
    assert!(r.flags.year_inferred);
    assert_eq!(header(&r), (Some("mymachine"), Some("su"), None, None));
    assert_eq!(r.message, "'su root' failed for lonvick on /dev/pts/8");

    let r = p(b"<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!");
    assert_eq!(header(&r), (Some("10.0.0.99"), None, None, None));
    assert_eq!(r.message, "Use the BFG!");
}

#[test]
fn rfc3164_tag_with_pid_and_without_hostname() {
    let r = p(b"<38>Jun 15 11:59:01 sshd[4242]: Accepted publickey for alice");
    assert_eq!(header(&r), (None, Some("sshd"), Some("4242"), None));
    assert_eq!(r.message, "Accepted publickey for alice");
    let r = p(b"<38>Jun 15 11:59:01 web01 postfix/smtpd[77]: connect from unknown[10.1.1.1]");
    assert_eq!(header(&r), (Some("web01"), Some("postfix/smtpd"), Some("77"), None));
}

#[test]
fn rfc3164_without_pri_as_read_from_a_file() {
    let r = p(b"Jun 15 11:59:01 host sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls\n");
    assert!(r.flags.no_pri);
    assert_eq!(header(&r), (Some("host"), Some("sudo"), None, None));
    assert_eq!(r.message, "   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls");
}

#[test]
fn rfc3164_with_iso_timestamp_as_rsyslog_forwards_it() {
    let r = p(b"<86>2024-06-15T11:00:00.123456+02:00 host CRON[9]: pam_unix(cron:session): session opened");
    assert_eq!(r.timestamp, Some(datetime!(2024-06-15 09:00:00.123456 UTC)));
    assert!(!r.flags.year_inferred);
    assert_eq!(header(&r), (Some("host"), Some("CRON"), Some("9"), None));
}

#[test]
fn cisco_ios_and_asa_variants() {
    let r = p(b"<189>31: *Mar  1 00:11:28.515 UTC: %SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.5)");
    assert_eq!(r.timestamp, Some(datetime!(2024-03-01 00:11:28.515 UTC)));
    assert_eq!(header(&r), (None, None, None, None));
    assert_eq!(r.message, "%SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.5)");

    let r = p(b"<166>Jan 05 2024 12:00:00: %ASA-6-302013: Built outbound TCP connection 1");
    assert_eq!(r.timestamp, Some(datetime!(2024-01-05 12:00:00 UTC)));
    assert_eq!(r.message, "%ASA-6-302013: Built outbound TCP connection 1");

    let r = p(b"<166>%ASA-4-106023: Deny tcp src outside:10.0.0.1/1 dst inside:10.0.0.2/22");
    assert!(r.flags.no_timestamp);
    assert_eq!(r.message, "%ASA-4-106023: Deny tcp src outside:10.0.0.1/1 dst inside:10.0.0.2/22");
}

#[test]
fn invalid_utf8_is_kept_in_raw_and_flagged() {
    let line = b"<13>Jun 15 11:59:01 host app: bad \xff\xfe bytes".to_vec();
    let r = parse(line.clone(), &ctx());
    assert!(r.flags.invalid_utf8);
    assert_eq!(r.raw, line);
    assert_eq!(r.message, "bad \u{fffd}\u{fffd} bytes");
    assert_eq!(r.msg_bytes(), b"bad \xff\xfe bytes");
}

#[test]
fn pri_edge_cases() {
    assert_eq!(p(b"<191>x").priority, Some(Priority { facility: 23, severity: 7 }));
    assert_eq!(p(b"<0>x").priority, Some(Priority { facility: 0, severity: 0 }));
    let r = p(b"<192>x");
    assert!(r.flags.no_pri && r.priority.is_none());
    assert_eq!(r.message, "<192>x");
    assert!(p(b"<1").flags.no_pri);
    assert_eq!(p(b"").message, "");
}

#[test]
fn truncation_flag_comes_from_the_frame() {
    let r = parse_frame(Frame { bytes: b"<13>abc".to_vec(), truncated: true }, &ctx());
    assert!(r.flags.truncated);
}

#[test]
fn the_receivers_clock_sets_the_year() {
    let ctx = ParseContext::new(datetime!(2025-01-01 00:00:30 UTC), UtcOffset::UTC);
    let r = parse(b"<13>Dec 31 23:59:59 host app: late".to_vec(), &ctx);
    assert_eq!(r.timestamp.map(OffsetDateTime::year), Some(2024));
}
