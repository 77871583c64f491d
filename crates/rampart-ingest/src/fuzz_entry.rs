//! One `fn(&[u8])` per fuzz target, so a cargo-fuzz target is a one-liner:
//! `fuzz_target!(|data: &[u8]| rampart_ingest::fuzz_entry::sshd(data));`.
//!
//! Each entry runs the code under test on arbitrary bytes and checks the
//! invariants that must hold for any input; a panic is the finding. The
//! property tests call the same functions.

use crate::framing::{Framer, FramerConfig};
use crate::parsers::{self, ParserKind, auditd::AuditAssembler};
use crate::syslog::{self, ParseContext, SyslogRecord};

/// A fixed clock, so a crash reproduces from its input alone.
const NOW_MS: i64 = 1_718_452_800_000;

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// The framer, fed the input in chunks whose sizes the first byte picks;
/// messages never exceed the limit.
pub fn framing(data: &[u8]) {
    let config = FramerConfig { max_message: 64, max_octet_count: 4096 };
    let step = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut framer = Framer::new(config);
    for chunk in data.chunks(step) {
        for frame in framer.push(chunk).flatten() {
            assert!(frame.bytes.len() <= config.max_message);
        }
    }
    let _ = framer.finish();
}

/// The syslog parser; the raw bytes always survive unchanged.
pub fn syslog(data: &[u8]) {
    let rec = syslog::parse(data.to_vec(), &ParseContext::at_ms(NOW_MS));
    assert_eq!(rec.raw, data);
    assert!(rec.msg_start <= rec.raw.len());
}

/// Framing, syslog and auto-detected parsing end to end.
pub fn pipeline(data: &[u8]) {
    let mut conn = crate::pipeline::Connection::new(crate::pipeline::SourceConfig::default());
    let mut out = Vec::new();
    let _ = conn.push(data, NOW_MS, &mut out);
    let _ = conn.finish(NOW_MS, &mut out);
    for record in &out {
        let _ = crate::event::to_event(record, NOW_MS);
    }
}

pub fn sshd(data: &[u8]) {
    let _ = parsers::sshd::parse(&text(data));
}

pub fn sudo(data: &[u8]) {
    let _ = parsers::sudo::parse(&text(data));
}

pub fn su(data: &[u8]) {
    let _ = parsers::su::parse(&text(data));
}

pub fn pam(data: &[u8]) {
    let _ = parsers::pam::parse(&text(data));
}

/// Audit records, one per line, through the assembler.
pub fn auditd(data: &[u8]) {
    let mut assembler = AuditAssembler::new(1_000);
    let mut out = Vec::new();
    for (i, line) in data.split(|&b| b == b'\n').enumerate() {
        let now = NOW_MS + i64::try_from(i).unwrap_or(0) * 100;
        assembler.push(SyslogRecord::bare(line.to_vec()), now, &mut out);
        assembler.flush_expired(now, &mut out);
    }
    assembler.flush_all(&mut out);
    assert_eq!(assembler.pending(), 0);
}

pub fn netfilter(data: &[u8]) {
    let _ = parsers::netfilter::parse(&text(data));
}

pub fn web(data: &[u8]) {
    let _ = ParserKind::Web.run(&text(data));
}

pub fn postgres(data: &[u8]) {
    let _ = parsers::postgres::parse(&text(data));
}

pub fn mysql(data: &[u8]) {
    let _ = parsers::mysql::parse(&text(data));
}

pub fn json(data: &[u8]) {
    let _ = parsers::json::parse(&text(data));
}

pub fn kv(data: &[u8]) {
    let _ = parsers::kv::parse(&text(data));
}

/// A fuzz entry point.
pub type Entry = fn(&[u8]);

/// Every fuzz entry, by name, for tests that run them all.
pub const ALL: [(&str, Entry); 14] = [
    ("framing", framing),
    ("syslog", syslog),
    ("pipeline", pipeline),
    ("sshd", sshd),
    ("sudo", sudo),
    ("su", su),
    ("pam", pam),
    ("auditd", auditd),
    ("netfilter", netfilter),
    ("web", web),
    ("postgres", postgres),
    ("mysql", mysql),
    ("json", json),
    ("kv", kv),
];

/// The log search language: any input parses or is refused with an error;
/// what parses holds at most `MAX_TERMS` terms, nests at most `MAX_DEPTH`,
/// and only valid field names.
pub fn query(data: &[u8]) {
    use crate::query::{Expr, MAX_DEPTH, MAX_TERMS, parse, valid_field};
    fn walk(e: &Expr, depth: usize, terms: &mut usize) {
        assert!(depth <= 2 * MAX_DEPTH + MAX_TERMS, "nesting beyond the bound");
        match e {
            Expr::And(a, b) | Expr::Or(a, b) => {
                walk(a, depth + 1, terms);
                walk(b, depth + 1, terms);
            }
            Expr::Not(a) => walk(a, depth + 1, terms),
            Expr::Field(name, _) => {
                assert!(valid_field(name), "field {name:?}");
                *terms += 1;
            }
            Expr::Text(_) => *terms += 1,
        }
    }
    let Ok(q) = parse(&text(data), NOW_MS) else { return };
    let mut terms = 0;
    if let Some(e) = &q.filter {
        walk(e, 0, &mut terms);
    }
    assert!(terms <= MAX_TERMS);
    if let Some(f) = &q.count_by {
        assert!(valid_field(f));
    }
}
