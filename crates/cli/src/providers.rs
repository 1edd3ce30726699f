//! Turns configured deployments into providers: the one place that names concrete provider crates.

use std::sync::Arc;

use anthropic::AnthropicProvider;
use mock::MockProvider;
use openai::{AzureProvider, OpenAiProvider};
use provider::Provider;
use proxy::{
    config::{DeploymentConfig, ProviderKind},
    wiring::ProviderFactory,
};
use secrecy::SecretString;

/// Builds OpenAI, Azure, Anthropic and mock providers, sharing one HTTP client per provider kind.
pub(crate) struct Factory {
    openai_client: openai::HttpClient,
    anthropic_client: reqwest::Client,
}

impl Factory {
    /// A factory with pooled clients.
    pub(crate) fn new() -> anyhow::Result<Self> {
        Ok(Factory {
            openai_client: openai::HttpClient::new()?,
            anthropic_client: anthropic::default_client()?,
        })
    }
}

fn secret(s: &proxy::config::Secret) -> SecretString {
    SecretString::from(s.expose().to_owned())
}

impl ProviderFactory for Factory {
    fn build(&self, d: &DeploymentConfig) -> Result<Arc<dyn Provider>, String> {
        let headers: Vec<(String, String)> = d
            .extra_headers
            .iter()
            .map(|h| {
                (
                    h.name.clone(),
                    secrecy::ExposeSecret::expose_secret(&h.value).to_owned(),
                )
            })
            .collect();
        Ok(match &d.provider {
            ProviderKind::OpenAi {
                model,
                api_base,
                api_key,
                organization,
            } => {
                let mut b = OpenAiProvider::builder(model.clone())
                    .client(self.openai_client.clone())
                    .extra_headers(headers);
                if let Some(base) = api_base {
                    b = b.api_base(base.clone());
                }
                if let Some(key) = api_key {
                    b = b.api_key(secret(key));
                }
                if let Some(org) = organization {
                    b = b.organization(org.clone());
                }
                Arc::new(b.build().map_err(|e| e.to_string())?)
            }
            ProviderKind::Azure {
                deployment,
                api_base,
                api_version,
                api_key,
            } => {
                let mut b = AzureProvider::builder(deployment.clone())
                    .client(self.openai_client.clone())
                    .api_base(api_base.clone())
                    .api_version(api_version.clone())
                    .extra_headers(headers);
                if let Some(key) = api_key {
                    b = b.api_key(secret(key));
                }
                Arc::new(b.build().map_err(|e| e.to_string())?)
            }
            ProviderKind::Anthropic {
                model,
                api_base,
                api_key,
            } => {
                let mut b = AnthropicProvider::builder(model.clone())
                    .client(self.anthropic_client.clone())
                    .extra_headers(headers);
                if let Some(base) = api_base {
                    b = b.api_base(base.clone());
                }
                if let Some(key) = api_key {
                    b = b.api_key(secret(key));
                }
                Arc::new(b.build().map_err(|e| e.to_string())?)
            }
            ProviderKind::Mock {
                model,
                response,
                failure,
                latency,
            } => {
                let mut b = MockProvider::builder(model.clone()).latency(*latency);
                if let Some(text) = response {
                    b = b.response(text.clone());
                }
                if let Some(f) = failure {
                    b = b.failure_rate(f.rate, f.kind);
                }
                Arc::new(b.build().map_err(|e| e.to_string())?)
            }
            other => {
                return Err(format!(
                    "provider `{}` is not supported by this build",
                    other.name()
                ));
            }
        })
    }
}
