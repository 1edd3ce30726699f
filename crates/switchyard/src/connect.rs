//! Turning a parsed model string into a provider: keys and endpoints from the environment
//! (or the builder), and one HTTP connection pool shared by every provider a client builds.

use std::{collections::HashMap, fmt, sync::Arc};

use provider::Provider;
use secrecy::SecretString;

use crate::{
    Error,
    model::{ModelSpec, ProviderKind},
};

/// `OPENAI_API_KEY`: the OpenAI key.
pub(crate) const OPENAI_API_KEY: &str = "OPENAI_API_KEY";
/// `OPENAI_API_BASE`: LiteLLM's name for the OpenAI endpoint (version path included).
pub(crate) const OPENAI_API_BASE: &str = "OPENAI_API_BASE";
/// `OPENAI_BASE_URL`: the official SDKs' name for it, read when `OPENAI_API_BASE` is unset.
#[cfg_attr(
    not(feature = "openai"),
    expect(dead_code, reason = "only the OpenAI provider reads it")
)]
pub(crate) const OPENAI_BASE_URL: &str = "OPENAI_BASE_URL";
/// `AZURE_API_KEY`: the Azure OpenAI resource key.
pub(crate) const AZURE_API_KEY: &str = "AZURE_API_KEY";
/// `AZURE_API_BASE`: the Azure OpenAI resource endpoint.
pub(crate) const AZURE_API_BASE: &str = "AZURE_API_BASE";
/// `AZURE_API_VERSION`: the Azure OpenAI data-plane API version.
pub(crate) const AZURE_API_VERSION: &str = "AZURE_API_VERSION";
/// `ANTHROPIC_API_KEY`: the Anthropic key.
pub(crate) const ANTHROPIC_API_KEY: &str = "ANTHROPIC_API_KEY";
/// `ANTHROPIC_API_BASE`: the Anthropic endpoint.
pub(crate) const ANTHROPIC_API_BASE: &str = "ANTHROPIC_API_BASE";

/// A function that reads one environment variable.
pub(crate) type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where settings come from: values given to the builder first, then the lookup function
/// (the process environment unless a test gave another). Empty values count as unset.
#[derive(Clone)]
pub(crate) struct Env {
    #[cfg_attr(
        not(any(feature = "openai", feature = "anthropic")),
        expect(dead_code, reason = "only the HTTP providers read settings")
    )]
    pub(crate) lookup: Lookup,
    pub(crate) values: HashMap<&'static str, SecretString>,
}

impl Env {
    pub(crate) fn process() -> Lookup {
        Arc::new(|name: &str| std::env::var(name).ok())
    }
}

#[cfg(any(feature = "openai", feature = "anthropic"))]
impl Env {
    fn get(&self, name: &'static str) -> Option<SecretString> {
        use secrecy::ExposeSecret;
        if let Some(v) = self.values.get(name) {
            return (!v.expose_secret().trim().is_empty()).then(|| v.clone());
        }
        (self.lookup)(name)
            .filter(|v| !v.trim().is_empty())
            .map(SecretString::from)
    }

    /// A setting that is not a secret (an endpoint, a version), as plain text.
    fn plain(&self, name: &'static str) -> Option<String> {
        use secrecy::ExposeSecret;
        self.get(name).map(|v| v.expose_secret().trim().to_owned())
    }
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut set: Vec<&str> = self.values.keys().copied().collect();
        set.sort_unstable();
        f.debug_struct("Env")
            .field("set_on_builder", &set)
            .finish_non_exhaustive()
    }
}

/// One connection pool per kind of HTTP provider of a client, each built on first need:
/// OpenAI-format providers send through [`openai::HttpClient`], Anthropic through reqwest.
#[derive(Default)]
pub(crate) struct HttpPool {
    #[cfg(feature = "openai")]
    openai: Option<openai::HttpClient>,
    #[cfg(feature = "anthropic")]
    anthropic: Option<reqwest::Client>,
}

impl HttpPool {
    #[cfg(feature = "openai")]
    fn openai(&mut self) -> Result<openai::HttpClient, Error> {
        if let Some(c) = &self.openai {
            return Ok(c.clone());
        }
        let built = openai::HttpClient::new().map_err(|e| Error::build("the HTTP client", e))?;
        self.openai = Some(built.clone());
        Ok(built)
    }

    #[cfg(feature = "anthropic")]
    fn anthropic(&mut self) -> Result<reqwest::Client, Error> {
        if let Some(c) = &self.anthropic {
            return Ok(c.clone());
        }
        let built = anthropic::default_client().map_err(|e| Error::build("the HTTP client", e))?;
        self.anthropic = Some(built.clone());
        Ok(built)
    }
}

/// Builds the provider a model string names. No network call happens here: a missing
/// key or endpoint is reported before anything is sent.
pub(crate) fn build_provider(
    spec: &ModelSpec,
    model: &str,
    env: &Env,
    http: &mut HttpPool,
) -> Result<Arc<dyn Provider>, Error> {
    match spec.provider {
        ProviderKind::OpenAi => openai_provider(spec, model, env, http),
        ProviderKind::Azure => azure_provider(spec, model, env, http),
        ProviderKind::Anthropic => anthropic_provider(spec, model, env, http),
        ProviderKind::Mock => mock_provider(spec, model),
    }
}

