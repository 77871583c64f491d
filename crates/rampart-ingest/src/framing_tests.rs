//! Unit tests of the framer: both methods, every split point, limits and
//! broken streams, plus a property test that chunking never changes the result.

use proptest::prelude::*;

use super::*;

fn small(max_message: usize) -> FramerConfig {
    FramerConfig { max_message, max_octet_count: 1000 }
}

/// Frames `input` delivered in the given chunk sizes (cycled).
fn frame_chunked(config: FramerConfig, input: &[u8], sizes: &[usize]) -> Result<Vec<Frame>, FramingError> {
    let mut framer = Framer::new(config);
    let mut out = Vec::new();
    let mut rest = input;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes.get(i % sizes.len().max(1)).copied().unwrap_or(1).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(n);
        for frame in framer.push(chunk) {
            out.push(frame?);
        }
        // One byte of slack holds the CR of a CRLF.
        assert!(framer.buf.len() <= config.max_message + 1, "buffer grew past the limit");
        rest = tail;
        i += 1;
    }
    out.extend(framer.finish()?);
    Ok(out)
}

fn texts(frames: &[Frame]) -> Vec<String> {
    frames
        .iter()
        .map(|f| format!("{}{}", String::from_utf8_lossy(&f.bytes), if f.truncated { "~" } else { "" }))
        .collect()
}

#[test]
fn non_transparent_accepts_lf_crlf_and_nul_and_skips_empty_lines() {
    let frames = frame_all(FramerConfig::default(), b"<13>a\n<13>b\r\n\n\r\n<13>c\0<13>d").unwrap();
    assert_eq!(texts(&frames), ["<13>a", "<13>b", "<13>c", "<13>d"]);
}

#[test]
fn octet_counting_is_detected_from_the_first_byte() {
    let mut framer = Framer::default();
    let frames: Vec<_> = framer.push(b"5 <13>a10 <13>b\nc\n d").collect::<Result<_, _>>().unwrap();
    assert_eq!(framer.method(), Some(Method::OctetCounting));
    // The body may contain LF; only the count delimits it.
    assert_eq!(texts(&frames), ["<13>a", "<13>b\nc\n d"]);
}

#[test]
fn stray_line_ends_between_octet_counted_frames_are_tolerated() {
    let frames = frame_all(FramerConfig::default(), b"3 abc\n\r\n3 def\0").unwrap();
    assert_eq!(texts(&frames), ["abc", "def"]);
}

#[test]
fn every_split_point_yields_the_same_frames() {
    let streams: [&[u8]; 2] =
        [b"12 <13>1 - - x\n\n4 abcd10 0123456789", b"<34>Oct 11 22:14:15 host su: hi\r\n\n<13>b\0\0last"];
    for stream in streams {
        let whole = frame_all(small(64), stream).unwrap();
        for cut in 1..stream.len() {
            let mut framer = Framer::new(small(64));
            let mut got: Vec<Frame> = framer.push(&stream[..cut]).collect::<Result<_, _>>().unwrap();
            got.extend(framer.push(&stream[cut..]).collect::<Result<Vec<_>, _>>().unwrap());
            got.extend(framer.finish().unwrap());
            assert_eq!(got, whole, "split at {cut}");
        }
        let bytewise = frame_chunked(small(64), stream, &[1]).unwrap();
        assert_eq!(bytewise, whole);
    }
}

#[test]
fn octet_count_split_across_chunks() {
    let mut framer = Framer::default();
    assert_eq!(framer.push(b"1").count(), 0);
    assert_eq!(framer.push(b"2").count(), 0);
    assert_eq!(framer.push(b" hello").count(), 0);
    let frames: Vec<_> = framer.push(b" world!").collect::<Result<_, _>>().unwrap();
    assert_eq!(texts(&frames), ["hello world!"]);
}

#[test]
fn oversized_line_is_truncated_and_the_next_message_survives() {
    let mut input = vec![b'x'; 100];
    input.extend_from_slice(b"\nnext\n");
    let frames = frame_chunked(small(10), &input, &[7]).unwrap();
    assert_eq!(texts(&frames), ["xxxxxxxxxx~", "next"]);
}

