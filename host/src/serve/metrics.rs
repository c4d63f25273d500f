//! What the sidecar counts, and the Prometheus text it answers `GET /metrics` with.
//!
//! Record counts come from the pipelines' own totals (the guest's report, as everywhere else in
//! the host), added after every batch; connections, reloads and latency are counted by the
//! server. Everything sits behind one mutex: it is taken once per batch, not per record.
//! The text format is written by hand (a page of code, no dependency): counters end in `_total`,
//! the latency is a histogram with cumulative `le` buckets.
//!
//! Silence is not health: [`Metrics::ready`] is false while no rules are loaded and while the
//! server drains, and `trailtag_rules_loaded` says how many rules the current set has.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use trailtag_engine::Reason;
use trailtag_plugin::codec::RuleInfo;

use crate::pipeline::Totals;

/// Upper bounds of the latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The two kinds of listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// Raw TCP, NDJSON both ways.
    Tcp,
    /// HTTP/1.1.
    Http,
}

impl Listener {
    fn label(self) -> &'static str {
        match self {
            Listener::Tcp => "tcp",
            Listener::Http => "http",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Default)]
struct Counters {
    records: u64,
    tagged: u64,
    blank: u64,
    oversized: u64,
    guest_faults: u64,
    foreign_tags_removed: u64,
    unreadable: [u64; Reason::ALL.len()],
    per_rule: BTreeMap<String, u64>,
    batches: u64,
    latency_buckets: [u64; LATENCY_BUCKETS.len()],
    latency_sum: f64,
    connections: [u64; 2],
    open: [u64; 2],
    reloads_ok: u64,
    reloads_failed: u64,
    last_reload_ok: bool,
    rules_loaded: u64,
    draining: bool,
    forward: Option<Forwarding>,
}

/// What `--forward` counts.
#[derive(Debug, Default)]
struct Forwarding {
    lines: u64,
    delivered: u64,
    failed: u64,
    connections: u64,
    down: bool,
}

/// The sidecar's counters, shared by every connection and worker.
#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<Counters>,
}

impl Metrics {
    /// Counters for a server whose first rule set has `rules` rules.
    pub fn new(rules: usize) -> Self {
        let metrics = Self::default();
        {
            let mut c = metrics.lock();
            c.rules_loaded = rules as u64;
            c.last_reload_ok = true;
        }
        metrics
    }

    fn lock(&self) -> MutexGuard<'_, Counters> {
        self.counters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds what a pipeline counted for one batch; `rules` names its per-rule counters.
    pub fn add(&self, totals: &Totals, rules: &[RuleInfo]) {
        let mut c = self.lock();
        let counts = &totals.counts;
        c.records += counts.records_in;
        c.tagged += counts.tagged;
        c.blank += counts.blank;
        c.oversized += totals.oversized;
        c.guest_faults += totals.guest_faults;
        c.foreign_tags_removed += counts.foreign_tags_removed;
        for (total, n) in c.unreadable.iter_mut().zip(counts.unreadable_by_reason) {
            *total += n;
        }
        for (rule, n) in rules.iter().zip(&counts.per_rule) {
            if *n > 0 {
                *c.per_rule.entry(rule.id.clone()).or_default() += n;
            }
        }
    }

    /// One batch answered, `latency` after it was read.
    pub fn observe_latency(&self, latency: Duration) {
        let seconds = latency.as_secs_f64();
        let mut c = self.lock();
        c.batches += 1;
        c.latency_sum += seconds;
        if let Some(bucket) = LATENCY_BUCKETS.iter().position(|&le| seconds <= le) {
            c.latency_buckets[bucket] += 1;
        }
    }

    /// A connection was accepted.
    pub fn opened(&self, listener: Listener) {
        let mut c = self.lock();
        c.connections[listener.index()] += 1;
        c.open[listener.index()] += 1;
    }

    /// A connection ended.
    pub fn closed(&self, listener: Listener) {
        let mut c = self.lock();
        c.open[listener.index()] = c.open[listener.index()].saturating_sub(1);
    }

    /// A reload replaced the rule set with one of `rules` rules.
    pub fn reloaded(&self, rules: usize) {
        let mut c = self.lock();
        c.reloads_ok += 1;
        c.last_reload_ok = true;
        c.rules_loaded = rules as u64;
    }

    /// A reload was rejected; the rule set in force stays.
    pub fn reload_failed(&self) {
        let mut c = self.lock();
        c.reloads_failed += 1;
        c.last_reload_ok = false;
    }

    /// Tagged lines are forwarded: the forwarding counters are rendered from now on.
    pub fn forwarding(&self) {
        self.lock().forward.get_or_insert_default();
    }

    fn forward(&self, count: impl FnOnce(&mut Forwarding)) {
        count(self.lock().forward.get_or_insert_default());
    }

