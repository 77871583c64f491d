//! Fuzzes the netfilter (iptables/nftables LOG) message parser. Entry point:
//! `rampart_ingest::fuzz_entry::netfilter`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_ingest::fuzz_entry::netfilter(data));
