//! [`AnthropicProvider`], its builder, and one Messages API call per provider call.

use std::fmt;
use std::time::Instant;

use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue};
use provider::{
    BoxFuture, CallContext, ChatRequest, ChatResponse, ChunkStream, Provider, ProviderError,
};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};

use crate::stream;
use crate::translate::{self, DEFAULT_MAX_TOKENS};
use crate::transport::{self, Limit};

/// Anthropic's API base; requests go to `{api_base}/v1/messages`.
pub const DEFAULT_API_BASE: &str = "https://api.anthropic.com";

/// The `anthropic-version` header sent unless another is set.
pub const DEFAULT_ANTHROPIC_VERSION: &str = "2023-06-01";

/// Why a provider could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The model name is empty.
    #[error(
        "the model name is empty; set the Anthropic model this provider calls, like claude-sonnet-4-5"
    )]
    EmptyModel,
    /// The API base is not an absolute `http` or `https` URL.
    #[error(
        "api_base {api_base:?} is not usable: {reason}; write it like https://api.anthropic.com"
    )]
    InvalidApiBase {
        /// The value given, without any query or user info.
        api_base: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A header name or value cannot be sent.
    #[error("header {name:?} cannot be sent: its name or value is not valid in HTTP")]
    InvalidHeader {
        /// The header's name (values are never shown: they may be secrets).
        name: String,
    },
    /// The API key contains characters that cannot go in an HTTP header.
    #[error(
        "the API key contains characters that are not valid in an HTTP header (a trailing newline?)"
    )]
    InvalidApiKey,
    /// `max_tokens` default of zero.
    #[error("the default max_tokens must be at least 1")]
    ZeroMaxTokens,
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// A provider for Anthropic's Messages API, translating the canonical OpenAI-shaped
/// requests and answers both ways.
///
/// Build one with [`AnthropicProvider::builder`]. Each call makes exactly one HTTP request
/// and sends the configured model, not `req.model`. `Debug` never shows the key.
pub struct AnthropicProvider {
    model: String,
    api_base: Url,
    messages_url: Url,
    api_key: Option<SecretString>,
    /// `anthropic-version`, `anthropic-beta` and extra headers, validated at build time.
    headers: HeaderMap,
    default_max_tokens: u32,
    client: reqwest::Client,
}

impl AnthropicProvider {
    /// Starts configuring a provider that calls `model` (like `claude-sonnet-4-5`).
    pub fn builder(model: impl Into<String>) -> AnthropicBuilder {
        AnthropicBuilder {
            model: model.into(),
            api_key: None,
            api_base: None,
            version: DEFAULT_ANTHROPIC_VERSION.to_owned(),
            betas: Vec::new(),
            extra_headers: Vec::new(),
            default_max_tokens: DEFAULT_MAX_TOKENS,
            client: None,
        }
    }

    /// The Messages API URL requests go to.
    pub fn messages_url(&self) -> &Url {
        &self.messages_url
    }

    fn request(
        &self,
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
        // Checked to be a valid header value when the provider was built.
        if let Some(key) = &self.api_key
            && let Ok(mut value) = HeaderValue::from_str(key.expose_secret())
        {
            value.set_sensitive(true);
            headers.insert("x-api-key", value);
        }
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        self.client
            .post(self.messages_url.clone())
            .headers(headers)
            .body(body)
    }

    fn body(&self, req: &ChatRequest, stream: bool) -> Result<Vec<u8>, ProviderError> {
        let body = translate::request_body(
            self.name(),
            &self.model,
            req,
            stream,
            self.default_max_tokens,
        )?;
        serde_json::to_vec(&body).map_err(|e| {
            ProviderError::new(
                provider::ErrorKind::BadRequest,
                self.name(),
                format!("the request cannot be written as JSON: {e}"),
            )
        })
    }

    async fn chat_once(
        &self,
        req: &ChatRequest,
        ctx: &CallContext,
    ) -> Result<ChatResponse, ProviderError> {
        let started = Instant::now();
        let result = async {
            let body = self.body(req, false)?;
            let response = transport::send(
                self.name(),
                self.request(ctx, body, "application/json"),
                ctx.time_left(),
                Limit::WholeCall,
            )
            .await?;
            let bytes = transport::read_body(self.name(), response).await?;
            translate::parse_response(self.name(), &bytes)
        }
        .await;
        self.trace("chat", ctx, started, result.as_ref().err());
        result
    }

