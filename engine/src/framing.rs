//! Framing: how a stream of bytes becomes records, for the shapes CloudTrail files come in.
//!
//! - [`Framing::Lines`]: NDJSON, one record per line (what shippers emit).
//! - [`Framing::RecordsArray`]: CloudTrail's S3 delivery file, `{"Records":[ {...}, {...} ]}`:
//!   each element of the array is one record. Files can be large single documents, so the
//!   [`Splitter`] works on chunks and holds at most one record at a time.
//! - [`Framing::Array`]: a JSON array written across lines (what incident-response tools and
//!   attack-simulation logs write): each element is one record, like `Records` above. A
//!   one-line array is a line like any other; the engine reads its elements in place
//!   (`crate::envelope`).
//! - [`Framing::Concatenated`]: one or more whole JSON documents that span lines (a
//!   pretty-printed EventBridge event, a digest file): each top-level value is one record.
//!
//! A record taken out of a larger document must fit on one output line. Its bytes are kept as
//! they are, except that raw line breaks become spaces (outside strings, where they are only
//! whitespace) or the escape `\n` (inside strings, where they are not valid JSON anyway). A
//! record larger than the splitter's limit is not held in memory: it is emitted in pieces
//! ([`Piece::OversizedChunk`]) for the caller to pass through untagged.

/// How a stream is cut into records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One record per line.
    Lines,
    /// `{"Records":[...]}`: one record per array element.
    RecordsArray,
    /// `[...]` across lines: one record per element.
    Array,
    /// Whitespace-separated JSON documents spanning lines: one record per document.
    Concatenated,
}

impl Framing {
    /// Whether records are the elements of one array.
    pub fn is_array(self) -> bool {
        matches!(self, Framing::RecordsArray | Framing::Array)
    }
}

/// Decides the framing from the first bytes of a stream (a few KiB is enough).
///
/// A stream whose first member is `"Records"` holding an array is an S3 delivery file. A stream
/// that starts with `{` or `[` whose first line is not a complete value (a pretty-printed
/// document) is concatenated JSON, provided the first line ends within `head`. Everything else
/// is read as lines, which never loses a byte whatever the content.
pub fn sniff(head: &[u8]) -> Framing {
    let start = skip_ws(head, 0);
    if starts_records_array(head, start) {
        return Framing::RecordsArray;
    }
    let Some(&first) = head.get(start) else {
        return Framing::Lines;
    };
    let Some(line_end) = memchr::memchr(b'\n', &head[start..]).map(|i| start + i) else {
        return Framing::Lines;
    };
    if matches!(first, b'{' | b'[') && !is_one_complete_value(&head[start..line_end]) {
        match first {
            b'[' => Framing::Array,
            _ => Framing::Concatenated,
        }
    } else {
        Framing::Lines
    }
}

/// Whether more bytes could change what [`sniff`] says about `head`: a reader stops reading
/// ahead as soon as they cannot, so that a stream's first record is not held back waiting for
/// 64 KiB that may never come.
pub fn sniff_needs_more(head: &[u8]) -> bool {
    let start = skip_ws(head, 0);
    let Some(&first) = head.get(start) else {
        return true;
    };
    if starts_records_array(head, start) {
        return false;
    }
    if records_array_prefix(head, start) {
        return true;
    }
    matches!(first, b'{' | b'[') && memchr::memchr(b'\n', &head[start..]).is_none()
}

/// `head` ends inside `{ "Records" : [` (whitespace allowed), so the next bytes decide.
fn records_array_prefix(head: &[u8], start: usize) -> bool {
    let mut i = start;
    for token in [&b"{"[..], b"\"Records\"", b":", b"["] {
        i = skip_ws(head, i);
        let rest = &head[i.min(head.len())..];
        if rest.len() < token.len() {
            return token.starts_with(rest);
        }
        if !rest.starts_with(token) {
            return false;
        }
        i += token.len();
    }
    false
}

fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while bytes
        .get(i)
        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        i += 1;
    }
    i
}

