//! SFTP as the bastion sees it: the file-transfer protocol of `sftp` and of
//! OpenSSH's `scp` (which speaks SFTP since OpenSSH 9.0), version 3 as in
//! draft-ietf-secsh-filexfer-02 plus OpenSSH's extensions.
//!
//! The proxy follows SFTP packet by packet, so it can (a) refuse a request
//! the grant does not allow — answering it itself with
//! `SSH_FX_PERMISSION_DENIED`, the target never seeing any of it — and (b)
//! audit every file: path, bytes and SHA-256 of what went up or down, and
//! every removal, rename, directory change and attribute change with its
//! result. Each request is decided once its head is in (for a WRITE: id,
//! handle, offset and length); the payload of a WRITE or a DATA then flows
//! through as it arrives, hashed on the way, never gathered into a buffer.
//! [`Tap`] follows a live channel's bytes; [`Audit`] is the state machine
//! it feeds. No I/O here.
//!
//! Why by hand: the crates that speak SFTP (russh-sftp and others) are
//! servers or clients that own the session; a proxy needs a parser that
//! only looks, keeps nothing but ids and handles, and is bounded against a
//! hostile peer. The wire format is small (length, type, id, strings).

use std::collections::{BTreeMap, HashMap};

use aws_lc_rs::digest;

/// The largest packet accepted in either direction: OpenSSH's own limit
/// (`SFTP_MAX_MSG_LENGTH`, 256 KiB). A larger length field is hostile or
/// broken, and cuts the channel.
pub const MAX_PACKET: usize = 256 * 1024;

/// Requests awaiting an answer. OpenSSH's clients keep at most 64 (reads)
/// or a few hundred in flight; more is a peer trying to grow our memory.
pub const MAX_PENDING: usize = 4096;

/// Open handles tracked per channel; OpenSSH's server allows 512.
pub const MAX_HANDLES: usize = 1024;

/// How much read data may arrive ahead of a gap (responses out of order)
/// and still be hashed in order. Past this the hash of that file is given
/// up (the bytes are still counted and the event says why).
pub const MAX_REORDER: usize = 4 * 1024 * 1024;

// Packet types (filexfer-02 section 3).
const INIT: u8 = 1;
const VERSION: u8 = 2;
const OPEN: u8 = 3;
const CLOSE: u8 = 4;
const READ: u8 = 5;
const WRITE: u8 = 6;
const LSTAT: u8 = 7;
const FSTAT: u8 = 8;
const SETSTAT: u8 = 9;
const FSETSTAT: u8 = 10;
const OPENDIR: u8 = 11;
const READDIR: u8 = 12;
const REMOVE: u8 = 13;
const MKDIR: u8 = 14;
const RMDIR: u8 = 15;
const REALPATH: u8 = 16;
const STAT: u8 = 17;
const RENAME: u8 = 18;
const READLINK: u8 = 19;
const SYMLINK: u8 = 20;
const STATUS: u8 = 101;
const HANDLE: u8 = 102;
const DATA: u8 = 103;
const NAME: u8 = 104;
const ATTRS: u8 = 105;
const EXTENDED: u8 = 200;
const EXTENDED_REPLY: u8 = 201;

// Open flags.
const PF_READ: u32 = 0x01;
const PF_WRITE: u32 = 0x02;
const PF_APPEND: u32 = 0x04;
const PF_CREAT: u32 = 0x08;
const PF_TRUNC: u32 = 0x10;

/// `SSH_FX_OK`.
pub const FX_OK: u32 = 0;
/// `SSH_FX_PERMISSION_DENIED`.
pub const FX_PERMISSION_DENIED: u32 = 3;
/// `SSH_FX_OP_UNSUPPORTED`.
pub const FX_OP_UNSUPPORTED: u32 = 8;

/// Why a stream cannot be followed; the proxy cuts the channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SftpError {
    #[error("an SFTP packet of {0} bytes is over the {MAX_PACKET}-byte limit")]
    TooLarge(usize),
    #[error("a malformed SFTP packet (type {kind}): {what}")]
    Malformed { kind: u8, what: &'static str },
    #[error("more than {MAX_PENDING} SFTP requests outstanding")]
    TooManyPending,
    #[error("more than {MAX_HANDLES} SFTP handles open")]
    TooManyHandles,
}

/// The longest handle read ahead of a WRITE's data (filexfer-02: a handle
/// is at most 256 bytes). A WRITE with a longer one is not streamed but
/// held whole, like any other packet, and left to the audit to judge.
const MAX_STREAMED_HANDLE: usize = 256;

