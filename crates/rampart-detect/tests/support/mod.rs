//! What the engine's integration tests share: where the SigmaHQ test data is.

use std::path::{Path, PathBuf};

/// `../shared/testdata/sigma` beside the checkout, or `None` with a loud
/// SKIP line naming `what` when it is absent (an error when
/// `RAMPART_REQUIRE_TOOLS` is set, as in CI).
pub fn testdata(what: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/sigma");
    if dir.join("rules").is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("RAMPART_REQUIRE_TOOLS").is_none(),
        "RAMPART_REQUIRE_TOOLS is set but the Sigma test data is missing at {}",
        dir.display()
    );
    println!("SKIP{what}: Sigma test data not found at {}", dir.display());
    None
}
