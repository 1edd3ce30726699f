//! The benchmark's results: the table it prints, the targets it checks, and the generated
//! sections of `docs/benchmarks.md`.

use std::{fmt::Write as _, fs, path::Path, process::Command, time::Duration};

use anyhow::{Context, Result};
use serde_json::Value;

use super::procs::Mem;

/// Markers of the load benchmark's generated section in `docs/benchmarks.md`.
pub(crate) const LOAD_SECTION: &str = "load";
/// Markers of the soak's generated section.
pub(crate) const SOAK_SECTION: &str = "soak";

/// The machine a run happened on.
pub(crate) struct Machine {
    pub(crate) cpus: usize,
    pub(crate) cpu_model: String,
    pub(crate) memory_gib: f64,
    pub(crate) kernel: String,
    pub(crate) rustc: String,
    pub(crate) commit: String,
    pub(crate) date: String,
    pub(crate) load_average: String,
    /// `switchyard.worker_threads` of the benchmarked proxy; `None` is the default.
    pub(crate) proxy_threads: Option<usize>,
}

impl Machine {
    pub(crate) fn read(root: &Path) -> Machine {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        let first_line = |cmd: &mut Command| {
            cmd.output()
                .ok()
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .and_then(|s| s.lines().next().map(str::to_owned))
                .unwrap_or_else(|| "unknown".to_owned())
        };
        let dirty = Command::new("git")
            .args(["status", "--porcelain", "--untracked-files=no"])
            .current_dir(root)
            .output()
            .is_ok_and(|o| !o.stdout.is_empty());
        let commit = first_line(
            Command::new("git")
                .args(["rev-parse", "--short", "HEAD"])
                .current_dir(root),
        );
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            cpu_model,
            memory_gib: memory_kib / 1024.0 / 1024.0,
            kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| "unknown".to_owned(), |s| s.trim().to_owned()),
            rustc: first_line(Command::new("rustc").arg("-V")),
            commit: if dirty {
                format!("{commit} (with uncommitted changes)")
            } else {
                commit
            },
            date: first_line(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])),
            load_average: fs::read_to_string("/proc/loadavg")
                .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
                .unwrap_or_default(),
            proxy_threads: None,
        }
    }

    pub(crate) fn describe(&self) -> String {
        format!(
            "machine: {} CPUs ({}), {:.1} GiB memory, Linux {}, {}; commit {}; load average at start {}; proxy runtime threads: {}",
            self.cpus,
            self.cpu_model,
            self.memory_gib,
            self.kernel,
            self.rustc,
            self.commit,
            self.load_average,
            self.threads_text()
        )
    }

    fn threads_text(&self) -> String {
        self.proxy_threads.map_or_else(
            || "one per CPU (the default)".to_owned(),
            |n| format!("{n} (`switchyard.worker_threads: {n}`)"),
        )
    }

    fn markdown(&self) -> String {
        format!(
            "| | |\n|---|---|\n| date | {} |\n| CPUs | {} × {} |\n| memory | {:.1} GiB |\n| kernel | Linux {} |\n| compiler | {} |\n| commit | {} |\n| load average at start (1, 5, 15 min) | {} |\n| proxy runtime threads | {} |\n",
            self.date,
            self.cpus,
            self.cpu_model,
            self.memory_gib,
            self.kernel,
            self.rustc,
            self.commit,
            self.load_average,
            self.threads_text()
        )
    }
}

/// One concurrency and mode, direct and through the proxy.
pub(crate) struct Cell {
    pub(crate) concurrency: usize,
    pub(crate) stream: bool,
    pub(crate) runs: Pair,
    /// Proxy CPU time per request (user + system), in microseconds.
    pub(crate) cpu_us: f64,
    pub(crate) rss_after: Mem,
}

/// The same load straight to the upstream, then through the proxy.
#[derive(Clone)]
pub(crate) struct Pair {
    pub(crate) direct: Value,
    pub(crate) proxied: Value,
}

impl Pair {
    /// Latency percentile `p` (of the first chunk for a stream), through the proxy minus
    /// straight.
    fn added(&self, stream: bool, p: &str) -> f64 {
        lat(&self.proxied, stream, p) - lat(&self.direct, stream, p)
    }

