//! Fluent Bit's `wasm` filter ABI (`../shared/spec/fluent-bit-abi.md`, measured on v5.1.1).
//!
//! Fluent Bit calls the export named by `function_name` once per record with the record as a
//! NUL-terminated JSON object and takes back a pointer to a NUL-terminated JSON object, which
//! it copies at once. The shell only marshals: the state decides the record with the configured
//! options (`validate`, `keep_foreign_tags`; `only_matches` is the export's choice) and leaves
//! the results for the raw ABI's getters; the wrapper is the engine's writer. What Fluent Bit
//! does with anything else decides this shell's rules:
//! - it answers with exactly one JSON object, always from one reused buffer (never a fresh
//!   allocation per call, never a pointer into the input, which Fluent Bit frees);
//! - a record that matches nothing comes back as it came in; one that matches comes back tagged;
//! - a record the engine cannot read is not returned as it is (invalid text can crash Fluent
//!   Bit) but wrapped: `{"trailtag":{"version":1,"error":...,"original":"<the record>"}}`;
//! - the empty string, which drops the record, is returned only by
//!   `trailtag_filter_only_matches`, for records that match nothing;
//! - it never panics: a trap drops the record and slowly corrupts the instance;
//! - it exports `malloc`/`free`, so that Fluent Bit copies records of any size into guest
//!   memory instead of passing a null pointer for those above its 8 KiB default heap.
#![allow(unsafe_code, reason = "ABI exports take raw pointers from the host")]

use trailtag_engine::output::fluent_bit::write_wrapped;

use crate::memory::{c_free, c_malloc, host_region};
use crate::state::{FilterAnswer, State, with_state};

/// What the filter returns for a dropped record: the empty string.
static EMPTY: [u8; 1] = [0];

/// `malloc(size) -> ptr`, for WAMR's copies of the tag and record.
#[cfg_attr(target_family = "wasm", unsafe(export_name = "malloc"))]
pub extern "C" fn guest_malloc(size: usize) -> *mut u8 {
    c_malloc(size)
}

/// `free(ptr)`, for WAMR's copies of the tag and record.
///
/// # Safety
/// `ptr` must be null or come from `malloc`.
#[cfg_attr(target_family = "wasm", unsafe(export_name = "free"))]
pub unsafe extern "C" fn guest_free(ptr: *mut u8) {
    // SAFETY: forwarded contract.
    unsafe { c_free(ptr) }
}

/// The filter: keeps every record, tags the ones that match.
///
/// # Safety
/// `record..record+record_len` must be readable guest memory for the duration of the call.
#[cfg_attr(target_family = "wasm", unsafe(export_name = "trailtag_filter"))]
pub unsafe extern "C" fn trailtag_filter(
    _tag: *const u8,
    _tag_len: u32,
    _time_sec: u32,
    _time_nsec: u32,
    record: *const u8,
    record_len: u32,
) -> *const u8 {
    // SAFETY: Fluent Bit copied the record there before the call and frees it after.
    let record = unsafe { host_region(record, record_len as usize) };
    filter(record, false)
}

/// The filter that drops records matching nothing (the `--only-matches` of Fluent Bit).
///
/// # Safety
/// As [`trailtag_filter`].
#[cfg_attr(
    target_family = "wasm",
    unsafe(export_name = "trailtag_filter_only_matches")
)]
pub unsafe extern "C" fn trailtag_filter_only_matches(
    _tag: *const u8,
    _tag_len: u32,
    _time_sec: u32,
    _time_nsec: u32,
    record: *const u8,
    record_len: u32,
) -> *const u8 {
    // SAFETY: as above.
    let record = unsafe { host_region(record, record_len as usize) };
    filter(record, true)
}

/// Decides one record and returns a pointer to the NUL-terminated answer.
pub fn filter(record: Option<&[u8]>, only_matches: bool) -> *const u8 {
    with_state(|state| {
        let Some(record) = record.filter(|r| !r.is_empty()) else {
            state.output.clear();
            write_wrapped(
                "Fluent Bit passed no record (null pointer or empty)",
                b"",
                &mut state.output,
            );
            return finish(state);
        };
        match state.filter(record, only_matches) {
            FilterAnswer::Written => {}
            FilterAnswer::Dropped => return EMPTY.as_ptr(),
            FilterAnswer::Unreadable(why) => {
                state.output.clear();
                write_wrapped(&why, record, &mut state.output);
            }
        }
        finish(state)
    })
}

fn finish(state: &mut State) -> *const u8 {
    state.output.push(0);
    state.output.as_ptr()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
    use super::*;

    /// The answer, read the way Fluent Bit reads it: up to the NUL.
    fn answer(record: Option<&[u8]>, only_matches: bool) -> String {
        let ptr = filter(record, only_matches);
        // SAFETY: `filter` returns a pointer into the state's buffer or a static, NUL-terminated.
        let text = unsafe { std::ffi::CStr::from_ptr(ptr.cast()) };
        text.to_str().unwrap().to_owned()
    }

    const CREATE_GROUP: &[u8] = br#"{"eventSource":"iam.amazonaws.com","eventName":"CreateGroup"}"#;
    const OTHER: &[u8] = br#"{"eventSource":"s3.amazonaws.com","eventName":"GetObject"}"#;

    #[test]
    fn matches_are_tagged_and_the_rest_kept_or_dropped_as_asked() {
        assert!(answer(Some(CREATE_GROUP), false).contains(r#""id":"iam_group_created""#));
        assert_eq!(answer(Some(OTHER), false).as_bytes(), OTHER);
        assert_eq!(answer(Some(OTHER), true), "");
        assert!(answer(Some(CREATE_GROUP), true).contains("trailtag"));
    }

    #[test]
    fn unreadable_records_are_wrapped_never_dropped() {
        let wrapped = answer(Some(b"[1,2]"), true);
        assert_eq!(
            wrapped,
            r#"{"trailtag":{"version":1,"error":"not a JSON object","original":"[1,2]"}}"#
        );
        let binary = answer(
            Some(b"{\"eventName\":\"CreateGroup\",\"x\":\"\xff\"}"),
            false,
        );
        assert!(
            binary.starts_with(r#"{"trailtag":{"version":1,"error":"invalid JSON"#),
            "{binary}"
        );
        assert!(
            binary.contains(
                r#""original_base64":"eyJldmVudE5hbWUiOiJDcmVhdGVHcm91cCIsIngiOiL/In0=""#
            ),
            "{binary}"
        );
        assert!(answer(None, false).contains(r#""original":"""#));
    }

    #[test]
    fn the_answer_buffer_is_reused() {
        let first = filter(Some(OTHER), false);
        let second = filter(Some(OTHER), false);
        assert_eq!(first, second);
    }
}
