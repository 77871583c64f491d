//! Session recordings in the asciicast v2 format, the one `asciinema play`
//! and `rampart session play` read: a JSON header line, then one
//! `[time, code, data]` line per event (`"o"` output, `"i"` input, `"r"`
//! resize as `COLSxROWS`, `"m"` marker). [`AsciicastWriter`] streams a
//! recording to any `std::io::Write` while the session runs; [`reader`]
//! parses one back, tolerantly and within bounds; [`sealed`] encrypts a
//! recording at rest, segment by segment, as it is written.
//!
//! Asciicast data is a JSON string, so output that ends in the middle of a
//! UTF-8 character keeps the partial bytes for the next event instead of
//! mangling them; bytes that are not UTF-8 at all become U+FFFD, as in
//! asciinema itself. The writer hashes every byte it writes: a running
//! SHA-256 over the whole file, returned by [`AsciicastWriter::finish`],
//! and one SHA-256 per fixed-size chunk of the file, handed back as each
//! chunk completes so the caller can append them to the ledger while the
//! session is still running. Times are given by the caller (no clock
//! here), written with microsecond precision, and never go backwards.

pub mod reader;
pub mod sealed;

#[cfg(test)]
mod sealed_tests;
#[cfg(test)]
mod tests;

use std::io::Write;
use std::num::NonZeroU64;
use std::time::Duration;

use aws_lc_rs::digest::{Context, SHA256};
use serde::Serialize;

pub use reader::{Cast, CastReader, Limits, ParseError, parse};

/// The recording's header: terminal size, start time and environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// Terminal width in columns.
    pub width: u16,
    /// Terminal height in rows.
    pub height: u16,
    /// Start of the session, in seconds since the Unix epoch.
    pub timestamp: Option<u64>,
    /// The `SHELL` of the session, if known.
    pub shell: Option<String>,
    /// The `TERM` of the client.
    pub term: Option<String>,
    /// A title, such as `alice@db-1`.
    pub title: Option<String>,
}

/// What kind of event a line records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// Output from the target (`"o"`).
    Output,
    /// Input from the user (`"i"`).
    Input,
    /// A terminal resize (`"r"`, data `COLSxROWS`).
    Resize {
        /// New width.
        cols: u16,
        /// New height.
        rows: u16,
    },
    /// A marker (`"m"`), such as a policy decision.
    Marker,
    /// A code this version does not know, kept for tolerance.
    Other(String),
}

impl EventKind {
    fn code(&self) -> &str {
        match self {
            Self::Output => "o",
            Self::Input => "i",
            Self::Resize { .. } => "r",
            Self::Marker => "m",
            Self::Other(code) => code,
        }
    }
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Time since the start of the recording.
    pub time: Duration,
    /// The kind of event.
    pub kind: EventKind,
    /// The event's data (for a resize, `COLSxROWS`).
    pub data: String,
}

/// The SHA-256 of one chunk of the recording file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkHash {
    /// The chunk's number, from 0.
    pub index: u64,
    /// Where the chunk starts in the file.
    pub offset: u64,
    /// Its length: the chunk size, except for the last chunk.
    pub len: u64,
    /// SHA-256 of the chunk's bytes.
    pub sha256: [u8; 32],
}

/// What a finished recording amounts to.
#[derive(Debug)]
pub struct Finished<W> {
    /// The writer, handed back.
    pub writer: W,
    /// Total bytes written.
    pub total_bytes: u64,
    /// SHA-256 of all bytes written.
    pub sha256: [u8; 32],
    /// Hashes of the chunks completed by finishing (the last, short one).
    pub chunks: Vec<ChunkHash>,
}

