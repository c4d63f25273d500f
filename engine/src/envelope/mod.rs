//! Envelopes: CloudTrail records as they travel, and where the record sits inside each.
//!
//! A record reaches a shipper bare, or inside something: an EventBridge event (`detail`), a
//! Splunk HEC event (`event`), a shipper's own string field (`{"log":"{...}"}`), a CloudWatch
//! Logs subscription payload (`logEvents[].message`, each a JSON string), the same payload
//! gzip-compressed and base64-encoded for a Lambda (`awslogs.data`), a Firehose transformation
//! batch (`records[].data`, base64, possibly a gzip CloudWatch Logs payload inside), an S3
//! delivery body on one line (`Records[]`), the LookupEvents API's output
//! (`Events[].CloudTrailEvent`, strings) or a JSON array of any of these.
//!
//! [`classify`] names the shape of one document from its top-level keys, and [`slots`] finds
//! where its records sit: a byte span and how the record is written there ([`Encoding`]).
//! [`Opened::decode`] takes the record out and [`Opened::encode`] writes a tagged record back in
//! the same encoding, so that the envelope leaves with the tag *inside* it and every other byte
//! as it came. The driver (`crate::transform`) recurses: what a slot holds is classified again,
//! so a Firehose batch of CloudWatch Logs payloads of records is three levels, each opened the
//! same way, at most [`MAX_DEPTH`] deep.
//!
//! Cost. A bare record whose first member is `eventVersion` (every record CloudTrail writes)
//! is known without reading further, so the fast path is unchanged for it. Any other object has
//! its top-level members walked once (a byte scan, no parse) to find its shape. Only envelopes
//! are parsed as a whole (to validate them before their bytes are cut), and a record inside a
//! string or base64 is decoded before the scan; a record inside an object is scanned in place.
//!
//! This module only reads and writes bytes; it knows nothing of rules.

mod encoding;
mod projection;

pub use encoding::{MAX_UNPACKED, Opened};
pub use projection::{Projection, Schema, project};

use std::ops::Range;

use crate::scan::bytes::{MemberSpan, object_members, skip_value, skip_ws};

/// Envelopes nest at most this deep (Firehose → CloudWatch Logs → record is 2).
pub const MAX_DEPTH: u8 = 4;

/// What one document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A record itself; `cloudtrail` when it has CloudTrail's `eventSource`/`eventName` (or
    /// starts with `eventVersion`).
    Record {
        /// Whether it looks like a CloudTrail record.
        cloudtrail: bool,
    },
    /// An EventBridge event: the record in `detail`.
    EventBridge,
    /// A Splunk HTTP Event Collector event: the record in `event` (object or string).
    SplunkHec,
    /// A shipper's record holding the CloudTrail record as a JSON string in one of
    /// [`SHIPPER_FIELDS`] (Fluent Bit's `log`, Docker's `log`, a syslog `message`).
    ShipperField,
    /// A CloudWatch Logs subscription payload: records in `logEvents[].message`, as strings.
    CloudWatchLogs,
    /// What a Lambda subscribed to CloudWatch Logs receives: `awslogs.data`, base64 of a gzip
    /// CloudWatch Logs payload.
    CloudWatchLogsLambda,
    /// A Kinesis Data Firehose data-transformation request or response: `records[].data`,
    /// base64.
    Firehose,
    /// An S3 delivery body on one line: `Records[]`.
    S3Records,
    /// `aws cloudtrail lookup-events` output: `Events[].CloudTrailEvent`, strings.
    LookupEvents,
    /// A JSON array: each element is a document.
    Array,
    /// One record of a Lambda event from SQS, SNS or Kinesis (`"eventSource":"aws:sqs"` …, in a
    /// `Records` array): the record in `body`, `Sns.Message` (strings) or `kinesis.data`
    /// (base64).
    LambdaRecord,
    /// An ECS document from Elastic's AWS integration (`event.provider`, `aws.cloudtrail.*`):
    /// read through its projection ([`project`]), tagged at its top level.
    Ecs,
    /// An OCSF record as Security Lake writes it (`class_uid`, `api.*`): read and tagged
    /// like [`Shape::Ecs`].
    Ocsf,
}

