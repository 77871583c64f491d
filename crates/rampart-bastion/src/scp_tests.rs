//! Unit tests of the scp command recogniser and tap, with transcripts
//! written as OpenSSH's `scp` and its remote end speak them.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Target,
}
use Side::{Client, Target};

/// What each side sent, in order.
type Transcript = Vec<(Side, Vec<u8>)>;

fn cmd(line: &str) -> Command {
    Command::parse(line.as_bytes()).unwrap_or_else(|| panic!("{line:?} is an scp command"))
}

fn sha(bytes: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, bytes).as_ref())
}

/// Feeds a transcript, each piece as one chunk; the events taken along
/// the way and at the end.
fn feed(command: &str, transcript: &[(Side, Vec<u8>)]) -> Result<Vec<FileEvent>, ScpError> {
    let mut tap = Tap::new(&cmd(command));
    let mut events = Vec::new();
    for (side, bytes) in transcript {
        match side {
            Client => tap.from_client(bytes)?,
            Target => tap.from_target(bytes)?,
        }
        events.extend(tap.take_events());
    }
    events.extend(tap.finish());
    Ok(events)
}

fn run(command: &str, transcript: &[(Side, Vec<u8>)]) -> Vec<FileEvent> {
    feed(command, transcript).unwrap_or_else(|e| panic!("a valid transcript: {e}"))
}

fn s(side: Side, bytes: &[u8]) -> (Side, Vec<u8>) {
    (side, bytes.to_vec())
}

/// `data` followed by the sender's `\0`.
fn body(data: &[u8]) -> Vec<u8> {
    [data, b"\0"].concat()
}

const OK: &[u8] = b"\0";

/// An upload of two files and a tree, as `scp -O -r -p a.txt tree HOST:/in`
/// sends it (`-d`: several sources).
fn upload_tree() -> Transcript {
    vec![
        s(Target, OK),
        s(Client, b"T1700000000 0 1700000001 0\n"),
        s(Target, OK),
        s(Client, b"C0644 5 a.txt\n"),
        s(Target, OK),
        (Client, body(b"hello")),
        s(Target, OK),
        s(Client, b"T1700000000 0 1700000001 0\n"),
        s(Target, OK),
        s(Client, b"D0755 0 tree\n"),
        s(Target, OK),
        s(Client, b"C0600 0 empty\n"),
        s(Target, OK),
        s(Client, b"\0"),
        s(Target, OK),
        s(Client, b"D0700 0 sub\n"),
        s(Target, OK),
        s(Client, b"C0644 3 x.bin\n"),
        s(Target, OK),
        (Client, body(b"\x00\x01\n")),
        s(Target, OK),
        s(Client, b"E\n"),
        s(Target, OK),
        s(Client, b"C0644 2 after\n"),
        s(Target, OK),
        (Client, body(b"hi")),
        s(Target, OK),
        s(Client, b"E\n"),
        s(Target, OK),
    ]
}

fn summary(events: &[FileEvent]) -> Vec<(String, String, u64, &'static str)> {
    events.iter().map(|e| (e.op.clone(), e.path.clone(), e.bytes, e.result.name())).collect()
}

fn row(op: &str, path: &str, bytes: u64, result: &'static str) -> (String, String, u64, &'static str) {
    (op.into(), path.into(), bytes, result)
}

#[test]
fn the_command_lines_openssh_sends_are_recognised() {
    let c = cmd("scp -t /tmp/in");
    assert_eq!(
        (c.mode, c.path.as_str(), c.recursive, c.preserve, c.to_directory),
        (Mode::Sink, "/tmp/in", false, false, false)
    );
    let c = cmd("scp -v -r -p -d -t -- -odd");
    assert_eq!(
        (c.mode, c.path.as_str(), c.recursive, c.preserve, c.to_directory),
        (Mode::Sink, "-odd", true, true, true)
    );
    let c = cmd("scp -r -f /srv/data");
    assert_eq!((c.mode, c.recursive), (Mode::Source, true));
    assert_eq!(cmd("scp -f /var/log/*.log").path, "/var/log/*.log", "a download may name a pattern");
    assert_eq!(cmd("scp -p -t .").path, ".");
    assert_eq!(cmd("scp -t ~/a_b-c+d,e=f:g@h%i.txt").path, "~/a_b-c+d,e=f:g@h%i.txt");
}

