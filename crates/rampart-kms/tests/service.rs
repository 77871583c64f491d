//! The KMS service end to end on a real store (SQLite and PostgreSQL) with
//! the software keystore and a real audit trail: the key lifecycle with
//! AWS's semantics, rotation that keeps old ciphertexts readable, deletion
//! that leaves nothing to decrypt with, the alarm on use while pending
//! deletion, and tenant isolation.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use rampart_core::audit::Audit;
use rampart_core::secret::RootSecret;
use rampart_core::{Id, Outcome};
use rampart_kms::context::EncryptionContext;
use rampart_kms::keystore::{Keystore, Pkcs11Config, Pkcs11Keystore, SoftwareKeystore, UnwrapCache};
use rampart_kms::lifecycle::{Api, KeyState};
use rampart_kms::service::{Caller, Kms, KmsError};
use rampart_kms::spec::{EncryptionAlgorithm, KeyRef, KeySpec};

const SYM: EncryptionAlgorithm = EncryptionAlgorithm::SymmetricDefault;
use rampart_store::testing::TestPostgres;
use rampart_store::{EventFilter, Store, TableAuditSink};

fn caller(tenant: &Id) -> Caller {
    Caller {
        tenant: Some(tenant.clone()),
        actor: "alice".into(),
        source: None,
        api: Api::Aws,
        may_use: true,
        may_manage: true,
    }
}

/// Set in the child process that runs the suite on SoftHSM2.
const PKCS11_CHILD: &str = "RAMPART_TEST_KMS_ON_PKCS11";
const TOKEN: &str = "rampart-kms-suite";
const USER_PIN: &str = "user-pin-2468";

/// The keystore of this process: the software key file, or, in the
/// SoftHSM2 child process, the root key inside the token.
fn keystore(dir: &std::path::Path) -> Arc<dyn Keystore> {
    if std::env::var_os(PKCS11_CHILD).is_some() {
        let config = Pkcs11Config::new(TOKEN, secrecy::SecretString::from(USER_PIN.to_owned()));
        return Arc::new(Pkcs11Keystore::open(config).unwrap());
    }
    Arc::new(SoftwareKeystore::from_key_file(&dir.join("kms-root.key"), true).unwrap())
}

async fn kms(store: &Store, dir: &std::path::Path) -> Kms {
    let audit = Audit::new(Arc::new(TableAuditSink(store.clone())), Duration::from_secs(2));
    let root = RootSecret::from_bytes([9; 32]);
    Kms::new(
        store.clone(),
        audit,
        keystore(dir),
        UnwrapCache::new(128, Duration::from_secs(60)),
        root.keyed_hasher("rampart/kms-context/v1"),
    )
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    EncryptionContext::from_pairs(pairs.iter().copied()).unwrap()
}

async fn lifecycle_case(store: Store, dir: &std::path::Path, pg_url: Option<&str>) {
    let kms = kms(&store, dir).await;
    let acme = store.create_tenant("acme", 1).await.unwrap().id;
    let other = store.create_tenant("other", 1).await.unwrap().id;
    let me = caller(&acme);
    let meta = kms.create_key(&me, KeySpec::SymmetricDefault, None, "orders").await.unwrap();
    let key = KeyRef::Id(meta.key_id);
    assert_eq!(meta.state, KeyState::Enabled);

    let secret = b"card 4111 1111 1111 1111";
    let context = ctx(&[("order", "42")]);
    let (_, v1) = kms.encrypt(&me, &key, secret, &context, SYM).await.unwrap();
    let (_, back) = kms.decrypt(&me, &v1, &context, None, SYM).await.unwrap();
    assert_eq!(back.as_slice(), secret);
    let wrong = kms.decrypt(&me, &v1, &ctx(&[("order", "43")]), None, SYM).await.unwrap_err();
    assert_eq!(wrong.aws_type(), "InvalidCiphertextException");
    let collide = kms.decrypt(&me, &v1, &ctx(&[("orde", "r42")]), None, SYM).await.unwrap_err();
    assert_eq!(collide.aws_type(), "InvalidCiphertextException", "no context collisions");

    // Rotation: new ciphertexts use version 2, version 1 still decrypts.
    let rotated = kms.rotate_key_on_demand(&me, &key).await.unwrap();
    assert_eq!(rotated.current_material.get(), 2);
    let (_, v2) = kms.encrypt(&me, &key, secret, &context, SYM).await.unwrap();
    assert_ne!(v1[..30], v2[..30]);
    assert_eq!(kms.decrypt(&me, &v1, &context, None, SYM).await.unwrap().1.as_slice(), secret);
    assert_eq!(kms.decrypt(&me, &v2, &context, None, SYM).await.unwrap().1.as_slice(), secret);

    // Tenant isolation: another tenant neither sees the key nor decrypts.
    let them = caller(&other);
    assert!(matches!(kms.describe_key(&them, &key).await, Err(KmsError::NotFound)));
    assert!(matches!(kms.encrypt(&them, &key, b"x", &context, SYM).await, Err(KmsError::NotFound)));
    assert_eq!(
        kms.decrypt(&them, &v1, &context, None, SYM).await.unwrap_err().aws_type(),
        "InvalidCiphertextException"
    );

    // Disable: no use; enable again.
    kms.disable_key(&me, &key).await.unwrap();
    assert_eq!(kms.encrypt(&me, &key, b"x", &context, SYM).await.unwrap_err().aws_type(), "DisabledException");
    kms.enable_key(&me, &key).await.unwrap();

    // Pending deletion: any use is refused and raises an alarm-grade event.
    let scheduled = kms.schedule_key_deletion(&me, &key, Some(7)).await.unwrap();
    let KeyState::PendingDeletion { deletion_date_ms } = scheduled.state else { panic!("{scheduled:?}") };
    assert_eq!(kms.decrypt(&me, &v1, &context, None, SYM).await.unwrap_err().aws_type(), "KMSInvalidStateException");
    let alarms = EventFilter { kind: Some("kms.key.used_while_pending_deletion".into()), ..Default::default() };
    let found = store.list_events(&alarms, 0, 10).await.unwrap();
    assert_eq!(found.items.len(), 1);
    assert_eq!(found.items[0].event.outcome, Outcome::Denied);
    assert_eq!(kms.cancel_key_deletion(&me, &key).await.unwrap().state, KeyState::Disabled, "cancel → Disabled");

    // Deletion at the deadline: nothing remains, old ciphertexts are dead.
    let id = meta.key_id.to_string();
    let wrapped = [store.kms_material(&id, 1).await.unwrap().1, store.kms_material(&id, 2).await.unwrap().1];
    assert!(database_holds(dir, pg_url, &wrapped[0]).await, "the scan finds material while it exists");
    kms.schedule_key_deletion(&me, &key, None).await.unwrap();
    assert_eq!(kms.purge_due(deletion_date_ms - 1).await.unwrap(), 0, "not before the deadline");
    let far = rampart_core::time::now_ms() + 31 * 86_400_000;
    assert_eq!(kms.purge_due(far).await.unwrap(), 1);
    assert!(matches!(kms.describe_key(&me, &key).await, Err(KmsError::NotFound)));
    assert_eq!(kms.decrypt(&me, &v1, &context, None, SYM).await.unwrap_err().aws_type(), "InvalidCiphertextException");
    assert_eq!(kms.decrypt(&me, &v2, &context, None, SYM).await.unwrap_err().aws_type(), "InvalidCiphertextException");
    assert!(store.kms_material(&meta.key_id.to_string(), 1).await.is_err());
    for w in &wrapped {
        assert!(!database_holds(dir, pg_url, w).await, "no wrapped material survives in a dump of the database");
    }
    if std::env::var_os(PKCS11_CHILD).is_some() {
        // Key material never lives in the token: only the root key does,
        // before and after, so there is nothing of the key left to destroy there.
        let labels = token_object_labels();
        assert_eq!(labels, vec![rampart_kms::keystore::pkcs11::DEFAULT_KEY_LABEL.to_owned()], "{labels:?}");
    }

    // The audit trail names keys and context hashes, never the plaintext.
    let all = store.list_events(&EventFilter::default(), 0, 500).await.unwrap();
    let text = serde_json::to_string(&all.items.iter().map(|e| &e.event).collect::<Vec<_>>()).unwrap();
    assert!(text.contains("kms.encrypt") && text.contains("hmac-sha256:"));
    assert!(!text.contains("4111") && !text.contains("\"42\""), "no plaintext or context values in the audit");
}

