//! The KMS service: key lifecycle and symmetric cryptography over the store,
//! a keystore and the audit trail. Every transition and every cryptographic
//! operation is recorded in the ledger before its result is returned; the
//! record names the key, the material version and a keyed hash of the
//! encryption context, never plaintext or key material.
//!
//! Tenant isolation is enforced here: a caller only ever resolves keys and
//! aliases of its own tenant, and another tenant's key reads as not found.
//! The AWS, Tencent and native API facades translate requests into these
//! calls; they hold no policy.

mod crypto;
mod import;
mod manage;
mod seal;

pub use crypto::{DataKeyPair, MAX_MESSAGE, PublicKeyInfo};
pub use import::{IMPORT_TOKEN_TTL_MS, ImportError, ImportParameters};
pub use manage::{MAX_TAGS, RotationStatus};
pub use seal::{SealError, Unsealed};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rampart_core::audit::Audit;
use rampart_core::secret::KeyedHasher;
use rampart_core::time::now_ms;
use rampart_core::ttl_cache::TtlCache;
use rampart_core::{Event, Id, Outcome};
use rampart_store::{KmsKeyRow, Store, StoreError};

use crate::blob::BlobError;
use crate::context::{ContextError, EncryptionContext};
use crate::keystore::{self, Keystore, KeystoreError, SealedKeystore, UnwrapCache};
use crate::lifecycle::{self, Api, KeyState, Operation, StateError};
use crate::material::{Material, MaterialError};
use crate::policy::{self, Decision, KeyPolicy};
use crate::spec::{ArnResource, KeyId, KeyRef, KeySpec, KeyType, KeyUsage, MaterialId, SpecError, account_id};

/// Who is calling: the tenant whose keys they may use, and who they are.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: Option<Id>,
    pub actor: String,
    pub source: Option<String>,
    /// Whose error rules apply (AWS or Tencent) where they differ.
    pub api: Api,
    /// The caller's role grants `kms_use` (cryptographic and read operations).
    pub may_use: bool,
    /// The caller's role grants `kms_manage` (creating and changing keys).
    pub may_manage: bool,
}

impl Caller {
    /// Whether the caller's role covers an operation of this kind.
    fn role_permits(&self, management: bool) -> bool {
        if management { self.may_manage } else { self.may_use || self.may_manage }
    }
}

/// A key as described to callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMetadata {
    pub key_id: KeyId,
    pub spec: KeySpec,
    pub usage: KeyUsage,
    pub state: KeyState,
    pub description: String,
    pub current_material: MaterialId,
    pub rotation_period_days: Option<u32>,
    /// When automatic rotation is next due, if it is enabled.
    pub next_rotation_ms: Option<i64>,
    pub origin: lifecycle::Origin,
    /// When imported material expires, if it does.
    pub material_expires_ms: Option<i64>,
    pub created_at_ms: i64,
}

/// Why a KMS call failed, with the error names each API documents.
#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    #[error("key not found")]
    NotFound,
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error("the ciphertext was not made with the key named in the request")]
    IncorrectKey,
    #[error("{actor} is not authorized to perform kms:{action} on this key")]
    AccessDenied { actor: String, action: &'static str },
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
    #[error(transparent)]
    Material(#[from] MaterialError),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error("{0}")]
    Unsupported(String),
    /// A request value out of range (AWS `ValidationException`).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("the keystore is unavailable")]
    Keystore(KeystoreError),
    /// `CustomKeyStoreId` names no key store of this KMS (there is one, the
    /// HSM, and only where the keystore is PKCS#11).
    #[error("custom key store {0:?} does not exist; this KMS's HSM key store is listed by DescribeCustomKeyStores")]
    CustomKeyStoreNotFound(String),
    /// The root key is sealed by Shamir shares and not unsealed: every KMS
    /// operation is refused, and does nothing, until it is.
    #[error(
        "the KMS is sealed: no key can be used or managed until operators enter their shares with `rampart operator unseal`"
    )]
    Sealed,
    #[error("the audit trail did not confirm the record; the operation was not performed")]
    Audit(#[from] rampart_core::audit::AuditError),
    #[error("internal error")]
    Internal(String),
}

