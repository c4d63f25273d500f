//! The feed: inputs read on their own thread, handed to the pipeline as batches, promptly.
//!
//! A reader thread opens each input in turn ([`crate::input`]) and appends its records, as
//! whole lines, to the open batch at the back of a short queue; a batch closes when it reaches
//! the batch size. The pipeline takes batches from the front. Two rules make a stream stream:
//! - a batch that stops growing (the input has nothing more for now, as with `tail -f`) is
//!   handed over once it has been idle for the idle interval, so no record waits longer than
//!   that; while input is plentiful batches fill before they idle, so the interval costs nothing
//!   at full speed (`BENCHMARKS.md` measures it);
//! - when the queue holds more than two batches' worth of bytes the reader waits for the
//!   pipeline (backpressure): memory stays bounded whatever the input.
//!
//! Reading also overlaps with tagging: one thread decompresses and splits while the other calls
//! the module. NDJSON is read straight into the buffer that becomes the batch (only a line cut
//! by the end of a read is copied, to start the next one); records taken out of documents are
//! copied once, from the read buffer into the batch.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use trailtag_engine::framing::Framing;

use crate::input::{self, Consumer, InputError, Source};

/// What the pipeline takes from the feed, in input order.
#[derive(Debug)]
pub enum Item {
    /// An input was opened.
    Opened {
        /// Its name.
        name: Arc<str>,
        /// How its records are framed.
        framing: Framing,
    },
    /// An input could not be opened.
    OpenFailed {
        /// Its name.
        name: Arc<str>,
        /// Why.
        error: io::Error,
    },
    /// Whole lines (records and blank lines), each ending with `\n`.
    Batch(Vec<u8>),
    /// A piece of a record larger than the limit, in order.
    OversizedPiece(Vec<u8>),
    /// The end of an oversized record.
    OversizedEnd,
    /// An input ended; with an error when it could not be read to its end (every record before
    /// the error was delivered).
    Closed(Result<(), InputError>),
}

/// What [`Feed::next`] hands out.
#[derive(Debug)]
pub enum Next {
    /// The next item.
    Item(Item),
    /// Nothing new for an idle interval: a good moment to flush output.
    Idle,
    /// Every input has been read.
    End,
}

/// How batches are cut.
#[derive(Debug, Clone, Copy)]
pub struct FeedOptions {
    /// Bytes of whole lines at which a batch closes.
    pub batch_bytes: usize,
    /// Records longer than this are streamed through in pieces.
    pub max_record: usize,
    /// How long a batch may sit without growing before it is handed over.
    pub idle: Duration,
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<Item>,
    queued_bytes: usize,
    /// The last item is a batch the reader may still append to.
    open: bool,
    last_append: Option<Instant>,
    done: bool,
    cancelled: bool,
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queue>,
    changed: Condvar,
    pool: BufferPool,
}

/// Batches the pipeline is done with, handed back so that the reader reads into memory it has
/// already touched (a fresh megabyte costs page faults and the kernel's zeroing of each page).
/// Holds at most [`BufferPool::KEPT`] buffers of at most twice the batch size (a batch grown
/// around one long record is dropped), so memory stays bounded.
#[derive(Debug, Default, Clone)]
pub struct BufferPool {
    kept: Arc<Mutex<Vec<Vec<u8>>>>,
    largest: usize,
}

impl BufferPool {
    const KEPT: usize = 4;

    fn new(batch_bytes: usize) -> Self {
        Self {
            kept: Arc::default(),
            largest: batch_bytes.max(input::READ_BUFFER).saturating_mul(2),
        }
    }

    /// Takes a buffer back (dropped when the pool is full or the buffer is too large). Its
    /// bytes stay: the reader reads over them (`Consumer::owned_buffer`).
    pub fn give(&self, buffer: Vec<u8>) {
        if buffer.capacity() > self.largest {
            return;
        }
        let mut kept = self.lock();
        if kept.len() < Self::KEPT {
            kept.push(buffer);
        }
    }

