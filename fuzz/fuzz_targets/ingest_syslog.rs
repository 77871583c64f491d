//! Fuzzes the RFC 5424 / RFC 3164 syslog parser. The raw bytes survive
//! unchanged. Entry point: `rampart_ingest::fuzz_entry::syslog`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_ingest::fuzz_entry::syslog(data));