/// Whether `needle` appears anywhere in a dump of the database: the SQLite
/// file and its WAL byte for byte, or PostgreSQL's `pg_dump` of the table
/// data (plus the raw table contents, for rows a dump would not show).
async fn database_holds(dir: &std::path::Path, pg_url: Option<&str>, needle: &[u8]) -> bool {
    if let Some(url) = pg_url {
        // `pg_dump` writes bytea as hex: search for the hex form.
        let out = std::process::Command::new("pg_dump").args(["--data-only", url]).output().unwrap();
        assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
        let hex: String = needle.iter().map(|b| format!("{b:02x}")).collect();
        return String::from_utf8_lossy(&out.stdout).contains(&hex);
    }
    let path = dir.join("db");
    let mut haystack = std::fs::read(&path).unwrap_or_default();
    haystack.extend(std::fs::read(dir.join("db-wal")).unwrap_or_default());
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The labels of every object on the test token, listed through PKCS#11.
fn token_object_labels() -> Vec<String> {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::object::{Attribute, AttributeType};
    use cryptoki::session::UserType;
    let ctx = Pkcs11::new(rampart_kms::keystore::pkcs11::DEFAULT_MODULE).unwrap();
    let _ = ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let slot = ctx
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label() == TOKEN)
        .unwrap();
    let session = ctx.open_ro_session(slot).unwrap();
    let _ = session.login(UserType::User, Some(&secrecy::SecretString::from(USER_PIN.to_owned())));
    let objects = session.find_objects(&[]).unwrap();
    let mut labels: Vec<String> = objects
        .iter()
        .map(|o| match session.get_attributes(*o, &[AttributeType::Label]).unwrap().first() {
            Some(Attribute::Label(l)) => String::from_utf8_lossy(l).into_owned(),
            _ => String::new(),
        })
        .collect();
    labels.sort();
    labels
}

/// The whole suite again with the root key inside SoftHSM2: a child process
/// of this test binary with its own token directory (SoftHSM2 reads
/// `SOFTHSM2_CONF` once per process), running every `_on_sqlite` case.
#[test]
fn the_kms_suite_runs_on_softhsm2() {
    if std::env::var_os(PKCS11_CHILD).is_some() {
        return;
    }
    if !std::path::Path::new(rampart_kms::keystore::pkcs11::DEFAULT_MODULE).exists() {
        let message = "SoftHSM2 is missing (apt-get install softhsm2)";
        assert!(std::env::var_os("RAMPART_REQUIRE_TOOLS").is_none(), "RAMPART_REQUIRE_TOOLS is set and {message}");
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "*** SKIPPED: the KMS suite on PKCS#11: {message}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", tokens.display()),
    )
    .unwrap();
    let init = std::process::Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", TOKEN, "--so-pin", "so-pin-1357", "--pin", USER_PIN])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .unwrap();
    assert!(init.status.success(), "softhsm2-util: {}", String::from_utf8_lossy(&init.stderr));
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["on_sqlite", "--test-threads=1"])
        .env("SOFTHSM2_CONF", &conf)
        .env(PKCS11_CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the suite failed on SoftHSM2:\n{stdout}\n{stderr}");
    assert!(stdout.contains("7 passed"), "the suite did not run on SoftHSM2:\n{stdout}\n{stderr}");
}

