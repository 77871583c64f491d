//! The input-line tracker: it follows the bytes an administrator types (a
//! terminal input stream, escape sequences included) and rebuilds the line
//! the shell will run, so the proxy can check it before the Enter reaches
//! the target. [`LineTracker::feed`] returns the input cut at each Enter:
//! everything before it as [`Action::Forward`], the Enter itself held in
//! [`Action::Submit`] with the line. The proxy forwards the held Enter only
//! once the policy has accepted the line; on refusal it drops the Enter and
//! sends [`DISCARD_LINE`], which leaves the shell with an empty line, as
//! the tracker already assumes after every submit.
//!
//! It models emacs-mode line editing of bash (readline) and zsh (ZLE):
//! printable text, backspace, Ctrl-U/W/K/A/E/B/F/D/T/V, Meta-b/f/d/DEL,
//! arrows (CSI and SS3), Home/End, Delete and bracketed paste. What it
//! cannot know (Tab completion, history recall, unknown keys, input while a
//! full-screen program owns the terminal) makes the line uncertain, with
//! the reasons in [`Doubts`]; the proxy then takes the command from the
//! screen ([`crate::screen`]). It errs towards submitting: every CR or LF
//! outside a quoted insert is treated as an Enter, also inside a paste and
//! after an unfinished escape sequence, because a line the shell runs
//! without a check would be a bypass, while a check the shell did not need
//! costs nothing.
//!
//! Vi mode is not modelled: its command-mode keys would be taken as text,
//! so the line is wrong (though its Enter is still held and checked).
//!
//! Memory is bounded: the line holds at most `max_line` characters (more
//! are dropped and flagged) and escape sequences at most 32 bytes.

mod edit;
mod output;

#[cfg(test)]
mod tests;

use edit::Line;
use output::OutputModes;

/// What a refused line is replaced with: Ctrl-C, which both shells take as
/// "discard the line and prompt again".
pub const DISCARD_LINE: &[u8] = b"\x03";

/// Default bound on the tracked line, in characters.
pub const DEFAULT_MAX_LINE: usize = 16 * 1024;

/// Longest escape sequence followed; longer ones are abandoned.
const MAX_SEQUENCE: usize = 32;

/// The shell whose emacs-mode key bindings are modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shell {
    /// bash with readline.
    #[default]
    Bash,
    /// zsh with ZLE in emacs mode.
    Zsh,
}

/// Why a submitted line may differ from what the shell runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Doubts {
    /// Tab or another completion key inserted text the tracker cannot see.
    pub completion: bool,
    /// The line came (partly) from history: arrows, Ctrl-P/N/R/S, Meta-.
    pub history: bool,
    /// A key or sequence the tracker does not model was pressed.
    pub unknown_key: bool,
    /// The line grew beyond the bound; the tail is missing.
    pub overflow: bool,
    /// The input was not valid UTF-8.
    pub invalid_utf8: bool,
    /// A full-screen program (editor, pager) owned the terminal, so the keys
    /// were probably not a shell line at all.
    pub full_screen: bool,
    /// Paste brackets arrived although the output never enabled bracketed
    /// paste, so the shell may read them as keys.
    pub unexpected_paste: bool,
}

impl Doubts {
    /// True when nothing casts doubt on the line.
    pub fn none(&self) -> bool {
        *self == Self::default()
    }
}

/// What the proxy must do with the input, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send these bytes to the target now.
    Forward(Vec<u8>),
    /// A line was submitted. Hold `held_enter` until the policy decided;
    /// send it on acceptance, drop it (and send [`DISCARD_LINE`]) otherwise.
    Submit {
        /// The line as the tracker rebuilt it.
        line: String,
        /// No doubt applies; otherwise see `doubts` and use the screen.
        certain: bool,
        /// The Enter byte(s) held back.
        held_enter: Vec<u8>,
        /// Why the line may be wrong.
        doubts: Doubts,
        /// The Enter was a newline inside a paste. With bracketed paste the
        /// shell keeps collecting lines and runs them at the next real
        /// Enter; each line is still checked here, on its own.
        pasted: bool,
    },
}

/// Where the input decoder is between bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Ground,
    Esc,
    Csi(Vec<u8>),
    Ss3,
    QuotedInsert,
    CtrlX,
    /// Inside a bracketed paste, with how much of the end marker was seen.
    Paste(usize),
}

const PASTE_END: &[u8] = b"\x1b[201~";

/// Follows one session's input and reports each submitted line.
#[derive(Debug, Clone)]
pub struct LineTracker {
    shell: Shell,
    line: Line,
    state: State,
    /// Bytes of a UTF-8 character still being received.
    utf8: Vec<u8>,
    doubts: Doubts,
    output: OutputModes,
    /// The last Enter was a CR, so an LF right after it is its tail.
    after_cr: bool,
    forward: Vec<u8>,
    actions: Vec<Action>,
}

