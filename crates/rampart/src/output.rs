//! Human-readable tables, or JSON for scripts.

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use serde_json::Value;

/// Prints `rows` (JSON objects) as a table of `columns`, or the raw JSON.
pub fn list(json: bool, value: &Value, columns: &[&str]) {
    if json {
        println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
        return;
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    table.set_header(columns.iter().map(|c| c.to_uppercase()));
    let empty = Vec::new();
    for row in value["items"].as_array().unwrap_or(&empty) {
        table.add_row(columns.iter().map(|c| cell(&row[*c])));
    }
    println!("{table}");
    if let Some(next) = value["next"].as_str() {
        println!("more: --after {next}");
    }
}

/// Prints one object as `key: value` lines, or the raw JSON.
pub fn object(json: bool, value: &Value) {
    if json {
        println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
        return;
    }
    if let Some(map) = value.as_object() {
        let width = map.keys().map(String::len).max().unwrap_or(0);
        for (k, v) in map {
            println!("{k:width$}  {}", cell(v));
        }
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}
