//! `cargo xtask bench`: the proxy load benchmark, and with `--soak` the soak test.
//!
//! The load benchmark builds `switchyard` and `switchyard-loadgen` in release mode, starts the mock
//! upstream in its fast fixed-answer mode and the proxy in front of it (each on a free port), and
//! sends the same load straight to the upstream and through the proxy, one after the other, at
//! concurrency 1, 32 and 256, plain and streamed. It reads the proxy's memory and CPU time from
//! `/proc`, measures the retry path against a scripted upstream, prints a table, and rewrites the
//! generated part of `docs/benchmarks.md`. See `docs/benchmarks.md` for what the numbers mean.
//!
//! The load generator is our own crate (`crates/loadgen`): it builds with the workspace, so a
//! fresh machine needs nothing but cargo, and it measures the time to the first streamed chunk.

mod procs;
mod report;
mod soak;

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use self::{
    procs::{Mem, Proc, free_port, http_post},
    report::{Cell, Machine, Pair, Results, RetryPath},
};
use crate::util::{cargo, output, project_root, run as run_cmd, target_dir};

const USAGE: &str = "\
usage: cargo xtask bench [--duration SECS] [--worker-threads N] [--no-write]
       cargo xtask bench --soak [--soak-minutes N]

  (no flag)         the load benchmark: straight to the mock upstream and through the proxy,
                    concurrency 1, 32, 256, plain and streamed; prints a table and rewrites the
                    generated part of docs/benchmarks.md (about 3 minutes once built)
  --duration SECS   measured seconds per run (default 4; each run also has 1 s of warmup)
  --worker-threads N
                    run the proxy with `switchyard.worker_threads: N` (default: not set,
                    one runtime thread per CPU)
  --no-write        print the table only; leave docs/benchmarks.md alone
  --soak            5 minutes of mixed plain and streamed load with 10% injected upstream
                    failures; checks every answer and that the proxy's memory stays flat
  --soak-minutes N  soak length (default 5)";

/// Concurrency levels of the load benchmark.
const CONCURRENCY: [usize; 3] = [1, 32, 256];

/// Requests of each retry-path run (one at a time).
const RETRY_REQUESTS: u64 = 2000;

/// Rounds of the two latency targets' runs (concurrency 1, and paced at 32), each a direct run
/// and a proxied one; the added median is judged on the worst round, the added p99 on the
/// median one (`report::Judge`).
const LATENCY_ROUNDS: usize = 3;

#[derive(Debug)]
struct Options {
    duration: Duration,
    write: bool,
    soak: bool,
    soak_minutes: u64,
    worker_threads: Option<usize>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut opts = Options {
            duration: Duration::from_secs(4),
            write: true,
            soak: false,
            soak_minutes: 5,
            worker_threads: None,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = |flag: &str| {
                args.next()
                    .with_context(|| format!("`{flag}` needs a value\n\n{USAGE}"))
            };
            match arg.as_str() {
                "--duration" => {
                    let secs: f64 = value("--duration")?
                        .parse()
                        .context("`--duration` takes a number of seconds")?;
                    opts.duration = Duration::try_from_secs_f64(secs)
                        .ok()
                        .filter(|d| !d.is_zero())
                        .context("`--duration` must be a positive number of seconds")?;
                }
                "--worker-threads" => {
                    opts.worker_threads = Some(
                        value("--worker-threads")?
                            .parse()
                            .ok()
                            .filter(|n| (1..=1024).contains(n))
                            .context("`--worker-threads` takes a whole number from 1 to 1024")?,
                    );
                }
                "--no-write" => opts.write = false,
                "--soak" => opts.soak = true,
                "--soak-minutes" => {
                    opts.soak_minutes = value("--soak-minutes")?
                        .parse()
                        .ok()
                        .filter(|m| *m > 0)
                        .context("`--soak-minutes` takes a whole number of minutes, at least 1")?;
                }
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => bail!("unknown argument `{other}`\n\n{USAGE}"),
            }
        }
        Ok(opts)
    }
}

