//! [`OpenAiProvider`] and [`AzureProvider`]: two faces of one transport core that differ only
//! in URLs and the auth header.

use std::fmt;
use std::time::Instant;

use bytes::Bytes;
use futures::StreamExt;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue};
use provider::{
    BoxFuture, CallContext, ChatRequest, ChatResponse, ChunkBodyStream, ChunkStream,
    EmbeddingsRequest, EmbeddingsResponse, Provider, ProviderError,
};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};

use crate::builder::{AzureBuilder, OpenAiBuilder};
use crate::chat::{self, Mode};
use crate::http::HttpClient;
use crate::stream;
use crate::transport::{self, Answer, Limit, Target};

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
        &self.core.endpoints.chat.url
    }
}

impl AzureProvider {
    /// Starts configuring a provider that calls the Azure deployment `deployment`.
    pub fn builder(deployment: impl Into<String>) -> AzureBuilder {
        AzureBuilder::new(deployment.into())
    }

    /// The chat completions URL requests go to (with its `api-version` query).
    pub fn chat_url(&self) -> &Url {
        &self.core.endpoints.chat.url
    }
}

/// `x-request-id`, built once (inserting with a `&str` validates the name on every call).
static X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// How a request proves who it is.
pub(crate) enum Auth {
    /// No credentials (local servers).
    None,
    /// `Authorization: Bearer {secret}`.
    Bearer(SecretString),
    /// Azure's `api-key: {secret}`.
    ApiKeyHeader(SecretString),
}

impl Auth {
    /// The header carrying the credentials, marked sensitive (never shown by `Debug`); built
    /// once per provider, not per request. The key was checked to be a valid header value
    /// when the provider was built.
    pub(crate) fn header(&self) -> Option<(http::HeaderName, HeaderValue)> {
        let (name, mut value) = match self {
            Auth::None => return None,
            Auth::Bearer(token) => (
                AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {}", token.expose_secret())).ok()?,
            ),
            Auth::ApiKeyHeader(key) => (
                http::HeaderName::from_static("api-key"),
                HeaderValue::from_str(key.expose_secret()).ok()?,
            ),
        };
        value.set_sensitive(true);
        Some((name, value))
    }
}

/// The URLs one provider calls, built once.
pub(crate) struct Endpoints {
    pub(crate) chat: Target,
    pub(crate) embeddings: Target,
}

/// Everything a call needs; shared by both provider types.
pub(crate) struct Core {
    pub(crate) name: &'static str,
    pub(crate) model: String,
    pub(crate) api_base: Url,
    pub(crate) endpoints: Endpoints,
    pub(crate) auth: Auth,
    /// `auth` as a header, built once.
    pub(crate) auth_header: Option<(http::HeaderName, HeaderValue)>,
    /// Organization, project and extra headers, validated at build time.
    pub(crate) headers: HeaderMap,
    pub(crate) client: HttpClient,
}

impl Core {
    /// The headers of a request: ours, then the configured ones (which may override ours).
    fn headers(&self, ctx: &CallContext, accept: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::with_capacity(self.headers.len() + 4);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(ACCEPT, HeaderValue::from_static(accept));
        if !ctx.request_id.is_empty()
            && let Ok(id) = HeaderValue::from_str(&ctx.request_id)
        {
            headers.insert(X_REQUEST_ID.clone(), id);
        }
        if let Some((name, value)) = &self.auth_header {
            headers.insert(name.clone(), value.clone());
        }
        // Extra headers last, so a user can override what we set.
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        headers
    }

    /// Sends one request to `target` and waits for a `2xx` answer's headers.
    async fn send(
        &self,
        target: &Target,
        body: Vec<u8>,
        ctx: &CallContext,
        accept: &'static str,
        limit: Limit,
    ) -> Result<Answer, ProviderError> {
        let headers = self.headers(ctx, accept);
        transport::send(
            self.name,
            &self.client,
            target,
            headers,
            body,
            ctx.time_left(),
            limit,
        )
        .await
    }

    /// A plain JSON call: the whole answer body, within the attempt's limit.
    async fn call_json(
        &self,
        target: &Target,
        body: Vec<u8>,
        ctx: &CallContext,
    ) -> Result<Bytes, ProviderError> {
        let answer = self
            .send(target, body, ctx, "application/json", Limit::WholeCall)
            .await?;
        transport::read_body(self.name, target, answer).await
    }

    /// A chat completion, and the upstream's body when it is one as it stands.
    async fn chat(
        &self,
        req: &ChatRequest,
        ctx: &CallContext,
    ) -> Result<(ChatResponse, Option<Bytes>), ProviderError> {
        let started = Instant::now();
        let result = async {
            let body = chat::request_body(self.name, &self.model, req, Mode::Plain)?;
            let bytes = self.call_json(&self.endpoints.chat, body, ctx).await?;
            let (response, verbatim) = chat::parse_response(self.name, &bytes)?;
            Ok((response, verbatim.then_some(bytes)))
        }
        .await;
        self.trace("chat", ctx, started, result.as_ref().err());
        result
    }

    async fn chat_stream(
        &self,
        req: &ChatRequest,
        ctx: &CallContext,
    ) -> Result<ChunkBodyStream, ProviderError> {
        let started = Instant::now();
        let result = async {
            let body = chat::request_body(self.name, &self.model, req, Mode::Stream)?;
            let target = &self.endpoints.chat;
            let answer = self
                .send(target, body, ctx, "text/event-stream", Limit::UntilHeaders)
                .await?;
            Ok(stream::chunks(self.name, answer, req.wants_stream_usage()))
        }
        .await;
        self.trace("chat_stream", ctx, started, result.as_ref().err());
        result
    }

    async fn embeddings(
        &self,
        req: &EmbeddingsRequest,
        ctx: &CallContext,
    ) -> Result<EmbeddingsResponse, ProviderError> {
        let started = Instant::now();
        let result = async {
            let body = chat::embeddings_body(self.name, &self.model, req)?;
            let bytes = self
                .call_json(&self.endpoints.embeddings, body, ctx)
                .await?;
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
                Box::pin(
                    async move { self.core.chat(req, ctx).await.map(|(response, _)| response) },
                )
            }

            fn chat_with_body<'a>(
                &'a self,
                req: &'a ChatRequest,
                ctx: &'a CallContext,
            ) -> BoxFuture<'a, Result<(ChatResponse, Option<Bytes>), ProviderError>> {
                Box::pin(self.core.chat(req, ctx))
            }

            fn chat_stream<'a>(
                &'a self,
                req: &'a ChatRequest,
                ctx: &'a CallContext,
            ) -> BoxFuture<'a, Result<ChunkStream, ProviderError>> {
                Box::pin(async move {
                    let chunks = self.core.chat_stream(req, ctx).await?;
                    let chunks: ChunkStream =
                        Box::pin(chunks.map(|item| item.map(|(chunk, _)| chunk)));
                    Ok(chunks)
                })
            }

            fn chat_stream_with_bodies<'a>(
                &'a self,
                req: &'a ChatRequest,
                ctx: &'a CallContext,
            ) -> BoxFuture<'a, Result<ChunkBodyStream, ProviderError>> {
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
