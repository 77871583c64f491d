//! The log export format (`rampart logs export`, documented in
//! `docs/export.md`): JSON lines, one header, one line per event, one
//! trailer, gzip-compressed by whoever writes the file. Pure code: the
//! server writes lines with [`header_line`], [`event_line`] and
//! [`trailer_line`]; [`verify`] checks a whole (decompressed) export
//! offline with nothing but the log's verifier key.
//!
//! What a verified export proves: the header's checkpoint is signed by the
//! key; every event line's `entry` (the exact bytes of the ledger leaf, the
//! event with its raw message) is at `index` in the tree that checkpoint
//! commits to; each event lies in the header's time window (and source);
//! indexes ascend; and the trailer counts and hashes exactly the event
//! lines before it, so a cut-off or spliced file fails. It does not prove
//! that the exporter left nothing out: the ledger holds every event, the
//! index it was selected from may have been pruned.

use std::io::BufRead;

use serde_json::{Value, json};

use crate::checkpoint::Checkpoint;
use crate::merkle::{Hash, leaf_hash, verify_inclusion};
use crate::note::Verifier;

/// The `format` of the header line.
pub const FORMAT: &str = "rampart-log-export";
/// The format's version; bumped on any change to the layout.
pub const VERSION: u64 = 1;
/// The longest line a reader accepts (an entry holds at most a 16 MiB
/// message, base64 makes it 4/3 of that).
const MAX_LINE: u64 = 24 << 20;

/// What an export covers: the first line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The log's origin (its checkpoints' first line).
    pub origin: String,
    /// The signed checkpoint (a C2SP signed note) the proofs are against.
    pub checkpoint: String,
    /// The tree size that checkpoint commits to.
    pub tree_size: u64,
    /// The window, Unix milliseconds: `since` inclusive, `until` exclusive.
    pub since_ms: i64,
    pub until_ms: i64,
    /// Only this source's events, if set.
    pub source: Option<String>,
}

/// The header as a line (with its newline).
pub fn header_line(h: &Header) -> Vec<u8> {
    line(&json!({
        "format": FORMAT, "version": VERSION, "origin": h.origin, "tree_size": h.tree_size,
        "since_ms": h.since_ms, "until_ms": h.until_ms, "source": h.source, "checkpoint": h.checkpoint,
    }))
}

/// One event: its ledger index, the leaf's bytes and the inclusion proof.
pub fn event_line(index: u64, entry: &[u8], proof: &[Hash]) -> Vec<u8> {
    let b64 = |b: &[u8]| data_encoding::BASE64.encode(b);
    line(&json!({ "index": index, "entry": b64(entry), "proof": proof.iter().map(|h| b64(h)).collect::<Vec<_>>() }))
}

/// The running SHA-256 of the event lines, for the trailer.
pub struct Digest(aws_lc_rs::digest::Context);

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Digest(SHA-256)")
    }
}

impl Default for Digest {
    fn default() -> Self {
        Digest(aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256))
    }
}

impl Digest {
    pub fn update(&mut self, line: &[u8]) {
        self.0.update(line);
    }

    fn hex(self) -> String {
        rampart_core::secret::hex(self.0.finish().as_ref())
    }
}

/// The last line: how many event lines there are and their SHA-256.
pub fn trailer_line(events: u64, digest: Digest) -> Vec<u8> {
    line(&json!({ "end": true, "events": events, "sha256": digest.hex() }))
}

fn line(v: &Value) -> Vec<u8> {
    let mut out = v.to_string().into_bytes();
    out.push(b'\n');
    out
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub header: Header,
    pub events: u64,
    /// The first and last ledger index exported.
    pub first: Option<u64>,
    pub last: Option<u64>,
}

/// Why an export does not verify; `line` counts from 1.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("reading the export: {0}")]
    Io(#[from] std::io::Error),
    #[error("line {line}: {what}")]
    Malformed { line: u64, what: String },
    #[error("the checkpoint does not verify: {0}")]
    Checkpoint(String),
    #[error("line {line}: entry {index} is not in the signed tree: {why}")]
    NotIncluded { line: u64, index: u64, why: String },
    #[error("line {line}: entry {index}: {what}")]
    OutOfScope { line: u64, index: u64, what: String },
    #[error("the export ends without its trailer (cut off?)")]
    Truncated,
    #[error("the trailer says {said} events with SHA-256 {said_hash}, the file holds {found} with {found_hash}")]
    Trailer { said: u64, said_hash: String, found: u64, found_hash: String },
}

