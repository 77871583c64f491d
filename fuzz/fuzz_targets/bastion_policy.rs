//! Fuzzes command-line normalisation for the red-line policies. The bound on
//! parts holds. Entry point: `rampart_bastion::fuzz_entry::policy`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_bastion::fuzz_entry::policy(data));
