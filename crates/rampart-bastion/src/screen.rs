//! Command reconstruction from the terminal output, for the audit trail
//! when the input tracker is uncertain (completion, history recall). A
//! virtual screen (the `vt100` crate) follows the session's output; when
//! the administrator starts typing a line, [`ScreenTracker::note_input`]
//! remembers where the cursor was, and the text left of it on that row is
//! taken as the prompt. At Enter, [`ScreenTracker::command_at_enter`] reads
//! the logical line under the cursor (following wrapped rows) from where
//! typing began, so the prompt is not part of the command, and strips a
//! right-hand prompt (zsh's `RPROMPT`) and bash's incremental-search prompt.
//!
//! The screen shows what the shell echoed, so the proxy must let the echo
//! of the last keys arrive (a short quiet period on the output) before it
//! reads. The result is a best effort and says whether the prompt was found
//! where expected. Screen sizes are clamped to [`MAX_ROWS`] x [`MAX_COLS`]
//! so a client cannot make the bastion allocate an enormous grid.

use std::fmt;
use std::num::NonZeroU16;

/// Tallest screen modelled.
pub const MAX_ROWS: u16 = 500;
/// Widest screen modelled.
pub const MAX_COLS: u16 = 1000;
/// How many rows above the cursor are searched for the prompt.
const PROMPT_SEARCH_ROWS: u16 = 50;

/// Counts rows scrolled off the top, so a remembered row can be found again.
#[derive(Debug, Default)]
struct Scrolls(u64);

impl vt100::Callbacks for Scrolls {
    fn on_scroll(&mut self, _: vt100::capture::RowContents<'_>, alternate_screen: bool) {
        if !alternate_screen {
            self.0 += 1;
        }
    }
}

/// Where typing of the current line began.
#[derive(Debug, Clone)]
struct Start {
    row: u16,
    scrolls: u64,
    prompt: Prompt,
    /// Text right of the cursor at that moment: a right-hand prompt.
    right: String,
}

/// A prompt as it appeared: its text and how many columns it took.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Prompt {
    text: String,
    cols: u16,
}

/// The command as the screen shows it at Enter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenCommand {
    /// The command text, without prompt.
    pub command: String,
    /// The prompt that was stripped, if one was recognised.
    pub prompt: Option<String>,
    /// The prompt was found where typing began (or a known prompt was found
    /// above the cursor); if false, the whole cursor row was taken.
    pub prompt_found: bool,
}

/// A virtual screen of one session's output.
pub struct ScreenTracker {
    parser: vt100::Parser<Scrolls>,
    start: Option<Start>,
    learned: Option<Prompt>,
}

impl fmt::Debug for ScreenTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (rows, cols) = self.parser.screen().size();
        f.debug_struct("ScreenTracker")
            .field("rows", &rows)
            .field("cols", &cols)
            .field("cursor", &self.parser.screen().cursor_position())
            .field("start", &self.start)
            .field("learned", &self.learned)
            .finish()
    }
}

fn clamp(value: u16, max: u16) -> NonZeroU16 {
    NonZeroU16::new(value.clamp(1, max)).unwrap_or(NonZeroU16::MIN)
}

impl ScreenTracker {
    /// A blank screen of the session's size (clamped to the bounds).
    pub fn new(rows: u16, cols: u16) -> Self {
        let parser = vt100::Parser::new_with_callbacks(clamp(rows, MAX_ROWS), clamp(cols, MAX_COLS), 0, Scrolls(0));
        Self { parser, start: None, learned: None }
    }

    /// Follows a window-size change.
    pub fn resize(&mut self, rows: u16, cols: u16) {
        self.parser.set_size(clamp(rows, MAX_ROWS), clamp(cols, MAX_COLS));
    }

    /// Feeds output from the target.
    pub fn process(&mut self, output: &[u8]) {
        self.parser.process(output);
    }

    /// The whole visible screen as text, for tests and diagnostics.
    pub fn contents(&self) -> String {
        self.parser.screen().contents()
    }

