//! Streaming with retries: retried until the first content chunk.
//!
//! A streamed call is retried, and falls back, like any other **until its first content
//! chunk reaches you** (the commit point). Before it, every failure is an ordinary attempt
//! failure: an error status, a stream that ends or errors before any content (Anthropic's
//! `event: error`, Azure's content-filter errors inside a `200`), a first chunk slower than
//! `stream_timeout`. After it, the text already seen cannot be taken back, so a failure
//! ends the stream with one `Err` item.
//!
//! The guide's `completion(..., stream=True, num_retries=3)`:
//!
//! ```
//! use futures::StreamExt; // the `futures` crate, for `next()`
//! use switchyard::{Client, ErrorKind, Message, MockProvider, MockStep};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let gpt4 = MockProvider::builder("gpt-4")
//!     .response("Once upon a time, a request was retried.")
//!     .script([
//!         MockStep::fail(ErrorKind::RateLimit),                     // a 429 before the stream opens
//!         MockStep::ErrorBeforeContent(ErrorKind::ServiceUnavailable), // an error event in a 200 stream
//!     ])
//!     .build()?;
//! let client = Client::builder().provider("gpt-4", gpt4).build()?;
//!
//! let mut stream = client
//!     .completion("gpt-4", [Message::user("Write a story")])
//!     .num_retries(3)
//!     .stream()
//!     .await?;
//! assert_eq!(stream.report().retries, 2); // both failures were retried before any text
//!
//! let mut story = String::new();
//! while let Some(chunk) = stream.next().await {
//!     story.push_str(chunk?.text().unwrap_or(""));
//! }
//! assert_eq!(story, "Once upon a time, a request was retried.");
//! # Ok(())
//! # }
//! ```
//!
//! After the commit point, a cut stream is reported, never passed off as a complete answer:
//!
//! ```
//! use futures::StreamExt;
//! use switchyard::{Client, FailureReason, Message, MockProvider, MockStep};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cut = MockProvider::builder("gpt-4")
//!     .response("one two three four")
//!     .script([MockStep::CutAfter(2)]) // two chunks, then the connection drops
//!     .build()?;
//! let client = Client::builder().provider("gpt-4", cut).build()?;
//!
//! let mut stream = client.completion("gpt-4", [Message::user("Count")]).stream().await?;
//! let mut text = String::new();
//! let mut failure = None;
//! while let Some(item) = stream.next().await {
//!     match item {
//!         Ok(chunk) => text.push_str(chunk.text().unwrap_or("")),
//!         Err(e) => failure = Some(e),
//!     }
//! }
//! assert_eq!(text, "one two");
//! assert_eq!(failure.map(|e| e.reason()), Some(FailureReason::StreamInterrupted));
//! # Ok(())
//! # }
//! ```
//!
//! The lower-level forms are [`Client::chat_stream`](crate::Client::chat_stream) and
//! [`Router::chat_stream`](crate::Router::chat_stream), which return a
//! [`RoutedStream`](crate::RoutedStream). Through the proxy, the HTTP status is held until
//! the commit point, so a failure before it is an ordinary JSON error with the right status,
//! and the `x-switchyard-*` report headers come with streamed responses too.
//!
//! `stream_timeout` ([`ClientBuilder::stream_timeout`](crate::ClientBuilder::stream_timeout),
//! [`RouterBuilder::stream_timeout`](crate::RouterBuilder::stream_timeout)) limits the wait
//! for the first chunk and between chunks of a streamed attempt.