/// `{ "Records" : [` at `start`, whitespace allowed between tokens.
fn starts_records_array(head: &[u8], start: usize) -> bool {
    let mut i = start;
    for token in [&b"{"[..], b"\"Records\"", b":", b"["] {
        i = skip_ws(head, i);
        if !head[i.min(head.len())..].starts_with(token) {
            return false;
        }
        i += token.len();
    }
    true
}

/// The line is exactly one complete value: NDJSON. Several on one line (a Splunk HEC batch,
/// `{"event":…}{"event":…}`) are concatenated documents.
/// (Junk after a value, such as a stray `}`, keeps the line a line: it is one unreadable record.)
fn is_one_complete_value(line: &[u8]) -> bool {
    let mut splitter = Splitter::new(Framing::Concatenated, usize::MAX);
    let (mut records, mut documents) = (0, 0);
    splitter.push(line, &mut |piece| {
        if let Piece::Record(record) = piece {
            records += 1;
            documents += usize::from(matches!(record.first(), Some(b'{' | b'[')));
        }
    });
    let several_documents = records > 1 && documents == records;
    records > 0 && !several_documents && splitter.state == State::Between
}

/// A JSON document written across lines, as one line: its top-level values joined, with line
/// breaks neutralised as described in the module documentation. For rule examples and other
/// small documents; streams use [`Splitter`].
pub fn to_one_line(document: &[u8]) -> Vec<u8> {
    let mut splitter = Splitter::new(Framing::Concatenated, usize::MAX);
    let mut line = Vec::new();
    let mut emit = |piece: Piece<'_>| {
        if let Piece::Record(bytes) = piece {
            line.extend_from_slice(bytes);
        }
    };
    splitter.push(document, &mut emit);
    let _ = splitter.finish(&mut emit);
    line
}