/// Keys generated and used inside the HSM (AWS `Origin=AWS_CLOUDHSM` in the
/// custom key store). With the software keystore they are refused with
/// AWS's error; in the SoftHSM2 child the whole life: creation (an object
/// on the token, nothing but its label in the database), every symmetric
/// operation, no rotation, and at the deletion deadline the token object
/// destroyed and old ciphertexts dead.
#[tokio::test]
async fn hsm_resident_keys_on_sqlite() {
    use rampart_kms::service::CUSTOM_KEY_STORE_ID;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db"), 4).await.unwrap();
    let kms = kms(&store, dir.path()).await;
    let tenant = store.create_tenant("hsm-user", 1).await.unwrap().id;
    let me = caller(&tenant);
    if std::env::var_os(PKCS11_CHILD).is_none() {
        assert_eq!(kms.custom_key_store_id(), None);
        let e = kms.create_hsm_key(&me, CUSTOM_KEY_STORE_ID, "x").await.unwrap_err();
        assert_eq!(e.aws_type(), "CustomKeyStoreNotFoundException");
        assert!(kms.list_keys(&me).await.unwrap().is_empty(), "a refused creation leaves no key");
        return;
    }
    assert_eq!(kms.custom_key_store_id(), Some(CUSTOM_KEY_STORE_ID));
    let e = kms.create_hsm_key(&me, "cks-elsewhere", "x").await.unwrap_err();
    assert_eq!(e.aws_type(), "CustomKeyStoreNotFoundException");

    let meta = kms.create_hsm_key(&me, CUSTOM_KEY_STORE_ID, "inside").await.unwrap();
    assert_eq!(meta.origin, rampart_kms::Origin::Hsm);
    let key = KeyRef::Id(meta.key_id);
    let label = rampart_kms::keystore::resident_label(&meta.key_id, rampart_kms::MaterialId::new(1));
    assert!(token_object_labels().contains(&label), "the key is an object on the token");
    let (keystore_name, stored) = store.kms_material(&meta.key_id.to_string(), 1).await.unwrap();
    assert_eq!((keystore_name.as_str(), stored.as_slice()), ("pkcs11-resident", label.as_bytes()), "only the label");

    let context = EncryptionContext::from_pairs([("purpose", "hsm")]).unwrap();
    let (_, blob) = kms.encrypt(&me, &key, b"secret in the hsm", &context, SYM).await.unwrap();
    let (_, plain) = kms.decrypt(&me, &blob, &context, None, SYM).await.unwrap();
    assert_eq!(plain.as_slice(), b"secret in the hsm");
    let wrong = EncryptionContext::from_pairs([("purpose", "other")]).unwrap();
    assert_eq!(kms.decrypt(&me, &blob, &wrong, None, SYM).await.unwrap_err().aws_type(), "InvalidCiphertextException");
    let mut flipped = blob.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert_eq!(
        kms.decrypt(&me, &flipped, &context, None, SYM).await.unwrap_err().aws_type(),
        "InvalidCiphertextException"
    );
    let (_, data_key) = kms.generate_data_key(&me, &key, 32, &context).await.unwrap();
    let (_, opened) = kms.decrypt(&me, data_key.ciphertext_blob(), &context, None, SYM).await.unwrap();
    assert_eq!(opened.as_slice(), data_key.plaintext());
    let (_, pair) = kms.generate_data_key_pair(&me, &key, KeySpec::EccNistP256, &context, true).await.unwrap();
    let (_, private) = kms.decrypt(&me, &pair.private_ciphertext, &context, None, SYM).await.unwrap();
    assert_eq!(Some(private.as_slice()), pair.private_plaintext.as_deref().map(Vec::as_slice));

    // A software key and the HSM key do not open each other's blobs.
    let soft = kms.create_key(&me, KeySpec::SymmetricDefault, None, "soft").await.unwrap();
    let (_, soft_blob) = kms.encrypt(&me, &KeyRef::Id(soft.key_id), b"soft", &context, SYM).await.unwrap();
    assert_eq!(
        kms.decrypt(&me, &soft_blob, &context, Some(&key), SYM).await.unwrap_err().aws_type(),
        "IncorrectKeyException"
    );

    // No rotation of any kind, as AWS for keys in a custom key store.
    for e in [
        kms.rotate_key_on_demand(&me, &key).await.unwrap_err(),
        kms.enable_key_rotation(&me, &key, None).await.unwrap_err(),
    ] {
        assert_eq!(e.aws_type(), "UnsupportedOperationException", "{e}");
    }

    // Deletion: at the deadline the token object is destroyed; old blobs are dead.
    kms.disable_key(&me, &key).await.unwrap();
    kms.schedule_key_deletion(&me, &key, Some(7)).await.unwrap();
    assert_eq!(kms.encrypt(&me, &key, b"x", &context, SYM).await.unwrap_err().aws_type(), "KMSInvalidStateException");
    assert!(token_object_labels().contains(&label), "still there while pending deletion");
    let far = rampart_core::time::now_ms() + 8 * 86_400_000;
    assert_eq!(kms.purge_due(far).await.unwrap(), 1);
    assert!(!token_object_labels().contains(&label), "destroyed inside the HSM");
    assert!(store.kms_material(&meta.key_id.to_string(), 1).await.is_err());
    assert_eq!(
        kms.decrypt(&me, &blob, &context, None, SYM).await.unwrap_err().aws_type(),
        "InvalidCiphertextException"
    );
}

#[tokio::test]
async fn lifecycle_rotation_deletion_and_isolation_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db"), 4).await.unwrap();
    lifecycle_case(store, dir.path(), None).await;
}

#[tokio::test]
async fn lifecycle_rotation_deletion_and_isolation_on_postgres() {
    let Some(pg) = TestPostgres::create().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = pg.store().await.unwrap();
    lifecycle_case(store.clone(), dir.path(), Some(pg.url())).await;
    store.close().await;
    pg.drop_db().await;
}

const HOUR_MS: i64 = 3_600_000;

/// Wraps key material under import parameters' public key, as a customer
/// does (RSAES-OAEP-SHA-256).
fn wrap_for_import(params: &rampart_kms::service::ImportParameters, material: &[u8]) -> Vec<u8> {
    use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey};
    let key = OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(&params.public_key).unwrap()).unwrap();
    let mut out = vec![0; key.ciphertext_size()];
    key.encrypt(&OAEP_SHA256_MGF1SHA256, material, &mut out, None).unwrap().to_vec()
}

