//! AWS Signature Version 4 verification for the `Authorization` header form
//! (`AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`),
//! which the AWS CLI and SDKs use for KMS's JSON 1.1 protocol.
//!
//! The canonical request is built as AWS specifies for services other than
//! S3: the path has its dot segments and empty segments removed and is then
//! URI-encoded once more (so `%` in the received path becomes `%25`), the
//! query is decoded, re-encoded and sorted, and header values are trimmed
//! with inner runs of whitespace collapsed. On top of the signature this
//! module enforces what a KMS endpoint must: `host` and `x-amz-date` signed,
//! the credential scope naming this region and service on the request's own
//! day, a five-minute clock window, a body covered by the signature, and no
//! session tokens (we issue none). Errors carry the `__type` names and, where
//! AWS documents them, the messages KMS clients know.

use aws_lc_rs::hmac;
use secrecy::ExposeSecret;

use super::common::{
    self, AuthSyntax, MAX_SIGNED_HEADER_VALUE_LEN, UtcTime, decode_signature, parse_authorization,
    parse_signed_headers, plausible_key_id, sha256_hex, shown,
};
use super::{MAX_CLOCK_SKEW_SECS, SecretLookup, SignedRequest};

/// The only algorithm this verifier accepts.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const TERMINATOR: &str = "aws4_request";
const SESSION_TOKEN_HEADER: &str = "x-amz-security-token";
const CONTENT_SHA256_HEADER: &str = "x-amz-content-sha256";

const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. \
     Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// Why a request was refused, named after the AWS error `__type` that KMS
/// clients expect. Messages never contain a secret or the signature the
/// server computed; client-supplied fragments in them are sanitised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// The request has no `Authorization` header at all.
    #[error("Missing Authentication Token")]
    MissingAuthenticationToken,
    /// The `Authorization` header is malformed, or a header that must be
    /// signed is not, or a signed header is missing from the request.
    #[error("{0}")]
    IncompleteSignature(String),
    /// The access key id is unknown, or the request carries a session token.
    #[error("The security token included in the request is invalid.")]
    UnrecognizedClient,
    /// The signature does not match, is outside the clock window, or is
    /// scoped to another region, service or day.
    #[error("{0}")]
    InvalidSignature(String),
}

impl SigV4Error {
    /// The `__type` of the JSON error body (and the `x-amzn-ErrorType`
    /// header) that AWS would send.
    pub fn aws_type(&self) -> &'static str {
        match self {
            SigV4Error::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            SigV4Error::IncompleteSignature(_) => "IncompleteSignatureException",
            SigV4Error::UnrecognizedClient => "UnrecognizedClientException",
            SigV4Error::InvalidSignature(_) => "InvalidSignatureException",
        }
    }
}

fn incomplete(message: impl Into<String>) -> SigV4Error {
    SigV4Error::IncompleteSignature(message.into())
}

/// The five slash-separated parts of `Credential=`.
#[derive(Debug, Clone, Copy)]
struct Credential<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    terminator: &'a str,
}

impl<'a> Credential<'a> {
    fn parse(value: &'a str) -> Result<Credential<'a>, SigV4Error> {
        let parts: Vec<&str> = value.splitn(6, '/').collect();
        match parts[..] {
            [access_key_id, date, region, service, terminator] if !access_key_id.is_empty() => {
                Ok(Credential { access_key_id, date, region, service, terminator })
            }
            _ => Err(incomplete(format!(
                "Credential must have exactly 5 slash-delimited elements, \
                 e.g. keyid/date/region/service/term, got '{}'",
                shown(value)
            ))),
        }
    }
}

/// The access key id a request claims, without checking anything else, so
/// that a front end can fetch the secret before calling [`verify`].
pub fn claimed_access_key_id<'a>(request: &SignedRequest<'a>) -> Option<&'a str> {
    let authorization = request.single_header("authorization").ok()??;
    let params = parse_authorization(authorization, ALGORITHM).ok()?;
    let credential = Credential::parse(params.credential).ok()?;
    plausible_key_id(credential.access_key_id).then_some(credential.access_key_id)
}

