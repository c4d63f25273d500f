//! Fluent Bit's `wasm` filter ABI (`../shared/spec/fluent-bit-abi.md`, measured on v5.1.1).
//!
//! Fluent Bit calls the export named by `function_name` once per record with the record as a
//! NUL-terminated JSON object and takes back a pointer to a NUL-terminated JSON object, which
//! it copies at once. What Fluent Bit does with anything else decides this shell's rules:
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

use base64::Engine as _;
use trailtag_engine::{Options, TAG_SCHEMA_VERSION, Verdict};

use crate::memory::{c_free, c_malloc, host_region};
use crate::state::{State, with_state};

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
        state.output.clear();
        let Some(record) = record.filter(|r| !r.is_empty()) else {
            write_error(
                state,
                "Fluent Bit passed no record (null pointer or empty)",
                b"",
            );
            return finish(state);
        };
        let verdict = decide(state, record);
        match verdict {
            Verdict::Tagged => {}
            Verdict::Skipped | Verdict::NoMatch if only_matches => return EMPTY.as_ptr(),
            Verdict::Skipped | Verdict::NoMatch => state.output.extend_from_slice(record),
            Verdict::Unreadable(reason) => write_error(state, &reason, record),
        }
        finish(state)
    })
}

fn decide(state: &mut State, record: &[u8]) -> Verdict {
    state.faults.check(record);
    if let Err(status) = state.detector() {
        return Verdict::Unreadable(format!("no detector ({})", status.name()));
    }
    let State {
        detector: Some(detector),
        scratch,
        output,
        ..
    } = state
    else {
        return Verdict::Unreadable("no detector".into());
    };
    let options = Options {
        only_matches: false,
        validate: false,
    };
    detector.tag_record(record, &options, scratch, output)
}

fn finish(state: &mut State) -> *const u8 {
    state.output.push(0);
    state.output.as_ptr()
}

/// The wrapper for a record that cannot be returned as it is; members in documented order.
#[derive(serde::Serialize)]
struct Wrapper<'a> {
    trailtag: WrapperTag<'a>,
}

#[derive(serde::Serialize)]
struct WrapperTag<'a> {
    version: u32,
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    original: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    original_base64: Option<String>,
}

/// Writes the wrapper object for a record that cannot be returned as it is.
fn write_error(state: &mut State, reason: &str, record: &[u8]) {
    let text = std::str::from_utf8(record).ok();
    let tag = WrapperTag {
        version: TAG_SCHEMA_VERSION,
        error: reason,
        original: text,
        original_base64: text
            .is_none()
            .then(|| base64::engine::general_purpose::STANDARD.encode(record)),
    };
    // Serialising plain strings into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut state.output, &Wrapper { trailtag: tag });
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
