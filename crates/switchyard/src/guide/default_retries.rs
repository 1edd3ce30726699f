//! Default retry behavior: 2 retries, 3 attempts in all.
//!
//! Every call is retried twice by default ([`DEFAULT_NUM_RETRIES`](crate::DEFAULT_NUM_RETRIES)),
//! for the failures that are worth retrying: timeouts, rate limits, server errors and
//! dropped connections. A bad request is not retried (it would fail the same way again).
//!
//! The guide's
//!
//! ```python
//! response = completion(model="gpt-4", messages=[{"role": "user", "content": "Hello!"}])
//! ```
//!
//! is, in Rust:
//!
//! ```
//! use switchyard::{Client, ErrorKind, Message, MockProvider, MockStep};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Stands in for gpt-4: two 503s, then an answer.
//! let gpt4 = MockProvider::builder("gpt-4")
//!     .script([
//!         MockStep::fail(ErrorKind::ServiceUnavailable),
//!         MockStep::fail(ErrorKind::ServiceUnavailable),
//!     ])
//!     .build()?;
//! let client = Client::builder().provider("gpt-4", gpt4).build()?;
//! // In your program: `let client = Client::from_env();` (reads OPENAI_API_KEY).
//!
//! // Uses the default retry behavior (2 retries).
//! let response = client.completion("gpt-4", [Message::user("Hello!")]).await?;
//! assert_eq!(response.report.retries, 2);
//! assert_eq!(response.report.attempts.len(), 3);
//! # Ok(())
//! # }
//! ```
//!
//! A model that keeps failing is tried three times, then the call returns the last error:
//!
//! ```
//! use switchyard::{Client, ErrorKind, Message, MockProvider};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let down = MockProvider::builder("gpt-4").always_fail(ErrorKind::InternalServer).build()?;
//! let client = Client::builder().provider("gpt-4", down.clone()).build()?;
//!
//! let err = client.completion("gpt-4", [Message::user("Hello!")]).await.unwrap_err();
//! assert_eq!(err.kind(), Some(ErrorKind::InternalServer));
//! assert_eq!(down.calls(), 3);
//! // The error says what happened at every attempt.
//! assert!(err.to_string().contains("3 attempt(s)"), "{err}");
//! # Ok(())
//! # }
//! ```
