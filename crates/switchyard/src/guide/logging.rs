//! Custom retry logging: an [`Observer`](crate::Observer) is the guide's `CustomLogger`.
//!
//! An observer is called at every step of every request: each attempt's start and failure
//! (with the decision taken and the wait), each retry, each fallback, the success and the
//! final failure. Its methods all have empty defaults, so implement only what you need.
//!
//! | the guide's `CustomLogger` | [`Observer`](crate::Observer) |
//! |---|---|
//! | `log_failure_event` (each failed try) | [`on_attempt_failure`](crate::Observer::on_attempt_failure), and [`on_failure`](crate::Observer::on_failure) when the request fails for good |
//! | `log_success_event` | [`on_success`](crate::Observer::on_success) |
//! | `kwargs["model"]` | `event.group` (the model group) and `event.deployment` |
//! | `kwargs["exception"]` | `event.error` (a classified [`ProviderError`](crate::ProviderError)) |
//! | `kwargs["litellm_call_id"]` | `event.request_id` |
//! | — | [`on_retry`](crate::Observer::on_retry) (retry number and wait), [`on_fallback`](crate::Observer::on_fallback), [`on_attempt_start`](crate::Observer::on_attempt_start) |
//!
//! Observers run inline on the request path: keep them quick and hand anything slow (a
//! network call, a file) to a channel. A panicking observer is caught and logged; it never
//! breaks a request.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use switchyard::{
//!     AttemptFailure, Client, ErrorKind, Message, MockProvider, MockStep, Observer, RetryEvent,
//!     SuccessEvent,
//! };
//!
//! #[derive(Default)]
//! struct RetryLogger {
//!     lines: Mutex<Vec<String>>,
//! }
//!
//! impl RetryLogger {
//!     fn log(&self, line: String) {
//!         println!("{line}"); // or tracing::info!, or a channel to your log shipper
//!         self.lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
//!     }
//! }
//!
//! impl Observer for RetryLogger {
//!     fn on_attempt_failure(&self, e: &AttemptFailure<'_>) {
//!         self.log(format!("request failed: {} ({}), exception: {}", e.group, e.deployment, e.error));
//!     }
//!     fn on_retry(&self, e: &RetryEvent<'_>) {
//!         self.log(format!("retry attempt {} of {} after {:?}", e.retry_number, e.request_id, e.wait));
//!     }
//!     fn on_success(&self, e: &SuccessEvent<'_>) {
//!         self.log(format!("request succeeded after {} retries", e.report.retries));
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let flaky = MockProvider::builder("gpt-4")
//!     .script([MockStep::fail(ErrorKind::Timeout), MockStep::fail(ErrorKind::RateLimit)])
//!     .build()?;
//! let logger = Arc::new(RetryLogger::default());
//! let client = Client::builder()
//!     .observer(logger.clone()) // litellm.callbacks = [RetryLogger()]
//!     .provider("gpt-4", flaky)
//!     .build()?;
//!
//! client.completion("gpt-4", [Message::user("Hello!")]).await?;
//!
//! let lines = logger.lines.lock().unwrap_or_else(|p| p.into_inner());
//! assert_eq!(lines.len(), 5); // two failures, two retries, one success
//! assert!(lines[0].starts_with("request failed: gpt-4 (gpt-4-0)"), "{}", lines[0]);
//! assert!(lines[1].starts_with("retry attempt 1 of req-"), "{}", lines[1]);
//! assert_eq!(lines[4], "request succeeded after 2 retries");
//! # Ok(())
//! # }
//! ```
//!
//! On a [`Router`](crate::Router): [`RouterBuilder::observer`](crate::RouterBuilder::observer).
//! The router also emits `tracing` events (`attempt failed`, `fallback`, `request failed`) and
//! the proxy counts retries and fallbacks in its Prometheus metrics.
