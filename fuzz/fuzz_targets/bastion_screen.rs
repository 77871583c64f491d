//! Fuzzes the virtual screen that reconstructs commands from terminal output.
//! Size, typing, Enter and resizes come from the input. Entry point:
//! `rampart_bastion::fuzz_entry::screen`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_bastion::fuzz_entry::screen(data));