/// The error for a model whose provider's feature is off.
#[cfg(not(all(feature = "openai", feature = "anthropic", feature = "mock")))]
fn disabled(spec: &ModelSpec, model: &str) -> Error {
    Error::ProviderDisabled {
        model: model.to_owned(),
        provider: spec.provider.prefix(),
    }
}

#[cfg(feature = "openai")]
fn openai_provider(
    spec: &ModelSpec,
    model: &str,
    env: &Env,
    http: &mut HttpPool,
) -> Result<Arc<dyn Provider>, Error> {
    let base = env
        .plain(OPENAI_API_BASE)
        .or_else(|| env.plain(OPENAI_BASE_URL));
    let key = env.get(OPENAI_API_KEY);
    // OpenAI itself needs a key; a local OpenAI-compatible server (vLLM, Ollama) often
    // does not, and an upstream that does answers 401 with its own words.
    if key.is_none() && base.is_none() {
        return Err(Error::MissingKey {
            provider: "openai",
            env_var: OPENAI_API_KEY,
        });
    }
    let mut b = openai::OpenAiProvider::builder(spec.model.clone()).client(http.openai()?);
    if let Some(base) = base {
        b = b.api_base(base);
    }
    if let Some(key) = key {
        b = b.api_key(key);
    }
    let p = b
        .build()
        .map_err(|e| Error::build(format!("`{model}`"), e))?;
    Ok(Arc::new(p))
}

#[cfg(not(feature = "openai"))]
fn openai_provider(
    spec: &ModelSpec,
    model: &str,
    _env: &Env,
    _http: &mut HttpPool,
) -> Result<Arc<dyn Provider>, Error> {
    Err(disabled(spec, model))
}

#[cfg(feature = "openai")]
fn azure_provider(
    spec: &ModelSpec,
    model: &str,
    env: &Env,
    http: &mut HttpPool,
) -> Result<Arc<dyn Provider>, Error> {
    let key = env.get(AZURE_API_KEY).ok_or(Error::MissingKey {
        provider: "azure",
        env_var: AZURE_API_KEY,
    })?;
    let base = env.plain(AZURE_API_BASE).ok_or(Error::MissingApiBase {
        provider: "azure",
        env_var: AZURE_API_BASE,
    })?;
    let mut b = openai::AzureProvider::builder(spec.model.clone())
        .client(http.openai()?)
        .api_base(base)
        .api_key(key);
    if let Some(version) = env.plain(AZURE_API_VERSION) {
        b = b.api_version(version);
    }
    let p = b
        .build()
        .map_err(|e| Error::build(format!("`{model}`"), e))?;
    Ok(Arc::new(p))
}

#[cfg(not(feature = "openai"))]
fn azure_provider(
    spec: &ModelSpec,
    model: &str,
    _env: &Env,
    _http: &mut HttpPool,
) -> Result<Arc<dyn Provider>, Error> {
    // Azure lives in the openai crate, so it comes with that feature.
    Err(Error::ProviderDisabled {
        model: model.to_owned(),
        provider: if spec.provider == ProviderKind::Azure {
            "openai"
        } else {
            spec.provider.prefix()
        },
    })
}

#[cfg(feature = "anthropic")]
fn anthropic_provider(
    spec: &ModelSpec,
    model: &str,
    env: &Env,
    http: &mut HttpPool,
) -> Result<Arc<dyn Provider>, Error> {
    let base = env.plain(ANTHROPIC_API_BASE);
    let key = env.get(ANTHROPIC_API_KEY);
    if key.is_none() && base.is_none() {
        return Err(Error::MissingKey {
            provider: "anthropic",
            env_var: ANTHROPIC_API_KEY,
        });
    }
    let mut b = anthropic::AnthropicProvider::builder(spec.model.clone()).client(http.anthropic()?);
    if let Some(base) = base {
        b = b.api_base(base);
    }
    if let Some(key) = key {
        b = b.api_key(key);
    }
    let p = b
        .build()
        .map_err(|e| Error::build(format!("`{model}`"), e))?;
    Ok(Arc::new(p))
}

#[cfg(not(feature = "anthropic"))]
fn anthropic_provider(
    spec: &ModelSpec,
    model: &str,
    _env: &Env,
    _http: &mut HttpPool,
) -> Result<Arc<dyn Provider>, Error> {
    Err(disabled(spec, model))
}

#[cfg(feature = "mock")]
fn mock_provider(spec: &ModelSpec, _model: &str) -> Result<Arc<dyn Provider>, Error> {
    Ok(Arc::new(mock::MockProvider::new(spec.model.clone())))
}

#[cfg(not(feature = "mock"))]
fn mock_provider(spec: &ModelSpec, model: &str) -> Result<Arc<dyn Provider>, Error> {
    Err(disabled(spec, model))
}
