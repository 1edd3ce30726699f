//! [`OpenAiProvider`] and [`AzureProvider`]: two faces of one transport core that differ only
//! in URLs and the auth header.

use std::fmt;
use std::time::Instant;

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue};
use provider::{
    BoxFuture, CallContext, ChatRequest, ChatResponse, ChunkStream, EmbeddingsRequest,
    EmbeddingsResponse, Provider, ProviderError,
};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};

use crate::builder::{AzureBuilder, OpenAiBuilder};
use crate::chat::{self, Mode};
use crate::stream;
use crate::transport::{self, Limit};

/// A provider for OpenAI's chat completions and embeddings API, and for any server that
/// speaks it (vLLM, Ollama, LM Studio, llama.cpp, TGI, LiteLLM, ...).
///
/// Build one with [`OpenAiProvider::builder`]. Each call makes exactly one HTTP request and
/// sends the configured model, not `req.model`. `Debug` never shows the key.
pub struct OpenAiProvider {
    pub(crate) core: Core,
}

/// A provider for one Azure OpenAI deployment:
/// `{api_base}/openai/deployments/{deployment}/chat/completions?api-version={v}` (and
/// `/embeddings`), authenticated with the `api-key` header.
///
/// Build one with [`AzureProvider::builder`]. `Debug` never shows the key.
pub struct AzureProvider {
    pub(crate) core: Core,
}

impl OpenAiProvider {
    /// Starts configuring a provider that calls `model` (sent upstream as the body's `model`).
    pub fn builder(model: impl Into<String>) -> OpenAiBuilder {
        OpenAiBuilder::new(model.into())
    }

    /// The chat completions URL requests go to.
    pub fn chat_url(&self) -> &Url {
        &self.core.endpoints.chat
    }
}

impl AzureProvider {
    /// Starts configuring a provider that calls the Azure deployment `deployment`.
    pub fn builder(deployment: impl Into<String>) -> AzureBuilder {
        AzureBuilder::new(deployment.into())
    }

    /// The chat completions URL requests go to (with its `api-version` query).
    pub fn chat_url(&self) -> &Url {
        &self.core.endpoints.chat
    }
}

/// How a request proves who it is.
pub(crate) enum Auth {
    /// No credentials (local servers).
    None,
    /// `Authorization: Bearer {secret}`.
    Bearer(SecretString),
    /// Azure's `api-key: {secret}`.
    ApiKeyHeader(SecretString),
}

/// The URLs one provider calls, built once.
pub(crate) struct Endpoints {
    pub(crate) chat: Url,
    pub(crate) embeddings: Url,
}

/// Everything a call needs; shared by both provider types.
pub(crate) struct Core {
    pub(crate) name: &'static str,
    pub(crate) model: String,
    pub(crate) api_base: Url,
    pub(crate) endpoints: Endpoints,
    pub(crate) auth: Auth,
    /// Organization, project and extra headers, validated at build time.
    pub(crate) headers: HeaderMap,
    pub(crate) client: reqwest::Client,
}

