//! Hostile input: random bytes and mutated real lines through every fuzz
//! entry point must never panic, and the framer's memory stays bounded.

use proptest::prelude::*;
use rampart_ingest::fuzz_entry;

/// Real lines to mutate, so the parsers get past their first checks.
const SEEDS: [&str; 8] = [
    "<38>Jun 15 11:58:04 bastion sshd[1]: Failed password for invalid user admin from 203.0.113.5 port 40001 ssh2",
    "<85>1 2024-06-15T11:59:00Z web01 sudo - - [x a=\"\\]\"] alice : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/ls",
    "type=EXECVE msg=audit(1718452790.456:9001): argc=3 a0=\"curl\" a1=\"-o\" a2=2F746D70\ntype=EOE msg=audit(1718452790.456:9001): ",
    "kernel: [1.2] DROP IN=eth0 OUT= SRC=1.2.3.4 DST=5.6.7.8 PROTO=TCP SPT=1 DPT=2 SYN",
    "1.2.3.4 - - [15/Jun/2024:11:59:40 +0000] \"GET /?a=b HTTP/1.1\" 200 5 \"-\" \"ua\"",
    "2024-06-15 11:59:50.101 UTC [5120] alice@app LOG:  duration: 1.5 ms  statement: SELECT 1",
    "{\"Event\":{\"System\":{\"EventID\":4625,\"Provider\":{\"#attributes\":{\"Name\":\"x\"}}},\"EventData\":{\"A\":[1,{\"b\":2}]}}}",
    "12 <13>1 - - - - - - x\n<34>Oct 11 22:14:15 mymachine su: 'su root' failed",
];

#[test]
fn every_entry_point_survives_every_seed_and_its_prefixes() {
    for (_, entry) in fuzz_entry::ALL {
        for seed in SEEDS {
            for end in 0..=seed.len() {
                entry(&seed.as_bytes()[..end]);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        for (_, entry) in fuzz_entry::ALL {
            entry(&data);
        }
    }

    #[test]
    fn mutated_seeds_never_panic(
        seed in 0..SEEDS.len(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let mut data = SEEDS[seed].as_bytes().to_vec();
        for (at, byte) in edits {
            let len = data.len().max(1);
            match byte % 3 {
                0 => data.insert(at % (len + 1).min(data.len() + 1), byte),
                1 if !data.is_empty() => { data.remove(at % len); }
                _ if !data.is_empty() => data[at % len] = byte,
                _ => {}
            }
        }
        for (_, entry) in fuzz_entry::ALL {
            entry(&data);
        }
    }
}
