//! The shared vocabulary of Rampart: identifiers, timestamps, roles and
//! permissions, the authenticated [`Principal`], the audit [`Event`], the typed
//! configuration and the root secret of a data directory.
//!
//! This crate does no I/O beyond reading configuration and secret files, and it
//! holds no service logic: every other crate depends on it, so anything placed
//! here becomes everybody's concern.

pub mod alert;
pub mod audit;
pub mod config;
pub mod event;
pub mod id;
pub mod principal;
pub mod role;
pub mod secret;
pub mod time;
pub mod ttl_cache;

pub use event::{Event, Outcome};
pub use id::Id;
pub use principal::Principal;
pub use role::{Permission, Role};