/// Verifies a SigV4-signed request and returns the authenticated access key
/// id.
///
/// `region` and `service` are the values this endpoint answers for (for
/// example `us-east-1` and `kms`); a credential scoped to anything else is
/// refused. `now_unix_secs` is the server's clock.
pub fn verify<S: SecretLookup + ?Sized>(
    request: &SignedRequest<'_>,
    region: &str,
    service: &str,
    secrets: &S,
    now_unix_secs: i64,
) -> Result<String, SigV4Error> {
    let authorization = match request.single_header("authorization") {
        Ok(Some(value)) if !value.trim().is_empty() => value,
        Ok(_) => return Err(SigV4Error::MissingAuthenticationToken),
        Err(_) => return Err(incomplete("The request must carry exactly one Authorization header.")),
    };
    let params = parse_authorization(authorization, ALGORITHM).map_err(syntax_error)?;
    let signed_headers = parse_signed_headers(params.signed_headers).map_err(incomplete)?;
    if !signed_headers.contains(&"host") {
        return Err(incomplete("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."));
    }
    if !signed_headers.contains(&"x-amz-date") {
        return Err(incomplete("'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization."));
    }
    let signature = decode_signature(params.signature)
        .ok_or_else(|| incomplete("Signature must be 64 lowercase hexadecimal characters."))?;
    let credential = Credential::parse(params.credential)?;

    // We issue no temporary credentials, so a token can only be one we do
    // not know; AWS answers an unknown token this way.
    if request.has_header(SESSION_TOKEN_HEADER) {
        return Err(SigV4Error::UnrecognizedClient);
    }

    let amz_date = match request.single_header("x-amz-date") {
        Ok(Some(value)) => value.trim_matches(common::is_http_space),
        Ok(None) => return Err(incomplete("Authorization header requires existence of a 'X-Amz-Date' header.")),
        Err(_) => return Err(incomplete("The request must carry exactly one X-Amz-Date header.")),
    };
    let signed_at = common::parse_amz_date(amz_date).ok_or_else(|| {
        incomplete(format!(
            "X-Amz-Date must be in ISO-8601 basic format (YYYYMMDD'T'HHMMSS'Z'), got '{}'.",
            shown(amz_date)
        ))
    })?;

    check_scope(&credential, amz_date, region, service)?;
    check_clock(signed_at, now_unix_secs)?;
    check_payload_hash(request)?;

    let canonical = canonical_request_for(request, &signed_headers, params.signed_headers)?;
    let scope = format!("{}/{}/{}/{TERMINATOR}", credential.date, credential.region, credential.service);
    let string_to_sign = format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", sha256_hex(canonical.as_bytes()));

    if !plausible_key_id(credential.access_key_id) {
        return Err(SigV4Error::UnrecognizedClient);
    }
    let secret = secrets.secret(credential.access_key_id).ok_or(SigV4Error::UnrecognizedClient)?;
    let key = common::derive_signing_key(
        "AWS4",
        secret.expose_secret(),
        &[credential.date, credential.region, credential.service, TERMINATOR],
    );
    // `hmac::verify` compares in constant time, and the expected signature
    // never exists outside it, so it cannot leak into a message or a log.
    hmac::verify(&key, string_to_sign.as_bytes(), &signature)
        .map_err(|_| SigV4Error::InvalidSignature(SIGNATURE_MISMATCH.to_owned()))?;
    Ok(credential.access_key_id.to_owned())
}

fn syntax_error(e: AuthSyntax) -> SigV4Error {
    match e {
        AuthSyntax::TooLong => incomplete("The Authorization header is too long."),
        AuthSyntax::WrongAlgorithm(found) => incomplete(format!("Unsupported AWS 'algorithm': '{found}'")),
        AuthSyntax::Malformed(why) => incomplete(format!("Authorization header is malformed: {why}.")),
        AuthSyntax::Missing(names) => incomplete(
            names
                .iter()
                .map(|n| format!("Authorization header requires '{n}' parameter."))
                .collect::<Vec<_>>()
                .join(" "),
        ),
    }
}

