//! The cheap scan: deciding from raw bytes, without parsing, which rules a record could match.
//!
//! - [`prefilter`]: the index built from every rule's pins, and the two scanners over it;
//! - [`words`]: the portable one-pass word scanner (no SIMD);
//! - [`bytes`]: spans of members in JSON text already known to be valid (for the writers).

pub mod bytes;
pub mod prefilter;
mod words;
