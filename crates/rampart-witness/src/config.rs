//! The configuration file of `rampart witness serve --config FILE`, validated
//! into a typed [`Config`] in one step, and the witness key file.
//!
//! ```toml
//! name = "witness.example.com/w1"          # the cosigner key name
//! key_file = "/var/lib/rampart-witness/key" # created (0600) on first start
//! state_dir = "/var/lib/rampart-witness/state"
//! listen = "127.0.0.1:7380"                 # optional, this is the default
//!
//! [[log]]
//! origin = "example.com/log"
//! key = "example.com/log+abcd1234+AU..."    # the log's note verifier key
//! ```
//!
//! Unknown keys are refused so a typo is an error, not a silently ignored
//! setting. A log may be listed more than once with different keys, to
//! rotate its key. The key file holds the cosigner private key in the
//! `PRIVATE+KEY+` encoding; it is refused when group or others can read it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rampart_core::secret::{check_private, write_private_new};
use rampart_ledger::Verifier;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::cosignature::CosignerKey;
use crate::witness::{KnownLogs, Witness, WitnessError};

/// The listen address when none is configured: loopback only, since the
/// witness speaks plain HTTP.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7380";

/// Why the configuration or the key file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("invalid witness configuration: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("invalid witness configuration: {0}")]
    Invalid(String),
    #[error(transparent)]
    Secret(#[from] rampart_core::secret::SecretError),
    #[error(transparent)]
    Witness(#[from] WitnessError),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    name: String,
    key_file: PathBuf,
    state_dir: PathBuf,
    listen: Option<SocketAddr>,
    #[serde(default)]
    log: Vec<RawLog>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    origin: String,
    key: String,
}

/// A validated witness configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The cosigner name, which the key file's key must carry.
    pub name: String,
    pub key_file: PathBuf,
    pub state_dir: PathBuf,
    pub listen: SocketAddr,
    pub logs: KnownLogs,
}

impl Config {
    /// Parses and validates the TOML text of a configuration file.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text)?;
        if !rampart_ledger::note::is_valid_key_name(&raw.name) {
            return Err(ConfigError::Invalid(format!(
                "the witness name {:?} is empty or has a space or '+'",
                raw.name
            )));
        }
        let mut logs = KnownLogs::new();
        for log in &raw.log {
            let key = Verifier::parse(&log.key)
                .map_err(|e| ConfigError::Invalid(format!("the key of log {:?}: {e}", log.origin)))?;
            logs.add(&log.origin, key).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        }
        let listen = match raw.listen {
            Some(addr) => addr,
            None => DEFAULT_LISTEN.parse().map_err(|_| ConfigError::Invalid("the default listen address".into()))?,
        };
        Ok(Self { name: raw.name, key_file: raw.key_file, state_dir: raw.state_dir, listen, logs })
    }

    /// Reads and validates the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Io { path: path.display().to_string(), source })?;
        Self::parse(&text)
    }

    /// Loads the key file, creating it with a fresh key on first start, and
    /// opens the witness on the state directory.
    pub fn open_witness(&self) -> Result<Witness, ConfigError> {
        let key = load_or_create_key(&self.key_file, &self.name)?;
        Ok(Witness::open(key, self.logs.clone(), &self.state_dir)?)
    }
}

/// Loads the cosigner key at `path`, or creates it (mode 0600, never
/// overwriting) when absent. A key file that others can read, or whose key
/// carries another name than `name`, is refused.
pub fn load_or_create_key(path: &Path, name: &str) -> Result<CosignerKey, ConfigError> {
    let io = |source| ConfigError::Io { path: path.display().to_string(), source };
    if !path.try_exists().map_err(io)? {
        let key = CosignerKey::generate(name).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let secret = key.expose_secret_encoding();
        // Sized up front so that adding the newline never reallocates and
        // leaves a copy of the key in freed memory.
        let mut encoded = Zeroizing::new(String::with_capacity(secret.len() + 1));
        encoded.push_str(&secret);
        encoded.push('\n');
        write_private_new(path, encoded.as_bytes()).map_err(io)?;
        tracing::info!(path = %path.display(), vkey = %key.verifier(), "created the witness key");
        return Ok(key);
    }
    check_private(path)?;
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
    let key = CosignerKey::parse(text.trim_end_matches('\n'))
        .map_err(|e| ConfigError::Invalid(format!("the key file {}: {e}", path.display())))?;
    if key.name() != name {
        return Err(ConfigError::Invalid(format!(
            "the key file {} holds the key of {:?}, not {name:?}",
            path.display(),
            key.name()
        )));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use rampart_ledger::Signer;

    use super::*;

    fn sample(log_key: &str) -> String {
        format!(
            "name = \"witness.example/w1\"\nkey_file = \"/k\"\nstate_dir = \"/s\"\n\n\
             [[log]]\norigin = \"example.com/log\"\nkey = \"{log_key}\"\n"
        )
    }

    #[test]
    fn a_valid_file_parses_with_the_default_listen_address() {
        let key = Signer::generate("example.com/log").unwrap().verifier().to_string();
        let config = Config::parse(&sample(&key)).unwrap();
        assert_eq!(config.name, "witness.example/w1");
        assert_eq!(config.listen.to_string(), "127.0.0.1:7380");
        assert_eq!(config.key_file, Path::new("/k"));
        assert_eq!(config.logs.keys("example.com/log").unwrap()[0].to_string(), key);
        let with_listen = format!("listen = \"0.0.0.0:9000\"\n{}", sample(&key));
        assert_eq!(Config::parse(&with_listen).unwrap().listen.port(), 9000);
    }

    #[test]
    fn unknown_keys_bad_keys_and_bad_names_are_refused() {
        let key = Signer::generate("example.com/log").unwrap().verifier().to_string();
        let base = sample(&key);
        let bad = [
            ("unknown top-level key", format!("typo = 1\n{base}")),
            ("unknown log key", format!("{base}extra = 1\n")),
            ("bad log key", sample("example.com/log+00000000+AAAA")),
            ("repeated log key", format!("{base}\n[[log]]\norigin = \"example.com/log\"\nkey = \"{key}\"\n")),
            ("bad name", base.replace("witness.example/w1", "two words")),
            ("bad listen", format!("listen = \"nowhere\"\n{base}")),
            ("missing state_dir", base.replace("state_dir = \"/s\"\n", "")),
        ];
        for (what, text) in bad {
            assert!(Config::parse(&text).is_err(), "{what} was accepted");
        }
    }

    #[test]
    fn the_key_file_is_created_private_reloaded_and_refused_when_open_or_misnamed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("witness.key");
        let created = load_or_create_key(&path, "witness.example/w1").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let loaded = load_or_create_key(&path, "witness.example/w1").unwrap();
        assert_eq!(loaded.verifier(), created.verifier());
        assert!(load_or_create_key(&path, "witness.example/w2").is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(load_or_create_key(&path, "witness.example/w1"), Err(ConfigError::Secret(_))));
        }
    }
}
