//! Names of keys: key ids (a UUID in the form AWS prints), material ids (the
//! version of a key's material), alias names (`alias/…`) and the ARNs
//! `arn:aws:kms:REGION:ACCOUNT:key/KEY-ID` and `…:alias/NAME`, each with a
//! strict parser and `Display` that round-trip.
//!
//! Parsers here accept exactly the documented shapes and nothing else; they
//! must never trim, case-fold or guess, because a lenient parser turns into
//! two spellings of one key and, sooner or later, a policy bypass. Existence
//! and tenancy of what a name points to are the service's concern, not this
//! module's.

use std::fmt;
use std::str::FromStr;

use super::SpecError;

/// The id of a KMS key: a UUID, printed as AWS prints key ids (lowercase,
/// hyphenated, e.g. `1234abcd-12ab-34cd-56ef-1234567890ab`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(uuid::Uuid);

impl KeyId {
    /// A fresh random (version 4) key id, or `None` if the operating
    /// system's random generator fails.
    pub fn random() -> Option<Self> {
        use aws_lc_rs::rand::{SecureRandom, SystemRandom};
        let mut bytes = [0u8; 16];
        SystemRandom::new().fill(&mut bytes).ok()?;
        Some(KeyId(uuid::Builder::from_random_bytes(bytes).into_uuid()))
    }

    /// The id stored in a ciphertext blob or a database row.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        KeyId(uuid::Uuid::from_bytes(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// Parses the 36-character lowercase form. Upper case, braces, URNs and
    /// the unhyphenated form are refused so that each key has one spelling.
    pub fn parse(text: &str) -> Result<Self, SpecError> {
        if text.len() != 36 {
            return Err(SpecError::InvalidKeyId("expected 36 characters in the form 8-4-4-4-12"));
        }
        for (i, b) in text.bytes().enumerate() {
            let ok = if matches!(i, 8 | 13 | 18 | 23) { b == b'-' } else { matches!(b, b'0'..=b'9' | b'a'..=b'f') };
            if !ok {
                return Err(SpecError::InvalidKeyId("expected lowercase hexadecimal digits in the form 8-4-4-4-12"));
            }
        }
        uuid::Uuid::parse_str(text).map(KeyId).map_err(|_| SpecError::InvalidKeyId("not a UUID"))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl FromStr for KeyId {
    type Err = SpecError;
    fn from_str(text: &str) -> Result<Self, SpecError> {
        Self::parse(text)
    }
}

/// The version of a key's material. Rotation adds a version; old versions
/// stay to decrypt what they encrypted, so every ciphertext names the
/// version that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MaterialId(u32);

impl MaterialId {
    pub const fn new(version: u32) -> Self {
        MaterialId(version)
    }

    pub const fn get(self) -> u32 {
        self.0
    }

    /// The version that follows this one, or `None` when versions run out
    /// (after four billion rotations, which no rotation period reaches).
    pub fn next(self) -> Option<Self> {
        self.0.checked_add(1).map(MaterialId)
    }
}

impl fmt::Display for MaterialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

const ALIAS_PREFIX: &str = "alias/";
const RESERVED_ALIAS_PREFIX: &str = "alias/aws/";
const ALIAS_MAX: usize = 256;
const TC_ALIAS_MAX: usize = 60;
const TC_RESERVED_PREFIX: &str = "kms-";

/// An alias name, including its `alias/` prefix, as AWS's `CreateAlias`
/// documents it: 1 to 256 characters of letters, digits, `/`, `_` and `-`,
/// and never under `alias/aws/`, which AWS reserves for its managed keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AliasName(String);

impl AliasName {
    pub fn parse(text: &str) -> Result<Self, SpecError> {
        let Some(name) = text.strip_prefix(ALIAS_PREFIX) else {
            return Err(SpecError::InvalidAlias("an alias name must begin with alias/"));
        };
        if name.is_empty() {
            return Err(SpecError::InvalidAlias("the name after alias/ is empty"));
        }
        if text.len() > ALIAS_MAX {
            return Err(SpecError::InvalidAlias("an alias name has at most 256 characters"));
        }
        if !text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-')) {
            return Err(SpecError::InvalidAlias("only letters, digits, '/', '_' and '-' are allowed"));
        }
        if text.starts_with(RESERVED_ALIAS_PREFIX) {
            return Err(SpecError::ReservedAlias);
        }
        Ok(AliasName(text.to_owned()))
    }

    /// The full name, `alias/…`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after `alias/`.
    pub fn name(&self) -> &str {
        self.0.strip_prefix(ALIAS_PREFIX).unwrap_or(&self.0)
    }

    /// Parses a Tencent alias (no prefix; 1 to 60 letters, digits, `-` and
    /// `_`, starting with a letter or digit; `kms-` is reserved for Tencent
    /// cloud products) and names it `alias/ALIAS`, so both APIs see one
    /// alias under their own spelling.
    pub fn from_tc_alias(alias: &str) -> Result<Self, SpecError> {
        if !is_tc_alias(alias) {
            return Err(SpecError::InvalidAlias(
                "a Tencent alias has 1 to 60 letters, digits, '-' and '_', and starts with a letter or digit",
            ));
        }
        if alias.starts_with(TC_RESERVED_PREFIX) {
            return Err(SpecError::InvalidAlias("Tencent reserves aliases beginning with kms- for cloud products"));
        }
        AliasName::parse(&format!("{ALIAS_PREFIX}{alias}"))
    }

    /// Tencent's spelling of the alias, when the name fits Tencent's rules.
    pub fn tc_alias(&self) -> Option<&str> {
        let name = self.name();
        (is_tc_alias(name) && !name.starts_with(TC_RESERVED_PREFIX)).then_some(name)
    }
}

fn is_tc_alias(alias: &str) -> bool {
    let bytes = alias.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= TC_ALIAS_MAX
        && bytes[0].is_ascii_alphanumeric()
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

impl fmt::Display for AliasName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for AliasName {
    type Err = SpecError;
    fn from_str(text: &str) -> Result<Self, SpecError> {
        Self::parse(text)
    }
}

/// What a KMS ARN names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ArnResource {
    Key(KeyId),
    Alias(AliasName),
}

/// `arn:aws:kms:REGION:ACCOUNT:key/KEY-ID` or `arn:aws:kms:REGION:ACCOUNT:alias/NAME`.
/// Only the `aws` partition is accepted: the facade speaks the commercial
/// AWS dialect, and other partitions would need their own endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Arn {
    region: String,
    account: String,
    resource: ArnResource,
}

