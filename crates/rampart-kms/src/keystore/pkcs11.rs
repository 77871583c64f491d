//! The PKCS#11 keystore: the root wrapping key is an AES-256 key generated
//! inside an HSM (or SoftHSM2) as sensitive and not extractable, so its bytes
//! never leave the token. Wrapping is `C_Encrypt` with `CKM_AES_GCM` inside
//! the token and unwrapping `C_Decrypt`; this crate only ever sees the
//! material it asked to wrap or unwrap.
//!
//! Stored format version 1: `0x01 || IV (12) || ciphertext || tag (16)`,
//! with associated data `"RKMP" || 0x01 || caller's aad` so the format and
//! version are bound as in `blob/wrap.rs`. IVs come from the operating
//! system's generator, not the token's, so their uniqueness does not rest on
//! the quality of every HSM's `C_GenerateRandom`; the root key wraps one
//! value per key version, far from GCM's limits on random IVs.
//!
//! Sessions: one session behind a `Mutex`. PKCS#11 sessions must not be used
//! by two threads at once, and a pool buys little here: the `UnwrapCache`
//! keeps the HSM off the request path, so it sees a call per key version per
//! TTL, and many modules (SoftHSM2 among them) serialise calls on one token
//! internally anyway. When the session dies (token reset, session closed,
//! logged out), the next call opens a new one, logs in again and retries once.
//!
//! Resident keys (`ResidentKeys`, the HSM custom key store): customer keys
//! generated inside the token as sensitive, non-extractable AES-256 objects
//! that may only *derive* (`CKA_ENCRYPT` false), labelled
//! `rampart-kms/KEY/VERSION`. A call derives a session key from the blob's
//! salt with `CKM_AES_CBC_ENCRYPT_DATA`, seals or opens with AES-GCM under
//! it, and destroys it; nothing of the key ever reaches this process.
//! Their handles are remembered per session.
//!
//! The PKCS#11 library is initialised once per process and never finalised
//! here, because a second keystore on the same module (a re-open after a
//! configuration reload) shares that process-wide state.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeInfo, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use secrecy::SecretString;
use zeroize::{Zeroize, Zeroizing};

use super::{Keystore, KeystoreError, ResidentKeys};
use std::collections::HashMap;

/// Where Debian's `libsofthsm2` installs the SoftHSM2 module.
pub const DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The label of the root wrapping key unless configured otherwise.
pub const DEFAULT_KEY_LABEL: &str = "rampart-kms-root";

const FORMAT_V1: u8 = 1;
const AAD_MAGIC: [u8; 4] = *b"RKMP";
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;
const TAG_BITS: u64 = 128;
const ROOT_KEY_LEN: u64 = 32;

/// How to reach the root key. `Debug` shows the PIN as redacted.
#[derive(Debug)]
pub struct Pkcs11Config {
    /// The PKCS#11 module (a shared library).
    pub module: PathBuf,
    /// The label of the token that holds the root key.
    pub token_label: String,
    /// The label of the root key on that token.
    pub key_label: String,
    /// The token's user PIN.
    pub pin: SecretString,
    /// Generate the root key when the token has none with `key_label`. Off
    /// in production after the first start, so a wrong token or label is an
    /// error rather than a fresh key that unwraps nothing stored.
    pub create_key_if_missing: bool,
}

impl Pkcs11Config {
    /// SoftHSM2's module and the default key label, creating the key if missing.
    pub fn new(token_label: impl Into<String>, pin: SecretString) -> Self {
        Pkcs11Config {
            module: PathBuf::from(DEFAULT_MODULE),
            token_label: token_label.into(),
            key_label: DEFAULT_KEY_LABEL.to_owned(),
            pin,
            create_key_if_missing: true,
        }
    }
}

/// The session and the root key's handle in it, replaced together when the
/// session has to be reopened, and the handles of resident keys found so
/// far (handles of token objects outlive a session in most modules, but
/// not all: a reopened session starts with an empty map).
struct Conn {
    session: Session,
    key: ObjectHandle,
    resident: HashMap<String, ObjectHandle>,
}