/// Past this, the buffer that held a large non-bulk packet is given back
/// rather than kept for the next one.
const KEEP_HEAD_CAPACITY: usize = 64 * 1024;

/// A piece of one direction's stream, as [`Cutter`] cuts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut<'a> {
    /// A whole packet, length prefix included.
    Whole(&'a [u8]),
    /// The head of a bulk packet (WRITE from the client, DATA from the
    /// target): everything up to and including its payload's length.
    Head(&'a [u8]),
    /// Payload bytes of the bulk packet whose head came last.
    Body(&'a [u8]),
}

/// How much of a packet's head [`Cutter`] still needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// The head must grow to this many bytes before anything can be said.
    Need(usize),
    /// The head is the whole packet.
    Whole,
    /// The head of a bulk packet whose `payload` bytes follow.
    Bulk { payload: usize },
}

fn be32(b: &[u8]) -> usize {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
}

/// What `head` (the first bytes of a packet) still needs, for a direction
/// whose bulk packet type is `bulk`.
fn plan(head: &[u8], bulk: u8) -> Result<Plan, SftpError> {
    if head.len() < 4 {
        return Ok(Plan::Need(4));
    }
    let len = be32(head);
    if len > MAX_PACKET {
        return Err(SftpError::TooLarge(len));
    }
    if len == 0 {
        return Err(SftpError::Malformed { kind: 0, what: "empty packet" });
    }
    let total = 4 + len;
    if head.len() < 5 {
        return Ok(Plan::Need(5));
    }
    // The head of a bulk packet ends with the payload's length: after the
    // id for DATA, after the id, handle and offset for WRITE.
    let fixed = match head[4] {
        kind if kind != bulk => None,
        DATA => Some(13),
        WRITE if total < 13 => None,
        WRITE if head.len() < 13 => return Ok(Plan::Need(13)),
        WRITE => Some(be32(&head[9..13])).filter(|h| *h <= MAX_STREAMED_HANDLE).map(|h| 25 + h),
        _ => None,
    };
    if let Some(fixed) = fixed.filter(|f| *f <= total) {
        if head.len() < fixed {
            return Ok(Plan::Need(fixed));
        }
        let payload = be32(&head[fixed - 4..fixed]);
        if fixed + payload == total {
            return Ok(Plan::Bulk { payload });
        }
        // A payload length that disagrees with the packet's: held whole,
        // for the audit to read as it reads every other packet.
    }
    Ok(if head.len() < total { Plan::Need(total) } else { Plan::Whole })
}

/// Cuts one direction's bytes into packets without holding the bulk: a
/// WRITE's or DATA's payload is passed on as it arrives, so the relay
/// neither copies up to 256 KiB per request into a buffer nor waits for a
/// whole request before forwarding its first byte. Every other packet is
/// held until whole (at most [`MAX_PACKET`] bytes).
#[derive(Debug, Default)]
struct Cutter {
    head: Vec<u8>,
    /// Payload bytes of the current bulk packet still to come.
    body_left: usize,
}

impl Cutter {
    /// Cuts `data`, handing each piece to `f` in stream order. After an
    /// error the stream cannot be resynchronised: the channel must be cut.
    fn cut(
        &mut self,
        bulk: u8,
        mut data: &[u8],
        mut f: impl FnMut(Cut<'_>) -> Result<(), SftpError>,
    ) -> Result<(), SftpError> {
        loop {
            if self.body_left > 0 {
                if data.is_empty() {
                    return Ok(());
                }
                let (body, rest) = data.split_at(self.body_left.min(data.len()));
                self.body_left -= body.len();
                data = rest;
                f(Cut::Body(body))?;
                continue;
            }
            match plan(&self.head, bulk)? {
                Plan::Need(n) => {
                    if data.is_empty() {
                        return Ok(());
                    }
                    let (more, rest) = data.split_at((n - self.head.len()).min(data.len()));
                    self.head.extend_from_slice(more);
                    data = rest;
                }
                Plan::Whole => {
                    f(Cut::Whole(&self.head))?;
                    self.reset_head();
                }
                Plan::Bulk { payload } => {
                    f(Cut::Head(&self.head))?;
                    self.reset_head();
                    self.body_left = payload;
                }
            }
        }
    }

    fn reset_head(&mut self) {
        if self.head.capacity() > KEEP_HEAD_CAPACITY {
            self.head = Vec::new();
        } else {
            self.head.clear();
        }
    }

    /// No packet is part-way through.
    fn at_boundary(&self) -> bool {
        self.body_left == 0 && self.head.is_empty()
    }

    /// Bytes held that do not make a packet or a head yet.
    fn held(&self) -> usize {
        self.head.len()
    }
}

/// What becomes of a chunk of the client's bytes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FromClient {
    /// The bytes to pass on to the target, in order.
    pub forward: Vec<u8>,
    /// Whole packets to send back to the client instead of requests it
    /// may not make (each an `SSH_FXP_STATUS`).
    pub answers: Vec<Vec<u8>>,
}

/// One SFTP channel followed in place: the client's requests decided on
/// as they arrive, the target's answers passed back unchanged, both
/// audited. The proxy feeds it each direction's bytes as they come.
#[derive(Debug)]
pub struct Tap {
    audit: Audit,
    client: Cutter,
    target: Cutter,
}

impl Tap {
    pub fn new(allow: Allow) -> Self {
        Tap { audit: Audit::new(allow), client: Cutter::default(), target: Cutter::default() }
    }

    /// Follows the client's bytes: what goes on to the target (at most
    /// `data.len()` bytes, copied once) and what is answered instead.
    pub fn from_client(&mut self, data: &[u8]) -> Result<FromClient, SftpError> {
        let mut out = FromClient { forward: Vec::with_capacity(data.len()), answers: Vec::new() };
        let Tap { audit, client, .. } = self;
        client.cut(WRITE, data, |cut| {
            match cut {
                Cut::Body(body) => {
                    if audit.client_body(body) {
                        out.forward.extend_from_slice(body);
                    }
                }
                Cut::Whole(packet) | Cut::Head(packet) => {
                    let verdict =
                        if let Cut::Whole(_) = cut { audit.client(packet)? } else { audit.client_head(packet)? };
                    match verdict {
                        Verdict::Forward => out.forward.extend_from_slice(packet),
                        Verdict::Answer(reply) => out.answers.push(reply),
                    }
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Follows the target's bytes, which all go back to the client as they
    /// are: the target's answers are audited, never changed.
    pub fn from_target(&mut self, data: &[u8]) -> Result<(), SftpError> {
        let Tap { audit, target, .. } = self;
        target.cut(DATA, data, |cut| match cut {
            Cut::Whole(packet) => audit.server(packet),
            Cut::Head(head) => audit.server_head(head),
            Cut::Body(body) => {
                audit.server_body(body);
                Ok(())
            }
        })
    }

    /// The target's stream is between packets, so a packet of the
    /// bastion's own (an answer to a refused request) may go to the client
    /// without splitting one of the target's.
    pub fn target_at_boundary(&self) -> bool {
        self.target.at_boundary()
    }

    /// Bytes held per direction (client, target) that do not make a
    /// packet or a head yet: bounded by [`MAX_PACKET`] plus the prefix.
    pub fn held(&self) -> (usize, usize) {
        (self.client.held(), self.target.held())
    }

    /// The file events completed since the last call.
    pub fn take_events(&mut self) -> Vec<FileEvent> {
        self.audit.take_events()
    }

    /// The channel ended: handles still open are reported as unclosed.
    pub fn finish(&mut self) -> Vec<FileEvent> {
        self.audit.finish()
    }

    /// Handles being followed (for bounds in tests and fuzzing).
    pub fn open_handles(&self) -> usize {
        self.audit.open_handles()
    }
}

/// What the grant allows on this channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Allow {
    pub read: bool,
    pub write: bool,
}

/// What a request needs from the grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Metadata any SFTP grant may see (stat, realpath, close, limits).
    Either,
    Read,
    Write,
    Both,
}

impl Allow {
    fn permits(self, need: Need) -> bool {
        match need {
            Need::Either => self.read || self.write,
            Need::Read => self.read,
            Need::Write => self.write,
            Need::Both => self.read && self.write,
        }
    }

    fn missing(self, need: Need) -> &'static str {
        match need {
            Need::Read if !self.read => "sftp-read",
            Need::Write if !self.write => "sftp-write",
            Need::Both if !self.read => "sftp-read",
            Need::Both => "sftp-write",
            _ => "sftp-read or sftp-write",
        }
    }
}

/// What happened to a file, for the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEvent {
    /// `download`, `upload`, `list`, `remove`, `rename`, `mkdir`, `rmdir`,
    /// `setstat`, `symlink`, `hardlink`, `copy` or `extended:NAME`.
    pub op: String,
    pub path: String,
    /// The second path of a rename, link or copy.
    pub to: Option<String>,
    /// Legacy scp only: the file name the client sent, when `path` is the
    /// command's target path and the bastion cannot tell whether the file
    /// landed at it or inside it (see [`crate::scp`]).
    pub name: Option<String>,
    /// Bytes transferred (or directory entries listed, for `list`).
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the bytes transferred, when they were
    /// contiguous from offset 0; `None` with `hash_note` saying why not.
    pub sha256: Option<String>,
    pub hash_note: Option<&'static str>,
    pub result: FileResult,
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileResult {
    /// The target did it (or the handle was closed after the transfer).
    Done,
    /// The target answered with this `SSH_FX_*` status and message.
    Failed { code: u32, message: String },
    /// Rampart refused it; the target never saw it. The grant lacked this.
    Refused { missing: &'static str },
    /// The channel ended with the handle still open.
    Unclosed,
}

impl FileResult {
    pub fn name(&self) -> &'static str {
        match self {
            FileResult::Done => "done",
            FileResult::Failed { .. } => "failed",
            FileResult::Refused { .. } => "refused",
            FileResult::Unclosed => "unclosed",
        }
    }
}

/// What becomes of the payload being fed to a [`Stream`].
#[derive(Debug)]
enum Feeding {
    /// At the next offset: hashed as it comes.
    Take,
    /// Ahead of a gap: held (within [`MAX_REORDER`]) and hashed once the
    /// gap fills.
    Ahead { offset: u64, data: Vec<u8> },
    /// Counted only: the hash was given up, or the payload is empty.
    Count,
}

/// The bytes of one direction of one open file, hashed in offset order.
/// A payload (one WRITE's or one DATA's) is fed as `begin`, any number of
/// `piece`s, `end`: every decision is taken at `begin` and at `end`, so how
/// the payload is cut into pieces changes nothing.
struct Stream {
    bytes: u64,
    next: u64,
    hasher: Option<digest::Context>,
    /// Payloads that arrived ahead of `next`, by offset.
    ahead: BTreeMap<u64, Vec<u8>>,
    ahead_bytes: usize,
    broken: Option<&'static str>,
    /// The payload being fed, between `begin` and `end`.
    feeding: Option<Feeding>,
}

impl std::fmt::Debug for Stream {
    // The hash context has no Debug of its own.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("bytes", &self.bytes)
            .field("next", &self.next)
            .field("hashing", &self.hasher.is_some())
            .field("ahead_bytes", &self.ahead_bytes)
            .field("broken", &self.broken)
            .field("feeding", &self.feeding)
            .finish()
    }
}

impl Stream {
    fn new() -> Self {
        Stream {
            bytes: 0,
            next: 0,
            hasher: Some(digest::Context::new(&digest::SHA256)),
            ahead: BTreeMap::new(),
            ahead_bytes: 0,
            broken: None,
            feeding: None,
        }
    }

    fn give_up(&mut self, why: &'static str) {
        if self.broken.is_none() {
            self.broken = Some(why);
        }
        self.hasher = None;
        self.ahead.clear();
        self.ahead_bytes = 0;
    }

    /// A whole payload at `offset`.
    fn feed(&mut self, offset: u64, data: &[u8]) {
        self.begin(offset, data.len());
        self.piece(data);
        self.end();
    }

    /// A payload of `len` bytes at `offset` starts.
    fn begin(&mut self, offset: u64, len: usize) {
        let feeding = if self.hasher.is_none() || len == 0 {
            Feeding::Count
        } else if offset < self.next {
            // A rewrite or a re-read of bytes already hashed: the hash of
            // "what was transferred" no longer describes one file.
            self.give_up("overlapping offsets");
            Feeding::Count
        } else if offset > self.next {
            if self.ahead_bytes + len > MAX_REORDER || self.ahead.contains_key(&offset) {
                self.give_up("offsets too far out of order");
                Feeding::Count
            } else {
                self.ahead_bytes += len;
                Feeding::Ahead { offset, data: Vec::with_capacity(len) }
            }
        } else {
            Feeding::Take
        };
        self.feeding = Some(feeding);
    }

    /// Bytes of the payload begun last.
    fn piece(&mut self, data: &[u8]) {
        self.bytes = self.bytes.saturating_add(data.len() as u64);
        match &mut self.feeding {
            Some(Feeding::Take) => self.take(data),
            Some(Feeding::Ahead { data: held, .. }) => held.extend_from_slice(data),
            Some(Feeding::Count) | None => {}
        }
    }

    /// The payload begun last is complete.
    fn end(&mut self) {
        match self.feeding.take() {
            Some(Feeding::Take) => self.drain(),
            Some(Feeding::Ahead { offset, data }) => {
                self.ahead.insert(offset, data);
            }
            Some(Feeding::Count) | None => {}
        }
    }

    /// Hashes the payloads held ahead that the stream has now reached.
    fn drain(&mut self) {
        while let Some(entry) = self.ahead.first_entry() {
            if *entry.key() > self.next {
                break;
            }
            let (offset, chunk) = entry.remove_entry();
            self.ahead_bytes -= chunk.len();
            if offset < self.next {
                self.give_up("overlapping offsets");
                return;
            }
            self.take(&chunk);
        }
    }

    fn take(&mut self, data: &[u8]) {
        if let Some(h) = self.hasher.as_mut() {
            h.update(data);
        }
        self.next = self.next.saturating_add(data.len() as u64);
    }

    fn finish(self) -> (u64, Option<String>, Option<&'static str>) {
        if !self.ahead.is_empty() || matches!(self.feeding, Some(Feeding::Ahead { .. })) {
            return (self.bytes, None, Some("a gap in the offsets"));
        }
        match self.hasher {
            Some(h) => (self.bytes, Some(hex(h.finish().as_ref())), None),
            None => (self.bytes, None, self.broken),
        }
    }
}

/// Lowercase hex, as file hashes appear in events (SFTP and scp).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug)]
enum Open {
    // Boxed: a hash context is large, and most handles are directories or
    // short-lived.
    File { path: String, read: Box<Stream>, write: Box<Stream>, writing: bool },
    Dir { path: String, entries: u64 },
}

#[derive(Debug)]
enum Pending {
    Open {
        path: String,
        writing: bool,
    },
    OpenDir {
        path: String,
    },
    Read {
        handle: Vec<u8>,
        offset: u64,
    },
    ReadDir {
        handle: Vec<u8>,
    },
    /// An operation reported when its status arrives.
    Op {
        op: String,
        path: String,
        to: Option<String>,
    },
    /// Answered, nothing to report (stat, realpath, write, close...).
    Quiet,
}

/// What to do with a client packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Pass it on to the target.
    Forward,
    /// Do not pass it on; send this packet back to the client instead.
    Answer(Vec<u8>),
}

/// Which of an open file's two streams a payload belongs to.
#[derive(Debug, Clone, Copy)]
enum Direction {
    /// DATA from the target (a download).
    Read,
    /// WRITE from the client (an upload).
    Write,
}

/// The `direction` stream of the file open under `handle`, if one is.
fn stream<'a>(handles: &'a mut HashMap<Vec<u8>, Open>, handle: &[u8], direction: Direction) -> Option<&'a mut Stream> {
    match (handles.get_mut(handle)?, direction) {
        (Open::File { read, .. }, Direction::Read) => Some(read),
        (Open::File { write, .. }, Direction::Write) => Some(write),
        (Open::Dir { .. }, _) => None,
    }
}

