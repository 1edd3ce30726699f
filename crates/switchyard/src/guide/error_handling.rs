//! Error handling: what a call fails with after its retries.
//!
//! The guide catches exception classes; in Rust, a failed call is an
//! [`Error`](crate::Error) whose [`kind`](crate::Error::kind) is the
//! [`ErrorKind`](crate::ErrorKind) of the requested model's last failure:
//!
//! | the guide's exception | [`ErrorKind`](crate::ErrorKind) |
//! |---|---|
//! | `RateLimitError` | `RateLimit`, `QuotaExceeded` |
//! | `Timeout` | `Timeout` |
//! | `ServiceUnavailableError` | `ServiceUnavailable` |
//! | `InternalServerError` | `InternalServer` |
//! | `BadGatewayError` | `BadGateway` |
//! | `APIConnectionError` | `Connection` |
//! | `AuthenticationError` | `Authentication` |
//! | `PermissionDeniedError` | `PermissionDenied` |
//! | `NotFoundError` | `NotFound` |
//! | `ContextWindowExceededError` | `ContextWindowExceeded` |
//! | `ContentPolicyViolationError` | `ContentPolicyViolation` |
//! | `UnsupportedParamsError` | `UnsupportedParams` |
//! | `BadRequestError` | `BadRequest` |
//!
//! ([`ErrorKind::exception_name`](crate::ErrorKind::exception_name) gives the guide's name.)
//! `kind()` is `None` when the call was never sent: a model string that names no provider,
//! a missing key (the error names the variable to set), a disabled provider feature.
//!
//! ```
//! use switchyard::{Client, Error, ErrorKind, Message, MockProvider};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let limited = MockProvider::builder("gpt-4").always_fail(ErrorKind::RateLimit).build()?;
//! let client = Client::builder().provider("gpt-4", limited).build()?;
//!
//! let outcome = match client.completion("gpt-4", [Message::user("Hello!")]).num_retries(3).await {
//!     Ok(response) => format!("answered: {:?}", response.value.text()),
//!     Err(e) => match e.kind() {
//!         Some(ErrorKind::RateLimit) => format!("Rate limited after retries: {e}"),
//!         Some(ErrorKind::Timeout) => format!("Timeout after retries: {e}"),
//!         Some(ErrorKind::ServiceUnavailable) => format!("Service unavailable after retries: {e}"),
//!         Some(_) => format!("Failed after all retries: {e}"),
//!         None => format!("Not sent: {e}"),
//!     },
//! };
//! assert!(outcome.starts_with("Rate limited after retries"), "{outcome}");
//!
//! // Not sent at all: the error says what to fix.
//! let err = Client::builder()
//!     .env(|_| None) // as if no variable were set
//!     .build()?
//!     .completion("anthropic/claude-sonnet-4-5", [Message::user("Hello!")])
//!     .await
//!     .unwrap_err();
//! assert!(matches!(err, Error::MissingKey { env_var: "ANTHROPIC_API_KEY", .. }));
//! assert_eq!(err.kind(), None);
//! # Ok(())
//! # }
//! ```
//!
//! Beyond the kind, a failed call's error has the [report](crate::Error::report) of every
//! attempt, a [`retry_after`](crate::Error::retry_after) when the upstream (or the
//! cooldowns) said when to come back, and, through
//! [`router_error`](crate::Error::router_error), the
//! [`reason`](crate::RouterError::reason) the router gave up
//! ([`FailureReason`](crate::FailureReason): upstream errors, the request's deadline, no
//! deployment available, an unknown model, a stream cut after its commit point) and the last
//! upstream [`ProviderError`](crate::ProviderError) with its HTTP status. Messages never
//! contain a key.