/// Why a recording could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The underlying writer failed; the recording is incomplete.
    #[error("writing the recording failed: {0}")]
    Io(#[from] std::io::Error),
    /// The header could not be encoded.
    #[error("encoding the recording header failed: {0}")]
    Encode(#[from] serde_json::Error),
    /// An earlier write failed, so the file and its hashes no longer agree.
    #[error("the recording is broken by an earlier write error")]
    Broken,
}

/// Streams an asciicast v2 recording.
pub struct AsciicastWriter<W: Write> {
    out: W,
    total: Context,
    chunk: Context,
    chunk_size: u64,
    chunk_index: u64,
    chunk_start: u64,
    written: u64,
    last_time: Duration,
    carry_output: Vec<u8>,
    carry_input: Vec<u8>,
    broken: bool,
}

impl<W: Write> std::fmt::Debug for AsciicastWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsciicastWriter")
            .field("written", &self.written)
            .field("chunk_size", &self.chunk_size)
            .field("chunk_index", &self.chunk_index)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct HeaderJson<'a> {
    version: u8,
    width: u16,
    height: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<u64>,
    env: EnvJson<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
}

#[derive(Serialize)]
struct EnvJson<'a> {
    #[serde(rename = "SHELL", skip_serializing_if = "Option::is_none")]
    shell: Option<&'a str>,
    #[serde(rename = "TERM", skip_serializing_if = "Option::is_none")]
    term: Option<&'a str>,
}

impl<W: Write> AsciicastWriter<W> {
    /// Writes the header and returns the writer with any chunk hashes the
    /// header alone completed.
    pub fn new(out: W, header: &Header, chunk_size: NonZeroU64) -> Result<(Self, Vec<ChunkHash>), RecordingError> {
        let mut writer = Self {
            out,
            total: Context::new(&SHA256),
            chunk: Context::new(&SHA256),
            chunk_size: chunk_size.get(),
            chunk_index: 0,
            chunk_start: 0,
            written: 0,
            last_time: Duration::ZERO,
            carry_output: Vec::new(),
            carry_input: Vec::new(),
            broken: false,
        };
        let json = HeaderJson {
            version: 2,
            width: header.width,
            height: header.height,
            timestamp: header.timestamp,
            env: EnvJson { shell: header.shell.as_deref(), term: header.term.as_deref() },
            title: header.title.as_deref(),
        };
        let mut line = serde_json::to_vec(&json)?;
        line.push(b'\n');
        let chunks = writer.emit(&line)?;
        Ok((writer, chunks))
    }

    /// Records output from the target.
    pub fn output(&mut self, at: Duration, data: &[u8]) -> Result<Vec<ChunkHash>, RecordingError> {
        let text = take_text(&mut self.carry_output, data);
        self.text_event(at, "o", &text)
    }

    /// Records input from the user.
    pub fn input(&mut self, at: Duration, data: &[u8]) -> Result<Vec<ChunkHash>, RecordingError> {
        let text = take_text(&mut self.carry_input, data);
        self.text_event(at, "i", &text)
    }

    /// Records a terminal resize.
    pub fn resize(&mut self, at: Duration, cols: u16, rows: u16) -> Result<Vec<ChunkHash>, RecordingError> {
        self.event(at, "r", &format!("{cols}x{rows}"))
    }

    /// Records a marker, such as a policy decision, that players show as a
    /// chapter.
    pub fn marker(&mut self, at: Duration, label: &str) -> Result<Vec<ChunkHash>, RecordingError> {
        self.event(at, "m", label)
    }

