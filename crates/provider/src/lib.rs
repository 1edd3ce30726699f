//! The stable integration point between Switchyard's router and the LLM providers it calls.
//!
//! # What it is
//!
//! `switchyard-provider` defines what a *provider* is — one configured upstream deployment
//! (endpoint + key + model) that can answer a chat completion — and the types that cross
//! that boundary:
//!
//! - the [`Provider`] trait, dyn-compatible so the router holds `Arc<dyn Provider>`;
//! - the canonical request, response and chunk types in OpenAI's chat-completions schema
//!   ([`ChatRequest`], [`ChatResponse`], [`ChatChunk`], ...), each with an `extra` map so
//!   fields we do not model pass through untouched;
//! - [`ProviderError`], the one error type a provider returns, already classified into an
//!   [`ErrorKind`] with the upstream's [`RetryHint`];
//! - [`CallContext`], the per-attempt context (timeout, deadline, request id);
//! - [`sse`], server-sent-events helpers for parsing upstream streams and writing our own;
//! - with the `test-util` feature, the `conformance` kit: one call that checks a provider
//!   obeys the contract below against an upstream the author scripts.
//!
//! # What it is not
//!
//! It makes no HTTP calls, does not retry, sleep, or route, and holds no configuration. Retries,
//! backoff, fallbacks and cooldowns live in `switchyard-router`; transports live in the provider
//! crates (`switchyard-openai`, `switchyard-anthropic`, `switchyard-mock`).
//!
//! # Who depends on it
//!
//! Provider authors depend on this crate alone (it re-exports what they need from
//! `switchyard-retry-core`), and so does the router. It changes rarely, like `tower-service`:
//! the types are `#[non_exhaustive]` so that adding a field or an error kind is not a breaking change.
//!
//! # The provider contract
//!
//! See [`Provider`]. In short: one upstream attempt per call, never retry or sleep, classify
//! every failure, surface errors inside a stream before any content as errors, end streams
//! cleanly, and let dropping the future or stream cancel the upstream call.
//!
//! # Example
//!
//! A tiny provider that echoes the last user message:
//!
//! ```
//! use switchyard_provider::{
//!     BoxFuture, CallContext, ChatChunk, ChatRequest, ChatResponse, ChunkStream, Content,
//!     ErrorKind, Message, Provider, ProviderError,
//! };
//!
//! struct Echo;
//!
//! impl Provider for Echo {
//!     fn name(&self) -> &'static str {
//!         "echo"
//!     }
//!     fn model(&self) -> &str {
//!         "echo-1"
//!     }
//!     fn chat<'a>(
//!         &'a self,
//!         req: &'a ChatRequest,
//!         _ctx: &'a CallContext,
//!     ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
//!         Box::pin(async move {
//!             let last = req.messages.last().and_then(|m| m.content.as_ref()).map(Content::to_text);
//!             let text = last.ok_or_else(|| {
//!                 ProviderError::new(ErrorKind::BadRequest, "echo", "nothing to echo")
//!             })?;
//!             Ok(ChatResponse::from_text("echo-0", self.model(), text))
//!         })
//!     }
//!     fn chat_stream<'a>(
//!         &'a self,
//!         req: &'a ChatRequest,
//!         ctx: &'a CallContext,
//!     ) -> BoxFuture<'a, Result<ChunkStream, ProviderError>> {
//!         Box::pin(async move {
//!             let response = self.chat(req, ctx).await?;
//!             let chunks = ChatChunk::split_response(&response);
//!             let stream: ChunkStream = Box::pin(futures::stream::iter(chunks.into_iter().map(Ok)));
//!             Ok(stream)
//!         })
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # futures::executor::block_on(async {
//! let provider: std::sync::Arc<dyn Provider> = std::sync::Arc::new(Echo);
//! let req = ChatRequest::new("my-group", vec![Message::user("hello")]);
//! let response = provider.chat(&req, &CallContext::new("req-1")).await?;
//! assert_eq!(response.text(), Some("hello"));
//! # Ok(())
//! # })
//! # }
//! ```
#![warn(missing_docs)]

mod context;
mod error;
mod provider;
pub mod sse;
mod types;
mod upstream;

#[cfg(feature = "test-util")]
pub mod conformance;

pub use context::CallContext;
pub use error::{ProviderError, header_pairs};
pub use provider::{BoxFuture, ChunkBodyStream, ChunkStream, Provider};
pub use types::{
    ChatChunk, ChatRequest, ChatResponse, Choice, ChunkChoice, CompletionTokensDetails, Content,
    ContentPart, Delta, EmbeddingsRequest, EmbeddingsResponse, FinishReason, FunctionCall,
    FunctionCallDelta, FunctionDef, ImageUrl, ImageUrlPart, Message, PromptTokensDetails, Role,
    Stop, StreamOptions, TextPart, Tool, ToolCall, ToolCallDelta, Usage,
};
pub use upstream::{UpstreamChatBody, UpstreamEmbeddingsBody};

/// The error taxonomy and retry hints from `switchyard-retry-core`, re-exported so provider
/// crates need no direct dependency on it.
pub use retry_core::{ErrorKind, RetryHint};

/// The whole of `switchyard-retry-core`, for providers that classify their own wire quirks
/// with [`retry_core::classify`] or read hints with [`retry_core::hint`].
pub use retry_core;
