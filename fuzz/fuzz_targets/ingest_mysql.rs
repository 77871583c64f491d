//! Fuzzes the MySQL/MariaDB log parser. Entry point:
//! `rampart_ingest::fuzz_entry::mysql`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_ingest::fuzz_entry::mysql(data));
