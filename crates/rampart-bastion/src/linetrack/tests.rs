//! Unit tests of the input-line tracker with keystroke streams as a
//! terminal sends them to bash and zsh: arrows in CSI and SS3 form,
//! backspace, kills, bracketed paste, completion and history.

use super::*;

/// Feeds `input` in one go and checks that forwarded plus held bytes give
/// back the input exactly, since the proxy must not lose or add a key.
fn run(tracker: &mut LineTracker, input: &[u8]) -> Vec<Action> {
    let actions = tracker.feed(input);
    let mut replay = Vec::new();
    for action in &actions {
        match action {
            Action::Forward(bytes) => replay.extend_from_slice(bytes),
            Action::Submit { held_enter, .. } => replay.extend_from_slice(held_enter),
        }
    }
    assert_eq!(replay, input, "forwarded and held bytes must be the input");
    actions
}

fn submits(actions: &[Action]) -> Vec<(String, bool)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Submit { line, certain, .. } => Some((line.clone(), *certain)),
            Action::Forward(_) => None,
        })
        .collect()
}

fn line_of(shell: Shell, input: &[u8]) -> (String, bool) {
    let mut tracker = LineTracker::new(shell);
    let got = submits(&run(&mut tracker, input));
    assert_eq!(got.len(), 1, "expected one submit for {input:?}, got {got:?}");
    got[0].clone()
}

fn sure(line: &str) -> (String, bool) {
    (line.to_owned(), true)
}

#[test]
fn the_enter_is_held_and_everything_else_forwarded() {
    let mut tracker = LineTracker::new(Shell::Bash);
    let actions = run(&mut tracker, b"ls -la\r");
    assert_eq!(
        actions,
        [
            Action::Forward(b"ls -la".to_vec()),
            Action::Submit {
                line: "ls -la".into(),
                certain: true,
                held_enter: b"\r".to_vec(),
                doubts: Doubts::default(),
                pasted: false
            },
        ]
    );
    assert_eq!(tracker.current_line(), "");
}

#[test]
fn backspace_delete_and_cursor_keys_edit_the_line() {
    let cases: &[(&[u8], &str)] = &[
        (b"lss\x7f -l\r", "ls -l"),
        (b"lss\x08 -l\r", "ls -l"),
        (b"cho hi\x01e\r", "echo hi"),
        (b"echo xhi\x1b[H\x1b[C\x1b[C\x1b[C\x1b[C\x1b[C\x1b[3~\r", "echo hi"),
        (b"echo hi\x1bOD\x1bODX\x1bOCY\r", "echo XhYi"),
        (b"echo hi\x1b[D\x1b[DX\x1b[F!\r", "echo Xhi!"),
        (b"b\x1b[1~a\x1b[4~c\x1b[7~>\x1b[8~<\r", ">abc<"),
        (b"ls /tmp/x\x1bOH#\x1bOF/\r", "#ls /tmp/x/"),
        (b"sl\x14\r", "ls"),
        (b"echo hello world\x01\x1bf\x0b\r", "echo"),
        (b"abc\x01\x04\x05d\r", "bcd"),
        (b"ls foo bar\x1b[1;5D\x1b[1;5D\x0b\r", "ls "),
    ];
    for (input, expected) in cases {
        assert_eq!(line_of(Shell::Bash, input), sure(expected), "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn kill_commands_follow_each_shell() {
    // Bash's Ctrl-U kills back to the start; zsh's kills the whole line.
    assert_eq!(line_of(Shell::Bash, b"abc def\x1b[D\x1b[D\x1b[D\x15\r"), sure("def"));
    assert_eq!(line_of(Shell::Zsh, b"abc def\x1b[D\x1b[D\x1b[D\x15\r"), sure(""));
    // Ctrl-W: bash deletes back to whitespace, zsh stops at non-WORDCHARS.
    assert_eq!(line_of(Shell::Bash, b"echo a,b\x17\r"), sure("echo "));
    assert_eq!(line_of(Shell::Zsh, b"echo a,b\x17\r"), sure("echo a,"));
    assert_eq!(line_of(Shell::Bash, b"ls /usr/local/bin\x17\r"), sure("ls "));
    // Meta-DEL: readline words are alphanumeric, ZLE's include `.`.
    assert_eq!(line_of(Shell::Bash, b"ls foo.bar\x1b\x7f\r"), sure("ls foo."));
    assert_eq!(line_of(Shell::Zsh, b"ls foo.bar\x1b\x7f\r"), sure("ls "));
    assert_eq!(line_of(Shell::Bash, b"rm -rf /tmp\x01\x1bd\r"), sure(" -rf /tmp"));
}

#[test]
fn ctrl_c_discards_the_line() {
    let mut tracker = LineTracker::new(Shell::Bash);
    let actions = run(&mut tracker, b"rm -rf /\t\x03ls\r");
    assert_eq!(submits(&actions), [sure("ls")]);
}

#[test]
fn completion_and_history_make_the_line_uncertain() {
    let mut tracker = LineTracker::new(Shell::Bash);
    let actions = run(&mut tracker, b"cd /us\t\r");
    let Some(Action::Submit { certain, doubts, .. }) = actions.last() else { panic!("no submit: {actions:?}") };
    assert!(!certain && doubts.completion);

    for recall in [&b"\x1b[A"[..], b"\x1bOA", b"\x10", b"\x12rm"] {
        let mut input = recall.to_vec();
        input.push(b'\r');
        let actions = run(&mut tracker, &input);
        let Some(Action::Submit { certain, doubts, .. }) = actions.last() else { panic!("no submit") };
        assert!(!certain && doubts.history, "{recall:?}");
    }
    // Going to the end and killing back to the start empties the line
    // whatever history put there, so the new line is certain again.
    assert_eq!(line_of(Shell::Bash, b"\x1b[A\x05\x15ls\r"), sure("ls"));
    assert_eq!(line_of(Shell::Bash, b"\x1b[A\x01\x0bls\r"), sure("ls"));
    assert_eq!(line_of(Shell::Zsh, b"\x1b[A\x15ls\r"), sure("ls"));
    assert!(!line_of(Shell::Bash, b"\x1b[A\x1b[D\x15ls\r").1);
}

#[test]
fn several_lines_in_one_read_give_several_submits() {
    let mut tracker = LineTracker::new(Shell::Bash);
    let actions = run(&mut tracker, b"ls\rpwd\r\nid");
    assert_eq!(submits(&actions), [sure("ls"), sure("pwd")]);
    // The LF of CR LF runs an empty line and is forwarded, not held.
    assert_eq!(actions.last(), Some(&Action::Forward(b"\nid".to_vec())));
    assert_eq!(tracker.current_line(), "id");
}

#[test]
fn a_bracketed_paste_submits_each_pasted_line() {
    let mut tracker = LineTracker::new(Shell::Bash);
    tracker.feed_output(b"\x1b[?2004hprompt$ ");
    let actions = run(&mut tracker, b"\x1b[200~ls\r\nrm -rf /\recho \x1b[201~done\r");
    let pasted: Vec<(String, bool)> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Submit { line, pasted, .. } => Some((line.clone(), *pasted)),
            Action::Forward(_) => None,
        })
        .collect();
    assert_eq!(pasted, [("ls".into(), true), ("rm -rf /".into(), true), ("echo done".into(), false)]);
    // Control keys inside a paste are text, not editing commands.
    assert_eq!(line_of(Shell::Bash, b"\x1b[200~a\x7fb\x1b[201~\r"), sure("a\x7fb"));
}

