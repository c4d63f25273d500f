//! `--forward`: every tagged line is also delivered to a downstream, and a client's request is
//! acknowledged only once the downstream has taken it.
//!
//! Shippers such as Vector discard what an HTTP or socket sink is answered, so the tagged records
//! would never come back into them. With `--forward URL` the sidecar hands the tagged stream on
//! to a second input of the shipper instead (Vector's `http_server` or `socket` source):
//! - `http://HOST:PORT/PATH`: one `POST` per delivery, the lines as a streamed NDJSON body; the
//!   delivery is done when the downstream answers `2xx`. With Vector's end-to-end
//!   acknowledgements that answer means the events reached its sinks.
//! - `tcp://HOST:PORT`: the lines written on a connection; the delivery is done when they are
//!   written. TCP has no acknowledgement: lines written into a connection the downstream has
//!   just lost can be lost with it (a connection the downstream closed earlier is noticed before
//!   use and replaced).
//!
//! A [`Delivery`] is one unit the client is acknowledged for: an HTTP request, or one answered
//! batch of a TCP connection. It takes a connection from the pool (or opens one) at its first
//! line, so the lines of one delivery are never interleaved with another's and stay in order;
//! [`Delivery::commit`] finishes it and gives the connection back. Any failure (connect, write,
//! a non-`2xx` answer, [`Forwarder`]'s timeout on any of these) fails the delivery, discards the
//! connection, and is counted; the next delivery connects afresh, so the sidecar reconnects by
//! itself once the downstream is back. Nothing is buffered: a delivery streams through one small
//! channel, a downstream that reads slowly slows the client it serves (backpressure), and a
//! downstream that stops reading fails the delivery after the timeout. A failed delivery may have
//! been partly delivered, and the client sends it again: at least once, never silently lost.

use std::fmt;
use std::io;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http_body_util::{BodyExt, Limited, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::log;
use super::metrics::Metrics;

/// Idle downstream connections kept for the next deliveries; more are closed when given back.
const IDLE_CONNECTIONS: usize = 8;
/// Body frames in flight between a delivery and its `POST`.
const BODY_FRAMES: usize = 4;
/// How much of a downstream's answer is read (for the log, and to reuse the connection).
const ANSWER_LIMIT: usize = 64 * 1024;

/// Where the tagged lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// NDJSON on a TCP connection: `tcp://HOST:PORT`.
    Tcp {
        /// `HOST:PORT`.
        authority: String,
    },
    /// NDJSON `POST`s: `http://HOST:PORT/PATH`.
    Http {
        /// `HOST:PORT`.
        authority: String,
        /// The request path, `/` when the URL has none.
        path: String,
    },
}

impl FromStr for Target {
    type Err = String;

    fn from_str(url: &str) -> Result<Self, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("{url:?}: expected tcp://HOST:PORT or http://HOST:PORT/PATH"))?;
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, ""),
        };
        check_authority(url, authority)?;
        let authority = authority.to_owned();
        match scheme {
            "tcp" if path.is_empty() => Ok(Self::Tcp { authority }),
            "tcp" => Err(format!("{url:?}: a tcp:// target has no path")),
            "http" => Ok(Self::Http {
                authority,
                path: if path.is_empty() { "/" } else { path }.to_owned(),
            }),
            "https" => Err(format!(
                "{url:?}: the sidecar has no TLS; forward to a shipper beside it over http://"
            )),
            _ => Err(format!("{url:?}: the scheme must be tcp or http")),
        }
    }
}

fn check_authority(url: &str, authority: &str) -> Result<(), String> {
    let port = authority
        .rsplit_once(':')
        .map(|(host, port)| (host, port.parse::<u16>()));
    match port {
        Some((host, Ok(port))) if !host.is_empty() && port > 0 => Ok(()),
        _ => Err(format!("{url:?}: expected HOST:PORT after the scheme")),
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp { authority } => write!(f, "tcp://{authority}"),
            Self::Http { authority, path } => write!(f, "http://{authority}{path}"),
        }
    }
}

/// Why a delivery failed, for the client (an HTTP 503's body) and the log.
#[derive(Debug, thiserror::Error)]
#[error("forwarding to {target} failed: {reason}")]
pub struct ForwardError {
    target: String,
    reason: String,
}

/// The forwarding failure inside `error`, if that is what it is.
pub fn forward_failure(error: &io::Error) -> Option<&ForwardError> {
    error.get_ref()?.downcast_ref::<ForwardError>()
}

/// The body of a forwarding `POST`: the lines as they are tagged.
type Body = BoxBody<Bytes, io::Error>;

/// An open downstream connection.
#[derive(Debug)]
enum Connection {
    Tcp(TcpStream),
    Http {
        sender: SendRequest<Body>,
        /// The task driving the connection; aborting it cuts a `POST` short.
        driver: JoinHandle<()>,
    },
}

impl Connection {
    /// An idle connection if it can still carry a delivery: the downstream has not closed it.
    async fn ready(self) -> Option<Self> {
        match self {
            Self::Tcp(stream) => tcp_open(&stream).then_some(Self::Tcp(stream)),
            Self::Http { mut sender, driver } => match sender.ready().await {
                Ok(()) => Some(Self::Http { sender, driver }),
                Err(_) => None,
            },
        }
    }
}

