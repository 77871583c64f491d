//! The one storage test suite, run against every backend: each case below is
//! instantiated for embedded SQLite and for PostgreSQL (on a database the
//! test creates and drops). A backend that behaves differently fails here.

// Tests fail by panicking; helpers outside #[test] functions do too.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use rampart_core::{Event, Id, Outcome, Role};
use rampart_store::testing::TestPostgres;
use rampart_store::{
    EventFilter, GrantRow, GroupRow, HistoryRow, ImportToken, ImportedMaterial, KmsKeyRow, NewNotification, NewUser,
    SourceSpec, SshKeyRow, Store, StoreError, TargetRow, TicketEventRow, TicketFilter, TicketRow, TicketWrite,
    TokenRow,
};

/// Runs `case` on a fresh SQLite store and a fresh PostgreSQL store.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::with_sqlite(super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::with_postgres(super::$name).await;
                }
            )*
        }
    };
}

on_every_backend!(
    users_round_trip_and_names_are_unique,
    listing_pages_with_a_cursor_and_confines_to_a_tenant,
    totp_steps_can_be_claimed_once_and_only_forward,
    disabling_a_user_revokes_tokens_and_keys,
    tokens_are_found_by_hash_and_revoked_per_owner,
    throttle_counts_failures_in_a_window_and_locks,
    audit_events_append_in_order_and_round_trip,
    kms_keys_rotate_transition_and_are_destroyed,
    kms_metadata_tags_policies_and_imports,
    log_sources_register_update_and_report_each_silence_once,
    bastion_keys_targets_and_grants_round_trip,
    bastion_reviews_are_decided_once,
    bastion_sessions_end_once_and_take_one_termination,
    bastion_access_requests_are_decided_once_and_lockbox_windows_hold,
    the_ssh_user_ca_is_stored_once_and_certificates_are_revoked_once,
    tickets_compare_and_set_keep_one_joinable_per_key_and_bound_events,
    ticket_listing_holds_at_scale_with_indexed_filters_and_keyset_pages,
    the_outbox_leases_retries_and_dead_letters,
    log_search_finds_fields_phrases_ranges_and_counts,
    log_search_terms_give_the_same_answers_and_follow_pruning,
    index_batches_across_statement_boundaries_hold_every_event_once,
    the_rust_matcher_gives_the_sql_answers,
    log_blocks_store_once_and_come_back_newest_first,
    log_blocks_give_the_row_index_answers,
    waiting_log_events_are_searched_until_their_block_is_written,
    source_certs_are_valid_until_revoked_and_retention_prunes_only_old_rows,
);

use rampart_store::testing::{with_postgres, with_sqlite};

async fn user(store: &Store, name: &str, role: Role, tenant: Option<&Id>) -> rampart_store::UserRow {
    store
        .create_user(NewUser { username: name, role, tenant_id: tenant, password_hash: "$argon2id$fake" }, 1_000)
        .await
        .expect("create user")
}

async fn users_round_trip_and_names_are_unique(store: Store) {
    let t = store.create_tenant("acme", 5).await.expect("tenant");
    let u = user(&store, "alice", Role::CustomerAdmin, Some(&t.id)).await;
    let back = store.get_user(&u.id).await.expect("get");
    assert_eq!(back.username, "alice");
    assert_eq!(back.role, Role::CustomerAdmin);
    assert_eq!(back.tenant_id.as_ref(), Some(&t.id));
    assert_eq!(back.totp_last_step, 0);
    assert!(back.totp_sealed.is_none() && back.disabled_at.is_none());
    assert_eq!(store.find_user_by_name("alice").await.expect("find").map(|u| u.id), Some(u.id.clone()));
    assert!(store.find_user_by_name("nobody").await.expect("find").is_none());

    let dup = store
        .create_user(NewUser { username: "alice", role: Role::Auditor, tenant_id: None, password_hash: "x" }, 2)
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "duplicate name must conflict: {dup:?}");
    assert!(matches!(store.create_tenant("acme", 6).await, Err(StoreError::Conflict(_))));
    assert!(matches!(store.get_user(&Id::new("usr")).await, Err(StoreError::NotFound)));
    assert_eq!(store.count_users().await.expect("count"), 1);
}

async fn listing_pages_with_a_cursor_and_confines_to_a_tenant(store: Store) {
    let a = store.create_tenant("a", 1).await.expect("tenant");
    let b = store.create_tenant("b", 1).await.expect("tenant");
    for i in 0..5 {
        user(&store, &format!("a{i}"), Role::CustomerUser, Some(&a.id)).await;
    }
    user(&store, "b0", Role::CustomerUser, Some(&b.id)).await;
    user(&store, "op", Role::Admin, None).await;

    let first = store.list_users(Some(&a.id), None, 2).await.expect("page 1");
    assert_eq!(first.items.iter().map(|u| u.username.as_str()).collect::<Vec<_>>(), ["a0", "a1"]);
    let second = store.list_users(Some(&a.id), first.next.as_deref(), 2).await.expect("page 2");
    assert_eq!(second.items.iter().map(|u| u.username.as_str()).collect::<Vec<_>>(), ["a2", "a3"]);
    let third = store.list_users(Some(&a.id), second.next.as_deref(), 2).await.expect("page 3");
    assert_eq!(third.items.len(), 1);
    assert!(third.next.is_none(), "the last page has no cursor");

    let all = store.list_users(None, None, 100).await.expect("all");
    assert_eq!(all.items.len(), 7);
    let only_b = store.list_tenants(Some(&b.id), None, 10).await.expect("tenants");
    assert_eq!(only_b.items.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["b"]);
}

async fn totp_steps_can_be_claimed_once_and_only_forward(store: Store) {
    let u = user(&store, "ops", Role::OperationsEngineer, None).await;
    store.set_totp_pending(&u.id, b"sealed", 2).await.expect("pending");
    store.activate_totp(&u.id, 100, 3).await.expect("activate");
    let row = store.get_user(&u.id).await.expect("get");
    assert_eq!(row.totp_sealed.as_deref(), Some(&b"sealed"[..]));
    assert!(row.totp_pending_sealed.is_none());
    assert!(!store.claim_totp_step(&u.id, 100).await.expect("claim"), "the enrolment code's step is spent");
    assert!(store.claim_totp_step(&u.id, 101).await.expect("claim"));
    assert!(!store.claim_totp_step(&u.id, 101).await.expect("claim"), "a step is accepted once");
    assert!(!store.claim_totp_step(&u.id, 100).await.expect("claim"), "an older step after a newer one is refused");
    store.reset_totp(&u.id, 4).await.expect("reset");
    assert!(store.get_user(&u.id).await.expect("get").totp_sealed.is_none());
    assert!(matches!(store.activate_totp(&u.id, 1, 5).await, Err(StoreError::NotFound)), "nothing pending");
}

fn token(user: &Id, hash: &str, kind: &str) -> TokenRow {
    TokenRow {
        id: Id::new("tok"),
        token_hash: hash.to_owned(),
        user_id: user.clone(),
        kind: kind.to_owned(),
        name: "t".into(),
        scopes: "user_read".into(),
        created_at: 1,
        expires_at: 10_000,
        revoked_at: None,
        last_used_at: None,
    }
}

async fn disabling_a_user_revokes_tokens_and_keys(store: Store) {
    let u = user(&store, "bob", Role::Auditor, None).await;
    store.insert_token(&token(&u.id, "h1", "session")).await.expect("token");
    store
        .insert_access_key(&rampart_store::AccessKeyRow {
            id: "RKAITEST".into(),
            user_id: u.id.clone(),
            description: String::new(),
            secret_sealed: vec![1, 2, 3],
            created_at: 1,
            revoked_at: None,
            last_used_at: None,
        })
        .await
        .expect("key");
    store.disable_user(&u.id, 50).await.expect("disable");
    assert_eq!(store.get_user(&u.id).await.expect("get").disabled_at, Some(50));
    assert_eq!(store.find_token_by_hash("h1").await.expect("find").and_then(|t| t.revoked_at), Some(50));
    assert_eq!(store.get_access_key("RKAITEST").await.expect("key").revoked_at, Some(50));
    store.disable_user(&u.id, 60).await.expect("disabling twice is harmless");
    assert!(matches!(store.disable_user(&Id::new("usr"), 1).await, Err(StoreError::NotFound)));
}

async fn tokens_are_found_by_hash_and_revoked_per_owner(store: Store) {
    let a = user(&store, "a", Role::Auditor, None).await;
    let b = user(&store, "b", Role::Auditor, None).await;
    let t = token(&a.id, "hash-a", "api");
    store.insert_token(&t).await.expect("insert");
    store.insert_token(&token(&a.id, "hash-s", "session")).await.expect("insert");
    assert!(matches!(store.insert_token(&token(&b.id, "hash-a", "api")).await, Err(StoreError::Conflict(_))));
    let page = store.list_api_tokens(&a.id, None, 10).await.expect("list");
    assert_eq!(page.items.len(), 1, "sessions are not listed as API tokens");
    assert!(matches!(store.revoke_token(&b.id, &t.id, 5).await, Err(StoreError::NotFound)), "not b's token");
    store.revoke_token(&a.id, &t.id, 5).await.expect("revoke");
    store.revoke_token(&a.id, &t.id, 9).await.expect("revoking twice keeps the first time");
    assert_eq!(store.find_token_by_hash("hash-a").await.expect("find").and_then(|t| t.revoked_at), Some(5));
    store.touch_token(&t.id, 100_000).await.expect("touch");
    assert_eq!(store.find_token_by_hash("hash-a").await.expect("find").and_then(|t| t.last_used_at), Some(100_000));
}

async fn throttle_counts_failures_in_a_window_and_locks(store: Store) {
    let backoff = |n: i64| if n >= 3 { 1000 * (n - 2) } else { 0 };
    for n in 1..=2 {
        let t = store.throttle_fail("user:x", 10_000 + n, 60_000, backoff).await.expect("fail");
        assert_eq!(t.failures, n);
        assert_eq!(t.locked_until, 0);
    }
    let t = store.throttle_fail("user:x", 10_003, 60_000, backoff).await.expect("fail");
    assert_eq!((t.failures, t.locked_until), (3, 11_003));
    assert_eq!(store.throttle_locked_until("user:x").await.expect("read"), 11_003);
    assert_eq!(store.throttle_locked_until("ip:1.2.3.4").await.expect("read"), 0);
    // Past the window the count starts again.
    let t = store.throttle_fail("user:x", 200_000, 60_000, backoff).await.expect("fail");
    assert_eq!(t.failures, 1);
    store.throttle_clear("user:x").await.expect("clear");
    assert_eq!(store.throttle_locked_until("user:x").await.expect("read"), 0);
}

async fn audit_events_append_in_order_and_round_trip(store: Store) {
    let t = Id::new("tnt");
    let first = Event::new("auth.login.failed", Outcome::Failure, "mallory")
        .tenant(Some(t.clone()))
        .source(Some("10.0.0.1".into()))
        .attr("reason", "bad_password");
    let s1 = store.append_event(&first, Some(7)).await.expect("append");
    let s2 = store
        .append_event(&Event::new("user.created", Outcome::Success, "admin").object("alice"), None)
        .await
        .expect("append");
    assert!(s2 > s1);
    let all = store.list_events(&EventFilter::default(), 0, 10).await.expect("list");
    assert_eq!(all.items.len(), 2);
    let stored = &all.items[0];
    let (seq, ev) = (stored.seq, &stored.event);
    assert_eq!(seq, s1);
    assert_eq!(stored.ledger_index, Some(7));
    assert_eq!(ev.kind, "auth.login.failed");
    assert_eq!(ev.outcome, Outcome::Failure);
    assert_eq!(ev.tenant_id.as_ref(), Some(&t));
    assert_eq!(ev.attrs["reason"], "bad_password");
    let by_kind = EventFilter { kind: Some("user.created".into()), ..Default::default() };
    let only = store.list_events(&by_kind, 0, 10).await.expect("list");
    assert_eq!(only.items.len(), 1);
    let by_actor = EventFilter { actor: Some("mallory".into()), outcome: Some("failure".into()), ..Default::default() };
    assert_eq!(store.list_events(&by_actor, 0, 10).await.expect("list").items.len(), 1);
    let wrong_outcome =
        EventFilter { actor: Some("mallory".into()), outcome: Some("success".into()), ..Default::default() };
    assert!(store.list_events(&wrong_outcome, 0, 10).await.expect("list").items.is_empty());
    let by_object = EventFilter { object: Some("alice".into()), ..Default::default() };
    let found = store.list_events(&by_object, 0, 10).await.expect("list");
    assert_eq!(found.items.iter().map(|e| e.event.kind.as_str()).collect::<Vec<_>>(), ["user.created"]);
    let later = EventFilter { since_ms: Some(first.time_ms + 1_000_000), ..Default::default() };
    assert!(store.list_events(&later, 0, 10).await.expect("list").items.is_empty(), "time range");
    let window = EventFilter { since_ms: Some(first.time_ms), until_ms: Some(first.time_ms + 1), ..Default::default() };
    assert!(store.list_events(&window, 0, 10).await.expect("list").items.iter().any(|e| e.event.id == first.id));
    let hostile = EventFilter { actor: Some("x' OR '1'='1".into()), ..Default::default() };
    assert!(store.list_events(&hostile, 0, 10).await.expect("list").items.is_empty(), "values are bound, not spliced");
    assert!(matches!(store.append_event(&first, Some(7)).await, Err(StoreError::Conflict(_))), "event ids are unique");
}

#[tokio::test]
async fn sqlite_reopens_a_migrated_database_without_losing_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rampart.db");
    let store = Store::open_sqlite(&path, 2).await.expect("open");
    user(&store, "persisted", Role::Auditor, None).await;
    store.close().await;
    let again = Store::open_sqlite(&path, 2).await.expect("reopen migrates idempotently");
    assert!(again.find_user_by_name("persisted").await.expect("find").is_some());
}