impl LineTracker {
    /// A tracker for `shell` with the default line bound.
    pub fn new(shell: Shell) -> Self {
        Self::with_max_line(shell, DEFAULT_MAX_LINE)
    }

    /// A tracker that keeps at most `max_line` characters of a line.
    pub fn with_max_line(shell: Shell, max_line: usize) -> Self {
        Self {
            shell,
            line: Line::new(max_line),
            state: State::Ground,
            utf8: Vec::new(),
            doubts: Doubts::default(),
            output: OutputModes::default(),
            after_cr: false,
            forward: Vec::new(),
            actions: Vec::new(),
        }
    }

    /// The line typed so far (after the last submit).
    pub fn current_line(&self) -> String {
        self.line.text()
    }

    /// Feeds the session's output, from which the tracker learns whether a
    /// full-screen program is running and whether bracketed paste is on.
    pub fn feed_output(&mut self, output: &[u8]) {
        self.output.feed(output);
    }

    /// Feeds input bytes and returns what to forward and what to check.
    /// Concatenating every forwarded and held byte gives back the input.
    pub fn feed(&mut self, input: &[u8]) -> Vec<Action> {
        for &b in input {
            self.byte(b);
        }
        self.flush_forward();
        std::mem::take(&mut self.actions)
    }

    fn flush_forward(&mut self) {
        if !self.forward.is_empty() {
            self.actions.push(Action::Forward(std::mem::take(&mut self.forward)));
        }
    }

    fn byte(&mut self, b: u8) {
        let after_cr = std::mem::take(&mut self.after_cr);
        if self.output.full_screen() {
            self.doubts.full_screen = true;
        }
        if !self.utf8.is_empty() && !(0x80..0xc0).contains(&b) {
            self.invalid_utf8();
        }
        if b == b'\n' && after_cr && self.line.is_empty() && matches!(self.state, State::Ground | State::Paste(0)) {
            // The LF of a CR LF pair would run an empty line; it needs no check.
            self.forward.push(b);
            return;
        }
        if let State::Paste(matched) = self.state {
            return self.paste_byte(b, matched);
        }
        if matches!(b, b'\r' | b'\n') && self.state != State::QuotedInsert {
            if self.state != State::Ground {
                self.doubts.unknown_key = true;
                self.state = State::Ground;
            }
            self.after_cr = b == b'\r';
            return self.submit(vec![b], false);
        }
        self.forward.push(b);
        match std::mem::replace(&mut self.state, State::Ground) {
            State::Ground => self.ground(b),
            State::Esc => self.escape(b),
            State::Csi(params) => self.csi(params, b),
            State::Ss3 => self.ss3(b),
            State::QuotedInsert => self.insert_byte(b),
            State::CtrlX => {
                // Ctrl-X prefixes edit-and-execute, undo and other commands
                // whose effect on the line is not modelled.
                self.doubts.unknown_key = true;
            }
            State::Paste(_) => {}
        }
    }

    fn submit(&mut self, held_enter: Vec<u8>, pasted: bool) {
        self.flush_forward();
        if !self.utf8.is_empty() {
            self.invalid_utf8();
        }
        if self.output.full_screen() {
            self.doubts.full_screen = true;
        }
        let doubts = std::mem::take(&mut self.doubts);
        let line = self.line.take();
        self.actions.push(Action::Submit { line, certain: doubts.none(), held_enter, doubts, pasted });
    }

    fn invalid_utf8(&mut self) {
        self.utf8.clear();
        self.doubts.invalid_utf8 = true;
        self.line.insert(char::REPLACEMENT_CHARACTER, &mut self.doubts);
    }

    /// Inserts a byte as text, assembling UTF-8 characters across bytes.
    fn insert_byte(&mut self, b: u8) {
        if b < 0x80 {
            self.line.insert(char::from(b), &mut self.doubts);
            return;
        }
        self.utf8.push(b);
        match std::str::from_utf8(&self.utf8) {
            Ok(s) => {
                let chars: Vec<char> = s.chars().collect();
                self.utf8.clear();
                for c in chars {
                    self.line.insert(c, &mut self.doubts);
                }
            }
            Err(e) if e.error_len().is_some() => self.invalid_utf8(),
            Err(_) => {}
        }
    }

    fn paste_byte(&mut self, b: u8, matched: usize) {
        if PASTE_END.get(matched) == Some(&b) {
            self.forward.push(b);
            self.state = if matched + 1 == PASTE_END.len() { State::Ground } else { State::Paste(matched + 1) };
            return;
        }
        // A partial end marker was paste content after all.
        for &p in &PASTE_END[..matched] {
            self.insert_byte(p);
        }
        self.state = State::Paste(0);
        if b == PASTE_END[0] {
            self.forward.push(b);
            self.state = State::Paste(1);
        } else if matches!(b, b'\r' | b'\n') {
            self.after_cr = b == b'\r';
            self.submit(vec![b], true);
        } else {
            self.forward.push(b);
            self.insert_byte(b);
        }
    }