/// The two programs a benchmark runs.
pub(crate) struct Bins {
    pub(crate) switchyard: PathBuf,
    pub(crate) loadgen: PathBuf,
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let opts = Options::parse(args)?;
    let root = project_root();
    let target = target_dir(&root)?;
    let work = target.join("bench");
    fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;

    let started = Instant::now();
    run_cmd(
        cargo()
            .args([
                "build",
                "--release",
                "-p",
                "switchyard-cli",
                "-p",
                "switchyard-loadgen",
            ])
            .current_dir(&root),
    )?;
    println!(
        "xtask bench: release build took {:.0}s",
        started.elapsed().as_secs_f64()
    );
    let bins = Bins {
        switchyard: target.join("release").join("switchyard"),
        loadgen: target.join("release").join("switchyard-loadgen"),
    };
    let mut machine = Machine::read(&root);
    machine.proxy_threads = opts.worker_threads;
    println!("{}", machine.describe());

    if opts.soak {
        let result = soak::run(&bins, &work, Duration::from_secs(opts.soak_minutes * 60))?;
        println!("{}", result.markdown(&machine));
        let doc = root.join("docs").join("benchmarks.md");
        report::replace_section(&doc, report::SOAK_SECTION, &result.markdown(&machine))?;
        println!("xtask bench: wrote the soak section of {}", doc.display());
        return result.verdict();
    }

    let results = load_benchmark(&bins, &work, &opts, machine)?;
    let text = results.terminal_table();
    println!("\n{text}");
    println!("{}", results.targets_text());
    if opts.write {
        let doc = root.join("docs").join("benchmarks.md");
        report::replace_section(&doc, report::LOAD_SECTION, &results.markdown())?;
        println!("xtask bench: wrote {}", doc.display());
    }
    println!(
        "xtask bench: done in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One loadgen run's settings.
pub(crate) struct Load<'a> {
    pub(crate) url: &'a str,
    pub(crate) concurrency: usize,
    pub(crate) stream: bool,
    pub(crate) duration: Duration,
    pub(crate) warmup: Duration,
    pub(crate) rate: Option<f64>,
    pub(crate) requests: Option<u64>,
    pub(crate) check: Option<&'a str>,
}

impl Load<'_> {
    fn new(url: &str, concurrency: usize, stream: bool, duration: Duration) -> Load<'_> {
        Load {
            url,
            concurrency,
            stream,
            duration,
            warmup: Duration::from_secs(1),
            rate: None,
            requests: None,
            check: None,
        }
    }

    fn command(&self, bins: &Bins) -> Command {
        let mut cmd = Command::new(&bins.loadgen);
        cmd.arg("--url")
            .arg(self.url)
            .arg("--concurrency")
            .arg(self.concurrency.to_string())
            .arg("--duration")
            .arg(format!("{}", self.duration.as_secs_f64()))
            .arg("--warmup")
            .arg(format!("{}", self.warmup.as_secs_f64()));
        if self.stream {
            cmd.arg("--stream");
        }
        if let Some(rate) = self.rate {
            cmd.arg("--rate").arg(format!("{rate}"));
        }
        if let Some(n) = self.requests {
            cmd.arg("--requests").arg(n.to_string());
        }
        if let Some(prefix) = self.check {
            cmd.arg("--check").arg(prefix);
        }
        cmd
    }

    /// Runs the load generator and returns its JSON summary.
    pub(crate) fn run(&self, bins: &Bins) -> Result<Value> {
        let stdout = output(&mut self.command(bins))?;
        let summary: Value = serde_json::from_str(stdout.trim()).with_context(|| {
            format!("switchyard-loadgen printed something that is not JSON: {stdout}")
        })?;
        Ok(summary)
    }
}

