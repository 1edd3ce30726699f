//! `cargo xtask dist`: the release archive of the `switchyard` binary for the host, smoke-tested.
//!
//! Builds `switchyard-cli` with the release profile (`--locked`), then packs
//! `target/dist/switchyard-<version>-<target>.tar.gz` holding one directory of the same name with
//! the binary (debug info stripped, symbols kept), `README.md`, `CHANGELOG.md`, both license
//! texts and `config.example.yaml` (from `examples/config.yaml`), and writes `<archive>.sha256`
//! in `sha256sum` format next to it. The archive is reproducible: entries sorted, owned by 0:0,
//! dated at `HEAD`'s commit, gzip without a timestamp (GNU tar and gzip).
//!
//! Then it checks what a user would get: it verifies the checksum, unpacks the archive into a
//! scratch directory, runs `switchyard check` on the example config (with placeholder values for
//! the `os.environ/` variables it names), starts `switchyard serve` on a free port with the
//! embedded demo config, and asks it for `/health/liveliness` and a chat completion.

use std::{
    fs,
    io::{Read as _, Write as _},
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};

use crate::{
    ci::Steps,
    git,
    util::{cargo, find_on_path, output, project_root, run as run_cmd, target_dir},
    workspace,
};

const USAGE: &str = "\
usage: cargo xtask dist

  Builds the switchyard binary (release profile) and writes
  target/dist/switchyard-<version>-<target>.tar.gz and its .sha256, holding the binary,
  README.md, CHANGELOG.md, LICENSE-MIT, LICENSE-APACHE and config.example.yaml; then unpacks
  it and checks that its binary loads the example config and serves the demo config.
  Needs GNU tar, gzip and sha256sum (or shasum).";

/// The package that builds the binary.
const CLI_PACKAGE: &str = "switchyard-cli";
/// The binary's name.
const BINARY: &str = "switchyard";
/// The example config in the repository, and its name in the archive.
const EXAMPLE_CONFIG: (&str, &str) = ("examples/config.yaml", "config.example.yaml");
/// Files copied from the repository root as they are.
const DOCS: [&str; 4] = ["README.md", "CHANGELOG.md", "LICENSE-MIT", "LICENSE-APACHE"];
/// How long the smoke test waits for the server to answer.
const START_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) fn run(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        None => {}
        Some("-h" | "--help") => {
            println!("{USAGE}");
            return Ok(());
        }
        Some(other) => bail!("`cargo xtask dist` takes no arguments, got `{other}`\n\n{USAGE}"),
    }
    let root = project_root();
    let mut steps = Steps::new("xtask dist");
    let target = steps.run("setup: target dir", None, || target_dir(&root))?;
    let version = cli_version(&root)?;
    let triple = host_triple()?;
    let name = format!("{BINARY}-{version}-{triple}");
    let dist = target.join("dist");

    steps.run("build", None, || {
        run_cmd(
            cargo()
                .args(["build", "--release", "--locked", "-p", CLI_PACKAGE])
                .current_dir(&root),
        )
    })?;
    let archive = steps.run("pack", None, || pack(&root, &target, &dist, &name))?;
    let sha = steps.run("checksum", None, || checksum(&dist, &archive))?;
    steps.run(
        "smoke test",
        Some("the archive is broken; it stays in target/dist for a look"),
        || smoke_test(&dist, &archive, &name),
    )?;

    println!("{}", steps.summary());
    println!("xtask dist: {}", archive.display());
    println!(
        "            {}  (sha256 {sha})",
        sha_path(&archive).display()
    );
    Ok(())
}

/// The version of the binary's package.
fn cli_version(root: &Path) -> Result<String> {
    let members = workspace::members(root)?;
    let cli = members
        .iter()
        .find(|member| member.name == CLI_PACKAGE)
        .with_context(|| format!("no workspace member is called {CLI_PACKAGE}"))?;
    Ok(cli.version.clone())
}

/// The host's target triple, from `rustc -vV`.
fn host_triple() -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let text = output(Command::new(rustc).arg("-vV"))?;
    parse_host(&text).context("`rustc -vV` printed no `host:` line")
}

fn parse_host(rustc_vv: &str) -> Option<String> {
    rustc_vv
        .lines()
        .find_map(|line| line.strip_prefix("host:"))
        .map(|host| host.trim().to_owned())
        .filter(|host| !host.is_empty())
}

