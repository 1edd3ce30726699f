//! The EchoLM provider behind a Switchyard `Router`: two deployments, retries and a fallback.
//!
//! Run it with `cargo run --example router` (in `examples/provider-template`). It starts two
//! fake EchoLM servers, so it needs no key: `echo-large` answers every call with `503
//! overloaded`, `echo-small` answers normally. A request for `echo-large` is retried, then falls
//! back to `echo-small`, and the report says so. With a real EchoLM, build both providers with
//! the real `api_base` and key instead.

// The fake server of the tests; the example uses only part of it.
#[path = "../tests/it/fake_echolm.rs"]
#[expect(
    dead_code,
    reason = "the example uses only part of the fake server it shares with the tests"
)]
mod fake_echolm;

use std::{sync::Arc, time::Duration};

use switchyard_echolm::EchoLmProvider;
use switchyard_provider::{
    ChatRequest, Message,
    conformance::{Scenario, Upstream},
};
use switchyard_router::{DeploymentConfig, RequestOptions, Router};

use crate::fake_echolm::FakeEchoLm;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let overloaded = FakeEchoLm::start("key-large").await;
    overloaded.arrange(Scenario::Status503).await;
    let healthy = FakeEchoLm::start("key-small").await;

    // One HTTP client (one connection pool) for every EchoLM deployment.
    let client = switchyard_echolm::default_client()?;
    let large = EchoLmProvider::builder("echo-large")
        .api_base(overloaded.url())
        .api_key("key-large")
        .client(client.clone())
        .build()?;
    let small = EchoLmProvider::builder("echo-small")
        .api_base(healthy.url())
        .api_key("key-small")
        .client(client)
        .build()?;

    let router = Router::builder()
        .deployment(DeploymentConfig::new("echo-large", Arc::new(large)).id("echolm-large"))
        .deployment(DeploymentConfig::new("echo-small", Arc::new(small)).id("echolm-small"))
        // Two retries in a group, with short waits so the example is quick.
        .num_retries(2)
        .backoff(Duration::from_millis(20), Duration::from_millis(200))
        .fallbacks("echo-large", ["echo-small"])
        .build()?;

    let req = ChatRequest::new("echo-large", vec![Message::user("Hello, Switchyard!")]);
    let options = RequestOptions::new().timeout(Duration::from_secs(10));
    let answer = router.chat(&req, &options).await?;

    println!("answer:    {}", answer.value.text().unwrap_or_default());
    println!(
        "served by: {} (group {})",
        answer.report.final_deployment.as_deref().unwrap_or("?"),
        answer.report.final_group.as_deref().unwrap_or("?"),
    );
    println!(
        "retries:   {}, fallbacks: {}",
        answer.report.retries, answer.report.fallbacks
    );
    println!("hops:      {}", answer.report.hops());
    Ok(())
}