#[test]
fn anything_else_stays_a_plain_exec() {
    for line in [
        "scp -t 'x;touch MARKER'",
        "scp -t x;touch MARKER",
        "scp -t x touch",
        "scp -t $(id)",
        "scp -t `id`",
        "scp -t a|b",
        "scp -t a&b",
        "scp -t a>b",
        "scp -t a\nb",
        "scp -t /tmp/in\n",
        "scp -t \"x\"",
        "scp -t x#y",
        "scp -t {a,b}",
        "scp -t a!b",
        "scp -t caf\u{e9}",
        "scp -t *.txt",
        "scp -t a?",
        "scp -t [ab]",
        "scp -t -odd",
        "scp -t -- odd",
        "scp -t ",
        "scp -t",
        "scp  -t x",
        "scp -t  x",
        "scp -t x ",
        "scp -p -r -t x",
        "scp -r -r -t x",
        "scp -t -f x",
        "scp -x -t x",
        "scp -T -t x",
        "scp x",
        "/usr/bin/scp -t x",
        "sudo scp -t x",
        "scp-t x",
        "rsync --server . x",
        "",
    ] {
        assert_eq!(Command::parse(line.as_bytes()), None, "{line:?} is not scp");
    }
    assert_eq!(Command::parse(b"scp -t \xff"), None, "not UTF-8");
}

#[test]
fn an_upload_of_files_and_a_tree_reports_every_file_and_directory() {
    let events = run("scp -r -p -d -t /in", &upload_tree());
    assert_eq!(
        summary(&events),
        vec![
            row("upload", "/in/a.txt", 5, "done"),
            row("mkdir", "/in/tree", 0, "done"),
            row("upload", "/in/tree/empty", 0, "done"),
            row("mkdir", "/in/tree/sub", 0, "done"),
            row("upload", "/in/tree/sub/x.bin", 3, "done"),
            row("upload", "/in/tree/after", 2, "done"),
        ]
    );
    assert_eq!(events[0].sha256.as_deref(), Some(sha(b"hello").as_str()));
    assert_eq!(events[2].sha256.as_deref(), Some(sha(b"").as_str()));
    assert_eq!(events[4].sha256.as_deref(), Some(sha(b"\x00\x01\n").as_str()));
    assert!(events.iter().all(|e| e.name.is_none() && e.to.is_none()));
}

#[test]
fn a_single_upload_to_a_path_that_may_be_a_directory_names_what_was_sent() {
    let transcript =
        vec![s(Target, OK), s(Client, b"C0644 5 a.txt\n"), s(Target, OK), (Client, body(b"hello")), s(Target, OK)];
    let events = run("scp -t /tmp/b.txt", &transcript);
    assert_eq!(summary(&events), vec![row("upload", "/tmp/b.txt", 5, "done")]);
    assert_eq!(events[0].name.as_deref(), Some("a.txt"), "the target may hold it as /tmp/b.txt/a.txt");
    for dir in ["/tmp/", ".", "~", "/tmp/.."] {
        let events = run(&format!("scp -t {dir}"), &transcript);
        assert_eq!(events[0].path, join(dir, "a.txt"), "{dir} is a directory");
        assert_eq!(events[0].name, None);
    }
    let events = run("scp -d -t /tmp/dir", &transcript);
    assert_eq!((events[0].path.as_str(), events[0].name.as_deref()), ("/tmp/dir/a.txt", None));
}

#[test]
fn a_top_level_directory_upload_to_an_unknown_path_is_made_there() {
    let transcript = vec![
        s(Target, OK),
        s(Client, b"D0755 0 tree\n"),
        s(Target, OK),
        s(Client, b"C0644 1 f\n"),
        s(Target, OK),
        (Client, body(b"z")),
        s(Target, OK),
        s(Client, b"E\n"),
        s(Target, OK),
    ];
    let events = run("scp -r -t /srv/copy", &transcript);
    assert_eq!(summary(&events), vec![row("mkdir", "/srv/copy", 0, "done"), row("upload", "/srv/copy/f", 1, "done")]);
    assert_eq!(events[0].name.as_deref(), Some("tree"));
}

