//! Unit tests of the SFTP framer and audit, with packets built as OpenSSH
//! sends them.

use super::*;

fn packet(kind: u8, id: Option<u32>, fields: &[Field<'_>]) -> Vec<u8> {
    let mut body = vec![kind];
    if let Some(id) = id {
        body.extend_from_slice(&id.to_be_bytes());
    }
    for f in fields {
        match f {
            Field::U32(v) => body.extend_from_slice(&v.to_be_bytes()),
            Field::U64(v) => body.extend_from_slice(&v.to_be_bytes()),
            Field::Str(s) => put_string(&mut body, s),
        }
    }
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

enum Field<'a> {
    U32(u32),
    U64(u64),
    Str(&'a [u8]),
}
use Field::{Str, U32, U64};

const EMPTY_ATTRS: Field<'static> = U32(0);

fn open(id: u32, path: &str, flags: u32) -> Vec<u8> {
    packet(OPEN, Some(id), &[Str(path.as_bytes()), U32(flags), EMPTY_ATTRS])
}
fn handle(id: u32, h: &[u8]) -> Vec<u8> {
    packet(HANDLE, Some(id), &[Str(h)])
}
fn read(id: u32, h: &[u8], offset: u64, len: u32) -> Vec<u8> {
    packet(READ, Some(id), &[Str(h), U64(offset), U32(len)])
}
fn data(id: u32, d: &[u8]) -> Vec<u8> {
    packet(DATA, Some(id), &[Str(d)])
}
fn write(id: u32, h: &[u8], offset: u64, d: &[u8]) -> Vec<u8> {
    packet(WRITE, Some(id), &[Str(h), U64(offset), Str(d)])
}
fn close(id: u32, h: &[u8]) -> Vec<u8> {
    packet(CLOSE, Some(id), &[Str(h)])
}
fn ok(id: u32) -> Vec<u8> {
    status(id, FX_OK, "")
}
fn sha(bytes: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, bytes).as_ref())
}

const BOTH: Allow = Allow { read: true, write: true };

fn fwd(a: &mut Audit, p: &[u8]) {
    assert_eq!(a.client(p).expect("a well-formed request"), Verdict::Forward);
}

#[test]
fn the_framer_yields_whole_packets_however_the_bytes_arrive() {
    let stream: Vec<u8> = [open(1, "/etc/hosts", PF_READ), read(2, b"h", 0, 10), close(3, b"h")].concat();
    let mut whole = Framer::default();
    let at_once = whole.push(&stream).expect("valid");
    assert_eq!(at_once.len(), 3);
    assert_eq!(at_once.concat(), stream);
    let mut byte_wise = Framer::default();
    let mut got = Vec::new();
    for b in &stream {
        got.extend(byte_wise.push(std::slice::from_ref(b)).expect("valid"));
    }
    assert_eq!(got, at_once);
    assert_eq!(byte_wise.pending(), 0);
}

#[test]
fn the_framer_refuses_oversized_and_empty_packets() {
    let mut f = Framer::default();
    let huge = ((MAX_PACKET + 1) as u32).to_be_bytes();
    assert_eq!(f.push(&huge), Err(SftpError::TooLarge(MAX_PACKET + 1)));
    let mut f = Framer::default();
    assert!(matches!(f.push(&[0, 0, 0, 0]), Err(SftpError::Malformed { .. })));
}

#[test]
fn a_download_is_reported_with_its_size_and_hash() {
    let mut a = Audit::new(BOTH);
    fwd(&mut a, &packet(INIT, None, &[U32(3)]));
    a.server(&packet(VERSION, None, &[U32(3)])).expect("version");
    fwd(&mut a, &open(1, "/srv/data.bin", PF_READ));
    a.server(&handle(1, b"H1")).expect("handle");
    fwd(&mut a, &read(2, b"H1", 0, 5));
    fwd(&mut a, &read(3, b"H1", 5, 5));
    fwd(&mut a, &read(4, b"H1", 10, 5));
    // The second answer arrives first: hashing still follows the offsets.
    a.server(&data(3, b"world")).expect("data");
    a.server(&data(2, b"hello")).expect("data");
    a.server(&status(4, 1, "EOF")).expect("eof");
    assert!(a.take_events().is_empty(), "nothing is reported before the close");
    fwd(&mut a, &close(5, b"H1"));
    a.server(&ok(5)).expect("status");
    let events = a.take_events();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!((e.op.as_str(), e.path.as_str(), e.bytes), ("download", "/srv/data.bin", 10));
    assert_eq!(e.sha256.as_deref(), Some(sha(b"helloworld").as_str()));
    assert_eq!(e.result, FileResult::Done);
    assert_eq!(a.open_handles(), 0);
}

