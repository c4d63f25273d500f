//! `trailtag bench serve FILE`: the sidecar under load, on loopback, bounded in count and time.
//!
//! 1. The first `--records` lines of FILE are tagged by `trailtag tag` (timed): the reference
//!    output, and the baseline rate.
//! 2. `trailtag serve` starts (both listeners on free loopback ports).
//! 3. HTTP: `--clients` threads each post their share of the records, `--request-records` per
//!    `POST /v1/tag`, timing every request (the latency percentiles). When half the requests are
//!    answered the server gets a SIGHUP (the same rules: the answers must not change).
//! 4. TCP: the same clients each stream their share over one connection.
//! 5. Every answer is compared with the reference, byte for byte: a record lost, duplicated,
//!    reordered or tagged differently counts as lost. The server's metrics must count every
//!    record and one successful reload; its peak memory is read; SIGTERM must end it with 0.
//!
//! The run fails (non-zero exit) when a record is lost or the server misbehaves; every wait is
//! bounded by `--timeout`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::client::{Http, Sidecar, metric, tcp_roundtrip};

/// `trailtag bench serve`
#[derive(Debug, clap::Args)]
pub struct ServeBenchArgs {
    /// NDJSON records (e.g. from `trailtag bench generate`).
    pub file: PathBuf,
    /// Records taken from the start of FILE.
    #[arg(long, default_value_t = 100_000)]
    pub records: usize,
    /// Concurrent clients (threads, each with its own connection).
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Records per HTTP request.
    #[arg(long, default_value_t = 200)]
    pub request_records: usize,
    /// `--workers` of the server (default: its own default, the available parallelism).
    #[arg(long)]
    pub workers: Option<u16>,
    /// Give up (and fail) when the whole run takes longer than this, in seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// Write the report as JSON here as well.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// What a run measured.
#[derive(Debug, Serialize)]
pub struct ServeReport {
    records: usize,
    clients: usize,
    request_records: usize,
    tag_records_per_s: f64,
    http_records_per_s: f64,
    tcp_records_per_s: f64,
    http_vs_tag: f64,
    tcp_vs_tag: f64,
    request_latency_ms: Percentiles,
    server_peak_rss_mib: f64,
    reloads_ok: f64,
    records_counted_by_server: f64,
    records_lost: usize,
    server_exit_code: Option<i32>,
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Serialize)]
struct Percentiles {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

/// Runs the load test and prints its report.
pub fn run(args: &ServeBenchArgs) -> Result<()> {
    let started = clock();
    let deadline = started + Duration::from_secs(args.timeout);
    let binary = std::env::current_exe().context("the trailtag binary")?;
    let scratch = std::env::temp_dir().join(format!("trailtag-bench-serve-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let result = measure(args, &binary, &scratch, deadline);
    let _ = std::fs::remove_dir_all(&scratch);
    let report = result?;
    print(&report, args)?;
    if report.records_lost > 0 || report.server_exit_code != Some(0) {
        bail!(
            "{} records lost; the server exited with {:?}",
            report.records_lost,
            report.server_exit_code
        );
    }
    Ok(())
}

fn measure(
    args: &ServeBenchArgs,
    binary: &Path,
    scratch: &Path,
    deadline: Instant,
) -> Result<ServeReport> {
    let records = read_records(&args.file, args.records)?;
    let (expected, tag_seconds) = reference(binary, scratch, &records)?;
    let mut server_args = vec!["--drain-timeout".to_owned(), format!("{}s", args.timeout)];
    if let Some(workers) = args.workers {
        server_args.extend(["--workers".to_owned(), workers.to_string()]);
    }
    let server_args: Vec<&str> = server_args.iter().map(String::as_str).collect();
    let server = Sidecar::start(binary, &server_args)?;
    let shares = shares(&records, &expected, args.clients);
    let (http_seconds, mut latencies, http_lost) = http_phase(&server, &shares, args, deadline)?;
    let (tcp_seconds, tcp_lost) = tcp_phase(&server, &shares)?;
    let metrics = server.metrics()?;
    let peak = server.peak_rss_bytes().unwrap_or(0);
    let exit = server.stop()?;
    let n = records.len() as f64;
    let tag_rate = n / tag_seconds;
    Ok(ServeReport {
        records: records.len(),
        clients: args.clients,
        request_records: args.request_records,
        tag_records_per_s: tag_rate,
        http_records_per_s: n / http_seconds,
        tcp_records_per_s: n / tcp_seconds,
        http_vs_tag: n / http_seconds / tag_rate,
        tcp_vs_tag: n / tcp_seconds / tag_rate,
        request_latency_ms: percentiles(&mut latencies),
        server_peak_rss_mib: peak as f64 / (1024.0 * 1024.0),
        reloads_ok: metric(&metrics, "trailtag_reloads_total{result=\"ok\"}").unwrap_or(0.0),
        records_counted_by_server: metric(&metrics, "trailtag_records_total").unwrap_or(0.0),
        records_lost: http_lost + tcp_lost + counted_short(&metrics, 2 * records.len()),
        server_exit_code: exit.code(),
    })
}

/// Records the server did not count (it must count each record of both phases once).
fn counted_short(metrics: &str, sent: usize) -> usize {
    let counted = metric(metrics, "trailtag_records_total").unwrap_or(0.0) as usize;
    sent.saturating_sub(counted)
}

fn read_records(file: &Path, limit: usize) -> Result<Vec<Vec<u8>>> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let records: Vec<Vec<u8>> = trailtag_engine::lines(&bytes)
        .filter(|line| !line.trim_ascii().is_empty())
        .take(limit)
        .map(|line| [line, b"\n"].concat())
        .collect();
    if records.is_empty() {
        bail!("{} holds no NDJSON records", file.display());
    }
    Ok(records)
}

/// The records tagged by `trailtag tag` (one per line, in order), and how long that took.
fn reference(binary: &Path, scratch: &Path, records: &[Vec<u8>]) -> Result<(Vec<Vec<u8>>, f64)> {
    let input = scratch.join("records.ndjson");
    let output = scratch.join("tagged.ndjson");
    std::fs::write(&input, records.concat())?;
    let started = clock();
    let status = Command::new(binary)
        .arg("tag")
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .args(["--progress", "never", "--summary", "none"])
        .status()
        .context("running trailtag tag")?;
    let seconds = started.elapsed().as_secs_f64();
    if !status.success() {
        bail!("trailtag tag failed: {status}");
    }
    let tagged = std::fs::read(&output)?;
    let lines: Vec<Vec<u8>> = trailtag_engine::lines(&tagged)
        .map(|line| [line, b"\n"].concat())
        .collect();
    if lines.len() != records.len() {
        bail!(
            "trailtag tag wrote {} lines for {} records",
            lines.len(),
            records.len()
        );
    }
    Ok((lines, seconds))
}

/// One client's records and the answers expected for them.
struct Share {
    records: Vec<Vec<u8>>,
    expected: Vec<Vec<u8>>,
}

/// Deals the records to `clients` contiguous shares.
fn shares(records: &[Vec<u8>], expected: &[Vec<u8>], clients: usize) -> Vec<Share> {
    let size = records.len().div_ceil(clients.max(1));
    records
        .chunks(size)
        .zip(expected.chunks(size))
        .map(|(r, e)| Share {
            records: r.to_vec(),
            expected: e.to_vec(),
        })
        .collect()
}

/// Every client posts its share; a SIGHUP when half the requests are answered. Returns the
/// phase's seconds, every request's latency, and the records answered wrongly or not at all.
fn http_phase(
    server: &Sidecar,
    shares: &[Share],
    args: &ServeBenchArgs,
    deadline: Instant,
) -> Result<(f64, Vec<Duration>, usize)> {
    let per = args.request_records.max(1);
    let requests: usize = shares.iter().map(|s| s.records.len().div_ceil(per)).sum();
    let answered = AtomicUsize::new(0);
    let started = clock();
    let results = std::thread::scope(|scope| -> Result<Vec<(Vec<Duration>, usize)>> {
        let clients: Vec<_> = shares
            .iter()
            .map(|share| {
                let (address, answered) = (server.http, &answered);
                scope.spawn(move || http_client(address, share, per, answered))
            })
            .collect();
        while answered.load(Ordering::Relaxed) < requests / 2 && clock() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        server.signal("HUP")?;
        server.wait_for("reloaded")?;
        clients
            .into_iter()
            .map(|c| c.join().map_err(|_| anyhow::anyhow!("a client panicked"))?)
            .collect()
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let mut latencies = Vec::with_capacity(requests);
    let mut lost = 0;
    for (l, n) in results {
        latencies.extend(l);
        lost += n;
    }
    Ok((seconds, latencies, lost))
}

fn http_client(
    address: std::net::SocketAddr,
    share: &Share,
    per: usize,
    answered: &AtomicUsize,
) -> Result<(Vec<Duration>, usize)> {
    let mut http = Http::connect(address)?;
    let mut latencies = Vec::new();
    let mut lost = 0;
    for (records, expected) in share.records.chunks(per).zip(share.expected.chunks(per)) {
        let body = records.concat();
        let sent = clock();
        let (status, answer) = http.request("POST", "/v1/tag", &body)?;
        latencies.push(sent.elapsed());
        answered.fetch_add(1, Ordering::Relaxed);
        lost += if status == 200 {
            mismatches(&answer, expected)
        } else {
            records.len()
        };
    }
    Ok((latencies, lost))
}

/// Every client streams its share over one connection at once.
fn tcp_phase(server: &Sidecar, shares: &[Share]) -> Result<(f64, usize)> {
    let started = clock();
    let lost = std::thread::scope(|scope| -> Result<usize> {
        let clients: Vec<_> = shares
            .iter()
            .map(|share| {
                scope.spawn(|| -> Result<usize> {
                    let answer = tcp_roundtrip(server.tcp, &share.records.concat())?;
                    Ok(mismatches(&answer, &share.expected))
                })
            })
            .collect();
        let mut lost = 0;
        for client in clients {
            lost += client
                .join()
                .map_err(|_| anyhow::anyhow!("a client panicked"))??;
        }
        Ok(lost)
    })?;
    Ok((started.elapsed().as_secs_f64(), lost))
}

/// Expected lines missing from `answer` or answered differently (line for line).
fn mismatches(answer: &[u8], expected: &[Vec<u8>]) -> usize {
    let lines: Vec<&[u8]> = trailtag_engine::lines(answer).collect();
    let wrong = expected
        .iter()
        .zip(&lines)
        .filter(|(e, a)| e.strip_suffix(b"\n") != Some(**a))
        .count();
    wrong + expected.len().saturating_sub(lines.len()) + lines.len().saturating_sub(expected.len())
}

fn percentiles(latencies: &mut [Duration]) -> Percentiles {
    latencies.sort();
    let at = |q: f64| {
        let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len().max(1)) - 1;
        latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    Percentiles {
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        max: at(1.0),
    }
}

fn print(report: &ServeReport, args: &ServeBenchArgs) -> Result<()> {
    let json = serde_json::to_string_pretty(report)?;
    if let Some(path) = &args.json {
        std::fs::write(path, &json)?;
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{json}")?;
    Ok(())
}

#[expect(
    clippy::disallowed_methods,
    reason = "a benchmark measures wall-clock time"
)]
fn clock() -> Instant {
    Instant::now()
}
