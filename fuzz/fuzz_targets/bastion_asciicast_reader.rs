//! Fuzzes the asciicast v2 recording parser, whole and streaming. Limits on
//! line length and event count hold. Entry point:
//! `rampart_bastion::fuzz_entry::asciicast_reader`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_bastion::fuzz_entry::asciicast_reader(data));
