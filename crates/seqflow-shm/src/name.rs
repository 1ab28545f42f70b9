//! [`SegmentName`]: a validated POSIX shared-memory object name.

use crate::ShmError;
use std::fmt;

/// The longest name Linux accepts (`NAME_MAX`), leading slash included.
const NAME_MAX: usize = 255;

/// The longest namespace [`SegmentName::namespaced`] accepts.
const MAX_NAMESPACE: usize = 64;

/// A POSIX shared-memory name: one leading `/`, then 1 to 254 bytes with no `/` and no NUL.
/// A name given without the leading slash gets one.
///
/// ```
/// use seqflow_shm::SegmentName;
/// assert_eq!(SegmentName::new("orders").unwrap().as_str(), "/orders");
/// assert_eq!(SegmentName::new("/orders").unwrap().as_str(), "/orders");
/// assert!(SegmentName::new("a/b").is_err());
/// assert!(SegmentName::new("/").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SegmentName(String);

impl SegmentName {
    /// Validate `name`, adding the leading slash if missing.
    ///
    /// ```
    /// assert!(seqflow_shm::SegmentName::new("x\0y").is_err());
    /// assert!(seqflow_shm::SegmentName::new("x\ny").is_err());
    /// assert!(seqflow_shm::SegmentName::new("x\u{202e}y").is_err());
    /// assert!(seqflow_shm::SegmentName::new("orders-ü").is_ok());
    /// ```
    pub fn new(name: &str) -> Result<Self, ShmError> {
        let full = if name.starts_with('/') {
            name.to_owned()
        } else {
            format!("/{name}")
        };
        let invalid = |reason| ShmError::InvalidName {
            name: name.to_owned(),
            reason,
        };
        if full.len() < 2 {
            return Err(invalid("empty"));
        }
        if full.len() > NAME_MAX {
            return Err(invalid("longer than 255 bytes"));
        }
        if full[1..].contains('/') {
            return Err(invalid("contains '/' after the leading one"));
        }
        if full.contains('\0') {
            return Err(invalid("contains a NUL byte"));
        }
        // Names are printed by `seqflow ls` and `inspect`: no terminal control sequences, no
        // text direction overrides.
        if full.chars().any(seqflow_pipeline::unfit_for_names) {
            return Err(invalid("contains control, format or invisible characters"));
        }
        if &full[1..] == "." || &full[1..] == ".." {
            return Err(invalid("'.' and '..' are not object names"));
        }
        Ok(Self(full))
    }

    /// `name` inside `namespace` (a run identifier): `/<namespace>:<name>`. Rings of different
    /// runs with the same `name` then never collide, and `seqflow ls --namespace` lists one
    /// run's rings. The namespace is 1 to 64 bytes of ASCII letters, digits, `_`, `-` and `.`;
    /// the name (leading slash optional) is validated as by [`new`](Self::new).
    ///
    /// ```
    /// use seqflow_shm::SegmentName;
    /// let n = SegmentName::namespaced("run-42", "orders").unwrap();
    /// assert_eq!(n.as_str(), "/run-42:orders");
    /// assert_eq!(n.namespace(), Some("run-42"));
    /// assert_eq!(n.base_name(), "orders");
    /// assert!(SegmentName::namespaced("a:b", "orders").is_err());
    /// assert!(SegmentName::namespaced("", "orders").is_err());
    /// ```
    pub fn namespaced(namespace: &str, name: &str) -> Result<Self, ShmError> {
        let ok = !namespace.is_empty()
            && namespace.len() <= MAX_NAMESPACE
            && namespace
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            && namespace != "."
            && namespace != "..";
        if !ok {
            return Err(ShmError::InvalidName {
                name: format!("{namespace}:{name}"),
                reason: "a namespace is 1 to 64 bytes of ASCII letters, digits, '_', '-' and '.'",
            });
        }
        let base = name.strip_prefix('/').unwrap_or(name);
        Self::new(&format!("/{namespace}:{base}"))
    }

    /// The namespace, for a name made by [`namespaced`](Self::namespaced) (the part before the
    /// first `:`), else `None`.
    pub fn namespace(&self) -> Option<&str> {
        self.0[1..].split_once(':').map(|(ns, _)| ns)
    }

    /// The name without its namespace and leading slash.
    pub fn base_name(&self) -> &str {
        let rest = &self.0[1..];
        rest.split_once(':').map_or(rest, |(_, base)| base)
    }

    /// The name with its leading slash.
    ///
    /// ```
    /// assert_eq!(seqflow_shm::SegmentName::new("a").unwrap().as_str(), "/a");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SegmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for SegmentName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_names() {
        for bad in ["", "/", "/a/b", "a/b", "/.", "..", "x\0"] {
            assert!(SegmentName::new(bad).is_err(), "{bad:?}");
        }
        assert!(SegmentName::new(&"x".repeat(254)).is_ok());
        assert!(SegmentName::new(&"x".repeat(255)).is_err());
    }
}
