//! The KMS facades under the fuzzer: one `Kms` per process over a SQLite
//! store in a temporary directory (on `/dev/shm` when there is one, so the
//! store's fsyncs cost nothing), the software keystore and a real audit trail,
//! driven through `rampart_kms::aws::handle` and `rampart_kms::tencent::handle`
//! exactly as the server's `POST /` does after the signature checked out.
//!
//! An input is an operation and a JSON body: the first line names the
//! operation (a name from the facade's own list of the operations it
//! answers, `aws::ACTIONS` or `tencent::ACTIONS`, or one it does not know;
//! or else its first byte picks one),
//! the rest is the body. Two placeholders in the body make the paths past
//! key lookup reachable: `@KEY@` becomes the id of a key made at start-up
//! (also reachable as `alias/fuzz`) and `@BLOB@` the base64 ciphertext of
//! `fuzz` under that key with an empty encryption context. After every input
//! that key is put back to `Enabled`, so one input cannot disable the paths
//! for the rest; keys that inputs create stay, as they would on a server.
//!
//! Setup failures panic: without a KMS there is nothing to fuzz, and the
//! message says it is the harness, not a finding.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use rampart_core::audit::Audit;
use rampart_core::secret::RootSecret;
use rampart_kms::aws::{self, ArnScope};
use rampart_kms::keystore::{SoftwareKeystore, UnwrapCache};
use rampart_kms::lifecycle::Api;
use rampart_kms::service::{Caller, Kms};
use rampart_kms::spec::account_id;
use rampart_kms::tencent;
use rampart_store::{Store, TableAuditSink};
use serde_json::Value;

/// An operation the AWS facade does not know, beside those it does
/// (`rampart_kms::aws::ACTIONS`, the list its dispatch answers).
pub const AWS_UNKNOWN: &str = "NoSuchOperation";

/// An action the Tencent facade does not know, beside those it does
/// (`rampart_kms::tencent::ACTIONS`).
pub const TENCENT_UNKNOWN: &str = "NoSuchAction";

/// The KMS of this process and what inputs refer to.
struct Harness {
    runtime: tokio::runtime::Runtime,
    kms: Kms,
    aws_caller: Caller,
    tencent_caller: Caller,
    scope: ArnScope,
    key: Mutex<FuzzKey>,
}

/// The key that `@KEY@`, `@BLOB@` and `alias/fuzz` stand for.
#[derive(Clone)]
struct FuzzKey {
    id: String,
    blob_b64: String,
}

static HARNESS: OnceLock<Harness> = OnceLock::new();

/// Fuzzes the AWS JSON 1.1 facade with one request.
pub fn aws_request(data: &[u8]) {
    let h = harness();
    let (operation, body) = split(data, aws::ACTIONS, AWS_UNKNOWN);
    let body = substitute(body, &h.key());
    let reply = h.runtime.block_on(aws::handle(&h.kms, &h.aws_caller, &h.scope, operation, &body));
    assert!((200..600).contains(&reply.status), "{operation}: HTTP status {}", reply.status);
    if reply.status != 200 {
        assert!(reply.body.get("__type").is_some_and(Value::is_string), "{operation}: error without __type");
    }
    h.restore();
}

/// Fuzzes the Tencent API 3.0 facade with one request.
pub fn tencent_request(data: &[u8]) {
    let h = harness();
    let (action, body) = split(data, tencent::ACTIONS, TENCENT_UNKNOWN);
    let body = substitute(body, &h.key());
    let reply = h.runtime.block_on(tencent::handle(&h.kms, &h.tencent_caller, action, &body, "fuzz-request"));
    let request_id = reply.get("Response").and_then(|r| r.get("RequestId")).and_then(Value::as_str);
    assert_eq!(request_id, Some("fuzz-request"), "{action}: every answer is wrapped in Response with the RequestId");
    h.restore();
}

/// The operation named by the first line (or picked by its first byte,
/// among the facade's operations and one it does not know) and the body
/// after it.
fn split<'a>(data: &'a [u8], operations: &[&'static str], unknown: &'static str) -> (&'static str, &'a [u8]) {
    let (head, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let named = operations.iter().chain([&unknown]).find(|op| op.as_bytes() == head);
    let picked = || {
        let at = usize::from(head.first().copied().unwrap_or(0)) % (operations.len() + 1);
        operations.get(at).copied().unwrap_or(unknown)
    };
    (named.copied().unwrap_or_else(picked), body)
}

fn substitute(body: &[u8], key: &FuzzKey) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    if !text.contains('@') {
        return body.to_vec();
    }
    text.replace("@KEY@", &key.id).replace("@BLOB@", &key.blob_b64).into_bytes()
}