/// A keystore whose root key lives in a PKCS#11 token.
pub struct Pkcs11Keystore {
    ctx: Pkcs11,
    slot: Slot,
    module: PathBuf,
    token_label: String,
    key_label: String,
    pin: SecretString,
    conn: Mutex<Conn>,
}

impl Pkcs11Keystore {
    /// Loads the module, finds the token by label, logs in, and finds the
    /// root key by label (or generates it, if so configured).
    pub fn open(config: Pkcs11Config) -> Result<Self, KeystoreError> {
        let ctx = Pkcs11::new(&config.module).map_err(|err| {
            KeystoreError::Unavailable(format!(
                "cannot load the PKCS#11 module {}: {}",
                config.module.display(),
                describe(&err)
            ))
        })?;
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(err) => return Err(unavailable("cannot initialise the PKCS#11 module", &err)),
        }
        let slot = find_slot(&ctx, &config.token_label)?;
        let session = open_session(&ctx, slot, &config.pin)?;
        let key = match find_key(&session, &config.key_label)? {
            Some(key) => {
                check_root_key(&session, key, &config.key_label)?;
                key
            }
            None if config.create_key_if_missing => generate_root_key(&session, &config.key_label)?,
            None => {
                return Err(KeystoreError::Config(format!(
                    "token {:?} has no key labelled {:?}",
                    config.token_label, config.key_label
                )));
            }
        };
        Ok(Pkcs11Keystore {
            ctx,
            slot,
            module: config.module,
            token_label: config.token_label,
            key_label: config.key_label,
            pin: config.pin,
            conn: Mutex::new(Conn { session, key, resident: HashMap::new() }),
        })
    }

    /// Destroys the root key inside the token. Everything wrapped under it
    /// becomes unreadable for good; for tests, and for deleting a tenant's
    /// keystore on purpose.
    pub fn destroy_root_key(self) -> Result<(), KeystoreError> {
        self.with_conn(|conn| conn.session.destroy_object(conn.key))
            .map_err(|err| unavailable("cannot destroy the root key", &err))
    }

    /// Tries the two ways a root key could leave the token, and reports what
    /// the token answered: reading `CKA_VALUE` (expected: refused with
    /// `AttributeSensitive`) and `C_WrapKey` under a fresh session key
    /// (expected: refused with `KeyUnextractable`). Used by tests and by an
    /// operator's health check; no key bytes are returned even if a broken
    /// token hands them out.
    pub fn extraction_attempts(&self) -> Result<ExtractionReport, KeystoreError> {
        self.with_conn(|conn| extraction_attempts(&conn.session, conn.key))
            .map_err(|err| unavailable("cannot inspect the root key", &err))
    }

    pub fn module(&self) -> &Path {
        &self.module
    }

    /// Runs `op` on the session; if the session has died, opens a new one,
    /// logs in, finds the key again and retries once.
    fn with_conn<T>(&self, mut op: impl FnMut(&mut Conn) -> Result<T, CkError>) -> Result<T, CkError> {
        let mut conn = self.lock();
        match op(&mut conn) {
            Err(CkError::Pkcs11(rv, function)) if session_lost(rv) => {
                // If the session cannot be reopened, the caller hears of the
                // failure that sent us here, which is what an operator needs
                // to look up first.
                *conn = self.reconnect().map_err(|_| CkError::Pkcs11(rv, function))?;
                op(&mut conn)
            }
            other => other,
        }
    }

    fn reconnect(&self) -> Result<Conn, KeystoreError> {
        let session = open_session(&self.ctx, self.slot, &self.pin)?;
        let key = find_key(&session, &self.key_label)?.ok_or_else(|| {
            KeystoreError::Unavailable(format!("the root key {:?} is no longer on the token", self.key_label))
        })?;
        Ok(Conn { session, key, resident: HashMap::new() })
    }

    /// No code here panics while holding the lock, and a session is valid
    /// or reopened on its next use, so a poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, Conn> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Keystore for Pkcs11Keystore {
    fn name(&self) -> &'static str {
        "pkcs11"
    }

    fn wrap_secret(&self, secret: &[u8], aad: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        let mut iv = [0u8; IV_LEN];
        SystemRandom::new()
            .fill(&mut iv)
            .map_err(|_| KeystoreError::Unavailable("the system random generator failed".into()))?;
        let aad = full_aad(aad);
        let (iv, sealed) = self
            .with_conn(|conn| {
                // A module may write its own IV into the parameters (some do
                // in FIPS mode), so the IV stored is the one it used.
                let mut used = iv;
                let params = GcmParams::new(&mut used, &aad, TAG_BITS.into())?;
                let sealed = conn.session.encrypt(&Mechanism::AesGcm(params), conn.key, secret)?;
                Ok((used, sealed))
            })
            .map_err(|err| unavailable("the token cannot wrap", &err))?;
        if sealed.len() != secret.len() + TAG_LEN {
            return Err(KeystoreError::Unavailable("the token returned a wrapped value of the wrong length".into()));
        }
        let mut out = Vec::with_capacity(1 + IV_LEN + sealed.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&iv);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn unwrap_secret(&self, wrapped: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        let (&version, rest) = wrapped.split_first().ok_or(KeystoreError::Unwrap)?;
        let (iv, sealed) = rest.split_first_chunk::<IV_LEN>().ok_or(KeystoreError::Unwrap)?;
        if version != FORMAT_V1 || sealed.len() < TAG_LEN {
            return Err(KeystoreError::Unwrap);
        }
        let aad = full_aad(aad);
        let plain = self.with_conn(|conn| {
            let mut iv = *iv;
            let params = GcmParams::new(&mut iv, &aad, TAG_BITS.into())?;
            match conn.session.decrypt(&Mechanism::AesGcm(params), conn.key, sealed) {
                Ok(plain) => Ok(Ok(Zeroizing::new(plain))),
                Err(CkError::Pkcs11(rv, _)) if bad_ciphertext(rv) => Ok(Err(KeystoreError::Unwrap)),
                // SoftHSM2 (and some hardware) answers a failed GCM tag check
                // with a generic error rather than CKR_ENCRYPTED_DATA_INVALID.
                // If the session still answers right after, the token is
                // fine and it was the ciphertext it refused.
                Err(CkError::Pkcs11(rv @ (RvError::GeneralError | RvError::FunctionFailed), f)) => {
                    match conn.session.get_session_info() {
                        Ok(_) => Ok(Err(KeystoreError::Unwrap)),
                        Err(_) => Err(CkError::Pkcs11(rv, f)),
                    }
                }
                Err(err) => Err(err),
            }
        });
        plain.unwrap_or_else(|err| Err(unavailable("the token cannot unwrap", &err)))
    }

    fn resident(&self) -> Option<&dyn ResidentKeys> {
        Some(self)
    }
}

