//! Unwrapped key material of every spec, and the cryptography each spec
//! permits: AES-GCM (through `blob`), HMAC, ECDSA and RSA (OAEP, PSS and
//! PKCS#1 v1.5). All primitives come from aws-lc-rs.
//!
//! A [`Material`] is what the keystore's unwrapped bytes become: a symmetric
//! material key, an HMAC key, or a parsed private key. The serialised form
//! that the keystore wraps is the raw key for symmetric and HMAC keys and
//! PKCS#8 v1 DER for private keys. Nothing here logs, formats or returns
//! private key bytes, except [`generate_key_pair`], whose whole purpose is to
//! hand a fresh data key pair to its caller (`GenerateDataKeyPair`).

use std::fmt;

use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey,
    PublicEncryptingKey,
};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey};
use aws_lc_rs::{hmac, rsa};
use zeroize::Zeroizing;

use crate::blob::MaterialKey;
use crate::spec::{KeySpec, MacAlgorithm, SigningAlgorithm};

/// Why a cryptographic operation on material failed. Messages never carry
/// key bytes or the caller's data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaterialError {
    #[error("the key material is malformed for its key spec")]
    Malformed,
    #[error("the key's spec does not support this operation")]
    WrongKind,
    #[error("the digest must be exactly {0} bytes for this signing algorithm")]
    DigestLength(usize),
    #[error("the plaintext is longer than {0} bytes, the most RSAES_OAEP_SHA_256 can encrypt with this key")]
    PlaintextTooLong(usize),
    #[error("the ciphertext cannot be decrypted with this key")]
    Decrypt,
    #[error("the cryptographic library refused the operation")]
    Crypto,
}

/// Whether `Sign` and `Verify` get the message itself or its digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Raw,
    Digest,
}

/// One unwrapped version of a key.
pub enum Material {
    Symmetric(MaterialKey),
    /// A symmetric key generated and used inside the HSM: only its label is
    /// known here (see `keystore::ResidentKeys`).
    Resident {
        label: String,
    },
    Hmac {
        spec: KeySpec,
        key: Zeroizing<Vec<u8>>,
    },
    Ecdsa {
        spec: KeySpec,
        pair: EcdsaKeyPair,
    },
    Rsa {
        spec: KeySpec,
        pair: RsaKeyPair,
        decrypting: PrivateDecryptingKey,
    },
}

impl fmt::Debug for Material {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Material({}, [REDACTED])", self.spec())
    }
}

fn ecdsa_signing(spec: KeySpec) -> Option<&'static signature::EcdsaSigningAlgorithm> {
    match spec {
        KeySpec::EccNistP256 => Some(&signature::ECDSA_P256_SHA256_ASN1_SIGNING),
        KeySpec::EccNistP384 => Some(&signature::ECDSA_P384_SHA384_ASN1_SIGNING),
        _ => None,
    }
}

fn rsa_size(spec: KeySpec) -> Option<KeySize> {
    match spec {
        KeySpec::Rsa2048 => Some(KeySize::Rsa2048),
        KeySpec::Rsa3072 => Some(KeySize::Rsa3072),
        KeySpec::Rsa4096 => Some(KeySize::Rsa4096),
        _ => None,
    }
}

fn hmac_len(spec: KeySpec) -> Option<usize> {
    match spec {
        KeySpec::Hmac256 => Some(32),
        KeySpec::Hmac384 => Some(48),
        KeySpec::Hmac512 => Some(64),
        _ => None,
    }
}

fn random(len: usize) -> Result<Zeroizing<Vec<u8>>, MaterialError> {
    let mut bytes = Zeroizing::new(vec![0u8; len]);
    SystemRandom::new().fill(&mut bytes).map_err(|_| MaterialError::Crypto)?;
    Ok(bytes)
}

/// A fresh private key of an asymmetric spec as PKCS#8 v1 DER.
fn generate_pkcs8(spec: KeySpec) -> Result<Zeroizing<Vec<u8>>, MaterialError> {
    if let Some(alg) = ecdsa_signing(spec) {
        let doc = EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new()).map_err(|_| MaterialError::Crypto)?;
        return Ok(Zeroizing::new(doc.as_ref().to_vec()));
    }
    if let Some(size) = rsa_size(spec) {
        let pair = rsa::KeyPair::generate(size).map_err(|_| MaterialError::Crypto)?;
        let der: aws_lc_rs::encoding::Pkcs8V1Der<'static> = pair.as_der().map_err(|_| MaterialError::Crypto)?;
        return Ok(Zeroizing::new(der.as_ref().to_vec()));
    }
    Err(MaterialError::WrongKind)
}

