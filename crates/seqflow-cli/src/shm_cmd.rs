//! `seqflow inspect NAME`, `seqflow rm NAME` and `seqflow release NAME CONSUMER`: look at,
//! remove and release declared consumers of shared-memory rings.

use crate::CliError;
use std::io::Write;

/// Flags of `seqflow inspect`.
#[derive(Debug, Clone, clap::Args)]
pub struct InspectArgs {
    /// The segment name (`/name`, as given to `ShmRing::create`).
    pub name: String,
}

/// Flags of `seqflow rm`.
#[derive(Debug, Clone, clap::Args)]
pub struct RmArgs {
    /// The segment names.
    #[arg(required = true)]
    pub names: Vec<String>,
    /// Remove even if processes are still attached (they keep their mapping).
    #[arg(long)]
    pub force: bool,
}

/// Flags of `seqflow release`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReleaseArgs {
    /// The segment name (`/name`).
    pub name: String,
    /// The declared consumer (or declared pool) to stop holding the producer back.
    pub consumer: String,
}

/// Release a declared consumer or pool that nobody will attach as again: its unread events may
/// then be overwritten.
pub fn release(args: &ReleaseArgs, out: &mut dyn Write) -> Result<(), CliError> {
    seqflow_shm::release_declared(&args.name, &args.consumer)?;
    writeln!(out, "released {} of {}", args.consumer, args.name)?;
    Ok(())
}

/// Print the header, cursor, each consumer's sequence, lag and liveness.
pub fn inspect(args: &InspectArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let info = seqflow_shm::inspect(&args.name)?;
    write!(out, "{info}")?;
    Ok(())
}

/// Remove each segment: only stale ones (no process attached) unless `--force`.
pub fn rm(args: &RmArgs, out: &mut dyn Write) -> Result<(), CliError> {
    for name in &args.names {
        if args.force {
            seqflow_shm::remove(name)?;
            writeln!(out, "removed {name}")?;
        } else if seqflow_shm::remove_if_stale(name)? {
            writeln!(out, "removed {name} (stale)")?;
        } else {
            return Err(CliError::InUse { name: name.clone() });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use seqflow_shm::ShmError;

    #[test]
    fn a_missing_segment_is_a_typed_not_found() {
        let name = format!("/seqflow-cli-unit-missing-{}", std::process::id());
        let args = InspectArgs { name: name.clone() };
        let err = inspect(&args, &mut Vec::new()).unwrap_err();
        assert!(
            matches!(err, CliError::Shm(ShmError::NotFound { .. })),
            "{err:?}"
        );
        let args = RmArgs {
            names: vec![name],
            force: false,
        };
        let err = rm(&args, &mut Vec::new()).unwrap_err();
        assert!(
            matches!(err, CliError::Shm(ShmError::NotFound { .. })),
            "{err:?}"
        );
    }
}
