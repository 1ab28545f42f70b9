//! The standard scenarios: a stage graph ([`Shape`]), a payload and a publishing mode, and how a
//! `--scenario` selection maps to them.

use crate::payload::PayloadKind;
use crate::BenchError;
use serde::Serialize;

/// Who produces and who consumes, and how consumers depend on each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// One producer, one consumer.
    OneToOne,
    /// One producer; A, then B, then C.
    Pipeline,
    /// One producer; A, B and C each see every event, in parallel.
    Multicast,
    /// One producer; A and B in parallel, then C after both.
    Diamond,
    /// Two producers, one consumer.
    TwoToOne,
    /// Three producers, one consumer.
    ThreeToOne,
}

impl Shape {
    /// Every shape, in table order.
    pub const ALL: [Shape; 6] = [
        Shape::OneToOne,
        Shape::Pipeline,
        Shape::Multicast,
        Shape::Diamond,
        Shape::TwoToOne,
        Shape::ThreeToOne,
    ];

    /// The family name used in scenario names and `--scenario`.
    pub fn name(self) -> &'static str {
        match self {
            Shape::OneToOne => "1p1c",
            Shape::Pipeline => "1p3c-pipeline",
            Shape::Multicast => "1p3c-multicast",
            Shape::Diamond => "diamond",
            Shape::TwoToOne => "2p1c",
            Shape::ThreeToOne => "3p1c",
        }
    }

    /// Producer threads.
    pub fn producers(self) -> usize {
        match self {
            Shape::TwoToOne => 2,
            Shape::ThreeToOne => 3,
            _ => 1,
        }
    }

    /// Consumer stages (each on its own thread).
    pub fn consumers(self) -> usize {
        match self {
            Shape::OneToOne | Shape::TwoToOne | Shape::ThreeToOne => 1,
            Shape::Pipeline | Shape::Multicast | Shape::Diamond => 3,
        }
    }

    /// Threads a ring runs this shape with.
    pub fn threads(self) -> usize {
        self.producers() + self.consumers()
    }
}

/// How producers publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Publish {
    /// Claim and publish `--batch` events at once.
    Burst,
    /// One event per claim and publish.
    Single,
}

impl Publish {
    /// Both modes, in table order.
    pub const ALL: [Publish; 2] = [Publish::Burst, Publish::Single];

    /// The name used in scenario names.
    pub fn name(self) -> &'static str {
        match self {
            Publish::Burst => "burst",
            Publish::Single => "single",
        }
    }
}

/// One throughput scenario.
///
/// ```
/// use seqflow_bench::scenario::Scenario;
/// let all = Scenario::all();
/// assert_eq!(all.len(), 24);
/// assert_eq!(all[0].name(), "1p1c-u64-burst");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scenario {
    /// The stage graph.
    pub shape: Shape,
    /// The event type.
    pub payload: PayloadKind,
    /// Burst or one at a time.
    pub publish: Publish,
}

impl Scenario {
    /// Every standard scenario, in table order.
    pub fn all() -> Vec<Scenario> {
        let mut all = Vec::new();
        for shape in Shape::ALL {
            for payload in PayloadKind::ALL {
                for publish in Publish::ALL {
                    all.push(Scenario {
                        shape,
                        payload,
                        publish,
                    });
                }
            }
        }
        all
    }

    /// Whether `token` is this scenario's family followed by any of its payload and publish
    /// names, each at most once and in either order: `1p1c-burst` and `1p1c-burst-u64` name
    /// `1p1c-u64-burst`.
    fn narrowed_by(&self, token: &str) -> bool {
        let Some(rest) = token.strip_prefix(self.shape.name()) else {
            return false;
        };
        let Some(rest) = rest.strip_prefix('-') else {
            return rest.is_empty();
        };
        let (mut payload, mut publish) = (false, false);
        rest.split('-').all(|part| {
            if !payload && part == self.payload.name() {
                payload = true;
            } else if !publish && part == self.publish.name() {
                publish = true;
            } else {
                return false;
            }
            true
        })
    }