/// A piece of a streamed payload: fed to the file `sink` names, whose
/// stream ends the payload with its last byte.
fn sink_piece(sink: &mut Sink, handles: &mut HashMap<Vec<u8>, Open>, direction: Direction, body: &[u8]) {
    let Sink::File { handle, left } = sink else { return };
    *left = left.saturating_sub(body.len());
    if let Some(stream) = stream(handles, handle, direction) {
        stream.piece(body);
        if *left == 0 {
            stream.end();
        }
    }
}

/// Where the payload of a streamed WRITE or DATA goes.
#[derive(Debug, Default)]
enum Sink {
    /// Passed on, not part of a file being followed.
    #[default]
    Pass,
    /// Not passed on: the WRITE it belongs to was refused.
    Drop,
    /// Part of the file behind `handle`; `left` bytes of it still to come.
    File { handle: Vec<u8>, left: usize },
}

/// One SFTP channel's audit: feed it every client packet (before it is
/// passed on) and every target packet (before it is passed back), then
/// take the file events it has completed. [`Tap`] feeds it from the bytes
/// of a live channel; whole packets may also be given to
/// [`Audit::client`] and [`Audit::server`].
#[derive(Debug)]
pub struct Audit {
    allow: Allow,
    pending: HashMap<u32, Pending>,
    handles: HashMap<Vec<u8>, Open>,
    events: Vec<FileEvent>,
    /// Where the payload of the client's current streamed WRITE goes.
    client_sink: Sink,
    /// Where the payload of the target's current streamed DATA goes.
    target_sink: Sink,
}

