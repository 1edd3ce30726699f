//! Environment setup for `cargo xtask ci`: a `redis-server` binary and a Python venv with the OpenAI SDK.
//!
//! CI runs on a fresh machine with only the Rust toolchain, Python with pip, and apt as root. The
//! tests need `redis-server` (they start their own on a free port; nothing may rely on a system
//! daemon) and the official OpenAI Python SDK. We hand both to the tests through environment
//! variables; when `CI` is set the tests treat them as required, otherwise they skip with a message.

use std::{
    env, fs,
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{Context, Result, bail};

use crate::util::{find_on_path, is_executable, output, run, succeeds};

/// Path of the `redis-server` binary the tests start their own servers with.
pub(crate) const REDIS_ENV: &str = "SWITCHYARD_REDIS_SERVER";
/// Path of a Python interpreter that can `import openai`.
pub(crate) const PYTHON_ENV: &str = "SWITCHYARD_PYTHON";
/// Set for every test run by `cargo xtask ci`.
pub(crate) const CI_XTASK_ENV: &str = "CI_XTASK";

/// The OpenAI SDK versions the end-to-end tests are written against.
const OPENAI_REQUIREMENT: &str = "openai>=1.50,<3";
/// The venv lives in the target dir: it is a build product, and `cargo clean` removes it.
const VENV_DIR: &str = "ci-venv";
/// Interpreters that may create the venv, in order of preference.
const BASE_PYTHONS: [&str; 2] = ["python3", "python3.11"];
/// Debian's policy hook: while it exits 101, package scripts do not start services.
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

/// What the setup found or installed, handed to the test steps as environment variables.
pub(crate) struct CiEnv {
    pub(crate) redis_server: PathBuf,
    pub(crate) python: PathBuf,
}

impl CiEnv {
    /// Adds `SWITCHYARD_REDIS_SERVER`, `SWITCHYARD_PYTHON` and `CI_XTASK=1` to `cmd`'s environment.
    pub(crate) fn apply<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.env(REDIS_ENV, &self.redis_server)
            .env(PYTHON_ENV, &self.python)
            .env(CI_XTASK_ENV, "1")
    }

    pub(crate) fn describe(&self) -> String {
        format!(
            "test environment:\n  {REDIS_ENV}={}\n  {PYTHON_ENV}={}\n  {CI_XTASK_ENV}=1",
            self.redis_server.display(),
            self.python.display()
        )
    }
}

/// Finds `redis-server`: `$SWITCHYARD_REDIS_SERVER` if set, else `PATH`, else installs it with apt
/// when we are root.
pub(crate) fn redis_server() -> Result<PathBuf> {
    if let Some(path) = env::var_os(REDIS_ENV).filter(|value| !value.is_empty()) {
        let path = PathBuf::from(path);
        let version = redis_version(&path).with_context(|| {
            format!(
                "{REDIS_ENV}={} is set but does not run: point it at a working redis-server, or unset it \
                 to let xtask find or install one",
                path.display()
            )
        })?;
        println!("using {REDIS_ENV}={} ({version})", path.display());
        return Ok(path);
    }
    if let Some(path) = find_on_path("redis-server") {
        println!("found {} ({})", path.display(), redis_version(&path)?);
        return Ok(path);
    }
    if !is_root() {
        bail!(
            "redis-server is not on PATH, and xtask installs it with apt-get only when run as root: \
             install it yourself (`sudo apt-get install redis-server`, `brew install redis`) or set \
             {REDIS_ENV}=/path/to/redis-server"
        );
    }
    apt_install_redis()?;
    let path = find_on_path("redis-server").context(
        "apt-get installed redis-server but it is not on PATH (Debian puts it in /usr/bin)",
    )?;
    println!("installed {} ({})", path.display(), redis_version(&path)?);
    Ok(path)
}

/// Returns the venv's Python, creating the venv under `target_dir` and installing the OpenAI SDK
/// only when they are missing. `$SWITCHYARD_PYTHON`, if set, is used instead (and must import openai).
pub(crate) fn python_venv(target_dir: &Path) -> Result<PathBuf> {
    if let Some(path) = env::var_os(PYTHON_ENV).filter(|value| !value.is_empty()) {
        let python = PathBuf::from(path);
        let version = openai_version(&python).with_context(|| {
            format!(
                "{PYTHON_ENV}={} is set but cannot `import openai`: run `{} -m pip install '{OPENAI_REQUIREMENT}'`, \
                 or unset {PYTHON_ENV} to let xtask build its own venv",
                python.display(),
                python.display()
            )
        })?;
        println!("using {PYTHON_ENV}={} (openai {version})", python.display());
        return Ok(python);
    }

    let venv = target_dir.join(VENV_DIR);
    let python = venv_python(&venv);
    if !succeeds(Command::new(&python).args(["-c", "import pip"])) {
        if venv.exists() {
            // A venv whose interpreter does not start (the base Python was upgraded) or that has no
            // pip (`python3 -m venv` failed half-way for want of ensurepip) is rebuilt.
            println!("{} is broken; recreating it", venv.display());
            fs::remove_dir_all(&venv)
                .with_context(|| format!("could not remove {}", venv.display()))?;
        }
        let base = BASE_PYTHONS.iter().find_map(|name| find_on_path(name)).with_context(|| {
            format!("none of {BASE_PYTHONS:?} is on PATH: install Python 3 with its venv module to run the SDK tests")
        })?;
        run(Command::new(&base).args(["-m", "venv"]).arg(&venv)).with_context(|| {
            format!(
                "could not create a venv with {}: on Debian and Ubuntu the venv module is in the \
                 `python3-venv` package (`apt-get install python3-venv`)",
                base.display()
            )
        })?;
    }
    // Importing openai takes a second or two, so the probe also yields the version we print.
    if let Ok(version) = openai_version(&python) {
        println!("using {} (openai {version})", python.display());
        return Ok(python);
    }
    run(Command::new(&python).args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--quiet",
        OPENAI_REQUIREMENT,
    ]))
    .context("could not install the OpenAI Python SDK from PyPI")?;
    let version = openai_version(&python)?;
    println!("using {} (openai {version})", python.display());
    Ok(python)
}

fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

fn openai_version(python: &Path) -> Result<String> {
    let version =
        output(Command::new(python).args(["-c", "import openai; print(openai.__version__)"]))?;
    Ok(version.trim().to_owned())
}

fn redis_version(redis_server: &Path) -> Result<String> {
    if !is_executable(redis_server) {
        bail!("{} is not an executable file", redis_server.display());
    }
    let version = output(Command::new(redis_server).arg("--version"))?;
    Ok(version.trim().to_owned())
}

fn is_root() -> bool {
    output(Command::new("id").arg("-u")).is_ok_and(|uid| uid.trim() == "0")
}

/// `apt-get install redis-server`, without leaving a redis daemon running: the tests start their
/// own servers on free ports, and a system daemon on 6379 would only hide a test that forgot to.
fn apt_install_redis() -> Result<()> {
    let was_listening = default_redis_port_open();
    {
        let _no_service_starts = DenyServiceStarts::install_at(Path::new(POLICY_RC_D))?;
        run(apt_get().args(["update", "-q"]))?;
        run(apt_get().args([
            "install",
            "-y",
            "-q",
            "--no-install-recommends",
            "redis-server",
        ]))?;
    }
    // policy-rc.d covers Debian's init scripts and deb-systemd-invoke; if a service manager started
    // the daemon anyway, stop it. A server that was listening before we installed is not ours.
    if !was_listening && default_redis_port_open() {
        println!("the redis-server package started a daemon on 127.0.0.1:6379; stopping it");
        if !succeeds(Command::new("service").args(["redis-server", "stop"]))
            && !succeeds(Command::new("systemctl").args(["stop", "redis-server"]))
        {
            eprintln!("warning: could not stop the system redis-server; the tests do not use it");
        }
    }
    Ok(())
}

fn apt_get() -> Command {
    let mut cmd = Command::new("apt-get");
    cmd.env("DEBIAN_FRONTEND", "noninteractive");
    cmd
}

fn default_redis_port_open() -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], 6379));
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

/// Writes a `policy-rc.d` that forbids starting services, and removes it when dropped. An existing
/// `policy-rc.d` (Docker images ship one) is the machine's own and is left alone.
struct DenyServiceStarts {
    created: Option<PathBuf>,
}

impl DenyServiceStarts {
    fn install_at(path: &Path) -> Result<Self> {
        if path.exists() {
            return Ok(Self { created: None });
        }
        let shown = path.display();
        fs::write(
            path,
            "#!/bin/sh\n# Written by cargo xtask ci while it installs packages.\nexit 101\n",
        )
        .with_context(|| format!("could not write {shown}"))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(path, fs::Permissions::from_mode(0o755))
                .with_context(|| format!("could not make {shown} executable"))?;
        }
        Ok(Self {
            created: Some(path.to_path_buf()),
        })
    }
}

impl Drop for DenyServiceStarts {
    fn drop(&mut self) {
        if let Some(path) = &self.created
            && let Err(err) = fs::remove_file(path)
        {
            eprintln!(
                "warning: could not remove {}: {err}; remove it by hand",
                path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_start_denial_is_written_then_removed_and_an_existing_one_is_kept() {
        let dir = env::temp_dir().join(format!("xtask-policy-rc-d-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("create a temp dir");
        let path = dir.join("policy-rc.d");

        let guard = DenyServiceStarts::install_at(&path).expect("write policy-rc.d");
        assert!(
            is_executable(&path),
            "policy-rc.d must be executable for invoke-rc.d to run it"
        );
        let status = Command::new(&path).status().expect("run policy-rc.d");
        assert_eq!(
            status.code(),
            Some(101),
            "exit 101 is what forbids starting services"
        );
        drop(guard);
        assert!(
            !path.exists(),
            "the policy-rc.d we wrote must be removed after the install"
        );

        fs::write(&path, "#!/bin/sh\nexit 0\n").expect("write the machine's own policy-rc.d");
        drop(DenyServiceStarts::install_at(&path).expect("keep an existing policy-rc.d"));
        assert_eq!(
            fs::read_to_string(&path).expect("read it back"),
            "#!/bin/sh\nexit 0\n"
        );
        fs::remove_dir_all(&dir).expect("clean up the temp dir");
    }
}
