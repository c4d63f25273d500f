//! Reading inputs: files or stdin, plain or gzip, in any of the framings the engine knows.
//!
//! An input is opened, decompressed if its first bytes are the gzip magic (whatever its name),
//! stripped of a UTF-8 byte-order mark, and sniffed (`trailtag_engine::framing::sniff`). Its
//! records then go to a [`Consumer`]: NDJSON in blocks of whole lines (no per-line work on the
//! host: the guest splits lines anyway), documents one record at a time. NDJSON blocks come
//! straight from the read buffer, or, for a consumer that asks (`Consumer::owned_batch_bytes`:
//! the feed), are read straight into buffers the consumer keeps, so that a batch is the memory
//! the kernel copied the file into and no userland copy is made. Memory stays bounded by the
//! largest record the caller allows (`limit`, at least [`READ_BUFFER`]): a longer record is
//! streamed to the consumer in pieces.
//! A read error (a truncated or corrupt gzip member, an unreadable file) ends that input: what was
//! read before the error has been delivered, and the error is returned for the caller to report.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::bufread::MultiGzDecoder;
use trailtag_engine::framing::{Framing, Piece, Splitter, sniff, sniff_needs_more};

/// Bytes read to decide the framing.
const SNIFF_BYTES: usize = 64 * 1024;
/// The read buffer: blocks handed to consumers are at most this long, so `limit` is at least this.
pub const READ_BUFFER: usize = 256 * 1024;
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Where records come from.
pub enum Source {
    /// A file (`-` is stdin).
    Path(PathBuf),
    /// Standard input.
    Stdin,
    /// Any reader (a socket, a pipe from a child), under a name for messages.
    Reader {
        /// Shown in messages.
        name: String,
        /// The bytes.
        reader: Box<dyn Read + Send>,
    },
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Source({})", self.name())
    }
}

impl Source {
    /// The name used in messages.
    pub fn name(&self) -> String {
        match self {
            Source::Path(p) => p.display().to_string(),
            Source::Stdin => "-".to_owned(),
            Source::Reader { name, .. } => name.clone(),
        }
    }
}

/// Where a record came from within its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// 1-based line number.
    Line(u64),
    /// 1-based record number within a document (`Records` array, concatenated JSON).
    Record(u64),
}

impl Origin {
    /// The first record of an input framed as `framing`.
    pub fn first(framing: Framing) -> Self {
        match framing {
            Framing::Lines => Origin::Line(1),
            Framing::RecordsArray | Framing::Array | Framing::Concatenated => Origin::Record(1),
        }
    }

    /// The origin `n` records further on.
    pub fn advanced(self, n: u64) -> Self {
        match self {
            Origin::Line(line) => Origin::Line(line + n),
            Origin::Record(record) => Origin::Record(record + n),
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Line(n) => write!(f, "line {n}"),
            Origin::Record(n) => write!(f, "record {n}"),
        }
    }
}

