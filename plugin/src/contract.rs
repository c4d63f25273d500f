//! The ABI contract shared by the guest (this crate) and every host: version, export names,
//! status codes and the layout of the statistics block. `docs/abi.md` is the prose version;
//! [`crate::codec`] encodes and decodes every document that crosses the boundary.
//!
//! Hosts written in Rust use these constants and the codec directly (the `trailtag` CLI does),
//! so guest and host cannot disagree about a number or a layout.

/// Version of the raw ABI. Incremented on any incompatible change to exports, status codes or
/// the statistics layout. Hosts must check it before anything else.
pub const ABI_VERSION: u32 = 1;

/// Export names of the raw ABI.
pub mod exports {
    /// `() -> i32`: the ABI version.
    pub const ABI_VERSION: &str = "tt_abi_version";
    /// `(len: i32) -> i32`: allocates `len` bytes in guest memory; 0 on failure.
    pub const ALLOC: &str = "tt_alloc";
    /// `(ptr: i32, len: i32)`: frees what `tt_alloc(len)` returned.
    pub const FREE: &str = "tt_free";
    /// `(ptr: i32, len: i32) -> i32`: applies a configuration document; a status.
    pub const CONFIGURE: &str = "tt_configure";
    /// `(ptr: i32, len: i32) -> i32`: transforms a batch of NDJSON; a status.
    pub const TRANSFORM: &str = "tt_transform";
    /// `(ptr: i32, len: i32) -> i32`: transforms a batch of NDJSON, answering with edits to it
    /// (the changed lines in the output buffer, where they go in the edit table); a status.
    pub const TRANSFORM_EDITS: &str = "tt_transform_edits";
    /// `() -> i32`: where the last `tt_transform_edits` call's edit table starts.
    pub const EDITS_PTR: &str = "tt_edits_ptr";
    /// `() -> i32`: its length in bytes (16 per edit).
    pub const EDITS_LEN: &str = "tt_edits_len";
    /// `() -> i32`: where the last batch's output starts.
    pub const OUTPUT_PTR: &str = "tt_output_ptr";
    /// `() -> i32`: the last batch's output length.
    pub const OUTPUT_LEN: &str = "tt_output_len";
    /// `() -> i32`: where the statistics block starts.
    pub const STATS_PTR: &str = "tt_stats_ptr";
    /// `() -> i32`: the statistics block's length in bytes.
    pub const STATS_LEN: &str = "tt_stats_len";
    /// `() -> i32`: where the last batch's unreadable-line report starts.
    pub const UNREADABLE_PTR: &str = "tt_unreadable_ptr";
    /// `() -> i32`: its length.
    pub const UNREADABLE_LEN: &str = "tt_unreadable_len";
    /// `() -> i32`: where the last call's results document (JSON) starts.
    pub const RESULTS_PTR: &str = "tt_results_ptr";
    /// `() -> i32`: its length.
    pub const RESULTS_LEN: &str = "tt_results_len";
    /// `() -> i32`: where the loaded rules' metadata (JSON) starts.
    pub const RULES_PTR: &str = "tt_rules_ptr";
    /// `() -> i32`: its length.
    pub const RULES_LEN: &str = "tt_rules_len";
    /// `() -> i32`: where the last configuration's load report (JSON) starts.
    pub const LOAD_REPORT_PTR: &str = "tt_load_report_ptr";
    /// `() -> i32`: its length.
    pub const LOAD_REPORT_LEN: &str = "tt_load_report_len";
    /// `() -> i32`: where the last error message starts.
    pub const ERROR_PTR: &str = "tt_error_ptr";
    /// `() -> i32`: its length.
    pub const ERROR_LEN: &str = "tt_error_len";
    /// Fluent Bit filter, keeping records that match nothing.
    pub const FLUENT_BIT_FILTER: &str = "trailtag_filter";
    /// Fluent Bit filter, dropping records that match nothing.
    pub const FLUENT_BIT_FILTER_ONLY_MATCHES: &str = "trailtag_filter_only_matches";
}

/// The first 8 bytes of the 16-byte slot a module carries for a baked configuration
/// (`crate::baked`): then its address and length as little-endian `u32`s, zero until
/// `trailtag module` bakes one.
pub const BAKED_MAGIC: &[u8; 8] = b"TT-BAKED";

/// Status codes returned by `tt_configure` and `tt_transform`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Status {
    /// Success.
    Ok = 0,
    /// A pointer/length pair does not lie inside guest memory.
    InvalidArgument = 1,
    /// The configuration document is not valid JSON of the expected shape.
    InvalidConfig = 2,
    /// One or more rules failed to load; the previous configuration stays in force.
    RuleError = 3,
}

impl Status {
    /// The status a host received, if it is one of ours.
    pub fn from_code(code: i32) -> Option<Status> {
        [
            Status::Ok,
            Status::InvalidArgument,
            Status::InvalidConfig,
            Status::RuleError,
        ]
        .into_iter()
        .find(|s| *s as i32 == code)
    }

    /// The status's name in `docs/abi.md`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::InvalidArgument => "INVALID_ARGUMENT",
            Status::InvalidConfig => "INVALID_CONFIG",
            Status::RuleError => "RULE_ERROR",
        }
    }
}

/// Slots of the statistics block: little-endian `u64`s, in this order, then one `u64` per rule
/// (matches, in the order of the rules document).
pub mod stats {
    /// Non-blank lines read.
    pub const RECORDS_IN: usize = 0;
    /// Lines written (records and blank lines).
    pub const LINES_OUT: usize = 1;
    /// Records tagged.
    pub const TAGGED: usize = 2;
    /// Lines that are not JSON objects (passed through).
    pub const UNREADABLE: usize = 3;
    /// Blank lines.
    pub const BLANK: usize = 4;
    /// Number of rules, N; N per-rule counters follow.
    pub const RULE_COUNT: usize = 5;
    /// Index of the first per-rule counter.
    pub const FIRST_RULE: usize = 6;
}
