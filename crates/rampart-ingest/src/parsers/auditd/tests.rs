//! Tests of audit record parsing, hex decoding, event merging and the
//! assembler's EOE, timeout and bound handling.

use super::*;
use crate::record::{OcsfClass, Record, Value};
use crate::syslog::SyslogRecord;

const SYSCALL: &str = r#"type=SYSCALL msg=audit(1718452800.123:4567): arch=c000003e syscall=59 success=yes exit=0 a0=55d1c3a0 a1=55d1c3b0 a2=55d1c3c0 a3=0 items=2 ppid=4120 pid=4188 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="iptables" exe="/usr/sbin/xtables-nft-multi" subj=unconfined key="susp_iptables""#;
const EXECVE: &str = r#"type=EXECVE msg=audit(1718452800.123:4567): argc=6 a0="iptables" a1="-t" a2="nat" a3="-A" a4=50524520524F5554494E47 a5="--to-ports 4242""#;
const CWD: &str = r#"type=CWD msg=audit(1718452800.123:4567): cwd="/root""#;
const PATH: &str = r#"type=PATH msg=audit(1718452800.123:4567): item=0 name="/usr/sbin/iptables" inode=1234 dev=fd:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0"#;
const PROCTITLE: &str = "type=PROCTITLE msg=audit(1718452800.123:4567): proctitle=69707461626C6573002D74006E6174";
const EOE: &str = "type=EOE msg=audit(1718452800.123:4567): ";

fn rec(line: &str) -> SyslogRecord {
    SyslogRecord::bare(line.as_bytes().to_vec())
}

fn feed(assembler: &mut AuditAssembler, lines: &[&str], now: i64) -> Vec<Record> {
    let mut out = Vec::new();
    for line in lines {
        assembler.push(rec(line), now, &mut out);
    }
    out
}

#[test]
fn parse_line_reads_type_stamp_and_decodes_hex() {
    let line = parse_line(PROCTITLE).unwrap();
    assert_eq!((line.record_type.as_str(), line.epoch_ms, line.serial), ("PROCTITLE", 1_718_452_800_123, 4567));
    assert_eq!(line.fields, [("proctitle".to_owned(), "iptables -t nat".to_owned())]);
    let execve = parse_line(EXECVE).unwrap();
    assert!(execve.fields.contains(&("a4".to_owned(), "PRE ROUTING".to_owned())));
}

#[test]
fn syscall_registers_are_not_mistaken_for_hex_strings() {
    let line = parse_line(SYSCALL).unwrap();
    assert!(line.fields.contains(&("a0".to_owned(), "55d1c3a0".to_owned())));
}