    /// A buffer to read over, recycled when one is kept.
    fn take(&self) -> Vec<u8> {
        self.lock().pop().unwrap_or_default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Vec<u8>>> {
        self.kept
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Inputs being read on a thread of their own.
#[derive(Debug)]
pub struct Feed {
    shared: Arc<Shared>,
    options: FeedOptions,
    _reader: JoinHandle<()>,
}

impl Feed {
    /// Starts reading `sources` in order; `read_bytes` counts raw bytes read (for progress).
    pub fn start(sources: Vec<Source>, options: FeedOptions, read_bytes: Arc<AtomicU64>) -> Self {
        let shared = Arc::new(Shared {
            pool: BufferPool::new(options.batch_bytes),
            ..Shared::default()
        });
        let writer = Writer {
            shared: Arc::clone(&shared),
            options,
        };
        let reader = std::thread::spawn(move || writer.read_all(sources, &read_bytes));
        Self {
            shared,
            options,
            _reader: reader,
        }
    }

    /// Where the pipeline hands back the batches it has written.
    pub fn pool(&self) -> BufferPool {
        self.shared.pool.clone()
    }

    /// The next item: a closed batch at once, an open one once it has been idle for the idle
    /// interval (or its input has ended).
    pub fn next(&self) -> Next {
        let mut queue = self.shared.lock();
        loop {
            if queue.items.len() > 1 || (queue.items.len() == 1 && !queue.open) {
                return Next::Item(self.pop(&mut queue));
            }
            if queue.items.is_empty() {
                if queue.done {
                    return Next::End;
                }
                let (next, timeout) = self.wait(queue, self.options.idle);
                queue = next;
                if timeout && queue.items.is_empty() && !queue.done {
                    return Next::Idle;
                }
                continue;
            }
            let idle_for = queue.last_append.map_or(Duration::MAX, |t| t.elapsed());
            if queue.done || idle_for >= self.options.idle {
                return Next::Item(self.pop(&mut queue));
            }
            queue = self.wait(queue, self.options.idle - idle_for).0;
        }
    }

    fn wait<'q>(
        &self,
        queue: MutexGuard<'q, Queue>,
        timeout: Duration,
    ) -> (MutexGuard<'q, Queue>, bool) {
        let (queue, result) = self
            .shared
            .changed
            .wait_timeout(queue, timeout)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (queue, result.timed_out())
    }

    fn pop(&self, queue: &mut Queue) -> Item {
        let item = queue.items.pop_front();
        if queue.items.is_empty() {
            queue.open = false;
        }
        let item = item.unwrap_or(Item::Closed(Ok(())));
        queue.queued_bytes = queue.queued_bytes.saturating_sub(item_bytes(&item));
        self.shared.changed.notify_all();
        item
    }
}

impl Drop for Feed {
    /// Stops the reader at its next append (it may be blocked reading: it is not joined).
    fn drop(&mut self) {
        self.shared.lock().cancelled = true;
        self.shared.changed.notify_all();
    }
}

fn item_bytes(item: &Item) -> usize {
    match item {
        Item::Batch(bytes) | Item::OversizedPiece(bytes) => bytes.len(),
        _ => 0,
    }
}

/// The reader thread's side: a [`Consumer`] appending to the queue.
struct Writer {
    shared: Arc<Shared>,
    options: FeedOptions,
}

impl Writer {
    fn read_all(mut self, sources: Vec<Source>, read_bytes: &Arc<AtomicU64>) {
        for source in sources {
            if self.read_one(source, read_bytes).is_err() {
                return;
            }
        }
        self.shared.lock().done = true;
        self.shared.changed.notify_all();
    }

    /// Reads one input to its end; an error means the pipeline went away.
    fn read_one(&mut self, source: Source, read_bytes: &Arc<AtomicU64>) -> io::Result<()> {
        let name: Arc<str> = Arc::from(source.name());
        let mut input = match input::open_source(source, Arc::clone(read_bytes)) {
            Ok(input) => input,
            Err(error) => return self.push(Item::OpenFailed { name, error }),
        };
        self.push(Item::Opened {
            name,
            framing: input.framing,
        })?;
        let result = input::read_records(&mut input, self.options.max_record, self);
        if let Err(InputError::Consumer(e)) = result {
            return Err(e);
        }
        self.push(Item::Closed(result))
    }

    /// Waits while the queue is full; fails once the pipeline has gone.
    fn room(&self) -> io::Result<MutexGuard<'_, Queue>> {
        let mut queue = self.shared.lock();
        while !queue.cancelled && queue.queued_bytes >= 2 * self.options.batch_bytes {
            queue = self
                .shared
                .changed
                .wait(queue)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        if queue.cancelled {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the pipeline stopped",
            ));
        }
        Ok(queue)
    }

    fn push(&self, item: Item) -> io::Result<()> {
        let mut queue = self.room()?;
        queue.queued_bytes += item_bytes(&item);
        queue.open = false;
        queue.items.push_back(item);
        drop(queue);
        self.shared.changed.notify_all();
        Ok(())
    }

    /// Appends whole lines to the open batch, or opens one.
    fn append(&self, parts: &[&[u8]]) -> io::Result<()> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let mut queue = self.room()?;
        if !self.open_batch_takes(&queue, len) {
            queue.items.push_back(Item::Batch(Vec::with_capacity(
                self.options.batch_bytes.max(len),
            )));
        }
        if let Some(Item::Batch(batch)) = queue.items.back_mut() {
            parts.iter().for_each(|p| batch.extend_from_slice(p));
        }
        self.grew(queue, len);
        Ok(())
    }

    /// Lines read straight into a buffer of their own: the buffer becomes the next batch, unless
    /// the open batch (a slow stream's) still has room for them.
    fn hand_over(&self, block: Vec<u8>) -> io::Result<()> {
        let len = block.len();
        let mut queue = self.room()?;
        let takes = self.open_batch_takes(&queue, len);
        match queue.items.back_mut() {
            Some(Item::Batch(open)) if takes => open.extend_from_slice(&block),
            _ => queue.items.push_back(Item::Batch(block)),
        }
        self.grew(queue, len);
        Ok(())
    }

    /// Whether the batch at the back of `queue` is open and has room for `len` more bytes.
    fn open_batch_takes(&self, queue: &Queue, len: usize) -> bool {
        queue.open
            && matches!(queue.items.back(), Some(Item::Batch(b)) if b.len() + len <= self.options.batch_bytes.max(len))
    }

    /// The last batch grew by `len` bytes: it stays open while short of the batch size, and the
    /// pipeline is told.
    #[expect(
        clippy::disallowed_methods,
        reason = "the feed hands over a batch that has been idle for a while: it reads the clock"
    )]
    fn grew(&self, mut queue: MutexGuard<'_, Queue>, len: usize) {
        queue.open = matches!(queue.items.back(), Some(Item::Batch(b)) if b.len() < self.options.batch_bytes);
        queue.queued_bytes += len;
        queue.last_append = Some(Instant::now());
        drop(queue);
        self.shared.changed.notify_all();
    }
}