impl Arn {
    /// An ARN from its parts, each checked as `parse` checks it.
    pub fn new(region: &str, account: &str, resource: ArnResource) -> Result<Self, SpecError> {
        check_region(region)?;
        check_account(account)?;
        Ok(Arn { region: region.to_owned(), account: account.to_owned(), resource })
    }

    pub fn parse(text: &str) -> Result<Self, SpecError> {
        let mut parts = text.splitn(6, ':');
        let mut next = || parts.next().ok_or(SpecError::InvalidArn("expected arn:aws:kms:REGION:ACCOUNT:RESOURCE"));
        if next()? != "arn" {
            return Err(SpecError::InvalidArn("an ARN begins with arn:"));
        }
        if next()? != "aws" {
            return Err(SpecError::InvalidArn("only the aws partition is supported"));
        }
        if next()? != "kms" {
            return Err(SpecError::InvalidArn("not a KMS ARN"));
        }
        let region = next()?;
        let account = next()?;
        let resource = next()?;
        let resource = if let Some(id) = resource.strip_prefix("key/") {
            ArnResource::Key(KeyId::parse(id).map_err(|_| SpecError::InvalidArn("the key id is not a valid key id"))?)
        } else if resource.starts_with(ALIAS_PREFIX) {
            ArnResource::Alias(
                AliasName::parse(resource).map_err(|_| SpecError::InvalidArn("the alias is not a valid alias name"))?,
            )
        } else {
            return Err(SpecError::InvalidArn("the resource must be key/KEY-ID or alias/NAME"));
        };
        Arn::new(region, account, resource)
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn resource(&self) -> &ArnResource {
        &self.resource
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "arn:aws:kms:{}:{}:", self.region, self.account)?;
        match &self.resource {
            ArnResource::Key(id) => write!(f, "key/{id}"),
            ArnResource::Alias(alias) => write!(f, "{alias}"),
        }
    }
}

