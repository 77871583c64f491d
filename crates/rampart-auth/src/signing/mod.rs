//! Verification of signed API requests for the KMS front ends: AWS Signature
//! Version 4 ([`sigv4`]) and Tencent Cloud API 3.0 TC3-HMAC-SHA256 ([`tc3`]).
//!
//! Everything here is pure: no I/O, no clock, no logging. A front end turns
//! its HTTP request into a [`SignedRequest`] view, passes the current time in
//! Unix seconds and a [`SecretLookup`] that maps an access key id to its
//! secret, and gets back either the authenticated access key id or an error
//! that names the wire error code the protocol's clients expect. Because the
//! clock is a parameter, tests can pin it to the dates of published vectors.
//!
//! A store lookup is usually asynchronous, so the front end can call
//! [`sigv4::claimed_access_key_id`] or [`tc3::claimed_secret_id`] first, fetch
//! the secret, and then verify with a closure that returns it.

mod common;
pub mod sigv4;
pub mod tc3;

use std::fmt;

use secrecy::SecretString;

/// How far, in seconds, a request's signing time may be from the server's
/// clock in either direction. Both AWS and Tencent Cloud use five minutes.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// A transport-neutral view of an HTTP request, borrowed from whatever the
/// front end received.
///
/// Nothing here is decoded or normalised: signatures cover the bytes the
/// client sent, so the verifier does its own canonicalisation. HTTP/2 front
/// ends must present the `:authority` pseudo-header as a `host` header, since
/// both schemes sign `host`.
#[derive(Clone, Copy)]
pub struct SignedRequest<'a> {
    /// The request method as received, e.g. `POST`.
    pub method: &'a str,
    /// The path as received, still percent-encoded, without the query.
    pub path: &'a str,
    /// The query string as received, without the leading `?`; empty if none.
    pub query: &'a str,
    /// Every header in the order received; names in any case.
    pub headers: &'a [(String, String)],
    /// The complete request body.
    pub body: &'a [u8],
}

impl<'a> SignedRequest<'a> {
    /// The values of every header called `name` (compared without regard to
    /// ASCII case), in the order received.
    pub fn header_values(&self, name: &str) -> impl Iterator<Item = &'a str> {
        let headers: &'a [(String, String)] = self.headers;
        headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The value of a header that must appear at most once. A repeated header
    /// is an error because the two schemes would read it differently from
    /// the client, which is where request-smuggling bugs live.
    pub(crate) fn single_header(&self, name: &str) -> Result<Option<&'a str>, Repeated> {
        let mut values = self.header_values(name);
        let first = values.next();
        if values.next().is_some() { Err(Repeated) } else { Ok(first) }
    }

    /// Whether a header is present at all, whatever its value.
    pub(crate) fn has_header(&self, name: &str) -> bool {
        self.header_values(name).next().is_some()
    }
}

/// A header that may appear only once appeared more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Repeated;

impl fmt::Debug for SignedRequest<'_> {
    /// Shows the shape of the request but neither header values nor the body,
    /// so that debug logging cannot copy signatures or payloads around.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("SignedRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query_len", &self.query.len())
            .field("header_names", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Finds the secret of an access key.
///
/// Return `None` for an id that is unknown, revoked or otherwise unusable;
/// the verifiers answer all of those the same way, so a caller cannot tell
/// which. Closures of the form `Fn(&str) -> Option<SecretString>` implement
/// this trait.
pub trait SecretLookup {
    fn secret(&self, access_key_id: &str) -> Option<SecretString>;
}

impl<F> SecretLookup for F
where
    F: Fn(&str) -> Option<SecretString>,
{
    fn secret(&self, access_key_id: &str) -> Option<SecretString> {
        self(access_key_id)
    }
}
