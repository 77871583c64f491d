//! Fuzzes the AWS KMS JSON 1.1 facade over one real KMS per process. Operation
//! on the first line, JSON body after it. Entry point:
//! `rampart_fuzz::kms::aws_request`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_fuzz::kms::aws_request(data));
