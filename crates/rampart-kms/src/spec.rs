//! Key specs, key usages and the algorithms each combination permits, under
//! the names AWS KMS uses, with their Tencent Cloud KMS equivalents; strict
//! parsers and `Display` for all of them. Key ids, material ids, alias names
//! and ARNs live in `spec/arn.rs` and are re-exported here.
//!
//! This module only names and validates. It must not hold or touch key
//! material, and it must not decide anything that depends on a key's state
//! (that is `lifecycle`).

use std::fmt;
use std::str::FromStr;

mod arn;

pub use arn::{AliasName, Arn, ArnResource, KeyId, KeyRef, MaterialId};

/// The 12-digit AWS account id that stands for a tenant in ARNs and key
/// policies: stable, derived from the tenant id's hex digits; the operator
/// organisation (no tenant) is all zeros.
pub fn account_id(tenant: Option<&rampart_core::Id>) -> String {
    match tenant {
        None => "000000000000".into(),
        Some(t) => {
            let hex: String = t.as_str().chars().filter(char::is_ascii_hexdigit).take(12).collect();
            let n = u64::from_str_radix(&hex, 16).unwrap_or(0) % 1_000_000_000_000;
            format!("{n:012}")
        }
    }
}

/// Why a name, id or combination was refused. Messages never repeat the
/// caller's input, so an error can be logged without echoing what a client
/// sent (which could be anything, including a secret pasted by mistake).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("unknown {what}; expected one of: {}", .allowed.join(", "))]
    Unknown { what: &'static str, allowed: Vec<&'static str> },
    #[error("key spec {spec} does not support key usage {usage}")]
    UsageNotSupported { spec: KeySpec, usage: KeyUsage },
    #[error("a {spec} key with usage {usage} does not support {what} {algorithm}")]
    AlgorithmNotSupported { spec: KeySpec, usage: KeyUsage, what: &'static str, algorithm: &'static str },
    /// `GetPublicKey` of a symmetric or HMAC key: there is no public half.
    #[error("{spec} keys have no public key; only asymmetric keys do")]
    NoPublicKey { spec: KeySpec },
    #[error("invalid key id: {0}")]
    InvalidKeyId(&'static str),
    #[error("invalid alias name: {0}")]
    InvalidAlias(&'static str),
    #[error("alias names beginning with alias/aws/ are reserved for AWS managed keys")]
    ReservedAlias,
    #[error("invalid ARN: {0}")]
    InvalidArn(&'static str),
}

impl SpecError {
    /// The AWS KMS error type a facade answers with.
    pub fn aws_type(&self) -> &'static str {
        match self {
            SpecError::Unknown { .. } | SpecError::UsageNotSupported { .. } => "ValidationException",
            SpecError::AlgorithmNotSupported { .. } => "InvalidKeyUsageException",
            // AWS answers GetPublicKey of a symmetric or HMAC key this way
            // (the key is not a valid resource for the operation), not with
            // InvalidKeyUsageException, which is about the key's usage.
            SpecError::NoPublicKey { .. } => "UnsupportedOperationException",
            // AWS answers a key id that cannot name any key as "not found".
            SpecError::InvalidKeyId(_) => "NotFoundException",
            SpecError::InvalidAlias(_) | SpecError::ReservedAlias => "InvalidAliasNameException",
            SpecError::InvalidArn(_) => "InvalidArnException",
        }
    }

    /// The Tencent Cloud KMS error code a facade answers with.
    pub fn tc_code(&self) -> &'static str {
        match self {
            SpecError::Unknown { .. } => "InvalidParameterValue",
            SpecError::UsageNotSupported { .. } | SpecError::AlgorithmNotSupported { .. } => {
                "InvalidParameterValue.InvalidKeyUsage"
            }
            SpecError::NoPublicKey { .. } => "UnsupportedOperation",
            SpecError::InvalidKeyId(_) | SpecError::InvalidArn(_) => "InvalidParameterValue.InvalidKeyId",
            SpecError::InvalidAlias(_) | SpecError::ReservedAlias => "InvalidParameterValue.InvalidAlias",
        }
    }
}

/// Declares the AWS wire name of every variant of a fieldless enum, and
/// derives `ALL`, `aws_name`, a strict `parse`, `FromStr` and `Display`.
macro_rules! aws_names {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The name AWS KMS uses on the wire.
            pub fn aws_name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }

            /// Parses the exact AWS name; case and surrounding space matter.
            pub fn parse(text: &str) -> Result<Self, SpecError> {
                Self::ALL.iter().copied().find(|v| v.aws_name() == text).ok_or_else(|| SpecError::Unknown {
                    what: $what,
                    allowed: Self::ALL.iter().map(|v| v.aws_name()).collect(),
                })
            }
        }

        impl FromStr for $ty {
            type Err = SpecError;
            fn from_str(text: &str) -> Result<Self, SpecError> {
                Self::parse(text)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.aws_name())
            }
        }
    };
}

