//! The bastion's sessions as an administrator or an auditor sees them:
//! listed (live or all), shown, their recording handed out only while it
//! still matches the SHA-256 the ledger holds (decrypted by the node when
//! it is encrypted at rest, so the hash checked is the plaintext's),
//! followed live by a reviewer, removed after the retention period, and
//! terminated. A termination is a request in the database: the node
//! holding the session sees it within the grant re-check interval and cuts
//! it.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_lc_rs::digest::{Context, SHA256};
use rampart_bastion::recording::sealed::{self, Opener, RecordingKey, SealError, SealHeader};
use rampart_core::time::{now_ms, rfc3339};
use rampart_core::{Event, Outcome, Principal};
use rampart_store::SessionRow;
use serde::Serialize;

use crate::{Bastion, BastionError};

/// A session as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    pub id: String,
    pub username: String,
    pub target: String,
    /// `shell`, `exec` or `sftp`.
    pub action: String,
    pub login: String,
    pub command: Option<String>,
    pub started_at: String,
    pub ended_at: Option<String>,
    /// While running: `running`; then `success`, `failure` or `denied`.
    pub outcome: String,
    pub reason: Option<String>,
    pub recording_sha256: Option<String>,
    pub recording_bytes: Option<i64>,
    /// Whether a recording can be downloaded (false once it expired).
    pub has_recording: bool,
    /// When retention removed the recording; its hash and size remain.
    pub recording_expired_at: Option<String>,
    pub terminate_requested_by: Option<String>,
}

impl From<&SessionRow> for SessionInfo {
    fn from(s: &SessionRow) -> Self {
        SessionInfo {
            id: s.id.clone(),
            username: s.username.clone(),
            target: s.target.clone(),
            action: s.action.clone(),
            login: s.login.clone(),
            command: s.command.clone(),
            started_at: rfc3339(s.started_at),
            ended_at: s.ended_at.map(rfc3339),
            outcome: s.outcome.clone().unwrap_or_else(|| "running".into()),
            reason: s.reason.clone(),
            recording_sha256: s.recording_sha256.clone(),
            recording_bytes: s.recording_bytes,
            has_recording: s.recording.is_some() && s.recording_expired_at.is_none(),
            recording_expired_at: s.recording_expired_at.map(rfc3339),
            terminate_requested_by: s.terminate_by.clone(),
        }
    }
}

/// One recording file, ready to be read as plaintext asciicast: a file
/// from before encryption at rest as it is, an encrypted one through its
/// data key.
#[derive(Debug, Clone)]
pub struct RecordingSource {
    pub path: PathBuf,
    sealed: Option<Sealed>,
}

#[derive(Debug, Clone)]
struct Sealed {
    header: SealHeader,
    header_bytes: Vec<u8>,
    key: RecordingKey,
}

/// Why a recording's plaintext could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("reading the recording failed: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Sealed(#[from] SealError),
    /// The sink (a download's client) went away.
    #[error("the reader went away")]
    Closed,
}

/// Turns the bytes of a recording file, read from [`RecordingSource::start`]
/// on, into plaintext asciicast.
#[derive(Debug)]
pub enum Decoder {
    Plain,
    Sealed(Box<Opener>),
}

impl Decoder {
    /// The plaintext in `bytes` (for an encrypted file, of every segment
    /// they complete).
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<u8>, SealError> {
        match self {
            Decoder::Plain => Ok(bytes.to_vec()),
            Decoder::Sealed(opener) => {
                let mut out = Vec::new();
                opener.push(bytes, &mut out)?;
                Ok(out)
            }
        }
    }

    /// At the end of the file: an encrypted recording must have its final
    /// segment unless `allow_unfinished` (a session still running, or one
    /// a crash ended without an end).
    pub fn end(&self, allow_unfinished: bool) -> Result<(), SealError> {
        match self {
            Decoder::Plain => Ok(()),
            Decoder::Sealed(opener) => match opener.end() {
                Err(SealError::Unfinished { .. }) if allow_unfinished => Ok(()),
                other => other,
            },
        }
    }

    /// Whether an encrypted recording's final segment has been read.
    pub fn finished(&self) -> bool {
        match self {
            Decoder::Plain => false,
            Decoder::Sealed(opener) => opener.is_finished(),
        }
    }
}

