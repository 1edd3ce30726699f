//! Test support: a mock upstream, a LiteLLM `config.yaml` written from a template that points
//! at it, the real `switchyard` binary serving that config over HTTP, and the OpenAI Python
//! SDK runner.
//!
//! Every wait here is bounded, and the proxy process is killed when its [`Proxy`] is dropped,
//! so a failing test neither hangs nor leaves a server behind.

use std::{
    io::{BufRead, BufReader, Read},
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use mock_upstream::{MockUpstream, RunningMockUpstream};
use serde_json::{Value, json};

/// The binary under test: `switchyard_cli::run`, exactly what users run.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_switchyard-under-test");
/// The proxy's master key in [`STANDARD_CONFIG`].
pub(crate) const MASTER_KEY: &str = "sk-e2e-master-key";
/// The environment variable the `gpt-4o` deployment reads its upstream key from.
pub(crate) const UPSTREAM_KEY_VAR: &str = "SWITCHYARD_E2E_UPSTREAM_KEY";
/// Its value: it must never show up in a log line or an answer.
pub(crate) const UPSTREAM_KEY: &str = "sk-e2e-upstream-SECRET-7f3a9c2d";

/// A config with one group per kind of test. `@OPENAI@` becomes the mock's OpenAI base
/// (`http://127.0.0.1:PORT/v1`), `@BASE@` its root URL (Anthropic and Azure add their paths).
///
/// The mock upstream keys its scripts by the model name sent upstream (the part after the
/// provider prefix), or by the Azure deployment name.
pub(crate) const STANDARD_CONFIG: &str = r#"
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_base: @OPENAI@
      api_key: os.environ/SWITCHYARD_E2E_UPSTREAM_KEY
    model_info:
      id: gpt-4o-main
  - model_name: primary
    litellm_params:
      model: openai/primary-model
      api_base: @OPENAI@
      api_key: sk-e2e-primary
    model_info:
      id: primary-1
  - model_name: backup
    litellm_params:
      model: openai/backup-model
      api_base: @OPENAI@
      api_key: sk-e2e-backup
    model_info:
      id: backup-1
  - model_name: claude
    litellm_params:
      model: anthropic/claude-e2e
      api_base: @BASE@
      api_key: sk-ant-e2e-key
    model_info:
      id: claude-1
  - model_name: azure-gpt
    litellm_params:
      model: azure/e2e-deploy
      api_base: @BASE@
      api_version: "2024-10-21"
      api_key: azure-e2e-key
    model_info:
      id: azure-1
  - model_name: embed
    litellm_params:
      model: openai/text-embedding-e2e
      api_base: @OPENAI@
      api_key: sk-e2e-embed
    model_info:
      id: embed-1

router_settings:
  # Real backoff starts at 2 s; these keep retried tests to milliseconds.
  backoff_initial: 10ms
  max_backoff: 50ms
  # Cooldowns are not what these tests are about: a deployment cooled by an earlier request of
  # the same test would make the next one wait for it.
  allowed_fails: 100
  fallbacks:
    - primary: ["backup"]

general_settings:
  master_key: sk-e2e-master-key
"#;

/// A mock upstream and the proxy binary serving a config that points at it.
pub(crate) struct Gateway {
    /// The fake provider: script it, read its hit log.
    pub(crate) upstream: RunningMockUpstream,
    /// The proxy process.
    pub(crate) proxy: Proxy,
}

impl Gateway {
    /// The proxy with [`STANDARD_CONFIG`].
    pub(crate) async fn start() -> Gateway {
        Self::with_config(STANDARD_CONFIG).await
    }

    /// The proxy with `template` (see [`STANDARD_CONFIG`] for the placeholders).
    pub(crate) async fn with_config(template: &str) -> Gateway {
        Self::with_config_and_env(template, &[]).await
    }

    /// The proxy with `template` and extra environment variables for the process.
    pub(crate) async fn with_config_and_env(template: &str, env: &[(&str, &str)]) -> Gateway {
        let upstream = MockUpstream::builder()
            .start()
            .await
            .expect("the mock upstream starts on 127.0.0.1:0");
        let yaml = template
            .replace("@OPENAI@", &upstream.openai_base())
            .replace("@BASE@", &upstream.base_url());
        let proxy = Proxy::spawn(&yaml, env).await;
        Gateway { upstream, proxy }
    }

    /// `http://127.0.0.1:PORT{path}` on the proxy.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.proxy.base_url())
    }

    /// POSTs `body` to `/v1/chat/completions` with the master key.
    pub(crate) async fn chat(&self, body: &Value) -> reqwest::Response {
        client()
            .post(self.url("/v1/chat/completions"))
            .bearer_auth(MASTER_KEY)
            .json(body)
            .send()
            .await
            .expect("the proxy answers")
    }
}

