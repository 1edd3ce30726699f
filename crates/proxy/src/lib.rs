//! The Switchyard proxy as a library: an OpenAI-compatible HTTP gateway over the router,
//! configured by LiteLLM's `config.yaml`.
//!
//! What it is: configuration loading ([`config`]), the HTTP endpoints, auth and per-key
//! limits, response headers, metrics and health ([`http`]). What it is not: a provider —
//! the binary (`switchyard-cli`) decides which provider crates build the deployments, so
//! this crate never depends on a concrete provider.
//!
//! Who depends on it: the `switchyard` binary, and services that embed the gateway.
//!
//! # Example
//!
//! Loading a config: secrets come from the environment (`os.environ/NAME`), and every
//! problem is reported at once, each with its key path, line and column.
//!
//! ```
//! use switchyard_proxy::config::Config;
//!
//! let yaml = "
//! model_list:
//!   - model_name: gpt-4o
//!     litellm_params:
//!       model: openai/gpt-4o
//!       api_key: os.environ/OPENAI_API_KEY
//! router_settings:
//!   num_retries: 2
//! ";
//! let env = |name: &str| (name == "OPENAI_API_KEY").then(|| "sk-test".to_owned());
//! let config = Config::from_yaml_str(yaml, env)?;
//! assert_eq!(config.model_groups(), ["gpt-4o"]);
//! assert_eq!(config.router.num_retries, Some(2));
//!
//! let typo = "model_list:\n  - model_name: x\n    litellm_params:\n      modle: openai/x\n";
//! let error = Config::from_yaml_str(typo, |_| None).unwrap_err();
//! let typo = error
//!     .problems()
//!     .iter()
//!     .find(|p| p.path == "model_list[0].litellm_params.modle")
//!     .expect("the misspelt key is reported");
//! assert_eq!((typo.line, typo.column), (4, 7));
//! assert!(typo.message.contains("did you mean `model`?"), "{}", typo.message);
//! # Ok::<(), switchyard_proxy::config::ConfigError>(())
//! ```
//!
//! Serving it takes a [`wiring::ProviderFactory`] (which provider crate builds each
//! deployment; `switchyard-cli` has the one the binary uses), then [`wiring::build_state`]
//! and either [`http::serve_on_workers`] (thread per core: worker threads with a runtime each,
//! what the binary does by default) or [`http::serve`] (on the caller's runtime).
#![warn(missing_docs)]

pub mod config;
pub mod http;
pub mod wiring;
