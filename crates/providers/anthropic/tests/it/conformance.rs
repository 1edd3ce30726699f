//! The provider crate's conformance kit, with mock-upstream playing each scenario in
//! Anthropic's wire format.

use std::sync::Arc;
use std::time::Duration;

use mock_upstream::{Behaviour, RunningMockUpstream, WILDCARD};
use provider::BoxFuture;
use provider::conformance::{Scenario, Upstream, check_provider};

use crate::support;

struct AnthropicUpstream(RunningMockUpstream);

impl Upstream for AnthropicUpstream {
    fn arrange<'a>(&'a self, scenario: Scenario) -> BoxFuture<'a, ()> {
        let behaviour = match scenario {
            Scenario::Success => Behaviour::success(),
            Scenario::Status429 { retry_after_secs } => {
                Behaviour::anthropic_rate_limit(Duration::from_secs(retry_after_secs))
            }
            // Bare statuses get Anthropic's error body for the endpoint (api_error,
            // authentication_error, ...).
            Scenario::Status500 => Behaviour::status(500),
            Scenario::Status503 => Behaviour::status(503),
            Scenario::Status401 => Behaviour::status(401),
            Scenario::ContextWindow400 => Behaviour::anthropic_prompt_too_long(),
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
async fn anthropic_provider_keeps_the_contract() {
    let upstream = AnthropicUpstream(support::mock().await);
    let provider = Arc::new(support::anthropic(&upstream.0, "claude-sonnet-4-5"));
    let report = check_provider(provider, &upstream)
        .await
        .unwrap_or_else(|f| panic!("{f}"));
    println!("{report}");
}
