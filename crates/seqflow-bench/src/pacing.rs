//! [`StagePacing`]: whether seqflow's stages pace themselves in a run (the pipeline's
//! [`Pacing`]), so that a comparison can show what pacing changes.

use seqflow_pipeline::Pacing;
use serde::Serialize;

/// The [`Pacing`] of every seqflow stage in a run; the other implementations have no such
/// setting.
///
/// ```
/// use seqflow_bench::pacing::StagePacing;
/// use seqflow_pipeline::Pacing;
/// assert_eq!(StagePacing::default().pacing(), None, "the ring's own default");
/// assert_eq!(StagePacing::Off.pacing(), Some(Pacing::OFF));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum StagePacing {
    /// The pipeline's default pacing, what a stage does unless told otherwise (the ring's:
    /// `Pacing::DEFAULT` with one producer, `Pacing::LONG` with several or across processes).
    #[default]
    Default,
    /// No pause after a batch (the pipeline's `Pacing::OFF`).
    Off,
}

impl StagePacing {
    /// The stages' setting: `None` leaves each stage its ring's default.
    pub fn pacing(self) -> Option<Pacing> {
        match self {
            StagePacing::Default => None,
            StagePacing::Off => Some(Pacing::OFF),
        }
    }
}
