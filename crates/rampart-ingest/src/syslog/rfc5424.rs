//! The RFC 5424 header after `<PRI>1 `: timestamp, hostname, app-name,
//! procid, msgid and structured data.
//!
//! Any deviation returns `None` so the caller can fall back to the lenient
//! RFC 3164 reader; a message that merely looks like 5424 is not lost.

use time::OffsetDateTime;

use super::timestamp::parse_rfc3339;
use super::{ParseContext, SdElement, SyslogRecord, field};
use crate::text::Cursor;

/// The header fields of one message, applied to the record only when the
/// whole header parsed.
#[derive(Debug)]
pub(super) struct Header {
    timestamp: Option<OffsetDateTime>,
    hostname: Option<String>,
    app_name: Option<String>,
    proc_id: Option<String>,
    msg_id: Option<String>,
    sd: Vec<SdElement>,
}

impl Header {
    pub(super) fn apply(self, rec: &mut SyslogRecord) {
        rec.flags.no_timestamp = self.timestamp.is_none();
        rec.timestamp = self.timestamp;
        rec.hostname = self.hostname;
        rec.app_name = self.app_name;
        rec.proc_id = self.proc_id;
        rec.msg_id = self.msg_id;
        rec.structured_data = self.sd;
    }
}

/// Parses from just after the version; on success the cursor stands at the
/// first byte of MSG (after its separating space), or at the end.
pub(super) fn parse_header(cur: &mut Cursor<'_>, ctx: &ParseContext) -> Option<Header> {
    let timestamp = if cur.eat(b'-') { None } else { Some(parse_rfc3339(cur, ctx.zone)?) };
    if !cur.eat(b' ') {
        return None;
    }
    let hostname = header_word(cur)?;
    let app_name = header_word(cur)?;
    let proc_id = header_word(cur)?;
    let msg_id = header_word(cur)?;
    let sd = structured_data(cur)?;
    if !cur.at_end() && !cur.eat(b' ') {
        return None;
    }
    Some(Header { timestamp, hostname, app_name, proc_id, msg_id, sd })
}

/// One space-terminated header field; `-` is the NILVALUE.
fn header_word(cur: &mut Cursor<'_>) -> Option<Option<String>> {
    let word = cur.word();
    if word.is_empty() || !cur.eat(b' ') {
        return None;
    }
    Some(field(word))
}

/// `-` or one or more `[ID name="value" …]` elements.
fn structured_data(cur: &mut Cursor<'_>) -> Option<Vec<SdElement>> {
    if cur.eat(b'-') {
        return Some(Vec::new());
    }
    let mut elements = Vec::new();
    while cur.eat(b'[') {
        let id = sd_name(cur)?;
        let mut params = Vec::new();
        loop {
            match cur.peek()? {
                b']' => {
                    cur.advance(1);
                    break;
                }
                b' ' => {
                    cur.advance(1);
                    let name = sd_name(cur)?;
                    if !(cur.eat(b'=') && cur.eat(b'"')) {
                        return None;
                    }
                    params.push((name, sd_value(cur)?));
                }
                _ => return None,
            }
        }
        elements.push(SdElement { id, params });
    }
    (!elements.is_empty()).then_some(elements)
}

/// An SD-ID or PARAM-NAME: printable ASCII except `=`, space, `]` and `"`.
fn sd_name(cur: &mut Cursor<'_>) -> Option<String> {
    let rest = cur.rest();
    let len = rest.iter().take_while(|&&b| b.is_ascii_graphic() && !matches!(b, b'=' | b']' | b'"')).count();
    if len == 0 || len > 32 {
        return None;
    }
    cur.advance(len);
    Some(String::from_utf8_lossy(&rest[..len]).into_owned())
}

/// A quoted PARAM-VALUE after its opening quote. `\"`, `\\` and `\]` are
/// escapes; a backslash before anything else is kept, as RFC 5424 says.
fn sd_value(cur: &mut Cursor<'_>) -> Option<String> {
    let mut out = Vec::new();
    loop {
        match cur.peek()? {
            b'"' => {
                cur.advance(1);
                return Some(String::from_utf8_lossy(&out).into_owned());
            }
            b'\\' => {
                cur.advance(1);
                match cur.peek()? {
                    b @ (b'"' | b'\\' | b']') => {
                        out.push(b);
                        cur.advance(1);
                    }
                    _ => out.push(b'\\'),
                }
            }
            b => {
                out.push(b);
                cur.advance(1);
            }
        }
    }
}