impl RecordingSource {
    /// Whether the file is encrypted at rest.
    pub fn is_sealed(&self) -> bool {
        self.sealed.is_some()
    }

    /// Where the recording's content starts in the file (after the
    /// encryption header).
    pub fn start(&self) -> u64 {
        self.sealed.as_ref().map_or(0, |s| s.header_bytes.len() as u64)
    }

    pub fn decoder(&self) -> Result<Decoder, SealError> {
        match &self.sealed {
            None => Ok(Decoder::Plain),
            Some(s) => Ok(Decoder::Sealed(Box::new(Opener::new(&s.header, &s.header_bytes, &s.key)?))),
        }
    }

    /// Reads the whole recording as plaintext into `sink` (blocking) and
    /// returns its lowercase hex SHA-256 and size.
    pub fn read_plain(
        &self,
        allow_unfinished: bool,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), ReadError>,
    ) -> Result<(String, u64), ReadError> {
        let mut file = std::fs::File::open(&self.path)?;
        file.seek(SeekFrom::Start(self.start()))?;
        let mut decoder = self.decoder()?;
        let mut ctx = Context::new(&SHA256);
        let mut total = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            let plain = decoder.push(&buf[..n])?;
            if !plain.is_empty() {
                ctx.update(&plain);
                total += plain.len() as u64;
                sink(&plain)?;
            }
        }
        decoder.end(allow_unfinished)?;
        Ok((data_encoding::HEXLOWER.encode(ctx.finish().as_ref()), total))
    }
}

/// An encryption header read from a file, or why it is unusable; `None`
/// for a plaintext recording.
type HeaderRead = Option<Result<(SealHeader, Vec<u8>), SealError>>;

/// The start of a recording file: the encryption header if it has one.
/// Bounded: a header is at most a few KiB.
fn read_seal_header(path: &Path) -> std::io::Result<HeaderRead> {
    let mut file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = file.read(&mut buf)?;
        bytes.extend_from_slice(&buf[..n]);
        if bytes.len() >= sealed::MAGIC.len() && !sealed::is_sealed(&bytes) {
            return Ok(None);
        }
        match SealHeader::parse(&bytes) {
            Ok(Some((header, used))) => {
                bytes.truncate(used);
                return Ok(Some(Ok((header, bytes))));
            }
            Ok(None) if n == 0 || bytes.len() > 8192 => {
                // A plaintext file shorter than the magic, or a header cut short.
                return Ok(if sealed::is_sealed(&bytes) {
                    Some(Err(SealError::BadHeader("the header is incomplete")))
                } else {
                    None
                });
            }
            Ok(None) => {}
            Err(SealError::BadMagic) => return Ok(None),
            Err(e) => return Ok(Some(Err(e))),
        }
    }
}

impl Bastion {
    pub async fn list_sessions(&self, live: bool, limit: usize) -> Result<Vec<SessionInfo>, BastionError> {
        Ok(self.store().list_bastion_sessions(live, limit).await?.iter().map(SessionInfo::from).collect())
    }

    pub async fn show_session(&self, id: &str) -> Result<SessionInfo, BastionError> {
        Ok(SessionInfo::from(&self.store().find_bastion_session(id).await?))
    }

    /// A recording file opened for reading: its encryption header read
    /// and its data key unwrapped by the KMS.
    async fn recording_source(&self, row: &SessionRow) -> Result<RecordingSource, BastionError> {
        if let Some(at) = row.recording_expired_at {
            return Err(BastionError::Gone(format!(
                "the recording of {} was removed on {} under the retention policy; the ledger keeps its SHA-256 and size",
                row.id,
                rfc3339(at)
            )));
        }
        let Some(path) = row.recording.clone().map(PathBuf::from) else {
            return Err(BastionError::NotFound);
        };
        let check = path.clone();
        let header = tokio::task::spawn_blocking(move || read_seal_header(&check))
            .await
            .map_err(|e| BastionError::Internal(e.to_string()))?
            .map_err(|e| BastionError::Internal(format!("reading the recording: {e}")))?;
        let sealed = match header {
            None => None,
            Some(Err(e)) => {
                return Err(BastionError::Conflict(format!("the recording of {} is damaged or altered: {e}", row.id)));
            }
            Some(Ok((header, header_bytes))) => {
                let key = self.recording_key(&row.id, &header).await?;
                Some(Sealed { header, header_bytes, key })
            }
        };
        Ok(RecordingSource { path, sealed })
    }

