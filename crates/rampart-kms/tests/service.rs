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
use rampart_kms::keystore::{SoftwareKeystore, UnwrapCache};
use rampart_kms::lifecycle::{Api, KeyState};
use rampart_kms::service::{Caller, Kms, KmsError};
use rampart_kms::spec::{KeyRef, KeySpec};
use rampart_store::testing::TestPostgres;
use rampart_store::{EventFilter, Store, TableAuditSink};

fn caller(tenant: &Id) -> Caller {
    Caller { tenant: Some(tenant.clone()), actor: "alice".into(), source: None, api: Api::Aws }
}

async fn kms(store: &Store, dir: &std::path::Path) -> Kms {
    let audit = Audit::new(Arc::new(TableAuditSink(store.clone())), Duration::from_secs(2));
    let keystore = SoftwareKeystore::from_key_file(&dir.join("kms-root.key"), true).unwrap();
    let root = RootSecret::from_bytes([9; 32]);
    Kms::new(
        store.clone(),
        audit,
        Arc::new(keystore),
        UnwrapCache::new(128, Duration::from_secs(60)),
        root.keyed_hasher("rampart/kms-context/v1"),
    )
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    EncryptionContext::from_pairs(pairs.iter().copied()).unwrap()
}

async fn lifecycle_case(store: Store, dir: &std::path::Path) {
    let kms = kms(&store, dir).await;
    let acme = store.create_tenant("acme", 1).await.unwrap().id;
    let other = store.create_tenant("other", 1).await.unwrap().id;
    let me = caller(&acme);
    let meta = kms.create_key(&me, KeySpec::SymmetricDefault, None, "orders").await.unwrap();
    let key = KeyRef::Id(meta.key_id);
    assert_eq!(meta.state, KeyState::Enabled);

    let secret = b"card 4111 1111 1111 1111";
    let context = ctx(&[("order", "42")]);
    let (_, v1) = kms.encrypt(&me, &key, secret, &context).await.unwrap();
    let (_, back) = kms.decrypt(&me, &v1, &context, None).await.unwrap();
    assert_eq!(back.as_slice(), secret);
    let wrong = kms.decrypt(&me, &v1, &ctx(&[("order", "43")]), None).await.unwrap_err();
    assert_eq!(wrong.aws_type(), "InvalidCiphertextException");
    let collide = kms.decrypt(&me, &v1, &ctx(&[("orde", "r42")]), None).await.unwrap_err();
    assert_eq!(collide.aws_type(), "InvalidCiphertextException", "no context collisions");

    // Rotation: new ciphertexts use version 2, version 1 still decrypts.
    let rotated = kms.rotate_key_on_demand(&me, &key).await.unwrap();
    assert_eq!(rotated.current_material.get(), 2);
    let (_, v2) = kms.encrypt(&me, &key, secret, &context).await.unwrap();
    assert_ne!(v1[..30], v2[..30]);
    assert_eq!(kms.decrypt(&me, &v1, &context, None).await.unwrap().1.as_slice(), secret);
    assert_eq!(kms.decrypt(&me, &v2, &context, None).await.unwrap().1.as_slice(), secret);

    // Tenant isolation: another tenant neither sees the key nor decrypts.
    let them = caller(&other);
    assert!(matches!(kms.describe_key(&them, &key).await, Err(KmsError::NotFound)));
    assert!(matches!(kms.encrypt(&them, &key, b"x", &context).await, Err(KmsError::NotFound)));
    assert_eq!(kms.decrypt(&them, &v1, &context, None).await.unwrap_err().aws_type(), "InvalidCiphertextException");

    // Disable: no use; enable again.
    kms.disable_key(&me, &key).await.unwrap();
    assert_eq!(kms.encrypt(&me, &key, b"x", &context).await.unwrap_err().aws_type(), "DisabledException");
    kms.enable_key(&me, &key).await.unwrap();

    // Pending deletion: any use is refused and raises an alarm-grade event.
    let scheduled = kms.schedule_key_deletion(&me, &key, Some(7)).await.unwrap();
    let KeyState::PendingDeletion { deletion_date_ms } = scheduled.state else { panic!("{scheduled:?}") };
    assert_eq!(kms.decrypt(&me, &v1, &context, None).await.unwrap_err().aws_type(), "KMSInvalidStateException");
    let alarms = EventFilter { kind: Some("kms.key.used_while_pending_deletion".into()), ..Default::default() };
    let found = store.list_events(&alarms, 0, 10).await.unwrap();
    assert_eq!(found.items.len(), 1);
    assert_eq!(found.items[0].event.outcome, Outcome::Denied);
    assert_eq!(kms.cancel_key_deletion(&me, &key).await.unwrap().state, KeyState::Disabled, "cancel → Disabled");

    // Deletion at the deadline: nothing remains, old ciphertexts are dead.
    kms.schedule_key_deletion(&me, &key, None).await.unwrap();
    assert_eq!(kms.purge_due(deletion_date_ms - 1).await.unwrap(), 0, "not before the deadline");
    let far = rampart_core::time::now_ms() + 31 * 86_400_000;
    assert_eq!(kms.purge_due(far).await.unwrap(), 1);
    assert!(matches!(kms.describe_key(&me, &key).await, Err(KmsError::NotFound)));
    assert_eq!(kms.decrypt(&me, &v1, &context, None).await.unwrap_err().aws_type(), "InvalidCiphertextException");
    assert_eq!(kms.decrypt(&me, &v2, &context, None).await.unwrap_err().aws_type(), "InvalidCiphertextException");
    assert!(store.kms_material(&meta.key_id.to_string(), 1).await.is_err());

    // The audit trail names keys and context hashes, never the plaintext.
    let all = store.list_events(&EventFilter::default(), 0, 500).await.unwrap();
    let text = serde_json::to_string(&all.items.iter().map(|e| &e.event).collect::<Vec<_>>()).unwrap();
    assert!(text.contains("kms.encrypt") && text.contains("hmac-sha256:"));
    assert!(!text.contains("4111") && !text.contains("\"42\""), "no plaintext or context values in the audit");
}

#[tokio::test]
async fn lifecycle_rotation_deletion_and_isolation_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db"), 4).await.unwrap();
    lifecycle_case(store, dir.path()).await;
}

#[tokio::test]
async fn lifecycle_rotation_deletion_and_isolation_on_postgres() {
    let Some(pg) = TestPostgres::create().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = pg.store().await.unwrap();
    lifecycle_case(store.clone(), dir.path()).await;
    store.close().await;
    pg.drop_db().await;
}
