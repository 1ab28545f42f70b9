//! [`SegmentName`]: a validated POSIX shared-memory object name.

use crate::ShmError;
use std::fmt;

/// The longest name Linux accepts (`NAME_MAX`), leading slash included.
const NAME_MAX: usize = 255;

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
        if &full[1..] == "." || &full[1..] == ".." {
            return Err(invalid("'.' and '..' are not object names"));
        }
        Ok(Self(full))
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
