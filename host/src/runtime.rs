//! The wasmtime side: compile the module once, then hand out bounded guest instances.
//!
//! Compiling the module with Cranelift takes about a second, so compiled code is kept in
//! wasmtime's own on-disk cache (`~/.cache/wasmtime`, keyed by the module's hash, wasmtime's
//! version and configuration); `--no-module-cache` turns it off, and a cache that cannot be used
//! is skipped silently, never an error.
//!
//! [`Runtime`] owns the `wasmtime::Engine`, the compiled module (as an `InstancePre`, so every
//! instantiation skips linking) and a ticker thread that advances the engine's epoch. It is
//! shared (`Arc`) by every session of a process. Each [`Guest`] gets its own `Store` with a
//! resource limiter ([`GuestLimiter`]: memory, tables, instances) and every call into it runs
//! under an epoch deadline, so no input can make the host hang or exhaust memory: the call fails
//! with a [`crate::guest::GuestFault`] and the caller replaces the instance.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use wasmtime::{Cache, CacheConfig, Config, Engine, InstancePre, Linker, Module, OptLevel, Store};

use crate::guest::{Guest, GuestData, GuestLimiter, GuestLimits};

/// The portable trailtag module (no SIMD: what Fluent Bit loads), embedded at build time.
pub const PORTABLE_MODULE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/trailtag.wasm"));

/// The same module built with `simd128` (wasmtime and Node run it), embedded at build time.
pub const SIMD_MODULE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/trailtag-simd.wasm"));

/// Which embedded build of the module to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModuleVariant {
    /// Built with `simd128`: the fast one on wasmtime.
    Simd,
    /// Without SIMD: the very module Fluent Bit loads.
    Portable,
}

impl ModuleVariant {
    /// The module's bytes.
    pub fn bytes(self) -> &'static [u8] {
        match self {
            ModuleVariant::Simd => SIMD_MODULE,
            ModuleVariant::Portable => PORTABLE_MODULE,
        }
    }
}

/// How often the epoch advances; deadlines are counted in these ticks.
const TICK: Duration = Duration::from_millis(10);

/// How to set up a runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeOptions {
    /// Bounds of every instance.
    pub limits: GuestLimits,
    /// Keep compiled code in wasmtime's on-disk cache.
    pub compile_cache: bool,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            limits: GuestLimits::default(),
            compile_cache: true,
        }
    }
}

/// A compiled module, ready to instantiate many times.
pub struct Runtime {
    engine: Engine,
    pre: InstancePre<GuestData>,
    limits: GuestLimits,
    ticker: EpochTicker,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Compiles `module` (binary WebAssembly) once.
    pub fn new(module: &[u8], options: &RuntimeOptions) -> Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.cranelift_opt_level(OptLevel::Speed);
        // For profiling the guest (BENCHMARKS.md, "Users' rules, later the same day"): wasmtime
        // writes /tmp/perf-PID.map, so that `perf report` names the module's functions.
        if std::env::var_os("TRAILTAG_PERF_MAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        if options.compile_cache {
            config.cache(Cache::new(CacheConfig::new()).ok());
        }
        let engine = Engine::new(&config)?;
        let module = Module::new(&engine, module)
            .map_err(anyhow::Error::from)
            .context("compiling the WebAssembly module")?;
        let linker = Linker::new(&engine);
        let pre = linker
            .instantiate_pre(&module)
            .map_err(anyhow::Error::from)
            .context("the module must import nothing (the trailtag ABI provides no imports)")?;
        let ticker = EpochTicker::start(engine.clone());
        Ok(Self {
            engine,
            pre,
            limits: options.limits,
            ticker,
        })
    }

    /// Compiles one of the embedded modules.
    pub fn embedded(variant: ModuleVariant, options: &RuntimeOptions) -> Result<Self> {
        Self::new(variant.bytes(), options)
    }

    /// The limits every instance runs under.
    pub fn limits(&self) -> GuestLimits {
        self.limits
    }

    /// A fresh instance with its own store, memory cap and deadline.
    pub fn instantiate(&self) -> Result<Guest> {
        let limiter = GuestLimiter::new(&self.limits);
        let mut store = Store::new(&self.engine, GuestData { limiter });
        store.limiter(|data| &mut data.limiter);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(self.deadline_ticks());
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(anyhow::Error::from)
            .context("instantiating the module")?;
        Guest::new(store, &instance, self.limits, self.deadline_ticks())
    }

    fn deadline_ticks(&self) -> u64 {
        let ticks = self.limits.call_timeout.as_millis() / TICK.as_millis();
        u64::try_from(ticks).unwrap_or(u64::MAX).saturating_add(1)
    }

    /// Stops the epoch ticker (also done on drop).
    pub fn shutdown(&mut self) {
        self.ticker.stop();
    }
}

/// Advances an engine's epoch every [`TICK`] on a background thread until stopped.
#[derive(Debug)]
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(TICK);
                engine.increment_epoch();
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop();
    }
}
