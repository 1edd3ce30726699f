//! `cargo xtask bench --soak`: minutes of mixed plain and streamed load through the proxy with
//! 10% of upstream attempts failing, every answer checked, and the proxy's memory watched.
//!
//! The upstream is the mock in its scripted mode. A thread here keeps its wildcard script topped
//! up with batches of 100 steps, 10 of them failures at random places (500, 503, a dropped
//! connection, an error event inside a 200 stream), so one attempt in ten fails whatever
//! request it belongs to, retries included. The load generator checks that every answer is the
//! mock's text or an error in OpenAI's shape (`switchyard-loadgen --check`).

use std::{
    fmt::Write as _,
    path::Path,
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::{Bins, Load, Stack, http_post, procs::Mem, report::Machine};

/// Requests in flight during the soak.
const CONCURRENCY: usize = 64;

/// Steps per script batch, and failures among them.
const BATCH: usize = 100;
const FAILURES_PER_BATCH: usize = 10;

/// The wildcard queue is topped up when it falls below this many steps.
const LOW_WATER: u64 = 1000;

/// Memory counts as flat when the end is within this fraction of the 1-minute mark (plus
/// [`SLACK_MIB`] for allocator noise).
const GROWTH_ALLOWED: f64 = 0.10;
const SLACK_MIB: f64 = 2.0;

/// What the soak found.
pub(crate) struct SoakResult {
    duration: Duration,
    summary: Value,
    exit_ok: bool,
    series: Vec<(u64, Mem)>,
    at_one_minute: Mem,
    at_end: Mem,
    steps: u64,
    failures: u64,
}

fn config(upstream: u16, proxy: u16) -> String {
    format!(
        "# Written by `cargo xtask bench --soak`: two deployments on the scripted mock upstream.
model_list:
  - model_name: bench
    litellm_params:
      model: openai/soak-a
      api_base: http://127.0.0.1:{upstream}/v1
      api_key: sk-soak
  - model_name: bench
    litellm_params:
      model: openai/soak-b
      api_base: http://127.0.0.1:{upstream}/v1
      api_key: sk-soak
router_settings:
  num_retries: 3
  retry_after: 0
  backoff_initial: 0
  allowed_fails: 1000
  cooldown_time: 1s
switchyard:
  listen: \"127.0.0.1:{proxy}\"
"
    )
}

/// A batch of script steps with `FAILURES_PER_BATCH` failures at places drawn from `seed`.
fn batch(seed: &mut u64) -> (String, u64) {
    const FAILURES: [&str; 4] = [
        r#"{"type":"status","status":500}"#,
        r#"{"type":"status","status":503}"#,
        r#"{"type":"close_connection"}"#,
        r#"{"type":"stream_error_event","after_chunks":1}"#,
    ];
    let mut steps = vec![r#"{"type":"success"}"#; BATCH];
    let mut placed = 0;
    while placed < FAILURES_PER_BATCH {
        // A 64-bit LCG (Knuth's MMIX constants) is random enough to place failures.
        *seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let at = usize::try_from((*seed >> 33) % BATCH as u64).unwrap_or(0);
        if steps[at] == r#"{"type":"success"}"# {
            steps[at] = FAILURES[usize::try_from((*seed >> 20) % 4).unwrap_or(0)];
            placed += 1;
        }
    }
    (
        format!(r#"{{"deployment":"*","behaviours":[{}]}}"#, steps.join(",")),
        FAILURES_PER_BATCH as u64,
    )
}

fn queued(answer: &str) -> Option<u64> {
    serde_json::from_str::<Value>(answer).ok()?["queued"].as_u64()
}

pub(crate) fn run(bins: &Bins, work: &Path, duration: Duration) -> Result<SoakResult> {
    println!(
        "xtask bench --soak: {} s of mixed load at concurrency {CONCURRENCY}, 10% of upstream attempts failing",
        duration.as_secs()
    );
    let stack = Stack::start(bins, work, "soak", false, config)?;
    let port = stack.upstream_port;

    let stop = Arc::new(AtomicBool::new(false));
    let steps = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let injector = {
        let (stop, steps, failures) = (stop.clone(), steps.clone(), failures.clone());
        thread::spawn(move || -> Result<()> {
            let mut seed = 0x5eed_u64;
            while !stop.load(Ordering::Relaxed) {
                let (script, failed) = batch(&mut seed);
                let (status, answer) = http_post(port, "/__control/script", &script)?;
                if status != 200 {
                    bail!("the mock upstream refused a script batch ({status}): {answer}");
                }
                steps.fetch_add(BATCH as u64, Ordering::Relaxed);
                failures.fetch_add(failed, Ordering::Relaxed);
                let mut left = queued(&answer).unwrap_or(0);
                while left > LOW_WATER && !stop.load(Ordering::Relaxed) {
                    thread::sleep(Duration::from_millis(50));
                    let (_, answer) = http_post(
                        port,
                        "/__control/script",
                        r#"{"deployment":"*","behaviours":[]}"#,
                    )?;
                    left = queued(&answer).unwrap_or(0);
                }
            }
            Ok(())
        })
    };
    // Let the injector fill the queue before the first request.
    thread::sleep(Duration::from_millis(500));

    let url = stack.proxy_url();
    let mut load = Load::new(&url, CONCURRENCY, false, duration);
    load.warmup = Duration::ZERO;
    load.check = Some("mock answer from ");
    let mut cmd = load.command(bins);
    cmd.args(["--progress", "30s"]);
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start switchyard-loadgen")?;
    let child_id = child.id();

    let started = Instant::now();
    let mut series = Vec::new();
    let mut at_one_minute = None;
    let waiting = thread::spawn(move || child.wait_with_output());
    let mut next_sample = Duration::ZERO;
    while !waiting.is_finished() {
        let elapsed = started.elapsed();
        if elapsed >= next_sample {
            let mem = stack.proxy.mem()?;
            let secs = elapsed.as_secs();
            if at_one_minute.is_none() && elapsed >= Duration::from_secs(60) {
                at_one_minute = Some(mem);
            }
            if secs.is_multiple_of(30) || series.is_empty() {
                println!(
                    "xtask bench --soak: {secs:>4} s: proxy RSS {:.1} MiB",
                    mem.rss_mib()
                );
            }
            series.push((secs, mem));
            next_sample += Duration::from_secs(5);
        }
        thread::sleep(Duration::from_millis(200));
    }
    let at_end = stack.proxy.mem()?;
    stop.store(true, Ordering::Relaxed);
    let out = waiting
        .join()
        .map_err(|_| anyhow::anyhow!("the thread waiting for switchyard-loadgen panicked"))?
        .with_context(|| format!("switchyard-loadgen (pid {child_id}) could not be waited for"))?;
    injector
        .join()
        .map_err(|_| anyhow::anyhow!("the failure injector panicked"))??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: Value = serde_json::from_str(stdout.trim()).with_context(|| {
        format!("switchyard-loadgen printed something that is not JSON: {stdout}")
    })?;
    // Exit code 2 means a wrong answer; the summary says which.
    let exit_ok = out.status.success();
    if !exit_ok && out.status.code() != Some(2) {
        bail!("switchyard-loadgen failed ({}): {stdout}", out.status);
    }
    drop(stack);
    Ok(SoakResult {
        duration,
        summary,
        exit_ok,
        at_one_minute: at_one_minute.unwrap_or(at_end),
        at_end,
        series,
        steps: steps.load(Ordering::Relaxed),
        failures: failures.load(Ordering::Relaxed),
    })
}

impl SoakResult {
    fn memory_flat(&self) -> bool {
        self.at_end.rss_mib() <= self.at_one_minute.rss_mib() * (1.0 + GROWTH_ALLOWED) + SLACK_MIB
    }

    fn wrong(&self) -> u64 {
        self.summary["checks"]["wrong"].as_u64().unwrap_or(u64::MAX)
    }

    /// Fails unless every answer was right and memory stayed flat.
    pub(crate) fn verdict(&self) -> Result<()> {
        if self.wrong() != 0 || !self.exit_ok {
            bail!(
                "the soak saw {} wrong answer(s): {}",
                self.wrong(),
                self.summary["checks"]["wrong_examples"]
            );
        }
        if !self.memory_flat() {
            bail!(
                "the proxy's memory grew from {:.1} MiB at 1 minute to {:.1} MiB at the end",
                self.at_one_minute.rss_mib(),
                self.at_end.rss_mib()
            );
        }
        println!("xtask bench --soak: every answer right, memory flat");
        Ok(())
    }

    pub(crate) fn markdown(&self, machine: &Machine) -> String {
        let c = &self.summary["checks"];
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Generated by `cargo xtask bench --soak` on a machine with {}.\n",
            machine.describe().trim_start_matches("machine: ")
        );
        let _ = writeln!(
            out,
            "{:.0} s at concurrency {CONCURRENCY}, plain and streamed requests in turn, through a proxy with two deployments (`num_retries: 3`, zero-wait retries) on the scripted mock upstream; {} of {} scripted upstream steps were failures (500, 503, a dropped connection, an error event inside a 200 stream).\n",
            self.duration.as_secs_f64(),
            self.failures,
            self.steps
        );
        let errors = c["errors_by_status"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(s, n)| format!("{n} × {s}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "none".to_owned());
        let _ = writeln!(
            out,
            "| | |\n|---|---|\n| requests | {} ({:.0}/s) |\n| right answers, plain | {} |\n| right answers, streamed | {} |\n| OpenAI-shaped error answers | {errors} |\n| streams ended by an OpenAI error event after content | {} |\n| **wrong answers** | **{}** |\n| proxy RSS at 1 min / at the end / peak | {:.1} / {:.1} / {:.1} MiB |\n| memory flat (end ≤ 1 min + {:.0}% + {SLACK_MIB:.0} MiB) | {} |",
            self.summary["total_requests"],
            self.summary["rps"].as_f64().unwrap_or(0.0),
            c["answers"],
            c["stream_answers"],
            c["stream_errors"],
            self.wrong(),
            self.at_one_minute.rss_mib(),
            self.at_end.rss_mib(),
            self.at_end.hwm_mib(),
            GROWTH_ALLOWED * 100.0,
            if self.memory_flat() { "yes" } else { "**no**" }
        );
        let samples: Vec<String> = self
            .series
            .iter()
            .filter(|(s, _)| s.is_multiple_of(60))
            .map(|(s, m)| format!("{s} s: {:.1}", m.rss_mib()))
            .collect();
        let _ = writeln!(out, "\nProxy RSS by minute (MiB): {}.", samples.join(", "));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_has_exactly_ten_failures() {
        let mut seed = 1;
        for _ in 0..20 {
            let (script, failures) = batch(&mut seed);
            let v: Value = serde_json::from_str(&script).expect("valid JSON");
            let steps = v["behaviours"].as_array().expect("a list");
            assert_eq!(steps.len(), BATCH);
            let failed = steps.iter().filter(|s| s["type"] != "success").count();
            assert_eq!(failed as u64, failures);
            assert_eq!(failed, FAILURES_PER_BATCH);
        }
    }

    #[test]
    fn the_soak_config_has_two_deployments_and_zero_waits() {
        let c = config(1, 2);
        assert_eq!(c.matches("model_name: bench").count(), 2);
        assert!(c.contains("retry_after: 0"));
    }
}
