//! Output formats of `seqflow compare`: a text table, JSON, CSV and an SVG bar chart, all of one
//! [`Document`]: the in-process report, the cross-process section and what was seen of the
//! machine's load.

pub mod csv;
pub mod json;
pub mod plot;
pub mod table;

use crate::ipc::IpcSection;
use seqflow_bench::compare::Report;
use seqflow_bench::load::LoadReport;

/// Everything `seqflow compare` reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Document {
    /// The load average at the start and end, other processes' CPU use, warnings.
    pub environment: LoadReport,
    /// The in-process scenarios and ping-pong (its fields are the top level of the JSON).
    #[serde(flatten)]
    pub report: Report,
    /// The cross-process section, if it ran.
    pub ipc: Option<IpcSection>,
}

/// `value` events/s in millions with two decimals (`"123.45"`), or `"-"`.
pub fn millions(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{:.2}", v / 1e6))
}

/// A ratio as `"1.25x"`, or `"-"`.
pub fn ratio(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}x"))
}