fn harness() -> &'static Harness {
    HARNESS.get_or_init(|| match build() {
        Ok(h) => h,
        Err(e) => panic!("fuzz harness setup failed (not a finding): {e}"),
    })
}

type SetupResult<T> = Result<T, String>;

impl Harness {
    fn key(&self) -> FuzzKey {
        self.key.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// One AWS call of the harness itself: the body on success.
    fn call(&self, op: &str, body: &str) -> SetupResult<Value> {
        let reply = self.runtime.block_on(aws::handle(&self.kms, &self.aws_caller, &self.scope, op, body.as_bytes()));
        if reply.status == 200 { Ok(reply.body) } else { Err(format!("{op}: {}", reply.body)) }
    }

    /// A new key for `@KEY@`, with `alias/fuzz` pointing at it.
    fn new_key(&self) -> SetupResult<FuzzKey> {
        let created = self.call("CreateKey", r#"{"Description":"fuzz"}"#)?;
        let id = created["KeyMetadata"]["KeyId"].as_str().ok_or("CreateKey: no KeyId")?.to_owned();
        let alias = format!(r#"{{"AliasName":"alias/fuzz","TargetKeyId":"{id}"}}"#);
        if self.call("UpdateAlias", &alias).is_err() {
            self.call("CreateAlias", &alias)?;
        }
        let encrypted = self.call("Encrypt", &format!(r#"{{"KeyId":"{id}","Plaintext":"ZnV6eg=="}}"#))?;
        let blob_b64 = encrypted["CiphertextBlob"].as_str().ok_or("Encrypt: no CiphertextBlob")?.to_owned();
        Ok(FuzzKey { id, blob_b64 })
    }

    /// Puts the key back to `Enabled` if an input changed its state. An input
    /// can also lock the harness out of it for good (a key policy that denies
    /// the caller); then the harness moves on to a new key.
    fn restore(&self) {
        let key = self.key();
        let only_key = format!(r#"{{"KeyId":"{}"}}"#, key.id);
        let enabled = || {
            self.call("DescribeKey", &only_key)
                .is_ok_and(|body| body["KeyMetadata"]["KeyState"].as_str() == Some("Enabled"))
        };
        if enabled() {
            return;
        }
        let _ = self.runtime.block_on(tencent::handle(
            &self.kms,
            &self.tencent_caller,
            "CancelKeyArchive",
            only_key.as_bytes(),
            "restore",
        ));
        for op in ["CancelKeyDeletion", "EnableKey"] {
            let _ = self.call(op, &only_key);
        }
        if enabled() {
            return;
        }
        match self.new_key() {
            Ok(fresh) => *self.key.lock().unwrap_or_else(PoisonError::into_inner) = fresh,
            Err(e) => panic!("fuzz harness could not make a new key (not a finding): {e}"),
        }
    }
}

fn build() -> SetupResult<Harness> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| format!("runtime: {e}"))?;
    let dir = state_dir()?;
    let store = runtime
        .block_on(Store::open_sqlite(&dir.join("db"), 4))
        .map_err(|e| format!("store at {}: {e}", dir.display()))?;
    let audit = Audit::new(Arc::new(TableAuditSink(store.clone())), Duration::from_secs(2));
    let keystore = SoftwareKeystore::generate().map_err(|e| format!("keystore: {e}"))?;
    let kms = Kms::new(
        store.clone(),
        audit,
        Arc::new(keystore),
        UnwrapCache::new(128, Duration::from_secs(60)),
        RootSecret::from_bytes([9; 32]).keyed_hasher("x"),
    );
    let tenant = runtime.block_on(store.create_tenant("fuzz", 1)).map_err(|e| format!("tenant: {e}"))?.id;
    let caller = |api| Caller {
        tenant: Some(tenant.clone()),
        actor: "fuzzer".into(),
        source: None,
        api,
        may_use: true,
        may_manage: true,
    };
    let scope = ArnScope { region: "us-east-1".into(), account: account_id(Some(&tenant)) };
    let placeholder = FuzzKey { id: String::new(), blob_b64: String::new() };
    let harness = Harness {
        runtime,
        kms,
        aws_caller: caller(Api::Aws),
        tencent_caller: caller(Api::Tencent),
        scope,
        key: Mutex::new(placeholder),
    };
    let key = harness.new_key()?;
    *harness.key.lock().unwrap_or_else(PoisonError::into_inner) = key;
    Ok(harness)
}

/// A fresh directory for this process's store. Fuzzers end by `exit`, so
/// nothing removes it then; instead each start removes the directories of
/// processes that are gone.
fn state_dir() -> SetupResult<PathBuf> {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
    const PREFIX: &str = "rampart-fuzz-kms-";
    if let Ok(entries) = std::fs::read_dir(&base) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = name.strip_prefix(PREFIX) else { continue };
            if !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = base.join(format!("{PREFIX}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}
