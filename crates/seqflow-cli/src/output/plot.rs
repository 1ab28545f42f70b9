//! `--plot FILE.svg`: a horizontal bar chart of events/s per scenario and implementation, drawn
//! with `plotters`' SVG backend (text is emitted as SVG text, so no font files are needed).

use super::Document;
use crate::ipc::{Mode, Transport};
use crate::{ArgError, CliError};
use plotters::prelude::*;
use seqflow_bench::peers::Implementation;
use std::path::Path;

/// The colour of each implementation's bars.
fn colour(implementation: Implementation) -> RGBColor {
    match implementation {
        Implementation::Seqflow => RGBColor(0x1f, 0x77, 0xb4),
        Implementation::SeqflowLock => RGBColor(0x6b, 0xae, 0xd6),
        Implementation::Disruptor => RGBColor(0xd6, 0x27, 0x28),
        Implementation::Crossbeam => RGBColor(0x2c, 0xa0, 0x2c),
        Implementation::StdMpsc => RGBColor(0x7f, 0x7f, 0x7f),
    }
}

/// Check, before anything runs, that a chart can be written to `path`: an `.svg` name in a
/// directory that exists, and not a directory itself.
pub fn check_path(path: &Path) -> Result<(), ArgError> {
    let is_svg = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    if !is_svg {
        return Err(ArgError::PlotNotSvg {
            path: path.to_owned(),
        });
    }
    if path.is_dir() {
        return Err(ArgError::PlotIsDir {
            path: path.to_owned(),
        });
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(ArgError::PlotDirMissing {
            path: path.to_owned(),
            dir: dir.to_owned(),
        });
    }
    Ok(())
}

/// The colour of each cross-process transport's bars.
fn transport_colour(transport: Transport) -> RGBColor {
    match transport {
        Transport::Shm => RGBColor(0x08, 0x30, 0x6b),
        Transport::Pipe => RGBColor(0xff, 0x7f, 0x0e),
        Transport::Socket => RGBColor(0x94, 0x67, 0xbd),
    }
}

/// Draw the throughput of `document` (in-process scenarios, then the cross-process rows) to
/// `path` (see [`check_path`]).
pub fn draw(document: &Document, path: &Path) -> Result<(), CliError> {
    check_path(path)?;
    let ipc_rows = document.ipc.as_ref().map_or(0, |i| i.rows.len());
    if document.report.throughput.is_empty() && ipc_rows == 0 {
        return Err(ArgError::PlotWithoutThroughput.into());
    }
    draw_svg(document, path).map_err(|e| CliError::Plot {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

fn draw_svg(document: &Document, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let report = &document.report;
    let impls: Vec<Implementation> = Implementation::ALL
        .into_iter()
        .filter(|i| report.throughput.iter().any(|s| s.result(*i).is_some()))
        .collect();
    // The legend entries: implementations, then transports.
    let mut series: Vec<(&'static str, RGBColor)> =
        impls.iter().map(|&i| (i.name(), colour(i))).collect();
    // One row per (scenario, implementation that ran it), a blank row between scenarios.
    let mut bars: Vec<(usize, usize, f64)> = Vec::new();
    let mut labels = Vec::new();
    let mut row = 0usize;
    for s in &report.throughput {
        let first = row;
        for (k, &i) in impls.iter().enumerate() {
            if let Some(r) = s.result(i) {
                bars.push((row, k, r.median_events_per_sec));
                row += 1;
            }
        }
        labels.push((
            (first + row) as f64 / 2.0,
            format!("{} ({} thr, {})", s.scenario, s.threads, s.wait.name()),
        ));
        row += 1;
    }
    if let Some(ipc) = &document.ipc {
        let base = series.len();
        series.extend(
            Transport::ALL
                .into_iter()
                .map(|t| (t.name(), transport_colour(t))),
        );
        let mut keys: Vec<(usize, Mode)> = Vec::new();
        for r in &ipc.rows {
            if !keys.contains(&(r.bytes, r.mode)) {
                keys.push((r.bytes, r.mode));
            }
        }
        for (bytes, mode) in keys {
            let first = row;
            for (k, t) in Transport::ALL.into_iter().enumerate() {
                if let Some(r) = ipc
                    .rows
                    .iter()
                    .find(|r| r.transport == t && r.bytes == bytes && r.mode == mode)
                {
                    bars.push((row, base + k, r.median_events_per_sec));
                    row += 1;
                }
            }
            labels.push((
                (first + row) as f64 / 2.0,
                format!(
                    "cross-process {} {} (2 processes)",
                    crate::ipc::size_name(bytes),
                    mode.name()
                ),
            ));
            row += 1;
        }
    }
    let rows = row.max(1);
    let values = bars
        .iter()
        .map(|b| b.2)
        .filter(|v| v.is_finite() && *v > 0.0);
    let lo = values.clone().fold(f64::INFINITY, f64::min);
    let hi = values.fold(0.0, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > 0.0 {
        (
            10f64.powf(lo.log10().floor()),
            10f64.powf(hi.log10().ceil()),
        )
    } else {
        (1.0, 10.0)
    };

    let label_width = 330u32;
    let height = (rows as u32) * 9 + 140;
    let root = SVGBackend::new(path, (1200, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "seqflow compare: events/s, median of {} round(s), {} events/run (log scale)",
                report.config.rounds, report.config.events
            ),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(label_width)
        .build_cartesian_2d((lo..hi).log_scale(), 0f64..rows as f64)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc("events per second")
        .x_label_formatter(&|v| human(*v))
        .draw()?;
    for (k, &(name, c)) in series.iter().enumerate() {
        chart
            .draw_series(bars.iter().filter(|b| b.1 == k).map(|&(r, _, v)| {
                // Row 0 at the top.
                let top = (rows - r) as f64;
                Rectangle::new([(lo, top - 0.9), (v.max(lo), top - 0.1)], c.filled())
            }))?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
    }
    // The value at the end of each bar.
    let value_style = TextStyle::from(("sans-serif", 10).into_font()).pos(
        plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Left,
            plotters::style::text_anchor::VPos::Center,
        ),
    );
    for &(r, _, v) in &bars {
        let (x, y) = chart.backend_coord(&(v.max(lo), (rows - r) as f64 - 0.5));
        root.draw(&Text::new(human_short(v), (x + 3, y), value_style.clone()))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    let style = TextStyle::from(("sans-serif", 12).into_font()).pos(
        plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Right,
            plotters::style::text_anchor::VPos::Center,
        ),
    );
    for (center, text) in &labels {
        let (x, y) = chart.backend_coord(&(lo, rows as f64 - center));
        root.draw(&Text::new(text.as_str(), (x - 6, y), style.clone()))?;
    }
    root.present()?;
    Ok(())
}

/// `12.3M`, `850k`, ... for bar values.
fn human_short(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// `1.5M`, `20k`, ... for axis labels.
fn human(v: f64) -> String {
    if v >= 1e9 {
        format!("{}G", v / 1e9)
    } else if v >= 1e6 {
        format!("{}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{}k", v / 1e3)
    } else {
        format!("{v}")
    }
}
