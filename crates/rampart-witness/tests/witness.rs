//! End-to-end tests of the witness: a real server on 127.0.0.1:0, configured
//! from a TOML file, asked through the real client by a log that grows, forks,
//! is impersonated, and outlives a witness restart.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;

use rampart_ledger::{Checkpoint, Frontier, Hash, Signer, consistency_proof, leaf_hash};
use rampart_witness::protocol::{AddCheckpointRequest, CONTENT_TYPE_TLOG_SIZE, MAX_BODY_LEN};
use rampart_witness::{
    AddOutcome, ClientError, Config, CosignerVerifier, Witness, add_checkpoint, attach_cosignatures, serve_until,
    verify_cosignature,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const ORIGIN: &str = "example.com/rampart-log";
const WITNESS_NAME: &str = "witness.example.com/w1";

/// A log: its leaves, the roots its frontier reached at each size, and its
/// signing key.
struct Log {
    signer: Signer,
    origin: String,
    leaves: Vec<Hash>,
    roots: Vec<Hash>,
}

impl Log {
    fn new(origin: &str, signer: Signer, seed: &str, size: usize) -> Self {
        let mut frontier = Frontier::new();
        let mut roots = vec![frontier.root()];
        let mut leaves = Vec::new();
        for i in 0..size {
            let leaf = leaf_hash(format!("{seed} entry {i}").as_bytes());
            frontier.append(leaf).unwrap();
            leaves.push(leaf);
            roots.push(frontier.root());
        }
        Self { signer, origin: origin.to_owned(), leaves, roots }
    }

    /// The log `self` would be had it diverged after `common` leaves.
    fn fork(&self, common: usize, size: usize) -> Self {
        let mut frontier = Frontier::new();
        let mut roots = vec![frontier.root()];
        let mut leaves = Vec::new();
        for i in 0..size {
            let leaf = if i < common { self.leaves[i] } else { leaf_hash(format!("forked entry {i}").as_bytes()) };
            frontier.append(leaf).unwrap();
            leaves.push(leaf);
            roots.push(frontier.root());
        }
        let signer = Signer::parse(&self.signer.expose_secret_encoding()).unwrap();
        Self { signer, origin: self.origin.clone(), leaves, roots }
    }

    fn checkpoint(&self, size: u64) -> Checkpoint {
        Checkpoint::new(&self.origin, size, self.roots[size as usize]).unwrap()
    }

    fn signed(&self, size: u64) -> String {
        self.checkpoint(size).sign(&self.signer).unwrap()
    }

    fn proof(&self, old: u64, size: u64) -> Vec<Hash> {
        if old == 0 { Vec::new() } else { consistency_proof(&self.leaves, old, size).unwrap() }
    }
}

struct Running {
    url: String,
    verifier: CosignerVerifier,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn start(config: &Config) -> Running {
    let witness: Witness = config.open_witness().unwrap();
    let verifier = witness.verifier().clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve_until(listener, witness, async move {
        let _ = stopped.await;
    }));
    Running { url, verifier, stop, task }
}

async fn stop(running: Running) {
    running.stop.send(()).unwrap();
    running.task.await.unwrap().unwrap();
}

fn write_config(dir: &Path, log_key: &str) -> Config {
    let path = dir.join("witness.toml");
    let text = format!(
        "name = \"{WITNESS_NAME}\"\nkey_file = \"{}\"\nstate_dir = \"{}\"\n\n\
         [[log]]\norigin = \"{ORIGIN}\"\nkey = \"{log_key}\"\n",
        dir.join("witness.key").display(),
        dir.join("state").display(),
    );
    std::fs::write(&path, text).unwrap();
    Config::load(&path).unwrap()
}

async fn submit(http: &reqwest::Client, url: &str, log: &Log, old: u64, size: u64) -> Result<AddOutcome, ClientError> {
    add_checkpoint(http, url, old, &log.proof(old, size), &log.signed(size)).await
}

fn refused_status(result: Result<AddOutcome, ClientError>) -> u16 {
    match result {
        Err(ClientError::Refused { status, .. }) => status,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Checks the one cosignature line returned for `size` and returns the
/// checkpoint with it attached, as the log would serve it.
fn check_cosigned(outcome: AddOutcome, log: &Log, size: u64, witness: &CosignerVerifier) -> String {
    let AddOutcome::Cosigned(lines) = outcome else { panic!("expected a cosignature, got {outcome:?}") };
    assert_eq!(lines.len(), 1);
    let body = log.checkpoint(size).to_string();
    let time = verify_cosignature(&lines[0], &body, witness).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(time <= now && now - time < 300, "cosignature time {time} is not now ({now})");
    // A cosignature of one size never passes for another.
    assert!(verify_cosignature(&lines[0], &log.checkpoint(size - 1).to_string(), witness).is_err());
    attach_cosignatures(&log.signed(size), &lines).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_cosigns_a_growing_log_and_refuses_forks_impostors_and_rollbacks() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::new(ORIGIN, Signer::generate(ORIGIN).unwrap(), "real", 20);
    let config = write_config(dir.path(), &log.signer.verifier().to_string());
    let http = reqwest::Client::new();
    let running = start(&config).await;
    let url = running.url.clone();

    // The first checkpoint, with old size 0 and no proof.
    let served = check_cosigned(submit(&http, &url, &log, 0, 5).await.unwrap(), &log, 5, &running.verifier);
    let (opened, note) = Checkpoint::open(served.as_bytes(), ORIGIN, &[log.signer.verifier().clone()]).unwrap();
    assert_eq!(opened, log.checkpoint(5));
    assert_eq!(note.unverified().len(), 1, "the served checkpoint carries the cosignature");

    // The log grows, with a consistency proof from what was cosigned.
    check_cosigned(submit(&http, &url, &log, 5, 9).await.unwrap(), &log, 9, &running.verifier);
    // Resubmitting the latest checkpoint gets a fresh cosignature.
    check_cosigned(submit(&http, &url, &log, 9, 9).await.unwrap(), &log, 9, &running.verifier);

    // A stale old size is a conflict that names the witness's size.
    assert_eq!(submit(&http, &url, &log, 5, 12).await.unwrap(), AddOutcome::Conflict { witness_size: 9 });
    assert_eq!(submit(&http, &url, &log, 0, 12).await.unwrap(), AddOutcome::Conflict { witness_size: 9 });

    // A fork, signed by the real log key, diverging before the cosigned size:
    // no proof makes it consistent, whatever its size.
    let fork = log.fork(7, 20);
    for size in [12, 10] {
        let with_fork_proof = add_checkpoint(&http, &url, 9, &fork.proof(9, size), &fork.signed(size)).await;
        assert_eq!(refused_status(with_fork_proof), 422);
        let with_real_proof = add_checkpoint(&http, &url, 9, &log.proof(9, size), &fork.signed(size)).await;
        assert_eq!(refused_status(with_real_proof), 422);
        let with_no_proof = add_checkpoint(&http, &url, 9, &[], &fork.signed(size)).await;
        assert_eq!(refused_status(with_no_proof), 422);
    }
    // At the cosigned size itself, another root is the conflict the
    // specification names, carrying the size the client sent.
    let same_size = add_checkpoint(&http, &url, 9, &[], &fork.signed(9)).await.unwrap();
    assert_eq!(same_size, AddOutcome::Conflict { witness_size: 9 });
    // A fork that still agrees on every cosigned leaf is just a history.
    let late_fork = log.fork(9, 20);
    assert!(matches!(submit(&http, &url, &late_fork, 9, 9).await.unwrap(), AddOutcome::Cosigned(_)));

    // An unknown key for a known origin, and an unknown origin.
    let impostor = Log::new(ORIGIN, Signer::generate(ORIGIN).unwrap(), "real", 20);
    assert_eq!(refused_status(submit(&http, &url, &impostor, 9, 12).await), 403);
    let stranger_name = "example.com/other-log";
    let stranger = Log::new(stranger_name, Signer::generate(stranger_name).unwrap(), "other", 4);
    assert_eq!(refused_status(submit(&http, &url, &stranger, 0, 4).await), 404);

    // Malformed, oversized and wrongly addressed requests.
    let endpoint = format!("{url}/add-checkpoint");
    let status = |r: reqwest::Response| r.status().as_u16();
    let malformed = http.post(&endpoint).body(format!("old 9\nnot base64\n\n{}", log.signed(12))).send().await;
    assert_eq!(status(malformed.unwrap()), 400);
    let old_above_new = http.post(&endpoint).body(format!("old 13\n\n{}", log.signed(12))).send().await;
    assert_eq!(status(old_above_new.unwrap()), 400);
    let oversized = http.post(&endpoint).body(vec![b'a'; MAX_BODY_LEN + 1]).send().await;
    assert_eq!(status(oversized.unwrap()), 413);
    assert_eq!(status(http.get(&endpoint).send().await.unwrap()), 405);
    let conflict = http
        .post(&endpoint)
        .body(AddCheckpointRequest { old_size: 0, proof: vec![], checkpoint: log.signed(3) }.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(conflict.status().as_u16(), 409);
    assert_eq!(conflict.headers()["content-type"], CONTENT_TYPE_TLOG_SIZE);
    assert_eq!(conflict.text().await.unwrap(), "9\n");

    // None of that moved the witness: the next honest extension is cosigned.
    check_cosigned(submit(&http, &url, &log, 9, 12).await.unwrap(), &log, 12, &running.verifier);
    let first_verifier = running.verifier.clone();
    stop(running).await;

    // A restart on the same key file and state directory remembers size 12.
    let running = start(&Config::load(&dir.path().join("witness.toml")).unwrap()).await;
    let url = running.url.clone();
    assert_eq!(running.verifier, first_verifier, "the key file was reused");
    assert_eq!(submit(&http, &url, &log, 5, 9).await.unwrap(), AddOutcome::Conflict { witness_size: 12 });
    assert_eq!(submit(&http, &url, &log, 9, 12).await.unwrap(), AddOutcome::Conflict { witness_size: 12 });
    assert_eq!(submit(&http, &url, &log, 0, 5).await.unwrap(), AddOutcome::Conflict { witness_size: 12 });
    let fork_after_restart = add_checkpoint(&http, &url, 12, &fork.proof(12, 15), &fork.signed(15)).await;
    assert_eq!(refused_status(fork_after_restart), 422);
    check_cosigned(submit(&http, &url, &log, 12, 20).await.unwrap(), &log, 20, &running.verifier);
    stop(running).await;
}

#[tokio::test]
async fn a_second_witness_cannot_open_a_state_directory_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::new(ORIGIN, Signer::generate(ORIGIN).unwrap(), "real", 1);
    let config = write_config(dir.path(), &log.signer.verifier().to_string());
    let first = config.open_witness().unwrap();
    assert!(config.open_witness().is_err());
    drop(first);
    config.open_witness().unwrap();
}

#[tokio::test]
async fn the_client_refuses_answers_a_witness_must_not_give() {
    use axum::routing::post;

    // A fake witness that answers each request with the next canned reply.
    let replies: Vec<(u16, &'static str, String)> = vec![
        (200, "text/plain", "not a signature line\n".into()),
        (200, "text/plain", String::new()),
        (409, "text/plain", "9\n".into()),
        (409, CONTENT_TYPE_TLOG_SIZE, "nine\n".into()),
        (200, "text/plain", format!("\u{2014} w {}\n", "A".repeat(64 * 1024))),
        (409, "Text/X.TLOG.Size; charset=utf-8", "9\n".into()),
        (503, "text/plain", "overloaded\n".into()),
    ];
    let replies = std::sync::Arc::new(std::sync::Mutex::new(replies.into_iter()));
    let app = axum::Router::new().route(
        "/add-checkpoint",
        post(move || {
            let replies = replies.clone();
            async move {
                let (status, content_type, body) = replies.lock().unwrap().next().unwrap();
                (http::StatusCode::from_u16(status).unwrap(), [(http::header::CONTENT_TYPE, content_type)], body)
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let http = reqwest::Client::new();
    let log = Log::new(ORIGIN, Signer::generate(ORIGIN).unwrap(), "real", 3);
    for what in ["junk line", "empty 200", "409 without its content type", "409 without a size", "huge body"] {
        let result = submit(&http, &url, &log, 0, 3).await;
        assert!(matches!(result, Err(ClientError::MalformedResponse(_))), "{what}: {result:?}");
    }
    // Media types compare case-insensitively and may carry parameters.
    assert_eq!(submit(&http, &url, &log, 0, 3).await.unwrap(), AddOutcome::Conflict { witness_size: 9 });
    assert_eq!(refused_status(submit(&http, &url, &log, 0, 3).await), 503);
}