impl KmsError {
    /// AWS's `__type` for this error.
    pub fn aws_type(&self) -> &'static str {
        match self {
            KmsError::NotFound => "NotFoundException",
            KmsError::State(e) => e.aws_type(),
            KmsError::Spec(e) => e.aws_type(),
            KmsError::Context(e) => e.aws_type(),
            KmsError::Blob(e) => e.aws_type(),
            KmsError::IncorrectKey => "IncorrectKeyException",
            KmsError::AccessDenied { .. } => "AccessDeniedException",
            KmsError::Policy(_) => "MalformedPolicyDocumentException",
            KmsError::Material(e) => match e {
                MaterialError::WrongKind => "InvalidKeyUsageException",
                MaterialError::DigestLength(_) | MaterialError::PlaintextTooLong(_) => "ValidationException",
                MaterialError::Decrypt => "InvalidCiphertextException",
                MaterialError::Malformed | MaterialError::Crypto => "KMSInternalException",
            },
            KmsError::Import(e) => e.aws_type(),
            KmsError::Unsupported(_) => "UnsupportedOperationException",
            KmsError::Invalid(_) => "ValidationException",
            KmsError::AlreadyExists(_) => "AlreadyExistsException",
            KmsError::Keystore(_) | KmsError::Audit(_) => "KMSInternalException",
            KmsError::CustomKeyStoreNotFound(_) => "CustomKeyStoreNotFoundException",
            KmsError::Internal(_) => "KMSInternalException",
            // AWS has no "sealed"; of its documented errors,
            // KeyUnavailableException ("the specified KMS key was not
            // available. You can retry the request") says exactly what a
            // sealed node means to a caller: nothing is wrong with the
            // request or the key, the material cannot be reached right now,
            // and retrying later works. KMSInternalException would claim a
            // fault, KMSInvalidStateException a key state the caller could
            // change. Answered with HTTP 503, which SDKs retry.
            KmsError::Sealed => "KeyUnavailableException",
        }
    }

    /// Tencent's error code for this error.
    pub fn tc_code(&self) -> &'static str {
        match self {
            KmsError::NotFound => "ResourceUnavailable.CmkNotFound",
            KmsError::State(e) => e.tc_code(),
            KmsError::Spec(e) => e.tc_code(),
            KmsError::Context(e) => e.tc_code(),
            KmsError::Blob(e) => e.tc_code(),
            KmsError::IncorrectKey => "InvalidParameterValue.InvalidCiphertext",
            KmsError::AccessDenied { .. } => "UnauthorizedOperation",
            KmsError::Policy(_) => "InvalidParameterValue",
            KmsError::Material(e) => match e {
                MaterialError::WrongKind => "UnsupportedOperation",
                MaterialError::DigestLength(_) | MaterialError::PlaintextTooLong(_) => "InvalidParameterValue",
                MaterialError::Decrypt => "InvalidParameterValue.InvalidCiphertext",
                MaterialError::Malformed | MaterialError::Crypto => "InternalError",
            },
            KmsError::Import(e) => e.tc_code(),
            KmsError::Unsupported(_) => "UnsupportedOperation",
            KmsError::Invalid(_) => "InvalidParameterValue",
            KmsError::AlreadyExists(_) => "InvalidParameterValue.AliasAlreadyExists",
            KmsError::Keystore(_) | KmsError::Audit(_) | KmsError::Internal(_) => "InternalError",
            KmsError::CustomKeyStoreNotFound(_) => "InvalidParameterValue",
            // Tencent KMS's own code for "service temporarily unavailable"
            // (服务暂时不可用) in its API 3.0 error list: a temporary state
            // of the service, not a fault (InternalError) nor a key state
            // (ResourceUnavailable.CmkStateNotSupport).
            KmsError::Sealed => "UnsupportedOperation.ServiceTemporaryUnavailable",
        }
    }
}

impl From<KeystoreError> for KmsError {
    fn from(e: KeystoreError) -> Self {
        match e {
            KeystoreError::Sealed => KmsError::Sealed,
            other => KmsError::Keystore(other),
        }
    }
}

impl From<StoreError> for KmsError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => KmsError::NotFound,
            StoreError::Conflict(what) => KmsError::AlreadyExists(what),
            other => KmsError::Internal(other.to_string()),
        }
    }
}

fn state_name(state: &KeyState) -> (&'static str, Option<i64>) {
    match state {
        KeyState::Enabled => ("Enabled", None),
        KeyState::Disabled => ("Disabled", None),
        KeyState::PendingDeletion { deletion_date_ms } => ("PendingDeletion", Some(*deletion_date_ms)),
        KeyState::Archived => ("Archived", None),
        KeyState::PendingImport => ("PendingImport", None),
    }
}