/// Refuses a credential scoped to another region, service, terminator or
/// day, listing every mismatch in AWS's words, as AWS does.
fn check_scope(credential: &Credential<'_>, amz_date: &str, region: &str, service: &str) -> Result<(), SigV4Error> {
    let mut problems = Vec::new();
    if credential.region != region {
        problems.push(format!("Credential should be scoped to a valid region, not '{}'.", shown(credential.region)));
    }
    if credential.service != service {
        problems.push(format!("Credential should be scoped to correct service: '{service}'."));
    }
    if credential.terminator != TERMINATOR {
        problems.push(format!(
            "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{}'.",
            shown(credential.terminator)
        ));
    }
    let request_day = amz_date.get(..8).unwrap_or_default();
    if credential.date != request_day {
        problems.push(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: \
             '{}' != '{request_day}', from '{amz_date}'.",
            shown(credential.date)
        ));
    }
    if problems.is_empty() { Ok(()) } else { Err(SigV4Error::InvalidSignature(problems.join(" "))) }
}

/// Refuses a signing time more than five minutes from `now`, in AWS's words.
fn check_clock(signed_at: i64, now: i64) -> Result<(), SigV4Error> {
    let earliest = now.saturating_sub(MAX_CLOCK_SKEW_SECS);
    let latest = now.saturating_add(MAX_CLOCK_SKEW_SECS);
    let at = |secs| UtcTime::from_unix(secs).amz();
    if signed_at < earliest {
        return Err(SigV4Error::InvalidSignature(format!(
            "Signature expired: {} is now earlier than {} ({} - 5 min.)",
            at(signed_at),
            at(earliest),
            at(now)
        )));
    }
    if signed_at > latest {
        return Err(SigV4Error::InvalidSignature(format!(
            "Signature not yet current: {} is still later than {} ({} + 5 min.)",
            at(signed_at),
            at(latest),
            at(now)
        )));
    }
    Ok(())
}

/// When the client states the payload hash in `x-amz-content-sha256`, the
/// canonical request uses that statement rather than the body, so the
/// statement must be checked against the body; otherwise a request with a
/// replaced body would still verify. Unsigned and streaming payloads are
/// refused because KMS requests are small and must be covered whole.
fn check_payload_hash(request: &SignedRequest<'_>) -> Result<(), SigV4Error> {
    let stated = match request.single_header(CONTENT_SHA256_HEADER) {
        Ok(None) => return Ok(()),
        Ok(Some(value)) => value.trim_matches(common::is_http_space),
        Err(_) => return Err(incomplete("The request must carry at most one x-amz-content-sha256 header.")),
    };
    if stated == "UNSIGNED-PAYLOAD" || stated.starts_with("STREAMING-") {
        return Err(incomplete("Unsigned and streaming payloads are not accepted; sign the request body."));
    }
    if stated != sha256_hex(request.body) {
        return Err(SigV4Error::InvalidSignature(
            "The provided 'x-amz-content-sha256' header does not match what was computed.".to_owned(),
        ));
    }
    Ok(())
}

/// The canonical request AWS would compute for `request` signed with the
/// `signed_headers` list (for example `host;x-amz-date`). Exposed so that
/// tests and operators can compare it with a client's; it contains nothing
/// secret.
pub fn canonical_request(request: &SignedRequest<'_>, signed_headers: &str) -> Result<String, SigV4Error> {
    let names = parse_signed_headers(signed_headers).map_err(incomplete)?;
    canonical_request_for(request, &names, signed_headers)
}

