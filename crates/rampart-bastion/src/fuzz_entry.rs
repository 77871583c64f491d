//! Entry points for cargo-fuzz targets, one `fn(&[u8])` per parser or
//! state machine that takes untrusted bytes. Each one drives its subject
//! with the input and asserts the invariants the rest of the bastion relies
//! on, so a fuzzer finds broken invariants as well as panics. The module
//! exists only with the `fuzzing` feature (and in tests), because its
//! assertions panic on purpose.

// Panicking is how a fuzz target reports a broken invariant.
#![allow(clippy::panic)]

use std::num::NonZeroU64;
use std::time::Duration;

use crate::linetrack::{Action, LineTracker, Shell};
use crate::policy::{self, MAX_PARTS};
use crate::recording::{self, AsciicastWriter, EventKind, Header, Limits};
use crate::scp;
use crate::screen::ScreenTracker;
use crate::sftp;

/// Feeds input to the line tracker in chunks chosen by the first byte and
/// checks that no byte is lost or added and that chunking changes nothing.
pub fn linetrack(data: &[u8]) {
    let Some((&control, input)) = data.split_first() else { return };
    let shell = if control & 1 == 0 { Shell::Bash } else { Shell::Zsh };
    let chunk = usize::from(control >> 1).max(1);
    let mut whole = LineTracker::with_max_line(shell, 64);
    let expected = whole.feed(input);
    let mut chunked = LineTracker::with_max_line(shell, 64);
    let mut actions = Vec::new();
    for piece in input.chunks(chunk) {
        if control & 0x80 != 0 {
            chunked.feed_output(piece);
            whole.feed_output(piece);
        }
        actions.extend(chunked.feed(piece));
    }
    let mut replay = Vec::new();
    for action in &actions {
        match action {
            Action::Forward(bytes) => replay.extend_from_slice(bytes),
            Action::Submit { line, held_enter, .. } => {
                assert!(line.chars().count() <= 64, "the line bound holds");
                replay.extend_from_slice(held_enter);
            }
        }
    }
    assert_eq!(replay, input, "forwarded and held bytes are the input");
    if control & 0x80 == 0 {
        assert_eq!(submits(&actions), submits(&expected), "chunking does not change the lines");
    }
}

fn submits(actions: &[Action]) -> Vec<(&str, bool)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Submit { line, certain, .. } => Some((line.as_str(), *certain)),
            Action::Forward(_) => None,
        })
        .collect()
}

/// Feeds output to the virtual screen, with typing and Enter marked by
/// control bytes, at a size taken from the first two bytes.
pub fn screen(data: &[u8]) {
    let [rows, cols, rest @ ..] = data else { return };
    let mut screen = ScreenTracker::new(u16::from(*rows), u16::from(*cols));
    for piece in rest.split(|&b| b == 0xfe) {
        screen.process(piece);
        match piece.first() {
            Some(0x01) => screen.note_input(),
            Some(0x02) => {
                let _ = screen.command_at_enter();
            }
            Some(0x03) => screen.resize(u16::from(piece.len() as u8), u16::from(*cols).wrapping_add(3)),
            _ => {}
        }
    }
    let _ = screen.command_at_enter();
}

/// Parses arbitrary bytes as a recording, whole and streaming.
pub fn asciicast_reader(data: &[u8]) {
    let limits = Limits { max_line: 4096, max_events: 1024 };
    if let Ok(cast) = recording::parse(data, limits) {
        assert!(cast.events.len() <= limits.max_events);
    }
    if let Ok(mut reader) = recording::CastReader::new(data, limits) {
        while let Ok(Some(_)) = reader.next_event() {}
    }
}

/// Normalises arbitrary text as a command line and checks the bounds.
pub fn policy(data: &[u8]) {
    let line = String::from_utf8_lossy(data);
    let normalized = policy::normalize(&line);
    assert!(normalized.parts.len() <= MAX_PARTS);
}

/// Writes events derived from the input, parses the file back and checks
/// the text, the order and the hashes.
pub fn recording_roundtrip(data: &[u8]) {
    let header = Header { width: 80, height: 24, ..Header::default() };
    let Ok((mut writer, _)) = AsciicastWriter::new(Vec::new(), &header, NonZeroU64::MIN.saturating_add(63)) else {
        return;
    };
    let mut output = Vec::new();
    for (i, piece) in data.chunks(7).enumerate() {
        let at = Duration::from_millis(i as u64);
        let result = match piece.first().map(|b| b % 4) {
            Some(0) => writer.resize(at, u16::from(piece[0]), 24),
            Some(1) => writer.input(at, &piece[1..]),
            _ => {
                output.extend_from_slice(piece);
                writer.output(at, piece)
            }
        };
        assert!(result.is_ok(), "writing to memory cannot fail");
    }
    let Ok(done) = writer.finish() else { panic!("finishing in memory cannot fail") };
    assert_eq!(done.total_bytes, done.writer.len() as u64);
    let Ok(cast) = recording::parse(&done.writer, Limits::default()) else { panic!("the writer's output parses") };
    assert_eq!(cast.skipped, 0);
    let replayed: String =
        cast.events.iter().filter(|e| e.kind == EventKind::Output).map(|e| e.data.as_str()).collect();
    assert_eq!(replayed, String::from_utf8_lossy(&output), "UTF-8 carry-over loses nothing");
}

