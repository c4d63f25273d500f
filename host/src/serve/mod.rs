//! `trailtag serve`: the sidecar. Shippers that cannot load the module (Vector, syslog-ng,
//! Logstash, ...) send NDJSON to a local process and take the same records back, tagged.
//!
//! The design, one module each:
//! - [`pool`]: worker threads, each a [`crate::pipeline::Pipeline`] on its own instance of the one
//!   compiled module (the same code path as `trailtag tag`: faults isolated, oversized records
//!   passed through, everything counted), fed by one bounded queue; a reload swaps in a new
//!   generation of workers while the old one finishes what it was given;
//! - [`cutter`]: a connection's bytes into whole-line batches and oversized pieces;
//! - [`stream`]: one stream (a TCP connection, an HTTP request body) answered in order through a
//!   bounded window: a slow client slows only itself;
//! - [`answers`]: where a stream's answers go: back to the client, or on to the downstream first;
//! - [`forward`]: `--forward`, the downstream the tagged lines are delivered to before a client is
//!   acknowledged (for shippers that discard what their sinks are answered, such as Vector);
//! - [`http`]: the HTTP routes (`POST /v1/tag`, `GET /metrics`, `/healthz`, `/readyz`);
//! - [`metrics`]: the counters and their Prometheus text.
//!
//! This file owns the listeners and the signals. The async side is tokio: accepting, reading
//! and writing sockets never blocks a thread per client, while the guest runs on the pool's own
//! threads (a guest call is CPU work of up to milliseconds and must not stall the reactor).
//! - **SIGHUP** reloads the rules: a new session is loaded from the rule paths on a blocking
//!   thread; if it loads (and has rules), it becomes current, else it is rejected, the rules in
//!   force stay, and both the log and `trailtag_reloads_total{result="failed"}` say so.
//! - **SIGTERM** (and SIGINT) drains: the listeners close (new connections are refused),
//!   readiness turns false, every TCP connection stops reading and is answered for everything it
//!   sent until then, then closed; every HTTP request in progress is answered whole. Then the
//!   process exits 0, or 1 if `--drain-timeout` ran out first.

pub mod answers;
pub mod cutter;
pub mod forward;
pub mod http;
pub mod metrics;
pub mod pool;
pub mod stream;

use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

use answers::{Echo, ForwardThenEcho};
use forward::forward_failure;
use metrics::Listener;
use stream::Streams;

use crate::session::Session;

/// Where to listen and how long to drain.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// Raw TCP NDJSON.
    pub tcp: Option<SocketAddr>,
    /// HTTP.
    pub http: Option<SocketAddr>,
    /// How long SIGTERM waits for connections to be answered.
    pub drain_timeout: Duration,
}

/// Loads a session with the rules as they are on disk now (called on every SIGHUP).
pub type Loader = Arc<dyn Fn() -> Result<Session> + Send + Sync>;

/// Serves until SIGTERM or SIGINT, then drains.
pub async fn serve(streams: Arc<Streams>, options: ServeOptions, load: Loader) -> Result<()> {
    // Handlers first: a SIGHUP that arrives as soon as the addresses are printed must reload, not
    // end the process (its default action).
    let mut signals = Signals::new()?;
    let (stop_all, stop) = watch::channel(false);
    let mut accepting = Vec::new();
    if let Some(address) = options.tcp {
        let listener = bind(address, "tcp").await?;
        accepting.push(tokio::spawn(accept_tcp(
            listener,
            Arc::clone(&streams),
            stop.clone(),
        )));
    }
    if let Some(address) = options.http {
        let listener = bind(address, "http").await?;
        accepting.push(tokio::spawn(accept_http(
            listener,
            Arc::clone(&streams),
            stop.clone(),
        )));
    }
    if let Some(forwarder) = &streams.forward {
        log(&format!(
            "forwarding tagged lines to {}; a request is answered once they are taken",
            forwarder.target()
        ));
    }
    log(&format!(
        "ready: {} rules in force",
        streams.pool.rules().len()
    ));
    while signals.next().await == Asked::Reload {
        reload(&streams, &load).await;
    }
    streams.metrics.drain();
    log("draining: no new connections; answering what was read");
    let _ = stop_all.send(true);
    drain(accepting, options.drain_timeout).await?;
    log(&format!(
        "drained: {} records answered",
        streams.metrics.records()
    ));
    Ok(())
}

/// What a signal asks for.
#[derive(Debug, PartialEq, Eq)]
enum Asked {
    Reload,
    Stop,
}

struct Signals {
    hangup: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self> {
        let on = |kind| signal(kind).context("installing a signal handler");
        Ok(Self {
            hangup: on(SignalKind::hangup())?,
            terminate: on(SignalKind::terminate())?,
            interrupt: on(SignalKind::interrupt())?,
        })
    }

