//! The data directory's root secret, the keys derived from it, and sealing.
//!
//! The root secret is 32 random bytes in `DIR/secrets/root.key` (mode 0600).
//! Nothing uses it directly: each purpose derives its own key with HKDF-SHA256
//! under a distinct label, so a key for sealing access-key secrets can never
//! be confused with one for keyed audit hashes. Sealing is AES-256-GCM with a
//! random 96-bit nonce and a caller-chosen associated data that binds the
//! ciphertext to its row (so a sealed secret cannot be moved to another key id).

use std::fs;
use std::io::Write;
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

const ROOT_LEN: usize = 32;
/// Version byte in front of every sealed blob.
const SEAL_V1: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path} is readable by group or others (mode {mode:o}); run `chmod 600 {path}`")]
    TooOpen { path: String, mode: u32 },
    #[error("{path} must hold exactly {ROOT_LEN} bytes")]
    BadLength { path: String },
    #[error("sealed value is malformed or was sealed under another key")]
    Unseal,
    #[error("the system random generator failed")]
    Random,
}

/// The 32-byte root secret of a data directory. Redacted in `Debug`,
/// zeroized on drop.
pub struct RootSecret(Zeroizing<[u8; ROOT_LEN]>);

impl std::fmt::Debug for RootSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RootSecret([REDACTED])")
    }
}

/// Fails when a secret file can be read by anyone but its owner.
pub fn check_private(path: &Path) -> Result<(), SecretError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::metadata(path).map_err(|source| SecretError::Io { path: path.display().to_string(), source })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SecretError::TooOpen { path: path.display().to_string(), mode });
        }
    }
    Ok(())
}

/// Writes `bytes` to a new file readable only by its owner. Fails if the file
/// exists, so an existing secret is never overwritten.
pub fn write_private_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Replaces `path` with `bytes`, readable only by its owner: written to a
/// temporary file beside it, fsynced, then renamed over it, so a reader sees
/// the old file or the new one, never half of either.
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    write_private_new(&tmp, bytes)?;
    fs::rename(&tmp, path)
}

impl RootSecret {
    /// Loads the root secret, refusing a file that others can read.
    pub fn load(path: &Path) -> Result<Self, SecretError> {
        check_private(path)?;
        let bytes = Zeroizing::new(
            fs::read(path).map_err(|source| SecretError::Io { path: path.display().to_string(), source })?,
        );
        let arr: [u8; ROOT_LEN] =
            bytes.as_slice().try_into().map_err(|_| SecretError::BadLength { path: path.display().to_string() })?;
        Ok(RootSecret(Zeroizing::new(arr)))
    }

    /// Creates a fresh root secret file (0600). Fails if one exists.
    pub fn create(path: &Path) -> Result<Self, SecretError> {
        let mut bytes = Zeroizing::new([0u8; ROOT_LEN]);
        SystemRandom::new().fill(bytes.as_mut()).map_err(|_| SecretError::Random)?;
        write_private_new(path, bytes.as_ref())
            .map_err(|source| SecretError::Io { path: path.display().to_string(), source })?;
        Ok(RootSecret(bytes))
    }

    /// A root secret from raw bytes, for tests.
    pub fn from_bytes(bytes: [u8; ROOT_LEN]) -> Self {
        RootSecret(Zeroizing::new(bytes))
    }

    /// Derives a 32-byte key for one purpose, e.g. `"rampart/access-key-seal/v1"`.
    fn derive(&self, label: &str) -> Zeroizing<[u8; 32]> {
        struct Len32;
        impl hkdf::KeyType for Len32 {
            fn len(&self) -> usize {
                32
            }
        }
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"rampart-root-v1");
        let prk = salt.extract(self.0.as_ref());
        let mut out = Zeroizing::new([0u8; 32]);
        let info = [label.as_bytes()];
        // Expanding 32 bytes from SHA-256 cannot exceed HKDF's 255*32 limit,
        // so these calls cannot fail; a failure would leave a zero key, which
        // we refuse to hand out by construction below.
        if let Ok(okm) = prk.expand(&info, Len32) {
            let _ = okm.fill(out.as_mut());
        }
        out
    }

    /// A sealer for one purpose.
    pub fn sealer(&self, label: &str) -> Sealer {
        let key = self.derive(label);
        // AES-256 accepts any 32-byte key, so construction cannot fail.
        let unbound = UnboundKey::new(&AES_256_GCM, key.as_ref()).ok();
        Sealer { key: unbound.map(LessSafeKey::new) }
    }

    /// A keyed hash (HMAC-SHA256) for one purpose, for recording sensitive
    /// values as comparable but irreversible digests.
    pub fn keyed_hasher(&self, label: &str) -> KeyedHasher {
        let key = self.derive(label);
        KeyedHasher(hmac::Key::new(hmac::HMAC_SHA256, key.as_ref()))
    }
}

