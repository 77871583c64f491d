//! The detection stage's durable state: the ledger cursor (the next index
//! to evaluate) and the correlation engine's snapshot, taken together at a
//! point where every alert raised so far was taken, written atomically
//! (temporary file, fsync, rename, fsync of the directory) to
//! `DIR/detect/state.json`. A crash between two saves replays the ledger
//! from the saved cursor with the saved windows, so no alert is lost (some
//! may be raised twice; the ticket desk de-duplicates them).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rampart_detect::EngineState;
use serde::{Deserialize, Serialize};

/// Version of the state file's format.
pub const VERSION: u32 = 1;

/// What is saved.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub version: u32,
    /// The ledger origin the cursor belongs to.
    pub origin: String,
    /// The next ledger index to evaluate.
    pub cursor: u64,
    /// When it was written, milliseconds since the epoch.
    pub saved_ms: i64,
    pub engine: EngineState,
}

/// Why the state file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a detection state file: {message}")]
    Format { path: PathBuf, message: String },
}

/// The saved state, or `None` when there is none yet.
pub fn load(path: &Path) -> Result<Option<Saved>, LoadError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(LoadError::Io { path: path.to_owned(), source }),
    };
    let saved: Saved = serde_json::from_slice(&bytes)
        .map_err(|e| LoadError::Format { path: path.to_owned(), message: e.to_string() })?;
    if saved.version != VERSION {
        return Err(LoadError::Format { path: path.to_owned(), message: format!("version {}", saved.version) });
    }
    Ok(Some(saved))
}

/// Writes `saved` to `path` atomically and durably.
pub fn save(path: &Path, saved: &Saved) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec(saved).map_err(std::io::Error::other)?;
    {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(cursor: u64) -> Saved {
        Saved { version: VERSION, origin: "o".into(), cursor, saved_ms: 0, engine: EngineState::default() }
    }

    #[test]
    fn saves_replace_atomically_and_garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("detect/state.json");
        assert!(matches!(load(&path), Ok(None)));
        save(&path, &saved(7)).unwrap_or_else(|e| panic!("{e}"));
        save(&path, &saved(9)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(load(&path).ok().flatten().map(|s| s.cursor), Some(9));
        assert!(!path.with_extension("json.tmp").exists());
        fs::write(&path, b"{not json").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(load(&path), Err(LoadError::Format { .. })));
        let mut old = serde_json::to_value(saved(1)).unwrap_or_default();
        old["version"] = 99.into();
        fs::write(&path, old.to_string()).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(load(&path), Err(LoadError::Format { .. })));
    }
}
