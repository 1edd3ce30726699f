//! A Switchyard provider for EchoLM, an imaginary HTTP LLM API, and the template for your own.
//!
//! # What it is
//!
//! [`EchoLmProvider`] implements [`Provider`] for one EchoLM deployment (an endpoint, a key and a
//! model) over a pooled [`reqwest::Client`]. EchoLM's API is small and not OpenAI-shaped, so the
//! provider translates both ways:
//!
//! - `POST {api_base}/v2/generate` with `authorization: Bearer <key>` and
//!   `{"model", "prompt", "max_tokens", "temperature"?, "stream"}`: the chat messages are
//!   flattened into one prompt (see [`wire`]);
//! - a plain answer is `{"id"?, "output", "tokens_in", "tokens_out", "stop"}`, which becomes a
//!   [`ChatResponse`] with usage and a finish reason;
//! - a streamed answer is server-sent events: `data: {"delta": "..."}` per piece of text, then
//!   `data: {"done": true, "stop", "tokens_in", "tokens_out"}`; an error inside the stream is
//!   `event: error` with an error body (see [`stream`]);
//! - an error is a non-2xx status with `{"err": {"kind", "msg", "retry_in_ms"?}}`, classified into
//!   an [`ErrorKind`] with its retry hint (see [`errors`]).
//!
//! # What it is not
//!
//! It never retries, sleeps or falls back — one call is one HTTP request; put it behind a
//! `switchyard_router::Router` for that (see `examples/router.rs`). It does not validate what
//! EchoLM would validate (the model name, the prompt's length): the upstream's answer decides.
//!
//! # Who depends on it
//!
//! Nobody: it is a template. Copy the directory, rename EchoLM to your API, and keep the tests:
//! `tests/it/conformance.rs` runs Switchyard's conformance kit against a fake of your API.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use switchyard_echolm::EchoLmProvider;
//! use switchyard_provider::{CallContext, ChatRequest, Message, Provider};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let provider = EchoLmProvider::builder("echo-large")
//!     .api_base("https://api.echolm.example")
//!     .api_key(std::env::var("ECHOLM_API_KEY")?)
//!     .build()?;
//! let req = ChatRequest::new("my-group", vec![Message::user("Say hello")]);
//! let ctx = CallContext::new("req-1").with_attempt_timeout(Duration::from_secs(30));
//! let answer = provider.chat(&req, &ctx).await?;
//! println!("{}", answer.text().unwrap_or_default());
//! # Ok(())
//! # }
//! ```

pub mod errors;
pub mod stream;
pub mod wire;

use std::{fmt, time::Duration};

use switchyard_provider::{
    BoxFuture, CallContext, ChatRequest, ChatResponse, ChunkStream, ErrorKind, Provider,
    ProviderError,
};

/// The provider kind, as it appears in errors, logs and metrics.
pub const NAME: &str = "echolm";

/// EchoLM's public endpoint, used when no `api_base` is given.
pub const DEFAULT_API_BASE: &str = "https://api.echolm.example";

/// The path of EchoLM's one endpoint, below `api_base`.
pub const GENERATE_PATH: &str = "/v2/generate";

/// One EchoLM deployment: an endpoint, a key and a model.
///
/// Cheap to clone (the HTTP client is a shared pool). Build it with [`EchoLmProvider::builder`].
#[derive(Clone)]
pub struct EchoLmProvider {
    client: reqwest::Client,
    endpoint: String,
    api_key: Option<String>,
    model: String,
}

/// The key never appears in `Debug` output (logs, panics, error reports).
impl fmt::Debug for EchoLmProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EchoLmProvider")
            .field("endpoint", &self.endpoint)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl EchoLmProvider {
    /// A builder for a deployment of `model` (the model sent upstream).
    pub fn builder(model: impl Into<String>) -> EchoLmProviderBuilder {
        EchoLmProviderBuilder {
            model: model.into(),
            api_base: DEFAULT_API_BASE.to_owned(),
            api_key: None,
            client: None,
        }
    }

    /// Starts one request to EchoLM: the translated body, the key, and the attempt's time limit.
    fn request(
        &self,
        req: &ChatRequest,
        stream: bool,
    ) -> Result<reqwest::RequestBuilder, ProviderError> {
        let body = wire::GenerateRequest::from_chat(&self.model, req, stream)?;
        let mut request = self.client.post(&self.endpoint).json(&body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        Ok(request)
    }
}

impl Provider for EchoLmProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            let mut request = self.request(req, false)?;
            // Rule 6: the router owns timeouts, but handing the time left to reqwest lets a
            // slow upstream fail as a Timeout here instead of being cut off without a word.
            if let Some(left) = ctx.time_left() {
                request = request.timeout(left);
            }
            // Rule 1: exactly one request. No loop, no retry on any status.
            let response = request.send().await.map_err(errors::transport)?;
            if !response.status().is_success() {
                return Err(errors::from_response(response).await);
            }
            let body = response.bytes().await.map_err(errors::transport)?;
            // Rule 7: a body that does not parse is an error, never a panic.
            let answer: wire::GenerateResponse = serde_json::from_slice(&body).map_err(|e| {
                ProviderError::new(
                    ErrorKind::InternalServer,
                    NAME,
                    "EchoLM answered 200 with a body that is not a generation; the upstream is misbehaving",
                )
                .with_source(e)
            })?;
            Ok(answer.into_chat(&self.model, ctx))
        })
    }

    fn chat_stream<'a>(
        &'a self,
        req: &'a ChatRequest,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<ChunkStream, ProviderError>> {
        Box::pin(async move {
            let request = self.request(req, true)?;
            // For a stream the limit covers the wait for the headers only: the router bounds the
            // gaps between chunks itself (`stream_timeout`), and a long answer is not a slow one.
            let sending = request.send();
            let response = match ctx.time_left() {
                Some(left) => tokio::time::timeout(left, sending).await.map_err(|_| {
                    ProviderError::new(
                        ErrorKind::Timeout,
                        NAME,
                        format!(
                            "EchoLM sent no response headers within {} ms",
                            left.as_millis()
                        ),
                    )
                })?,
                None => sending.await,
            }
            .map_err(errors::transport)?;
            // An error status is an Err here, not a stream item: nothing has been streamed yet.
            if !response.status().is_success() {
                return Err(errors::from_response(response).await);
            }
            Ok(stream::chunks(
                response.bytes_stream(),
                &self.model,
                ctx,
                req.wants_stream_usage(),
            ))
        })
    }
}

