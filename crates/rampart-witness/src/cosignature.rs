//! C2SP tlog-cosignature v1 (c2sp.org/tlog-cosignature) with Ed25519 cosigner
//! keys: the signed message, the signature line, and the cosigner's key
//! encodings. Pure: no file or network I/O.
//!
//! A cosignature is a note signature whose bytes are `key ID || 8-byte
//! big-endian timestamp || Ed25519 signature`, over the message
//! `cosignature/v1\ntime <timestamp>\n` followed by the checkpoint body. The key
//! ID is computed with the signature type byte 0x04, not the plain Ed25519
//! note byte 0x01, so a cosigner key can never be mistaken for a log key and a
//! cosignature never verifies as an ordinary note signature.
//!
//! Keys use the golang.org/x/mod/sumdb/note encodings with type byte 0x04:
//! `<name>+<hex key id>+<base64(0x04 || public key)>` for the verifier and
//! `PRIVATE+KEY+<name>+<hex key id>+<base64(0x04 || seed)>` for the signer.

use std::fmt;

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use data_encoding::BASE64;
use rampart_ledger::note::{NoteError, check_text, is_valid_key_name, key_id_for, split_key_for};
use zeroize::Zeroizing;

/// The signature type byte of Ed25519 cosignature v1 keys, which the key ID
/// commits to.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

/// The largest timestamp a cosignature may carry, 2^63 - 1, so that every
/// implementation can hold it in a signed 64-bit integer.
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

const KEY_LEN: usize = 32;
const SIG_LEN: usize = 64;
/// Key ID, timestamp, Ed25519 signature.
const RAW_LEN: usize = 4 + 8 + SIG_LEN;
const PRIVATE_PREFIX: &str = "PRIVATE+KEY+";
/// An em dash (U+2014) and a space open every note signature line.
const SIG_PREFIX: &str = "\u{2014} ";

/// Why a cosignature or a cosigner key was refused. Messages name keys but
/// never hold key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignatureError {
    #[error("malformed cosigner key: {0}")]
    MalformedKey(&'static str),
    #[error("unsupported cosigner key type 0x{0:02x}; only Ed25519 cosignature v1 (0x04) is supported")]
    UnsupportedKeyType(u8),
    #[error("the key ID does not match the cosigner name and public key")]
    KeyIdMismatch,
    #[error("the Ed25519 cosigner key could not be created")]
    KeyGeneration,
    #[error("the checkpoint body cannot be cosigned: {0}")]
    InvalidBody(&'static str),
    #[error("the timestamp {0} is larger than 2^63 - 1")]
    TimestampTooLarge(u64),
    #[error("malformed cosignature line: {0}")]
    MalformedLine(&'static str),
    #[error("the cosignature is by {found_name} ({found_id:08x}), not {expected_name} ({expected_id:08x})")]
    WrongKey { expected_name: String, expected_id: u32, found_name: String, found_id: u32 },
    #[error("the cosignature by {name} does not verify")]
    BadSignature { name: String },
}

/// A cosigner's public key: checks cosignatures.
#[derive(Clone, PartialEq, Eq)]
pub struct CosignerVerifier {
    name: String,
    key_id: u32,
    public_key: [u8; KEY_LEN],
}

/// A cosigner's private key. Redacted in `Debug`; the seed is zeroized on
/// drop.
pub struct CosignerKey {
    verifier: CosignerVerifier,
    seed: Zeroizing<[u8; KEY_LEN]>,
    key_pair: Ed25519KeyPair,
}

/// The cosigner key ID: the first four bytes, big-endian, of
/// SHA-256(name || "\n" || 0x04 || public key).
pub fn key_id(name: &str, public_key: &[u8; KEY_LEN]) -> u32 {
    key_id_for(name, ALG_COSIGNATURE_V1, public_key)
}

/// The message an Ed25519 cosignature v1 signs: the header line, the time
/// line, then the whole checkpoint body with its final newline.
pub fn signed_message(checkpoint_body: &str, time: u64) -> Result<Vec<u8>, CosignatureError> {
    check_body(checkpoint_body)?;
    if time > MAX_TIMESTAMP {
        return Err(CosignatureError::TimestampTooLarge(time));
    }
    Ok(format!("cosignature/v1\ntime {time}\n{checkpoint_body}").into_bytes())
}

/// Refuses a body that is not a plausible checkpoint: a valid note text with
/// at least the origin, size and root lines. Only the text is signed, so
/// anything else would make a cosignature over bytes no note can carry.
fn check_body(body: &str) -> Result<(), CosignatureError> {
    check_text(body).map_err(|_| CosignatureError::InvalidBody("not a valid note text"))?;
    if body.matches('\n').count() < 3 {
        return Err(CosignatureError::InvalidBody("a checkpoint has at least three lines"));
    }
    Ok(())
}

/// Cosigns `checkpoint_body` (the note text, without signatures) at `time`
/// (POSIX seconds) and returns the signature line, newline included.
pub fn cosign(checkpoint_body: &str, key: &CosignerKey, time: u64) -> Result<String, CosignatureError> {
    let message = signed_message(checkpoint_body, time)?;
    let mut raw = Vec::with_capacity(RAW_LEN);
    raw.extend_from_slice(&key.key_id().to_be_bytes());
    raw.extend_from_slice(&time.to_be_bytes());
    raw.extend_from_slice(key.key_pair.sign(&message).as_ref());
    Ok(format!("{SIG_PREFIX}{} {}\n", key.name(), BASE64.encode(&raw)))
}

/// A cosignature line taken apart, its signature not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCosignature {
    pub name: String,
    pub key_id: u32,
    pub time: u64,
    pub signature: [u8; SIG_LEN],
}

/// Splits one signature line (with or without its final newline) into name,
/// key ID, timestamp and signature, refusing anything that is not exactly an
/// Ed25519 cosignature v1.
pub fn parse_line(line: &str) -> Result<ParsedCosignature, CosignatureError> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    if line.contains('\n') {
        return Err(CosignatureError::MalformedLine("more than one line"));
    }
    let rest = line
        .strip_prefix(SIG_PREFIX)
        .ok_or(CosignatureError::MalformedLine("it does not start with an em dash and a space"))?;
    let (name, b64) = rest.split_once(' ').ok_or(CosignatureError::MalformedLine("no space after the name"))?;
    if !is_valid_key_name(name) {
        return Err(CosignatureError::MalformedLine("invalid key name"));
    }
    let raw = BASE64.decode(b64.as_bytes()).map_err(|_| CosignatureError::MalformedLine("not valid base64"))?;
    if raw.len() != RAW_LEN {
        return Err(CosignatureError::MalformedLine("not 4 + 8 + 64 bytes long"));
    }
    let mut id = [0u8; 4];
    let mut time = [0u8; 8];
    let mut signature = [0u8; SIG_LEN];
    id.copy_from_slice(&raw[..4]);
    time.copy_from_slice(&raw[4..12]);
    signature.copy_from_slice(&raw[12..]);
    let time = u64::from_be_bytes(time);
    if time > MAX_TIMESTAMP {
        return Err(CosignatureError::TimestampTooLarge(time));
    }
    Ok(ParsedCosignature { name: name.to_owned(), key_id: u32::from_be_bytes(id), time, signature })
}

