//! A Fluent Bit `wasm` filter that returns every record unchanged: what trailtag's filter costs
//! is measured against it (`pipelines/fluent-bit/cost`). It does what any filter under that ABI
//! must do and nothing more: export `malloc`/`free`, so that Fluent Bit copies each record into
//! the module's memory whatever its size, and answer with a NUL-terminated copy of the record
//! from one buffer reused across calls (`docs/abi.md` section 7,
//! `../shared/spec/fluent-bit-abi.md`).

use std::alloc::{Layout, alloc, dealloc};
use std::cell::RefCell;

/// Bytes in front of each allocation holding its size, so that `free` can rebuild the layout.
const HEADER: usize = 8;

/// # Safety
/// Exported to Fluent Bit, which calls it with a size and writes at most that many bytes.
#[unsafe(no_mangle)]
pub extern "C" fn malloc(size: usize) -> *mut u8 {
    let Some(total) = size.checked_add(HEADER) else {
        return std::ptr::null_mut();
    };
    let Ok(layout) = Layout::from_size_align(total, HEADER) else {
        return std::ptr::null_mut();
    };
    // SAFETY: the layout is non-zero (at least HEADER bytes); the header is written inside it.
    unsafe {
        let base = alloc(layout);
        if base.is_null() {
            return base;
        }
        base.cast::<u64>().write(total as u64);
        base.add(HEADER)
    }
}

/// # Safety
/// `ptr` is null or came from [`malloc`] and was not freed since.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free(ptr: *mut u8) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: `malloc` put the allocation's size HEADER bytes before `ptr`.
    unsafe {
        let base = ptr.sub(HEADER);
        let total = base.cast::<u64>().read() as usize;
        dealloc(base, Layout::from_size_align_unchecked(total, HEADER));
    }
}

thread_local! {
    static ANSWER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The filter: the record back, NUL-terminated, in a buffer valid until the next call.
///
/// # Safety
/// `record` is null or points at `record_len` readable bytes (Fluent Bit's copy of the record).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn passthrough(
    _tag: *const u8,
    _tag_len: u32,
    _sec: u32,
    _nsec: u32,
    record: *const u8,
    record_len: u32,
) -> *const u8 {
    ANSWER.with(|answer| {
        let mut answer = answer.borrow_mut();
        answer.clear();
        if !record.is_null() {
            // SAFETY: the caller's contract above.
            answer.extend_from_slice(unsafe {
                std::slice::from_raw_parts(record, record_len as usize)
            });
        }
        answer.push(0);
        answer.as_ptr()
    })
}
