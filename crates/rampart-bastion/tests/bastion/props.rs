//! Property tests: the tracker, the screen and the asciicast reader never
//! panic on random or damaged input, the tracker neither loses nor adds a
//! byte and does not care how its input is chunked, the writer's output
//! always parses back to the events written, and normalisation stays
//! within its bounds on shell-like noise.

use std::num::NonZeroU64;
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use rampart_bastion::linetrack::{Action, LineTracker, Shell};
use rampart_bastion::policy::{MAX_PARTS, normalize};
use rampart_bastion::recording::{AsciicastWriter, Event, EventKind, Header, Limits, parse};
use rampart_bastion::screen::ScreenTracker;

/// Keys and key fragments a terminal really sends, plus any byte.
fn key() -> impl Strategy<Value = Vec<u8>> {
    let specials: Vec<&'static [u8]> = vec![
        b"\r",
        b"\n",
        b"\x7f",
        b"\x08",
        b"\x01",
        b"\x05",
        b"\x15",
        b"\x17",
        b"\x0b",
        b"\x03",
        b"\t",
        b"\x16",
        b"\x0f",
        b"\x14",
        b"\x18",
        b"\x1b[D",
        b"\x1b[C",
        b"\x1bOD",
        b"\x1b[3~",
        b"\x1b[H",
        b"\x1b[F",
        b"\x1b[A",
        b"\x1b[200~",
        b"\x1b[201~",
        b"\x1bb",
        b"\x1bf",
        b"\x1bd",
        b"\x1b\x7f",
        b"\x1b",
        b"\x1b[1;5D",
        b"\x1b[",
        "é".as_bytes(),
        b"\xc3",
        b"\xff",
        b"\xf0\x9f",
        b"\x1b[?2004h",
        b"\x1b[?1049h",
        b"\x1b[?1049l",
    ];
    prop_oneof![
        4 => "[a-z /.|;-]{1,6}".prop_map(String::into_bytes),
        4 => proptest::sample::select(specials).prop_map(<[u8]>::to_vec),
        1 => any::<u8>().prop_map(|b| vec![b]),
    ]
}

fn submits(actions: &[Action]) -> Vec<(String, bool, Vec<u8>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Submit { line, certain, held_enter, .. } => Some((line.clone(), *certain, held_enter.clone())),
            Action::Forward(_) => None,
        })
        .collect()
}