fn malformed(line: u64, what: impl Into<String>) -> ExportError {
    ExportError::Malformed { line, what: what.into() }
}

fn next_line<R: BufRead>(reader: &mut R, buf: &mut Vec<u8>) -> Result<bool, ExportError> {
    buf.clear();
    let n = std::io::Read::take(&mut *reader, MAX_LINE).read_until(b'\n', buf)?;
    if n > 0 && buf.last() != Some(&b'\n') && n as u64 == MAX_LINE {
        return Err(malformed(0, "a line is longer than the format allows"));
    }
    Ok(n > 0)
}

fn parse_header(v: &Value) -> Option<Header> {
    if v["format"] != FORMAT || v["version"] != VERSION {
        return None;
    }
    Some(Header {
        origin: v["origin"].as_str()?.to_owned(),
        checkpoint: v["checkpoint"].as_str()?.to_owned(),
        tree_size: v["tree_size"].as_u64()?,
        since_ms: v["since_ms"].as_i64()?,
        until_ms: v["until_ms"].as_i64()?,
        source: match &v["source"] {
            Value::Null => None,
            s => Some(s.as_str()?.to_owned()),
        },
    })
}

fn hashes(v: &Value) -> Option<Vec<Hash>> {
    v.as_array()?
        .iter()
        .map(|h| {
            let bytes = data_encoding::BASE64.decode(h.as_str()?.as_bytes()).ok()?;
            Hash::try_from(bytes.as_slice()).ok()
        })
        .collect()
}