/// A plain reqwest client with a bound on every request.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a reqwest client")
}

/// A one-message chat request body.
pub(crate) fn chat_body(model: &str, content: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": content}]})
}

/// A header's value as text, or "" when it is missing.
pub(crate) fn header<'r>(resp: &'r reqwest::Response, name: &str) -> &'r str {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Reads a response as JSON, failing with the text when it is not JSON.
pub(crate) async fn json_of(resp: reqwest::Response) -> Value {
    let text = resp.text().await.expect("a body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts that `body` is an OpenAI-shaped error, and returns its `error` object.
pub(crate) fn openai_error(body: &Value) -> &Value {
    let err = &body["error"];
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "an OpenAI error has error.message: {body}"
    );
    assert!(err["type"].is_string(), "error.type is a string: {body}");
    assert!(
        err.get("param").is_some() && err.get("code").is_some(),
        "error.param and error.code are present (maybe null): {body}"
    );
    err
}

/// Polls `cond` every 10 ms until it holds or `within` has passed; returns whether it held.
pub(crate) async fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

/// The `switchyard serve` process; killed on drop.
pub(crate) struct Proxy {
    child: Child,
    addr: String,
    logs: Arc<Mutex<String>>,
    dir: PathBuf,
    config: PathBuf,
}

impl Proxy {
    /// Writes `yaml` to a fresh directory, runs `serve --config FILE --port 0`, reads the bound
    /// address from the startup log line and waits until `/health/liveliness` answers.
    pub(crate) async fn spawn(yaml: &str, env: &[(&str, &str)]) -> Proxy {
        let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("e2e-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temp dir under target/tmp");
        let config = dir.join("config.yaml");
        std::fs::write(&config, yaml).expect("the config is written");

        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .arg("--config")
            .arg(&config)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .env(UPSTREAM_KEY_VAR, UPSTREAM_KEY)
            .env("RUST_LOG", "info")
            // Deployments without a key fall back to these: keep the developer's out.
            .env_remove("OPENAI_API_KEY")
            .env_remove("ANTHROPIC_API_KEY")
            .env_remove("AZURE_API_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
        let logs = Arc::new(Mutex::new(String::new()));
        if let Some(out) = child.stdout.take() {
            collect(out, logs.clone());
        }
        if let Some(err) = child.stderr.take() {
            collect(err, logs.clone());
        }
        let mut proxy = Proxy {
            child,
            addr: String::new(),
            logs,
            dir,
            config,
        };
        proxy.addr = proxy.wait_listening().await;
        let live = proxy.url("/health/liveliness");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match client().get(&live).send().await {
                Ok(r) if r.status() == 200 => break,
                _ if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                other => panic!(
                    "{live} did not answer 200 within 10 s: {other:?}\nlogs:\n{}",
                    proxy.logs()
                ),
            }
        }
        proxy
    }

    async fn wait_listening(&mut self) -> String {
        const MARK: &str = "listening on http://";
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let logs = self.logs();
            if let Some(at) = logs.find(MARK) {
                let rest = &logs[at + MARK.len()..];
                let end = rest
                    .find(|c: char| c.is_whitespace() || c == '\u{1b}')
                    .unwrap_or(rest.len());
                return rest[..end].to_owned();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("switchyard serve exited with {status} before listening; logs:\n{logs}");
            }
            assert!(
                Instant::now() < deadline,
                "switchyard serve printed no `{MARK}...` line within 20 s; logs:\n{logs}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub(crate) fn logs(&self) -> String {
        self.logs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The config file it serves.
    pub(crate) fn config_path(&self) -> PathBuf {
        self.config.clone()
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `within` for the process to exit.
    pub(crate) async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Appends every line of `pipe` to `logs` on a thread of its own; the thread ends with the process.
fn collect(pipe: impl Read + Send + 'static, logs: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            let mut logs = logs.lock().unwrap_or_else(|e| e.into_inner());
            logs.push_str(&line);
            logs.push('\n');
        }
    });
}

/// The official OpenAI Python SDK, from `SWITCHYARD_PYTHON`.
pub(crate) struct Sdk {
    python: PathBuf,
}

impl Sdk {
    /// The SDK runner, or `None` (after saying so) when `SWITCHYARD_PYTHON` is unset outside CI.
    ///
    /// # Panics
    /// When `SWITCHYARD_PYTHON` is unset in CI (`CI` or `CI_XTASK` set): CI must run these.
    pub(crate) fn find() -> Option<Sdk> {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        match std::env::var_os("SWITCHYARD_PYTHON").filter(|v| !v.is_empty()) {
            Some(python) => Some(Sdk {
                python: python.into(),
            }),
            None if set("CI") || set("CI_XTASK") => panic!(
                "SWITCHYARD_PYTHON is not set, but this is CI, where the OpenAI SDK tests must run: \
                 `cargo xtask ci` sets it to target/ci-venv/bin/python. By hand: \
                 `python3 -m venv target/ci-venv && target/ci-venv/bin/pip install 'openai>=1.50,<3'`, \
                 then SWITCHYARD_PYTHON=$PWD/target/ci-venv/bin/python"
            ),
            None => {
                println!(
                    "skipped: set SWITCHYARD_PYTHON to a Python that can `import openai` to run the SDK tests"
                );
                None
            }
        }
    }

    /// Runs `tests/e2e/py/sdk.py` against the proxy with `api_key` and returns one result per call.
    pub(crate) async fn run(&self, gw: &Gateway, api_key: &str, calls: &Value) -> Vec<Value> {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/e2e/py/sdk.py");
        let mut cmd = tokio::process::Command::new(&self.python);
        cmd.arg(script)
            .arg(gw.url("/v1"))
            .arg(api_key)
            .arg(calls.to_string())
            // The SDK reads these when they are set; the tests decide everything themselves.
            .env_remove("OPENAI_BASE_URL")
            .env_remove("OPENAI_API_KEY")
            .kill_on_drop(true);
        let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "sdk.py did not finish within 60 s; proxy logs:\n{}",
                    gw.proxy.logs()
                )
            })
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.python.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "sdk.py failed ({}):\n{stderr}\nstdout: {stdout}",
            out.status
        );
        let results: Vec<Value> = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("sdk.py printed no JSON list ({e}): {stdout}\n{stderr}"));
        assert_eq!(
            results.len(),
            calls.as_array().map_or(0, Vec::len),
            "one result per call"
        );
        results
    }
}