/// Imported material with AWS's semantics: it expires at `ValidTo` (the
/// sweep runs with an injected clock, on two nodes at once), and so does it
/// when deleted on demand; only the same material comes back, and with it
/// the old ciphertexts.
async fn import_expiry_case(store: Store, dir: &std::path::Path) {
    use rampart_core::time::now_ms;
    let kms = kms(&store, dir).await;
    let other_node = self::kms(&store, dir).await;
    let tenant = store.create_tenant("importer", 1).await.unwrap().id;
    let me = caller(&tenant);
    let created = kms.create_external_key(&me, "imported").await.unwrap();
    let key = KeyRef::Id(created.key_id);
    let id = created.key_id.to_string();
    let (material, other_material) = ([0x5a; 32], [0xa5; 32]);
    let state = async |k: &Kms| k.describe_key(&me, &key).await.unwrap();
    let params = async || kms.get_parameters_for_import(&me, &key, KeySpec::Rsa2048).await.unwrap();

    // ValidTo must lie ahead, and within AWS's 365 days; refusals change nothing.
    let p = params().await;
    let now = now_ms();
    for bad in [now - 1, now, now + 366 * 24 * HOUR_MS] {
        let wrapped = wrap_for_import(&p, &material);
        let e = kms.import_key_material(&me, &key, &p.import_token, &wrapped, Some(bad)).await.unwrap_err();
        assert_eq!(e.aws_type(), "ValidationException", "ValidTo {bad}");
    }
    assert_eq!(state(&kms).await.state, KeyState::PendingImport);

    let valid_to = now + HOUR_MS;
    let wrapped = wrap_for_import(&p, &material);
    let imported = kms.import_key_material(&me, &key, &p.import_token, &wrapped, Some(valid_to)).await.unwrap();
    assert_eq!((imported.state, imported.material_expires_ms), (KeyState::Enabled, Some(valid_to)));
    let shown = state(&other_node).await;
    assert_eq!((shown.state, shown.material_expires_ms), (KeyState::Enabled, Some(valid_to)));
    let context = ctx(&[("file", "a")]);
    let (_, blob) = kms.encrypt(&me, &key, b"imported secret", &context, SYM).await.unwrap();
    // Generated material never silently replaces what the customer imported.
    let e = kms.rotate_key_on_demand(&me, &key).await.unwrap_err();
    assert_eq!(e.aws_type(), "UnsupportedOperationException", "{e}");
    assert_eq!(state(&kms).await.current_material.get(), 1);

    // The sweep: nothing before ValidTo; at ValidTo, on two nodes at once,
    // the material is deleted exactly once and the key waits for an import.
    assert_eq!(kms.expire_due_material(valid_to - 1).await.unwrap(), 0);
    let (a, b) = tokio::join!(kms.expire_due_material(valid_to), other_node.expire_due_material(valid_to));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a + b, 1, "expired once, by whichever node got there first");
    let (sweeper, bystander) = if a == 1 { (&kms, &other_node) } else { (&other_node, &kms) };
    let shown = state(sweeper).await;
    assert_eq!((shown.state, shown.material_expires_ms), (KeyState::PendingImport, None));
    assert!(store.kms_material(&id, 1).await.is_err(), "the material is gone");
    // The node that expired it refuses at once; the other once its cached
    // metadata has aged out (at most KEY_CACHE_TTL, the documented bound
    // for changes made on another node). Neither uses cached material.
    let refused = sweeper.decrypt(&me, &blob, &context, None, SYM).await.unwrap_err();
    assert_eq!(refused.aws_type(), "KMSInvalidStateException", "the sweeping node refuses at once");
    tokio::time::sleep(rampart_kms::service::KEY_CACHE_TTL + Duration::from_millis(50)).await;
    let refused = bystander.decrypt(&me, &blob, &context, None, SYM).await.unwrap_err();
    assert_eq!(refused.aws_type(), "KMSInvalidStateException", "the other node refuses within the bound");
    let expired = EventFilter { kind: Some("kms.key.material_expired".into()), ..Default::default() };
    let records = store.list_events(&expired, 0, 10).await.unwrap().items;
    assert!(!records.is_empty() && records.iter().all(|r| r.event.object.as_deref() == Some(id.as_str())));
    assert_eq!(kms.expire_due_material(valid_to + HOUR_MS).await.unwrap(), 0, "nothing left to expire");

    // Other material is refused and changes nothing; the same material
    // brings the key and its old ciphertexts back.
    let p = params().await;
    let (wrapped, wrong_one) = (wrap_for_import(&p, &material), wrap_for_import(&p, &other_material));
    let wrong = kms.import_key_material(&me, &key, &p.import_token, &wrong_one, None).await.unwrap_err();
    assert_eq!(wrong.aws_type(), "IncorrectKeyMaterialException");
    assert_eq!(state(&kms).await.state, KeyState::PendingImport);
    kms.import_key_material(&me, &key, &p.import_token, &wrapped, None).await.unwrap();
    assert_eq!(kms.decrypt(&me, &blob, &context, None, SYM).await.unwrap().1.as_slice(), b"imported secret");
    let spent = kms.import_key_material(&me, &key, &p.import_token, &wrapped, None).await.unwrap_err();
    assert_eq!(spent.aws_type(), "InvalidImportTokenException", "a token serves once");

    // Re-importing into an enabled key sets a new expiry, with the same
    // material only.
    let p = params().await;
    let (wrapped, wrong_one) = (wrap_for_import(&p, &material), wrap_for_import(&p, &other_material));
    let wrong = kms.import_key_material(&me, &key, &p.import_token, &wrong_one, None).await.unwrap_err();
    assert_eq!(wrong.aws_type(), "IncorrectKeyMaterialException");
    let later = now_ms() + 2 * HOUR_MS;
    let again = kms.import_key_material(&me, &key, &p.import_token, &wrapped, Some(later)).await.unwrap();
    assert_eq!(again.material_expires_ms, Some(later));
    assert_eq!(kms.decrypt(&me, &blob, &context, None, SYM).await.unwrap().1.as_slice(), b"imported secret");

    // DeleteImportedKeyMaterial does on demand what expiry does.
    kms.delete_imported_key_material(&me, &key).await.unwrap();
    assert_eq!(state(&kms).await.state, KeyState::PendingImport);
    assert!(store.kms_material(&id, 1).await.is_err());
    let refused = kms.encrypt(&me, &key, b"x", &context, SYM).await.unwrap_err();
    assert_eq!(refused.aws_type(), "KMSInvalidStateException");
    kms.delete_imported_key_material(&me, &key).await.unwrap();

    // Expiry holds from its instant on, before any sweep has run.
    let p = params().await;
    let soon = now_ms() + 1_500;
    let wrapped = wrap_for_import(&p, &material);
    kms.import_key_material(&me, &key, &p.import_token, &wrapped, Some(soon)).await.unwrap();
    assert_eq!(kms.decrypt(&me, &blob, &context, None, SYM).await.unwrap().1.as_slice(), b"imported secret");
    tokio::time::sleep(Duration::from_millis(u64::try_from(soon - now_ms()).unwrap_or(0) + 50)).await;
    assert_eq!(state(&other_node).await.state, KeyState::PendingImport, "expired before the sweep");
    let refused = other_node.decrypt(&me, &blob, &context, None, SYM).await.unwrap_err();
    assert_eq!(refused.aws_type(), "KMSInvalidStateException");
    assert_eq!(other_node.expire_due_material(now_ms()).await.unwrap(), 1);
    assert!(store.kms_material(&id, 1).await.is_err());
}

