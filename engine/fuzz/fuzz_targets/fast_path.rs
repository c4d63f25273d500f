//! The fast path (cheap scan, parse only candidates) against the exhaustive reference, on any
//! bytes, for the built-in rules and for rules with other pin shapes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailtag_engine_fuzz::detectors;
use trailtag_engine_fuzz::fast_path::assert_fast_path_is_exact;

fuzz_target!(|record: &[u8]| {
    assert_fast_path_is_exact(detectors::builtin(), record);
    assert_fast_path_is_exact(detectors::extended(), record);
});