    async fn stream_once(
        &self,
        req: &ChatRequest,
        ctx: &CallContext,
    ) -> Result<ChunkStream, ProviderError> {
        let started = Instant::now();
        let result = async {
            let body = self.body(req, true)?;
            let request = self.request(ctx, body, "text/event-stream");
            let response =
                transport::send(self.name(), request, ctx.time_left(), Limit::UntilHeaders).await?;
            Ok(stream::chunks(
                self.name(),
                response,
                req.wants_stream_usage(),
            ))
        }
        .await;
        self.trace("chat_stream", ctx, started, result.as_ref().err());
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
                tracing::debug!(provider = "anthropic", model = %self.model, call, request_id = %ctx.request_id, elapsed_ms, "upstream answered")
            }
            Some(e) => tracing::debug!(
                provider = "anthropic",
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
}

impl Provider for AnthropicProvider {
    fn name(&self) -> &'static str {
        "anthropic"
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(self.chat_once(req, ctx))
    }

    fn chat_stream<'a>(
        &'a self,
        req: &'a ChatRequest,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<ChunkStream, ProviderError>> {
        Box::pin(self.stream_once(req, ctx))
    }
}

impl fmt::Debug for AnthropicProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.keys().map(HeaderName::as_str).collect();
        f.debug_struct("AnthropicProvider")
            .field("model", &self.model)
            .field("api_base", &self.api_base.as_str())
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("headers", &header_names)
            .field("default_max_tokens", &self.default_max_tokens)
            .finish_non_exhaustive()
    }
}

/// Configures an [`AnthropicProvider`]. Start with [`AnthropicProvider::builder`].
#[must_use]
pub struct AnthropicBuilder {
    model: String,
    api_key: Option<SecretString>,
    api_base: Option<String>,
    version: String,
    betas: Vec<String>,
    extra_headers: Vec<(String, String)>,
    default_max_tokens: u32,
    client: Option<reqwest::Client>,
}

impl AnthropicBuilder {
    /// The API key, sent in the `x-api-key` header.
    pub fn api_key(mut self, key: impl Into<SecretString>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The API base without the version path (default [`DEFAULT_API_BASE`]); requests go to
    /// `{api_base}/v1/messages`. Trailing slashes are ignored.
    pub fn api_base(mut self, api_base: impl Into<String>) -> Self {
        self.api_base = Some(api_base.into());
        self
    }

    /// The `anthropic-version` header (default [`DEFAULT_ANTHROPIC_VERSION`]).
    pub fn anthropic_version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Adds a beta feature to the `anthropic-beta` header (several are joined with commas).
    pub fn beta(mut self, beta: impl Into<String>) -> Self {
        self.betas.push(beta.into());
        self
    }

    /// `max_tokens` sent when a request sets neither `max_completion_tokens` nor
    /// `max_tokens` (Anthropic requires one). Default [`DEFAULT_MAX_TOKENS`], 4096.
    pub fn default_max_tokens(mut self, max_tokens: u32) -> Self {
        self.default_max_tokens = max_tokens;
        self
    }

    /// Headers sent with every request, after the ones this crate sets (so they can
    /// override them). Values are never logged or shown in `Debug`.
    pub fn extra_headers<K, V>(mut self, headers: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.extra_headers
            .extend(headers.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// The HTTP client to use, so that several providers share one connection pool.
    /// Without it the provider builds its own with [`default_client`](crate::default_client).
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Checks the settings and builds the provider.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the setting that is wrong.
    pub fn build(self) -> Result<AnthropicProvider, BuildError> {
        if self.model.trim().is_empty() {
            return Err(BuildError::EmptyModel);
        }
        if self.default_max_tokens == 0 {
            return Err(BuildError::ZeroMaxTokens);
        }
        let raw_base = self.api_base.as_deref().unwrap_or(DEFAULT_API_BASE);
        let api_base = parse_base(raw_base)?;
        let mut messages_url = api_base.clone();
        if let Ok(mut path) = messages_url.path_segments_mut() {
            path.pop_if_empty().extend(["v1", "messages"]);
        }
        let mut headers = HeaderMap::new();
        insert_header(&mut headers, "anthropic-version", &self.version, false)?;
        if !self.betas.is_empty() {
            insert_header(&mut headers, "anthropic-beta", &self.betas.join(","), false)?;
        }
        for (name, value) in &self.extra_headers {
            insert_header(&mut headers, name, value, true)?;
        }
        if let Some(key) = &self.api_key {
            HeaderValue::from_str(key.expose_secret()).map_err(|_| BuildError::InvalidApiKey)?;
        }
        let client = match self.client {
            Some(client) => client,
            None => crate::default_client()?,
        };
        Ok(AnthropicProvider {
            model: self.model,
            api_base,
            messages_url,
            api_key: self.api_key,
            headers,
            default_max_tokens: self.default_max_tokens,
            client,
        })
    }
}

impl fmt::Debug for AnthropicBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self
            .extra_headers
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        f.debug_struct("AnthropicBuilder")
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("api_base", &self.api_base)
            .field("anthropic_version", &self.version)
            .field("betas", &self.betas)
            .field("extra_headers", &header_names)
            .field("default_max_tokens", &self.default_max_tokens)
            .finish_non_exhaustive()
    }
}

fn parse_base(api_base: &str) -> Result<Url, BuildError> {
    let shown = shown_base(api_base);
    let invalid = |reason: &str| BuildError::InvalidApiBase {
        api_base: shown.clone(),
        reason: reason.to_owned(),
    };
    let url =
        Url::parse(api_base.trim().trim_end_matches('/')).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it must not have a query or a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("credentials belong in api_key, not in the URL"));
    }
    Ok(url)
}