    /// A delivery of `lines` lines was taken by the downstream.
    pub fn forwarded(&self, lines: u64) {
        self.forward(|f| {
            f.lines += lines;
            f.delivered += 1;
            f.down = false;
        });
    }

    /// A delivery failed.
    pub fn forward_failed(&self) {
        self.forward(|f| {
            f.failed += 1;
            f.down = true;
        });
    }

    /// A connection to the downstream was opened.
    pub fn forward_connected(&self) {
        self.forward(|f| f.connections += 1);
    }

    /// The server stopped accepting and is answering what it has read.
    pub fn drain(&self) {
        self.lock().draining = true;
    }

    /// Whether the server should be sent records: rules are loaded and it is not draining.
    pub fn ready(&self) -> Result<(), &'static str> {
        let c = self.lock();
        if c.rules_loaded == 0 {
            Err("no rules are loaded")
        } else if c.draining {
            Err("draining")
        } else {
            Ok(())
        }
    }

    /// The records counted so far (what the server read and answered).
    pub fn records(&self) -> u64 {
        self.lock().records
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let ready = self.ready().is_ok();
        let c = self.lock();
        let mut out = String::with_capacity(4096);
        render_records(&c, &mut out);
        render_latency(&c, &mut out);
        render_server(&c, ready, &mut out);
        if let Some(forward) = &c.forward {
            render_forward(forward, &mut out);
        }
        out
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "{name}{labels} {value}");
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    family(out, name, "counter", help);
    sample(out, name, "", value);
}

fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    family(out, name, "gauge", help);
    sample(out, name, "", value);
}

/// A counter with a `result` label: `[ok, failed]`.
fn per_result(out: &mut String, name: &str, help: &str, [ok, failed]: [u64; 2]) {
    family(out, name, "counter", help);
    sample(out, name, "{result=\"ok\"}", ok);
    sample(out, name, "{result=\"failed\"}", failed);
}

/// A label value, escaped as the text format requires.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn render_records(c: &Counters, out: &mut String) {
    counter(
        out,
        "trailtag_records_total",
        "Records read and answered (blank lines excluded).",
        c.records,
    );
    counter(
        out,
        "trailtag_tagged_records_total",
        "Records that matched at least one rule.",
        c.tagged,
    );
    counter(
        out,
        "trailtag_blank_lines_total",
        "Blank lines, answered as they came.",
        c.blank,
    );
    counter(
        out,
        "trailtag_oversized_records_total",
        "Records over --max-record, passed through unevaluated.",
        c.oversized,
    );
    counter(
        out,
        "trailtag_guest_faults_total",
        "Records the module failed on, passed through unevaluated.",
        c.guest_faults,
    );
    counter(
        out,
        "trailtag_foreign_tags_removed_total",
        "trailtag members removed from records that matched nothing.",
        c.foreign_tags_removed,
    );
    let name = "trailtag_unreadable_records_total";
    family(
        out,
        name,
        "counter",
        "Records the engine could not read, passed through unchanged, per reason.",
    );
    for reason in Reason::ALL {
        let labels = format!("{{reason=\"{}\"}}", reason.code());
        sample(out, name, &labels, c.unreadable[reason.index()]);
    }
    let name = "trailtag_rule_tags_total";
    family(
        out,
        name,
        "counter",
        "Records each rule tagged (rules that tagged nothing yet are absent).",
    );
    for (rule, n) in &c.per_rule {
        sample(out, name, &format!("{{rule=\"{}\"}}", label(rule)), n);
    }
}

fn render_latency(c: &Counters, out: &mut String) {
    let name = "trailtag_batch_latency_seconds";
    family(
        out,
        name,
        "histogram",
        "From a batch of lines read to its answer ready to write.",
    );
    let mut cumulative = 0;
    for (le, n) in LATENCY_BUCKETS.iter().zip(c.latency_buckets) {
        cumulative += n;
        sample(
            out,
            &format!("{name}_bucket"),
            &format!("{{le=\"{le}\"}}"),
            cumulative,
        );
    }
    sample(out, &format!("{name}_bucket"), "{le=\"+Inf\"}", c.batches);
    sample(out, &format!("{name}_sum"), "", c.latency_sum);
    sample(out, &format!("{name}_count"), "", c.batches);
}

