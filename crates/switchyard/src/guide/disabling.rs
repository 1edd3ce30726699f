//! Disabling retries, globally and per request.
//!
//! ```
//! use switchyard::{Client, ErrorKind, Message, MockProvider};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let down = MockProvider::builder("gpt-4").always_fail(ErrorKind::ServiceUnavailable).build()?;
//!
//! // Disable retries for every call of a client (the guide's `litellm.num_retries = 0`).
//! let no_retries = Client::builder().num_retries(0).provider("gpt-4", down.clone()).build()?;
//! no_retries.completion("gpt-4", [Message::user("Hello!")]).await.unwrap_err();
//! assert_eq!(down.calls(), 1);
//!
//! // Or per request.
//! let client = Client::builder().provider("gpt-4", down.clone()).build()?;
//! client.completion("gpt-4", [Message::user("Hello!")]).num_retries(0).await.unwrap_err();
//! assert_eq!(down.calls(), 2);
//! # Ok(())
//! # }
//! ```
//!
//! A request's `num_retries` is the most specific setting: `0` there disables every retry of
//! that request, whatever the policies say. A client's or router's `num_retries(0)` is the
//! *least* specific: a retry policy field still applies to its kind. To turn retries off
//! everywhere with policies configured, set the policy fields to 0 as well (or leave the
//! policies out):
//!
//! ```
//! use std::sync::Arc;
//! use switchyard::{
//!     ChatRequest, DeploymentConfig, ErrorKind, Message, MockProvider, RequestOptions, RetryPolicy,
//!     Router,
//! };
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let limited = MockProvider::builder("gpt-4").always_fail(ErrorKind::RateLimit).build()?;
//! let router = Router::builder()
//!     .deployment(DeploymentConfig::new("gpt-4", Arc::new(limited.clone())))
//!     .num_retries(0)
//!     .retry_policy(RetryPolicy { rate_limit: Some(2), ..Default::default() })
//!     .build()?;
//! let req = ChatRequest::new("gpt-4", vec![Message::user("Hello")]);
//!
//! router.chat(&req, &RequestOptions::new()).await.unwrap_err();
//! assert_eq!(limited.calls(), 3); // the policy's 2 retries beat the router's 0
//!
//! router.chat(&req, &RequestOptions::new().num_retries(0)).await.unwrap_err();
//! assert_eq!(limited.calls(), 4); // the request's 0 beats everything
//! # Ok(())
//! # }
//! ```
//!
//! In the proxy: `router_settings.num_retries: 0` (or `litellm_settings.num_retries: 0`);
//! per request, the body's `"num_retries": 0` or the header `x-switchyard-num-retries: 0`.
//! Fallbacks are separate: turn them off per request with `disable_fallbacks`.