/// Key metadata is cached per node for `kms.metadata_cache_ms`: the node
/// that disables a key refuses it at once, another node within the bound,
/// and a node with the cache off (0) at once too.
#[tokio::test]
async fn another_nodes_key_change_is_seen_within_the_metadata_cache_bound() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db"), 4).await.unwrap();
    let changer = kms(&store, dir.path()).await;
    let bound = Duration::from_secs(3);
    let cached = kms(&store, dir.path()).await.with_metadata_cache(bound);
    let strict = kms(&store, dir.path()).await.with_metadata_cache(Duration::ZERO);
    let tenant = store.create_tenant("nodes", 1).await.unwrap().id;
    let me = caller(&tenant);
    let key = KeyRef::Id(changer.create_key(&me, KeySpec::SymmetricDefault, None, "shared").await.unwrap().key_id);
    let context = ctx(&[]);
    for node in [&changer, &cached, &strict] {
        node.encrypt(&me, &key, b"x", &context, SYM).await.unwrap();
    }
    changer.disable_key(&me, &key).await.unwrap();
    let refused = |r: Result<_, rampart_kms::service::KmsError>| r.map(|_| ()).unwrap_err().aws_type();
    assert_eq!(refused(changer.encrypt(&me, &key, b"x", &context, SYM).await), "DisabledException");
    assert_eq!(refused(strict.encrypt(&me, &key, b"x", &context, SYM).await), "DisabledException");
    assert!(cached.encrypt(&me, &key, b"x", &context, SYM).await.is_ok(), "within the bound: still its cached view");
    tokio::time::sleep(bound + Duration::from_millis(50)).await;
    assert_eq!(refused(cached.encrypt(&me, &key, b"x", &context, SYM).await), "DisabledException");
}

#[tokio::test]
async fn imported_material_expires_and_comes_back_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db"), 4).await.unwrap();
    import_expiry_case(store, dir.path()).await;
}

#[tokio::test]
async fn imported_material_expires_and_comes_back_on_postgres() {
    let Some(pg) = TestPostgres::create().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = pg.store().await.unwrap();
    import_expiry_case(store.clone(), dir.path()).await;
    store.close().await;
    pg.drop_db().await;
}

fn with_role(tenant: &Id, actor: &str, may_use: bool, may_manage: bool) -> Caller {
    Caller { tenant: Some(tenant.clone()), actor: actor.into(), source: None, api: Api::Aws, may_use, may_manage }
}

async fn asymmetric_and_hmac_case(store: Store, dir: &std::path::Path) {
    use rampart_kms::material::MessageType::{Digest, Raw};
    use rampart_kms::spec::{KeyUsage, MacAlgorithm, SigningAlgorithm};
    let kms = kms(&store, dir).await;
    let acme = store.create_tenant("asym", 1).await.unwrap().id;
    let me = caller(&acme);

    // ECDSA: raw and digest signing, verification, and the published key.
    let ec = kms.create_key(&me, KeySpec::EccNistP256, Some(KeyUsage::SignVerify), "signer").await.unwrap();
    let ec = KeyRef::Id(ec.key_id);
    let (_, sig) = kms.sign(&me, &ec, b"release-1.0.tar.gz", Raw, SigningAlgorithm::EcdsaSha256).await.unwrap();
    assert!(kms.verify(&me, &ec, b"release-1.0.tar.gz", Raw, SigningAlgorithm::EcdsaSha256, &sig).await.unwrap().1);
    assert!(!kms.verify(&me, &ec, b"release-1.1.tar.gz", Raw, SigningAlgorithm::EcdsaSha256, &sig).await.unwrap().1);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"release-1.0.tar.gz");
    assert!(kms.verify(&me, &ec, digest.as_ref(), Digest, SigningAlgorithm::EcdsaSha256, &sig).await.unwrap().1);
    let public = kms.get_public_key(&me, &ec).await.unwrap();
    let point = &public.der[public.der.len() - 65..];
    let verifier = aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1, point);
    assert!(verifier.verify(b"release-1.0.tar.gz", &sig).is_ok(), "anyone can verify with the public key");
    let wrong = kms.sign(&me, &ec, b"m", Raw, SigningAlgorithm::EcdsaSha384).await.unwrap_err();
    assert_eq!(wrong.aws_type(), "InvalidKeyUsageException", "P-256 keys sign with SHA-256 only");
    let encrypt = kms.encrypt(&me, &ec, b"m", &EncryptionContext::empty(), SYM).await.unwrap_err();
    assert_eq!(encrypt.aws_type(), "InvalidKeyUsageException", "a signing key does not encrypt");

    // RSA: OAEP encryption (no context), decryption needs the key named.
    let rsa = kms.create_key(&me, KeySpec::Rsa2048, Some(KeyUsage::EncryptDecrypt), "rsa").await.unwrap();
    let rsa = KeyRef::Id(rsa.key_id);
    let oaep = EncryptionAlgorithm::RsaesOaepSha256;
    let none = EncryptionContext::empty();
    let (_, ct) = kms.encrypt(&me, &rsa, b"pin 1234", &none, oaep).await.unwrap();
    assert_eq!(kms.decrypt(&me, &ct, &none, Some(&rsa), oaep).await.unwrap().1.as_slice(), b"pin 1234");
    assert_eq!(kms.decrypt(&me, &ct, &none, None, oaep).await.unwrap_err().aws_type(), "ValidationException");
    let too_long = kms.encrypt(&me, &rsa, &[7u8; 191], &none, oaep).await.unwrap_err();
    assert_eq!(too_long.aws_type(), "ValidationException");
    assert!(kms.encrypt(&me, &rsa, b"x", &ctx(&[("a", "b")]), oaep).await.is_err(), "RSA takes no context");
    assert_eq!(kms.rotate_key_on_demand(&me, &rsa).await.unwrap_err().aws_type(), "UnsupportedOperationException");

    // HMAC: generate and verify, a wrong tag is an answer, not an error.
    let mac = kms.create_key(&me, KeySpec::Hmac384, Some(KeyUsage::GenerateVerifyMac), "mac").await.unwrap();
    let mac = KeyRef::Id(mac.key_id);
    let (_, tag) = kms.generate_mac(&me, &mac, b"token", MacAlgorithm::HmacSha384).await.unwrap();
    assert_eq!(tag.len(), 48);
    assert!(kms.verify_mac(&me, &mac, b"token", MacAlgorithm::HmacSha384, &tag).await.unwrap().1);
    assert!(!kms.verify_mac(&me, &mac, b"tokem", MacAlgorithm::HmacSha384, &tag).await.unwrap().1);
    let bad = kms.generate_mac(&me, &mac, b"t", MacAlgorithm::HmacSha256).await.unwrap_err();
    assert_eq!(bad.aws_type(), "InvalidKeyUsageException");
    assert!(kms.create_key(&me, KeySpec::Hmac256, None, "no usage").await.is_err(), "HMAC needs its usage");

    // Data key pairs under a symmetric key: the encrypted private key
    // decrypts (with the same context) to the plaintext one.
    let sym = kms.create_key(&me, KeySpec::SymmetricDefault, None, "wrapping").await.unwrap();
    let sym = KeyRef::Id(sym.key_id);
    let context = ctx(&[("purpose", "device-7")]);
    let (_, pair) = kms.generate_data_key_pair(&me, &sym, KeySpec::EccNistP384, &context, true).await.unwrap();
    let private = pair.private_plaintext.as_ref().unwrap();
    let back = kms.decrypt(&me, &pair.private_ciphertext, &context, None, SYM).await.unwrap().1;
    assert_eq!(back.as_slice(), private.as_slice());
    assert!(pair.public_key.len() > 90);
    let (_, pair) = kms.generate_data_key_pair(&me, &sym, KeySpec::Rsa2048, &context, false).await.unwrap();
    assert!(pair.private_plaintext.is_none());
    assert!(kms.generate_data_key_pair(&me, &ec, KeySpec::Rsa2048, &context, true).await.is_err());
    assert!(kms.generate_data_key_pair(&me, &sym, KeySpec::Hmac256, &context, true).await.is_err());

    let random = kms.generate_random(&me, 64).await.unwrap();
    assert_eq!(random.len(), 64);
    assert_ne!(random.as_slice(), kms.generate_random(&me, 64).await.unwrap().as_slice());
    assert!(kms.generate_random(&me, 0).await.is_err() && kms.generate_random(&me, 1025).await.is_err());

    // Every operation is recorded; no message, signature or tag is.
    let all = store.list_events(&EventFilter::default(), 0, 500).await.unwrap();
    let kinds: Vec<&str> = all.items.iter().map(|e| e.event.kind.as_str()).collect();
    for kind in ["kms.sign", "kms.verify", "kms.generate_mac", "kms.verify_mac", "kms.get_public_key"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let text = serde_json::to_string(&all.items.iter().map(|e| &e.event).collect::<Vec<_>>()).unwrap();
    assert!(!text.contains("release-1.0") && !text.contains("pin 1234"));
}