fn parse_state(name: &str, deletion_at: Option<i64>) -> Result<KeyState, KmsError> {
    Ok(match (name, deletion_at) {
        ("Enabled", _) => KeyState::Enabled,
        ("Disabled", _) => KeyState::Disabled,
        ("PendingDeletion", Some(d)) => KeyState::PendingDeletion { deletion_date_ms: d },
        ("Archived", _) => KeyState::Archived,
        ("PendingImport", _) => KeyState::PendingImport,
        (other, _) => return Err(KmsError::Internal(format!("stored key state {other:?}"))),
    })
}

fn metadata(row: &KmsKeyRow) -> Result<KeyMetadata, KmsError> {
    metadata_at(row, now_ms())
}

/// The key as it stands at `now`. Imported material that has expired is
/// gone from that instant, whether or not the expiry sweep has deleted it
/// yet: the key reads as `PendingImport` and no node uses the material.
fn metadata_at(row: &KmsKeyRow, now: i64) -> Result<KeyMetadata, KmsError> {
    let mut state = parse_state(&row.state, row.deletion_at)?;
    let mut material_expires_ms = row.material_expires_at;
    let holds_material = matches!(state, KeyState::Enabled | KeyState::Disabled | KeyState::Archived);
    if holds_material && lifecycle::material_expired(material_expires_ms, now) {
        state = KeyState::PendingImport;
        material_expires_ms = None;
    }
    Ok(KeyMetadata {
        key_id: KeyId::parse(&row.id)?,
        spec: row.spec.parse()?,
        usage: row.key_usage.parse()?,
        state,
        description: row.description.clone(),
        current_material: MaterialId::new(u32::try_from(row.current_material).unwrap_or(u32::MAX)),
        rotation_period_days: row.rotation_period_days.and_then(|d| u32::try_from(d).ok()),
        next_rotation_ms: row.next_rotation_at,
        origin: lifecycle::Origin::from_stored(&row.origin),
        material_expires_ms,
        created_at_ms: row.created_at,
    })
}

/// The associated data binding a wrapped material to its key and version,
/// so a wrapped blob cannot be moved to another key or version.
fn wrap_aad(key: &KeyId, material: MaterialId) -> Vec<u8> {
    let mut aad = b"rampart-kms-material-v1".to_vec();
    aad.extend_from_slice(key.as_bytes());
    aad.extend_from_slice(&material.get().to_be_bytes());
    aad
}

/// The KMS. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Kms {
    store: Store,
    audit: Audit,
    keystore: Arc<dyn Keystore>,
    cache: Arc<UnwrapCache<Material>>,
    context_hasher: Arc<KeyedHasher>,
    /// Key rows by id, so a busy key's metadata is not read from the
    /// database on every request; see [`KEY_CACHE_TTL`].
    rows: Arc<TtlCache<String, KmsKeyRow>>,
    /// Alias to key id, per tenant.
    aliases: Arc<TtlCache<(Option<Id>, String), String>>,
    /// The Shamir seal, when the keystore is sealed by shares: the same
    /// object as `keystore`, seen as what it is, for the gate in
    /// [`Kms::ready`] and for unsealing. `None` for the key file and PKCS#11.
    seal: Option<seal::SealState>,
    /// Set while destroyed keys' rows are gone but the database's freed
    /// storage has not yet been scrubbed (`Store::kms_scrub` failed): the
    /// next sweep scrubs before anything else.
    scrub_pending: Arc<AtomicBool>,
}

/// The id under which a node's HSM is offered as a custom key store (AWS
/// `CustomKeyStoreId`), where the keystore is PKCS#11. One deployment has
/// one HSM, so one fixed id, the same on every node.
pub const CUSTOM_KEY_STORE_ID: &str = "cks-rampart-hsm";

/// The keystore name stored beside a material that lives inside the HSM;
/// its `wrapped` column holds the key's label on the token.
pub const RESIDENT_KEYSTORE: &str = "pkcs11-resident";

/// How long, by default, a key's metadata (state, policy, current version)
/// and an alias's target are reused without asking the database
/// (`kms.metadata_cache_ms`; see [`Kms::with_metadata_cache`]). Every change
/// made through this node forgets the entry at once, so this node never
/// serves its own stale state; a change made on another node sharing the
/// database takes effect here within this bound (AWS KMS documents the same
/// kind of eventual consistency, of seconds, for key state changes).
pub const KEY_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// How many keys' metadata and aliases are cached at most.
const KEY_CACHE_ENTRIES: usize = 100_000;

