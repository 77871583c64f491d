//! The witness's persistent state: one small file per log origin in a state
//! directory, holding the size and root hash of the latest checkpoint the
//! witness cosigned for it. This is the one thing a witness must never lose
//! or roll back, since forgetting it would let a log fork undetected.
//!
//! A file is replaced durably (written to a temporary file, fsynced, renamed
//! over the old one, then the directory fsynced), so after a crash each
//! origin holds either its old head or its new one, and a head is on disk
//! before any cosignature for it leaves the witness. A lock file keeps a
//! second witness process from using the same directory, which would let two
//! processes each believe they hold the latest head.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use aws_lc_rs::digest::{SHA256, digest};
use data_encoding::{BASE64, HEXLOWER};
use rampart_ledger::{HASH_LEN, Hash};

use super::{TreeHead, WitnessError};
use crate::protocol::parse_decimal;

/// The first line of every state file, naming its format version.
const FORMAT_V1: &str = "rampart-witness-state/v1";
const SUFFIX: &str = ".state";
const TMP_SUFFIX: &str = ".state.tmp";
const LOCK_FILE: &str = "LOCK";

/// An open state directory, locked for this process.
#[derive(Debug)]
pub(super) struct StateDir {
    path: PathBuf,
    /// Held for the life of the witness; the lock goes when the file closes.
    _lock: File,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> WitnessError + '_ {
    move |source| WitnessError::Io { path: path.display().to_string(), source }
}

impl StateDir {
    /// Opens (creating it if needed) and locks `path`, and loads every head
    /// stored in it. A file that does not parse stops the witness: guessing
    /// would risk cosigning a fork of a log it has seen.
    pub(super) fn open(path: &Path) -> Result<(Self, HashMap<String, TreeHead>), WitnessError> {
        fs::create_dir_all(path).map_err(io_err(path))?;
        let lock_path = path.join(LOCK_FILE);
        let lock =
            OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(WitnessError::Locked { path: path.display().to_string() });
            }
            Err(TryLockError::Error(source)) => return Err(io_err(&lock_path)(source)),
        }
        let mut heads = HashMap::new();
        for entry in fs::read_dir(path).map_err(io_err(path))? {
            let entry = entry.map_err(io_err(path))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(TMP_SUFFIX) {
                // A write that crashed before its rename; the head it was
                // replacing is still in place.
                let _ = fs::remove_file(entry.path());
                continue;
            }
            let Some(stem) = name.strip_suffix(SUFFIX) else { continue };
            let file = entry.path();
            let text = fs::read_to_string(&file).map_err(io_err(&file))?;
            let (origin, head) = parse_state(&text).ok_or_else(|| WitnessError::Corrupt {
                path: file.display().to_string(),
                reason: "not a valid state file",
            })?;
            if file_stem(&origin) != stem {
                return Err(WitnessError::Corrupt {
                    path: file.display().to_string(),
                    reason: "the origin inside does not match the file name",
                });
            }
            heads.insert(origin, head);
        }
        Ok((Self { path: path.to_owned(), _lock: lock }, heads))
    }

    /// Durably records `head` as the latest cosigned head of `origin`.
    pub(super) async fn store(&self, origin: &str, head: TreeHead) -> Result<(), WitnessError> {
        let dir = self.path.clone();
        let stem = file_stem(origin);
        let text = format_state(origin, &head);
        tokio::task::spawn_blocking(move || write_durably(&dir, &stem, text.as_bytes()))
            .await
            .map_err(|_| WitnessError::Internal("the state writer task failed"))?
    }
}

/// File names come from a hash of the origin, since origins are URLs whose
/// slashes and length do not fit in one path component.
fn file_stem(origin: &str) -> String {
    HEXLOWER.encode(digest(&SHA256, origin.as_bytes()).as_ref())
}

fn format_state(origin: &str, head: &TreeHead) -> String {
    format!("{FORMAT_V1}\n{origin}\n{}\n{}\n", head.size, BASE64.encode(&head.root))
}

