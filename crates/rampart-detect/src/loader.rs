//! The only I/O of the crate: walking a directory of `.yml`/`.yaml` files
//! (in sorted order, so results are reproducible) and feeding them to a
//! `RuleSetBuilder`. Unreadable files are rejected, not skipped.

use std::path::{Path, PathBuf};

use crate::builder::RuleSetBuilder;
use crate::config::CompileOptions;
use crate::error::{CompileError, Rejected};
use crate::ruleset::RuleSet;

/// Deepest directory nesting walked, so a symlink loop cannot recurse forever.
const MAX_DIR_DEPTH: usize = 32;

fn io_reject(path: &Path, err: &std::io::Error) -> Rejected {
    Rejected {
        path: path.to_path_buf(),
        document: 0,
        rule_id: None,
        title: None,
        reason: CompileError::Io(err.to_string()),
    }
}

fn collect(dir: &Path, depth: usize, files: &mut Vec<PathBuf>, rejected: &mut Vec<Rejected>) {
    if depth > MAX_DIR_DEPTH {
        rejected.push(Rejected {
            path: dir.to_path_buf(),
            document: 0,
            rule_id: None,
            title: None,
            reason: CompileError::Limit(format!("directory nesting deeper than {MAX_DIR_DEPTH}")),
        });
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(err) => return rejected.push(io_reject(dir, &err)),
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            collect(&path, depth + 1, files, rejected);
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")) {
            files.push(path);
        }
    }
}

/// Compiles every rule file under `dir` with default options.
pub fn compile_dir(dir: impl AsRef<Path>) -> (RuleSet, Vec<Rejected>) {
    compile_dir_with(dir, CompileOptions::default())
}

/// Compiles every rule file under `dir` (recursively) with `options`.
pub fn compile_dir_with(dir: impl AsRef<Path>, options: CompileOptions) -> (RuleSet, Vec<Rejected>) {
    let mut builder = RuleSetBuilder::new(options);
    builder.add_dir(dir.as_ref());
    builder.build()
}

impl RuleSetBuilder {
    /// Adds every `.yml`/`.yaml` file under `dir` (recursively, in sorted
    /// order); unreadable files and directories become rejections.
    pub fn add_dir(&mut self, dir: &Path) {
        let mut files = Vec::new();
        let mut rejected = Vec::new();
        collect(dir, 0, &mut files, &mut rejected);
        for r in rejected {
            self.reject(r);
        }
        for file in files {
            match std::fs::read_to_string(&file) {
                Ok(text) => self.add_yaml(&file, &text),
                Err(err) => self.reject(io_reject(&file, &err)),
            }
        }
    }
}

/// Compiles the rules of one YAML text.
pub fn compile_str(yaml: &str, options: CompileOptions) -> (RuleSet, Vec<Rejected>) {
    let mut builder = RuleSetBuilder::new(options);
    builder.add_yaml("<string>", yaml);
    builder.build()
}