/// The records of a two-sided input (`[side, len, len bytes]`, side bit 0
/// choosing the client (0) or the target (1); a short last record takes
/// what is left): for each, whether it is the client's, and its bytes
/// whole or one byte at a time.
fn two_sided(mut rest: &[u8], bytewise: bool) -> Vec<(bool, Vec<&[u8]>)> {
    let mut out = Vec::new();
    while let [side, len, tail @ ..] = rest {
        let (piece, next) = tail.split_at(usize::from(*len).min(tail.len()));
        rest = next;
        out.push((side & 1 == 0, if bytewise { piece.chunks(1).collect() } else { vec![piece] }));
    }
    out
}

/// Feeds the SFTP tap both directions of a channel. The first byte picks
/// the grant (bit 0 read, bit 1 write); then records of `[side, len, len
/// bytes]` follow, side bit 0 choosing the client (0) or the target (1),
/// so seeds can be real packet streams cut anywhere. The same records are
/// fed again one byte at a time: how the bytes arrive changes neither the
/// verdict, nor the bytes passed on, nor the events. The bytes held stay
/// within one packet, the client's bytes passed on never outgrow those
/// fed, and the audit stays within its bounds, whatever the input.
pub fn sftp(data: &[u8]) {
    let Some((&control, records)) = data.split_first() else { return };
    let allow = sftp::Allow { read: control & 1 != 0, write: control & 2 != 0 };
    let run = |bytewise: bool| {
        let mut tap = sftp::Tap::new(allow);
        let (mut forward, mut answers, mut events) = (Vec::new(), Vec::new(), Vec::new());
        let mut fed = 0;
        for (from_client, pieces) in two_sided(records, bytewise) {
            for p in pieces {
                if from_client {
                    fed += p.len();
                    match tap.from_client(p) {
                        Ok(out) => {
                            forward.extend(out.forward);
                            answers.extend(out.answers);
                        }
                        Err(e) => return (forward, answers, events, Some(e)),
                    }
                } else if let Err(e) = tap.from_target(p) {
                    return (forward, answers, events, Some(e));
                }
                let (client_held, target_held) = tap.held();
                assert!(client_held.max(target_held) <= sftp::MAX_PACKET + 4, "the tap holds more than a packet");
                assert!(forward.len() <= fed, "more passed on than the client sent");
                assert!(tap.open_handles() <= sftp::MAX_HANDLES);
            }
            events.extend(tap.take_events());
        }
        events.extend(tap.finish());
        (forward, answers, events, None)
    };
    let (forward, answers, events, verdict) = run(false);
    for event in &events {
        assert!(event.path.len() <= 4096 + 3, "an event path escaped the cut");
    }
    let (bw_forward, bw_answers, bw_events, bw_verdict) = run(true);
    assert_eq!(verdict, bw_verdict, "chunking changes no verdict");
    if verdict.is_none() {
        assert_eq!(forward, bw_forward, "chunking changes no byte passed on");
        assert_eq!(answers, bw_answers, "chunking changes no answer");
        assert_eq!(events, bw_events, "chunking changes no event");
    }
}

/// Feeds the scp tap both directions of a channel. The first byte picks
/// the command (bit 0: sink `-t` or source `-f`; bit 1: `-r`; bit 2: `-d`);
/// then records of `[side, len, len bytes]` follow as for [`sftp`]. The
/// same records are fed again one byte at a time: chunking changes neither
/// the events nor the verdict, and the bytes held stay bounded.
pub fn scp(data: &[u8]) {
    let Some((&control, records)) = data.split_first() else { return };
    let line = format!(
        "scp{}{} {} /in",
        if control & 2 != 0 { " -r" } else { "" },
        if control & 4 != 0 { " -d" } else { "" },
        if control & 1 == 0 { "-t" } else { "-f" },
    );
    let Some(command) = scp::Command::parse(line.as_bytes()) else { panic!("{line:?} is recognised") };
    let run = |bytewise: bool| {
        let mut tap = scp::Tap::new(&command);
        let mut events = Vec::new();
        for (from_client, pieces) in two_sided(records, bytewise) {
            for p in pieces {
                let fed = if from_client { tap.from_client(p) } else { tap.from_target(p) };
                if let Err(e) = fed {
                    return (events, Some(e));
                }
                assert!(
                    tap.held() <= scp::MAX_DIR_PATH + 2 * scp::MAX_LINE + scp::MAX_QUEUED_REPLIES,
                    "the tap holds more than its bounds"
                );
            }
            events.extend(tap.take_events());
        }
        events.extend(tap.finish());
        (events, None)
    };
    let (whole, verdict) = run(false);
    for event in &whole {
        assert!(event.path.len() <= 4096 + 3, "an event path escaped the cut");
    }
    let (bytewise, bytewise_verdict) = run(true);
    assert_eq!(verdict, bytewise_verdict, "chunking changes no verdict");
    if verdict.is_none() {
        assert_eq!(whole, bytewise, "chunking changes no event");
    }
}

