//! The software keystore: a 32-byte root wrapping key held in memory, which
//! wraps stored material with `blob::wrap` (AES-256-GCM, versioned). At rest
//! the root key is sealed one of two ways:
//!
//! - a key file of exactly 32 bytes, created on first use with mode 0600 and
//!   refused when its group or others can read it; or
//! - Shamir shares: the root key split into N shares of which any K
//!   reconstruct it, each held by a different operator, so no single file or
//!   person holds the key (`rampart operator init` prints them once).
//!
//! The GF(256) arithmetic of Shamir's scheme comes from `vsss-rs`, which is
//! constant-time (no tables indexed by secret bytes; its audit findings are
//! fixed in 6.x) rather than hand-rolled here. A share is text:
//!
//! ```text
//! rampart-share-1-<index>-<base32 of: threshold (1) | root fingerprint (8) | y (32) | checksum (4)>
//! ```
//!
//! Base32 rather than base64 because shares are read off paper and typed:
//! its alphabet has no case and no 0/O or 1/l pairs. The checksum (4 bytes
//! of SHA-256 over the version, index and payload) catches a mistyped share
//! before it is combined; the fingerprint (an HMAC of the root key) tells
//! shares of different root keys apart and confirms that the combined key is
//! the one that was split. Neither reveals anything about the key: with
//! fewer than K shares every root key remains equally likely.

use std::convert::Infallible;
use std::fmt;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use data_encoding::BASE32_NOPAD;
use rampart_core::secret::{SecretError, check_private, write_private_new};
use secrecy::{ExposeSecret, SecretString};
use vsss_rs::Gf256;
use zeroize::Zeroizing;

use super::{Keystore, KeystoreError};
use crate::blob::{self, BlobError, KEY_LEN, MaterialKey, WrappingKey};

/// The text every share starts with; the `1` is the share format version.
pub const SHARE_PREFIX: &str = "rampart-share-1-";
pub(super) const FINGERPRINT_LEN: usize = 8;
const CHECKSUM_LEN: usize = 4;
const PAYLOAD_LEN: usize = 1 + FINGERPRINT_LEN + KEY_LEN + CHECKSUM_LEN;
const FINGERPRINT_LABEL: &[u8] = b"rampart-kms/root-fingerprint/v1";

/// Where the root key of a software keystore came from, for `Debug` and logs.
#[derive(Debug, Clone)]
enum Source {
    KeyFile(PathBuf),
    Shares,
    Generated,
}

/// A keystore whose root wrapping key is held in memory (zeroized on drop).
pub struct SoftwareKeystore {
    root: WrappingKey,
    source: Source,
}

impl SoftwareKeystore {
    /// Loads the root key from `path`, or, when the file does not exist and
    /// `create_if_missing` is set, creates it with a fresh random key and
    /// mode 0600. A file that group or others can read is refused.
    pub fn from_key_file(path: &Path, create_if_missing: bool) -> Result<Self, KeystoreError> {
        let source = Source::KeyFile(path.to_path_buf());
        if create_if_missing {
            let root = Zeroizing::new(random_root()?);
            match write_private_new(path, root.as_ref()) {
                Ok(()) => return Ok(SoftwareKeystore { root: WrappingKey::from_bytes(root), source }),
                // Another process created it first, or it existed: use it.
                Err(err) if err.kind() == ErrorKind::AlreadyExists => {}
                Err(err) => {
                    return Err(KeystoreError::Unavailable(format!(
                        "cannot create the root key file {}: {err}",
                        path.display()
                    )));
                }
            }
        }
        check_private(path).map_err(|err| match err {
            SecretError::TooOpen { .. } => KeystoreError::Config(err.to_string()),
            other => KeystoreError::Unavailable(other.to_string()),
        })?;
        let bytes = Zeroizing::new(fs::read(path).map_err(|err| {
            KeystoreError::Unavailable(format!("cannot read the root key file {}: {err}", path.display()))
        })?);
        let root = WrappingKey::from_slice(&bytes).ok_or_else(|| {
            KeystoreError::Config(format!("the root key file {} must hold exactly {KEY_LEN} bytes", path.display()))
        })?;
        Ok(SoftwareKeystore { root, source })
    }

    /// A keystore with a fresh random root key that exists only in memory,
    /// to be split into shares by [`SoftwareKeystore::split`].
    pub fn generate() -> Result<Self, KeystoreError> {
        Ok(SoftwareKeystore {
            root: WrappingKey::from_bytes(Zeroizing::new(random_root()?)),
            source: Source::Generated,
        })
    }

