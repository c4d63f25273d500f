//! `trailtag serve`, the real binary on loopback: records in equal records out, in order, tagged
//! exactly as `trailtag tag` tags them, over TCP and HTTP, from many clients at once; the
//! metrics count what happened; SIGHUP reloads a good rule set and rejects a bad one (keeping the
//! old), and loses no record under load; SIGTERM answers what was read and exits 0.
//!
//! Nothing here waits on the clock: every wait is for an event (a log line, an answer, an exit),
//! with a hang guard only.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

use trailtag::bench::client::{Http, Sidecar, metric, tcp_roundtrip};
use trailtag_conformance as data;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_trailtag"))
}

fn start(args: &[&str]) -> Sidecar {
    Sidecar::start(binary(), args).unwrap()
}

/// The labelled cases as NDJSON.
fn cases_ndjson() -> Vec<u8> {
    let mut bytes = Vec::new();
    for case in data::cases() {
        bytes.extend_from_slice(case.record.as_bytes());
        bytes.push(b'\n');
    }
    bytes
}

/// What `trailtag tag ARGS` writes for `input`: the reference every answer must equal.
fn tagged_by_cli(input: &[u8], args: &[&str]) -> Vec<u8> {
    let mut all = vec!["tag"];
    all.extend_from_slice(args);
    let run = common::trailtag(&all, input);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
}

fn post(sidecar: &Sidecar, body: &[u8]) -> Vec<u8> {
    let (status, answer) = Http::connect(sidecar.http)
        .unwrap()
        .request("POST", "/v1/tag", body)
        .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    answer
}

fn value(metrics: &str, series: &str) -> f64 {
    metric(metrics, series).unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
}

fn case_expecting(id: &str) -> data::Case {
    data::cases()
        .into_iter()
        .find(|c| c.expect == [id])
        .unwrap_or_else(|| panic!("no case expecting only {id}"))
}

#[test]
fn records_in_equal_records_out_tagged_as_the_cli_tags_them_over_tcp_and_http() {
    let input = cases_ndjson();
    let expected = tagged_by_cli(&input, &[]);
    let sidecar = start(&[]);
    assert_eq!(tcp_roundtrip(sidecar.tcp, &input).unwrap(), expected);
    assert_eq!(post(&sidecar, &input), expected);
    let cases = data::cases();
    let answers = post(&sidecar, &input);
    let lines = common::lines(&answers);
    assert_eq!(lines.len(), cases.len());
    for (case, line) in cases.iter().zip(lines) {
        assert_eq!(data::detection_ids(line), case.expect, "case {}", case.id);
    }
    assert_eq!(sidecar.stop().unwrap().code(), Some(0));
}

#[test]
fn many_clients_at_once_each_get_their_own_records_back_in_order() {
    let input = cases_ndjson();
    let tagged = tagged_by_cli(&input, &[]);
    let (lines, tagged) = (common::lines(&input), common::lines(&tagged));
    let sidecar = start(&["--workers", "3", "--window", "2"]);
    // Each client sends the cases rotated differently, several times over; each record's answer
    // is the one `trailtag tag` gave it.
    let pick = |client: usize, from: &[&[u8]]| -> Vec<u8> {
        let mut bytes = Vec::new();
        for round in 0..5 {
            for i in 0..from.len() {
                bytes.extend_from_slice(from[(i + client * 7 + round) % from.len()]);
                bytes.push(b'\n');
            }
        }
        bytes
    };
    let inputs: Vec<Vec<u8>> = (0..24).map(|c| pick(c, &lines)).collect();
    let expected: Vec<Vec<u8>> = (0..24).map(|c| pick(c, &tagged)).collect();
    std::thread::scope(|scope| {
        for (client, (input, expected)) in inputs.iter().zip(&expected).enumerate() {
            let sidecar = &sidecar;
            scope.spawn(move || {
                let answer = if client % 2 == 0 {
                    tcp_roundtrip(sidecar.tcp, input).unwrap()
                } else {
                    let mut http = Http::connect(sidecar.http).unwrap();
                    // Two requests on one keep-alive connection.
                    let half = input.len() / 2;
                    let cut = half + input[half..].iter().position(|&b| b == b'\n').unwrap() + 1;
                    let (a, b) = input.split_at(cut);
                    let mut answer = http.request("POST", "/v1/tag", a).unwrap().1;
                    answer.extend(http.request("POST", "/v1/tag", b).unwrap().1);
                    answer
                };
                assert!(answer == *expected, "client {client} got other answers");
            });
        }
    });
    let metrics = sidecar.metrics().unwrap();
    let total: usize = inputs.iter().map(|i| common::lines(i).len()).sum();
    assert_eq!(value(&metrics, "trailtag_records_total"), total as f64);
    assert_eq!(
        value(&metrics, "trailtag_connections_total{listener=\"tcp\"}"),
        12.0
    );
    assert_eq!(sidecar.stop().unwrap().code(), Some(0));
}