#[test]
fn kernel_printk_form_with_numeric_type() {
    let line = parse_line(r#"audit: type=1309 audit(1718452800.5:77): argc=2 a0="ls" a1="-la""#).unwrap();
    assert_eq!((line.record_type.as_str(), line.epoch_ms, line.serial), ("EXECVE", 1_718_452_800_500, 77));
}

#[test]
fn user_space_record_reads_the_nested_msg_and_enrichment() {
    let line = "type=USER_AUTH msg=audit(1718452800.200:99): pid=4242 uid=0 auid=4294967295 ses=4294967295 subj=unconfined msg='op=PAM:authentication grantors=? acct=\"root\" exe=\"/usr/sbin/sshd\" hostname=203.0.113.5 addr=203.0.113.5 terminal=ssh res=failed'\u{1d}UID=\"root\" AUID=\"unset\"";
    let p = build(&[parse_line(line).unwrap()]);
    assert_eq!((p.class, p.kind), (OcsfClass::Authentication, "log.auditd.user_auth"));
    assert_eq!(p.outcome, Some(rampart_core::Outcome::Failure));
    assert_eq!(p.fields.str("acct"), Some("root"));
    assert_eq!(p.fields.str("addr"), Some("203.0.113.5"));
    assert_eq!(p.fields.str("UID"), Some("root"));
}

#[test]
fn assembler_merges_a_syscall_event_on_eoe() {
    let mut a = AuditAssembler::new(1000);
    let out = feed(&mut a, &[SYSCALL, EXECVE, CWD, PATH, PROCTITLE], 0);
    assert!(out.is_empty(), "nothing is released before EOE");
    assert_eq!(a.pending(), 1);
    let out = feed(&mut a, &[EOE], 10);
    assert_eq!(out.len(), 1);
    let r = &out[0];
    assert_eq!((r.class, r.kind), (OcsfClass::ProcessActivity, "log.auditd.execve"));
    let types = Value::List(["SYSCALL", "EXECVE", "CWD", "PATH", "PROCTITLE"].map(Value::from).to_vec());
    assert_eq!(r.fields.get("type"), Some(&types));
    assert_eq!(r.fields.str("CommandLine"), Some("iptables -t nat -A PRE ROUTING --to-ports 4242"));
    assert_eq!(r.fields.str("Image"), Some("/usr/sbin/xtables-nft-multi"));
    assert_eq!(r.fields.str("CurrentDirectory"), Some("/root"));
    assert_eq!(r.fields.str("SYSCALL"), Some("execve"));
    assert_eq!(r.fields.str("key"), Some("susp_iptables"));
    // Sigma's `a0|endswith: iptables` must match the EXECVE argument.
    assert_eq!(r.fields.get("a0"), Some(&Value::List(vec!["55d1c3a0".into(), "iptables".into()])));
    assert_eq!(r.event_time_ms, Some(1_718_452_800_123));
    assert_eq!(r.syslog.raw.split(|&b| b == b'\n').count(), 5, "raw keeps every record");
    assert_eq!(a.pending(), 0);
}

#[test]
fn interleaved_events_are_kept_apart() {
    let mut a = AuditAssembler::new(1000);
    let other = SYSCALL.replace(":4567)", ":4568)").replace("syscall=59", "syscall=2");
    let other_eoe = EOE.replace(":4567)", ":4568)");
    let out = feed(&mut a, &[SYSCALL, &other, EXECVE, &other_eoe, EOE], 0);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].fields.str("SYSCALL"), Some("open"));
    assert_eq!(out[1].kind, "log.auditd.execve");
}

#[test]
fn timeout_releases_an_event_without_eoe() {
    let mut a = AuditAssembler::new(1000);
    feed(&mut a, &[SYSCALL, PATH], 0);
    let mut out = Vec::new();
    a.flush_expired(999, &mut out);
    assert!(out.is_empty());
    a.flush_expired(1000, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].class, out[0].kind), (OcsfClass::FileSystemActivity, "log.auditd.syscall"));
}

#[test]
fn standalone_records_pass_straight_through() {
    let mut a = AuditAssembler::new(1000);
    let out = feed(
        &mut a,
        &[
            "type=ADD_USER msg=audit(1718452800.300:100): pid=1 uid=0 msg='op=add-user id=1001 exe=\"/usr/sbin/useradd\" res=success'",
        ],
        0,
    );
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].class, out[0].kind), (OcsfClass::AccountChange, "log.auditd.account_change"));
    assert_eq!(a.pending(), 0);
}

#[test]
fn pending_events_are_bounded() {
    let mut a = AuditAssembler::new(i64::MAX);
    let mut out = Vec::new();
    for serial in 0..1000 {
        a.push(rec(&SYSCALL.replace(":4567)", &format!(":{serial})"))), 0, &mut out);
    }
    assert!(a.pending() <= 256);
    assert_eq!(out.len() + a.pending(), 1000);
}

#[test]
fn unparsable_lines_are_kept_as_other() {
    let mut a = AuditAssembler::new(1000);
    let out = feed(&mut a, &["type=SYSCALL msg=audit(garbage): x=1"], 0);
    assert_eq!(out[0].kind, "log.auditd.other");
    assert_eq!(out[0].syslog.message, "type=SYSCALL msg=audit(garbage): x=1");
}

#[test]
fn one_event_cannot_grow_without_bound() {
    let mut a = AuditAssembler::new(1000);
    let path = format!("{PATH} pad=\"{}\"", "x".repeat(10_000));
    let mut lines = vec![SYSCALL.to_owned()];
    lines.extend(std::iter::repeat_n(path, 100));
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    feed(&mut a, &refs, 0);
    let out = feed(&mut a, &[EOE], 0);
    assert_eq!(out.len(), 1);
    assert!(out[0].syslog.raw.len() < 128 * 1024, "raw grew to {}", out[0].syslog.raw.len());
}