/// The data key every `bastion_sealed_reader` seed is sealed under.
pub const SEALED_FUZZ_KEY: [u8; 32] = [0x42; 32];

/// Reads arbitrary bytes as an encrypted recording (key 32 × `0x42`). The
/// first byte is the chunk size the opener is fed in; the rest is the file.
/// Whole and chunked reading agree (same plaintext, same verdict), the
/// opener never buffers more than one segment, and what opens re-seals
/// and opens again to the same plaintext.
pub fn sealed_reader(data: &[u8]) {
    use crate::recording::sealed::{self, Opener, RecordingKey, SealHeader, SealedWriter};
    use std::io::Write;
    let Some((&control, file)) = data.split_first() else { return };
    let Ok(key) = RecordingKey::new(&SEALED_FUZZ_KEY) else { panic!("a 32-byte key is valid") };
    let whole = sealed::open_all(file, &key, true);
    let Ok(Some((header, used))) = SealHeader::parse(file) else { return };
    let Ok(mut opener) = Opener::new(&header, &file[..used], &key) else { panic!("the key is valid") };
    let mut out = Vec::new();
    let mut failed = None;
    for piece in file[used..].chunks(usize::from(control).max(1)) {
        if let Err(e) = opener.push(piece, &mut out) {
            failed = Some(e);
            break;
        }
    }
    let chunked = match failed {
        Some(e) => Err(e),
        None => match opener.end() {
            Err(sealed::SealError::Unfinished { .. }) | Ok(()) => Ok(out),
            Err(e) => Err(e),
        },
    };
    match (&whole, &chunked) {
        (Ok((_, a)), Ok(b)) => assert_eq!(a, b, "chunking changes no plaintext"),
        (Err(a), Err(b)) => assert_eq!(a, b, "chunking changes no verdict"),
        _ => panic!("whole {:?} and chunked {:?} reading disagree", whole.is_ok(), chunked.is_ok()),
    }
    if let Ok((header, plain)) = whole {
        let Ok(mut w) = SealedWriter::new(Vec::new(), &header, &key) else { panic!("a parsed header re-encodes") };
        assert!(w.write_all(&plain).is_ok(), "sealing in memory cannot fail");
        let Ok(bytes) = w.finish() else { panic!("sealing in memory cannot fail") };
        let Ok((_, again)) = sealed::open_all(&bytes, &key, false) else { panic!("a fresh recording opens") };
        assert_eq!(again, plain);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_entry_point_survives_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..1024)) {
            super::linetrack(&data);
            super::screen(&data);
            super::asciicast_reader(&data);
            super::policy(&data);
            super::recording_roundtrip(&data);
            super::sftp(&data);
            super::scp(&data);
        }
    }

    /// Found by libFuzzer: a READ answered out of order whose DATA, held
    /// ahead of a gap, was keyed piece by piece when fed a byte at a time,
    /// so a later answer collided with a piece and the hash was given up
    /// for another reason than when fed whole. A payload is now begun,
    /// fed and ended as one, however it is cut.
    #[test]
    fn a_payload_held_ahead_gives_the_same_event_however_it_is_cut() {
        super::sftp(include_bytes!("../../../fuzz/corpus/bastion_sftp/payload-ahead-cut-bytewise.bin"));
    }

    /// The committed seeds are real streams (an SFTP download, an upload
    /// with a listing, refusals, scp trees): each keeps its target's
    /// invariants here, without nightly or libFuzzer.
    #[test]
    fn every_committed_seed_keeps_its_targets_invariants() {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
        type Entry = fn(&[u8]);
        let targets: [(&str, Entry); 8] = [
            ("bastion_linetrack", super::linetrack),
            ("bastion_screen", super::screen),
            ("bastion_asciicast_reader", super::asciicast_reader),
            ("bastion_policy", super::policy),
            ("bastion_recording_roundtrip", super::recording_roundtrip),
            ("bastion_sftp", super::sftp),
            ("bastion_scp", super::scp),
            ("bastion_sealed_reader", super::sealed_reader),
        ];
        for (target, entry) in targets {
            let dir = corpus.join(target);
            let mut seeds = 0;
            for file in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
                entry(&std::fs::read(file.path()).unwrap_or_else(|e| panic!("{}: {e}", file.path().display())));
                seeds += 1;
            }
            assert!(seeds > 0, "{target} has no committed seeds");
        }
    }
}