impl Audit {
    pub fn new(allow: Allow) -> Self {
        Audit {
            allow,
            pending: HashMap::new(),
            handles: HashMap::new(),
            events: Vec::new(),
            client_sink: Sink::Pass,
            target_sink: Sink::Pass,
        }
    }

    /// The file events completed since the last call.
    pub fn take_events(&mut self) -> Vec<FileEvent> {
        std::mem::take(&mut self.events)
    }

    /// Decides on one whole packet from the client.
    pub fn client(&mut self, packet: &[u8]) -> Result<Verdict, SftpError> {
        self.request(packet, false)
    }

    /// Decides on the head of a WRITE whose payload follows in pieces
    /// through [`Audit::client_body`].
    fn client_head(&mut self, head: &[u8]) -> Result<Verdict, SftpError> {
        self.request(head, true)
    }

    /// A piece of the current WRITE's payload: followed, and whether it
    /// goes on (not if the WRITE was refused).
    fn client_body(&mut self, body: &[u8]) -> bool {
        sink_piece(&mut self.client_sink, &mut self.handles, Direction::Write, body);
        !matches!(self.client_sink, Sink::Drop)
    }

    /// Decides on a request; `streamed` when `packet` is only the head of a
    /// WRITE (up to its payload's length).
    fn request(&mut self, packet: &[u8], streamed: bool) -> Result<Verdict, SftpError> {
        let mut r = Reader::packet(packet)?;
        let kind = r.kind;
        if kind == INIT {
            return Ok(Verdict::Forward);
        }
        let id = r.u32()?;
        if self.pending.len() >= MAX_PENDING {
            return Err(SftpError::TooManyPending);
        }
        // A WRITE's file, offset, payload length and (when whole) payload,
        // followed once the grant allows it.
        let mut write_to: Option<(&[u8], u64, usize, &[u8])> = None;
        let (need, pending) = match kind {
            OPEN => {
                let path = r.path()?;
                let flags = r.u32()?;
                let writing = flags & (PF_WRITE | PF_APPEND | PF_CREAT | PF_TRUNC) != 0;
                let need = match (flags & PF_READ != 0, writing) {
                    (true, true) => Need::Both,
                    (_, true) => Need::Write,
                    _ => Need::Read,
                };
                (need, Pending::Open { path, writing })
            }
            CLOSE => {
                let handle = r.string()?.to_vec();
                self.close(&handle);
                (Need::Either, Pending::Quiet)
            }
            READ => {
                let handle = r.string()?.to_vec();
                let offset = r.u64()?;
                (Need::Read, Pending::Read { handle, offset })
            }
            WRITE => {
                let handle = r.string()?;
                let offset = r.u64()?;
                let (len, data) = if streamed {
                    (r.u32()? as usize, &[][..])
                } else {
                    let data = r.string()?;
                    (data.len(), data)
                };
                write_to = Some((handle, offset, len, data));
                (Need::Write, Pending::Quiet)
            }
            LSTAT | STAT | REALPATH | FSTAT => (Need::Either, Pending::Quiet),
            SETSTAT => (Need::Write, op("setstat", r.path()?, None)),
            FSETSTAT => {
                let path = self.handle_path(r.string()?);
                (Need::Write, op("setstat", path, None))
            }
            OPENDIR => (Need::Read, Pending::OpenDir { path: r.path()? }),
            READDIR => (Need::Read, Pending::ReadDir { handle: r.string()?.to_vec() }),
            REMOVE => (Need::Write, op("remove", r.path()?, None)),
            MKDIR => (Need::Write, op("mkdir", r.path()?, None)),
            RMDIR => (Need::Write, op("rmdir", r.path()?, None)),
            READLINK => (Need::Read, Pending::Quiet),
            RENAME => {
                let from = r.path()?;
                (Need::Write, op("rename", from, Some(r.path()?)))
            }
            SYMLINK => {
                let a = r.path()?;
                (Need::Write, op("symlink", a, Some(r.path()?)))
            }
            EXTENDED => self.extended(&mut r)?,
            _ => {
                // Nothing passes that the audit cannot read.
                return Ok(Verdict::Answer(status(id, FX_OP_UNSUPPORTED, "rampart: unsupported SFTP request")));
            }
        };
        if !self.allow.permits(need) {
            let missing = self.allow.missing(need);
            let refused = match pending {
                Pending::Open { path, writing } => {
                    Some((if writing { "upload" } else { "download" }.to_owned(), path, None))
                }
                Pending::OpenDir { path } => Some(("list".to_owned(), path, None)),
                Pending::Op { op, path, to } => Some((op, path, to)),
                _ => None,
            };
            if let Some((op, path, to)) = refused {
                self.events.push(FileEvent {
                    op,
                    path,
                    to,
                    name: None,
                    bytes: 0,
                    sha256: None,
                    hash_note: None,
                    result: FileResult::Refused { missing },
                });
            }
            let message = format!("rampart: {missing} is not granted on this target");
            self.client_sink = Sink::Drop;
            return Ok(Verdict::Answer(status(id, FX_PERMISSION_DENIED, &message)));
        }
        self.pending.insert(id, pending);
        if let Some((handle, offset, len, data)) = write_to {
            let file = stream(&mut self.handles, handle, Direction::Write);
            if !streamed {
                if let Some(write) = file {
                    write.feed(offset, data);
                }
            } else if len == 0 {
                self.client_sink = Sink::Pass;
            } else {
                if let Some(write) = file {
                    write.begin(offset, len);
                }
                self.client_sink = Sink::File { handle: handle.to_vec(), left: len };
            }
        }
        Ok(Verdict::Forward)
    }