    async fn next(&mut self) -> Asked {
        tokio::select! {
            _ = self.hangup.recv() => Asked::Reload,
            _ = self.terminate.recv() => Asked::Stop,
            _ = self.interrupt.recv() => Asked::Stop,
        }
    }
}

async fn bind(address: SocketAddr, kind: &str) -> Result<TcpListener> {
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("listening on {address} ({kind})"))?;
    log(&format!("listening {kind} {}", listener.local_addr()?));
    Ok(listener)
}

/// Loads the rules again and makes them current; a rule set that does not load is rejected.
async fn reload(streams: &Arc<Streams>, load: &Loader) {
    let (pool, load) = (Arc::clone(&streams.pool), Arc::clone(load));
    let loaded = tokio::task::spawn_blocking(move || -> Result<usize> {
        let session = load()?;
        let rules = session.rules().len();
        pool.replace(session)?;
        Ok(rules)
    })
    .await
    .context("the reload thread")
    .and_then(|loaded| loaded);
    match loaded {
        Ok(rules) => {
            streams.metrics.reloaded(rules);
            log(&format!("reloaded: {rules} rules in force"));
        }
        Err(error) => {
            streams.metrics.reload_failed();
            let kept = streams.pool.rules().len();
            // One event, one line: the rule problems are joined.
            let why = format!("{error:#}");
            let why: Vec<&str> = why.lines().map(str::trim).collect();
            log(&format!(
                "reload rejected, the {kept} rules in force are kept: {}",
                why.join(" ")
            ));
        }
    }
}

/// Waits for the listeners to close and every connection to be answered.
async fn drain(accepting: Vec<JoinHandle<()>>, timeout: Duration) -> Result<()> {
    let all = async {
        for task in accepting {
            let _ = task.await;
        }
    };
    if tokio::time::timeout(timeout, all).await.is_err() {
        bail!("--drain-timeout ({timeout:?}) ran out with connections still open; they were cut");
    }
    Ok(())
}

/// Accepts TCP connections until stopped, then waits for the open ones to finish.
async fn accept_tcp(listener: TcpListener, streams: Arc<Streams>, mut stop: watch::Receiver<bool>) {
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => break,
        };
        match accepted {
            Ok((socket, peer)) => {
                let streams = Arc::clone(&streams);
                connections.spawn(tcp_connection(socket, peer, streams, stop.clone()));
            }
            Err(error) => log(&format!("tcp accept: {error}")),
        }
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

async fn tcp_connection(
    socket: TcpStream,
    peer: SocketAddr,
    streams: Arc<Streams>,
    stop: watch::Receiver<bool>,
) {
    streams.metrics.opened(Listener::Tcp);
    let _ = socket.set_nodelay(true);
    let name: Arc<str> = Arc::from(format!("tcp {peer}"));
    let (reader, writer) = socket.into_split();
    let client = Echo(writer);
    let answered = match &streams.forward {
        None => {
            streams
                .answer(Arc::clone(&name), reader, client, stop)
                .await
        }
        Some(forwarder) => {
            let delivery = forwarder.delivery();
            let answers = ForwardThenEcho { delivery, client };
            streams
                .answer(Arc::clone(&name), reader, answers, stop)
                .await
        }
    };
    match answered {
        Err(error) if forward_failure(&error).is_some() => {
            log(&format!(
                "{name}: closed, its unanswered lines not taken: {error}"
            ));
        }
        Err(error) if !client_went_away(&error) => log(&format!("{name}: {error}")),
        _ => {}
    }
    streams.metrics.closed(Listener::Tcp);
}

/// Accepts HTTP connections until stopped, then lets the open ones finish their requests.
async fn accept_http(
    listener: TcpListener,
    streams: Arc<Streams>,
    mut stop: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => break,
        };
        match accepted {
            Ok((socket, peer)) => http_connection(socket, peer, &streams, &graceful),
            Err(error) => log(&format!("http accept: {error}")),
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

fn http_connection(
    socket: TcpStream,
    peer: SocketAddr,
    streams: &Arc<Streams>,
    graceful: &GracefulShutdown,
) {
    let _ = socket.set_nodelay(true);
    let name: Arc<str> = Arc::from(format!("http {peer}"));
    let service_streams = Arc::clone(streams);
    let service = service_fn(move |request| {
        http::route(request, Arc::clone(&service_streams), Arc::clone(&name))
    });
    let connection = http1::Builder::new().serve_connection(TokioIo::new(socket), service);
    let connection = graceful.watch(connection);
    let metrics = Arc::clone(&streams.metrics);
    tokio::spawn(async move {
        metrics.opened(Listener::Http);
        let _ = connection.await;
        metrics.closed(Listener::Http);
    });
}

fn client_went_away(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::NotConnected
    )
}

/// One line on stderr: the sidecar's log.
pub fn log(message: &str) {
    let _ = writeln!(io::stderr(), "trailtag serve: {message}");
}