/// A downstream that never writes to us has closed the connection once it is readable.
fn tcp_open(stream: &TcpStream) -> bool {
    use rustix::net::{RecvFlags, recv};
    let mut probe = [0u8; 1];
    matches!(
        recv(
            stream,
            &mut probe[..],
            RecvFlags::PEEK | RecvFlags::DONTWAIT
        ),
        Err(rustix::io::Errno::AGAIN)
    )
}

/// The downstream, its idle connections, and whether it is answering.
#[derive(Debug)]
pub struct Forwarder {
    target: Target,
    timeout: Duration,
    idle: Mutex<Vec<Connection>>,
    metrics: Arc<Metrics>,
    down: AtomicBool,
}

impl Forwarder {
    /// Forwards to `target`; every connect, write and answer must come within `timeout`.
    pub fn new(target: Target, timeout: Duration, metrics: Arc<Metrics>) -> Self {
        metrics.forwarding();
        Self {
            target,
            timeout,
            idle: Mutex::new(Vec::new()),
            metrics,
            down: AtomicBool::new(false),
        }
    }

    /// Where the lines go.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// A new delivery; it connects at its first line.
    pub fn delivery(self: &Arc<Self>) -> Delivery {
        Delivery {
            forwarder: Arc::clone(self),
            open: None,
            lines: 0,
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// An idle connection that is still open, or a new one.
    async fn connection(&self) -> Result<Connection, String> {
        loop {
            let Some(connection) = self.idle().pop() else {
                break;
            };
            if let Some(connection) = connection.ready().await {
                return Ok(connection);
            }
        }
        let connection = self.bounded("connecting", self.connect()).await?;
        self.metrics.forward_connected();
        Ok(connection)
    }

    async fn connect(&self) -> io::Result<Connection> {
        match &self.target {
            Target::Tcp { authority } => {
                let stream = TcpStream::connect(authority.as_str()).await?;
                let _ = stream.set_nodelay(true);
                Ok(Connection::Tcp(stream))
            }
            Target::Http { authority, .. } => {
                let stream = TcpStream::connect(authority.as_str()).await?;
                let _ = stream.set_nodelay(true);
                let (sender, connection) = http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(io::Error::other)?;
                let driver = tokio::spawn(async move {
                    let _ = connection.await;
                });
                Ok(Connection::Http { sender, driver })
            }
        }
    }

    fn give_back(&self, connection: Connection) {
        let mut idle = self.idle();
        if idle.len() < IDLE_CONNECTIONS {
            idle.push(connection);
        }
    }

    /// `operation`, failed after the timeout.
    async fn bounded<T>(
        &self,
        doing: &str,
        operation: impl Future<Output = io::Result<T>>,
    ) -> Result<T, String> {
        match tokio::time::timeout(self.timeout, operation).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(format!("{doing}: {error}")),
            Err(_) => Err(format!("{doing}: no progress in {:?}", self.timeout)),
        }
    }

    fn delivered(&self, lines: u64) {
        self.metrics.forwarded(lines);
        if self.down.swap(false, Ordering::Relaxed) {
            log(&format!("forward: {} takes lines again", self.target));
        }
    }

    fn failed(&self, reason: String) -> ForwardError {
        self.metrics.forward_failed();
        let error = ForwardError {
            target: self.target.to_string(),
            reason,
        };
        if !self.down.swap(true, Ordering::Relaxed) {
            log(&format!(
                "{error}; requests fail (HTTP 503, TCP connections closed) until it takes lines again"
            ));
        }
        error
    }
}

/// What a delivery holds while it is open.
enum Open {
    Tcp(TcpStream),
    Http {
        sender: SendRequest<Body>,
        driver: JoinHandle<()>,
        body: mpsc::Sender<io::Result<Bytes>>,
        answer: std::pin::Pin<Box<dyn Future<Output = hyper::Result<Response<Incoming>>> + Send>>,
    },
}

/// One unit of lines the client is acknowledged for, delivered whole and in order or failed.
pub struct Delivery {
    forwarder: Arc<Forwarder>,
    open: Option<Open>,
    lines: u64,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("target", &self.forwarder.target)
            .field("open", &self.open.is_some())
            .field("lines", &self.lines)
            .finish()
    }
}