/// Seals and opens small secrets with AES-256-GCM.
pub struct Sealer {
    key: Option<LessSafeKey>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([REDACTED])")
    }
}

impl Sealer {
    /// `version || nonce || ciphertext || tag`, bound to `aad`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SecretError> {
        let key = self.key.as_ref().ok_or(SecretError::Unseal)?;
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| SecretError::Random)?;
        let mut buf = plaintext.to_vec();
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut buf)
            .map_err(|_| SecretError::Unseal)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(SEAL_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        let key = self.key.as_ref().ok_or(SecretError::Unseal)?;
        let (&version, rest) = sealed.split_first().ok_or(SecretError::Unseal)?;
        if version != SEAL_V1 || rest.len() < NONCE_LEN + 16 {
            return Err(SecretError::Unseal);
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecretError::Unseal)?;
        let mut buf = Zeroizing::new(body.to_vec());
        let len = key.open_in_place(nonce, Aad::from(aad), buf.as_mut_slice()).map_err(|_| SecretError::Unseal)?.len();
        buf.truncate(len);
        Ok(buf)
    }
}

/// HMAC-SHA256 under a derived key.
pub struct KeyedHasher(hmac::Key);

impl std::fmt::Debug for KeyedHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyedHasher([REDACTED])")
    }
}

impl KeyedHasher {
    /// `hmac-sha256:` followed by the lowercase hex digest.
    pub fn hash(&self, value: &[u8]) -> String {
        let tag = hmac::sign(&self.0, value);
        format!("hmac-sha256:{}", hex(tag.as_ref()))
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Fills a buffer with random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<Zeroizing<[u8; N]>, SecretError> {
    let mut out = Zeroizing::new([0u8; N]);
    SystemRandom::new().fill(out.as_mut()).map_err(|_| SecretError::Random)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trips_and_binds_aad() {
        let root = RootSecret::from_bytes([7; 32]);
        let sealer = root.sealer("test/v1");
        let blob = sealer.seal(b"key-1", b"secret").unwrap_or_default();
        assert_eq!(sealer.open(b"key-1", &blob).ok().as_deref().map(Vec::as_slice), Some(&b"secret"[..]));
        assert!(sealer.open(b"key-2", &blob).is_err(), "a sealed value must not open under another AAD");
        assert!(root.sealer("other/v1").open(b"key-1", &blob).is_err(), "labels must separate keys");
        let mut tampered = blob.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert!(sealer.open(b"key-1", &tampered).is_err());
        assert!(sealer.open(b"key-1", &[]).is_err());
        assert!(sealer.open(b"key-1", &[SEAL_V1, 0, 0]).is_err());
    }

    #[test]
    fn debug_output_is_redacted() {
        let root = RootSecret::from_bytes([0x41; 32]);
        assert_eq!(format!("{root:?}"), "RootSecret([REDACTED])");
    }

    #[test]
    fn root_secret_file_must_be_private() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let path = dir.path().join("root.key");
        assert!(RootSecret::create(&path).is_ok());
        assert!(RootSecret::load(&path).is_ok());
        assert!(RootSecret::create(&path).is_err(), "an existing secret must never be overwritten");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o644));
            assert!(matches!(RootSecret::load(&path), Err(SecretError::TooOpen { .. })));
        }
    }

    #[test]
    fn keyed_hash_is_stable_and_keyed() {
        let a = RootSecret::from_bytes([1; 32]).keyed_hasher("audit/v1");
        let b = RootSecret::from_bytes([2; 32]).keyed_hasher("audit/v1");
        assert_eq!(a.hash(b"x"), a.hash(b"x"));
        assert_ne!(a.hash(b"x"), b.hash(b"x"));
    }
}