impl Kms {
    pub fn new(
        store: Store,
        audit: Audit,
        keystore: Arc<dyn Keystore>,
        cache: UnwrapCache<Material>,
        context_hasher: KeyedHasher,
    ) -> Self {
        Kms {
            store,
            audit,
            keystore,
            cache: Arc::new(cache),
            context_hasher: Arc::new(context_hasher),
            rows: Arc::new(TtlCache::new(KEY_CACHE_TTL, KEY_CACHE_ENTRIES)),
            aliases: Arc::new(TtlCache::new(KEY_CACHE_TTL, KEY_CACHE_ENTRIES)),
            seal: None,
            scrub_pending: Arc::default(),
        }
    }

    /// Reuses key metadata and alias targets for `ttl` instead of the
    /// default [`KEY_CACHE_TTL`]; zero reads the database on every request,
    /// so a change made on another node is seen at once.
    pub fn with_metadata_cache(self, ttl: std::time::Duration) -> Self {
        Kms {
            rows: Arc::new(TtlCache::new(ttl, KEY_CACHE_ENTRIES)),
            aliases: Arc::new(TtlCache::new(ttl, KEY_CACHE_ENTRIES)),
            ..self
        }
    }

    /// Called after every change to a key's row.
    fn forget_key(&self, id: &str) {
        self.rows.forget(&id.to_owned());
    }

    /// Called after every change to an alias.
    fn forget_alias(&self, caller: &Caller, alias: &str) {
        self.aliases.forget(&(caller.tenant.clone(), alias.to_owned()));
    }

    async fn alias_target(&self, caller: &Caller, alias: &str) -> Result<String, KmsError> {
        let slot = (caller.tenant.clone(), alias.to_owned());
        if let Some(id) = self.aliases.get(&slot) {
            return Ok(id);
        }
        let generation = self.aliases.generation();
        let id = self.store.kms_resolve_alias(caller.tenant.as_ref(), alias).await?;
        self.aliases.insert_fetched(slot, id.clone(), generation);
        Ok(id)
    }

    async fn key_row(&self, id: &str) -> Result<KmsKeyRow, KmsError> {
        if let Some(row) = self.rows.get(&id.to_owned()) {
            return Ok(row);
        }
        let generation = self.rows.generation();
        let row = self.store.kms_get_key(id).await?;
        self.rows.insert_fetched(id.to_owned(), row.clone(), generation);
        Ok(row)
    }

    /// The KMS over a software keystore sealed by Shamir shares. It starts
    /// sealed and refuses every operation until [`Kms::unseal`] has been
    /// given enough shares.
    pub fn new_sealed(
        store: Store,
        audit: Audit,
        sealed: Arc<SealedKeystore>,
        cache: UnwrapCache<Material>,
        context_hasher: KeyedHasher,
    ) -> Self {
        let keystore: Arc<dyn Keystore> = sealed.clone();
        Kms { seal: Some(seal::SealState::new(sealed)), ..Kms::new(store, audit, keystore, cache, context_hasher) }
    }

    /// Refuses every operation while the keystore is sealed. Called first
    /// by each entry point (through `resolve` and `require_role`, or
    /// directly), so a sealed KMS does nothing: no lookup, no record, no
    /// answer from the cache.
    fn ready(&self) -> Result<(), KmsError> {
        match &self.seal {
            Some(seal) if seal.keystore.is_sealed() => Err(KmsError::Sealed),
            _ => Ok(()),
        }
    }

    /// Whether the KMS is sealed right now (never, without a Shamir seal).
    pub fn is_sealed(&self) -> bool {
        self.ready().is_err()
    }

    fn event(&self, kind: &str, outcome: Outcome, caller: &Caller, key: &KeyId) -> Event {
        Event::new(kind, outcome, &caller.actor)
            .object(key.to_string())
            .tenant(caller.tenant.clone())
            .source(caller.source.clone())
    }

    /// Finds a key of the caller's tenant by id, alias or ARN.
    async fn resolve(&self, caller: &Caller, key: &KeyRef) -> Result<KmsKeyRow, KmsError> {
        self.ready()?;
        let id = match key {
            KeyRef::Id(id) => id.to_string(),
            KeyRef::Alias(alias) => self.alias_target(caller, alias.as_str()).await?,
            KeyRef::Arn(arn) => match arn.resource() {
                ArnResource::Key(id) => id.to_string(),
                ArnResource::Alias(alias) => self.alias_target(caller, alias.as_str()).await?,
            },
        };
        let row = self.key_row(&id).await?;
        if row.tenant_id != caller.tenant {
            return Err(KmsError::NotFound);
        }
        Ok(row)
    }

