//! Unit tests of the SFTP tap and audit, with packets built as OpenSSH
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

/// A transfer as OpenSSH's client and sftp-server exchange it, turn by
/// turn (`true` for the client's bytes): an upload of `up` and a download
/// of `down` in 255 KiB requests (the download's answers out of order),
/// and an odd packet (a WRITE whose payload length disagrees with its
/// packet's).
fn transfer(up: &[u8], down: &[u8]) -> Vec<(bool, Vec<u8>)> {
    const CHUNK: usize = 255 * 1024;
    let mut turns = vec![
        (true, packet(INIT, None, &[U32(3)])),
        (false, packet(VERSION, None, &[U32(3)])),
        (true, open(1, "/tmp/up.bin", PF_WRITE | PF_CREAT | PF_TRUNC)),
        (false, handle(1, b"W")),
    ];
    let (mut writes, mut oks) = (Vec::new(), Vec::new());
    for (i, piece) in up.chunks(CHUNK).enumerate() {
        writes.extend(write(10 + i as u32, b"W", (i * CHUNK) as u64, piece));
        oks.extend(ok(10 + i as u32));
    }
    turns.extend([(true, writes), (false, oks), (true, close(9, b"W")), (false, ok(9))]);
    turns.extend([(true, open(2, "/srv/down.bin", PF_READ)), (false, handle(2, b"R"))]);
    let pieces: Vec<&[u8]> = down.chunks(CHUNK).collect();
    let reads: Vec<Vec<u8>> =
        (0..pieces.len()).map(|i| read(1000 + i as u32, b"R", (i * CHUNK) as u64, CHUNK as u32)).collect();
    // Answers in pairs swapped: the hash must still follow the offsets.
    let mut order: Vec<usize> = (0..pieces.len()).collect();
    for pair in order.chunks_mut(2) {
        pair.reverse();
    }
    let answers: Vec<Vec<u8>> = order.into_iter().map(|i| data(1000 + i as u32, pieces[i])).collect();
    turns.extend([(true, reads.concat()), (false, answers.concat())]);
    // A WRITE to an unknown handle whose payload length is one short of
    // its packet (a trailing byte): held whole, passed on, not an error.
    let mut odd = write(4, b"?", 0, b"xyz");
    odd.push(0);
    let len = (odd.len() - 4) as u32;
    odd[..4].copy_from_slice(&len.to_be_bytes());
    turns.extend([(true, [close(3, b"R"), odd].concat()), (false, [ok(3), ok(4)].concat())]);
    turns
}

/// Feeds a tap a transfer's turns, each cut into `cut`-byte pieces;
/// returns the client's bytes sent, those passed on, the answers and the
/// events.
fn follow(allow: Allow, turns: &[(bool, Vec<u8>)], cut: usize) -> (Vec<u8>, Vec<u8>, Vec<Vec<u8>>, Vec<FileEvent>) {
    let mut tap = Tap::new(allow);
    let (mut sent, mut forward, mut answers) = (Vec::new(), Vec::new(), Vec::new());
    for (from_client, bytes) in turns {
        for piece in bytes.chunks(cut) {
            if *from_client {
                sent.extend_from_slice(piece);
                let out = tap.from_client(piece).expect("a well-formed client stream");
                forward.extend(out.forward);
                answers.extend(out.answers);
            } else {
                tap.from_target(piece).expect("a well-formed target stream");
            }
        }
        assert_eq!(tap.held(), (0, 0), "nothing is left part-way at the end of a turn");
        assert!(tap.target_at_boundary());
    }
    (sent, forward, answers, tap.finish())
}

