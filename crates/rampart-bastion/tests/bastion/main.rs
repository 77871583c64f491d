//! The integration tests of `rampart-bastion`, one binary: a whole
//! recorded session driven through the public API (keys in, policy
//! decisions, screen reconstruction, an asciicast file checked by our
//! reader and by `asciinema cat`), and property tests that feed the
//! parsers and state machines random and adversarial input.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod props;
mod session;
