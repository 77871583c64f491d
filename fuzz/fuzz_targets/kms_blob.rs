//! Fuzzes the KMS ciphertext blob: header parsing, decryption, round trip.
//! Decryption uses one fixed material key. Entry point:
//! `rampart_fuzz::blob::blob`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_fuzz::blob::blob(data));
