//! Fuzzes the Tencent Cloud KMS API 3.0 facade over one real KMS per process.
//! Action on the first line, JSON body after it. Entry point:
//! `rampart_fuzz::kms::tencent_request`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_fuzz::kms::tencent_request(data));
