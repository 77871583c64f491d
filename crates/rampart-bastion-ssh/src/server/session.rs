//! One session: a client channel paired with a channel on the target. The
//! handler writes what the client sends into the target channel; a pump
//! task carries what the target sends back to the client. Both sides feed
//! the recording, and whoever finds the recording broken cuts the session
//! (sync mode). The pump ends the session when the target channel closes,
//! recording its end, the recording's SHA-256 and size in the ledger.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rampart_bastion::recording::{Header, RecordingError};
use rampart_bastion::scp::{self, ScpError};
use rampart_bastion::sftp::{self, FileEvent, FileResult, SftpError};
use rampart_core::config::RecordingMode;
use rampart_core::{Event, Id, Outcome};
use russh::client;
use russh::server::{self, Handle};
use russh::{ChannelId, ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use tokio::sync::mpsc;

use super::{Connection, REQUEST_TIMEOUT, reply};
use crate::grants::Action;
use crate::recorder::Recorder;
use crate::redline::{self, Gate, Scope, Step, Verdicts};
use crate::reviews::{ReviewOutcome, ReviewRequest};
use crate::{Bastion, recorder};

/// What the handler and the pump share about a session.
struct Shared {
    bastion: Bastion,
    session_id: Id,
    /// The event every later event of this session starts from.
    base: Event,
    recorder: Mutex<Option<Recorder>>,
    /// Async recording mode only: the recording failed and the session
    /// went on unrecorded.
    recording_lost: AtomicBool,
    started: AtomicBool,
    /// What the session is, for its end event (set when it starts).
    kind: std::sync::OnceLock<Kind>,
    ended: AtomicBool,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    exit_status: Mutex<Option<u32>>,
    /// The red-line gate of an interactive shell (set when it starts).
    gate: Mutex<Option<Gate>>,
    /// The client's side of the channel, for notices sent while no
    /// handler call is running (a review's outcome).
    client: Handle,
    channel: ChannelId,
    /// Who types here, for the reviews their lines may need.
    requester: Mutex<Option<(Id, String, String)>>,
    /// Input decided but not yet passed on; one writer at a time.
    inbound: tokio::sync::Mutex<Inbound>,
    /// The serial of the certificate the login was made with: revoking it
    /// cuts the session.
    cert_serial: Option<u64>,
    /// An SFTP channel's packet tap (set when the subsystem starts).
    sftp: Mutex<Option<sftp::Tap>>,
    /// A legacy scp channel's tap (set when a recognised `scp -t`/`scp -f`
    /// starts); it only looks, the bytes pass unchanged.
    scp: Mutex<Option<scp::Tap>>,
    /// Packets for the client that the bastion answers itself (refused
    /// SFTP requests). The pump sends them only while the target's stream
    /// is between packets, so the two never interleave.
    inject: mpsc::Sender<bytes::Bytes>,
}

/// What the client's bytes on a file-transfer channel come to.
struct FromClient {
    /// The bytes to pass on to the target.
    forward: Vec<u8>,
    /// Answers for the client (refusals).
    answers: Vec<Vec<u8>>,
    events: Vec<FileEvent>,
}

/// Which kind of session a channel asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Shell,
    Exec,
    Sftp,
    /// An exec request recognised as legacy `scp -O` (see
    /// [`scp::Command::parse`]): held to the SFTP grants, audited file by
    /// file, not recorded as a terminal.
    Scp,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Shell => "shell",
            Kind::Exec => "exec",
            Kind::Sftp => "sftp",
            Kind::Scp => "scp",
        }
    }

    /// Sessions replayed as a terminal; SFTP and scp carry files, which
    /// are audited one by one instead.
    fn recorded(self) -> bool {
        matches!(self, Kind::Shell | Kind::Exec)
    }
}

/// The client's input of an interactive shell on its way to the target.
/// While a line waits for review the session is paused: later input is
/// still tracked (so the line tracker stays in step with the shell) but
/// its steps queue here, bounded, until the review ends.
#[derive(Debug, Default)]
pub(super) struct Inbound {
    paused: bool,
    steps: VecDeque<Step>,
    queued: usize,
}

/// The most input held while a session is paused for a review. More cuts
/// the channel: dropping keys would put the tracker out of step with the
/// shell, and holding without bound would let one session take memory.
const MAX_PAUSED_INPUT: usize = 64 * 1024;

fn step_len(step: &Step) -> usize {
    match step {
        Step::Forward(b) => b.len(),
        Step::Submit { verdicts, enter } => verdicts.line.len() + enter.len(),
    }
}

impl Shared {
    fn gate(&self) -> Option<Gate> {
        self.gate.lock().ok().and_then(|g| g.clone())
    }

    /// For an SFTP channel, the client's bytes decided on request by
    /// request; `None` for other channels.
    fn sftp_from_client(&self, data: &[u8]) -> Option<Result<FromClient, SftpError>> {
        let mut guard = self.sftp.lock().ok()?;
        let tap = guard.as_mut()?;
        Some(tap.from_client(data).map(|out| FromClient {
            forward: out.forward,
            answers: out.answers,
            events: tap.take_events(),
        }))
    }

    /// For an SFTP channel, follows the target's bytes (which pass back
    /// unchanged) and returns the file events they complete; `None` for
    /// other channels.
    fn sftp_from_target(&self, data: &[u8]) -> Option<Result<Vec<FileEvent>, SftpError>> {
        let mut guard = self.sftp.lock().ok()?;
        let tap = guard.as_mut()?;
        Some(tap.from_target(data).map(|()| tap.take_events()))
    }

    /// Whether a packet of the bastion's own may go to the client now: not
    /// while the target's SFTP stream is part-way through a packet.
    fn target_between_packets(&self) -> bool {
        self.sftp.lock().map(|tap| tap.as_ref().is_none_or(sftp::Tap::target_at_boundary)).unwrap_or(true)
    }

