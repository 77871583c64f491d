//! Unit tests of screen-based command reconstruction with output as bash
//! and zsh produce it: prompts, completion echoes, history redraws,
//! wrapping and scrolling, clear-screen, right prompts and wide text.

use super::*;

const PROMPT: &[u8] = b"\x1b[01;32malice@web-1\x1b[00m:\x1b[01;34m~\x1b[00m$ ";

fn at_prompt(rows: u16, cols: u16) -> ScreenTracker {
    let mut screen = ScreenTracker::new(rows, cols);
    screen.process(b"Last login: Mon Jan  6 10:00:00 2025\r\n");
    screen.process(PROMPT);
    screen.note_input();
    screen
}

#[test]
fn the_prompt_is_stripped_from_the_echoed_line() {
    let mut screen = at_prompt(24, 80);
    screen.process(b"ls -la");
    let got = screen.command_at_enter();
    assert_eq!(got.command, "ls -la");
    assert_eq!(got.prompt.as_deref(), Some("alice@web-1:~$ "));
    assert!(got.prompt_found);
}

#[test]
fn completion_and_history_show_up_on_screen() {
    let mut screen = at_prompt(24, 80);
    // The user typed `cd /us` and Tab; bash echoed the completion.
    screen.process(b"cd /us");
    screen.process(b"r/local/");
    assert_eq!(screen.command_at_enter().command, "cd /usr/local/");

    screen.process(b"\r\n");
    screen.process(PROMPT);
    screen.note_input();
    // Up-arrow: readline moves to the start of the line and redraws it.
    screen.process(b"\r\x1b[K");
    screen.process(PROMPT);
    screen.process(b"sudo rm -rf /var/tmp/cache");
    assert_eq!(screen.command_at_enter().command, "sudo rm -rf /var/tmp/cache");
}

#[test]
fn wrapped_lines_are_read_whole_even_after_scrolling() {
    let mut screen = ScreenTracker::new(3, 20);
    screen.process(b"one\r\ntwo\r\n$ ");
    screen.note_input();
    let command = "echo aaaaaaaaaa bbbbbbbbbb cccccccccc";
    screen.process(command.as_bytes());
    let got = screen.command_at_enter();
    assert_eq!(got.command, command);
    assert!(got.prompt_found);
    // The cursor may sit on an earlier row of the wrapped line.
    let mut screen = ScreenTracker::new(10, 20);
    screen.process(b"$ ");
    screen.note_input();
    screen.process(command.as_bytes());
    screen.process(b"\x1b[2A");
    assert_eq!(screen.command_at_enter().command, command);
}

#[test]
fn the_prompt_is_found_again_after_clear_screen() {
    let mut screen = at_prompt(24, 80);
    screen.process(b"\r\n\r\n\r\n");
    screen.process(PROMPT);
    screen.start = None;
    screen.note_input();
    screen.process(b"l");
    // Ctrl-L: bash clears the screen and redraws prompt and line at the top.
    screen.process(b"\x1b[H\x1b[2J");
    screen.process(PROMPT);
    screen.process(b"ls");
    let got = screen.command_at_enter();
    assert_eq!((got.command.as_str(), got.prompt_found), ("ls", true));
    // An Enter on an empty line, with no typing noted, uses the learned prompt.
    screen.process(b"\r\n");
    screen.process(PROMPT);
    let got = screen.command_at_enter();
    assert_eq!((got.command.as_str(), got.prompt_found), ("", true));
}

#[test]
fn a_right_prompt_is_removed() {
    let mut screen = ScreenTracker::new(24, 60);
    // zsh draws PROMPT, then RPROMPT at the right edge, then returns.
    screen.process(b"% \x1b[50G[main *]\x1b[3G");
    screen.note_input();
    screen.process(b"git status");
    assert_eq!(screen.command_at_enter().command, "git status");
}

#[test]
fn bash_search_prompts_are_removed() {
    let mut screen = at_prompt(24, 80);
    screen.process(b"\r\x1b[K(reverse-i-search)`rm': rm -rf /tmp/build");
    let got = screen.command_at_enter();
    assert_eq!(got.command, "rm -rf /tmp/build");
    assert!(!got.prompt_found);
}

#[test]
fn wide_characters_are_read_once() {
    let mut screen = ScreenTracker::new(24, 80);
    screen.process("λ ".as_bytes());
    screen.note_input();
    screen.process("echo 日本語 ok".as_bytes());
    assert_eq!(screen.command_at_enter().command, "echo 日本語 ok");
}

#[test]
fn sizes_are_clamped() {
    let mut screen = ScreenTracker::new(0, u16::MAX);
    screen.process(b"$ x");
    screen.resize(u16::MAX, 0);
    screen.note_input();
    let _ = screen.command_at_enter();
    let (rows, cols) = screen.parser.screen().size();
    assert_eq!((rows.get(), cols.get()), (MAX_ROWS, 1));
}