    /// Checks the caller's authority over the key (its policy, then the
    /// role where the policy delegates), then `op` against the key's state.
    /// A denial is recorded; a cryptographic use of a key pending deletion
    /// is refused *and* recorded as an alarm-grade event.
    async fn permit(&self, caller: &Caller, row: &KmsKeyRow, op: Operation) -> Result<KeyMetadata, KmsError> {
        self.authorize(caller, row, op).await?;
        let meta = metadata(row)?;
        if let Err(e) = lifecycle::permits(&meta.state, op) {
            if e.is_alarm() {
                self.audit
                    .record(
                        self.event("kms.key.used_while_pending_deletion", Outcome::Denied, caller, &meta.key_id)
                            .attr("operation", op.name())
                            .attr("severity", "high"),
                    )
                    .await?;
            }
            return Err(e.into());
        }
        Ok(meta)
    }

    /// Whether the key's policy (or, where it delegates, the caller's role)
    /// lets the caller perform `op` on the key.
    async fn authorize(&self, caller: &Caller, row: &KmsKeyRow, op: Operation) -> Result<(), KmsError> {
        let action = policy::action(op);
        let management = policy::is_management(op);
        let decision = match &row.policy {
            None => Decision::Delegate,
            // A stored policy was validated when it was put; one that no
            // longer parses denies rather than falls back to the default.
            Some(text) => KeyPolicy::parse(text).map_or(Decision::NotAllowed, |p| {
                p.evaluate(&account_id(caller.tenant.as_ref()), &caller.actor, action)
            }),
        };
        let allowed = match decision {
            Decision::Allow => true,
            Decision::Delegate => caller.role_permits(management),
            Decision::Deny | Decision::NotAllowed => false,
        };
        if allowed {
            return Ok(());
        }
        let key_id = KeyId::parse(&row.id)?;
        self.audit
            .record(
                self.event("kms.access_denied", Outcome::Denied, caller, &key_id)
                    .attr("operation", action)
                    .attr("policy", if row.policy.is_some() { "custom" } else { "default" }),
            )
            .await?;
        Err(KmsError::AccessDenied { actor: caller.actor.clone(), action })
    }

    /// Refuses a call that involves no particular key (creating or listing
    /// keys, random bytes) unless the caller's role covers it.
    async fn require_role(&self, caller: &Caller, action: &'static str, management: bool) -> Result<(), KmsError> {
        self.ready()?;
        if caller.role_permits(management) {
            return Ok(());
        }
        self.audit
            .record(
                Event::new("kms.access_denied", Outcome::Denied, &caller.actor)
                    .tenant(caller.tenant.clone())
                    .source(caller.source.clone())
                    .attr("operation", action),
            )
            .await?;
        Err(KmsError::AccessDenied { actor: caller.actor.clone(), action })
    }

    /// The unwrapped material of one version, from the cache or the keystore
    /// (for a key resident in the HSM: only its label).
    async fn material(&self, key: &KeyId, spec: KeySpec, version: MaterialId) -> Result<Arc<Material>, KmsError> {
        self.ready()?;
        if let Some(m) = self.cache.get(*key, version) {
            return Ok(m);
        }
        let (keystore_name, wrapped) = self.store.kms_material(&key.to_string(), i64::from(version.get())).await?;
        if keystore_name == RESIDENT_KEYSTORE {
            let label = String::from_utf8(wrapped)
                .map_err(|_| KmsError::Internal(format!("resident key {key} version {version} has no valid label")))?;
            if spec != KeySpec::SymmetricDefault || self.keystore.resident().is_none() {
                return Err(KmsError::Keystore(KeystoreError::Config(format!(
                    "key {key} lives in the HSM key store, which this node's keystore ({}) cannot reach",
                    self.keystore.name()
                ))));
            }
            let material = Arc::new(Material::Resident { label });
            self.cache.insert(*key, version, material.clone());
            return Ok(material);
        }
        let keystore = self.keystore.clone();
        let aad = wrap_aad(key, version);
        let material = tokio::task::spawn_blocking(move || {
            let secret = keystore.unwrap_secret(&wrapped, &aad)?;
            Material::from_secret(spec, &secret).map_err(KmsError::from)
        })
        .await
        .map_err(|e| KmsError::Internal(e.to_string()))??;
        let material = Arc::new(material);
        self.cache.insert(*key, version, material.clone());
        // Sealing marks the keystore sealed, then clears the cache. An
        // unwrap that finished meanwhile either inserted before that clear
        // or sees the seal here and clears again, so nothing unwrapped
        // survives in the cache of a sealed KMS.
        if self.is_sealed() {
            self.cache.clear();
            return Err(KmsError::Sealed);
        }
        Ok(material)
    }

