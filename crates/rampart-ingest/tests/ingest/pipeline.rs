//! End to end: bytes as a TCP sender writes them, through framing, syslog
//! parsing, auto-detection and audit assembly, into `Event`s.

use expect_test::expect;
use rampart_ingest::{Connection, ParserKind, SourceConfig, to_event};
use time::UtcOffset;

use super::{NOW_MS, record};

/// An rsyslog-forwarded auditd event: five records and EOE, octet-counted.
const AUDIT_LINES: [&str; 6] = [
    r#"type=SYSCALL msg=audit(1718452790.456:9001): arch=c000003e syscall=59 success=yes exit=0 a0=5610a9e0 a1=5610aa10 a2=5610aa40 a3=0 items=2 ppid=7001 pid=7002 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts1 ses=5 comm="curl" exe="/usr/bin/curl" subj=unconfined key="network_tools""#,
    r#"type=EXECVE msg=audit(1718452790.456:9001): argc=3 a0="curl" a1="-o" a2=2F746D702F782E7368"#,
    r#"type=CWD msg=audit(1718452790.456:9001): cwd="/home/alice""#,
    r#"type=PATH msg=audit(1718452790.456:9001): item=0 name="/usr/bin/curl" inode=4194 dev=fd:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL"#,
    "type=PROCTITLE msg=audit(1718452790.456:9001): proctitle=6375726C002D6F002F746D702F782E7368",
    "type=EOE msg=audit(1718452790.456:9001): ",
];

fn octet_counted(lines: &[String]) -> Vec<u8> {
    lines.iter().flat_map(|l| format!("{} {l}", l.len()).into_bytes()).collect()
}