fn canonical_request_for(request: &SignedRequest<'_>, names: &[&str], list: &str) -> Result<String, SigV4Error> {
    let mut out = String::with_capacity(256);
    out.push_str(request.method);
    out.push('\n');
    out.push_str(&canonical_uri(request.path));
    out.push('\n');
    out.push_str(&canonical_query(request.query));
    out.push('\n');
    for name in names {
        let value = canonical_header_value(request, name)?;
        out.push_str(name);
        out.push(':');
        out.push_str(&value);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(list);
    out.push('\n');
    let payload_hash = match request.single_header(CONTENT_SHA256_HEADER) {
        Ok(Some(stated)) => stated.trim_matches(common::is_http_space).to_owned(),
        _ => sha256_hex(request.body),
    };
    out.push_str(&payload_hash);
    Ok(out)
}

/// Every value of header `name`, each trimmed with inner whitespace runs
/// collapsed to one space, joined with commas in the order received.
fn canonical_header_value(request: &SignedRequest<'_>, name: &str) -> Result<String, SigV4Error> {
    let mut joined = String::new();
    let mut any = false;
    for value in request.header_values(name) {
        if any {
            joined.push(',');
        }
        any = true;
        joined.extend(value.split_ascii_whitespace().flat_map(|word| [" ", word]).skip(1));
        if joined.len() > MAX_SIGNED_HEADER_VALUE_LEN {
            return Err(incomplete(format!("The signed header '{}' is too long.", shown(name))));
        }
    }
    if !any {
        return Err(incomplete(format!("The signed header '{}' is not present in the request.", shown(name))));
    }
    Ok(joined)
}

/// The canonical URI of a raw (percent-encoded) path, as AWS computes it for
/// every service but S3: empty and `.` segments dropped, `..` removing the
/// segment before it, a trailing slash kept, then each segment URI-encoded.
/// Encoding the already-encoded path again is AWS's "double encoding", and
/// it is what SDKs sign.
pub fn canonical_uri(raw_path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in raw_path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(raw_path.len() + 8);
    for segment in &segments {
        out.push('/');
        uri_encode_into(&mut out, segment.as_bytes());
    }
    if segments.is_empty() || raw_path.ends_with('/') {
        out.push('/');
    }
    out
}

/// The canonical query string of a raw query: each name and value
/// percent-decoded and re-encoded with AWS's rules, a missing `=` read as an
/// empty value, and the pairs sorted by name and then value.
pub fn canonical_query(raw_query: &str) -> String {
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let mut encoded_name = String::new();
            let mut encoded_value = String::new();
            uri_encode_into(&mut encoded_name, &percent_decode(name));
            uri_encode_into(&mut encoded_value, &percent_decode(value));
            (encoded_name, encoded_value)
        })
        .collect();
    pairs.sort_unstable();
    pairs.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("&")
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits stays as it
/// is, so malformed input still has one well-defined canonical form.
fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&hi), Some(&lo)) => hex_value(hi).zip(hex_value(lo)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// URI-encodes bytes the way SigV4 requires: unreserved characters as they
/// are, everything else as `%XX` with uppercase hex.
fn uri_encode_into(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_uri_follows_the_non_s3_rules() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("/./"), "/");
        assert_eq!(canonical_uri("/example1/example2/../.."), "/");
        assert_eq!(canonical_uri("//example//"), "/example/");
        assert_eq!(canonical_uri("/./example"), "/example");
        assert_eq!(canonical_uri("/example space/"), "/example%20space/");
        assert_eq!(canonical_uri("/\u{1234}"), "/%E1%88%B4");
        // A path that arrives percent-encoded is encoded again.
        assert_eq!(canonical_uri("/%E1%88%B4"), "/%25E1%2588%25B4");
        assert_eq!(canonical_uri("/foo%2F.%2Fbar"), "/foo%252F.%252Fbar");
    }

    #[test]
    fn canonical_query_sorts_and_normalises_encoding() {
        assert_eq!(canonical_query(""), "");
        assert_eq!(canonical_query("Param2=value2&Param1=value1"), "Param1=value1&Param2=value2");
        assert_eq!(canonical_query("b=2&a=1&A=0&a=0"), "A=0&a=0&a=1&b=2");
        assert_eq!(canonical_query("Param1"), "Param1=");
        assert_eq!(canonical_query("k=%7e%2fx y&&"), "k=~%2Fx%20y");
        assert_eq!(canonical_query("k=%zz%"), "k=%25zz%25");
        assert_eq!(canonical_query("\u{1234}=bar"), "%E1%88%B4=bar");
    }
}
