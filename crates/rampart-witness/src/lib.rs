//! A C2SP transparency-log witness for Rampart, both sides of it: the
//! witness that cosigns a log's checkpoints only while the log stays
//! append-only (c2sp.org/tlog-witness), and the client a log uses to collect
//! those cosignatures (c2sp.org/tlog-cosignature) and serve them with its
//! checkpoint.
//!
//! `cosignature` (keys, signed message, signature lines) and `protocol` (the
//! `add-checkpoint` body and the response codes) are pure. `witness` is the
//! state machine over a durable state directory, `server` its HTTP front,
//! `config` the file `rampart witness serve --config FILE` reads, and
//! `client` the log's side.

pub mod client;
pub mod config;
pub mod cosignature;
pub mod protocol;
pub mod server;
pub mod witness;

pub use client::{AddOutcome, ClientError, add_checkpoint, attach_cosignatures};
pub use config::{Config, ConfigError};
pub use cosignature::{CosignatureError, CosignerKey, CosignerVerifier, cosign, verify_cosignature};
pub use protocol::{AddCheckpointRequest, Rejection, RequestError};
pub use server::{router, serve, serve_until};
pub use witness::{KnownLogs, TreeHead, Witness, WitnessError, check_extension};
