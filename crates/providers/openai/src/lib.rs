//! OpenAI, Azure OpenAI and OpenAI-compatible servers as Switchyard providers.
//!
//! # What it is
//!
//! Two [`Provider`](provider::Provider) implementations over one pooled [`HttpClient`]
//! (hyper's client used directly; a [`reqwest::Client`] when you hand one in or the
//! environment names an outbound proxy):
//!
//! - [`OpenAiProvider`]: `POST {api_base}/chat/completions` (plain and streamed) and
//!   `POST {api_base}/embeddings` against any `api_base`, so OpenAI, vLLM, Ollama, LM Studio,
//!   llama.cpp's server and other OpenAI-compatible servers all work. As in LiteLLM,
//!   `api_base` includes the version path (default [`DEFAULT_API_BASE`],
//!   `https://api.openai.com/v1`).
//! - [`AzureProvider`]: one Azure OpenAI deployment,
//!   `{api_base}/openai/deployments/{deployment}/chat/completions?api-version={v}` and
//!   `/embeddings`, with the `api-key` header instead of a bearer token.
//!
//! Each call makes exactly one HTTP request and sends the provider's configured model, never
//! the client's model group name. Every failure comes back as a classified
//! [`ProviderError`](provider::ProviderError): the HTTP status and the body's `error.type` /
//! `error.code` / message decide the [`ErrorKind`](provider::ErrorKind) (with Azure's
//! `innererror.code`), retry hints are read from `retry-after`, `retry-after-ms` and
//! `x-ratelimit-reset-*`, and transport failures map to `Connection` or `Timeout`.
//!
//! Decisions worth knowing:
//!
//! - **A `200` whose body is not a chat completion** (truncated JSON, an HTML page, an
//!   empty body, no choices) is [`ErrorKind::InternalServer`](provider::ErrorKind::InternalServer):
//!   the upstream is broken, so the router may retry and the failure counts against the
//!   deployment. A `200` whose body is an error object is classified from that object.
//! - **Content filtering in a `200`**: when every choice stopped with
//!   `finish_reason: content_filter` and carries no content and no tool calls (Azure's
//!   filter withholding the whole answer), the call fails with
//!   [`ErrorKind::ContentPolicyViolation`](provider::ErrorKind::ContentPolicyViolation), so
//!   `content_policy_fallbacks` apply. An answer with partial content is returned as it is,
//!   `finish_reason` and all. Streams follow the same rule: a `content_filter` finish before
//!   any content is an error item.
//! - **Streams** end at `[DONE]`; a stream that stops after its finish chunk (and usage chunk,
//!   when asked for) without `[DONE]` is complete, anything shorter is a
//!   [`ErrorKind::Connection`](provider::ErrorKind::Connection) "stream cut" error. An
//!   `{"error": ...}` event inside a `200` stream becomes an error item classified from its body.
//! - **Time limits**: a plain call is bounded by the context's time left as a whole; a stream
//!   only until its response headers (the router bounds the gaps between chunks).
//! - **Keys** are [`secrecy::SecretString`]s, sent as sensitive headers; they never appear in
//!   `Debug`, logs or error messages.
//!
//! # What it is not
//!
//! Not a retry loop (the router retries; the HTTP client is built with retries off, see
//! [`default_client_builder`]), not an SDK for OpenAI's other endpoints, and not a translator:
//! requests and answers pass through in OpenAI's schema, unknown fields included.
//!
//! # Who depends on it
//!
//! The cli (which wires configured deployments to providers) and Rust applications that use
//! Switchyard as a library through the `switchyard` facade. The router and proxy never name
//! it: they see `Arc<dyn Provider>`.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! # use provider as switchyard_provider;
//! use switchyard_openai::{AzureProvider, OpenAiProvider, default_client};
//! use switchyard_provider::{CallContext, ChatRequest, Message, Provider};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // One connection pool shared by every provider.
//! let client = default_client()?;
//! let openai = OpenAiProvider::builder("gpt-4o-mini")
//!     .api_key(std::env::var("OPENAI_API_KEY")?)
//!     .client(client.clone())
//!     .build()?;
//! let local_vllm = OpenAiProvider::builder("meta-llama/Llama-3.1-8B-Instruct")
//!     .api_base("http://localhost:8000/v1")
//!     .provider_name("vllm")
//!     .client(client.clone())
//!     .build()?;
//! let azure = AzureProvider::builder("my-gpt-4o-deployment")
//!     .api_base("https://my-resource.openai.azure.com")
//!     .api_version("2024-10-21")
//!     .api_key(std::env::var("AZURE_API_KEY")?)
//!     .client(client)
//!     .build()?;
//!
//! let providers: Vec<Arc<dyn Provider>> = vec![Arc::new(openai), Arc::new(local_vllm), Arc::new(azure)];
//! let req = ChatRequest::new("my-group", vec![Message::user("Say hi")]);
//! let answer = providers[0].chat(&req, &CallContext::new("req-1")).await?;
//! println!("{}", answer.text().unwrap_or_default());
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod builder;
mod chat;
mod client;
mod h1;
mod http;
mod pool;
mod stream;
mod transport;
mod upstream;

pub use builder::{
    AzureBuilder, BuildError, DEFAULT_API_BASE, DEFAULT_AZURE_API_VERSION, OpenAiBuilder,
};
pub use client::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_POOL_IDLE_TIMEOUT, DEFAULT_POOL_MAX_IDLE_PER_HOST,
    default_client, default_client_builder,
};
pub use http::HttpClient;
pub use upstream::{AzureProvider, OpenAiProvider};