fn replay(actions: &[Action]) -> Vec<u8> {
    let mut out = Vec::new();
    for action in actions {
        match action {
            Action::Forward(bytes) => out.extend_from_slice(bytes),
            Action::Submit { held_enter, .. } => out.extend_from_slice(held_enter),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_tracker_keeps_every_byte_whatever_the_chunking(
        keys in vec(key(), 0..80),
        cuts in vec(1usize..9, 1..40),
        zsh in any::<bool>(),
    ) {
        let shell = if zsh { Shell::Zsh } else { Shell::Bash };
        let input: Vec<u8> = keys.concat();
        let mut whole = LineTracker::with_max_line(shell, 32);
        let expected = whole.feed(&input);
        prop_assert_eq!(replay(&expected), input.clone());

        let mut chunked = LineTracker::with_max_line(shell, 32);
        let mut actions = Vec::new();
        let mut rest = &input[..];
        for cut in cuts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (piece, tail) = rest.split_at((*cut).min(rest.len()));
            actions.extend(chunked.feed(piece));
            rest = tail;
        }
        prop_assert_eq!(replay(&actions), input);
        prop_assert_eq!(submits(&actions), submits(&expected));
        prop_assert_eq!(chunked.current_line(), whole.current_line());
        for (line, _, held) in submits(&actions) {
            prop_assert!(line.chars().count() <= 32);
            prop_assert!(held.len() == 1);
        }
    }

    #[test]
    fn the_tracker_survives_random_bytes(input in vec(any::<u8>(), 0..4096), output in vec(any::<u8>(), 0..512)) {
        let mut tracker = LineTracker::new(Shell::Bash);
        tracker.feed_output(&output);
        let actions = tracker.feed(&input);
        prop_assert_eq!(replay(&actions), input);
    }

    #[test]
    fn the_screen_survives_random_output(
        rows in 0u16..200,
        cols in 0u16..300,
        pieces in vec((vec(any::<u8>(), 0..512), 0u8..4), 0..16),
    ) {
        let mut screen = ScreenTracker::new(rows, cols);
        for (bytes, op) in pieces {
            screen.process(&bytes);
            match op {
                0 => screen.note_input(),
                1 => {
                    let _ = screen.command_at_enter();
                }
                2 => screen.resize(cols / 2, rows.wrapping_mul(3)),
                _ => {}
            }
        }
        let _ = screen.command_at_enter();
    }

    #[test]
    fn the_screen_survives_terminal_like_output(pieces in vec(key(), 0..200)) {
        let mut screen = ScreenTracker::new(5, 12);
        screen.note_input();
        for piece in &pieces {
            screen.process(piece);
        }
        let command = screen.command_at_enter();
        prop_assert!(command.command.chars().count() <= 5 * 12 * 2);
    }

    #[test]
    fn the_reader_survives_random_bytes(bytes in vec(any::<u8>(), 0..4096)) {
        let limits = Limits { max_line: 512, max_events: 64 };
        if let Ok(cast) = parse(&bytes, limits) {
            prop_assert!(cast.events.len() <= 64);
        }
    }

    #[test]
    fn the_reader_survives_damaged_recordings(
        events in vec(event(), 1..20),
        damage in vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let (mut file, _) = write(&events);
        for (at, byte) in damage {
            let i = at.index(file.len());
            file[i] = byte;
        }
        file.truncate(cut.index(file.len() + 1));
        let _ = parse(&file, Limits::default());
    }

    #[test]
    fn the_writer_output_parses_back_to_the_same_events(events in vec(event(), 0..40)) {
        let (file, written) = write(&events);
        let cast = parse(&file, Limits::default()).unwrap();
        prop_assert_eq!(cast.skipped, 0);
        prop_assert_eq!(cast.events, written);
    }

    #[test]
    fn normalisation_stays_bounded(line in "[a-z $'\"`()|;&<>\\\\{}=/\n -]{0,400}") {
        let normalized = normalize(&line);
        prop_assert!(normalized.parts.len() <= MAX_PARTS);
    }
}

/// Events with increasing times at microsecond precision, as the writer
/// stores them.
fn event() -> impl Strategy<Value = Event> {
    let kind = prop_oneof![
        3 => Just(EventKind::Output),
        2 => Just(EventKind::Input),
        1 => (1u16..500, 1u16..200).prop_map(|(cols, rows)| EventKind::Resize { cols, rows }),
        1 => Just(EventKind::Marker),
    ];
    (0u64..5_000_000, kind, "\\PC{1,40}|[\\x00-\\x1f\"\\\\]{1,5}").prop_map(|(micros, kind, data)| {
        let data = match kind {
            EventKind::Resize { cols, rows } => format!("{cols}x{rows}"),
            _ => data,
        };
        Event { time: Duration::from_micros(micros), kind, data }
    })
}

/// Writes the events, taking their times as increments so that time never
/// goes backwards, and returns the file with the events as written.
fn write(events: &[Event]) -> (Vec<u8>, Vec<Event>) {
    let header = Header { width: 80, height: 24, ..Header::default() };
    let (mut writer, _) = AsciicastWriter::new(Vec::new(), &header, NonZeroU64::new(100).unwrap()).unwrap();
    let mut clock = Duration::ZERO;
    let mut written = Vec::new();
    for event in events {
        clock += event.time;
        let event = Event { time: clock, ..event.clone() };
        writer.write_event(&event).unwrap();
        written.push(event);
    }
    (writer.finish().unwrap().writer, written)
}
