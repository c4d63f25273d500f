//! A client for `trailtag serve`, for the load test and the integration tests: starts the real
//! binary, finds its addresses in its log, sends it signals, and speaks its two protocols with
//! nothing but the standard library (a minimal HTTP/1.1 client with keep-alive and chunked
//! bodies), so that what is tested is the server alone.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

/// How long any one wait on the server may last before the client gives up: a hang guard.
pub const HANG_GUARD: Duration = Duration::from_secs(120);

/// A running `trailtag serve` on loopback, both listeners on ports it chose.
#[derive(Debug)]
pub struct Sidecar {
    child: Child,
    /// The raw TCP listener.
    pub tcp: SocketAddr,
    /// The HTTP listener.
    pub http: SocketAddr,
    log: Mutex<Receiver<String>>,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Sidecar {
    /// Starts `BINARY serve --listen 127.0.0.1:0 --http 127.0.0.1:0 ARGS` and waits until it is
    /// ready.
    pub fn start(binary: &Path, args: &[&str]) -> Result<Self> {
        let mut child = Command::new(binary)
            .args(["serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stderr = child.stderr.take().context("the server's stderr")?;
        let (log, lines) = follow(stderr);
        let mut sidecar = Self {
            child,
            tcp: SocketAddr::from(([127, 0, 0, 1], 0)),
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            log: Mutex::new(log),
            lines,
        };
        sidecar.tcp = sidecar.address("listening tcp ")?;
        sidecar.http = sidecar.address("listening http ")?;
        sidecar.wait_for("ready: ")?;
        Ok(sidecar)
    }

    fn address(&self, prefix: &str) -> Result<SocketAddr> {
        let line = self.wait_for(prefix)?;
        let at = line.find(prefix).map_or(0, |at| at + prefix.len());
        line[at..].trim().parse().context("the address in the log")
    }

    /// Waits for the next log line containing `text`; returns it.
    pub fn wait_for(&self, text: &str) -> Result<String> {
        let log = self
            .log
            .lock()
            .map_err(|_| anyhow!("another thread failed reading the log"))?;
        loop {
            let line = log.recv_timeout(HANG_GUARD).map_err(|_| {
                anyhow!(
                    "the server never logged `{text}`; its log:\n{}",
                    self.log_text()
                )
            })?;
            if line.contains(text) {
                return Ok(line);
            }
        }
    }

    /// Everything the server logged so far.
    pub fn log_text(&self) -> String {
        self.lines.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`HUP`, `TERM`).
    pub fn signal(&self, name: &str) -> Result<()> {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .context("running kill")?;
        if !status.success() {
            bail!("kill -{name} {} failed", self.pid());
        }
        Ok(())
    }

    /// The server's peak resident memory so far (Linux).
    pub fn peak_rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// `GET /metrics`.
    pub fn metrics(&self) -> Result<String> {
        let (status, body) = Http::connect(self.http)?.request("GET", "/metrics", b"")?;
        if status != 200 {
            bail!("GET /metrics answered {status}");
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn stop(mut self) -> Result<ExitStatus> {
        self.signal("TERM")?;
        self.wait()
    }

    /// Waits for the process to exit (after a signal sent with [`Sidecar::signal`]).
    pub fn wait(&mut self) -> Result<ExitStatus> {
        self.child.wait().context("waiting for the server")
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads the server's log lines on a thread: each goes to the channel and to the kept copy.
fn follow(stderr: impl Read + Send + 'static) -> (Receiver<String>, Arc<Mutex<Vec<String>>>) {
    let (tx, rx) = mpsc::channel();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            if let Ok(mut kept) = kept.lock() {
                kept.push(line.clone());
            }
            let _ = tx.send(line);
        }
    });
    (rx, lines)
}

/// A value from Prometheus text: the sample `series` (name and labels, exactly as written).
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// Sends `bytes` on one TCP connection (writing on a thread, so that answers are read while
/// records are still being sent), closes the sending side, and returns everything answered.
pub fn tcp_roundtrip(address: SocketAddr, bytes: &[u8]) -> Result<Vec<u8>> {
    let stream = connect(address)?;
    let mut writer = stream.try_clone()?;
    std::thread::scope(|scope| {
        let sending = scope.spawn(move || -> io::Result<()> {
            writer.write_all(bytes)?;
            writer.shutdown(Shutdown::Write)
        });
        let mut answers = Vec::with_capacity(bytes.len() * 2);
        let read = (&stream).read_to_end(&mut answers);
        let sent = sending
            .join()
            .map_err(|_| anyhow!("the sending thread panicked"))?;
        sent.context("sending records")?;
        read.context("reading answers")?;
        Ok(answers)
    })
}

fn connect(address: SocketAddr) -> Result<TcpStream> {
    let stream = TcpStream::connect(address).with_context(|| format!("connecting to {address}"))?;
    stream.set_read_timeout(Some(HANG_GUARD))?;
    stream.set_write_timeout(Some(HANG_GUARD))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// One keep-alive HTTP/1.1 connection.
#[derive(Debug)]
pub struct Http {
    reader: BufReader<TcpStream>,
}

impl Http {
    /// Connects to `address`.
    pub fn connect(address: SocketAddr) -> Result<Self> {
        Ok(Self {
            reader: BufReader::new(connect(address)?),
        })
    }

    /// Sends a request (the body written on a thread while the response is read) and returns
    /// the status and the whole body.
    pub fn request(&mut self, method: &str, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>)> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut writer = self.reader.get_ref().try_clone()?;
        let reader = &mut self.reader;
        std::thread::scope(|scope| {
            let sending = scope.spawn(move || -> io::Result<()> {
                writer.write_all(head.as_bytes())?;
                writer.write_all(body)
            });
            let response = read_response(reader);
            sending
                .join()
                .map_err(|_| anyhow!("the sending thread panicked"))?
                .context("sending the request")?;
            response
        })
    }
}

/// Reads a status line, headers and a body (`Content-Length` or chunked).
fn read_response(reader: &mut BufReader<TcpStream>) -> Result<(u16, Vec<u8>)> {
    let status_line = read_line(reader)?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("a status line: {status_line:?}"))?;
    let (mut length, mut chunked) = (None, false);
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap_or((&line, ""));
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if name == "content-length" {
            length = Some(value.parse::<usize>().context("Content-Length")?);
        } else if name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        }
    }
    let body = if chunked {
        read_chunked(reader)?
    } else {
        let mut body = vec![0; length.unwrap_or(0)];
        reader.read_exact(&mut body)?;
        body
    };
    Ok((status, body))
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let size_line = read_line(reader)?;
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
            .with_context(|| format!("a chunk size: {size_line:?}"))?;
        if size == 0 {
            while !read_line(reader)?.is_empty() {}
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        read_line(reader)?;
    }
}

fn read_line(reader: &mut BufReader<TcpStream>) -> Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        bail!("the server closed the connection mid-response");
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
