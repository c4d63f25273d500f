//! The raw batch ABI (`docs/abi.md`): each export decodes its arguments, calls the state, and
//! returns a status or a pointer. No logic lives here.
#![allow(unsafe_code, reason = "ABI exports take raw pointers from the host")]

use crate::contract::{ABI_VERSION, Status};
use crate::memory::{allocate, host_region, release};
use crate::state::{Buffer, State, with_state};

/// `tt_abi_version() -> i32`
#[cfg_attr(target_family = "wasm", unsafe(export_name = "tt_abi_version"))]
pub extern "C" fn tt_abi_version() -> u32 {
    ABI_VERSION
}

/// `tt_alloc(len) -> ptr`
#[cfg_attr(target_family = "wasm", unsafe(export_name = "tt_alloc"))]
pub extern "C" fn tt_alloc(len: usize) -> *mut u8 {
    allocate(len)
}

/// `tt_free(ptr, len)`
///
/// # Safety
/// `ptr` must come from `tt_alloc(len)`.
#[cfg_attr(target_family = "wasm", unsafe(export_name = "tt_free"))]
pub unsafe extern "C" fn tt_free(ptr: *mut u8, len: usize) {
    // SAFETY: forwarded contract.
    unsafe { release(ptr, len) }
}

/// `tt_configure(ptr, len) -> status`
///
/// # Safety
/// `ptr..ptr+len` must not be written by anyone during the call.
#[cfg_attr(target_family = "wasm", unsafe(export_name = "tt_configure"))]
pub unsafe extern "C" fn tt_configure(ptr: *const u8, len: usize) -> i32 {
    // SAFETY: the host cannot write guest memory while the guest runs.
    let input = unsafe { host_region(ptr, len) };
    with_state(|state| match input {
        Some(document) => state.configure(document),
        None => bad_region(state),
    }) as i32
}

/// `tt_transform(ptr, len) -> status`
///
/// # Safety
/// `ptr..ptr+len` must not be written by anyone during the call.
#[cfg_attr(target_family = "wasm", unsafe(export_name = "tt_transform"))]
pub unsafe extern "C" fn tt_transform(ptr: *const u8, len: usize) -> i32 {
    // SAFETY: the host cannot write guest memory while the guest runs.
    let input = unsafe { host_region(ptr, len) };
    with_state(|state| match input {
        Some(batch) => state.transform(batch),
        None => bad_region(state),
    }) as i32
}

/// `tt_transform_edits(ptr, len) -> status`: as `tt_transform`, answering with edits.
///
/// # Safety
/// `ptr..ptr+len` must not be written by anyone during the call.
#[cfg_attr(target_family = "wasm", unsafe(export_name = "tt_transform_edits"))]
pub unsafe extern "C" fn tt_transform_edits(ptr: *const u8, len: usize) -> i32 {
    // SAFETY: the host cannot write guest memory while the guest runs.
    let input = unsafe { host_region(ptr, len) };
    with_state(|state| match input {
        Some(batch) => state.transform_edits(batch),
        None => bad_region(state),
    }) as i32
}

fn bad_region(state: &mut State) -> Status {
    state.fail(
        Status::InvalidArgument,
        "pointer and length do not describe a region of guest memory",
    )
}

macro_rules! buffer_getters {
    ($($buffer:ident: $ptr:ident, $len:ident;)*) => {$(
        #[doc = concat!("`", stringify!($ptr), "() -> ptr`")]
        #[cfg_attr(target_family = "wasm", unsafe(export_name = stringify!($ptr)))]
        pub extern "C" fn $ptr() -> *const u8 {
            with_state(|state| state.buffer(Buffer::$buffer).as_ptr())
        }
        #[doc = concat!("`", stringify!($len), "() -> len`")]
        #[cfg_attr(target_family = "wasm", unsafe(export_name = stringify!($len)))]
        pub extern "C" fn $len() -> usize {
            with_state(|state| state.buffer(Buffer::$buffer).len())
        }
    )*};
}