fn render_server(c: &Counters, ready: bool, out: &mut String) {
    for (name, help, values) in [
        (
            "trailtag_connections_total",
            "Connections accepted, per listener.",
            c.connections,
        ),
        (
            "trailtag_connections_open",
            "Connections open now, per listener.",
            c.open,
        ),
    ] {
        let kind = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        family(out, name, kind, help);
        for listener in [Listener::Tcp, Listener::Http] {
            let labels = format!("{{listener=\"{}\"}}", listener.label());
            sample(out, name, &labels, values[listener.index()]);
        }
    }
    per_result(
        out,
        "trailtag_reloads_total",
        "Rule reloads (SIGHUP), per result; a failed one keeps the rules in force.",
        [c.reloads_ok, c.reloads_failed],
    );
    gauge(
        out,
        "trailtag_last_reload_ok",
        "1 when the last reload (or the start) loaded its rules, 0 when it was rejected.",
        u64::from(c.last_reload_ok),
    );
    gauge(
        out,
        "trailtag_rules_loaded",
        "Rules in the rule set in force.",
        c.rules_loaded,
    );
    gauge(
        out,
        "trailtag_ready",
        "1 when rules are loaded and the server is not draining (as GET /readyz).",
        u64::from(ready),
    );
}

fn render_forward(f: &Forwarding, out: &mut String) {
    counter(
        out,
        "trailtag_forwarded_lines_total",
        "Tagged lines the --forward downstream took (in deliveries that succeeded).",
        f.lines,
    );
    per_result(
        out,
        "trailtag_forward_deliveries_total",
        "Deliveries to the --forward downstream (an HTTP request, a TCP batch), per result.",
        [f.delivered, f.failed],
    );
    counter(
        out,
        "trailtag_forward_connections_total",
        "Connections opened to the --forward downstream (the first and every reconnection).",
        f.connections,
    );
    gauge(
        out,
        "trailtag_forward_up",
        "0 after a delivery to the --forward downstream failed, until one succeeds.",
        u64::from(!f.down),
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
    use super::*;

    fn value(text: &str, series: &str) -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .unwrap();
        line[series.len() + 1..].parse().unwrap()
    }

    #[test]
    fn a_server_without_rules_or_draining_is_not_ready() {
        assert_eq!(Metrics::new(0).ready(), Err("no rules are loaded"));
        let metrics = Metrics::new(3);
        assert_eq!(metrics.ready(), Ok(()));
        metrics.drain();
        assert_eq!(metrics.ready(), Err("draining"));
        assert_eq!(value(&metrics.render(), "trailtag_ready"), 0.0);
    }

    #[test]
    fn latency_buckets_are_cumulative() {
        let metrics = Metrics::new(1);
        metrics.observe_latency(Duration::from_micros(100));
        metrics.observe_latency(Duration::from_millis(3));
        metrics.observe_latency(Duration::from_secs(60));
        let text = metrics.render();
        let bucket = |le: &str| {
            value(
                &text,
                &format!("trailtag_batch_latency_seconds_bucket{{le=\"{le}\"}}"),
            )
        };
        assert_eq!(bucket("0.0005"), 1.0);
        assert_eq!(bucket("0.005"), 2.0);
        assert_eq!(bucket("10"), 2.0);
        assert_eq!(bucket("+Inf"), 3.0);
        assert_eq!(value(&text, "trailtag_batch_latency_seconds_count"), 3.0);
    }

    #[test]
    fn reloads_are_counted_and_the_rule_count_follows_the_rules_in_force() {
        let metrics = Metrics::new(5);
        metrics.reload_failed();
        let text = metrics.render();
        assert_eq!(
            value(&text, "trailtag_reloads_total{result=\"failed\"}"),
            1.0
        );
        assert_eq!(value(&text, "trailtag_last_reload_ok"), 0.0);
        assert_eq!(value(&text, "trailtag_rules_loaded"), 5.0);
        metrics.reloaded(2);
        let text = metrics.render();
        assert_eq!(value(&text, "trailtag_reloads_total{result=\"ok\"}"), 1.0);
        assert_eq!(value(&text, "trailtag_last_reload_ok"), 1.0);
        assert_eq!(value(&text, "trailtag_rules_loaded"), 2.0);
    }

    #[test]
    fn forwarding_is_rendered_only_when_configured_and_follows_the_last_delivery() {
        let metrics = Metrics::new(1);
        assert!(!metrics.render().contains("trailtag_forward"));
        metrics.forwarding();
        metrics.forward_connected();
        metrics.forwarded(3);
        metrics.forward_failed();
        let text = metrics.render();
        assert_eq!(value(&text, "trailtag_forwarded_lines_total"), 3.0);
        let deliveries = "trailtag_forward_deliveries_total";
        assert_eq!(value(&text, &format!("{deliveries}{{result=\"ok\"}}")), 1.0);
        assert_eq!(
            value(&text, &format!("{deliveries}{{result=\"failed\"}}")),
            1.0
        );
        assert_eq!(value(&text, "trailtag_forward_connections_total"), 1.0);
        assert_eq!(value(&text, "trailtag_forward_up"), 0.0);
        metrics.forwarded(1);
        assert_eq!(value(&metrics.render(), "trailtag_forward_up"), 1.0);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
