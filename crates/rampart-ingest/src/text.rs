//! Small byte and text scanners shared by the syslog and message parsers.
//!
//! The hot path handles 150,000 lines a second, so parsing is done with a
//! cursor and `memchr` rather than regular expressions; these helpers keep
//! that style short and free of index panics.

use memchr::memchr;

/// A forward-only position in a byte string. Every method is total: at the
/// end of input it returns empty slices or `None` instead of panicking.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor<'a> {
    pub s: &'a [u8],
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(s: &'a [u8]) -> Self {
        Cursor { s, pos: 0 }
    }

    pub fn at(s: &'a [u8], pos: usize) -> Self {
        Cursor { s, pos: pos.min(s.len()) }
    }

    pub fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    pub fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.s.get(self.pos + ahead).copied()
    }

    pub fn rest(&self) -> &'a [u8] {
        self.s.get(self.pos..).unwrap_or(&[])
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    pub fn advance(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.s.len());
    }

    /// Consumes `b` if it is next.
    pub fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Consumes `prefix` if the input continues with it.
    pub fn eat_slice(&mut self, prefix: &[u8]) -> bool {
        if self.rest().starts_with(prefix) {
            self.pos += prefix.len();
            true
        } else {
            false
        }
    }

    pub fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    /// The bytes up to (not including) the next space, or to the end; the
    /// cursor stops on the space.
    pub fn word(&mut self) -> &'a [u8] {
        let rest = self.rest();
        let len = memchr(b' ', rest).unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    /// Up to `max` ASCII digits as a number; `None` (and no movement) when
    /// there is no digit.
    pub fn digits(&mut self, max: usize) -> Option<u32> {
        let start = self.pos;
        let mut value: u32 = 0;
        while self.pos - start < max {
            match self.peek() {
                Some(d @ b'0'..=b'9') => {
                    value = value.saturating_mul(10).saturating_add(u32::from(d - b'0'));
                    self.pos += 1;
                }
                _ => break,
            }
        }
        (self.pos > start).then_some(value)
    }

    /// Exactly `n` digits, or `None` with the cursor restored.
    pub fn fixed_digits(&mut self, n: usize) -> Option<u32> {
        let start = self.pos;
        match self.digits(n) {
            Some(v) if self.pos - start == n => Some(v),
            _ => {
                self.pos = start;
                None
            }
        }
    }
}

/// Whether `s` is a plausible IPv4 or IPv6 address (cheap shape check, not a
/// full validation: the parsers only need to tell an address from a word).
pub(crate) fn looks_like_ip(s: &str) -> bool {
    s.len() >= 2
        && s.len() <= 45
        && s.bytes().any(|b| b == b'.' || b == b':')
        && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':')
}

/// Decodes a hex string such as auditd's encoded values; `None` unless the
/// whole input is an even number of hex digits.
pub(crate) fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    if bytes.is_empty() || !bytes.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |b: u8| -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    };
    bytes.chunks_exact(2).map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_words_and_digits_stop_at_the_end_without_panicking() {
        let mut c = Cursor::new(b"12ab cd");
        assert_eq!(c.digits(5), Some(12));
        assert_eq!(c.word(), b"ab");
        assert!(c.eat(b' '));
        assert_eq!(c.word(), b"cd");
        assert_eq!(c.word(), b"");
        assert_eq!(c.digits(3), None);
        assert!(c.at_end());
        let mut c = Cursor::new(b"123");
        assert_eq!(c.fixed_digits(4), None);
        assert_eq!(c.pos, 0);
    }

    #[test]
    fn hex_decoding_rejects_odd_and_non_hex_input() {
        assert_eq!(decode_hex("2F62696E"), Some(b"/bin".to_vec()));
        assert_eq!(decode_hex("abc"), None);
        assert_eq!(decode_hex("zz"), None);
        assert!(looks_like_ip("10.0.0.1") && looks_like_ip("fe80::1") && !looks_like_ip("host"));
    }
}