impl Shape {
    /// Every envelope shape, in the order of counters.
    pub const ENVELOPES: [Shape; 12] = [
        Shape::EventBridge,
        Shape::SplunkHec,
        Shape::ShipperField,
        Shape::CloudWatchLogs,
        Shape::CloudWatchLogsLambda,
        Shape::Firehose,
        Shape::S3Records,
        Shape::LookupEvents,
        Shape::Array,
        Shape::LambdaRecord,
        Shape::Ecs,
        Shape::Ocsf,
    ];

    /// The stable name used in reports and counters.
    pub fn code(self) -> &'static str {
        match self {
            Shape::Record { .. } => "record",
            Shape::EventBridge => "eventbridge",
            Shape::SplunkHec => "splunk_hec",
            Shape::ShipperField => "shipper_field",
            Shape::CloudWatchLogs => "cloudwatch_logs",
            Shape::CloudWatchLogsLambda => "cloudwatch_logs_lambda",
            Shape::Firehose => "firehose",
            Shape::S3Records => "s3_records",
            Shape::LookupEvents => "lookup_events",
            Shape::Array => "array",
            Shape::LambdaRecord => "lambda_record",
            Shape::Ecs => "ecs",
            Shape::Ocsf => "ocsf",
        }
    }

    /// The shape with this code (envelopes only).
    pub fn from_code(code: &str) -> Option<Shape> {
        Shape::ENVELOPES.into_iter().find(|s| s.code() == code)
    }

    /// The shape a user may force by code: `record` or an envelope's.
    pub fn forced(code: &str) -> Option<Shape> {
        match code {
            "record" => Some(Shape::Record { cloudtrail: false }),
            _ => Shape::from_code(code),
        }
    }

    /// Every code [`Shape::forced`] accepts.
    pub fn forced_codes() -> Vec<&'static str> {
        let mut codes = vec!["record"];
        codes.extend(Shape::ENVELOPES.iter().map(|s| s.code()));
        codes
    }

    /// The schema of a document read through a projection.
    pub fn schema(self) -> Option<Schema> {
        match self {
            Shape::Ecs => Some(Schema::Ecs),
            Shape::Ocsf => Some(Schema::Ocsf),
            _ => None,
        }
    }

    /// Its position in [`Shape::ENVELOPES`] (`None` for a record).
    pub fn index(self) -> Option<usize> {
        Shape::ENVELOPES.iter().position(|s| *s == self)
    }
}

/// The string fields a shipper may carry a whole record in, in the order they are tried.
pub const SHIPPER_FIELDS: [&str; 7] = [
    "log", "message", "MESSAGE", "msg", "Message", "body", "_raw",
];

/// Members whose presence beside `event` makes an object a Splunk HEC event.
const HEC_MEMBERS: [&str; 6] = ["sourcetype", "source", "host", "time", "index", "fields"];

/// How a record is written in its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// As JSON, in place (an object value).
    Json,
    /// As a JSON string whose content is the record (escaped).
    JsonString,
    /// As a JSON string holding base64 of the record, or of a gzip member holding it.
    Base64,
}

/// Where one record (or nested envelope) sits in its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The value's bytes in the envelope (a string's quotes included).
    pub span: Range<usize>,
    /// How the record is written there.
    pub encoding: Encoding,
}

/// The shape of one document (a line, or what a slot holds). Cheap: see the module docs.
pub fn classify(doc: &[u8]) -> Shape {
    open(doc).0
}