impl FromStr for Arn {
    type Err = SpecError;
    fn from_str(text: &str) -> Result<Self, SpecError> {
        Self::parse(text)
    }
}

/// AWS's region pattern, `^([a-z]+-){2,3}\d+$`, at most 32 characters.
fn check_region(region: &str) -> Result<(), SpecError> {
    const BAD: SpecError = SpecError::InvalidArn("the region must look like us-east-1");
    if region.is_empty() || region.len() > 32 {
        return Err(BAD);
    }
    let mut words = region.split('-').collect::<Vec<_>>();
    let digits = words.pop().unwrap_or_default();
    let words_ok = (2..=3).contains(&words.len())
        && words.iter().all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()));
    let digits_ok = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    if words_ok && digits_ok { Ok(()) } else { Err(BAD) }
}

/// An AWS account id is exactly twelve digits.
fn check_account(account: &str) -> Result<(), SpecError> {
    if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(SpecError::InvalidArn("the account must be twelve digits"))
    }
}

/// How a request names a key: AWS accepts a key id, a key ARN, an alias name
/// or an alias ARN wherever it takes a `KeyId`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyRef {
    Id(KeyId),
    Alias(AliasName),
    Arn(Arn),
}

impl KeyRef {
    /// Dispatches on the shape: `arn:` is an ARN, `alias/` an alias name,
    /// anything else must be a key id.
    pub fn parse(text: &str) -> Result<Self, SpecError> {
        if text.starts_with("arn:") {
            Arn::parse(text).map(KeyRef::Arn)
        } else if text.starts_with(ALIAS_PREFIX) {
            AliasName::parse(text).map(KeyRef::Alias)
        } else {
            KeyId::parse(text).map(KeyRef::Id)
        }
    }
}

impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRef::Id(id) => id.fmt(f),
            KeyRef::Alias(alias) => alias.fmt(f),
            KeyRef::Arn(arn) => arn.fmt(f),
        }
    }
}

