//! Ed25519 note keys in the encodings of golang.org/x/mod/sumdb/note, which
//! C2SP signed-note tooling shares: the public verifier key
//! `<name>+<key id hex>+<base64(0x01 || public key)>` and the private signer
//! key `PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || seed)>`.
//!
//! The seed is the only secret. It lives in a zeroizing buffer, never appears
//! in `Debug` output or errors, and leaves the type only through
//! [`Signer::expose_secret_encoding`], whose name says what it does.

use std::fmt;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use data_encoding::{BASE64, HEXLOWER};
use zeroize::Zeroizing;

use super::NoteError;

/// The C2SP signed-note signature type byte for Ed25519.
const ALG_ED25519: u8 = 0x01;
const KEY_LEN: usize = 32;
const PRIVATE_PREFIX: &str = "PRIVATE+KEY+";

/// A public key that checks signatures on notes.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    key_id: u32,
    public_key: [u8; KEY_LEN],
}

/// A private key that signs notes. Redacted in `Debug`; the seed is zeroized
/// on drop.
pub struct Signer {
    verifier: Verifier,
    seed: Zeroizing<[u8; KEY_LEN]>,
    key_pair: Ed25519KeyPair,
}

/// Whether `name` may name a key: non-empty, and without Unicode spaces or
/// plus signs, which separate the fields of the key encodings.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// The key ID: the first four bytes, big-endian, of
/// SHA-256(name || "\n" || 0x01 || public key).
fn key_id(name: &str, public_key: &[u8; KEY_LEN]) -> u32 {
    key_id_for(name, ALG_ED25519, public_key)
}

/// The key ID of a key of signature type `alg` (0x01 for note keys, 0x04
/// for tlog-cosignature keys): the first four bytes, big-endian, of
/// SHA-256(name || "\n" || alg || public key).
pub fn key_id_for(name: &str, alg: u8, public_key: &[u8; KEY_LEN]) -> u32 {
    let mut input = Vec::with_capacity(name.len() + 2 + KEY_LEN);
    input.extend_from_slice(name.as_bytes());
    input.push(b'\n');
    input.push(alg);
    input.extend_from_slice(public_key);
    let d = digest(&SHA256, &input);
    let b = d.as_ref();
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Splits `<name>+<hex key id>+<base64 key>` and checks the name, the key
/// type byte and the key length. Returns the name, the stated key ID and the
/// raw 32 key bytes in a zeroizing buffer, since for a signer they are secret.
fn split_key(encoded: &str) -> Result<(&str, u32, Zeroizing<[u8; KEY_LEN]>), NoteError> {
    split_key_for(encoded, ALG_ED25519)
}

/// [`split_key`] for keys of signature type `alg`, shared with the
/// tlog-cosignature keys of the witness, which differ only in that byte.
pub fn split_key_for(encoded: &str, alg: u8) -> Result<(&str, u32, Zeroizing<[u8; KEY_LEN]>), NoteError> {
    // Names cannot hold '+' but the standard base64 alphabet can, so only the
    // first two plus signs separate fields.
    let mut parts = encoded.splitn(3, '+');
    let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(NoteError::MalformedKey("a key has three fields separated by '+'"));
    };
    if !is_valid_key_name(name) {
        return Err(NoteError::MalformedKey("the key name is empty or contains a space or '+'"));
    }
    let id_bytes = match HEXLOWER.decode(id_hex.as_bytes()) {
        Ok(b) if b.len() == 4 => b,
        _ => return Err(NoteError::MalformedKey("the key ID is not 8 lower-case hex digits")),
    };
    let stated_id = u32::from_be_bytes([id_bytes[0], id_bytes[1], id_bytes[2], id_bytes[3]]);
    let raw = Zeroizing::new(
        BASE64.decode(key_b64.as_bytes()).map_err(|_| NoteError::MalformedKey("the key is not valid base64"))?,
    );
    match raw.split_first() {
        Some((&t, key)) if t == alg && key.len() == KEY_LEN => {
            let mut out = Zeroizing::new([0u8; KEY_LEN]);
            out.copy_from_slice(key);
            Ok((name, stated_id, out))
        }
        Some((&t, _)) if t == alg => Err(NoteError::MalformedKey("an Ed25519 key is 32 bytes")),
        Some((&other, _)) => Err(NoteError::UnsupportedKeyType(other)),
        None => Err(NoteError::MalformedKey("the key is empty")),
    }
}

