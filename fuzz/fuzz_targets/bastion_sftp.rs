//! Fuzzes the bastion's SFTP tap with both directions of a channel: no
//! panic, bounds kept, and the same bytes, answers and events however the
//! input is cut. Entry point:
//! `rampart_bastion::fuzz_entry::sftp`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_bastion::fuzz_entry::sftp(data));