buffer_getters! {
    Output: tt_output_ptr, tt_output_len;
    Stats: tt_stats_ptr, tt_stats_len;
    Unreadable: tt_unreadable_ptr, tt_unreadable_len;
    Results: tt_results_ptr, tt_results_len;
    Rules: tt_rules_ptr, tt_rules_len;
    LoadReport: tt_load_report_ptr, tt_load_report_len;
    Error: tt_error_ptr, tt_error_len;
    Edits: tt_edits_ptr, tt_edits_len;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
    use super::*;
    use crate::contract::stats;

    fn configure(document: &str) -> i32 {
        // SAFETY: a live slice.
        unsafe { tt_configure(document.as_ptr(), document.len()) }
    }

    fn region(ptr: *const u8, len: usize) -> Vec<u8> {
        // SAFETY: the getters return a live buffer of the state.
        unsafe { std::slice::from_raw_parts(ptr, len) }.to_vec()
    }

    #[test]
    fn configuration_must_be_an_object_of_known_keys() {
        assert_eq!(configure("[false]"), Status::InvalidConfig as i32);
        assert_eq!(
            configure(r#"{"only_matches":true,"typo":1}"#),
            Status::InvalidConfig as i32
        );
        let error = String::from_utf8(region(tt_error_ptr(), tt_error_len())).unwrap();
        assert!(error.contains("typo"), "{error}");
        assert_eq!(configure("{}"), Status::Ok as i32);
        assert_eq!(tt_error_len(), 0);
    }

    #[test]
    fn a_rule_error_keeps_the_previous_configuration() {
        let bad =
            r#"{"builtin_rules":false,"rules":[{"name":"x.toml","text":"[rule]\nid = \"x\"\n"}]}"#;
        assert_eq!(configure(bad), Status::RuleError as i32);
        let error = String::from_utf8(region(tt_error_ptr(), tt_error_len())).unwrap();
        assert!(
            error.starts_with("1 rule problem(s):\n  x.toml:"),
            "{error}"
        );
        let rules: serde_json::Value =
            serde_json::from_slice(&region(tt_rules_ptr(), tt_rules_len())).unwrap();
        assert_eq!(
            rules.as_array().unwrap().len(),
            5,
            "still the built-in rules"
        );
    }

    #[test]
    fn a_batch_and_its_statistics() {
        let batch =
            b"{\"eventSource\":\"iam.amazonaws.com\",\"eventName\":\"DeleteGroup\"}\nnot json\n\n";
        // SAFETY: a live slice.
        assert_eq!(
            unsafe { tt_transform(batch.as_ptr(), batch.len()) },
            Status::Ok as i32
        );
        let block = region(tt_stats_ptr(), tt_stats_len());
        let slot = |i: usize| u64::from_le_bytes(block[i * 8..i * 8 + 8].try_into().unwrap());
        assert_eq!(
            (
                slot(stats::RECORDS_IN),
                slot(stats::LINES_OUT),
                slot(stats::TAGGED)
            ),
            (2, 3, 1)
        );
        assert_eq!(
            (
                slot(stats::UNREADABLE),
                slot(stats::BLANK),
                slot(stats::RULE_COUNT)
            ),
            (1, 1, 5)
        );
        assert_eq!(
            region(tt_unreadable_ptr(), tt_unreadable_len()),
            b"1\tnot a JSON object\n"
        );
        let output = region(tt_output_ptr(), tt_output_len());
        assert!(output.ends_with(b"}}\nnot json\n\n"));
        // SAFETY: a pointer that is not a region of this process's memory is refused, not read.
        assert_eq!(
            unsafe { tt_transform(std::ptr::null(), 5) },
            Status::InvalidArgument as i32
        );
    }

    #[test]
    fn an_edit_answer_rebuilds_the_copying_answer_and_a_copy_clears_it() {
        let batch = b"{\"eventName\":\"ListUsers\"}\n{\"eventSource\":\"iam.amazonaws.com\",\"eventName\":\"DeleteGroup\"}\nnot json";
        // SAFETY: a live slice.
        assert_eq!(
            unsafe { tt_transform(batch.as_ptr(), batch.len()) },
            Status::Ok as i32
        );
        let copied = region(tt_output_ptr(), tt_output_len());
        let copied_stats = region(tt_stats_ptr(), tt_stats_len());
        assert_eq!(tt_edits_len(), 0, "tt_transform leaves no edits");
        // SAFETY: a live slice.
        let status = unsafe { tt_transform_edits(batch.as_ptr(), batch.len()) };
        assert_eq!(status, Status::Ok as i32);
        let edits =
            trailtag_engine::edits::Edit::parse_table(&region(tt_edits_ptr(), tt_edits_len()))
                .unwrap();
        let replacements = region(tt_output_ptr(), tt_output_len());
        assert_eq!(
            edits.len(),
            1,
            "the tagged record and the last line (which needs its \\n), touching, are one edit"
        );
        assert!(replacements.len() < copied.len());
        assert_eq!(
            trailtag_engine::edits::apply(batch, &edits, &replacements).unwrap(),
            copied
        );
        assert_eq!(region(tt_stats_ptr(), tt_stats_len()), copied_stats);
        // SAFETY: a live slice.
        assert_eq!(
            unsafe { tt_transform(batch.as_ptr(), batch.len()) },
            Status::Ok as i32
        );
        assert_eq!(tt_edits_len(), 0, "no stale edits after a copying call");
    }

    #[test]
    fn allocation_round_trip() {
        let ptr = tt_alloc(64);
        assert!(!ptr.is_null());
        // SAFETY: freed with the length it was allocated with.
        unsafe { tt_free(ptr, 64) };
        // SAFETY: zero-length frees are no-ops.
        unsafe { tt_free(tt_alloc(0), 0) };
    }
}
