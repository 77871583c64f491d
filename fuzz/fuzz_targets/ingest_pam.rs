//! Fuzzes the PAM message parser. Entry point:
//! `rampart_ingest::fuzz_entry::pam`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_ingest::fuzz_entry::pam(data));
