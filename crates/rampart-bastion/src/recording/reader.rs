//! Reading asciicast v2 recordings, for `rampart session play` and for
//! verifying what the writer produced. The reader is tolerant where a
//! player can be: blank lines, CR LF line ends, unknown header keys and
//! unknown event codes are accepted, and a malformed event line is skipped
//! and counted rather than ending playback. It is strict where guessing
//! would mislead: the header must be a JSON object with `"version": 2`.
//! It is bounded: no line longer than [`Limits::max_line`] is buffered
//! (longer ones are skipped as they stream past), and [`parse`] keeps at
//! most [`Limits::max_events`] events.

use std::io::{self, BufRead};
use std::time::Duration;

use serde_json::Value;

use super::{Event, EventKind, Header};

/// Bounds on what is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest line buffered, in bytes.
    pub max_line: usize,
    /// Most events [`parse`] collects.
    pub max_events: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_line: 4 << 20, max_events: 10_000_000 }
    }
}

/// Why a recording cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Reading failed.
    #[error("reading the recording failed: {0}")]
    Io(#[from] io::Error),
    /// There is no header line.
    #[error("the recording is empty")]
    Empty,
    /// The header line exceeds the line bound.
    #[error("the header line is longer than {0} bytes")]
    HeaderTooLong(usize),
    /// The header is not a JSON object.
    #[error("the header is not a JSON object: {0}")]
    BadHeader(String),
    /// The header names another format version.
    #[error("asciicast version {0} is not supported; only version 2 is")]
    UnsupportedVersion(String),
}

/// A whole recording in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cast {
    /// The header.
    pub header: Header,
    /// The events, in file order.
    pub events: Vec<Event>,
    /// Event lines skipped as malformed or too long.
    pub skipped: usize,
    /// Reading stopped at [`Limits::max_events`].
    pub truncated: bool,
}

/// Parses a recording held in memory.
pub fn parse(bytes: &[u8], limits: Limits) -> Result<Cast, ParseError> {
    let mut reader = CastReader::new(bytes, limits)?;
    let mut events = Vec::new();
    let mut truncated = false;
    while let Some(event) = reader.next_event()? {
        if events.len() >= limits.max_events {
            truncated = true;
            break;
        }
        events.push(event);
    }
    Ok(Cast { header: reader.header, events, skipped: reader.skipped, truncated })
}

/// Reads a recording event by event, for playback as it streams.
#[derive(Debug)]
pub struct CastReader<R> {
    input: R,
    limits: Limits,
    header: Header,
    skipped: usize,
    line: Vec<u8>,
}

/// The outcome of reading one line.
enum Line {
    Eof,
    Complete,
    TooLong,
}

impl<R: BufRead> CastReader<R> {
    /// Reads the header.
    pub fn new(input: R, limits: Limits) -> Result<Self, ParseError> {
        let mut reader = Self { input, limits, header: Header::default(), skipped: 0, line: Vec::new() };
        loop {
            match reader.read_line()? {
                Line::Eof => return Err(ParseError::Empty),
                Line::TooLong => return Err(ParseError::HeaderTooLong(limits.max_line)),
                Line::Complete if reader.line.iter().all(u8::is_ascii_whitespace) => {}
                Line::Complete => break,
            }
        }
        reader.header = parse_header(&reader.line)?;
        Ok(reader)
    }

    /// The recording's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// How many event lines were skipped so far.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The next well-formed event, or `None` at the end.
    pub fn next_event(&mut self) -> Result<Option<Event>, ParseError> {
        loop {
            match self.read_line()? {
                Line::Eof => return Ok(None),
                Line::TooLong => self.skipped += 1,
                Line::Complete if self.line.iter().all(u8::is_ascii_whitespace) => {}
                Line::Complete => match parse_event(&self.line) {
                    Some(event) => return Ok(Some(event)),
                    None => self.skipped += 1,
                },
            }
        }
    }

    /// Reads one line into `self.line` without its end, never buffering
    /// more than the bound: a longer line is consumed and reported.
    fn read_line(&mut self) -> io::Result<Line> {
        self.line.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let available = match self.input.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                return Ok(match (any, too_long) {
                    (false, _) => Line::Eof,
                    (true, true) => Line::TooLong,
                    (true, false) => Line::Complete,
                });
            }
            any = true;
            let newline = available.iter().position(|&b| b == b'\n');
            let take = newline.unwrap_or(available.len());
            if !too_long && self.line.len() + take <= self.limits.max_line {
                self.line.extend_from_slice(&available[..take]);
            } else {
                too_long = true;
                self.line.clear();
            }
            self.input.consume(newline.map_or(take, |n| n + 1));
            if newline.is_some() {
                if self.line.last() == Some(&b'\r') {
                    self.line.pop();
                }
                return Ok(if too_long { Line::TooLong } else { Line::Complete });
            }
        }
    }
}

fn parse_header(line: &[u8]) -> Result<Header, ParseError> {
    let value: Value = serde_json::from_slice(line).map_err(|e| ParseError::BadHeader(e.to_string()))?;
    let Value::Object(map) = value else { return Err(ParseError::BadHeader("not an object".into())) };
    match map.get("version") {
        Some(v) if v.as_u64() == Some(2) => {}
        Some(v) => return Err(ParseError::UnsupportedVersion(v.to_string())),
        None => return Err(ParseError::BadHeader("no `version`".into())),
    }
    // Missing or odd sizes fall back to the classic 80x24 so playback can
    // still start.
    let size = |key: &str, default: u16| {
        map.get(key).and_then(Value::as_u64).map_or(default, |v| u16::try_from(v).unwrap_or(u16::MAX))
    };
    let env = map.get("env").and_then(Value::as_object);
    let env_var = |key: &str| env.and_then(|e| e.get(key)).and_then(Value::as_str).map(str::to_owned);
    let timestamp = map.get("timestamp").and_then(|t| t.as_u64().or_else(|| t.as_f64().map(seconds_floor)));
    Ok(Header {
        width: size("width", 80),
        height: size("height", 24),
        timestamp,
        shell: env_var("SHELL"),
        term: env_var("TERM"),
        title: map.get("title").and_then(Value::as_str).map(str::to_owned),
    })
}

fn seconds_floor(t: f64) -> u64 {
    if t.is_finite() && t >= 0.0 { t.floor() as u64 } else { 0 }
}

/// Later times are rejected: no real session lasts a century, and the
/// bound keeps the conversion to microseconds exact.
const MAX_TIME_SECS: f64 = 3.2e9;

fn parse_event(line: &[u8]) -> Option<Event> {
    let (time, code, data): (f64, String, String) = serde_json::from_slice(line).ok()?;
    if !(0.0..=MAX_TIME_SECS).contains(&time) {
        return None;
    }
    let time = Duration::from_micros((time * 1e6).round() as u64);
    let kind = match code.as_str() {
        "o" => EventKind::Output,
        "i" => EventKind::Input,
        "m" => EventKind::Marker,
        "r" => {
            let (cols, rows) = data.split_once('x')?;
            EventKind::Resize { cols: cols.trim().parse().ok()?, rows: rows.trim().parse().ok()? }
        }
        other if !other.is_empty() && other.len() <= 16 => EventKind::Other(code),
        _ => return None,
    };
    Some(Event { time, kind, data })
}