/// The kind of key material a KMS key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeySpec {
    /// A 256-bit AES-GCM key.
    SymmetricDefault,
    Hmac256,
    Hmac384,
    Hmac512,
    /// NIST P-256 (secp256r1).
    EccNistP256,
    /// NIST P-384 (secp384r1).
    EccNistP384,
    Rsa2048,
    Rsa3072,
    Rsa4096,
}

aws_names!(KeySpec, "key spec", {
    SymmetricDefault => "SYMMETRIC_DEFAULT",
    Hmac256 => "HMAC_256",
    Hmac384 => "HMAC_384",
    Hmac512 => "HMAC_512",
    EccNistP256 => "ECC_NIST_P256",
    EccNistP384 => "ECC_NIST_P384",
    Rsa2048 => "RSA_2048",
    Rsa3072 => "RSA_3072",
    Rsa4096 => "RSA_4096",
});

/// What a KMS key may be used for. It is fixed when the key is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyUsage {
    EncryptDecrypt,
    SignVerify,
    GenerateVerifyMac,
}

aws_names!(KeyUsage, "key usage", {
    EncryptDecrypt => "ENCRYPT_DECRYPT",
    SignVerify => "SIGN_VERIFY",
    GenerateVerifyMac => "GENERATE_VERIFY_MAC",
});

/// Encryption algorithms (AWS `EncryptionAlgorithmSpec`) this service offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncryptionAlgorithm {
    SymmetricDefault,
    RsaesOaepSha256,
}

aws_names!(EncryptionAlgorithm, "encryption algorithm", {
    SymmetricDefault => "SYMMETRIC_DEFAULT",
    RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
});

impl EncryptionAlgorithm {
    /// Tencent's name for the algorithm where its API takes one: Tencent's
    /// symmetric `Encrypt` has no algorithm parameter at all.
    pub fn tc_name(self) -> Option<&'static str> {
        match self {
            EncryptionAlgorithm::SymmetricDefault => None,
            EncryptionAlgorithm::RsaesOaepSha256 => Some("RSAES_OAEP_SHA_256"),
        }
    }
}

/// Signing algorithms (AWS `SigningAlgorithmSpec`) this service offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    RsassaPssSha256,
    RsassaPssSha384,
    RsassaPssSha512,
    RsassaPkcs1V15Sha256,
    RsassaPkcs1V15Sha384,
    RsassaPkcs1V15Sha512,
    EcdsaSha256,
    EcdsaSha384,
}

aws_names!(SigningAlgorithm, "signing algorithm", {
    RsassaPssSha256 => "RSASSA_PSS_SHA_256",
    RsassaPssSha384 => "RSASSA_PSS_SHA_384",
    RsassaPssSha512 => "RSASSA_PSS_SHA_512",
    RsassaPkcs1V15Sha256 => "RSASSA_PKCS1_V1_5_SHA_256",
    RsassaPkcs1V15Sha384 => "RSASSA_PKCS1_V1_5_SHA_384",
    RsassaPkcs1V15Sha512 => "RSASSA_PKCS1_V1_5_SHA_512",
    EcdsaSha256 => "ECDSA_SHA_256",
    EcdsaSha384 => "ECDSA_SHA_384",
});

impl SigningAlgorithm {
    /// Length in bytes of the digest the algorithm signs, which is what a
    /// `MessageType=DIGEST` message must measure.
    pub fn digest_len(self) -> usize {
        use SigningAlgorithm::*;
        match self {
            RsassaPssSha256 | RsassaPkcs1V15Sha256 | EcdsaSha256 => 32,
            RsassaPssSha384 | RsassaPkcs1V15Sha384 | EcdsaSha384 => 48,
            RsassaPssSha512 | RsassaPkcs1V15Sha512 => 64,
        }
    }

    /// Tencent's name, for the algorithms its `SignByAsymmetricKey` documents
    /// (`ECC_P256_R1`, `RSA_PSS_SHA_256`, `RSA_PKCS1_SHA_256`); the others
    /// have no documented Tencent name.
    pub fn tc_name(self) -> Option<&'static str> {
        match self {
            SigningAlgorithm::EcdsaSha256 => Some("ECC_P256_R1"),
            SigningAlgorithm::RsassaPssSha256 => Some("RSA_PSS_SHA_256"),
            SigningAlgorithm::RsassaPkcs1V15Sha256 => Some("RSA_PKCS1_SHA_256"),
            _ => None,
        }
    }
}