#[test]
fn a_download_reports_each_file_with_its_hash() {
    let data = vec![7u8; 10_000];
    let transcript = vec![
        s(Client, OK),
        s(Target, b"T1 0 2 0\n"),
        s(Client, OK),
        s(Target, b"C0644 10000 hosts\n"),
        s(Client, OK),
        (Target, body(&data)),
        s(Client, OK),
    ];
    let events = run("scp -p -f /etc/hosts", &transcript);
    assert_eq!(summary(&events), vec![row("download", "/etc/hosts", 10_000, "done")]);
    assert_eq!(events[0].sha256.as_deref(), Some(sha(&data).as_str()));

    let globbed = vec![
        s(Client, OK),
        s(Target, b"C0644 1 a.log\n"),
        s(Client, OK),
        (Target, body(b"a")),
        s(Client, OK),
        s(Target, b"\x01scp: /var/log/c.log: Permission denied\n"),
        s(Target, b"C0644 1 b.log\n"),
        s(Client, OK),
        (Target, body(b"b")),
        s(Client, OK),
    ];
    let events = run("scp -f /var/log/*.log", &globbed);
    assert_eq!(
        summary(&events),
        vec![
            row("download", "/var/log/a.log", 1, "done"),
            row("download", "/var/log/*.log", 0, "failed"),
            row("download", "/var/log/b.log", 1, "done"),
        ]
    );
    assert_eq!(
        events[1].result,
        FileResult::Failed { code: 1, message: "scp: /var/log/c.log: Permission denied".into() }
    );
}

#[test]
fn a_recursive_download_follows_the_tree_and_makes_no_mkdir_events() {
    let transcript = vec![
        s(Client, OK),
        s(Target, b"D0755 0 data\n"),
        s(Client, OK),
        s(Target, b"C0644 2 one\n"),
        s(Client, OK),
        (Target, body(b"11")),
        s(Client, OK),
        s(Target, b"E\n"),
        s(Client, OK),
    ];
    for path in ["/srv/data", "/srv/data/"] {
        let events = run(&format!("scp -r -f {path}"), &transcript);
        assert_eq!(summary(&events), vec![row("download", "/srv/data/one", 2, "done")], "{path}");
    }
}

#[test]
fn every_split_point_and_byte_by_byte_feeding_change_nothing() {
    let cases: Vec<(&str, Transcript)> = vec![
        ("scp -r -p -d -t /in", upload_tree()),
        (
            "scp -f /x",
            vec![
                s(Client, OK),
                s(Target, b"C0644 4 x\n"),
                s(Client, OK),
                (Target, body(b"abcd")),
                s(Client, b"\x01scp: x: disk full\n"),
            ],
        ),
    ];
    for (command, transcript) in cases {
        let whole = run(command, &transcript);
        assert!(!whole.is_empty());
        for (i, (side, bytes)) in transcript.iter().enumerate() {
            for cut in 1..bytes.len() {
                let mut split = transcript[..i].to_vec();
                split.push((*side, bytes[..cut].to_vec()));
                split.push((*side, bytes[cut..].to_vec()));
                split.extend_from_slice(&transcript[i + 1..]);
                assert_eq!(run(command, &split), whole, "cut at {cut} of piece {i}");
            }
        }
        let bytewise: Transcript =
            transcript.iter().flat_map(|(side, bytes)| bytes.iter().map(move |b| (*side, vec![*b]))).collect();
        assert_eq!(run(command, &bytewise), whole, "one byte at a time");
    }
}

#[test]
fn the_receivers_errors_fail_the_file_they_answer() {
    let transcript = vec![
        s(Target, OK),
        s(Client, b"C0644 5 locked\n"),
        s(Target, b"\x01scp: /in/locked: Permission denied\n"),
        // No data follows a refused file: the next line is a control line.
        s(Client, b"C0644 3 full\n"),
        s(Target, OK),
        (Client, body(b"abc")),
        s(Target, b"\x01scp: /in/full: No space left on device\n"),
        s(Client, b"D0755 0 d\n"),
        s(Target, b"\x01scp: /in/d: Not a directory\n"),
        s(Client, b"C0644 2 unread\n"),
        s(Target, OK),
        s(Client, b"xy\x01scp: unread: Input/output error\n"),
        s(Target, OK),
        s(Client, b"C0644 1 last\n"),
        s(Target, b"\x02scp: fatal\n"),
    ];
    let events = run("scp -d -t /in", &transcript);
    assert_eq!(
        summary(&events),
        vec![
            row("upload", "/in/locked", 0, "failed"),
            row("upload", "/in/full", 3, "failed"),
            row("mkdir", "/in/d", 0, "failed"),
            row("upload", "/in/unread", 2, "failed"),
            row("upload", "/in/last", 0, "failed"),
        ]
    );
    assert_eq!(events[0].result, FileResult::Failed { code: 1, message: "scp: /in/locked: Permission denied".into() });
    assert_eq!(events[0].sha256, None, "nothing was transferred");
    assert_eq!(events[1].sha256.as_deref(), Some(sha(b"abc").as_str()), "what passed is hashed");
    assert_eq!(events[3].result, FileResult::Failed { code: 1, message: "scp: unread: Input/output error".into() });
    assert_eq!(events[4].result, FileResult::Failed { code: 2, message: "scp: fatal".into() });
}