    /// Splits the root key into `shares` shares of which any `threshold`
    /// reconstruct it. The threshold is at least 2 (one share that is the
    /// key itself would be a key file with extra steps) and at most `shares`.
    pub fn split(&self, threshold: u8, shares: u8) -> Result<Vec<SecretString>, KeystoreError> {
        if threshold < 2 || threshold > shares {
            return Err(KeystoreError::Config(format!(
                "a split needs a threshold of at least 2 and at most the number of shares (got {threshold} of {shares})"
            )));
        }
        let mut rng = OsRng { failed: false };
        let raw = Zeroizing::new(
            Gf256::split_bytes(threshold.into(), shares.into(), self.root.expose(), &mut rng)
                .map_err(|err| KeystoreError::Config(format!("cannot split the root key: {err:?}")))?,
        );
        // Shares made while the random generator failed have predictable
        // coefficients and would give the key away; they are dropped unseen.
        if rng.failed {
            return Err(random_failed());
        }
        let fingerprint = fingerprint(&self.root);
        let mut out = Vec::with_capacity(raw.len());
        for share in raw.iter() {
            let (&index, y) = share.split_first().ok_or_else(|| KeystoreError::Config("empty share".into()))?;
            out.push(encode_share(index, threshold, &fingerprint, y)?);
        }
        Ok(out)
    }

    /// Reconstructs the root key from shares made by
    /// [`SoftwareKeystore::split`]: at least the threshold of them, all of
    /// the same split. A mistyped share, shares of different root keys or
    /// too few shares are refused as [`KeystoreError::Config`] naming the
    /// share's position in `shares` (never its text).
    pub fn from_shares(shares: &[SecretString]) -> Result<Self, KeystoreError> {
        let parsed = shares
            .iter()
            .enumerate()
            .map(|(at, share)| decode_share(share.expose_secret(), &format!("share {}", at + 1)))
            .collect::<Result<Vec<_>, _>>()?;
        let first = parsed.first().ok_or_else(|| KeystoreError::Config("no shares given".into()))?;
        for (at, share) in parsed.iter().enumerate() {
            if share.fingerprint != first.fingerprint || share.threshold != first.threshold {
                return Err(KeystoreError::Config(format!(
                    "shares 1 and {} belong to different root keys or splits",
                    at + 1
                )));
            }
            if parsed[..at].iter().any(|earlier| earlier.point[0] == share.point[0]) {
                return Err(KeystoreError::Config(format!("share {} repeats an earlier share's index", at + 1)));
            }
        }
        if parsed.len() < usize::from(first.threshold) {
            return Err(KeystoreError::Config(format!(
                "{} shares are needed to reconstruct the root key, {} given",
                first.threshold,
                parsed.len()
            )));
        }
        let points = Zeroizing::new(parsed.iter().map(|share| share.point.to_vec()).collect::<Vec<_>>());
        let root = combine(&points, &first.fingerprint)?;
        Ok(SoftwareKeystore { root, source: Source::Shares })
    }

    /// A keystore around a root key that `combine` reconstructed from shares.
    pub(super) fn from_combined(root: WrappingKey) -> Self {
        SoftwareKeystore { root, source: Source::Shares }
    }

    /// The fingerprint as bytes, as shares carry it (tests forge shares with it).
    #[cfg(test)]
    pub(super) fn fingerprint_bytes(&self) -> [u8; FINGERPRINT_LEN] {
        fingerprint(&self.root)
    }

    /// The key file the root key was loaded from or created in, if any.
    pub fn key_file(&self) -> Option<&Path> {
        match &self.source {
            Source::KeyFile(path) => Some(path),
            Source::Shares | Source::Generated => None,
        }
    }

    /// A short public fingerprint of the root key (an HMAC of it, in hex),
    /// for operators to confirm which root key a keystore or share holds.
    pub fn fingerprint(&self) -> String {
        data_encoding::HEXLOWER.encode(&fingerprint(&self.root))
    }
}

impl Keystore for SoftwareKeystore {
    fn name(&self) -> &'static str {
        "software"
    }

    fn wrap_secret(&self, secret: &[u8], aad: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        blob::wrap_secret(&self.root, secret, aad).map_err(from_blob)
    }

    fn unwrap_secret(&self, wrapped: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        blob::unwrap_secret(&self.root, wrapped, aad).map_err(from_blob)
    }

    fn wrap(&self, material: &MaterialKey, aad: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        blob::wrap(&self.root, material, aad).map_err(from_blob)
    }

    fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<MaterialKey, KeystoreError> {
        blob::unwrap(&self.root, wrapped, aad).map_err(from_blob)
    }
}

