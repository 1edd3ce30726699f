//! The provider crate's conformance kit, with mock-upstream playing each scenario.

use std::sync::Arc;
use std::time::Duration;

use mock_upstream::{Behaviour, RunningMockUpstream, WILDCARD};
use provider::BoxFuture;
use provider::conformance::{Scenario, Upstream, check_provider};

use crate::support;

/// Plays scenarios in OpenAI's wire format (also Azure's: same bodies, other URLs).
struct OpenAiUpstream(RunningMockUpstream);

impl Upstream for OpenAiUpstream {
    fn arrange<'a>(&'a self, scenario: Scenario) -> BoxFuture<'a, ()> {
        let behaviour = match scenario {
            Scenario::Success => Behaviour::success(),
            Scenario::Status429 { retry_after_secs } => {
                Behaviour::openai_rate_limit(Duration::from_secs(retry_after_secs))
            }
            Scenario::Status500 => Behaviour::openai_server_error(500),
            Scenario::Status503 => Behaviour::openai_server_error(503),
            Scenario::Status401 => Behaviour::openai_invalid_api_key(),
            Scenario::ContextWindow400 => Behaviour::openai_context_length_exceeded(),
            Scenario::Hang => Behaviour::Hang,
            Scenario::CutStream { after_chunks } => Behaviour::CutStream { after_chunks },
            Scenario::ErrorEventInStream => Behaviour::StreamErrorEvent { after_chunks: 0 },
            Scenario::MalformedJson => Behaviour::MalformedJson,
        };
        Box::pin(async move {
            self.0.reset();
            self.0.always(WILDCARD, behaviour);
        })
    }

    fn hits<'a>(&'a self) -> BoxFuture<'a, usize> {
        Box::pin(async move { self.0.hits().len() })
    }
}

#[tokio::test]
async fn openai_provider_keeps_the_contract() {
    let upstream = OpenAiUpstream(support::mock().await);
    let provider = Arc::new(support::openai(&upstream.0, "gpt-4o"));
    let report = check_provider(provider, &upstream)
        .await
        .unwrap_or_else(|f| panic!("{f}"));
    println!("{report}");
}

#[tokio::test]
async fn azure_provider_keeps_the_contract() {
    let upstream = OpenAiUpstream(support::mock().await);
    let provider = Arc::new(support::azure(&upstream.0, "my-gpt-4o"));
    let report = check_provider(provider, &upstream)
        .await
        .unwrap_or_else(|f| panic!("{f}"));
    println!("{report}");
}
