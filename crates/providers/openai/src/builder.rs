//! Builders for [`OpenAiProvider`] and [`AzureProvider`]: every setting is checked in
//! `build()`, so a built provider never fails on its own configuration at call time.

use std::fmt;

use http::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};

use crate::http::HttpClient;
use crate::transport::Target;
use crate::upstream::{Auth, Core, Endpoints};
use crate::{AzureProvider, OpenAiProvider};

/// OpenAI's API base, version included: requests go to `{api_base}/chat/completions`.
pub const DEFAULT_API_BASE: &str = "https://api.openai.com/v1";

/// The Azure OpenAI data-plane API version used when none is set (the latest GA version
/// when this crate was written).
pub const DEFAULT_AZURE_API_VERSION: &str = "2024-10-21";

/// Why a provider could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The model or deployment name is empty.
    #[error("the {what} name is empty; set the upstream {what} this provider calls")]
    EmptyModel {
        /// `"model"` or `"deployment"`.
        what: &'static str,
    },
    /// The API base is not an absolute `http` or `https` URL.
    #[error(
        "api_base {api_base:?} is not usable: {reason}; write it like https://api.openai.com/v1"
    )]
    InvalidApiBase {
        /// The value given.
        api_base: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Azure needs its resource endpoint.
    #[error(
        "an Azure provider needs api_base, the resource endpoint, like https://my-resource.openai.azure.com"
    )]
    MissingApiBase,
    /// The Azure API version is empty or not a valid query value.
    #[error(
        "the Azure api_version {0:?} is not valid; use a version like {DEFAULT_AZURE_API_VERSION}"
    )]
    InvalidApiVersion(String),
    /// A header name or value cannot be sent (a newline in it, say).
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
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The TLS backend of the HTTP client could not be set up.
    #[error("cannot set up TLS for the HTTP client: {0}")]
    Tls(#[source] rustls::Error),
    /// The API base cannot be turned into a request URI.
    #[error(
        "api_base {api_base:?} cannot be used as a request URI; write it like https://api.openai.com/v1"
    )]
    UnusableUrl {
        /// The URL built from the API base.
        api_base: String,
    },
}

/// Configures an [`OpenAiProvider`]: OpenAI itself or any server that speaks its API
/// (vLLM, Ollama, LM Studio, llama.cpp, ...). Start with [`OpenAiProvider::builder`].
#[must_use]
pub struct OpenAiBuilder {
    model: String,
    name: &'static str,
    api_key: Option<SecretString>,
    api_base: Option<String>,
    organization: Option<String>,
    project: Option<String>,
    extra_headers: Vec<(String, String)>,
    client: Option<HttpClient>,
}

impl OpenAiBuilder {
    pub(crate) fn new(model: String) -> Self {
        OpenAiBuilder {
            model,
            name: "openai",
            api_key: None,
            api_base: None,
            organization: None,
            project: None,
            extra_headers: Vec::new(),
            client: None,
        }
    }

