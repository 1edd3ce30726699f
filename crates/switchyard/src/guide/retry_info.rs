//! Retry information in the response: the [`Report`](crate::Report).
//!
//! Every answer comes as a [`Routed`](crate::Routed): the value and a report of how it was
//! obtained. The guide's `response._hidden_params["retry_count"]` is `report.retries`:
//!
//! ```
//! use std::time::Duration;
//! use switchyard::{Client, ErrorKind, Message, MockProvider, MockStep};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let flaky = MockProvider::builder("gpt-4")
//!     .script([MockStep::fail(ErrorKind::RateLimit).retry_after(Duration::from_secs(1))])
//!     .build()?;
//! let client = Client::builder().provider("gpt-4", flaky).build()?;
//!
//! let response = client.completion("gpt-4", [Message::user("Hello")]).num_retries(3).await?;
//! let report = &response.report;
//!
//! let retry_count = report.retries;
//! println!("Number of retries: {retry_count}");
//! assert_eq!(retry_count, 1);
//!
//! // And more than the guide had:
//! assert_eq!(report.max_retries, 3);                         // what this request allowed
//! assert_eq!(report.fallbacks, 0);                           // groups moved to
//! assert_eq!(report.final_group.as_deref(), Some("gpt-4"));  // who answered
//! assert_eq!(report.final_deployment.as_deref(), Some("gpt-4-0"));
//! assert_eq!(report.total_wait(), Duration::from_secs(1));   // the upstream's hint
//! let first = &report.attempts[0];                           // every attempt, in order
//! assert_eq!((first.kind, first.status), (Some(ErrorKind::RateLimit), Some(429)));
//! assert_eq!(report.hops(), "gpt-4/gpt-4-0: rate_limit (429), gpt-4/gpt-4-0: ok");
//! # Ok(())
//! # }
//! ```
//!
//! A failed call carries the same report: [`Error::report`](crate::Error::report) (or
//! [`RouterError::report`](crate::RouterError::report)), and its message lists every hop.
//! A stream has it from the start: [`RoutedStream::report`](crate::RoutedStream::report).
//!
//! Through the proxy, the report is in response headers, on streamed responses too:
//! `x-switchyard-attempted-retries`, `x-switchyard-max-retries`,
//! `x-switchyard-attempted-fallbacks`, `x-switchyard-model-group`,
//! `x-switchyard-deployment-id`, `x-switchyard-overhead-ms` and `x-request-id`.