/// Resident keys may only derive: the token itself refuses to encrypt with
/// them, so the only way to use one is through a call key.
fn resident_template(label: &str) -> Vec<Attribute> {
    let mut template = key_template(label);
    template.extend([
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Modifiable(false),
        Attribute::Encrypt(false),
        Attribute::Decrypt(false),
        Attribute::Wrap(false),
        Attribute::Unwrap(false),
        Attribute::Sign(false),
        Attribute::Verify(false),
        Attribute::Derive(true),
        Attribute::ValueLen(ROOT_KEY_LEN.into()),
    ]);
    template
}

/// The one-time key of a call: a session object (gone when the session
/// is), sensitive, not extractable, destroyed right after use.
fn call_key_template() -> [Attribute; 8] {
    [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(false),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::ValueLen(ROOT_KEY_LEN.into()),
    ]
}

/// The resident key's handle, from the map or found on the token.
fn resident_handle(conn: &mut Conn, label: &str) -> Result<Option<ObjectHandle>, CkError> {
    if let Some(handle) = conn.resident.get(label) {
        return Ok(Some(*handle));
    }
    let found = conn.session.find_objects(&key_template(label))?;
    match found.as_slice() {
        [handle] => {
            conn.resident.insert(label.to_owned(), *handle);
            Ok(Some(*handle))
        }
        // Two keys with one label cannot be told apart: use neither.
        [] | [_, _, ..] => Ok(None),
    }
}