#[test]
fn oversized_octet_counted_frame_is_truncated_without_buffering_the_rest() {
    let mut input = b"50 ".to_vec();
    input.extend_from_slice(&[b'y'; 50]);
    input.extend_from_slice(b"2 ok");
    let frames = frame_chunked(small(8), &input, &[3, 5]).unwrap();
    assert_eq!(texts(&frames), ["yyyyyyyy~", "ok"]);
}

#[test]
fn message_exactly_at_the_limit_is_not_flagged() {
    let frames = frame_all(small(4), b"abcd\nefgh\r\n").unwrap();
    assert_eq!(texts(&frames), ["abcd", "efgh"]);
    let frames = frame_all(small(4), b"4 abcd4 efgh").unwrap();
    assert_eq!(texts(&frames), ["abcd", "efgh"]);
}

#[test]
fn non_digit_octet_count_poisons_the_framer() {
    let mut framer = Framer::default();
    let results: Vec<_> = framer.push(b"3 abcx7 rest").collect();
    assert_eq!(results.len(), 2);
    assert_eq!(results[1], Err(FramingError::BadOctetCount(b'x')));
    let later: Vec<_> = framer.push(b"3 abc").collect();
    assert_eq!(later, [Err(FramingError::Poisoned)]);
}

#[test]
fn leading_zero_and_missing_space_are_framing_errors() {
    assert_eq!(frame_all(FramerConfig::default(), b"1 a0 "), Err(FramingError::BadOctetCount(b'0')));
    assert_eq!(frame_all(FramerConfig::default(), b"12abc"), Err(FramingError::BadOctetCount(b'a')));
}

#[test]
fn octet_count_over_the_hard_limit_is_an_error() {
    assert_eq!(frame_all(small(10), b"1001 x"), Err(FramingError::OctetCountTooLarge { limit: 1000 }));
    let huge = FramerConfig { max_message: 10, max_octet_count: usize::MAX };
    assert!(matches!(frame_all(huge, b"99999999999 x"), Err(FramingError::OctetCountTooLarge { .. })));
}

#[test]
fn finish_delivers_a_pending_line_but_rejects_a_partial_frame() {
    assert_eq!(texts(&frame_all(FramerConfig::default(), b"a\nno newline").unwrap()), ["a", "no newline"]);
    assert_eq!(frame_all(FramerConfig::default(), b"10 short"), Err(FramingError::TruncatedFrame));
    assert_eq!(frame_all(FramerConfig::default(), b"3 abc12"), Err(FramingError::TruncatedFrame));
    assert_eq!(frame_all(FramerConfig::default(), b""), Ok(vec![]));
}

proptest! {
    #[test]
    fn random_bytes_never_panic_and_chunking_does_not_matter(
        input in proptest::collection::vec(any::<u8>(), 0..600),
        sizes in proptest::collection::vec(1usize..40, 1..8),
    ) {
        let whole = frame_all(small(32), &input);
        let chunked = frame_chunked(small(32), &input, &sizes);
        match (&whole, &chunked) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(_), Err(_)) => {}
            _ => prop_assert!(false, "whole {:?} vs chunked {:?}", whole, chunked),
        }
        if let Ok(frames) = whole {
            prop_assert!(frames.iter().all(|f| f.bytes.len() <= 32 && !f.bytes.is_empty()));
        }
    }

    #[test]
    fn octet_counted_messages_round_trip(msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..50), 0..10)) {
        let mut stream = Vec::new();
        for m in &msgs {
            stream.extend_from_slice(format!("{} ", m.len()).as_bytes());
            stream.extend_from_slice(m);
        }
        let frames = frame_all(FramerConfig::default(), &stream).unwrap();
        let got: Vec<Vec<u8>> = frames.into_iter().map(|f| f.bytes).collect();
        prop_assert_eq!(got, msgs);
    }
}
