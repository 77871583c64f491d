//! Shared harness code for the fuzz targets in `fuzz_targets/`: each target
//! is a few lines that call a `fn(&[u8])`, either a crate's own fuzz entry
//! point or one of the adapters here. [`blob`] checks the KMS ciphertext
//! blob under a fixed key; [`esdk`] the Encryption SDK header and messages
//! under a fixed raw AES key; [`kms`] builds one KMS per fuzzing
//! process and feeds it facade requests; [`signing`] turns bytes into a
//! signed HTTP request for the SigV4 and TC3 verifiers.

pub mod blob;
pub mod esdk;
pub mod kms;
pub mod signing;
