//! `--json`: the whole report as one JSON document.

use crate::compare::Report;

/// `report` as pretty-printed JSON.
///
/// ```
/// use seqflow_cli::compare::{compare, CompareOptions};
/// use seqflow_cli::scenario::select;
/// let opts = CompareOptions { selection: select(&["1p1c-u64-single".into()]).unwrap(),
///     events: 1_000, rounds: 1, min_run: std::time::Duration::ZERO, ..CompareOptions::default() };
/// let json = seqflow_cli::output::json::render(&compare(&opts, &mut |_| {}).unwrap());
/// let v: serde_json::Value = serde_json::from_str(&json).unwrap();
/// assert_eq!(v["throughput"][0]["scenario"], "1p1c-u64-single");
/// ```
pub fn render(report: &Report) -> String {
    serde_json::to_string_pretty(report).expect("the report is plain data")
}
