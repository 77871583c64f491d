//! Linux audit records: `type=SYSCALL msg=audit(1700000000.123:4567): k=v …`
//! as auditd writes them (optionally `node=…` first and the enriched
//! section after 0x1D), and `audit: type=1300 audit(…): …` as the kernel
//! prints them.
//!
//! One kernel event spans several records sharing a serial (SYSCALL, EXECVE,
//! CWD, PATH, PROCTITLE, then EOE); [`AuditAssembler`] groups them, and
//! [`build`] merges a group into one record. Values auditd hex-encodes
//! (untrusted strings such as `name`, `proctitle` and EXECVE's `aN`) are
//! decoded; SYSCALL's `a0`–`a3` are register values and are left alone.

mod assembler;
mod event;

pub use assembler::AuditAssembler;
pub use event::build;

use super::common::kv_pairs;
use crate::text::decode_hex;

/// One audit record, values decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLine {
    pub record_type: String,
    pub epoch_ms: i64,
    pub serial: u64,
    pub fields: Vec<(String, String)>,
}

/// Parses one record; `None` unless it has a type and an `audit(…)` stamp.
pub fn parse_line(msg: &str) -> Option<AuditLine> {
    let stamp_at = msg.find("audit(")?;
    let (head, stamp) = (&msg[..stamp_at], &msg[stamp_at + 6..]);
    let close = stamp.find("):")?;
    let (secs, rest) = stamp[..close].split_once(':').map(|(t, s)| (t, s.parse::<u64>().ok())).unwrap_or(("", None));
    let serial = rest?;
    let (sec, ms) = secs.split_once('.').unwrap_or((secs, "0"));
    // The fraction is milliseconds, always three digits in practice; pad or
    // cut it so `.5` still means 500 ms.
    let frac = format!("{:0<3}", ms.get(..3).unwrap_or(ms));
    let epoch_ms = sec.parse::<i64>().ok()?.checked_mul(1000)?.checked_add(frac.parse::<i64>().ok()?)?;

    let mut record_type = None;
    let mut fields = Vec::new();
    kv_pairs(
        head.trim_start_matches("audit: "),
        '\u{1d}',
        |_| {},
        |pair| match pair.key {
            "type" => record_type = Some(type_name(&pair.value)),
            "node" => fields.push(("node".to_owned(), pair.value.into_owned())),
            _ => {}
        },
    );
    let record_type = record_type?;
    let body = &stamp[close + 2..];
    decode_fields(body, &record_type, &mut fields);
    Some(AuditLine { record_type, epoch_ms, serial, fields })
}

fn decode_fields(body: &str, record_type: &str, fields: &mut Vec<(String, String)>) {
    kv_pairs(
        body,
        '\u{1d}',
        |_| {},
        |pair| {
            // User-space records nest their details in `msg='op=… acct=… res=…'`.
            if pair.key == "msg" && pair.quoted {
                decode_fields(&pair.value, record_type, fields);
                return;
            }
            let value = if !pair.quoted && is_encoded(pair.key, record_type) {
                match decode_hex(&pair.value) {
                    Some(bytes) => decoded_text(pair.key, &bytes),
                    None => pair.value.into_owned(),
                }
            } else {
                pair.value.into_owned()
            };
            fields.push((pair.key.to_owned(), value));
        },
    );
}

/// Fields auditd writes hex-encoded when they contain spaces, quotes or
/// control characters (`audit_log_untrustedstring` in the kernel).
fn is_encoded(key: &str, record_type: &str) -> bool {
    const KEYS: [&str; 17] = [
        "name",
        "proctitle",
        "cwd",
        "comm",
        "exe",
        "key",
        "cmd",
        "data",
        "path",
        "dir",
        "file",
        "ocomm",
        "watch",
        "acct",
        "new-acct",
        "old-acct",
        "root_dir",
    ];
    if KEYS.contains(&key) {
        return true;
    }
    record_type == "EXECVE"
        && key.strip_prefix('a').is_some_and(|n| {
            let digits = n.split('[').next().unwrap_or(n);
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        })
}

/// Text of a decoded value. `proctitle` separates argv with NULs and a
/// multi-key `key` with 0x01; both become spaces and commas.
fn decoded_text(key: &str, bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    match key {
        "proctitle" => text.replace('\0', " "),
        "key" => text.replace('\u{1}', ","),
        _ => text.into_owned(),
    }
}

/// Names the numeric types the kernel prints (`type=1300`); names pass
/// through unchanged.
fn type_name(value: &str) -> String {
    let name = match value {
        "1100" => "USER_AUTH",
        "1101" => "USER_ACCT",
        "1102" => "USER_MGMT",
        "1103" => "CRED_ACQ",
        "1104" => "CRED_DISP",
        "1105" => "USER_START",
        "1106" => "USER_END",
        "1108" => "USER_CHAUTHTOK",
        "1109" => "USER_ERR",
        "1110" => "CRED_REFR",
        "1112" => "USER_LOGIN",
        "1113" => "USER_LOGOUT",
        "1114" => "ADD_USER",
        "1115" => "DEL_USER",
        "1116" => "ADD_GROUP",
        "1117" => "DEL_GROUP",
        "1123" => "USER_CMD",
        "1124" => "USER_TTY",
        "1130" => "SERVICE_START",
        "1131" => "SERVICE_STOP",
        "1300" => "SYSCALL",
        "1302" => "PATH",
        "1305" => "CONFIG_CHANGE",
        "1306" => "SOCKADDR",
        "1307" => "CWD",
        "1309" => "EXECVE",
        "1320" => "EOE",
        "1323" => "MMAP",
        "1325" => "NETFILTER_CFG",
        "1326" => "SECCOMP",
        "1327" => "PROCTITLE",
        "1400" => "AVC",
        other => other,
    };
    name.to_owned()
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
