//! Fuzzes a whole ingest connection: framing, syslog, parser detection, event
//! mapping. Entry point: `rampart_ingest::fuzz_entry::pipeline`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_ingest::fuzz_entry::pipeline(data));