/// Derives the call key for `salt` inside the token: AES-CBC encryption
/// of the salt under the resident key (`CKM_AES_CBC_ENCRYPT_DATA`, zero
/// IV), i.e. CBC-MAC of two blocks, a PRF on fixed-length input, so
/// distinct salts give independent call keys.
fn derive_call_key(session: &Session, base: ObjectHandle, salt: &[u8; 32]) -> Result<ObjectHandle, CkError> {
    let params = cryptoki::mechanism::ekdf::AesCbcDeriveParams::new([0; 16], salt);
    session.derive_key(&Mechanism::AesCbcEncryptData(params), base, &call_key_template())
}

/// What became of one resident operation.
enum Used<T> {
    Done(T),
    Missing,
    Refused,
}

impl Pkcs11Keystore {
    /// Runs `op` with the call key of `salt` for the resident key `label`,
    /// destroying the call key afterwards whatever happened.
    fn with_call_key<T>(
        &self,
        label: &str,
        salt: &[u8; 32],
        mut op: impl FnMut(&Session, ObjectHandle) -> Result<Used<T>, CkError>,
    ) -> Result<Used<T>, KeystoreError> {
        self.with_conn(|conn| {
            let Some(base) = resident_handle(conn, label)? else { return Ok(Used::Missing) };
            let call = match derive_call_key(&conn.session, base, salt) {
                Ok(call) => call,
                // The handle went stale (the key was destroyed elsewhere):
                // forget it and let the caller hear the key is missing.
                Err(CkError::Pkcs11(RvError::KeyHandleInvalid | RvError::ObjectHandleInvalid, _)) => {
                    conn.resident.remove(label);
                    match resident_handle(conn, label)? {
                        Some(base) => derive_call_key(&conn.session, base, salt)?,
                        None => return Ok(Used::Missing),
                    }
                }
                Err(err) => return Err(err),
            };
            let result = op(&conn.session, call);
            let destroyed = conn.session.destroy_object(call);
            let used = result?;
            destroyed?;
            Ok(used)
        })
        .map_err(|err| unavailable("the token cannot use the resident key", &err))
    }
}

impl ResidentKeys for Pkcs11Keystore {
    fn generate(&self, label: &str) -> Result<(), KeystoreError> {
        self.with_conn(|conn| {
            if !conn.session.find_objects(&key_template(label))?.is_empty() {
                return Ok(None);
            }
            let handle = conn.session.generate_key(&Mechanism::AesKeyGen, &resident_template(label))?;
            conn.resident.insert(label.to_owned(), handle);
            Ok(Some(handle))
        })
        .map_err(|err| unavailable("the token cannot generate a resident key", &err))?
        .map(|_| ())
        .ok_or_else(|| KeystoreError::Config(format!("the token already holds a key labelled {label:?}")))
    }