    /// Writes an event as it is, for copying recordings.
    pub fn write_event(&mut self, event: &Event) -> Result<Vec<ChunkHash>, RecordingError> {
        match &event.kind {
            EventKind::Output => self.output(event.time, event.data.as_bytes()),
            EventKind::Input => self.input(event.time, event.data.as_bytes()),
            EventKind::Resize { cols, rows } => self.resize(event.time, *cols, *rows),
            kind => self.event(event.time, kind.code(), &event.data),
        }
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> Result<(), RecordingError> {
        if self.broken {
            return Err(RecordingError::Broken);
        }
        self.out.flush()?;
        Ok(())
    }

    /// Writes out held partial characters, closes the last chunk and
    /// returns the totals.
    pub fn finish(mut self) -> Result<Finished<W>, RecordingError> {
        let at = self.last_time;
        let mut chunks = Vec::new();
        for code in ["o", "i"] {
            let carry = if code == "o" { &mut self.carry_output } else { &mut self.carry_input };
            let rest = String::from_utf8_lossy(&std::mem::take(carry)).into_owned();
            chunks.extend(self.text_event(at, code, &rest)?);
        }
        if self.written > self.chunk_start {
            chunks.push(self.close_chunk());
        }
        self.flush()?;
        let sha256 = digest_array(self.total.finish().as_ref());
        Ok(Finished { writer: self.out, total_bytes: self.written, sha256, chunks })
    }

    fn text_event(&mut self, at: Duration, code: &str, text: &str) -> Result<Vec<ChunkHash>, RecordingError> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        self.event(at, code, text)
    }

    fn event(&mut self, at: Duration, code: &str, data: &str) -> Result<Vec<ChunkHash>, RecordingError> {
        // A clock that steps back must not produce a recording that plays
        // backwards.
        let at = at.max(self.last_time);
        self.last_time = at;
        let mut line = String::with_capacity(data.len() + 32);
        line.push_str(&format!("[{}.{:06}, ", at.as_secs(), at.subsec_micros()));
        json_string(&mut line, code);
        line.push_str(", ");
        json_string(&mut line, data);
        line.push_str("]\n");
        self.emit(line.as_bytes())
    }

    fn emit(&mut self, bytes: &[u8]) -> Result<Vec<ChunkHash>, RecordingError> {
        if self.broken {
            return Err(RecordingError::Broken);
        }
        if let Err(e) = self.out.write_all(bytes) {
            self.broken = true;
            return Err(e.into());
        }
        self.total.update(bytes);
        let mut done = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let room = self.chunk_size - (self.written - self.chunk_start);
            let n = usize::try_from(room).map_or(rest.len(), |room| room.min(rest.len()));
            self.chunk.update(&rest[..n]);
            self.written += n as u64;
            rest = &rest[n..];
            if self.written - self.chunk_start == self.chunk_size {
                done.push(self.close_chunk());
            }
        }
        Ok(done)
    }

    fn close_chunk(&mut self) -> ChunkHash {
        let context = std::mem::replace(&mut self.chunk, Context::new(&SHA256));
        let hash = ChunkHash {
            index: self.chunk_index,
            offset: self.chunk_start,
            len: self.written - self.chunk_start,
            sha256: digest_array(context.finish().as_ref()),
        };
        self.chunk_index += 1;
        self.chunk_start = self.written;
        hash
    }
}

fn digest_array(digest: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (o, b) in out.iter_mut().zip(digest) {
        *o = *b;
    }
    out
}

/// Appends `data` to the carried bytes and returns the longest prefix
/// that ends on a character boundary, keeping an unfinished character
/// (at most three bytes) for the next call.
fn take_text(carry: &mut Vec<u8>, data: &[u8]) -> String {
    carry.extend_from_slice(data);
    let keep = unfinished_tail(carry);
    let tail = carry.split_off(carry.len() - keep);
    let text = String::from_utf8_lossy(carry).into_owned();
    *carry = tail;
    text
}

/// How many bytes at the end begin a UTF-8 character that is not complete
/// yet (but may still become valid).
fn unfinished_tail(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let start = bytes.len() - back;
        if bytes[start] & 0xc0 == 0x80 {
            continue;
        }
        return match std::str::from_utf8(&bytes[start..]) {
            Err(e) if e.valid_up_to() == 0 && e.error_len().is_none() => back,
            _ => 0,
        };
    }
    0
}

/// Appends `s` as a JSON string literal. Only what JSON requires is
/// escaped; other characters stay as UTF-8, as asciinema writes them.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}