#[test]
fn the_tap_passes_every_byte_and_hashes_alike_however_the_bytes_arrive() {
    let up: Vec<u8> = (0..700_000u32).map(|i| (i * 7 + i / 300) as u8).collect();
    let down: Vec<u8> = (0..600_000u32).map(|i| (i * 13 + 1) as u8).collect();
    let turns = transfer(&up, &down);
    for cut in [usize::MAX, 32 * 1024, 32 * 1024 - 3, 1000, 7] {
        let (sent, forward, answers, events) = follow(BOTH, &turns, cut);
        assert_eq!(forward, sent, "cut at {cut}: every request passes on unchanged");
        assert!(answers.is_empty());
        let summary: Vec<(String, String, u64, Option<String>)> =
            events.iter().map(|e| (e.op.clone(), e.path.clone(), e.bytes, e.sha256.clone())).collect();
        assert_eq!(
            summary,
            [
                ("upload".into(), "/tmp/up.bin".into(), up.len() as u64, Some(sha(&up))),
                ("download".into(), "/srv/down.bin".into(), down.len() as u64, Some(sha(&down))),
            ],
            "cut at {cut}"
        );
    }
    // Byte by byte is the hardest cut; a small transfer keeps it quick.
    let (sent, forward, _, events) = follow(BOTH, &transfer(b"hello up", b"hello down"), 1);
    assert_eq!(forward, sent);
    assert_eq!(events[0].sha256.as_deref(), Some(sha(b"hello up").as_str()));
    assert_eq!(events[1].sha256.as_deref(), Some(sha(b"hello down").as_str()));
}

#[test]
fn a_refused_write_is_held_back_whole_however_its_bytes_arrive() {
    // Read-only: the WRITE (to a handle the client made up) is answered by
    // the bastion and none of its bytes, head or payload, reach the target.
    let stat = packet(STAT, Some(1), &[Str(b"/")]);
    let refused = write(2, b"W", 0, &vec![b'x'; 100_000]);
    let after = packet(STAT, Some(3), &[Str(b"/tmp")]);
    let client = [stat.clone(), refused, after.clone()].concat();
    for cut in [client.len(), 4096, 13, 1] {
        let mut tap = Tap::new(Allow { read: true, write: false });
        let (mut forward, mut answers) = (Vec::new(), Vec::new());
        for piece in client.chunks(cut) {
            let out = tap.from_client(piece).expect("well-formed");
            forward.extend(out.forward);
            answers.extend(out.answers);
        }
        assert_eq!(forward, [stat.clone(), after.clone()].concat(), "cut at {cut}");
        assert_eq!(answers.len(), 1, "cut at {cut}");
        let mut r = Reader::packet(&answers[0]).expect("a packet");
        assert_eq!((r.kind, r.u32().expect("id"), r.u32().expect("code")), (STATUS, 2, FX_PERMISSION_DENIED));
    }
}

#[test]
fn the_target_is_between_packets_only_when_a_whole_answer_has_passed() {
    let mut tap = Tap::new(BOTH);
    let answer = data(9, &[1; 50_000]);
    assert!(tap.target_at_boundary());
    tap.from_target(&answer[..20]).expect("a head");
    assert!(!tap.target_at_boundary(), "inside a DATA's head");
    tap.from_target(&answer[20..40_000]).expect("payload");
    assert!(!tap.target_at_boundary(), "inside a DATA's payload");
    assert_eq!(tap.held(), (0, 0), "the payload is not held");
    tap.from_target(&answer[40_000..]).expect("the rest");
    assert!(tap.target_at_boundary());
}

#[test]
fn the_tap_refuses_oversized_and_empty_packets_from_either_side() {
    let huge = ((MAX_PACKET + 1) as u32).to_be_bytes();
    assert_eq!(Tap::new(BOTH).from_client(&huge), Err(SftpError::TooLarge(MAX_PACKET + 1)));
    assert_eq!(Tap::new(BOTH).from_target(&huge), Err(SftpError::TooLarge(MAX_PACKET + 1)));
    assert!(matches!(Tap::new(BOTH).from_client(&[0, 0, 0, 0]), Err(SftpError::Malformed { .. })));
    // A WRITE head with a truncated offset inside a packet that claims
    // more: the head is short of its declared length, so it is held whole
    // and judged malformed once whole.
    let short = packet(WRITE, Some(1), &[Str(b"h"), U32(7)]);
    assert!(matches!(Tap::new(BOTH).from_client(&short), Err(SftpError::Malformed { .. })));
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
