//! The keystores through the public API only. Software: round trips, every
//! way wrapped material can be wrong (another row, another root key, any
//! flipped bit, any truncation) refused, the key file created 0600 and
//! refused when others can read it, and Shamir shares (any K of N rebuild
//! the same root key, K-1 do not, a mistyped share is caught). The unwrap
//! cache: its bound, least-recently-used eviction, TTL expiry on an injected
//! clock, and its counters. PKCS#11 on SoftHSM2: the root key generated in a
//! fresh token, round trips, tampering refused, both ways of extracting the
//! key refused, a second keystore finding the same key by label, recovery
//! after a logout, and a destroyed key staying gone.
//!
//! Each PKCS#11 case runs in a child process of this test binary, with
//! `SOFTHSM2_CONF` pointing at a token directory of its own: SoftHSM2 reads
//! that variable once per process, and setting it in this process would
//! race with the other tests. Without SoftHSM2 the cases print a loud
//! `*** SKIPPED` line and pass, unless `RAMPART_REQUIRE_TOOLS` is set.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::object::{Attribute, AttributeInfo, AttributeType, KeyType, ObjectClass};
use cryptoki::session::UserType;
use rampart_kms::blob::MaterialKey;
use rampart_kms::keystore::pkcs11::{DEFAULT_KEY_LABEL, DEFAULT_MODULE};
use rampart_kms::keystore::{
    Attempt, CacheStats, Keystore, KeystoreError, Pkcs11Config, Pkcs11Keystore, SoftwareKeystore, UnwrapCache,
};
use rampart_kms::{KeyId, MaterialId};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

const AAD: &[u8] = b"tenant-1/1234abcd-12ab-34cd-56ef-1234567890ab/1";

fn material(byte: u8) -> MaterialKey {
    MaterialKey::from_bytes(Zeroizing::new([byte; 32]))
}

/// Checks that `keystore` refuses every altered or cut copy of `wrapped`.
fn assert_every_change_refused(keystore: &dyn Keystore, wrapped: &[u8]) {
    assert!(keystore.unwrap(wrapped, AAD).is_ok(), "the original must unwrap");
    assert_eq!(keystore.unwrap(wrapped, b"tenant-1/another-key/1").err(), Some(KeystoreError::Unwrap));
    assert_eq!(keystore.unwrap(wrapped, b"").err(), Some(KeystoreError::Unwrap));
    for bit in 0..wrapped.len() * 8 {
        let mut bad = wrapped.to_vec();
        bad[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(keystore.unwrap(&bad, AAD).err(), Some(KeystoreError::Unwrap), "bit {bit}");
    }
    for len in 0..wrapped.len() {
        assert_eq!(keystore.unwrap(&wrapped[..len], AAD).err(), Some(KeystoreError::Unwrap), "length {len}");
    }
    let mut longer = wrapped.to_vec();
    longer.push(0);
    assert_eq!(keystore.unwrap(&longer, AAD).err(), Some(KeystoreError::Unwrap));
}

/// Wrapping with one keystore and unwrapping with the other works both ways.
fn assert_same_root(a: &dyn Keystore, b: &dyn Keystore) {
    let from_a = a.wrap(&material(0x51), AAD).unwrap();
    let from_b = b.wrap(&material(0x52), AAD).unwrap();
    assert_eq!(b.unwrap_secret(&from_a, AAD).unwrap().as_slice(), &[0x51; 32]);
    assert_eq!(a.unwrap_secret(&from_b, AAD).unwrap().as_slice(), &[0x52; 32]);
}

// ---------------------------------------------------------------- software

#[test]
fn software_material_round_trips_and_every_change_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let keystore = SoftwareKeystore::from_key_file(&dir.path().join("root.key"), true).unwrap();
    assert_eq!(keystore.name(), "software");
    let wrapped = keystore.wrap(&material(7), AAD).unwrap();
    assert_eq!(keystore.unwrap_secret(&wrapped, AAD).unwrap().as_slice(), &[7; 32]);
    assert!(!wrapped.windows(32).any(|w| w == [7; 32]), "the wrapped form must not contain the material");
    assert_every_change_refused(&keystore, &wrapped);

    let secret = b"a PKCS#8 private key of some other length".as_slice();
    let wrapped_secret = keystore.wrap_secret(secret, AAD).unwrap();
    assert_eq!(keystore.unwrap_secret(&wrapped_secret, AAD).unwrap().as_slice(), secret);
    assert_eq!(keystore.unwrap(&wrapped_secret, AAD).err(), Some(KeystoreError::Unwrap), "not 32 bytes");
}

