//! `switchyard::Error`: what a [`Client`](crate::Client) call can fail with.

use std::time::Duration;

use retry_core::ErrorKind;
use router::{Report, RouterError};

/// A [`Client`](crate::Client) error: either the call could not be set up (a model string
/// that names no provider, a missing key, ...), or it was made and failed after every
/// retry and fallback ([`Error::Request`]).
///
/// Setup errors are found before any network call. Messages say what to do and never
/// contain a key.
///
/// Match on [`Error::kind`] to handle the guide's exception classes:
///
/// ```
/// use switchyard::{Error, ErrorKind};
///
/// fn advice(err: &Error) -> &'static str {
///     match err.kind() {
///         Some(ErrorKind::RateLimit) => "rate limited after retries: slow down",
///         Some(ErrorKind::Timeout) => "timed out after retries",
///         Some(_) => "failed after all retries",
///         None => "not sent: fix the client's configuration",
///     }
/// }
/// # let _ = advice;
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The model string starts with a provider prefix Switchyard does not know.
    #[error(
        "model `{model}` names the provider `{provider}`, which switchyard does not know: use openai/, azure/, anthropic/ or mock/ (openai/ also reaches any OpenAI-compatible server through OPENAI_API_BASE), or register a provider for it with ClientBuilder::provider"
    )]
    UnknownProvider {
        /// The model string as given.
        model: String,
        /// The unknown prefix (before the first `/`).
        provider: String,
    },
    /// The model string is empty or malformed.
    #[error("model `{model}` is not a valid model string: {reason}")]
    InvalidModel {
        /// The model string as given.
        model: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The model needs a provider whose cargo feature is turned off.
    #[error(
        "model `{model}` needs the {provider} provider, which this build of switchyard leaves out: enable the `{provider}` feature of the switchyard crate"
    )]
    ProviderDisabled {
        /// The model string as given.
        model: String,
        /// The provider (and feature) name.
        provider: &'static str,
    },
    /// The provider needs an API key and none was configured.
    #[error(
        "{provider} needs an API key: set the {env_var} environment variable or call ClientBuilder::{setter}",
        setter = .env_var.to_ascii_lowercase()
    )]
    MissingKey {
        /// The provider, such as `"openai"`.
        provider: &'static str,
        /// The environment variable that holds its key.
        env_var: &'static str,
    },
    /// The provider needs an endpoint and none was configured (Azure's resource endpoint).
    #[error(
        "{provider} needs its endpoint: set the {env_var} environment variable or call ClientBuilder::{setter}, with a URL like https://my-resource.openai.azure.com",
        setter = .env_var.to_ascii_lowercase()
    )]
    MissingApiBase {
        /// The provider, such as `"azure"`.
        provider: &'static str,
        /// The environment variable that holds the endpoint.
        env_var: &'static str,
    },
    /// A provider or the router refused its settings.
    #[error("cannot set up {what}: {source}")]
    Build {
        /// What was being set up (a model string, or `the router`).
        what: String,
        /// The builder's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The call was made and failed after its retries and fallbacks.
    #[error(transparent)]
    Request(#[from] RouterError),
}

impl Error {
    /// The kind of the final upstream error, for [`Error::Request`] (the guide's
    /// `RateLimitError`, `Timeout`, `ServiceUnavailableError`, ...); `None` when the call was
    /// never sent because the client's configuration is wrong.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            Error::Request(e) => Some(e.kind()),
            Error::UnknownProvider { .. }
            | Error::InvalidModel { .. }
            | Error::ProviderDisabled { .. }
            | Error::MissingKey { .. }
            | Error::MissingApiBase { .. }
            | Error::Build { .. } => None,
        }
    }

    /// The router's error, when the call was made.
    pub fn router_error(&self) -> Option<&RouterError> {
        match self {
            Error::Request(e) => Some(e),
            _ => None,
        }
    }

    /// Every attempt made, when the call was made.
    pub fn report(&self) -> Option<&Report> {
        self.router_error().map(RouterError::report)
    }

    /// When the caller may try again, if the upstream (or the cooldowns) said.
    pub fn retry_after(&self) -> Option<Duration> {
        self.router_error().and_then(RouterError::retry_after)
    }

    pub(crate) fn build(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Build {
            what: what.into(),
            source: Box::new(source),
        }
    }
}

/// `Result` with [`Error`] as its error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
