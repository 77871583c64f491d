//! Every Windows event in SigmaHQ's regression data (`../shared/testdata`)
//! must come out with Sigma's flat field names: each EventData value under
//! its own name, `EventID`, `Channel` and `Provider_Name` from System.

use std::fs;
use std::path::{Path, PathBuf};

use rampart_ingest::{ParserKind, parse_message};
use serde_json::Value as Json;

fn regression_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/sigma/regression");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: {} is absent; the Sigma regression events were not run", dir.display());
        None
    }
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for path in entries.flatten().map(|e| e.path()) {
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

#[test]
fn sigma_regression_events_get_sigma_field_names() {
    let Some(dir) = regression_dir() else { return };
    let mut files = Vec::new();
    json_files(&dir, &mut files);
    assert!(files.len() > 50, "expected the regression events, found {}", files.len());
    let mut events = 0;
    for file in files {
        // A file may hold several pretty-printed events one after another.
        let text = fs::read_to_string(&file).unwrap_or_default();
        for doc in serde_json::Deserializer::from_str(&text).into_iter::<Json>() {
            let doc = doc.unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            check(&file.display().to_string(), &doc);
            events += 1;
        }
    }
    assert!(events > 100, "only {events} events");
}

fn check(name: &str, doc: &Json) {
    let p = parse_message(ParserKind::Json, None, &doc.to_string());
    assert!(p.kind.starts_with("log.windows."), "{name}: {}", p.kind);
    assert!(p.fields.get("EventID").and_then(|v| v.as_i64()).is_some(), "{name}: EventID");
    assert!(p.fields.str("Channel").is_some(), "{name}: Channel");
    assert!(p.fields.str("Provider_Name").is_some(), "{name}: Provider_Name");
    assert!(p.time_ms.is_some(), "{name}: time");
    if let Some(Json::Object(data)) = doc.pointer("/Event/EventData") {
        for (key, value) in data {
            if value.is_object() || value.is_array() {
                continue;
            }
            let got = p.fields.get(key).map(|v| v.to_json());
            assert_eq!(got.as_ref(), Some(value), "{name}: EventData.{key}");
        }
    }
}
