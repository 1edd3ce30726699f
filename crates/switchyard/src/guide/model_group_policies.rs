//! Model group retry policies: a different policy per model group.
//!
//! [`RouterBuilder::model_group_retry_policy`](crate::RouterBuilder::model_group_retry_policy)
//! sets a policy for one group, above the general
//! [`retry_policy`](crate::RouterBuilder::retry_policy). A field the group's policy leaves
//! `None` falls through to the general policy, then to `num_retries`.
//!
//! The guide's example, with gpt-4 allowed more retries as the expensive model:
//!
//! ```
//! use std::sync::Arc;
//! use switchyard::{
//!     ChatRequest, DeploymentConfig, ErrorKind, Message, MockProvider, MockStep, RequestOptions,
//!     RetryPolicy, Router,
//! };
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Every model here answers 429 six times before it answers.
//! let six_rate_limits = |name: &str| {
//!     MockProvider::builder(name)
//!         .script(std::iter::repeat_n(MockStep::fail(ErrorKind::RateLimit), 6))
//!         .build()
//! };
//! let (gpt4, gpt35, claude) = (six_rate_limits("gpt-4")?, six_rate_limits("gpt-3.5")?, six_rate_limits("claude")?);
//!
//! let router = Router::builder()
//!     .deployment(DeploymentConfig::new("gpt-4", Arc::new(gpt4.clone())))
//!     .deployment(DeploymentConfig::new("gpt-3.5", Arc::new(gpt35.clone())))
//!     .deployment(DeploymentConfig::new("claude", Arc::new(claude.clone())))
//!     // Global retry policy
//!     .retry_policy(RetryPolicy { timeout: Some(3), rate_limit: Some(2), ..Default::default() })
//!     // Model-specific retry policies
//!     .model_group_retry_policy(
//!         "gpt-4",
//!         RetryPolicy { timeout: Some(5), rate_limit: Some(10), ..Default::default() },
//!     )
//!     .model_group_retry_policy(
//!         "claude",
//!         RetryPolicy { timeout: Some(2), rate_limit: Some(1), ..Default::default() },
//!     )
//!     .build()?;
//!
//! let ask = |model: &str| ChatRequest::new(model, vec![Message::user("Hello")]);
//! let opts = RequestOptions::new();
//!
//! // gpt-4: up to 10 rate-limit retries, so the seventh attempt answers.
//! let response = router.chat(&ask("gpt-4"), &opts).await?;
//! assert_eq!(response.report.retries, 6);
//!
//! // gpt-3.5 has no policy of its own: the global one allows 2 retries.
//! let err = router.chat(&ask("gpt-3.5"), &opts).await.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::RateLimit);
//! assert_eq!(gpt35.calls(), 3);
//!
//! // claude: 1 retry.
//! router.chat(&ask("claude"), &opts).await.unwrap_err();
//! assert_eq!(claude.calls(), 2);
//! # Ok(())
//! # }
//! ```
//!
//! A policy may only name a configured group: [`build`](crate::RouterBuilder::build)
//! rejects a typo instead of silently ignoring it. With a [`Client`](crate::Client), the
//! group is the model string:
//! [`ClientBuilder::model_group_retry_policy`](crate::ClientBuilder::model_group_retry_policy)`("openai/gpt-4o", policy)`.
//!
//! In the proxy's `config.yaml`:
//!
//! ```yaml
//! router_settings:
//!   retry_policy:
//!     TimeoutErrorRetries: 3
//!     RateLimitErrorRetries: 2
//!   model_group_retry_policy:
//!     gpt-4:
//!       TimeoutErrorRetries: 5
//!       RateLimitErrorRetries: 10
//!     claude:
//!       TimeoutErrorRetries: 2
//!       RateLimitErrorRetries: 1
//! ```