impl Core {
    fn request(
        &self,
        url: &Url,
        ctx: &CallContext,
        body: Vec<u8>,
        accept: &'static str,
    ) -> reqwest::RequestBuilder {
        let mut headers = HeaderMap::with_capacity(self.headers.len() + 4);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(ACCEPT, HeaderValue::from_static(accept));
        if !ctx.request_id.is_empty()
            && let Ok(id) = HeaderValue::from_str(&ctx.request_id)
        {
            headers.insert("x-request-id", id);
        }
        // The key was checked to be a valid header value when the provider was built.
        let auth = match &self.auth {
            Auth::None => None,
            Auth::Bearer(token) => {
                HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
                    .ok()
                    .map(|v| (AUTHORIZATION, v))
            }
            Auth::ApiKeyHeader(key) => HeaderValue::from_str(key.expose_secret())
                .ok()
                .map(|v| (http::HeaderName::from_static("api-key"), v)),
        };
        if let Some((name, mut value)) = auth {
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        // Extra headers last, so a user can override what we set.
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        self.client.post(url.clone()).headers(headers).body(body)
    }

    async fn chat(
        &self,
        req: &ChatRequest,
        ctx: &CallContext,
    ) -> Result<ChatResponse, ProviderError> {
        let started = Instant::now();
        let body = chat::request_body(self.name, &self.model, req, Mode::Plain)?;
        let request = self.request(&self.endpoints.chat, ctx, body, "application/json");
        let result = async {
            let response =
                transport::send(self.name, request, ctx.time_left(), Limit::WholeCall).await?;
            let bytes = transport::read_body(self.name, response).await?;
            chat::parse_response(self.name, &bytes)
        }
        .await;
        self.trace("chat", ctx, started, result.as_ref().err());
        result
    }

    async fn chat_stream(
        &self,
        req: &ChatRequest,
        ctx: &CallContext,
    ) -> Result<ChunkStream, ProviderError> {
        let started = Instant::now();
        let body = chat::request_body(self.name, &self.model, req, Mode::Stream)?;
        let request = self.request(&self.endpoints.chat, ctx, body, "text/event-stream");
        let result = transport::send(self.name, request, ctx.time_left(), Limit::UntilHeaders)
            .await
            .map(|response| stream::chunks(self.name, response, req.wants_stream_usage()));
        self.trace("chat_stream", ctx, started, result.as_ref().err());
        result
    }

    async fn embeddings(
        &self,
        req: &EmbeddingsRequest,
        ctx: &CallContext,
    ) -> Result<EmbeddingsResponse, ProviderError> {
        let started = Instant::now();
        let body = chat::embeddings_body(self.name, &self.model, req)?;
        let request = self.request(&self.endpoints.embeddings, ctx, body, "application/json");
        let result = async {
            let response =
                transport::send(self.name, request, ctx.time_left(), Limit::WholeCall).await?;
            let bytes = transport::read_body(self.name, response).await?;
            chat::parse_embeddings(self.name, &bytes)
        }
        .await;
        self.trace("embeddings", ctx, started, result.as_ref().err());
        result
    }

    fn trace(
        &self,
        call: &'static str,
        ctx: &CallContext,
        started: Instant,
        error: Option<&ProviderError>,
    ) {
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match error {
            None => {
                tracing::debug!(provider = self.name, model = %self.model, call, request_id = %ctx.request_id, elapsed_ms, "upstream answered")
            }
            Some(e) => tracing::debug!(
                provider = self.name,
                model = %self.model,
                call,
                request_id = %ctx.request_id,
                elapsed_ms,
                kind = %e.kind(),
                status = e.status(),
                error = %e.message(),
                "upstream call failed"
            ),
        }
    }

    fn debug(&self, type_name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match self.auth {
            Auth::None => "none",
            Auth::Bearer(_) => "bearer [redacted]",
            Auth::ApiKeyHeader(_) => "api-key [redacted]",
        };
        let header_names: Vec<&str> = self.headers.keys().map(http::HeaderName::as_str).collect();
        f.debug_struct(type_name)
            .field("name", &self.name)
            .field("model", &self.model)
            .field("api_base", &self.api_base.as_str())
            .field("auth", &auth)
            .field("headers", &header_names)
            .finish_non_exhaustive()
    }
}

macro_rules! impl_provider {
    ($ty:ty) => {
        impl Provider for $ty {
            fn name(&self) -> &'static str {
                self.core.name
            }

            fn model(&self) -> &str {
                &self.core.model
            }

            fn chat<'a>(
                &'a self,
                req: &'a ChatRequest,
                ctx: &'a CallContext,
            ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
                Box::pin(self.core.chat(req, ctx))
            }

            fn chat_stream<'a>(
                &'a self,
                req: &'a ChatRequest,
                ctx: &'a CallContext,
            ) -> BoxFuture<'a, Result<ChunkStream, ProviderError>> {
                Box::pin(self.core.chat_stream(req, ctx))
            }

            fn embeddings<'a>(
                &'a self,
                req: &'a EmbeddingsRequest,
                ctx: &'a CallContext,
            ) -> BoxFuture<'a, Result<EmbeddingsResponse, ProviderError>> {
                Box::pin(self.core.embeddings(req, ctx))
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.core.debug(stringify!($ty), f)
            }
        }
    };
}

impl_provider!(OpenAiProvider);
impl_provider!(AzureProvider);
