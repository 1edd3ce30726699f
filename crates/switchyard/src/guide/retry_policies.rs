//! Retry policies: how many retries per kind of error.
//!
//! A [`RetryPolicy`](crate::RetryPolicy) sets the retries allowed after each kind of
//! failure. Its fields have Rust names; the proxy's YAML (and serde, with the
//! `serde` feature of `switchyard-retry-core`) uses the guide's names:
//!
//! | guide / YAML name | [`RetryPolicy`](crate::RetryPolicy) field | error kinds ([`ErrorKind`](crate::ErrorKind)) | retried when unset |
//! |---|---|---|---|
//! | `TimeoutErrorRetries` | `timeout` | `Timeout` (our attempt limit, 408, **504**) | yes |
//! | `RateLimitErrorRetries` | `rate_limit` | `RateLimit` (429) | yes |
//! | `InternalServerErrorRetries` | `internal_server` | `InternalServer` (500), `BadGateway` (502), `ServiceUnavailable` (503, 529), `Connection` | yes |
//! | `BadRequestErrorRetries` | `bad_request` | `BadRequest` (400, 413, 422) | no |
//! | `AuthenticationErrorRetries` | `authentication` | `Authentication` (401), `PermissionDenied` (403) | only onto another deployment |
//! | `ContentPolicyViolationErrorRetries` | `content_policy_violation` | `ContentPolicyViolation` | no |
//! | `UnsupportedParamsRetries` | `unsupported_params` | `UnsupportedParams` | no |
//! | `ServiceUnavailableErrorRetries` (ours) | `service_unavailable` | `ServiceUnavailable`, more specific than `internal_server` | yes |
//! | `NotFoundErrorRetries` (ours) | `not_found` | `NotFound` (404) | only onto another deployment |
//! | `ContextWindowExceededErrorRetries` (ours) | `context_window_exceeded` | `ContextWindowExceeded` | no |
//!
//! A 504 is a timeout here (`TimeoutErrorRetries`), where the guide lists it under server
//! errors: a gateway timeout behaves like our own attempt timeout. `QuotaExceeded` (402, or a
//! 429 that says the quota or spend limit is used up) has no field: waiting does not refill
//! a quota, so it is never retried on the same deployment; it falls back.
//!
//! A kind that is not retried by default is retried only when a policy names it: a bare
//! `num_retries` never makes a bad request retryable. A field left `None` defers to the next
//! level (the model group's policy, then this one, then `num_retries`, then 2).
//!
//! # Basic retry policy
//!
//! The guide's `RetryPolicy(TimeoutErrorRetries=5, RateLimitErrorRetries=3, ...)`:
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
//! let policy = RetryPolicy {
//!     timeout: Some(5),                     // TimeoutErrorRetries=5
//!     rate_limit: Some(3),                  // RateLimitErrorRetries=3
//!     internal_server: Some(2),             // InternalServerErrorRetries=2
//!     content_policy_violation: Some(0),    // ContentPolicyViolationErrorRetries=0: don't retry these
//!     authentication: Some(0),              // AuthenticationErrorRetries=0: don't retry auth errors
//!     ..RetryPolicy::default()
//! };
//!
//! // Three rate limits, then an answer: the policy allows 3 retries (the default is 2).
//! let limited = MockProvider::builder("gpt-4")
//!     .script([
//!         MockStep::fail(ErrorKind::RateLimit),
//!         MockStep::fail(ErrorKind::RateLimit),
//!         MockStep::fail(ErrorKind::RateLimit),
//!     ])
//!     .build()?;
//! // A content filter refusal: not retried.
//! let filtered = MockProvider::builder("gpt-4-filtered")
//!     .always_fail(ErrorKind::ContentPolicyViolation)
//!     .build()?;
//!
//! let router = Router::builder()
//!     .deployment(DeploymentConfig::new("gpt-4", Arc::new(limited)))
//!     .deployment(DeploymentConfig::new("strict", Arc::new(filtered.clone())))
//!     .retry_policy(policy)
//!     .build()?;
//!
//! let req = ChatRequest::new("gpt-4", vec![Message::user("Hello")]);
//! let response = router.chat(&req, &RequestOptions::new()).await?;
//! assert_eq!(response.report.retries, 3);
//!
//! let req = ChatRequest::new("strict", vec![Message::user("Hello")]);
//! let err = router.chat(&req, &RequestOptions::new()).await.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::ContentPolicyViolation);
//! assert_eq!(filtered.calls(), 1);
//! # Ok(())
//! # }
//! ```
//!
//! # Every failure is judged by its own kind
//!
//! The limit is checked after **every** failure, with the kind of that failure, against the
//! retries already spent in the model group. So a request that meets two 500s and then a
//! 400 stops at the 400 (the reference classified only the first error, and went on
//! retrying the 400):
//!
//! ```
//! # use std::sync::Arc;
//! # use switchyard::{ChatRequest, DeploymentConfig, ErrorKind, Message, MockProvider, MockStep, RequestOptions, RetryPolicy, Router};
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let upstream = MockProvider::builder("gpt-4")
//!     .script([
//!         MockStep::fail(ErrorKind::InternalServer),
//!         MockStep::fail(ErrorKind::InternalServer),
//!         MockStep::fail(ErrorKind::BadRequest),
//!     ])
//!     .build()?;
//! let router = Router::builder()
//!     .deployment(DeploymentConfig::new("gpt-4", Arc::new(upstream.clone())))
//!     .num_retries(5)
//!     .build()?;
//! let req = ChatRequest::new("gpt-4", vec![Message::user("Hello")]);
//! let err = router.chat(&req, &RequestOptions::new()).await.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::BadRequest);
//! assert_eq!(upstream.calls(), 3); // not 6
//! # Ok(())
//! # }
//! ```
//!
//! In the proxy's `config.yaml`:
//!
//! ```yaml
//! router_settings:
//!   retry_policy:
//!     TimeoutErrorRetries: 5
//!     RateLimitErrorRetries: 3
//!     InternalServerErrorRetries: 2
//!     ContentPolicyViolationErrorRetries: 0
//!     AuthenticationErrorRetries: 0
//! ```
//!
//! With a [`Client`](crate::Client): [`ClientBuilder::retry_policy`](crate::ClientBuilder::retry_policy).
