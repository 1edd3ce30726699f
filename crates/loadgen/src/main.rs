//! `switchyard-loadgen`: the load generator that `cargo xtask bench` drives.
//!
//! **What it is.** A closed-loop HTTP/1.1 load generator: `--concurrency` workers, each on its
//! own keep-alive connection, send the same JSON body back to back (or, with `--rate`, at an
//! even pace, `pace.rs`) for `--warmup` plus `--duration` and record every request of the
//! measured window. It prints one JSON object:
//! requests per second, latency percentiles (p50, p99, p99.9) and, for streamed answers, the
//! time to the first chunk that carries content. In `--check` mode (the soak) it mixes plain and
//! streamed requests and checks every answer: the expected text, or an error in OpenAI's shape.
//!
//! **Why our own.** It installs with the workspace (no `cargo install`, no root, no network
//! beyond crates.io), and the off-the-shelf tools do not measure the time to the first SSE chunk.
//!
//! **What it is not.** Not published and not a general tool: it speaks HTTP/1.1 over plain TCP
//! to `127.0.0.1`, and it only knows OpenAI's chat completion shapes.

mod check;
mod client;
mod pace;
mod stats;

use std::{
    io::Write as _,
    net::SocketAddr,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::Parser;
use serde_json::json;
use tokio::task::JoinSet;

use crate::{
    check::{Checker, Verdict},
    client::{Conn, Target},
    pace::Pacer,
    stats::Summary,
};

/// Closed-loop load against one URL; prints a JSON summary on stdout.
#[derive(Debug, Parser)]
#[command(name = "switchyard-loadgen", version)]
struct Args {
    /// `http://127.0.0.1:PORT/path` to POST to.
    #[arg(long)]
    url: String,
    /// Requests in flight at once (one connection each).
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Measured time, as a humantime string (`5s`) or seconds.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    duration: Duration,
    /// Load before the measured window; its requests are not recorded.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// Ask for a streamed answer (`"stream": true` in the body) and measure time to first chunk.
    #[arg(long)]
    stream: bool,
    /// The model name in the body.
    #[arg(long, default_value = "bench")]
    model: String,
    /// Soak mode: send plain and streamed requests in turn and check every answer; answers must
    /// carry a text that starts with this prefix or be an error in OpenAI's shape.
    #[arg(long)]
    check: Option<String>,
    /// Stop after this many requests in all (counting the warmup); for fixed-size runs.
    #[arg(long)]
    requests: Option<u64>,
    /// Offered load in requests per second across all workers (default: as fast as answers
    /// come back). A pacing thread releases the sends evenly spaced, each to whichever worker
    /// is free, so latency is measured at a load the server is not saturated by.
    #[arg(long)]
    rate: Option<f64>,
    /// Worker threads of the runtime (1: a single-threaded runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// In soak mode, print a progress line on stderr this often.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    progress: Duration,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|e| e.to_string());
    }
    let (number, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let n: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration: use e.g. 5s, 500ms or 2m"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" | "min" => n * 60.0,
        other => return Err(format!("unknown unit `{other}` in `{s}`: use ms, s or m")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(clean) => {
            if clean {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::from(2)
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs the load; `Ok(false)` when a checked answer was wrong.
fn run(args: &Args) -> Result<bool> {
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let target = Target::parse(&args.url)?;
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    }
    .context("cannot start the async runtime")?;
    runtime.block_on(load(args, target))
}

/// What one worker saw.
#[derive(Default)]
struct WorkerResult {
    latencies_ns: Vec<u64>,
    ttft_ns: Vec<u64>,
    /// Requests completed, the warmup's included (for CPU per request).
    total: u64,
    /// Answers in the measured window that were not 200.
    non_200: u64,
    /// Requests that failed below HTTP (connection refused, reset).
    transport_errors: u64,
    checks: check::Tally,
}

async fn load(args: &Args, target: Target) -> Result<bool> {
    let started = Instant::now();
    let measure_from = started + args.warmup;
    let end = measure_from + args.duration;
    let bodies = [body(&args.model, false), body(&args.model, true)];
    let budget = args
        .requests
        .map(|n| std::sync::Arc::new(std::sync::atomic::AtomicU64::new(n)));
    let pacer = args
        .rate
        .filter(|r| *r > 0.0)
        .map(|rate| Pacer::start(rate, started, end).map(std::sync::Arc::new))
        .transpose()
        .context("cannot start the pacing thread")?;
    let mut workers = JoinSet::new();
    for worker in 0..args.concurrency {
        let target = target.clone();
        let bodies = bodies.clone();
        let budget = budget.clone();
        let checker = args.check.clone().map(Checker::new);
        let stream = args.stream;
        let progress = (worker == 0 && checker.is_some()).then_some(args.progress);
        let pacer = pacer.clone();
        workers.spawn(async move {
            let mut out = WorkerResult::default();
            let mut conn: Option<Conn> = None;
            let mut n: u64 = 0;
            let mut next_progress = progress.map(|p| Instant::now() + p);
            loop {
                if let Some(pacer) = &pacer
                    && !pacer.next().await
                {
                    break;
                }
                let now = Instant::now();
                if now >= end {
                    break;
                }
                if let Some(budget) = &budget
                    && budget
                        .fetch_update(
                            std::sync::atomic::Ordering::Relaxed,
                            std::sync::atomic::Ordering::Relaxed,
                            |left| left.checked_sub(1),
                        )
                        .is_err()
                {
                    break;
                }
                // The soak alternates plain and streamed requests per worker, offset by worker.
                let streamed = match &checker {
                    Some(_) => (n + worker as u64) % 2 == 1,
                    None => stream,
                };
                n += 1;
                let c = match conn.take() {
                    Some(c) => c,
                    None => match Conn::open(&target).await {
                        Ok(c) => c,
                        Err(e) => {
                            out.transport_errors += 1;
                            if out.transport_errors == 1 {
                                eprintln!("loadgen: cannot connect to {}: {e:#}", target.addr);
                            }
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    },
                };
                let body = bodies[usize::from(streamed)].clone();
                let keep_body = checker.is_some();
                match c.send(&target, body, keep_body).await {
                    Ok((c, answer)) => {
                        conn = c;
                        out.total += 1;
                        if answer.started >= measure_from {
                            out.latencies_ns.push(nanos(answer.latency));
                            if let Some(t) = answer.ttft {
                                out.ttft_ns.push(nanos(t));
                            }
                            if answer.status != 200 {
                                out.non_200 += 1;
                            }
                        }
                        if let Some(checker) = &checker {
                            let verdict = checker.check(answer.status, streamed, &answer.body);
                            out.checks
                                .add(&verdict, answer.status, streamed, &answer.body);
                        }
                    }
                    Err(e) => {
                        out.transport_errors += 1;
                        if checker.is_some() {
                            let verdict =
                                Verdict::Bad(format!("the request failed below HTTP: {e:#}"));
                            out.checks.add(&verdict, 0, streamed, &[]);
                        }
                    }
                }
                if let (Some(p), Some(at)) = (progress, next_progress)
                    && Instant::now() >= at
                {
                    next_progress = Some(at + p);
                    eprintln!(
                        "loadgen: {:>4.0}s worker 0: {} requests, {} checked ok, {} wrong",
                        started.elapsed().as_secs_f64(),
                        out.total,
                        out.checks.ok(),
                        out.checks.bad
                    );
                }
            }
            out
        });
    }
    let mut all = WorkerResult::default();
    while let Some(done) = workers.join_next().await {
        let done = done.context("a load worker panicked")?;
        all.latencies_ns.extend(done.latencies_ns);
        all.ttft_ns.extend(done.ttft_ns);
        all.total += done.total;
        all.non_200 += done.non_200;
        all.transport_errors += done.transport_errors;
        all.checks.merge(done.checks);
    }
    // The window ends at `end` or when a fixed-size run ran out, whichever came first.
    let window = Instant::now()
        .min(end)
        .saturating_duration_since(measure_from)
        .max(Duration::from_millis(1));
    let measured = all.latencies_ns.len() as u64;
    let latency = Summary::of(&mut all.latencies_ns);
    let ttft = (!all.ttft_ns.is_empty()).then(|| Summary::of(&mut all.ttft_ns));
    let mut report = json!({
        "url": args.url,
        "concurrency": args.concurrency,
        "rate": args.rate,
        "stream": args.stream,
        "window_s": window.as_secs_f64(),
        "requests": measured,
        "total_requests": all.total,
        "rps": measured as f64 / window.as_secs_f64(),
        "non_200": all.non_200,
        "transport_errors": all.transport_errors,
        "latency_us": latency.to_json(),
        "ttft_us": ttft.map(|t| t.to_json()),
    });
    let clean = all.checks.bad == 0;
    if args.check.is_some() {
        report["checks"] = all.checks.to_json();
    }
    // A closed stdout (the reader went away) is an error to report, not a panic.
    writeln!(std::io::stdout().lock(), "{report}").context("cannot write the summary")?;
    Ok(clean)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn body(model: &str, stream: bool) -> Bytes {
    let mut body = json!({
        "model": model,
        "messages": [{"role": "user", "content": "Say hello in five words."}],
    });
    if stream {
        body["stream"] = json!(true);
    }
    Bytes::from(body.to_string())
}

impl Target {
    /// Reads `http://IP:PORT/path`.
    fn parse(url: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .with_context(|| format!("`{url}` is not an http:// URL"))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let addr: SocketAddr = authority.parse().with_context(|| {
            format!("`{authority}` is not an IP address and port (use 127.0.0.1:PORT)")
        })?;
        let path = if path.is_empty() { "/" } else { path };
        Ok(Target {
            addr,
            authority: authority.to_owned(),
            path: path.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_targets_parse() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("5 parsecs").is_err());
        let t = Target::parse("http://127.0.0.1:4000/v1/chat/completions").expect("valid");
        assert_eq!(t.addr.port(), 4000);
        assert_eq!(t.path, "/v1/chat/completions");
        assert!(Target::parse("https://example.com/").is_err());
    }
}
