//! Unit tests of the witness: the pure extension check case by case,
//! requests recorded from the Go reference witness (filippo.io/torchwood),
//! and racing requests that must never roll a log back.

use data_encoding::{BASE64, HEXLOWER};
use rampart_ledger::{Signer, consistency_proof, leaf_hash, root_from_leaves};

use super::*;
use crate::cosignature::verify_cosignature;

fn head(size: u64, root: Hash) -> TreeHead {
    TreeHead { size, root }
}

#[test]
fn check_extension_follows_the_specification_case_by_case() {
    let leaves: Vec<Hash> = (0u8..8).map(|i| leaf_hash(&[i])).collect();
    let root = |n: usize| root_from_leaves(&leaves[..n]);
    let proof = |m: u64, n: u64| consistency_proof(&leaves, m, n).unwrap();
    let empty = TreeHead::empty();
    let at3 = head(3, root(3));

    // Accepted: a first head, an extension with its proof, a repeat.
    assert_eq!(check_extension(&empty, 0, &[], &head(5, root(5))), Ok(()));
    assert_eq!(check_extension(&empty, 0, &[], &empty), Ok(()));
    assert_eq!(check_extension(&at3, 3, &proof(3, 7), &head(7, root(7))), Ok(()));
    assert_eq!(check_extension(&at3, 3, &[], &at3), Ok(()));

    let cases = [
        ("old above new", check_extension(&at3, 4, &[], &at3), StatusCode::BAD_REQUEST),
        ("stale old", check_extension(&at3, 1, &proof(1, 7), &head(7, root(7))), StatusCode::CONFLICT),
        ("old ahead of stored", check_extension(&at3, 5, &proof(5, 7), &head(7, root(7))), StatusCode::CONFLICT),
        ("same size, other root", check_extension(&at3, 3, &[], &head(3, root(2))), StatusCode::CONFLICT),
        ("same size with proof", check_extension(&at3, 3, &[root(1)], &at3), StatusCode::UNPROCESSABLE_ENTITY),
        (
            "old 0 with proof",
            check_extension(&empty, 0, &[root(1)], &head(5, root(5))),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("empty tree, bad root", check_extension(&empty, 0, &[], &head(0, root(1))), StatusCode::UNPROCESSABLE_ENTITY),
        ("wrong proof", check_extension(&at3, 3, &proof(3, 6), &head(7, root(7))), StatusCode::UNPROCESSABLE_ENTITY),
        ("no proof", check_extension(&at3, 3, &[], &head(7, root(7))), StatusCode::UNPROCESSABLE_ENTITY),
        (
            "fork",
            check_extension(&at3, 3, &proof(3, 7), &head(7, leaf_hash(b"fork"))),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (what, got, status) in cases {
        assert_eq!(got.map_err(|r| r.status()), Err(status), "{what}");
    }
    assert_eq!(
        check_extension(&at3, 1, &[], &head(7, root(7))),
        Err(Rejection::Conflict { size: 3 }),
        "a conflict names the stored size"
    );
}

/// The log key and requests of `TestRace` in filippo.io/torchwood's
/// `internal/witness/witness_test.go`: an Ed25519 log signing sigsum-style
/// checkpoints, with RFC 6962 proofs computed by the Go reference code.
const GO_ORIGIN: &str = "sigsum.org/v1/tree/4d6d8825a6bb689d459628312889dfbb0bcd41b5211d9e1ce768b0ff0309e562";
const GO_LOG_KEY: &str = "ffdc2d4d98e4124d3feaf788c0c2f9abfd796083d1f0495437f302ec79cf100f";
const GO_SIZE1: &str = "old 0

sigsum.org/v1/tree/4d6d8825a6bb689d459628312889dfbb0bcd41b5211d9e1ce768b0ff0309e562
1
KgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=

— sigsum.org/v1/tree/4d6d8825a6bb689d459628312889dfbb0bcd41b5211d9e1ce768b0ff0309e562 UgIom7fPZTqpxWWhyjWduBvTvGVqsokMbqTArsQilegKoFBJQjUFAmQ0+YeSPM3wfUQMFSzVnnNuWRTYrajXpNUbIQY=
";
const GO_SIZE3: &str = "old 1
KgEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
KgIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=

sigsum.org/v1/tree/4d6d8825a6bb689d459628312889dfbb0bcd41b5211d9e1ce768b0ff0309e562
3
RcCI1Nk56ZcSmIEfIn0SleqtV7uvrlXNccFx595Iwl0=

— sigsum.org/v1/tree/4d6d8825a6bb689d459628312889dfbb0bcd41b5211d9e1ce768b0ff0309e562 UgIom2VbtIcdFbwFAy1n7s6IkAxIY6J/GQOTuZF2ORV39d75cbAj2aQYwyJre36kezNobZs4SUUdrcawfAB8WVrx6go=
";
const GO_SIZE5: &str = "old 1
KgEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
+fUDV+k970B4I3uKrqJM4aP1lloPZP8mvr2Z4wRw2LI=
KgQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=

sigsum.org/v1/tree/4d6d8825a6bb689d459628312889dfbb0bcd41b5211d9e1ce768b0ff0309e562
5
QrtXrQZCCvpIgsSmOsah7HdICzMLLyDfxToMql9WTjY=

— sigsum.org/v1/tree/4d6d8825a6bb689d459628312889dfbb0bcd41b5211d9e1ce768b0ff0309e562 UgIomw/EOJmWi0i1FQsOj+etB7F8IccFam/jgd6wzRns4QPVmyEZtdvl1U2KEmLOZ/ASRcWJi0tW90dJWAShei7sDww=
";

fn go_witness(dir: &Path) -> Witness {
    let mut pk = [0u8; 32];
    pk.copy_from_slice(&HEXLOWER.decode(GO_LOG_KEY.as_bytes()).unwrap());
    let mut logs = KnownLogs::new();
    logs.add(GO_ORIGIN, Verifier::new(GO_ORIGIN, pk).unwrap()).unwrap();
    Witness::open(CosignerKey::generate("witness.example/w1").unwrap(), logs, dir).unwrap()
}

fn body_text(body: &str) -> &str {
    let note = body.split_once("\n\n").unwrap().1;
    &note[..=note.rfind("\n\n").unwrap()]
}

#[tokio::test]
async fn requests_from_the_go_reference_witness_tests_are_handled_alike() {
    let dir = tempfile::tempdir().unwrap();
    let witness = go_witness(dir.path());
    let line = witness.add_checkpoint(GO_SIZE1.as_bytes()).await.unwrap();
    assert_eq!(verify_cosignature(&line, body_text(GO_SIZE1), witness.verifier()).map(|_| ()), Ok(()));
    let line = witness.add_checkpoint(GO_SIZE5.as_bytes()).await.unwrap();
    assert!(verify_cosignature(&line, body_text(GO_SIZE5), witness.verifier()).is_ok());
    // The request that lost the race in the Go test: its old size is stale.
    let err = witness.add_checkpoint(GO_SIZE3.as_bytes()).await.unwrap_err();
    assert!(matches!(err, WitnessError::Rejected(Rejection::Conflict { size: 5 })), "{err}");
    let stored = witness.latest(GO_ORIGIN).await.unwrap();
    assert_eq!(stored.size, 5);
    assert_eq!(HEXLOWER.encode(&stored.root), "42bb57ad06420afa4882c4a63ac6a1ec77480b330b2f20dfc53a0caa5f564e36");

    // With one proof hash altered the same request is refused as inconsistent.
    let dir = tempfile::tempdir().unwrap();
    let witness = go_witness(dir.path());
    witness.add_checkpoint(GO_SIZE1.as_bytes()).await.unwrap();
    let tampered = GO_SIZE5.replace("KgQAAAAA", "KgUAAAAA");
    let err = witness.add_checkpoint(tampered.as_bytes()).await.unwrap_err();
    assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(witness.latest(GO_ORIGIN).await.unwrap().size, 1);
}

struct TestLog {
    origin: String,
    signer: Signer,
    leaves: Vec<Hash>,
}

impl TestLog {
    fn new(origin: &str, leaves: u8) -> Self {
        let signer = Signer::generate(origin).unwrap();
        Self { origin: origin.to_owned(), signer, leaves: (0..leaves).map(|i| leaf_hash(&[i])).collect() }
    }

    fn signed(&self, size: u64) -> String {
        let root = root_from_leaves(&self.leaves[..size as usize]);
        Checkpoint::new(&self.origin, size, root).unwrap().sign(&self.signer).unwrap()
    }

    fn body(&self, old: u64, size: u64) -> Vec<u8> {
        let proof = if old == 0 { vec![] } else { consistency_proof(&self.leaves, old, size).unwrap() };
        AddCheckpointRequest { old_size: old, proof, checkpoint: self.signed(size) }.to_string().into_bytes()
    }
}

fn witness_for(log: &TestLog, dir: &Path) -> Witness {
    let mut logs = KnownLogs::new();
    logs.add(&log.origin, log.signer.verifier().clone()).unwrap();
    Witness::open(CosignerKey::generate("witness.example/w1").unwrap(), logs, dir).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_requests_from_one_old_size_never_roll_the_log_back() {
    let log = TestLog::new("example.com/log", 40);
    let dir = tempfile::tempdir().unwrap();
    let witness = witness_for(&log, dir.path());
    witness.add_checkpoint(&log.body(0, 10)).await.unwrap();
    let mut current = 10;
    for round in 0..5u64 {
        // Several requests start from the same stored size towards different
        // sizes; exactly one may win, the rest must see the winner's size.
        let sizes: Vec<u64> = (1..=4).map(|k| current + k + round).collect();
        let tasks: Vec<_> = sizes
            .iter()
            .map(|&size| {
                let (w, body) = (witness.clone(), log.body(current, size));
                tokio::spawn(async move { (size, w.add_checkpoint(&body).await) })
            })
            .collect();
        let mut winners = Vec::new();
        let mut conflicts = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                (size, Ok(_)) => winners.push(size),
                (_, Err(WitnessError::Rejected(Rejection::Conflict { size }))) => conflicts.push(size),
                (_, Err(e)) => panic!("unexpected error {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert!(conflicts.iter().all(|&s| s == winners[0]), "round {round}: {conflicts:?} vs {winners:?}");
        current = winners[0];
        assert_eq!(witness.latest(&log.origin).await.unwrap().size, current);
    }
}

#[tokio::test]
async fn signatures_origins_and_malformed_notes_are_checked_before_any_state() {
    let log = TestLog::new("example.com/log", 8);
    let dir = tempfile::tempdir().unwrap();
    let witness = witness_for(&log, dir.path());

    let impostor =
        TestLog { signer: Signer::generate("example.com/log").unwrap(), ..TestLog::new("example.com/log", 8) };
    let err = witness.add_checkpoint(&impostor.body(0, 4)).await.unwrap_err();
    assert_eq!(err.status(), StatusCode::FORBIDDEN, "{err}");

    let other = TestLog::new("example.com/other", 8);
    let err = witness.add_checkpoint(&other.body(0, 4)).await.unwrap_err();
    assert_eq!(err.status(), StatusCode::NOT_FOUND, "{err}");

    // A known key's signature over altered text is refused outright.
    let altered = String::from_utf8(log.body(0, 4)).unwrap().replacen("\n4\n", "\n5\n", 1);
    let err = witness.add_checkpoint(altered.as_bytes()).await.unwrap_err();
    assert_eq!(err.status(), StatusCode::FORBIDDEN, "{err}");

    for bad in ["old 0\n\nnot a note\n", "old 0\n\nexample.com/log\n4\n\n\u{2014} x AAAA\n"] {
        let err = witness.add_checkpoint(bad.as_bytes()).await.unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{bad:?}: {err}");
    }
    assert_eq!(witness.latest(&log.origin).await, None);

    // The same checkpoint may be cosigned again, with its own size as old.
    witness.add_checkpoint(&log.body(0, 4)).await.unwrap();
    let line = witness.add_checkpoint(&log.body(4, 4)).await.unwrap();
    let note = log.signed(4);
    let text = &note[..=note.rfind("\n\n").unwrap()];
    assert!(verify_cosignature(&line, text, witness.verifier()).is_ok());
    assert!(BASE64.decode(line.trim_end().rsplit(' ').next().unwrap().as_bytes()).is_ok());
}

#[test]
fn known_logs_refuse_bad_origins_and_repeated_keys() {
    let signer = Signer::generate("example.com/log").unwrap();
    let mut logs = KnownLogs::new();
    logs.add("example.com/log", signer.verifier().clone()).unwrap();
    assert!(logs.add("example.com/log", signer.verifier().clone()).is_err());
    assert!(logs.add("", signer.verifier().clone()).is_err());
    assert!(logs.add("a\nb", signer.verifier().clone()).is_err());
    logs.add("example.com/log", Signer::generate("example.com/log").unwrap().verifier().clone()).unwrap();
    assert_eq!(logs.keys("example.com/log").map(<[Verifier]>::len), Some(2));
    assert_eq!(logs.origins().collect::<Vec<_>>(), ["example.com/log"]);
}
