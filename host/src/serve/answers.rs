//! Where a stream's answers go, in order: back to the client, or on to the downstream first.
//!
//! [`super::stream`] tags a stream and hands its answers, in order, to an [`Answers`]; the three
//! kinds differ only in what "answered" means:
//!
//! | kind | used for | an answer is | the end |
//! |---|---|---|---|
//! | [`Echo`] | no `--forward` | written back to the client | flushed, the client's side shut |
//! | [`ForwardThenEcho`] | a TCP connection, `--forward` | delivered downstream (each answer its own delivery), then written back | the same |
//! | [`ForwardAll`] | an HTTP request, `--forward` | streamed into the request's one delivery | the delivery committed: the request's `200` |
//!
//! With `ForwardThenEcho` a TCP client reads a line's end only after the downstream took that
//! line: what it has been answered was delivered, what it has not it sends again. A line over
//! `--max-record` arrives in pieces; its pieces are written on through one delivery, committed
//! at its end, so a delivery never holds half a line.

use std::io;

use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::forward::Delivery;

/// The receiving end of a stream's answers.
pub trait Answers {
    /// One answer: whole lines, or a piece of a line over `--max-record`.
    fn put(&mut self, answer: Vec<u8>) -> impl Future<Output = io::Result<()>> + Send;
    /// No answer is ready yet: a moment to flush.
    fn idle(&mut self) -> impl Future<Output = io::Result<()>> + Send;
    /// The stream ended and every answer was put.
    fn finish(&mut self) -> impl Future<Output = io::Result<()>> + Send;
}

/// Answers written back to the client.
#[derive(Debug)]
pub struct Echo<W>(pub W);

impl<W: AsyncWrite + Unpin + Send> Answers for Echo<W> {
    async fn put(&mut self, answer: Vec<u8>) -> io::Result<()> {
        self.0.write_all(&answer).await
    }

    async fn idle(&mut self) -> io::Result<()> {
        self.0.flush().await
    }

    async fn finish(&mut self) -> io::Result<()> {
        self.0.flush().await?;
        self.0.shutdown().await
    }
}

/// Each answer delivered downstream, then written back to the client.
#[derive(Debug)]
pub struct ForwardThenEcho<W> {
    /// The delivery of the answer (or the line over `--max-record`) in progress.
    pub delivery: Delivery,
    /// Back to the client.
    pub client: Echo<W>,
}

impl<W: AsyncWrite + Unpin + Send> Answers for ForwardThenEcho<W> {
    async fn put(&mut self, answer: Vec<u8>) -> io::Result<()> {
        self.delivery
            .send(&answer)
            .await
            .map_err(io::Error::other)?;
        if answer.ends_with(b"\n") {
            self.delivery.commit().await.map_err(io::Error::other)?;
        }
        self.client.put(answer).await
    }

    async fn idle(&mut self) -> io::Result<()> {
        self.client.idle().await
    }

    async fn finish(&mut self) -> io::Result<()> {
        self.delivery.commit().await.map_err(io::Error::other)?;
        self.client.finish().await
    }
}

/// Every answer streamed into one delivery, committed at the end.
#[derive(Debug)]
pub struct ForwardAll(pub Delivery);

impl Answers for ForwardAll {
    async fn put(&mut self, answer: Vec<u8>) -> io::Result<()> {
        self.0.send(&answer).await.map_err(io::Error::other)
    }

    async fn idle(&mut self) -> io::Result<()> {
        Ok(())
    }

    async fn finish(&mut self) -> io::Result<()> {
        self.0.commit().await.map_err(io::Error::other)
    }
}
