//! Unit tests of the asciicast writer and reader: the exact text written,
//! round trips, UTF-8 carried across chunks, chunk hashes checked against
//! the bytes, clock steps back, write failures, and tolerant parsing.

use std::io::{self, Write};
use std::num::NonZeroU64;
use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};

use super::*;

fn header() -> Header {
    Header {
        width: 80,
        height: 24,
        timestamp: Some(1_700_000_000),
        shell: Some("/bin/bash".into()),
        term: Some("xterm-256color".into()),
        title: Some("alice@web-1".into()),
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn chunk(n: u64) -> NonZeroU64 {
    NonZeroU64::new(n).unwrap()
}

#[test]
fn the_file_is_asciicast_v2_line_by_line() {
    let (mut w, _) = AsciicastWriter::new(Vec::new(), &header(), chunk(1 << 20)).unwrap();
    w.output(Duration::from_micros(123_456), b"alice@web-1:~$ ").unwrap();
    w.input(ms(1500), b"ls\r").unwrap();
    w.output(ms(1501), b"a \"b\"\\\x1b[0m\r\n").unwrap();
    w.resize(ms(2000), 120, 40).unwrap();
    w.marker(ms(2000), "reject: rm -rf /").unwrap();
    let done = w.finish().unwrap();
    let text = String::from_utf8(done.writer).unwrap();
    let expected = concat!(
        r#"{"version":2,"width":80,"height":24,"timestamp":1700000000,"env":{"SHELL":"/bin/bash","TERM":"xterm-256color"},"title":"alice@web-1"}"#,
        "\n",
        r#"[0.123456, "o", "alice@web-1:~$ "]"#,
        "\n",
        r#"[1.500000, "i", "ls\r"]"#,
        "\n",
        r#"[1.501000, "o", "a \"b\"\\\u001b[0m\r\n"]"#,
        "\n",
        r#"[2.000000, "r", "120x40"]"#,
        "\n",
        r#"[2.000000, "m", "reject: rm -rf /"]"#,
        "\n",
    );
    assert_eq!(text, expected);
    assert_eq!(done.total_bytes, expected.len() as u64);
    assert_eq!(done.sha256.as_slice(), digest(&SHA256, expected.as_bytes()).as_ref());
}

#[test]
fn what_is_written_parses_back() {
    let (mut w, _) = AsciicastWriter::new(Vec::new(), &header(), chunk(1 << 20)).unwrap();
    w.output(ms(10), "λ ünïcödé \u{1f600}\n".as_bytes()).unwrap();
    w.input(ms(20), b"\x03\x7f\t").unwrap();
    w.resize(ms(30), 100, 30).unwrap();
    let cast = parse(&w.finish().unwrap().writer, Limits::default()).unwrap();
    assert_eq!(cast.header, header());
    assert_eq!(cast.skipped, 0);
    let events: Vec<(Duration, EventKind, &str)> =
        cast.events.iter().map(|e| (e.time, e.kind.clone(), e.data.as_str())).collect();
    assert_eq!(
        events,
        [
            (ms(10), EventKind::Output, "λ ünïcödé \u{1f600}\n"),
            (ms(20), EventKind::Input, "\x03\x7f\t"),
            (ms(30), EventKind::Resize { cols: 100, rows: 30 }, "100x30"),
        ]
    );
}

#[test]
fn a_character_split_across_chunks_is_carried_over() {
    let (mut w, _) = AsciicastWriter::new(Vec::new(), &header(), chunk(1 << 20)).unwrap();
    w.output(ms(1), b"caf\xc3").unwrap();
    w.output(ms(2), b"\xa9!").unwrap();
    for (i, b) in "\u{1f600}".bytes().enumerate() {
        w.output(ms(3 + i as u64), &[b]).unwrap();
    }
    // Bytes that can never be UTF-8 are replaced, not carried.
    w.output(ms(10), b"x\xff\xfey").unwrap();
    // A character still unfinished at the end is written as U+FFFD.
    w.output(ms(11), b"\xe2\x82").unwrap();
    let cast = parse(&w.finish().unwrap().writer, Limits::default()).unwrap();
    let data: Vec<&str> = cast.events.iter().map(|e| e.data.as_str()).collect();
    assert_eq!(data, ["caf", "\u{e9}!", "\u{1f600}", "x\u{fffd}\u{fffd}y", "\u{fffd}"]);
    assert_eq!(cast.events[2].time, ms(6), "the event takes the time its last byte arrived");
}

#[test]
fn chunk_hashes_cover_the_file_exactly() {
    let (mut w, mut chunks) = AsciicastWriter::new(Vec::new(), &header(), chunk(64)).unwrap();
    for i in 0..50u64 {
        chunks.extend(w.output(ms(i * 7), format!("line {i}: {}\r\n", "x".repeat(i as usize)).as_bytes()).unwrap());
    }
    let done = w.finish().unwrap();
    chunks.extend(done.chunks.iter().copied());
    let file = done.writer;
    assert_eq!(done.total_bytes, file.len() as u64);
    assert_eq!(done.sha256.as_slice(), digest(&SHA256, &file).as_ref());
    let mut offset = 0u64;
    for (i, c) in chunks.iter().enumerate() {
        assert_eq!((c.index, c.offset), (i as u64, offset));
        let last = i + 1 == chunks.len();
        assert!(c.len == 64 || last && c.len > 0 && c.len < 64, "chunk {i} has {} bytes", c.len);
        let bytes = &file[c.offset as usize..(c.offset + c.len) as usize];
        assert_eq!(c.sha256.as_slice(), digest(&SHA256, bytes).as_ref(), "chunk {i}");
        offset += c.len;
    }
    assert_eq!(offset, file.len() as u64);
}

#[test]
fn time_never_goes_backwards() {
    let (mut w, _) = AsciicastWriter::new(Vec::new(), &header(), chunk(1 << 20)).unwrap();
    w.output(ms(500), b"a").unwrap();
    w.output(ms(100), b"b").unwrap();
    let cast = parse(&w.finish().unwrap().writer, Limits::default()).unwrap();
    assert_eq!(cast.events[1].time, ms(500));
}

struct FailAfter(usize);

impl Write for FailAfter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.0 < buf.len() {
            return Err(io::Error::other("disk full"));
        }
        self.0 -= buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failed_write_breaks_the_recording() {
    let (mut w, _) = AsciicastWriter::new(FailAfter(200), &header(), chunk(64)).unwrap();
    assert!(matches!(w.output(ms(1), &[b'x'; 300]), Err(RecordingError::Io(_))));
    assert!(matches!(w.output(ms(2), b"y"), Err(RecordingError::Broken)));
    assert!(matches!(w.finish(), Err(RecordingError::Broken)));
}

#[test]
fn the_reader_tolerates_what_players_tolerate() {
    let file = concat!(
        "\n",
        r#"{"version": 2, "width": 100, "height": 30, "idle_time_limit": 2.5, "env": {"TERM": "xterm"}}"#,
        "\r\n",
        r#"[0.5, "o", "hello"]"#,
        "\r\n\n",
        r#"[0.6, "x", "future event code"]"#,
        "\n",
        r#"[0.7, "o"]"#,
        "\n",
        r#"[-1, "o", "negative time"]"#,
        "\n",
        r#"[0.8, "r", "wide"]"#,
        "\n",
        "not json at all\n",
        r#"[1e300, "o", "far future"]"#,
        "\n",
        r#"[0.9, "i", "last"]"#,
    );
    let cast = parse(file.as_bytes(), Limits::default()).unwrap();
    assert_eq!((cast.header.width, cast.header.height), (100, 30));
    assert_eq!(cast.header.term.as_deref(), Some("xterm"));
    let data: Vec<&str> = cast.events.iter().map(|e| e.data.as_str()).collect();
    assert_eq!(data, ["hello", "future event code", "last"]);
    assert_eq!(cast.events[1].kind, EventKind::Other("x".into()));
    assert_eq!(cast.skipped, 5);
}

#[test]
fn the_reader_is_bounded() {
    let mut file = String::from("{\"version\": 2, \"width\": 80, \"height\": 24}\n");
    file.push_str(&format!("[1.0, \"o\", \"{}\"]\n", "y".repeat(1000)));
    for i in 0..10 {
        file.push_str(&format!("[{i}.0, \"o\", \"e{i}\"]\n"));
    }
    let cast = parse(file.as_bytes(), Limits { max_line: 100, max_events: 4 }).unwrap();
    assert_eq!(cast.skipped, 1, "the long line is skipped, not buffered");
    assert_eq!(cast.events.len(), 4);
    assert!(cast.truncated);
    assert_eq!(cast.events[0].data, "e0");

    let long_header = format!("{{\"version\": 2, \"title\": \"{}\"}}\n", "t".repeat(200));
    assert!(matches!(
        parse(long_header.as_bytes(), Limits { max_line: 100, max_events: 4 }),
        Err(ParseError::HeaderTooLong(100))
    ));
}

#[test]
fn headers_of_other_versions_are_refused() {
    assert!(matches!(parse(b"", Limits::default()), Err(ParseError::Empty)));
    assert!(matches!(parse(b"\n \n", Limits::default()), Err(ParseError::Empty)));
    assert!(matches!(parse(b"[1, 2]\n", Limits::default()), Err(ParseError::BadHeader(_))));
    let v3 = parse(b"{\"version\": 3, \"term\": {\"cols\": 80, \"rows\": 24}}\n", Limits::default()).unwrap_err();
    assert_eq!(v3.to_string(), "asciicast version 3 is not supported; only version 2 is");
    assert!(matches!(parse(b"{\"width\": 80}\n", Limits::default()), Err(ParseError::BadHeader(_))));
}
