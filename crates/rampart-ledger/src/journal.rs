//! The embedded log's commit journal, the pure part: how one committed
//! batch is written as a record, and how a journal segment is read back.
//!
//! ```text
//! record  = "RLJ1" body_len:u32 body
//! body    = first:u64 count:u32 (len:u16 entry){count} root:[32]
//! ```
//!
//! All integers are big-endian. `root` is the tree head after the batch:
//! replay recomputes it from the entries, so a record whose bytes changed
//! (a torn write, a flipped bit) cannot be replayed as if it were whole.
//! No I/O here: [`crate::fslog`] writes and syncs records; this module is
//! unit-tested and fuzzed (`fuzz_journal`).

use crate::batch::{LogError, MAX_ENTRY};
use crate::merkle::Hash;

pub const RECORD_MAGIC: [u8; 4] = *b"RLJ1";
const HEADER: usize = 8;
/// The smallest body: first, count and root.
const MIN_BODY: usize = 8 + 4 + 32;

/// One committed batch as read back from a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub first: u64,
    pub entries: Vec<&'a [u8]>,
    pub root: Hash,
}

impl Record<'_> {
    /// The log size after this batch.
    pub fn end(&self) -> u64 {
        self.first.saturating_add(self.entries.len() as u64)
    }
}

/// What is found at a position of a segment.
#[derive(Debug, PartialEq, Eq)]
pub enum Read<'a> {
    /// A record with a well-formed body, and the bytes it takes.
    Record(Record<'a>, usize),
    /// Fewer bytes than the record announces, or no record header: the
    /// tail of a write a crash cut short (or garbage after the last record).
    Torn,
    /// A record of the announced length whose body is malformed; `usize` is
    /// its length, so a reader can tell whether records follow it.
    Malformed(usize, String),
}

/// Encodes a batch as one record.
pub fn encode(first: u64, entries: &[Vec<u8>], root: &Hash) -> Result<Vec<u8>, LogError> {
    let body: usize = MIN_BODY + entries.iter().map(|e| 2 + e.len()).sum::<usize>();
    let body_len =
        u32::try_from(body).map_err(|_| LogError::Backend(format!("a batch of {body} bytes is too large")))?;
    let count = u32::try_from(entries.len())
        .map_err(|_| LogError::Backend(format!("a batch of {} entries is too large", entries.len())))?;
    let mut out = Vec::with_capacity(HEADER + body);
    out.extend_from_slice(&RECORD_MAGIC);
    out.extend_from_slice(&body_len.to_be_bytes());
    out.extend_from_slice(&first.to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    for entry in entries {
        let len = u16::try_from(entry.len()).map_err(|_| LogError::EntryTooLarge(entry.len()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(entry);
    }
    out.extend_from_slice(root);
    Ok(out)
}

/// Reads the record at the start of `bytes`.
pub fn read(bytes: &[u8]) -> Read<'_> {
    let Some((header, rest)) = bytes.split_at_checked(HEADER) else { return Read::Torn };
    if header[..4] != RECORD_MAGIC {
        return Read::Torn;
    }
    let body_len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    let Some(body) = rest.get(..body_len) else { return Read::Torn };
    let total = HEADER + body_len;
    match parse_body(body) {
        Ok(record) => Read::Record(record, total),
        Err(what) => Read::Malformed(total, what),
    }
}

fn parse_body(body: &[u8]) -> Result<Record<'_>, String> {
    if body.len() < MIN_BODY {
        return Err(format!("a body of {} bytes is shorter than {MIN_BODY}", body.len()));
    }
    let (head, rest) = body.split_at(12);
    let first = u64::from_be_bytes(head[..8].try_into().map_err(|_| "first")?);
    let count = u32::from_be_bytes(head[8..12].try_into().map_err(|_| "count")?) as usize;
    let (mut entries_bytes, root) = rest.split_at(rest.len() - 32);
    let root: Hash = root.try_into().map_err(|_| "root")?;
    // Each entry takes at least its two length bytes: a count beyond that
    // is malformed, and never makes us reserve memory it does not back.
    if count > entries_bytes.len() / 2 {
        return Err(format!("{count} entries cannot fit in {} bytes", entries_bytes.len()));
    }
    let mut entries = Vec::with_capacity(count);
    for i in 0..count {
        let (len, tail) = entries_bytes.split_at_checked(2).ok_or_else(|| format!("entry {i} is cut short"))?;
        let n = usize::from(u16::from_be_bytes([len[0], len[1]]));
        debug_assert!(n <= MAX_ENTRY);
        let (entry, tail) = tail.split_at_checked(n).ok_or_else(|| format!("entry {i} is cut short"))?;
        entries.push(entry);
        entries_bytes = tail;
    }
    if !entries_bytes.is_empty() {
        return Err(format!("{} bytes follow the last entry", entries_bytes.len()));
    }
    if first.checked_add(count as u64).is_none() {
        return Err("the record's indexes overflow".into());
    }
    Ok(Record { first, entries, root })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    fn entries() -> Vec<Vec<u8>> {
        vec![b"one".to_vec(), Vec::new(), vec![7u8; 300]]
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let root = [9u8; 32];
        let bytes = encode(41, &entries(), &root).unwrap();
        let Read::Record(r, used) = read(&bytes) else { panic!("not a record") };
        assert_eq!(used, bytes.len());
        assert_eq!(r.first, 41);
        assert_eq!(r.end(), 44);
        assert_eq!(r.root, root);
        let want = entries();
        assert_eq!(r.entries, want.iter().map(Vec::as_slice).collect::<Vec<_>>());
    }

    #[test]
    fn every_cut_of_a_record_is_torn_not_a_shorter_record() {
        let bytes = encode(0, &entries(), &[1u8; 32]).unwrap();
        for cut in 0..bytes.len() {
            assert_eq!(read(&bytes[..cut]), Read::Torn, "cut at {cut}");
        }
    }

    #[test]
    fn zeros_and_garbage_are_torn() {
        assert_eq!(read(&[0u8; 64]), Read::Torn);
        assert_eq!(read(b"RLJ2\0\0\0\x2c"), Read::Torn);
    }

    #[test]
    fn a_body_that_disagrees_with_its_count_is_malformed_with_its_length() {
        let mut bytes = encode(5, &entries(), &[1u8; 32]).unwrap();
        // count 3 → 4: the fourth entry runs into the root.
        bytes[19] = 4;
        match read(&bytes) {
            Read::Malformed(len, what) => {
                assert_eq!(len, bytes.len());
                assert!(what.contains("entry 3"), "{what}");
            }
            other => panic!("{other:?}"),
        }
        // A count far beyond what the bytes can hold allocates nothing.
        bytes[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(read(&bytes), Read::Malformed(..)));
    }

    #[test]
    fn records_follow_each_other() {
        let mut bytes = encode(0, &entries(), &[1u8; 32]).unwrap();
        bytes.extend(encode(3, &[b"x".to_vec()], &[2u8; 32]).unwrap());
        let Read::Record(a, used) = read(&bytes) else { panic!() };
        let Read::Record(b, rest) = read(&bytes[used..]) else { panic!() };
        assert_eq!((a.end(), b.first, b.end()), (3, 3, 4));
        assert_eq!(used + rest, bytes.len());
    }
}
