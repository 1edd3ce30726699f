//! Retry timing: `retry_after`, upstream hints, and exponential backoff.
//!
//! Before retry number *n* (1-based), the router waits:
//!
//! 1. the upstream's hint if it sent one (`retry-after-ms`, `retry-after` in seconds or as an
//!    HTTP date, OpenAI's `x-ratelimit-reset-*`, Anthropic's `anthropic-ratelimit-*-reset`);
//!    the largest relevant one wins;
//! 2. otherwise exponential backoff with full jitter: a uniform random wait in
//!    `[0, min(max_backoff, initial × 2^(n-1))]`, with `initial` = 2 s and `max_backoff` = 60 s;
//! 3. never less than `retry_after`;
//! 4. only `retry_after` when the retry goes to **another deployment** of the group that has
//!    not failed in this request: backoff protects a struggling upstream, a fresh sibling
//!    needs none;
//! 5. never past the request's deadline: if the wait would cross it, the request stops now
//!    with the last error.
//!
//! A hint longer than `max_retry_after` (60 s by default) is not slept on: the deployment
//! cools down for the hinted time and the request moves on (another deployment, a fallback,
//! or the error, whose [`retry_after`](crate::RouterError::retry_after) carries the hint).
//! Nothing sleeps after the last attempt.
//!
//! # Retry after
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use switchyard::{ChatRequest, DeploymentConfig, ErrorKind, Message, MockProvider, MockStep, RequestOptions, Router};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let flaky = MockProvider::builder("gpt-4")
//!     .script([
//!         MockStep::fail(ErrorKind::ServiceUnavailable),
//!         // An upstream hint above the floor wins.
//!         MockStep::fail(ErrorKind::RateLimit).retry_after(Duration::from_secs(15)),
//!     ])
//!     .build()?;
//! let router = Router::builder()
//!     .deployment(DeploymentConfig::new("gpt-4", Arc::new(flaky)))
//!     .retry_after(Duration::from_secs(10)) // wait at least 10 seconds before a retry
//!     .build()?;
//!
//! let req = ChatRequest::new("gpt-4", vec![Message::user("Hello")]);
//! let response = router.chat(&req, &RequestOptions::new()).await?;
//! let waits: Vec<Duration> = response.report.attempts.iter().map(|a| a.wait_before).collect();
//! assert_eq!(waits, [Duration::ZERO, Duration::from_secs(10), Duration::from_secs(15)]);
//! # Ok(())
//! # }
//! ```
//!
//! # Exponential backoff
//!
//! The guide's "0-2 s, 0-4 s, 0-8 s, 0-16 s" are the jitter caps of
//! [`BackoffConfig`](crate::BackoffConfig)'s defaults:
//!
//! ```
//! use std::time::Duration;
//! use switchyard::BackoffConfig;
//!
//! let backoff = BackoffConfig::default();
//! let caps: Vec<Duration> = (1..=7).map(|n| backoff.jitter_cap(n)).collect();
//! let secs = |s| Duration::from_secs(s);
//! assert_eq!(caps, [secs(2), secs(4), secs(8), secs(16), secs(32), secs(60), secs(60)]);
//! ```
//!
//! and a model that keeps failing without a hint waits within them:
//!
//! ```
//! use std::time::Duration;
//! use switchyard::{BackoffConfig, Client, ErrorKind, Message, MockProvider};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let down = MockProvider::builder("gpt-4").always_fail(ErrorKind::InternalServer).build()?;
//! let client = Client::builder().provider("gpt-4", down).build()?;
//!
//! let err = client
//!     .completion("gpt-4", [Message::user("Hello!")])
//!     .num_retries(4)
//!     .await
//!     .unwrap_err();
//! let report = err.report().ok_or("the call was made")?;
//! let backoff = BackoffConfig::default();
//! for (n, attempt) in report.attempts.iter().enumerate().skip(1) {
//!     let cap = backoff.jitter_cap(u32::try_from(n)?);
//!     assert!(attempt.wait_before <= cap, "retry {n} waited {:?}", attempt.wait_before);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Both ends are settings: [`RouterBuilder::backoff`](crate::RouterBuilder::backoff)`(initial, max)`
//! and [`ClientBuilder::backoff`](crate::ClientBuilder::backoff); in YAML,
//! `router_settings.backoff_initial` and `max_backoff`.
//!
//! # No backoff onto a fresh deployment
//!
//! In a group of several deployments, a retry goes to one that has not failed in this
//! request, without waiting. Only when every deployment has failed once does backoff start:
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use switchyard::{ChatRequest, DeploymentConfig, ErrorKind, Message, MockProvider, MockStep, RequestOptions, Router};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let once_down = |name: &str| {
//!     MockProvider::builder(name).script([MockStep::fail(ErrorKind::ServiceUnavailable)]).build()
//! };
//! let router = Router::builder()
//!     .deployment(DeploymentConfig::new("gpt-4", Arc::new(once_down("eastus")?)).id("eastus"))
//!     .deployment(DeploymentConfig::new("gpt-4", Arc::new(once_down("westus")?)).id("westus"))
//!     .build()?;
//!
//! let req = ChatRequest::new("gpt-4", vec![Message::user("Hello")]);
//! let response = router.chat(&req, &RequestOptions::new()).await?;
//! let a = &response.report.attempts;
//! assert_eq!(a.len(), 3);
//! assert_ne!(a[0].deployment, a[1].deployment);     // the retry went to the sibling...
//! assert_eq!(a[1].wait_before, Duration::ZERO);    // ...at once
//! assert!(a[2].wait_before <= Duration::from_secs(4)); // both failed: backoff (0-4 s for retry 2)
//! # Ok(())
//! # }
//! ```
//!
//! # A hint too long to sleep on
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use switchyard::{ChatRequest, DeploymentConfig, ErrorKind, Message, MockProvider, MockStep, RequestOptions, Router};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let quota_reset_in_5_min = MockProvider::builder("gpt-4")
//!     .script([MockStep::fail(ErrorKind::RateLimit).retry_after(Duration::from_secs(300))])
//!     .build()?;
//! let router = Router::builder()
//!     .deployment(DeploymentConfig::new("gpt-4", Arc::new(quota_reset_in_5_min)))
//!     .build()?;
//!
//! let req = ChatRequest::new("gpt-4", vec![Message::user("Hello")]);
//! let err = router.chat(&req, &RequestOptions::new()).await.unwrap_err();
//! assert_eq!(err.report().attempts.len(), 1);       // no five-minute sleep
//! assert_eq!(err.retry_after(), Some(Duration::from_secs(300))); // the caller learns when to come back
//! # Ok(())
//! # }
//! ```