/// Builds an [`EchoLmProvider`]; see [`EchoLmProvider::builder`].
#[derive(Debug)]
pub struct EchoLmProviderBuilder {
    model: String,
    api_base: String,
    api_key: Option<String>,
    client: Option<reqwest::Client>,
}

impl EchoLmProviderBuilder {
    /// The server, such as `https://api.echolm.example` (default [`DEFAULT_API_BASE`]); the
    /// provider posts to `{api_base}/v2/generate`.
    #[must_use]
    pub fn api_base(mut self, api_base: impl Into<String>) -> Self {
        self.api_base = api_base.into();
        self
    }

    /// The key, sent as `authorization: Bearer <key>`.
    #[must_use]
    pub fn api_key(mut self, api_key: impl Into<String>) -> Self {
        self.api_key = Some(api_key.into());
        self
    }

    /// The HTTP client to use; pass one client to several providers to share its connection
    /// pool. It must not retry (see [`default_client`]). Default: a new [`default_client`].
    #[must_use]
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Checks the settings and builds the provider.
    ///
    /// # Errors
    ///
    /// [`BuildError`] if the model is empty, `api_base` is not an `http(s)` URL, or the HTTP
    /// client cannot be built.
    pub fn build(self) -> Result<EchoLmProvider, BuildError> {
        if self.model.trim().is_empty() {
            return Err(BuildError::EmptyModel);
        }
        let api_base = self.api_base.trim_end_matches('/');
        let host = api_base
            .strip_prefix("https://")
            .or_else(|| api_base.strip_prefix("http://"));
        if host.is_none_or(str::is_empty) {
            return Err(BuildError::ApiBase(self.api_base));
        }
        let client = match self.client {
            Some(client) => client,
            None => default_client().map_err(BuildError::Client)?,
        };
        Ok(EchoLmProvider {
            client,
            endpoint: format!("{api_base}{GENERATE_PATH}"),
            api_key: self.api_key,
            model: self.model,
        })
    }
}

/// Why [`EchoLmProviderBuilder::build`] refused the settings.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// The model name is empty.
    EmptyModel,
    /// `api_base` is not an `http://` or `https://` URL with a host.
    ApiBase(String),
    /// The HTTP client could not be built (the TLS backend failed to start).
    Client(reqwest::Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::EmptyModel => {
                write!(f, "the EchoLM model is empty: name the model to call")
            }
            BuildError::ApiBase(base) => write!(
                f,
                "api_base `{base}` is not an http(s) URL: write it like `https://api.echolm.example`"
            ),
            BuildError::Client(_) => write!(f, "could not build the HTTP client for EchoLM"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Client(e) => Some(e),
            BuildError::EmptyModel | BuildError::ApiBase(_) => None,
        }
    }
}

/// How long connecting to EchoLM may take before the attempt fails as a connection error.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A pooled HTTP client fit for a provider: a connect timeout, no overall timeout (each
/// attempt's limit comes from the router through [`CallContext`]), no redirects (an API that
/// redirects is reported, not followed with the key), and **no retries** — rule 1: only the
/// router retries, and it must see every attempt.
///
/// # Errors
///
/// If the TLS backend cannot be initialised.
pub fn default_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never())
        .user_agent(concat!("switchyard-echolm/", env!("CARGO_PKG_VERSION")))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_checks_the_settings() {
        let ok = EchoLmProvider::builder("echo-large")
            .api_base("http://127.0.0.1:9/")
            .api_key("secret-key")
            .build()
            .expect("valid settings");
        assert_eq!(ok.endpoint, "http://127.0.0.1:9/v2/generate");
        assert!(
            !format!("{ok:?}").contains("secret-key"),
            "Debug must not show the key"
        );
        assert!(matches!(
            EchoLmProvider::builder(" ").build(),
            Err(BuildError::EmptyModel)
        ));
        assert!(matches!(
            EchoLmProvider::builder("m")
                .api_base("api.echolm.example")
                .build(),
            Err(BuildError::ApiBase(_))
        ));
    }
}
