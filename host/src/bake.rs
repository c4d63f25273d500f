//! Baking a configuration into a copy of the module (`trailtag module`), for hosts that load a
//! module but cannot configure it (Fluent Bit). The guest side, and why this layout is safe, is
//! described in `trailtag_plugin::baked`.
//!
//! The rewrite touches three sections and copies every other byte:
//! - **data**: the slot (the magic, then two zero `u32`s, found exactly once in the data) gets
//!   the document's address and length, and one active segment holding the document is appended
//!   at the first address past the initial memory;
//! - **memory**: the minimum grows by the pages the document needs;
//! - **data count** (when present): one more segment.
//!
//! The result is validated before it is written, and `trailtag module` then loads it, as a host
//! would, to report what it configures.

use std::ops::Range;

use anyhow::{Context, Result, bail, ensure};
use trailtag_plugin::contract::BAKED_MAGIC;
use wasm_encoder::{Encode, RawSection, Section};
use wasmparser::{Parser, Payload};

/// Bytes in a wasm page.
const PAGE: u64 = 65_536;

/// Section ids of the binary format.
const MEMORY_SECTION: u8 = 5;
const DATA_SECTION: u8 = 11;
const DATA_COUNT_SECTION: u8 = 12;

/// A copy of `module` that applies `config` (a configuration document) on first use.
pub fn bake(module: &[u8], config: &[u8]) -> Result<Vec<u8>> {
    let length = u32::try_from(config.len()).context("the configuration is larger than 4 GiB")?;
    ensure!(length > 0, "an empty configuration cannot be baked");
    let layout = Layout::read(module)?;
    let address = layout.initial_pages * PAGE;
    let address32 = u32::try_from(address).context("the module's memory leaves no room")?;
    let extra_pages = u64::from(length).div_ceil(PAGE);
    if let Some(maximum) = layout.maximum_pages {
        ensure!(
            layout.initial_pages + extra_pages <= maximum,
            "the module's memory maximum leaves no room for the configuration"
        );
    }
    let mut out = module[..8].to_vec();
    for (id, range) in &layout.sections {
        let content = &module[range.clone()];
        match *id {
            MEMORY_SECTION => memory_section(&layout, extra_pages).append_to(&mut out),
            DATA_SECTION => {
                let data = data_section(content, address32, config)?;
                RawSection {
                    id: DATA_SECTION,
                    data: &data,
                }
                .append_to(&mut out);
            }
            DATA_COUNT_SECTION => {
                let count = layout.data_segments + 1;
                wasm_encoder::DataCountSection { count }.append_to(&mut out);
            }
            id => RawSection { id, data: content }.append_to(&mut out),
        }
    }
    wasmparser::Validator::new()
        .validate_all(&out)
        .context("the baked module does not validate")?;
    Ok(out)
}

/// What the rewrite needs to know of the module.
struct Layout {
    /// Every section: id and content range, in order.
    sections: Vec<(u8, Range<usize>)>,
    initial_pages: u64,
    maximum_pages: Option<u64>,
    data_segments: u32,
}

impl Layout {
    fn read(module: &[u8]) -> Result<Layout> {
        let mut layout = Layout {
            sections: Vec::new(),
            initial_pages: 0,
            maximum_pages: None,
            data_segments: 0,
        };
        let mut memories = 0;
        for payload in Parser::new(0).parse_all(module) {
            let payload = payload.context("reading the module")?;
            match &payload {
                Payload::MemorySection(reader) => {
                    for memory in reader.clone() {
                        let memory = memory?;
                        ensure!(!memory.memory64 && !memory.shared, "unexpected memory type");
                        layout.initial_pages = memory.initial;
                        layout.maximum_pages = memory.maximum;
                        memories += 1;
                    }
                }
                Payload::DataSection(reader) => layout.data_segments = reader.count(),
                _ => {}
            }
            if let Some((id, range)) = payload.as_section() {
                layout.sections.push((id, range));
            }
        }
        ensure!(memories == 1, "the module must define exactly one memory");
        ensure!(
            layout.sections.iter().any(|(id, _)| *id == DATA_SECTION),
            "the module has no data section (is it a trailtag module?)"
        );
        Ok(layout)
    }
}

fn memory_section(layout: &Layout, extra_pages: u64) -> wasm_encoder::MemorySection {
    let mut section = wasm_encoder::MemorySection::new();
    section.memory(wasm_encoder::MemoryType {
        minimum: layout.initial_pages + extra_pages,
        maximum: layout.maximum_pages,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    section
}

/// The data section with the slot patched and the document's segment appended.
fn data_section(content: &[u8], address: u32, config: &[u8]) -> Result<Vec<u8>> {
    let (count, count_len) = read_leb_u32(content)?;
    let mut segments = content[count_len..].to_vec();
    patch_slot(&mut segments, address, config.len() as u32)?;
    let mut data = Vec::with_capacity(content.len() + config.len() + 16);
    (count + 1).encode(&mut data);
    data.extend_from_slice(&segments);
    // An active segment of memory 0: flags 0, offset `i32.const address; end`, the bytes.
    data.push(0x00);
    data.push(0x41);
    (address as i32).encode(&mut data);
    data.push(0x0b);
    config.encode(&mut data);
    Ok(data)
}

/// Writes `address` and `length` into the one empty slot in `segments`.
fn patch_slot(segments: &mut [u8], address: u32, length: u32) -> Result<()> {
    let mut empty_slot = BAKED_MAGIC.to_vec();
    empty_slot.extend_from_slice(&[0; 8]);
    let mut found = memchr::memmem::find_iter(segments, &empty_slot);
    let Some(at) = found.next() else {
        if memchr::memmem::find(segments, BAKED_MAGIC).is_some() {
            bail!("the module already has a baked configuration; bake from the original module");
        }
        bail!("the module has no slot for a baked configuration (is it a trailtag module?)");
    };
    ensure!(
        found.next().is_none(),
        "the module has more than one configuration slot"
    );
    let fields = at + BAKED_MAGIC.len();
    segments[fields..fields + 4].copy_from_slice(&address.to_le_bytes());
    segments[fields + 4..fields + 8].copy_from_slice(&length.to_le_bytes());
    Ok(())
}

/// An unsigned LEB128 `u32` at the start of `bytes`, and how many bytes it took.
fn read_leb_u32(bytes: &[u8]) -> Result<(u32, usize)> {
    let mut value: u64 = 0;
    for (i, byte) in bytes.iter().take(5).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((u32::try_from(value)?, i + 1));
        }
    }
    bail!("malformed data section")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
    use super::*;
    use crate::runtime::ModuleVariant;

    #[test]
    fn a_baked_module_validates_and_cannot_be_baked_twice() {
        let module = ModuleVariant::Portable.bytes();
        let config = br#"{"builtin_rules":false}"#;
        let baked = bake(module, config).unwrap();
        assert!(baked.len() > module.len());
        let again = bake(&baked, config).unwrap_err();
        assert!(again.to_string().contains("already has"), "{again}");
        assert!(bake(b"\0asm\x01\0\0\0", config).is_err());
    }

    #[test]
    fn leb128() {
        assert_eq!(read_leb_u32(&[0x05]).unwrap(), (5, 1));
        assert_eq!(read_leb_u32(&[0xe5, 0x8e, 0x26]).unwrap(), (624_485, 3));
        assert!(read_leb_u32(&[0x80, 0x80]).is_err());
    }
}
