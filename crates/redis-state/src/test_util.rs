//! A throwaway `redis-server` for tests (feature `test-util`): started on a free port with no
//! persistence, killed on drop, and restartable on the same port to test outages.
//!
//! The binary is `$SWITCHYARD_REDIS_SERVER` if set, else `redis-server` on `PATH`
//! (`cargo xtask ci` installs it and sets the variable). When there is none, a test should
//! skip, except in CI (`CI` or `CI_XTASK` set), where a missing server is a failure:
//! [`RedisServer::start`] encodes that rule.

use std::{
    env,
    io::{Read, Write},
    net::{Ipv4Addr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

/// The environment variable naming the `redis-server` binary.
pub const REDIS_SERVER_ENV: &str = "SWITCHYARD_REDIS_SERVER";

/// A `redis-server` child process on 127.0.0.1.
#[derive(Debug)]
pub struct RedisServer {
    binary: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free port. Returns `None`, after printing why, when no
    /// `redis-server` is installed outside CI; panics in CI (`CI` or `CI_XTASK` set), or when
    /// the server does not come up.
    pub fn start() -> Option<RedisServer> {
        let Some(binary) = find_binary() else {
            let set = |name| env::var_os(name).is_some_and(|v| !v.is_empty());
            let ci = set("CI") || set("CI_XTASK");
            assert!(
                !ci,
                "this is CI (CI or CI_XTASK is set) but no redis-server was found: set {REDIS_SERVER_ENV} or put redis-server \
                 on PATH (`cargo xtask ci` installs it)"
            );
            eprintln!(
                "skipping: no redis-server (set {REDIS_SERVER_ENV} or install redis-server; in CI \
                 this fails instead)"
            );
            return None;
        };
        // A free port can be taken between choosing and binding: try a few.
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut server = RedisServer {
                binary: binary.clone(),
                port,
                child: None,
            };
            match server.spawn() {
                Ok(()) => return Some(server),
                Err(e) => last_error = e,
            }
        }
        panic!(
            "redis-server ({}) did not start: {last_error}",
            binary.display()
        );
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Whether the process is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server (SIGKILL: an outage, not a clean shutdown). Its data is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty.
    ///
    /// # Panics
    /// If it does not come up.
    pub fn restart(&mut self) {
        self.kill();
        // The port was just released; give the kernel a few tries.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn() {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => {
                    panic!("redis-server did not restart on port {}: {e}", self.port)
                }
                Err(_) => thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Sends one command in Redis' inline form and returns the raw reply (for checks such as
    /// `DBSIZE` or `GET key`).
    ///
    /// # Panics
    /// If the server does not answer.
    pub fn command(&self, line: &str) -> String {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port))
            .unwrap_or_else(|e| panic!("cannot reach redis-server on {}: {e}", self.port));
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        stream
            .write_all(format!("{line}\r\n").as_bytes())
            .unwrap_or_else(|e| panic!("cannot write to redis-server: {e}"));
        let mut buf = [0_u8; 65536];
        let n = stream.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--dir", &env::temp_dir().to_string_lossy()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.binary.display()))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("exited with {status} (port {} taken?)", self.port));
            }
            if ping(self.port) {
                self.child = Some(child);
                return Ok(());
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(format!("no PONG on port {} within 10 s", self.port))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn find_binary() -> Option<PathBuf> {
    if let Some(path) = env::var_os(REDIS_SERVER_ENV).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join("redis-server"))
        .find(|p| is_file(p))
}

fn is_file(p: &Path) -> bool {
    p.metadata().is_ok_and(|m| m.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free port: {e}"))
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0_u8; 16];
    matches!(stream.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
}
