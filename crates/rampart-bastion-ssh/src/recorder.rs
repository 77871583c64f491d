//! One session's recording: an asciicast v2 file in the data directory,
//! written through `rampart_bastion::recording::AsciicastWriter` and
//! flushed after every event, so what has happened is on disk while the
//! session runs (a crash loses at most the event being written). A write
//! that fails breaks the recording for good; the proxy then cuts the
//! session (sync mode), so nothing happens unrecorded. Every 1 MiB of
//! recording completes a chunk whose SHA-256 the proxy puts in the ledger
//! while the session runs, so even a recording whose session never ended
//! (a crash) can be checked up to its last chunk.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rampart_bastion::recording::sealed::{RecordingKey, SealHeader, SealedWriter};
use rampart_bastion::recording::{AsciicastWriter, ChunkHash, Header, RecordingError};

/// Chunk size for the writer's chunk hashes.
pub const CHUNK: NonZeroU64 = NonZeroU64::new(1 << 20).expect("non-zero");

/// What a finished recording amounts to, for the ledger.
#[derive(Debug, Clone)]
pub struct Summary {
    pub path: PathBuf,
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the whole file.
    pub sha256: String,
    /// The chunks completed by finishing (the last, short one), not yet
    /// taken with [`Recorder::take_chunks`].
    pub last_chunks: Vec<ChunkHash>,
    /// How many chunks the whole recording has.
    pub chunk_count: u64,
}

/// A recording in progress.
#[derive(Debug)]
pub struct Recorder<W: Close = Sink> {
    writer: AsciicastWriter<W>,
    started: Instant,
    path: PathBuf,
    /// Chunks completed and not yet taken.
    chunks: Vec<ChunkHash>,
}

/// A writer that refuses to grow past a size: one session's recording
/// cannot fill the disk. The write that would pass the limit fails, which
/// breaks the recording and so cuts the session.
#[derive(Debug)]
pub struct Capped<W> {
    inner: W,
    left: u64,
}

impl<W: Write> Capped<W> {
    pub fn new(inner: W, max_bytes: u64) -> Self {
        Capped { inner, left: max_bytes }
    }
}

impl<W: Write> Write for Capped<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() as u64 > self.left {
            return Err(std::io::Error::other("the recording reached bastion.recording_max_bytes"));
        }
        let n = self.inner.write(buf)?;
        self.left -= n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A writer that has a proper end: an encrypted recording writes its final
/// segment there, so a file without one is known to be cut short.
pub trait Close: Write {
    /// Writes what ends the stream and flushes it.
    fn close(self) -> std::io::Result<()>;
}

impl<W: Write> Close for Capped<W> {
    fn close(mut self) -> std::io::Result<()> {
        self.flush()
    }
}

/// Where a recording goes: a plaintext asciicast file, or the same
/// encrypted segment by segment under the recording's own data key.
#[derive(Debug)]
pub enum Sink {
    Plain(Capped<BufWriter<File>>),
    Sealed(SealedWriter<Capped<BufWriter<File>>>),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Sealed(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Sealed(w) => w.flush(),
        }
    }
}

impl Close for Sink {
    fn close(self) -> std::io::Result<()> {
        match self {
            Sink::Plain(w) => w.close(),
            Sink::Sealed(w) => w.finish()?.close(),
        }
    }
}

impl Recorder<Sink> {
    /// Creates `dir/NAME.cast` (mode 0600), at most `max_bytes` long, and
    /// writes its header; encrypted under `seal`'s data key when given.
    pub fn create(
        dir: &Path,
        name: &str,
        header: &Header,
        max_bytes: u64,
        seal: Option<(&SealHeader, &RecordingKey)>,
    ) -> Result<Self, RecordingError> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{name}.cast"));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(&path)?;
        let capped = Capped::new(BufWriter::new(file), max_bytes);
        let sink = match seal {
            None => Sink::Plain(capped),
            Some((seal, key)) => Sink::Sealed(SealedWriter::new(capped, seal, key)?),
        };
        Self::with_writer(sink, path, header)
    }
}

impl<W: Close> Recorder<W> {
    /// A recording into any writer (tests use failing ones).
    pub fn with_writer(out: W, path: PathBuf, header: &Header) -> Result<Self, RecordingError> {
        let (mut writer, chunks) = AsciicastWriter::new(out, header, CHUNK)?;
        writer.flush()?;
        Ok(Recorder { writer, started: Instant::now(), path, chunks })
    }

    /// The chunks completed since the last call, for the ledger.
    pub fn take_chunks(&mut self) -> Vec<ChunkHash> {
        std::mem::take(&mut self.chunks)
    }

