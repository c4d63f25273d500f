//! trailtag's detection engine: pure logic, no I/O, the same code natively and in WebAssembly.
//!
//! The engine turns rule files into a [`Detector`] once, then decides records one at a time:
//!
//! 1. **Parse and compile** ([`DetectorBuilder::build`]): each rule file (TOML, see
//!    [`rule`]) is parsed, its query compiled ([`query`]), its metadata checked. Every mistake
//!    is reported with file, line and rule id, before any record is read.
//! 2. **Scan** (`prefilter`): each rule is indexed by a field it pins (usually `eventName`).
//!    A record is scanned for those fields' bytes; most records match nothing and leave here,
//!    unparsed and untouched.
//! 3. **Evaluate**: candidates are parsed once ([`json::Json`]) and their candidate rules
//!    evaluated (two-valued, EQL semantics).
//! 4. **Tag** (`tag`): a matching record gets one member, `"trailtag"`, spliced into its
//!    original bytes; nothing else in it changes.
//!
//! [`Detector::transform_ndjson`] runs that over a batch of NDJSON and is the one function the
//! WebAssembly ABIs wrap.
//!
//! ```
//! use trailtag_engine::{Detector, Options, Scratch, Verdict};
//!
//! let detector = Detector::builtin()?;
//! let record = br#"{"eventSource":"iam.amazonaws.com","eventName":"CreateGroup","requestParameters":{"groupName":"ops"}}"#;
//! let mut out = Vec::new();
//! let verdict = detector.tag_record(record, &Options::default(), &mut Scratch::default(), &mut out);
//! assert_eq!(verdict, Verdict::Tagged);
//! let tagged: serde_json::Value = serde_json::from_slice(&out)?;
//! assert_eq!(tagged["trailtag"]["detections"][0]["id"], "iam_group_created");
//! assert_eq!(tagged["trailtag"]["context"]["group_name"], "ops");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod builtin;
mod condition;
mod context;
mod detector;
pub mod envelope;
mod error;
pub mod json;
mod path;
mod prefilter;
pub mod query;
pub mod rule;
mod scan;
mod tag;
mod transform;

pub use builtin::sources as builtin_sources;
pub use context::BASE_CONTEXT;
pub use detector::{
    Detector, DetectorBuilder, ExampleFailure, NOT_AN_OBJECT, Options, RuleSource, Scratch, Verdict,
};
pub use error::{Error, RuleError, RuleErrorKind};
pub use path::FieldPath;
pub use rule::{Example, Rule, RuleMeta, Severity, Threat};
pub use tag::{TAG_KEY, TAG_SCHEMA_VERSION};
pub use transform::{BatchReport, Counts, UnreadableLine, lines};