#[test]
fn an_upload_is_reported_with_its_size_and_hash() {
    let mut a = Audit::new(BOTH);
    fwd(&mut a, &open(7, "/tmp/up", PF_WRITE | PF_CREAT | PF_TRUNC));
    a.server(&handle(7, b"W")).expect("handle");
    fwd(&mut a, &write(8, b"W", 0, b"abc"));
    fwd(&mut a, &write(9, b"W", 3, b"def"));
    a.server(&ok(8)).expect("ok");
    a.server(&ok(9)).expect("ok");
    fwd(&mut a, &close(10, b"W"));
    let events = a.take_events();
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].op.as_str(), events[0].bytes), ("upload", 6));
    assert_eq!(events[0].sha256.as_deref(), Some(sha(b"abcdef").as_str()));
}

#[test]
fn overlapping_writes_count_bytes_but_give_up_the_hash_and_say_why() {
    let mut a = Audit::new(BOTH);
    fwd(&mut a, &open(1, "/tmp/x", PF_WRITE));
    a.server(&handle(1, b"W")).expect("handle");
    fwd(&mut a, &write(2, b"W", 0, b"abc"));
    fwd(&mut a, &write(3, b"W", 1, b"zz"));
    fwd(&mut a, &close(4, b"W"));
    let e = &a.take_events()[0];
    assert_eq!(e.bytes, 5);
    assert_eq!(e.sha256, None);
    assert_eq!(e.hash_note, Some("overlapping offsets"));
}

#[test]
fn a_read_only_grant_refuses_every_change_and_the_target_never_sees_it() {
    let mut a = Audit::new(Allow { read: true, write: false });
    for (id, p) in [
        (1, open(1, "/etc/passwd", PF_WRITE | PF_TRUNC)),
        (2, packet(REMOVE, Some(2), &[Str(b"/etc/passwd")])),
        (3, packet(RENAME, Some(3), &[Str(b"/a"), Str(b"/b")])),
        (4, packet(MKDIR, Some(4), &[Str(b"/d"), EMPTY_ATTRS])),
        (5, packet(EXTENDED, Some(5), &[Str(b"posix-rename@openssh.com"), Str(b"/a"), Str(b"/b")])),
    ] {
        let verdict = a.client(&p).expect("well-formed");
        let Verdict::Answer(reply) = verdict else { panic!("request {id} was passed on") };
        let mut r = Reader::packet(&reply).expect("a packet");
        assert_eq!(r.kind, STATUS);
        assert_eq!(r.u32().expect("id"), id, "the answer carries the request's id");
        assert_eq!(r.u32().expect("code"), FX_PERMISSION_DENIED);
        assert!(String::from_utf8_lossy(r.string().expect("msg")).contains("sftp-write"));
    }
    let events = a.take_events();
    let ops: Vec<&str> = events.iter().map(|e| e.op.as_str()).collect();
    assert_eq!(ops, ["upload", "remove", "rename", "mkdir", "rename"]);
    assert!(events.iter().all(|e| e.result == FileResult::Refused { missing: "sftp-write" }));
    // Reading still works.
    fwd(&mut a, &open(6, "/etc/hosts", PF_READ));
    fwd(&mut a, &packet(STAT, Some(7), &[Str(b"/")]));
}

#[test]
fn a_write_only_grant_is_a_drop_box() {
    let mut a = Audit::new(Allow { read: false, write: true });
    assert!(matches!(a.client(&open(1, "/etc/shadow", PF_READ)), Ok(Verdict::Answer(_))));
    assert!(matches!(a.client(&packet(OPENDIR, Some(2), &[Str(b"/")])), Ok(Verdict::Answer(_))));
    assert!(matches!(a.client(&open(3, "/in/x", PF_READ | PF_WRITE)), Ok(Verdict::Answer(_))), "read-write needs both");
    fwd(&mut a, &open(4, "/in/report.csv", PF_WRITE | PF_CREAT));
    fwd(&mut a, &packet(REALPATH, Some(5), &[Str(b".")]));
    let refused: Vec<_> = a.take_events().into_iter().map(|e| (e.op, e.result)).collect();
    assert_eq!(
        refused,
        [
            ("download".to_owned(), FileResult::Refused { missing: "sftp-read" }),
            ("list".to_owned(), FileResult::Refused { missing: "sftp-read" }),
            ("upload".to_owned(), FileResult::Refused { missing: "sftp-read" }),
        ]
    );
}

