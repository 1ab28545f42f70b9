//! `seqflow inspect NAME` and `seqflow rm NAME`: look at and remove shared-memory rings.

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

/// Print the header, cursor, each consumer's sequence, lag and liveness.
pub fn inspect(args: &InspectArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let info = seqflow_shm::inspect(&args.name).map_err(|e| CliError::Shm(e.to_string()))?;
    write!(out, "{info}")?;
    Ok(())
}

/// Remove each segment: only stale ones (no process attached) unless `--force`.
pub fn rm(args: &RmArgs, out: &mut dyn Write) -> Result<(), CliError> {
    for name in &args.names {
        if args.force {
            seqflow_shm::remove(name).map_err(|e| CliError::Shm(e.to_string()))?;
            writeln!(out, "removed {name}")?;
        } else if seqflow_shm::remove_if_stale(name).map_err(|e| CliError::Shm(e.to_string()))? {
            writeln!(out, "removed {name} (stale)")?;
        } else {
            return Err(CliError::Shm(format!(
                "{name} is in use by a live process; not removed (use --force to remove the name anyway)"
            )));
        }
    }
    Ok(())
}