#[test]
fn software_material_from_another_root_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = SoftwareKeystore::from_key_file(&dir.path().join("a.key"), true).unwrap();
    let b = SoftwareKeystore::from_key_file(&dir.path().join("b.key"), true).unwrap();
    let wrapped = a.wrap(&material(1), AAD).unwrap();
    assert_eq!(b.unwrap(&wrapped, AAD).err(), Some(KeystoreError::Unwrap));
    assert_ne!(a.fingerprint(), b.fingerprint());
}

#[cfg(unix)]
#[test]
fn software_key_file_is_created_0600_reused_and_refused_when_readable_by_others() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("root.key");
    let created = SoftwareKeystore::from_key_file(&path, true).unwrap();
    assert_eq!(created.key_file(), Some(path.as_path()));
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), 32);

    // Opening again, with or without creation, finds the same key.
    let wrapped = created.wrap(&material(3), AAD).unwrap();
    for create in [true, false] {
        let reopened = SoftwareKeystore::from_key_file(&path, create).unwrap();
        assert_eq!(reopened.fingerprint(), created.fingerprint());
        assert_eq!(reopened.unwrap_secret(&wrapped, AAD).unwrap().as_slice(), &[3; 32]);
    }

    for mode in [0o644, 0o640, 0o604] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        match SoftwareKeystore::from_key_file(&path, false) {
            Err(KeystoreError::Config(msg)) => assert!(msg.contains("chmod 600"), "{msg}"),
            other => panic!("mode {mode:o} must be refused, got {other:?}"),
        }
        assert!(SoftwareKeystore::from_key_file(&path, true).is_err(), "creation must not bypass the check");
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(SoftwareKeystore::from_key_file(&path, false).is_ok());

    let short = dir.path().join("short.key");
    std::fs::write(&short, [0u8; 31]).unwrap();
    std::fs::set_permissions(&short, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(matches!(SoftwareKeystore::from_key_file(&short, false), Err(KeystoreError::Config(_))));

    let missing = dir.path().join("missing.key");
    assert!(matches!(SoftwareKeystore::from_key_file(&missing, false), Err(KeystoreError::Unavailable(_))));
    assert!(!missing.exists(), "nothing is created unless asked");
}

#[test]
fn software_debug_and_errors_show_no_key_material() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("root.key");
    let keystore = SoftwareKeystore::from_key_file(&path, true).unwrap();
    let root = std::fs::read(&path).unwrap();
    let debug = format!("{keystore:?}");
    assert!(debug.contains("REDACTED"), "{debug}");
    let hex = data_encoding::HEXLOWER.encode(&root);
    assert!(!debug.to_lowercase().contains(&hex[..16]), "{debug}");
    assert!(!debug.contains(&format!("{:?}", &root[..4])), "{debug}");
    let shares = keystore.split(2, 3).unwrap();
    for share in &shares {
        assert!(!format!("{share:?}").contains("rampart-share"), "a share must not show in Debug");
    }
}

fn three_of_five() -> (SoftwareKeystore, Vec<SecretString>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let keystore = SoftwareKeystore::from_key_file(&dir.path().join("root.key"), true).unwrap();
    let shares = keystore.split(3, 5).unwrap();
    assert_eq!(shares.len(), 5);
    (keystore, shares, dir)
}

/// `SecretString` is deliberately not `Clone`; tests copy shares by hand.
fn copy(share: &SecretString) -> SecretString {
    SecretString::from(share.expose_secret().to_owned())
}

fn pick(shares: &[SecretString], indexes: &[usize]) -> Vec<SecretString> {
    indexes.iter().map(|&i| copy(&shares[i])).collect()
}

