//! [`list`]: the seqflow segments in `/dev/shm` (what `seqflow ls` prints), optionally only
//! those of one namespace ([`SegmentName::namespaced`]).

use crate::header::MAGIC;
use crate::stale::read_header_words;
use crate::{inspect, Inspection, SegmentName, ShmError};
use rustix::fd::AsFd;

/// Where POSIX shared-memory objects live on Linux.
const SHM_DIR: &str = "/dev/shm";

/// One seqflow segment found by [`list`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Listing {
    /// The segment name, with its leading slash.
    pub name: String,
    /// Its snapshot, or why it could not be read (another layout version, still being created,
    /// removed meanwhile, ...).
    pub inspection: Result<Inspection, ShmError>,
}

/// Every seqflow segment in `/dev/shm`, sorted by name; with `namespace`, only the names made
/// by [`SegmentName::namespaced`] with it. Files that are not seqflow segments are skipped
/// and left as they are, and so are files this process may not read (another user's rings
/// with mode 0600): whether they are seqflow's cannot be told without reading them.
///
/// ```
/// use seqflow_shm::{list, SegmentName, ShmOptions, ShmRing};
/// let ns = format!("doc-list-{}", std::process::id());
/// let name = SegmentName::namespaced(&ns, "orders").unwrap();
/// let ring = ShmRing::<u64>::create(name.as_str(), 8, ShmOptions::default()).unwrap();
/// let _guard = ring.unlink_on_drop();
/// let found = list(Some(&ns)).unwrap();
/// assert_eq!(found.len(), 1);
/// assert_eq!(found[0].name, name.as_str());
/// assert_eq!(found[0].inspection.as_ref().unwrap().header.capacity, 8);
/// ```
pub fn list(namespace: Option<&str>) -> Result<Vec<Listing>, ShmError> {
    let entries =
        std::fs::read_dir(SHM_DIR).map_err(|e| ShmError::std_io(SHM_DIR, "read_dir", e))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ShmError::std_io(SHM_DIR, "read_dir", e))?;
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let Some(file) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Ok(name) = SegmentName::new(&file) else {
            continue;
        };
        if namespace.is_some() && name.namespace() != namespace {
            continue;
        }
        // Read-only, no lock taken, no waiting: only files that carry seqflow's magic number
        // (one still being created may not yet: it shows up once it does).
        let Ok(fd) = crate::segment_file::open(name.as_str(), crate::segment_file::Access::Read)
        else {
            continue; // gone meanwhile, not ours to open, or not a regular file
        };
        if read_header_words(fd.as_fd()).2 != MAGIC {
            continue;
        }
        found.push(Listing {
            name: name.to_string(),
            inspection: inspect(name.as_str()),
        });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}
