//! C2SP transparency-log checkpoints (c2sp.org/tlog-checkpoint): the signed
//! tree head. The note text is the origin line, the decimal tree size, the
//! base64 root hash and optional extension lines, each ending in a newline.
//! Parsing is strict so that one tree head has exactly one text, and so that
//! two parties can never read different sizes or roots out of the same bytes.

use std::fmt;

use data_encoding::BASE64;

use crate::merkle::{HASH_LEN, Hash};
use crate::note::{self, MAX_NOTE_LEN, NoteError, Signer, VerifiedNote, Verifier};

/// Why a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    #[error("the checkpoint is for log {found:?}, not {expected:?}")]
    WrongOrigin { expected: String, found: String },
    #[error(transparent)]
    Note(#[from] NoteError),
}

/// A log's tree head: which log, how many leaves, and their Merkle root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// Opaque extra lines after the root; the specification discourages them
    /// because monitors cannot audit them.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self, CheckpointError> {
        let checkpoint = Self { origin: origin.to_owned(), size, root, extensions: Vec::new() };
        checkpoint.check_lines()?;
        Ok(checkpoint)
    }

    /// Parses a checkpoint's note text (not the signed note: see
    /// [`Checkpoint::open`]).
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        if text.len() > MAX_NOTE_LEN {
            return Err(CheckpointError::Malformed("the text is too large"));
        }
        let body = text.strip_suffix('\n').ok_or(CheckpointError::Malformed("the text must end with a newline"))?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next()) else {
            return Err(CheckpointError::Malformed("an origin, a size and a root hash are required"));
        };
        let checkpoint = Self {
            origin: origin.to_owned(),
            size: parse_size(size)?,
            root: parse_root(root)?,
            extensions: lines.map(str::to_owned).collect(),
        };
        checkpoint.check_lines()?;
        Ok(checkpoint)
    }

    /// Signs the checkpoint's text with `signer` and returns the signed note.
    pub fn sign(&self, signer: &Signer) -> Result<String, CheckpointError> {
        self.check_lines()?;
        Ok(note::sign(&self.to_string(), signer)?)
    }

    /// Opens a signed checkpoint: checks the note's signatures against
    /// `verifiers`, parses its text, and checks it comes from the log
    /// `expected_origin`, since a key may sign for more than one log.
    pub fn open(
        msg: &[u8],
        expected_origin: &str,
        verifiers: &[Verifier],
    ) -> Result<(Self, VerifiedNote), CheckpointError> {
        let verified = note::open(msg, verifiers)?;
        let checkpoint = Self::parse(verified.text())?;
        if checkpoint.origin != expected_origin {
            return Err(CheckpointError::WrongOrigin {
                expected: expected_origin.to_owned(),
                found: checkpoint.origin,
            });
        }
        Ok((checkpoint, verified))
    }

    /// Checks the rules on lines that a caller building a checkpoint by hand
    /// could break: every line non-empty, single-line, and free of control
    /// characters, so that the text parses back to the same checkpoint.
    fn check_lines(&self) -> Result<(), CheckpointError> {
        if self.origin.is_empty() {
            return Err(CheckpointError::Malformed("the origin is empty"));
        }
        if self.extensions.iter().any(String::is_empty) {
            return Err(CheckpointError::Malformed("an extension line is empty"));
        }
        let has_control = |s: &String| s.chars().any(|c| c < ' ');
        if has_control(&self.origin) || self.extensions.iter().any(has_control) {
            return Err(CheckpointError::Malformed("a line contains a control character"));
        }
        Ok(())
    }
}

/// The note text: origin, size, root, extensions, one per line.
impl fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.origin)?;
        writeln!(f, "{}", self.size)?;
        writeln!(f, "{}", BASE64.encode(&self.root))?;
        for line in &self.extensions {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// A decimal tree size: ASCII digits only, no sign, no leading zero except
/// for the empty tree's "0", and within u64.
fn parse_size(line: &str) -> Result<u64, CheckpointError> {
    if line.is_empty() || !line.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CheckpointError::Malformed("the tree size is not a decimal number"));
    }
    if line.len() > 1 && line.starts_with('0') {
        return Err(CheckpointError::Malformed("the tree size has a leading zero"));
    }
    line.parse().map_err(|_| CheckpointError::Malformed("the tree size does not fit in 64 bits"))
}