/// A fresh data key pair for `GenerateDataKeyPair`: the private key as
/// PKCS#8 DER and the public key as X.509 SubjectPublicKeyInfo DER.
pub fn generate_key_pair(spec: KeySpec) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), MaterialError> {
    let pkcs8 = generate_pkcs8(spec)?;
    let material = Material::from_secret(spec, &pkcs8)?;
    let public = material.public_key_der()?;
    Ok((pkcs8, public))
}

/// Fills `len` bytes from the operating system's random generator.
pub fn generate_random(len: usize) -> Result<Zeroizing<Vec<u8>>, MaterialError> {
    random(len)
}

impl Material {
    /// Fresh material of `spec`, with the serialised secret for wrapping.
    pub fn generate(spec: KeySpec) -> Result<(Material, Zeroizing<Vec<u8>>), MaterialError> {
        let secret = match spec {
            KeySpec::SymmetricDefault => random(crate::blob::KEY_LEN)?,
            s => match hmac_len(s) {
                Some(len) => random(len)?,
                None => generate_pkcs8(s)?,
            },
        };
        let material = Material::from_secret(spec, &secret)?;
        Ok((material, secret))
    }

    /// Parses the serialised secret of a `spec` key (after unwrapping).
    pub fn from_secret(spec: KeySpec, secret: &[u8]) -> Result<Material, MaterialError> {
        match spec {
            KeySpec::SymmetricDefault => {
                MaterialKey::from_slice(secret).map(Material::Symmetric).ok_or(MaterialError::Malformed)
            }
            KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => {
                if Some(secret.len()) != hmac_len(spec) {
                    return Err(MaterialError::Malformed);
                }
                Ok(Material::Hmac { spec, key: Zeroizing::new(secret.to_vec()) })
            }
            KeySpec::EccNistP256 | KeySpec::EccNistP384 => {
                let alg = ecdsa_signing(spec).ok_or(MaterialError::WrongKind)?;
                let pair = EcdsaKeyPair::from_pkcs8(alg, secret).map_err(|_| MaterialError::Malformed)?;
                Ok(Material::Ecdsa { spec, pair })
            }
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
                let pair = RsaKeyPair::from_pkcs8(secret).map_err(|_| MaterialError::Malformed)?;
                let decrypting = PrivateDecryptingKey::from_pkcs8(secret).map_err(|_| MaterialError::Malformed)?;
                let expected = rsa_size(spec).map(|s| s.len() * 8);
                if Some(pair.public_modulus_len() * 8) != expected {
                    return Err(MaterialError::Malformed);
                }
                Ok(Material::Rsa { spec, pair, decrypting })
            }
        }
    }

    pub fn spec(&self) -> KeySpec {
        match self {
            Material::Symmetric(_) | Material::Resident { .. } => KeySpec::SymmetricDefault,
            Material::Hmac { spec, .. } | Material::Ecdsa { spec, .. } | Material::Rsa { spec, .. } => *spec,
        }
    }

    /// The symmetric material key, for the `blob` operations.
    pub fn symmetric(&self) -> Result<&MaterialKey, MaterialError> {
        match self {
            Material::Symmetric(key) => Ok(key),
            _ => Err(MaterialError::WrongKind),
        }
    }

    /// The public key as DER-encoded X.509 SubjectPublicKeyInfo, as AWS's
    /// `GetPublicKey` returns it.
    pub fn public_key_der(&self) -> Result<Vec<u8>, MaterialError> {
        let der: PublicKeyX509Der<'static> = match self {
            Material::Ecdsa { pair, .. } => pair.public_key().as_der(),
            Material::Rsa { pair, .. } => pair.public_key().as_der(),
            _ => return Err(MaterialError::WrongKind),
        }
        .map_err(|_| MaterialError::Crypto)?;
        Ok(der.as_ref().to_vec())
    }

    /// Signs `message` (or its precomputed digest) with `algorithm`, which
    /// the caller has checked against the key type. ECDSA signatures are
    /// DER-encoded, as AWS returns them.
    pub fn sign(
        &self,
        algorithm: SigningAlgorithm,
        message: &[u8],
        kind: MessageType,
    ) -> Result<Vec<u8>, MaterialError> {
        let digest = signing_digest(algorithm, message, kind)?;
        match self {
            Material::Ecdsa { spec, pair } => {
                // Each curve signs with the hash of its own strength only.
                let expected = if *spec == KeySpec::EccNistP256 {
                    SigningAlgorithm::EcdsaSha256
                } else {
                    SigningAlgorithm::EcdsaSha384
                };
                if algorithm != expected {
                    return Err(MaterialError::WrongKind);
                }
                let sig = pair.sign_digest(&digest).map_err(|_| MaterialError::Crypto)?;
                Ok(sig.as_ref().to_vec())
            }
            Material::Rsa { pair, .. } => {
                let encoding = rsa_encoding(algorithm).ok_or(MaterialError::WrongKind)?;
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign_digest(encoding, &digest, &mut sig).map_err(|_| MaterialError::Crypto)?;
                Ok(sig)
            }
            _ => Err(MaterialError::WrongKind),
        }
    }

    /// Whether `sig` is a valid signature of `message` under this key's
    /// public key. A malformed signature is simply not valid.
    pub fn verify(
        &self,
        algorithm: SigningAlgorithm,
        message: &[u8],
        kind: MessageType,
        sig: &[u8],
    ) -> Result<bool, MaterialError> {
        let digest = signing_digest(algorithm, message, kind)?;
        let (alg, public): (&'static dyn signature::VerificationAlgorithm, &[u8]) = match self {
            Material::Ecdsa { pair, .. } => (ecdsa_verification(algorithm)?, pair.public_key().as_ref()),
            Material::Rsa { pair, .. } => (rsa_verification(algorithm)?, pair.public_key().as_ref()),
            _ => return Err(MaterialError::WrongKind),
        };
        Ok(UnparsedPublicKey::new(alg, public).verify_digest(&digest, sig).is_ok())
    }

    /// The most plaintext RSAES_OAEP_SHA_256 takes with this key.
    pub fn rsa_max_plaintext(&self) -> Result<usize, MaterialError> {
        match self {
            Material::Rsa { pair, .. } => Ok(pair.public_modulus_len().saturating_sub(2 * 32 + 2)),
            _ => Err(MaterialError::WrongKind),
        }
    }

    /// RSAES-OAEP with SHA-256 and MGF1-SHA-256, AWS's `RSAES_OAEP_SHA_256`.
    pub fn rsa_encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, MaterialError> {
        let Material::Rsa { decrypting, .. } = self else { return Err(MaterialError::WrongKind) };
        let max = self.rsa_max_plaintext()?;
        if plaintext.len() > max {
            return Err(MaterialError::PlaintextTooLong(max));
        }
        let public: PublicEncryptingKey = decrypting.public_key();
        let key = OaepPublicEncryptingKey::new(public).map_err(|_| MaterialError::Crypto)?;
        let mut out = vec![0u8; key.ciphertext_size()];
        let len =
            key.encrypt(&OAEP_SHA256_MGF1SHA256, plaintext, &mut out, None).map_err(|_| MaterialError::Crypto)?.len();
        out.truncate(len);
        Ok(out)
    }

    pub fn rsa_decrypt(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, MaterialError> {
        let Material::Rsa { decrypting, .. } = self else { return Err(MaterialError::WrongKind) };
        let key = OaepPrivateDecryptingKey::new(decrypting.clone()).map_err(|_| MaterialError::Crypto)?;
        let mut out = Zeroizing::new(vec![0u8; key.min_output_size()]);
        let len =
            key.decrypt(&OAEP_SHA256_MGF1SHA256, ciphertext, &mut out, None).map_err(|_| MaterialError::Decrypt)?.len();
        out.truncate(len);
        Ok(out)
    }

    /// The HMAC tag of `message`.
    pub fn mac(&self, algorithm: MacAlgorithm, message: &[u8]) -> Result<Vec<u8>, MaterialError> {
        let key = self.hmac_key(algorithm)?;
        Ok(hmac::sign(&key, message).as_ref().to_vec())
    }

    /// Whether `tag` is the HMAC of `message`, compared in constant time.
    pub fn verify_mac(&self, algorithm: MacAlgorithm, message: &[u8], tag: &[u8]) -> Result<bool, MaterialError> {
        let key = self.hmac_key(algorithm)?;
        Ok(hmac::verify(&key, message, tag).is_ok())
    }

    fn hmac_key(&self, algorithm: MacAlgorithm) -> Result<hmac::Key, MaterialError> {
        let Material::Hmac { key, .. } = self else { return Err(MaterialError::WrongKind) };
        let alg = match algorithm {
            MacAlgorithm::HmacSha256 => hmac::HMAC_SHA256,
            MacAlgorithm::HmacSha384 => hmac::HMAC_SHA384,
            MacAlgorithm::HmacSha512 => hmac::HMAC_SHA512,
        };
        Ok(hmac::Key::new(alg, key))
    }
}