    /// Latency percentile `p` of both runs: `86 µs / 173 µs`.
    fn both(&self, stream: bool, p: &str) -> String {
        format!(
            "{} / {}",
            us(lat(&self.direct, stream, p)),
            us(lat(&self.proxied, stream, p))
        )
    }
}

/// The median of `values` (the mean of the middle two for an even count); 0 for none.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Which round of several a target is judged on.
#[derive(Clone, Copy)]
enum Judge {
    /// The median round: for a tail figure, which a stall of the machine moves in one run.
    Median,
    /// The worst round: for a median figure, whose rounds differ by where the scheduler put
    /// the direct run's two processes (one CPU or two), so the best direct run is the fair
    /// comparison.
    Worst,
}

/// The figure a target is judged on, and its text with every round:
/// `+92 µs (worst of 3 rounds: +77 µs, +92 µs, +31 µs)`.
fn rounds_text(pairs: &[Pair], p: &str, judge: Judge) -> (f64, String) {
    let added: Vec<f64> = pairs.iter().map(|pair| pair.added(false, p)).collect();
    let (m, how) = match judge {
        Judge::Median => (median(added.clone()), "median"),
        Judge::Worst => (
            added.iter().copied().reduce(f64::max).unwrap_or(0.0),
            "worst",
        ),
    };
    if added.len() <= 1 {
        return (m, signed_us(m));
    }
    let each = added
        .iter()
        .map(|a| signed_us(*a))
        .collect::<Vec<_>>()
        .join(", ");
    (
        m,
        format!("{} ({how} of {} rounds: {each})", signed_us(m), added.len()),
    )
}

/// Microseconds with their sign: `+92 µs`, `−1.17 ms`.
fn signed_us(v: f64) -> String {
    if v < 0.0 {
        format!("−{}", us(-v))
    } else {
        format!("+{}", us(v))
    }
}

/// Clean and fail-twice requests, one at a time.
pub(crate) struct RetryPath {
    pub(crate) clean: Value,
    pub(crate) clean_cpu: f64,
    pub(crate) retried: Value,
    pub(crate) retried_cpu: f64,
}

impl RetryPath {
    fn p50(v: &Value) -> f64 {
        v["latency_us"]["p50"].as_f64().unwrap_or(0.0)
    }

    fn latency_ratio(&self) -> f64 {
        ratio(Self::p50(&self.retried), Self::p50(&self.clean))
    }

    fn cpu_ratio(&self) -> f64 {
        ratio(self.retried_cpu, self.clean_cpu)
    }
}

/// Everything the load benchmark measured.
pub(crate) struct Results {
    pub(crate) machine: Machine,
    pub(crate) cells: Vec<Cell>,
    pub(crate) paced_rate: f64,
    /// Concurrency 1, plain: the main table's run first, then the further rounds.
    pub(crate) one_at_a_time: Vec<Pair>,
    /// Concurrency 32 paced at `paced_rate`, one pair per round.
    pub(crate) paced: Vec<Pair>,
    pub(crate) idle: Mem,
    pub(crate) peak: Mem,
    pub(crate) retry: RetryPath,
    pub(crate) duration: Duration,
}

fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { 0.0 } else { a / b }
}

/// The latency figures of an answer: time to first chunk for streams, whole answer otherwise.
fn lat(v: &Value, stream: bool, p: &str) -> f64 {
    let key = if stream { "ttft_us" } else { "latency_us" };
    v[key][p].as_f64().unwrap_or(0.0)
}

fn rps(v: &Value) -> f64 {
    v["rps"].as_f64().unwrap_or(0.0)
}

/// Microseconds as `123 µs` or `4.56 ms`.
fn us(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{:.2} ms", v / 1000.0)
    } else {
        format!("{v:.0} µs")
    }
}

/// One checked target.
struct Target {
    what: String,
    measured: String,
    status: Status,
}

/// Whether a figure meets its target, or is only there to read beside one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Holds,
    Missed,
    /// Not a target of its own: shown for what it says about another.
    Information,
}

impl Status {
    fn of(holds: bool) -> Status {
        if holds { Status::Holds } else { Status::Missed }
    }

    fn terminal(self) -> &'static str {
        match self {
            Status::Holds => "holds",
            Status::Missed => "MISSED",
            Status::Information => "info",
        }
    }

    fn markdown(self) -> &'static str {
        match self {
            Status::Holds => "holds",
            Status::Missed => "**missed**",
            Status::Information => "information",
        }
    }
}