fn parse_state(text: &str) -> Option<(String, TreeHead)> {
    let mut lines = text.strip_suffix('\n')?.split('\n');
    let (Some(FORMAT_V1), Some(origin), Some(size), Some(root), None) =
        (lines.next(), lines.next(), lines.next(), lines.next(), lines.next())
    else {
        return None;
    };
    let bytes = BASE64.decode(root.as_bytes()).ok()?;
    let root: Hash = <[u8; HASH_LEN]>::try_from(bytes.as_slice()).ok()?;
    if origin.is_empty() {
        return None;
    }
    Some((origin.to_owned(), TreeHead { size: parse_decimal(size)?, root }))
}

fn write_durably(dir: &Path, stem: &str, bytes: &[u8]) -> Result<(), WitnessError> {
    let tmp = dir.join(format!("{stem}{TMP_SUFFIX}"));
    let path = dir.join(format!("{stem}{SUFFIX}"));
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp).map_err(io_err(&tmp))?;
    file.write_all(bytes).map_err(io_err(&tmp))?;
    file.sync_all().map_err(io_err(&tmp))?;
    drop(file);
    fs::rename(&tmp, &path).map_err(io_err(&path))?;
    // The rename is durable only once the directory entry is.
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_files_round_trip_and_corruption_is_refused() {
        let head = TreeHead { size: 42, root: [9u8; 32] };
        let text = format_state("example.com/log", &head);
        assert_eq!(parse_state(&text), Some(("example.com/log".to_owned(), head)));
        let bad = [
            text.replace(FORMAT_V1, "rampart-witness-state/v2"),
            text.replace("\n42\n", "\n042\n"),
            text.trim_end().to_owned(),
            format!("{text}extra\n"),
            text.replace(&BASE64.encode(&[9u8; 32]), &BASE64.encode(&[9u8; 31])),
            format_state("", &head),
        ];
        for b in bad {
            assert_eq!(parse_state(&b), None, "{b:?}");
        }
    }

    #[test]
    fn a_corrupt_or_misplaced_state_file_stops_the_witness_from_opening() {
        let dir = tempfile::tempdir().unwrap();
        let stem = file_stem("a");
        fs::write(dir.path().join(format!("{stem}{SUFFIX}")), "garbage\n").unwrap();
        assert!(matches!(StateDir::open(dir.path()), Err(WitnessError::Corrupt { .. })));

        let dir = tempfile::tempdir().unwrap();
        let moved = format_state("b", &TreeHead { size: 1, root: [0; 32] });
        fs::write(dir.path().join(format!("{stem}{SUFFIX}")), moved).unwrap();
        assert!(matches!(StateDir::open(dir.path()), Err(WitnessError::Corrupt { .. })));
    }

    #[tokio::test]
    async fn heads_survive_reopening_and_the_directory_is_locked_while_open() {
        let dir = tempfile::tempdir().unwrap();
        let (state, heads) = StateDir::open(dir.path()).unwrap();
        assert!(heads.is_empty());
        assert!(matches!(StateDir::open(dir.path()), Err(WitnessError::Locked { .. })));
        let head = TreeHead { size: 7, root: [3u8; 32] };
        state.store("example.com/log", head).await.unwrap();
        state.store("example.com/log", TreeHead { size: 8, ..head }).await.unwrap();
        // A temporary file left by a crash is cleaned up, not read.
        fs::write(dir.path().join(format!("x{TMP_SUFFIX}")), "partial").unwrap();
        drop(state);
        let (_state, heads) = StateDir::open(dir.path()).unwrap();
        assert_eq!(heads.len(), 1);
        assert_eq!(heads["example.com/log"], TreeHead { size: 8, root: [3u8; 32] });
        assert!(!dir.path().join(format!("x{TMP_SUFFIX}")).exists());
    }
}
