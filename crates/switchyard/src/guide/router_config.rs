//! Router retry configuration: `num_retries` and `retry_after` for every model group.
//!
//! The guide's
//!
//! ```python
//! router = Router(
//!     model_list=[{"model_name": "gpt-4", "litellm_params": {"model": "gpt-4", "api_key": "sk-..."}}],
//!     num_retries=3,  # Default retries for all models
//!     retry_after=5,  # Wait 5 seconds before first retry
//! )
//! ```
//!
//! is a [`Router`](crate::Router) built with [`Router::builder`](crate::Router::builder).
//! Each `model_list` entry is a [`DeploymentConfig`](crate::DeploymentConfig): a model group
//! name and the provider that serves it.
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use switchyard::{
//!     ChatRequest, DeploymentConfig, ErrorKind, Message, MockProvider, MockStep, RequestOptions,
//!     Router,
//! };
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // In your program:
//! // let gpt4 = switchyard::OpenAiProvider::builder("gpt-4").api_key("sk-...").build()?;
//! let gpt4 = MockProvider::builder("gpt-4")
//!     .script([MockStep::fail(ErrorKind::Timeout), MockStep::fail(ErrorKind::Timeout)])
//!     .build()?;
//!
//! let router = Router::builder()
//!     .deployment(DeploymentConfig::new("gpt-4", Arc::new(gpt4)))
//!     .num_retries(3)                        // default retries for all models
//!     .retry_after(Duration::from_secs(5))   // wait at least 5 seconds before a retry
//!     .build()?;
//!
//! let req = ChatRequest::new("gpt-4", vec![Message::user("Hello")]);
//! let response = router.chat(&req, &RequestOptions::new()).await?;
//! assert_eq!(response.report.retries, 2);
//! // Backoff for the first retries is at most 2 s and 4 s, so the 5 s floor decides.
//! for attempt in &response.report.attempts[1..] {
//!     assert_eq!(attempt.wait_before, Duration::from_secs(5));
//! }
//! # Ok(())
//! # }
//! ```
//!
//! `retry_after` is a floor on **every** retry's wait, not only the first: the guide's
//! "wait at least N seconds before retry". Upstream `Retry-After` hints and exponential
//! backoff apply above it (see [`timing`](super::timing)).
//!
//! In the proxy's `config.yaml`:
//!
//! ```yaml
//! model_list:
//!   - model_name: gpt-4
//!     litellm_params:
//!       model: openai/gpt-4
//!       api_key: os.environ/OPENAI_API_KEY
//! router_settings:
//!   num_retries: 3
//!   retry_after: 5
//! ```
