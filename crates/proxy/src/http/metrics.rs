//! Prometheus metrics: lock-free counters and histograms, fed by a router observer.

use std::{
    fmt::Write,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::Duration,
};

use retry_core::{CooldownChange, ErrorKind};
use router::{
    AttemptFailure, AttemptStart, FallbackEvent, Observer, RetryEvent, Router, SuccessEvent,
};

const STATUSES: [u16; 12] = [200, 400, 401, 403, 404, 408, 413, 429, 500, 502, 503, 504];
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0,
];

/// A histogram with fixed buckets.
#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_micros
            .fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += n.load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_micros.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// Every metric the proxy exports.
#[derive(Default)]
pub struct Metrics {
    requests: [AtomicU64; STATUSES.len() + 1],
    attempts: AtomicU64,
    failures: [AtomicU64; ErrorKind::ALL.len()],
    retries: AtomicU64,
    fallbacks: AtomicU64,
    cooldowns: AtomicU64,
    upstream_latency: Histogram,
    overhead: Histogram,
    sources: Mutex<Vec<Source>>,
}

/// Appends more metrics, in Prometheus text format, to every `/metrics` answer.
type Source = Box<dyn Fn(&mut String) + Send + Sync>;

impl Metrics {
    /// Counts an answer by status.
    pub fn request(&self, status: u16) {
        let i = STATUSES
            .iter()
            .position(|s| *s == status)
            .unwrap_or(STATUSES.len());
        self.requests[i].fetch_add(1, Relaxed);
    }

    /// Records the proxy's own time on a request (total minus upstream and waits).
    pub fn overhead(&self, d: Duration) {
        self.overhead.observe(d);
    }

    /// Adds metrics that live outside the proxy (a shared state store's health, say):
    /// `render` calls `source` at the end of every exposition.
    pub fn add_source(&self, source: impl Fn(&mut String) + Send + Sync + 'static) {
        self.sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Box::new(source));
    }

    /// The Prometheus text exposition.
    pub fn render(&self, router: &Router) -> String {
        let mut out = String::with_capacity(4096);
        let _ = writeln!(
            out,
            "# HELP switchyard_requests_total Answers sent to clients, by HTTP status.\n# TYPE switchyard_requests_total counter"
        );
        for (i, n) in self.requests.iter().enumerate() {
            let status = STATUSES.get(i).map_or("other".to_owned(), u16::to_string);
            let _ = writeln!(
                out,
                "switchyard_requests_total{{status=\"{status}\"}} {}",
                n.load(Relaxed)
            );
        }
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        counter(
            &mut out,
            "switchyard_attempts_total",
            "Upstream attempts made.",
            self.attempts.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP switchyard_attempt_failures_total Failed upstream attempts, by error kind.\n# TYPE switchyard_attempt_failures_total counter"
        );
        for (kind, n) in ErrorKind::ALL.iter().zip(&self.failures) {
            let _ = writeln!(
                out,
                "switchyard_attempt_failures_total{{kind=\"{kind}\"}} {}",
                n.load(Relaxed)
            );
        }
        counter(
            &mut out,
            "switchyard_retries_total",
            "Retries made.",
            self.retries.load(Relaxed),
        );
        counter(
            &mut out,
            "switchyard_fallbacks_total",
            "Moves to a fallback model group.",
            self.fallbacks.load(Relaxed),
        );
        counter(
            &mut out,
            "switchyard_cooldowns_total",
            "Cooldowns started or extended.",
            self.cooldowns.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP switchyard_deployments_cooling Deployments out of rotation now.\n# TYPE switchyard_deployments_cooling gauge\nswitchyard_deployments_cooling {}",
            router.cooling_count()
        );
        let _ = writeln!(
            out,
            "# HELP switchyard_deployment_in_flight Requests in flight per deployment.\n# TYPE switchyard_deployment_in_flight gauge"
        );
        for d in router.deployments() {
            let _ = writeln!(
                out,
                "switchyard_deployment_in_flight{{deployment=\"{}\",group=\"{}\"}} {}",
                escape(&d.id),
                escape(&d.group),
                d.in_flight
            );
        }
        self.upstream_latency.render(
            &mut out,
            "switchyard_upstream_latency_seconds",
            "Latency of upstream attempts.",
        );
        self.overhead.render(
            &mut out,
            "switchyard_proxy_overhead_seconds",
            "Time the proxy adds to a request, upstream time and retry waits excluded.",
        );
        for source in self
            .sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            source(&mut out);
        }
        out
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn kind_index(kind: ErrorKind) -> usize {
    ErrorKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

impl Observer for Metrics {
    fn on_attempt_start(&self, _: &AttemptStart<'_>) {
        self.attempts.fetch_add(1, Relaxed);
    }

    fn on_attempt_failure(&self, e: &AttemptFailure<'_>) {
        self.failures[kind_index(e.error.kind())].fetch_add(1, Relaxed);
        self.upstream_latency.observe(e.latency);
        if !matches!(e.cooldown, CooldownChange::None) {
            self.cooldowns.fetch_add(1, Relaxed);
        }
    }

    fn on_retry(&self, _: &RetryEvent<'_>) {
        self.retries.fetch_add(1, Relaxed);
    }

    fn on_fallback(&self, _: &FallbackEvent<'_>) {
        self.fallbacks.fetch_add(1, Relaxed);
    }

    fn on_success(&self, e: &SuccessEvent<'_>) {
        if let Some(last) = e.report.attempts.last() {
            self.upstream_latency.observe(last.latency);
        }
    }
}
