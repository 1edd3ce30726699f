//! The conformance kit: one call checks every rule of the `Provider` contract.

use std::sync::Arc;

use switchyard_echolm::EchoLmProvider;
use switchyard_provider::conformance::check_provider;

use crate::fake_echolm::FakeEchoLm;

#[tokio::test]
async fn echolm_keeps_the_provider_contract() {
    let upstream = FakeEchoLm::start("test-key").await;
    let provider = EchoLmProvider::builder("echo-large")
        .api_base(upstream.url())
        .api_key("test-key")
        .build()
        .expect("valid settings");
    // A failure says which check failed, which rule it broke, what happened and how to fix it.
    let report = check_provider(Arc::new(provider), &upstream)
        .await
        .unwrap_or_else(|failure| panic!("{failure}"));
    println!("{report}");
}
