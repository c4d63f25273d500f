//! The cheap scan: deciding from raw bytes, without parsing, which rules a record could match.
//!
//! - [`prefilter`]: the index built from every rule's pins, and the two scanners over it;
//! - `pairs`: the one-pass SIMD scanner for quotes before keys and backslashes;
//! - `words`: the portable one-pass word scanner (no SIMD);
//! - `rank`: how often each byte occurs in CloudTrail, so that `memchr` keys on rare bytes;
//! - [`skip`]: the sublinear scan for records Fluent Bit encoded (its interpreter's filter);
//! - [`bytes`]: spans of members in JSON text already known to be valid (for the writers).

pub mod bytes;
mod pairs;
pub mod prefilter;
mod rank;
pub mod skip;
#[cfg(any(test, all(target_family = "wasm", not(target_feature = "simd128"))))]
mod words;
