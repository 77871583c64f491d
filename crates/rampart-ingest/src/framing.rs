//! RFC 6587 framing of a syslog byte stream: a state machine fed the chunks a
//! TCP or TLS connection delivers, yielding complete messages.
//!
//! The framing method is detected once per connection from its first byte,
//! as syslog-ng does: a digit starts octet counting (`LEN SP MSG`), anything
//! else non-transparent framing, where LF ends a message (a CR before it is
//! dropped, and NUL ends a message too, as some senders use it). Memory stays
//! bounded whatever arrives: a message longer than the configured limit is cut
//! at the limit and flagged, and the rest of it is skipped without buffering.
//! Broken framing (a non-digit where an octet count belongs, or a count over
//! the hard limit) poisons the framer; the adapter closes that connection.

use memchr::memchr2;

/// Default largest message kept, in bytes (64 KiB).
pub const DEFAULT_MAX_MESSAGE: usize = 64 * 1024;
/// Default largest octet count accepted before the stream is declared broken.
pub const DEFAULT_MAX_OCTET_COUNT: usize = 16 * 1024 * 1024;
/// An octet count never needs more digits than this; more means garbage.
const MAX_COUNT_DIGITS: usize = 10;

/// Limits of one framer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramerConfig {
    /// Messages longer than this are truncated to it and flagged.
    pub max_message: usize,
    /// Octet counts above this are a framing error, not a long message.
    pub max_octet_count: usize,
}

impl Default for FramerConfig {
    fn default() -> Self {
        FramerConfig { max_message: DEFAULT_MAX_MESSAGE, max_octet_count: DEFAULT_MAX_OCTET_COUNT }
    }
}

/// One complete message as framed, without its length prefix or trailer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub bytes: Vec<u8>,
    /// The message was longer than `max_message` and was cut.
    pub truncated: bool,
}

/// Why a stream can no longer be framed; the connection should be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("octet-counted frame starts with byte 0x{0:02x}, not a digit")]
    BadOctetCount(u8),
    #[error("octet count exceeds the limit of {limit} bytes")]
    OctetCountTooLarge { limit: usize },
    #[error("connection ended inside an octet-counted frame")]
    TruncatedFrame,
    #[error("framer already failed; close the connection")]
    Poisoned,
}

/// The framing method of a connection, fixed by its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    OctetCounting,
    NonTransparent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing received yet; the next byte picks the method.
    Detect,
    /// Between frames, or reading the digits of an octet count.
    Count {
        value: usize,
        digits: usize,
    },
    /// Inside an octet-counted body with `remaining` bytes still to come.
    Body {
        remaining: usize,
    },
    /// Inside a non-transparent message.
    Line,
    /// Discarding the rest of an oversized non-transparent message.
    SkipLine,
    Failed,
}

/// The framing state machine of one connection.
#[derive(Debug)]
pub struct Framer {
    config: FramerConfig,
    state: State,
    method: Option<Method>,
    buf: Vec<u8>,
    truncated: bool,
}

impl Framer {
    pub fn new(config: FramerConfig) -> Self {
        Framer { config, state: State::Detect, method: None, buf: Vec::new(), truncated: false }
    }

    /// The method detected so far, if any byte has arrived.
    pub fn method(&self) -> Option<Method> {
        self.method
    }

    /// Feeds one chunk; the iterator yields each message it completes. After
    /// an error the framer is poisoned and every later call fails.
    pub fn push<'a>(&'a mut self, chunk: &'a [u8]) -> Frames<'a> {
        Frames { framer: self, input: chunk }
    }

    /// Ends the stream. A pending non-transparent message without its final
    /// LF is still delivered, as rsyslog does; a half-received octet-counted
    /// frame is an error.
    pub fn finish(&mut self) -> Result<Option<Frame>, FramingError> {
        let state = std::mem::replace(&mut self.state, State::Detect);
        match state {
            State::Failed => {
                self.state = State::Failed;
                Err(FramingError::Poisoned)
            }
            State::Body { .. } => Err(FramingError::TruncatedFrame),
            State::Count { digits, .. } if digits > 0 => Err(FramingError::TruncatedFrame),
            State::Line | State::SkipLine if !self.buf.is_empty() => {
                if self.buf.len() > self.config.max_message {
                    self.buf.truncate(self.config.max_message);
                    self.truncated = true;
                }
                Ok(Some(self.take_frame()))
            }
            _ => Ok(None),
        }
    }

    fn take_frame(&mut self) -> Frame {
        let bytes = std::mem::take(&mut self.buf);
        let truncated = std::mem::replace(&mut self.truncated, false);
        Frame { bytes, truncated }
    }

    /// Copies as much of `data` into the message buffer as the limit allows
    /// and reports whether the limit was reached.
    fn append_limited(&mut self, data: &[u8], limit: usize) -> bool {
        let room = limit.saturating_sub(self.buf.len());
        if data.len() > room {
            self.buf.extend_from_slice(&data[..room]);
            self.truncated = true;
            true
        } else {
            self.buf.extend_from_slice(data);
            false
        }
    }

