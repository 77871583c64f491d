//! Legacy `scp -O` as the bastion sees it: the old rcp protocol that
//! OpenSSH's `scp` speaks when told not to use SFTP. The client execs
//! `scp -t PATH` (sink: the target receives, an upload) or `scp -f PATH`
//! (source: the target sends, a download) on the target and the two ends
//! talk over the channel:
//!
//! - the *sender* writes control lines: `C<mode> <size> <name>\n` followed
//!   by exactly `size` bytes of data and a one-byte status (`\0`, or an
//!   error line), `D<mode> 0 <name>\n` to enter a directory, `E\n` to leave
//!   it, `T<mtime> <usec> <atime> <usec>\n` for the times of the next `C` or
//!   `D`, and `\x01msg\n` / `\x02msg\n` for its own errors;
//! - the *receiver* answers every control line and every file's end with
//!   `\0` (ok), `\x01msg\n` (error) or `\x02msg\n` (fatal), and sends a
//!   first `\0` when it is ready.
//!
//! In a sink session the client is the sender; in a source session the
//! target is. [`Command::parse`] recognises the command lines OpenSSH's
//! `scp` sends, strictly; [`Tap`] follows both directions of a channel
//! however the bytes are cut and reports every file (upload or download,
//! path, bytes, SHA-256, result) and, in a sink session, every directory
//! made. It only looks: the bytes pass unchanged. A stream it cannot follow
//! is an error, on which the proxy cuts the channel. No I/O here, and the
//! memory held is bounded whatever the peers send.
//!
//! A sender acts on each reply before it sends on (OpenSSH's `scp` waits
//! for the receiver's answer after every control line and file), so the
//! tap does too: whether the bytes after a `C` line are the file's data or
//! the next control line depends on that answer. A sender that goes on
//! before the answer has passed the bastion is out of turn, and cut.

use std::collections::VecDeque;

use aws_lc_rs::digest;

use crate::sftp::{FileEvent, FileResult, hex, truncate};

/// The longest control line or error message accepted, newline included.
/// OpenSSH reads at most 2 KiB; a line with no end in sight is hostile.
pub const MAX_LINE: usize = 4096;

/// Replies queued that no control line has asked for yet. OpenSSH's sink
/// sends at most one or two beyond its answers (a `set times` warning);
/// more is a peer trying to grow our memory.
pub const MAX_QUEUED_REPLIES: usize = 64;

/// The longest directory path followed (the command's path plus the
/// directories entered). Linux refuses paths past 4 KiB, so an honest
/// session stays far below this.
pub const MAX_DIR_PATH: usize = 64 * 1024;

/// File sizes are `off_t`: larger is out of range on any receiver.
const MAX_SIZE: u64 = i64::MAX as u64;

/// Why a stream cannot be followed; the proxy cuts the channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScpError {
    #[error("an scp control line or message over {MAX_LINE} bytes")]
    LineTooLong,
    #[error("a malformed scp control line: {0}")]
    Malformed(&'static str),
    #[error("an scp file name that is not one plain name: {0:?}")]
    BadName(String),
    #[error("an scp file size out of range")]
    SizeOverflow,
    #[error("the scp sender went on before the receiver answered")]
    OutOfTurn,
    #[error("an scp reply that is not \\0, \\1 or \\2 (byte {0:#04x})")]
    BadReply(u8),
    #[error("more than {MAX_QUEUED_REPLIES} scp replies that nothing asked for")]
    TooManyReplies,
    #[error("scp directories nested past a {MAX_DIR_PATH}-byte path")]
    TooDeep,
}

/// Which end the target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `scp -t`: the target receives (an upload).
    Sink,
    /// `scp -f`: the target sends (a download).
    Source,
}

/// A command line recognised as OpenSSH's `scp` talking to its remote end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub mode: Mode,
    /// The path as the command names it (the target's shell sees it too,
    /// which is why only safe characters are accepted; see [`Command::parse`]).
    pub path: String,
    pub recursive: bool,
    pub preserve: bool,
    /// `-d`: the path must be a directory (several sources were named).
    pub to_directory: bool,
}

