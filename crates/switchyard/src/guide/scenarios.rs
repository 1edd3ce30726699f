//! Common retry scenarios: rate limits, timeouts, and a production configuration.
//!
//! # Rate limit handling
//!
//! Retry rate limits many times, and wait at least a minute before each retry:
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use switchyard::{
//!     ChatRequest, DeploymentConfig, ErrorKind, Message, MockProvider, MockStep, RequestOptions,
//!     RetryPolicy, Router,
//! };
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let busy = MockProvider::builder("gpt-4")
//!     .script(std::iter::repeat_n(MockStep::fail(ErrorKind::RateLimit), 4))
//!     .build()?;
//! let router = Router::builder()
//!     .deployment(DeploymentConfig::new("gpt-4", Arc::new(busy)))
//!     .retry_policy(RetryPolicy { rate_limit: Some(10), ..Default::default() }) // retry rate limits many times
//!     .retry_after(Duration::from_secs(60)) // wait 1 minute before each retry
//!     .build()?;
//!
//! let req = ChatRequest::new("gpt-4", vec![Message::user("Hello")]);
//! let response = router.chat(&req, &RequestOptions::new()).await?;
//! assert_eq!(response.report.retries, 4);
//! assert_eq!(response.report.total_wait(), Duration::from_secs(4 * 60));
//! # Ok(())
//! # }
//! ```
//!
//! Rate limits are where Switchyard's rules matter most:
//!
//! - an upstream `Retry-After` (or OpenAI's `x-ratelimit-reset-*`, Anthropic's
//!   `anthropic-ratelimit-*-reset`) sets the wait, never below `retry_after`;
//! - a hint longer than `max_retry_after` (60 s) is not slept on: the deployment cools for
//!   the hinted time and the request moves on, or the caller gets the error with the hint
//!   ([`Error::retry_after`](crate::Error::retry_after)), the proxy a 429 with `Retry-After`;
//! - in a group with another deployment, a 429 cools the deployment at once and the retry
//!   goes to the sibling without backoff;
//! - a quota error (402, or a 429 with `insufficient_quota`) is not retried: waiting does not
//!   refill a quota. It falls back.
//!
//! # Timeout handling
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use switchyard::{
//!     ChatRequest, DeploymentConfig, Message, MockProvider, MockStep, RequestOptions,
//!     RetryPolicy, Router,
//! };
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sluggish = MockProvider::builder("gpt-4")
//!     .script(std::iter::repeat_n(MockStep::Delay(Duration::from_secs(90)), 4))
//!     .build()?;
//! let router = Router::builder()
//!     .deployment(DeploymentConfig::new("gpt-4", Arc::new(sluggish)))
//!     .retry_policy(RetryPolicy { timeout: Some(5), ..Default::default() })
//!     .timeout(Duration::from_secs(30))        // 30 second timeout per attempt
//!     .stream_timeout(Duration::from_secs(60)) // 60 seconds for streamed attempts' chunks
//!     .build()?;
//!
//! let req = ChatRequest::new("gpt-4", vec![Message::user("Hello")]);
//! let response = router.chat(&req, &RequestOptions::new()).await?;
//! assert_eq!(response.report.retries, 4); // four timeouts, then an answer
//! # Ok(())
//! # }
//! ```
//!
//! # Production configuration
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use switchyard::{
//!     ChatRequest, DeploymentConfig, ErrorKind, Message, MockProvider, MockStep, RequestOptions,
//!     RetryPolicy, Router,
//! };
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let script = |steps: Vec<ErrorKind>| {
//!     MockProvider::builder("gpt-4").script(steps.into_iter().map(MockStep::fail)).build()
//! };
//! use ErrorKind::{InternalServer, RateLimit, Timeout};
//! let gpt4 = script(vec![Timeout, RateLimit, Timeout])?;
//! let gpt4_again = script(vec![Timeout, RateLimit, InternalServer])?;
//!
//! let production = |provider: MockProvider| {
//!     Router::builder()
//!         .deployment(DeploymentConfig::new("gpt-4", Arc::new(provider)))
//!         .retry_policy(RetryPolicy {
//!             timeout: Some(3),
//!             rate_limit: Some(5),
//!             internal_server: Some(2),
//!             content_policy_violation: Some(0),
//!             authentication: Some(0),
//!             ..Default::default()
//!         })
//!         .num_retries(3)
//!         .retry_after(Duration::from_secs(5))
//!         .timeout(Duration::from_secs(60))
//!         .build()
//! };
//!
//! let req = ChatRequest::new("gpt-4", vec![Message::user("Hello")]);
//! let response = production(gpt4)?.chat(&req, &RequestOptions::new()).await?;
//! assert_eq!(response.report.retries, 3);
//!
//! // The retries spent in a group count across kinds, and each failure is checked against
//! // its own kind's limit: a 500 after two retries (of any kind) ends the request, because
//! // InternalServerErrorRetries is 2.
//! let err = production(gpt4_again.clone())?.chat(&req, &RequestOptions::new()).await.unwrap_err();
//! assert_eq!(err.kind(), InternalServer);
//! assert_eq!(gpt4_again.calls(), 3);
//! # Ok(())
//! # }
//! ```
//!
//! The same in the proxy's `config.yaml`:
//!
//! ```yaml
//! model_list:
//!   - model_name: gpt-4
//!     litellm_params:
//!       model: openai/gpt-4
//!       api_key: os.environ/OPENAI_API_KEY
//! router_settings:
//!   retry_policy:
//!     TimeoutErrorRetries: 3
//!     RateLimitErrorRetries: 5
//!     InternalServerErrorRetries: 2
//!     ContentPolicyViolationErrorRetries: 0
//!     AuthenticationErrorRetries: 0
//!   num_retries: 3
//!   retry_after: 5
//!   timeout: 60
//! ```
