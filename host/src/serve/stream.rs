//! One NDJSON stream (a TCP connection, an HTTP request body) answered in order.
//!
//! Two halves run side by side in the connection's task. The reading half reads the stream,
//! cuts it ([`Cutter`]), submits each item to the [`Pool`] and puts the item's one-shot answer
//! into a window, a bounded channel of `--window` answers. The writing half takes the answers
//! from the window in the order they were put there, waits for each and writes it, flushing
//! whenever it has caught up. So:
//! - answers leave in the order their records came in, whichever worker finished first;
//! - a client that does not read its answers blocks the writing half, the window fills, and the
//!   reading half stops reading: TCP pushes back on that client alone, and the server holds at
//!   most `window` batches and one unfinished line for it;
//! - a stop signal (SIGTERM) ends the reading half as if the stream had ended: what was read is
//!   answered and flushed, then the stream is closed.
//!
//! Where the answers go is the [`Answers`] the stream is given: back to the client, or with
//! `--forward` on to the downstream first ([`super::answers`]).

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{mpsc, oneshot, watch};

use super::answers::Answers;
use super::cutter::Cutter;
use super::forward::Forwarder;
use super::metrics::Metrics;
use super::pool::{Job, Pool, Reply};
use crate::feed::Item;

/// Bytes asked of the stream per read.
const READ_CHUNK: usize = 64 * 1024;

/// What every stream shares.
#[derive(Debug)]
pub struct Streams {
    /// The guest pool.
    pub pool: Arc<Pool>,
    /// The counters.
    pub metrics: Arc<Metrics>,
    /// Lines longer than this are passed through in pieces.
    pub max_record: usize,
    /// Answers one stream may have in flight.
    pub window: usize,
    /// Where the tagged lines are also delivered (`--forward`).
    pub forward: Option<Arc<Forwarder>>,
}

/// An answer on its way, and when its batch was read.
type Pending = (oneshot::Receiver<Reply>, Instant);

impl Streams {
    /// Answers `reader`'s lines into `answers` until the reader ends or `stop` turns true; then
    /// finishes them. An error means the client went away, the module could not go on or the
    /// answers could not be delivered; answers given before it stay given, and a stream that
    /// could not be read to its end is not finished.
    pub async fn answer(
        &self,
        name: Arc<str>,
        reader: impl AsyncRead + Unpin,
        mut answers: impl Answers,
        stop: watch::Receiver<bool>,
    ) -> io::Result<()> {
        let (window, pending) = mpsc::channel(self.window.max(1));
        let (read, write) = tokio::join!(
            self.read_half(name, reader, window, stop),
            write_half(pending, &mut answers, &self.metrics),
        );
        write?;
        read?;
        answers.finish().await
    }

    async fn read_half(
        &self,
        name: Arc<str>,
        mut reader: impl AsyncRead + Unpin,
        window: mpsc::Sender<Pending>,
        mut stop: watch::Receiver<bool>,
    ) -> io::Result<()> {
        let mut cutter = Cutter::new(self.max_record);
        let mut buffer = Vec::with_capacity(READ_CHUNK);
        let mut items = Vec::new();
        let mut line = 1;
        while !*stop.borrow() {
            buffer.clear();
            let read = tokio::select! {
                read = reader.read_buf(&mut buffer) => read?,
                _ = stop.changed() => break,
            };
            if read == 0 {
                break;
            }
            cutter.push(&buffer, &mut items);
            if !self.submit(&name, &mut items, &mut line, &window).await {
                return Ok(());
            }
        }
        cutter.finish(&mut items);
        self.submit(&name, &mut items, &mut line, &window).await;
        Ok(())
    }

    /// Submits `items` and puts their answers in the window; false when the writing half has
    /// gone (the client went away).
    async fn submit(
        &self,
        name: &Arc<str>,
        items: &mut Vec<Item>,
        line: &mut u64,
        window: &mpsc::Sender<Pending>,
    ) -> bool {
        for item in items.drain(..) {
            let first_line = *line;
            *line += lines_in(&item);
            let (reply, answer) = oneshot::channel();
            let job = Job {
                item,
                stream: Arc::clone(name),
                first_line,
                reply,
            };
            let read_at = now();
            // A pool that stopped drops the job, and the writing half reports it.
            let _ = self.pool.submit(job).await;
            if window.send((answer, read_at)).await.is_err() {
                return false;
            }
        }
        true
    }
}

/// Gives the answers in window order, flushing whenever none is ready yet.
async fn write_half(
    mut pending: mpsc::Receiver<Pending>,
    answers: &mut impl Answers,
    metrics: &Metrics,
) -> io::Result<()> {
    while let Some((answer, read_at)) = pending.recv().await {
        let bytes = answer
            .await
            .map_err(|_| io::Error::other("the guest workers stopped"))?
            .map_err(io::Error::other)?;
        metrics.observe_latency(elapsed(read_at));
        answers.put(bytes).await?;
        if pending.is_empty() {
            answers.idle().await?;
        }
    }
    Ok(())
}

/// Lines an item finishes (an oversized record is one line, counted at its end).
fn lines_in(item: &Item) -> u64 {
    match item {
        Item::Batch(batch) => memchr::memchr_iter(b'\n', batch).count() as u64,
        Item::OversizedEnd => 1,
        _ => 0,
    }
}

#[expect(
    clippy::disallowed_methods,
    reason = "the latency histogram: from a batch read to its answer"
)]
fn now() -> Instant {
    Instant::now()
}

fn elapsed(since: Instant) -> Duration {
    now().saturating_duration_since(since)
}