#[tokio::test]
async fn postgres_migrates_once_when_nodes_start_together() {
    let Some(db) = TestPostgres::create().await else { return };
    // Two nodes opening the same fresh database at once: the migrator's
    // advisory lock lets exactly one apply the schema; both then work.
    let (a, b) = tokio::join!(Store::open_postgres(db.url(), 2), Store::open_postgres(db.url(), 2));
    let (a, b) = (a.expect("node a"), b.expect("node b"));
    user(&a, "from-a", Role::Auditor, None).await;
    assert!(b.find_user_by_name("from-a").await.expect("find").is_some(), "both nodes share one state");
    a.close().await;
    b.close().await;
    db.drop_db().await;
}

fn kms_key(id: &str, tenant: Option<&Id>) -> KmsKeyRow {
    KmsKeyRow {
        id: id.to_owned(),
        tenant_id: tenant.cloned(),
        spec: "SYMMETRIC_DEFAULT".into(),
        key_usage: "ENCRYPT_DECRYPT".into(),
        state: "Enabled".into(),
        deletion_at: None,
        description: "test".into(),
        current_material: 1,
        rotation_period_days: Some(365),
        next_rotation_at: Some(5_000),
        created_at: 1_000,
        updated_at: 1_000,
        origin: "AWS_KMS".into(),
        policy: None,
        material_expires_at: None,
    }
}

async fn kms_keys_rotate_transition_and_are_destroyed(store: Store) {
    let t = store.create_tenant("kmsco", 1).await.expect("tenant");
    let key = kms_key("7d0f8a4e-3b6c-4f1e-9a52-2c1d0e9b8a71", Some(&t.id));
    store.kms_create_key(&key, "software", Some(b"wrapped-v1")).await.expect("create");
    assert_eq!(store.kms_get_key(&key.id).await.expect("get"), key);
    assert_eq!(store.kms_material(&key.id, 1).await.expect("material"), ("software".into(), b"wrapped-v1".to_vec()));
    assert_eq!(store.kms_list_keys(Some(&t.id), None, 10).await.expect("list").items.len(), 1);
    assert!(store.kms_list_keys(None, None, 10).await.expect("list").items.is_empty(), "not the operator's");

    // Rotation is a compare-and-set on the current version.
    assert_eq!(
        store.kms_add_material(&key.id, 1, "software", b"wrapped-v2", Some(9_000), 2_000).await.expect("rotate"),
        2
    );
    assert!(matches!(
        store.kms_add_material(&key.id, 1, "software", b"x", None, 2_001).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.kms_material(&key.id, 1).await.expect("old version stays").1, b"wrapped-v1");
    assert_eq!(store.kms_due_for_rotation(10_000, 10).await.expect("due").len(), 1);

    // State changes are compare-and-set too.
    assert!(matches!(store.kms_set_state(&key.id, "Disabled", "Enabled", None, 3).await, Err(StoreError::NotFound)));
    store.kms_set_state(&key.id, "Enabled", "Disabled", None, 3).await.expect("disable");
    store.kms_set_state(&key.id, "Disabled", "PendingDeletion", Some(20_000), 4).await.expect("schedule");
    assert!(store.kms_due_for_deletion(19_999, 10).await.expect("due").is_empty());
    assert_eq!(store.kms_due_for_deletion(20_000, 10).await.expect("due").len(), 1);

    store.kms_create_alias(Some(&t.id), "alias/app", &key.id, 5).await.expect("alias");
    assert!(matches!(store.kms_create_alias(Some(&t.id), "alias/app", &key.id, 5).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.kms_resolve_alias(Some(&t.id), "alias/app").await.expect("resolve"), key.id);
    assert!(
        matches!(store.kms_resolve_alias(None, "alias/app").await, Err(StoreError::NotFound)),
        "aliases are per tenant"
    );

    store.kms_destroy_key(&key.id).await.expect("destroy");
    assert!(matches!(store.kms_get_key(&key.id).await, Err(StoreError::NotFound)));
    assert!(matches!(store.kms_material(&key.id, 1).await, Err(StoreError::NotFound)));
    assert!(matches!(store.kms_material(&key.id, 2).await, Err(StoreError::NotFound)));
    assert!(matches!(store.kms_resolve_alias(Some(&t.id), "alias/app").await, Err(StoreError::NotFound)));
    assert!(matches!(store.kms_destroy_key(&key.id).await, Err(StoreError::NotFound)));
}

#[tokio::test]
async fn destroyed_key_material_leaves_no_trace_in_the_sqlite_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rampart.db");
    let store = Store::open_sqlite(&path, 2).await.expect("open");
    let mut key = kms_key("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", None);
    let marker: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37).wrapping_add(11)).collect();
    store.kms_create_key(&key, "software", Some(&marker)).await.expect("create");
    let scan = || {
        let mut bytes = std::fs::read(&path).expect("db");
        bytes.extend(std::fs::read(path.with_extension("db-wal")).unwrap_or_default());
        bytes.windows(marker.len()).any(|w| w == marker.as_slice())
    };
    assert!(scan(), "the scan finds material while it exists");
    key.state = "PendingDeletion".into();
    store.kms_set_state(&key.id, "Enabled", "PendingDeletion", Some(0), 2).await.expect("schedule");
    store.kms_destroy_key(&key.id).await.expect("destroy");
    assert!(!scan(), "no byte of the wrapped material remains in the database or its WAL");
    store.close().await;
}

