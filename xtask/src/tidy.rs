//! Tidy checks over the source tree, run as ordinary tests.

use std::fs;
use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_opens_with_a_module_doc_paragraph() {
    let root = workspace_root();
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    rust_files(&root.join("xtask"), &mut files);
    assert!(files.len() > 20, "found only {} files under {}", files.len(), root.display());
    let missing: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = fs::read_to_string(f).unwrap_or_default();
            !text.lines().find(|l| !l.trim().is_empty()).is_some_and(|l| l.starts_with("//!"))
        })
        .map(|f| f.strip_prefix(&root).unwrap_or(f).display().to_string())
        .collect();
    assert!(missing.is_empty(), "these files need a `//!` paragraph saying what they own: {missing:#?}");
}

#[test]
fn every_crate_has_a_description() {
    let root = workspace_root();
    let mut crates: Vec<PathBuf> =
        fs::read_dir(root.join("crates")).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    crates.push(root.join("xtask"));
    for dir in crates {
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        assert!(manifest.contains("\ndescription = "), "{} has no description", dir.display());
        assert!(manifest.contains("[lints]\nworkspace = true"), "{} does not use the workspace lints", dir.display());
    }
}
