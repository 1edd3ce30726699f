//! Anthropic's Messages API as a Switchyard provider, translated to and from the canonical
//! OpenAI-shaped types.
//!
//! # What it is
//!
//! [`AnthropicProvider`] implements [`Provider`](provider::Provider) over one pooled
//! [`reqwest::Client`]: `POST {api_base}/v1/messages` with `x-api-key` and
//! `anthropic-version` headers (default api_base [`DEFAULT_API_BASE`]). Each call makes
//! exactly one HTTP request and sends the configured model, not the client's model group.
//!
//! Requests are translated from OpenAI's chat completions schema:
//!
//! | OpenAI | Anthropic |
//! |---|---|
//! | `system` / `developer` messages | top-level `system` (a string, or text blocks when there are several or they carry `cache_control`) |
//! | user text and parts | `content` string or blocks; `image_url` data URLs → `base64` sources, `http(s)` URLs → `url` sources |
//! | assistant `tool_calls` | `tool_use` blocks (arguments parsed into `input`) |
//! | `tool` messages | `tool_result` blocks in a user turn; consecutive turns of one role are merged |
//! | `tools` / `tool_choice` | `tools` with `input_schema`; `auto`→`auto`, `required`→`any`, `none`→`none`, a named function→`tool`; `parallel_tool_calls: false` → `disable_parallel_tool_use` |
//! | `stop` | `stop_sequences` |
//! | `max_completion_tokens`, else `max_tokens` | `max_tokens` (default [`DEFAULT_MAX_TOKENS`], 4096) |
//! | `temperature`, `top_p`, `user` | `temperature`, `top_p`, `metadata.user_id` |
//!
//! Parameters Anthropic cannot honour (`n > 1`, `seed`, `response_format`, non-neutral
//! `logit_bias` / `logprobs` / penalties, audio and file parts) fail with
//! [`ErrorKind::UnsupportedParams`](provider::ErrorKind::UnsupportedParams) before any request
//! is sent, rather than being dropped. Other unknown fields (`top_k`, `thinking`, `metadata`)
//! are forwarded as they are.
//!
//! Answers come back as a chat completion: text blocks joined into `content`, `tool_use`
//! blocks as `tool_calls` (arguments as a JSON string), thinking as `reasoning_content`,
//! `stop_reason` mapped (`end_turn`/`stop_sequence`→`stop`, `max_tokens`→`length`,
//! `tool_use`→`tool_calls`, `refusal`→`content_filter`), usage as prompt/completion/total
//! with cache reads and writes counted as prompt tokens. A refusal with no content at all is
//! an [`ErrorKind::ContentPolicyViolation`](provider::ErrorKind::ContentPolicyViolation) error,
//! so `content_policy_fallbacks` apply.
//!
//! Streams become OpenAI-style chunks: a role chunk first, content and tool call deltas, a
//! finish chunk, then (when `stream_options.include_usage` was asked) a usage chunk with no
//! choices, as OpenAI sends it. `event: error` inside a `200` stream is an error item
//! classified from its body; a stream that ends before `message_stop` is a
//! [`ErrorKind::Connection`](provider::ErrorKind::Connection) "stream cut" item.
//!
//! Errors are classified from the status and Anthropic's `error.type`: `overloaded_error` /
//! 529 → `ServiceUnavailable`, `rate_limit_error` → `RateLimit`, "prompt is too long" →
//! `ContextWindowExceeded`, `authentication_error`, `permission_error`, `not_found_error`
//! → their kinds, `invalid_request_error` → `BadRequest` unless the message says more;
//! `retry-after` and `anthropic-ratelimit-*-reset` headers become retry hints.
//!
//! # What it is not
//!
//! Not a retry loop (the router retries; the HTTP client has retries off) and not a full
//! Anthropic SDK: it covers what the canonical chat types can express.
//!
//! # Who depends on it
//!
//! The cli (which wires configured deployments to providers) and Rust applications using
//! Switchyard as a library through the `switchyard` facade. The router and proxy see only
//! `Arc<dyn Provider>`.
//!
//! # Example
//!
//! ```no_run
//! # use provider as switchyard_provider;
//! use switchyard_anthropic::AnthropicProvider;
//! use switchyard_provider::{CallContext, ChatRequest, Message, Provider};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let claude = AnthropicProvider::builder("claude-sonnet-4-5")
//!     .api_key(std::env::var("ANTHROPIC_API_KEY")?)
//!     .default_max_tokens(1024)
//!     .build()?;
//! let req = ChatRequest::new(
//!     "my-group",
//!     vec![Message::system("Answer briefly."), Message::user("Say hi")],
//! );
//! let answer = claude.chat(&req, &CallContext::new("req-1")).await?;
//! println!("{}", answer.text().unwrap_or_default());
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod client;
mod stream;
mod translate;
mod transport;
mod upstream;

pub use client::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_POOL_IDLE_TIMEOUT, DEFAULT_POOL_MAX_IDLE_PER_HOST,
    default_client, default_client_builder,
};
pub use translate::DEFAULT_MAX_TOKENS;
pub use upstream::{
    AnthropicBuilder, AnthropicProvider, BuildError, DEFAULT_ANTHROPIC_VERSION, DEFAULT_API_BASE,
};