/// Receives an input's records in order. Every record (a line, blank lines included, or an
/// element of a document) counts one, so a consumer numbers them by counting.
pub trait Consumer {
    /// One or more whole lines, each ending with `\n`.
    fn lines(&mut self, block: &[u8]) -> io::Result<()>;
    /// One record taken out of a document, without a `\n` (and containing none).
    fn record(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// A piece of a record longer than the limit; pieces arrive in order.
    fn oversized_piece(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// The end of an oversized record.
    fn oversized_end(&mut self) -> io::Result<()>;
    /// Bytes of whole lines this consumer would take at once in a buffer of its own
    /// ([`Consumer::owned_lines`]); 0, the default, means blocks from the read buffer
    /// ([`Consumer::lines`]).
    fn owned_batch_bytes(&self) -> usize {
        0
    }
    /// Whole lines read straight into a buffer the consumer keeps: the read buffer's copy is
    /// skipped.
    fn owned_lines(&mut self, block: Vec<u8>) -> io::Result<()> {
        self.lines(&block)
    }
    /// A buffer for [`Consumer::owned_lines`] (one the consumer recycles, say). Its contents are
    /// overwritten; its length is how much of it is initialized, so reading into it zeroes
    /// nothing.
    fn owned_buffer(&mut self) -> Vec<u8> {
        Vec::new()
    }
}

/// An opened input.
pub struct Input {
    /// `-` for stdin, else the path as given.
    pub name: String,
    /// Whether it was gzip-compressed.
    pub gzip: bool,
    /// Whether a UTF-8 byte-order mark was removed from its start.
    pub bom: bool,
    /// How its records are framed.
    pub framing: Framing,
    reader: Box<dyn BufRead + Send>,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("name", &self.name)
            .field("gzip", &self.gzip)
            .field("framing", &self.framing)
            .finish_non_exhaustive()
    }
}

impl Input {
    /// The decompressed bytes (after the byte-order mark), for callers that want them raw.
    pub fn reader(&mut self) -> &mut (dyn BufRead + Send) {
        &mut self.reader
    }
}

/// A file to read, or `None` for stdin. `read_bytes` counts raw bytes read (for progress).
pub fn open(path: Option<&Path>, read_bytes: Arc<AtomicU64>) -> io::Result<Input> {
    let source = match path {
        Some(p) if p != Path::new("-") => Source::Path(p.to_path_buf()),
        _ => Source::Stdin,
    };
    open_source(source, read_bytes)
}

/// Opens any [`Source`]. Only failing to open it at all is an error: a read error while
/// deciding its framing (a gzip file cut short) is kept, and reported once the records read
/// before it have been delivered.
pub fn open_source(source: Source, read_bytes: Arc<AtomicU64>) -> io::Result<Input> {
    let name = source.name();
    let raw: Box<dyn Read + Send> = match source {
        Source::Path(p) if p != Path::new("-") => Box::new(File::open(p)?),
        Source::Path(_) | Source::Stdin => Box::new(io::stdin()),
        Source::Reader { reader, .. } => reader,
    };
    let mut counted = BufReader::with_capacity(
        READ_BUFFER,
        Counting {
            inner: raw,
            count: read_bytes,
        },
    );
    let gzip = counted.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    let decoded: Box<dyn BufRead + Send> = if gzip {
        Box::new(BufReader::with_capacity(
            READ_BUFFER,
            MultiGzDecoder::new(counted),
        ))
    } else {
        Box::new(counted)
    };
    let (head, rest) = read_head(decoded);
    let bom = head.starts_with(UTF8_BOM);
    let start = if bom { UTF8_BOM.len() } else { 0 };
    let framing = sniff(&head[start..]);
    let mut cursor = Cursor::new(head);
    cursor.set_position(start as u64);
    Ok(Input {
        name,
        gzip,
        bom,
        framing,
        reader: Box::new(cursor.chain(rest)),
    })
}

/// An input read as lines exactly as they arrive: no gzip, no byte-order mark, no framing
/// sniffed. For line protocols (a parent process writing one message per line and waiting for
/// the answer): sniffing could wait for bytes that never come (a first message that is blank, or
/// starts like `{"Records":[`), and a message must never change how the next one is read.
pub fn lines(name: &str, reader: Box<dyn Read + Send>, read_bytes: Arc<AtomicU64>) -> Input {
    let counted = Counting {
        inner: reader,
        count: read_bytes,
    };
    Input {
        name: name.to_owned(),
        gzip: false,
        bom: false,
        framing: Framing::Lines,
        reader: Box::new(BufReader::with_capacity(READ_BUFFER, counted)),
    }
}

/// Reads just enough to decide the framing (until more bytes could not change it,
/// `sniff_needs_more`), at most [`SNIFF_BYTES`], or to the end of the stream. A stream that ends
/// (a read of 0 bytes, one Ctrl-D at a terminal) or fails here is not read again: what follows
/// the head is then empty, or the error.
fn read_head(mut reader: Box<dyn BufRead + Send>) -> (Vec<u8>, Box<dyn BufRead + Send>) {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    let mut chunk = [0u8; 8192];
    while head.len() < SNIFF_BYTES && sniff_needs_more(&head) {
        let want = chunk.len().min(SNIFF_BYTES - head.len());
        match reader.read(&mut chunk[..want]) {
            Ok(0) => return (head, Box::new(io::empty())),
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (head, Box::new(BufReader::new(Failing(Some(e))))),
        }
    }
    (head, reader)
}

/// A reader that fails once with the error it holds, then reports the end of the stream.
struct Failing(Option<io::Error>);

impl Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        match self.0.take() {
            Some(e) => Err(e),
            None => Ok(0),
        }
    }
}