    fn at(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn output(&mut self, data: &[u8]) -> Result<(), RecordingError> {
        let at = self.at();
        let done = self.writer.output(at, data)?;
        self.chunks.extend(done);
        self.writer.flush()
    }

    pub fn input(&mut self, data: &[u8]) -> Result<(), RecordingError> {
        let at = self.at();
        let done = self.writer.input(at, data)?;
        self.chunks.extend(done);
        self.writer.flush()
    }

    pub fn resize(&mut self, cols: u32, rows: u32) -> Result<(), RecordingError> {
        let at = self.at();
        let clamp = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
        let done = self.writer.resize(at, clamp(cols), clamp(rows))?;
        self.chunks.extend(done);
        self.writer.flush()
    }

    pub fn marker(&mut self, label: &str) -> Result<(), RecordingError> {
        let at = self.at();
        let done = self.writer.marker(at, label)?;
        self.chunks.extend(done);
        self.writer.flush()
    }

    /// Closes the recording and returns its size and hash (of the
    /// plaintext asciicast, encrypted or not).
    pub fn finish(self) -> Result<Summary, RecordingError> {
        let done = self.writer.finish()?;
        done.writer.close()?;
        let mut last_chunks = self.chunks;
        last_chunks.extend(done.chunks);
        let chunk_count = done.total_bytes.div_ceil(CHUNK.get());
        Ok(Summary {
            path: self.path,
            bytes: done.total_bytes,
            sha256: rampart_core::secret::hex(&done.sha256),
            last_chunks,
            chunk_count,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Failing;
    impl Close for Failing {
        fn close(self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl Close for FillsUp {
        fn close(self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::other("disk full"))
        }
    }

    /// Fails after `left` bytes, like a disk filling up mid-session.
    struct FillsUp(usize);
    impl Write for FillsUp {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if buf.len() > self.0 {
                return Err(std::io::Error::other("disk full"));
            }
            self.0 -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_recording_that_cannot_be_written_is_an_error_not_a_silent_loss() {
        assert!(Recorder::with_writer(Failing, "x".into(), &Header::default()).is_err());
        let mut r =
            Recorder::with_writer(FillsUp(200), "x".into(), &Header::default()).unwrap_or_else(|e| panic!("{e}"));
        assert!(r.output(b"ok").is_ok());
        assert!(r.output(&[b'a'; 500]).is_err(), "the write that does not fit fails");
        assert!(r.output(b"more").is_err(), "and the recording stays broken");
    }

    #[test]
    fn a_capped_recording_fails_at_its_limit() {
        let mut r = Recorder::with_writer(Capped::new(Vec::new(), 300), "x".into(), &Header::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(r.output(b"small").is_ok());
        assert!(r.output(&[b'a'; 400]).is_err());
        assert!(r.output(b"x").is_err(), "broken for good");
    }

    #[test]
    fn a_recording_on_disk_hashes_to_what_finish_reports() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let header = Header { width: 80, height: 24, ..Header::default() };
        let mut r = Recorder::create(dir.path(), "ses_1", &header, 1 << 20, None).unwrap_or_else(|e| panic!("{e}"));
        r.input(b"ls\r").unwrap_or_else(|e| panic!("{e}"));
        r.output(b"file\r\n").unwrap_or_else(|e| panic!("{e}"));
        r.resize(100, 30).unwrap_or_else(|e| panic!("{e}"));
        let s = r.finish().unwrap_or_else(|e| panic!("{e}"));
        let bytes = std::fs::read(&s.path).unwrap_or_default();
        assert_eq!(bytes.len() as u64, s.bytes);
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
        assert_eq!(rampart_core::secret::hex(digest.as_ref()), s.sha256);
        assert!(String::from_utf8_lossy(&bytes).contains("\"r\", \"100x30\""));
    }

    #[test]
    fn chunk_hashes_cover_the_file_in_order_and_match_its_bytes() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut r =
            Recorder::create(dir.path(), "ses_2", &Header::default(), 1 << 30, None).unwrap_or_else(|e| panic!("{e}"));
        let mut taken = Vec::new();
        for i in 0..40_000u32 {
            r.output(format!("line {i} of a session that prints a lot\r\n").as_bytes())
                .unwrap_or_else(|e| panic!("{e}"));
            taken.extend(r.take_chunks());
        }
        assert!(!taken.is_empty(), "1.6 MB of output completes a 1 MiB chunk while the session runs");
        let s = r.finish().unwrap_or_else(|e| panic!("{e}"));
        taken.extend(s.last_chunks.iter().copied());
        assert_eq!(taken.len() as u64, s.chunk_count);
        let bytes = std::fs::read(&s.path).unwrap_or_default();
        for (i, c) in taken.iter().enumerate() {
            assert_eq!((c.index, c.offset), (i as u64, i as u64 * CHUNK.get()));
            let part = &bytes[c.offset as usize..(c.offset + c.len) as usize];
            assert_eq!(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, part).as_ref(), c.sha256);
        }
        assert_eq!(taken.iter().map(|c| c.len).sum::<u64>(), s.bytes);
    }

    #[test]
    fn a_sealed_recording_holds_no_plaintext_and_opens_to_what_was_hashed() {
        use rampart_bastion::recording::sealed;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let key = RecordingKey::new(&[5; 32]).unwrap_or_else(|e| panic!("{e}"));
        let seal =
            SealHeader { session: "ses_3".into(), key_id: "k".into(), wrapped_key: vec![1; 40], nonce_prefix: [9; 7] };
        let mut r = Recorder::create(dir.path(), "ses_3", &Header::default(), 1 << 20, Some((&seal, &key)))
            .unwrap_or_else(|e| panic!("{e}"));
        r.input(b"echo TYPED-MARKER\r").unwrap_or_else(|e| panic!("{e}"));
        // Mid-session, as a crash would leave it: every event is on disk.
        let so_far = std::fs::read(dir.path().join("ses_3.cast")).unwrap_or_default();
        let (_, partial) = sealed::open_all(&so_far, &key, true).unwrap_or_else(|e| panic!("{e}"));
        assert!(String::from_utf8_lossy(&partial).contains("TYPED-MARKER"));
        r.output(b"TYPED-MARKER\r\n").unwrap_or_else(|e| panic!("{e}"));
        let s = r.finish().unwrap_or_else(|e| panic!("{e}"));
        let bytes = std::fs::read(&s.path).unwrap_or_default();
        assert!(!bytes.windows(12).any(|w| w == b"TYPED-MARKER"), "nothing typed is on disk in plaintext");
        let (_, plain) = sealed::open_all(&bytes, &key, false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plain.len() as u64, s.bytes);
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &plain);
        assert_eq!(rampart_core::secret::hex(digest.as_ref()), s.sha256, "the ledger hash is the plaintext's");
    }
}
