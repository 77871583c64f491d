//! Prefixed, time-ordered identifiers (`usr_…`, `tnt_…`).
//!
//! A UUIDv7 underneath gives ids that sort by creation time, which is what
//! cursor pagination orders by; the prefix tells a reader what kind of object
//! an id names when it shows up in a log line or a support ticket.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An identifier with a kind prefix, e.g. `usr_0192f3…`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Id(String);

impl Id {
    /// A new, time-ordered id of the given kind (`"usr"`, `"tnt"`, …).
    pub fn new(prefix: &str) -> Self {
        Id(format!("{prefix}_{}", uuid::Uuid::now_v7().simple()))
    }

    /// Wraps an id read back from storage or from a request. The text is
    /// checked for shape only; existence is the caller's concern.
    pub fn parse(text: &str) -> Option<Self> {
        let (prefix, rest) = text.split_once('_')?;
        let prefix_ok = !prefix.is_empty() && prefix.len() <= 8 && prefix.bytes().all(|b| b.is_ascii_lowercase());
        let rest_ok = rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit());
        (prefix_ok && rest_ok).then(|| Id(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Trusted conversion for values that come from our own storage.
    pub fn from_trusted(text: String) -> Self {
        Id(text)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_parse_back_and_sort_by_creation() {
        let a = Id::new("usr");
        let b = Id::new("usr");
        assert_eq!(Id::parse(a.as_str()), Some(a.clone()));
        assert!(a < b, "UUIDv7 ids must sort by creation time");
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for bad in ["", "usr", "usr_", "USR_0123", "usr_zz", "toolongprefix_00000000000000000000000000000000"] {
            assert_eq!(Id::parse(bad), None, "{bad:?} must not parse");
        }
    }
}