    /// The API key, sent as `Authorization: Bearer ...`. Leave it unset for servers
    /// that need none (a local Ollama or vLLM).
    pub fn api_key(mut self, key: impl Into<SecretString>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The API base *including* the version path, as in LiteLLM: `https://api.openai.com/v1`
    /// (the default), `http://localhost:8000/v1` for vLLM, `http://localhost:11434/v1` for
    /// Ollama. Trailing slashes are ignored.
    pub fn api_base(mut self, api_base: impl Into<String>) -> Self {
        self.api_base = Some(api_base.into());
        self
    }

    /// The `OpenAI-Organization` header.
    pub fn organization(mut self, organization: impl Into<String>) -> Self {
        self.organization = Some(organization.into());
        self
    }

    /// The `OpenAI-Project` header.
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// Headers sent with every request, after the ones this crate sets (so they can
    /// override them). Values are treated as sensitive: never logged or shown in `Debug`.
    pub fn extra_headers<K, V>(mut self, headers: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.extra_headers
            .extend(headers.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// The HTTP client to use, so that several providers share one connection pool: an
    /// [`HttpClient`], or a [`reqwest::Client`] you configured (proxies, root certificates).
    /// Without it the provider builds its own with [`HttpClient::new`].
    pub fn client(mut self, client: impl Into<HttpClient>) -> Self {
        self.client = Some(client.into());
        self
    }

    /// The provider kind reported in errors, logs and metrics (default `"openai"`); name
    /// OpenAI-compatible servers for what they are: `"vllm"`, `"ollama"`.
    pub fn provider_name(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// Checks the settings and builds the provider.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the setting that is wrong.
    pub fn build(self) -> Result<OpenAiProvider, BuildError> {
        if self.model.trim().is_empty() {
            return Err(BuildError::EmptyModel { what: "model" });
        }
        let base = parse_base(self.api_base.as_deref().unwrap_or(DEFAULT_API_BASE))?;
        let endpoints = Endpoints {
            chat: target(join(&base, &["chat", "completions"]))?,
            embeddings: target(join(&base, &["embeddings"]))?,
        };
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("openai-organization", &self.organization),
            ("openai-project", &self.project),
        ] {
            if let Some(value) = value {
                insert_header(&mut headers, name, value, false)?;
            }
        }
        for (name, value) in &self.extra_headers {
            insert_header(&mut headers, name, value, true)?;
        }
        let auth = match self.api_key {
            Some(key) => Auth::bearer(key)?,
            None => Auth::None,
        };
        let client = match self.client {
            Some(client) => client,
            None => HttpClient::new()?,
        };
        Ok(OpenAiProvider {
            core: Core {
                name: self.name,
                model: self.model,
                api_base: base,
                endpoints,
                auth_header: auth.header(),
                auth,
                headers,
                client,
            },
        })
    }
}

impl fmt::Debug for OpenAiBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiBuilder")
            .field("model", &self.model)
            .field("name", &self.name)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("api_base", &self.api_base)
            .field("organization", &self.organization)
            .field("project", &self.project)
            .field("extra_headers", &header_names(&self.extra_headers))
            .finish_non_exhaustive()
    }
}

/// Configures an [`AzureProvider`]. Start with [`AzureProvider::builder`].
#[must_use]
pub struct AzureBuilder {
    deployment: String,
    api_key: Option<SecretString>,
    ad_token: Option<SecretString>,
    api_base: Option<String>,
    api_version: String,
    extra_headers: Vec<(String, String)>,
    client: Option<HttpClient>,
}

impl AzureBuilder {
    pub(crate) fn new(deployment: String) -> Self {
        AzureBuilder {
            deployment,
            api_key: None,
            ad_token: None,
            api_base: None,
            api_version: DEFAULT_AZURE_API_VERSION.to_owned(),
            extra_headers: Vec::new(),
            client: None,
        }
    }

    /// The resource endpoint, like `https://my-resource.openai.azure.com` (required). A
    /// trailing `/openai` or trailing slashes are tolerated.
    pub fn api_base(mut self, api_base: impl Into<String>) -> Self {
        self.api_base = Some(api_base.into());
        self
    }

    /// The data-plane API version, sent as `?api-version=` (default
    /// [`DEFAULT_AZURE_API_VERSION`]).
    pub fn api_version(mut self, api_version: impl Into<String>) -> Self {
        self.api_version = api_version.into();
        self
    }

