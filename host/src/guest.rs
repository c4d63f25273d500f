//! One guest instance and the calls the host makes into it, with checked memory access.
//!
//! Every value read back from the guest (pointers, lengths, the statistics block) is checked
//! against the guest's memory with `Memory::read`/`Memory::data` + `get`, never trusted: a
//! broken or hostile module yields a [`GuestFault`], not a host crash.

use std::time::Duration;

use anyhow::{Context, Result};
use trailtag_engine::Counts;
use trailtag_plugin::contract::{ABI_VERSION, Status, exports, stats};
use wasmtime::{Instance, Memory, Store, StoreLimits, Trap, TypedFunc};

use crate::runtime::GuestLimits;

/// What a store carries besides the instance.
#[derive(Debug)]
pub struct GuestData {
    pub(crate) limits: StoreLimits,
}

/// Why a call into the guest did not complete. After any fault but [`GuestFault::Status`] the
/// instance must be replaced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuestFault {
    /// The guest trapped (a panic, an out-of-bounds access, ...).
    #[error("the guest trapped: {0}")]
    Trap(String),
    /// The call ran past its deadline.
    #[error("the guest ran longer than {0:?}")]
    Timeout(Duration),
    /// The guest tried to grow its memory past the cap.
    #[error("the guest needed more than {0} bytes of memory")]
    OutOfMemory(usize),
    /// The guest answered with an error status; the instance is still usable.
    #[error("the guest returned {}: {message}", status.name())]
    Status {
        /// The status.
        status: Status,
        /// The guest's error message.
        message: String,
    },
    /// The guest's answer does not follow the ABI (a region outside memory, a bad block).
    #[error("the guest broke the ABI: {0}")]
    Abi(String),
}

impl GuestFault {
    /// Whether the instance must be replaced after this fault.
    pub fn poisons_instance(&self) -> bool {
        !matches!(self, GuestFault::Status { .. })
    }
}

/// The result of one batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutput {
    /// The NDJSON the guest wrote.
    pub output: Vec<u8>,
    /// Its counts (the statistics block, `docs/abi.md` section 5).
    pub stats: Counts,
    /// `(line index within the batch, reason)` for every unreadable line.
    pub unreadable: Vec<(u64, String)>,
}

struct RawAbi {
    abi_version: TypedFunc<(), u32>,
    alloc: TypedFunc<u32, u32>,
    free: TypedFunc<(u32, u32), ()>,
    configure: TypedFunc<(u32, u32), i32>,
    transform: TypedFunc<(u32, u32), i32>,
    output: (TypedFunc<(), u32>, TypedFunc<(), u32>),
    stats: (TypedFunc<(), u32>, TypedFunc<(), u32>),
    unreadable: (TypedFunc<(), u32>, TypedFunc<(), u32>),
    rules: (TypedFunc<(), u32>, TypedFunc<(), u32>),
    error: (TypedFunc<(), u32>, TypedFunc<(), u32>),
}

type FilterFn = TypedFunc<(u32, u32, u32, u32, u32, u32), u32>;

struct FluentBitAbi {
    malloc: TypedFunc<u32, u32>,
    free: TypedFunc<u32, ()>,
    filter: FilterFn,
    filter_only_matches: FilterFn,
}

/// A live guest instance.
pub struct Guest {
    store: Store<GuestData>,
    memory: Memory,
    raw: RawAbi,
    fluent_bit: Option<FluentBitAbi>,
    input: Option<(u32, u32)>,
    limits: GuestLimits,
    deadline_ticks: u64,
}

impl std::fmt::Debug for Guest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guest")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn func<P: wasmtime::WasmParams, R: wasmtime::WasmResults>(
    store: &mut Store<GuestData>,
    instance: &Instance,
    name: &str,
) -> Result<TypedFunc<P, R>> {
    instance
        .get_typed_func(&mut *store, name)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("the module's export `{name}`"))
}