    /// For a legacy scp channel, follows the client's bytes and returns the
    /// file events they complete; `None` for other channels.
    fn scp_from_client(&self, data: &[u8]) -> Option<Result<Vec<FileEvent>, ScpError>> {
        let mut guard = self.scp.lock().ok()?;
        let tap = guard.as_mut()?;
        Some(tap.from_client(data).map(|()| tap.take_events()))
    }

    /// For a legacy scp channel, follows the target's bytes.
    fn scp_from_target(&self, data: &[u8]) -> Option<Result<Vec<FileEvent>, ScpError>> {
        let mut guard = self.scp.lock().ok()?;
        let tap = guard.as_mut()?;
        Some(tap.from_target(data).map(|()| tap.take_events()))
    }

    /// For a file-transfer channel (SFTP or legacy scp), what of the
    /// client's bytes goes on, what the bastion answers itself, and the
    /// file events completed; `None` for other channels. `Err` is the
    /// reason the channel is cut (a protocol error, logged here).
    fn files_from_client(&self, data: &[u8]) -> Option<Result<FromClient, &'static str>> {
        if let Some(tapped) = self.sftp_from_client(data) {
            return Some(tapped.map_err(|e| {
                tracing::warn!(error = %e, session = %self.session_id, "the client broke SFTP; cutting");
                "sftp_protocol_error"
            }));
        }
        let tapped = self.scp_from_client(data)?;
        Some(tapped.map(|events| FromClient { forward: data.to_vec(), answers: Vec::new(), events }).map_err(|e| {
            tracing::warn!(error = %e, session = %self.session_id, "the client broke scp; cutting");
            "scp_protocol_error"
        }))
    }

    /// For a file-transfer channel, follows the target's bytes (which go
    /// back to the client unchanged) and returns the file events they
    /// complete; `None` for other channels. `Err` is the reason the
    /// channel is cut (logged here).
    fn files_from_target(&self, data: &[u8]) -> Option<Result<Vec<FileEvent>, &'static str>> {
        if let Some(tapped) = self.sftp_from_target(data) {
            return Some(tapped.map_err(|e| {
                tracing::warn!(error = %e, session = %self.session_id, "the target broke SFTP; cutting");
                "sftp_protocol_error"
            }));
        }
        let tapped = self.scp_from_target(data)?;
        Some(tapped.map_err(|e| {
            tracing::warn!(error = %e, session = %self.session_id, "the target broke scp; cutting");
            "scp_protocol_error"
        }))
    }

    /// Puts each file event in the ledger. `Err` if one could not be: an
    /// SFTP channel whose transfers cannot be audited is cut, as a shell
    /// whose recording fails is.
    async fn record_files(&self, events: Vec<FileEvent>) -> Result<(), ()> {
        for file in events {
            let outcome = match file.result {
                FileResult::Done => Outcome::Success,
                FileResult::Refused { .. } => Outcome::Denied,
                FileResult::Failed { .. } | FileResult::Unclosed => Outcome::Failure,
            };
            let mut event = self
                .event("bastion.file", outcome)
                .attr("op", file.op.as_str())
                .attr("path", file.path.as_str())
                .attr("bytes", file.bytes)
                .attr("result", file.result.name());
            if let Some(to) = &file.to {
                event = event.attr("to", to.as_str());
            }
            if let Some(name) = &file.name {
                event = event.attr("name", name.as_str());
            }
            if let Some(sha) = &file.sha256 {
                event = event.attr("sha256", sha.as_str());
            }
            if let Some(note) = file.hash_note {
                event = event.attr("hash_note", note);
            }
            match &file.result {
                FileResult::Failed { code, message } => {
                    event = event.attr("status_code", *code).attr("status_message", message.as_str());
                }
                FileResult::Refused { missing } => event = event.attr("missing_grant", *missing),
                FileResult::Done | FileResult::Unclosed => {}
            }
            self.bastion.audit().record(event).await.map_err(|e| {
                tracing::error!(error = %e, session = %self.session_id, "recording a file event failed");
            })?;
        }
        Ok(())
    }

    /// A new event of this session (its base: who, target, session id),
    /// stamped now.
    fn event(&self, kind: &str, outcome: Outcome) -> Event {
        let mut event = self.base.clone();
        event.id = Id::new("evt");
        event.time_ms = rampart_core::time::now_ms();
        event.kind = kind.into();
        event.outcome = outcome;
        event
    }

    /// Records the verdict on one command line. The line goes to the
    /// ledger before it may run; `Err` means it could not, and the line
    /// must be refused.
    async fn record_command(&self, verdicts: &Verdicts, via: &str) -> Result<(), ()> {
        let outcome = if verdicts.lets_through() { Outcome::Success } else { Outcome::Denied };
        let mut event = self
            .event("bastion.command", outcome)
            .attr("via", via)
            .attr("command", verdicts.line.as_str())
            .attr("action", verdicts.action_name())
            .attr("policy", verdicts.decision.policy_id.clone().unwrap_or_else(|| "default".into()))
            .attr("reason", verdicts.decision.reason.as_str())
            .attr("certain", verdicts.certain);
        if let Some(part) = &verdicts.decision.matched_part {
            event = event.attr("matched", part.as_str());
        }
        if let Some(screen) = &verdicts.screen {
            event = event.attr("screen_command", screen.as_str());
        }
        if !verdicts.doubts.is_empty() {
            event = event.attr("doubts", verdicts.doubts.clone());
        }
        self.bastion.audit().record(event).await.map(|_| ()).map_err(|e| {
            tracing::error!(error = %e, session = %self.session_id, "recording a command failed; refusing it");
        })
    }
    /// Runs `f` on the recording, if the session has one. In sync mode a
    /// failure is returned (and cuts the session); in async mode the
    /// recording is dropped, the loss becomes an event, and the session
    /// goes on.
    fn record(&self, f: impl FnOnce(&mut Recorder) -> Result<(), RecordingError>) -> Result<(), RecordingError> {
        let mut guard = self.recorder.lock().map_err(|_| RecordingError::Broken)?;
        let Some(recorder) = guard.as_mut() else { return Ok(()) };
        match f(recorder) {
            Ok(()) => {
                let chunks = recorder.take_chunks();
                drop(guard);
                if !chunks.is_empty() {
                    let events: Vec<Event> = chunks.iter().map(|c| self.chunk_event(c)).collect();
                    let audit = self.bastion.audit().clone();
                    tokio::spawn(async move {
                        for event in events {
                            if let Err(e) = audit.record(event).await {
                                tracing::error!(error = %e, "recording a session recording's chunk hash failed");
                            }
                        }
                    });
                }
                Ok(())
            }
            Err(e) if self.bastion.config().recording_mode == RecordingMode::Async => {
                guard.take();
                drop(guard);
                self.lose_recording(&e);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// The ledger event for one completed chunk of the recording.
    fn chunk_event(&self, chunk: &rampart_bastion::recording::ChunkHash) -> Event {
        self.event("bastion.recording.chunk", Outcome::Success)
            .attr("index", chunk.index)
            .attr("offset", chunk.offset)
            .attr("bytes", chunk.len)
            .attr("sha256", rampart_core::secret::hex(&chunk.sha256))
    }

    /// Async mode: records, once, that this session is no longer recorded.
    fn lose_recording(&self, error: &RecordingError) {
        if self.recording_lost.swap(true, Ordering::SeqCst) {
            return;
        }
        tracing::error!(error = %error, session = %self.session_id, "the session recording failed; async mode: the session goes on unrecorded");
        let event = self
            .event("bastion.recording.failed", Outcome::Failure)
            .attr("error", error.to_string())
            .attr("mode", "async");
        let audit = self.bastion.audit().clone();
        tokio::spawn(async move {
            if let Err(e) = audit.record(event).await {
                tracing::error!(error = %e, "recording the loss of a session recording failed");
            }
        });
    }

    /// Records the end of the session, once.
    async fn end(&self, outcome: Outcome, reason: Option<&str>) {
        if !self.started.load(Ordering::SeqCst) || self.ended.swap(true, Ordering::SeqCst) {
            return;
        }
        let unclosed = self.sftp.lock().ok().and_then(|mut t| t.as_mut().map(sftp::Tap::finish));
        if let Some(events) = unclosed {
            let _ = self.record_files(events).await;
        }
        let unclosed = self.scp.lock().ok().and_then(|mut t| t.as_mut().map(scp::Tap::finish));
        if let Some(events) = unclosed {
            let _ = self.record_files(events).await;
        }
        let recorder = self.recorder.lock().ok().and_then(|mut r| r.take());
        let finished: Option<Result<recorder::Summary, RecordingError>> = recorder.map(Recorder::finish);
        let exit = self.exit_status.lock().ok().and_then(|s| *s);
        let mut event = self
            .event("bastion.session.ended", outcome)
            .attr("action", self.kind.get().map_or("unknown", |k| k.as_str()))
            .attr("bytes_from_client", self.bytes_in.load(Ordering::Relaxed))
            .attr("bytes_from_target", self.bytes_out.load(Ordering::Relaxed));
        if let Some(code) = exit {
            event = event.attr("exit_status", code);
        }
        if let Some(reason) = reason {
            event = event.attr("reason", reason);
        }
        if self.recording_lost.load(Ordering::SeqCst) {
            event = event.attr("recording_lost", true);
        }
        let mut end = rampart_store::SessionEnd { reason: reason.map(str::to_owned), ..Default::default() };
        match finished {
            Some(Ok(summary)) => {
                // The last, short chunk is in the ledger before the end.
                for chunk in &summary.last_chunks {
                    if let Err(e) = self.bastion.audit().record(self.chunk_event(chunk)).await {
                        tracing::error!(error = %e, session = %self.session_id, "recording the last chunk hash failed");
                    }
                }
                event = event.attr("recording_chunks", summary.chunk_count);
                end.recording_sha256 = Some(summary.sha256.clone());
                end.recording_bytes = i64::try_from(summary.bytes).ok();
                event = event
                    .attr("recording_sha256", summary.sha256)
                    .attr("recording_bytes", summary.bytes)
                    .attr("recording", summary.path.display().to_string());
            }
            Some(Err(e)) => {
                event.outcome = Outcome::Failure;
                event = event.attr("recording_error", e.to_string());
            }
            None => {}
        }
        end.outcome = event.outcome.as_str().to_owned();
        if let Err(e) = self.bastion.audit().record(event).await {
            tracing::error!(error = %e, session = %self.session_id, "recording the end of a bastion session failed");
        }
        let now = rampart_core::time::now_ms();
        if let Err(e) = self.bastion.store().end_bastion_session(self.session_id.as_str(), &end, now).await {
            tracing::error!(error = %e, session = %self.session_id, "indexing the end of a bastion session failed");
        }
    }
}

/// What goes to the target's channel, in order, through its writer task.
#[derive(Debug)]
pub(super) enum ToTarget {
    Data(bytes::Bytes),
    Eof,
    Close,
}

/// Passes the client's bytes on to the target from a task of its own, so
/// the connection's handler can decrypt the next packet while this one is
/// still on its way (a bulk upload ran at a third of direct speed when the
/// handler waited for each write). The queue is bounded: a slow target
/// still holds the client back.
async fn writer(write: Arc<ChannelWriteHalf<client::Msg>>, mut queue: mpsc::Receiver<ToTarget>) {
    while let Some(item) = queue.recv().await {
        let sent = match item {
            ToTarget::Data(bytes) => write.data_bytes(bytes).await.map_err(|_| ()),
            ToTarget::Eof => write.eof().await.map_err(|_| ()),
            ToTarget::Close => {
                let _ = write.close().await;
                return;
            }
        };
        if sent.is_err() {
            return;
        }
    }
}

/// Messages queued for the target per channel. A message is one client
/// packet (up to 32 KiB) or, on SFTP, whole requests (OpenSSH's `scp`
/// writes 255 KiB at a time once the target's `limits@openssh.com` says
/// so), so this holds up to about 2 MiB. Deeper queues only delayed the
/// target's replies behind more queued data: 64 messages (16 MiB of SFTP
/// writes) measured no faster than 8 (docs/benchmarks.md).
const TO_TARGET_QUEUE: usize = 8;

/// The bastion's side of one client channel.
pub(super) struct Chan {
    pub(super) write: Arc<ChannelWriteHalf<client::Msg>>,
    /// The bulk path to the target (exec and SFTP input, EOF, close).
    pub(super) to_target: mpsc::Sender<ToTarget>,
    /// The target's answers to our channel requests, from the pump.
    replies: mpsc::Receiver<bool>,
    shared: Arc<Shared>,
    pub(super) pty: Option<(String, u32, u32)>,
    /// Environment variables passed to the target, and those refused, by
    /// name (values are not kept: they may hold secrets).
    pub(super) env: Vec<String>,
    pub(super) env_refused: Vec<String>,
    /// The client's request for this session was answered already (the
    /// target picker answers the shell request when it shows its menu).
    pub(super) pre_answered: bool,
}

impl Chan {
    /// Pairs a client channel with a fresh target channel and starts the
    /// pump from the target to the client.
    pub(super) fn start(conn: &Connection, id: ChannelId, target: russh::Channel<client::Msg>, handle: Handle) -> Chan {
        let session_id = Id::new("ses");
        let base = conn.event("bastion.session", Outcome::Success).attr("session", session_id.as_str());
        let (inject_tx, inject_rx) = mpsc::channel(64);
        let shared = Arc::new(Shared {
            bastion: conn.bastion.clone(),
            session_id,
            base,
            recorder: Mutex::new(None),
            recording_lost: AtomicBool::new(false),
            started: AtomicBool::new(false),
            kind: std::sync::OnceLock::new(),
            ended: AtomicBool::new(false),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            exit_status: Mutex::new(None),
            gate: Mutex::new(None),
            client: handle.clone(),
            channel: id,
            requester: Mutex::new(None),
            inbound: tokio::sync::Mutex::new(Inbound::default()),
            cert_serial: conn.cert.as_ref().map(|c| c.serial),
            sftp: Mutex::new(None),
            scp: Mutex::new(None),
            inject: inject_tx,
        });
        let (read, write) = target.split();
        let write = Arc::new(write);
        let (tx, replies) = mpsc::channel(4);
        tokio::spawn(pump(read, handle, id, shared.clone(), tx, inject_rx));
        let (to_target, queue) = mpsc::channel(TO_TARGET_QUEUE);
        tokio::spawn(writer(write.clone(), queue));
        Chan {
            write,
            to_target,
            replies,
            shared,
            pty: None,
            env: Vec::new(),
            env_refused: Vec::new(),
            pre_answered: false,
        }
    }

    /// Waits for the target's answer to the request just sent.
    pub(super) async fn reply(&mut self) -> bool {
        matches!(tokio::time::timeout(REQUEST_TIMEOUT, self.replies.recv()).await, Ok(Some(true)))
    }

    pub(super) fn record_input(&self, data: &[u8]) -> Result<(), RecordingError> {
        self.shared.bytes_in.fetch_add(data.len() as u64, Ordering::Relaxed);
        self.shared.record(|r| r.input(data))
    }

    pub(super) fn record_resize(&self, cols: u32, rows: u32) -> Result<(), RecordingError> {
        if let Some(gate) = self.shared.gate() {
            gate.resize(cols, rows);
        }
        self.shared.record(|r| r.resize(cols, rows))
    }

    /// Sends the client's input on to the target, holding each Enter of an
    /// interactive shell until its line is decided and recorded. Returns
    /// the notices for the client (refused lines, a review being asked
    /// for); `Err` when the channel must close.
    pub(super) async fn forward_input(&mut self, data: &[u8]) -> Result<Vec<String>, ()> {
        if let Some(tapped) = self.shared.files_from_client(data) {
            let out = match tapped {
                Ok(out) => out,
                Err(reason) => {
                    let _ = self.write.close().await;
                    self.shared.end(Outcome::Failure, Some(reason)).await;
                    return Err(());
                }
            };
            if self.shared.record_files(out.events).await.is_err() {
                let _ = self.write.close().await;
                self.shared.end(Outcome::Failure, Some("audit_failed")).await;
                return Err(());
            }
            // Never wait here for the pump: it may itself be waiting for
            // the client to read, which this handler must let happen. A
            // client with 64 refusals unread is flooding; it is cut.
            for answer in out.answers {
                if self.shared.inject.try_send(bytes::Bytes::from(answer)).is_err() {
                    tracing::warn!(session = %self.shared.session_id, "too many refused SFTP requests unread; cutting");
                    let _ = self.write.close().await;
                    self.shared.end(Outcome::Failure, Some("sftp_flood")).await;
                    return Err(());
                }
            }
            if !out.forward.is_empty() {
                self.to_target.send(ToTarget::Data(bytes::Bytes::from(out.forward))).await.map_err(|_| ())?;
            }
            return Ok(Vec::new());
        }
        let Some(gate) = self.shared.gate() else {
            return self
                .to_target
                .send(ToTarget::Data(bytes::Bytes::copy_from_slice(data)))
                .await
                .map(|_| Vec::new())
                .map_err(|_| ());
        };
        let mut inbound = self.shared.inbound.lock().await;
        let steps = gate.input(data);
        inbound.queued += steps.iter().map(step_len).sum::<usize>();
        inbound.steps.extend(steps);
        if inbound.paused {
            if inbound.queued > MAX_PAUSED_INPUT {
                tracing::warn!(session = %self.shared.session_id, "too much input while paused for a review; closing");
                return Err(());
            }
            return Ok(Vec::new());
        }
        drain(&self.shared, &self.write, &mut inbound).await
    }
}

/// Passes queued steps on until the queue is empty or a line needs a
/// review, which pauses the session and starts waiting for it.
async fn drain(
    shared: &Arc<Shared>,
    write: &Arc<ChannelWriteHalf<client::Msg>>,
    inbound: &mut Inbound,
) -> Result<Vec<String>, ()> {
    let mut notices = Vec::new();
    let discard = rampart_bastion::linetrack::DISCARD_LINE;
    while let Some(step) = inbound.steps.pop_front() {
        inbound.queued = inbound.queued.saturating_sub(step_len(&step));
        let (verdicts, enter) = match step {
            Step::Forward(bytes) => {
                write.data_bytes(bytes::Bytes::from(bytes)).await.map_err(|_| ())?;
                continue;
            }
            Step::Submit { verdicts, enter } => (verdicts, enter),
        };
        let recorded = shared.record_command(&verdicts, "shell").await;
        if let (rampart_bastion::policy::Action::Review { timeout }, Ok(())) = (verdicts.decision.action, recorded) {
            match shared.open_review(&verdicts, timeout).await {
                Some(id) => {
                    notices.push(format!(
                        "\r\nrampart: this command needs a reviewer's approval (red line {:?}); \
                         review {id} is waiting, for at most {} s\r\n",
                        verdicts.decision.policy_id.as_deref().unwrap_or("default"),
                        timeout.as_secs()
                    ));
                    inbound.paused = true;
                    tokio::spawn(resume(shared.clone(), write.clone(), id, enter));
                    return Ok(notices);
                }
                None => {
                    write.data_bytes(bytes::Bytes::from_static(discard)).await.map_err(|_| ())?;
                    notices.push("\r\nrampart: the command could not be put to review, so it was not run\r\n".into());
                    continue;
                }
            }
        }
        if verdicts.lets_through() && recorded.is_ok() {
            write.data_bytes(bytes::Bytes::from(enter)).await.map_err(|_| ())?;
        } else {
            // The shell is left with an empty line (Ctrl-C), as the tracker
            // already assumes after every Enter.
            write.data_bytes(bytes::Bytes::from_static(discard)).await.map_err(|_| ())?;
            notices.push(if recorded.is_ok() {
                verdicts.refusal()
            } else {
                "\r\nrampart: the command could not be recorded, so it was not run\r\n".to_owned()
            });
        }
    }
    Ok(notices)
}

/// How often a live session's grant is looked at again: a revoked grant
/// cuts its sessions within this long; an expiring one at its end.
pub const GRANT_RECHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// Cuts the session when no grant covers it any more (expired, revoked,
/// the target or the user's access removed, the user taken out of the
/// group a grant names), or when the certificate the login used is revoked. A database that cannot be
/// read for a minute cuts it too: an access check that cannot be made is
/// not a pass.
async fn watch_grant(
    shared: Arc<Shared>,
    write: Arc<ChannelWriteHalf<client::Msg>>,
    user: rampart_store::UserRow,
    target: rampart_store::TargetRow,
    action: Action,
    mut until: i64,
) {
    let recheck_ms = i64::try_from(GRANT_RECHECK.as_millis()).unwrap_or(5_000);
    let mut failing_since: Option<i64> = None;
    loop {
        let now = rampart_core::time::now_ms();
        let wait = until.saturating_sub(now).clamp(0, recheck_ms);
        tokio::time::sleep(std::time::Duration::from_millis(u64::try_from(wait).unwrap_or(0))).await;
        if shared.ended.load(Ordering::SeqCst) {
            return;
        }
        let terminated = match shared.bastion.store().find_bastion_session(shared.session_id.as_str()).await {
            Ok(row) => row.terminate_by,
            Err(_) => None,
        };
        let revoked = match shared.cert_serial {
            Some(serial) => shared.bastion.cert_revoked(serial).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, session = %shared.session_id, "re-checking a session's certificate failed");
                false
            }),
            None => false,
        };
        let reason = match shared.bastion.authorize(&user, &target, Some(action)).await {
            _ if terminated.is_some() => "terminated",
            _ if revoked => "certificate_revoked",
            Ok(Some(grant)) => {
                until = grant.not_after;
                failing_since = None;
                continue;
            }
            Ok(None) => "grant_ended",
            Err(e) => {
                let now = rampart_core::time::now_ms();
                let since = *failing_since.get_or_insert(now);
                tracing::warn!(error = %e, session = %shared.session_id, "re-checking a session's grant failed");
                if now - since < 60_000 {
                    continue;
                }
                "grant_unverifiable"
            }
        };
        let notice = match &terminated {
            Some(by) => format!("\r\nrampart: this session was terminated by {by}\r\n"),
            None if revoked => {
                "\r\nrampart: the certificate this login used was revoked; the session is cut\r\n".to_owned()
            }
            None => "\r\nrampart: no grant covers this session any more; it is cut\r\n".to_owned(),
        };
        let _ = shared.client.extended_data(shared.channel, 1, bytes::Bytes::from(notice.into_bytes())).await;
        shared.end(Outcome::Denied, Some(reason)).await;
        let _ = write.close().await;
        let _ = shared.client.close(shared.channel).await;
        return;
    }
}

