//! Model strings (`"openai/gpt-4o"`, `"azure/my-deployment"`, `"gpt-4o"`, ...): which
//! provider they name and which upstream model.

use std::fmt;

use crate::Error;

/// The providers a model string can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ProviderKind {
    OpenAi,
    Azure,
    Anthropic,
    Mock,
}

impl ProviderKind {
    /// The prefix of model strings, which is also the cargo feature's name.
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Azure => "azure",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Mock => "mock",
        }
    }

    fn from_prefix(prefix: &str) -> Option<Self> {
        Some(match prefix {
            "openai" => ProviderKind::OpenAi,
            "azure" => ProviderKind::Azure,
            "anthropic" => ProviderKind::Anthropic,
            "mock" => ProviderKind::Mock,
            _ => return None,
        })
    }
}

/// A parsed model string: the provider and the model (or Azure deployment) it calls.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ModelSpec {
    pub(crate) provider: ProviderKind,
    pub(crate) model: String,
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider.prefix(), self.model)
    }
}

impl ModelSpec {
    /// Parses a model string as LiteLLM does: `provider/model` with the provider before
    /// the first `/` (so `openai/meta-llama/Llama-3.1-8B` calls `meta-llama/Llama-3.1-8B`
    /// on an OpenAI-compatible server), or a bare name: `claude-*` is Anthropic's, any
    /// other bare name is OpenAI's.
    pub(crate) fn parse(model: &str) -> Result<ModelSpec, Error> {
        let invalid = |reason| Error::InvalidModel {
            model: model.to_owned(),
            reason,
        };
        if model.is_empty() {
            return Err(invalid(
                "it is empty; name a model, like openai/gpt-4o or mock/demo",
            ));
        }
        if model.trim() != model {
            return Err(invalid("it starts or ends with whitespace; remove it"));
        }
        if model.chars().any(char::is_control) {
            return Err(invalid("it contains a control character"));
        }
        let Some((prefix, rest)) = model.split_once('/') else {
            let provider = if model.starts_with("claude") {
                ProviderKind::Anthropic
            } else {
                ProviderKind::OpenAi
            };
            return Ok(ModelSpec {
                provider,
                model: model.to_owned(),
            });
        };
        let Some(provider) = ProviderKind::from_prefix(prefix) else {
            return Err(Error::UnknownProvider {
                model: model.to_owned(),
                provider: prefix.to_owned(),
            });
        };
        if rest.is_empty() {
            return Err(invalid(
                "nothing follows the provider prefix; name the model after it, like openai/gpt-4o",
            ));
        }
        if rest.trim() != rest {
            return Err(invalid(
                "the model after the provider prefix starts or ends with whitespace; remove it",
            ));
        }
        Ok(ModelSpec {
            provider,
            model: rest.to_owned(),
        })
    }
}