#[test]
fn shares_any_k_of_n_rebuild_the_same_root_key() {
    let (keystore, shares, _dir) = three_of_five();
    let mut subsets = 0;
    for a in 0..5 {
        for b in a + 1..5 {
            for c in b + 1..5 {
                let rebuilt = SoftwareKeystore::from_shares(&pick(&shares, &[c, a, b])).unwrap();
                assert_eq!(rebuilt.fingerprint(), keystore.fingerprint());
                assert_eq!(rebuilt.key_file(), None);
                assert_same_root(&keystore, &rebuilt);
                subsets += 1;
            }
        }
    }
    assert_eq!(subsets, 10);
    for indexes in [&[0, 1, 2, 3][..], &[4, 3, 2, 1, 0]] {
        let rebuilt = SoftwareKeystore::from_shares(&pick(&shares, indexes)).unwrap();
        assert_same_root(&keystore, &rebuilt);
    }
    // People type shares in lower case and with stray spaces.
    let typed: Vec<SecretString> =
        shares[..3].iter().map(|s| SecretString::from(format!("  {}\n", s.expose_secret().to_lowercase()))).collect();
    assert_same_root(&keystore, &SoftwareKeystore::from_shares(&typed).unwrap());
    // A split of a split: shares of a keystore rebuilt from shares rebuild it too.
    let rebuilt = SoftwareKeystore::from_shares(&pick(&shares, &[0, 2, 4])).unwrap();
    let again = SoftwareKeystore::from_shares(&rebuilt.split(2, 2).unwrap()).unwrap();
    assert_same_root(&keystore, &again);
}

#[test]
fn shares_fewer_than_k_are_refused() {
    let (_keystore, shares, _dir) = three_of_five();
    for indexes in [&[0, 1][..], &[3, 4], &[2], &[]] {
        match SoftwareKeystore::from_shares(&pick(&shares, indexes)) {
            Err(KeystoreError::Config(msg)) => assert!(!msg.contains("rampart-share-1-"), "{msg}"),
            other => panic!("{indexes:?} must be refused, got {other:?}"),
        }
    }
    // The same share twice is not two shares.
    assert!(matches!(SoftwareKeystore::from_shares(&pick(&shares, &[0, 1, 1])), Err(KeystoreError::Config(_))));
}

#[test]
fn shares_a_corrupted_or_mistyped_share_is_detected() {
    let (_keystore, shares, _dir) = three_of_five();
    let good = shares[1].expose_secret().to_owned();
    let prefix_len = "rampart-share-1-2-".len();
    assert!(good.starts_with("rampart-share-1-2-"), "{good}");
    // Every single-character typo in the encoded part is caught by the checksum.
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    for at in prefix_len..good.len() {
        let original = good.as_bytes()[at] as char;
        let replacement = alphabet.chars().find(|&c| c != original).unwrap();
        let mut typo = good.clone();
        typo.replace_range(at..=at, &replacement.to_string());
        let set = vec![copy(&shares[0]), SecretString::from(typo), copy(&shares[2])];
        match SoftwareKeystore::from_shares(&set) {
            Err(KeystoreError::Config(msg)) => assert!(msg.contains("share 2"), "position {at}: {msg}"),
            other => panic!("a typo at {at} must be caught, got {other:?}"),
        }
    }
    // A wrong index, a dropped or added character, another prefix: all refused.
    let variants = [
        good.replacen("rampart-share-1-2-", "rampart-share-1-4-", 1),
        good[..good.len() - 1].to_owned(),
        format!("{good}A"),
        good.replacen("rampart-share-1-", "rampart-share-2-", 1),
        good.replacen("-2-", "-0-", 1),
        "not a share".to_owned(),
    ];
    for variant in variants {
        let set = vec![SecretString::from(variant.clone()), copy(&shares[0]), copy(&shares[2])];
        assert!(matches!(SoftwareKeystore::from_shares(&set), Err(KeystoreError::Config(_))), "{variant}");
    }
}

#[test]
fn shares_of_different_root_keys_or_splits_do_not_mix() {
    let (keystore, shares, _dir) = three_of_five();
    let other = SoftwareKeystore::generate().unwrap().split(3, 5).unwrap();
    let mixed = vec![copy(&shares[0]), copy(&shares[1]), copy(&other[2])];
    assert!(matches!(SoftwareKeystore::from_shares(&mixed), Err(KeystoreError::Config(_))));
    // A second split of the same root key has the same fingerprint but
    // another polynomial; mixing the two splits must not yield a wrong key.
    let resplit = keystore.split(3, 5).unwrap();
    let mixed = vec![copy(&shares[0]), copy(&shares[1]), copy(&resplit[2])];
    assert!(matches!(SoftwareKeystore::from_shares(&mixed), Err(KeystoreError::Config(_))));
}