#[test]
fn audit_event_over_an_octet_counted_stream_split_everywhere() {
    let lines: Vec<String> =
        AUDIT_LINES.iter().map(|l| format!("<85>1 2024-06-15T11:59:50Z web01 audispd - - - {l}")).collect();
    let stream = octet_counted(&lines);
    let config = SourceConfig { parser: ParserKind::Auto, ..SourceConfig::default() };
    let mut expected = None;
    for step in [1, 2, 3, 7, 64, stream.len()] {
        let mut conn = Connection::new(config);
        let mut out = Vec::new();
        for chunk in stream.chunks(step) {
            conn.push(chunk, NOW_MS, &mut out).unwrap();
        }
        conn.finish(NOW_MS, &mut out).unwrap();
        assert_eq!(out.len(), 1, "one event from six records (chunks of {step})");
        let summary = out[0].summary();
        match &expected {
            None => expected = Some(summary),
            Some(e) => assert_eq!(&summary, e, "chunks of {step}"),
        }
    }
    expect![[r#"
        log.auditd.execve class=1007 outcome=success
          audit_serial=9001
          type=["SYSCALL", "EXECVE", "CWD", "PATH", "PROCTITLE"]
          arch="c000003e"
          syscall="59"
          success="yes"
          exit="0"
          a0=["5610a9e0", "curl"]
          a1=["5610aa10", "-o"]
          a2=["5610aa40", "/tmp/x.sh"]
          a3="0"
          items="2"
          ppid="7001"
          pid="7002"
          auid="1000"
          uid="0"
          gid="0"
          euid="0"
          suid="0"
          fsuid="0"
          egid="0"
          sgid="0"
          fsgid="0"
          tty="pts1"
          ses="5"
          comm="curl"
          exe="/usr/bin/curl"
          subj="unconfined"
          key="network_tools"
          argc="3"
          cwd="/home/alice"
          item="0"
          name="/usr/bin/curl"
          inode="4194"
          dev="fd:00"
          mode="0100755"
          ouid="0"
          ogid="0"
          rdev="00:00"
          nametype="NORMAL"
          proctitle="curl -o /tmp/x.sh"
          SYSCALL="execve"
          CommandLine="curl -o /tmp/x.sh"
          Image="/usr/bin/curl"
          ProcessId="7002"
          ParentProcessId="7001"
          User="0"
          CurrentDirectory="/home/alice""#]]
    .assert_eq(&expected.unwrap_or_default());
}

#[test]
fn audit_event_without_eoe_is_released_by_tick() {
    let mut conn = Connection::new(SourceConfig { audit_timeout_ms: 500, ..SourceConfig::default() });
    let mut out = Vec::new();
    let text: String = AUDIT_LINES[..2].iter().map(|l| format!("<85>Jun 15 11:59:50 web01 audispd: {l}\n")).collect();
    conn.push(text.as_bytes(), NOW_MS, &mut out).unwrap();
    conn.tick(NOW_MS + 499, &mut out);
    assert!(out.is_empty());
    conn.tick(NOW_MS + 500, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].fields.str("CommandLine"), Some("curl -o /tmp/x.sh"));
}

#[test]
fn broken_framing_is_an_error_for_that_connection_only() {
    let mut conn = Connection::new(SourceConfig::default());
    let mut out = Vec::new();
    assert!(conn.push(b"5 <13>a7x <13>b", NOW_MS, &mut out).is_err());
    assert_eq!(out.len(), 1, "the frame before the error is still delivered");
    let mut fresh = Connection::new(SourceConfig::default());
    assert!(fresh.push(b"5 <13>a", NOW_MS, &mut out).is_ok());
}

#[test]
fn event_conversion_carries_kind_actor_source_time_and_attrs() {
    let r = record(
        ParserKind::Auto,
        "<38>Jun 15 11:58:03 bastion sshd[20213]: Failed password for root from 203.0.113.5 port 40000 ssh2",
    );
    let event = to_event(&r, NOW_MS);
    assert_eq!(event.kind, "log.sshd.auth_failed");
    assert_eq!(event.outcome, rampart_core::Outcome::Failure);
    assert_eq!(event.actor, "root");
    assert_eq!(event.source_addr.as_deref(), Some("203.0.113.5"));
    assert_eq!(event.time_ms, 1_718_452_683_000);
    expect![[r#"
        {
          "fields": {
            "User": "root",
            "auth_method": "password",
            "src_ip": "203.0.113.5",
            "src_port": 40000
          },
          "message": "Failed password for root from 203.0.113.5 port 40000 ssh2",
          "ocsf.class_name": "Authentication",
          "ocsf.class_uid": 3002,
          "syslog": {
            "app_name": "sshd",
            "facility": 4,
            "flags": [
              "year_inferred"
            ],
            "format": "rfc3164",
            "hostname": "bastion",
            "proc_id": "20213",
            "severity": 6
          }
        }"#]]
    .assert_eq(&serde_json::to_string_pretty(&event.attrs).unwrap_or_default());
}

#[test]
fn event_conversion_keeps_invalid_utf8_losslessly() {
    let line = b"<13>Jun 15 11:58:03 host app: caf\xe9".to_vec();
    let r = rampart_ingest::normalise(
        rampart_ingest::syslog::parse(line.clone(), &super::ctx()),
        ParserKind::Auto,
        UtcOffset::UTC,
    );
    let event = to_event(&r, NOW_MS);
    let b64 = event.attrs["raw_base64"].as_str().unwrap_or_default();
    assert_eq!(data_encoding::BASE64.decode(b64.as_bytes()).ok(), Some(line));
    assert_eq!(event.attrs["message"], "caf\u{fffd}");
    let flags = event.attrs["syslog"]["flags"].as_array().cloned().unwrap_or_default();
    assert!(flags.contains(&"invalid_utf8".into()), "{flags:?}");
}

#[test]
fn local_times_take_the_source_zone() {
    let line = "[Sat Jun 15 11:59:43 2024] [error] [client 203.0.113.5] File does not exist: /var/www/x";
    let rec = rampart_ingest::syslog::parse(line.as_bytes().to_vec(), &super::ctx());
    let zone = UtcOffset::from_hms(2, 0, 0).unwrap_or(UtcOffset::UTC);
    let r = rampart_ingest::normalise(rec, ParserKind::Web, zone);
    assert_eq!(r.kind, "log.http.error");
    assert_eq!(r.time_ms(), Some(1_718_445_583_000), "11:59:43 at +02:00 is 09:59:43 UTC");
}

/// A rough throughput figure, not a benchmark suite: run it with
/// `cargo test --release -p rampart-ingest -- --ignored --nocapture`. It
/// asserts only that every line came out, never a speed.
#[test]
#[ignore = "prints a throughput figure; run on demand in release mode"]
fn throughput_of_mixed_lines() {
    let lines = [
        "<38>Jun 15 11:58:03 bastion sshd[20213]: Failed password for root from 203.0.113.5 port 40000 ssh2",
        "<85>Jun 15 11:59:00 web01 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id",
        "<4>Jun 15 11:59:30 fw01 kernel: [UFW BLOCK] IN=eth0 OUT= SRC=203.0.113.5 DST=192.0.2.1 LEN=60 TTL=50 ID=1 DF PROTO=TCP SPT=40000 DPT=22 SYN",
        r#"<190>Jun 15 11:59:40 web01 nginx: 203.0.113.5 - - [15/Jun/2024:11:59:40 +0000] "GET /index.html HTTP/1.1" 200 512 "-" "curl/8.5.0""#,
        "<134>Jun 15 11:59:53 db01 postgres[5120]: [5-1] 2024-06-15 11:59:53.500 UTC [5120] alice@app LOG:  statement: SELECT 1",
    ];
    let mut stream = Vec::new();
    let n = 100_000;
    for i in 0..n {
        stream.extend_from_slice(lines[i % lines.len()].as_bytes());
        stream.push(b'\n');
    }
    let mut conn = Connection::new(SourceConfig::default());
    let mut out = Vec::with_capacity(n);
    let start = std::time::Instant::now();
    for chunk in stream.chunks(16 * 1024) {
        conn.push(chunk, NOW_MS, &mut out).unwrap();
    }
    let parsed = start.elapsed();
    let events: Vec<_> = out.iter().map(|r| to_event(r, NOW_MS)).collect();
    let total = start.elapsed();
    assert_eq!(events.len(), n);
    let rate = |d: std::time::Duration| n as f64 / d.as_secs_f64();
    println!("{n} lines: parse {:.0}/s, parse+event {:.0}/s", rate(parsed), rate(total));
}