#[tokio::test]
async fn asymmetric_and_hmac_keys_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db"), 4).await.unwrap();
    asymmetric_and_hmac_case(store, dir.path()).await;
}

async fn policy_case(store: Store, dir: &std::path::Path) {
    let kms = kms(&store, dir).await;
    let t = store.create_tenant("policy", 1).await.unwrap().id;
    let account = rampart_kms::spec::account_id(Some(&t));
    let admin = with_role(&t, "admin", true, true);
    let user = with_role(&t, "user", true, false);
    let app = with_role(&t, "app", false, false);
    let context = EncryptionContext::empty();

    // The default policy delegates to roles: use, but not manage, for users.
    let key = KeyRef::Id(kms.create_key(&admin, KeySpec::SymmetricDefault, None, "k").await.unwrap().key_id);
    let (_, blob) = kms.encrypt(&user, &key, b"data", &context, SYM).await.unwrap();
    assert_eq!(kms.disable_key(&user, &key).await.unwrap_err().aws_type(), "AccessDeniedException");
    assert_eq!(kms.encrypt(&app, &key, b"data", &context, SYM).await.unwrap_err().aws_type(), "AccessDeniedException");
    assert!(kms.create_key(&user, KeySpec::SymmetricDefault, None, "x").await.is_err(), "creating needs manage");
    assert!(kms.get_key_policy(&user, &key).await.unwrap().contains(&format!("arn:aws:iam::{account}:root")));

    // A policy lets the app encrypt (no role needed) and denies the user decryption.
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Sid":"admins","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}},
        {{"Sid":"app","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:user/app"}},"Action":"kms:Encrypt","Resource":"*"}},
        {{"Sid":"no-decrypt","Effect":"Deny","Principal":{{"AWS":"arn:aws:iam::{account}:user/user"}},"Action":"kms:Decrypt","Resource":"*"}}]}}"#
    );
    kms.put_key_policy(&admin, &key, &policy, false).await.unwrap();
    assert!(kms.encrypt(&app, &key, b"data", &context, SYM).await.is_ok());
    assert_eq!(kms.decrypt(&app, &blob, &context, None, SYM).await.unwrap_err().aws_type(), "AccessDeniedException");
    assert_eq!(kms.decrypt(&user, &blob, &context, None, SYM).await.unwrap_err().aws_type(), "AccessDeniedException");
    assert!(kms.decrypt(&admin, &blob, &context, None, SYM).await.is_ok());
    assert_eq!(kms.get_key_policy(&admin, &key).await.unwrap(), policy);

    // Lock-out protection, a bypass for who really means it, bad documents.
    let lockout = format!(
        r#"{{"Statement":{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:user/app"}},"Action":"kms:Encrypt","Resource":"*"}}}}"#
    );
    let err = kms.put_key_policy(&admin, &key, &lockout, false).await.unwrap_err();
    assert_eq!(err.aws_type(), "MalformedPolicyDocumentException");
    assert!(err.to_string().contains("future"), "{err}");
    let err = kms.put_key_policy(&admin, &key, r#"{"Statement":{"Condition":{}}}"#, false).await.unwrap_err();
    assert_eq!(err.aws_type(), "MalformedPolicyDocumentException");
    assert_eq!(kms.get_key_policy(&admin, &key).await.unwrap(), policy, "a refused policy changes nothing");
    kms.put_key_policy(&admin, &key, &lockout, true).await.unwrap();
    assert_eq!(kms.disable_key(&admin, &key).await.unwrap_err().aws_type(), "AccessDeniedException");
    assert!(kms.encrypt(&app, &key, b"data", &context, SYM).await.is_ok());

    let denials = store
        .list_events(&EventFilter { kind: Some("kms.access_denied".into()), ..Default::default() }, 0, 50)
        .await
        .unwrap();
    assert!(denials.items.len() >= 5, "every denial is recorded: {}", denials.items.len());
    assert!(denials.items.iter().all(|e| e.event.outcome == Outcome::Denied));
}