#[test]
fn shares_split_parameters_are_checked() {
    let keystore = SoftwareKeystore::generate().unwrap();
    for (k, n) in [(1, 3), (0, 3), (4, 3), (2, 1), (0, 0)] {
        assert!(matches!(keystore.split(k, n), Err(KeystoreError::Config(_))), "{k} of {n}");
    }
    let most = keystore.split(2, 255).unwrap();
    assert_eq!(most.len(), 255);
    assert!(most[254].expose_secret().starts_with("rampart-share-1-255-"));
    assert_same_root(&keystore, &SoftwareKeystore::from_shares(&pick(&most, &[254, 0])).unwrap());
}

// ------------------------------------------------------------------- cache

fn key(byte: u8) -> KeyId {
    KeyId::from_bytes([byte; 16])
}

/// A clock that moves only when told to.
fn manual_clock() -> (Arc<Mutex<Instant>>, Arc<dyn Fn() -> Instant + Send + Sync>) {
    let now = Arc::new(Mutex::new(Instant::now()));
    let reader = Arc::clone(&now);
    (now, Arc::new(move || *reader.lock().unwrap()))
}

#[test]
fn cache_is_bounded_and_evicts_the_least_recently_used() {
    let (_now, clock) = manual_clock();
    let cache = UnwrapCache::with_clock(3, Duration::from_secs(60), clock);
    for byte in 1..=3 {
        cache.insert(key(byte), MaterialId::new(1), Arc::new(material(byte)));
    }
    assert_eq!(cache.len(), 3);
    // Using key 1 makes key 2 the least recently used.
    assert!(cache.get(key(1), MaterialId::new(1)).is_some());
    cache.insert(key(4), MaterialId::new(1), Arc::new(material(4)));
    assert_eq!(cache.len(), 3);
    assert!(cache.get(key(2), MaterialId::new(1)).is_none(), "key 2 was evicted");
    for byte in [1, 3, 4] {
        assert!(cache.get(key(byte), MaterialId::new(1)).is_some(), "key {byte} stays");
    }
    // Re-inserting an existing entry replaces it without evicting anything.
    cache.insert(key(4), MaterialId::new(1), Arc::new(material(4)));
    assert_eq!(cache.len(), 3);
    for byte in 10..20 {
        cache.insert(key(byte), MaterialId::new(1), Arc::new(material(byte)));
        assert!(cache.len() <= 3);
    }
    assert_eq!(cache.stats(), CacheStats { hits: 4, misses: 1, evictions: 11, expirations: 0 });
}

#[test]
fn cache_entries_expire_after_the_ttl() {
    let (now, clock) = manual_clock();
    let cache = UnwrapCache::with_clock(10, Duration::from_secs(30), clock);
    cache.insert(key(1), MaterialId::new(1), Arc::new(material(1)));
    *now.lock().unwrap() += Duration::from_secs(20);
    cache.insert(key(2), MaterialId::new(1), Arc::new(material(2)));
    assert!(cache.get(key(1), MaterialId::new(1)).is_some());
    // Use does not extend the lifetime: expiry counts from insertion.
    *now.lock().unwrap() += Duration::from_secs(10);
    assert!(cache.get(key(1), MaterialId::new(1)).is_none(), "expired at 30 s");
    assert!(cache.get(key(2), MaterialId::new(1)).is_some(), "10 s left");
    *now.lock().unwrap() += Duration::from_secs(20);
    assert!(cache.get(key(2), MaterialId::new(1)).is_none());
    assert!(cache.is_empty());
    assert_eq!(cache.stats(), CacheStats { hits: 2, misses: 2, evictions: 0, expirations: 2 });
}

#[test]
fn cache_full_of_expired_entries_drops_them_before_evicting_live_ones() {
    let (now, clock) = manual_clock();
    let cache = UnwrapCache::with_clock(2, Duration::from_secs(5), clock);
    cache.insert(key(1), MaterialId::new(1), Arc::new(material(1)));
    *now.lock().unwrap() += Duration::from_secs(3);
    cache.insert(key(2), MaterialId::new(1), Arc::new(material(2)));
    *now.lock().unwrap() += Duration::from_secs(3);
    // Key 1 has expired and key 2 has not: key 1 makes room.
    cache.insert(key(3), MaterialId::new(1), Arc::new(material(3)));
    assert!(cache.get(key(2), MaterialId::new(1)).is_some());
    assert_eq!(cache.stats().expirations, 1);
    assert_eq!(cache.stats().evictions, 0);
}

