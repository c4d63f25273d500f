//! A pool of guest instances that transform batches in parallel, answered in input order.
//!
//! Each worker thread owns a [`Session`] on the shared compiled module, configured with the same
//! document as the pipeline's own, and takes batches from one queue. Answers come back tagged
//! with the batch's sequence number; [`Workers::next_answer`] hands them out strictly in that
//! order, holding early ones until their turn. The pipeline bounds how many batches are in
//! flight ([`Workers::capacity`]), so memory stays bounded: at most that many batches and their
//! outputs exist at once, whatever the input.
//!
//! A fault stays with its batch: the worker's session replaces its own instance (as any
//! session does), and the answer carries the fault, so that the pipeline isolates the batch's
//! records on its own session, exactly as it does with one instance.

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use anyhow::{Result, anyhow};

use crate::guest::{BatchOutput, GuestFault};
use crate::session::Session;

/// What a worker answers for one batch: the batch itself (for isolating it after a fault) and
/// the session's result.
#[derive(Debug)]
pub struct Answer {
    /// The batch as it was sent.
    pub batch: Vec<u8>,
    /// The guest's output, or its fault; the outer error means the session could not replace a
    /// failed instance.
    pub result: Result<Result<BatchOutput, GuestFault>>,
}

type Job = (u64, Vec<u8>);

/// Worker threads, each with its own guest instance.
pub struct Workers {
    jobs: Option<SyncSender<Job>>,
    answers: Receiver<(u64, Answer)>,
    threads: Vec<JoinHandle<()>>,
    /// Answers that arrived before their turn.
    early: BTreeMap<u64, Answer>,
    next_sent: u64,
    next_answered: u64,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("threads", &self.threads.len())
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

impl Workers {
    /// `count` workers, each on a sibling of `session` (same module, same configuration).
    pub fn start(session: &Session, count: usize) -> Result<Self> {
        let sessions: Vec<Session> = (0..count)
            .map(|_| session.sibling())
            .collect::<Result<_>>()?;
        let (jobs, queue) = sync_channel::<Job>(count);
        let queue = Arc::new(Mutex::new(queue));
        let (answer, answers) = channel();
        let threads = sessions
            .into_iter()
            .map(|session| spawn(session, Arc::clone(&queue), answer.clone()))
            .collect::<std::io::Result<_>>()?;
        Ok(Self {
            jobs: Some(jobs),
            answers,
            threads,
            early: BTreeMap::new(),
            next_sent: 0,
            next_answered: 0,
        })
    }

    /// How many batches may be in flight at once: two per worker, so that each has the next
    /// one waiting while the pipeline writes.
    pub fn capacity(&self) -> usize {
        2 * self.threads.len()
    }

    /// Batches sent and not yet handed out.
    pub fn in_flight(&self) -> usize {
        usize::try_from(self.next_sent - self.next_answered).unwrap_or(usize::MAX)
    }

    /// Queues a batch (waits while every worker is busy and the queue is full).
    pub fn send(&mut self, batch: Vec<u8>) -> Result<()> {
        let jobs = self
            .jobs
            .as_ref()
            .ok_or_else(|| anyhow!("the workers stopped"))?;
        jobs.send((self.next_sent, batch))
            .map_err(|_| anyhow!("the guest workers stopped"))?;
        self.next_sent += 1;
        Ok(())
    }

    /// The answer to the oldest batch not yet handed out, waiting for it if need be; `None`
    /// when nothing is in flight.
    pub fn next_answer(&mut self) -> Result<Option<Answer>> {
        if self.in_flight() == 0 {
            return Ok(None);
        }
        loop {
            if let Some(answer) = self.early.remove(&self.next_answered) {
                self.next_answered += 1;
                return Ok(Some(answer));
            }
            let (sequence, answer) = self
                .answers
                .recv()
                .map_err(|_| anyhow!("a guest worker stopped without answering"))?;
            self.early.insert(sequence, answer);
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        // Closing the queue ends every worker's loop.
        self.jobs = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn spawn(
    mut session: Session,
    queue: Arc<Mutex<Receiver<Job>>>,
    answers: Sender<(u64, Answer)>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("trailtag-guest".into())
        .spawn(move || {
            loop {
                let job = match queue.lock() {
                    Ok(queue) => queue.recv(),
                    Err(_) => return,
                };
                let Ok((sequence, batch)) = job else { return };
                let result = session.transform(&batch);
                if answers.send((sequence, Answer { batch, result })).is_err() {
                    return;
                }
            }
        })
}