    fn seal(
        &self,
        label: &str,
        salt: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, KeystoreError> {
        let used = self.with_call_key(label, salt, |session, call| {
            let mut iv = *nonce;
            let params = GcmParams::new(&mut iv, aad, TAG_BITS.into())?;
            let sealed = session.encrypt(&Mechanism::AesGcm(params), call, plaintext)?;
            // The blob stores the nonce it chose; a module that wrote its
            // own IV into the parameters would make the blob unreadable.
            if iv != *nonce {
                return Ok(Used::Refused);
            }
            Ok(Used::Done(sealed))
        })?;
        match used {
            Used::Done(sealed) if sealed.len() == plaintext.len() + TAG_LEN => Ok(sealed),
            Used::Done(_) | Used::Refused => {
                Err(KeystoreError::Unavailable("the token did not seal with the nonce and tag length asked for".into()))
            }
            Used::Missing => Err(KeystoreError::Destroyed),
        }
    }

    fn open(
        &self,
        label: &str,
        salt: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        if sealed.len() < TAG_LEN {
            return Err(KeystoreError::Unwrap);
        }
        let used = self.with_call_key(label, salt, |session, call| {
            let mut iv = *nonce;
            let params = GcmParams::new(&mut iv, aad, TAG_BITS.into())?;
            match session.decrypt(&Mechanism::AesGcm(params), call, sealed) {
                Ok(plain) => Ok(Used::Done(Zeroizing::new(plain))),
                Err(CkError::Pkcs11(rv, _)) if bad_ciphertext(rv) => Ok(Used::Refused),
                // As in `unwrap_secret`: SoftHSM2 answers a failed tag check
                // with a generic error; a session that still answers means
                // it was the ciphertext that was refused.
                Err(CkError::Pkcs11(rv @ (RvError::GeneralError | RvError::FunctionFailed), f)) => {
                    match session.get_session_info() {
                        Ok(_) => Ok(Used::Refused),
                        Err(_) => Err(CkError::Pkcs11(rv, f)),
                    }
                }
                Err(err) => Err(err),
            }
        })?;
        match used {
            Used::Done(plain) => Ok(plain),
            Used::Refused => Err(KeystoreError::Unwrap),
            Used::Missing => Err(KeystoreError::Destroyed),
        }
    }

    fn destroy(&self, label: &str) -> Result<bool, KeystoreError> {
        self.with_conn(|conn| {
            conn.resident.remove(label);
            let found = conn.session.find_objects(&key_template(label))?;
            for handle in &found {
                conn.session.destroy_object(*handle)?;
            }
            Ok(!found.is_empty())
        })
        .map_err(|err| unavailable("the token cannot destroy a resident key", &err))
    }

    fn exists(&self, label: &str) -> Result<bool, KeystoreError> {
        let flags = self
            .with_conn(|conn| {
                let found = conn.session.find_objects(&key_template(label))?;
                match found.as_slice() {
                    [] => Ok(None),
                    [handle, ..] => {
                        let wanted = [AttributeType::Sensitive, AttributeType::Extractable];
                        Ok(Some((found.len(), conn.session.get_attributes(*handle, &wanted)?)))
                    }
                }
            })
            .map_err(|err| unavailable("the token cannot look up a resident key", &err))?;
        let Some((count, attributes)) = flags else { return Ok(false) };
        let inside = attributes.iter().all(|a| match a {
            Attribute::Sensitive(v) => *v,
            Attribute::Extractable(v) => !*v,
            _ => true,
        });
        if count > 1 || attributes.len() != 2 || !inside {
            return Err(KeystoreError::Config(format!(
                "the token's key labelled {label:?} is not a single sensitive, non-extractable resident key"
            )));
        }
        Ok(true)
    }
}

impl fmt::Debug for Pkcs11Keystore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Keystore")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("key_label", &self.key_label)
            .field("pin", &"[REDACTED]")
            .finish()
    }
}

/// What the token answered to one attempt to get the root key out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Refused, with the return code (e.g. `AttributeSensitive`).
    Refused(String),
    /// The token handed the key out (its bytes were discarded unread).
    Succeeded,
}

/// The root key's protection attributes and what each extraction attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractionReport {
    /// `C_GetAttributeValue(CKA_VALUE)`.
    pub read_value: Attempt,
    /// `C_WrapKey` of the root key under a fresh session key.
    pub wrap_out: Attempt,
    pub sensitive: bool,
    pub extractable: bool,
    pub always_sensitive: bool,
    pub never_extractable: bool,
}