    fn extended(&mut self, r: &mut Reader<'_>) -> Result<(Need, Pending), SftpError> {
        let name = String::from_utf8_lossy(r.string()?).into_owned();
        Ok(match name.as_str() {
            "posix-rename@openssh.com" => {
                let from = r.path()?;
                (Need::Write, op("rename", from, Some(r.path()?)))
            }
            "hardlink@openssh.com" => {
                let from = r.path()?;
                (Need::Write, op("hardlink", from, Some(r.path()?)))
            }
            "lsetstat@openssh.com" => (Need::Write, op("setstat", r.path()?, None)),
            "copy-data" => {
                let from = self.handle_path(r.string()?);
                let _ = (r.u64()?, r.u64()?);
                let to = self.handle_path(r.string()?);
                (Need::Both, op("copy", from, Some(to)))
            }
            "statvfs@openssh.com"
            | "fstatvfs@openssh.com"
            | "fsync@openssh.com"
            | "limits@openssh.com"
            | "expand-path@openssh.com"
            | "home-directory"
            | "users-groups-by-id@openssh.com" => (Need::Either, Pending::Quiet),
            _ => (Need::Both, op(&format!("extended:{}", truncate(&name)), String::new(), None)),
        })
    }

    /// Follows the head of a DATA whose payload follows in pieces through
    /// [`Audit::server_body`].
    fn server_head(&mut self, head: &[u8]) -> Result<(), SftpError> {
        let mut r = Reader::packet(head)?;
        let id = r.u32()?;
        let len = r.u32()? as usize;
        self.target_sink = match self.pending.remove(&id) {
            Some(Pending::Read { handle, offset }) if len > 0 => {
                if let Some(read) = stream(&mut self.handles, &handle, Direction::Read) {
                    read.begin(offset, len);
                }
                Sink::File { handle, left: len }
            }
            _ => Sink::Pass,
        };
        Ok(())
    }

