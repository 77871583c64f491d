//! What the source registry knows about a sender, the pure part: source
//! types, name rules, which name a record is attributed to, and re-parsing
//! a record with the parser its source is registered with.
//!
//! A record belongs to the host its syslog header names (lower-cased), or,
//! when the header names none, to the address it came from. Header names
//! are claims, not proof: over plain UDP or TCP anyone can send under any
//! name, which is why mutual TLS is the way to bind a source to a sender.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use time::UtcOffset;

use crate::parsers::{ParserKind, normalise};
use crate::record::Record;

/// The longest source name: a DNS name's limit.
pub const MAX_NAME: usize = 253;

/// What kind of component a source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceType {
    Server,
    NetworkDevice,
    Database,
    Application,
}

impl SourceType {
    pub const ALL: [SourceType; 4] =
        [SourceType::Server, SourceType::NetworkDevice, SourceType::Database, SourceType::Application];

    pub fn name(self) -> &'static str {
        match self {
            SourceType::Server => "server",
            SourceType::NetworkDevice => "network_device",
            SourceType::Database => "database",
            SourceType::Application => "application",
        }
    }
}

impl fmt::Display for SourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A source type name that is not one of [`SourceType::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown source type {0:?}; known: server, network_device, database, application")]
pub struct UnknownSourceType(pub String);

impl FromStr for SourceType {
    type Err = UnknownSourceType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase().replace('-', "_");
        SourceType::ALL.into_iter().find(|t| t.name() == lower).ok_or_else(|| UnknownSourceType(s.to_owned()))
    }
}

/// Why a source name is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadName {
    #[error("a source name must not be empty")]
    Empty,
    #[error("a source name is at most {MAX_NAME} bytes")]
    TooLong,
    #[error("a source name is printable ASCII without spaces (a host name or address)")]
    BadCharacter,
}

/// The canonical form of a source name (lower case), or why it is refused.
pub fn canonical_name(name: &str) -> Result<String, BadName> {
    if name.is_empty() {
        return Err(BadName::Empty);
    }
    if name.len() > MAX_NAME {
        return Err(BadName::TooLong);
    }
    if !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(BadName::BadCharacter);
    }
    Ok(name.to_ascii_lowercase())
}

/// The source a record is attributed to: its header's host name when that
/// is a usable name, else the sender's address.
pub fn source_name(record: &Record, peer: IpAddr) -> String {
    record
        .syslog
        .hostname
        .as_deref()
        .filter(|h| *h != "-")
        .and_then(|h| canonical_name(h).ok())
        .unwrap_or_else(|| peer.to_string())
}

/// Parses a record again with the parser its source is registered with,
/// when that is a fixed parser other than the one that ran. Audit records
/// are left alone: they were grouped by serial already, which a single
/// line's parser cannot redo.
pub fn reparse(record: Record, parser: ParserKind, zone: UtcOffset) -> Record {
    let keep = matches!(parser, ParserKind::Auto | ParserKind::Auditd) || record.kind.starts_with("log.auditd.");
    if keep { record } else { normalise(record.syslog, parser, zone) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syslog::{ParseContext, parse};

    fn record(line: &str) -> Record {
        normalise(
            parse(line.as_bytes().to_vec(), &ParseContext::at_ms(1_700_000_000_000)),
            ParserKind::Auto,
            UtcOffset::UTC,
        )
    }

    #[test]
    fn records_belong_to_their_host_name_or_else_their_address() {
        let peer: IpAddr = [192, 0, 2, 7].into();
        assert_eq!(source_name(&record("<34>1 2024-01-01T00:00:00Z Web-01 app - - - hi"), peer), "web-01");
        assert_eq!(source_name(&record("<34>1 2024-01-01T00:00:00Z - app - - - hi"), peer), "192.0.2.7");
        assert_eq!(source_name(&record("no header at all"), peer), "192.0.2.7");
    }

    #[test]
    fn names_and_types_are_checked() {
        assert_eq!(canonical_name("DB.example.COM"), Ok("db.example.com".to_owned()));
        assert_eq!(canonical_name(""), Err(BadName::Empty));
        assert_eq!(canonical_name("a b"), Err(BadName::BadCharacter));
        assert_eq!(canonical_name(&"a".repeat(254)), Err(BadName::TooLong));
        assert_eq!("network-device".parse(), Ok(SourceType::NetworkDevice));
        assert!("toaster".parse::<SourceType>().is_err());
    }

    #[test]
    fn a_registered_parser_replaces_the_guess() {
        let line = "<38>1 2024-01-01T00:00:00Z h app - - - user=alice action=login";
        assert_eq!(record(line).kind, "log.kv");
        assert_eq!(reparse(record(line), ParserKind::Raw, UtcOffset::UTC).kind, "log.unknown");
        assert_eq!(reparse(record(line), ParserKind::Auto, UtcOffset::UTC).kind, "log.kv");
    }
}