struct Counting {
    inner: Box<dyn Read + Send>,
    count: Arc<AtomicU64>,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// What went wrong with an input after it was opened.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Reading (or decompressing) failed; everything before was delivered.
    #[error("read error: {0}")]
    Read(#[source] io::Error),
    /// The document ended early or had trailing content.
    #[error("{0}")]
    Framing(#[from] trailtag_engine::framing::FramingError),
    /// The consumer failed (usually: the output could not be written).
    #[error("output error: {0}")]
    Consumer(#[source] io::Error),
}

/// Delivers every record of `input` to `consumer`.
pub fn read_records(
    input: &mut Input,
    limit: usize,
    consumer: &mut impl Consumer,
) -> Result<(), InputError> {
    match input.framing {
        Framing::Lines => read_line_input(&mut input.reader, limit, consumer),
        framing => read_documents(&mut input.reader, framing, limit, consumer),
    }
}

fn fill(reader: &mut dyn BufRead) -> Result<&[u8], InputError> {
    loop {
        match reader.fill_buf() {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(InputError::Read(e)),
        }
    }
    // The buffer is filled now; this second call only hands it out.
    reader.fill_buf().map_err(InputError::Read)
}

fn read_line_input(
    reader: &mut dyn BufRead,
    limit: usize,
    consumer: &mut impl Consumer,
) -> Result<(), InputError> {
    let owned = consumer.owned_batch_bytes();
    // Reading in buffers larger than the limit would need every line measured; a line that
    // crosses no read is at most one read long, so only the first line of a read can be too long.
    if owned > 0 && limit >= owned.max(READ_BUFFER) {
        read_owned_lines(reader, limit, consumer)
    } else {
        read_lines(reader, limit, consumer)
    }
}

fn read_lines(
    reader: &mut dyn BufRead,
    limit: usize,
    consumer: &mut impl Consumer,
) -> Result<(), InputError> {
    let mut carry = CarriedLine::new(limit);
    while carry.read_block(reader, consumer)? {}
    Ok(())
}

/// Lines read straight into buffers the consumer keeps, about
/// [`Consumer::owned_batch_bytes`] each: a buffer is cut after its last `\n`, and the unfinished
/// line starts the next buffer (the only bytes copied). Each `read` hands its whole lines over at
/// once, so a slow stream is delivered as it arrives. A line that grows past `limit` is streamed
/// as oversized pieces from the read buffer, as [`read_lines`] does.
fn read_owned_lines(
    reader: &mut dyn BufRead,
    limit: usize,
    consumer: &mut impl Consumer,
) -> Result<(), InputError> {
    let want = consumer.owned_batch_bytes().max(READ_BUFFER);
    let mut carry = CarriedLine::new(limit);
    let mut buf = Filling::new(consumer.owned_buffer(), want);
    loop {
        if carry.oversized {
            if !carry.read_block(reader, consumer)? {
                return Ok(());
            }
            // Once the long line has ended, the unfinished one after it starts the next buffer.
            buf.extend(&std::mem::take(&mut carry.partial));
            continue;
        }
        let start = buf.filled;
        let read = buf.read(reader, want.saturating_sub(start).max(READ_BUFFER));
        let last_line_end = memchr::memrchr(b'\n', &buf.data()[start..]).map(|i| start + i);
        match (read, last_line_end) {
            (Err(e), _) => {
                carry.partial = buf.into_data();
                carry.finish(consumer).map_err(InputError::Consumer)?;
                return Err(e);
            }
            (Ok(0), _) => {
                carry.partial = buf.into_data();
                return carry.finish(consumer).map_err(InputError::Consumer);
            }
            (Ok(_), Some(end)) => {
                let first_end =
                    memchr::memchr(b'\n', &buf.data()[start..]).map_or(end, |i| start + i);
                let mut next = Filling::new(consumer.owned_buffer(), want);
                next.extend(&buf.data()[end + 1..]);
                if first_end < carry.limit {
                    buf.filled = end + 1;
                    consumer
                        .owned_lines(std::mem::replace(&mut buf, next).into_data())
                        .map_err(InputError::Consumer)?;
                    continue;
                }
                // The line carried from earlier reads ended here, over the limit: it is streamed
                // as an oversized record, and the lines after it are copied (a rare path).
                let lines = std::mem::replace(&mut buf, next).into_data();
                carry
                    .append(&lines[..=first_end], consumer)
                    .and_then(|()| carry.end_line(consumer))
                    .and_then(|()| match lines.get(first_end + 1..=end) {
                        Some(rest) if !rest.is_empty() => consumer.lines(rest),
                        _ => Ok(()),
                    })
                    .map_err(InputError::Consumer)?;
            }
            (Ok(_), None) if buf.filled > carry.limit => {
                let line = std::mem::replace(&mut buf, Filling::new(Vec::new(), want));
                carry
                    .append(&line.into_data(), consumer)
                    .map_err(InputError::Consumer)?;
            }
            (Ok(_), None) => {}
        }
    }
}

/// A buffer being read into: `bytes[..filled]` is data; the rest of `bytes` is memory already
/// initialized by an earlier use (a recycled batch), read over without zeroing it again.
struct Filling {
    bytes: Vec<u8>,
    filled: usize,
}

impl Filling {
    fn new(mut bytes: Vec<u8>, want: usize) -> Self {
        bytes.reserve(want.saturating_sub(bytes.len()));
        Self { bytes, filled: 0 }
    }

    fn data(&self) -> &[u8] {
        &self.bytes[..self.filled]
    }

    /// Room for `len` more bytes after the data, zeroed only where never initialized.
    fn room(&mut self, len: usize) -> &mut [u8] {
        let end = self.filled + len;
        if self.bytes.len() < end {
            self.bytes.resize(end, 0);
        }
        &mut self.bytes[self.filled..end]
    }

    fn extend(&mut self, bytes: &[u8]) {
        self.room(bytes.len()).copy_from_slice(bytes);
        self.filled += bytes.len();
    }

    /// One `read` of at most `chunk` bytes after the data; retried when interrupted.
    fn read(&mut self, reader: &mut dyn BufRead, chunk: usize) -> Result<usize, InputError> {
        let room = self.room(chunk);
        let read = loop {
            match reader.read(room) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        let read = read.map_err(InputError::Read)?;
        self.filled += read;
        Ok(read)
    }

    fn into_data(mut self) -> Vec<u8> {
        self.bytes.truncate(self.filled);
        self.bytes
    }
}

/// The unfinished line at the end of a read buffer, carried to the next one; streamed out as
/// oversized pieces once it passes the limit.
struct CarriedLine {
    partial: Vec<u8>,
    oversized: bool,
    limit: usize,
}

impl CarriedLine {
    fn new(limit: usize) -> Self {
        Self {
            partial: Vec::new(),
            oversized: false,
            limit: limit.max(READ_BUFFER),
        }
    }

    /// Feeds one block of the read buffer; false once the input has ended (the last line
    /// delivered). A read error is returned after the lines before it are delivered.
    fn read_block(
        &mut self,
        reader: &mut dyn BufRead,
        consumer: &mut impl Consumer,
    ) -> Result<bool, InputError> {
        let block = match fill(reader) {
            Ok(block) => block,
            Err(e) => {
                self.finish(consumer).map_err(InputError::Consumer)?;
                return Err(e);
            }
        };
        if block.is_empty() {
            self.finish(consumer).map_err(InputError::Consumer)?;
            return Ok(false);
        }
        self.feed(block, consumer).map_err(InputError::Consumer)?;
        let used = block.len();
        reader.consume(used);
        Ok(true)
    }

    /// Hands `buf`'s whole lines to the consumer in one block and carries the rest.
    fn feed(&mut self, buf: &[u8], consumer: &mut impl Consumer) -> io::Result<()> {
        let Some(last) = memchr::memrchr(b'\n', buf) else {
            return self.append(buf, consumer);
        };
        let mut start = 0;
        if self.oversized || !self.partial.is_empty() {
            let first = memchr::memchr(b'\n', buf).unwrap_or(last);
            self.append(&buf[..=first], consumer)?;
            self.end_line(consumer)?;
            start = first + 1;
        }
        if start <= last {
            consumer.lines(&buf[start..=last])?;
        }
        self.append(&buf[last + 1..], consumer)
    }

    fn append(&mut self, bytes: &[u8], consumer: &mut impl Consumer) -> io::Result<()> {
        if self.oversized {
            return consumer.oversized_piece(bytes.strip_suffix(b"\n").unwrap_or(bytes));
        }
        self.partial.extend_from_slice(bytes);
        if self.partial.len() > self.limit {
            self.oversized = true;
            let piece = std::mem::take(&mut self.partial);
            consumer.oversized_piece(piece.strip_suffix(b"\n").unwrap_or(&piece))?;
        }
        Ok(())
    }

    /// The carried line is complete (its `\n` appended, unless oversized).
    fn end_line(&mut self, consumer: &mut impl Consumer) -> io::Result<()> {
        if std::mem::take(&mut self.oversized) {
            return consumer.oversized_end();
        }
        if !self.partial.is_empty() {
            consumer.lines(&self.partial)?;
            self.partial.clear();
        }
        Ok(())
    }

    /// A last line without `\n` is still a line.
    fn finish(&mut self, consumer: &mut impl Consumer) -> io::Result<()> {
        if !self.oversized && !self.partial.is_empty() {
            self.partial.push(b'\n');
        }
        self.end_line(consumer)
    }
}

fn read_documents(
    reader: &mut dyn BufRead,
    framing: Framing,
    limit: usize,
    consumer: &mut impl Consumer,
) -> Result<(), InputError> {
    let mut splitter = Splitter::new(framing, limit);
    let mut delivery = Delivery {
        consumer,
        error: None,
    };
    loop {
        let buf = match fill(reader) {
            Ok(buf) => buf,
            Err(e) => {
                let _ = splitter.finish(&mut |piece| delivery.deliver(piece));
                return delivery.result().and(Err(e));
            }
        };
        if buf.is_empty() {
            let framing = splitter.finish(&mut |piece| delivery.deliver(piece));
            delivery.result()?;
            return framing.map_err(InputError::from);
        }
        splitter.push(buf, &mut |piece| delivery.deliver(piece));
        let used = buf.len();
        reader.consume(used);
        delivery.result()?;
    }
}

/// Forwards splitter pieces to a consumer, keeping the first error (the splitter cannot fail).
struct Delivery<'c, C> {
    consumer: &'c mut C,
    error: Option<io::Error>,
}

impl<C: Consumer> Delivery<'_, C> {
    fn deliver(&mut self, piece: Piece<'_>) {
        if self.error.is_some() {
            return;
        }
        let result = match piece {
            Piece::Record(bytes) => self.consumer.record(bytes),
            Piece::OversizedChunk(bytes) => self.consumer.oversized_piece(bytes),
            Piece::OversizedEnd => self.consumer.oversized_end(),
        };
        self.error = result.err();
    }

    fn result(&mut self) -> Result<(), InputError> {
        self.error
            .take()
            .map_or(Ok(()), |e| Err(InputError::Consumer(e)))
    }
}

/// The sources to read: each argument, or stdin when there are none. A directory is walked:
/// every file under it, in path order (as `aws s3 sync` leaves a trail's prefix: account /
/// region / year / month / day), gzip and plain mixed. Symbolic links to files are read; links
/// to directories are not followed (no cycles). A directory that cannot be listed stays a
/// source, so that reading it fails and is reported like any unreadable input.
pub fn sources(files: &[PathBuf]) -> Vec<Source> {
    if files.is_empty() {
        return vec![Source::Stdin];
    }
    let mut sources = Vec::new();
    for file in files {
        if file.is_dir() {
            walk(file, &mut sources);
        } else {
            sources.push(Source::Path(file.clone()));
        }
    }
    sources
}

fn walk(dir: &Path, sources: &mut Vec<Source>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        sources.push(Source::Path(dir.to_path_buf()));
        return;
    };
    let mut entries: Vec<(PathBuf, bool)> = entries
        .filter_map(Result::ok)
        .map(|e| {
            let is_real_dir = e.file_type().is_ok_and(|t| t.is_dir());
            (e.path(), is_real_dir)
        })
        .collect();
    entries.sort();
    for (path, is_real_dir) in entries {
        if is_real_dir {
            walk(&path, sources);
        } else if !path.is_dir() {
            sources.push(Source::Path(path));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
    use super::*;

    /// A reader that hands out at most `chunk` bytes per `fill_buf`.
    struct Trickle<'a> {
        data: &'a [u8],
        chunk: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.fill_buf()?.len().min(buf.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.consume(n);
            Ok(n)
        }
    }

    impl BufRead for Trickle<'_> {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            Ok(&self.data[..self.chunk.min(self.data.len())])
        }
        fn consume(&mut self, n: usize) {
            self.data = &self.data[n..];
        }
    }