    /// Generates material of `spec` for a new version and wraps it; key
    /// generation (RSA above all) and wrapping run off the async threads.
    async fn wrap_new(&self, key: &KeyId, spec: KeySpec, version: MaterialId) -> Result<Vec<u8>, KmsError> {
        let keystore = self.keystore.clone();
        let aad = wrap_aad(key, version);
        tokio::task::spawn_blocking(move || {
            let (_, secret) = Material::generate(spec)?;
            keystore.wrap_secret(&secret, &aad).map_err(KmsError::from)
        })
        .await
        .map_err(|e| KmsError::Internal(e.to_string()))?
    }

    /// Creates a key of any supported spec and usage for the caller's tenant.
    pub async fn create_key(
        &self,
        caller: &Caller,
        spec: KeySpec,
        usage: Option<KeyUsage>,
        description: &str,
    ) -> Result<KeyMetadata, KmsError> {
        self.require_role(caller, "CreateKey", true).await?;
        let usage = KeyType::new(spec, usage)?.usage();
        if description.len() > 8192 {
            return Err(KmsError::Invalid("the description is longer than 8192 bytes".into()));
        }
        let key_id = KeyId::random().ok_or_else(|| KmsError::Internal("random generator".into()))?;
        let first = MaterialId::new(1);
        let wrapped = self.wrap_new(&key_id, spec, first).await?;
        let now = now_ms();
        let row = KmsKeyRow {
            id: key_id.to_string(),
            tenant_id: caller.tenant.clone(),
            spec: spec.aws_name().to_owned(),
            key_usage: usage.aws_name().to_owned(),
            state: "Enabled".into(),
            deletion_at: None,
            description: description.to_owned(),
            current_material: 1,
            rotation_period_days: None,
            next_rotation_at: None,
            created_at: now,
            updated_at: now,
            origin: "AWS_KMS".into(),
            policy: None,
            material_expires_at: None,
        };
        self.audit
            .record(
                self.event("kms.key.created", Outcome::Success, caller, &key_id)
                    .attr("spec", spec.aws_name())
                    .attr("keystore", self.keystore.name()),
            )
            .await?;
        self.store.kms_create_key(&row, self.keystore.name(), Some(&wrapped)).await?;
        metadata(&row)
    }