impl FromStr for KeyRef {
    type Err = SpecError;
    fn from_str(text: &str) -> Result<Self, SpecError> {
        Self::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The examples AWS's API reference uses for every KeyId parameter.
    const DOC_KEY_ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
    const DOC_KEY_ARN: &str = "arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const DOC_ALIAS_ARN: &str = "arn:aws:kms:us-east-2:111122223333:alias/ExampleAlias";

    #[test]
    fn key_ids_round_trip_and_refuse_other_spellings() {
        let id = KeyId::parse(DOC_KEY_ID).unwrap();
        assert_eq!(id.to_string(), DOC_KEY_ID);
        assert_eq!(KeyId::from_bytes(*id.as_bytes()), id);
        for bad in [
            "1234ABCD-12ab-34cd-56ef-1234567890ab",
            "1234abcd12ab34cd56ef1234567890ab",
            "{1234abcd-12ab-34cd-56ef-1234567890ab}",
            " 1234abcd-12ab-34cd-56ef-1234567890ab",
            "1234abcd-12ab-34cd-56ef-1234567890a",
            "1234abcd-12ab-34cd-56ef_1234567890ab",
            "mrk-1234abcd12ab34cd56ef1234567890ab",
            "",
        ] {
            assert!(KeyId::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn random_key_ids_are_version_4_and_distinct() {
        let a = KeyId::random().unwrap();
        let b = KeyId::random().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.0.get_version_num(), 4);
        assert_eq!(KeyId::parse(&a.to_string()), Ok(a));
    }

    #[test]
    fn alias_names_follow_create_alias_rules() {
        let alias = AliasName::parse("alias/ExampleAlias").unwrap();
        assert_eq!(alias.name(), "ExampleAlias");
        assert_eq!(alias.to_string(), "alias/ExampleAlias");
        assert!(AliasName::parse("alias/team/app_key-1").is_ok());
        assert!(AliasName::parse(&format!("alias/{}", "a".repeat(250))).is_ok());
        assert!(AliasName::parse(&format!("alias/{}", "a".repeat(251))).is_err(), "at most 256 characters");
        for bad in ["ExampleAlias", "alias/", "Alias/x", "alias/a b", "alias/a:b", "alias/é", "alias/x\n"] {
            assert!(AliasName::parse(bad).is_err(), "{bad:?} must be refused");
        }
        assert_eq!(AliasName::parse("alias/aws/s3"), Err(SpecError::ReservedAlias));
        assert_eq!(AliasName::parse("alias/aws/s3").err().map(|e| e.aws_type()), Some("InvalidAliasNameException"));
        // The reservation is of the prefix `alias/aws/`, not of every name
        // that starts with the letters "aws".
        assert!(AliasName::parse("alias/awsome").is_ok());
    }

    #[test]
    fn tencent_aliases_map_to_alias_names() {
        let alias = AliasName::from_tc_alias("app-key_1").unwrap();
        assert_eq!(alias.as_str(), "alias/app-key_1");
        assert_eq!(alias.tc_alias(), Some("app-key_1"));
        assert!(AliasName::from_tc_alias("-leading").is_err());
        assert!(AliasName::from_tc_alias("kms-cbs").is_err());
        assert!(AliasName::from_tc_alias(&"a".repeat(61)).is_err());
        assert_eq!(AliasName::parse("alias/team/app").unwrap().tc_alias(), None, "Tencent aliases have no '/'");
    }

    #[test]
    fn arns_round_trip_and_are_strict() {
        for text in [DOC_KEY_ARN, DOC_ALIAS_ARN] {
            let arn = Arn::parse(text).unwrap();
            assert_eq!(arn.to_string(), text);
            assert_eq!(arn.region(), "us-east-2");
            assert_eq!(arn.account(), "111122223333");
        }
        assert!(matches!(Arn::parse(DOC_KEY_ARN).unwrap().resource(), ArnResource::Key(_)));
        assert!(Arn::parse("arn:aws:kms:ap-southeast-2:111122223333:alias/x").is_ok());
        assert!(Arn::parse("arn:aws:kms:us-gov-west-1:111122223333:alias/x").is_ok());
        for bad in [
            "arn:aws-cn:kms:cn-north-1:111122223333:alias/x",
            "arn:aws:s3:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:US-EAST-2:111122223333:alias/x",
            "arn:aws:kms:useast2:111122223333:alias/x",
            "arn:aws:kms:us-east-:111122223333:alias/x",
            "arn:aws:kms:us-east-2:11112222333:alias/x",
            "arn:aws:kms:us-east-2:111122223333:key/not-a-uuid",
            "arn:aws:kms:us-east-2:111122223333:alias/aws/s3",
            "arn:aws:kms:us-east-2:111122223333:grant/x",
            "arn:aws:kms:us-east-2:111122223333",
            "arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab:extra",
        ] {
            let err = Arn::parse(bad).err();
            assert!(err.is_some(), "{bad:?} must be refused");
            assert_eq!(err.map(|e| e.aws_type()), Some("InvalidArnException"), "{bad}");
        }
    }

    #[test]
    fn key_refs_dispatch_on_shape() {
        assert!(matches!(KeyRef::parse(DOC_KEY_ID), Ok(KeyRef::Id(_))));
        assert!(matches!(KeyRef::parse("alias/ExampleAlias"), Ok(KeyRef::Alias(_))));
        assert!(matches!(KeyRef::parse(DOC_ALIAS_ARN), Ok(KeyRef::Arn(_))));
        assert!(KeyRef::parse("ExampleAlias").is_err(), "an alias without its prefix is not a key id");
        for text in [DOC_KEY_ID, "alias/ExampleAlias", DOC_KEY_ARN] {
            assert_eq!(KeyRef::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn material_ids_count_up() {
        assert_eq!(MaterialId::new(1).next(), Some(MaterialId::new(2)));
        assert_eq!(MaterialId::new(u32::MAX).next(), None);
    }
}