    fn ground(&mut self, b: u8) {
        match b {
            0x1b => self.state = State::Esc,
            0x16 => self.state = State::QuotedInsert,
            0x18 => self.state = State::CtrlX,
            0x0f => {
                // Ctrl-O runs the line and recalls the next history entry.
                self.forward.pop();
                self.submit(vec![b], false);
                self.doubts.history = true;
            }
            0x03 => {
                self.line.clear();
                self.doubts = Doubts::default();
            }
            0x00..=0x1f | 0x7f => self.control(b),
            _ => self.insert_byte(b),
        }
    }

    fn control(&mut self, b: u8) {
        let zsh = self.shell == Shell::Zsh;
        let doubts = &mut self.doubts;
        match b {
            0x01 => self.line.home(),
            0x02 => self.line.left(),
            0x04 => self.line.delete(),
            0x05 => self.line.end(),
            0x06 => self.line.right(),
            0x08 | 0x7f => self.line.backspace(),
            0x09 => doubts.completion = true,
            0x0b => self.line.kill_to_end(doubts),
            0x0e | 0x10 | 0x12 | 0x13 => doubts.history = true,
            0x14 => self.line.transpose(),
            0x15 if zsh => self.line.kill_whole(doubts),
            0x15 => self.line.kill_to_start(doubts),
            0x17 if zsh => self.line.kill_word_back(edit::Words::Zsh),
            0x17 => self.line.kill_word_back(edit::Words::Whitespace),
            // Ctrl-G aborts, Ctrl-L redraws, Ctrl-Z and Ctrl-\ are signals
            // the shell ignores at its prompt: none changes the line.
            0x00 | 0x07 | 0x0c | 0x1a | 0x1c => {}
            _ => doubts.unknown_key = true,
        }
    }

    fn words(&self) -> edit::Words {
        match self.shell {
            Shell::Bash => edit::Words::Alnum,
            Shell::Zsh => edit::Words::Zsh,
        }
    }

    fn escape(&mut self, b: u8) {
        let words = self.words();
        match b {
            b'[' => self.state = State::Csi(Vec::new()),
            b'O' => self.state = State::Ss3,
            b'b' | b'B' => self.line.word_left(words),
            b'f' | b'F' => self.line.word_right(words, self.shell),
            b'd' | b'D' => self.line.kill_word_forward(words),
            0x7f | 0x08 => self.line.kill_word_back(words),
            0x1b => self.doubts.completion = true,
            b'.' | b'_' | b'<' | b'>' => self.doubts.history = true,
            _ => self.doubts.unknown_key = true,
        }
    }

    fn csi(&mut self, mut params: Vec<u8>, b: u8) {
        match b {
            0x20..=0x3f if params.len() < MAX_SEQUENCE => {
                params.push(b);
                self.state = State::Csi(params);
            }
            0x40..=0x7e => self.csi_final(&params, b),
            _ => {
                // A control byte or an overlong sequence: give up on it and
                // let the byte act on its own.
                self.doubts.unknown_key = true;
                if b < 0x20 || b == 0x7f {
                    self.ground(b);
                }
            }
        }
    }

    fn csi_final(&mut self, params: &[u8], b: u8) {
        // Ctrl (5) or Alt (3) with an arrow moves by words.
        let by_word = params.ends_with(b";5") || params.ends_with(b";3");
        let words = self.words();
        match (b, params) {
            (b'D', _) if by_word => self.line.word_left(words),
            (b'C', _) if by_word => self.line.word_right(words, self.shell),
            (b'D', _) => self.line.left(),
            (b'C', _) => self.line.right(),
            (b'A' | b'B', _) => self.doubts.history = true,
            (b'H', _) | (b'~', b"1" | b"7") => self.line.home(),
            (b'F', _) | (b'~', b"4" | b"8") => self.line.end(),
            (b'~', b"3") => self.line.delete(),
            (b'~', b"200") => {
                if self.output.bracketed_paste() == Some(false) {
                    self.doubts.unexpected_paste = true;
                }
                self.state = State::Paste(0);
            }
            // A stray paste end, and focus reports, change nothing.
            (b'~', b"201") | (b'I' | b'O', b"") => {}
            (b'Z', _) => self.doubts.completion = true,
            _ => self.doubts.unknown_key = true,
        }
    }

    fn ss3(&mut self, b: u8) {
        match b {
            b'D' => self.line.left(),
            b'C' => self.line.right(),
            b'H' => self.line.home(),
            b'F' => self.line.end(),
            b'A' | b'B' => self.doubts.history = true,
            _ => self.doubts.unknown_key = true,
        }
    }
}