/// Stages the archive's directory and packs it. Returns the archive's path.
fn pack(root: &Path, target: &Path, dist: &Path, name: &str) -> Result<PathBuf> {
    let stage = dist.join(name);
    if stage.exists() {
        fs::remove_dir_all(&stage)
            .with_context(|| format!("could not clear {}", stage.display()))?;
    }
    fs::create_dir_all(&stage).with_context(|| format!("could not create {}", stage.display()))?;

    let exe = format!("{BINARY}{}", std::env::consts::EXE_SUFFIX);
    let built = target.join("release").join(&exe);
    copy(&built, &stage.join(&exe))?;
    strip_debug_info(&stage.join(&exe))?;
    for doc in DOCS {
        copy(&root.join(doc), &stage.join(doc))?;
    }
    copy(&root.join(EXAMPLE_CONFIG.0), &stage.join(EXAMPLE_CONFIG.1))?;

    let tar_path = dist.join(format!("{name}.tar"));
    let archive = dist.join(format!("{name}.tar.gz"));
    for stale in [&tar_path, &archive] {
        if stale.exists() {
            fs::remove_file(stale)?;
        }
    }
    let mtime = git::head_time(root).unwrap_or(0);
    run_cmd(
        Command::new("tar")
            .args([
                "--sort=name",
                "--owner=0",
                "--group=0",
                "--numeric-owner",
                &format!("--mtime=@{mtime}"),
                "-cf",
            ])
            .arg(&tar_path)
            .arg("-C")
            .arg(dist)
            .arg(name),
    )
    .context("packing needs GNU tar (for --sort and --mtime)")?;
    // gzip -n: no file name or timestamp in the header, so the same tree gives the same bytes.
    run_cmd(Command::new("gzip").args(["-n", "-9", "-f"]).arg(&tar_path))?;
    ensure!(
        archive.is_file(),
        "gzip did not write {}",
        archive.display()
    );
    fs::remove_dir_all(&stage).with_context(|| format!("could not remove {}", stage.display()))?;
    Ok(archive)
}

/// Removes the debug info from the shipped binary (the release profile keeps line tables for
/// profiling, which makes the binary about five times larger); symbols stay, so a panic's
/// backtrace still names its functions. Skipped, with a note, where GNU `strip` is missing.
fn strip_debug_info(exe: &Path) -> Result<()> {
    if find_on_path("strip").is_none() || cfg!(not(target_os = "linux")) {
        println!("note: no GNU strip here; the binary keeps its debug info");
        return Ok(());
    }
    run_cmd(Command::new("strip").arg("--strip-debug").arg(exe))
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    fs::copy(from, to)
        .map(|_| ())
        .with_context(|| format!("could not copy {} to {}", from.display(), to.display()))
}

fn sha_path(archive: &Path) -> PathBuf {
    let mut path = archive.as_os_str().to_owned();
    path.push(".sha256");
    PathBuf::from(path)
}

/// A command that prints SHA-256 sums in `sha256sum`'s format.
fn sha256_command() -> Result<Command> {
    if find_on_path("sha256sum").is_some() {
        return Ok(Command::new("sha256sum"));
    }
    if find_on_path("shasum").is_some() {
        let mut cmd = Command::new("shasum");
        cmd.args(["-a", "256"]);
        return Ok(cmd);
    }
    bail!("neither sha256sum nor shasum is on PATH: install coreutils")
}

/// Writes `<archive>.sha256` (`<hex>  <file name>`, checkable with `sha256sum -c` in its
/// directory) and returns the hex digest.
fn checksum(dist: &Path, archive: &Path) -> Result<String> {
    let file_name = archive
        .file_name()
        .context("the archive path has no file name")?;
    let line = output(sha256_command()?.arg(file_name).current_dir(dist))?;
    let digest = line
        .split_whitespace()
        .next()
        .filter(|digest| digest.len() == 64)
        .with_context(|| format!("unexpected sha256 output `{}`", line.trim()))?
        .to_owned();
    fs::write(sha_path(archive), &line)
        .with_context(|| format!("could not write {}", sha_path(archive).display()))?;
    Ok(digest)
}

/// Unpacks the archive as a user would and runs its binary.
fn smoke_test(dist: &Path, archive: &Path, name: &str) -> Result<()> {
    let mut check = sha256_command()?;
    run_cmd(check.arg("-c").arg(sha_path(archive)).current_dir(dist))?;

    let scratch = dist.join(format!("smoke-{}", std::process::id()));
    if scratch.exists() {
        fs::remove_dir_all(&scratch)?;
    }
    fs::create_dir_all(&scratch)?;
    let result = smoke_test_in(&scratch, archive, name);
    let _ = fs::remove_dir_all(&scratch);
    result
}

