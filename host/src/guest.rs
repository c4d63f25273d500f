//! One guest instance, the limits it runs under, and the calls the host makes into it.
//!
//! Every value read back from the guest (pointers, lengths, documents) is checked against the
//! guest's memory with `Memory::write` and `Memory::data` + `get`, never trusted, and decoded by
//! the contract's codec (`trailtag_plugin::codec`): a broken or hostile module yields a
//! [`GuestFault`], not a host crash.
//!
//! Limits are enforced by mechanism. A [`GuestLimiter`] (wasmtime's `ResourceLimiter`) caps
//! linear memory, tables and the number of instances, memories and tables, and records when it
//! refuses a growth, so a fault is recognised as "out of memory" because the limiter said no,
//! not by reading an error message. Every call runs under an epoch deadline.

use std::io::{self, Write};
use std::time::Duration;

use anyhow::{Context, Result};
use trailtag_engine::BatchReport;
use trailtag_engine::edits::{self, Edit};
use trailtag_plugin::codec::{self, LoadReport, RuleInfo};
use trailtag_plugin::contract::{ABI_VERSION, Status, exports};
use wasmtime::{
    Instance, Memory, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder, Trap, TypedFunc,
};

/// Bounds applied to every guest instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestLimits {
    /// Largest linear memory a guest may grow to, in bytes.
    pub memory_bytes: usize,
    /// Longest a single call into the guest may run.
    pub call_timeout: Duration,
}

impl Default for GuestLimits {
    fn default() -> Self {
        Self {
            memory_bytes: 1 << 30,
            call_timeout: Duration::from_secs(30),
        }
    }
}

/// The most table elements a guest may have (the module needs a few hundred).
const MAX_TABLE_ELEMENTS: usize = 1 << 16;

/// Wasmtime's store limits, remembering the growth it refused.
#[derive(Debug)]
pub struct GuestLimiter {
    limits: StoreLimits,
    refused_memory: Option<usize>,
}

impl GuestLimiter {
    /// A limiter for one instance with one memory and one table.
    pub fn new(limits: &GuestLimits) -> Self {
        let limits = StoreLimitsBuilder::new()
            .memory_size(limits.memory_bytes)
            .table_elements(MAX_TABLE_ELEMENTS)
            .instances(1)
            .memories(1)
            .tables(1)
            .trap_on_grow_failure(true)
            .build();
        Self {
            limits,
            refused_memory: None,
        }
    }

    /// The memory size (bytes) the guest last asked for and was refused, once.
    fn take_refused_memory(&mut self) -> Option<usize> {
        self.refused_memory.take()
    }
}

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum);
        if !matches!(allowed, Ok(true)) {
            self.refused_memory = Some(desired);
        }
        allowed
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// What a store carries besides the instance.
#[derive(Debug)]
pub struct GuestData {
    pub(crate) limiter: GuestLimiter,
}

/// Why a call into the guest did not complete. After any fault but [`GuestFault::Status`] the
/// instance must be replaced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuestFault {
    /// The guest stopped with an internal error (a panic, an out-of-bounds access, ...).
    #[error("the module stopped with an internal error ({0})")]
    Trap(String),
    /// The call ran past its deadline.
    #[error("the module took longer than {} (--guest-timeout)", crate::units::show_duration(*.0))]
    Timeout(Duration),
    /// The guest needed more memory than it may have.
    #[error(
        "the module needed at least {} of memory, more than the {} it may use (--guest-memory)",
        crate::units::show_size(*.needed as u64),
        crate::units::show_size(*.limit as u64)
    )]
    OutOfMemory {
        /// The size it asked for, in bytes.
        needed: usize,
        /// The cap, in bytes.
        limit: usize,
    },
    /// The guest answered with an error status; the instance is still usable.
    #[error("the module refused ({}): {message}", status.name())]
    Status {
        /// The status.
        status: Status,
        /// The guest's error message.
        message: String,
    },
    /// The guest's answer does not follow the ABI (a region outside memory, a bad document).
    #[error("the module broke its contract: {0}")]
    Abi(String),
}

