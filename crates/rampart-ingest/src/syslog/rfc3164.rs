//! The lenient RFC 3164 ("BSD syslog") reader, shaped by what devices send
//! rather than by the RFC: a BSD or ISO timestamp or none, a hostname or
//! none, `tag[pid]:` or `tag:` or no tag, and Cisco's sequence numbers and
//! `*Mar  1 …:` timestamps.
//!
//! It never fails. Whatever it cannot place becomes part of the message, so
//! the worst case is a record with only a message.

use super::timestamp::{parse_bsd, parse_rfc3339};
use super::{ParseContext, SyslogRecord};
use crate::text::Cursor;

/// The longest tag accepted; longer words are message text, not a tag.
const MAX_TAG: usize = 128;

/// Reads the header into `rec` and returns where the message starts.
pub(super) fn parse_header(cur: &mut Cursor<'_>, ctx: &ParseContext, rec: &mut SyslogRecord) -> usize {
    cur.skip_spaces();
    skip_cisco_sequence(cur);
    if let Some(t) = parse_rfc3339(cur, ctx.zone) {
        rec.timestamp = Some(t);
    } else if let Some(t) = parse_bsd(cur, ctx) {
        rec.timestamp = Some(t.at);
        rec.flags.year_inferred = t.year_inferred;
    }
    rec.flags.no_timestamp = rec.timestamp.is_none();
    if rec.timestamp.is_some() {
        // Cisco and ASA put a colon after the timestamp.
        cur.eat(b':');
    }
    cur.skip_spaces();

    // The next word is the hostname unless it already looks like a tag or
    // like message text (Cisco `%FAC-SEV-MNEMONIC:`).
    let mut look = *cur;
    let word = look.word();
    if rec.timestamp.is_some() && is_hostname(word) && look.eat(b' ') {
        rec.hostname = Some(String::from_utf8_lossy(word).into_owned());
        *cur = look;
        cur.skip_spaces();
    }
    if let Some((tag, pid)) = tag(cur) {
        rec.app_name = Some(tag);
        rec.proc_id = pid;
    }
    cur.pos
}

/// Skips Cisco IOS's `123: ` message counter when a timestamp or a
/// `%FAC-SEV-MNEMONIC` follows it.
fn skip_cisco_sequence(cur: &mut Cursor<'_>) {
    let mut look = *cur;
    if look.digits(10).is_some() && look.eat(b':') && look.eat(b' ') {
        look.skip_spaces();
        if matches!(look.peek(), Some(b'*' | b'.' | b'%' | b'A'..=b'Z')) {
            *cur = look;
        }
    }
}

/// A hostname, IP address or FQDN: letters, digits and `.-_:`; not a tag.
fn is_hostname(word: &[u8]) -> bool {
    !word.is_empty()
        && word.len() <= 255
        && word.last() != Some(&b':')
        && word.first() != Some(&b'%')
        && word.iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
}

/// Reads `tag[pid]:`, `tag[pid]`, or `tag:` followed by a space or the end,
/// consuming one space after it. Leaves the cursor alone on anything else.
fn tag(cur: &mut Cursor<'_>) -> Option<(String, Option<String>)> {
    let rest = cur.rest();
    let len = rest
        .iter()
        .take(MAX_TAG + 1)
        .take_while(|&&b| b.is_ascii_graphic() && !matches!(b, b':' | b'[' | b']'))
        .count();
    if len == 0 || len > MAX_TAG || rest.first() == Some(&b'%') {
        return None;
    }
    let name = String::from_utf8_lossy(&rest[..len]).into_owned();
    let mut look = Cursor::at(rest, len);
    let mut pid = None;
    if look.eat(b'[') {
        let inner = look.rest();
        let end = inner.iter().take(64).position(|&b| b == b']')?;
        pid = Some(String::from_utf8_lossy(&inner[..end]).into_owned());
        look.advance(end + 1);
        let colon = look.eat(b':');
        if !(colon || look.peek() == Some(b' ')) {
            return None;
        }
    } else if !look.eat(b':') {
        return None;
    }
    if !(look.at_end() || look.eat(b' ')) {
        return None;
    }
    cur.advance(look.pos);
    Some((name, pid))
}