impl Verifier {
    /// The verifier for an Ed25519 public key under `name`.
    pub fn new(name: &str, public_key: [u8; KEY_LEN]) -> Result<Self, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::MalformedKey("the key name is empty or contains a space or '+'"));
        }
        Ok(Self { name: name.to_owned(), key_id: key_id(name, &public_key), public_key })
    }

    /// Parses `<name>+<hex key id>+<base64(0x01 || public key)>`, refusing
    /// it when the stated key ID is not the one name and key produce.
    pub fn parse(encoded: &str) -> Result<Self, NoteError> {
        let (name, stated_id, key) = split_key(encoded)?;
        let verifier = Self::new(name, *key)?;
        if verifier.key_id != stated_id {
            return Err(NoteError::KeyIdMismatch);
        }
        Ok(verifier)
    }

    /// The key name, which signature lines repeat.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 32-bit key ID that prefixes each of this key's signatures.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The raw Ed25519 public key.
    pub fn public_key(&self) -> &[u8; KEY_LEN] {
        &self.public_key
    }

    /// Whether `signature` is this key's Ed25519 signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.public_key).verify(message, signature).is_ok()
    }
}

/// The encoded verifier key, `<name>+<hex key id>+<base64 key>`.
impl fmt::Display for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = [0u8; 1 + KEY_LEN];
        raw[0] = ALG_ED25519;
        raw[1..].copy_from_slice(&self.public_key);
        write!(f, "{}+{:08x}+{}", self.name, self.key_id, BASE64.encode(&raw))
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Verifier").field(&self.to_string()).finish()
    }
}

impl Signer {
    /// A new random Ed25519 key under `name`.
    pub fn generate(name: &str) -> Result<Self, NoteError> {
        let mut seed = Zeroizing::new([0u8; KEY_LEN]);
        aws_lc_rs::rand::fill(seed.as_mut()).map_err(|_| NoteError::KeyGeneration)?;
        Self::from_seed(name, seed)
    }

    /// The signer whose Ed25519 private key is `seed` (RFC 8032's 32-byte
    /// private key), under `name`.
    pub fn from_seed(name: &str, seed: Zeroizing<[u8; KEY_LEN]>) -> Result<Self, NoteError> {
        let key_pair = Ed25519KeyPair::from_seed_unchecked(seed.as_ref()).map_err(|_| NoteError::KeyGeneration)?;
        let mut public_key = [0u8; KEY_LEN];
        let derived = key_pair.public_key().as_ref();
        if derived.len() != KEY_LEN {
            return Err(NoteError::KeyGeneration);
        }
        public_key.copy_from_slice(derived);
        Ok(Self { verifier: Verifier::new(name, public_key)?, seed, key_pair })
    }

    /// Parses `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>`,
    /// refusing it when the stated key ID does not match the derived public
    /// key, which catches a truncated or mistyped key before it signs.
    pub fn parse(encoded: &str) -> Result<Self, NoteError> {
        let rest = encoded
            .strip_prefix(PRIVATE_PREFIX)
            .ok_or(NoteError::MalformedKey("a signer key starts with PRIVATE+KEY+"))?;
        let (name, stated_id, seed) = split_key(rest)?;
        let signer = Self::from_seed(name, seed)?;
        if signer.verifier.key_id != stated_id {
            return Err(NoteError::KeyIdMismatch);
        }
        Ok(signer)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.verifier.name
    }

    /// The key ID that prefixes this key's signatures.
    pub fn key_id(&self) -> u32 {
        self.verifier.key_id
    }

    /// The matching public verifier.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The Ed25519 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out.copy_from_slice(self.key_pair.sign(message).as_ref());
        out
    }

    /// The encoded private key, `PRIVATE+KEY+<name>+<hex id>+<base64 seed>`,
    /// for writing to a secret file. Anyone holding it can sign as this key.
    pub fn expose_secret_encoding(&self) -> Zeroizing<String> {
        let mut raw = Zeroizing::new([0u8; 1 + KEY_LEN]);
        raw[0] = ALG_ED25519;
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

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.verifier.name)
            .field("key_id", &format_args!("{:08x}", self.verifier.key_id))
            .field("seed", &"[REDACTED]")
            .finish()
    }
}