/// [`open`], with the shape `forced` when one is given: its slots are looked for, whatever the
/// document looks like (a record forced stays a record, counted as CloudTrail when it has
/// `eventSource` or `eventName`).
pub fn open_as(doc: &[u8], forced: Option<Shape>) -> (Shape, Vec<Slot>) {
    match forced {
        None => open(doc),
        Some(Shape::Record { .. }) => {
            let cloudtrail = classify(doc) == Shape::Record { cloudtrail: true };
            (Shape::Record { cloudtrail }, Vec::new())
        }
        Some(shape) => (shape, slots(doc, shape)),
    }
}

/// The shape of `doc` and where its records sit, from one walk of its top-level members (none
/// for a record that starts with `eventVersion`).
pub fn open(doc: &[u8]) -> (Shape, Vec<Slot>) {
    let start = skip_ws(doc, 0);
    match doc.get(start) {
        // An array of documents; `[1,2]` or `[]` holds none and is no record either.
        Some(b'[') if matches!(doc.get(skip_ws(doc, start + 1)), Some(b'{' | b'[')) => {
            return (Shape::Array, array_slots(doc));
        }
        Some(b'{') => {}
        _ => return (Shape::Record { cloudtrail: false }, Vec::new()),
    }
    if doc[start + 1..].starts_with(b"\"eventVersion\"") {
        return (Shape::Record { cloudtrail: true }, Vec::new());
    }
    let object = Object::of(doc);
    let shape = object.shape();
    (shape, object.slots(shape))
}

/// Where the records of `doc`, of shape `shape`, sit. A record has none; an envelope whose
/// slot is missing or of the wrong type has none there (it is left as it is).
pub fn slots(doc: &[u8], shape: Shape) -> Vec<Slot> {
    match shape {
        Shape::Array => array_slots(doc),
        _ => Object::of(doc).slots(shape),
    }
}

fn array_slots(doc: &[u8]) -> Vec<Slot> {
    let start = skip_ws(doc, 0);
    array_elements(doc, start..skip_value(doc, start))
        .into_iter()
        .map(|span| json_slot(doc, span))
        .collect()
}

/// A slot holding a value as it is: an object in place, or a string holding the document.
fn json_slot(doc: &[u8], span: Range<usize>) -> Slot {
    let encoding = match doc.get(span.start) {
        Some(b'"') => Encoding::JsonString,
        _ => Encoding::Json,
    };
    Slot { span, encoding }
}

fn string_slot(span: Range<usize>, encoding: Encoding) -> Slot {
    Slot { span, encoding }
}

/// The top-level members of an object, by span, with the document they index into.
struct Object<'d> {
    doc: &'d [u8],
    offset: usize,
    members: Vec<MemberSpan>,
}

impl<'d> Object<'d> {
    fn of(doc: &'d [u8]) -> Self {
        Self::at(doc, 0..doc.len())
    }

    /// The shape of an object that does not start with `eventVersion`.
    fn shape(&self) -> Shape {
        if self.is_lambda_record() {
            return Shape::LambdaRecord;
        }
        if self.has("eventSource") || self.has("eventName") {
            return Shape::Record { cloudtrail: true };
        }
        self.envelope()
            .unwrap_or(Shape::Record { cloudtrail: false })
    }

    fn slots(&self, shape: Shape) -> Vec<Slot> {
        let doc = self.doc;
        let json = |span: Range<usize>| json_slot(doc, span);
        let one = |slot: Option<Slot>| slot.into_iter().collect();
        match shape {
            Shape::Record { .. } | Shape::Ecs | Shape::Ocsf => Vec::new(),
            Shape::Array => array_slots(doc),
            Shape::EventBridge => one(self.value("detail").map(json)),
            Shape::SplunkHec => one(self.value("event").map(json)),
            Shape::ShipperField => one(self
                .shipper_field()
                .map(|span| string_slot(span, Encoding::JsonString))),
            Shape::CloudWatchLogs => {
                self.strings_in_array("logEvents", "message", Encoding::JsonString)
            }
            Shape::CloudWatchLogsLambda => one(self
                .value("awslogs")
                .and_then(|span| Object::at(doc, span).value("data"))
                .map(|span| string_slot(span, Encoding::Base64))),
            Shape::Firehose => self.strings_in_array("records", "data", Encoding::Base64),
            Shape::S3Records => self
                .value("Records")
                .map(|span| array_elements(doc, span))
                .unwrap_or_default()
                .into_iter()
                .filter(|span| doc.get(span.start) == Some(&b'{'))
                .map(json)
                .collect(),
            Shape::LambdaRecord => one(self
                .lambda_payload()
                .map(|(span, encoding)| string_slot(span, encoding))),
            Shape::LookupEvents => {
                self.strings_in_array("Events", "CloudTrailEvent", Encoding::JsonString)
            }
        }
    }