impl GuestFault {
    /// Whether the instance must be replaced after this fault.
    pub fn poisons_instance(&self) -> bool {
        !matches!(self, GuestFault::Status { .. })
    }
}

/// The result of one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutput {
    /// The guest's answer.
    pub answer: Answer,
    /// Its counts and per-line results, decoded from the guest's documents.
    pub report: BatchReport,
}

/// What the guest answered for a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The whole output (`tt_transform`).
    Whole(Vec<u8>),
    /// Edits to the batch (`tt_transform_edits`): the lines that changed, and where they go.
    /// Checked against the batch when read, so writing them cannot fail on their account.
    Edits {
        /// Where the replacements go, in input order.
        edits: Vec<Edit>,
        /// The changed lines as they leave.
        replacements: Vec<u8>,
    },
}

impl BatchOutput {
    /// Writes the output for `batch` (the bytes the guest was given) to `sink`: with edits,
    /// straight from the batch and the replacements, without assembling it.
    pub fn write_to(&self, batch: &[u8], sink: &mut (impl Write + ?Sized)) -> io::Result<()> {
        match &self.answer {
            Answer::Whole(output) => sink.write_all(output),
            Answer::Edits {
                edits,
                replacements,
            } => {
                let segments =
                    edits::segments(batch, edits, replacements).map_err(io::Error::other)?;
                segments
                    .iter()
                    .try_for_each(|segment| sink.write_all(segment))
            }
        }
    }

    /// The output for `batch` as one buffer.
    pub fn bytes(&self, batch: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing to a Vec cannot fail, and edits were checked when read.
        let _ = self.write_to(batch, &mut out);
        out
    }
}

struct RawAbi {
    abi_version: TypedFunc<(), u32>,
    alloc: TypedFunc<u32, u32>,
    free: TypedFunc<(u32, u32), ()>,
    configure: TypedFunc<(u32, u32), i32>,
    transform: TypedFunc<(u32, u32), i32>,
    /// The edit-answer transform and its table's getters (added within ABI version 1; older
    /// modules lack them and are answered by `transform`).
    transform_edits: Option<EditsAbi>,
    buffers: [(TypedFunc<(), u32>, TypedFunc<(), u32>); BUFFERS.len()],
    /// The load report's getters (added within ABI version 1; older modules lack them).
    load_report: Option<(TypedFunc<(), u32>, TypedFunc<(), u32>)>,
}

struct EditsAbi {
    transform: TypedFunc<(u32, u32), i32>,
    table: (TypedFunc<(), u32>, TypedFunc<(), u32>),
}

type FilterFn = TypedFunc<(u32, u32, u32, u32, u32, u32), u32>;

struct FluentBitAbi {
    malloc: TypedFunc<u32, u32>,
    free: TypedFunc<u32, ()>,
    filter: FilterFn,
    filter_only_matches: FilterFn,
}

/// The result buffers a host reads, with their getters' export names.
#[derive(Debug, Clone, Copy)]
enum BufferKind {
    Output = 0,
    Stats = 1,
    Unreadable = 2,
    Results = 3,
    Rules = 4,
    Error = 5,
}

