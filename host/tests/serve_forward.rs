//! `trailtag serve --forward tcp://…`, the real binary on loopback, with a downstream listener in
//! the test standing in for Vector's `socket` source: it receives exactly the lines the CLI tags,
//! in order, from HTTP requests and TCP connections alike, written before the client is answered; with the downstream down a request fails with 503 and is counted, a TCP
//! client is closed unanswered, and once the downstream is back the sidecar reconnects by itself
//! and nothing is lost.
//!
//! Nothing here waits on the clock: every wait is for an event, with a hang guard only.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use trailtag::bench::client::{HANG_GUARD, Http, Sidecar, metric, tcp_roundtrip};
use trailtag_conformance as data;

/// A downstream NDJSON listener: every whole line any connection sends, in arrival order.
struct Downstream {
    address: SocketAddr,
    received: Arc<(Mutex<Vec<u8>>, Condvar)>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    stopping: Arc<AtomicBool>,
    accepting: Option<JoinHandle<()>>,
}

impl Downstream {
    fn listen(address: SocketAddr) -> Self {
        let listener = TcpListener::bind(address).unwrap();
        let address = listener.local_addr().unwrap();
        let received = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let stopping = Arc::new(AtomicBool::new(false));
        let (lines, open) = (Arc::clone(&received), Arc::clone(&connections));
        let stop = Arc::clone(&stopping);
        let accepting = std::thread::spawn(move || {
            for stream in listener.incoming() {
                let stream = stream.unwrap();
                if stop.load(Ordering::SeqCst) {
                    return; // `stop` woke us
                }
                open.lock().unwrap().push(stream.try_clone().unwrap());
                let lines = Arc::clone(&lines);
                std::thread::spawn(move || read_lines(stream, &lines));
            }
        });
        Self {
            address,
            received,
            connections,
            stopping,
            accepting: Some(accepting),
        }
    }

    /// Waits until `len` bytes of whole lines have arrived; returns them all.
    fn wait_for(&self, len: usize) -> Vec<u8> {
        let (lines, arrived) = &*self.received;
        let lines = arrived
            .wait_timeout_while(lines.lock().unwrap(), HANG_GUARD, |l| l.len() < len)
            .unwrap()
            .0;
        assert!(
            lines.len() >= len,
            "the downstream got {} of {len} bytes",
            lines.len()
        );
        lines.clone()
    }

    fn received(&self) -> Vec<u8> {
        self.received.0.lock().unwrap().clone()
    }

    /// Closes the listener and every connection: the downstream is down.
    fn stop(mut self) -> Vec<u8> {
        // A listener is closed by its thread once a connection from itself wakes it.
        self.stopping.store(true, Ordering::SeqCst);
        let wake = TcpStream::connect(self.address).unwrap();
        self.accepting.take().unwrap().join().unwrap();
        drop(wake);
        for stream in self.connections.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        self.received()
    }
}

fn read_lines(stream: TcpStream, received: &(Mutex<Vec<u8>>, Condvar)) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
        if line.ends_with(b"\n") {
            received.0.lock().unwrap().extend_from_slice(&line);
            received.1.notify_all();
        }
        line.clear();
    }
}

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_trailtag"))
}

fn forwarding_to(downstream: SocketAddr) -> Sidecar {
    let target = format!("tcp://{downstream}");
    Sidecar::start(binary(), &["--forward", &target, "--forward-timeout", "5s"]).unwrap()
}

/// The labelled cases as NDJSON, `from..to`.
fn cases(from: usize, to: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    for case in &data::cases()[from..to] {
        bytes.extend_from_slice(case.record.as_bytes());
        bytes.push(b'\n');
    }
    bytes
}

fn tagged_by_cli(input: &[u8]) -> Vec<u8> {
    let run = common::trailtag(&["tag"], input);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
}

fn post(sidecar: &Sidecar, body: &[u8]) -> (u16, String) {
    let (status, answer) = Http::connect(sidecar.http)
        .unwrap()
        .request("POST", "/v1/tag", body)
        .unwrap();
    (status, String::from_utf8_lossy(&answer).into_owned())
}

fn value(sidecar: &Sidecar, series: &str) -> f64 {
    let metrics = sidecar.metrics().unwrap();
    metric(&metrics, series).unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
}

const OK: &str = "trailtag_forward_deliveries_total{result=\"ok\"}";
const FAILED: &str = "trailtag_forward_deliveries_total{result=\"failed\"}";

