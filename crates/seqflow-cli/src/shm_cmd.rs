//! `seqflow ls`, `seqflow inspect NAME`, `seqflow rm NAME`, `seqflow halt NAME` and
//! `seqflow release NAME CONSUMER`: list, look at, remove, halt and release declared consumers
//! of shared-memory rings.

use crate::{ArgError, CliError};
use seqflow_shm::SegmentName;
use std::io::Write;

/// The namespace flag shared by the commands that take segment names.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NamespaceArg {
    /// The run namespace the names are in (`SegmentName::namespaced`: `/NS:name`).
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
}

impl NamespaceArg {
    /// The full segment name of `name` (inside the namespace, if one was given).
    fn full(&self, name: &str) -> Result<String, CliError> {
        Ok(match &self.namespace {
            Some(ns) => SegmentName::namespaced(ns, name)?.to_string(),
            // Written as `ls` and `inspect` print it (`/name`); a name that is not valid is
            // passed on as given, for the command's own error.
            None => SegmentName::new(name).map_or_else(|_| name.to_owned(), |n| n.to_string()),
        })
    }
}

/// Flags of `seqflow ls`.
#[derive(Debug, Clone, clap::Args)]
pub struct LsArgs {
    /// Only the rings of this run namespace.
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
}

/// Flags of `seqflow inspect`.
#[derive(Debug, Clone, clap::Args)]
pub struct InspectArgs {
    /// The segment name (`/name`, as given to `ShmRing::create`).
    pub name: String,
    #[command(flatten)]
    pub ns: NamespaceArg,
}

/// Flags of `seqflow rm`.
#[derive(Debug, Clone, clap::Args)]
pub struct RmArgs {
    /// The segment names (with --namespace and no names: every ring of the namespace). Each
    /// is removed or reported: one that cannot be removed (missing, in use, not seqflow's)
    /// does not stop the others, and the command then fails naming it.
    #[arg(required_unless_present = "namespace")]
    pub names: Vec<String>,
    /// Remove even if processes are still attached (they keep their mapping); an empty file
    /// (what a creator that died before sizing its segment leaves) is removed too. A file
    /// with contents that is not a seqflow segment is never removed, with or without it.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub ns: NamespaceArg,
}

/// Flags of `seqflow release`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReleaseArgs {
    /// The segment name (`/name`).
    pub name: String,
    /// The declared consumer (or declared pool) to stop holding the producer back.
    pub consumer: String,
    #[command(flatten)]
    pub ns: NamespaceArg,
}

/// Flags of `seqflow halt`.
#[derive(Debug, Clone, clap::Args)]
pub struct HaltArgs {
    /// The segment name (`/name`).
    pub name: String,
    #[command(flatten)]
    pub ns: NamespaceArg,
}

/// Halt a ring in every process attached to it.
pub fn halt(args: &HaltArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let name = args.ns.full(&args.name)?;
    let pid = seqflow_shm::halt_all(&name)?;
    if pid == std::process::id() {
        writeln!(out, "halted {name} (by pid {pid})")?;
    } else {
        // The first halt is the one recorded: say so rather than claim this one.
        writeln!(out, "{name} was already halted (by pid {pid})")?;
    }
    Ok(())
}

/// Release a declared consumer or pool that nobody will attach as again: its unread events may
/// then be overwritten.
pub fn release(args: &ReleaseArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let name = args.ns.full(&args.name)?;
    seqflow_shm::release_declared(&name, &args.consumer)?;
    writeln!(out, "released {} of {name}", args.consumer)?;
    Ok(())
}

/// One line per seqflow ring in /dev/shm (of the namespace, if given).
pub fn ls(args: &LsArgs, out: &mut dyn Write) -> Result<(), CliError> {
    if let Some(ns) = &args.namespace {
        check_namespace(ns)?;
    }
    writeln!(
        out,
        "{:<40} {:>9} {:>7} {:>9} {:>10} {:>9}  state",
        "name", "capacity", "event", "published", "backlog", "consumers"
    )?;
    for found in seqflow_shm::list(args.namespace.as_deref())? {
        match &found.inspection {
            Ok(i) => {
                let alive = i.consumers.iter().filter(|c| c.alive).count();
                let state = match (i.attached, i.halted_by, i.readers_end) {
                    // Nobody attached, events not read yet: kept for its consumers (`rm`
                    // leaves it without `--force`).
                    (false, _, _) if i.backlog() > 0 => "idle, unread kept".to_owned(),
                    (false, _, _) => "stale".to_owned(),
                    (true, Some(pid), _) => format!("halted by pid {pid}"),
                    (true, None, Some(end)) => format!("closed after {end}"),
                    (true, None, None) => "live".to_owned(),
                };
                writeln!(
                    out,
                    "{:<40} {:>9} {:>6}B {:>9} {:>10} {:>9}  {state}",
                    found.name,
                    i.header.capacity,
                    i.header.event_size,
                    // The last published sequence; nothing published yet reads "-".
                    if i.published < 0 {
                        "-".to_owned()
                    } else {
                        i.published.to_string()
                    },
                    format!("{} ({:.0}%)", i.backlog(), i.utilisation() * 100.0),
                    format!("{alive}/{}", i.consumers.len()),
                )?;
            }
            Err(e) => writeln!(out, "{:<40} unreadable: {e}", found.name)?,
        }
    }
    Ok(())
}