impl fmt::Debug for SoftwareKeystore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareKeystore").field("root", &self.root).field("source", &self.source).finish()
    }
}

fn from_blob(err: BlobError) -> KeystoreError {
    match err {
        BlobError::Unwrap | BlobError::InvalidCiphertext => KeystoreError::Unwrap,
        BlobError::Internal | BlobError::DataKeyLength | BlobError::Destroyed => {
            KeystoreError::Unavailable("the cryptographic backend failed".into())
        }
    }
}

fn random_failed() -> KeystoreError {
    KeystoreError::Unavailable("the system random generator failed".into())
}

fn random_root() -> Result<[u8; KEY_LEN], KeystoreError> {
    let mut root = [0u8; KEY_LEN];
    SystemRandom::new().fill(&mut root).map_err(|_| random_failed())?;
    Ok(root)
}

fn fingerprint(root: &WrappingKey) -> [u8; FINGERPRINT_LEN] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, root.expose()), FINGERPRINT_LABEL);
    let mut out = [0u8; FINGERPRINT_LEN];
    out.copy_from_slice(&tag.as_ref()[..FINGERPRINT_LEN]);
    out
}

fn checksum(index: u8, body: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut input = Zeroizing::new(Vec::with_capacity(SHARE_PREFIX.len() + 1 + body.len()));
    input.extend_from_slice(SHARE_PREFIX.as_bytes());
    input.push(index);
    input.extend_from_slice(body);
    let hash = digest(&SHA256, &input);
    let mut out = [0u8; CHECKSUM_LEN];
    out.copy_from_slice(&hash.as_ref()[..CHECKSUM_LEN]);
    out
}

/// Combines share points (`index || y`) and accepts the result only if its
/// fingerprint matches the shares', which catches too few shares and shares
/// of different splits of the same root key.
pub(super) fn combine(points: &[Vec<u8>], expected: &[u8; FINGERPRINT_LEN]) -> Result<WrappingKey, KeystoreError> {
    let secret = Zeroizing::new(
        Gf256::combine_bytes(points)
            .map_err(|err| KeystoreError::Config(format!("cannot combine the shares: {err:?}")))?,
    );
    let root = WrappingKey::from_slice(&secret)
        .ok_or_else(|| KeystoreError::Config("the shares do not hold a root key".into()))?;
    verify_slices_are_equal(&fingerprint(&root), expected).map_err(|_| {
        KeystoreError::Config("the shares do not reconstruct the root key (too few, or from different splits)".into())
    })?;
    Ok(root)
}

pub(super) fn encode_share(
    index: u8,
    threshold: u8,
    fingerprint: &[u8; FINGERPRINT_LEN],
    y: &[u8],
) -> Result<SecretString, KeystoreError> {
    let mut payload = Zeroizing::new([0u8; PAYLOAD_LEN]);
    let body_len = PAYLOAD_LEN - CHECKSUM_LEN;
    if y.len() != KEY_LEN {
        return Err(KeystoreError::Config("a share of the root key has the wrong length".into()));
    }
    payload[0] = threshold;
    payload[1..1 + FINGERPRINT_LEN].copy_from_slice(fingerprint);
    payload[1 + FINGERPRINT_LEN..body_len].copy_from_slice(y);
    let sum = checksum(index, &payload[..body_len]);
    payload[body_len..].copy_from_slice(&sum);
    // The text is built at its exact final length, so turning it into a
    // `SecretString` (a boxed str) does not reallocate and leave a copy of
    // the share in freed memory.
    let index_text = index.to_string();
    let len = SHARE_PREFIX.len() + index_text.len() + 1 + BASE32_NOPAD.encode_len(PAYLOAD_LEN);
    let mut text = String::with_capacity(len);
    text.push_str(SHARE_PREFIX);
    text.push_str(&index_text);
    text.push('-');
    BASE32_NOPAD.encode_append(payload.as_ref(), &mut text);
    Ok(SecretString::from(text))
}

/// One decoded share: its point (`index || y`) and what it says about its split.
pub(super) struct Share {
    pub(super) point: Zeroizing<[u8; 1 + KEY_LEN]>,
    pub(super) threshold: u8,
    pub(super) fingerprint: [u8; FINGERPRINT_LEN],
}