impl Consumer for Writer {
    fn lines(&mut self, block: &[u8]) -> io::Result<()> {
        self.append(&[block])
    }

    fn owned_batch_bytes(&self) -> usize {
        self.options.batch_bytes
    }

    fn owned_lines(&mut self, block: Vec<u8>) -> io::Result<()> {
        self.hand_over(block)
    }

    fn owned_buffer(&mut self) -> Vec<u8> {
        self.shared.pool.take()
    }

    fn record(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.append(&[bytes, b"\n"])
    }

    fn oversized_piece(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.push(Item::OversizedPiece(bytes.to_vec()))
    }

    fn oversized_end(&mut self) -> io::Result<()> {
        self.push(Item::OversizedEnd)
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::panic,
        reason = "a test fails by panicking"
    )]
    use super::*;
    use std::io::Write;

    fn options(batch_bytes: usize) -> FeedOptions {
        FeedOptions {
            batch_bytes,
            max_record: 1 << 20,
            idle: Duration::from_millis(20),
        }
    }

    fn drain(feed: &Feed) -> Vec<u8> {
        let mut bytes = Vec::new();
        loop {
            match feed.next() {
                Next::Item(Item::Batch(b)) => bytes.extend(b),
                Next::End => return bytes,
                _ => {}
            }
        }
    }

    #[test]
    fn batches_are_cut_at_whole_lines_and_nothing_is_lost() {
        let input: Vec<u8> = (0..5000)
            .flat_map(|i| format!("{{\"i\":{i}}}\n").into_bytes())
            .collect();
        /// Hands out at most 1000 bytes per read.
        struct Trickle(io::Cursor<Vec<u8>>);
        impl io::Read for Trickle {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(1000);
                self.0.read(&mut buf[..n])
            }
        }
        let source = Source::Reader {
            name: "mem".into(),
            reader: Box::new(Trickle(io::Cursor::new(input.clone()))),
        };
        let feed = Feed::start(vec![source], options(4096), Arc::default());
        let mut batches = Vec::new();
        loop {
            match feed.next() {
                Next::Item(Item::Batch(b)) => batches.push(b),
                Next::End => break,
                _ => {}
            }
        }
        assert_eq!(batches.concat(), input);
        assert!(batches.len() > 10, "{} batches", batches.len());
        assert!(
            batches
                .iter()
                .all(|b| b.len() <= 4096 && b.ends_with(b"\n"))
        );
    }

    /// Batches handed back are read over: none of their old bytes may show in a later batch.
    #[test]
    fn recycled_batches_carry_nothing_over() {
        let input: Vec<u8> = (0..40_000)
            .flat_map(|i| format!("{{\"i\":{i}}}\n").into_bytes())
            .collect();
        let source = Source::Reader {
            name: "mem".into(),
            reader: Box::new(io::Cursor::new(input.clone())),
        };
        let feed = Feed::start(vec![source], options(64 * 1024), Arc::default());
        let pool = feed.pool();
        let mut read = Vec::new();
        let mut batches = 0;
        loop {
            match feed.next() {
                Next::Item(Item::Batch(mut b)) => {
                    read.extend_from_slice(&b);
                    batches += 1;
                    b.fill(b'#');
                    pool.give(b);
                }
                Next::End => break,
                _ => {}
            }
        }
        assert!(batches > 2, "{batches} batches");
        assert_eq!(read, input);
    }

    /// A pipe whose writer is still open: the batch must come out after the idle interval, not
    /// at end of input.
    #[test]
    fn a_batch_that_stops_growing_is_handed_over() {
        let (reader, mut writer) = io::pipe().unwrap();
        let source = Source::Reader {
            name: "pipe".into(),
            reader: Box::new(reader),
        };
        let feed = Feed::start(vec![source], options(1 << 20), Arc::default());
        writer.write_all(b"{\"first\":1}\n").unwrap();
        let batch = loop {
            match feed.next() {
                Next::Item(Item::Batch(b)) => break b,
                Next::End => panic!("the input has not ended"),
                _ => {}
            }
        };
        assert_eq!(batch, b"{\"first\":1}\n");
        writer.write_all(b"{\"second\":2}\n").unwrap();
        drop(writer);
        let rest = drain(&feed);
        assert_eq!(rest, b"{\"second\":2}\n");
    }
}
