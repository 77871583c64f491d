//! The Key Management Service of Rampart. This crate owns every key the
//! platform holds for its tenants, and it is the only crate that ever sees
//! key material: plaintext keys live only in zeroizing buffers here and never
//! reach `Debug` output, an error message or a log line.
//!
//! The modules below are its pure core, with no I/O: [`spec`] (key specs,
//! usages, algorithms, key ids, aliases and ARNs), [`lifecycle`] (the key
//! state machine and which operations each state permits, with AWS and
//! Tencent error codes), [`context`] (the collision-free canonical encoding of
//! an encryption context) and [`blob`] (the versioned symmetric ciphertext
//! blob, data keys and the wrapping format for stored key material). Beside
//! them, [`keystore`] holds the root wrapping key (in software, sealed by a
//! key file or Shamir shares, or inside a PKCS#11 token) and caches unwrapped
//! material. Storage and the AWS and Tencent API facades come in later
//! modules and build on these; none of them belongs here.

#![forbid(unsafe_code)]

pub mod aws;
pub mod blob;
pub mod context;
pub mod envelope;
pub mod esdk;
pub mod keystore;
pub mod lifecycle;
pub mod material;
pub mod policy;
pub mod service;
pub mod spec;
pub mod tencent;
#[cfg(test)]
mod test_support;

pub use blob::{BlobError, DataKey, Header, MaterialKey, WrappingKey};
pub use context::{ContextError, EncryptionContext};
pub use lifecycle::{Api, KeyState, Operation, Origin, StateError};
pub use spec::{AliasName, Arn, KeyId, KeyRef, KeySpec, KeyType, KeyUsage, MaterialId, SpecError};