#[test]
fn changes_are_reported_with_the_targets_answer() {
    let mut a = Audit::new(BOTH);
    fwd(&mut a, &packet(REMOVE, Some(1), &[Str(b"/tmp/gone")]));
    fwd(&mut a, &packet(RENAME, Some(2), &[Str(b"/tmp/a"), Str(b"/tmp/b")]));
    a.server(&status(2, 2, "No such file")).expect("status");
    a.server(&ok(1)).expect("status");
    let events = a.take_events();
    assert_eq!(events.len(), 2);
    assert_eq!((events[0].op.as_str(), events[0].to.as_deref()), ("rename", Some("/tmp/b")));
    assert_eq!(events[0].result, FileResult::Failed { code: 2, message: "No such file".into() });
    assert_eq!((events[1].op.as_str(), &events[1].result), ("remove", &FileResult::Done));
}

#[test]
fn a_listing_counts_its_entries() {
    let mut a = Audit::new(BOTH);
    fwd(&mut a, &packet(OPENDIR, Some(1), &[Str(b"/srv")]));
    a.server(&handle(1, b"D")).expect("handle");
    fwd(&mut a, &packet(READDIR, Some(2), &[Str(b"D")]));
    a.server(&packet(NAME, Some(2), &[U32(3)])).expect("names");
    fwd(&mut a, &close(3, b"D"));
    let e = &a.take_events()[0];
    assert_eq!((e.op.as_str(), e.path.as_str(), e.bytes), ("list", "/srv", 3));
}

#[test]
fn a_refused_open_on_the_target_is_still_an_event() {
    let mut a = Audit::new(BOTH);
    fwd(&mut a, &open(1, "/root/secret", PF_READ));
    a.server(&status(1, FX_PERMISSION_DENIED, "Permission denied")).expect("status");
    let e = &a.take_events()[0];
    assert_eq!(e.op, "download");
    assert_eq!(e.result, FileResult::Failed { code: FX_PERMISSION_DENIED, message: "Permission denied".into() });
}

#[test]
fn unknown_requests_are_answered_not_passed_on() {
    let mut a = Audit::new(BOTH);
    let verdict = a.client(&packet(99, Some(42), &[])).expect("well-formed");
    let Verdict::Answer(reply) = verdict else { panic!("an unknown request reached the target") };
    let mut r = Reader::packet(&reply).expect("packet");
    assert_eq!((r.kind, r.u32().expect("id"), r.u32().expect("code")), (STATUS, 42, FX_OP_UNSUPPORTED));
    // An unknown extension needs both read and write, and is reported.
    let ext = packet(EXTENDED, Some(43), &[Str(b"evil@example.com"), Str(b"x")]);
    assert_eq!(Audit::new(Allow { read: true, write: false }).client(&ext).map(|v| v == Verdict::Forward), Ok(false));
    fwd(&mut a, &ext);
    a.server(&ok(43)).expect("status");
    assert_eq!(a.take_events()[0].op, "extended:evil@example.com");
}

#[test]
fn malformed_and_hostile_input_is_an_error_not_a_panic() {
    let mut a = Audit::new(BOTH);
    assert!(matches!(a.client(&[0, 0, 0, 1, OPEN]), Err(SftpError::Malformed { .. })));
    let lying = packet(OPEN, Some(1), &[U32(1000)]);
    assert!(matches!(a.client(&lying), Err(SftpError::Malformed { .. })));
    assert!(matches!(a.server(&packet(OPEN, Some(1), &[])), Ok(())), "an answer to nothing is ignored");
    let mut a = Audit::new(BOTH);
    fwd(&mut a, &packet(STAT, Some(9), &[Str(b"/")]));
    assert!(matches!(a.server(&packet(OPEN, Some(9), &[])), Err(SftpError::Malformed { .. })));
    let mut flood = Audit::new(BOTH);
    for id in 0..MAX_PENDING as u32 {
        fwd(&mut flood, &packet(STAT, Some(id), &[Str(b"/")]));
    }
    assert_eq!(flood.client(&packet(STAT, Some(u32::MAX), &[Str(b"/")])), Err(SftpError::TooManyPending));
}

#[test]
fn a_long_path_is_cut_in_the_event() {
    let mut a = Audit::new(BOTH);
    let path = "é".repeat(5000);
    fwd(&mut a, &packet(REMOVE, Some(1), &[Str(path.as_bytes())]));
    a.server(&ok(1)).expect("ok");
    let e = &a.take_events()[0];
    assert!(e.path.len() <= MAX_TEXT + 3, "cut to about {MAX_TEXT} bytes, got {}", e.path.len());
}

#[test]
fn handles_open_at_the_end_are_reported_unclosed() {
    let mut a = Audit::new(BOTH);
    fwd(&mut a, &open(1, "/tmp/partial", PF_WRITE));
    a.server(&handle(1, b"W")).expect("handle");
    fwd(&mut a, &write(2, b"W", 0, b"abc"));
    let events = a.finish();
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].result.name(), events[0].bytes), ("unclosed", 3));
}