#[test]
fn metrics_count_records_tags_rules_unreadable_faults_oversized_and_connections() {
    let sidecar = start(&[
        "--max-record",
        "256KiB",
        "--fault-injection",
        r#"{"trap":"FAULT-TRAP"}"#,
    ]);
    let tagged = case_expecting("iam_group_created");
    let oversized = format!(
        r#"{{"padding":"{}","eventName":"x"}}"#,
        "p".repeat(300 << 10)
    );
    let input = format!(
        "{}\nnot json\n{}\n{{\"eventName\":\"FAULT-TRAP\"}}\n\n",
        tagged.record, oversized
    );
    let answer = tcp_roundtrip(sidecar.tcp, input.as_bytes()).unwrap();
    let lines = common::lines(&answer);
    assert_eq!(lines.len(), 5, "one answer per line");
    assert_eq!(data::detection_ids(lines[0]), ["iam_group_created"]);
    assert_eq!(
        lines[1], b"not json",
        "unreadable: passed through unchanged"
    );
    assert_eq!(
        lines[2],
        oversized.as_bytes(),
        "oversized: passed through, never dropped"
    );
    assert_eq!(
        lines[3], br#"{"eventName":"FAULT-TRAP"}"#,
        "a fault: passed through"
    );
    let metrics = sidecar.metrics().unwrap();
    for (series, expected) in [
        ("trailtag_records_total", 4.0),
        ("trailtag_tagged_records_total", 1.0),
        ("trailtag_blank_lines_total", 1.0),
        ("trailtag_oversized_records_total", 1.0),
        ("trailtag_guest_faults_total", 1.0),
        ("trailtag_rule_tags_total{rule=\"iam_group_created\"}", 1.0),
        (
            "trailtag_unreadable_records_total{reason=\"not_an_object\"}",
            1.0,
        ),
        ("trailtag_connections_total{listener=\"tcp\"}", 1.0),
        ("trailtag_reloads_total{result=\"ok\"}", 0.0),
        ("trailtag_ready", 1.0),
    ] {
        assert_eq!(value(&metrics, series), expected, "{series}");
    }
    assert!(value(&metrics, "trailtag_rules_loaded") >= 5.0);
    assert!(value(&metrics, "trailtag_batch_latency_seconds_count") >= 1.0);
    assert!(metrics.contains("# TYPE trailtag_batch_latency_seconds histogram"));
    let mut http = Http::connect(sidecar.http).unwrap();
    assert_eq!(
        http.request("GET", "/healthz", b"").unwrap(),
        (200, b"ok\n".to_vec())
    );
    assert_eq!(
        http.request("GET", "/readyz", b"").unwrap(),
        (200, b"ready\n".to_vec())
    );
    assert_eq!(http.request("GET", "/v1/tag", b"").unwrap().0, 405);
    assert_eq!(http.request("GET", "/nothing", b"").unwrap().0, 404);
    assert_eq!(sidecar.stop().unwrap().code(), Some(0));
}

/// A rules directory holding a copy of one of the repository's rules.
fn rules_dir(name: &str, rule: &str) -> common::Scratch {
    let dir = common::temp_dir(name);
    set_rule(&dir, rule);
    dir
}

fn set_rule(dir: &Path, rule: &str) {
    for entry in std::fs::read_dir(dir).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let source = data::repo_dir().join("rules").join(format!("{rule}.toml"));
    std::fs::copy(source, dir.join(format!("{rule}.toml"))).unwrap();
}

fn only_rules(dir: &Path) -> Vec<String> {
    vec![
        "--no-builtin-rules".into(),
        "--rules".into(),
        common::path(dir).to_owned(),
    ]
}

/// The detections the sidecar gives `record` now.
fn detections(sidecar: &Sidecar, record: &str) -> Vec<String> {
    let answer = tcp_roundtrip(sidecar.tcp, format!("{record}\n").as_bytes()).unwrap();
    data::detection_ids(&answer)
}