impl Results {
    fn cell(&self, concurrency: usize, stream: bool) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.concurrency == concurrency && c.stream == stream)
    }

    fn targets(&self) -> Vec<Target> {
        let mut out = Vec::new();
        if let Some(c) = self.cell(32, false) {
            let (direct, proxied) = (rps(&c.runs.direct), rps(&c.runs.proxied));
            let r = ratio(proxied, direct);
            out.push(Target {
                what: "through the proxy ≥ 35% of direct requests/s at concurrency 32".to_owned(),
                measured: format!(
                    "{:.0}% ({:.0} of {:.0} requests/s)",
                    r * 100.0,
                    proxied,
                    direct
                ),
                status: Status::of(r >= 0.35),
            });
        }
        let (added, measured) = rounds_text(&self.one_at_a_time, "p50", Judge::Worst);
        out.push(Target {
            what: "added median latency at concurrency 1 < 100 µs".to_owned(),
            measured,
            status: Status::of(added < 100.0),
        });
        let (added, measured) = rounds_text(&self.paced, "p99", Judge::Median);
        out.push(Target {
            what: format!(
                "added p99 at concurrency 32 < 1 ms (paced at {:.0} requests/s, the same load both ways)",
                self.paced_rate
            ),
            measured,
            status: Status::of(added < 1000.0),
        });
        if let Some(c) = self.cell(32, false) {
            let added = c.runs.added(false, "p99");
            out.push(Target {
                what: "added p99 at concurrency 32, closed loop (at saturation latency is the queue, 32 ÷ requests/s: this restates the throughput target)"
                    .to_owned(),
                measured: signed_us(added),
                status: Status::Information,
            });
        }
        out.push(Target {
            what: "proxy memory idle < 30 MB".to_owned(),
            measured: format!("{:.1} MiB", self.idle.rss_mib()),
            status: Status::of(self.idle.rss_mib() < 30.0),
        });
        out.push(Target {
            what: "proxy memory at concurrency 256 < 120 MB (peak RSS of the whole run)".to_owned(),
            measured: format!("{:.1} MiB", self.peak.hwm_mib()),
            status: Status::of(self.peak.hwm_mib() < 120.0),
        });
        out.push(Target {
            what: "a request that fails twice (zero-wait retries) costs < 3× a clean one"
                .to_owned(),
            measured: format!(
                "{:.2}× the proxy CPU, {:.2}× the median latency",
                self.retry.cpu_ratio(),
                self.retry.latency_ratio()
            ),
            status: Status::of(self.retry.cpu_ratio() < 3.0 && self.retry.latency_ratio() < 3.0),
        });
        out
    }

    pub(crate) fn targets_text(&self) -> String {
        let mut out = String::from("targets:\n");
        for t in self.targets() {
            let _ = writeln!(
                out,
                "  [{}] {}: {}",
                t.status.terminal(),
                t.what,
                t.measured
            );
        }
        out
    }

    /// Rows of the main table, shared by the terminal and Markdown forms.
    fn rows(&self) -> Vec<[String; 11]> {
        self.cells
            .iter()
            .map(|c| {
                let (s, runs) = (c.stream, &c.runs);
                let (direct, proxied) = (rps(&runs.direct), rps(&runs.proxied));
                [
                    c.concurrency.to_string(),
                    if s { "stream (TTFT)" } else { "plain" }.to_owned(),
                    format!("{direct:.0}"),
                    format!("{proxied:.0}"),
                    format!("{:.0}%", ratio(proxied, direct) * 100.0),
                    runs.both(s, "p50"),
                    runs.both(s, "p99"),
                    runs.both(s, "p999"),
                    signed_us(runs.added(s, "p50")),
                    format!("{:.0} µs", c.cpu_us),
                    format!("{:.1} MiB", c.rss_after.rss_mib()),
                ]
            })
            .collect()
    }

    const HEADER: [&'static str; 11] = [
        "conc",
        "mode",
        "direct rps",
        "proxy rps",
        "proxy/direct",
        "p50 direct / proxy",
        "p99 direct / proxy",
        "p99.9 direct / proxy",
        "added p50",
        "proxy CPU/req",
        "proxy RSS after",
    ];

    pub(crate) fn terminal_table(&self) -> String {
        let rows = self.rows();
        let mut widths: Vec<usize> = Self::HEADER.iter().map(|h| h.chars().count()).collect();
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:>w$}"))
                .collect::<Vec<_>>()
                .join("  ")
        };
        let mut out = line(&Self::HEADER.map(str::to_owned)) + "\n";
        for row in &rows {
            out += &line(row);
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "\nproxy memory: idle {:.1} MiB, peak {:.1} MiB (VmHWM)",
            self.idle.rss_mib(),
            self.peak.hwm_mib()
        );
        for (i, pair) in self.paced.iter().enumerate() {
            let _ = writeln!(
                out,
                "paced, concurrency 32 at {:.0} requests/s, round {}: p50 {}, p99 {}, p99.9 {} (direct / proxy)",
                self.paced_rate,
                i + 1,
                pair.both(false, "p50"),
                pair.both(false, "p99"),
                pair.both(false, "p999"),
            );
        }
        for (i, pair) in self.one_at_a_time.iter().enumerate() {
            let _ = writeln!(
                out,
                "concurrency 1, round {}: p50 {}, added {} (direct / proxy)",
                i + 1,
                pair.both(false, "p50"),
                signed_us(pair.added(false, "p50")),
            );
        }
        let r = &self.retry;
        let _ = writeln!(
            out,
            "retry path, one at a time: clean p50 {} and {:.0} µs proxy CPU; failing twice first p50 {} and {:.0} µs ({:.2}× latency, {:.2}× CPU)",
            us(RetryPath::p50(&r.clean)),
            r.clean_cpu,
            us(RetryPath::p50(&r.retried)),
            r.retried_cpu,
            r.latency_ratio(),
            r.cpu_ratio()
        );
        out
    }

    pub(crate) fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Generated by `cargo xtask bench` (each run: 1 s warmup, then {:.0} s measured; one run straight to the upstream, then the same load through the proxy).\n",
            self.duration.as_secs_f64()
        );
        out += &self.machine.markdown();
        out += "\n| ";
        out += &Self::HEADER.join(" | ");
        out += " |\n|";
        out += &"---|".repeat(Self::HEADER.len());
        out.push('\n');
        for row in self.rows() {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        let _ = writeln!(
            out,
            "\nStream rows give the time to the first content chunk (TTFT). `proxy CPU/req` is the proxy's user + system CPU time over the run divided by its requests (warmup included).\n"
        );
        let _ = writeln!(
            out,
            "**Latency at a fixed load.** Concurrency 32, paced at {:.0} requests/s (half of what the proxy served at 32 above, sends evenly spaced), so neither side is saturated; {} rounds, each straight to the upstream and then through the proxy:\n\n| round | p50 direct / proxy | p99 direct / proxy | p99.9 direct / proxy | added p99 |\n|---|---|---|---|---|",
            self.paced_rate,
            self.paced.len(),
        );
        for (i, pair) in self.paced.iter().enumerate() {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                i + 1,
                pair.both(false, "p50"),
                pair.both(false, "p99"),
                pair.both(false, "p999"),
                signed_us(pair.added(false, "p99")),
            );
        }
        let _ = writeln!(
            out,
            "\n**One request at a time.** Concurrency 1, plain, in {} rounds (the first is the table's row):\n\n| round | p50 direct / proxy | p99 direct / proxy | added p50 |\n|---|---|---|---|",
            self.one_at_a_time.len(),
        );
        for (i, pair) in self.one_at_a_time.iter().enumerate() {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                i + 1,
                pair.both(false, "p50"),
                pair.both(false, "p99"),
                signed_us(pair.added(false, "p50")),
            );
        }
        out.push('\n');
        let _ = writeln!(
            out,
            "**Memory.** Proxy RSS idle (after start, before any request): {:.1} MiB; peak RSS over the whole run (VmHWM, reached at concurrency 256): {:.1} MiB.\n",
            self.idle.rss_mib(),
            self.peak.hwm_mib()
        );
        let r = &self.retry;
        let _ = writeln!(
            out,
            "**Retry path.** One request at a time through a proxy with `num_retries: 2`, `retry_after: 0`, `backoff_initial: 0` on the scripted mock upstream: {} clean requests, then {} requests scripted to fail with a 500 twice and then succeed (three upstream attempts each).\n\n| | p50 latency | p99 latency | proxy CPU/req |\n|---|---|---|---|\n| clean | {} | {} | {:.0} µs |\n| fails twice, then succeeds | {} | {} | {:.0} µs |\n| ratio | {:.2}× | | {:.2}× |\n",
            r.clean["requests"],
            r.retried["requests"],
            us(RetryPath::p50(&r.clean)),
            us(r.clean["latency_us"]["p99"].as_f64().unwrap_or(0.0)),
            r.clean_cpu,
            us(RetryPath::p50(&r.retried)),
            us(r.retried["latency_us"]["p99"].as_f64().unwrap_or(0.0)),
            r.retried_cpu,
            r.latency_ratio(),
            r.cpu_ratio(),
        );
        out += "**Targets.**\n\n| target | measured | |\n|---|---|---|\n";
        for t in self.targets() {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                t.what,
                t.measured,
                t.status.markdown()
            );
        }
        out
    }
}

