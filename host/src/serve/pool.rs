//! The guest pool: worker threads, each running a [`Pipeline`] on its own instance of the shared
//! compiled module, taking jobs from every connection through one bounded queue.
//!
//! A job is one item a connection cut from its stream (a batch of whole lines, a piece of an
//! oversized record, its end) with the stream's name and first line number for diagnostics, and
//! a one-shot channel for the answer. A worker sends it through its pipeline, exactly as
//! `trailtag tag` does (faults isolated record by record, oversized records passed through,
//! everything counted), adds the pipeline's counts to the [`Metrics`], and answers with the bytes
//! the pipeline wrote. Connections keep their own answers in order; the pool only computes.
//!
//! The queue holds two jobs per worker: when it is full, a connection waits to submit and so stops
//! reading its socket (backpressure, memory bounded).
//!
//! **Reload.** The rules belong to a [`Generation`]: its workers, their queue and the rule set
//! they were configured with. [`Pool::replace`] starts a new generation from a session already
//! loaded (so a rule set that fails to load never gets here) and makes it current; jobs are
//! submitted to the current generation, and the old one's workers finish every job already queued
//! to them, on the old rules, then stop when the last connection holding the old queue lets go.
//! No job is dropped or answered twice.

use std::sync::{Arc, Mutex, RwLock};

use anyhow::{Result, anyhow};
use tokio::sync::{mpsc, oneshot};
use trailtag_plugin::codec::RuleInfo;

use super::metrics::Metrics;
use crate::feed::Item;
use crate::input::Origin;
use crate::pipeline::{Abi, Captured, Pipeline, PipelineOptions};
use crate::report::Reporter;
use crate::session::Session;

/// What a worker answers: the bytes to write back, or why the module could not go on.
pub type Reply = Result<Vec<u8>, String>;

/// One item of one stream, and where to answer it.
#[derive(Debug)]
pub struct Job {
    /// A batch of whole lines, or a piece or the end of an oversized record.
    pub item: Item,
    /// The stream's name, for diagnostics (`tcp 127.0.0.1:50412`).
    pub stream: Arc<str>,
    /// The number of the item's first line in its stream.
    pub first_line: u64,
    /// Where the answer goes.
    pub reply: oneshot::Sender<Reply>,
}

/// A rule set's workers and their queue.
#[derive(Debug)]
struct Generation {
    jobs: mpsc::Sender<Job>,
    rules: Vec<RuleInfo>,
}

/// The current generation of workers, replaced whole on reload.
#[derive(Debug)]
pub struct Pool {
    current: RwLock<Arc<Generation>>,
    workers: usize,
    metrics: Arc<Metrics>,
}

impl Pool {
    /// `workers` threads on `session` and its siblings (same module, same configuration).
    pub fn start(session: Session, workers: usize, metrics: Arc<Metrics>) -> Result<Self> {
        let generation = Generation::start(session, workers, &metrics)?;
        Ok(Self {
            current: RwLock::new(Arc::new(generation)),
            workers,
            metrics,
        })
    }

    fn current(&self) -> Arc<Generation> {
        let current = self
            .current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(&current)
    }

    /// The rules in force.
    pub fn rules(&self) -> Vec<RuleInfo> {
        self.current().rules.clone()
    }

    /// Queues a job on the current rule set, waiting while the queue is full.
    pub async fn submit(&self, job: Job) -> Result<()> {
        let generation = self.current();
        generation
            .jobs
            .send(job)
            .await
            .map_err(|_| anyhow!("the guest workers stopped"))
    }

    /// Makes a new generation on `session` current (blocking: it instantiates the workers).
    /// Jobs already queued finish on the old rules.
    pub fn replace(&self, session: Session) -> Result<()> {
        let generation = Arc::new(Generation::start(session, self.workers, &self.metrics)?);
        let mut current = self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *current = generation;
        Ok(())
    }
}

impl Generation {
    fn start(session: Session, workers: usize, metrics: &Arc<Metrics>) -> Result<Self> {
        let rules = session.rules().to_vec();
        let mut sessions = (1..workers.max(1))
            .map(|_| session.sibling())
            .collect::<Result<Vec<_>>>()?;
        sessions.push(session);
        let (jobs, queue) = mpsc::channel(2 * sessions.len());
        let queue = Arc::new(Mutex::new(queue));
        for session in sessions {
            let (queue, metrics) = (Arc::clone(&queue), Arc::clone(metrics));
            std::thread::Builder::new()
                .name("trailtag-serve-guest".into())
                .spawn(move || work(session, &queue, &metrics))?;
        }
        Ok(Self { jobs, rules })
    }
}

/// A worker's loop: until every sender of its generation's queue is gone.
fn work(session: Session, queue: &Mutex<mpsc::Receiver<Job>>, metrics: &Metrics) {
    let output = Captured::default();
    let mut reporter = Reporter::new(false, 0);
    let options = PipelineOptions {
        abi: Abi::Raw,
        only_matches: false,
    };
    let sink = Box::new(output.clone());
    let mut pipeline = Pipeline::new(session, options, sink, &mut reporter);
    while let Some(job) = next_job(queue) {
        pipeline.set_position(job.stream, Origin::Line(job.first_line));
        let reply = match pipeline.process(job.item) {
            Ok(()) => Ok(output.take()),
            Err(error) => Err(format!("the module could not go on: {error}")),
        };
        metrics.add(&pipeline.take_totals(), pipeline.rules());
        // A connection that went away no longer wants its answer.
        let _ = job.reply.send(reply);
    }
}

fn next_job(queue: &Mutex<mpsc::Receiver<Job>>) -> Option<Job> {
    queue
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .blocking_recv()
}
