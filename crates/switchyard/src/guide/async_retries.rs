//! Async retries: every call is async, and retries never block a thread.
//!
//! The guide's `acompletion` is simply the client's methods: Switchyard is async
//! throughout (tokio), and the waits between retries are timer sleeps that leave the thread
//! to other tasks. Many calls can run at once, each with its own retries:
//!
//! ```
//! use switchyard::{Client, ErrorKind, Message, MockProvider, MockStep};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let flaky = MockProvider::builder("gpt-4")
//!     .script([MockStep::fail(ErrorKind::Timeout), MockStep::fail(ErrorKind::RateLimit)])
//!     .build()?;
//! let client = Client::builder().provider("gpt-4", flaky).build()?;
//!
//! async fn make_request(client: &Client, n: u32) -> Result<String, switchyard::Error> {
//!     let response = client
//!         .completion("gpt-4", [Message::user(format!("Hello #{n}!"))])
//!         .num_retries(5)
//!         .await?;
//!     Ok(response.value.text().unwrap_or_default().to_owned())
//! }
//!
//! // Three calls at once; two of them meet a failure and retry while the others go on.
//! let (a, b, c) = tokio::join!(
//!     make_request(&client, 1),
//!     make_request(&client, 2),
//!     make_request(&client, 3),
//! );
//! assert!(a.is_ok() && b.is_ok() && c.is_ok());
//!
//! // A completion is a `Send + 'static` future, so it can be spawned.
//! let task = tokio::spawn(client.completion("gpt-4", [Message::user("Hi")]).into_future());
//! task.await??;
//! # Ok(())
//! # }
//! ```
//!
//! From synchronous code, run the call on a runtime:
//!
//! ```
//! use switchyard::{Client, Message};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! let client = Client::from_env();
//! let response = runtime.block_on(client.completion("mock/gpt-4", [Message::user("Hello!")]).send())?;
//! assert_eq!(response.report.retries, 0);
//! # Ok(())
//! # }
//! ```