impl Share {
    /// The share's index (its x coordinate), 1 to 255.
    pub(super) fn index(&self) -> u8 {
        self.point[0]
    }
}

/// Parses share text; `name` ("share 2", "the share") names it in errors.
pub(super) fn decode_share(text: &str, name: &str) -> Result<Share, KeystoreError> {
    let malformed = || KeystoreError::Config(format!("{name} is not a {SHARE_PREFIX}… share"));
    let mistyped = || KeystoreError::Config(format!("{name} is mistyped or corrupt: its checksum fails"));
    let rest = text.trim().strip_prefix(SHARE_PREFIX).ok_or_else(malformed)?;
    let (index, encoded) = rest.split_once('-').ok_or_else(malformed)?;
    let index: u8 = index.parse().map_err(|_| malformed())?;
    if index == 0 {
        return Err(malformed());
    }
    // Accept lower case, as people type it.
    let upper = Zeroizing::new(encoded.as_bytes().to_ascii_uppercase());
    let mut payload = Zeroizing::new([0u8; PAYLOAD_LEN]);
    match BASE32_NOPAD.decode_len(upper.len()) {
        Ok(PAYLOAD_LEN) => {}
        _ => return Err(mistyped()),
    }
    BASE32_NOPAD.decode_mut(&upper, payload.as_mut()).map_err(|_| mistyped())?;
    let body_len = PAYLOAD_LEN - CHECKSUM_LEN;
    verify_slices_are_equal(&checksum(index, &payload[..body_len]), &payload[body_len..]).map_err(|_| mistyped())?;
    let mut point = Zeroizing::new([0u8; 1 + KEY_LEN]);
    point[0] = index;
    point[1..].copy_from_slice(&payload[1 + FINGERPRINT_LEN..body_len]);
    let mut fingerprint = [0u8; FINGERPRINT_LEN];
    fingerprint.copy_from_slice(&payload[1..1 + FINGERPRINT_LEN]);
    Ok(Share { point, threshold: payload[0], fingerprint })
}

/// The operating system's generator through `aws-lc-rs`, in the shape
/// `vsss-rs` asks for. Its trait wants an infallible generator; rather than
/// panic, a failure is recorded and the caller discards the output.
struct OsRng {
    failed: bool,
}

impl rand_core::TryRng for OsRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut bytes = Zeroizing::new([0u8; 4]);
        self.try_fill_bytes(bytes.as_mut())?;
        Ok(u32::from_le_bytes(*bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut bytes = Zeroizing::new([0u8; 8]);
        self.try_fill_bytes(bytes.as_mut())?;
        Ok(u64::from_le_bytes(*bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        if SystemRandom::new().fill(dst).is_err() {
            self.failed = true;
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for OsRng {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fewer_than_threshold_points_combine_to_a_key_the_fingerprint_rejects() {
        // `from_shares` refuses too few shares by count before combining;
        // this checks the cryptographic backstop behind that count.
        let keystore = SoftwareKeystore::generate().unwrap();
        let shares = keystore.split(3, 5).unwrap();
        let parsed: Vec<Share> = shares.iter().map(|s| decode_share(s.expose_secret(), "share").unwrap()).collect();
        let two: Vec<Vec<u8>> = parsed[..2].iter().map(|s| s.point.to_vec()).collect();
        let three: Vec<Vec<u8>> = parsed[1..4].iter().map(|s| s.point.to_vec()).collect();
        assert!(matches!(combine(&two, &parsed[0].fingerprint), Err(KeystoreError::Config(_))));
        let root = combine(&three, &parsed[0].fingerprint).unwrap();
        assert_eq!(root.expose(), keystore.root.expose());
    }

    #[test]
    fn share_text_has_the_documented_shape() {
        let keystore = SoftwareKeystore::generate().unwrap();
        let shares = keystore.split(2, 3).unwrap();
        for (i, share) in shares.iter().enumerate() {
            let text = share.expose_secret();
            let expected_prefix = format!("{SHARE_PREFIX}{}-", i + 1);
            assert!(text.starts_with(&expected_prefix), "{i}");
            assert_eq!(text.len(), expected_prefix.len() + BASE32_NOPAD.encode_len(PAYLOAD_LEN));
            let share = decode_share(text, "share").unwrap();
            assert_eq!(share.threshold, 2);
            assert_eq!(share.fingerprint, fingerprint(&keystore.root));
        }
    }
}
