//! The processes a benchmark runs: starting them on free ports, reading their memory and CPU
//! time from `/proc`, and stopping them however the run ends.

use std::{
    fs::{self, File},
    io::{Read, Write},
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

/// A child process that is killed when dropped, with its output in a log file.
pub(crate) struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

/// Memory of a process, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Mem {
    /// Resident set size now (`VmRSS`), in KiB.
    pub(crate) rss_kib: u64,
    /// The largest resident set size so far (`VmHWM`), in KiB.
    pub(crate) hwm_kib: u64,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr going to `log`.
    pub(crate) fn spawn(name: &str, mut cmd: Command, log: &Path) -> Result<Proc> {
        let out = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let err = out.try_clone()?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        Ok(Proc {
            name: name.to_owned(),
            child,
            log: log.to_owned(),
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `port` accepts connections; fails early, with the log, if the process exits.
    pub(crate) fn wait_listening(&mut self, port: u16) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited ({status}) before it listened on port {port}; its log ({}):\n{}",
                    self.name,
                    self.log.display(),
                    self.log_tail()
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not listen on port {port} within 20 s; its log ({}):\n{}",
                    self.name,
                    self.log.display(),
                    self.log_tail()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The process's memory now.
    pub(crate) fn mem(&self) -> Result<Mem> {
        let path = format!("/proc/{}/status", self.pid());
        let text = fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(Mem {
            rss_kib: field("VmRSS:"),
            hwm_kib: field("VmHWM:"),
        })
    }

    /// User plus system CPU time used so far.
    ///
    /// From the scheduler's nanosecond count of every thread (`se.sum_exec_runtime` in
    /// `/proc/PID/task/TID/sched`) where the kernel has it: `/proc/PID/stat` counts in clock
    /// ticks of 10 ms, and 2000 requests of 40 µs are only 8 of them. Otherwise from
    /// `/proc/PID/stat`. The proxy's threads live as long as it does, so no exited thread's time
    /// is missing from the sum.
    pub(crate) fn cpu_time(&self) -> Result<Duration> {
        if let Some(t) = sched_runtime(self.pid()) {
            return Ok(t);
        }
        let path = format!("/proc/{}/stat", self.pid());
        let text = fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        let ticks = cpu_ticks_of(&text)
            .with_context(|| format!("{path} has no utime and stime: `{text}`"))?;
        Ok(Duration::from_secs_f64(
            ticks as f64 / ticks_per_second() as f64,
        ))
    }

    fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The summed `se.sum_exec_runtime` of a process's threads; `None` where the kernel does not
/// show it.
fn sched_runtime(pid: u32) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut threads = 0;
    for task in fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let Ok(text) = fs::read_to_string(task.ok()?.path().join("sched")) else {
            continue;
        };
        total += sum_exec_runtime_of(&text)?;
        threads += 1;
    }
    (threads > 0).then_some(total)
}

/// `se.sum_exec_runtime` (milliseconds with six decimals) from a `sched` file's text.
fn sum_exec_runtime_of(sched: &str) -> Option<Duration> {
    let value = sched
        .lines()
        .find_map(|l| l.strip_prefix("se.sum_exec_runtime"))?
        .trim_start_matches([' ', '\t', ':'])
        .trim();
    let ms: f64 = value.parse().ok()?;
    Duration::try_from_secs_f64(ms / 1000.0).ok()
}

/// utime + stime from the text of `/proc/PID/stat`. The command name (field 2) may hold spaces
/// and parentheses, so fields are counted after its closing parenthesis.
fn cpu_ticks_of(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second, the unit of `/proc/PID/stat` times (asked of `getconf` once).
fn ticks_per_second() -> u64 {
    static HZ: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *HZ.get_or_init(ask_ticks_per_second)
}

fn ask_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// A port nobody listens on now. Another process could take it before we bind it; on a
/// development machine that is rare enough, and the start then fails with a clear message.
pub(crate) fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// A minimal HTTP/1.1 POST to `127.0.0.1:port` (the mock upstream's control API); returns the
/// status and the body.
pub(crate) fn http_post(port: u16, path: &str, body: &str) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .with_context(|| format!("cannot connect to 127.0.0.1:{port}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .with_context(|| format!("no answer from 127.0.0.1:{port}{path}"))?;
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .with_context(|| format!("127.0.0.1:{port}{path} answered something that is not HTTP"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("127.0.0.1:{port}{path} answered without a status"))?;
    Ok((status, body.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_read_after_the_command_name() {
        let stat = "4242 (switch yard) (x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 4 0 100 0 0";
        assert_eq!(cpu_ticks_of(stat), Some(325));
        assert_eq!(cpu_ticks_of("garbage"), None);
    }

    #[test]
    fn our_own_process_can_be_measured() {
        let text = fs::read_to_string("/proc/self/stat").expect("Linux has /proc");
        assert!(cpu_ticks_of(&text).is_some());
    }

    #[test]
    fn scheduler_runtime_is_read_in_nanoseconds() {
        let sched = "cat (6205, #threads: 1)\n-------\nse.exec_start                                :        579819.406461\nse.sum_exec_runtime                          :             12.541862\nse.nr_migrations : 0\n";
        assert_eq!(
            sum_exec_runtime_of(sched),
            Some(Duration::from_nanos(12_541_862))
        );
        assert_eq!(sum_exec_runtime_of("se.exec_start : 1.0"), None);
    }
}
