//! The pure core of Rampart's bastion, the SSH proxy that terminates an
//! administrator's session, opens its own connection to the target, records
//! everything and checks commands against red lines before they arrive.
//! Nothing here does I/O: the proxy feeds bytes in and acts on what comes
//! out, so every piece can be unit-tested and fuzzed.
//!
//! [`policy`] decides on a command line (normalisation, red lines, scope,
//! first match wins). [`linetrack`] follows the keys an administrator types
//! and reports the submitted line at Enter, before the Enter is forwarded,
//! so the proxy can hold it. [`screen`] rebuilds the command from the
//! terminal output when the keys alone are not conclusive. [`recording`]
//! writes and reads asciicast v2 recordings with a running SHA-256 and
//! per-chunk hashes for the ledger. [`sftp`] cuts SFTP streams into
//! packets, refuses what a grant does not allow and reports every file
//! transferred or changed, with its SHA-256. [`scp`] recognises legacy
//! `scp -O` command lines and follows their rcp protocol, reporting every
//! file the same way. Sockets, the SSH protocol, grants and
//! storage belong to the proxy and the services around it, not here.
//! With the `fuzzing` feature, `fuzz_entry` offers each parser and state
//! machine as a `fn(&[u8])` for cargo-fuzz targets.

#![forbid(unsafe_code)]

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz_entry;
pub mod linetrack;
pub mod policy;
pub mod recording;
pub mod scp;
pub mod screen;
pub mod sftp;