impl Command {
    /// Recognises exactly what OpenSSH's `scp` (8.x to 10.x) sends:
    /// `scp [-v] [-r] [-p] [-d] -t|-f [--] PATH`, flags in that order and
    /// single spaces, `--` exactly when PATH starts with `-`.
    ///
    /// The command runs through the target's shell, so PATH must not mean
    /// anything to it: only ASCII letters, digits and `/._-+,=:@%~` pass,
    /// and for `-f` also the glob characters `*?[]` (a download may name a
    /// pattern; the shell expands it into file names, which cannot run
    /// anything). Anything else (spaces, quotes, `;`, `$`, `|`, `&`,
    /// redirections, newlines, non-ASCII) is not scp: it stays a plain
    /// exec, which needs the `exec` grant and passes the red lines.
    pub fn parse(line: &[u8]) -> Option<Command> {
        let text = std::str::from_utf8(line).ok()?;
        let mut words = text.split(' ');
        if words.next()? != "scp" {
            return None;
        }
        let words: Vec<&str> = words.collect();
        let mut at = 0;
        let mut flags = [false; 4];
        for (seen, flag) in flags.iter_mut().zip(["-v", "-r", "-p", "-d"]) {
            if words.get(at) == Some(&flag) {
                *seen = true;
                at += 1;
            }
        }
        let mode = match *words.get(at)? {
            "-t" => Mode::Sink,
            "-f" => Mode::Source,
            _ => return None,
        };
        at += 1;
        let dashes = words.get(at) == Some(&"--");
        if dashes {
            at += 1;
        }
        let [path] = words.get(at..)? else { return None };
        if path.is_empty() || dashes != path.starts_with('-') || !path.bytes().all(|b| safe(b, mode)) {
            return None;
        }
        let [_, recursive, preserve, to_directory] = flags;
        Some(Command { mode, path: (*path).to_owned(), recursive, preserve, to_directory })
    }
}

/// A byte the target's shell takes literally in an unquoted word (except
/// the glob characters, which only expand to names, allowed for `-f`).
fn safe(b: u8, mode: Mode) -> bool {
    b.is_ascii_alphanumeric() || b"/._-+,=:@%~".contains(&b) || (mode == Mode::Source && b"*?[]".contains(&b))
}

fn has_glob(text: &str) -> bool {
    text.bytes().any(|b| b"*?[]".contains(&b))
}

/// Joins a directory and a name as the receiver does (no doubled `/`).
fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// One file on its way, hashed as it passes.
struct Transfer {
    path: String,
    name: Option<String>,
    size: u64,
    bytes: u64,
    hasher: digest::Context,
    /// The sender's own error after the data (it could not read it all).
    sender_error: Option<(u32, String)>,
}

