//! Password hashing with argon2id at OWASP's recommended minimum
//! (m = 19 MiB, t = 2, p = 1), stored as PHC strings so parameters can be
//! raised later without invalidating existing hashes.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

use crate::AuthError;

/// Memory cost in KiB (19 MiB), iterations and lanes: OWASP Password Storage
/// Cheat Sheet, argon2id minimum configuration.
pub const M_COST_KIB: u32 = 19 * 1024;
pub const T_COST: u32 = 2;
pub const P_COST: u32 = 1;

/// Shortest and longest password accepted.
pub const MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 1024;

fn argon2() -> Result<Argon2<'static>, AuthError> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).map_err(|e| AuthError::Internal(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Checks length rules without revealing the password in the message.
pub fn check_policy(password: &SecretString) -> Result<(), AuthError> {
    let n = password.expose_secret().chars().count();
    if n < MIN_LEN {
        return Err(AuthError::Invalid(format!("password must be at least {MIN_LEN} characters")));
    }
    if password.expose_secret().len() > MAX_LEN {
        return Err(AuthError::Invalid(format!("password must be at most {MAX_LEN} bytes")));
    }
    Ok(())
}

/// A PHC-format argon2id hash of `password` with a fresh random salt.
pub fn hash(password: &SecretString) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    let hash = argon2()?
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map_err(|e| AuthError::Internal(format!("password hashing failed: {e}")))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the stored PHC hash. Malformed hashes fail.
pub fn verify(password: &SecretString, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else { return false };
    let Ok(a2) = argon2() else { return false };
    a2.verify_password(password.expose_secret().as_bytes(), &parsed).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let pw = SecretString::from("correct horse battery staple");
        let phc = hash(&pw).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify(&pw, &phc));
        assert!(!verify(&SecretString::from("correct horse battery stapler"), &phc));
        assert!(!verify(&pw, "not a phc string"));
        assert_ne!(hash(&pw).unwrap(), phc, "salts must differ");
    }

    #[test]
    fn policy_rejects_short_and_oversized_passwords() {
        assert!(check_policy(&SecretString::from("short")).is_err());
        assert!(check_policy(&SecretString::from("x".repeat(MAX_LEN + 1))).is_err());
        assert!(check_policy(&SecretString::from("twelve chars")).is_ok());
    }
}
