//! Loading LiteLLM's proxy `config.yaml` into a typed, validated [`Config`].
//!
//! An existing LiteLLM config works as it is: `model_list`, `router_settings`,
//! `litellm_settings` and `general_settings` are read with LiteLLM's meaning, and
//! Switchyard's own settings live under a top-level `switchyard:` section. Values of the
//! form `os.environ/NAME` are read from the environment at load time. Durations take a
//! number of seconds or a string such as `"250ms"`.
//!
//! Loading checks everything up front and reports every problem at once, each with its
//! key path, line and column and a way to fix it:
//!
//! ```text
//! config.yaml:14:3: router_settings.retry_polcy: unknown key; did you mean `retry_policy`? Rename it, or remove it
//! ```
//!
//! LiteLLM keys that Switchyard does not support are not errors: they are collected into
//! one warning in [`Config::warnings`], for the caller to log at start-up.
//! `docs/configuration.md` is the reference of every key.
//!
//! ```
//! use switchyard_proxy::config::Config;
//!
//! let yaml = r#"
//! model_list:
//!   - model_name: gpt-4o
//!     litellm_params:
//!       model: openai/gpt-4o
//!       api_key: os.environ/MY_OPENAI_KEY
//! router_settings:
//!   num_retries: 3
//!   timeout: 30
//! "#;
//! let env = |name: &str| (name == "MY_OPENAI_KEY").then(|| "sk-test".to_owned());
//! let config = Config::from_yaml_str(yaml, env)?;
//! assert_eq!(config.deployments[0].provider.model(), "gpt-4o");
//! assert_eq!(config.router.timeout, Some(std::time::Duration::from_secs(30)));
//! # Ok::<(), switchyard_proxy::config::ConfigError>(())
//! ```

mod decode;
mod env;
mod error;
mod keys;
mod raw;
mod resolve;
mod suggest;
mod summary;
mod types;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use env::{ENV_PREFIX, process_env};
pub use error::{ConfigError, Problem, ProblemKind};
pub use types::{
    ApiKeyConfig, AuthSettings, Config, DEFAULT_HOST, DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_FALLBACKS, DEFAULT_PORT, DEFAULT_REDIS_KEY_PREFIX, DeploymentConfig, ExtraHeader,
    Fallbacks, LogFormat, MockFailure, ProviderKind, RedisConnection, RedisSettings,
    RouterSettings, RoutingStrategy, RuntimeKind, Secret, SecretSource, ServerSettings,
};

/// The embedded demo config: mock deployments only, some flaky, no keys needed.
pub const DEMO_YAML: &str = include_str!("demo.yaml");

impl Config {
    /// Parses and validates a config from YAML text. `env` looks up environment
    /// variables (for `os.environ/NAME` values and the providers' default key
    /// variables); pass [`process_env`] for the real environment.
    pub fn from_yaml_str(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Self::parse(text, &env, None)
    }

    /// Reads, parses and validates the config file at `path`, with the process
    /// environment. Errors name the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(path, process_env)
    }

    /// [`Config::load`] with a chosen environment lookup.
    pub fn load_with_env(
        path: impl AsRef<Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, &env, Some(path.to_owned()))
    }

    /// The demo config ([`DEMO_YAML`]), read without any environment.
    pub fn demo() -> Config {
        // A constant, so it cannot fail at run time; a unit test loads it on every CI run.
        Self::from_yaml_str(DEMO_YAML, |_| None).expect("the embedded demo config is valid")
    }

    /// A human-readable summary for `switchyard check`: a table of deployments and
    /// the router, server, auth and Redis settings. Keys are shown as `sk-...abcd`
    /// (or `***` when short), and URLs lose any password.
    pub fn redacted_summary(&self) -> String {
        summary::summary(self)
    }

    fn parse(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
        file: Option<PathBuf>,
    ) -> Result<Config, ConfigError> {
        let root = raw::parse(text).map_err(|err| ConfigError::Invalid {
            file: file.clone(),
            problems: vec![syntax_problem(err)],
        })?;
        resolve::resolve(&root, env).map_err(|problems| ConfigError::Invalid { file, problems })
    }
}

fn syntax_problem(err: raw::SyntaxError) -> Problem {
    let pos = err.pos.unwrap_or_default();
    // The parser appends the position, which the problem shows in front already.
    let message = err
        .message
        .rsplit_once(" at line ")
        .map_or(err.message.as_str(), |(m, _)| m)
        .to_owned();
    let message = if message.starts_with("duplicate mapping key") {
        let key = message.rsplit_once(": ").map_or("", |(_, k)| k);
        let key = key.split(',').next().unwrap_or(key).trim();
        format!("key `{key}` appears twice in the same mapping; keep one of them")
    } else {
        format!(
            "the file is not valid YAML: {message}; check the indentation and quoting around this place"
        )
    };
    Problem {
        path: String::new(),
        line: pos.line,
        column: pos.column,
        kind: ProblemKind::Syntax,
        message,
    }
}