/// MAC algorithms (AWS `MacAlgorithmSpec`) this service offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MacAlgorithm {
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

aws_names!(MacAlgorithm, "MAC algorithm", {
    HmacSha256 => "HMAC_SHA_256",
    HmacSha384 => "HMAC_SHA_384",
    HmacSha512 => "HMAC_SHA_512",
});

impl KeySpec {
    /// The usages AWS allows for the spec: RSA keys encrypt or sign (one of
    /// the two, chosen at creation), NIST curves only sign here, HMAC keys
    /// only MAC and the symmetric default only encrypts.
    pub fn usages(self) -> &'static [KeyUsage] {
        use KeySpec::*;
        match self {
            SymmetricDefault => &[KeyUsage::EncryptDecrypt],
            Hmac256 | Hmac384 | Hmac512 => &[KeyUsage::GenerateVerifyMac],
            EccNistP256 | EccNistP384 => &[KeyUsage::SignVerify],
            Rsa2048 | Rsa3072 | Rsa4096 => &[KeyUsage::EncryptDecrypt, KeyUsage::SignVerify],
        }
    }

    pub fn is_symmetric(self) -> bool {
        matches!(self, KeySpec::SymmetricDefault | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512)
    }
}

/// A key spec together with a usage it supports: the only way to name the
/// kind of a key, so an impossible pair cannot be represented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyType {
    spec: KeySpec,
    usage: KeyUsage,
}

impl KeyType {
    /// Checks the pair as `CreateKey` does. A missing usage means
    /// `ENCRYPT_DECRYPT`, AWS's default, so it is accepted only where that
    /// default fits (a symmetric encryption key or an RSA key).
    pub fn new(spec: KeySpec, usage: Option<KeyUsage>) -> Result<Self, SpecError> {
        let usage = usage.unwrap_or(KeyUsage::EncryptDecrypt);
        if spec.usages().contains(&usage) {
            Ok(KeyType { spec, usage })
        } else {
            Err(SpecError::UsageNotSupported { spec, usage })
        }
    }

    pub fn spec(self) -> KeySpec {
        self.spec
    }

    pub fn usage(self) -> KeyUsage {
        self.usage
    }