    /// The object whose value spans `span` of `doc`.
    fn at(doc: &'d [u8], span: Range<usize>) -> Self {
        let end = span.end.min(doc.len());
        let bytes = &doc[span.start.min(end)..end];
        let members = if bytes.get(skip_ws(bytes, 0)) == Some(&b'{') {
            object_members(bytes)
        } else {
            Vec::new()
        };
        Self {
            doc,
            offset: span.start.min(end),
            members,
        }
    }

    fn key(&self, member: &MemberSpan) -> &'d [u8] {
        let start = self.offset + member.start + 1;
        let end = (self.offset + member.key_end).saturating_sub(1).max(start);
        &self.doc[start..end]
    }

    fn has(&self, name: &str) -> bool {
        self.value(name).is_some()
    }

    /// The span of the value of the last member named `name` (JSON's "last duplicate wins").
    fn value(&self, name: &str) -> Option<Range<usize>> {
        let member = self
            .members
            .iter()
            .rev()
            .find(|m| self.key(m) == name.as_bytes())?;
        let colon = skip_ws(self.doc, self.offset + member.key_end);
        // A truncated document can end anywhere: spans never reach past it.
        let end = (self.offset + member.end).min(self.doc.len());
        let start = skip_ws(self.doc, colon + 1).min(end);
        Some(start..end)
    }

    /// The first byte of the value of `name`.
    fn kind(&self, name: &str) -> Option<u8> {
        self.value(name)
            .and_then(|span| self.doc.get(span.start).copied())
    }

    fn envelope(&self) -> Option<Shape> {
        let kind = |name| self.kind(name);
        let object_or_string = |name| matches!(kind(name), Some(b'{' | b'"'));
        if self.has("detail-type") && object_or_string("detail") {
            return Some(Shape::EventBridge);
        }
        if kind("awslogs") == Some(b'{') {
            return Some(Shape::CloudWatchLogsLambda);
        }
        if kind("logEvents") == Some(b'[') {
            return Some(Shape::CloudWatchLogs);
        }
        if kind("records") == Some(b'[')
            && (self.has("invocationId")
                || self.has("deliveryStreamArn")
                || self.first_element_has("records", "recordId"))
        {
            return Some(Shape::Firehose);
        }
        if kind("Records") == Some(b'[') {
            return Some(Shape::S3Records);
        }
        if kind("Events") == Some(b'[') && self.first_element_has("Events", "CloudTrailEvent") {
            return Some(Shape::LookupEvents);
        }
        if self.is_ecs() {
            return Some(Shape::Ecs);
        }
        if self.has("class_uid") && kind("api") == Some(b'{') {
            return Some(Shape::Ocsf);
        }
        if object_or_string("event") && HEC_MEMBERS.iter().any(|m| self.has(m)) {
            return Some(Shape::SplunkHec);
        }
        self.shipper_field().map(|_| Shape::ShipperField)
    }

    /// `eventSource` is `aws:sqs`, `aws:sns` or `aws:kinesis` (Lambda's event-source records;
    /// CloudTrail's own `eventSource` values are host names).
    fn is_lambda_record(&self) -> bool {
        let Some(span) = self
            .value("eventSource")
            .or_else(|| self.value("EventSource"))
        else {
            return false;
        };
        matches!(
            self.doc.get(span).unwrap_or_default(),
            b"\"aws:sqs\"" | b"\"aws:sns\"" | b"\"aws:kinesis\""
        )
    }

    /// Where a Lambda event-source record carries its message.
    fn lambda_payload(&self) -> Option<(Range<usize>, Encoding)> {
        let string = |span: Range<usize>| (self.doc.get(span.start) == Some(&b'"')).then_some(span);
        if let Some(body) = self.value("body").and_then(string) {
            return Some((body, Encoding::JsonString));
        }
        if let Some(sns) = self.value("Sns") {
            let message = Object::at(self.doc, sns)
                .value("Message")
                .and_then(string)?;
            return Some((message, Encoding::JsonString));
        }
        let kinesis = self.value("kinesis")?;
        let data = Object::at(self.doc, kinesis)
            .value("data")
            .and_then(string)?;
        Some((data, Encoding::Base64))
    }

    /// `event.provider` or `event.action` (nested or as dotted keys) and no CloudTrail record
    /// in `event` (which a Splunk HEC event would have).
    fn is_ecs(&self) -> bool {
        if self.has("event.provider") || self.has("event.action") {
            return true;
        }
        let Some(event) = self.value("event") else {
            return false;
        };
        let event = Object::at(self.doc, event);
        (event.has("provider") || event.has("action") || event.has("original"))
            && !event.has("eventSource")
    }

    fn first_element_has(&self, array: &str, member: &str) -> bool {
        self.value(array)
            .and_then(|span| array_elements(self.doc, span).into_iter().next())
            .is_some_and(|first| Object::at(self.doc, first).has(member))
    }

    /// The first of [`SHIPPER_FIELDS`] holding a string whose content starts like an object.
    fn shipper_field(&self) -> Option<Range<usize>> {
        SHIPPER_FIELDS
            .iter()
            .filter_map(|name| self.value(name))
            .find(|span| string_holds_object(&self.doc[span.clone()]))
    }

    /// For each object in the array `array`, the span of its string member `member`.
    fn strings_in_array(&self, array: &str, member: &str, encoding: Encoding) -> Vec<Slot> {
        let Some(span) = self.value(array) else {
            return Vec::new();
        };
        array_elements(self.doc, span)
            .into_iter()
            .filter_map(|element| Object::at(self.doc, element).value(member))
            .filter(|value| self.doc.get(value.start) == Some(&b'"'))
            .map(|value| string_slot(value, encoding))
            .collect()
    }
}

