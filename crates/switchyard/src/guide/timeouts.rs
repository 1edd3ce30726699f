//! Timeouts: per attempt, and the total of a request.
//!
//! Two different limits, as in the guide:
//!
//! - the router's (or client's) `timeout` limits **one attempt** ("30 second timeout per
//!   request"); `stream_timeout` limits a streamed attempt's wait for its first chunk and
//!   between chunks. A model group or a deployment may set its own
//!   ([`DeploymentConfig::timeout`](crate::DeploymentConfig::timeout)).
//! - a request's own `timeout` is the **total** budget: every attempt, wait and fallback
//!   ("Total timeout for all retries"). Each attempt gets the smaller of its own limit and
//!   the time left, and no wait is started that would cross the deadline.
//!
//! Unlike the reference, a deadline is a deadline: a request never outlives it by more
//! than a few milliseconds.
//!
//! ```
//! use std::time::Duration;
//! use switchyard::{Client, ErrorKind, Message, MockProvider, MockStep};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Stands in for an upstream that never answers.
//! let stuck = MockProvider::builder("gpt-4").always(MockStep::Hang).build()?;
//! let client = Client::builder()
//!     .timeout(Duration::from_secs(10)) // each attempt: 10 s at most
//!     .provider("gpt-4", stuck)
//!     .build()?;
//!
//! let start = tokio::time::Instant::now();
//! let err = client
//!     .completion("gpt-4", [Message::user("Hello")])
//!     .num_retries(3)
//!     .timeout(Duration::from_secs(30)) // total timeout for all retries
//!     .await
//!     .unwrap_err();
//! assert_eq!(err.kind(), Some(ErrorKind::Timeout));
//! assert!(start.elapsed() <= Duration::from_secs(30));
//! # Ok(())
//! # }
//! ```
//!
//! A slow attempt is cut at its own limit and retried:
//!
//! ```
//! use std::time::Duration;
//! use switchyard::{Client, Message, MockProvider, MockStep};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let slow_once = MockProvider::builder("gpt-4")
//!     .script([MockStep::Delay(Duration::from_secs(45))]) // the first answer would take 45 s
//!     .build()?;
//! let client = Client::builder()
//!     .timeout(Duration::from_secs(30))
//!     .provider("gpt-4", slow_once)
//!     .build()?;
//!
//! let response = client.completion("gpt-4", [Message::user("Hello")]).await?;
//! assert_eq!(response.report.retries, 1);
//! assert_eq!(response.report.attempts[0].latency, Duration::from_secs(30));
//! # Ok(())
//! # }
//! ```
//!
//! In the proxy: `router_settings.timeout` and `stream_timeout` (or
//! `litellm_settings.request_timeout`), `litellm_params.timeout` per deployment; per request,
//! the body's `"timeout": 30` or the `x-switchyard-timeout: 30s` header.
