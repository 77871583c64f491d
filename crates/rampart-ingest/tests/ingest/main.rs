//! The crate's one integration-test binary: golden snapshots per parser over
//! realistic lines, the end-to-end pipeline, the `Event` conversion, and
//! hostile input that must never panic.

mod golden;
mod hostile;
mod pipeline;
mod windows_regression;

use rampart_ingest::{ParseContext, ParserKind, Record, normalise, syslog};
use time::UtcOffset;
use time::macros::datetime;

/// The receiver's clock in every test: 2024-06-15 12:00 UTC.
pub const NOW_MS: i64 = 1_718_452_800_000;

pub fn ctx() -> ParseContext {
    ParseContext::new(datetime!(2024-06-15 12:00:00 UTC), UtcOffset::UTC)
}

/// Parses one syslog line and normalises it with `parser`.
pub fn record(parser: ParserKind, line: &str) -> Record {
    normalise(syslog::parse(line.as_bytes().to_vec(), &ctx()), parser, UtcOffset::UTC)
}

/// The snapshot text of the records of several lines, blank-line separated.
pub fn summaries(parser: ParserKind, lines: &[&str]) -> String {
    lines.iter().map(|l| record(parser, l).summary()).collect::<Vec<_>>().join("\n\n") + "\n"
}
