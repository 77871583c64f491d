//! A small AWS Signature Version 4 signer for the benchmark's load
//! generator, written from the AWS specification rather than reusing the
//! server's canonicaliser, so that the benchmark talks to Rampart the way an
//! independent SDK would. It signs a request's method, path, headers and
//! body; it does not handle query strings, which JSON-protocol calls never
//! carry.

use aws_lc_rs::{digest, hmac};
use secrecy::{ExposeSecret, SecretString};

/// An access key pair.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub id: String,
    pub secret: SecretString,
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

fn hmac(key: &[u8], data: &[u8]) -> hmac::Tag {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
}

/// The `X-Amz-Date` form of a Unix time: `YYYYMMDDTHHMMSSZ`.
pub fn amz_date(unix: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// What to sign. `headers` must include `host` and `x-amz-date`, with
/// lower-case names; they are all signed.
#[derive(Debug)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// Returns the `Authorization` header value for `request`, signed at
/// `amz_date` (which must equal the request's `x-amz-date` header).
pub fn authorization(request: &Request<'_>, amz_date: &str, region: &str, service: &str, key: &Credentials) -> String {
    let mut headers: Vec<(&str, &str)> = request.headers.to_vec();
    headers.sort_unstable_by_key(|(name, _)| *name);
    let signed: Vec<&str> = headers.iter().map(|(name, _)| *name).collect();
    let signed = signed.join(";");
    let mut canonical = format!("{}\n{}\n\n", request.method, request.path);
    for (name, value) in &headers {
        canonical.push_str(name);
        canonical.push(':');
        canonical.push_str(value.trim());
        canonical.push('\n');
    }
    canonical.push('\n');
    canonical.push_str(&signed);
    canonical.push('\n');
    canonical.push_str(&hex(digest::digest(&digest::SHA256, request.body).as_ref()));

    let date = amz_date.get(..8).unwrap_or(amz_date);
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let k = hmac(format!("AWS4{}", key.secret.expose_secret()).as_bytes(), date.as_bytes());
    let k = hmac(k.as_ref(), region.as_bytes());
    let k = hmac(k.as_ref(), service.as_bytes());
    let k = hmac(k.as_ref(), b"aws4_request");
    let signature = hex(hmac(k.as_ref(), to_sign.as_bytes()).as_ref());
    format!("AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}", key.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `get-vanilla` case of the AWS SigV4 test suite.
    #[test]
    fn signs_the_aws_get_vanilla_vector() {
        let key = Credentials {
            id: "AKIDEXAMPLE".into(),
            secret: SecretString::from("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        };
        let date = "20150830T123600Z";
        let headers = [("host", "example.amazonaws.com"), ("x-amz-date", date)];
        let request = Request { method: "GET", path: "/", headers: &headers, body: b"" };
        assert_eq!(
            authorization(&request, date, "us-east-1", "service", &key),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn formats_amz_dates() {
        assert_eq!(amz_date(1_440_938_160), "20150830T123600Z");
    }
}