/// A config of OpenAI deployments at the mock, one group per name (the upstream model has the
/// same name), with short backoff and the master key.
pub(crate) fn openai_groups(names: &[&str]) -> String {
    let mut yaml = String::from("model_list:\n");
    for name in names {
        yaml.push_str(&format!(
            "  - model_name: {name}\n    litellm_params:\n      model: openai/{name}\n      \
             api_base: \"@OPENAI@\"\n      api_key: sk-e2e-{name}\n    model_info:\n      id: {name}-1\n"
        ));
    }
    yaml.push_str("router_settings:\n  backoff_initial: 10ms\n  max_backoff: 50ms\n");
    yaml.push_str(&format!("general_settings:\n  master_key: {MASTER_KEY}\n"));
    yaml
}

/// Asserts that an SDK call succeeded and returns its result.
pub(crate) fn ok(result: &Value, what: &str) -> Value {
    assert_eq!(
        result["ok"], true,
        "{what}: the SDK call should succeed: {result}"
    );
    result.clone()
}

/// Asserts that an SDK call raised `exception` with HTTP `status` and returns its result.
pub(crate) fn raised(result: &Value, exception: &str, status: u16, what: &str) -> Value {
    assert_eq!(
        result["ok"], false,
        "{what}: the SDK call should fail: {result}"
    );
    assert_eq!(
        result["exception"], exception,
        "{what}: the SDK raises openai.{exception}: {result}"
    );
    assert_eq!(result["status"], status, "{what}: HTTP status: {result}");
    result.clone()
}
