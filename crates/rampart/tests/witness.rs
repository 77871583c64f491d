//! Witnessing across two processes: `rampart witness serve` (the real binary)
//! watches a node's log; the node sends it each checkpoint and serves the
//! cosigned checkpoint; the witness refuses a checkpoint that is not
//! consistent with one it cosigned before.

// Tests fail by panicking; helpers outside #[test] functions do too.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use rampart_core::config::WitnessEndpoint;
use rampart_ledger::merkle::{Frontier, leaf_hash};
use rampart_ledger::{Checkpoint, Signer};
use rampart_testkit::TestServer;
use rampart_witness::client::{AddOutcome, add_checkpoint};
use rampart_witness::cosignature::{CosignerVerifier, verify_cosignature};

const BIN: &str = env!("CARGO_BIN_EXE_rampart");
const ORIGIN: &str = "test.example/rampart-log";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_separate_witness_cosigns_the_served_checkpoint_and_refuses_a_fork() {
    let work = tempfile::tempdir().unwrap();
    // The log's key exists before either side starts, so the witness can be
    // told which log to watch.
    let log_key = Signer::generate(ORIGIN).unwrap();
    let config = format!(
        "name = \"witness.test/w1\"\nkey_file = \"{}\"\nstate_dir = \"{}\"\nlisten = \"127.0.0.1:0\"\n\n[[log]]\norigin = \"{ORIGIN}\"\nkey = \"{}\"\n",
        work.path().join("witness.key").display(),
        work.path().join("witness-state").display(),
        log_key.verifier()
    );
    std::fs::write(work.path().join("witness.toml"), config).unwrap();
    let mut witness = Command::new(BIN)
        .args(["witness", "serve", "--config"])
        .arg(work.path().join("witness.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(witness.stderr.take().unwrap());
    let (mut vkey, mut url) = (String::new(), String::new());
    while url.is_empty() {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "witness exited early");
        if let Some(k) = line.trim().strip_prefix("witness key: ") {
            vkey = k.to_owned();
        }
        if let Some(u) = line.trim().strip_prefix("witness listening on ") {
            url = u.to_owned();
        }
    }
    let witness_key = CosignerVerifier::parse(&vkey).unwrap();

    let key_text = log_key.expose_secret_encoding().to_string();
    let (vkey2, url2) = (vkey.clone(), url.clone());
    let server = TestServer::start_with(move |c| {
        c.ledger.origin = Some(ORIGIN.to_owned());
        c.ledger.witnesses = vec![WitnessEndpoint { url: url2, key: vkey2 }];
        std::fs::create_dir_all(c.data_dir.join("secrets")).unwrap();
        rampart_core::secret::write_private_atomic(&c.data_dir.join("secrets/ledger.key"), key_text.as_bytes())
            .unwrap();
    })
    .await;
    let admin = server.admin_session().await;
    server.create_tenant(&admin, "witnessed").await;
    let size_now = server.running.as_ref().unwrap().state.ledger.head().size;

    // The served checkpoint soon carries a valid cosignature for this size.
    let mut cosigned = None;
    for _ in 0..100 {
        let note = server
            .request(reqwest::Method::GET, "/ledger/checkpoint", None)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let body = format!("{}\n", note.split("\n\n").next().unwrap());
        let cp = Checkpoint::parse(&body).unwrap();
        if cp.size >= size_now && note.lines().any(|l| verify_cosignature(l, &body, &witness_key).is_ok()) {
            cosigned = Some(cp);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cosigned = cosigned.expect("the witness's cosignature appears on the served checkpoint");
    assert_eq!(cosigned.origin, ORIGIN);

    // A forked log (same key, other entries) is refused, whatever its size.
    let mut fork = Frontier::new();
    for i in 0..cosigned.size + 5 {
        fork.append(leaf_hash(format!("forged {i}").as_bytes())).unwrap();
    }
    let forged = Checkpoint::new(ORIGIN, fork.size(), fork.root()).unwrap().sign(&log_key).unwrap();
    let http = reqwest::Client::new();
    let bogus_proof = vec![[7u8; 32]; 3];
    let outcome = add_checkpoint(&http, &url, cosigned.size, &bogus_proof, &forged).await;
    assert!(outcome.is_err(), "the witness must refuse an inconsistent checkpoint: {outcome:?}");
    let stale = add_checkpoint(&http, &url, 1, &[], &forged).await.unwrap();
    assert!(matches!(stale, AddOutcome::Conflict { witness_size } if witness_size >= cosigned.size));

    server.stop().await;
    let _ = Command::new("kill").args(["-TERM", &witness.id().to_string()]).status();
    let status = witness.wait().unwrap();
    assert!(status.success(), "the witness shuts down cleanly on SIGTERM");
}