    #[derive(Default)]
    struct Collect {
        lines: Vec<u8>,
        oversized: Vec<Vec<u8>>,
        current: Vec<u8>,
        /// Non-zero: lines are read into buffers of this size ([`Consumer::owned_lines`]).
        owned: usize,
        owned_blocks: usize,
        /// Buffers handed back, their bytes overwritten: reading over them must not leak any.
        spare: Vec<Vec<u8>>,
    }

    impl Collect {
        /// Collects from the read buffer, and from buffers of its own.
        fn both() -> [Self; 2] {
            [
                Self::default(),
                Self {
                    owned: 64,
                    ..Self::default()
                },
            ]
        }
    }

    impl Consumer for Collect {
        fn lines(&mut self, block: &[u8]) -> io::Result<()> {
            assert!(block.ends_with(b"\n"));
            self.lines.extend_from_slice(block);
            Ok(())
        }
        fn owned_batch_bytes(&self) -> usize {
            self.owned
        }
        fn owned_lines(&mut self, block: Vec<u8>) -> io::Result<()> {
            assert!(self.owned > 0, "owned lines only when asked for");
            self.owned_blocks += 1;
            self.lines(&block)?;
            let mut spare = block;
            spare.resize(spare.capacity(), b'#');
            spare.fill(b'#');
            self.spare.push(spare);
            Ok(())
        }
        fn owned_buffer(&mut self) -> Vec<u8> {
            self.spare.pop().unwrap_or_default()
        }
        fn record(&mut self, _: &[u8]) -> io::Result<()> {
            unreachable!("lines only")
        }
        fn oversized_piece(&mut self, bytes: &[u8]) -> io::Result<()> {
            self.current.extend_from_slice(bytes);
            Ok(())
        }
        fn oversized_end(&mut self) -> io::Result<()> {
            self.oversized.push(std::mem::take(&mut self.current));
            Ok(())
        }
    }

