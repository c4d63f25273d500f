//! trailtag's detection engine: pure logic, no I/O, the same code natively and in WebAssembly.
//!
//! The flow, one folder or file per step:
//!
//! 1. **Front ends** ([`frontend`]): rule files (the native TOML format today) are parsed,
//!    checked and lowered into compiled [`Rule`]s. Every mistake is reported with file, line,
//!    column and rule id, before any record is read.
//! 2. **IR** ([`ir`]): every condition is one tree of typed tests with documented semantics
//!    (absence, case folding, array quantifiers), whatever language it was written in.
//! 3. **Optimiser** ([`ir::optimise`]): equality disjunctions become sets, shared conjuncts are
//!    hoisted, cheap tests go first.
//! 4. **Pins** ([`ir::pins`]): the necessary conditions of each optimised rule that raw bytes can
//!    show.
//! 5. **Scan** (`scan`): a record is searched for its pins' bytes; most records match nothing
//!    and leave here, unparsed and untouched.
//! 6. **Document** ([`document`]): candidates are parsed once ([`json::Json`]) and rules read
//!    their fields through the document interface.
//! 7. **Findings** ([`findings`]): which rules matched, the context values, a tag the record
//!    arrived with; or why the record is unreadable.
//! 8. **Writers** ([`output`]): findings become bytes, spliced into the original record.
//!
//! [`Detector::transform_ndjson`] runs that over a batch of NDJSON and is the one function the
//! WebAssembly ABIs wrap; [`framing`] cuts streams of other shapes into records for hosts.
//!
//! ```
//! use trailtag_engine::{Detector, Options, Scratch, Verdict};
//!
//! let detector = Detector::builtin()?;
//! let record = br#"{"eventSource":"iam.amazonaws.com","eventName":"CreateGroup","requestParameters":{"groupName":"ops"}}"#;
//! let mut scratch = Scratch::default();
//! let verdict = detector.detect(record, &Options::default(), &mut scratch);
//! assert_eq!(verdict, Verdict::Tagged);
//! assert_eq!(detector.rules()[scratch.matched()[0] as usize].id(), "iam_group_created");
//!
//! let mut out = Vec::new();
//! detector.tag_record(record, &Options::default(), &mut scratch, &mut out);
//! let tagged: serde_json::Value = serde_json::from_slice(&out)?;
//! assert_eq!(tagged["trailtag"]["detections"][0]["id"], "iam_group_created");
//! assert_eq!(tagged["trailtag"]["context"]["group_name"], "ops");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod attack;
mod catalogue;
pub mod context;
mod detector;
pub mod document;
pub mod ecs;
pub mod edits;
pub mod envelope;
mod error;
pub mod explain;
pub mod findings;
pub mod framing;
pub mod frontend;
pub mod hygiene;
pub mod ir;
pub mod json;
pub mod output;
mod path;
pub mod rule;
mod scan;
mod transform;

pub use context::BASE_CONTEXT;
pub use detector::{Detector, DetectorBuilder, ExampleFailure, Options, Scratch, Verdict};
pub use error::{Error, RuleError, RuleErrorKind};
pub use findings::{Detection, Findings, Reason, TAG_KEY, Unreadable};
pub use frontend::RuleSource;
pub use frontend::builtin::sources as builtin_sources;
pub use frontend::query;
pub use frontend::sigma::Placeholders;
pub use output::trailtag::TAG_SCHEMA_VERSION;
pub use path::FieldPath;
pub use rule::{Example, Rule, RuleFormat, RuleMeta, Severity, Threat};
pub use transform::{BatchReport, Counts, TaggedLine, UnreadableLine, lines};
