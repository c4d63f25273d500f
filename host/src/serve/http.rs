//! The HTTP/1.1 front door: four routes on hyper, no framework.
//!
//! | route | answer |
//! |---|---|
//! | `POST /v1/tag` | `200`, `application/x-ndjson`: the request body's lines, tagged, in order, streamed as they are tagged (chunked) |
//! | `GET /metrics` | `200`, Prometheus text format 0.0.4 |
//! | `GET /healthz` | `200 ok`: the process is up and answering |
//! | `GET /readyz` | `200 ready`, or `503` with the reason (no rules loaded, draining) |
//!
//! Anything else is `404`, a wrong method `405` with `Allow`. A tag request's body is read as a
//! stream and answered by the same [`Streams::answer`] as a TCP connection: the body is never
//! held whole, and the response is written through a bounded in-memory pipe, so a client that
//! does not read its response stops its request body being read. Once the status line is sent a
//! failure can only cut the response short (the chunked body then ends without its last chunk,
//! which every client reports as an error), so nothing is ever silently half-answered.
//!
//! With `--forward` a tag request is answered differently: its lines are tagged into one delivery
//! to the downstream ([`super::forward`]), and the status comes only at the end, when it is known:
//! `200` with an empty body once the downstream took every line, `503` with the reason when it
//! did not (a shipper retries a 503), `500` when the module could not go on. The tagged lines are
//! not sent back as well: they would have to be held whole until the status is known, and the
//! shippers that need `--forward` discard response bodies anyway.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::watch;
use tokio_util::io::{ReaderStream, StreamReader};

use super::answers::{Echo, ForwardAll};
use super::forward::{Forwarder, forward_failure};
use super::metrics::Metrics;
use super::stream::Streams;

/// The tagging route.
pub const TAG_PATH: &str = "/v1/tag";
/// The Prometheus route.
pub const METRICS_PATH: &str = "/metrics";
/// Liveness.
pub const HEALTH_PATH: &str = "/healthz";
/// Readiness.
pub const READY_PATH: &str = "/readyz";

/// NDJSON, both ways.
const NDJSON: &str = "application/x-ndjson";
/// Prometheus text exposition.
const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The in-memory pipe between the tagging and the response body.
const RESPONSE_PIPE: usize = 256 * 1024;

/// A response body: whole, or streamed from the tagging.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// Answers one request.
pub async fn route(
    request: Request<Incoming>,
    streams: Arc<Streams>,
    name: Arc<str>,
) -> Result<Response<Body>, Infallible> {
    let metrics = &streams.metrics;
    let response = match (request.uri().path(), request.method()) {
        (TAG_PATH, &Method::POST) => match streams.forward.clone() {
            None => tag(request, Arc::clone(&streams), name),
            Some(forwarder) => tag_forwarded(request, Arc::clone(&streams), name, forwarder).await,
        },
        (METRICS_PATH, &Method::GET) => whole(StatusCode::OK, PROMETHEUS, metrics.render()),
        (HEALTH_PATH, &Method::GET) => text(StatusCode::OK, "ok\n"),
        (READY_PATH, &Method::GET) => readiness(metrics),
        (TAG_PATH, _) => not_allowed("POST"),
        (METRICS_PATH | HEALTH_PATH | READY_PATH, _) => not_allowed("GET"),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: POST /v1/tag, GET /metrics, /healthz, /readyz\n",
        ),
    };
    Ok(response)
}

/// The request body as a reader.
fn body_reader(request: Request<Incoming>) -> impl tokio::io::AsyncRead + Unpin {
    let body = request
        .into_body()
        .into_data_stream()
        .map_err(std::io::Error::other);
    StreamReader::new(body)
}

/// Streams the request body through the pool into the response body.
fn tag(request: Request<Incoming>, streams: Arc<Streams>, name: Arc<str>) -> Response<Body> {
    let reader = body_reader(request);
    let (writer, response) = tokio::io::duplex(RESPONSE_PIPE);
    // A request is answered whole, even while the server drains: it never sees a stop.
    let (_keep, stop) = watch::channel(false);
    tokio::spawn(async move {
        let _keep = _keep;
        if let Err(error) = streams.answer(name, reader, Echo(writer), stop).await {
            log_stream_error(&error);
        }
    });
    let body = StreamBody::new(ReaderStream::new(response).map_ok(Frame::data));
    let mut response = Response::new(BodyExt::boxed(body));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    response
}

/// Tags the request body into one delivery downstream; the status says whether it was taken.
async fn tag_forwarded(
    request: Request<Incoming>,
    streams: Arc<Streams>,
    name: Arc<str>,
    forwarder: Arc<Forwarder>,
) -> Response<Body> {
    let reader = body_reader(request);
    let (_keep, stop) = watch::channel(false);
    let answers = ForwardAll(forwarder.delivery());
    match streams.answer(name, reader, answers, stop).await {
        Ok(()) => whole(StatusCode::OK, NDJSON, String::new()),
        Err(error) => match forward_failure(&error) {
            Some(failure) => whole(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain; charset=utf-8",
                format!("{failure}; the request was not taken, send it again\n"),
            ),
            None => {
                log_stream_error(&error);
                whole(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain; charset=utf-8",
                    format!("not tagged: {error}\n"),
                )
            }
        },
    }
}

fn log_stream_error(error: &std::io::Error) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "trailtag serve: http {TAG_PATH}: {error}"
    );
}

fn readiness(metrics: &Metrics) -> Response<Body> {
    match metrics.ready() {
        Ok(()) => text(StatusCode::OK, "ready\n"),
        Err(reason) => whole(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain; charset=utf-8",
            format!("not ready: {reason}\n"),
        ),
    }
}

fn not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    whole(status, "text/plain; charset=utf-8", body.to_owned())
}

fn whole(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let body = Full::new(Bytes::from(body)).map_err(|never| match never {});
    let mut response = Response::new(BodyExt::boxed(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
