//! seqflow's ratios split by the machine's regime: the rounds of a row whose cache line round
//! trip (measured before the row's runs, [`line_probe`](crate::line_probe)) lay in the run's
//! fastest regime, and the others.
//!
//! A run that mixes regimes has rows whose medians mix them too; a ratio pairs runs made back
//! to back, but which implementation wins can change with the regime (in the slow one a bounded
//! std channel, which fills and drains in bulk, beats a one-at-a-time Disruptor). Reading the
//! ratios of each regime apart says which.

use crate::compare::{median, Report};
use crate::line_probe::fast_regime_limit;
use crate::peers::Implementation;
use serde::Serialize;

/// seqflow's rate divided by one implementation's, as the median of the rounds of each regime.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RegimeRatios {
    /// Over the rounds whose line round trip lay in the fastest regime of the whole run
    /// ([`fast_regime_limit`] over every probe of the run); `None` if there were none.
    pub fast: Option<f64>,
    /// How many rounds that is.
    pub fast_rounds: usize,
    /// Over the other rounds; `None` if there were none.
    pub slow: Option<f64>,
    /// How many rounds that is.
    pub slow_rounds: usize,
}

/// Fill in every row's [`seqflow_ratio_by_regime`](crate::compare::ImplReport::seqflow_ratio_by_regime)
/// from its rounds: round `i` of a row pairs seqflow's `i`-th rate with the implementation's,
/// in the regime of the row's `i`-th probe. Rows without seqflow or without probes get `None`.
///
/// ```
/// use seqflow_bench::compare::{compare, CompareOptions};
/// use seqflow_bench::peers::Implementation;
/// let opts = CompareOptions {
///     selection: seqflow_bench::scenario::select(&["1p1c-u64-single".to_string()]).unwrap(),
///     implementations: vec![Implementation::Seqflow, Implementation::Crossbeam],
///     events: 500,
///     rounds: 2,
///     min_run: std::time::Duration::ZERO,
///     wait: Some(seqflow_bench::wait::Wait::Yielding),
///     ..CompareOptions::default()
/// };
/// let report = compare(&opts, &mut |_| {})?;
/// let split = report.throughput[0].result(Implementation::Crossbeam).unwrap()
///     .seqflow_ratio_by_regime.unwrap();
/// assert_eq!(split.fast_rounds + split.slow_rounds, 2);
/// assert!(split.fast_rounds >= 1, "the fastest probe is in the fast regime");
/// # Ok::<(), seqflow_bench::BenchError>(())
/// ```
pub fn split_by_regime(report: &mut Report) {
    let fast_limit = fast_regime_limit(report.line_round_trips());
    for scenario in &mut report.throughput {
        let probes = scenario.rounds_line_round_trip_ns.clone();
        let seqflow = scenario
            .result(Implementation::Seqflow)
            .map(|r| r.rounds_events_per_sec.clone());
        for row in &mut scenario.results {
            row.seqflow_ratio_by_regime = match (&seqflow, fast_limit) {
                (Some(sf), Some(limit)) if !probes.is_empty() => {
                    Some(split(sf, &row.rounds_events_per_sec, &probes, limit))
                }
                _ => None,
            };
        }
    }
}

/// The ratios `seqflow[i] / other[i]` of the rounds with a probe at or below `fast_limit`,
/// and of the others.
fn split(seqflow: &[f64], other: &[f64], probes: &[f64], fast_limit: f64) -> RegimeRatios {
    let (mut fast, mut slow) = (Vec::new(), Vec::new());
    for ((s, o), ns) in seqflow.iter().zip(other).zip(probes) {
        if *s > 0.0 && *o > 0.0 {
            if *ns <= fast_limit {
                fast.push(s / o);
            } else {
                slow.push(s / o);
            }
        }
    }
    let of = |v: &[f64]| (!v.is_empty()).then(|| median(v));
    RegimeRatios {
        fast: of(&fast),
        fast_rounds: fast.len(),
        slow: of(&slow),
        slow_rounds: slow.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn rounds_go_to_the_regime_of_their_probe() {
        let sf = [150.0, 35.0, 160.0, 30.0];
        let peer = [160.0, 70.0, 160.0, 60.0];
        let probes = [120.0, 330.0, 125.0, 310.0];
        let r = split(&sf, &peer, &probes, 120.0 * 1.8);
        assert_eq!((r.fast_rounds, r.slow_rounds), (2, 2));
        assert_eq!(r.slow, Some(0.5));
        assert!((r.fast.unwrap() - (150.0 / 160.0 + 1.0) / 2.0).abs() < 1e-12);
        let none = split(&sf, &peer, &probes, 100.0);
        assert_eq!(
            (none.fast, none.fast_rounds, none.slow_rounds),
            (None, 0, 4)
        );
    }
}
