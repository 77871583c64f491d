//! Fuzzes the web server log parser (access and error logs). Entry point:
//! `rampart_ingest::fuzz_entry::web`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_ingest::fuzz_entry::web(data));
