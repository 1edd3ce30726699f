//! Reliable LLM API calls from Rust: retries with backoff, fallbacks, cooldowns and load
//! balancing across OpenAI, Azure OpenAI, Anthropic and any OpenAI-compatible server.
//!
//! # What it is
//!
//! The crate application code depends on. It gathers Switchyard's libraries behind one
//! name and adds a [`Client`] with sensible defaults for the one-call path:
//!
//! ```
//! use switchyard::{Client, Message};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), switchyard::Error> {
//! // Keys come from OPENAI_API_KEY, ANTHROPIC_API_KEY, AZURE_API_KEY, ... when a model needs them;
//! // `mock/` models answer in-process, so this example needs none.
//! let client = Client::from_env();
//! let answer = client
//!     .completion("mock/gpt-4o", [Message::user("Hello!")])
//!     .await?; // two retries by default, three attempts in all
//! assert_eq!(answer.value.text(), Some("This is a mock response from Switchyard."));
//! assert_eq!(answer.report.retries, 0);
//! # Ok(())
//! # }
//! ```
//!
//! - [`Client`]: model strings (`"openai/gpt-4o"`, `"azure/my-deployment"`,
//!   `"anthropic/claude-sonnet-4-5"`, `"mock/demo"`), keys from the environment, per-call
//!   `num_retries`, total `timeout` and `fallbacks`.
//! - [`Router`] (from `switchyard-router`): model groups of several deployments, retry
//!   policies per error kind and per group, fallbacks, cooldowns, routing strategies,
//!   observers. Use it directly when you configure deployments yourself.
//! - The canonical request and response types ([`ChatRequest`], [`Message`],
//!   [`ChatResponse`], ...) and the [`Provider`] trait, from `switchyard-provider`.
//! - The error taxonomy and retry policies ([`ErrorKind`], [`RetryPolicy`], ...), from
//!   `switchyard-retry-core`.
//! - The providers, each behind a cargo feature (all on by default): [`openai`]
//!   (OpenAI, Azure OpenAI, OpenAI-compatible servers), [`anthropic`], and [`mock`] (an
//!   in-process scripted provider for tests and demos).
//!
//! The [`guide`] walks through every feature of the retries guide of the Python system
//! Switchyard replaces, each with a runnable example, and `docs/retry-semantics.md` in the
//! repository gives the exact rules and where they differ from it.
//!
//! # What it is not
//!
//! Not an HTTP server (that is `switchyard-proxy`, run by the `switchyard` command), and
//! not a provider SDK: it covers chat completions (plain and streamed) and embeddings in
//! OpenAI's schema. Everything here is async on tokio.
//!
//! # Who should depend on it
//!
//! Rust applications that call LLMs. Provider authors depend on `switchyard-provider`
//! alone, and code that needs only the router (the proxy, a state store) on
//! `switchyard-router`; this crate's extra weight is the provider crates, which
//! `default-features = false` and the features you pick leave out.
//!
//! # Features
//!
//! | feature | what it adds | model strings |
//! |---|---|---|
//! | `openai` (default) | [`OpenAiProvider`], [`AzureProvider`] | `openai/...`, `azure/...`, bare names |
//! | `anthropic` (default) | [`AnthropicProvider`] | `anthropic/...`, bare `claude-...` |
//! | `mock` (default) | [`MockProvider`], [`MockStep`] | `mock/...` |
#![warn(missing_docs)]

mod client;
mod connect;
mod error;
pub mod guide;
mod model;

#[cfg(all(test, feature = "openai", feature = "anthropic", feature = "mock"))]
mod tests;

pub use client::{Client, ClientBuilder, Completion};
pub use error::{Error, Result};

/// `switchyard-retry-core`: error kinds, retry policies, backoff and cooldown arithmetic.
pub use retry_core;
pub use retry_core::{
    BackoffConfig, CooldownConfig, DEFAULT_NUM_RETRIES, Decision, ErrorKind, FallbackRoute,
    RetryBudgetConfig, RetryPolicy, StopReason, Target,
};

/// `switchyard-provider`: the `Provider` trait and the canonical OpenAI-shaped types.
pub use provider;
pub use provider::{
    CallContext, ChatChunk, ChatRequest, ChatResponse, Choice, Content, ContentPart, Delta,
    EmbeddingsRequest, EmbeddingsResponse, FinishReason, Message, Provider, ProviderError, Role,
    Tool, ToolCall, Usage,
};

/// `switchyard-router`: deployments, model groups, retries, fallbacks, cooldowns, observers.
pub use router;
pub use router::{
    AttemptFailure, AttemptRecord, AttemptStart, DeploymentConfig, FailureEvent, FailureReason,
    FallbackEvent, Observer, Report, RequestOptions, RetryEvent, Routed, RoutedStream, Router,
    RouterBuilder, RouterError, RoutingStrategy, SuccessEvent,
};

/// `switchyard-openai`: OpenAI, Azure OpenAI and OpenAI-compatible servers.
#[cfg(feature = "openai")]
pub use openai;
#[cfg(feature = "openai")]
pub use openai::{AzureProvider, OpenAiProvider};

/// `switchyard-anthropic`: Anthropic's Messages API.
#[cfg(feature = "anthropic")]
pub use anthropic;
#[cfg(feature = "anthropic")]
pub use anthropic::AnthropicProvider;

/// `switchyard-mock`: an in-process scripted provider (canned answers, injected failures).
#[cfg(feature = "mock")]
pub use mock;
#[cfg(feature = "mock")]
pub use mock::{MockProvider, MockStep};