/// Checks that `line` is `verifier`'s cosignature of `checkpoint_body` and
/// returns the time it states. Whether that time is acceptable (not in the
/// future, recent enough) is the caller's policy.
pub fn verify_cosignature(
    line: &str,
    checkpoint_body: &str,
    verifier: &CosignerVerifier,
) -> Result<u64, CosignatureError> {
    let parsed = parse_line(line)?;
    if parsed.name != verifier.name || parsed.key_id != verifier.key_id {
        return Err(CosignatureError::WrongKey {
            expected_name: verifier.name.clone(),
            expected_id: verifier.key_id,
            found_name: parsed.name,
            found_id: parsed.key_id,
        });
    }
    let message = signed_message(checkpoint_body, parsed.time)?;
    if !verifier.verify(&message, &parsed.signature) {
        return Err(CosignatureError::BadSignature { name: parsed.name });
    }
    Ok(parsed.time)
}

/// Splits `<name>+<hex key id>+<base64(0x04 || key)>` and checks the name,
/// the type byte and the length. The key bytes come back in a zeroizing
/// buffer, since for a signer they are the seed.
fn split_key(encoded: &str) -> Result<(&str, u32, Zeroizing<[u8; KEY_LEN]>), CosignatureError> {
    split_key_for(encoded, ALG_COSIGNATURE_V1).map_err(|e| match e {
        NoteError::UnsupportedKeyType(t) => CosignatureError::UnsupportedKeyType(t),
        NoteError::MalformedKey(m) => CosignatureError::MalformedKey(m),
        _ => CosignatureError::MalformedKey("the key encoding is invalid"),
    })
}

impl CosignerVerifier {
    /// The verifier for an Ed25519 cosigner public key under `name`.
    pub fn new(name: &str, public_key: [u8; KEY_LEN]) -> Result<Self, CosignatureError> {
        if !is_valid_key_name(name) {
            return Err(CosignatureError::MalformedKey("the key name is empty or contains a space or '+'"));
        }
        Ok(Self { name: name.to_owned(), key_id: key_id(name, &public_key), public_key })
    }