#[test]
fn escape_sequences_split_across_reads_are_followed() {
    let stream: &[u8] = b"echo caf\xc3\xa9 x\x1b[D\x1b[3~\x1b[200~!\x1b[20\x1b[201~\r";
    let whole = submits(&run(&mut LineTracker::new(Shell::Bash), stream));
    assert_eq!(whole, [sure("echo caf\u{e9} !\x1b[20")]);
    let mut tracker = LineTracker::new(Shell::Bash);
    let mut bytewise = Vec::new();
    for b in stream {
        bytewise.extend(run(&mut tracker, std::slice::from_ref(b)));
    }
    assert_eq!(submits(&bytewise), whole);
}

#[test]
fn overflow_and_bad_utf8_are_flagged() {
    let mut tracker = LineTracker::with_max_line(Shell::Bash, 8);
    let actions = run(&mut tracker, b"echo 123456789\r");
    let Some(Action::Submit { line, doubts, .. }) = actions.last() else { panic!("no submit") };
    assert_eq!((line.as_str(), doubts.overflow), ("echo 123", true));

    let actions = run(&mut tracker, b"a\xffb\xc3\r");
    let Some(Action::Submit { line, doubts, certain, .. }) = actions.last() else { panic!("no submit") };
    assert_eq!(line, "a\u{fffd}b\u{fffd}");
    assert!(doubts.invalid_utf8 && !certain);
}

#[test]
fn full_screen_programs_make_input_uncertain() {
    let mut tracker = LineTracker::new(Shell::Bash);
    tracker.feed_output(b"\x1b[?1049h\x1b[H\x1b[2J");
    let actions = run(&mut tracker, b"ihello\x1b:wq\r");
    let Some(Action::Submit { certain, doubts, .. }) = actions.last() else { panic!("no submit") };
    assert!(!certain && doubts.full_screen);
    tracker.feed_output(b"\x1b[?1049l$ ");
    assert_eq!(submits(&run(&mut tracker, b"ls\r")), [sure("ls")]);
}

#[test]
fn odd_enters_are_still_held() {
    // Ctrl-V makes the next CR text, so no Enter yet.
    assert_eq!(line_of(Shell::Bash, b"echo \x16\rx\r"), sure("echo \rx"));
    // An Enter that ends an unfinished escape sequence is still an Enter.
    let mut tracker = LineTracker::new(Shell::Bash);
    let actions = run(&mut tracker, b"ls\x1b[1\r");
    let Some(Action::Submit { line, certain, doubts, .. }) = actions.last() else { panic!("no submit") };
    assert_eq!((line.as_str(), *certain, doubts.unknown_key), ("ls", false, true));
    // Ctrl-O runs the line too, and recalls the next history entry.
    let actions = run(&mut tracker, b"make\x0f\r");
    let lines: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Submit { line, certain, held_enter, .. } => Some((line.clone(), *certain, held_enter.clone())),
            Action::Forward(_) => None,
        })
        .collect();
    assert_eq!(lines, [("make".into(), true, vec![0x0f]), (String::new(), false, b"\r".to_vec())]);
}

#[test]
fn fake_paste_brackets_are_flagged() {
    let mut tracker = LineTracker::new(Shell::Bash);
    tracker.feed_output(b"\x1b[?2004l");
    let actions = run(&mut tracker, b"\x1b[200~ls\x1b[201~\r");
    let Some(Action::Submit { doubts, .. }) = actions.last() else { panic!("no submit") };
    assert!(doubts.unexpected_paste);
}
