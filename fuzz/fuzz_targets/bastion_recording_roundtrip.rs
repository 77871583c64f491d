//! Fuzzes the asciicast writer and reader together. What is written parses back
//! with the same text, order and hashes. Entry point:
//! `rampart_bastion::fuzz_entry::recording_roundtrip`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_bastion::fuzz_entry::recording_roundtrip(data));
