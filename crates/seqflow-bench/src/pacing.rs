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
/// assert_eq!(StagePacing::default().pacing(), Pacing::DEFAULT);
/// assert_eq!(StagePacing::Off.pacing(), Pacing::OFF);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum StagePacing {
    /// The pipeline's default pacing, what a stage does unless told otherwise.
    #[default]
    Default,
    /// No pause after a batch (the pipeline's `Pacing::OFF`).
    Off,
}

impl StagePacing {
    /// The stages' setting.
    pub fn pacing(self) -> Pacing {
        match self {
            StagePacing::Default => Pacing::DEFAULT,
            StagePacing::Off => Pacing::OFF,
        }
    }
}