/// The mock upstream and the proxy in front of it, with the config written for them.
pub(crate) struct Stack {
    #[expect(
        dead_code,
        reason = "never read: held so that the upstream stops when the stack is dropped"
    )]
    upstream: Proc,
    pub(crate) upstream_port: u16,
    pub(crate) proxy: Proc,
    pub(crate) proxy_port: u16,
}

impl Stack {
    /// Starts `switchyard mock-upstream` (fast or scripted) and `switchyard serve` with the
    /// config `config(upstream_port, proxy_port)`.
    pub(crate) fn start(
        bins: &Bins,
        work: &Path,
        name: &str,
        fast: bool,
        config: impl Fn(u16, u16) -> String,
    ) -> Result<Stack> {
        let upstream_port = free_port()?;
        let mut cmd = Command::new(&bins.switchyard);
        cmd.args(["mock-upstream", "--port", &upstream_port.to_string()]);
        if fast {
            cmd.arg("--fast");
        }
        // The mock upstream logs nothing per request at warn.
        cmd.env("RUST_LOG", "warn");
        let mut upstream = Proc::spawn(
            "the mock upstream",
            cmd,
            &work.join(format!("{name}-upstream.log")),
        )?;
        upstream.wait_listening(upstream_port)?;

        let proxy_port = free_port()?;
        let config_path = work.join(format!("{name}.yaml"));
        fs::write(&config_path, config(upstream_port, proxy_port))
            .with_context(|| format!("cannot write {}", config_path.display()))?;
        let mut cmd = Command::new(&bins.switchyard);
        cmd.arg("serve").arg("--config").arg(&config_path);
        // The proxy runs with its default log level, as a user would run it.
        cmd.env_remove("RUST_LOG");
        let mut proxy = Proc::spawn("the proxy", cmd, &work.join(format!("{name}-proxy.log")))?;
        proxy.wait_listening(proxy_port)?;
        Ok(Stack {
            upstream,
            upstream_port,
            proxy,
            proxy_port,
        })
    }

    pub(crate) fn upstream_url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/v1/chat/completions",
            self.upstream_port
        )
    }

    pub(crate) fn proxy_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1/chat/completions", self.proxy_port)
    }
}

/// The proxy config of the load benchmark: one OpenAI deployment on the fast upstream.
fn load_config(upstream: u16, proxy: u16, threads: Option<usize>) -> String {
    let threads = threads_line(threads);
    format!(
        "# Written by `cargo xtask bench`: one OpenAI-compatible deployment on the fast mock upstream.
model_list:
  - model_name: bench
    litellm_params:
      model: openai/mock-fast
      api_base: http://127.0.0.1:{upstream}/v1
      api_key: sk-bench
switchyard:
  listen: \"127.0.0.1:{proxy}\"
{threads}"
    )
}

/// The proxy config of the retry-path runs: zero-wait retries on a scripted upstream.
fn retry_config(upstream: u16, proxy: u16, threads: Option<usize>) -> String {
    let threads = threads_line(threads);
    format!(
        "# Written by `cargo xtask bench`: zero-wait retries on the scripted mock upstream.
model_list:
  - model_name: bench
    litellm_params:
      model: openai/retry-path
      api_base: http://127.0.0.1:{upstream}/v1
      api_key: sk-bench
router_settings:
  num_retries: 2
  retry_after: 0
  backoff_initial: 0
switchyard:
  listen: \"127.0.0.1:{proxy}\"
{threads}"
    )
}

/// The `switchyard.worker_threads` line of a benchmark config, if one was asked for.
fn threads_line(threads: Option<usize>) -> String {
    threads.map_or_else(String::new, |n| format!("  worker_threads: {n}\n"))
}

/// CPU microseconds per request over `spent`.
fn cpu_us_per_request(spent: Duration, requests: u64) -> f64 {
    if requests == 0 {
        return 0.0;
    }
    spent.as_secs_f64() * 1e6 / requests as f64
}

