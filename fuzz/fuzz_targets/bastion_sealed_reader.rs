//! Fuzzes the encrypted recording reader (segmented AES-256-GCM): header,
//! segment framing, authentication, truncation; whole and chunked reading
//! agree. Entry point: `rampart_bastion::fuzz_entry::sealed_reader`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_bastion::fuzz_entry::sealed_reader(data));