#[tokio::test]
async fn key_policies_decide_per_key_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db"), 4).await.unwrap();
    policy_case(store, dir.path()).await;
}

async fn management_case(store: Store, dir: &std::path::Path) {
    use rampart_kms::spec::AliasName;
    let kms = kms(&store, dir).await;
    let t = store.create_tenant("manage", 1).await.unwrap().id;
    let me = caller(&t);
    let context = ctx(&[("app", "billing")]);
    let a = kms.create_key(&me, KeySpec::SymmetricDefault, None, "a").await.unwrap().key_id;
    let b = kms.create_key(&me, KeySpec::SymmetricDefault, None, "b").await.unwrap().key_id;
    let (a_ref, b_ref) = (KeyRef::Id(a), KeyRef::Id(b));

    // Aliases: list (all, per key), retarget, delete.
    let alias = AliasName::parse("alias/billing").unwrap();
    kms.create_alias(&me, &alias, &a_ref).await.unwrap();
    assert_eq!(kms.list_aliases(&me, None).await.unwrap(), vec![(alias.clone(), a)]);
    assert!(kms.list_aliases(&me, Some(&b_ref)).await.unwrap().is_empty());
    kms.update_alias(&me, &alias, &b_ref).await.unwrap();
    let (_, blob) = kms.encrypt(&me, &KeyRef::Alias(alias.clone()), b"x", &context, SYM).await.unwrap();
    assert_eq!(kms.decrypt(&me, &blob, &context, None, SYM).await.unwrap().0, b, "the alias now names b");
    kms.delete_alias(&me, &alias).await.unwrap();
    assert!(kms.list_aliases(&me, None).await.unwrap().is_empty());
    assert!(matches!(kms.delete_alias(&me, &alias).await, Err(KmsError::NotFound)));

    // Description and tags.
    kms.update_description(&me, &a_ref, "renamed").await.unwrap();
    assert_eq!(kms.describe_key(&me, &a_ref).await.unwrap().description, "renamed");
    kms.tag_key(&me, &a_ref, &[("env".into(), "prod".into())]).await.unwrap();
    assert!(kms.tag_key(&me, &a_ref, &[("aws:x".into(), "y".into())]).await.is_err(), "reserved prefix");
    let many: Vec<(String, String)> = (0..51).map(|i| (format!("k{i}"), "v".into())).collect();
    assert!(kms.tag_key(&me, &a_ref, &many).await.is_err(), "at most 50 tags");
    assert_eq!(kms.list_tags(&me, &a_ref).await.unwrap(), vec![("env".to_owned(), "prod".to_owned())]);
    kms.untag_key(&me, &a_ref, &["env".into()]).await.unwrap();
    assert!(kms.list_tags(&me, &a_ref).await.unwrap().is_empty());

    // Automatic rotation: enabled, due, rotated by the sweep, old
    // ciphertexts still decrypt, and the history lists both versions.
    let (_, old) = kms.encrypt(&me, &a_ref, b"before", &context, SYM).await.unwrap();
    assert!(kms.enable_key_rotation(&me, &a_ref, Some(30)).await.is_err(), "AWS allows 90-2560 days");
    let status = kms.enable_key_rotation(&me, &a_ref, Some(90)).await.unwrap();
    assert!(status.enabled && status.period_days == Some(90));
    let due = status.next_rotation_ms.unwrap();
    assert_eq!(kms.rotate_due(due - 1).await.unwrap(), 0, "not yet due");
    assert_eq!(kms.rotate_due(due + 1).await.unwrap(), 1);
    let meta = kms.describe_key(&me, &a_ref).await.unwrap();
    assert_eq!(meta.current_material.get(), 2);
    assert!(meta.next_rotation_ms.unwrap() > due, "the next rotation is scheduled");
    assert_eq!(kms.rotate_due(due + 1).await.unwrap(), 0, "rotated once");
    assert_eq!(kms.decrypt(&me, &old, &context, None, SYM).await.unwrap().1.as_slice(), b"before");
    assert_eq!(kms.list_key_rotations(&me, &a_ref).await.unwrap().1.len(), 2);
    kms.disable_key_rotation(&me, &a_ref).await.unwrap();
    assert!(!kms.rotation_status(&me, &a_ref).await.unwrap().enabled);
    let rotated = store
        .list_events(&EventFilter { kind: Some("kms.key.rotated".into()), ..Default::default() }, 0, 10)
        .await
        .unwrap();
    assert_eq!(rotated.items[0].event.attrs["trigger"], "automatic");
}

#[tokio::test]
async fn aliases_tags_and_automatic_rotation_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db"), 4).await.unwrap();
    management_case(store, dir.path()).await;
}

#[tokio::test]
async fn asymmetric_policies_and_management_on_postgres() {
    let Some(pg) = TestPostgres::create().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = pg.store().await.unwrap();
    asymmetric_and_hmac_case(store.clone(), dir.path()).await;
    policy_case(store.clone(), dir.path()).await;
    management_case(store.clone(), dir.path()).await;
    store.close().await;
    pg.drop_db().await;
}

async fn envelope_case(store: Store, dir: &std::path::Path) {
    let kms = kms(&store, dir).await;
    let t = store.create_tenant("envelope", 1).await.unwrap().id;
    let other = store.create_tenant("envelope-other", 1).await.unwrap().id;
    let me = caller(&t);
    let key = KeyRef::Id(kms.create_key(&me, KeySpec::SymmetricDefault, None, "recordings").await.unwrap().key_id);
    let context = ctx(&[("session", "ses_42")]);
    let recording: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();

    let sink = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let summary = kms
        .envelope_encrypt(
            &me,
            &key,
            "us-east-1",
            &context,
            std::io::Cursor::new(recording.clone()),
            Shared(sink.clone()),
        )
        .await
        .unwrap();
    assert_eq!(summary.plaintext_len, recording.len() as u64);
    let message = sink.lock().unwrap().clone();
    assert!(!message.windows(16).any(|w| w == &recording[1000..1016]), "the plaintext does not appear");

    let (plain, got) = kms.envelope_decrypt(&me, message.clone()).await.unwrap();
    assert_eq!(plain.as_slice(), recording.as_slice());
    assert_eq!(got.get("session"), Some("ses_42"));

    // Another tenant cannot open it; a flipped byte is refused; a disabled key opens nothing.
    assert!(kms.envelope_decrypt(&caller(&other), message.clone()).await.is_err());
    let mut bad = message.clone();
    let at = bad.len() / 2;
    bad[at] ^= 0x40;
    assert!(kms.envelope_decrypt(&me, bad).await.is_err());
    kms.disable_key(&me, &key).await.unwrap();
    assert_eq!(kms.envelope_decrypt(&me, message).await.unwrap_err().aws_type(), "DisabledException");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_for_rampart_blobs_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db"), 4).await.unwrap();
    envelope_case(store, dir.path()).await;
}

