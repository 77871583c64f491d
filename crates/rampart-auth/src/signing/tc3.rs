//! Tencent Cloud API 3.0 signature verification (`TC3-HMAC-SHA256`), the
//! scheme of `tencentcloud-sdk-*` and `tccli`.
//!
//! The canonical request follows Tencent's "Signature v3" document: the
//! method, the fixed URI `/`, the query string exactly as sent, each signed
//! header as `name:value` with both lowercased and the value trimmed, the
//! signed-header list, and the SHA-256 of the body. The string to sign puts
//! the `X-TC-Timestamp` value and the `date/service/tc3_request` scope before
//! the canonical request's hash, and the key is derived from `"TC3" + secret`
//! over the date, the service and `tc3_request`. On top of that this module
//! requires `content-type` and `host` to be signed, the timestamp to be within
//! five minutes, the credential date to be the timestamp's UTC date, and the
//! service to be the one this endpoint serves. Errors carry Tencent's common
//! error codes.
//!
//! Tencent does not require `X-TC-Action`, `X-TC-Version` or `X-TC-Region`
//! to be signed (its own example signs only `content-type;host`), so a front
//! end that routes on them should know they are authenticated only when the
//! client chose to sign them; newer SDKs sign `x-tc-action`.

use aws_lc_rs::hmac;
use secrecy::ExposeSecret;

use super::common::{
    self, AuthSyntax, MAX_SIGNED_HEADER_VALUE_LEN, UtcTime, decode_signature, parse_authorization,
    parse_signed_headers, plausible_key_id, sha256_hex, shown,
};
use super::{MAX_CLOCK_SKEW_SECS, SecretLookup, SignedRequest};

/// The only algorithm this verifier accepts.
pub const ALGORITHM: &str = "TC3-HMAC-SHA256";
const TERMINATOR: &str = "tc3_request";
const TOKEN_HEADER: &str = "x-tc-token";
const TIMESTAMP_HEADER: &str = "x-tc-timestamp";

/// Why a request was refused, named after Tencent Cloud's common error
/// codes. The wording follows Tencent's published descriptions of those
/// codes; the detail never contains a secret or the computed signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Tc3Error {
    /// The `Authorization` header is missing or malformed, or a header that
    /// must be signed is not.
    #[error("The Authorization in the request header is invalid: {0}")]
    InvalidAuthorization(String),
    /// The signature does not match, or is scoped to another day or service.
    #[error("The provided credentials could not be validated. Please check your signature is correct. ({0})")]
    SignatureFailure(String),
    /// `X-TC-Timestamp` is more than five minutes from the server's clock.
    #[error(
        "Signature expired. Timestamp and server time cannot differ by more than five minutes. \
         Please ensure your current local time matches the standard time."
    )]
    SignatureExpire,
    /// The SecretId is unknown or cannot be used.
    #[error(
        "The key does not exist. Check if the key has been deleted or disabled in the console, and if not, \
         check if the key is correctly entered. Note that whitespaces should not exist before or after the key."
    )]
    SecretIdNotFound,
    /// The request carries `X-TC-Token`; we issue no temporary credentials.
    #[error("Temporary credentials (X-TC-Token) are not accepted.")]
    TokenFailure,
}

impl Tc3Error {
    /// The `Response.Error.Code` Tencent Cloud would send.
    pub fn tc_code(&self) -> &'static str {
        match self {
            Tc3Error::InvalidAuthorization(_) => "AuthFailure.InvalidAuthorization",
            Tc3Error::SignatureFailure(_) => "AuthFailure.SignatureFailure",
            Tc3Error::SignatureExpire => "AuthFailure.SignatureExpire",
            Tc3Error::SecretIdNotFound => "AuthFailure.SecretIdNotFound",
            Tc3Error::TokenFailure => "AuthFailure.TokenFailure",
        }
    }
}

fn invalid(detail: impl Into<String>) -> Tc3Error {
    Tc3Error::InvalidAuthorization(detail.into())
}

fn failure(detail: impl Into<String>) -> Tc3Error {
    Tc3Error::SignatureFailure(detail.into())
}

/// The four slash-separated parts of `Credential=`.
#[derive(Debug, Clone, Copy)]
struct Credential<'a> {
    secret_id: &'a str,
    date: &'a str,
    service: &'a str,
}

impl<'a> Credential<'a> {
    fn parse(value: &'a str) -> Result<Credential<'a>, Tc3Error> {
        let parts: Vec<&str> = value.splitn(5, '/').collect();
        match parts[..] {
            [secret_id, date, service, TERMINATOR] if !secret_id.is_empty() => {
                Ok(Credential { secret_id, date, service })
            }
            _ => Err(invalid(format!("Credential must be SecretId/Date/Service/{TERMINATOR}, got '{}'", shown(value)))),
        }
    }
}

/// The SecretId a request claims, without checking anything else, so that a
/// front end can fetch the secret before calling [`verify`].
pub fn claimed_secret_id<'a>(request: &SignedRequest<'a>) -> Option<&'a str> {
    let authorization = request.single_header("authorization").ok()??;
    let params = parse_authorization(authorization, ALGORITHM).ok()?;
    let credential = Credential::parse(params.credential).ok()?;
    plausible_key_id(credential.secret_id).then_some(credential.secret_id)
}

