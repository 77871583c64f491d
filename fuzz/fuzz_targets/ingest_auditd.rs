//! Fuzzes Linux audit records through the record assembler. One record per
//! line; nothing stays pending at the end. Entry point:
//! `rampart_ingest::fuzz_entry::auditd`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_ingest::fuzz_entry::auditd(data));