/// A root hash: canonical padded base64 of exactly 32 bytes.
fn parse_root(line: &str) -> Result<Hash, CheckpointError> {
    let bytes =
        BASE64.decode(line.as_bytes()).map_err(|_| CheckpointError::Malformed("the root hash is not base64"))?;
    let mut root = [0u8; HASH_LEN];
    if bytes.len() != HASH_LEN {
        return Err(CheckpointError::Malformed("the root hash is not 32 bytes"));
    }
    root.copy_from_slice(&bytes);
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{empty_root, leaf_hash};

    fn sample() -> Checkpoint {
        Checkpoint::new("example.com/log", 20852163, leaf_hash(b"root")).unwrap()
    }

    #[test]
    fn format_then_parse_round_trips() {
        let cp = sample();
        let text = cp.to_string();
        assert_eq!(text.lines().count(), 3);
        assert_eq!(Checkpoint::parse(&text).unwrap(), cp);
        let mut ext = cp.clone();
        ext.extensions = vec!["ext one".into(), "ext two".into()];
        assert_eq!(Checkpoint::parse(&ext.to_string()).unwrap(), ext);
        let empty = Checkpoint::new("o", 0, empty_root()).unwrap();
        assert_eq!(Checkpoint::parse(&empty.to_string()).unwrap(), empty);
    }

    #[test]
    fn sign_then_open_round_trips_and_checks_the_origin() {
        let signer = Signer::generate("example.com/log").unwrap();
        let cp = sample();
        let msg = cp.sign(&signer).unwrap();
        let verifiers = [signer.verifier().clone()];
        let (opened, note) = Checkpoint::open(msg.as_bytes(), "example.com/log", &verifiers).unwrap();
        assert_eq!(opened, cp);
        assert_eq!(note.verified().len(), 1);
        assert!(matches!(
            Checkpoint::open(msg.as_bytes(), "example.com/other", &verifiers),
            Err(CheckpointError::WrongOrigin { .. })
        ));
        let other = Signer::generate("example.com/log").unwrap();
        assert!(matches!(
            Checkpoint::open(msg.as_bytes(), "example.com/log", &[other.verifier().clone()]),
            Err(CheckpointError::Note(NoteError::NoVerifiedSignature))
        ));
    }

    #[test]
    fn malformed_checkpoints_are_refused() {
        let root = BASE64.encode(&[7u8; 32]);
        let short_root = BASE64.encode(&[7u8; 31]);
        let long_root = BASE64.encode(&[7u8; 33]);
        let unpadded = root.trim_end_matches('=').to_owned();
        let cases = [
            ("missing final newline", format!("o\n1\n{root}")),
            ("missing root", "o\n1\n".to_owned()),
            ("empty origin", format!("\n1\n{root}\n")),
            ("leading zero", format!("o\n01\n{root}\n")),
            ("double zero", format!("o\n00\n{root}\n")),
            ("plus sign", format!("o\n+1\n{root}\n")),
            ("negative", format!("o\n-1\n{root}\n")),
            ("spaces", format!("o\n 1\n{root}\n")),
            ("empty size", format!("o\n\n{root}\n")),
            ("overflow", format!("o\n18446744073709551616\n{root}\n")),
            ("bad base64", format!("o\n1\n{}!\n", &root[..root.len() - 1])),
            ("unpadded base64", format!("o\n1\n{unpadded}\n")),
            ("short root", format!("o\n1\n{short_root}\n")),
            ("long root", format!("o\n1\n{long_root}\n")),
            ("blank extension line", format!("o\n1\n{root}\n\n")),
            ("blank line after extension", format!("o\n1\n{root}\next\n\n")),
            ("carriage return", format!("o\r\n1\n{root}\n")),
            ("oversized", format!("o\n1\n{root}\n{}\n", "e".repeat(MAX_NOTE_LEN))),
        ];
        for (what, text) in cases {
            assert!(Checkpoint::parse(&text).is_err(), "{what} was accepted");
        }
        assert_eq!(Checkpoint::parse(&format!("o\n18446744073709551615\n{root}\n")).unwrap().size, u64::MAX);
        assert!(Checkpoint::new("", 1, [0; 32]).is_err());
        assert!(Checkpoint::new("a\nb", 1, [0; 32]).is_err());
    }
}