    /// A piece of the current DATA's payload.
    fn server_body(&mut self, body: &[u8]) {
        sink_piece(&mut self.target_sink, &mut self.handles, Direction::Read, body);
    }

    /// Follows one whole packet from the target.
    pub fn server(&mut self, packet: &[u8]) -> Result<(), SftpError> {
        let mut r = Reader::packet(packet)?;
        if r.kind == VERSION {
            return Ok(());
        }
        let id = r.u32()?;
        let Some(pending) = self.pending.remove(&id) else { return Ok(()) };
        match (r.kind, pending) {
            (HANDLE, Pending::Open { path, writing }) => {
                self.add_handle(
                    r.string()?.to_vec(),
                    Open::File { path, read: Box::new(Stream::new()), write: Box::new(Stream::new()), writing },
                )?;
            }
            (HANDLE, Pending::OpenDir { path }) => {
                self.add_handle(r.string()?.to_vec(), Open::Dir { path, entries: 0 })?;
            }
            (DATA, Pending::Read { handle, offset }) => {
                let data = r.string()?;
                if let Some(read) = stream(&mut self.handles, &handle, Direction::Read) {
                    read.feed(offset, data);
                }
            }
            (NAME, Pending::ReadDir { handle }) => {
                let count = r.u32()?;
                if let Some(Open::Dir { entries, .. }) = self.handles.get_mut(&handle) {
                    *entries = entries.saturating_add(u64::from(count));
                }
            }
            (STATUS, pending) => {
                let code = r.u32()?;
                let message = String::from_utf8_lossy(r.string().unwrap_or_default()).into_owned();
                let result = if code == FX_OK {
                    FileResult::Done
                } else {
                    FileResult::Failed { code, message: truncate(&message) }
                };
                match pending {
                    Pending::Op { op, path, to } => self.events.push(FileEvent {
                        op,
                        path,
                        to,
                        name: None,
                        bytes: 0,
                        sha256: None,
                        hash_note: None,
                        result,
                    }),
                    // An open the target refused is an attempt worth keeping.
                    Pending::Open { path, writing } if code != FX_OK => self.events.push(FileEvent {
                        op: if writing { "upload" } else { "download" }.into(),
                        path,
                        to: None,
                        name: None,
                        bytes: 0,
                        sha256: None,
                        hash_note: None,
                        result,
                    }),
                    Pending::OpenDir { path } if code != FX_OK => self.events.push(FileEvent {
                        op: "list".into(),
                        path,
                        to: None,
                        name: None,
                        bytes: 0,
                        sha256: None,
                        hash_note: None,
                        result,
                    }),
                    _ => {}
                }
            }
            (ATTRS | NAME | DATA | HANDLE | EXTENDED_REPLY, _) => {}
            (kind, _) => return Err(SftpError::Malformed { kind, what: "not a response type" }),
        }
        Ok(())
    }