#[test]
fn sighup_loads_a_good_rule_set_and_rejects_a_bad_one_keeping_the_old() {
    let dir = rules_dir("serve-reload", "iam_group_created");
    let args = only_rules(&dir);
    let sidecar = start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let created = case_expecting("iam_group_created").record;
    let deleted = case_expecting("iam_group_deleted").record;
    assert_eq!(detections(&sidecar, &created), ["iam_group_created"]);
    assert!(detections(&sidecar, &deleted).is_empty());

    set_rule(&dir, "iam_group_deleted");
    sidecar.signal("HUP").unwrap();
    sidecar.wait_for("reloaded: 1 rules").unwrap();
    assert!(detections(&sidecar, &created).is_empty());
    assert_eq!(detections(&sidecar, &deleted), ["iam_group_deleted"]);

    std::fs::write(dir.join("broken.toml"), "[rule\nid = ").unwrap();
    sidecar.signal("HUP").unwrap();
    let line = sidecar.wait_for("reload rejected").unwrap();
    assert!(line.contains("the 1 rules in force are kept"), "{line}");
    assert!(
        line.contains("broken.toml"),
        "the log names the bad file: {line}"
    );
    assert_eq!(
        detections(&sidecar, &deleted),
        ["iam_group_deleted"],
        "the old rules stay"
    );
    let metrics = sidecar.metrics().unwrap();
    assert_eq!(
        value(&metrics, "trailtag_reloads_total{result=\"ok\"}"),
        1.0
    );
    assert_eq!(
        value(&metrics, "trailtag_reloads_total{result=\"failed\"}"),
        1.0
    );
    assert_eq!(value(&metrics, "trailtag_last_reload_ok"), 0.0);
    assert_eq!(value(&metrics, "trailtag_rules_loaded"), 1.0);
    assert_eq!(value(&metrics, "trailtag_ready"), 1.0);
    assert_eq!(sidecar.stop().unwrap().code(), Some(0));
}

#[test]
fn sighup_during_load_loses_no_record() {
    let input: Vec<u8> = cases_ndjson().repeat(40);
    let expected = tagged_by_cli(&input, &[]);
    let sidecar = start(&["--workers", "2"]);
    std::thread::scope(|scope| {
        let clients: Vec<_> = (0..6)
            .map(|_| scope.spawn(|| tcp_roundtrip(sidecar.tcp, &input).unwrap()))
            .collect();
        for _ in 0..3 {
            sidecar.signal("HUP").unwrap();
            sidecar.wait_for("reloaded").unwrap();
        }
        for client in clients {
            assert!(
                client.join().unwrap() == expected,
                "answers changed or were lost"
            );
        }
    });
    let metrics = sidecar.metrics().unwrap();
    assert_eq!(
        value(&metrics, "trailtag_reloads_total{result=\"ok\"}"),
        3.0
    );
    assert_eq!(
        value(&metrics, "trailtag_records_total"),
        6.0 * common::lines(&input).len() as f64
    );
    assert_eq!(sidecar.stop().unwrap().code(), Some(0));
}

#[test]
fn sigterm_answers_what_was_read_then_exits_zero() {
    let input = cases_ndjson();
    let expected = tagged_by_cli(&input, &[]);
    let mut sidecar = start(&[]);
    // An HTTP request half sent when SIGTERM arrives is still answered whole.
    let mut request = TcpStream::connect(sidecar.http).unwrap();
    let head = format!(
        "POST /v1/tag HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
        input.len()
    );
    let half = input.len() / 2;
    request.write_all(head.as_bytes()).unwrap();
    request.write_all(&input[..half]).unwrap();
    // The status line comes as soon as the request is being answered: the server has it.
    let mut response = vec![0; 12];
    request.read_exact(&mut response).unwrap();
    assert_eq!(response, b"HTTP/1.1 200");
    // A TCP client that has been answered and keeps its connection open is closed cleanly.
    let mut idle = TcpStream::connect(sidecar.tcp).unwrap();
    idle.write_all(&input).unwrap();
    let mut answered = vec![0; expected.len()];
    idle.read_exact(&mut answered).unwrap();
    assert!(answered == expected);

    sidecar.signal("TERM").unwrap();
    sidecar.wait_for("draining").unwrap();
    request.write_all(&input[half..]).unwrap();
    request.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert_eq!(
        dechunk(&response),
        expected,
        "the request is answered whole"
    );
    let mut rest = Vec::new();
    idle.read_to_end(&mut rest).unwrap();
    assert!(
        rest.is_empty(),
        "nothing more than the answers, then the end"
    );
    assert_eq!(sidecar.wait().unwrap().code(), Some(0));
    assert!(sidecar.log_text().contains("drained"));
}

/// The body of a chunked HTTP response.
fn dechunk(response: &[u8]) -> Vec<u8> {
    let at = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut rest = &response[at..];
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16).unwrap();
        rest = &rest[line_end + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

#[test]
fn an_address_beyond_loopback_is_refused_unless_allowed() {
    let run = common::trailtag(&["serve", "--listen", "0.0.0.0:0"], b"");
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("not a loopback address"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--allow-remote"), "{}", run.stderr);
}