impl Guest {
    pub(crate) fn new(
        mut store: Store<GuestData>,
        instance: &Instance,
        limits: GuestLimits,
        deadline_ticks: u64,
    ) -> Result<Self> {
        let memory = instance
            .get_memory(&mut store, "memory")
            .context("the module exports no `memory`")?;
        let s = &mut store;
        let raw = RawAbi {
            abi_version: func(s, instance, exports::ABI_VERSION)?,
            alloc: func(s, instance, exports::ALLOC)?,
            free: func(s, instance, exports::FREE)?,
            configure: func(s, instance, exports::CONFIGURE)?,
            transform: func(s, instance, exports::TRANSFORM)?,
            output: (
                func(s, instance, exports::OUTPUT_PTR)?,
                func(s, instance, exports::OUTPUT_LEN)?,
            ),
            stats: (
                func(s, instance, exports::STATS_PTR)?,
                func(s, instance, exports::STATS_LEN)?,
            ),
            unreadable: (
                func(s, instance, exports::UNREADABLE_PTR)?,
                func(s, instance, exports::UNREADABLE_LEN)?,
            ),
            rules: (
                func(s, instance, exports::RULES_PTR)?,
                func(s, instance, exports::RULES_LEN)?,
            ),
            error: (
                func(s, instance, exports::ERROR_PTR)?,
                func(s, instance, exports::ERROR_LEN)?,
            ),
        };
        let fluent_bit = Self::fluent_bit_abi(s, instance);
        let mut guest = Self {
            store,
            memory,
            raw,
            fluent_bit,
            input: None,
            limits,
            deadline_ticks,
        };
        let version = guest.call(|g| g.raw.abi_version.call(&mut g.store, ()))?;
        anyhow::ensure!(
            version == ABI_VERSION,
            "the module speaks ABI version {version}; this host speaks {ABI_VERSION}"
        );
        Ok(guest)
    }

    fn fluent_bit_abi(store: &mut Store<GuestData>, instance: &Instance) -> Option<FluentBitAbi> {
        Some(FluentBitAbi {
            malloc: func(store, instance, "malloc").ok()?,
            free: func(store, instance, "free").ok()?,
            filter: func(store, instance, exports::FLUENT_BIT_FILTER).ok()?,
            filter_only_matches: func(store, instance, exports::FLUENT_BIT_FILTER_ONLY_MATCHES)
                .ok()?,
        })
    }