    /// The channel ended: handles still open are reported as unclosed.
    pub fn finish(&mut self) -> Vec<FileEvent> {
        let mut handles: Vec<Vec<u8>> = self.handles.keys().cloned().collect();
        handles.sort_unstable();
        for h in handles {
            self.close_as(&h, FileResult::Unclosed);
        }
        self.take_events()
    }

    fn add_handle(&mut self, handle: Vec<u8>, open: Open) -> Result<(), SftpError> {
        if self.handles.len() >= MAX_HANDLES && !self.handles.contains_key(&handle) {
            return Err(SftpError::TooManyHandles);
        }
        // A handle the target reuses ends the file it named before.
        self.close(&handle);
        self.handles.insert(handle, open);
        Ok(())
    }

    fn handle_path(&self, handle: &[u8]) -> String {
        match self.handles.get(handle) {
            Some(Open::File { path, .. } | Open::Dir { path, .. }) => path.clone(),
            None => "(unknown handle)".into(),
        }
    }

    /// Reports the file behind `handle` and forgets it.
    fn close(&mut self, handle: &[u8]) {
        self.close_as(handle, FileResult::Done);
    }

    fn close_as(&mut self, handle: &[u8], result: FileResult) {
        let Some(open) = self.handles.remove(handle) else { return };
        let event = match open {
            Open::Dir { path, entries } => FileEvent {
                op: "list".into(),
                path,
                to: None,
                name: None,
                bytes: entries,
                sha256: None,
                hash_note: None,
                result,
            },
            Open::File { path, read, write, writing } => {
                // A file opened for writing reports what was written; one
                // opened for reading, what was read.
                let (op, stream) = if writing { ("upload", write) } else { ("download", read) };
                let (bytes, sha256, hash_note) = (*stream).finish();
                FileEvent { op: op.into(), path, to: None, name: None, bytes, sha256, hash_note, result }
            }
        };
        self.events.push(event);
    }
}

