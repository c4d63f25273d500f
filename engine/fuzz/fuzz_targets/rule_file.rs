//! Whole rule files: any text loads or fails with errors, never panics. A file that loads has its
//! examples checked, and the fast path must be exact on each example under the file's own rule
//! (its pins come from the fuzzed query).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailtag_engine::{Detector, RuleSource};
use trailtag_engine_fuzz::fast_path::assert_fast_path_is_exact;
use trailtag_engine_fuzz::text;

fuzz_target!(|data: &[u8]| {
    let source = RuleSource::new("fuzz.toml", text(data));
    match Detector::builder().builtin(false).source(source).build() {
        Ok(detector) => {
            let _ = detector.check_examples();
            for rule in detector.rules() {
                for example in rule.examples() {
                    assert_fast_path_is_exact(&detector, example.record.as_bytes());
                }
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