/// Checks a decompressed export against the log's key(s): see the module
/// documentation for what that proves.
pub fn verify(mut reader: impl BufRead, verifiers: &[Verifier]) -> Result<Summary, ExportError> {
    let mut buf = Vec::new();
    if !next_line(&mut reader, &mut buf)? {
        return Err(malformed(1, "the export is empty"));
    }
    let first: Value = serde_json::from_slice(&buf).map_err(|e| malformed(1, format!("not JSON: {e}")))?;
    let header = parse_header(&first).ok_or_else(|| malformed(1, format!("not a {FORMAT} v{VERSION} header")))?;
    let (cp, _) = Checkpoint::open(header.checkpoint.as_bytes(), &header.origin, verifiers)
        .map_err(|e| ExportError::Checkpoint(e.to_string()))?;
    if cp.size != header.tree_size {
        return Err(ExportError::Checkpoint(format!(
            "it commits to {} entries, the header says {}",
            cp.size, header.tree_size
        )));
    }
    let mut digest = Digest::default();
    let mut summary = Summary { header: header.clone(), events: 0, first: None, last: None };
    let mut n = 1;
    loop {
        n += 1;
        if !next_line(&mut reader, &mut buf)? {
            return Err(ExportError::Truncated);
        }
        let v: Value = serde_json::from_slice(&buf).map_err(|e| malformed(n, format!("not JSON: {e}")))?;
        if v["end"] == true {
            let said = v["events"].as_u64().ok_or_else(|| malformed(n, "the trailer has no event count"))?;
            let said_hash = v["sha256"].as_str().unwrap_or_default().to_owned();
            let found_hash = digest.hex();
            if said != summary.events || said_hash != found_hash {
                return Err(ExportError::Trailer { said, said_hash, found: summary.events, found_hash });
            }
            if next_line(&mut reader, &mut buf)? {
                return Err(malformed(n + 1, "lines after the trailer"));
            }
            return Ok(summary);
        }
        digest.update(&buf);
        let index = v["index"].as_u64().ok_or_else(|| malformed(n, "no index"))?;
        let entry = v["entry"]
            .as_str()
            .and_then(|e| data_encoding::BASE64.decode(e.as_bytes()).ok())
            .ok_or_else(|| malformed(n, "no entry (base64)"))?;
        let proof = hashes(&v["proof"]).ok_or_else(|| malformed(n, "the proof is not a list of 32-byte hashes"))?;
        verify_inclusion(index, cp.size, &leaf_hash(&entry), &proof, &cp.root)
            .map_err(|e| ExportError::NotIncluded { line: n, index, why: e.to_string() })?;
        if summary.last.is_some_and(|last| index <= last) {
            return Err(ExportError::OutOfScope { line: n, index, what: "indexes must ascend".into() });
        }
        let scope = |what: String| ExportError::OutOfScope { line: n, index, what };
        let event = crate::entry::decode_event(&entry).ok_or_else(|| scope("not a Rampart event".into()))?;
        if event.time_ms < header.since_ms || event.time_ms >= header.until_ms {
            return Err(scope(format!("its time {} is outside the export's window", event.time_ms)));
        }
        if let Some(source) = &header.source {
            let found = event.attrs.pointer("/source/name").and_then(Value::as_str);
            if found != Some(source.as_str()) {
                return Err(scope(format!("its source is {found:?}, not {source}")));
            }
        }
        summary.first.get_or_insert(index);
        summary.last = Some(index);
        summary.events += 1;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::merkle::inclusion_proof;
    use crate::note::Signer;
    use rampart_core::{Event, Outcome};

    /// A log of `n` events, one every second from t=1000 s, every other one
    /// from source `a`; an export of `pick` signed by a fresh key.
    fn export(n: u64, pick: &[u64], source: Option<&str>) -> (Vec<u8>, Verifier) {
        let entries: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                let mut e = Event::new("log.unknown", Outcome::Success, "x").attr("message", format!("line {i}"));
                e.time_ms = 1_000_000 + i64::try_from(i).unwrap() * 1000;
                e.attrs["source"] = json!({ "name": if i % 2 == 0 { "a" } else { "b" } });
                crate::entry::encode_event(&e).unwrap()
            })
            .collect();
        let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
        let signer = Signer::generate("example.com/log").unwrap();
        let cp = Checkpoint::new("example.com/log", n, crate::merkle::root_from_leaves(&leaves)).unwrap();
        let header = Header {
            origin: "example.com/log".into(),
            checkpoint: cp.sign(&signer).unwrap(),
            tree_size: n,
            since_ms: 1_000_000,
            until_ms: 1_000_000 + 1000 * i64::try_from(n).unwrap(),
            source: source.map(str::to_owned),
        };
        let mut out = header_line(&header);
        let mut digest = Digest::default();
        for &i in pick {
            let line = event_line(i, &entries[i as usize], &inclusion_proof(&leaves, i).unwrap());
            digest.update(&line);
            out.extend(line);
        }
        out.extend(trailer_line(pick.len() as u64, digest));
        (out, signer.verifier().clone())
    }

    #[test]
    fn an_export_verifies_and_says_what_it_holds() {
        let (bytes, key) = export(9, &[0, 2, 4, 8], Some("a"));
        let s = verify(bytes.as_slice(), &[key]).unwrap();
        assert_eq!((s.events, s.first, s.last, s.header.tree_size), (4, Some(0), Some(8), 9));
    }

    #[test]
    fn tampering_truncation_and_the_wrong_key_are_refused() {
        let (bytes, key) = export(9, &[1, 3, 5], None);
        let text = String::from_utf8(bytes.clone()).unwrap();
        // Another key.
        let (_, other) = export(2, &[], None);
        assert!(matches!(verify(bytes.as_slice(), &[other]), Err(ExportError::Checkpoint(_))));
        // Cut off before the trailer.
        let cut: Vec<&str> = text.lines().take(3).collect();
        assert!(matches!(
            verify(format!("{}\n", cut.join("\n")).as_bytes(), std::slice::from_ref(&key)),
            Err(ExportError::Truncated)
        ));
        // An event line dropped: the trailer no longer matches.
        let lines: Vec<&str> = text.lines().collect();
        let dropped = [lines[0], lines[1], lines[3], lines[4]].join("\n") + "\n";
        assert!(matches!(verify(dropped.as_bytes(), std::slice::from_ref(&key)), Err(ExportError::Trailer { .. })));
        // An entry changed: its proof fails.
        let mut v: Value = serde_json::from_str(lines[2]).unwrap();
        let entry = data_encoding::BASE64.decode(v["entry"].as_str().unwrap().as_bytes()).unwrap();
        let changed = String::from_utf8(entry).unwrap().replace("line 3", "line 4");
        v["entry"] = data_encoding::BASE64.encode(changed.as_bytes()).into();
        let forged = [lines[0], lines[1], &v.to_string(), lines[3], lines[4]].join("\n") + "\n";
        assert!(matches!(
            verify(forged.as_bytes(), std::slice::from_ref(&key)),
            Err(ExportError::NotIncluded { index: 3, .. })
        ));
        // An event of another source in a one-source export.
        let (bytes, key) = export(9, &[0, 1], Some("a"));
        assert!(matches!(verify(bytes.as_slice(), &[key]), Err(ExportError::OutOfScope { index: 1, .. })));
        // Garbage.
        assert!(matches!(verify(&b"hello\n"[..], &[]), Err(ExportError::Malformed { line: 1, .. })));
    }
}
