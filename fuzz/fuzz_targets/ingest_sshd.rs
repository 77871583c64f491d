//! Fuzzes the OpenSSH sshd message parser. Entry point:
//! `rampart_ingest::fuzz_entry::sshd`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_ingest::fuzz_entry::sshd(data));