/// What the splitter hands its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// One complete record, on one line (no `\n` inside).
    Record(&'a [u8]),
    /// Part of a record larger than the limit, in order; pass it through.
    OversizedChunk(&'a [u8]),
    /// The end of an oversized record.
    OversizedEnd,
}

/// What is wrong with a stream's framing, found at its end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// The stream ended inside a record or before the array was closed. Whatever was read of a
    /// partial record has been emitted, so no byte is lost.
    #[error("truncated: the stream ended {0}")]
    Truncated(&'static str),
    /// Something other than whitespace and `}` follows the Records array; it is ignored.
    #[error("unexpected content after the Records array ({0} bytes ignored)")]
    TrailingContent(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// RecordsArray only: before `[`.
    Prefix,
    /// Between values (after `[` or a comma, or between documents).
    Between,
    /// Inside a value, outside any string.
    Value,
    /// Inside a string of a value.
    Str,
    /// Inside a string, just after a backslash.
    Escape,
    /// RecordsArray only: after `]`.
    After,
}

/// Cuts a stream, pushed in chunks of any size, into records.
#[derive(Debug, Clone)]
pub struct Splitter {
    framing: Framing,
    limit: usize,
    state: State,
    depth: usize,
    scalar: bool,
    record: Vec<u8>,
    oversized: bool,
    trailing: usize,
    /// RecordsArray only, after `]`: the document's closing brace was seen.
    closed: bool,
}

impl Splitter {
    /// A splitter for `framing` (not [`Framing::Lines`], which needs no state) that holds at
    /// most `limit` bytes of one record before streaming it out as oversized.
    pub fn new(framing: Framing, limit: usize) -> Self {
        let state = if framing.is_array() {
            State::Prefix
        } else {
            State::Between
        };
        Self {
            framing,
            limit,
            state,
            depth: 0,
            scalar: false,
            record: Vec::new(),
            oversized: false,
            trailing: 0,
            closed: false,
        }
    }

    /// Feeds the next chunk; `emit` receives every record completed by it.
    pub fn push(&mut self, chunk: &[u8], emit: &mut impl FnMut(Piece<'_>)) {
        let mut i = 0;
        while i < chunk.len() {
            i = match self.state {
                State::Prefix => self.prefix(chunk, i),
                State::Between => self.between(chunk, i, emit),
                State::Value => self.value(chunk, i, emit),
                State::Str => self.string(chunk, i, emit),
                State::Escape => self.escape(chunk, i, emit),
                State::After => self.after(chunk, i),
            };
        }
    }

    /// Ends the stream: flushes a partial record and reports what was wrong, if anything.
    pub fn finish(&mut self, emit: &mut impl FnMut(Piece<'_>)) -> Result<(), FramingError> {
        let in_record = matches!(self.state, State::Value | State::Str | State::Escape);
        if in_record {
            self.end_record(emit);
        }
        match (self.state, self.framing) {
            _ if in_record => Err(FramingError::Truncated("inside a record")),
            (State::Prefix, _) => Err(FramingError::Truncated("before the Records array")),
            (State::Between, Framing::RecordsArray | Framing::Array) => {
                Err(FramingError::Truncated("before the array was closed"))
            }
            (State::After, _) if self.trailing > 0 => {
                Err(FramingError::TrailingContent(self.trailing))
            }
            _ => Ok(()),
        }
    }

    fn prefix(&mut self, chunk: &[u8], i: usize) -> usize {
        match memchr::memchr(b'[', &chunk[i..]) {
            Some(offset) => {
                self.state = State::Between;
                i + offset + 1
            }
            None => chunk.len(),
        }
    }

    fn between(&mut self, chunk: &[u8], i: usize, emit: &mut impl FnMut(Piece<'_>)) -> usize {
        let byte = chunk[i];
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {}
            b']' if self.framing.is_array() => self.state = State::After,
            _ => {
                self.state = State::Value;
                // A stray `}` or `]` is read like a container, so it becomes a one-byte record
                // (unreadable downstream, not lost). As a scalar it would end itself before
                // being consumed, and the splitter would emit empty records forever.
                self.scalar = !matches!(byte, b'{' | b'[' | b'"' | b'}' | b']');
                self.depth = 0;
                return self.value(chunk, i, emit);
            }
        }
        i + 1
    }

    fn value(&mut self, chunk: &[u8], i: usize, emit: &mut impl FnMut(Piece<'_>)) -> usize {
        let byte = chunk[i];
        if self.scalar && matches!(byte, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
            self.end_record(emit);
            self.state = State::Between;
            return i; // the delimiter is handled between values
        }
        match byte {
            b'"' => self.state = State::Str,
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => self.depth = self.depth.saturating_sub(1),
            _ => {}
        }
        self.append(
            &[if matches!(byte, b'\n' | b'\r') {
                b' '
            } else {
                byte
            }],
            emit,
        );
        if !self.scalar && self.depth == 0 && self.state == State::Value {
            self.end_record(emit);
            self.state = State::Between;
        }
        i + 1
    }

    fn string(&mut self, chunk: &[u8], i: usize, emit: &mut impl FnMut(Piece<'_>)) -> usize {
        let run = memchr::memchr3(b'"', b'\\', b'\n', &chunk[i..]).unwrap_or(chunk.len() - i);
        self.append(&chunk[i..i + run], emit);
        let Some(&byte) = chunk.get(i + run) else {
            return chunk.len();
        };
        match byte {
            b'"' => {
                self.append(b"\"", emit);
                self.state = State::Value;
                if self.depth == 0 {
                    self.end_record(emit);
                    self.state = State::Between;
                }
            }
            b'\\' => {
                self.append(b"\\", emit);
                self.state = State::Escape;
            }
            _ => self.append(b"\\n", emit),
        }
        i + run + 1
    }

    fn escape(&mut self, chunk: &[u8], i: usize, emit: &mut impl FnMut(Piece<'_>)) -> usize {
        let byte = chunk[i];
        self.append(if byte == b'\n' { b"n" } else { &chunk[i..=i] }, emit);
        self.state = State::Str;
        i + 1
    }

    /// After the array: the rest of its document, then either the end or another document of
    /// the same kind (a stream of S3 bodies, one per line, as a shipper that read them writes
    /// them; or of arrays), which is read the same way. Anything else is counted and ignored.
    fn after(&mut self, chunk: &[u8], i: usize) -> usize {
        let (closing, next) = match self.framing {
            Framing::RecordsArray => (Some(b'}'), b'{'),
            _ => (None, b'['),
        };
        for (offset, &byte) in chunk[i..].iter().enumerate() {
            match byte {
                b' ' | b'\t' | b'\n' | b'\r' => {}
                _ if Some(byte) == closing && !self.closed => self.closed = true,
                _ if byte == next && (self.closed || closing.is_none()) => {
                    self.state = State::Prefix;
                    self.closed = false;
                    return i + offset;
                }
                _ => self.trailing += 1,
            }
        }
        chunk.len()
    }

    fn append(&mut self, bytes: &[u8], emit: &mut impl FnMut(Piece<'_>)) {
        if self.oversized {
            emit(Piece::OversizedChunk(bytes));
            return;
        }
        self.record.extend_from_slice(bytes);
        if self.record.len() > self.limit {
            self.oversized = true;
            emit(Piece::OversizedChunk(&self.record));
            self.record.clear();
        }
    }

    fn end_record(&mut self, emit: &mut impl FnMut(Piece<'_>)) {
        if self.oversized {
            emit(Piece::OversizedEnd);
            self.oversized = false;
        } else {
            emit(Piece::Record(&self.record));
        }
        self.record.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(
        framing: Framing,
        input: &[u8],
        chunk: usize,
        limit: usize,
    ) -> (Vec<String>, Result<(), FramingError>) {
        let mut splitter = Splitter::new(framing, limit);
        let mut out: Vec<String> = Vec::new();
        let mut current = String::new();
        let mut emit = |piece: Piece<'_>| match piece {
            Piece::Record(r) => out.push(String::from_utf8_lossy(r).into_owned()),
            Piece::OversizedChunk(c) => current.push_str(&String::from_utf8_lossy(c)),
            Piece::OversizedEnd => out.push(format!("OVERSIZED:{}", std::mem::take(&mut current))),
        };
        for piece in input.chunks(chunk.max(1)) {
            splitter.push(piece, &mut emit);
        }
        let result = splitter.finish(&mut emit);
        (out, result)
    }

    #[test]
    fn sniffing_recognises_the_four_framings() {
        assert_eq!(sniff(b" {\n \"Records\" : [ {}"), Framing::RecordsArray);
        assert_eq!(sniff(b"[\n  {\"eventName\": \"x\"},\n"), Framing::Array);
        assert_eq!(sniff(b"[{\"eventName\":\"x\"}]\n[]"), Framing::Lines);
        assert_eq!(
            sniff(b"{\"event\":{}}{\"event\":{}}\n"),
            Framing::Concatenated
        );
        assert_eq!(sniff(b"{\"eventName\":\"x\"}\n{}"), Framing::Lines);
        assert_eq!(sniff(b"{\n  \"version\": \"0\",\n"), Framing::Concatenated);
        assert_eq!(sniff(b"not json\n"), Framing::Lines);
        assert_eq!(sniff(b"{\"long line without end"), Framing::Lines);
        assert_eq!(sniff(b""), Framing::Lines);
    }

    #[test]
    fn a_stream_of_s3_bodies_one_per_line_is_read_body_after_body() {
        let input = b"{\"Records\":[{\"a\":1}]}\n{\"Records\":[{\"b\":2},{\"c\":3}]}\n";
        for chunk in [1, 5, 64] {
            let (records, result) = split(Framing::RecordsArray, input, chunk, 1 << 20);
            assert_eq!(
                records,
                ["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"],
                "chunk {chunk}"
            );
            assert_eq!(result, Ok(()));
        }
        let (records, result) = split(Framing::RecordsArray, b"{\"Records\":[{}]} x", 4, 1 << 20);
        assert_eq!(
            (records.len(), result),
            (1, Err(FramingError::TrailingContent(1)))
        );
    }

    #[test]
    fn a_pretty_array_is_cut_into_its_elements() {
        let input = b"[\n  {\"a\": 1},\n  {\"b\":\n [2]}\n]\n";
        for chunk in [1, 3, 64] {
            let (records, result) = split(Framing::Array, input, chunk, 1 << 20);
            assert_eq!(records, ["{\"a\": 1}", "{\"b\":  [2]}"], "chunk {chunk}");
            assert_eq!(result, Ok(()));
        }
        let (_, result) = split(Framing::Array, b"[{\"a\":1},", 4, 1 << 20);
        assert!(result.is_err());
    }

    #[test]
    fn sniffing_reads_ahead_only_while_the_answer_could_change() {
        for head in [
            &b""[..],
            b"  ",
            b"{",
            b"{\n  \"Rec",
            b"{\"Records\" :",
            b"{\"a\":1",
        ] {
            assert!(
                sniff_needs_more(head),
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
        for head in [
            &b"{\"a\":1}\n"[..],
            b"{\n  \"version\": \"0\",\n",
            b"{\"Records\":[",
            b"not json",
            b"{\"Recs\":1}\n",
        ] {
            assert!(
                !sniff_needs_more(head),
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn records_array_elements_come_out_whole_whatever_the_chunking() {
        let input = br#"{"Records":[{"a":"x,]}\"y"},{"b":[1,{"c":2}]} , 7, "s"]}"#;
        for chunk in [1, 2, 3, 7, 1000] {
            let (records, result) = split(Framing::RecordsArray, input, chunk, 1 << 20);
            assert_eq!(
                records,
                [r#"{"a":"x,]}\"y"}"#, r#"{"b":[1,{"c":2}]}"#, "7", r#""s""#],
                "chunk {chunk}"
            );
            assert_eq!(result, Ok(()));
        }
    }

    #[test]
    fn line_breaks_inside_records_are_neutralised() {
        let input = b"{\"Records\": [\n  {\n    \"a\": \"x\ny\"\r\n  }\n]}\n";
        let (records, result) = split(Framing::RecordsArray, input, 5, 1 << 20);
        assert_eq!(records, ["{     \"a\": \"x\\ny\"    }"]);
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn truncation_emits_what_was_read_and_says_so() {
        let (records, result) = split(
            Framing::RecordsArray,
            br#"{"Records":[{"a":1},{"b":"#,
            4,
            1 << 20,
        );
        assert_eq!(records, [r#"{"a":1}"#, r#"{"b":"#]);
        assert_eq!(result, Err(FramingError::Truncated("inside a record")));
        let (records, result) = split(Framing::RecordsArray, br#"{"Records":[{"a":1}"#, 4, 1 << 20);
        assert_eq!(records.len(), 1);
        assert!(matches!(result, Err(FramingError::Truncated(_))));
        let (_, result) = split(
            Framing::RecordsArray,
            br#"{"Records":[]}, "x":1}"#,
            4,
            1 << 20,
        );
        assert_eq!(result, Err(FramingError::TrailingContent(7)));
        let (records, result) = split(Framing::RecordsArray, b"{\"Rec", 4, 1 << 20);
        assert!(records.is_empty());
        assert!(result.is_err());
    }

    #[test]
    fn oversized_records_stream_through_in_pieces() {
        let input = br#"{"Records":[{"a":"0123456789"},{"b":1}]}"#;
        let (records, result) = split(Framing::RecordsArray, input, 3, 8);
        assert_eq!(records, [r#"OVERSIZED:{"a":"0123456789"}"#, r#"{"b":1}"#]);
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn concatenated_documents_each_become_one_record() {
        let input = b"{\n  \"detail\": {\"x\": [1, 2]}\n}\n{\"y\":\n true}\n";
        let (records, result) = split(Framing::Concatenated, input, 2, 1 << 20);
        assert_eq!(
            records,
            ["{   \"detail\": {\"x\": [1, 2]} }", "{\"y\":  true}"]
        );
        assert_eq!(result, Ok(()));
    }
}