    /// A terminal's Ctrl-D is one read of 0 bytes: the stream must end there, not be read again.
    struct Terminal {
        reads: Vec<Vec<u8>>,
        after_eof: usize,
    }

    impl Read for Terminal {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.reads.is_empty() {
                self.after_eof += 1;
                return Ok(0);
            }
            let next = self.reads.remove(0);
            buf[..next.len()].copy_from_slice(&next);
            Ok(next.len())
        }
    }

    #[test]
    fn one_end_of_input_ends_the_input() {
        let terminal = Terminal {
            reads: vec![b"{\"a\"".to_vec(), b":1}".to_vec()],
            after_eof: 0,
        };
        let source = Source::Reader {
            name: "tty".into(),
            reader: Box::new(terminal),
        };
        let mut input = open_source(source, Arc::default()).unwrap();
        let mut all = Vec::new();
        input.reader().read_to_end(&mut all).unwrap();
        assert_eq!(all, b"{\"a\":1}");
    }

    #[test]
    fn the_framing_is_decided_from_the_first_line_without_waiting_for_more() {
        let (reader, mut writer) = io::pipe().unwrap();
        io::Write::write_all(&mut writer, b"{\"a\":1}\n").unwrap();
        let source = Source::Reader {
            name: "pipe".into(),
            reader: Box::new(reader),
        };
        let input = open_source(source, Arc::default()).unwrap();
        assert_eq!(input.framing, Framing::Lines);
        drop(writer);
    }

    #[test]
    fn a_read_error_while_sniffing_comes_after_what_was_read() {
        struct Cut(Vec<u8>);
        impl Read for Cut {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "cut"));
                }
                let n = self.0.len().min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0.drain(..n);
                Ok(n)
            }
        }
        let source = Source::Reader {
            name: "cut".into(),
            reader: Box::new(Cut(b"{\"Records\":[{\"a\":1},".to_vec())),
        };
        let mut input = open_source(source, Arc::default()).unwrap();
        assert_eq!(input.framing, Framing::RecordsArray);
        let mut collect = Records::default();
        let result = read_records(&mut input, READ_BUFFER, &mut collect);
        assert_eq!(collect.0, [b"{\"a\":1}".to_vec()]);
        assert!(matches!(result, Err(InputError::Read(_))), "{result:?}");
    }

    #[derive(Default)]
    struct Records(Vec<Vec<u8>>);

    impl Consumer for Records {
        fn lines(&mut self, _: &[u8]) -> io::Result<()> {
            unreachable!("documents only")
        }
        fn record(&mut self, bytes: &[u8]) -> io::Result<()> {
            self.0.push(bytes.to_vec());
            Ok(())
        }
        fn oversized_piece(&mut self, _: &[u8]) -> io::Result<()> {
            Ok(())
        }
        fn oversized_end(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_survive_any_buffer_boundary() {
        let data = b"a\n\nbc\r\n{\"x\":1}\nlast without newline";
        for chunk in 1..data.len() + 2 {
            for mut collect in Collect::both() {
                read_line_input(&mut Trickle { data, chunk }, READ_BUFFER, &mut collect).unwrap();
                assert_eq!(
                    collect.lines, b"a\n\nbc\r\n{\"x\":1}\nlast without newline\n",
                    "chunk {chunk}, owned {}",
                    collect.owned
                );
                assert_eq!(collect.owned > 0, collect.owned_blocks > 0);
            }
        }
    }

    #[test]
    fn a_line_over_the_limit_is_streamed_and_the_stream_goes_on() {
        let long = vec![b'x'; READ_BUFFER + 10];
        let data = [b"first\n".as_slice(), &long, b"\nnext\n", &long].concat();
        for chunk in [7, 4096, READ_BUFFER] {
            for mut collect in Collect::both() {
                read_line_input(
                    &mut Trickle { data: &data, chunk },
                    READ_BUFFER,
                    &mut collect,
                )
                .unwrap();
                let owned = collect.owned;
                assert_eq!(
                    collect.lines, b"first\nnext\n",
                    "chunk {chunk}, owned {owned}"
                );
                assert_eq!(
                    collect.oversized,
                    [long.clone(), long.clone()],
                    "chunk {chunk}, owned {owned}"
                );
            }
        }
    }

    #[test]
    fn a_read_error_ends_the_lines_after_delivering_what_was_read() {
        struct FailsAfter(Vec<u8>);
        impl Read for FailsAfter {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() {
                    return Err(io::Error::other("disk gone"));
                }
                let n = self.0.len().min(buf.len()).min(3);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0.drain(..n);
                Ok(n)
            }
        }
        for mut collect in Collect::both() {
            let mut reader =
                BufReader::with_capacity(5, FailsAfter(b"ab\ncd\nunfinished".to_vec()));
            let result = read_line_input(&mut reader, READ_BUFFER, &mut collect);
            assert!(matches!(result, Err(InputError::Read(_))), "{result:?}");
            assert_eq!(
                collect.lines, b"ab\ncd\nunfinished\n",
                "owned {}",
                collect.owned
            );
        }
    }
}
