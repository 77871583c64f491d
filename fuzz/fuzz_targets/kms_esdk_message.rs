//! Fuzzes AWS Encryption SDK message decryption with a fixed raw AES keyring.
//! Covers header, header tag, frames, footer and signature. Entry point:
//! `rampart_fuzz::esdk::message`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_fuzz::esdk::message(data));
