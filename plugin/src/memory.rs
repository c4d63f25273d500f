//! Guest memory shared with the host: allocation and checked views of host-written regions.
#![allow(
    unsafe_code,
    reason = "the ABI hands raw pointers across the module boundary"
)]

use std::alloc::{Layout, alloc, dealloc};
use std::ptr::NonNull;

/// Allocates `len` bytes (alignment 1). Returns null when memory cannot grow; a dangling,
/// non-null pointer for `len == 0`.
pub fn allocate(len: usize) -> *mut u8 {
    let Ok(layout) = Layout::from_size_align(len, 1) else {
        return std::ptr::null_mut();
    };
    if len == 0 {
        return NonNull::dangling().as_ptr();
    }
    // SAFETY: the layout has a non-zero size.
    unsafe { alloc(layout) }
}

/// Frees what [`allocate`] returned for the same `len`.
///
/// # Safety
/// `ptr` must come from `allocate(len)` and not have been freed.
pub unsafe fn release(ptr: *mut u8, len: usize) {
    if ptr.is_null() || len == 0 {
        return;
    }
    if let Ok(layout) = Layout::from_size_align(len, 1) {
        // SAFETY: per the contract, `ptr` was allocated with this layout.
        unsafe { dealloc(ptr, layout) }
    }
}

/// The bytes a host wrote at `ptr..ptr+len`, if that region lies inside linear memory.
///
/// # Safety
/// The host must not change the region while the returned slice is alive (it cannot: the guest
/// is running).
pub unsafe fn host_region<'a>(ptr: *const u8, len: usize) -> Option<&'a [u8]> {
    if len == 0 {
        return Some(&[]);
    }
    if ptr.is_null() || !inside_linear_memory(ptr as usize, len) {
        return None;
    }
    // SAFETY: the region is non-null and inside linear memory, which is always readable.
    Some(unsafe { std::slice::from_raw_parts(ptr, len) })
}

#[cfg(target_family = "wasm")]
fn inside_linear_memory(start: usize, len: usize) -> bool {
    let size = core::arch::wasm32::memory_size(0) * 65536;
    start.checked_add(len).is_some_and(|end| end <= size)
}

/// Natively the shells are only called by tests, with pointers Rust itself produced.
#[cfg(not(target_family = "wasm"))]
fn inside_linear_memory(start: usize, len: usize) -> bool {
    start.checked_add(len).is_some()
}

/// C-style allocation for hosts that free without a size (Fluent Bit's WAMR): an 8-byte header
/// in front of the block remembers the size.
pub fn c_malloc(size: usize) -> *mut u8 {
    const HEADER: usize = 8;
    let Some(total) = size.checked_add(HEADER) else {
        return std::ptr::null_mut();
    };
    let Ok(layout) = Layout::from_size_align(total, HEADER) else {
        return std::ptr::null_mut();
    };
    // SAFETY: total >= 8, so the layout is non-zero.
    let base = unsafe { alloc(layout) };
    if base.is_null() {
        return base;
    }
    // SAFETY: base is valid for `total >= 8` bytes and 8-aligned.
    unsafe {
        base.cast::<u64>().write(total as u64);
        base.add(HEADER)
    }
}

/// Frees what [`c_malloc`] returned.
///
/// # Safety
/// `ptr` must be null or come from `c_malloc` and not have been freed.
pub unsafe fn c_free(ptr: *mut u8) {
    const HEADER: usize = 8;
    if ptr.is_null() {
        return;
    }
    // SAFETY: `ptr` is 8 bytes past the start of a block whose first 8 bytes hold its size.
    unsafe {
        let base = ptr.sub(HEADER);
        let total = base.cast::<u64>().read() as usize;
        if let Ok(layout) = Layout::from_size_align(total, HEADER) {
            dealloc(base, layout);
        }
    }
}