#[test]
fn a_channel_that_ends_mid_file_leaves_it_unclosed() {
    let mut tap = Tap::new(&cmd("scp -t /in/f"));
    tap.from_target(OK).unwrap();
    tap.from_client(b"C0644 100 f\n").unwrap();
    tap.from_target(OK).unwrap();
    tap.from_client(&[1u8; 40]).unwrap();
    assert!(tap.take_events().is_empty());
    let events = tap.finish();
    assert_eq!(summary(&events), vec![row("upload", "/in/f", 40, "unclosed")]);
    assert_eq!(events[0].sha256.as_deref(), Some(sha(&[1u8; 40]).as_str()));

    let mut waiting = Tap::new(&cmd("scp -r -t /in"));
    waiting.from_target(OK).unwrap();
    waiting.from_client(b"D0755 0 d\n").unwrap();
    assert_eq!(summary(&waiting.finish()), vec![row("mkdir", "/in", 0, "unclosed")]);
}

#[test]
fn a_large_file_passes_in_bounded_memory() {
    let mut tap = Tap::new(&cmd("scp -t /in/big"));
    tap.from_target(OK).unwrap();
    tap.from_client(format!("C0644 {} big\n", 64 * 1024 * 1024).as_bytes()).unwrap();
    tap.from_target(OK).unwrap();
    let chunk = vec![0x5a; 32 * 1024];
    for _ in 0..2048 {
        tap.from_client(&chunk).unwrap();
        assert!(tap.held() < 64, "data is hashed, not held");
    }
    tap.from_client(b"\0").unwrap();
    tap.from_target(OK).unwrap();
    assert_eq!(summary(&tap.take_events()), vec![row("upload", "/in/big", 64 * 1024 * 1024, "done")]);
}

/// Feeds `line` as the sender's first control line of a sink session.
fn first_line(line: &[u8]) -> Result<Vec<FileEvent>, ScpError> {
    feed("scp -r -t /in", &[s(Target, OK), s(Client, line)])
}

#[test]
fn hostile_control_lines_are_protocol_errors() {
    for (line, expected) in [
        (&b"C0644 5 a/b\n"[..], ScpError::BadName("a/b".into())),
        (b"C0644 5 ..\n", ScpError::BadName("..".into())),
        (b"C0644 5 .\n", ScpError::BadName(".".into())),
        (b"D0755 0 ..\n", ScpError::BadName("..".into())),
        (b"C0644 5 /etc/passwd\n", ScpError::BadName("/etc/passwd".into())),
        (b"C0644 5 \n", ScpError::BadName(String::new())),
        (b"C0644 5 a\0b\n", ScpError::BadName("a\0b".into())),
        (b"C0644 99999999999999999999 a\n", ScpError::SizeOverflow),
        (b"C0644 9223372036854775808 a\n", ScpError::SizeOverflow),
        (b"C0a44 5 a\n", ScpError::Malformed("a mode of four octal digits")),
        (b"C0648 5 a\n", ScpError::Malformed("a mode of four octal digits")),
        (b"C644 5 a\n", ScpError::Malformed("a mode of four octal digits")),
        (b"C06440 5 a\n", ScpError::Malformed("the mode not followed by a space")),
        (b"C064\n", ScpError::Malformed("a mode of four octal digits")),
        (b"C0644 -5 a\n", ScpError::Malformed("no size")),
        (b"C0644 5a\n", ScpError::Malformed("the size not followed by a space")),
        (b"C0644  a\n", ScpError::Malformed("no size")),
        (b"E\n", ScpError::Malformed("E outside any directory")),
        (b"Ex\n", ScpError::Malformed("E with more on its line")),
        (b"T1 0 2\n", ScpError::Malformed("times that are not four numbers: mtime usec atime usec")),
        (b"T1 1000000 2 0\n", ScpError::Malformed("times that are not four numbers: mtime usec atime usec")),
        (b"\n", ScpError::Malformed("an empty line")),
        (b"No match.\n", ScpError::Malformed("not a control record (C, D, E, T or an error)")),
        (b"GET / HTTP/1.1\n", ScpError::Malformed("not a control record (C, D, E, T or an error)")),
    ] {
        assert_eq!(first_line(line).err(), Some(expected), "{:?}", String::from_utf8_lossy(line));
    }
}

