//! Retry vs fallback, and the two combined.
//!
//! - **Retries** try the same model group again: the same deployment, or another
//!   deployment of the group.
//! - **Fallbacks** move the request to a different model group once the retries are spent
//!   (or the error is one retries cannot fix).
//! - Order: the requested group with its retries first, then each fallback group in the
//!   order listed, **each with its own full retry budget**. A group is tried at most once
//!   per request, and at most `max_fallbacks` (default 5) groups are added.
//!
//! # Combined retry and fallback
//!
//! The guide's `Router(num_retries=3, fallbacks=[{"gpt-4": ["gpt-3.5"]}])` runs
//! "1. try gpt-4 (retry up to 3 times); 2. if all retries fail, try gpt-3.5 (retry up to 3
//! times)":
//!
//! ```
//! use std::sync::Arc;
//! use switchyard::{
//!     ChatRequest, DeploymentConfig, ErrorKind, Message, MockProvider, MockStep, RequestOptions,
//!     Router,
//! };
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let gpt4 = MockProvider::builder("gpt-4").always_fail(ErrorKind::ServiceUnavailable).build()?;
//! let gpt35 = MockProvider::builder("gpt-3.5")
//!     .response("Hello from gpt-3.5")
//!     .script([MockStep::fail(ErrorKind::Timeout)])
//!     .build()?;
//!
//! let router = Router::builder()
//!     .deployment(DeploymentConfig::new("gpt-4", Arc::new(gpt4.clone())))
//!     .deployment(DeploymentConfig::new("gpt-3.5", Arc::new(gpt35.clone())))
//!     .num_retries(3)                  // retry each model 3 times
//!     .fallbacks("gpt-4", ["gpt-3.5"]) // then fall back to gpt-3.5
//!     .build()?;
//!
//! let req = ChatRequest::new("gpt-4", vec![Message::user("Hello")]);
//! let response = router.chat(&req, &RequestOptions::new()).await?;
//! assert_eq!(response.value.text(), Some("Hello from gpt-3.5"));
//! assert_eq!(gpt4.calls(), 4);  // 1 + 3 retries
//! assert_eq!(gpt35.calls(), 2); // a fresh budget: its timeout was retried too
//! let report = &response.report;
//! assert_eq!((report.retries, report.fallbacks), (4, 1));
//! assert_eq!(report.final_group.as_deref(), Some("gpt-3.5"));
//! # Ok(())
//! # }
//! ```
//!
//! When every group fails, the caller gets the **requested** group's last error (its kind
//! decides the status a gateway answers with), with a message that lists every hop.
//!
//! # Fallbacks with a client, and per request
//!
//! A [`Client`](crate::Client) takes fallbacks as model strings, per call
//! ([`Completion::fallbacks`](crate::Completion::fallbacks)) or for every call of a model
//! ([`ClientBuilder::fallbacks`](crate::ClientBuilder::fallbacks)); a call may turn them off
//! with [`Completion::disable_fallbacks`](crate::Completion::disable_fallbacks). Across
//! providers too:
//!
//! ```
//! use switchyard::{Client, ErrorKind, Message, MockProvider};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let openai_down = MockProvider::builder("gpt-4o").always_fail(ErrorKind::RateLimit).build()?;
//! let client = Client::builder()
//!     .provider("openai/gpt-4o", openai_down) // in your program: real OpenAI
//!     .build()?;
//!
//! let response = client
//!     .completion("openai/gpt-4o", [Message::user("Hello")])
//!     .fallbacks(["mock/claude-sonnet"]) // in your program: "anthropic/claude-sonnet-4-5"
//!     .await?;
//! assert_eq!(response.report.final_group.as_deref(), Some("mock/claude-sonnet"));
//! assert_eq!(response.report.fallbacks, 1);
//! # Ok(())
//! # }
//! ```
//!
//! # Special fallback lists
//!
//! - `context_window_fallbacks` ([`RouterBuilder::context_window_fallbacks`](crate::RouterBuilder::context_window_fallbacks)):
//!   taken when the prompt does not fit the model, before the generic list.
//! - `content_policy_fallbacks` ([`RouterBuilder::content_policy_fallbacks`](crate::RouterBuilder::content_policy_fallbacks)):
//!   the **only** list a content-policy refusal follows: routing around a safety refusal
//!   must be asked for, so the generic `fallbacks` never take it.
//! - `default_fallbacks` (or the key `*`): for every group without a list of its own.
//!
//! A plain bad request (400) never falls back: it would fail the same way anywhere.
//!
//! In the proxy's `config.yaml`:
//!
//! ```yaml
//! router_settings:
//!   num_retries: 3
//!   fallbacks:
//!     - gpt-4: ["gpt-3.5"]
//!   context_window_fallbacks:
//!     - gpt-4: ["gpt-4-32k"]
//! ```
//!
//! and per request, the body's `"fallbacks": ["gpt-3.5"]` or `"disable_fallbacks": true`.