/// Verifies a TC3-signed request and returns the authenticated SecretId.
///
/// `service` is the product name this endpoint answers for (`kms`); a
/// credential scoped to another is refused. `now_unix_secs` is the server's
/// clock.
pub fn verify<S: SecretLookup + ?Sized>(
    request: &SignedRequest<'_>,
    service: &str,
    secrets: &S,
    now_unix_secs: i64,
) -> Result<String, Tc3Error> {
    let authorization = match request.single_header("authorization") {
        Ok(Some(value)) if !value.trim().is_empty() => value,
        Ok(_) => return Err(invalid("the Authorization header is missing")),
        Err(_) => return Err(invalid("the request must carry exactly one Authorization header")),
    };
    let params = parse_authorization(authorization, ALGORITHM).map_err(syntax_error)?;
    let signed_headers = parse_signed_headers(params.signed_headers).map_err(invalid)?;
    for required in ["content-type", "host"] {
        if !signed_headers.contains(&required) {
            return Err(invalid(format!("SignedHeaders must include {required}")));
        }
    }
    let signature =
        decode_signature(params.signature).ok_or_else(|| invalid("Signature must be 64 lowercase hex digits"))?;
    let credential = Credential::parse(params.credential)?;

    if request.has_header(TOKEN_HEADER) {
        return Err(Tc3Error::TokenFailure);
    }

    let timestamp = match request.single_header(TIMESTAMP_HEADER) {
        Ok(Some(value)) => value.trim_matches(common::is_http_space),
        Ok(None) => return Err(invalid("the X-TC-Timestamp header is missing")),
        Err(_) => return Err(invalid("the request must carry exactly one X-TC-Timestamp header")),
    };
    let signed_at = parse_timestamp(timestamp)
        .ok_or_else(|| invalid(format!("X-TC-Timestamp must be Unix seconds, got '{}'", shown(timestamp))))?;
    if signed_at < now_unix_secs.saturating_sub(MAX_CLOCK_SKEW_SECS)
        || signed_at > now_unix_secs.saturating_add(MAX_CLOCK_SKEW_SECS)
    {
        return Err(Tc3Error::SignatureExpire);
    }
    // Tencent requires the scope date to be the UTC date of the timestamp;
    // checking it keeps a signature from being replayed under another date.
    let utc_date = UtcTime::from_unix(signed_at).dashed_date();
    if credential.date != utc_date {
        return Err(failure(format!(
            "the credential date '{}' is not the UTC date of X-TC-Timestamp, {utc_date}",
            shown(credential.date)
        )));
    }
    if credential.service != service {
        return Err(failure(format!(
            "the credential is scoped to service '{}', not '{}'",
            shown(credential.service),
            shown(service)
        )));
    }
    // API 3.0 signs the fixed URI "/", so any other path would be unsigned.
    if request.path != "/" {
        return Err(failure("API 3.0 requests must be made to the path '/'"));
    }

    let canonical = canonical_request_for(request, &signed_headers, params.signed_headers)?;
    let scope = format!("{}/{}/{TERMINATOR}", credential.date, credential.service);
    let string_to_sign = format!("{ALGORITHM}\n{timestamp}\n{scope}\n{}", sha256_hex(canonical.as_bytes()));

    if !plausible_key_id(credential.secret_id) {
        return Err(Tc3Error::SecretIdNotFound);
    }
    let secret = secrets.secret(credential.secret_id).ok_or(Tc3Error::SecretIdNotFound)?;
    let key =
        common::derive_signing_key("TC3", secret.expose_secret(), &[credential.date, credential.service, TERMINATOR]);
    // A constant-time comparison inside aws-lc; the expected signature is
    // never materialised where it could reach a message.
    hmac::verify(&key, string_to_sign.as_bytes(), &signature).map_err(|_| failure("the signature does not match"))?;
    Ok(credential.secret_id.to_owned())
}

fn syntax_error(e: AuthSyntax) -> Tc3Error {
    match e {
        AuthSyntax::TooLong => invalid("the Authorization header is too long"),
        AuthSyntax::WrongAlgorithm(found) => invalid(format!("unsupported algorithm '{found}'")),
        AuthSyntax::Malformed(why) => invalid(why),
        AuthSyntax::Missing(names) => invalid(format!("missing {}", names.join(", "))),
    }
}

/// Unix seconds as decimal digits only; twelve digits is far beyond any
/// plausible clock and keeps the arithmetic from overflowing.
fn parse_timestamp(value: &str) -> Option<i64> {
    if value.is_empty() || value.len() > 12 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// The canonical request Tencent would compute for `request` signed with
/// the `signed_headers` list (for example `content-type;host`). Exposed so
/// that tests and operators can compare it with a client's; it contains
/// nothing secret.
pub fn canonical_request(request: &SignedRequest<'_>, signed_headers: &str) -> Result<String, Tc3Error> {
    let names = parse_signed_headers(signed_headers).map_err(invalid)?;
    canonical_request_for(request, &names, signed_headers)
}

fn canonical_request_for(request: &SignedRequest<'_>, names: &[&str], list: &str) -> Result<String, Tc3Error> {
    let mut out = String::with_capacity(256);
    out.push_str(request.method);
    out.push_str("\n/\n");
    out.push_str(request.query);
    out.push('\n');
    for name in names {
        // Tencent does not say how repeated headers combine, so a repeated
        // signed header is refused rather than guessed at.
        let value = match request.single_header(name) {
            Ok(Some(value)) => value.trim_matches(common::is_http_space),
            Ok(None) => return Err(invalid(format!("the signed header '{}' is not present", shown(name)))),
            Err(_) => return Err(invalid(format!("the signed header '{}' is repeated", shown(name)))),
        };
        if value.len() > MAX_SIGNED_HEADER_VALUE_LEN {
            return Err(invalid(format!("the signed header '{}' is too long", shown(name))));
        }
        out.push_str(name);
        out.push(':');
        out.push_str(&value.to_lowercase());
        out.push('\n');
    }
    out.push('\n');
    out.push_str(list);
    out.push('\n');
    out.push_str(&sha256_hex(request.body));
    Ok(out)
}
