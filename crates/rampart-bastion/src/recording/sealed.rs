//! Recordings encrypted at rest: a segmented AEAD format (AES-256-GCM from
//! aws-lc-rs, in the STREAM construction of Hoang, Reyhanitabar, Rogaway
//! and Vizár) that can be written while the session runs, one segment per
//! flush, and read back up to the last segment written, so a crash loses no
//! more than an unencrypted recording would. `docs/bastion-recordings.md`
//! describes the layout byte by byte.
//!
//! A file is a header, then segments:
//!
//! ```text
//! header   magic "RPTREC\r\n" · version 1 · algorithm 1 · nonce prefix (7)
//!          · session id (u8 length, bytes) · KMS key id (u8 length, bytes)
//!          · wrapped data key (u16 BE length, bytes)
//! segment  ciphertext length (u32 BE, tag included) · AES-256-GCM ciphertext
//! nonce    prefix (7) · segment counter (u32 BE) · last-segment flag (1)
//! AAD      SHA-256 of the header bytes
//! ```
//!
//! What each tampering becomes: a flipped bit, a reordered or a dropped
//! segment fails authentication at that segment (the counter is in the
//! nonce); a file cut at a segment boundary ends without its last segment
//! ([`SealError::Unfinished`]), one cut inside a segment is
//! [`SealError::Truncated`]; bytes after the last segment are
//! [`SealError::Trailing`]; a header swapped for another recording's
//! names another session or key (checked by the caller against its index)
//! and, changed in any byte, changes the AAD, so no segment opens.
//!
//! Nothing here does I/O: [`SealedWriter`] wraps any `Write`, [`Opener`] is
//! fed bytes as they arrive (whole files for downloads, a growing file for
//! the live view) and hands back plaintext, within bounds.

use std::io::{self, Write};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::digest::{SHA256, digest};
use zeroize::Zeroizing;

/// The first bytes of an encrypted recording. A plaintext asciicast file
/// starts with `{`, so the two never mix.
pub const MAGIC: [u8; 8] = *b"RPTREC\r\n";
/// The format version this code writes and reads.
pub const VERSION: u8 = 1;
/// AES-256-GCM, STREAM nonces (7-byte prefix, 32-bit counter, last flag).
pub const ALGORITHM_AES256_GCM_STREAM: u8 = 1;
/// The most plaintext one segment carries; larger writes are split.
pub const MAX_SEGMENT: usize = 1 << 20;
/// The GCM tag.
pub const TAG_LEN: usize = 16;
/// The longest session id, KMS key id and wrapped key a header may name.
const MAX_ID: usize = 255;
const MAX_WRAPPED: usize = 4096;

/// Why an encrypted recording cannot be written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("not an encrypted Rampart recording (no RPTREC header)")]
    BadMagic,
    #[error("encrypted recording format version {0} is not supported; only version 1 is")]
    UnsupportedVersion(u8),
    #[error("encrypted recording algorithm {0} is not supported")]
    UnsupportedAlgorithm(u8),
    #[error("the encrypted recording's header is malformed: {0}")]
    BadHeader(&'static str),
    #[error("the recording's data key must be 32 bytes")]
    BadKey,
    #[error("segment {segment} declares {len} bytes, outside 16..={max}", max = MAX_SEGMENT + TAG_LEN)]
    BadSegmentLength { segment: u32, len: u64 },
    #[error(
        "segment {segment} does not authenticate: the recording was altered, reordered or spliced, or its header or key belongs to another recording"
    )]
    Authentication { segment: u32 },
    #[error("the recording is truncated inside segment {segment}")]
    Truncated { segment: u32 },
    #[error(
        "the recording ends after {segments} segments without its final segment: it was truncated, or its session never ended"
    )]
    Unfinished { segments: u32 },
    #[error("the recording has bytes after its final segment")]
    Trailing,
    #[error("the recording has too many segments")]
    TooManySegments,
    #[error("the recording is finished; nothing more can be written")]
    Finished,
}