    /// Parses a vkey `<name>+<hex key id>+<base64(0x04 || public key)>`,
    /// refusing it when the stated key ID is not the one name and key give.
    pub fn parse(encoded: &str) -> Result<Self, CosignatureError> {
        let (name, stated_id, key) = split_key(encoded)?;
        let verifier = Self::new(name, *key)?;
        if verifier.key_id != stated_id {
            return Err(CosignatureError::KeyIdMismatch);
        }
        Ok(verifier)
    }

    /// The cosigner name, which signature lines repeat.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID that prefixes this cosigner's signatures.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The raw Ed25519 public key.
    pub fn public_key(&self) -> &[u8; KEY_LEN] {
        &self.public_key
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.public_key).verify(message, signature).is_ok()
    }
}

/// The vkey, `<name>+<hex key id>+<base64(0x04 || public key)>`.
impl fmt::Display for CosignerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = [0u8; 1 + KEY_LEN];
        raw[0] = ALG_COSIGNATURE_V1;
        raw[1..].copy_from_slice(&self.public_key);
        write!(f, "{}+{:08x}+{}", self.name, self.key_id, BASE64.encode(&raw))
    }
}

impl fmt::Debug for CosignerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CosignerVerifier").field(&self.to_string()).finish()
    }
}

impl CosignerKey {
    /// A new random cosigner key under `name`.
    pub fn generate(name: &str) -> Result<Self, CosignatureError> {
        let mut seed = Zeroizing::new([0u8; KEY_LEN]);
        aws_lc_rs::rand::fill(seed.as_mut()).map_err(|_| CosignatureError::KeyGeneration)?;
        Self::from_seed(name, seed)
    }

    /// The cosigner whose Ed25519 private key is `seed` (RFC 8032's 32-byte
    /// private key), under `name`.
    pub fn from_seed(name: &str, seed: Zeroizing<[u8; KEY_LEN]>) -> Result<Self, CosignatureError> {
        let key_pair =
            Ed25519KeyPair::from_seed_unchecked(seed.as_ref()).map_err(|_| CosignatureError::KeyGeneration)?;
        let mut public_key = [0u8; KEY_LEN];
        let derived = key_pair.public_key().as_ref();
        if derived.len() != KEY_LEN {
            return Err(CosignatureError::KeyGeneration);
        }
        public_key.copy_from_slice(derived);
        Ok(Self { verifier: CosignerVerifier::new(name, public_key)?, seed, key_pair })
    }

    /// Parses `PRIVATE+KEY+<name>+<hex key id>+<base64(0x04 || seed)>`,
    /// refusing it when the stated key ID does not match the derived public
    /// key, which catches a truncated or mistyped key before it signs.
    pub fn parse(encoded: &str) -> Result<Self, CosignatureError> {
        let rest = encoded
            .strip_prefix(PRIVATE_PREFIX)
            .ok_or(CosignatureError::MalformedKey("a cosigner private key starts with PRIVATE+KEY+"))?;
        let (name, stated_id, seed) = split_key(rest)?;
        let key = Self::from_seed(name, seed)?;
        if key.key_id() != stated_id {
            return Err(CosignatureError::KeyIdMismatch);
        }
        Ok(key)
    }

    /// The cosigner name.
    pub fn name(&self) -> &str {
        &self.verifier.name
    }

    /// The key ID that prefixes this cosigner's signatures.
    pub fn key_id(&self) -> u32 {
        self.verifier.key_id
    }

    /// The matching public verifier.
    pub fn verifier(&self) -> &CosignerVerifier {
        &self.verifier
    }

    /// The encoded private key for writing to a secret file. Anyone holding
    /// it can cosign as this witness.
    pub fn expose_secret_encoding(&self) -> Zeroizing<String> {
        let mut raw = Zeroizing::new([0u8; 1 + KEY_LEN]);
        raw[0] = ALG_COSIGNATURE_V1;
        raw[1..].copy_from_slice(self.seed.as_ref());
        let encoded = Zeroizing::new(BASE64.encode(raw.as_ref()));
        // Sized up front so the string never reallocates and leaves a copy of
        // the seed behind in freed memory.
        let mut out =
            Zeroizing::new(String::with_capacity(PRIVATE_PREFIX.len() + self.name().len() + 10 + encoded.len()));
        out.push_str(PRIVATE_PREFIX);
        out.push_str(self.name());
        out.push('+');
        out.push_str(&format!("{:08x}", self.key_id()));
        out.push('+');
        out.push_str(&encoded);
        out
    }
}

impl fmt::Debug for CosignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CosignerKey")
            .field("name", &self.verifier.name)
            .field("key_id", &format_args!("{:08x}", self.verifier.key_id))
            .field("seed", &"[REDACTED]")
            .finish()
    }
}

#[cfg(test)]
mod tests;