impl Delivery {
    /// Delivers `bytes` (whole lines, or a piece of one), connecting first if need be.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), ForwardError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let sent = self.try_send(bytes).await;
        sent.map_err(|reason| self.fail(reason))
    }

    /// Sends on the open delivery, which stays in `self.open` so that a failure can abort it.
    async fn try_send(&mut self, bytes: &[u8]) -> Result<(), String> {
        if self.open.is_none() {
            self.open = Some(self.start().await?);
        }
        let forwarder = Arc::clone(&self.forwarder);
        match self.open.as_mut() {
            Some(Open::Tcp(stream)) => {
                let writing = stream.write_all(bytes);
                forwarder.bounded("writing", writing).await?;
            }
            Some(Open::Http { body, .. }) => {
                let frame = Ok(Bytes::copy_from_slice(bytes));
                let sending = async { body.send(frame).await.map_err(|_| closed()) };
                forwarder.bounded("sending", sending).await?;
            }
            None => return Err("no open delivery".into()),
        }
        self.lines += memchr::memchr_iter(b'\n', bytes).count() as u64;
        Ok(())
    }

    /// Takes a connection and, for HTTP, starts the `POST` its lines stream into.
    async fn start(&mut self) -> Result<Open, String> {
        let connection = self.forwarder.connection().await?;
        Ok(match (connection, &self.forwarder.target) {
            (Connection::Tcp(stream), _) => Open::Tcp(stream),
            (Connection::Http { mut sender, driver }, Target::Http { authority, path }) => {
                let (body, frames) = mpsc::channel(BODY_FRAMES);
                let request = post(authority, path, frames).map_err(|e| e.to_string())?;
                let answer = Box::pin(sender.send_request(request));
                Open::Http {
                    sender,
                    driver,
                    body,
                    answer,
                }
            }
            (Connection::Http { .. }, Target::Tcp { .. }) => {
                return Err("an HTTP connection for a TCP target".into());
            }
        })
    }

    /// Finishes the delivery: everything sent is taken by the downstream, or the delivery fails.
    /// A delivery that sent nothing succeeds at once.
    pub async fn commit(&mut self) -> Result<(), ForwardError> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let forwarder = Arc::clone(&self.forwarder);
        match forwarder.finish(open).await {
            Ok(connection) => {
                forwarder.give_back(connection);
                forwarder.delivered(std::mem::take(&mut self.lines));
                Ok(())
            }
            Err(reason) => Err(self.fail(reason)),
        }
    }

    fn fail(&mut self, reason: String) -> ForwardError {
        self.abort();
        self.lines = 0;
        self.forwarder.failed(reason)
    }

    /// Cuts an unfinished delivery off: the downstream must not take half a request as whole.
    fn abort(&mut self) {
        if let Some(Open::Http { driver, .. }) = self.open.take() {
            driver.abort();
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        self.abort();
    }
}

impl Forwarder {
    /// Ends an open delivery; gives back its connection when the downstream took everything.
    async fn finish(&self, open: Open) -> Result<Connection, String> {
        match open {
            Open::Tcp(mut stream) => {
                self.bounded("flushing", stream.flush()).await?;
                Ok(Connection::Tcp(stream))
            }
            Open::Http {
                sender,
                driver,
                body,
                answer,
            } => {
                drop(body);
                let answered = self
                    .bounded("waiting for the answer", answered(answer))
                    .await;
                match answered {
                    Ok(()) => Ok(Connection::Http { sender, driver }),
                    Err(reason) => {
                        driver.abort();
                        Err(reason)
                    }
                }
            }
        }
    }
}

/// Waits for the downstream's answer: `2xx`, read whole so the connection can be used again.
async fn answered(
    answer: impl Future<Output = hyper::Result<Response<Incoming>>>,
) -> io::Result<()> {
    let response = answer.await.map_err(io::Error::other)?;
    let status = response.status();
    let body = Limited::new(response.into_body(), ANSWER_LIMIT)
        .collect()
        .await
        .map_err(io::Error::other)?
        .to_bytes();
    if status.is_success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&body);
    let text = text.trim();
    Err(io::Error::other(format!(
        "the downstream answered {status}: {text:.200}"
    )))
}

fn post(
    authority: &str,
    path: &str,
    frames: mpsc::Receiver<io::Result<Bytes>>,
) -> Result<Request<Body>, hyper::http::Error> {
    let frames = stream::unfold(frames, |mut frames| async move {
        let frame = frames.recv().await?;
        Some((frame.map(Frame::data), frames))
    });
    Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(HOST, authority)
        .header(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        )
        .body(BodyExt::boxed(StreamBody::new(frames)))
}

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "the downstream closed the request",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_print_back() {
        for url in [
            "tcp://127.0.0.1:9000",
            "http://localhost:8080/tagged",
            "http://[::1]:80/",
        ] {
            assert_eq!(
                url.parse::<Target>().map(|t| t.to_string()),
                Ok(url.to_owned())
            );
        }
        assert_eq!(
            "http://127.0.0.1:8080"
                .parse::<Target>()
                .map(|t| t.to_string()),
            Ok("http://127.0.0.1:8080/".to_owned())
        );
    }

    #[test]
    fn bad_targets_say_what_is_expected() {
        for (url, says) in [
            ("127.0.0.1:9000", "expected tcp://"),
            ("udp://127.0.0.1:9000", "tcp or http"),
            ("https://127.0.0.1:9000/", "no TLS"),
            ("tcp://127.0.0.1:9000/x", "no path"),
            ("tcp://127.0.0.1", "HOST:PORT"),
            ("http://:80/", "HOST:PORT"),
        ] {
            let error = url.parse::<Target>().err().unwrap_or_default();
            assert!(error.contains(says), "{url}: {error}");
        }
    }
}