/// An API base as it may be shown in an error: without a query, a fragment or user info,
/// any of which could carry a secret.
fn shown_base(api_base: &str) -> String {
    let cut = api_base
        .find(['?', '#'])
        .map_or(api_base, |i| &api_base[..i]);
    match (cut.find("://"), cut.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}[redacted]@{}", &cut[..scheme_end + 3], &cut[at + 1..])
        }
        _ => cut.to_owned(),
    }
}

fn insert_header(
    headers: &mut HeaderMap,
    name: &str,
    value: &str,
    sensitive: bool,
) -> Result<(), BuildError> {
    let invalid = || BuildError::InvalidHeader {
        name: name.to_owned(),
    };
    let header_name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| invalid())?;
    let mut header_value = HeaderValue::from_str(value).map_err(|_| invalid())?;
    header_value.set_sensitive(sensitive);
    headers.insert(header_name, header_value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_url_from_base() -> Result<(), BuildError> {
        for base in [
            "https://api.anthropic.com",
            "https://api.anthropic.com/",
            "http://127.0.0.1:9/proxy/",
        ] {
            let provider = AnthropicProvider::builder("claude")
                .api_base(base)
                .build()?;
            assert!(
                provider.messages_url().as_str().ends_with("/v1/messages"),
                "{}",
                provider.messages_url()
            );
            assert!(
                !provider.messages_url().as_str().contains("//v1"),
                "{}",
                provider.messages_url()
            );
        }
        Ok(())
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(matches!(
            AnthropicProvider::builder(" ").build(),
            Err(BuildError::EmptyModel)
        ));
        assert!(matches!(
            AnthropicProvider::builder("m").api_base("ftp://x").build(),
            Err(BuildError::InvalidApiBase { .. })
        ));
        let error = AnthropicProvider::builder("m")
            .api_base("https://u:secretpw@x")
            .build()
            .err();
        assert!(
            !error
                .map(|e| e.to_string())
                .unwrap_or_default()
                .contains("secretpw")
        );
        assert!(matches!(
            AnthropicProvider::builder("m").api_key("key\n").build(),
            Err(BuildError::InvalidApiKey)
        ));
        assert!(matches!(
            AnthropicProvider::builder("m")
                .default_max_tokens(0)
                .build(),
            Err(BuildError::ZeroMaxTokens)
        ));
    }
}
