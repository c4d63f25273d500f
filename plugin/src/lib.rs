//! trailtag's WebAssembly shells: the engine's transform behind stable ABIs.
//!
//! Built for `wasm32-unknown-unknown` this crate is *the* trailtag module: one `.wasm` with no
//! imports that exports
//! - the raw batch ABI ([`raw`], specified in `docs/abi.md`): NDJSON in, tagged NDJSON out,
//!   plus counts; this is what the `trailtag` CLI drives through wasmtime;
//! - Fluent Bit's filter ABI ([`fluent_bit`]): one record per call, the instance living across
//!   calls, exactly as Fluent Bit's `wasm` filter calls it.
//!
//! The `js` feature builds the JavaScript package instead: wasm-bindgen exports in [`js`].
//!
//! Each export is a thin shell: decode arguments, call the engine through the instance's
//! [`state`], encode the result with the [`codec`] every host decodes with. `unsafe` lives only in the shell modules, each block with its
//! reason. Natively the same functions compile without their export names, so tests drive them
//! without a WebAssembly runtime, and Rust hosts share the [`contract`].

pub mod baked;
pub mod codec;
pub mod contract;
#[cfg(feature = "fluent-bit")]
pub mod fluent_bit;
#[cfg(feature = "js")]
pub mod js;
#[cfg(any(feature = "raw", feature = "fluent-bit"))]
mod memory;
#[cfg(feature = "raw")]
pub mod raw;
pub mod state;