/// An encrypted recording's header: what binds its segments to one session
/// and one data key.
#[derive(Clone, PartialEq, Eq)]
pub struct SealHeader {
    /// The session the recording belongs to.
    pub session: String,
    /// The KMS key the data key is wrapped under.
    pub key_id: String,
    /// The data key as the KMS wrapped it (a KMS ciphertext blob).
    pub wrapped_key: Vec<u8>,
    /// Random per recording, the first 7 bytes of every nonce.
    pub nonce_prefix: [u8; 7],
}

impl std::fmt::Debug for SealHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealHeader")
            .field("session", &self.session)
            .field("key_id", &self.key_id)
            .field("wrapped_key", &format_args!("[{} bytes]", self.wrapped_key.len()))
            .finish_non_exhaustive()
    }
}

impl SealHeader {
    /// The header's bytes as written at the start of the file.
    pub fn encode(&self) -> Result<Vec<u8>, SealError> {
        let session = self.session.as_bytes();
        let key_id = self.key_id.as_bytes();
        let (Ok(session_len), Ok(key_len), Ok(wrapped_len)) =
            (u8::try_from(session.len()), u8::try_from(key_id.len()), u16::try_from(self.wrapped_key.len()))
        else {
            return Err(SealError::BadHeader("a field is too long"));
        };
        if session.is_empty()
            || key_id.is_empty()
            || self.wrapped_key.is_empty()
            || self.wrapped_key.len() > MAX_WRAPPED
        {
            return Err(SealError::BadHeader("a field is empty or too long"));
        }
        let mut out = Vec::with_capacity(24 + session.len() + key_id.len() + self.wrapped_key.len());
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(ALGORITHM_AES256_GCM_STREAM);
        out.extend_from_slice(&self.nonce_prefix);
        out.push(session_len);
        out.extend_from_slice(session);
        out.push(key_len);
        out.extend_from_slice(key_id);
        out.extend_from_slice(&wrapped_len.to_be_bytes());
        out.extend_from_slice(&self.wrapped_key);
        Ok(out)
    }

    /// Parses a header from the start of `bytes`: `Ok(None)` while more
    /// bytes are needed, else the header and how many bytes it took.
    pub fn parse(bytes: &[u8]) -> Result<Option<(SealHeader, usize)>, SealError> {
        let mut at = Cursor { bytes, at: 0 };
        let Some(magic) = at.take(MAGIC.len()) else {
            return if MAGIC.starts_with(bytes) { Ok(None) } else { Err(SealError::BadMagic) };
        };
        if magic != MAGIC {
            return Err(SealError::BadMagic);
        }
        let Some(&[version, algorithm]) = at.take(2) else { return Ok(None) };
        if version != VERSION {
            return Err(SealError::UnsupportedVersion(version));
        }
        if algorithm != ALGORITHM_AES256_GCM_STREAM {
            return Err(SealError::UnsupportedAlgorithm(algorithm));
        }
        let Some(prefix) = at.take(7) else { return Ok(None) };
        let mut nonce_prefix = [0u8; 7];
        nonce_prefix.copy_from_slice(prefix);
        let Some(session) = at.take_u8_field()? else { return Ok(None) };
        let Some(key_id) = at.take_u8_field()? else { return Ok(None) };
        let Some(len) = at.take(2) else { return Ok(None) };
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        if len == 0 || len > MAX_WRAPPED {
            return Err(SealError::BadHeader("the wrapped key's length is out of range"));
        }
        let Some(wrapped) = at.take(len) else { return Ok(None) };
        let text = |b: &[u8], what: &'static str| {
            std::str::from_utf8(b)
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|c| c.is_ascii_graphic()))
                .map(str::to_owned)
                .ok_or(SealError::BadHeader(what))
        };
        let header = SealHeader {
            session: text(session, "the session id is not printable ASCII")?,
            key_id: text(key_id, "the key id is not printable ASCII")?,
            wrapped_key: wrapped.to_vec(),
            nonce_prefix,
        };
        Ok(Some((header, at.at)))
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let out = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(out)
    }

    fn take_u8_field(&mut self) -> Result<Option<&'a [u8]>, SealError> {
        let Some(&[len]) = self.take(1) else { return Ok(None) };
        if len == 0 || usize::from(len) > MAX_ID {
            return Err(SealError::BadHeader("an id is empty"));
        }
        Ok(self.take(usize::from(len)))
    }
}

