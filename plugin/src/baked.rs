//! A configuration baked into the module, for hosts that cannot send one (Fluent Bit's `wasm`
//! filter has no configuration channel): `trailtag module --rules DIR -o my.wasm` writes a copy
//! of the module in which the rules and options are part of the binary.
//!
//! The module carries a 16-byte slot in its data: [`contract::BAKED_MAGIC`], then the address
//! and length (little-endian `u32`) of a configuration document, both zero in a built module.
//! The baker appends the document as a new data segment above the module's initial memory,
//! raises the memory's minimum to cover it, and writes its address and length into the slot.
//! The allocator only ever takes memory it grows, so nothing overwrites the document. On first
//! use, an instance that was never configured applies the baked document instead of the
//! built-in defaults; `tt_configure` still replaces it.
//!
//! [`contract::BAKED_MAGIC`]: crate::contract::BAKED_MAGIC
#![allow(
    unsafe_code,
    reason = "the baked document is found by address in linear memory"
)]

/// The slot `trailtag module` patches; see the module docs.
#[repr(C)]
struct BakedSlot {
    magic: [u8; 8],
    address: u32,
    length: u32,
}

#[used]
static BAKED: BakedSlot = BakedSlot {
    magic: *b"TT-BAKED",
    address: 0,
    length: 0,
};

/// The baked configuration document, if the module has one.
pub fn baked_config() -> Option<&'static [u8]> {
    // Volatile: the slot is rewritten in the binary after compilation, so its value must be read
    // at run time, not folded from the initialiser above.
    // SAFETY: reading plain integers of a live static.
    let (address, length) = unsafe {
        (
            std::ptr::read_volatile(&raw const BAKED.address),
            std::ptr::read_volatile(&raw const BAKED.length),
        )
    };
    if length == 0 || !cfg!(target_family = "wasm") {
        return None;
    }
    // SAFETY: the baker placed `length` bytes at `address` in an active data segment inside the
    // module's initial memory, which nothing else writes (module docs).
    Some(unsafe { std::slice::from_raw_parts(address as usize as *const u8, length as usize) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_module_has_no_baked_configuration() {
        assert_eq!(baked_config(), None);
        assert_eq!(&BAKED.magic, crate::contract::BAKED_MAGIC);
    }
}