/// Waits for a review, then sends or discards the held Enter, resumes the
/// session and passes on what was typed meanwhile. Boxed with an explicit
/// `Send` so that `drain` and `resume`, which start each other, have types.
fn resume(
    shared: Arc<Shared>,
    write: Arc<ChannelWriteHalf<client::Msg>>,
    id: Id,
    enter: Vec<u8>,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let outcome = shared.bastion.await_review(&id).await;
        let discard = rampart_bastion::linetrack::DISCARD_LINE;
        let (notice, pass) = match outcome {
            Ok(ReviewOutcome::Approved { reviewer }) => {
                (format!("rampart: review {id} approved by {reviewer}\r\n"), true)
            }
            Ok(ReviewOutcome::Denied { reviewer, comment }) => {
                (format!("\r\nrampart: review {id} denied by {reviewer}: {comment}\r\n"), false)
            }
            Ok(ReviewOutcome::Expired) => {
                (format!("\r\nrampart: review {id} expired without approval; the command was not run\r\n"), false)
            }
            Err(e) => {
                tracing::error!(error = %e, review = %id, "waiting for a review failed; refusing the command");
                (format!("\r\nrampart: review {id} could not be followed; the command was not run\r\n"), false)
            }
        };
        // Messages to the client go through its session loop, which may be
        // waiting for `inbound` in the handler: never send one while
        // holding the lock.
        let _ = shared.client.data(shared.channel, bytes::Bytes::from(notice.into_bytes())).await;
        let notices = {
            let mut inbound = shared.inbound.lock().await;
            let sent = if pass {
                write.data_bytes(bytes::Bytes::from(enter)).await
            } else {
                write.data_bytes(bytes::Bytes::from_static(discard)).await
            };
            inbound.paused = false;
            if sent.is_err() {
                return;
            }
            drain(&shared, &write, &mut inbound).await.unwrap_or_default()
        };
        for n in notices {
            let _ = shared.client.data(shared.channel, bytes::Bytes::from(n.into_bytes())).await;
        }
    })
}