#[test]
fn cache_remove_clear_and_get_or_unwrap() {
    let cache = UnwrapCache::new(8, Duration::from_secs(60));
    let calls = std::cell::Cell::new(0);
    let unwrap = || {
        calls.set(calls.get() + 1);
        Ok(material(9))
    };
    for _ in 0..3 {
        cache.get_or_unwrap(key(1), MaterialId::new(1), unwrap).unwrap();
    }
    assert_eq!(calls.get(), 1, "unwrapped once, then served from the cache");
    let failed = cache.get_or_unwrap(key(1), MaterialId::new(2), || Err(KeystoreError::Unwrap));
    assert_eq!(failed.err(), Some(KeystoreError::Unwrap));
    assert_eq!(cache.len(), 1, "failures are not cached");

    cache.insert(key(1), MaterialId::new(2), Arc::new(material(2)));
    cache.insert(key(2), MaterialId::new(1), Arc::new(material(3)));
    assert!(cache.remove(key(2), MaterialId::new(1)));
    assert!(!cache.remove(key(2), MaterialId::new(1)));
    assert_eq!(cache.remove_key(key(1)), 2);
    assert!(cache.is_empty());
    cache.insert(key(3), MaterialId::new(1), Arc::new(material(3)));
    cache.clear();
    assert!(cache.get(key(3), MaterialId::new(1)).is_none());
    assert!(!format!("{cache:?}").contains("[9, 9"), "Debug shows counters only");

    let off = UnwrapCache::new(0, Duration::from_secs(60));
    off.insert(key(1), MaterialId::new(1), Arc::new(material(1)));
    assert!(off.is_empty(), "a capacity of zero caches nothing");
}

// ----------------------------------------------------------------- PKCS#11

const CHILD_ENV: &str = "RAMPART_TEST_PKCS11_CASE";
const TOKEN: &str = "rampart-test";
const SO_PIN: &str = "so-pin-4321";
const USER_PIN: &str = "user-pin-1234";

/// Runs `body` in a child process with its own SoftHSM2 token directory,
/// or skips loudly when SoftHSM2 is not installed.
fn pkcs11_case(name: &str, body: fn()) {
    match std::env::var(CHILD_ENV) {
        Ok(case) if case == name => return body(),
        Ok(_) => return,
        Err(_) => {}
    }
    if !Path::new(DEFAULT_MODULE).exists() {
        let message = format!("{DEFAULT_MODULE} is missing (apt-get install softhsm2)");
        if std::env::var_os("RAMPART_REQUIRE_TOOLS").is_some() {
            panic!("RAMPART_REQUIRE_TOOLS is set and {message}");
        }
        // Written to stderr directly, which the test harness does not
        // capture, so the skip shows in a passing run.
        let _ = writeln!(std::io::stderr(), "*** SKIPPED: {name}: {message}");
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
    let output = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("SOFTHSM2_CONF", &conf)
        .env(CHILD_ENV, name)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{name} failed in its child process:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{name} did not run in its child process:\n{stdout}\n{stderr}");
}

fn pin(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

/// Initialises the free SoftHSM2 slot as token `TOKEN` with a user PIN, and
/// returns the test's own PKCS#11 context (kept for inspecting the token).
fn init_token() -> Pkcs11 {
    let ctx = Pkcs11::new(DEFAULT_MODULE).unwrap();
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).unwrap();
    let free = ctx
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|slot| !ctx.get_token_info(*slot).unwrap().token_initialized())
        .expect("SoftHSM2 offers a free slot");
    ctx.init_token(free, &pin(SO_PIN), TOKEN).unwrap();
    let session = ctx.open_rw_session(token_slot(&ctx)).unwrap();
    session.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    session.init_pin(&pin(USER_PIN)).unwrap();
    session.logout().unwrap();
    ctx
}

/// SoftHSM2 moves a token to a new slot when it is initialised, so the
/// slot is found by label.
fn token_slot(ctx: &Pkcs11) -> cryptoki::slot::Slot {
    ctx.get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|slot| ctx.get_token_info(*slot).unwrap().label() == TOKEN)
        .unwrap()
}

fn config(create: bool) -> Pkcs11Config {
    Pkcs11Config { create_key_if_missing: create, ..Pkcs11Config::new(TOKEN, pin(USER_PIN)) }
}