#[test]
fn oversized_lines_and_messages_are_cut_off() {
    let long = [b"C0644 1 ".as_slice(), &vec![b'a'; MAX_LINE]].concat();
    assert_eq!(first_line(&long).err(), Some(ScpError::LineTooLong), "no newline in sight");
    let fits = [b"C0644 1 ".as_slice(), &vec![b'a'; MAX_LINE - 9], b"\n"].concat();
    assert!(first_line(&fits).is_ok(), "a line of exactly {MAX_LINE} bytes is fine");
    let mut tap = Tap::new(&cmd("scp -t /in"));
    assert_eq!(tap.from_target(&[b'\x01'; MAX_LINE + 1]), Err(ScpError::LineTooLong), "a reply message");
    let mut tap = Tap::new(&cmd("scp -t /in"));
    tap.from_target(OK).unwrap();
    tap.from_client(b"C0644 1 a\n").unwrap();
    tap.from_target(OK).unwrap();
    tap.from_client(b"a\x01").unwrap();
    assert_eq!(tap.from_client(&[b'm'; MAX_LINE]), Err(ScpError::LineTooLong), "a status message");
}

#[test]
fn a_sender_out_of_turn_and_replies_out_of_kind_are_protocol_errors() {
    let early = feed("scp -t /in", &[s(Client, b"C0644 1 a\n")]);
    assert_eq!(early.err(), Some(ScpError::OutOfTurn), "before the receiver is ready");
    let pipelined = feed("scp -t /in", &[s(Target, OK), s(Client, b"C0644 1 a\na\0")]);
    assert_eq!(pipelined.err(), Some(ScpError::OutOfTurn), "data before the file was accepted");
    assert_eq!(feed("scp -t /in", &[s(Target, b"X")]).err(), Some(ScpError::BadReply(b'X')));
    let flood = feed("scp -f /x", &[s(Client, &[0u8; MAX_QUEUED_REPLIES + 2])]);
    assert_eq!(flood.err(), Some(ScpError::TooManyReplies));
    let status = feed("scp -t /in", &[s(Target, OK), s(Client, b"C0644 1 a\n"), s(Target, OK), s(Client, b"aZ")]);
    assert_eq!(status.err(), Some(ScpError::Malformed("the byte after a file's data is not a status")));
}

#[test]
fn directories_nest_only_so_deep() {
    let mut tap = Tap::new(&cmd("scp -r -t /in"));
    tap.from_target(OK).unwrap();
    let name = "d".repeat(1000);
    let line = format!("D0755 0 {name}\n");
    let mut failed = None;
    for _ in 0..100 {
        if let Err(e) = tap.from_client(line.as_bytes()) {
            failed = Some(e);
            break;
        }
        tap.from_target(OK).unwrap();
        assert!(tap.held() <= MAX_DIR_PATH + 2 * MAX_LINE);
    }
    assert_eq!(failed, Some(ScpError::TooDeep));
}

#[test]
fn a_stale_reply_is_taken_as_the_sender_would_take_it() {
    // OpenSSH's sink may warn after acknowledging `E` (times it could not
    // set); the sender reads that warning as the answer to its next line.
    let transcript = vec![
        s(Target, OK),
        s(Client, b"D0755 0 d\n"),
        s(Target, OK),
        s(Client, b"E\n"),
        s(Target, b"\0\x01scp: /in/d: set times: Operation not permitted\n"),
        s(Client, b"C0644 1 f\n"),
        s(Target, OK),
        s(Client, b"C0644 1 g\n"),
        s(Target, OK),
        (Client, body(b"g")),
        s(Target, OK),
    ];
    let events = run("scp -r -d -t /in", &transcript);
    assert_eq!(
        summary(&events),
        vec![row("mkdir", "/in/d", 0, "done"), row("upload", "/in/f", 0, "failed"), row("upload", "/in/g", 1, "done")]
    );
}
