//! Fuzzes the bastion's input-line tracker, whole and in chunks. Bytes are
//! neither lost nor added and chunking changes no line. Entry point:
//! `rampart_bastion::fuzz_entry::linetrack`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_bastion::fuzz_entry::linetrack(data));