/// A JSON string (quotes included) whose content, after whitespace and a byte-order mark
/// (raw or escaped), begins with `{`.
fn string_holds_object(string: &[u8]) -> bool {
    let Some(mut rest) = string.strip_prefix(b"\"") else {
        return false;
    };
    loop {
        rest = match rest {
            [b' ' | b'\t', tail @ ..] => tail,
            [0xEF, 0xBB, 0xBF, tail @ ..] => tail,
            [b'\\', b'n' | b'r' | b't', tail @ ..] => tail,
            [b'\\', b'u', a, b, c, d, tail @ ..]
                if [a, b, c, d].map(u8::to_ascii_lowercase) == *b"feff" =>
            {
                tail
            }
            [b'{', ..] => return true,
            _ => return false,
        };
    }
}

/// The spans of the elements of the array that spans `span` of `doc`.
fn array_elements(doc: &[u8], span: Range<usize>) -> Vec<Range<usize>> {
    let mut elements = Vec::new();
    if doc.get(span.start) != Some(&b'[') {
        return elements;
    }
    let end = span.end.min(doc.len());
    let mut i = span.start + 1;
    loop {
        i = skip_ws(doc, i);
        if i >= end || doc[i] == b']' {
            return elements;
        }
        let value_end = skip_value(doc, i).min(end);
        if value_end == i {
            return elements;
        }
        elements.push(i..value_end);
        i = skip_ws(doc, value_end);
        if doc.get(i) != Some(&b',') {
            return elements;
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests;
