//! Fuzzes the bastion's SFTP framer and audit with both directions of a
//! channel: no panic, no byte lost by framing, bounds kept. Entry point:
//! `rampart_bastion::fuzz_entry::sftp`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_bastion::fuzz_entry::sftp(data));