#[test]
fn the_downstream_receives_exactly_the_tagged_lines_in_order_before_the_client_is_answered() {
    let downstream = Downstream::listen(SocketAddr::from(([127, 0, 0, 1], 0)));
    let sidecar = forwarding_to(downstream.address);
    let input = cases(0, data::cases().len());
    let expected = tagged_by_cli(&input);

    // HTTP: 200 with an empty body once every line was written to the downstream (TCP tells no
    // more than written: the listener reads them when it reads them).
    assert_eq!(post(&sidecar, &input), (200, String::new()));
    assert!(
        downstream.wait_for(expected.len()) == expected,
        "the HTTP request's lines, in order"
    );

    // TCP: the same lines back, each only after it was forwarded.
    let answer = tcp_roundtrip(sidecar.tcp, &input).unwrap();
    assert!(
        answer == expected,
        "the TCP client is answered as without --forward"
    );
    let both = [expected.clone(), expected.clone()].concat();
    assert!(
        downstream.wait_for(both.len()) == both,
        "then the TCP connection's lines"
    );

    let lines = common::lines(&expected).len() as f64;
    assert_eq!(
        value(&sidecar, "trailtag_forwarded_lines_total"),
        2.0 * lines
    );
    assert_eq!(value(&sidecar, FAILED), 0.0);
    assert_eq!(value(&sidecar, "trailtag_forward_up"), 1.0);
    assert_eq!(value(&sidecar, "trailtag_forward_connections_total"), 1.0);
    assert_eq!(sidecar.stop().unwrap().code(), Some(0));
}

#[test]
fn with_the_downstream_down_requests_fail_and_are_counted_then_it_recovers_and_nothing_is_lost() {
    let downstream = Downstream::listen(SocketAddr::from(([127, 0, 0, 1], 0)));
    let address = downstream.address;
    let sidecar = forwarding_to(address);
    let all = data::cases().len();
    let (a, b, c) = (cases(0, 30), cases(30, 60), cases(60, all));

    assert_eq!(post(&sidecar, &a).0, 200);
    downstream.wait_for(tagged_by_cli(&a).len());
    let first = downstream.stop();

    // Down: the request fails with the reason, the failure is counted and logged.
    let (status, reason) = post(&sidecar, &b);
    assert_eq!(status, 503, "{reason}");
    assert!(reason.contains(&format!("tcp://{address}")), "{reason}");
    assert!(reason.contains("send it again"), "{reason}");
    sidecar.wait_for("forwarding to").unwrap();
    assert_eq!(value(&sidecar, FAILED), 1.0);
    assert_eq!(value(&sidecar, "trailtag_forward_up"), 0.0);
    // A TCP client is closed without an answer: nothing it sent was taken.
    let mut client = TcpStream::connect(sidecar.tcp).unwrap();
    client.write_all(&c).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut unanswered = Vec::new();
    let _ = client.read_to_end(&mut unanswered);
    assert!(
        unanswered.is_empty(),
        "no line answered that was not forwarded"
    );
    assert_eq!(value(&sidecar, FAILED), 2.0);

    // Back: the shipper sends what failed again, and carries on.
    let downstream = Downstream::listen(address);
    assert_eq!(post(&sidecar, &b), (200, String::new()));
    assert!(tcp_roundtrip(sidecar.tcp, &c).unwrap() == tagged_by_cli(&c));
    sidecar.wait_for("takes lines again").unwrap();
    let expected = tagged_by_cli(&[a, b, c].concat());
    let after = downstream.wait_for(expected.len() - first.len());
    assert!(
        [first, after].concat() == expected,
        "every line once, in order, across the outage"
    );
    assert!(
        value(&sidecar, OK) >= 3.0,
        "the requests, and the TCP client's batches"
    );
    assert_eq!(value(&sidecar, "trailtag_forward_up"), 1.0);
    assert_eq!(value(&sidecar, "trailtag_forward_connections_total"), 2.0);
    assert_eq!(sidecar.stop().unwrap().code(), Some(0));
}

#[test]
fn a_forward_target_that_is_not_tcp_or_http_is_refused_at_the_start() {
    for (url, says) in [
        ("https://127.0.0.1:9/", "no TLS"),
        ("127.0.0.1:9", "expected tcp://"),
    ] {
        let run = common::trailtag(&["serve", "--listen", "127.0.0.1:0", "--forward", url], b"");
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.stderr.contains(says), "{url}: {}", run.stderr);
    }
}