/// A recording's 256-bit data key, zeroized when dropped and never printed.
#[derive(Clone)]
pub struct RecordingKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for RecordingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordingKey([REDACTED])")
    }
}

impl RecordingKey {
    /// The key from the KMS's plaintext data key.
    pub fn new(bytes: &[u8]) -> Result<Self, SealError> {
        let mut key = Zeroizing::new([0u8; 32]);
        if bytes.len() != key.len() {
            return Err(SealError::BadKey);
        }
        key.copy_from_slice(bytes);
        Ok(RecordingKey(key))
    }

    fn aead(&self) -> Result<LessSafeKey, SealError> {
        UnboundKey::new(&AES_256_GCM, self.0.as_slice()).map(LessSafeKey::new).map_err(|_| SealError::BadKey)
    }
}

fn nonce(prefix: &[u8; 7], counter: u32, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[..7].copy_from_slice(prefix);
    n[7..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = u8::from(last);
    Nonce::assume_unique_for_key(n)
}

fn header_aad(header: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, header).as_ref());
    out
}

/// Encrypts a recording as it is written: bytes are buffered until
/// `flush`, which seals them as one segment and flushes the file, so every
/// flushed event is on disk, encrypted. [`SealedWriter::finish`] writes the
/// final segment; a file without one reads back as unfinished.
pub struct SealedWriter<W: Write> {
    out: W,
    key: LessSafeKey,
    prefix: [u8; 7],
    aad: [u8; 32],
    counter: u32,
    pending: Zeroizing<Vec<u8>>,
    finished: bool,
}