    /// The resource key, sent in the `api-key` header.
    pub fn api_key(mut self, key: impl Into<SecretString>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// A Microsoft Entra ID (Azure AD) token, sent as `Authorization: Bearer ...`, for
    /// resources that use it instead of a key. When both are set, the key is used.
    pub fn azure_ad_token(mut self, token: impl Into<SecretString>) -> Self {
        self.ad_token = Some(token.into());
        self
    }

    /// Headers sent with every request (values never logged or shown in `Debug`).
    pub fn extra_headers<K, V>(mut self, headers: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.extra_headers
            .extend(headers.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// The HTTP client to use, so that several providers share one connection pool: an
    /// [`HttpClient`], or a [`reqwest::Client`] you configured (proxies, root certificates).
    /// Without it the provider builds its own with [`HttpClient::new`].
    pub fn client(mut self, client: impl Into<HttpClient>) -> Self {
        self.client = Some(client.into());
        self
    }

    /// Checks the settings and builds the provider.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the setting that is wrong; [`BuildError::MissingApiBase`]
    /// without an endpoint.
    pub fn build(self) -> Result<AzureProvider, BuildError> {
        if self.deployment.trim().is_empty() {
            return Err(BuildError::EmptyModel { what: "deployment" });
        }
        let version = self.api_version.trim();
        if version.is_empty()
            || !version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(BuildError::InvalidApiVersion(self.api_version));
        }
        let mut base = parse_base(self.api_base.as_deref().ok_or(BuildError::MissingApiBase)?)?;
        // LiteLLM users sometimes write the endpoint with `/openai` already on it.
        if base.path().trim_end_matches('/').ends_with("/openai")
            && let Ok(mut segments) = base.path_segments_mut()
        {
            segments.pop_if_empty().pop();
        }
        let endpoint = |last: &[&str]| {
            let mut url = join(
                &base,
                &[&["openai", "deployments", self.deployment.as_str()], last].concat(),
            );
            url.query_pairs_mut().append_pair("api-version", version);
            url
        };
        let endpoints = Endpoints {
            chat: target(endpoint(&["chat", "completions"]))?,
            embeddings: target(endpoint(&["embeddings"]))?,
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &self.extra_headers {
            insert_header(&mut headers, name, value, true)?;
        }
        let auth = match (self.api_key, self.ad_token) {
            (Some(key), _) => Auth::api_key_header(key)?,
            (None, Some(token)) => Auth::bearer(token)?,
            (None, None) => Auth::None,
        };
        let client = match self.client {
            Some(client) => client,
            None => HttpClient::new()?,
        };
        Ok(AzureProvider {
            core: Core {
                name: "azure",
                model: self.deployment,
                api_base: base,
                endpoints,
                auth_header: auth.header(),
                auth,
                headers,
                client,
            },
        })
    }
}

impl fmt::Debug for AzureBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureBuilder")
            .field("deployment", &self.deployment)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field(
                "azure_ad_token",
                &self.ad_token.as_ref().map(|_| "[redacted]"),
            )
            .field("api_base", &self.api_base)
            .field("api_version", &self.api_version)
            .field("extra_headers", &header_names(&self.extra_headers))
            .finish_non_exhaustive()
    }
}

fn header_names(headers: &[(String, String)]) -> Vec<&str> {
    headers.iter().map(|(name, _)| name.as_str()).collect()
}

/// Parses an API base: absolute, `http` or `https`, no query or fragment, trailing
/// slashes removed.
fn parse_base(api_base: &str) -> Result<Url, BuildError> {
    let invalid = |reason: &str| BuildError::InvalidApiBase {
        api_base: shown_base(api_base),
        reason: reason.to_owned(),
    };
    let trimmed = api_base.trim().trim_end_matches('/');
    let url = Url::parse(trimmed).map_err(|e| invalid(&e.to_string()))?;
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

/// A URL in both the forms a request needs.
fn target(url: Url) -> Result<Target, BuildError> {
    let shown = shown_base(url.as_str());
    Target::new(url).ok_or(BuildError::UnusableUrl { api_base: shown })
}

/// `base` with path segments appended (each percent-encoded as one segment).
fn join(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
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

impl Auth {
    fn bearer(token: SecretString) -> Result<Auth, BuildError> {
        check_key(&token)?;
        Ok(Auth::Bearer(token))
    }

    fn api_key_header(key: SecretString) -> Result<Auth, BuildError> {
        check_key(&key)?;
        Ok(Auth::ApiKeyHeader(key))
    }
}

fn check_key(key: &SecretString) -> Result<(), BuildError> {
    HeaderValue::from_str(key.expose_secret())
        .map(|_| ())
        .map_err(|_| BuildError::InvalidApiKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_join_with_or_without_trailing_slashes() -> Result<(), BuildError> {
        for base in [
            "https://api.openai.com/v1",
            "https://api.openai.com/v1/",
            "https://api.openai.com/v1//",
        ] {
            let url = join(&parse_base(base)?, &["chat", "completions"]);
            assert_eq!(url.as_str(), "https://api.openai.com/v1/chat/completions");
        }
        let url = join(&parse_base("http://localhost:11434")?, &["embeddings"]);
        assert_eq!(url.as_str(), "http://localhost:11434/embeddings");
        Ok(())
    }

    #[test]
    fn bad_bases_are_rejected_with_the_reason() {
        for base in [
            "",
            "api.openai.com/v1",
            "ftp://x/v1",
            "https://x/v1?key=abc",
            "https://user:pw@x/v1",
        ] {
            assert!(
                matches!(parse_base(base), Err(BuildError::InvalidApiBase { .. })),
                "{base}"
            );
        }
        let message = parse_base("https://user:pw@x/v1?key=abc")
            .map(|_| ())
            .err()
            .map(|e| e.to_string());
        let message = message.unwrap_or_default();
        assert!(
            !message.contains("abc") && !message.contains("pw"),
            "{message}"
        );
    }
}
