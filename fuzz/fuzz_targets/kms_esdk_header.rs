//! Fuzzes the AWS Encryption SDK message-header parser. A parsed header is the
//! input's prefix. Entry point: `rampart_fuzz::esdk::header`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_fuzz::esdk::header(data));