/// Refuse a namespace no ring can have, rather than act on nothing.
fn check_namespace(ns: &str) -> Result<(), CliError> {
    match SegmentName::namespaced(ns, "x") {
        Err(seqflow_shm::ShmError::InvalidName { reason, .. }) => Err(ArgError::OutOfRange {
            flag: "--namespace",
            value: ns.to_owned(),
            reason: reason.to_string(),
        }
        .into()),
        _ => Ok(()),
    }
}

/// Print the header, cursor, each consumer's sequence, lag and liveness.
pub fn inspect(args: &InspectArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let info = seqflow_shm::inspect(&args.ns.full(&args.name)?)?;
    write!(out, "{info}")?;
    Ok(())
}

/// Remove each segment: only stale ones (no process attached, no event its consumers have not
/// read) unless `--force`. With a namespace and no names, every ring of the namespace.
pub fn rm(args: &RmArgs, out: &mut dyn Write) -> Result<(), CliError> {
    // Rings found by listing a namespace may be removed by someone else before we get to them:
    // for those, a missing ring is already gone. A ring named on the command line must exist.
    let listed = args.ns.namespace.is_some() && args.names.is_empty();
    let names: Vec<String> = match (&args.ns.namespace, args.names.is_empty()) {
        (Some(ns), true) => {
            check_namespace(ns)?;
            let names: Vec<String> = seqflow_shm::list(Some(ns))?
                .into_iter()
                .map(|l| l.name)
                .collect();
            if names.is_empty() {
                writeln!(out, "no rings in namespace {ns}")?;
            }
            names
        }
        _ => args
            .names
            .iter()
            .map(|n| args.ns.full(n))
            .collect::<Result<_, _>>()?,
    };
    // A ring in use, or one that cannot be removed (missing, not a seqflow segment), is left
    // in place and the others are still removed; the ones left are reported together at the
    // end.
    let mut in_use = Vec::new();
    let mut unread = Vec::new();
    let mut errors = Vec::new();
    for name in &names {
        let removed = if args.force {
            seqflow_shm::remove(name).map(|()| true)
        } else {
            // Nobody attached is not enough: events a consumer has not read yet (a named
            // queue between its users) are kept. A ring that cannot be inspected goes on to
            // `remove_if_stale`, which reports why.
            match seqflow_shm::inspect(name) {
                Ok(i) if !i.attached && i.backlog() > 0 => {
                    unread.push((name.clone(), i.backlog()));
                    continue;
                }
                _ => seqflow_shm::remove_if_stale(name),
            }
        };
        match removed {
            Ok(true) if args.force => writeln!(out, "removed {name}")?,
            Ok(true) => writeln!(out, "removed {name} (stale)")?,
            Ok(false) => in_use.push(name.clone()),
            Err(seqflow_shm::ShmError::NotFound { .. }) if listed => {
                writeln!(out, "{name} is already gone")?
            }
            Err(e) => errors.push(e),
        }
    }
    match (errors.len(), in_use.len(), unread.len()) {
        (0, 0, 0) => Ok(()),
        (0, _, 0) => Err(CliError::InUse { names: in_use }),
        (0, 0, 1) => {
            let (name, unread) = unread.remove(0);
            Err(CliError::HoldsUnread { name, unread })
        }
        (1, 0, 0) => Err(errors.remove(0).into()),
        _ => Err(CliError::NotRemoved {
            errors,
            in_use,
            unread,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seqflow_shm::ShmError;

    #[test]
    fn a_missing_segment_is_a_typed_not_found() {
        let name = format!("/seqflow-cli-unit-missing-{}", std::process::id());
        let args = InspectArgs {
            name: name.clone(),
            ns: NamespaceArg::default(),
        };
        let err = inspect(&args, &mut Vec::new()).unwrap_err();
        assert!(
            matches!(err, CliError::Shm(ShmError::NotFound { .. })),
            "{err:?}"
        );
        let args = RmArgs {
            names: vec![name],
            force: false,
            ns: NamespaceArg::default(),
        };
        let err = rm(&args, &mut Vec::new()).unwrap_err();
        assert!(
            matches!(err, CliError::Shm(ShmError::NotFound { .. })),
            "{err:?}"
        );
    }
}