impl ExtractionReport {
    /// Whether the key is marked to stay inside and both attempts were refused.
    pub fn key_stays_inside(&self) -> bool {
        matches!(self.read_value, Attempt::Refused(_))
            && matches!(self.wrap_out, Attempt::Refused(_))
            && self.sensitive
            && !self.extractable
    }
}

fn extraction_attempts(session: &Session, key: ObjectHandle) -> Result<ExtractionReport, CkError> {
    let read_value = match session.get_attribute_info(key, &[AttributeType::Value])?.first() {
        Some(AttributeInfo::Available(_)) => Attempt::Succeeded,
        Some(AttributeInfo::Sensitive) => Attempt::Refused(format!("{:?}", RvError::AttributeSensitive)),
        Some(other) => Attempt::Refused(format!("{other:?}")),
        None => Attempt::Refused("no answer".into()),
    };
    let template = [
        Attribute::Token(false),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Wrap(true),
        Attribute::Unwrap(true),
        Attribute::ValueLen(ROOT_KEY_LEN.into()),
    ];
    let outer = session.generate_key(&Mechanism::AesKeyGen, &template)?;
    let wrap_out = match session.wrap_key(&Mechanism::AesKeyWrap, outer, key) {
        Ok(mut wrapped) => {
            wrapped.zeroize();
            Attempt::Succeeded
        }
        Err(CkError::Pkcs11(rv, _)) => Attempt::Refused(format!("{rv:?}")),
        Err(err) => Attempt::Refused(err.to_string()),
    };
    session.destroy_object(outer)?;
    let flags = [
        AttributeType::Sensitive,
        AttributeType::Extractable,
        AttributeType::AlwaysSensitive,
        AttributeType::NeverExtractable,
    ];
    let mut report = ExtractionReport {
        read_value,
        wrap_out,
        sensitive: false,
        extractable: true,
        always_sensitive: false,
        never_extractable: false,
    };
    for attribute in session.get_attributes(key, &flags)? {
        match attribute {
            Attribute::Sensitive(v) => report.sensitive = v,
            Attribute::Extractable(v) => report.extractable = v,
            Attribute::AlwaysSensitive(v) => report.always_sensitive = v,
            Attribute::NeverExtractable(v) => report.never_extractable = v,
            _ => {}
        }
    }
    Ok(report)
}

fn find_slot(ctx: &Pkcs11, label: &str) -> Result<Slot, KeystoreError> {
    let slots = ctx.get_slots_with_token().map_err(|err| unavailable("cannot list the PKCS#11 slots", &err))?;
    let mut found = Vec::new();
    for slot in slots {
        let info = ctx.get_token_info(slot).map_err(|err| unavailable("cannot read a token's information", &err))?;
        if info.label() == label {
            found.push(slot);
        }
    }
    match found.as_slice() {
        [slot] => Ok(*slot),
        [] => Err(KeystoreError::Config(format!("no PKCS#11 token is labelled {label:?}"))),
        _ => Err(KeystoreError::Config(format!("more than one PKCS#11 token is labelled {label:?}"))),
    }
}

fn open_session(ctx: &Pkcs11, slot: Slot, pin: &SecretString) -> Result<Session, KeystoreError> {
    let session = ctx.open_rw_session(slot).map_err(|err| unavailable("cannot open a PKCS#11 session", &err))?;
    match session.login(UserType::User, Some(pin)) {
        // Login state belongs to the application, not the session: another
        // keystore in this process may have logged in already.
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
        Err(CkError::Pkcs11(RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange, _)) => {
            Err(KeystoreError::Config("the token refused the user PIN".into()))
        }
        Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
            Err(KeystoreError::Config("the token's user PIN is locked".into()))
        }
        Err(CkError::Pkcs11(RvError::UserPinNotInitialized, _)) => {
            Err(KeystoreError::Config("the token has no user PIN yet".into()))
        }
        Err(err) => Err(unavailable("cannot log in to the token", &err)),
    }
}