/// Another connection checkpointing at the moment of the scrub (the node's
/// own background checkpointer does, every 100 ms) holds SQLite's checkpoint
/// lock: the scrub's `wal_checkpoint(TRUNCATE)` then returns "busy" at once,
/// without waiting, and the WAL keeps the frames that hold the material. The
/// scrub must notice and try again. CI once caught exactly this.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_checkpoint_does_not_leave_material_in_the_wal() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rampart.db");
    let store = Store::open_sqlite(&path, 2).await.expect("open");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let rival = {
        let (url, stop) = (format!("sqlite://{}", path.display()), stop.clone());
        tokio::spawn(async move {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("rival connection");
            let mut runs = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&mut conn).await.expect("rival checkpoint");
                runs += 1;
            }
            runs
        })
    };
    for i in 0..40u8 {
        let id = format!("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c{i:02x}");
        let key = kms_key(&id, None);
        let marker: Vec<u8> = (0..64u8).map(|b| b.wrapping_mul(37).wrapping_add(i)).collect();
        store.kms_create_key(&key, "software", Some(&marker)).await.expect("create");
        store.kms_set_state(&key.id, "Enabled", "PendingDeletion", Some(0), 2).await.expect("schedule");
        store.kms_destroy_key(&key.id).await.expect("destroy");
        let mut bytes = std::fs::read(&path).expect("db");
        bytes.extend(std::fs::read(path.with_extension("db-wal")).unwrap_or_default());
        assert!(
            !bytes.windows(marker.len()).any(|w| w == marker.as_slice()),
            "key {i}: the wrapped material survived a checkpoint that met another one"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(rival.await.expect("rival") > 0, "the rival checkpointed while keys were destroyed");
    store.close().await;
}

async fn kms_metadata_tags_policies_and_imports(store: Store) {
    let t = store.create_tenant("kmsmeta", 1).await.expect("tenant");
    let key = kms_key("5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b", Some(&t.id));
    let other = kms_key("6f7a8b9c-0d1e-4f2a-9b3c-4d5e6f7a8b9c", Some(&t.id));
    store.kms_create_key(&key, "software", Some(b"w1")).await.expect("create");
    store.kms_create_key(&other, "software", Some(b"w2")).await.expect("create other");

    store.kms_set_description(&key.id, "new words", 7).await.expect("describe");
    store.kms_set_policy(&key.id, Some("{\"Statement\":[]}"), 8).await.expect("policy");
    let row = store.kms_get_key(&key.id).await.expect("get");
    assert_eq!((row.description.as_str(), row.policy.as_deref()), ("new words", Some("{\"Statement\":[]}")));
    store.kms_set_policy(&key.id, None, 9).await.expect("default policy");
    assert_eq!(store.kms_get_key(&key.id).await.expect("get").policy, None);
    assert!(matches!(store.kms_set_description("no-such-key", "x", 1).await, Err(StoreError::NotFound)));

    store.kms_tag(&key.id, &[("env".into(), "prod".into()), ("team".into(), "a".into())]).await.expect("tag");
    store.kms_tag(&key.id, &[("env".into(), "dev".into())]).await.expect("retag");
    assert_eq!(
        store.kms_tags(&key.id).await.expect("tags"),
        vec![("env".to_owned(), "dev".to_owned()), ("team".to_owned(), "a".to_owned())]
    );
    store.kms_untag(&key.id, &["team".into(), "absent".into()]).await.expect("untag");
    assert_eq!(store.kms_tags(&key.id).await.expect("tags").len(), 1);

    store.kms_create_alias(Some(&t.id), "alias/app", &key.id, 1).await.expect("alias");
    store.kms_update_alias(Some(&t.id), "alias/app", &other.id).await.expect("retarget");
    assert_eq!(store.kms_resolve_alias(Some(&t.id), "alias/app").await.expect("resolve"), other.id);
    assert!(matches!(store.kms_update_alias(None, "alias/app", &key.id).await, Err(StoreError::NotFound)));
    assert_eq!(store.kms_list_materials(&key.id).await.expect("materials"), vec![(1, 1_000)]);

    // Import: a key created without material awaits it, takes it once, and
    // goes back to awaiting when the material is deleted.
    let mut ext = kms_key("7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d", Some(&t.id));
    ext.state = "PendingImport".into();
    ext.origin = "EXTERNAL".into();
    ext.current_material = 0;
    store.kms_create_key(&ext, "software", None).await.expect("create external");
    assert!(matches!(store.kms_material(&ext.id, 1).await, Err(StoreError::NotFound)));
    let token = ImportToken {
        key_id: ext.id.clone(),
        token: "tok".into(),
        wrapped: b"wrapping-private".to_vec(),
        algorithm: "RSAES_OAEP_SHA_256".into(),
        expires_at: 99,
    };
    store.kms_put_import_token(&token).await.expect("token");
    assert_eq!(store.kms_import_token(&ext.id).await.expect("read token"), token);
    let first =
        ImportedMaterial { keystore: "software", wrapped: b"imported", fingerprint: "fp-a", expires_at: Some(500) };
    store.kms_import_material(&ext.id, "PendingImport", "Enabled", &first, 10).await.expect("import");
    let row = store.kms_get_key(&ext.id).await.expect("get");
    assert_eq!((row.state.as_str(), row.current_material, row.material_expires_at), ("Enabled", 1, Some(500)));
    assert_eq!(store.kms_material_fingerprint(&ext.id).await.expect("fingerprint").as_deref(), Some("fp-a"));
    assert!(matches!(store.kms_import_token(&ext.id).await, Err(StoreError::NotFound)), "the token is used up");
    // Compare-and-set: a stale state, or other material, changes nothing.
    let other_material = ImportedMaterial { fingerprint: "fp-b", expires_at: None, ..first };
    for (from, m) in [("PendingImport", first), ("Enabled", other_material)] {
        assert!(matches!(
            store.kms_import_material(&ext.id, from, "Enabled", &m, 11).await,
            Err(StoreError::Conflict(_))
        ));
    }
    assert_eq!(store.kms_get_key(&ext.id).await.expect("get").material_expires_at, Some(500));

    // Expiry: due at its time, not before; a stale expiry is a conflict
    // (another node expired it, or it was re-imported meanwhile).
    assert!(store.kms_due_for_material_expiry(499, 10).await.expect("due").is_empty());
    assert_eq!(store.kms_due_for_material_expiry(500, 10).await.expect("due").len(), 1);
    assert!(matches!(store.kms_expire_material(&ext.id, 499, 12).await, Err(StoreError::Conflict(_))));
    store.kms_expire_material(&ext.id, 500, 12).await.expect("expire");
    let row = store.kms_get_key(&ext.id).await.expect("get");
    assert_eq!((row.state.as_str(), row.material_expires_at), ("PendingImport", None));
    assert!(matches!(store.kms_material(&ext.id, 1).await, Err(StoreError::NotFound)));
    assert!(matches!(store.kms_expire_material(&ext.id, 500, 13).await, Err(StoreError::Conflict(_))), "only once");
    assert!(store.kms_due_for_material_expiry(10_000, 10).await.expect("due").is_empty());
    assert_eq!(store.kms_material_fingerprint(&ext.id).await.expect("kept").as_deref(), Some("fp-a"));

    // The same material again, without expiry; then deleted on demand.
    let again = ImportedMaterial { expires_at: None, ..first };
    store.kms_import_material(&ext.id, "PendingImport", "Enabled", &again, 14).await.expect("re-import");
    store.kms_delete_imported_material(&ext.id, 15).await.expect("delete material");
    assert_eq!(store.kms_get_key(&ext.id).await.expect("get").state, "PendingImport");
    assert!(matches!(store.kms_material(&ext.id, 1).await, Err(StoreError::NotFound)));
    assert!(matches!(store.kms_delete_imported_material(&key.id, 13).await, Err(StoreError::Conflict(_))));
}

fn source_spec(heartbeat: Option<i64>) -> SourceSpec {
    SourceSpec {
        source_type: "server".into(),
        owner: Some("ops".into()),
        product: Some("linux".into()),
        service: Some("sshd".into()),
        category: None,
        parser: "auto".into(),
        heartbeat_secs: heartbeat,
        reviewed: true,
        status: "active".into(),
        retention_days: None,
    }
}

async fn log_sources_register_update_and_report_each_silence_once(store: Store) {
    let id = Id::new("src");
    let web = store.create_source(&id, "web-01", &source_spec(Some(10)), 1_000).await.expect("create");
    assert_eq!((web.name.as_str(), web.heartbeat_secs, web.reviewed, web.last_seen), ("web-01", Some(10), true, None));
    let dup = store.create_source(&Id::new("src"), "web-01", &source_spec(None), 1_000).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let quiet = store.create_source(&Id::new("src"), "db-01", &source_spec(None), 1_000).await.expect("create");
    assert_eq!(store.find_source_by_name("db-01").await.expect("find"), Some(quiet.clone()));
    assert_eq!(store.count_sources().await.expect("count"), 2);
    let page = store.list_sources(None, 1).await.expect("list");
    assert_eq!((page.items.len(), page.next.is_some()), (1, true));
    let rest = store.list_sources(page.next.as_deref(), 10).await.expect("list");
    assert_eq!(rest.items.len(), 1);

    let mut spec = source_spec(Some(10));
    spec.owner = None;
    spec.reviewed = false;
    let updated = store.update_source(&id, &spec, 2_000).await.expect("update");
    assert_eq!((updated.owner, updated.reviewed, updated.updated_at), (None, false, 2_000));
    assert!(matches!(store.update_source(&Id::new("src"), &spec, 1).await, Err(StoreError::NotFound)));

    // Heard at 5 s: silent after 15 s, reported once, whoever asks.
    store.touch_sources(&[(id.clone(), 5_000)]).await.expect("touch");
    store.touch_sources(&[(id.clone(), 4_000)]).await.expect("touch backwards");
    assert_eq!(store.get_source(&id).await.expect("get").last_seen, Some(5_000));
    assert!(store.silent_sources(15_000).await.expect("silent").is_empty());
    let silent = store.silent_sources(15_001).await.expect("silent");
    assert_eq!(
        silent.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["web-01"],
        "sources without a heartbeat are never silent"
    );
    assert!(store.claim_silence(&id, 15_001).await.expect("claim"));
    assert!(!store.claim_silence(&id, 15_002).await.expect("claim again"));
    assert!(store.silent_sources(60_000).await.expect("silent").is_empty());
    // A released claim (its event could not be recorded) is claimed again.
    store.release_silence(&id, 15_001).await.expect("release");
    assert!(store.claim_silence(&id, 16_000).await.expect("claim after release"));
    // Speaking again ends the silence; the next one is reported anew.
    store.touch_sources(&[(id.clone(), 20_000)]).await.expect("touch");
    assert_eq!(store.get_source(&id).await.expect("get").silent_since, None);
    assert!(!store.claim_silence(&id, 29_000).await.expect("not yet silent"));
    assert!(store.claim_silence(&id, 30_001).await.expect("silent again"));

    store.delete_source(&id).await.expect("delete");
    assert!(matches!(store.get_source(&id).await, Err(StoreError::NotFound)));
    assert!(matches!(store.delete_source(&id).await, Err(StoreError::NotFound)));
}

/// The bastion's rows: a fingerprint names one key across all users, a user
/// removes only their own keys, the sealed credential comes back byte for
/// byte (BLOB and BYTEA alike), and deleting a target takes its grants.
async fn bastion_keys_targets_and_grants_round_trip(store: Store) {
    let alice = user(&store, "alice", Role::Admin, None).await;
    let bob = user(&store, "bob", Role::OperationsEngineer, None).await;
    let key = |id: &str, owner: &Id, fp: &str| SshKeyRow {
        id: Id::from_trusted(id.to_owned()),
        user_id: owner.clone(),
        fingerprint: fp.to_owned(),
        public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOv".to_owned(),
        comment: "laptop".to_owned(),
        created_at: 1_000,
    };
    store.insert_ssh_key(&key("sk_1", &bob.id, "SHA256:one")).await.unwrap();
    assert!(store.insert_ssh_key(&key("sk_2", &alice.id, "SHA256:one")).await.is_err(), "a fingerprint is unique");
    store.insert_ssh_key(&key("sk_3", &bob.id, "SHA256:two")).await.unwrap();
    assert_eq!(store.list_ssh_keys(&bob.id).await.unwrap().len(), 2);
    assert!(store.list_ssh_keys(&alice.id).await.unwrap().is_empty());
    assert_eq!(store.find_ssh_key("SHA256:two").await.unwrap().map(|k| k.user_id), Some(bob.id.clone()));
    let sk1 = Id::from_trusted("sk_1".to_owned());
    assert!(matches!(store.delete_ssh_key(&alice.id, &sk1).await, Err(StoreError::NotFound)), "not alice's key");
    store.delete_ssh_key(&bob.id, &sk1).await.unwrap();
    assert!(store.find_ssh_key("SHA256:one").await.unwrap().is_none());

    let sealed: Vec<u8> = (0..=255u8).chain([0, 0, 255]).collect();
    let target = TargetRow {
        id: Id::from_trusted("bt_1".to_owned()),
        name: "db-1".to_owned(),
        address: "10.0.0.5".to_owned(),
        port: 2022,
        host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHost".to_owned(),
        login: "ops".to_owned(),
        credential_kind: "private_key".to_owned(),
        credential_sealed: sealed.clone(),
        created_at: 2_000,
        labels: vec!["pci".to_owned(), "env=prod".to_owned()],
        lockbox_tenant: None,
    };
    store.insert_target(&target).await.unwrap();
    assert!(
        store.insert_target(&TargetRow { id: Id::from_trusted("bt_2".to_owned()), ..target.clone() }).await.is_err()
    );
    let found = store.find_target("db-1").await.unwrap().unwrap();
    assert_eq!((found.port, found.credential_sealed), (2022, sealed));
    assert_eq!(found.labels, ["env=prod", "pci"], "labels come back sorted");
    let tenant = store.create_tenant("acme", 1_000).await.unwrap();
    store.update_target_access(&target.id, &["tier=gold".to_owned()], Some(&tenant.id)).await.unwrap();
    let found = store.find_target("db-1").await.unwrap().unwrap();
    assert_eq!((found.labels, found.lockbox_tenant), (vec!["tier=gold".to_owned()], Some(tenant.id.clone())));
    store.update_target_access(&target.id, &[], None).await.unwrap();
    let found = store.find_target("db-1").await.unwrap().unwrap();
    assert!(found.labels.is_empty() && found.lockbox_tenant.is_none());
    assert!(matches!(
        store.update_target_access(&Id::from_trusted("bt_9".to_owned()), &[], None).await,
        Err(StoreError::NotFound)
    ));
    let grant = |id: &str| GrantRow {
        id: Id::from_trusted(id.to_owned()),
        user_id: Some(bob.id.clone()),
        group_id: None,
        target_id: Some(target.id.clone()),
        label: None,
        login: "ops".to_owned(),
        actions: "shell,exec".to_owned(),
        not_before: 1_000,
        not_after: 9_000,
        created_by: "alice".to_owned(),
        created_at: 2_000,
        request_id: None,
    };
    store.insert_grant(&grant("bg_1")).await.unwrap();
    store.insert_grant(&grant("bg_2")).await.unwrap();
    // A grant on a label is among the candidates for every target; one
    // naming both a target and a label, or neither, is refused by the schema.
    let on_label = GrantRow { target_id: None, label: Some("env=prod".to_owned()), ..grant("bg_3") };
    store.insert_grant(&on_label).await.unwrap();
    assert!(store.insert_grant(&GrantRow { label: Some("x".to_owned()), ..grant("bg_4") }).await.is_err());
    assert!(store.insert_grant(&GrantRow { target_id: None, ..grant("bg_5") }).await.is_err());
    let grants = store.grants_for(&bob.id, &target.id).await.unwrap();
    assert_eq!(grants.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(), ["bg_1", "bg_2", "bg_3"]);
    assert_eq!(grants[2].label.as_deref(), Some("env=prod"));
    store.delete_grant(&Id::from_trusted("bg_3".to_owned())).await.unwrap();
    assert!(store.grants_for(&alice.id, &target.id).await.unwrap().is_empty());

    // A grant to a group reaches its members as they are now; a grant
    // naming both a user and a group, or neither, is refused by the schema.
    let ops = GroupRow {
        id: Id::from_trusted("grp_1".to_owned()),
        name: "ops".to_owned(),
        description: String::new(),
        created_by: "root".to_owned(),
        created_at: 1,
    };
    store.insert_group(&ops).await.unwrap();
    assert!(matches!(
        store.insert_group(&GroupRow { id: Id::from_trusted("grp_2".to_owned()), ..ops.clone() }).await,
        Err(StoreError::Conflict(_))
    ));
    let to_group = GrantRow { user_id: None, group_id: Some(ops.id.clone()), ..grant("bg_6") };
    store.insert_grant(&to_group).await.unwrap();
    assert!(store.insert_grant(&GrantRow { group_id: Some(ops.id.clone()), ..grant("bg_7") }).await.is_err());
    assert!(store.insert_grant(&GrantRow { user_id: None, ..grant("bg_8") }).await.is_err());
    assert!(store.grants_for(&alice.id, &target.id).await.unwrap().is_empty(), "alice is no member yet");
    store.add_group_member(&ops.id, &alice.id, "root", 2).await.unwrap();
    assert!(matches!(store.add_group_member(&ops.id, &alice.id, "root", 3).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.group_members(&ops.id).await.unwrap(), ["alice"]);
    let reached = store.grants_for(&alice.id, &target.id).await.unwrap();
    assert_eq!(reached.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(), ["bg_6"]);
    assert_eq!(store.grants_of_user(&alice.id).await.unwrap().len(), 1);
    assert_eq!(store.grants_for(&bob.id, &target.id).await.unwrap().len(), 2, "bob's own only");
    store.remove_group_member(&ops.id, &alice.id).await.unwrap();
    assert!(matches!(store.remove_group_member(&ops.id, &alice.id).await, Err(StoreError::NotFound)));
    assert!(store.grants_for(&alice.id, &target.id).await.unwrap().is_empty(), "removed: no longer reached");
    store.add_group_member(&ops.id, &alice.id, "root", 4).await.unwrap();
    assert_eq!(store.delete_group(&ops.id).await.unwrap(), 1, "the group's grant goes with it");
    assert!(store.grants_of_user(&alice.id).await.unwrap().is_empty());
    assert!(store.find_group("ops").await.unwrap().is_none());
    store.delete_grant(&Id::from_trusted("bg_1".to_owned())).await.unwrap();
    assert!(matches!(store.delete_grant(&Id::from_trusted("bg_1".to_owned())).await, Err(StoreError::NotFound)));
    store.delete_target(&target.id).await.unwrap();
    assert!(store.find_target("db-1").await.unwrap().is_none());
    assert!(store.list_grants().await.unwrap().is_empty(), "the target's grants went with it");
    assert!(matches!(store.delete_target(&target.id).await, Err(StoreError::NotFound)));
}

/// The first node to store the SSH user CA wins (the sealed key comes back
/// byte for byte); a certificate is live only in its window and until it
/// is revoked, and is revoked once.
async fn the_ssh_user_ca_is_stored_once_and_certificates_are_revoked_once(store: Store) {
    use rampart_store::{SshCaRow, SshCertRow};
    assert!(store.ssh_user_ca().await.unwrap().is_none());
    let sealed: Vec<u8> = (0..=255u8).collect();
    let first = SshCaRow { public_key: "ssh-ed25519 AAAA1".to_owned(), private_sealed: sealed.clone(), created_at: 1 };
    assert!(store.insert_ssh_user_ca(&first).await.unwrap());
    let second = SshCaRow { public_key: "ssh-ed25519 AAAA2".to_owned(), private_sealed: vec![1], created_at: 2 };
    assert!(!store.insert_ssh_user_ca(&second).await.unwrap(), "another node's CA is kept");
    let ca = store.ssh_user_ca().await.unwrap().unwrap();
    assert_eq!((ca.public_key.as_str(), ca.private_sealed), ("ssh-ed25519 AAAA1", sealed));

    let bob = user(&store, "bob", Role::OperationsEngineer, None).await;
    let cert = SshCertRow {
        serial: i64::MAX - 7,
        user_id: bob.id.clone(),
        username: "bob".to_owned(),
        key_id: "rampart:bob:1".to_owned(),
        fingerprint: "SHA256:abc".to_owned(),
        valid_after: 1_000,
        valid_before: 9_000,
        created_at: 1_000,
        revoked_at: None,
        revoked_by: None,
    };
    store.insert_ssh_cert(&cert).await.unwrap();
    assert!(store.insert_ssh_cert(&cert).await.is_err(), "serials are unique");
    assert!(store.has_live_ssh_cert(&bob.id, "SHA256:abc", 5_000).await.unwrap());
    assert!(!store.has_live_ssh_cert(&bob.id, "SHA256:abc", 9_000).await.unwrap(), "expired");
    assert!(!store.has_live_ssh_cert(&bob.id, "SHA256:other", 5_000).await.unwrap(), "another key");
    assert_eq!(store.list_ssh_certs(Some(5_000)).await.unwrap().len(), 1);
    assert!(store.list_ssh_certs(Some(9_000)).await.unwrap().is_empty());
    store.revoke_ssh_cert(i64::MAX - 7, "root", 6_000).await.unwrap();
    assert!(matches!(store.revoke_ssh_cert(i64::MAX - 7, "root", 6_001).await, Err(StoreError::Conflict(_))));
    assert!(matches!(store.revoke_ssh_cert(42, "root", 6_001).await, Err(StoreError::NotFound)));
    assert!(!store.has_live_ssh_cert(&bob.id, "SHA256:abc", 5_000).await.unwrap(), "revoked");
    let found = store.find_ssh_cert(i64::MAX - 7).await.unwrap().unwrap();
    assert_eq!((found.revoked_at, found.revoked_by.as_deref()), (Some(6_000), Some("root")));
}

/// A held command is decided exactly once, and not after it expired; a
/// session's expiry may be recorded late.
async fn bastion_reviews_are_decided_once(store: Store) {
    use rampart_store::ReviewRow;
    use rampart_store::reviews::{APPROVED, DENIED, EXPIRED, PENDING};
    let bob = user(&store, "bob", Role::OperationsEngineer, None).await;
    let row = |id: &str, expires_at: i64| ReviewRow {
        id: Id::from_trusted(id.to_owned()),
        session_id: "ses_1".into(),
        requester_id: bob.id.clone(),
        requester: "bob".into(),
        target: "db".into(),
        command: "systemctl restart nginx".into(),
        policy: "restarts".into(),
        reason: "restarting services needs a second pair of eyes".into(),
        status: PENDING.into(),
        reviewer: None,
        comment: String::new(),
        created_at: 1_000,
        expires_at,
        decided_at: None,
    };
    store.insert_review(&row("rv_1", 10_000)).await.unwrap();
    store.insert_review(&row("rv_2", 10_000)).await.unwrap();
    store.insert_review(&row("rv_3", 2_000)).await.unwrap();
    assert!(store.insert_review(&row("rv_1", 10_000)).await.is_err(), "ids are unique");
    assert_eq!(store.list_reviews(Some(PENDING), 10).await.unwrap().len(), 3);

    let approved = store.decide_review("rv_1", APPROVED, Some("alice"), "ok", 5_000).await.unwrap();
    assert_eq!(
        (approved.status.as_str(), approved.reviewer.as_deref(), approved.decided_at),
        (APPROVED, Some("alice"), Some(5_000))
    );
    let again = store.decide_review("rv_1", DENIED, Some("carol"), "", 5_001).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "decided once: {again:?}");
    assert_eq!(store.find_review("rv_1").await.unwrap().status, APPROVED);
    // Past its deadline a review cannot be approved, only recorded as expired.
    let late = store.decide_review("rv_3", APPROVED, Some("alice"), "", 3_000).await;
    assert!(matches!(late, Err(StoreError::Conflict(_))), "{late:?}");
    assert_eq!(store.decide_review("rv_3", EXPIRED, None, "", 3_000).await.unwrap().status, EXPIRED);
    store.decide_review("rv_2", DENIED, Some("alice"), "not now", 4_000).await.unwrap();
    assert!(store.list_reviews(Some(PENDING), 10).await.unwrap().is_empty());
    assert_eq!(store.list_reviews(None, 10).await.unwrap().len(), 3);
    assert!(matches!(store.find_review("rv_9").await, Err(StoreError::NotFound)));
}

/// A session row ends once; a termination is asked for once, and only of a
/// running session.
async fn bastion_sessions_end_once_and_take_one_termination(store: Store) {
    use rampart_store::{SessionEnd, SessionRow};
    let row = |id: &str, at: i64| SessionRow {
        id: id.into(),
        connection_id: "con_1".into(),
        user_id: "usr_1".into(),
        username: "bob".into(),
        target: "db".into(),
        action: "shell".into(),
        login: "ops".into(),
        command: None,
        recording: Some(format!("/data/recordings/{id}.cast")),
        started_at: at,
        ended_at: None,
        outcome: None,
        reason: None,
        recording_sha256: None,
        recording_bytes: None,
        terminate_by: None,
        terminate_at: None,
        recording_expired_at: None,
    };
    store.insert_bastion_session(&row("ses_1", 1_000)).await.unwrap();
    store.insert_bastion_session(&row("ses_2", 2_000)).await.unwrap();
    assert!(store.insert_bastion_session(&row("ses_1", 3_000)).await.is_err());
    let live: Vec<String> = store.list_bastion_sessions(true, 10).await.unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(live, vec!["ses_2", "ses_1"], "newest first");

    store.request_session_termination("ses_2", "alice", 2_500).await.unwrap();
    assert!(matches!(store.request_session_termination("ses_2", "carol", 2_600).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.find_bastion_session("ses_2").await.unwrap().terminate_by.as_deref(), Some("alice"));
    let end = SessionEnd {
        outcome: "success".into(),
        reason: None,
        recording_sha256: Some("ab".repeat(32)),
        recording_bytes: Some(1234),
    };
    store.end_bastion_session("ses_1", &end, 5_000).await.unwrap();
    assert!(matches!(store.end_bastion_session("ses_1", &end, 6_000).await, Err(StoreError::Conflict(_))));
    let ended = store.find_bastion_session("ses_1").await.unwrap();
    assert_eq!((ended.ended_at, ended.recording_bytes), (Some(5_000), Some(1234)));
    assert!(matches!(store.request_session_termination("ses_1", "alice", 7_000).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.list_bastion_sessions(true, 10).await.unwrap().len(), 1);
    assert_eq!(store.list_bastion_sessions(false, 10).await.unwrap().len(), 2);
    assert!(matches!(store.find_bastion_session("ses_9").await, Err(StoreError::NotFound)));

    // Retention takes only ended sessions, ended before the cut-off, once.
    let due: Vec<String> =
        store.recordings_past_retention(5_001, 10).await.unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(due, vec!["ses_1"], "the running ses_2 is never due");
    assert!(store.recordings_past_retention(5_000, 10).await.unwrap().is_empty(), "ended at the cut-off: kept");
    assert!(matches!(store.mark_recording_expired("ses_2", 8_000).await, Err(StoreError::Conflict(_))));
    store.mark_recording_expired("ses_1", 8_000).await.unwrap();
    assert!(matches!(store.mark_recording_expired("ses_1", 9_000).await, Err(StoreError::Conflict(_))));
    let expired = store.find_bastion_session("ses_1").await.unwrap();
    assert_eq!(
        (expired.recording_expired_at, expired.recording_sha256.as_deref()),
        (Some(8_000), end.recording_sha256.as_deref())
    );
    assert!(store.recordings_past_retention(i64::MAX, 10).await.unwrap().is_empty());
}

fn ticket_row(id: &Id, key: Option<&str>, status: &str, severity: &str, queue: &str, now: i64) -> TicketRow {
    TicketRow {
        id: id.clone(),
        kind: "alarm".into(),
        title: "t".into(),
        severity: severity.into(),
        status: status.into(),
        queue: queue.into(),
        assignee: None,
        tenant_id: None,
        rule_id: Some("r".into()),
        pack: Some("p".into()),
        dedup_key: key.map(str::to_owned),
        dedup_open: key.map(str::to_owned),
        description: String::new(),
        tags: "[]".into(),
        event_count: 1,
        first_seen_ms: now,
        last_seen_ms: now,
        ack_due_ms: Some(now + 1000),
        resolve_due_ms: Some(now + 2000),
        ack_missed_ms: None,
        resolve_missed_ms: None,
        acknowledged_at: None,
        resolved_at: None,
        resolution: None,
        last_notified_ms: None,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

fn ev(i: i64) -> TicketEventRow {
    TicketEventRow { ledger_index: i, time_ms: i, kind: "k".into() }
}

async fn tickets_compare_and_set_keep_one_joinable_per_key_and_bound_events(store: Store) {
    let a = ticket_row(&Id::new("tkt"), Some("-|r"), "new", "high", "soc", 10);
    let events: Vec<_> = (0..3).map(ev).collect();
    let history = HistoryRow {
        time_ms: 10,
        actor: "system".into(),
        action: "ticket.opened".into(),
        detail: serde_json::json!({"x": 1}),
        ledger_index: Some(7),
    };
    let note = NewNotification {
        id: Id::new("ntf"),
        ticket_id: Some(a.id.clone()),
        event: "ticket.opened".into(),
        channel: "webhook".into(),
        target: "soc".into(),
        payload: "{}".into(),
    };
    let w = TicketWrite {
        events: &events,
        keep_events: 2,
        history: Some(&history),
        comment: None,
        notifications: std::slice::from_ref(&note),
    };
    store.insert_ticket(&a, &w, None).await.expect("insert");
    assert_eq!(store.get_ticket(&a.id).await.expect("get"), a);
    assert_eq!(store.find_joinable_ticket("-|r").await.expect("find").map(|t| t.id), Some(a.id.clone()));
    assert_eq!(store.ticket_history(&a.id).await.expect("history"), vec![history.clone()]);
    assert_eq!(store.get_notification(&note.id).await.expect("note").status, "pending");

    // A second joinable ticket for the key conflicts and writes nothing.
    let b = ticket_row(&Id::new("tkt"), Some("-|r"), "new", "high", "soc", 11);
    let dup = store.insert_ticket(&b, &TicketWrite::default(), None).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    assert!(matches!(store.get_ticket(&b.id).await, Err(StoreError::NotFound)));
    // Superseding the old one clears its key in the same transaction.
    store.insert_ticket(&b, &TicketWrite::default(), Some(&a.id)).await.expect("supersede");
    assert_eq!(store.get_ticket(&a.id).await.expect("a").dedup_open, None);
    assert_eq!(store.find_joinable_ticket("-|r").await.expect("find").map(|t| t.id), Some(b.id.clone()));

    // Compare-and-set on the version.
    let mut next = b.clone();
    next.version = 2;
    next.event_count = 5;
    let more: Vec<_> = (3..9).map(ev).collect();
    let w = TicketWrite { events: &more, keep_events: 2, ..TicketWrite::default() };
    store.update_ticket(&next, 1, &w).await.expect("cas");
    let stale = store.update_ticket(&next, 1, &TicketWrite::default()).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    let mut gone = next.clone();
    gone.id = Id::new("tkt");
    assert!(matches!(store.update_ticket(&gone, 1, &TicketWrite::default()).await, Err(StoreError::NotFound)));
    let kept: Vec<i64> = store.ticket_events(&b.id).await.expect("events").iter().map(|e| e.ledger_index).collect();
    assert_eq!(kept, [3, 4, 7, 8], "the first two and the latest two");
    // The same ledger index twice is stored once.
    let w = TicketWrite { events: &more[5..], keep_events: 2, ..TicketWrite::default() };
    let mut again = next.clone();
    again.version = 3;
    store.update_ticket(&again, 2, &w).await.expect("cas");
    assert_eq!(store.ticket_events(&b.id).await.expect("events").len(), 4);

    // Deadlines: due and not yet recorded.
    assert!(
        store
            .tickets_missing_ack(1005, 10)
            .await
            .expect("ack")
            .iter()
            .all(|t| t.id != a.id || t.ack_due_ms < Some(1005))
    );
    let due: Vec<Id> = store.tickets_missing_ack(1012, 10).await.expect("ack").into_iter().map(|t| t.id).collect();
    assert_eq!(due.len(), 2);
    assert!(store.tickets_missing_resolve(1500, 10).await.expect("resolve").is_empty());
    assert_eq!(store.tickets_missing_resolve(2012, 10).await.expect("resolve").len(), 2);
}

async fn ticket_listing_holds_at_scale_with_indexed_filters_and_keyset_pages(store: Store) {
    // Many tickets over 5 queues, every status and severity; each filtered
    // page walks an index in id order (the benchmark goes to 100×).
    let statuses = ["new", "acknowledged", "in_progress", "resolved", "false_positive", "closed"];
    let severities = ["informational", "low", "medium", "high", "critical"];
    for i in 0..1200usize {
        let t = ticket_row(&Id::new("tkt"), None, statuses[i % 6], severities[i % 5], &format!("q{}", i % 5), 1);
        store.insert_ticket(&t, &TicketWrite::default(), None).await.expect("insert");
    }
    let filter = TicketFilter {
        status: Some("new".into()),
        severity: Some("critical".into()),
        queue: Some("q4".into()),
        ..TicketFilter::default()
    };
    let started = std::time::Instant::now();
    let mut seen = 0;
    let mut after: Option<String> = None;
    let mut last: Option<Id> = None;
    loop {
        let page = store.list_tickets(&filter, after.as_deref(), 25).await.expect("page");
        for t in &page.items {
            assert_eq!((t.status.as_str(), t.severity.as_str(), t.queue.as_str()), ("new", "critical", "q4"));
            if let Some(l) = &last {
                assert!(t.id < *l, "newest first, no repeats");
            }
            last = Some(t.id.clone());
        }
        seen += page.items.len();
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    // i % 6 == 0, i % 5 == 4 (and then i % 5 == 4 for the queue): i ≡ 24 mod 30.
    assert_eq!(seen, 40);
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "listing took {:?}", started.elapsed());
    let everyone = store.list_tickets(&TicketFilter::default(), None, 500).await.expect("all");
    assert_eq!(everyone.items.len(), 500);
    assert!(everyone.next.is_some());
}

async fn the_outbox_leases_retries_and_dead_letters(store: Store) {
    let notes: Vec<NewNotification> = (0..3)
        .map(|i| NewNotification {
            id: Id::new("ntf"),
            ticket_id: None,
            event: "ticket.opened".into(),
            channel: "webhook".into(),
            target: format!("w{i}"),
            payload: "{}".into(),
        })
        .collect();
    store.enqueue_notifications(&notes, 100).await.expect("enqueue");
    let claimed = store.claim_notifications(100, 200, 10).await.expect("claim");
    assert_eq!(claimed.len(), 3);
    assert!(
        store.claim_notifications(150, 250, 10).await.expect("claim").is_empty(),
        "leased rows are not claimed twice"
    );
    store.notification_delivered(&notes[0].id, 1, 150).await.expect("delivered");
    store.notification_failed(&notes[1].id, 1, "HTTP 500", 1000, false, 150).await.expect("retry");
    store.notification_failed(&notes[2].id, 8, "HTTP 500", 150, true, 150).await.expect("dead");
    // The retry is due at 1000 only; the lease of the others does not matter any more.
    assert!(store.claim_notifications(999, 2000, 10).await.expect("claim").is_empty());
    let retry = store.claim_notifications(1000, 2000, 10).await.expect("claim");
    assert_eq!(retry.iter().map(|n| n.id.clone()).collect::<Vec<_>>(), [notes[1].id.clone()]);
    assert_eq!(retry[0].attempts, 1);
    assert_eq!(retry[0].last_error.as_deref(), Some("HTTP 500"));
    let dead = store.list_notifications("dead", None, 10).await.expect("dead");
    assert_eq!(dead.items.iter().map(|n| n.id.clone()).collect::<Vec<_>>(), [notes[2].id.clone()]);
    assert!(
        matches!(store.redrive_notification(&notes[0].id, 3000).await, Err(StoreError::NotFound)),
        "only dead letters"
    );
    store.redrive_notification(&notes[2].id, 3000).await.expect("redrive");
    let n = store.get_notification(&notes[2].id).await.expect("get");
    assert_eq!((n.status.as_str(), n.attempts, n.next_attempt_ms), ("pending", 0, 3000));
    assert_eq!(store.get_notification(&notes[0].id).await.expect("get").delivered_at, Some(150));
    assert_eq!(store.purge_delivered_notifications(150).await.expect("purge"), 0, "delivered at 150, not before");
    assert_eq!(store.purge_delivered_notifications(151).await.expect("purge"), 1);
    assert!(matches!(store.get_notification(&notes[0].id).await, Err(StoreError::NotFound)));
    assert_eq!(store.get_notification(&notes[2].id).await.expect("pending stays").status, "pending");
}

/// An ingested line as the listeners make it: source, syslog envelope,
/// parsed fields, message.
/// The ledger positions of every page of `search`, following `next`.
async fn page_positions(store: &Store, mut search: rampart_store::LogSearch) -> Vec<i64> {
    let mut seen = Vec::new();
    loop {
        let page = store.search_logs(&search).await.expect("page");
        seen.extend(page.events.iter().map(|e| e.ledger_index.expect("ledger index")));
        match page.next {
            Some(p) => search.before = Some(p),
            None => return seen,
        }
    }
}

fn log_event(host: &str, user: &str, status: i64, message: &str) -> Event {
    let mut ev = Event::new("log.sshd.auth_failed", Outcome::Failure, user);
    ev.attrs = serde_json::json!({
        "source": { "name": host, "type": "server" },
        "syslog": { "hostname": host, "app_name": "sshd" },
        "fields": { "User": user, "status": status.to_string() },
        "message": message,
    });
    ev
}

async fn log_search_finds_fields_phrases_ranges_and_counts(store: Store) {
    let mut events = Vec::new();
    for i in 0..30i64 {
        let host = if i % 3 == 0 { "web01" } else { "db01" };
        let user = if i % 2 == 0 { "root" } else { "alice" };
        events.push(log_event(host, user, 200 + i * 10, &format!("Failed password for {user} line {i} 50%_off")));
    }
    events.push(Event::new("user.created", Outcome::Success, "admin").object("carol"));
    let batch: Vec<(&Event, Option<i64>)> = events.iter().zip(0..).map(|(e, i)| (e, Some(i))).collect();
    store.append_events(&batch).await.expect("append");
    // Appending the same positions again changes nothing (re-indexing).
    store.append_events(&batch).await.expect("append again");

    let search = |q: &str, limit: usize| log_search(q, rampart_core::time::now_ms(), limit);
    let count = |q: &'static str| {
        let store = store.clone();
        let s = search(q, 1000);
        async move { store.search_logs(&s).await.unwrap_or_else(|e| panic!("{q}: {e}")).events.len() }
    };
    assert_eq!(count("").await, 31);
    assert_eq!(count("host:web01").await, 10);
    assert_eq!(count("source:db01").await, 20);
    assert_eq!(count("User:root").await, 15);
    assert_eq!(count("fields.User:root AND host:web01").await, 5);
    assert_eq!(count("host:web01 OR User:alice").await, 20);
    assert_eq!(count("NOT host:web01").await, 21, "events without a host match NOT");
    assert_eq!(count("-(host:web01 OR host:db01)").await, 1);
    assert_eq!(count(r#""failed password for ROOT""#).await, 15, "free text ignores ASCII case");
    assert_eq!(count(r#""50%_off""#).await, 30, "LIKE wildcards in a phrase are literal");
    assert_eq!(count(r#""50%x""#).await, 0);
    assert_eq!(count("kind:log.sshd.*").await, 30);
    assert_eq!(count("syslog.app_name:ssh?").await, 30);
    assert_eq!(count("status:[300 TO 400]").await, 11);
    assert_eq!(count("status:>450").await, 4);
    assert_eq!(count("index:[0 TO 4]").await, 5);
    assert_eq!(count("object:carol").await, 1);
    assert_eq!(count("time:>1h").await, 31);
    assert_eq!(count("time:<1h").await, 0);
    assert_eq!(count(r#"host:"x' OR '1'='1""#).await, 0, "values are bound, not spliced");

    // Newest first, in pages, each result with its ledger index.
    let seen = page_positions(&store, search("host:db01", 7)).await;
    let mut want: Vec<i64> = (0..30).filter(|i| i % 3 != 0).rev().collect();
    want.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, want);

    let buckets = store.count_logs(&search("kind:log.* | count by host", 10)).await.expect("count");
    let got: Vec<(Option<String>, i64)> = buckets.into_iter().map(|b| (b.value, b.count)).collect();
    assert_eq!(got, [(Some("db01".to_owned()), 20), (Some("web01".to_owned()), 10)]);
    let by_user = store.count_logs(&search("| count by User", 10)).await.expect("count");
    assert_eq!(by_user.len(), 3, "root, alice and the event without the field: {by_user:?}");

    // Tail: what came after a ledger position, oldest first.
    let last = store.last_event_position().await.expect("last");
    assert_eq!(last, 30);
    assert!(store.logs_after(&search("", 10), last).await.expect("after").is_empty());
    let after = store.logs_after(&search("host:web01", 100), last - 10).await.expect("after");
    let positions: Vec<i64> = after.iter().map(|e| e.ledger_index.expect("position")).collect();
    assert_eq!(positions, [21, 24, 27]);
}

/// Events built to hit the corners of search (absent fields, JSON numbers,
/// reals, booleans, objects, texts that are half numbers, non-ASCII
/// letters, LIKE's own wildcards and quotes in values), at times before
/// `now`, oldest last.
fn search_corpus(now: i64) -> Vec<Event> {
    let hosts = ["web01", "db01", "WEB-02", "ünï-host", "web01x"];
    let users = ["root", "alice", "Alice", "o'brien", "50%_off", "ÄRGER"];
    let statuses: [serde_json::Value; 9] = [
        "200".into(),
        "404".into(),
        "500".into(),
        "abc".into(),
        "12abc".into(),
        503.into(),
        1.5.into(),
        (-7).into(),
        " 42 ".into(),
    ];
    let messages = [
        "Failed password for root",
        "Accepted publickey",
        "ünïcode Fehler",
        r#"say "hi" \ there"#,
        "50%_off today",
        "nothing much",
    ];
    let mut events = Vec::new();
    for i in 0..120usize {
        let mut ev = Event::new(
            ["log.sshd.auth_failed", "log.nginx.access", "log.sudo.command"][i % 3],
            [Outcome::Failure, Outcome::Success, Outcome::Denied][i % 3],
            users[i % users.len()],
        );
        ev.time_ms = now - (i as i64) * 60_000;
        let mut fields = serde_json::json!({ "User": users[(i / 2) % users.len()] });
        if i % 7 != 0 {
            fields["status"] = statuses[i % statuses.len()].clone();
        }
        if i % 5 == 0 {
            fields["flag"] = (i % 10 == 0).into();
        }
        if i % 11 == 0 {
            // PostgreSQL orders jsonb keys shorter first: `c` before `bb`.
            fields["obj"] = serde_json::json!({ "bb": 1, "c": [1, "x"] });
        }
        let host = hosts[i % hosts.len()];
        let app = ["sshd", "nginx", "sudo"][i % 3];
        let kind = if i % 4 == 0 { "network" } else { "server" };
        ev.attrs = serde_json::json!({
            // web01x's arrive through a relay: their source is not their host.
            "source": { "name": if host == "web01x" { "relay-1" } else { host }, "type": kind },
            "syslog": { "hostname": host, "app_name": app },
            "fields": fields,
            "message": messages[i % messages.len()],
        });
        if i % 6 == 0 {
            ev.source_addr = Some(format!("10.0.0.{}", i % 9));
        }
        if i % 8 == 0 {
            ev.object = Some("carol".into());
        }
        events.push(ev);
    }
    // Rampart's own events: no host, source or parsed fields.
    for i in 0..10 {
        let mut ev = Event::new("user.created", Outcome::Success, "admin").object(format!("user{i}"));
        ev.time_ms = now - i * 30_000;
        ev.tenant_id = (i % 2 == 0).then(|| Id::from_trusted("ten_1".into()));
        events.push(ev);
    }
    events
}

/// Queries over [`search_corpus`]: atoms, their negations, and
/// combinations from a fixed-seed generator.
fn search_queries() -> Vec<String> {
    let atoms = [
        "host:web01",
        "host:WEB*",
        "host:w?b01",
        "host:ünï*",
        "host:ÜNÏ*",
        "source:db01",
        "host:web01x",
        "source:relay-1",
        "source:web01x",
        "kind:log.*",
        "kind:log.sshd.auth_failed",
        "User:root",
        "User:ALICE*",
        r#"User:"o'brien""#,
        r#"User:"50%_off""#,
        "User:50?_off",
        "User:är*",
        "status:200",
        "status:503",
        "status:1.5",
        "status:-7",
        "status:[100 TO 499]",
        "status:>=500",
        "status:<1",
        "status:[* TO *]",
        "status:[10 TO 50]",
        "status:>12",
        "flag:1",
        "flag:true",
        "obj:*",
        r#"obj:"{\"bb\":1,\"c\":[1,\"x\"]}""#,
        r#"obj:"{\"c\": [1, \"x\"], \"bb\": 1}""#,
        "index:[3 TO 40]",
        "index:7",
        "index:x",
        "time:>30m",
        "time:[2h TO 1h]",
        r#""failed password""#,
        "fail*",
        "f?iled",
        r#""50%_off""#,
        "ünïcode",
        "ÜNÏCODE",
        r#""say \"hi\" \\ there""#,
        "outcome:failure",
        "actor:admin",
        "object:carol",
        "source_addr:10.0.0.*",
        "tenant:ten_1",
        "syslog.app_name:sshd",
        "source.type:network",
        "message:*password*",
        "fields.User:root",
        "missing:x",
        "missing:*",
    ];
    let mut queries: Vec<String> = atoms.iter().map(|a| (*a).to_owned()).collect();
    queries.extend(atoms.iter().map(|a| format!("NOT {a}")));
    // Combinations from a fixed-seed generator (xorshift): AND, OR, NOT
    // and nesting over the atoms.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    for _ in 0..250 {
        let mut q = String::new();
        for k in 0..1 + next(4) {
            if k > 0 {
                q.push_str([" AND ", " OR ", " ", " OR NOT "][next(4)]);
            }
            let atom = atoms[next(atoms.len())];
            match next(5) {
                0 => q.push_str(&format!("-({atom} OR {})", atoms[next(atoms.len())])),
                1 => q.push_str(&format!("({atom} AND NOT {})", atoms[next(atoms.len())])),
                _ => q.push_str(atom),
            }
        }
        queries.push(q);
    }

    queries
}

/// Search over log blocks (`blocksearch.rs`) gives what search over rows
/// gives for the same events: the same events in the same order for every
/// query of [`search_queries`], page by page below a cursor and within a
/// time window, the same counts, the same tail; and pruning a source
/// rewrites its blocks without its old events and nothing else.
async fn log_blocks_give_the_row_index_answers(store: Store) {
    use rampart_store::LogSearch;
    use rampart_store::logblock::encode;
    use std::collections::BTreeMap;

    let now = rampart_core::time::now_ms();
    let events = search_corpus(now);
    let search = |q: &str, limit: usize| log_search(q, now, limit);
    let positions =
        |found: &[rampart_store::logblock::StoredLog]| -> Vec<i64> { found.iter().map(|e| e.ledger_index).collect() };
    let windows = [(None, None), (Some(now - 90 * 60_000), Some(now - 20 * 60_000))];
    let paged = ["", "host:web01", "User:root", "kind:log.* AND NOT status:200", "fail*"];
    let counted = ["", "kind:log.* AND NOT User:root", "host:web01", "status:[* TO 100]"];
    let fields = ["host", "User", "status", "obj", "flag", "kind", "index", "tenant"];

    // First the answers of rows alone: the oracle.
    let batch: Vec<(&Event, Option<i64>)> = events.iter().zip(0..).map(|(e, i)| (e, Some(i))).collect();
    store.append_events(&batch).await.expect("rows");
    let mut row_answers = Vec::new();
    for q in search_queries() {
        let page = store.search_logs(&search(&q, 1000)).await.unwrap_or_else(|e| panic!("{q}: {e}"));
        row_answers.push((q, page.events.iter().map(|e| e.ledger_index.expect("position")).collect::<Vec<i64>>()));
    }
    let mut row_pages = Vec::new();
    for q in paged {
        for (since, until) in windows {
            let rows = page_positions(&store, LogSearch { since_ms: since, until_ms: until, ..search(q, 7) }).await;
            row_pages.push((q, since, until, rows));
        }
    }
    let mut row_counts = Vec::new();
    for field in fields {
        for filter in counted {
            let q = format!("{filter} | count by {field}");
            let counts: BTreeMap<Option<String>, i64> = store
                .count_logs(&search(&q, 1000))
                .await
                .expect("rows")
                .into_iter()
                .map(|b| (b.value, b.count))
                .collect();
            row_counts.push((q, counts));
        }
    }

    // Then the same events as blocks: one stored as blocks were before
    // migration 0022 (one body, records without host and source), one
    // with chunk rows as before migration 0023 (attributes inline), and
    // the rest as blocks are stored now (heads and attributes apart), two
    // events each: walks then take more than one window, so a sparse
    // query's later windows read heads first. (A body of several chunks
    // is read in logblock.rs's tests.)
    let texts = attrs_texts(&events);
    let input = block_inputs(&events, &texts);
    store.append_legacy_block_for_tests(&input[..40]).await.expect("legacy block");
    store.append_v2_block_for_tests(&input[40..80]).await.expect("version 2 block");
    for part in input[80..].chunks(2) {
        store.append_block(&encode(part, store.backend()).expect("encode")).await.expect("block");
    }
    for (q, rows) in &row_answers {
        let blocks =
            positions(&store.search_blocks(&search(q, 1000), None).await.unwrap_or_else(|e| panic!("{q}: {e}")));
        assert_eq!(&blocks, rows, "{:?}: {q}", store.backend());
    }
    // Merged with the rows (the same events twice), each comes once.
    let merged = store.search_logs(&search("", 1000)).await.expect("merged");
    assert_eq!(merged.events.len(), events.len());

    // Pages of 7 below a cursor, and a time window, as rows give them.
    for (q, since, until, rows) in &row_pages {
        let mut s = LogSearch { since_ms: *since, until_ms: *until, ..search(q, 7) };
        let mut blocks = Vec::new();
        loop {
            let mut page = positions(&store.search_blocks(&s, None).await.expect("blocks"));
            let more = page.len() > 7;
            page.truncate(7);
            s.before = page.last().copied();
            blocks.extend(page);
            if !more {
                break;
            }
        }
        assert_eq!(&blocks, rows, "{:?}: {q} in {since:?}..{until:?}", store.backend());
        // A floor: only what lies above it.
        if let Some(&mid) = rows.get(rows.len() / 2) {
            let s = LogSearch { since_ms: *since, until_ms: *until, ..search(q, 1000) };
            let above = positions(&store.search_blocks(&s, Some(mid)).await.expect("floor"));
            let want: Vec<i64> = rows.iter().copied().filter(|p| *p > mid).collect();
            assert_eq!(above, want, "{q} above {mid}");
        }
    }

    for (q, rows) in &row_counts {
        let s = search(q, 1000);
        assert_eq!(&store.count_blocks(&s).await.expect("blocks"), rows, "{:?}: {q}", store.backend());
        // Merged: rows and blocks both count (the same events, twice).
        let merged: BTreeMap<Option<String>, i64> =
            store.count_logs(&s).await.expect("merged").into_iter().map(|b| (b.value, b.count)).collect();
        let doubled: BTreeMap<Option<String>, i64> = rows.iter().map(|(v, n)| (v.clone(), 2 * n)).collect();
        assert_eq!(merged, doubled, "{q}");
    }

    // The tail: after a position, oldest first, at most the limit.
    for (q, after) in [("", 100), ("host:web01", 20), ("User:alice", -1), ("kind:user.*", 125)] {
        let s = search(q, 5);
        let all = positions(&store.search_blocks(&search(q, 1000), None).await.expect("all"));
        let mut want: Vec<i64> = all.into_iter().filter(|p| *p > after).collect();
        want.sort_unstable();
        want.truncate(5);
        assert_eq!(positions(&store.block_logs_after(&s, after).await.expect("after")), want, "{q} after {after}");
    }

    // Retention: web01's events older than 60 minutes leave the blocks.
    let cutoff = now - 60 * 60_000;
    let pruned = store.prune_source_blocks("web01", cutoff, 100).await.expect("prune");
    let doomed =
        |e: &Event| e.attrs.pointer("/source/name").and_then(|v| v.as_str()) == Some("web01") && e.time_ms < cutoff;
    assert_eq!(pruned, events.iter().filter(|e| doomed(e)).count() as u64);
    assert!(pruned > 0);
    let left = positions(&store.search_blocks(&search("", 1000), None).await.expect("left"));
    let want: Vec<i64> = (0..events.len() as i64).rev().filter(|i| !doomed(&events[*i as usize])).collect();
    assert_eq!(left, want, "only web01's old events went");
    assert_eq!(store.prune_source_blocks("web01", cutoff, 100).await.expect("again"), 0);
    assert_eq!(
        store.max_block_position().await.expect("max"),
        Some(events.len() as i64 - 1),
        "blocks keep their range"
    );
}

/// Log events handed to the index wait in memory for their block: they
/// are found at once (search, count, tail, by id, export), a full block is
/// written by itself, the rest when sealed; pages merge them with blocks
/// and rows in ledger order, each event once.
async fn waiting_log_events_are_searched_until_their_block_is_written(store: Store) {
    use rampart_store::WaitingLog;

    let now = rampart_core::time::now_ms();
    let log = |i: i64| {
        let mut e = log_event(&format!("host-{}", i % 3), &format!("u{}", i % 4), 200, &format!("line {i}"));
        e.time_ms = now - 1_000 + (i % 500);
        let attrs = serde_json::value::to_raw_value(&e.attrs).expect("json");
        WaitingLog::owned(e, attrs, i)
    };
    let search = |q: &str, limit: usize| log_search(q, now, limit);
    let first: Vec<WaitingLog> = (0..10).map(log).collect();
    let id = first[3].event().id.clone();
    store.index_logs(first).await.expect("index");
    assert_eq!(store.waiting_logs(), 10);
    let page = store.search_logs(&search("host:host-0", 100)).await.expect("search");
    assert_eq!(page.events.iter().map(|e| e.ledger_index.expect("position")).collect::<Vec<_>>(), [9, 6, 3, 0]);
    let counts = store.count_logs(&search("| count by host", 10)).await.expect("count");
    assert_eq!(counts.iter().map(|b| b.count).sum::<i64>(), 10);
    assert_eq!(store.logs_after(&search("", 3), 4).await.expect("after").len(), 3);
    assert_eq!(store.find_event(id.as_str()).await.expect("find").map(|e| e.ledger_index), Some(Some(3)));
    assert_eq!(store.export_positions(0, i64::MAX, Some("host-1"), -1, 100).await.expect("export"), [1, 4, 7]);
    assert_eq!(store.last_event_position().await.expect("last"), 9);

    // Not yet due; then written.
    assert_eq!(store.seal_logs(Some(std::time::Duration::from_secs(3600))).await.expect("not due"), 0);
    assert_eq!(store.seal_logs(None).await.expect("seal"), 10);
    assert_eq!(store.waiting_logs(), 0);
    assert_eq!(store.blocks_resume_from().await.expect("resume"), 10);
    let page = store.search_logs(&search("host:host-0", 100)).await.expect("search");
    assert_eq!(page.events.len(), 4, "the same answers from the block");
    assert_eq!(store.find_event(id.as_str()).await.expect("find").map(|e| e.ledger_index), Some(Some(3)));

    // 5,000 more: one full block writes itself, the rest wait; an own
    // event in between is a row.
    store.index_logs((10..5010).map(log).collect()).await.expect("index");
    assert_eq!(store.waiting_logs(), 5000 - 4096);
    assert_eq!(store.max_block_position().await.expect("max"), Some(4105));
    let mut own = Event::new("user.created", Outcome::Success, "admin");
    own.time_ms = now;
    store.append_events(&[(&own, Some(5010))]).await.expect("row");
    let seen = page_positions(&store, search("", 333)).await;
    assert_eq!(seen, (0..=5010).rev().collect::<Vec<i64>>(), "rows, blocks and waiting events, once each");
    let tail = store.logs_after(&search("", 1000), 4990).await.expect("tail");
    assert_eq!(
        tail.iter().map(|e| e.ledger_index.expect("position")).collect::<Vec<_>>(),
        (4991..=5010).collect::<Vec<_>>()
    );
    assert_eq!(
        store.count_logs(&search("| count by kind", 10)).await.expect("count").iter().map(|b| b.count).sum::<i64>(),
        5011
    );
}

/// `logmatch::Matcher` (a query evaluated in Rust, for searches over
/// events that are not table rows) answers exactly as the SQL does on the
/// same backend: the same events for a few hundred queries, hand-written
/// and generated, and the same counts per value for `count by`, over events
/// built to hit the corners (absent fields, JSON numbers, reals, booleans,
/// objects, texts that are half numbers, non-ASCII letters, LIKE's own
/// wildcards and quotes in values).
async fn the_rust_matcher_gives_the_sql_answers(store: Store) {
    use rampart_ingest::query::parse;
    use rampart_store::LogSearch;
    use rampart_store::logmatch::{Candidate, Matcher, field_value};
    use std::collections::{BTreeMap, BTreeSet};

    let now = rampart_core::time::now_ms();
    let events = search_corpus(now);
    let batch: Vec<(&Event, Option<i64>)> = events.iter().zip(0..).map(|(e, i)| (e, Some(i))).collect();
    store.append_events(&batch).await.expect("append");
    let texts: Vec<String> = events.iter().map(|e| serde_json::to_string(&e.attrs).expect("json")).collect();
    let candidates: Vec<Candidate<'_>> = events
        .iter()
        .zip(&texts)
        .zip(0..)
        .map(|((event, attrs_json), i)| Candidate { event, ledger_index: Some(i), attrs_json })
        .collect();

    let queries = search_queries();
    let search = |q: &str| LogSearch {
        query: parse(q, now).unwrap_or_else(|e| panic!("{q}: {e}")),
        since_ms: None,
        until_ms: None,
        before: None,
        limit: 1000,
    };
    let mut nonempty = 0;
    for q in &queries {
        let s = search(q);
        let sql: BTreeSet<i64> = store
            .search_logs(&s)
            .await
            .unwrap_or_else(|e| panic!("{q}: {e}"))
            .events
            .iter()
            .map(|e| e.ledger_index.expect("position"))
            .collect();
        let matcher = Matcher::new(s.query.filter.as_ref(), store.backend());
        let rust: BTreeSet<i64> =
            candidates.iter().filter(|c| matcher.matches(c)).map(|c| c.ledger_index.expect("position")).collect();
        assert_eq!(rust, sql, "{:?}: {q}", store.backend());
        nonempty += usize::from(!sql.is_empty() && sql.len() < events.len());
    }
    assert!(nonempty > queries.len() / 3, "the queries tell events apart: {nonempty} of {}", queries.len());

    for field in ["host", "User", "status", "obj", "flag", "kind", "index", "source_addr", "tenant", "message"] {
        for filter in ["", "kind:log.* AND NOT User:root", "status:[* TO 100]"] {
            let q = format!("{filter} | count by {field}");
            let s = search(&q);
            let sql: BTreeMap<Option<String>, i64> = store
                .count_logs(&s)
                .await
                .unwrap_or_else(|e| panic!("{q}: {e}"))
                .into_iter()
                .map(|b| (b.value, b.count))
                .collect();
            let matcher = Matcher::new(s.query.filter.as_ref(), store.backend());
            let mut rust: BTreeMap<Option<String>, i64> = BTreeMap::new();
            for c in candidates.iter().filter(|c| matcher.matches(c)) {
                *rust.entry(field_value(field, c, store.backend()).map(|v| v.into_owned())).or_default() += 1;
            }
            assert_eq!(rust, sql, "{:?}: {q}", store.backend());
        }
    }
}

/// Log blocks go into `log_blocks` as written (storing one again keeps
/// the first), come back newest first below a cursor and within a time
/// range, and decode to the events that went in.
async fn log_blocks_store_once_and_come_back_newest_first(store: Store) {
    use rampart_store::logblock::{ChunkRead, encode};

    let events: Vec<Event> = (0..600)
        .map(|i| {
            let mut e = log_event(&format!("host-{}", i % 3), &format!("u{}", i % 5), 200, &format!("line {i}"));
            e.time_ms = 1_000_000 + i;
            e
        })
        .collect();
    let texts = attrs_texts(&events);
    let input = block_inputs(&events, &texts);
    // Three blocks of 200 events, times 1,000,000.. in order.
    let blocks: Vec<_> = input.chunks(200).map(|c| encode(c, store.backend()).expect("encode")).collect();
    for b in &blocks {
        store.append_block(b).await.expect("append block");
    }
    let mut again = blocks[1].clone();
    again.events = 1;
    store.append_block(&again).await.expect("a block stored again is kept as it was");

    let all = store.blocks_before(None, None, None, 10, true).await.expect("blocks");
    assert_eq!(all.iter().map(|b| b.first_index).collect::<Vec<_>>(), [400, 200, 0]);
    assert_eq!(all[1].events, 200, "the first copy stays");
    let below = store.blocks_before(Some(400), None, None, 1, false).await.expect("below");
    assert_eq!(below.iter().map(|b| b.first_index).collect::<Vec<_>>(), [200]);
    let timed = store.blocks_before(None, Some(1_000_250), Some(1_000_420), 10, false).await.expect("timed");
    assert_eq!(timed.iter().map(|b| b.first_index).collect::<Vec<_>>(), [400, 200], "[250, 420) overlaps two");

    let chunks = store.block_stored_chunks(&all[0], u32::MAX, ChunkRead::Whole).await.expect("chunks");
    assert_eq!(chunks.iter().map(|c| c.index).collect::<Vec<_>>(), [0, 1], "200 events: two chunks");
    let back: Vec<_> = chunks
        .iter()
        .flat_map(|c| c.decode(400, all[0].min_time_ms).expect("decode").events_where(|_, _| true).expect("events"))
        .collect();
    assert_eq!(back.len(), 200);
    let second = store.block_stored_chunks(&all[0], 0b10, ChunkRead::Whole).await.expect("one chunk");
    assert_eq!(second.iter().map(|c| c.index).collect::<Vec<_>>(), [1], "only the chunks asked for are read");
    // Heads only: every column, no attributes; asking for the event is
    // refused, not answered without them.
    let heads = store.block_stored_chunks(&all[0], 0b10, ChunkRead::Heads).await.expect("heads");
    let records = heads[0].decode(400, all[0].min_time_ms).expect("decode");
    assert!(!records.has_attrs());
    let read = records.heads().expect("heads");
    assert_eq!(read.len(), 72);
    assert_eq!(read[0].ledger_index, 528);
    assert_eq!(read[0].id, events[528].id.as_str());
    assert_eq!(read[0].attrs_json, None);
    assert!(matches!(read[0].stored(), Err(rampart_store::logblock::BlockError::AttrsNotRead)));
    // Several blocks' chunks in one statement, each back with its block.
    let together = store
        .blocks_stored_chunks(&[(&all[0], 0b10), (&all[1], 0b11), (&all[2], 0)], ChunkRead::Whole)
        .await
        .expect("together");
    let indexes: Vec<Vec<usize>> = together.iter().map(|c| c.iter().map(|c| c.index).collect()).collect();
    assert_eq!(indexes, [vec![1], vec![0, 1], vec![]]);
    let firsts: Vec<Vec<i64>> = together
        .iter()
        .zip(&all)
        .map(|(chunks, b)| {
            chunks
                .iter()
                .map(|c| {
                    c.decode(b.first_index, b.min_time_ms).expect("decode").heads().expect("heads")[0].ledger_index
                })
                .collect()
        })
        .collect();
    assert_eq!(firsts, [vec![528], vec![200, 328], vec![]]);
    for (got, i) in back.iter().zip(400..) {
        assert_eq!(got.ledger_index, i as i64);
        assert_eq!(got.attrs_json, texts[i]);
        assert_eq!(got.event.id, events[i].id);
        assert_eq!(got.event.time_ms, events[i].time_ms);
    }
    // Term masks come from the slices (the rows store no whole summary).
    let user = rampart_store::terms::term_key(&["fields", "User"], "u3");
    let nobody = rampart_store::terms::term_key(&["fields", "User"], "nobody");
    assert!(all[0].summary.is_empty());
    assert_eq!(store.block_masks(&all, &[user]).await.expect("masks"), [0b11, 0b11, 0b11]);
    assert_eq!(store.block_masks(&all, &[user, nobody]).await.expect("masks"), [0, 0, 0]);
    assert_eq!(store.block_masks(&all, &[]).await.expect("masks"), [u32::MAX; 3]);
    let gone = rampart_store::logblock::BlockRow { first_index: 401, ..all[0].clone() };
    assert!(store.block_stored_chunks(&gone, u32::MAX, ChunkRead::Whole).await.expect("none").is_empty());
    assert_eq!(store.max_block_position().await.expect("max"), Some(599));
    let after = store.blocks_after(250, None, None, 10, false).await.expect("after");
    assert_eq!(
        after.iter().map(|b| b.first_index).collect::<Vec<_>>(),
        [200, 400],
        "oldest first, from the one holding 251"
    );
}

/// The term index (User:…, src_ip:…) gives exactly what reading every
/// event gives: before the backfill, after it, with a colliding term row
/// pointing at the wrong event, and after retention pruned some events
/// (whose term rows go with them).
/// A batch larger than one multi-row statement, part of it indexed
/// already: every event ends up once, with its ledger position and its
/// term rows (two per `log_event`: `User` and `syslog.app_name`).
async fn index_batches_across_statement_boundaries_hold_every_event_once(store: Store) {
    let events: Vec<Event> = (0..150).map(|i| log_event("web01", &format!("u{i}"), 200, &format!("row {i}"))).collect();
    let all: Vec<(&Event, Option<i64>)> = events.iter().zip(0..).map(|(e, i)| (e, Some(i))).collect();
    store.append_events(&all[..70]).await.expect("the first 70");
    store.append_events(&all).await.expect("all 150, 70 of them again");
    let filter = rampart_store::EventFilter { kind: Some("log.sshd.auth_failed".into()), ..Default::default() };
    let page = store.list_events(&filter, 0, 1000).await.expect("list");
    let mut positions: Vec<i64> = page.items.iter().map(|e| e.ledger_index.expect("position")).collect();
    positions.sort_unstable();
    assert_eq!(positions, (0..150).collect::<Vec<i64>>(), "each event once, at its position");
    for stored in &page.items {
        let i = usize::try_from(stored.ledger_index.expect("position")).expect("index");
        assert_eq!(stored.event.id, events[i].id, "row {i} holds its own event");
        assert_eq!(stored.event.attrs, events[i].attrs);
    }
    assert_eq!(store.term_rows_for_tests().await.expect("terms"), 300);
}

async fn log_search_terms_give_the_same_answers_and_follow_pruning(store: Store) {
    use rampart_ingest::query::parse;
    use rampart_store::LogSearch;
    use rampart_store::terms::term_key;

    // Buckets of 8 events, so pages cross buckets (and some buckets hold
    // no match at all).
    let store = store.with_term_buckets_for_tests(3);

    let mut events = Vec::new();
    for i in 0..60i64 {
        let user = ["root", "alice", "bob"][(i % 3) as usize];
        let mut ev = log_event(if i % 2 == 0 { "web01" } else { "db01" }, user, 200, &format!("line {i}"));
        ev.time_ms = 1_000 + i;
        ev.attrs["fields"]["src_ip"] = serde_json::json!(format!("10.0.0.{}", i % 4));
        ev.attrs["fields"]["dst_port"] = serde_json::json!(22 + i % 2);
        events.push(ev);
    }
    let batch: Vec<(&Event, Option<i64>)> = events.iter().zip(0..).map(|(e, i)| (e, Some(i))).collect();
    store.append_events(&batch).await.expect("append");
    store.append_events(&batch).await.expect("re-indexing adds no rows and no terms");
    // User, src_ip, dst_port and syslog.app_name: four terms an event.
    assert_eq!(store.term_rows_for_tests().await.expect("terms"), 240);
    assert_eq!(store.terms_from().await.expect("from"), 1, "a new database needs no backfill");

    let search = |q: &str| LogSearch {
        query: parse(q, rampart_core::time::now_ms()).unwrap_or_else(|e| panic!("{q}: {e}")),
        since_ms: None,
        until_ms: None,
        before: None,
        limit: 7,
    };
    // Every page of a query, newest first, as ledger indexes.
    let all = |q: &'static str| {
        let store = store.clone();
        async move {
            let mut s = search(q);
            let mut seen = Vec::new();
            loop {
                let page = store.search_logs(&s).await.unwrap_or_else(|e| panic!("{q}: {e}"));
                seen.extend(page.events.iter().map(|e| e.ledger_index.expect("index")));
                match page.next {
                    Some(n) => s.before = Some(n),
                    None => return seen,
                }
            }
        }
    };
    let queries = [
        "User:alice",
        "fields.User:alice AND host:web01",
        "src_ip:10.0.0.1 AND NOT User:bob",
        "dst_port:23",
        "syslog.app_name:sshd AND User:root",
        "User:alice OR User:bob",
        "User:nobody",
    ];
    let mut with_terms = Vec::new();
    for q in queries {
        with_terms.push(all(q).await);
    }
    let alice: Vec<i64> = (0..60).rev().filter(|i| i % 3 == 1).collect();
    assert_eq!(with_terms[0], alice);
    assert_eq!(with_terms[1], alice.iter().copied().filter(|i| i % 2 == 0).collect::<Vec<_>>());
    assert!(with_terms[6].is_empty());
    let counted = store.count_logs(&LogSearch { limit: 10, ..search("User:alice | count by host") }).await.unwrap();
    assert_eq!(counted.iter().map(|b| b.count).sum::<i64>(), 20);

    // A term row that collides (the key of User:alice on a root event) is
    // read, checked and dropped: the answers do not change.
    let root_seq = store.search_logs(&search("User:root")).await.unwrap().events[0].seq;
    store.add_term_for_tests(term_key(&["fields", "User"], "alice"), root_seq).await.expect("collide");
    assert_eq!(all("User:alice").await, alice);

    // A database from before the term index: the same answers by reading
    // the events, then by the terms again once the backfill is through.
    store.forget_terms_for_tests().await.expect("forget");
    assert!(store.terms_from().await.unwrap() > 1);
    for (q, want) in queries.iter().zip(&with_terms) {
        assert_eq!(&all(q).await, want, "{q} without terms");
    }
    let mut steps = 0;
    while store.backfill_terms().await.expect("backfill") > 1 {
        steps += 1;
        assert!(steps < 100, "the backfill ends");
    }
    assert_eq!(store.term_rows_for_tests().await.expect("terms"), 240);
    for (q, want) in queries.iter().zip(&with_terms) {
        assert_eq!(&all(q).await, want, "{q} after the backfill");
    }

    // Retention takes the pruned events' term rows with them.
    assert_eq!(store.prune_source_events("web01", 1_030).await.expect("prune"), 15);
    assert_eq!(store.term_rows_for_tests().await.expect("terms"), 240 - 15 * 4);
    let kept: Vec<i64> = alice.iter().copied().filter(|i| i % 2 == 1 || *i >= 30).collect();
    assert_eq!(all("User:alice").await, kept);
}

async fn source_certs_are_valid_until_revoked_and_retention_prunes_only_old_rows(store: Store) {
    use rampart_store::SourceCertRow;
    let id = Id::new("src");
    let mut spec = source_spec(None);
    spec.retention_days = Some(30);
    let src = store.create_source(&id, "fw-01", &spec, 1_000).await.expect("create");
    assert_eq!(src.retention_days, Some(30));
    assert_eq!(store.sources_with_retention().await.expect("retention"), [("fw-01".to_owned(), 30)]);
    let cert = |serial: &str, not_after| SourceCertRow {
        serial: serial.into(),
        source_id: id.clone(),
        fingerprint: format!("fp-{serial}"),
        issued_at: 1_000,
        not_after,
        revoked_at: None,
    };
    store.add_source_cert(&cert("0a", 10_000)).await.expect("add");
    store.add_source_cert(&cert("0b", 2_000)).await.expect("add");
    assert!(matches!(store.add_source_cert(&cert("0a", 10_000)).await, Err(StoreError::Conflict(_))));
    let valid: Vec<String> =
        store.valid_source_certs(5_000).await.expect("valid").into_iter().map(|c| c.serial).collect();
    assert_eq!(valid, ["0a"], "the expired one is not valid");
    let revoked = store.revoke_source_cert(&id, "0a", 6_000).await.expect("revoke");
    assert_eq!(revoked.revoked_at, Some(6_000));
    assert!(matches!(store.revoke_source_cert(&id, "0a", 7_000).await, Err(StoreError::Conflict(_))));
    assert!(matches!(store.revoke_source_cert(&id, "ff", 7_000).await, Err(StoreError::NotFound)));
    assert!(store.valid_source_certs(5_000).await.expect("valid").is_empty());
    assert_eq!(store.source_certs(&id).await.expect("list").len(), 2);

    // Rows of fw-01 at times 100..110 and one of another source; prune before 105.
    let mut events = Vec::new();
    for (i, source) in (0..10).map(|i| (i, "fw-01")).chain([(10, "other")]) {
        let mut e = Event::new("log.unknown", Outcome::Success, "x");
        e.time_ms = 100 + i;
        e.attrs = serde_json::json!({ "source": { "name": source } });
        events.push(e);
    }
    let batch: Vec<(&Event, Option<i64>)> = events.iter().zip(0..).map(|(e, i)| (e, Some(i))).collect();
    store.append_events(&batch).await.expect("append");
    assert!(store.has_events_before("fw-01", 105).await.expect("has"));
    assert_eq!(store.export_positions(100, 200, Some("fw-01"), -1, 3).await.expect("export"), [0, 1, 2]);
    assert_eq!(store.export_positions(100, 200, None, 8, 100).await.expect("export"), [9, 10]);
    assert_eq!(store.prune_source_events("fw-01", 105).await.expect("prune"), 5);
    assert!(!store.has_events_before("fw-01", 105).await.expect("has"));
    assert_eq!(store.export_positions(0, 200, Some("fw-01"), -1, 100).await.expect("export"), [5, 6, 7, 8, 9]);
    assert_eq!(store.max_indexed_ledger_position().await.expect("max"), Some(10));
    // Even when the newest rows are pruned, re-indexing resumes after them.
    assert_eq!(store.prune_source_events("other", 1_000).await.expect("prune"), 1);
    assert_eq!(store.prune_source_events("fw-01", 1_000).await.expect("prune"), 5);
    assert_eq!(store.max_indexed_ledger_position().await.expect("max"), Some(10));
}

/// Just-in-time and lockbox requests: decided once and only before their
/// deadline (expired only after it); an approved just-in-time request and
/// its grant are stored together, and revoking it takes the grant; a
/// lockbox approval holds only inside its window, for its requester,
/// target and tenant; the transparency view joins each access with its
/// session's recording hash and the request's reason.
async fn bastion_access_requests_are_decided_once_and_lockbox_windows_hold(store: Store) {
    use rampart_store::access::{APPROVED, DENIED, EXPIRED, JIT, LOCKBOX, PENDING, REVOKED};
    use rampart_store::{AccessRequestRow, Decision, RequestFilter, SessionEnd, SessionRow};
    let bob = user(&store, "bob", Role::OperationsEngineer, None).await;
    let carol = user(&store, "carol", Role::OperationsEngineer, None).await;
    let acme = store.create_tenant("acme", 1_000).await.unwrap();
    let other = store.create_tenant("other", 1_000).await.unwrap();
    let target = TargetRow {
        id: Id::from_trusted("bt_1".to_owned()),
        name: "db".to_owned(),
        address: "10.0.0.5".to_owned(),
        port: 22,
        host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHost".to_owned(),
        login: "ops".to_owned(),
        credential_kind: "password".to_owned(),
        credential_sealed: vec![1, 2, 3],
        created_at: 1_000,
        labels: Vec::new(),
        lockbox_tenant: Some(acme.id.clone()),
    };
    store.insert_target(&target).await.unwrap();
    let request = |id: &str, kind: &str, who: &rampart_store::UserRow, expires_at: i64| AccessRequestRow {
        id: Id::from_trusted(id.to_owned()),
        kind: kind.to_owned(),
        requester_id: who.id.clone(),
        requester: who.username.clone(),
        target: Some("db".to_owned()),
        label: None,
        login: "ops".to_owned(),
        actions: if kind == JIT { "shell".to_owned() } else { String::new() },
        tenant_id: (kind == LOCKBOX).then(|| acme.id.clone()),
        reason_code: if kind == LOCKBOX { "incident".to_owned() } else { String::new() },
        reason: "disk full".to_owned(),
        duration_secs: 60,
        status: PENDING.to_owned(),
        decided_by: None,
        comment: String::new(),
        created_at: 1_000,
        expires_at,
        decided_at: None,
        valid_from: None,
        valid_until: None,
        grant_id: None,
    };
    for r in [
        request("rq_1", JIT, &bob, 10_000),
        request("rq_2", JIT, &bob, 10_000),
        request("rq_3", JIT, &carol, 2_000),
        request("lb_1", LOCKBOX, &bob, 10_000),
        request("lb_2", LOCKBOX, &bob, 10_000),
    ] {
        store.insert_access_request(&r).await.unwrap();
    }
    assert!(store.insert_access_request(&request("rq_1", JIT, &bob, 1)).await.is_err(), "ids are unique");
    assert!(matches!(store.find_access_request(LOCKBOX, "rq_1").await, Err(StoreError::NotFound)), "kinds apart");
    let mine = RequestFilter { kind: JIT, requester: Some(&bob.id), tenant: None, status: None };
    assert_eq!(store.list_access_requests(&mine, 10).await.unwrap().len(), 2);
    let acme_box = RequestFilter { kind: LOCKBOX, requester: None, tenant: Some(&acme.id), status: Some(PENDING) };
    assert_eq!(store.list_access_requests(&acme_box, 10).await.unwrap().len(), 2);
    let other_box = RequestFilter { kind: LOCKBOX, requester: None, tenant: Some(&other.id), status: None };
    assert!(store.list_access_requests(&other_box, 10).await.unwrap().is_empty());

    // Approval with its grant, in one step; decided once.
    let grant = GrantRow {
        id: Id::from_trusted("bg_1".to_owned()),
        user_id: Some(bob.id.clone()),
        group_id: None,
        target_id: Some(target.id.clone()),
        label: None,
        login: "ops".to_owned(),
        actions: "shell".to_owned(),
        not_before: 5_000,
        not_after: 65_000,
        created_by: "alice".to_owned(),
        created_at: 5_000,
        request_id: Some(Id::from_trusted("rq_1".to_owned())),
    };
    let approve =
        Decision { status: APPROVED, by: Some("alice"), comment: "ok", at: 5_000, window: Some((5_000, 65_000)) };
    let approved = store.decide_access_request("rq_1", &approve, Some(&grant)).await.unwrap();
    assert_eq!((approved.status.as_str(), approved.grant_id.as_ref().map(Id::as_str)), (APPROVED, Some("bg_1")));
    assert_eq!(store.grants_for(&bob.id, &target.id).await.unwrap().len(), 1);
    let deny = Decision { status: DENIED, by: Some("dave"), comment: "", at: 5_001, window: None };
    assert!(matches!(store.decide_access_request("rq_1", &deny, None).await, Err(StoreError::Conflict(_))));
    // A failed decision stores no grant: the same grant id again would clash.
    let again = GrantRow { id: Id::from_trusted("bg_2".to_owned()), ..grant.clone() };
    assert!(store.decide_access_request("rq_1", &approve, Some(&again)).await.is_err());
    assert_eq!(store.grants_for(&bob.id, &target.id).await.unwrap().len(), 1, "no second grant");
    store.decide_access_request("rq_2", &deny, None).await.unwrap();

    // Past its deadline a request cannot be approved, only expired; before it, not expired.
    assert!(matches!(store.decide_access_request("rq_3", &approve, None).await, Err(StoreError::Conflict(_))));
    let overdue = store.overdue_access_requests(JIT, 5_000).await.unwrap();
    assert_eq!(overdue.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["rq_3"]);
    let expire = Decision { status: EXPIRED, by: None, comment: "", at: 5_000, window: None };
    assert!(store.decide_access_request("lb_2", &expire, None).await.is_err(), "not before its deadline");
    assert_eq!(store.decide_access_request("rq_3", &expire, None).await.unwrap().status, EXPIRED);
    assert!(store.overdue_access_requests(JIT, 5_000).await.unwrap().is_empty());

    // Revoking takes the grant; only an approved request is revoked.
    let revoked = store.revoke_access_request("rq_1", "alice", 7_000).await.unwrap();
    assert_eq!((revoked.status.as_str(), revoked.valid_until), (REVOKED, Some(7_000)));
    assert!(store.grants_for(&bob.id, &target.id).await.unwrap().is_empty(), "the grant went with it");
    assert!(matches!(store.revoke_access_request("rq_1", "alice", 7_001).await, Err(StoreError::Conflict(_))));
    assert!(matches!(store.revoke_access_request("rq_2", "alice", 7_001).await, Err(StoreError::Conflict(_))));

    // A lockbox window holds for its requester, target and tenant only.
    let window = Decision { status: APPROVED, by: Some("cus"), comment: "", at: 5_000, window: Some((5_000, 8_000)) };
    store.decide_access_request("lb_1", &window, None).await.unwrap();
    let holds = |who: Id, target: &'static str, tenant: Id, at: i64| {
        let store = store.clone();
        async move { store.lockbox_approval(&who, target, &tenant, at).await.unwrap().map(|r| r.id.to_string()) }
    };
    assert_eq!(holds(bob.id.clone(), "db", acme.id.clone(), 5_000).await.as_deref(), Some("lb_1"));
    assert_eq!(holds(bob.id.clone(), "db", acme.id.clone(), 7_999).await.as_deref(), Some("lb_1"));
    assert_eq!(holds(bob.id.clone(), "db", acme.id.clone(), 8_000).await, None, "the window's end is exclusive");
    assert_eq!(holds(bob.id.clone(), "db", acme.id.clone(), 4_999).await, None);
    assert_eq!(holds(carol.id.clone(), "db", acme.id.clone(), 6_000).await, None, "another requester");
    assert_eq!(holds(bob.id.clone(), "db", other.id.clone(), 6_000).await, None, "another tenant's target");
    assert_eq!(holds(bob.id.clone(), "db-2", acme.id.clone(), 6_000).await, None);

    // The transparency view: the access, its session's end and hash, the reason.
    store
        .insert_lockbox_access("ses_1", &acme.id, &Id::from_trusted("lb_1".to_owned()), "bob", "db", 6_000)
        .await
        .unwrap();
    assert!(
        store
            .insert_lockbox_access("ses_1", &acme.id, &Id::from_trusted("lb_1".to_owned()), "bob", "db", 6_000)
            .await
            .is_err()
    );
    let session = SessionRow {
        id: "ses_1".into(),
        connection_id: "con_1".into(),
        user_id: bob.id.to_string(),
        username: "bob".into(),
        target: "db".into(),
        action: "shell".into(),
        login: "ops".into(),
        command: None,
        recording: Some("/data/recordings/ses_1.cast".into()),
        started_at: 6_000,
        ended_at: None,
        outcome: None,
        reason: None,
        recording_sha256: None,
        recording_bytes: None,
        terminate_by: None,
        terminate_at: None,
        recording_expired_at: None,
    };
    store.insert_bastion_session(&session).await.unwrap();
    let running = store.list_lockbox_accesses(Some(&acme.id), 10).await.unwrap();
    assert_eq!((running.len(), running[0].ended_at), (1, None));
    let end = SessionEnd {
        outcome: "denied".into(),
        reason: Some("grant_ended".into()),
        recording_sha256: Some("cd".repeat(32)),
        recording_bytes: Some(4321),
    };
    store.end_bastion_session("ses_1", &end, 8_000).await.unwrap();
    let seen = store.list_lockbox_accesses(Some(&acme.id), 10).await.unwrap();
    let a = &seen[0];
    assert_eq!(
        (a.username.as_str(), a.reason.as_str(), a.reason_code.as_str(), a.approved_by.as_deref()),
        ("bob", "disk full", "incident", Some("cus"))
    );
    assert_eq!(
        (a.recording_sha256.clone(), a.recording_bytes, a.ended_at),
        (Some("cd".repeat(32)), Some(4321), Some(8_000))
    );
    assert!(store.list_lockbox_accesses(Some(&other.id), 10).await.unwrap().is_empty(), "another tenant sees nothing");
    // Retention removes the recording, not the customer's view of its hash.
    store.mark_recording_expired("ses_1", 9_000).await.unwrap();
    let after = store.list_lockbox_accesses(Some(&acme.id), 10).await.unwrap();
    assert_eq!(after[0].recording_sha256, Some("cd".repeat(32)), "the transparency view keeps the hash");

    // Labels marked as holding a tenant's data: set, replaced, removed.
    store.set_lockbox_label("pci", &acme.id, "alice", 1_000).await.unwrap();
    store.set_lockbox_label("env=prod", &acme.id, "alice", 1_000).await.unwrap();
    store.set_lockbox_label("pci", &other.id, "alice", 2_000).await.unwrap();
    let marks = store.list_lockbox_labels().await.unwrap();
    assert_eq!(marks, vec![("env=prod".to_owned(), acme.id.clone()), ("pci".to_owned(), other.id.clone())]);
    store.delete_lockbox_label("pci").await.unwrap();
    assert!(matches!(store.delete_lockbox_label("pci").await, Err(StoreError::NotFound)));
    assert!(
        store.set_lockbox_label("x", &Id::from_trusted("tnt_none".to_owned()), "alice", 1).await.is_err(),
        "a tenant"
    );
    assert_eq!(store.list_lockbox_accesses(None, 10).await.unwrap().len(), 1);
}

/// What a stored record's head decides (`Matcher::decide`, which lets a
/// search skip parsing most events' attributes) is what the whole event
/// gives, for every query of the oracle corpus on both backends' rules, in
/// records of both layouts; and the head decides every event for queries
/// on columns and free text alone (else the shortcut would be dead code).
#[test]
fn a_records_head_decides_as_the_whole_event_does() {
    use rampart_ingest::query::parse;
    use rampart_store::Backend;
    use rampart_store::logblock::{Body, StoredChunk, encode, legacy_body, v2_chunks};
    use rampart_store::logmatch::{Candidate, Matcher};

    let now = rampart_core::time::now_ms();
    let events = search_corpus(now);
    let texts = attrs_texts(&events);
    let input = block_inputs(&events, &texts);
    let head_only =
        ["host:web01", "kind:log.* AND NOT source:db*", "\"root\" OR actor:x", "outcome:failure", "index:>3"];
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let block = encode(&input, backend).expect("encode");
        let legacy = legacy_body(&input, block.first_index, block.min_time_ms);
        let rows = |heads_only: bool| -> Vec<StoredChunk> {
            block
                .chunks
                .iter()
                .zip(&block.chunk_attrs)
                .enumerate()
                .map(|(i, (c, a))| {
                    StoredChunk::from_row(i, c.clone(), (!heads_only).then(|| a.clone())).expect("chunk")
                })
                .collect()
        };
        let (current, heads_only) = (rows(false), rows(true));
        let v2: Vec<StoredChunk> = v2_chunks(&input, block.first_index, block.min_time_ms)
            .into_iter()
            .enumerate()
            .map(|(i, c)| StoredChunk::from_row(i, c, None).expect("v2 chunk"))
            .collect();
        let old = Body::parse(&legacy).expect("legacy body").chunks(u32::MAX);
        for (layout, chunks) in [("current", &current), ("heads", &heads_only), ("v2", &v2), ("legacy", &old)] {
            let records: Vec<_> =
                chunks.iter().map(|c| c.decode(block.first_index, block.min_time_ms).expect("decode")).collect();
            let heads: Vec<_> = records.iter().flat_map(|r| r.heads().expect("heads")).collect();
            assert_eq!(heads.len(), events.len());
            let mut decided = 0usize;
            for q in search_queries().iter().map(String::as_str).chain(head_only) {
                let query = parse(q, now).unwrap_or_else(|e| panic!("{q}: {e}"));
                let matcher = Matcher::new(query.filter.as_ref(), backend);
                for (h, (e, text)) in heads.iter().zip(events.iter().zip(&texts)) {
                    let whole =
                        matcher.matches(&Candidate { event: e, ledger_index: Some(h.ledger_index), attrs_json: text });
                    match matcher.decide(h) {
                        Some(d) => {
                            decided += 1;
                            assert_eq!(d, whole, "{backend:?} {layout}: {q} on event {}", h.ledger_index);
                        }
                        None if layout == "current" && head_only.contains(&q) => {
                            panic!("{backend:?}: the head of event {} left {q} open", h.ledger_index)
                        }
                        // What a walk that reads heads only relies on.
                        None if layout != "legacy" && !matcher.reads_attrs() => {
                            panic!("{backend:?} {layout}: {q} reads no attribute, yet event {} is open", h.ledger_index)
                        }
                        None => {}
                    }
                }
            }
            let least = if layout == "heads" { events.len() } else { events.len() * head_only.len() };
            assert!(decided > least, "{backend:?} {layout}: decided {decided}");
        }
    }
}

/// The attributes' JSON text of each event, as the ledger entry holds it.
fn attrs_texts(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| serde_json::to_string(&e.attrs).expect("json")).collect()
}

/// The events as a block takes them, at ledger positions 0, 1, 2, …
fn block_inputs<'a>(events: &'a [Event], texts: &'a [String]) -> Vec<rampart_store::logblock::BlockEvent<'a>> {
    events
        .iter()
        .zip(texts)
        .zip(0..)
        .map(|((event, attrs_json), i)| rampart_store::logblock::BlockEvent { event, ledger_index: i, attrs_json })
        .collect()
}

/// A search for query `q` (relative times from `now`) over all time, first
/// page of `limit`.
fn log_search(q: &str, now: i64, limit: usize) -> rampart_store::LogSearch {
    rampart_store::LogSearch {
        query: rampart_ingest::query::parse(q, now).unwrap_or_else(|e| panic!("{q}: {e}")),
        since_ms: None,
        until_ms: None,
        before: None,
        limit,
    }
}
