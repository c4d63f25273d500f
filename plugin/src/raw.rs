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
    Rules: tt_rules_ptr, tt_rules_len;
    Error: tt_error_ptr, tt_error_len;
}