fn smoke_test_in(scratch: &Path, archive: &Path, name: &str) -> Result<()> {
    run_cmd(
        Command::new("tar")
            .arg("-xzf")
            .arg(archive)
            .arg("-C")
            .arg(scratch),
    )?;
    let unpacked = scratch.join(name);
    let exe = unpacked.join(format!("{BINARY}{}", std::env::consts::EXE_SUFFIX));
    let mut expected: Vec<&str> = DOCS.to_vec();
    expected.push(EXAMPLE_CONFIG.1);
    for file in expected {
        ensure!(
            unpacked.join(file).is_file(),
            "the archive has no {name}/{file}"
        );
    }
    ensure!(
        crate::util::is_executable(&exe),
        "the archive's {} is not an executable file",
        exe.display()
    );

    // The example config names its secrets as os.environ/NAME; give each a placeholder.
    let config = unpacked.join(EXAMPLE_CONFIG.1);
    let config_text = fs::read_to_string(&config)?;
    let mut check = Command::new(&exe);
    check.arg("check").arg("--config").arg(&config);
    for var in environ_refs(&config_text) {
        check.env(&var, format!("placeholder-{}", var.to_lowercase()));
    }
    run_cmd(&mut check).context("the example config does not load")?;

    let port = free_port()?;
    let log_path = scratch.join("serve.log");
    let log = fs::File::create(&log_path)?;
    let child = Command::new(&exe)
        .args(["serve", "--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("could not start {}", exe.display()))?;
    let mut server = KillOnDrop(child);
    println!("$ {} serve --port {port}", exe.display());
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let served = (|| -> Result<()> {
        let health = wait_for_health(&mut server.0, addr)?;
        println!("GET /health/liveliness -> {}", first_line(&health));
        let chat = http(
            addr,
            "POST",
            "/v1/chat/completions",
            r#"{"model": "gpt-4o", "messages": [{"role": "user", "content": "hello from xtask dist"}]}"#,
        )?;
        ensure!(
            chat.starts_with("HTTP/1.1 200") && chat.contains("\"choices\""),
            "POST /v1/chat/completions on the demo config answered:\n{chat}"
        );
        println!("POST /v1/chat/completions -> {}", first_line(&chat));
        Ok(())
    })();
    drop(server);
    served.with_context(|| {
        let log = fs::read_to_string(&log_path).unwrap_or_default();
        format!("`switchyard serve` from the archive failed; its log:\n{log}")
    })
}

/// A child process that is killed (and reaped) when dropped, so a failed check leaves no server.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `/health/liveliness` until it answers 200, the server exits, or the time is up.
fn wait_for_health(server: &mut Child, addr: SocketAddr) -> Result<String> {
    let started = Instant::now();
    loop {
        if let Some(status) = server.try_wait()? {
            bail!("the server exited ({status}) before answering");
        }
        match http(addr, "GET", "/health/liveliness", "") {
            Ok(response) if response.starts_with("HTTP/1.1 200") => return Ok(response),
            Ok(response) => bail!("/health/liveliness answered:\n{response}"),
            Err(_) if started.elapsed() < START_TIMEOUT => {
                thread::sleep(Duration::from_millis(100))
            }
            Err(err) => {
                return Err(err.context(format!(
                    "the server did not answer on {addr} within {} s",
                    START_TIMEOUT.as_secs()
                )));
            }
        }
    }
}

/// One HTTP/1.1 request with `Connection: close`; returns the whole response.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    Ok(String::from_utf8_lossy(&response).into_owned())
}

fn first_line(response: &str) -> &str {
    response.lines().next().unwrap_or_default()
}

/// A port that was free a moment ago.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// The `NAME`s of every `os.environ/NAME` in a config, sorted, each once.
fn environ_refs(config: &str) -> Vec<String> {
    let mut names: Vec<String> = config
        .split("os.environ/")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_triple_comes_from_rustc_vv() {
        let text = "rustc 1.95.0 (59807616e 2026-04-14)\nbinary: rustc\nhost: x86_64-unknown-linux-gnu\nrelease: 1.95.0\n";
        assert_eq!(
            parse_host(text).as_deref(),
            Some("x86_64-unknown-linux-gnu")
        );
        assert_eq!(parse_host("rustc 1.95.0\nhost: \n"), None);
    }

    #[test]
    fn environ_refs_are_found_once_each() {
        let config = "api_key: os.environ/OPENAI_API_KEY\nkey: \"os.environ/AZURE_KEY_EU\"\n\
                      other: os.environ/OPENAI_API_KEY # again\nbad: os.environ/\n";
        assert_eq!(environ_refs(config), ["AZURE_KEY_EU", "OPENAI_API_KEY"]);
    }

    #[test]
    fn the_example_config_names_its_secrets_through_the_environment() {
        let config = fs::read_to_string(project_root().join(EXAMPLE_CONFIG.0))
            .expect("examples/config.yaml exists: dist ships it");
        assert!(
            !environ_refs(&config).is_empty(),
            "the example shows how keys come from the environment"
        );
        assert!(
            !config.contains("sk-"),
            "the example config must not hold anything that looks like a key"
        );
    }
}