    /// Runs one guest call under a fresh deadline and classifies a failure.
    fn call<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> wasmtime::Result<T>,
    ) -> Result<T, GuestFault> {
        self.store.set_epoch_deadline(self.deadline_ticks);
        f(self).map_err(|e| self.classify(&e))
    }

    fn classify(&self, error: &wasmtime::Error) -> GuestFault {
        if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            return GuestFault::Timeout(self.limits.call_timeout);
        }
        let text = format!("{error:#}");
        if text.contains("forcing trap when growing memory") || text.contains("memory minimum size")
        {
            return GuestFault::OutOfMemory(self.limits.memory_bytes);
        }
        GuestFault::Trap(
            error
                .downcast_ref::<Trap>()
                .map_or(text, ToString::to_string),
        )
    }

    /// Applies a configuration document (`docs/abi.md`).
    pub fn configure(&mut self, document: &[u8]) -> Result<(), GuestFault> {
        let (ptr, len) = self.write_input(document)?;
        let code = self.call(|g| g.raw.configure.call(&mut g.store, (ptr, len)))?;
        self.check_status(code)
    }

    /// Transforms one NDJSON batch.
    pub fn transform(&mut self, batch: &[u8]) -> Result<BatchOutput, GuestFault> {
        let (ptr, len) = self.write_input(batch)?;
        let code = self.call(|g| g.raw.transform.call(&mut g.store, (ptr, len)))?;
        self.check_status(code)?;
        let output = self.read_buffer(BufferKind::Output)?;
        let stats = parse_stats(&self.read_buffer(BufferKind::Stats)?)?;
        let unreadable = parse_unreadable(&self.read_buffer(BufferKind::Unreadable)?);
        Ok(BatchOutput {
            output,
            stats,
            unreadable,
        })
    }

    /// The loaded rules' metadata document (a JSON array).
    pub fn rules_document(&mut self) -> Result<Vec<u8>, GuestFault> {
        self.read_buffer(BufferKind::Rules)
    }

    /// Whether the module exports Fluent Bit's filter ABI.
    pub fn has_fluent_bit_abi(&self) -> bool {
        self.fluent_bit.is_some()
    }

    /// Calls the Fluent Bit filter exactly as Fluent Bit v5.1.1 does: the tag and the record are
    /// copied into memory from the module's `malloc`, NUL-terminated, the filter is called, the
    /// returned NUL-terminated string is copied out, and both copies are freed with `free`.
    /// An empty answer means "drop the record".
    pub fn fluent_bit_filter(
        &mut self,
        tag: &[u8],
        record: &[u8],
        only_matches: bool,
    ) -> Result<Vec<u8>, GuestFault> {
        let tag_ptr = self.fb_dup(tag)?;
        let record_ptr = self.fb_dup(record)?;
        let (tag_len, record_len) = (len_u32(tag)?, len_u32(record)?);
        let answer = self.call(|g| {
            let abi = g
                .fluent_bit
                .as_ref()
                .ok_or_else(|| wasmtime::Error::msg("no Fluent Bit ABI"))?;
            let filter = if only_matches {
                &abi.filter_only_matches
            } else {
                &abi.filter
            };
            filter.call(
                &mut g.store,
                (tag_ptr, tag_len, 0, 0, record_ptr, record_len),
            )
        })?;
        let result = self.read_c_string(answer);
        self.fb_free(tag_ptr)?;
        self.fb_free(record_ptr)?;
        result
    }

    fn fb_dup(&mut self, bytes: &[u8]) -> Result<u32, GuestFault> {
        let size = len_u32(bytes)?
            .checked_add(1)
            .ok_or_else(|| GuestFault::Abi("record too large".into()))?;
        let ptr = self.call(|g| match &g.fluent_bit {
            Some(abi) => abi.malloc.call(&mut g.store, size),
            None => Err(wasmtime::Error::msg(
                "the module has no Fluent Bit ABI (malloc)",
            )),
        })?;
        if ptr == 0 {
            return Err(GuestFault::OutOfMemory(self.limits.memory_bytes));
        }
        self.write_at(ptr, bytes)?;
        self.write_at(ptr + size - 1, &[0])?;
        Ok(ptr)
    }

    fn fb_free(&mut self, ptr: u32) -> Result<(), GuestFault> {
        self.call(|g| match &g.fluent_bit {
            Some(abi) => abi.free.call(&mut g.store, ptr),
            None => Ok(()),
        })
    }

    fn read_c_string(&self, ptr: u32) -> Result<Vec<u8>, GuestFault> {
        let data = self.memory.data(&self.store);
        let tail = data
            .get(ptr as usize..)
            .ok_or_else(|| GuestFault::Abi(format!("answer pointer {ptr} outside memory")))?;
        let len = tail
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| GuestFault::Abi("answer is not NUL-terminated".into()))?;
        Ok(tail[..len].to_vec())
    }

    fn write_input(&mut self, bytes: &[u8]) -> Result<(u32, u32), GuestFault> {
        let len = len_u32(bytes)?;
        let ptr = match self.input {
            Some((ptr, capacity)) if capacity >= len => ptr,
            previous => self.grow_input(previous, len)?,
        };
        self.write_at(ptr, bytes)?;
        Ok((ptr, len))
    }

    fn grow_input(&mut self, previous: Option<(u32, u32)>, len: u32) -> Result<u32, GuestFault> {
        if let Some((ptr, capacity)) = previous {
            self.input = None;
            self.call(|g| g.raw.free.call(&mut g.store, (ptr, capacity)))?;
        }
        let capacity = len
            .max(64 * 1024)
            .checked_next_power_of_two()
            .unwrap_or(len);
        let ptr = self.call(|g| g.raw.alloc.call(&mut g.store, capacity))?;
        if ptr == 0 {
            return Err(GuestFault::OutOfMemory(self.limits.memory_bytes));
        }
        self.input = Some((ptr, capacity));
        Ok(ptr)
    }

    fn write_at(&mut self, ptr: u32, bytes: &[u8]) -> Result<(), GuestFault> {
        self.memory
            .write(&mut self.store, ptr as usize, bytes)
            .map_err(|_| GuestFault::Abi(format!("region {ptr}+{} outside memory", bytes.len())))
    }

    fn check_status(&mut self, code: i32) -> Result<(), GuestFault> {
        match Status::from_code(code) {
            Some(Status::Ok) => Ok(()),
            Some(status) => {
                let message =
                    String::from_utf8_lossy(&self.read_buffer(BufferKind::Error)?).into_owned();
                Err(GuestFault::Status { status, message })
            }
            None => Err(GuestFault::Abi(format!("unknown status code {code}"))),
        }
    }

    fn read_buffer(&mut self, kind: BufferKind) -> Result<Vec<u8>, GuestFault> {
        let (ptr_fn, len_fn) = match kind {
            BufferKind::Output => self.raw.output.clone(),
            BufferKind::Stats => self.raw.stats.clone(),
            BufferKind::Unreadable => self.raw.unreadable.clone(),
            BufferKind::Rules => self.raw.rules.clone(),
            BufferKind::Error => self.raw.error.clone(),
        };
        let ptr = self.call(|g| ptr_fn.call(&mut g.store, ()))? as usize;
        let len = self.call(|g| len_fn.call(&mut g.store, ()))? as usize;
        let data = self.memory.data(&self.store);
        let region = ptr.checked_add(len).and_then(|end| data.get(ptr..end));
        region
            .map(<[u8]>::to_vec)
            .ok_or_else(|| GuestFault::Abi(format!("{kind:?} buffer {ptr}+{len} outside memory")))
    }

    /// Bytes of linear memory the instance currently has.
    pub fn memory_size(&self) -> usize {
        self.memory.data_size(&self.store)
    }
}