impl Shared {
    /// Opens the review a held line needs; `None` if it cannot be opened
    /// (the line is then refused).
    async fn open_review(&self, verdicts: &Verdicts, timeout: std::time::Duration) -> Option<Id> {
        let (requester_id, requester, target) = self.requester.lock().ok()?.clone()?;
        let req = ReviewRequest {
            session_id: self.session_id.to_string(),
            requester_id,
            requester,
            target,
            command: verdicts.line.clone(),
            policy: verdicts.decision.policy_id.clone().unwrap_or_else(|| "default".into()),
            reason: verdicts.decision.reason.clone(),
            timeout,
        };
        match self.bastion.open_review(req).await {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::error!(error = %e, session = %self.session_id, "opening a command review failed");
                None
            }
        }
    }
}

/// Carries the target's output to the client until the target channel
/// closes, recording it; then ends the session.
async fn pump(
    mut read: ChannelReadHalf,
    handle: Handle,
    id: ChannelId,
    shared: Arc<Shared>,
    replies: mpsc::Sender<bool>,
    mut inject: mpsc::Receiver<bytes::Bytes>,
) {
    let mut cut: Option<&'static str> = None;
    // The target's EOF is held until its exit status has been passed on:
    // a client that has both EOFs closes the channel, and russh answers
    // that close at once, so an exit status arriving after it would be
    // lost and the client would report failure (ssh's 255).
    let mut exited = false;
    let mut eof_held = false;
    loop {
        // The bastion's own answers go out only between the target's
        // packets, and then first: during a download the target's stream is
        // part-way through a 255 KiB DATA most of the time, so every
        // boundary drains all that wait.
        let between_packets = shared.target_between_packets();
        let msg = tokio::select! {
            biased;
            Some(answer) = inject.recv(), if between_packets => {
                if handle.data(id, answer).await.is_err() {
                    break;
                }
                continue;
            }
            msg = read.wait() => msg,
        };
        let Some(msg) = msg else { break };
        match msg {
            ChannelMsg::Data { data } => {
                shared.bytes_out.fetch_add(data.len() as u64, Ordering::Relaxed);
                if let Some(tapped) = shared.files_from_target(&data) {
                    let events = match tapped {
                        Ok(events) => events,
                        Err(reason) => {
                            cut = Some(reason);
                            break;
                        }
                    };
                    if shared.record_files(events).await.is_err() {
                        cut = Some("audit_failed");
                        break;
                    }
                    if handle.data(id, data).await.is_err() {
                        break;
                    }
                    continue;
                }
                if let Some(gate) = shared.gate() {
                    gate.output(&data);
                }
                if shared.record(|r| r.output(&data)).is_err() {
                    cut = Some("recording_failed");
                    break;
                }
                if handle.data(id, data).await.is_err() {
                    break;
                }
            }
            ChannelMsg::ExtendedData { data, ext } => {
                shared.bytes_out.fetch_add(data.len() as u64, Ordering::Relaxed);
                if shared.record(|r| r.output(&data)).is_err() {
                    cut = Some("recording_failed");
                    break;
                }
                if handle.extended_data(id, ext, data).await.is_err() {
                    break;
                }
            }
            ChannelMsg::Eof if exited => {
                let _ = handle.eof(id).await;
            }
            ChannelMsg::Eof => eof_held = true,
            ChannelMsg::ExitStatus { exit_status } => {
                if let Ok(mut s) = shared.exit_status.lock() {
                    *s = Some(exit_status);
                }
                let _ = handle.exit_status_request(id, exit_status).await;
                exited = true;
                if std::mem::take(&mut eof_held) {
                    let _ = handle.eof(id).await;
                }
            }
            ChannelMsg::ExitSignal { signal_name, core_dumped, error_message, lang_tag } => {
                let _ = handle.exit_signal_request(id, signal_name, core_dumped, error_message, lang_tag).await;
                exited = true;
                if std::mem::take(&mut eof_held) {
                    let _ = handle.eof(id).await;
                }
            }
            ChannelMsg::Success => {
                let _ = replies.try_send(true);
            }
            ChannelMsg::Failure => {
                let _ = replies.try_send(false);
            }
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    if eof_held {
        let _ = handle.eof(id).await;
    }
    if let Some(reason) = cut {
        tracing::error!(session = %shared.session_id, reason, "cutting the session");
        let notice = match reason {
            "recording_failed" => "\r\nrampart: the session recording failed; the session is cut\r\n",
            "audit_failed" => "\r\nrampart: a file transfer could not be audited; the session is cut\r\n",
            "scp_protocol_error" => "\r\nrampart: the target broke the scp protocol; the session is cut\r\n",
            _ => "\r\nrampart: the target broke the SFTP protocol; the session is cut\r\n",
        };
        let _ = handle.extended_data(id, 1, bytes::Bytes::from_static(notice.as_bytes())).await;
        shared.end(Outcome::Failure, Some(reason)).await;
    } else {
        shared.end(Outcome::Success, None).await;
    }
    let _ = handle.close(id).await;
}

impl Connection {
    /// Starts shell, exec or sftp on a channel: grant, recording, ledger,
    /// then the request to the target.
    pub(super) async fn start_session(
        &mut self,
        channel: ChannelId,
        kind: Kind,
        command: Option<&[u8]>,
        session: &mut server::Session,
    ) -> Result<(), super::ConnError> {
        let (Some(user), Some(target)) = (self.user.clone(), self.target.clone()) else {
            return self.answer(session, channel, false);
        };
        let Some(chan) = self.channels.get(&channel) else { return self.answer(session, channel, false) };
        if chan.shared.started.load(Ordering::SeqCst) {
            return self.answer(session, channel, false);
        }
        let shared = chan.shared.clone();
        let pty = chan.pty.clone();
        let (env, env_refused) = (chan.env.clone(), chan.env_refused.clone());
        let command_text = command.map(|c| String::from_utf8_lossy(c).into_owned());
        // Legacy `scp -O` execs `scp -t PATH` (upload) or `scp -f PATH`
        // (download). Recognised strictly, with a path the target's shell
        // takes literally, it is a file transfer: held to sftp-write or
        // sftp-read like the SFTP subsystem, and audited file by file.
        // Any other command line, `scp` with a path the shell would
        // interpret included, stays an exec.
        let scp_command = match (kind, command) {
            (Kind::Exec, Some(cmd)) => scp::Command::parse(cmd),
            _ => None,
        };
        let kind = if scp_command.is_some() { Kind::Scp } else { kind };
        // SFTP needs sftp-read or sftp-write; the tap then refuses, request
        // by request, what the other would have allowed.
        let (action, grant, allow) = match kind {
            Kind::Shell => (Action::Shell, self.grant_for(&user, &target, Action::Shell).await, None),
            Kind::Exec => (Action::Exec, self.grant_for(&user, &target, Action::Exec).await, None),
            Kind::Scp => {
                let action = match scp_command.as_ref().map(|c| c.mode) {
                    Some(scp::Mode::Source) => Action::SftpRead,
                    _ => Action::SftpWrite,
                };
                (action, self.grant_for(&user, &target, action).await, None)
            }
            Kind::Sftp => {
                let read = self.grant_for(&user, &target, Action::SftpRead).await;
                let write = self.grant_for(&user, &target, Action::SftpWrite).await;
                let allow = sftp::Allow { read: read.is_some(), write: write.is_some() };
                match (read, write) {
                    (Some(g), _) => (Action::SftpRead, Some(g), Some(allow)),
                    (None, g) => (Action::SftpWrite, g, Some(allow)),
                }
            }
        };
        let Some(grant) = grant else {
            let mut event = self.event("bastion.session.refused", Outcome::Denied).attr("action", kind.as_str());
            if kind == Kind::Scp {
                event = event.attr("missing_grant", action.as_str());
            }
            self.refused("action_not_granted", event).await;
            return self.answer(session, channel, false);
        };
        let target_labels = crate::targets::label_map(&target.labels);
        let scope =
            Scope { user: user.username.clone(), target: target.name.clone(), target_labels, ..Scope::default() };
        // An exec command is a command line like any other: decided and in
        // the ledger before it reaches the target.
        if let (Kind::Exec | Kind::Scp, Some(cmd)) = (kind, &command_text) {
            let decision = redline::decide(self.bastion.red_lines(), &scope, cmd, None);
            let verdicts = Verdicts { decision, line: cmd.clone(), screen: None, certain: true, doubts: Vec::new() };
            let recorded = shared.record_command(&verdicts, "exec").await;
            if !verdicts.lets_through() || recorded.is_err() {
                // As a shell would answer a command it refuses: the channel
                // opens, the reason goes to stderr, the exit status is 126,
                // and nothing was sent to the target.
                let notice = if recorded.is_ok() {
                    verdicts.refusal()
                } else {
                    "rampart: the command could not be recorded, so it was not run\r\n".to_owned()
                };
                reply(session, channel, true)?;
                let _ = session.extended_data(channel, 1, bytes::Bytes::from(notice.trim_start().as_bytes().to_vec()));
                let _ = session.exit_status_request(channel, 126);
                let _ = session.eof(channel);
                let _ = session.close(channel);
                if let Some(chan) = self.channels.remove(&channel) {
                    let _ = chan.write.close().await;
                }
                return Ok(());
            }
        }
        let mut started = shared.base.clone();
        started.kind = "bastion.session.started".into();
        let mut started = started
            .attr("action", kind.as_str())
            .attr("grant", grant.id.as_str())
            .attr("login", target.login.as_str())
            .attr("address", format!("{}:{}", target.address, target.port));
        if let Some(cmd) = &command_text {
            started = started.attr("command", cmd.as_str());
        }
        if let Some(allow) = allow {
            started = started.attr("sftp_read", allow.read).attr("sftp_write", allow.write);
        }
        if !env.is_empty() {
            started = started.attr("env", env);
        }
        if !env_refused.is_empty() {
            started = started.attr("env_refused", env_refused);
        }
        // Shell and exec sessions are recorded; SFTP and legacy scp are
        // binary protocols with no terminal to replay: every file they
        // touch is a ledger event of its own (path, bytes, SHA-256), from
        // their tap.
        if kind.recorded() {
            let (cols, rows) = pty.as_ref().map_or((80, 24), |(_, c, r)| (*c, *r));
            let header = Header {
                width: u16::try_from(cols).unwrap_or(u16::MAX),
                height: u16::try_from(rows).unwrap_or(u16::MAX),
                timestamp: u64::try_from(rampart_core::time::now_ms() / 1000).ok(),
                shell: None,
                term: pty.as_ref().map(|(t, _, _)| t.clone()),
                title: Some(format!("{}@{}", user.username, target.name)),
            };
            let dir = self.bastion.inner.paths.recordings.clone();
            let max = self.bastion.config().recording_max_bytes;
            // Encrypted at rest under a data key of its own; without one
            // (the KMS sealed or unreachable) the recording fails like a
            // full disk would.
            let seal = self.bastion.recording_seal(shared.session_id.as_str()).await;
            let key_id = seal.as_ref().ok().map(|(h, _)| h.key_id.clone());
            let created = match &seal {
                Ok((seal, key)) => Recorder::create(&dir, shared.session_id.as_str(), &header, max, Some((seal, key))),
                Err(e) => Err(RecordingError::Io(std::io::Error::other(format!("no recording data key: {e}")))),
            }
            .and_then(|mut r| {
                if let Some(cmd) = &command_text {
                    r.marker(&format!("exec: {cmd}"))?;
                }
                Ok(r)
            });
            drop(seal);
            match created {
                Ok(r) => {
                    started = started
                        .attr("recording", dir.join(format!("{}.cast", shared.session_id)).display().to_string());
                    if let Some(key_id) = key_id {
                        started = started.attr("recording_key", key_id);
                    }
                    if let Ok(mut slot) = shared.recorder.lock() {
                        *slot = Some(r);
                    }
                }
                Err(e) if self.bastion.config().recording_mode == RecordingMode::Async => {
                    shared.lose_recording(&e);
                    started = started.attr("recording_lost", true);
                }
                Err(e) => {
                    tracing::error!(error = %e, "creating a session recording failed; refusing the session");
                    let event = self.event("bastion.session.refused", Outcome::Failure).attr("action", kind.as_str());
                    self.refused("recording_failed", event).await;
                    return self.answer(session, channel, false);
                }
            }
        }
        // The start is in the ledger before anything reaches the target.
        if let Err(e) = self.bastion.audit().record(started).await {
            tracing::error!(error = %e, "recording a session start failed; refusing the session");
            return self.answer(session, channel, false);
        }
        // The index row that lists the session and carries a termination
        // request to this node; without it the session could not be
        // terminated, so it does not start.
        let row = rampart_store::SessionRow {
            id: shared.session_id.to_string(),
            connection_id: self.id.to_string(),
            user_id: user.id.to_string(),
            username: user.username.clone(),
            target: target.name.clone(),
            action: kind.as_str().to_owned(),
            login: target.login.clone(),
            command: command_text.clone(),
            recording: kind.recorded().then(|| {
                self.bastion.inner.paths.recordings.join(format!("{}.cast", shared.session_id)).display().to_string()
            }),
            started_at: rampart_core::time::now_ms(),
            ended_at: None,
            outcome: None,
            reason: None,
            recording_sha256: None,
            recording_bytes: None,
            terminate_by: None,
            terminate_at: None,
            recording_expired_at: None,
        };
        if let Err(e) = self.bastion.store().insert_bastion_session(&row).await {
            tracing::error!(error = %e, "indexing a session failed; refusing it");
            if let Ok(mut r) = shared.recorder.lock() {
                r.take();
            }
            return self.answer(session, channel, false);
        }
        let _ = shared.kind.set(kind);
        shared.started.store(true, Ordering::SeqCst);
        // On a target holding a tenant's data, the access is in the ledger
        // and the tenant's transparency view before the target sees it.
        if let Err(e) = self.bastion.record_lockbox_access(shared.session_id.as_str(), &user, &target).await {
            tracing::warn!(error = %e, session = %shared.session_id, "a lockbox access could not be recorded; refusing");
            shared.end(Outcome::Denied, Some("lockbox_not_approved")).await;
            return self.answer(session, channel, false);
        }
        if let (Some(allow), Ok(mut tap)) = (allow, shared.sftp.lock()) {
            *tap = Some(sftp::Tap::new(allow));
        }
        if let (Some(command), Ok(mut tap)) = (&scp_command, shared.scp.lock()) {
            *tap = Some(scp::Tap::new(command));
        }
        if let (Kind::Shell, Some((_, cols, rows))) = (kind, &pty)
            && let Ok(mut gate) = shared.gate.lock()
        {
            if let Ok(mut r) = shared.requester.lock() {
                *r = Some((user.id.clone(), user.username.clone(), target.name.clone()));
            }
            *gate = Some(Gate::new(self.bastion.red_lines().clone(), scope, *cols, *rows));
        }
        let Some(chan) = self.channels.get_mut(&channel) else { return self.answer(session, channel, false) };
        tokio::spawn(watch_grant(
            shared.clone(),
            chan.write.clone(),
            user.clone(),
            target.clone(),
            action,
            grant.not_after,
        ));
        let sent = match (kind, command) {
            (Kind::Shell, _) => chan.write.request_shell(true).await,
            (Kind::Exec | Kind::Scp, Some(cmd)) => chan.write.exec(true, cmd.to_vec()).await,
            (Kind::Exec | Kind::Scp, None) => Ok(()),
            (Kind::Sftp, _) => chan.write.request_subsystem(true, "sftp").await,
        };
        let ok = sent.is_ok() && chan.reply().await;
        self.answer(session, channel, ok)
    }

    /// The grant for `action`, or `None` (also when grants cannot be read:
    /// an access check that cannot be made is not a pass).
    pub(super) async fn grant_for(
        &self,
        user: &rampart_store::UserRow,
        target: &rampart_store::TargetRow,
        action: Action,
    ) -> Option<rampart_store::GrantRow> {
        match self.bastion.authorize(user, target, Some(action)).await {
            Ok(g) => g,
            Err(e) => {
                tracing::error!(error = %e, "reading grants failed");
                None
            }
        }
    }

    /// Cuts a session whose recording failed: nothing may happen unrecorded.
    pub(super) async fn cut(&mut self, channel: ChannelId, session: &mut server::Session) {
        if let Some(chan) = self.channels.remove(&channel) {
            tracing::error!(session = %chan.shared.session_id, "the session recording failed; cutting the session");
            let _ = chan.write.close().await;
            chan.shared.end(Outcome::Failure, Some("recording_failed")).await;
        }
        let _ = session.close(channel);
    }
}