#[test]
fn pkcs11_round_trip_and_tampering_refused() {
    pkcs11_case("pkcs11_round_trip_and_tampering_refused", || {
        let _ctx = init_token();
        assert!(matches!(Pkcs11Keystore::open(config(false)), Err(KeystoreError::Config(_))), "no key yet");
        let keystore = Pkcs11Keystore::open(config(true)).unwrap();
        assert_eq!(keystore.name(), "pkcs11");
        let debug = format!("{keystore:?}");
        assert!(!debug.contains(USER_PIN), "{debug}");

        let wrapped = keystore.wrap(&material(0x42), AAD).unwrap();
        assert_eq!(wrapped.len(), 1 + 12 + 32 + 16);
        assert_eq!(wrapped[0], 1, "format version");
        assert!(!wrapped.windows(32).any(|w| w == [0x42; 32]));
        assert_eq!(keystore.unwrap_secret(&wrapped, AAD).unwrap().as_slice(), &[0x42; 32]);
        let again = keystore.wrap(&material(0x42), AAD).unwrap();
        assert_ne!(wrapped[1..13], again[1..13], "a fresh IV per wrap");
        assert_every_change_refused(&keystore, &wrapped);

        let secret = vec![0x17; 1200];
        let wrapped_secret = keystore.wrap_secret(&secret, AAD).unwrap();
        assert_eq!(keystore.unwrap_secret(&wrapped_secret, AAD).unwrap().as_slice(), secret.as_slice());

        // A software keystore cannot read what the HSM wrapped, nor the reverse.
        let software = SoftwareKeystore::generate().unwrap();
        assert_eq!(software.unwrap(&wrapped, AAD).err(), Some(KeystoreError::Unwrap));
        let soft_wrapped = software.wrap(&material(1), AAD).unwrap();
        assert_eq!(keystore.unwrap(&soft_wrapped, AAD).err(), Some(KeystoreError::Unwrap));

        // One session behind a mutex serves many threads.
        let keystore = Arc::new(keystore);
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                let keystore = Arc::clone(&keystore);
                std::thread::spawn(move || {
                    for i in 0..25u8 {
                        let aad = [t, i];
                        let wrapped = keystore.wrap(&material(t ^ i), &aad).unwrap();
                        assert_eq!(keystore.unwrap_secret(&wrapped, &aad).unwrap().as_slice(), &[t ^ i; 32]);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }

        // Through the cache, the HSM is asked once.
        let cache = UnwrapCache::new(4, Duration::from_secs(60));
        for _ in 0..3 {
            cache
                .get_or_unwrap(KeyId::from_bytes([1; 16]), MaterialId::new(1), || keystore.unwrap(&wrapped, AAD))
                .unwrap();
        }
        assert_eq!(cache.stats().misses, 1);
        assert_eq!(cache.stats().hits, 2);
    });
}

#[test]
fn pkcs11_root_key_cannot_leave_the_token() {
    pkcs11_case("pkcs11_root_key_cannot_leave_the_token", || {
        let ctx = init_token();
        let keystore = Pkcs11Keystore::open(config(true)).unwrap();
        let report = keystore.extraction_attempts().unwrap();
        assert_eq!(report.read_value, Attempt::Refused("AttributeSensitive".into()), "{report:?}");
        assert_eq!(report.wrap_out, Attempt::Refused("KeyUnextractable".into()), "{report:?}");
        assert!(report.sensitive && !report.extractable, "{report:?}");
        assert!(report.always_sensitive && report.never_extractable, "generated inside, never out: {report:?}");
        assert!(report.key_stays_inside());

        // The same attempts made directly, not through the keystore's report.
        let session = ctx.open_rw_session(token_slot(&ctx)).unwrap();
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Label(DEFAULT_KEY_LABEL.as_bytes().to_vec()),
        ];
        let found = session.find_objects(&template).unwrap();
        assert_eq!(found.len(), 1, "one root key, found by label (the keystore's login is the application's)");
        let root = found[0];
        let info = session.get_attribute_info(root, &[AttributeType::Value]).unwrap();
        assert!(matches!(info[0], AttributeInfo::Sensitive), "{info:?}");
        let values = session.get_attributes(root, &[AttributeType::Value]).unwrap();
        assert!(values.iter().all(|a| !matches!(a, Attribute::Value(_))), "CKA_VALUE must not be returned");
        let outer = session
            .generate_key(
                &cryptoki::mechanism::Mechanism::AesKeyGen,
                &[Attribute::Token(false), Attribute::Wrap(true), Attribute::ValueLen(32.into())],
            )
            .unwrap();
        for mechanism in [cryptoki::mechanism::Mechanism::AesKeyWrap, cryptoki::mechanism::Mechanism::AesKeyWrapPad] {
            match session.wrap_key(&mechanism, outer, root) {
                Err(cryptoki::error::Error::Pkcs11(rv, _)) => {
                    assert_eq!(rv, cryptoki::error::RvError::KeyUnextractable)
                }
                other => panic!("C_WrapKey must be refused, got {other:?}"),
            }
        }
    });
}

#[test]
fn pkcs11_second_keystore_finds_the_same_key_and_survives_a_logout() {
    pkcs11_case("pkcs11_second_keystore_finds_the_same_key_and_survives_a_logout", || {
        let ctx = init_token();
        let first = Pkcs11Keystore::open(config(true)).unwrap();
        let wrapped = first.wrap(&material(0x33), AAD).unwrap();

        // While the first is open, the application is already logged in.
        let second = Pkcs11Keystore::open(config(false)).unwrap();
        assert_same_root(&first, &second);
        assert_eq!(second.unwrap_secret(&wrapped, AAD).unwrap().as_slice(), &[0x33; 32]);
        drop(first);
        drop(second);

        // With every session closed, the token logs out; a wrong PIN is
        // refused and the right one logs in again.
        let wrong = Pkcs11Config { pin: pin("not-the-pin"), ..config(false) };
        match Pkcs11Keystore::open(wrong) {
            Err(KeystoreError::Config(msg)) => assert!(!msg.contains("not-the-pin"), "{msg}"),
            other => panic!("a wrong PIN must be refused, got {other:?}"),
        }
        let third = Pkcs11Keystore::open(config(false)).unwrap();
        assert_eq!(third.unwrap_secret(&wrapped, AAD).unwrap().as_slice(), &[0x33; 32]);

        // Someone logs the application out: the keystore logs in again and
        // retries instead of failing.
        let other = ctx.open_rw_session(token_slot(&ctx)).unwrap();
        other.logout().unwrap();
        assert_eq!(third.unwrap_secret(&wrapped, AAD).unwrap().as_slice(), &[0x33; 32]);

        let unknown_token = Pkcs11Config { token_label: "no-such-token".into(), ..config(false) };
        assert!(matches!(Pkcs11Keystore::open(unknown_token), Err(KeystoreError::Config(_))));
        let unknown_key = Pkcs11Config { key_label: "no-such-key".into(), ..config(false) };
        assert!(matches!(Pkcs11Keystore::open(unknown_key), Err(KeystoreError::Config(_))));
        let no_module = Pkcs11Config { module: "/nonexistent/libpkcs11.so".into(), ..config(false) };
        assert!(matches!(Pkcs11Keystore::open(no_module), Err(KeystoreError::Unavailable(_))));

        // A destroyed root key is gone: nothing finds it, and creating a new
        // one does not bring back what the old one wrapped.
        third.destroy_root_key().unwrap();
        assert!(matches!(Pkcs11Keystore::open(config(false)), Err(KeystoreError::Config(_))));
        let fresh = Pkcs11Keystore::open(config(true)).unwrap();
        assert_eq!(fresh.unwrap(&wrapped, AAD).err(), Some(KeystoreError::Unwrap));
    });
}

/// Keys resident in the HSM: generated there as sensitive, non-extractable
/// derive-only keys; sealing and opening happen inside the token under a
/// call key derived per salt; every wrong input is refused; the key itself
/// cannot encrypt, be read or be wrapped out; destroyed means gone.
#[test]
fn pkcs11_resident_keys_are_generated_used_and_destroyed_inside_the_token() {
    pkcs11_case("pkcs11_resident_keys_are_generated_used_and_destroyed_inside_the_token", || {
        use rampart_kms::keystore::{ResidentCipher, resident_label};
        let ctx = init_token();
        let keystore = Pkcs11Keystore::open(config(true)).unwrap();
        let keys = keystore.resident().expect("a PKCS#11 keystore holds resident keys");
        let label = resident_label(&KeyId::from_bytes([7; 16]), MaterialId::new(1));
        assert!(!keys.exists(&label).unwrap());
        keys.generate(&label).unwrap();
        assert!(keys.exists(&label).unwrap());
        assert!(matches!(keys.generate(&label), Err(KeystoreError::Config(_))), "a taken label is refused");

        let (salt, nonce) = ([3u8; 32], [4u8; 12]);
        let sealed = keys.seal(&label, &salt, &nonce, b"aad", b"hello hsm").unwrap();
        assert_eq!(sealed.len(), 9 + 16);
        assert_eq!(keys.open(&label, &salt, &nonce, b"aad", &sealed).unwrap().as_slice(), b"hello hsm");
        // Another salt is another call key: the same plaintext seals differently.
        let other_salt = keys.seal(&label, &[5; 32], &nonce, b"aad", b"hello hsm").unwrap();
        assert_ne!(sealed, other_salt);
        for (what, s, n, aad) in
            [("salt", [5u8; 32], nonce, &b"aad"[..]), ("nonce", salt, [9; 12], b"aad"), ("aad", salt, nonce, b"aaX")]
        {
            assert_eq!(keys.open(&label, &s, &n, aad, &sealed).err(), Some(KeystoreError::Unwrap), "wrong {what}");
        }
        for bit in [0, 8 * sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(keys.open(&label, &salt, &nonce, b"aad", &bad).err(), Some(KeystoreError::Unwrap));
        }
        assert_eq!(keys.open(&label, &salt, &nonce, b"aad", &sealed[..15]).err(), Some(KeystoreError::Unwrap));

        // Through the blob format, as the service uses it.
        let cipher = ResidentCipher { keys, label: &label };
        let context = rampart_kms::context::EncryptionContext::empty();
        let blob =
            rampart_kms::blob::encrypt(&cipher, KeyId::from_bytes([7; 16]), MaterialId::new(1), b"blob", &context)
                .unwrap();
        assert_eq!(rampart_kms::blob::decrypt(|_, _| Some(&cipher), &blob, &context).unwrap().as_slice(), b"blob");

        // The resident key, looked at directly: it stays inside and may only derive.
        let session = ctx.open_rw_session(token_slot(&ctx)).unwrap();
        let found = session
            .find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::Label(label.as_bytes().to_vec())])
            .unwrap();
        assert_eq!(found.len(), 1);
        let info = session.get_attribute_info(found[0], &[AttributeType::Value]).unwrap();
        assert!(matches!(info[0], AttributeInfo::Sensitive), "{info:?}");
        let flags = session
            .get_attributes(
                found[0],
                &[AttributeType::Extractable, AttributeType::Encrypt, AttributeType::Derive, AttributeType::Token],
            )
            .unwrap();
        assert!(flags.contains(&Attribute::Extractable(false)), "{flags:?}");
        assert!(flags.contains(&Attribute::Encrypt(false)), "{flags:?}");
        assert!(flags.contains(&Attribute::Derive(true)) && flags.contains(&Attribute::Token(true)), "{flags:?}");
        let mut iv = [0u8; 12];
        let params = cryptoki::mechanism::aead::GcmParams::new(&mut iv, &[], 128.into()).unwrap();
        assert!(
            session.encrypt(&cryptoki::mechanism::Mechanism::AesGcm(params), found[0], b"x").is_err(),
            "the resident key itself must not encrypt"
        );
        // No call key is left behind on the token.
        let secret_keys = session.find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY)]).unwrap();
        assert_eq!(secret_keys.len(), 2, "the root key and the resident key only");
        drop(session);

        assert!(keys.destroy(&label).unwrap());
        assert!(!keys.destroy(&label).unwrap(), "destroying twice finds nothing");
        assert!(!keys.exists(&label).unwrap());
        assert_eq!(keys.seal(&label, &salt, &nonce, b"aad", b"x").err(), Some(KeystoreError::Destroyed));
        assert_eq!(keys.open(&label, &salt, &nonce, b"aad", &sealed).err(), Some(KeystoreError::Destroyed));
        assert_eq!(
            rampart_kms::blob::decrypt(|_, _| Some(&cipher), &blob, &context).err(),
            Some(rampart_kms::blob::BlobError::Destroyed)
        );
        // The software keystore offers no resident keys.
        assert!(SoftwareKeystore::generate().unwrap().resident().is_none());
    });
}
