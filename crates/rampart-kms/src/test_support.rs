//! What the facades' unit tests share: a KMS over a fresh SQLite store
//! with the software keystore and a real audit trail, and a caller with
//! every KMS permission in a fresh tenant.

use std::sync::Arc;
use std::time::Duration;

use rampart_core::Id;
use rampart_core::audit::Audit;
use rampart_core::secret::RootSecret;
use rampart_store::{Store, TableAuditSink};

use crate::keystore::{SoftwareKeystore, UnwrapCache};
use crate::lifecycle::Api;
use crate::service::{Caller, Kms};

pub struct Fixture {
    pub kms: Kms,
    pub store: Store,
    pub tenant: Id,
    pub _dir: tempfile::TempDir,
}

pub fn caller(tenant: &Id, api: Api) -> Caller {
    Caller { tenant: Some(tenant.clone()), actor: "alice".into(), source: None, api, may_use: true, may_manage: true }
}

pub async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("db"), 4).await.unwrap();
    let audit = Audit::new(Arc::new(TableAuditSink(store.clone())), Duration::from_secs(2));
    let keystore = SoftwareKeystore::from_key_file(&dir.path().join("kms-root.key"), true).unwrap();
    let kms = Kms::new(
        store.clone(),
        audit,
        Arc::new(keystore),
        UnwrapCache::new(128, Duration::from_secs(60)),
        RootSecret::from_bytes([9; 32]).keyed_hasher("rampart/kms-context/v1"),
    );
    let tenant = store.create_tenant("acme", 1).await.unwrap().id;
    Fixture { kms, store, tenant, _dir: dir }
}