/// Replaces the text between `<!-- xtask-bench:NAME:begin -->` and `<!-- xtask-bench:NAME:end -->`
/// in `doc` (appending the markers when the file has none), keeping everything else.
pub(crate) fn replace_section(doc: &Path, name: &str, body: &str) -> Result<()> {
    let begin = format!("<!-- xtask-bench:{name}:begin -->");
    let end = format!("<!-- xtask-bench:{name}:end -->");
    let text = fs::read_to_string(doc).unwrap_or_else(|_| "# Benchmarks\n".to_owned());
    let section = format!("{begin}\n{}\n{end}", body.trim_end());
    let new = match (text.find(&begin), text.find(&end)) {
        (Some(b), Some(e)) if b < e => {
            format!("{}{section}{}", &text[..b], &text[e + end.len()..])
        }
        _ => format!("{}\n\n{section}\n", text.trim_end()),
    };
    fs::write(doc, new).with_context(|| format!("cannot write {}", doc.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_replaced_and_the_rest_kept() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-test-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        let doc = dir.join("benchmarks.md");
        fs::write(&doc, "# Benchmarks\n\nhand-written\n").expect("write");
        replace_section(&doc, "load", "first").expect("append");
        replace_section(&doc, "load", "second").expect("replace");
        let text = fs::read_to_string(&doc).expect("read");
        assert!(
            text.contains("hand-written") && text.contains("second"),
            "{text}"
        );
        assert!(!text.contains("first"), "{text}");
        assert_eq!(text.matches("xtask-bench:load:begin").count(), 1, "{text}");
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn microseconds_read_well() {
        assert_eq!(us(87.4), "87 µs");
        assert_eq!(us(1534.0), "1.53 ms");
        assert_eq!(signed_us(-1170.0), "−1.17 ms");
        assert_eq!(signed_us(92.0), "+92 µs");
        let run = |p50: f64| serde_json::json!({"latency_us": {"p50": p50}});
        let pair = Pair {
            direct: run(86.0),
            proxied: run(1534.0),
        };
        assert_eq!(pair.both(false, "p50"), "86 µs / 1.53 ms");
    }

    #[test]
    fn targets_are_judged_on_the_median_or_the_worst_round() {
        let run = |p50: f64, p99: f64| serde_json::json!({"latency_us": {"p50": p50, "p99": p99}});
        let pair = |direct: f64, proxied: f64| Pair {
            direct: run(direct, direct),
            proxied: run(proxied, proxied),
        };
        // Added: +130, +80, +90 → the median round is +90, whatever the order.
        let pairs = [pair(60.0, 190.0), pair(60.0, 140.0), pair(70.0, 160.0)];
        let (m, text) = rounds_text(&pairs, "p50", Judge::Median);
        assert!((m - 90.0).abs() < 1e-9, "{m}");
        assert_eq!(text, "+90 µs (median of 3 rounds: +130 µs, +80 µs, +90 µs)");
        let (m, text) = rounds_text(&pairs, "p50", Judge::Worst);
        assert!((m - 130.0).abs() < 1e-9, "{m}");
        assert_eq!(text, "+130 µs (worst of 3 rounds: +130 µs, +80 µs, +90 µs)");
        let (m, text) = rounds_text(&pairs[..1], "p99", Judge::Median);
        assert!((m - 130.0).abs() < 1e-9 && text == "+130 µs", "{m} {text}");
        assert!((median(vec![4.0, 1.0, 3.0, 2.0]) - 2.5).abs() < 1e-9);
        assert!(median(Vec::new()).abs() < 1e-9);
    }
}
