//! The retries guide, feature by feature, in Rust.
//!
//! Switchyard replaces a Python gateway whose retries guide its users know. Every feature
//! of that guide works here; each module below takes one section of it, shows the Rust
//! form, and runs it: the examples are doc tests that make real retries and fallbacks
//! happen, against [`MockProvider`](crate::MockProvider)s scripted to fail.
//!
//! | the guide | here |
//! |---|---|
//! | [Default retry behavior](default_retries) | 2 retries, 3 attempts in all |
//! | [Global and per-request retries](configuring_retries) | [`ClientBuilder::num_retries`](crate::ClientBuilder::num_retries), [`Completion::num_retries`](crate::Completion::num_retries) |
//! | [Router retry configuration](router_config) | [`RouterBuilder::num_retries`](crate::RouterBuilder::num_retries), [`retry_after`](crate::RouterBuilder::retry_after) |
//! | [Retry policies](retry_policies) | [`RetryPolicy`](crate::RetryPolicy) (field names ↔ the guide's names) |
//! | [Model group retry policies](model_group_policies) | [`RouterBuilder::model_group_retry_policy`](crate::RouterBuilder::model_group_retry_policy) |
//! | [Retry timing](timing) | `retry_after`, Retry-After hints, exponential backoff with full jitter |
//! | [Streaming with retries](streaming) | [`Completion::stream`](crate::Completion::stream), the commit point |
//! | [Async retries](async_retries) | everything is async; concurrency and blocking use |
//! | [Custom retry logging](logging) | [`Observer`](crate::Observer) (the `CustomLogger`) |
//! | [Retry information](retry_info) | [`Report`](crate::Report) (`report.retries` is `retry_count`) |
//! | [Retry vs fallback](fallbacks) | fallbacks after retries, each group with fresh retries |
//! | [Timeouts](timeouts) | per attempt vs total |
//! | [Common scenarios](scenarios) | rate limits, timeouts, a production configuration |
//! | [Disabling retries](disabling) | globally and per request |
//! | [Error handling](error_handling) | [`Error::kind`](crate::Error::kind) against [`ErrorKind`](crate::ErrorKind) |
//!
//! # Reading the examples
//!
//! The examples run on tokio's paused clock (a hidden `start_paused = true` on their
//! runtime), so the waits they describe — seconds of backoff, a minute of `retry_after` —
//! pass instantly when the docs are tested, and the examples can check them exactly. In
//! your program the same code waits for real.
//!
//! A [`MockProvider`](crate::MockProvider) registered under a model name stands in for the
//! real model, so the examples need no key: in your code, leave out
//! [`ClientBuilder::provider`](crate::ClientBuilder::provider) and the client calls the
//! provider the model string names (`"gpt-4"` is OpenAI's, with `OPENAI_API_KEY`). With a
//! [`Router`](crate::Router), use [`OpenAiProvider`](crate::OpenAiProvider),
//! [`AzureProvider`](crate::AzureProvider) or [`AnthropicProvider`](crate::AnthropicProvider)
//! where the examples use mocks.
//!
//! `docs/retry-semantics.md` in the repository has the exact rules, the proxy's YAML form of
//! each setting, and the places where Switchyard deliberately differs from the guide.

pub mod async_retries;
pub mod configuring_retries;
pub mod default_retries;
pub mod disabling;
pub mod error_handling;
pub mod fallbacks;
pub mod logging;
pub mod model_group_policies;
pub mod retry_info;
pub mod retry_policies;
pub mod router_config;
pub mod scenarios;
pub mod streaming;
pub mod timeouts;
pub mod timing;
