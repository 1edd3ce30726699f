//! The router: retries, fallbacks, cooldowns, deadlines, streaming and load balancing
//! across LLM deployments — the heart of Switchyard.
//!
//! A [`Router`] holds deployments (one upstream endpoint + key + model each, behind
//! `Arc<dyn Provider>`) grouped by model name. For every request it picks a deployment
//! with the configured [`RoutingStrategy`], makes an attempt within the attempt timeout
//! and the request deadline, and on failure executes what `switchyard-retry-core`
//! decides: retry here or elsewhere after the right wait, fall back to another group, or
//! give up with a [`RouterError`] that lists every hop. Every answer carries a [`Report`].
//!
//! What it is not: an HTTP server (that is `switchyard-proxy`) or a provider (providers
//! live in their own crates). The router never speaks HTTP and never names a concrete
//! provider.
//!
//! Who depends on it: Rust services that want retries and fallbacks as a library, the
//! proxy, and shared-state stores such as `switchyard-redis` (through [`StateStore`]).
//!
//! ```
//! # // This crate renames its dependencies; users see them under their published names.
//! # use {mock as switchyard_mock, provider as switchyard_provider, retry_core as switchyard_retry_core};
//! use std::{sync::Arc, time::Duration};
//! use switchyard_mock::MockProvider;
//! use switchyard_provider::{ChatRequest, Message};
//! use switchyard_retry_core::RetryPolicy;
//! use switchyard_router::{DeploymentConfig, RequestOptions, Router};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let router = Router::builder()
//!     .deployment(DeploymentConfig::new("gpt-4", Arc::new(MockProvider::builder("gpt-4").response("hi").build()?)))
//!     .deployment(DeploymentConfig::new("gpt-3.5", Arc::new(MockProvider::new("gpt-3.5"))))
//!     .num_retries(3)
//!     .retry_after(Duration::from_millis(10))
//!     .retry_policy(RetryPolicy { timeout: Some(5), rate_limit: Some(3), ..Default::default() })
//!     .fallbacks("gpt-4", ["gpt-3.5"])
//!     .build()?;
//!
//! let req = ChatRequest::new("gpt-4", vec![Message::user("Hello!")]);
//! let answer = router.chat(&req, &RequestOptions::new().timeout(Duration::from_secs(30))).await?;
//! println!("{} (retries: {})", answer.value.text().unwrap_or(""), answer.report.retries);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod builder;
mod deployment;
mod error;
mod observer;
mod options;
mod report;
mod router;
pub mod state;
mod strategy;
mod stream;

pub use builder::{BuildError, RouterBuilder};
pub use deployment::DeploymentConfig;
pub use error::{FailureReason, RouterError};
pub use observer::{
    AttemptFailure, AttemptStart, FailureEvent, FallbackEvent, Observer, RetryEvent, SuccessEvent,
};
pub use options::RequestOptions;
pub use report::{AttemptRecord, Report, Routed};
pub use router::{DeploymentInfo, HealthReport, Router};
pub use state::{InMemoryStore, StateStore};
pub use strategy::{RoutingStrategy, UnknownStrategy};
pub use stream::{RoutedStream, WithBodies};

/// Re-exported so users need not depend on `switchyard-retry-core` for common types.
pub use retry_core::{BackoffConfig, CooldownConfig, ErrorKind, RetryBudgetConfig, RetryPolicy};