impl Audit {
    /// Handles being followed (for bounds in tests and fuzzing).
    pub fn open_handles(&self) -> usize {
        self.handles.len()
    }
}

fn op(name: &str, path: String, to: Option<String>) -> Pending {
    Pending::Op { op: name.to_owned(), path, to }
}

/// Paths and messages longer than this are cut in events: a hostile
/// client's 256 KiB "path" should not become a 256 KiB ledger entry.
const MAX_TEXT: usize = 4096;

/// Cuts a path or message for an event (SFTP and scp) at [`MAX_TEXT`].
pub(crate) fn truncate(text: &str) -> String {
    if text.len() <= MAX_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// An `SSH_FXP_STATUS` packet, length prefix included.
pub fn status(id: u32, code: u32, message: &str) -> Vec<u8> {
    let mut body = vec![STATUS];
    body.extend_from_slice(&id.to_be_bytes());
    body.extend_from_slice(&code.to_be_bytes());
    put_string(&mut body, message.as_bytes());
    put_string(&mut body, b"en");
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

/// Reads the fields of one packet.
struct Reader<'a> {
    kind: u8,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn packet(packet: &'a [u8]) -> Result<Self, SftpError> {
        match packet.get(4..) {
            Some([kind, rest @ ..]) => Ok(Reader { kind: *kind, rest }),
            _ => Err(SftpError::Malformed { kind: 0, what: "no packet type" }),
        }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], SftpError> {
        if self.rest.len() < n {
            return Err(SftpError::Malformed { kind: self.kind, what });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, SftpError> {
        let b = self.take(4, "truncated uint32")?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, SftpError> {
        let b = self.take(8, "truncated uint64")?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    fn string(&mut self) -> Result<&'a [u8], SftpError> {
        let len = self.u32()? as usize;
        self.take(len, "truncated string")
    }

    /// A path as text for the ledger: invalid UTF-8 is replaced, very long
    /// paths are cut.
    fn path(&mut self) -> Result<String, SftpError> {
        Ok(truncate(&String::from_utf8_lossy(self.string()?)))
    }
}

#[cfg(test)]
#[path = "sftp_tests.rs"]
mod tests;