/// A KMS sealed by Shamir shares does nothing until unsealed: every entry
/// point (facades and background jobs alike) answers with the documented
/// error and records nothing; shares are checked, recorded without their
/// text and counted once; sealing again drops the unwrap cache, and the
/// same shares reopen the same keys.
#[tokio::test]
async fn a_sealed_kms_refuses_everything_until_unsealed_and_sealing_drops_the_cache() {
    use rampart_kms::keystore::{SealedKeystore, UnsealError, sealed};
    use rampart_kms::service::SealError;
    use secrecy::{ExposeSecret, SecretString};

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db"), 4).await.unwrap();
    let (record, shares) = sealed::initialise(&dir.path().join("kms-seal.json"), 2, 3, 0).unwrap();
    let keystore = Arc::new(SealedKeystore::new(record).unwrap());
    let audit = Audit::new(Arc::new(TableAuditSink(store.clone())), Duration::from_secs(2));
    let kms = Kms::new_sealed(
        store.clone(),
        audit,
        keystore,
        UnwrapCache::new(128, Duration::from_secs(60)),
        RootSecret::from_bytes([9; 32]).keyed_hasher("rampart/kms-context/v1"),
    );
    let acme = store.create_tenant("acme", 1).await.unwrap().id;
    let me = caller(&acme);
    let context = ctx(&[("app", "orders")]);

    // Sealed: everything refused, nothing recorded.
    assert!(kms.is_sealed());
    assert!(matches!(kms.create_key(&me, KeySpec::SymmetricDefault, None, "x").await, Err(KmsError::Sealed)));
    assert!(matches!(kms.list_keys(&me).await, Err(KmsError::Sealed)));
    assert!(matches!(kms.generate_random(&me, 16).await, Err(KmsError::Sealed)));
    assert!(matches!(kms.purge_due(i64::MAX).await, Err(KmsError::Sealed)));
    assert!(matches!(kms.rotate_due(i64::MAX).await, Err(KmsError::Sealed)));
    let scope = rampart_kms::aws::ArnScope { region: "us-east-1".into(), account: "000000000000".into() };
    let reply = rampart_kms::aws::handle(&kms, &me, &scope, "ListKeys", b"{}").await;
    assert_eq!((reply.status, reply.body["__type"].as_str()), (503, Some("KeyUnavailableException")), "{reply:?}");
    let tc_caller = Caller { api: Api::Tencent, ..me.clone() };
    let tc = rampart_kms::tencent::handle(&kms, &tc_caller, "ListKeys", b"{}", "req-1").await;
    assert_eq!(tc["Response"]["Error"]["Code"], "UnsupportedOperation.ServiceTemporaryUnavailable", "{tc}");
    assert!(store.list_events(&EventFilter::default(), 0, 10).await.unwrap().items.is_empty());

    // Shares: a bad one and a repeated one are refused and not counted.
    let bad = SecretString::from("rampart-share-1-1-NOTASHARE".to_owned());
    assert!(matches!(kms.unseal(None, &bad).await, Err(SealError::Share(UnsealError::Malformed(_)))));
    let first = kms.unseal(Some("10.0.0.7".into()), &shares[0]).await.unwrap();
    assert_eq!((first.index, first.status.progress, first.status.sealed), (1, 1, true));
    assert!(matches!(kms.unseal(None, &shares[0]).await, Err(SealError::Share(UnsealError::Duplicate(1)))));
    assert_eq!(kms.seal_status().unwrap().progress, 1);
    let done = kms.unseal(None, &shares[2]).await.unwrap();
    assert!(!done.status.sealed);
    assert!(!kms.is_sealed());

    // Unsealed: keys work, and the cache fills.
    let meta = kms.create_key(&me, KeySpec::SymmetricDefault, None, "orders").await.unwrap();
    let key = KeyRef::Id(meta.key_id);
    let (_, blob) = kms.encrypt(&me, &key, b"secret", &context, SYM).await.unwrap();
    assert_eq!(kms.decrypt(&me, &blob, &context, None, SYM).await.unwrap().1.as_slice(), b"secret");
    assert!(kms.cached_materials() > 0);

    // Sealing drops the key and the cache: even a cached key is refused.
    let status = kms.seal("admin", None).await.unwrap();
    assert!(status.sealed);
    assert_eq!(kms.cached_materials(), 0);
    assert!(matches!(kms.decrypt(&me, &blob, &context, None, SYM).await, Err(KmsError::Sealed)));

    // Other shares of the same split reopen the same key.
    kms.unseal(None, &shares[1]).await.unwrap();
    kms.unseal(None, &shares[2]).await.unwrap();
    assert_eq!(kms.decrypt(&me, &blob, &context, None, SYM).await.unwrap().1.as_slice(), b"secret");

    // Every attempt is in the audit trail, and no share text is.
    let all = store.list_events(&EventFilter::default(), 0, 500).await.unwrap();
    let kinds: Vec<&str> = all.items.iter().map(|e| e.event.kind.as_str()).collect();
    for kind in ["kms.unseal.share_rejected", "kms.unseal.share_accepted", "kms.unsealed", "kms.sealed"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let rejected = all.items.iter().filter(|e| e.event.kind == "kms.unseal.share_rejected").count();
    assert_eq!(rejected, 2, "the malformed and the duplicate share");
    let text = serde_json::to_string(&all.items.iter().map(|e| &e.event).collect::<Vec<_>>()).unwrap();
    for share in &shares {
        let body = share.expose_secret().rsplit('-').next().unwrap();
        assert!(!text.contains(body), "no share text in the audit trail");
    }
    assert!(!text.contains("NOTASHARE"));
}