    /// `family-payload-publish`, e.g. `1p3c-pipeline-b128-single`.
    pub fn name(&self) -> String {
        format!(
            "{}-{}-{}",
            self.shape.name(),
            self.payload.name(),
            self.publish.name()
        )
    }

    /// The events one run actually publishes for a requested `events`: a multiple of
    /// `producers × batch` (each producer publishes the same number of whole batches), at least
    /// one batch per producer.
    ///
    /// ```
    /// use seqflow_bench::scenario::{Scenario, Shape, Publish};
    /// use seqflow_bench::payload::PayloadKind;
    /// let s = Scenario { shape: Shape::ThreeToOne, payload: PayloadKind::U64, publish: Publish::Burst };
    /// assert_eq!(s.total_events(1000, 100), 900);
    /// assert_eq!(s.total_events(1, 100), 300);
    /// ```
    pub fn total_events(&self, events: u64, batch: usize) -> u64 {
        let unit = (self.shape.producers() * self.batch(batch)) as u64;
        (events / unit).max(1) * unit
    }

    /// The claim size: `batch` when bursting, 1 otherwise.
    pub fn batch(&self, batch: usize) -> usize {
        match self.publish {
            Publish::Burst => batch,
            Publish::Single => 1,
        }
    }
}

/// What `--scenario` selected: throughput scenarios and whether to run the ping-pong latency
/// scenario.
///
/// ```
/// use seqflow_bench::scenario::select;
/// let s = select(&["1p1c-u64".to_string(), "latency".to_string()]).unwrap();
/// assert_eq!(s.scenarios.len(), 2);
/// assert!(s.latency);
/// assert!(select(&["nope".to_string()]).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Throughput scenarios, in table order.
    pub scenarios: Vec<Scenario>,
    /// Run the ping-pong latency scenario.
    pub latency: bool,
}

/// The name of the latency scenario in `--scenario`.
pub const LATENCY: &str = "latency";

/// Resolve `--scenario` tokens: `all`, `latency`, a full scenario name, a prefix ending at a
/// `-` boundary (`1p1c`, `2p1c-b128`, `diamond-u64-burst`, ...), or a family narrowed by
/// publish mode alone (`1p1c-burst`). No token means `all`.
///
/// ```
/// use seqflow_bench::scenario::select;
/// let names = |t: &str| -> Vec<String> {
///     select(&[t.to_string()]).unwrap().scenarios.iter().map(|s| s.name()).collect()
/// };
/// assert_eq!(names("1p1c-burst"), ["1p1c-u64-burst", "1p1c-b128-burst"]);
/// assert_eq!(names("3p1c-single-b128"), ["3p1c-b128-single"]);
/// assert!(select(&["1p1c-burst-burst".to_string()]).is_err());
/// ```
pub fn select(tokens: &[String]) -> Result<Selection, BenchError> {
    let all = Scenario::all();
    if tokens.is_empty() {
        return Ok(Selection {
            scenarios: all,
            latency: true,
        });
    }
    let mut picked = vec![false; all.len()];
    let mut latency = false;
    for token in tokens {
        let token = token.trim();
        if token == "all" {
            picked.iter_mut().for_each(|p| *p = true);
            latency = true;
            continue;
        }
        if token == LATENCY {
            latency = true;
            continue;
        }
        let mut matched = false;
        for (i, s) in all.iter().enumerate() {
            let name = s.name();
            if name == token || name.starts_with(&format!("{token}-")) || s.narrowed_by(token) {
                picked[i] = true;
                matched = true;
            }
        }
        if !matched {
            let families: Vec<&str> = Shape::ALL.iter().map(|s| s.name()).collect();
            return Err(BenchError::UnknownScenario {
                token: token.to_owned(),
                families: families.join(", "),
            });
        }
    }
    Ok(Selection {
        scenarios: all
            .into_iter()
            .zip(picked)
            .filter_map(|(s, p)| p.then_some(s))
            .collect(),
        latency,
    })
}