#[derive(Debug, Clone, Copy)]
enum BufferKind {
    Output,
    Stats,
    Unreadable,
    Rules,
    Error,
}

fn len_u32(bytes: &[u8]) -> Result<u32, GuestFault> {
    u32::try_from(bytes.len()).map_err(|_| GuestFault::Abi("more than 4 GiB in one call".into()))
}

fn parse_stats(block: &[u8]) -> Result<Counts, GuestFault> {
    let slots: Vec<u64> = block
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect();
    let bad = || {
        GuestFault::Abi(format!(
            "statistics block of {} bytes is malformed",
            block.len()
        ))
    };
    let rule_count =
        usize::try_from(*slots.get(stats::RULE_COUNT).ok_or_else(bad)?).map_err(|_| bad())?;
    if !block.len().is_multiple_of(8) || slots.len() != stats::FIRST_RULE + rule_count {
        return Err(bad());
    }
    Ok(Counts {
        records_in: slots[stats::RECORDS_IN],
        records_out: slots[stats::RECORDS_OUT],
        tagged: slots[stats::TAGGED],
        unreadable: slots[stats::UNREADABLE],
        blank: slots[stats::BLANK],
        per_rule: slots[stats::FIRST_RULE..].to_vec(),
    })
}

fn parse_unreadable(report: &[u8]) -> Vec<(u64, String)> {
    String::from_utf8_lossy(report)
        .lines()
        .filter_map(|line| {
            let (index, reason) = line.split_once('\t')?;
            Some((index.parse().ok()?, reason.to_owned()))
        })
        .collect()
}
