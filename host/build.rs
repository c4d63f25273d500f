//! Builds the trailtag WebAssembly module and embeds it in the `trailtag` binary.
//!
//! The module is the `trailtag-plugin` crate compiled for `wasm32-unknown-unknown` with the
//! `wasm` profile, in two variants of the same source:
//! - `trailtag.wasm`, portable: WebAssembly without SIMD, which every runtime runs, Fluent Bit's
//!   WAMR interpreter included (Fluent Bit builds WAMR with SIMD off);
//! - `trailtag-simd.wasm`: the same with `simd128`, which wasmtime and Node run; its cheap scan
//!   uses `memchr`'s SIMD search and is several times faster.
//!
//! Nested `cargo build`s do it, into their own target directories (so they never wait on the
//! lock of the build that runs this script), with the outer build's flags and wrappers removed
//! (they are meant for the host, not for the guest). Users never build or point at a `.wasm` by
//! hand; `trailtag --module FILE` can still run another build.
#![expect(
    clippy::disallowed_methods,
    reason = "build scripts receive their inputs through cargo's environment"
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

const TARGET: &str = "wasm32-unknown-unknown";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let workspace = manifest_dir
        .parent()
        .ok_or("host crate has no parent directory")?
        .to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    for watched in [
        "engine/src",
        "engine/build.rs",
        "engine/Cargo.toml",
        "plugin/src",
        "plugin/Cargo.toml",
        "rules",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!(
            "cargo::rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }
    let target_dir = wasm_target_dir(&out_dir);
    for (variant, rustflags) in [
        ("trailtag", ""),
        ("trailtag-simd", "-Ctarget-feature=+simd128"),
    ] {
        let variant_dir = target_dir.join(variant);
        build_module(&workspace, &variant_dir, rustflags)?;
        let built = variant_dir
            .join(TARGET)
            .join("wasm")
            .join("trailtag_plugin.wasm");
        fs::copy(&built, out_dir.join(format!("{variant}.wasm")))?;
    }
    Ok(())
}

/// `<target>/<profile>/trailtag-wasm`: shared by `build`, `test` and `clippy` of one profile.
///
/// `scripts/test-all` builds the portable variant again in
/// `<target>/debug/trailtag-wasm/trailtag` (where cargo finds it fresh) to hand the same module
/// to the Python tests: keep the two in step.
fn wasm_target_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .nth(3)
        .unwrap_or(out_dir)
        .join("trailtag-wasm")
}

fn build_module(
    workspace: &Path,
    target_dir: &Path,
    rustflags: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args([
            "build",
            "--package",
            "trailtag-plugin",
            "--target",
            TARGET,
            "--profile",
            "wasm",
        ])
        .arg("--target-dir")
        .arg(target_dir);
    for inherited in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CLIPPY_ARGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
    ] {
        command.env_remove(inherited);
    }
    command.env("CARGO_ENCODED_RUSTFLAGS", rustflags);
    let status = command.status()?;
    if status.success() {
        return Ok(());
    }
    Err(format!(
        "building the trailtag WebAssembly module failed ({status}). If the message above says the \
         `{TARGET}` target may not be installed, run: rustup target add {TARGET}"
    )
    .into())
}
