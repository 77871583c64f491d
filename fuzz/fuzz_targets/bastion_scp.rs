//! Fuzzes the bastion's legacy scp tap with both directions of a channel:
//! no panic, bounds kept, and feeding byte by byte changes nothing. Entry
//! point: `rampart_bastion::fuzz_entry::scp`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_bastion::fuzz_entry::scp(data));
