//! `--json`: the whole report as one JSON document.

use seqflow_bench::compare::Report;

/// `report` as pretty-printed JSON.
pub fn render(report: &Report) -> String {
    serde_json::to_string_pretty(report).expect("the report is plain data")
}