impl<W: Write> std::fmt::Debug for SealedWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedWriter")
            .field("segments", &self.counter)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<W: Write> SealedWriter<W> {
    /// Writes the header and returns the writer. The caller draws the
    /// nonce prefix at random and a fresh data key per recording.
    pub fn new(mut out: W, header: &SealHeader, key: &RecordingKey) -> Result<Self, io::Error> {
        let bytes = header.encode().map_err(io::Error::other)?;
        out.write_all(&bytes)?;
        Ok(SealedWriter {
            out,
            key: key.aead().map_err(io::Error::other)?,
            prefix: header.nonce_prefix,
            aad: header_aad(&bytes),
            counter: 0,
            pending: Zeroizing::new(Vec::new()),
            finished: false,
        })
    }

    fn seal(&mut self, len: usize, last: bool) -> io::Result<()> {
        let mut segment: Zeroizing<Vec<u8>> = Zeroizing::new(self.pending.drain(..len).collect());
        let n = nonce(&self.prefix, self.counter, last);
        self.key
            .seal_in_place_append_tag(n, Aad::from(self.aad), &mut *segment)
            .map_err(|_| io::Error::other("sealing a recording segment failed"))?;
        let framed = u32::try_from(segment.len()).map_err(|_| io::Error::other("segment too long"))?;
        self.out.write_all(&framed.to_be_bytes())?;
        self.out.write_all(&segment)?;
        self.counter =
            self.counter.checked_add(1).ok_or_else(|| io::Error::other(SealError::TooManySegments.to_string()))?;
        Ok(())
    }

    /// The underlying writer, as a crash would leave it.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Seals what is buffered, writes the final (possibly empty) segment,
    /// flushes, and hands the underlying writer back.
    pub fn finish(mut self) -> io::Result<W> {
        if self.finished {
            return Err(io::Error::other(SealError::Finished.to_string()));
        }
        while self.pending.len() > MAX_SEGMENT {
            self.seal(MAX_SEGMENT, false)?;
        }
        let len = self.pending.len();
        self.seal(len, true)?;
        self.finished = true;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for SealedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.finished {
            return Err(io::Error::other(SealError::Finished.to_string()));
        }
        self.pending.extend_from_slice(buf);
        while self.pending.len() >= MAX_SEGMENT {
            self.seal(MAX_SEGMENT, false)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() && !self.finished {
            let len = self.pending.len();
            self.seal(len, false)?;
        }
        self.out.flush()
    }
}

/// Decrypts segments as their bytes arrive. Feed it everything after the
/// header with [`Opener::push`]; at the end of the input, [`Opener::end`]
/// says whether the recording was complete.
pub struct Opener {
    key: LessSafeKey,
    prefix: [u8; 7],
    aad: [u8; 32],
    counter: u32,
    buf: Vec<u8>,
    finished: bool,
    failed: Option<SealError>,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener")
            .field("segments", &self.counter)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl Opener {
    /// An opener for the recording with this header, whose bytes (exactly
    /// as they were in the file) are `header_bytes`.
    pub fn new(header: &SealHeader, header_bytes: &[u8], key: &RecordingKey) -> Result<Self, SealError> {
        Ok(Opener {
            key: key.aead()?,
            prefix: header.nonce_prefix,
            aad: header_aad(header_bytes),
            counter: 0,
            buf: Vec::new(),
            finished: false,
            failed: None,
        })
    }

    /// Segments opened so far.
    pub fn segments(&self) -> u32 {
        self.counter
    }

    /// Whether the final segment has been opened.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Takes more of the file and appends the plaintext of every segment
    /// now complete to `out`. An error is final: the opener refuses
    /// everything after it.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), SealError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.push_inner(bytes, out);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    fn push_inner(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) -> Result<(), SealError> {
        while !bytes.is_empty() {
            if self.finished {
                return Err(SealError::Trailing);
            }
            // Take only what the current segment still needs, so the buffer
            // never holds more than one segment.
            let need = self.needed()?;
            let take = need.min(bytes.len());
            self.buf.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if take == need {
                self.open_buffered(out)?;
            }
        }
        Ok(())
    }

    /// How many more bytes complete the length field or the segment.
    fn needed(&self) -> Result<usize, SealError> {
        if self.buf.len() < 4 {
            return Ok(4 - self.buf.len());
        }
        let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        let len_usize = usize::try_from(len).unwrap_or(usize::MAX);
        if !(TAG_LEN..=MAX_SEGMENT + TAG_LEN).contains(&len_usize) {
            return Err(SealError::BadSegmentLength { segment: self.counter, len: u64::from(len) });
        }
        Ok(4 + len_usize - self.buf.len())
    }

    /// Opens the buffered segment if it is complete.
    fn open_buffered(&mut self, out: &mut Vec<u8>) -> Result<(), SealError> {
        if self.buf.len() < 4 || self.needed()? > 0 {
            return Ok(());
        }
        let segment = self.counter;
        let sealed = &self.buf[4..];
        let mut last = false;
        let mut opened = None;
        for flag in [false, true] {
            let mut attempt = sealed.to_vec();
            if let Ok(plain) =
                self.key.open_in_place(nonce(&self.prefix, segment, flag), Aad::from(self.aad), &mut attempt)
            {
                opened = Some(plain.to_vec());
                last = flag;
                break;
            }
        }
        let Some(plain) = opened else { return Err(SealError::Authentication { segment }) };
        out.extend_from_slice(&plain);
        self.buf.clear();
        self.counter = self.counter.checked_add(1).ok_or(SealError::TooManySegments)?;
        self.finished = last;
        Ok(())
    }

    /// At the end of the input: `Ok` only if the final segment was opened
    /// and nothing is left over.
    pub fn end(&self) -> Result<(), SealError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if !self.buf.is_empty() {
            return Err(SealError::Truncated { segment: self.counter });
        }
        if !self.finished {
            return Err(SealError::Unfinished { segments: self.counter });
        }
        Ok(())
    }
}

/// Whether a file that starts with `bytes` is an encrypted recording.
pub fn is_sealed(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// Decrypts a whole recording held in memory (tests, the fuzz target).
/// `allow_unfinished` accepts a file that ends at a segment boundary
/// without its final segment, as a crashed session leaves it.
pub fn open_all(bytes: &[u8], key: &RecordingKey, allow_unfinished: bool) -> Result<(SealHeader, Vec<u8>), SealError> {
    let Some((header, used)) = SealHeader::parse(bytes)? else {
        return Err(SealError::BadHeader("the header is incomplete"));
    };
    let mut opener = Opener::new(&header, &bytes[..used], key)?;
    let mut out = Vec::new();
    opener.push(&bytes[used..], &mut out)?;
    match opener.end() {
        Err(SealError::Unfinished { .. }) if allow_unfinished => {}
        other => other?,
    }
    Ok((header, out))
}
