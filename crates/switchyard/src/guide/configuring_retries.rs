//! Configuring retries: for every call of a client, and per request.
//!
//! # Global retry configuration
//!
//! The guide sets `litellm.num_retries = 3` for the whole process. A Switchyard
//! [`Client`](crate::Client) holds its settings instead, so two parts of a program can
//! differ: [`ClientBuilder::num_retries`](crate::ClientBuilder::num_retries).
//!
//! ```
//! use switchyard::{Client, ErrorKind, Message, MockProvider};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let down = MockProvider::builder("gpt-4").always_fail(ErrorKind::Timeout).build()?;
//! let client = Client::builder()
//!     .num_retries(3) // set the retry count for every call
//!     .provider("gpt-4", down.clone())
//!     .build()?;
//!
//! let err = client.completion("gpt-4", [Message::user("Hello!")]).await.unwrap_err();
//! // Retried up to 3 times on failure: 4 attempts.
//! assert_eq!(down.calls(), 4);
//! assert_eq!(err.report().map(|r| r.retries), Some(3));
//! # Ok(())
//! # }
//! ```
//!
//! # Per-request retry configuration
//!
//! A call's own count overrides the client's, and every retry policy too:
//!
//! ```
//! use switchyard::{Client, ErrorKind, Message, MockProvider};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let down = MockProvider::builder("gpt-4").always_fail(ErrorKind::RateLimit).build()?;
//! let client = Client::builder().num_retries(3).provider("gpt-4", down.clone()).build()?;
//!
//! let err = client
//!     .completion("gpt-4", [Message::user("Hello!")])
//!     .num_retries(5) // override the client's setting
//!     .await
//!     .unwrap_err();
//! assert_eq!(down.calls(), 6);
//! # let _ = err;
//! # Ok(())
//! # }
//! ```
//!
//! With the lower-level [`Client::chat`](crate::Client::chat) or a
//! [`Router`](crate::Router), the same option is
//! [`RequestOptions::num_retries`](crate::RequestOptions::num_retries); through the proxy it
//! is the request body's `"num_retries": 5` (or the `x-switchyard-num-retries` header).
//!
//! Which count wins, most specific first: the request's `num_retries`; the model group's
//! retry policy field for the failure's kind; the general retry policy's field; the
//! deployment's `num_retries`; the router's (or client's) `num_retries`; the default, 2.
