//! Log ingestion for Rampart, the pure part: RFC 6587 framing of syslog
//! streams ([`framing`]), RFC 5424 and lenient RFC 3164 parsing
//! ([`syslog`]), message parsers that turn sshd, sudo, su, PAM, auditd,
//! netfilter, nginx/Apache, PostgreSQL, MySQL, JSON (including Windows
//! events) and key=value lines into OCSF-classed records with Sigma field
//! names ([`parsers`], [`record`]), and the conversion of those records into
//! the shared audit [`rampart_core::Event`] ([`event`]), and the source
//! registry's rules: types, names, attribution ([`source`]).
//!
//! This crate does no I/O: no sockets, files or clocks. Listeners feed it
//! bytes and the current time ([`pipeline::Connection`]); everything here is
//! a state machine or a function, so it is unit-tested, property-tested and
//! fuzzed through [`fuzz_entry`]. No input makes it panic or grow without
//! bound.

pub mod event;
pub mod framing;
pub mod fuzz_entry;
pub mod parsers;
pub mod pipeline;
pub mod query;
pub mod record;
pub mod source;
pub mod syslog;
mod text;

pub use event::to_event;
pub use framing::{Frame, Framer, FramerConfig, FramingError};
pub use parsers::{Normaliser, ParserKind, detect, normalise, parse_message};
pub use pipeline::{Connection, SourceConfig};
pub use record::{Fields, OcsfClass, Parsed, Record, Value};
pub use syslog::{ParseContext, SyslogRecord};
