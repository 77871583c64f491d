//! Fuzzes the RFC 6587 syslog framer (octet counting and LF framing). Fed in
//! chunks whose size is the first byte; no frame exceeds the limit. Entry
//! point: `rampart_ingest::fuzz_entry::framing`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_ingest::fuzz_entry::framing(data));
