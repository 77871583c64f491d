//! The request-signature verifiers of `rampart-auth` (AWS SigV4 and Tencent
//! TC3-HMAC-SHA256) on requests made from bytes. The verifiers are pure and
//! take the clock and the secret lookup as arguments, so the harness pins
//! both: the clock at [`NOW`] and one known key, [`ACCESS_KEY_ID`] with
//! [`SECRET`], so that seeds signed with them verify and the fuzzer starts
//! from the success path.
//!
//! The input is a request in HTTP/1.1 text form: a request line
//! `METHOD TARGET` (the target split at the first `?` into path and query),
//! header lines `Name: value` up to an empty line, then the body. Lines end
//! in `\n`, a `\r` before it is dropped. Bytes that are not UTF-8 are
//! replaced, as a front end would refuse them before verification.

use rampart_auth::signing::{SignedRequest, sigv4, tc3};
use secrecy::SecretString;

/// The verifiers' clock: 2024-06-15T12:00:00Z.
pub const NOW: i64 = 1_718_452_800;
/// The one access key (SecretId) the lookup knows.
pub const ACCESS_KEY_ID: &str = "AKIDFUZZEXAMPLE";
/// Its secret.
pub const SECRET: &str = "fuzz-secret-key-example";

fn lookup(id: &str) -> Option<SecretString> {
    (id == ACCESS_KEY_ID).then(|| SecretString::from(SECRET.to_owned()))
}

/// A request parsed from bytes, owning what `SignedRequest` borrows.
struct Parsed {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Parsed {
    fn from_bytes(data: &[u8]) -> Self {
        let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
            Some(at) => (&data[..at], &data[at + 2..]),
            None => match data.windows(4).position(|w| w == b"\r\n\r\n") {
                Some(at) => (&data[..at], &data[at + 4..]),
                None => (data, &[][..]),
            },
        };
        let head = String::from_utf8_lossy(head);
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let request_line = lines.next().unwrap_or_default();
        let (method, target) = request_line.split_once(' ').unwrap_or((request_line, "/"));
        let target = target.trim_end_matches(" HTTP/1.1");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(name, value)| (name.to_owned(), value.trim_start_matches(' ').to_owned()))
            .collect();
        Parsed { method: method.into(), path: path.into(), query: query.into(), headers, body: body.to_vec() }
    }

    fn view(&self) -> SignedRequest<'_> {
        SignedRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
        }
    }
}

/// SigV4 for `kms` in `us-east-1`: whatever the input, a request verifies
/// only as the known key, and only as the key id it claims.
pub fn sigv4(data: &[u8]) {
    let parsed = Parsed::from_bytes(data);
    let request = parsed.view();
    let _ = sigv4::canonical_uri(request.path);
    let _ = sigv4::canonical_query(request.query);
    if let Ok(id) = sigv4::verify(&request, "us-east-1", "kms", &lookup, NOW) {
        assert_eq!(id, ACCESS_KEY_ID);
        assert_eq!(sigv4::claimed_access_key_id(&request), Some(ACCESS_KEY_ID));
    }
}

/// TC3 for `kms`: the same invariants as [`sigv4`].
pub fn tc3(data: &[u8]) {
    let parsed = Parsed::from_bytes(data);
    let request = parsed.view();
    if let Ok(id) = tc3::verify(&request, "kms", &lookup, NOW) {
        assert_eq!(id, ACCESS_KEY_ID);
        assert_eq!(tc3::claimed_secret_id(&request), Some(ACCESS_KEY_ID));
    }
}
