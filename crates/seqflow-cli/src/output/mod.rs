//! Output formats of `seqflow compare`: a text table, JSON, CSV and an SVG bar chart.

pub mod csv;
pub mod json;
pub mod plot;
pub mod table;

/// `value` events/s in millions with two decimals (`"123.45"`), or `"-"`.
pub fn millions(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{:.2}", v / 1e6))
}

/// A ratio as `"1.25x"`, or `"-"`.
pub fn ratio(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}x"))
}