fn key_template(label: &str) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Label(label.as_bytes().to_vec()),
    ]
}

fn find_key(session: &Session, label: &str) -> Result<Option<ObjectHandle>, KeystoreError> {
    let found =
        session.find_objects(&key_template(label)).map_err(|err| unavailable("cannot search the token", &err))?;
    match found.as_slice() {
        [] => Ok(None),
        [key] => Ok(Some(*key)),
        _ => Err(KeystoreError::Config(format!("the token holds more than one AES key labelled {label:?}"))),
    }
}

/// Refuses a found key that could leave the token or cannot do the job, so
/// a key someone created by hand with weaker attributes is not used silently.
fn check_root_key(session: &Session, key: ObjectHandle, label: &str) -> Result<(), KeystoreError> {
    let wanted = [
        AttributeType::Sensitive,
        AttributeType::Extractable,
        AttributeType::Encrypt,
        AttributeType::Decrypt,
        AttributeType::ValueLen,
    ];
    let attributes = session
        .get_attributes(key, &wanted)
        .map_err(|err| unavailable("cannot read the root key's attributes", &err))?;
    let ok = attributes.len() == wanted.len()
        && attributes.iter().all(|attribute| match attribute {
            Attribute::Sensitive(v) | Attribute::Encrypt(v) | Attribute::Decrypt(v) => *v,
            Attribute::Extractable(v) => !*v,
            Attribute::ValueLen(len) => u64::from(*len) == ROOT_KEY_LEN,
            _ => false,
        });
    if ok {
        Ok(())
    } else {
        Err(KeystoreError::Config(format!(
            "the key labelled {label:?} must be a sensitive, non-extractable AES-256 key that may encrypt and decrypt"
        )))
    }
}

fn generate_root_key(session: &Session, label: &str) -> Result<ObjectHandle, KeystoreError> {
    let mut template = key_template(label);
    template.extend([
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Modifiable(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Wrap(true),
        Attribute::Unwrap(true),
        Attribute::Sign(false),
        Attribute::Verify(false),
        Attribute::Derive(false),
        Attribute::ValueLen(ROOT_KEY_LEN.into()),
    ]);
    session
        .generate_key(&Mechanism::AesKeyGen, &template)
        .map_err(|err| unavailable("the token cannot generate the root key", &err))
}

fn full_aad(aad: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(AAD_MAGIC.len() + 1 + aad.len());
    out.extend_from_slice(&AAD_MAGIC);
    out.push(FORMAT_V1);
    out.extend_from_slice(aad);
    out
}

/// Return codes after which the session must be reopened.
fn session_lost(rv: RvError) -> bool {
    matches!(
        rv,
        RvError::SessionHandleInvalid
            | RvError::SessionClosed
            | RvError::UserNotLoggedIn
            | RvError::DeviceRemoved
            | RvError::TokenNotPresent
            | RvError::KeyHandleInvalid
            | RvError::ObjectHandleInvalid
    )
}

/// Return codes that mean the wrapped value itself is wrong (tampered, cut,
/// wrapped for another row), as opposed to the token failing.
fn bad_ciphertext(rv: RvError) -> bool {
    matches!(
        rv,
        RvError::EncryptedDataInvalid | RvError::EncryptedDataLenRange | RvError::DataInvalid | RvError::DataLenRange
    )
}

fn unavailable(what: &str, err: &CkError) -> KeystoreError {
    KeystoreError::Unavailable(format!("{what}: {}", describe(err)))
}

/// A PKCS#11 failure as the function and return code, which is what an
/// operator looks up; cryptoki's own text is a paragraph per code.
fn describe(err: &CkError) -> String {
    match err {
        CkError::Pkcs11(rv, function) => format!("{function:?} returned {rv:?}"),
        other => other.to_string(),
    }
}