    /// The encryption algorithms the key supports (empty unless it encrypts).
    pub fn encryption_algorithms(self) -> &'static [EncryptionAlgorithm] {
        match (self.spec, self.usage) {
            (KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt) => &[EncryptionAlgorithm::SymmetricDefault],
            (KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096, KeyUsage::EncryptDecrypt) => {
                &[EncryptionAlgorithm::RsaesOaepSha256]
            }
            _ => &[],
        }
    }

    /// The signing algorithms the key supports (empty unless it signs). Each
    /// NIST curve pairs with the hash of matching strength, as AWS does.
    pub fn signing_algorithms(self) -> &'static [SigningAlgorithm] {
        use SigningAlgorithm::*;
        match (self.spec, self.usage) {
            (KeySpec::EccNistP256, KeyUsage::SignVerify) => &[EcdsaSha256],
            (KeySpec::EccNistP384, KeyUsage::SignVerify) => &[EcdsaSha384],
            (KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096, KeyUsage::SignVerify) => &[
                RsassaPssSha256,
                RsassaPssSha384,
                RsassaPssSha512,
                RsassaPkcs1V15Sha256,
                RsassaPkcs1V15Sha384,
                RsassaPkcs1V15Sha512,
            ],
            _ => &[],
        }
    }

    /// The MAC algorithm of an HMAC key (empty for other keys): each HMAC
    /// spec supports exactly the algorithm of its own hash.
    pub fn mac_algorithms(self) -> &'static [MacAlgorithm] {
        match self.spec {
            KeySpec::Hmac256 => &[MacAlgorithm::HmacSha256],
            KeySpec::Hmac384 => &[MacAlgorithm::HmacSha384],
            KeySpec::Hmac512 => &[MacAlgorithm::HmacSha512],
            _ => &[],
        }
    }

    pub fn check_encryption(self, algorithm: EncryptionAlgorithm) -> Result<(), SpecError> {
        self.check(self.encryption_algorithms().contains(&algorithm), "encryption algorithm", algorithm.aws_name())
    }

    pub fn check_signing(self, algorithm: SigningAlgorithm) -> Result<(), SpecError> {
        self.check(self.signing_algorithms().contains(&algorithm), "signing algorithm", algorithm.aws_name())
    }

    pub fn check_mac(self, algorithm: MacAlgorithm) -> Result<(), SpecError> {
        self.check(self.mac_algorithms().contains(&algorithm), "MAC algorithm", algorithm.aws_name())
    }

    /// Whether the key has a public key to hand out: only asymmetric keys do.
    pub fn check_public_key(self) -> Result<(), SpecError> {
        if self.spec.is_symmetric() { Err(SpecError::NoPublicKey { spec: self.spec }) } else { Ok(()) }
    }

    fn check(self, ok: bool, what: &'static str, algorithm: &'static str) -> Result<(), SpecError> {
        if ok {
            Ok(())
        } else {
            Err(SpecError::AlgorithmNotSupported { spec: self.spec, usage: self.usage, what, algorithm })
        }
    }

    /// Tencent's `KeyUsage` value for the same kind of key, where Tencent has
    /// one. Tencent folds spec and usage into one value and offers no HMAC
    /// keys and no RSA keys beyond 2048 bits.
    pub fn tc_key_usage(self) -> Option<&'static str> {
        match (self.spec, self.usage) {
            (KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt) => Some("ENCRYPT_DECRYPT"),
            (KeySpec::Rsa2048, KeyUsage::EncryptDecrypt) => Some("ASYMMETRIC_DECRYPT_RSA_2048"),
            (KeySpec::Rsa2048, KeyUsage::SignVerify) => Some("ASYMMETRIC_SIGN_VERIFY_RSA_2048"),
            (KeySpec::EccNistP256, KeyUsage::SignVerify) => Some("ASYMMETRIC_SIGN_VERIFY_ECC"),
            (KeySpec::EccNistP384, KeyUsage::SignVerify) => Some("ASYMMETRIC_SIGN_VERIFY_ECDSA384"),
            _ => None,
        }
    }

    /// Parses Tencent's `KeyUsage`; Tencent's SM2 usages have no equivalent
    /// here and are refused like any unknown value.
    pub fn from_tc_key_usage(text: &str) -> Result<Self, SpecError> {
        Self::all().find(|t| t.tc_key_usage() == Some(text)).ok_or_else(|| SpecError::Unknown {
            what: "Tencent key usage",
            allowed: Self::all().filter_map(KeyType::tc_key_usage).collect(),
        })
    }

    /// Every valid spec and usage pair.
    pub fn all() -> impl Iterator<Item = KeyType> {
        KeySpec::ALL.iter().flat_map(|&spec| spec.usages().iter().map(move |&usage| KeyType { spec, usage }))
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.spec, self.usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kt(spec: KeySpec, usage: KeyUsage) -> KeyType {
        match KeyType::new(spec, Some(usage)) {
            Ok(t) => t,
            Err(e) => panic!("{spec}/{usage} should be valid: {e}"),
        }
    }

    #[test]
    fn every_name_round_trips_and_parsing_is_exact() {
        for spec in KeySpec::ALL {
            assert_eq!(KeySpec::parse(&spec.to_string()), Ok(*spec));
            assert!(KeySpec::parse(&spec.aws_name().to_lowercase()).is_err(), "parsing must be case-sensitive");
            assert!(KeySpec::parse(&format!(" {spec}")).is_err(), "parsing must not trim");
        }
        for usage in KeyUsage::ALL {
            assert_eq!(usage.to_string().parse::<KeyUsage>(), Ok(*usage));
        }
        for alg in SigningAlgorithm::ALL {
            assert_eq!(SigningAlgorithm::parse(alg.aws_name()), Ok(*alg));
        }
        for alg in EncryptionAlgorithm::ALL {
            assert_eq!(EncryptionAlgorithm::parse(alg.aws_name()), Ok(*alg));
        }
        for alg in MacAlgorithm::ALL {
            assert_eq!(MacAlgorithm::parse(alg.aws_name()), Ok(*alg));
        }
    }

    #[test]
    fn unknown_names_list_the_allowed_values_without_echoing_input() {
        let err = KeySpec::parse("ECC_SECG_P256K1<script>").err();
        let Some(err) = err else { panic!("an unsupported spec must be refused") };
        let text = err.to_string();
        assert!(text.contains("SYMMETRIC_DEFAULT") && text.contains("RSA_4096"), "{text}");
        assert!(!text.contains("<script>"), "the message must not repeat the input: {text}");
        assert_eq!(err.aws_type(), "ValidationException");
    }

    #[test]
    fn usages_follow_aws_create_key_rules() {
        // From the CreateKey documentation: RSA keys encrypt or sign, NIST
        // curves sign, HMAC keys MAC, the symmetric default encrypts, and a
        // missing usage means ENCRYPT_DECRYPT.
        assert_eq!(KeyType::new(KeySpec::SymmetricDefault, None).map(KeyType::usage), Ok(KeyUsage::EncryptDecrypt));
        assert!(KeyType::new(KeySpec::Hmac256, None).is_err(), "an HMAC key needs GENERATE_VERIFY_MAC");
        assert!(KeyType::new(KeySpec::EccNistP256, Some(KeyUsage::EncryptDecrypt)).is_err());
        assert!(KeyType::new(KeySpec::SymmetricDefault, Some(KeyUsage::SignVerify)).is_err());
        for spec in [KeySpec::Rsa2048, KeySpec::Rsa3072, KeySpec::Rsa4096] {
            assert!(KeyType::new(spec, Some(KeyUsage::EncryptDecrypt)).is_ok());
            assert!(KeyType::new(spec, Some(KeyUsage::SignVerify)).is_ok());
            assert!(KeyType::new(spec, Some(KeyUsage::GenerateVerifyMac)).is_err());
        }
        assert_eq!(KeyType::all().count(), 12);
    }

    #[test]
    fn algorithms_match_the_key() {
        let sym = kt(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
        assert!(sym.check_encryption(EncryptionAlgorithm::SymmetricDefault).is_ok());
        assert!(sym.check_encryption(EncryptionAlgorithm::RsaesOaepSha256).is_err());
        assert!(sym.check_signing(SigningAlgorithm::EcdsaSha256).is_err());

        let rsa_enc = kt(KeySpec::Rsa3072, KeyUsage::EncryptDecrypt);
        assert!(rsa_enc.check_encryption(EncryptionAlgorithm::RsaesOaepSha256).is_ok());
        assert!(rsa_enc.check_signing(SigningAlgorithm::RsassaPssSha256).is_err(), "usage is fixed at creation");

        let rsa_sign = kt(KeySpec::Rsa4096, KeyUsage::SignVerify);
        assert_eq!(rsa_sign.signing_algorithms().len(), 6);
        assert!(rsa_sign.check_signing(SigningAlgorithm::EcdsaSha256).is_err());
        assert!(rsa_sign.check_encryption(EncryptionAlgorithm::RsaesOaepSha256).is_err());

        let p256 = kt(KeySpec::EccNistP256, KeyUsage::SignVerify);
        assert!(p256.check_signing(SigningAlgorithm::EcdsaSha256).is_ok());
        assert!(p256.check_signing(SigningAlgorithm::EcdsaSha384).is_err());
        let p384 = kt(KeySpec::EccNistP384, KeyUsage::SignVerify);
        assert!(p384.check_signing(SigningAlgorithm::EcdsaSha384).is_ok());
        assert!(p384.check_signing(SigningAlgorithm::EcdsaSha256).is_err());

        let hmac = kt(KeySpec::Hmac384, KeyUsage::GenerateVerifyMac);
        assert!(hmac.check_mac(MacAlgorithm::HmacSha384).is_ok());
        assert!(hmac.check_mac(MacAlgorithm::HmacSha256).is_err());
        let err = hmac.check_mac(MacAlgorithm::HmacSha512).err();
        assert_eq!(err.map(|e| e.aws_type()), Some("InvalidKeyUsageException"));
    }

    #[test]
    fn digest_lengths_follow_the_hash_in_the_name() {
        for alg in SigningAlgorithm::ALL {
            let bits: usize = alg.aws_name().rsplit('_').next().and_then(|b| b.parse().ok()).unwrap_or(0);
            assert_eq!(alg.digest_len() * 8, bits, "{alg}");
        }
    }

    #[test]
    fn tencent_usages_round_trip_and_cover_only_what_tencent_has() {
        let mapped: Vec<KeyType> = KeyType::all().filter(|t| t.tc_key_usage().is_some()).collect();
        assert_eq!(mapped.len(), 5);
        for t in mapped {
            let name = t.tc_key_usage().unwrap_or_default();
            assert_eq!(KeyType::from_tc_key_usage(name), Ok(t));
        }
        assert!(KeyType::from_tc_key_usage("ASYMMETRIC_SIGN_VERIFY_SM2").is_err());
        assert_eq!(kt(KeySpec::Hmac256, KeyUsage::GenerateVerifyMac).tc_key_usage(), None);
    }
}
