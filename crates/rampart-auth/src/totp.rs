//! TOTP second factor per RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps,
//! one step of clock skew either way. Each accepted code claims its time step
//! in the database, so a code works at most once (see `Store::claim_totp_step`).

use secrecy::{ExposeSecret, SecretString};
use totp_rs::{Algorithm, TOTP};
use zeroize::Zeroizing;

use crate::AuthError;

pub const DIGITS: usize = 6;
pub const STEP_SECS: u64 = 30;
pub const SKEW_STEPS: u64 = 1;
pub const ISSUER: &str = "Rampart";
/// 160-bit secrets, as RFC 4226 recommends.
pub const SECRET_LEN: usize = 20;

fn totp(secret: &[u8], account: &str) -> Result<TOTP, AuthError> {
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        // Skew is applied by `matching_step`, which needs to know the step.
        0,
        STEP_SECS,
        secret.to_vec(),
        Some(ISSUER.to_owned()),
        account.to_owned(),
    )
    .map_err(|e| AuthError::Internal(format!("totp: {e}")))
}

/// A fresh random secret.
pub fn generate_secret() -> Result<Zeroizing<[u8; SECRET_LEN]>, AuthError> {
    rampart_core::secret::random_bytes::<SECRET_LEN>().map_err(|e| AuthError::Internal(e.to_string()))
}

/// The RFC 4648 base32 form (no padding) authenticator apps and `oathtool -b` take.
pub fn base32(secret: &[u8]) -> SecretString {
    SecretString::from(data_encoding::BASE32_NOPAD.encode(secret))
}

/// The `otpauth://totp/…` enrolment URI (shown as a QR code by clients).
pub fn otpauth_uri(secret: &[u8], account: &str) -> Result<SecretString, AuthError> {
    Ok(SecretString::from(totp(secret, account)?.get_url()))
}

/// The code an authenticator shows at `unix_secs` (for tests and tooling).
pub fn code_at(secret: &[u8], unix_secs: u64) -> Result<SecretString, AuthError> {
    Ok(SecretString::from(totp(secret, "tool")?.generate(unix_secs)))
}

/// The time step `code` is valid for at `unix_secs`, within ±1 step, or
/// `None`. Comparison is constant-time; malformed codes never match.
pub fn matching_step(secret: &[u8], account: &str, code: &SecretString, unix_secs: u64) -> Option<u64> {
    let code = code.expose_secret();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = totp(secret, account).ok()?;
    let now_step = unix_secs / STEP_SECS;
    let mut found = None;
    for step in now_step.saturating_sub(SKEW_STEPS)..=now_step + SKEW_STEPS {
        let expected = Zeroizing::new(t.generate(step * STEP_SECS));
        if aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), code.as_bytes()).is_ok() {
            found = Some(step);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 column, truncated to 6 digits.
    #[test]
    fn rfc6238_sha1_vectors() {
        let secret = b"12345678901234567890";
        for (time, code8) in
            [(59u64, "94287082"), (1111111109, "07081804"), (1234567890, "89005924"), (2000000000, "69279037")]
        {
            let code = SecretString::from(code8[2..].to_owned());
            assert_eq!(matching_step(secret, "alice", &code, time), Some(time / 30), "t={time}");
        }
    }

    #[test]
    fn codes_outside_the_skew_window_or_malformed_are_rejected() {
        let secret = b"12345678901234567890";
        let code = SecretString::from("287082".to_owned()); // valid at t=59 (step 1)
        assert_eq!(matching_step(secret, "a", &code, 59 + 30), Some(1), "one step late is accepted");
        assert_eq!(matching_step(secret, "a", &code, 59 + 60), None, "two steps late is refused");
        for bad in ["", "28708", "2870822", "28708a", " 287082"] {
            assert_eq!(matching_step(secret, "a", &SecretString::from(bad.to_owned()), 59), None, "{bad:?}");
        }
    }

    #[test]
    fn otpauth_uri_names_issuer_and_account() {
        use secrecy::ExposeSecret;
        let uri = otpauth_uri(b"12345678901234567890", "alice").unwrap();
        let uri = uri.expose_secret();
        assert!(uri.starts_with("otpauth://totp/Rampart:alice?"), "{uri}");
        assert!(uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"), "{uri}");
    }
}