    /// The recording, once it is known to be the one the ledger describes:
    /// an ended session's plaintext must have the SHA-256 and size recorded
    /// at its end (a file changed since, or an encrypted one that does not
    /// authenticate, is refused as a conflict, and the refusal is in the
    /// ledger); a running session's is handed out as it stands. An expired
    /// recording, or one whose KMS key was deleted, is gone.
    pub async fn recording(
        &self,
        actor: &Principal,
        id: &str,
        source: Option<String>,
    ) -> Result<(SessionInfo, RecordingSource), BastionError> {
        let row = self.store().find_bastion_session(id).await?;
        let event = Event::new("bastion.recording.read", Outcome::Success, &actor.username)
            .object(row.id.as_str())
            .source(source);
        let file = match self.recording_source(&row).await {
            Ok(file) => file,
            Err(e) => {
                if !matches!(e, BastionError::NotFound) {
                    let mut failed = event.attr("reason", e.to_string());
                    failed.outcome = Outcome::Failure;
                    self.audit().record(failed).await?;
                }
                return Err(e);
            }
        };
        let expected = row.recording_sha256.clone();
        // A session without an end may still be running, or a crash ended
        // it: its encrypted file may lack the final segment.
        let allow_unfinished = row.ended_at.is_none() || expected.is_none();
        let reading = file.clone();
        let found = tokio::task::spawn_blocking(move || reading.read_plain(allow_unfinished, &mut |_| Ok(())))
            .await
            .map_err(|e| BastionError::Internal(e.to_string()))?;
        let (found, why) = match found {
            Ok(found) => (Some(found), None),
            Err(ReadError::Sealed(e)) => (None, Some(e.to_string())),
            Err(e) => return Err(BastionError::Internal(e.to_string())),
        };
        let intact = match (&expected, row.recording_bytes, &found) {
            (_, _, None) => false,
            (Some(sha), Some(bytes), Some(found)) => *sha == found.0 && u64::try_from(bytes).ok() == Some(found.1),
            // Running, or ended without a usable recording: nothing to compare.
            _ => true,
        };
        let mut event = event.attr("encrypted", file.is_sealed());
        if let Some((sha, bytes)) = &found {
            event = event.attr("sha256", sha.as_str()).attr("bytes", *bytes);
        }
        if !intact {
            event.outcome = Outcome::Failure;
            event = event.attr("reason", why.clone().unwrap_or_else(|| "the file no longer matches the ledger".into()));
        }
        self.audit().record(event).await?;
        if !intact {
            let detail = why.map(|w| format!(" ({w})")).unwrap_or_default();
            return Err(BastionError::Conflict(format!(
                "the recording of {id} no longer matches the SHA-256 the ledger recorded at its end; it was altered{detail}"
            )));
        }
        Ok((SessionInfo::from(&row), file))
    }

    /// Starts a reviewer's live view of a session: the recording so far,
    /// then what it records until the session ends. Every watch is a
    /// `bastion.session.watched` event (who watched whom), in the ledger
    /// before anything is shown.
    pub async fn watch_session(
        &self,
        actor: &Principal,
        id: &str,
        source: Option<String>,
    ) -> Result<(SessionInfo, RecordingSource), BastionError> {
        let row = self.store().find_bastion_session(id).await?;
        let file = self.recording_source(&row).await?;
        self.audit()
            .record(
                Event::new("bastion.session.watched", Outcome::Success, &actor.username)
                    .object(row.id.as_str())
                    .source(source)
                    .attr("user", row.username.as_str())
                    .attr("target", row.target.as_str())
                    .attr("running", row.ended_at.is_none()),
            )
            .await?;
        Ok((SessionInfo::from(&row), file))
    }

