//! `--json`: the whole document as one JSON value.

use super::Document;

/// `document` as pretty-printed JSON.
pub fn render(document: &Document) -> String {
    serde_json::to_string_pretty(document).expect("the report is plain data") + "\n"
}
