//! The line buffer and the editing commands of readline and ZLE that the
//! tracker models: cursor movement by characters and words, deletion,
//! the kill commands and transposition. Word boundaries differ between the
//! shells and between commands, so each word command names its definition.

use super::{Doubts, Shell};

/// Which characters make up a word for a given command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Words {
    /// Readline's words (Meta-b/f/d/DEL in bash): letters and digits.
    Alnum,
    /// Readline's `unix-word-rubout` (Ctrl-W in bash): non-blanks.
    Whitespace,
    /// ZLE's words: letters, digits and the default `WORDCHARS`.
    Zsh,
}

impl Words {
    fn contains(self, c: char) -> bool {
        match self {
            Self::Alnum => c.is_alphanumeric(),
            Self::Whitespace => !c.is_whitespace(),
            Self::Zsh => c.is_alphanumeric() || "*?_-.[]~=/&;!#$%^(){}<>".contains(c),
        }
    }
}

/// A cursor known to sit at one end of the line, whatever the line holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchor {
    Start,
    End,
}

/// The line being edited, as characters, with a cursor.
#[derive(Debug, Clone)]
pub(super) struct Line {
    chars: Vec<char>,
    cursor: usize,
    max: usize,
    /// Set right after Home or End: even when the tracker lost track of the
    /// content (after history recall), a kill from there empties the line.
    anchor: Option<Anchor>,
}

impl Line {
    pub(super) fn new(max: usize) -> Self {
        Self { chars: Vec::new(), cursor: 0, max, anchor: None }
    }

    pub(super) fn text(&self) -> String {
        self.chars.iter().collect()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    pub(super) fn take(&mut self) -> String {
        let text = self.text();
        self.clear();
        text
    }

    pub(super) fn clear(&mut self) {
        self.chars.clear();
        self.cursor = 0;
        self.anchor = None;
    }

    pub(super) fn insert(&mut self, c: char, doubts: &mut Doubts) {
        self.anchor = None;
        if self.chars.len() >= self.max {
            doubts.overflow = true;
            return;
        }
        self.chars.insert(self.cursor, c);
        self.cursor += 1;
    }

    pub(super) fn home(&mut self) {
        self.cursor = 0;
        self.anchor = Some(Anchor::Start);
    }

    pub(super) fn end(&mut self) {
        self.cursor = self.chars.len();
        self.anchor = Some(Anchor::End);
    }

    pub(super) fn left(&mut self) {
        self.anchor = None;
        self.cursor = self.cursor.saturating_sub(1);
    }

    pub(super) fn right(&mut self) {
        self.anchor = None;
        self.cursor = (self.cursor + 1).min(self.chars.len());
    }

    pub(super) fn backspace(&mut self) {
        self.anchor = None;
        if self.cursor > 0 {
            self.cursor -= 1;
            self.chars.remove(self.cursor);
        }
    }

    pub(super) fn delete(&mut self) {
        self.anchor = None;
        if self.cursor < self.chars.len() {
            self.chars.remove(self.cursor);
        }
    }

    pub(super) fn kill_to_end(&mut self, doubts: &mut Doubts) {
        if self.anchor == Some(Anchor::Start) {
            forget_content_doubts(doubts);
        }
        self.anchor = None;
        self.chars.truncate(self.cursor);
    }

    pub(super) fn kill_to_start(&mut self, doubts: &mut Doubts) {
        if self.anchor == Some(Anchor::End) {
            forget_content_doubts(doubts);
        }
        self.anchor = None;
        self.chars.drain(..self.cursor);
        self.cursor = 0;
    }

    pub(super) fn kill_whole(&mut self, doubts: &mut Doubts) {
        forget_content_doubts(doubts);
        self.clear();
    }

    pub(super) fn kill_word_back(&mut self, words: Words) {
        self.anchor = None;
        let start = self.word_start(words);
        self.chars.drain(start..self.cursor);
        self.cursor = start;
    }

    pub(super) fn kill_word_forward(&mut self, words: Words) {
        self.anchor = None;
        let end = self.word_end(words);
        self.chars.drain(self.cursor..end);
    }

    pub(super) fn word_left(&mut self, words: Words) {
        self.anchor = None;
        self.cursor = self.word_start(words);
    }

    /// Readline moves to the end of the next word; ZLE's `forward-word`
    /// moves to the start of the next one.
    pub(super) fn word_right(&mut self, words: Words, shell: Shell) {
        self.anchor = None;
        self.cursor = match shell {
            Shell::Bash => self.word_end(words),
            Shell::Zsh => {
                let mut i = self.cursor;
                while i < self.chars.len() && words.contains(self.chars[i]) {
                    i += 1;
                }
                while i < self.chars.len() && self.chars[i].is_whitespace() {
                    i += 1;
                }
                i
            }
        };
    }

    /// Swaps the characters around the cursor, or the last two at the end
    /// of the line, as both shells' `transpose-chars` do.
    pub(super) fn transpose(&mut self) {
        self.anchor = None;
        let len = self.chars.len();
        if self.cursor == 0 || len < 2 {
            return;
        }
        if self.cursor == len {
            self.chars.swap(len - 2, len - 1);
        } else {
            self.chars.swap(self.cursor - 1, self.cursor);
            self.cursor += 1;
        }
    }

    /// The start of the word before the cursor: skip separators, then
    /// word characters.
    fn word_start(&self, words: Words) -> usize {
        let mut i = self.cursor;
        while i > 0 && !words.contains(self.chars[i - 1]) {
            i -= 1;
        }
        while i > 0 && words.contains(self.chars[i - 1]) {
            i -= 1;
        }
        i
    }

    /// The end of the word after the cursor: skip separators, then word
    /// characters.
    fn word_end(&self, words: Words) -> usize {
        let mut i = self.cursor;
        while i < self.chars.len() && !words.contains(self.chars[i]) {
            i += 1;
        }
        while i < self.chars.len() && words.contains(self.chars[i]) {
            i += 1;
        }
        i
    }
}

/// The line is now known to be empty, so doubts about what it held no
/// longer matter. Doubts about the context (a full-screen program) stay.
fn forget_content_doubts(doubts: &mut Doubts) {
    *doubts = Doubts { full_screen: doubts.full_screen, ..Doubts::default() };
}
