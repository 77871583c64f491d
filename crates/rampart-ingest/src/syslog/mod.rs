//! Syslog message parsing: one framed message in, one [`SyslogRecord`] out.
//!
//! RFC 5424 is parsed strictly enough to recognise it (`<PRI>1 `) and falls
//! back to the lenient RFC 3164 reader whenever its header is malformed, so a
//! message is never rejected: whatever cannot be understood stays in the
//! message text. The raw bytes are always kept, so invalid UTF-8 loses
//! nothing; the text fields are decoded lossily and the record flagged.

mod rfc3164;
mod rfc5424;
pub(crate) mod timestamp;

use time::{OffsetDateTime, UtcOffset};

use crate::framing::Frame;
use crate::text::Cursor;

/// Which header syntax a message was read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Rfc5424,
    Rfc3164,
    /// Not syslog at all (e.g. a line posted over HTTP): no header fields.
    Bare,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Rfc5424 => "rfc5424",
            Format::Rfc3164 => "rfc3164",
            Format::Bare => "bare",
        }
    }
}

/// The decoded `<PRI>` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    pub facility: u8,
    pub severity: u8,
}

/// What was unusual about a message; none of these stops it being ingested.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// The framer cut the message at the size limit.
    pub truncated: bool,
    /// Some bytes were not UTF-8; text fields hold U+FFFD for them.
    pub invalid_utf8: bool,
    /// An RFC 5424 message started with a UTF-8 byte order mark.
    pub bom: bool,
    /// No `<PRI>` at the start.
    pub no_pri: bool,
    /// No timestamp could be read; the receiver's clock applies.
    pub no_timestamp: bool,
    /// The year was not in the message and was inferred from "now".
    pub year_inferred: bool,
    /// The message claimed RFC 5424 but its header was broken, so it was
    /// read as RFC 3164 instead.
    pub malformed_header: bool,
}

/// One RFC 5424 structured-data element, e.g. `[origin ip="10.0.0.1"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdElement {
    pub id: String,
    pub params: Vec<(String, String)>,
}

/// A parsed syslog message. `raw` is exactly what was framed.
#[derive(Debug, Clone, PartialEq)]
pub struct SyslogRecord {
    pub raw: Vec<u8>,
    pub format: Format,
    pub priority: Option<Priority>,
    /// The sender's timestamp with the sender's (or the configured) offset.
    pub timestamp: Option<OffsetDateTime>,
    pub hostname: Option<String>,
    /// RFC 5424 APP-NAME, or the RFC 3164 TAG.
    pub app_name: Option<String>,
    pub proc_id: Option<String>,
    pub msg_id: Option<String>,
    pub structured_data: Vec<SdElement>,
    /// Where the MSG part starts in `raw` (after any BOM).
    pub msg_start: usize,
    /// The MSG part, decoded lossily.
    pub message: String,
    pub flags: Flags,
}

impl SyslogRecord {
    /// A record for a line that did not come through syslog: no header, the
    /// whole input is the message.
    pub fn bare(raw: Vec<u8>) -> Self {
        let mut rec = SyslogRecord::empty(raw, Format::Bare);
        rec.set_message(0);
        rec
    }

    /// The MSG part as the sender's bytes.
    pub fn msg_bytes(&self) -> &[u8] {
        self.raw.get(self.msg_start..).unwrap_or(&[])
    }

    fn empty(raw: Vec<u8>, format: Format) -> Self {
        let invalid_utf8 = std::str::from_utf8(&raw).is_err();
        SyslogRecord {
            raw,
            format,
            priority: None,
            timestamp: None,
            hostname: None,
            app_name: None,
            proc_id: None,
            msg_id: None,
            structured_data: Vec::new(),
            msg_start: 0,
            message: String::new(),
            flags: Flags { invalid_utf8, ..Flags::default() },
        }
    }

    fn set_message(&mut self, start: usize) {
        self.msg_start = start.min(self.raw.len());
        let msg = self.msg_bytes();
        // Trailing line ends survive some relays; they are never content.
        let end = msg.iter().rposition(|b| !matches!(b, b'\n' | b'\r' | b'\0')).map_or(0, |i| i + 1);
        self.message = String::from_utf8_lossy(&msg[..end]).into_owned();
    }
}

/// What the parser needs to know that the message may not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseContext {
    /// The receiver's current time, for the year of RFC 3164 timestamps.
    pub now: OffsetDateTime,
    /// The offset of senders whose timestamps carry none (configured per
    /// source). A fixed offset: zones with daylight saving need the adapter
    /// to pick the offset in force.
    pub zone: UtcOffset,
}

impl ParseContext {
    pub fn new(now: OffsetDateTime, zone: UtcOffset) -> Self {
        ParseContext { now, zone }
    }

    /// A context at the given Unix time in milliseconds, in UTC.
    pub fn at_ms(now_ms: i64) -> Self {
        let now = OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        ParseContext { now, zone: UtcOffset::UTC }
    }
}

/// Parses one framed message.
pub fn parse_frame(frame: Frame, ctx: &ParseContext) -> SyslogRecord {
    let mut rec = parse(frame.bytes, ctx);
    rec.flags.truncated = frame.truncated;
    rec
}

/// Parses one message; never fails, since unknown shapes keep their text.
pub fn parse(raw: Vec<u8>, ctx: &ParseContext) -> SyslogRecord {
    let mut rec = SyslogRecord::empty(raw, Format::Rfc3164);
    let raw = std::mem::take(&mut rec.raw);
    let mut cur = Cursor::new(&raw);
    rec.priority = parse_pri(&mut cur);
    rec.flags.no_pri = rec.priority.is_none();
    let after_pri = cur.pos;
    if rec.priority.is_some() && cur.eat_slice(b"1 ") {
        match rfc5424::parse_header(&mut cur, ctx) {
            Some(header) => {
                header.apply(&mut rec);
                rec.format = Format::Rfc5424;
                let mut start = cur.pos;
                if raw.get(start..).is_some_and(|m| m.starts_with(b"\xEF\xBB\xBF")) {
                    rec.flags.bom = true;
                    start += 3;
                }
                rec.raw = raw;
                rec.set_message(start);
                return rec;
            }
            None => rec.flags.malformed_header = true,
        }
    }
    // A broken RFC 5424 header is read again after its version number.
    let from = if rec.flags.malformed_header { after_pri + 2 } else { after_pri };
    let start = rfc3164::parse_header(&mut Cursor::at(&raw, from), ctx, &mut rec);
    rec.raw = raw;
    rec.set_message(start);
    rec
}

/// Reads `<PRI>` (1–3 digits, at most 191); leaves the cursor alone if absent.
fn parse_pri(cur: &mut Cursor<'_>) -> Option<Priority> {
    let start = cur.pos;
    let pri = (|| {
        if !cur.eat(b'<') {
            return None;
        }
        let value = cur.digits(3)?;
        if !cur.eat(b'>') || value > 191 {
            return None;
        }
        let value = u8::try_from(value).ok()?;
        Some(Priority { facility: value >> 3, severity: value & 7 })
    })();
    if pri.is_none() {
        cur.pos = start;
    }
    pri
}

/// Lossy conversion of a header field, mapping the NILVALUE `-` to `None`.
fn field(bytes: &[u8]) -> Option<String> {
    (!bytes.is_empty() && bytes != b"-").then(|| String::from_utf8_lossy(bytes).into_owned())
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