fn digest_algorithm(algorithm: SigningAlgorithm) -> &'static digest::Algorithm {
    use SigningAlgorithm::*;
    match algorithm {
        RsassaPssSha256 | RsassaPkcs1V15Sha256 | EcdsaSha256 => &digest::SHA256,
        RsassaPssSha384 | RsassaPkcs1V15Sha384 | EcdsaSha384 => &digest::SHA384,
        RsassaPssSha512 | RsassaPkcs1V15Sha512 => &digest::SHA512,
    }
}

/// The digest that is signed: computed here for a raw message, taken as
/// given (after a length check) for `MessageType::Digest`.
fn signing_digest(algorithm: SigningAlgorithm, message: &[u8], kind: MessageType) -> Result<Digest, MaterialError> {
    let alg = digest_algorithm(algorithm);
    match kind {
        MessageType::Raw => Ok(digest::digest(alg, message)),
        MessageType::Digest => {
            if message.len() != algorithm.digest_len() {
                return Err(MaterialError::DigestLength(algorithm.digest_len()));
            }
            Digest::import_less_safe(message, alg).map_err(|_| MaterialError::DigestLength(algorithm.digest_len()))
        }
    }
}

fn rsa_encoding(algorithm: SigningAlgorithm) -> Option<&'static dyn signature::RsaEncoding> {
    use SigningAlgorithm::*;
    Some(match algorithm {
        RsassaPssSha256 => &signature::RSA_PSS_SHA256,
        RsassaPssSha384 => &signature::RSA_PSS_SHA384,
        RsassaPssSha512 => &signature::RSA_PSS_SHA512,
        RsassaPkcs1V15Sha256 => &signature::RSA_PKCS1_SHA256,
        RsassaPkcs1V15Sha384 => &signature::RSA_PKCS1_SHA384,
        RsassaPkcs1V15Sha512 => &signature::RSA_PKCS1_SHA512,
        EcdsaSha256 | EcdsaSha384 => return None,
    })
}

fn rsa_verification(
    algorithm: SigningAlgorithm,
) -> Result<&'static dyn signature::VerificationAlgorithm, MaterialError> {
    use SigningAlgorithm::*;
    Ok(match algorithm {
        RsassaPssSha256 => &signature::RSA_PSS_2048_8192_SHA256,
        RsassaPssSha384 => &signature::RSA_PSS_2048_8192_SHA384,
        RsassaPssSha512 => &signature::RSA_PSS_2048_8192_SHA512,
        RsassaPkcs1V15Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        RsassaPkcs1V15Sha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        RsassaPkcs1V15Sha512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        EcdsaSha256 | EcdsaSha384 => return Err(MaterialError::WrongKind),
    })
}

fn ecdsa_verification(
    algorithm: SigningAlgorithm,
) -> Result<&'static dyn signature::VerificationAlgorithm, MaterialError> {
    match algorithm {
        SigningAlgorithm::EcdsaSha256 => Ok(&signature::ECDSA_P256_SHA256_ASN1),
        SigningAlgorithm::EcdsaSha384 => Ok(&signature::ECDSA_P384_SHA384_ASN1),
        _ => Err(MaterialError::WrongKind),
    }
}

#[cfg(test)]
mod tests;