impl std::fmt::Debug for Transfer {
    // The hash context has no Debug of its own.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfer")
            .field("path", &self.path)
            .field("size", &self.size)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl Transfer {
    fn event(self, op: &str, result: FileResult) -> FileEvent {
        let sha256 = Some(hex(self.hasher.finish().as_ref()));
        FileEvent {
            op: op.to_owned(),
            path: truncate(&self.path),
            to: None,
            name: self.name,
            bytes: self.bytes,
            sha256,
            hash_note: None,
            result,
        }
    }
}

/// What the sender waits to hear about.
#[derive(Debug)]
enum Awaited {
    /// The receiver's first `\0`.
    Ready,
    Times,
    /// A `C` line: on `\0` the data follows.
    File(Box<Transfer>),
    /// A `D` line: on `\0` the sender descends into `path`.
    Dir {
        path: String,
        name: Option<String>,
    },
    End,
    /// A file's data and status were sent: the receiver's verdict.
    Done(Box<Transfer>),
}

#[derive(Debug)]
enum Reply {
    Ok,
    Err { kind: u8, message: String },
}

/// Where the sender's stream is.
#[derive(Debug)]
enum Sender {
    /// Reading a control line into `line`.
    Control,
    /// Inside a file's data.
    Data { file: Box<Transfer>, left: u64 },
    /// After the data: the status byte, then (`kind` set) an error message
    /// into `line`.
    Status { file: Box<Transfer>, kind: Option<u8> },
}

/// Follows one scp channel: feed it what each side sends, before passing
/// it on, and take the file events it has completed.
#[derive(Debug)]
pub struct Tap {
    mode: Mode,
    root: String,
    /// Whether the command's path is certainly a directory, so that a
    /// top-level entry lands inside it.
    root_is_dir: bool,
    /// The directory the sender is in (empty at the top level), and the
    /// length it had before each directory entered.
    cwd: String,
    depth: Vec<usize>,
    sender: Sender,
    line: Vec<u8>,
    awaiting: Option<Awaited>,
    replies: VecDeque<Reply>,
    /// The kind byte of the reply message being read, if one is.
    reply_kind: Option<u8>,
    reply_line: Vec<u8>,
    events: Vec<FileEvent>,
}

impl Tap {
    pub fn new(command: &Command) -> Self {
        let p = command.path.as_str();
        let root_is_dir = command.to_directory
            || p.ends_with('/')
            || matches!(p, "." | ".." | "~")
            || p.ends_with("/.")
            || p.ends_with("/..")
            || (p.starts_with('~') && !p.contains('/'));
        Tap {
            mode: command.mode,
            root: command.path.clone(),
            root_is_dir,
            cwd: String::new(),
            depth: Vec::new(),
            sender: Sender::Control,
            line: Vec::new(),
            awaiting: Some(Awaited::Ready),
            replies: VecDeque::new(),
            reply_kind: None,
            reply_line: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Follows bytes from the client (the sender in a sink session, the
    /// receiver in a source session).
    pub fn from_client(&mut self, data: &[u8]) -> Result<(), ScpError> {
        match self.mode {
            Mode::Sink => self.sender(data),
            Mode::Source => self.receiver(data),
        }
    }

    /// Follows bytes from the target.
    pub fn from_target(&mut self, data: &[u8]) -> Result<(), ScpError> {
        match self.mode {
            Mode::Sink => self.receiver(data),
            Mode::Source => self.sender(data),
        }
    }

    /// The file events completed since the last call.
    pub fn take_events(&mut self) -> Vec<FileEvent> {
        std::mem::take(&mut self.events)
    }

    /// The channel ended: a file still on its way (or waiting for its
    /// verdict) is reported as unclosed, with the bytes that passed.
    pub fn finish(&mut self) -> Vec<FileEvent> {
        let op = self.file_op();
        match std::mem::replace(&mut self.sender, Sender::Control) {
            Sender::Data { file, .. } | Sender::Status { file, .. } => {
                self.events.push(file.event(op, FileResult::Unclosed))
            }
            Sender::Control => {}
        }
        match self.awaiting.take() {
            Some(Awaited::File(file) | Awaited::Done(file)) => self.events.push(file.event(op, FileResult::Unclosed)),
            Some(Awaited::Dir { path, name }) if self.mode == Mode::Sink => {
                self.events.push(dir_event(path, name, FileResult::Unclosed))
            }
            _ => {}
        }
        self.take_events()
    }

    /// Bytes held for lines and replies not complete yet (for bounds in
    /// tests and fuzzing).
    pub fn held(&self) -> usize {
        self.line.len() + self.reply_line.len() + self.cwd.len() + self.replies.len()
    }

    fn file_op(&self) -> &'static str {
        match self.mode {
            Mode::Sink => "upload",
            Mode::Source => "download",
        }
    }

    fn sender(&mut self, mut data: &[u8]) -> Result<(), ScpError> {
        while !data.is_empty() {
            if self.awaiting.is_some() {
                return Err(ScpError::OutOfTurn);
            }
            match &mut self.sender {
                Sender::Control => {
                    let (piece, complete) = match data.iter().position(|&b| b == b'\n') {
                        Some(i) => (&data[..=i], true),
                        None => (data, false),
                    };
                    if self.line.len() + piece.len() > MAX_LINE {
                        return Err(ScpError::LineTooLong);
                    }
                    self.line.extend_from_slice(piece);
                    data = &data[piece.len()..];
                    if complete {
                        let line = std::mem::take(&mut self.line);
                        self.control(&line[..line.len() - 1])?;
                    }
                }
                Sender::Data { file, left } => {
                    let n = usize::try_from(*left).map_or(data.len(), |left| left.min(data.len()));
                    file.hasher.update(&data[..n]);
                    file.bytes += n as u64;
                    *left -= n as u64;
                    data = &data[n..];
                    if *left == 0 {
                        self.end_of_data();
                    }
                }
                Sender::Status { kind: None, .. } => {
                    let byte = data[0];
                    data = &data[1..];
                    match byte {
                        0 => self.status_done(None)?,
                        1 | 2 => {
                            if let Sender::Status { kind, .. } = &mut self.sender {
                                *kind = Some(byte);
                            }
                        }
                        _ => return Err(ScpError::Malformed("the byte after a file's data is not a status")),
                    }
                }
                Sender::Status { kind: Some(kind), .. } => {
                    let kind = *kind;
                    let (piece, complete) = match data.iter().position(|&b| b == b'\n') {
                        Some(i) => (&data[..i], true),
                        None => (data, false),
                    };
                    if self.line.len() + piece.len() >= MAX_LINE {
                        return Err(ScpError::LineTooLong);
                    }
                    self.line.extend_from_slice(piece);
                    data = &data[piece.len() + usize::from(complete)..];
                    if complete {
                        let message = text(&std::mem::take(&mut self.line));
                        self.status_done(Some((u32::from(kind), message)))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// A file's last data byte passed (or it had none): its status follows.
    fn end_of_data(&mut self) {
        if let Sender::Data { file, .. } = std::mem::replace(&mut self.sender, Sender::Control) {
            self.sender = Sender::Status { file, kind: None };
        }
    }

    fn status_done(&mut self, error: Option<(u32, String)>) -> Result<(), ScpError> {
        if let Sender::Status { mut file, .. } = std::mem::replace(&mut self.sender, Sender::Control) {
            file.sender_error = error;
            self.expect(Awaited::Done(file))?;
        }
        Ok(())
    }

    /// One control line from the sender, without its newline.
    fn control(&mut self, line: &[u8]) -> Result<(), ScpError> {
        let Some((&kind, rest)) = line.split_first() else {
            return Err(ScpError::Malformed("an empty line"));
        };
        match kind {
            b'C' | b'D' => {
                let (size, name) = entry(rest)?;
                let (path, name) = self.resolve(&name);
                if kind == b'C' {
                    let file = Transfer {
                        path,
                        name,
                        size,
                        bytes: 0,
                        hasher: digest::Context::new(&digest::SHA256),
                        sender_error: None,
                    };
                    self.expect(Awaited::File(Box::new(file)))
                } else {
                    if path.len() > MAX_DIR_PATH {
                        return Err(ScpError::TooDeep);
                    }
                    self.expect(Awaited::Dir { path, name })
                }
            }
            b'E' => {
                if !rest.is_empty() {
                    return Err(ScpError::Malformed("E with more on its line"));
                }
                let Some(len) = self.depth.pop() else {
                    return Err(ScpError::Malformed("E outside any directory"));
                };
                self.cwd.truncate(len);
                self.expect(Awaited::End)
            }
            b'T' => {
                times(rest)?;
                self.expect(Awaited::Times)
            }
            1 | 2 => {
                // The sender's own error (a file it cannot read): no answer
                // comes. A download names what failed in the message.
                if self.mode == Mode::Source {
                    let path = if self.depth.is_empty() { self.root.clone() } else { self.cwd.clone() };
                    self.events.push(FileEvent {
                        op: "download".into(),
                        path: truncate(&path),
                        to: None,
                        name: None,
                        bytes: 0,
                        sha256: None,
                        hash_note: None,
                        result: FileResult::Failed { code: u32::from(kind), message: text(rest) },
                    });
                }
                Ok(())
            }
            _ => Err(ScpError::Malformed("not a control record (C, D, E, T or an error)")),
        }
    }

    /// Where an entry named `name` is, and the name to report beside the
    /// path when the path alone cannot say.
    fn resolve(&self, name: &str) -> (String, Option<String>) {
        if !self.depth.is_empty() {
            return (join(&self.cwd, name), None);
        }
        match self.mode {
            // A path known to be a directory takes the entry inside it.
            // Otherwise the entry lands at the path itself, or inside it if
            // it is an existing directory on the target (the receiver
            // checks; the bastion cannot): the event has the path and the
            // name the client sent.
            Mode::Sink if self.root_is_dir => (join(&self.root, name), None),
            Mode::Sink => (self.root.clone(), Some(name.to_owned())),
            // The source names each top-level entry by its last component:
            // the path itself when that is the name, else the name beside
            // it (a pattern's match, or the entries a shell expanded).
            Mode::Source => {
                let trimmed = self.root.trim_end_matches('/');
                let trimmed = if trimmed.is_empty() { &self.root[..self.root.len().min(1)] } else { trimmed };
                let (parent, last) = match trimmed.rfind('/') {
                    Some(i) => (&trimmed[..=i], &trimmed[i + 1..]),
                    None => ("", trimmed),
                };
                if last == name && !has_glob(last) {
                    (trimmed.to_owned(), None)
                } else {
                    (format!("{parent}{name}"), None)
                }
            }
        }
    }

    /// The sender now waits for a reply: one already queued is taken at
    /// once, as the sender would read it.
    fn expect(&mut self, awaited: Awaited) -> Result<(), ScpError> {
        self.awaiting = Some(awaited);
        self.settle()
    }

    fn settle(&mut self) -> Result<(), ScpError> {
        while self.awaiting.is_some() {
            let Some(reply) = self.replies.pop_front() else { break };
            if let Some(awaited) = self.awaiting.take() {
                self.answer(awaited, reply)?;
            }
        }
        Ok(())
    }

    fn answer(&mut self, awaited: Awaited, reply: Reply) -> Result<(), ScpError> {
        let op = self.file_op();
        let failed = |reply: Reply| match reply {
            Reply::Ok => None,
            Reply::Err { kind, message } => Some(FileResult::Failed { code: u32::from(kind), message }),
        };
        match awaited {
            Awaited::Ready | Awaited::Times | Awaited::End => {}
            Awaited::File(file) => match failed(reply) {
                None if file.size == 0 => self.sender = Sender::Status { file, kind: None },
                None => {
                    let left = file.size;
                    self.sender = Sender::Data { file, left };
                }
                // Refused before any data: nothing was transferred.
                Some(result) => {
                    let mut event = file.event(op, result);
                    event.sha256 = None;
                    self.events.push(event);
                }
            },
            Awaited::Dir { path, name } => {
                let result = failed(reply);
                if result.is_none() {
                    self.depth.push(self.cwd.len());
                    self.cwd = path.clone();
                }
                if self.mode == Mode::Sink {
                    self.events.push(dir_event(path, name, result.unwrap_or(FileResult::Done)));
                }
            }
            Awaited::Done(mut file) => {
                let result = match (file.sender_error.take(), failed(reply)) {
                    (_, Some(receiver)) => receiver,
                    (Some((code, message)), None) => FileResult::Failed { code, message },
                    (None, None) => FileResult::Done,
                };
                self.events.push(file.event(op, result));
            }
        }
        Ok(())
    }

    fn receiver(&mut self, data: &[u8]) -> Result<(), ScpError> {
        let mut rest = data;
        while let Some((&byte, tail)) = rest.split_first() {
            let Some(kind) = self.reply_kind else {
                rest = tail;
                match byte {
                    0 => self.reply(Reply::Ok)?,
                    1 | 2 => self.reply_kind = Some(byte),
                    _ => return Err(ScpError::BadReply(byte)),
                }
                continue;
            };
            let (piece, complete) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..i], true),
                None => (rest, false),
            };
            if self.reply_line.len() + piece.len() >= MAX_LINE {
                return Err(ScpError::LineTooLong);
            }
            self.reply_line.extend_from_slice(piece);
            rest = &rest[piece.len() + usize::from(complete)..];
            if complete {
                self.reply_kind = None;
                let message = text(&std::mem::take(&mut self.reply_line));
                self.reply(Reply::Err { kind, message })?;
            }
        }
        Ok(())
    }

    fn reply(&mut self, reply: Reply) -> Result<(), ScpError> {
        if self.replies.len() >= MAX_QUEUED_REPLIES {
            return Err(ScpError::TooManyReplies);
        }
        self.replies.push_back(reply);
        self.settle()
    }
}

fn dir_event(path: String, name: Option<String>, result: FileResult) -> FileEvent {
    FileEvent {
        op: "mkdir".into(),
        path: truncate(&path),
        to: None,
        name,
        bytes: 0,
        sha256: None,
        hash_note: None,
        result,
    }
}

/// `MMMM SIZE NAME` after `C` or `D`: the size and the checked name.
fn entry(rest: &[u8]) -> Result<(u64, String), ScpError> {
    let Some((mode, rest)) = rest.split_at_checked(4) else {
        return Err(ScpError::Malformed("a mode of four octal digits"));
    };
    if !mode.iter().all(|b| (b'0'..=b'7').contains(b)) {
        return Err(ScpError::Malformed("a mode of four octal digits"));
    }
    let Some((&b' ', rest)) = rest.split_first() else {
        return Err(ScpError::Malformed("the mode not followed by a space"));
    };
    let (size, rest) = number(rest, MAX_SIZE).map_err(|e| match e {
        ScpError::SizeOverflow => ScpError::SizeOverflow,
        _ => ScpError::Malformed("no size"),
    })?;
    let Some((&b' ', name)) = rest.split_first() else {
        return Err(ScpError::Malformed("the size not followed by a space"));
    };
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0) {
        return Err(ScpError::BadName(truncate(&String::from_utf8_lossy(name))));
    }
    Ok((size, truncate(&String::from_utf8_lossy(name))))
}

/// `MTIME USEC ATIME USEC` after `T`.
fn times(rest: &[u8]) -> Result<(), ScpError> {
    let bad = || ScpError::Malformed("times that are not four numbers: mtime usec atime usec");
    let mut rest = rest;
    for (i, max) in [MAX_SIZE, 999_999, MAX_SIZE, 999_999].into_iter().enumerate() {
        if i > 0 {
            let Some((&b' ', tail)) = rest.split_first() else { return Err(bad()) };
            rest = tail;
        }
        rest = number(rest, max).map_err(|_| bad())?.1;
    }
    if rest.is_empty() { Ok(()) } else { Err(bad()) }
}

/// Leading decimal digits (at least one) up to `max`, and what follows.
fn number(text: &[u8], max: u64) -> Result<(u64, &[u8]), ScpError> {
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return Err(ScpError::Malformed("no number"));
    }
    let mut value: u64 = 0;
    for &d in &text[..digits] {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .filter(|v| *v <= max)
            .ok_or(ScpError::SizeOverflow)?;
    }
    Ok((value, &text[digits..]))
}

fn text(bytes: &[u8]) -> String {
    truncate(&String::from_utf8_lossy(bytes))
}

#[cfg(test)]
#[path = "scp_tests.rs"]
mod tests;