fn load_benchmark(bins: &Bins, work: &Path, opts: &Options, machine: Machine) -> Result<Results> {
    let threads = opts.worker_threads;
    let stack = Stack::start(bins, work, "load", true, |u, p| load_config(u, p, threads))?;
    // Let the proxy settle, then take its idle memory before any request.
    thread::sleep(Duration::from_secs(1));
    let idle = stack.proxy.mem()?;
    let direct_url = stack.upstream_url();
    let proxy_url = stack.proxy_url();

    let mut cells = Vec::new();
    for concurrency in CONCURRENCY {
        for stream in [false, true] {
            let mode = if stream { "stream" } else { "plain" };
            println!(
                "xtask bench: concurrency {concurrency}, {mode}: direct, then through the proxy"
            );
            let direct = Load::new(&direct_url, concurrency, stream, opts.duration).run(bins)?;
            let before = stack.proxy.cpu_time()?;
            let proxied = Load::new(&proxy_url, concurrency, stream, opts.duration).run(bins)?;
            let spent = stack.proxy.cpu_time()?.saturating_sub(before);
            let total = proxied["total_requests"].as_u64().unwrap_or(0);
            let mem = stack.proxy.mem()?;
            cells.push(Cell {
                concurrency,
                stream,
                runs: Pair { direct, proxied },
                cpu_us: cpu_us_per_request(spent, total),
                rss_after: mem,
            });
        }
    }

    // Latency at a load that saturates nobody: half of what the proxy served at 32.
    let saturated = cells
        .iter()
        .find(|c| c.concurrency == 32 && !c.stream)
        .map_or(1000.0, |c| c.runs.proxied["rps"].as_f64().unwrap_or(2000.0));
    let rate = ((saturated / 2.0) / 100.0).floor().max(1.0) * 100.0;
    println!(
        "xtask bench: concurrency 32 paced at {rate} requests/s: direct, then through the proxy"
    );
    let paced = |url: &str| {
        let mut load = Load::new(url, 32, false, opts.duration);
        load.rate = Some(rate);
        load.run(bins)
    };
    // The two latency targets are differences of two runs on a shared machine whose own tail
    // and process placement move from run to run: measure them in more rounds (the report
    // says which round each is judged on, and why). The first concurrency-1 round is the
    // table's own run.
    let mut one_at_a_time: Vec<Pair> = cells
        .iter()
        .find(|c| c.concurrency == 1 && !c.stream)
        .map(|c| c.runs.clone())
        .into_iter()
        .collect();
    let mut paced_rounds = Vec::with_capacity(LATENCY_ROUNDS);
    for round in 1..=LATENCY_ROUNDS {
        if round > 1 {
            println!(
                "xtask bench: latency round {round} of {LATENCY_ROUNDS}: concurrency 1, then paced 32; direct, then through the proxy"
            );
            one_at_a_time.push(Pair {
                direct: Load::new(&direct_url, 1, false, opts.duration).run(bins)?,
                proxied: Load::new(&proxy_url, 1, false, opts.duration).run(bins)?,
            });
        }
        paced_rounds.push(Pair {
            direct: paced(&direct_url)?,
            proxied: paced(&proxy_url)?,
        });
    }
    let peak = stack.proxy.mem()?;
    drop(stack);

    let retry = retry_path(bins, work, threads)?;
    Ok(Results {
        machine,
        cells,
        paced_rate: rate,
        one_at_a_time,
        paced: paced_rounds,
        idle,
        peak,
        retry,
        duration: opts.duration,
    })
}