    /// Follows a recording as it grows, sending its plaintext to `send`
    /// until the session has ended and everything it recorded was sent,
    /// or `send` fails or `gone` says the watcher left. The file is
    /// polled: the recording is flushed per event.
    pub async fn follow_recording<F, Fut>(
        &self,
        id: &str,
        file: RecordingSource,
        mut send: F,
        gone: impl Fn() -> bool,
    ) -> Result<(), ReadError>
    where
        F: FnMut(Vec<u8>) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        const POLL: Duration = Duration::from_millis(200);
        const ROW_EVERY: u32 = 5;
        let mut input = tokio::fs::File::open(&file.path).await?;
        input.seek(SeekFrom::Start(file.start())).await?;
        let mut decoder = file.decoder()?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut ended = false;
        let mut idle = 0u32;
        loop {
            let n = input.read(&mut buf).await?;
            if n > 0 {
                idle = 0;
                let plain = decoder.push(&buf[..n])?;
                if !plain.is_empty() && !send(plain).await {
                    return Err(ReadError::Closed);
                }
                continue;
            }
            // Drained. Once the session has ended, everything it recorded
            // was flushed before its end was written: this is the end.
            if ended || decoder.finished() {
                return decoder.end(!decoder.finished()).map_err(ReadError::from);
            }
            if gone() {
                return Err(ReadError::Closed);
            }
            if idle.is_multiple_of(ROW_EVERY) {
                match self.store().find_bastion_session(id).await {
                    Ok(row) => ended = row.ended_at.is_some(),
                    Err(e) => return Err(ReadError::Io(std::io::Error::other(e.to_string()))),
                }
                if ended {
                    continue;
                }
            }
            idle = idle.wrapping_add(1);
            tokio::time::sleep(POLL).await;
        }
    }

    /// Removes the recording files of sessions that ended more than
    /// `[bastion] recording_retention_days` before `now` (never a running
    /// session's). Each removal is a `bastion.recording.expired` event,
    /// in the ledger before the file goes; the ledger and the session row
    /// keep the recording's SHA-256 and size. An encrypted file carries
    /// its wrapped data key in its header, so that key goes with it.
    /// Returns how many were removed.
    pub async fn sweep_recordings(&self, now: i64) -> Result<usize, BastionError> {
        let days = self.config().recording_retention_days;
        if days == 0 {
            return Ok(0);
        }
        let before = now.saturating_sub(i64::from(days) * 86_400_000);
        let mut removed = 0;
        loop {
            let due = self.store().recordings_past_retention(before, 100).await?;
            if due.is_empty() {
                return Ok(removed);
            }
            for row in &due {
                let mut event = Event::new("bastion.recording.expired", Outcome::Success, "rampart-bastion")
                    .object(row.id.as_str())
                    .attr("user", row.username.as_str())
                    .attr("target", row.target.as_str())
                    .attr("retention_days", days);
                if let (Some(sha), Some(bytes)) = (&row.recording_sha256, row.recording_bytes) {
                    event = event.attr("recording_sha256", sha.as_str()).attr("recording_bytes", bytes);
                }
                self.audit().record(event).await?;
                if let Some(path) = &row.recording {
                    match tokio::fs::remove_file(path).await {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            // Left for the next sweep; the row stays unexpired.
                            tracing::error!(error = %e, session = %row.id, "removing an expired recording failed");
                            return Err(BastionError::Internal(format!("removing {path}: {e}")));
                        }
                    }
                }
                match self.store().mark_recording_expired(&row.id, now).await {
                    Ok(()) | Err(rampart_store::StoreError::Conflict(_)) => removed += 1,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }

    /// Asks for a running session to be cut (by whichever node holds it).
    pub async fn terminate_session(
        &self,
        actor: &Principal,
        id: &str,
        source: Option<String>,
    ) -> Result<SessionInfo, BastionError> {
        let row = self.store().find_bastion_session(id).await?;
        if row.ended_at.is_some() {
            return Err(BastionError::Conflict("the session has ended".into()));
        }
        self.audit()
            .record(
                Event::new("bastion.session.terminate_requested", Outcome::Success, &actor.username)
                    .object(row.id.as_str())
                    .source(source)
                    .attr("user", row.username.as_str())
                    .attr("target", row.target.as_str()),
            )
            .await?;
        self.store().request_session_termination(id, &actor.username, now_ms()).await?;
        self.show_session(id).await
    }
}