const BUFFERS: [(&str, &str); 6] = [
    (exports::OUTPUT_PTR, exports::OUTPUT_LEN),
    (exports::STATS_PTR, exports::STATS_LEN),
    (exports::UNREADABLE_PTR, exports::UNREADABLE_LEN),
    (exports::RESULTS_PTR, exports::RESULTS_LEN),
    (exports::RULES_PTR, exports::RULES_LEN),
    (exports::ERROR_PTR, exports::ERROR_LEN),
];

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
        let mut buffers = Vec::with_capacity(BUFFERS.len());
        for (ptr, len) in BUFFERS {
            buffers.push((func(s, instance, ptr)?, func(s, instance, len)?));
        }
        let raw = RawAbi {
            abi_version: func(s, instance, exports::ABI_VERSION)?,
            alloc: func(s, instance, exports::ALLOC)?,
            free: func(s, instance, exports::FREE)?,
            configure: func(s, instance, exports::CONFIGURE)?,
            transform: func(s, instance, exports::TRANSFORM)?,
            transform_edits: Self::edits_abi(s, instance),
            buffers: buffers
                .try_into()
                .map_err(|_| anyhow::anyhow!("the module's result getters"))?,
            load_report: func(s, instance, exports::LOAD_REPORT_PTR)
                .ok()
                .zip(func(s, instance, exports::LOAD_REPORT_LEN).ok()),
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

    fn edits_abi(store: &mut Store<GuestData>, instance: &Instance) -> Option<EditsAbi> {
        Some(EditsAbi {
            transform: func(store, instance, exports::TRANSFORM_EDITS).ok()?,
            table: (
                func(store, instance, exports::EDITS_PTR).ok()?,
                func(store, instance, exports::EDITS_LEN).ok()?,
            ),
        })
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

    fn classify(&mut self, error: &wasmtime::Error) -> GuestFault {
        if let Some(needed) = self.store.data_mut().limiter.take_refused_memory() {
            return GuestFault::OutOfMemory {
                needed,
                limit: self.limits.memory_bytes,
            };
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => GuestFault::Timeout(self.limits.call_timeout),
            Some(trap) => GuestFault::Trap(trap_in_words(*trap)),
            None => GuestFault::Trap(format!("{error:#}")),
        }
    }

    /// Applies a configuration document (`docs/abi.md` section 3).
    pub fn configure(&mut self, document: &[u8]) -> Result<(), GuestFault> {
        let (ptr, len) = self.write_input(document)?;
        let code = self.call(|g| g.raw.configure.call(&mut g.store, (ptr, len)))?;
        self.check_status(code)
    }

    /// Transforms one NDJSON batch: answered with edits when the module can, else whole.
    pub fn transform(&mut self, batch: &[u8]) -> Result<BatchOutput, GuestFault> {
        let (ptr, len) = self.write_input(batch)?;
        let answer = match self
            .raw
            .transform_edits
            .as_ref()
            .map(|e| e.transform.clone())
        {
            Some(transform) => {
                let code = self.call(|g| transform.call(&mut g.store, (ptr, len)))?;
                self.check_status(code)?;
                self.read_edits(batch)?
            }
            None => {
                let code = self.call(|g| g.raw.transform.call(&mut g.store, (ptr, len)))?;
                self.check_status(code)?;
                Answer::Whole(self.read_buffer(BufferKind::Output)?)
            }
        };
        let report = self.read_report()?;
        Ok(BatchOutput { answer, report })
    }

    /// The last `tt_transform_edits` answer, checked against the batch it answers.
    fn read_edits(&mut self, batch: &[u8]) -> Result<Answer, GuestFault> {
        let Some((ptr_fn, len_fn)) = self.raw.transform_edits.as_ref().map(|e| e.table.clone())
        else {
            return Err(GuestFault::Abi("the module has no edit table".into()));
        };
        let table = self.read_region(&ptr_fn, &len_fn, "edit table")?;
        let edits = Edit::parse_table(&table).map_err(|e| GuestFault::Abi(e.to_string()))?;
        let replacements = self.read_buffer(BufferKind::Output)?;
        edits::segments(batch, &edits, &replacements)
            .map_err(|e| GuestFault::Abi(e.to_string()))?;
        Ok(Answer::Edits {
            edits,
            replacements,
        })
    }

    /// The last call's counts and per-line results (after a transform or a filter call).
    pub fn read_report(&mut self) -> Result<BatchReport, GuestFault> {
        let stats = self.read_buffer(BufferKind::Stats)?;
        let unreadable = self.read_buffer(BufferKind::Unreadable)?;
        let results = self.read_buffer(BufferKind::Results)?;
        codec::decode_report(&stats, &unreadable, &results).map_err(|e| GuestFault::Abi(e.0))
    }

    /// The loaded rules' metadata document (a JSON array).
    pub fn rules_document(&mut self) -> Result<Vec<u8>, GuestFault> {
        self.read_buffer(BufferKind::Rules)
    }

    /// The loaded rules, as hosts read them.
    pub fn rules(&mut self) -> Result<Vec<RuleInfo>, GuestFault> {
        codec::decode_rules(&self.rules_document()?).map_err(|e| GuestFault::Abi(e.0))
    }

    /// The last configuration's load report (empty for a module that has none).
    pub fn load_report(&mut self) -> Result<LoadReport, GuestFault> {
        let Some((ptr_fn, len_fn)) = self.raw.load_report.clone() else {
            return Ok(LoadReport::default());
        };
        let ptr = self.call(|g| ptr_fn.call(&mut g.store, ()))? as usize;
        let len = self.call(|g| len_fn.call(&mut g.store, ()))? as usize;
        let data = self.memory.data(&self.store);
        let document = ptr
            .checked_add(len)
            .and_then(|end| data.get(ptr..end))
            .ok_or_else(|| GuestFault::Abi(format!("load report {ptr}+{len} outside memory")))?;
        codec::decode_load_report(document).map_err(|e| GuestFault::Abi(e.0))
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
            return Err(self.allocation_refused(size));
        }
        self.write_at(ptr, bytes)?;
        self.write_at(ptr + size - 1, &[0])?;
        Ok(ptr)
    }

    /// An allocation the guest answered with 0: the limiter says how much it asked for.
    fn allocation_refused(&mut self, size: u32) -> GuestFault {
        let needed = self
            .store
            .data_mut()
            .limiter
            .take_refused_memory()
            .unwrap_or_else(|| self.memory_size() + size as usize);
        GuestFault::OutOfMemory {
            needed,
            limit: self.limits.memory_bytes,
        }
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
            return Err(self.allocation_refused(capacity));
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
        let (ptr_fn, len_fn) = self.raw.buffers[kind as usize].clone();
        self.read_region(&ptr_fn, &len_fn, &format!("{kind:?} buffer"))
    }

    /// The bytes a pair of getters points at.
    fn read_region(
        &mut self,
        ptr_fn: &TypedFunc<(), u32>,
        len_fn: &TypedFunc<(), u32>,
        what: &str,
    ) -> Result<Vec<u8>, GuestFault> {
        let ptr = self.call(|g| ptr_fn.call(&mut g.store, ()))? as usize;
        let len = self.call(|g| len_fn.call(&mut g.store, ()))? as usize;
        let data = self.memory.data(&self.store);
        let region = ptr.checked_add(len).and_then(|end| data.get(ptr..end));
        region
            .map(<[u8]>::to_vec)
            .ok_or_else(|| GuestFault::Abi(format!("{what} {ptr}+{len} outside memory")))
    }

    /// Bytes of linear memory the instance currently has.
    pub fn memory_size(&self) -> usize {
        self.memory.data_size(&self.store)
    }
}

/// What a trap means, for someone who runs the module rather than writes it.
fn trap_in_words(trap: Trap) -> String {
    match trap {
        Trap::UnreachableCodeReached => "it panicked".to_owned(),
        Trap::StackOverflow => "its stack overflowed".to_owned(),
        Trap::MemoryOutOfBounds | Trap::TableOutOfBounds => {
            "it accessed memory outside its own".to_owned()
        }
        Trap::IntegerDivisionByZero | Trap::IntegerOverflow | Trap::BadConversionToInteger => {
            "an arithmetic error".to_owned()
        }
        other => format!("trap: {other}"),
    }
}

fn len_u32(bytes: &[u8]) -> Result<u32, GuestFault> {
    u32::try_from(bytes.len()).map_err(|_| GuestFault::Abi("more than 4 GiB in one call".into()))
}