    /// Call before forwarding the user's input: the first call after a
    /// line was submitted remembers where typing of the new line began.
    pub fn note_input(&mut self) {
        if self.start.is_some() {
            return;
        }
        let screen = self.parser.screen();
        let (row, col) = screen.cursor_position();
        let (_, cols) = screen.size();
        // Text right of an empty cursor cell is a right-hand prompt; text
        // under the cursor would be part of the line itself.
        let at_cursor_blank = screen.cell(row, col).is_none_or(|c| !c.has_contents());
        let right = if at_cursor_blank { cells(screen, row, col, cols.get()).trim().to_owned() } else { String::new() };
        self.start = Some(Start {
            row,
            scrolls: self.parser.callbacks().0,
            prompt: Prompt { text: cells(screen, row, 0, col), cols: col },
            right,
        });
    }

    /// Reads the command under the cursor, as the user is about to submit
    /// it, and gets ready for the next line.
    pub fn command_at_enter(&mut self) -> ScreenCommand {
        let start = self.start.take();
        let screen = self.parser.screen();
        let (cursor_row, _) = screen.cursor_position();
        let (rows, cols) = screen.size();
        let located = start
            .as_ref()
            .and_then(|s| self.at_start(s, cursor_row))
            .or_else(|| start.as_ref().and_then(|s| find_prompt(screen, &s.prompt, cursor_row)))
            .or_else(|| self.learned.as_ref().and_then(|p| find_prompt(screen, p, cursor_row)));
        let (first_row, prompt) = match &located {
            Some((row, prompt)) => (*row, Some(prompt.clone())),
            None => (cursor_row, None),
        };
        // The command runs on below the cursor while rows are wrapped.
        let mut last_row = cursor_row;
        while last_row + 1 < rows.get() && screen.row_wrapped(last_row) {
            last_row += 1;
        }
        let mut text = String::new();
        for row in first_row..=last_row {
            let from = if row == first_row { prompt.as_ref().map_or(0, |p| p.cols) } else { 0 };
            text.push_str(&cells(screen, row, from, cols.get()));
        }
        let mut command = text.trim_end().to_owned();
        if let Some(right) = start.as_ref().map(|s| s.right.as_str()).filter(|r| !r.is_empty())
            && let Some(stripped) = command.strip_suffix(right)
        {
            command = stripped.trim_end().to_owned();
        }
        if prompt.is_none() {
            command = strip_search_prompt(&command).to_owned();
        }
        if let Some(p) = &prompt {
            self.learned = Some(p.clone());
        }
        ScreenCommand { command, prompt_found: prompt.is_some(), prompt: prompt.map(|p| p.text) }
    }

    /// The remembered start, if the screen still shows the prompt there
    /// (after accounting for rows scrolled away since).
    fn at_start(&self, start: &Start, cursor_row: u16) -> Option<(u16, Prompt)> {
        let shift = self.parser.callbacks().0.saturating_sub(start.scrolls);
        let row = u64::from(start.row).checked_sub(shift).and_then(|r| u16::try_from(r).ok())?;
        let screen = self.parser.screen();
        (row <= cursor_row && cells(screen, row, 0, start.prompt.cols) == start.prompt.text)
            .then(|| (row, start.prompt.clone()))
    }
}

/// Searches upwards from the cursor for a row that begins with `prompt`.
fn find_prompt(screen: &vt100::Screen, prompt: &Prompt, cursor_row: u16) -> Option<(u16, Prompt)> {
    if prompt.text.trim().is_empty() {
        return None;
    }
    let lowest = cursor_row.saturating_sub(PROMPT_SEARCH_ROWS);
    (lowest..=cursor_row)
        .rev()
        .find(|&row| cells(screen, row, 0, prompt.cols) == prompt.text)
        .map(|row| (row, prompt.clone()))
}

/// The text of columns `from..to` of a row, one character per column:
/// blank cells read as spaces, and the right half of a wide character is
/// skipped.
fn cells(screen: &vt100::Screen, row: u16, from: u16, to: u16) -> String {
    let mut text = String::new();
    for col in from..to {
        match screen.cell(row, col) {
            Some(cell) if cell.is_wide_continuation() => {}
            Some(cell) if cell.has_contents() => text.push_str(cell.contents()),
            _ => text.push(' '),
        }
    }
    text
}

/// Bash shows `(reverse-i-search)`pat': command` while searching history;
/// the command is what follows the first `': `.
fn strip_search_prompt(row: &str) -> &str {
    let searching = ["(reverse-i-search)`", "(failed reverse-i-search)`", "(i-search)`", "(failed i-search)`"];
    if searching.iter().any(|s| row.starts_with(s))
        && let Some((_, command)) = row.split_once("': ")
    {
        return command;
    }
    row
}

#[cfg(test)]
mod tests;
