//! The bastion's persistent host key: Ed25519, created on first start in
//! the data directory with mode 0600, refused if others can read it, so
//! clients see the same key across restarts.

use std::path::Path;

use russh::keys::PrivateKey;
use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::Ed25519Keypair;

/// Loads the host key at `path`, creating it first if there is none.
pub fn load_or_create(path: &Path) -> Result<PrivateKey, String> {
    if !path.exists() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| err(path, &e))?;
        }
        let seed = rampart_core::secret::random_bytes::<32>().map_err(|e| err(path, &e))?;
        let key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
        let pem = key.to_openssh(LineEnding::LF).map_err(|e| err(path, &e))?;
        rampart_core::secret::write_private_new(path, pem.as_bytes()).map_err(|e| err(path, &e))?;
        tracing::info!(path = %path.display(), fingerprint = %key.public_key().fingerprint(Default::default()),
            "created the SSH bastion's host key");
        return Ok(key);
    }
    rampart_core::secret::check_private(path).map_err(|e| err(path, &e))?;
    let pem = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| err(path, &e))?);
    PrivateKey::from_openssh(pem.as_bytes()).map_err(|e| err(path, &e))
}

fn err(path: &Path, e: &dyn std::fmt::Display) -> String {
    format!("the bastion host key {}: {e}", path.display())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_host_key_persists_with_private_permissions() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("ssh/host_ed25519_key");
        let first = super::load_or_create(&path).unwrap_or_else(|e| panic!("{e}"));
        let again = super::load_or_create(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first.public_key(), again.public_key());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
        assert_eq!(mode, 0o600);
    }
}
