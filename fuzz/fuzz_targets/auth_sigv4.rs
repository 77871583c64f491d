//! Fuzzes AWS SigV4 request verification. Requests are made from bytes; the
//! clock is pinned and one key is known. Entry point:
//! `rampart_fuzz::signing::sigv4`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_fuzz::signing::sigv4(data));