    /// Advances over `input`, returning the bytes consumed and perhaps a frame.
    fn step(&mut self, input: &[u8]) -> (usize, Option<Result<Frame, FramingError>>) {
        let Some(&first) = input.first() else { return (0, None) };
        match self.state {
            State::Failed => (input.len(), Some(Err(FramingError::Poisoned))),
            State::Detect => {
                let method = if first.is_ascii_digit() { Method::OctetCounting } else { Method::NonTransparent };
                self.method = Some(method);
                self.state = match method {
                    Method::OctetCounting => State::Count { value: 0, digits: 0 },
                    Method::NonTransparent => State::Line,
                };
                (0, None)
            }
            State::Count { value, digits } => self.step_count(first, value, digits),
            State::Body { remaining } => {
                let take = remaining.min(input.len());
                // Past the limit the bytes are counted off but not stored.
                self.append_limited(&input[..take], self.config.max_message);
                if take == remaining {
                    self.state = State::Count { value: 0, digits: 0 };
                    (take, Some(Ok(self.take_frame())))
                } else {
                    self.state = State::Body { remaining: remaining - take };
                    (take, None)
                }
            }
            State::Line | State::SkipLine => self.step_line(input),
        }
    }

    fn step_count(&mut self, byte: u8, value: usize, digits: usize) -> (usize, Option<Result<Frame, FramingError>>) {
        match byte {
            // Stray line ends and NULs between frames are tolerated, since
            // several senders terminate octet-counted frames with LF anyway.
            b'\n' | b'\r' | b'\0' if digits == 0 => (1, None),
            b'1'..=b'9' if digits == 0 => {
                self.state = State::Count { value: usize::from(byte - b'0'), digits: 1 };
                (1, None)
            }
            b'0'..=b'9' if digits > 0 => {
                let value = value.saturating_mul(10).saturating_add(usize::from(byte - b'0'));
                if digits + 1 > MAX_COUNT_DIGITS || value > self.config.max_octet_count {
                    return self.fail(FramingError::OctetCountTooLarge { limit: self.config.max_octet_count });
                }
                self.state = State::Count { value, digits: digits + 1 };
                (1, None)
            }
            b' ' if digits > 0 => {
                self.state = State::Body { remaining: value };
                (1, None)
            }
            other => self.fail(FramingError::BadOctetCount(other)),
        }
    }

    fn step_line(&mut self, input: &[u8]) -> (usize, Option<Result<Frame, FramingError>>) {
        let skipping = self.state == State::SkipLine;
        // One byte of slack for the CR of a CRLF, which is not content and
        // must not make a message of exactly the limit count as too long.
        let limit = self.config.max_message.saturating_add(1);
        match memchr2(b'\n', b'\0', input) {
            Some(end) => {
                if !skipping {
                    self.append_limited(&input[..end], limit);
                }
                self.state = State::Line;
                if self.buf.last() == Some(&b'\r') {
                    self.buf.pop();
                }
                if self.buf.len() > self.config.max_message {
                    self.buf.truncate(self.config.max_message);
                    self.truncated = true;
                }
                // Empty lines (keep-alives, CRLF doubled) carry no message.
                let frame = if self.buf.is_empty() { None } else { Some(Ok(self.take_frame())) };
                (end + 1, frame)
            }
            None => {
                if !skipping && self.append_limited(input, limit) {
                    self.state = State::SkipLine;
                }
                (input.len(), None)
            }
        }
    }

    fn fail(&mut self, error: FramingError) -> (usize, Option<Result<Frame, FramingError>>) {
        self.state = State::Failed;
        self.buf = Vec::new();
        (usize::MAX, Some(Err(error)))
    }
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new(FramerConfig::default())
    }
}

/// The messages completed by one chunk; see [`Framer::push`].
#[derive(Debug)]
pub struct Frames<'a> {
    framer: &'a mut Framer,
    input: &'a [u8],
}

impl Iterator for Frames<'_> {
    type Item = Result<Frame, FramingError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.framer.state == State::Failed {
            // Report the poisoning once per push, then stop.
            if self.input.is_empty() {
                return None;
            }
            self.input = &[];
            return Some(Err(FramingError::Poisoned));
        }
        while !self.input.is_empty() {
            let (used, out) = self.framer.step(self.input);
            self.input = self.input.get(used..).unwrap_or(&[]);
            if out.is_some() {
                return out;
            }
        }
        None
    }
}

/// Frames a whole byte string at once, stopping at the first error; a
/// convenience for tests and fuzzing.
pub fn frame_all(config: FramerConfig, input: &[u8]) -> Result<Vec<Frame>, FramingError> {
    let mut framer = Framer::new(config);
    let mut frames = framer.push(input).collect::<Result<Vec<_>, _>>()?;
    frames.extend(framer.finish()?);
    Ok(frames)
}

#[cfg(test)]
#[path = "framing_tests.rs"]
mod tests;