    /// The id of the HSM custom key store, when this node's keystore can
    /// hold keys inside the HSM.
    pub fn custom_key_store_id(&self) -> Option<&'static str> {
        self.keystore.resident().map(|_| CUSTOM_KEY_STORE_ID)
    }

    /// The custom key stores the caller may list: the HSM, where there is one.
    pub async fn describe_custom_key_stores(&self, caller: &Caller) -> Result<Option<&'static str>, KmsError> {
        self.require_role(caller, "DescribeCustomKeyStores", false).await?;
        Ok(self.custom_key_store_id())
    }

    /// Creates a `SYMMETRIC_DEFAULT` key whose material is generated inside
    /// the HSM and never leaves it (AWS `Origin=AWS_CLOUDHSM` in the custom
    /// key store `store_id`). Refused where the keystore is not an HSM.
    pub async fn create_hsm_key(
        &self,
        caller: &Caller,
        store_id: &str,
        description: &str,
    ) -> Result<KeyMetadata, KmsError> {
        self.require_role(caller, "CreateKey", true).await?;
        if self.custom_key_store_id() != Some(store_id) {
            return Err(KmsError::CustomKeyStoreNotFound(store_id.to_owned()));
        }
        if description.len() > 8192 {
            return Err(KmsError::Invalid("the description is longer than 8192 bytes".into()));
        }
        let key_id = KeyId::random().ok_or_else(|| KmsError::Internal("random generator".into()))?;
        let first = MaterialId::new(1);
        let label = keystore::resident_label(&key_id, first);
        let keystore = self.keystore.clone();
        let generated = label.clone();
        tokio::task::spawn_blocking(move || match keystore.resident() {
            Some(keys) => keys.generate(&generated),
            None => Err(KeystoreError::Config("the keystore cannot hold resident keys".into())),
        })
        .await
        .map_err(|e| KmsError::Internal(e.to_string()))??;
        let now = now_ms();
        let row = KmsKeyRow {
            id: key_id.to_string(),
            tenant_id: caller.tenant.clone(),
            spec: KeySpec::SymmetricDefault.aws_name().to_owned(),
            key_usage: KeyUsage::EncryptDecrypt.aws_name().to_owned(),
            state: "Enabled".into(),
            deletion_at: None,
            description: description.to_owned(),
            current_material: 1,
            rotation_period_days: None,
            next_rotation_at: None,
            created_at: now,
            updated_at: now,
            origin: lifecycle::Origin::Hsm.aws_name().into(),
            policy: None,
            material_expires_at: None,
        };
        let recorded = self
            .audit
            .record(
                self.event("kms.key.created", Outcome::Success, caller, &key_id)
                    .attr("spec", KeySpec::SymmetricDefault.aws_name())
                    .attr("keystore", RESIDENT_KEYSTORE)
                    .attr("custom_key_store_id", store_id),
            )
            .await;
        let stored = match recorded {
            Ok(_) => {
                self.store.kms_create_key(&row, RESIDENT_KEYSTORE, Some(label.as_bytes())).await.map_err(KmsError::from)
            }
            Err(e) => Err(e.into()),
        };
        if let Err(e) = stored {
            // Nothing refers to the new HSM object: take it back.
            if let Err(undo) = self.destroy_resident(vec![label.clone()]).await {
                tracing::error!(error = %undo, %label, "an HSM key of a key that was not created could not be destroyed");
            }
            return Err(e);
        }
        metadata(&row)
    }

    /// Destroys resident keys inside the HSM; how many existed.
    async fn destroy_resident(&self, labels: Vec<String>) -> Result<usize, KmsError> {
        let keystore = self.keystore.clone();
        tokio::task::spawn_blocking(move || {
            let Some(keys) = keystore.resident() else {
                return Err(KeystoreError::Config("the keystore cannot reach the HSM key store".into()));
            };
            let mut n = 0;
            for label in &labels {
                if keys.destroy(label)? {
                    n += 1;
                }
            }
            Ok(n)
        })
        .await
        .map_err(|e| KmsError::Internal(e.to_string()))?
        .map_err(KmsError::from)
    }

    /// The caller's keys (up to 1000).
    pub async fn list_keys(&self, caller: &Caller) -> Result<Vec<KeyMetadata>, KmsError> {
        self.require_role(caller, "ListKeys", false).await?;
        let page = self.store.kms_list_keys(caller.tenant.as_ref(), None, 1000).await?;
        page.items.iter().map(metadata).collect()
    }

    pub async fn describe_key(&self, caller: &Caller, key: &KeyRef) -> Result<KeyMetadata, KmsError> {
        let row = self.resolve(caller, key).await?;
        self.permit(caller, &row, Operation::DescribeKey).await
    }

    /// Applies a state transition as a compare-and-set and records it.
    async fn transition(
        &self,
        caller: &Caller,
        key: &KeyRef,
        op: Operation,
        kind: &str,
        next: impl FnOnce(&KeyState) -> Result<KeyState, StateError>,
    ) -> Result<KeyMetadata, KmsError> {
        let row = self.resolve(caller, key).await?;
        self.authorize(caller, &row, op).await?;
        let meta = metadata(&row)?;
        let new_state = next(&meta.state)?;
        let (to, deletion_at) = state_name(&new_state);
        let mut event =
            self.event(kind, Outcome::Success, caller, &meta.key_id).attr("from", row.state.as_str()).attr("to", to);
        if let Some(at) = deletion_at {
            event = event.attr("deletion_at", rampart_core::time::rfc3339(at));
        }
        self.audit.record(event).await?;
        self.store.kms_set_state(&row.id, &row.state, to, deletion_at, now_ms()).await?;
        self.forget_key(&row.id);
        Ok(KeyMetadata { state: new_state, ..meta })
    }

    pub async fn enable_key(&self, caller: &Caller, key: &KeyRef) -> Result<KeyMetadata, KmsError> {
        self.transition(caller, key, Operation::EnableKey, "kms.key.enabled", lifecycle::enable).await
    }

    pub async fn disable_key(&self, caller: &Caller, key: &KeyRef) -> Result<KeyMetadata, KmsError> {
        self.transition(caller, key, Operation::DisableKey, "kms.key.disabled", lifecycle::disable).await
    }

    /// Schedules deletion after `days` (7–30, default 30).
    pub async fn schedule_key_deletion(
        &self,
        caller: &Caller,
        key: &KeyRef,
        days: Option<u32>,
    ) -> Result<KeyMetadata, KmsError> {
        let api = caller.api;
        let now = now_ms();
        self.transition(caller, key, Operation::ScheduleKeyDeletion, "kms.key.deletion_scheduled", |s| {
            lifecycle::schedule_deletion(s, api, days, now)
        })
        .await
    }

    pub async fn cancel_key_deletion(&self, caller: &Caller, key: &KeyRef) -> Result<KeyMetadata, KmsError> {
        self.transition(
            caller,
            key,
            Operation::CancelKeyDeletion,
            "kms.key.deletion_cancelled",
            lifecycle::cancel_deletion,
        )
        .await
    }

    pub async fn archive_key(&self, caller: &Caller, key: &KeyRef) -> Result<KeyMetadata, KmsError> {
        self.transition(caller, key, Operation::ArchiveKey, "kms.key.archived", lifecycle::archive).await
    }

    pub async fn cancel_key_archive(&self, caller: &Caller, key: &KeyRef) -> Result<KeyMetadata, KmsError> {
        self.transition(
            caller,
            key,
            Operation::CancelKeyArchive,
            "kms.key.archive_cancelled",
            lifecycle::cancel_archive,
        )
        .await
    }

    /// Adds a new material version now; older versions keep decrypting.
    pub async fn rotate_key_on_demand(&self, caller: &Caller, key: &KeyRef) -> Result<KeyMetadata, KmsError> {
        let row = self.resolve(caller, key).await?;
        let meta = self.permit(caller, &row, Operation::RotateKeyOnDemand).await?;
        // Neither imported keys (new software material would silently
        // replace what the customer imported) nor keys inside the HSM.
        lifecycle::check_rotatable(meta.spec, meta.origin)?;
        let next =
            meta.current_material.next().ok_or_else(|| KmsError::Internal("material versions exhausted".into()))?;
        let wrapped = self.wrap_new(&meta.key_id, meta.spec, next).await?;
        let next_rotation = meta.rotation_period_days.map(|d| lifecycle::next_rotation_ms(now_ms(), d));
        self.audit
            .record(
                self.event("kms.key.rotated", Outcome::Success, caller, &meta.key_id)
                    .attr("material_id", next.get())
                    .attr("trigger", "on_demand"),
            )
            .await?;
        self.store
            .kms_add_material(&row.id, row.current_material, self.keystore.name(), &wrapped, next_rotation, now_ms())
            .await?;
        self.forget_key(&row.id);
        Ok(KeyMetadata { current_material: next, ..meta })
    }

    fn context_hash(&self, context: &EncryptionContext) -> String {
        self.context_hasher.hash(&context.canonical())
    }

    /// Names a key of the caller's tenant with an alias.
    pub async fn create_alias(
        &self,
        caller: &Caller,
        alias: &crate::spec::AliasName,
        key: &KeyRef,
    ) -> Result<(), KmsError> {
        let row = self.resolve(caller, key).await?;
        let meta = self.permit(caller, &row, Operation::CreateAlias).await?;
        self.audit
            .record(
                self.event("kms.alias.created", Outcome::Success, caller, &meta.key_id).attr("alias", alias.as_str()),
            )
            .await?;
        self.store.kms_create_alias(caller.tenant.as_ref(), alias.as_str(), &row.id, now_ms()).await?;
        self.forget_alias(caller, alias.as_str());
        Ok(())
    }

    /// Destroys every key whose deletion date has passed: material removed
    /// from the database and from the cache, for good. Returns how many.
    pub async fn purge_due(&self, now: i64) -> Result<usize, KmsError> {
        self.ready()?;
        let due = self.store.kms_due_for_deletion(now, 100).await?;
        for row in &due {
            let key = KeyId::parse(&row.id)?;
            // Inside the HSM first: if the token cannot destroy them now, the
            // key stays pending deletion (and unusable) and the next sweep
            // tries again, instead of rows vanishing while objects remain.
            if lifecycle::Origin::from_stored(&row.origin) == lifecycle::Origin::Hsm {
                let versions = u32::try_from(row.current_material).unwrap_or(0);
                let labels = (1..=versions).map(|v| keystore::resident_label(&key, MaterialId::new(v))).collect();
                self.destroy_resident(labels).await?;
            }
            let system = Caller {
                tenant: row.tenant_id.clone(),
                actor: "system".into(),
                source: None,
                api: Api::Aws,
                may_use: false,
                may_manage: true,
            };
            self.audit
                .record(
                    self.event("kms.key.destroyed", Outcome::Success, &system, &key)
                        .attr("materials", row.current_material),
                )
                .await?;
            self.store.kms_delete_key(&row.id).await?;
            self.forget_key(&row.id);
            self.cache.remove_key(key);
            self.scrub_pending.store(true, Ordering::SeqCst);
        }
        // One scrub for the whole sweep, after the caches forgot the keys:
        // if it fails the keys are already unusable, and the next sweep
        // (which runs again soon) scrubs before reporting success.
        if self.scrub_pending.load(Ordering::SeqCst) {
            self.store.kms_scrub().await?;
            self.scrub_pending.store(false, Ordering::SeqCst);
        }
        Ok(due.len())
    }
}
