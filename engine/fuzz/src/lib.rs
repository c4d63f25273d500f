//! What the fuzz targets share: the detectors they run and the fast-path property.
//!
//! Each target in `fuzz_targets/` checks properties the engine documents and fails by
//! panicking; libFuzzer then saves the input under `artifacts/`. Findings become regression tests
//! in `engine/tests/fuzz_regressions.rs`.

pub mod detectors;
pub mod fast_path;

/// `bytes` as text: invalid UTF-8 becomes U+FFFD, so that no input is wasted on the text targets.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
