//! The config digest: which version of a config file a trace was recorded
//! with (docs/TRACE.md, "The meta line").
//!
//! A 64-bit FNV-1a hash of the file's bytes, written `fnv1a64:` and 16
//! lowercase hex digits. It detects a config that changed since a trace was
//! recorded (an edit, a reload, another file by the same name); it is not a
//! cryptographic hash and does not defend against a file made on purpose to
//! collide. The name is part of the text, so a later version can move to
//! another hash and still read this one.

use std::fmt;
use std::str::FromStr;

/// The digest of a config file's bytes (see the module documentation).
///
/// ```
/// use vigil_config::ConfigDigest;
/// let d = ConfigDigest::of(b"[[child]]\n");
/// assert_eq!(d.to_string().len(), "fnv1a64:".len() + 16);
/// assert_eq!(d.to_string().parse::<ConfigDigest>(), Ok(d));
/// assert_ne!(d, ConfigDigest::of(b"[[child]] \n"));
/// // The FNV-1a test vector for the empty input.
/// assert_eq!(ConfigDigest::of(b"").to_string(), "fnv1a64:cbf29ce484222325");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConfigDigest(u64);

/// FNV-1a's 64-bit offset basis and prime.
const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// The prefix naming the hash.
const PREFIX: &str = "fnv1a64:";

impl ConfigDigest {
    /// The digest of `bytes`.
    #[must_use]
    pub fn of(bytes: &[u8]) -> Self {
        let mut h = OFFSET;
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(PRIME);
        }
        ConfigDigest(h)
    }

    /// The hash value.
    #[must_use]
    pub fn value(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ConfigDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{:016x}", self.0)
    }
}

/// A digest that is not `fnv1a64:` and 16 hex digits.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a config digest (`fnv1a64:` and 16 hex digits)")]
pub struct ParseDigestError(pub String);

impl FromStr for ConfigDigest {
    type Err = ParseDigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s
            .strip_prefix(PREFIX)
            .filter(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| ParseDigestError(s.to_owned()))?;
        u64::from_str_radix(hex, 16)
            .map(ConfigDigest)
            .map_err(|_| ParseDigestError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors_of_fnv1a_64() {
        // From the FNV reference test suite.
        assert_eq!(ConfigDigest::of(b"a").value(), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(ConfigDigest::of(b"foobar").value(), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn malformed_digests_are_refused() {
        for bad in [
            "",
            "fnv1a64:",
            "fnv1a64:123",
            "sha256:cbf29ce484222325",
            "fnv1a64:cbf29ce48422232g",
            "fnv1a64:+bf29ce48422232",
        ] {
            assert!(bad.parse::<ConfigDigest>().is_err(), "{bad}");
        }
    }
}
