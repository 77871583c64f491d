//! One connection's whole pure pipeline: framer, syslog parser and
//! normaliser, fed the bytes a listener reads and the receiver's clock.
//!
//! The listener owns the socket; this owns everything else, so the adapter
//! is a read loop that calls [`Connection::push`] and closes the socket when
//! it returns an error.

use time::UtcOffset;

use crate::framing::{Framer, FramerConfig, FramingError};
use crate::parsers::{Normaliser, ParserKind};
use crate::record::Record;
use crate::syslog::{self, ParseContext};

/// How long audit records wait for their EOE by default.
pub const DEFAULT_AUDIT_TIMEOUT_MS: i64 = 2_000;

/// What a source is configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceConfig {
    pub parser: ParserKind,
    /// Offset for timestamps that carry none.
    pub zone: UtcOffset,
    pub framing: FramerConfig,
    pub audit_timeout_ms: i64,
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            parser: ParserKind::Auto,
            zone: UtcOffset::UTC,
            framing: FramerConfig::default(),
            audit_timeout_ms: DEFAULT_AUDIT_TIMEOUT_MS,
        }
    }
}

/// The state of one stream connection (or one datagram source).
#[derive(Debug)]
pub struct Connection {
    framer: Framer,
    normaliser: Normaliser,
    zone: UtcOffset,
}

impl Connection {
    pub fn new(config: SourceConfig) -> Self {
        Connection {
            framer: Framer::new(config.framing),
            normaliser: Normaliser::new(config.parser, config.zone, config.audit_timeout_ms),
            zone: config.zone,
        }
    }

    fn context(&self, now_ms: i64) -> ParseContext {
        ParseContext { zone: self.zone, ..ParseContext::at_ms(now_ms) }
    }

    /// Feeds bytes read from the stream; records are appended to `out`. An
    /// error means the framing is broken: close this connection.
    pub fn push(&mut self, chunk: &[u8], now_ms: i64, out: &mut Vec<Record>) -> Result<(), FramingError> {
        let ctx = self.context(now_ms);
        for frame in self.framer.push(chunk) {
            self.normaliser.push(syslog::parse_frame(frame?, &ctx), now_ms, out);
        }
        Ok(())
    }

    /// Takes one datagram (UDP syslog): one message, no framing.
    pub fn push_datagram(&mut self, datagram: &[u8], now_ms: i64, out: &mut Vec<Record>) {
        let ctx = self.context(now_ms);
        self.normaliser.push(syslog::parse(datagram.to_vec(), &ctx), now_ms, out);
    }

    /// Periodic housekeeping: releases audit events that waited too long.
    pub fn tick(&mut self, now_ms: i64, out: &mut Vec<Record>) {
        self.normaliser.flush_expired(now_ms, out);
    }

    /// The stream ended: delivers a last unterminated line and everything
    /// still held.
    pub fn finish(&mut self, now_ms: i64, out: &mut Vec<Record>) -> Result<(), FramingError> {
        let ctx = self.context(now_ms);
        let result = match self.framer.finish() {
            Ok(Some(frame)) => {
                self.normaliser.push(syslog::parse_frame(frame, &ctx), now_ms, out);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        self.normaliser.flush_all(out);
        result
    }
}