/// Clean requests, then requests that fail twice before they succeed, one at a time through a
/// proxy with zero-wait retries.
fn retry_path(bins: &Bins, work: &Path, threads: Option<usize>) -> Result<RetryPath> {
    println!(
        "xtask bench: retry path: {RETRY_REQUESTS} clean requests, then {RETRY_REQUESTS} that fail twice first"
    );
    let stack = Stack::start(bins, work, "retry", false, |u, p| {
        retry_config(u, p, threads)
    })?;
    let url = stack.proxy_url();
    let one_at_a_time = |requests: u64| -> Result<(Value, f64)> {
        let mut load = Load::new(&url, 1, false, Duration::from_secs(120));
        load.warmup = Duration::ZERO;
        load.requests = Some(requests);
        let before = stack.proxy.cpu_time()?;
        let summary = load.run(bins)?;
        let spent = stack.proxy.cpu_time()?.saturating_sub(before);
        let cpu = cpu_us_per_request(spent, summary["total_requests"].as_u64().unwrap_or(0));
        Ok((summary, cpu))
    };
    // Warm the connection pools before either measured run.
    one_at_a_time(200)?;
    let (clean, clean_cpu) = one_at_a_time(RETRY_REQUESTS)?;

    let fail_twice =
        r#"{"type":"status","status":500},{"type":"status","status":500},{"type":"success"}"#;
    let steps = vec![fail_twice; usize::try_from(RETRY_REQUESTS)?].join(",");
    let script = format!(r#"{{"deployment":"retry-path","behaviours":[{steps}]}}"#);
    let (status, answer) = http_post(stack.upstream_port, "/__control/script", &script)?;
    if status != 200 {
        bail!("the mock upstream refused the retry script ({status}): {answer}");
    }
    let (retried, retried_cpu) = one_at_a_time(RETRY_REQUESTS)?;
    let (_, left) = http_post(
        stack.upstream_port,
        "/__control/script",
        r#"{"deployment":"retry-path","behaviours":[]}"#,
    )?;
    let queued = serde_json::from_str::<Value>(&left)
        .ok()
        .and_then(|v| v["queued"].as_u64());
    if queued != Some(0) {
        bail!(
            "after the retry run the upstream still has {queued:?} scripted steps: the requests did not make three attempts each"
        );
    }
    if retried["non_200"].as_u64() != Some(0) || clean["non_200"].as_u64() != Some(0) {
        bail!("a retry-path request did not end in 200: clean {clean}, retried {retried}");
    }
    Ok(RetryPath {
        clean,
        clean_cpu,
        retried,
        retried_cpu,
    })
}

/// Memory in MiB for tables.
pub(crate) fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

impl Mem {
    pub(crate) fn rss_mib(self) -> f64 {
        mib(self.rss_kib)
    }

    pub(crate) fn hwm_mib(self) -> f64 {
        mib(self.hwm_kib)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let o = Options::parse(&args(&[])).expect("defaults");
        assert!(o.write && !o.soak);
        assert_eq!(o.duration, Duration::from_secs(4));
        let o = Options::parse(&args(&["--duration", "2.5", "--no-write"])).expect("valid");
        assert_eq!(o.duration, Duration::from_millis(2500));
        assert!(!o.write);
        let o = Options::parse(&args(&["--soak", "--soak-minutes", "1"])).expect("valid");
        assert!(o.soak);
        assert_eq!(o.soak_minutes, 1);
        assert!(Options::parse(&args(&["--duration", "0"])).is_err());
        assert!(Options::parse(&args(&["--fast"])).is_err());
    }

    #[test]
    fn configs_point_at_the_ports() {
        let c = load_config(1111, 2222, Some(1));
        assert!(c.contains("  worker_threads: 1\n"), "{c}");
        assert!(!load_config(1111, 2222, None).contains("worker_threads"));
        assert!(c.contains("http://127.0.0.1:1111/v1") && c.contains("127.0.0.1:2222"));
        let c = retry_config(1111, 2222, None);
        assert!(c.contains("retry_after: 0") && c.contains("openai/retry-path"));
        assert!((cpu_us_per_request(Duration::from_secs(1), 1000) - 1000.0).abs() < 1e-9);
    }
}
