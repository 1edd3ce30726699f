//! Azure OpenAI: URL and header shape, and the key never showing in errors or `Debug`.

use mock_upstream::{Behaviour, WILDCARD};
use provider::{EmbeddingsRequest, ErrorKind, Provider};
use serde_json::json;
use switchyard_openai::{AzureProvider, BuildError};

use crate::support::{self, AZURE_KEY, ctx, request};

#[tokio::test]
async fn azure_calls_the_deployment_url_with_the_api_key_header() {
    let upstream = support::mock().await;
    let provider = AzureProvider::builder("my-gpt-4o")
        .api_base(format!("{}/openai/", upstream.azure_endpoint()))
        .api_version("2024-06-01")
        .api_key(AZURE_KEY)
        .build()
        .expect("builds");
    assert_eq!(provider.name(), "azure");
    assert_eq!(provider.model(), "my-gpt-4o");
    assert_eq!(
        provider.chat_url().as_str(),
        format!(
            "{}/openai/deployments/my-gpt-4o/chat/completions?api-version=2024-06-01",
            upstream.azure_endpoint()
        )
    );

    let response = provider.chat(&request(), &ctx()).await.expect("answer");
    assert_eq!(response.text(), Some("mock answer from my-gpt-4o"));
    let (chunks, error) = support::stream_of(&provider, &request(), &ctx()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(support::text_of(&chunks), "mock answer from my-gpt-4o");
    assert!(
        chunks.iter().all(|c| !c.choices.is_empty()),
        "Azure's empty preamble chunk is skipped"
    );
    provider
        .embeddings(&EmbeddingsRequest::new("g", json!("hi")), &ctx())
        .await
        .expect("embeddings");

    let hits = upstream.hits();
    assert_eq!(hits.len(), 3);
    for hit in &hits[..2] {
        assert_eq!(hit.path, "/openai/deployments/my-gpt-4o/chat/completions");
    }
    assert_eq!(hits[2].path, "/openai/deployments/my-gpt-4o/embeddings");
    for hit in &hits {
        assert_eq!(hit.query.as_deref(), Some("api-version=2024-06-01"));
        assert_eq!(hit.deployment.as_deref(), Some("my-gpt-4o"));
        assert_eq!(hit.api_key_last4.as_deref(), Some("cdef"));
        assert!(hit.header("api-key").is_some());
        assert!(
            hit.header("authorization").is_none(),
            "Azure keys go in api-key, not Authorization"
        );
    }
}

#[tokio::test]
async fn the_key_never_shows_in_errors_or_debug() {
    let upstream = support::mock().await;
    let provider = support::azure(&upstream, "dep");
    // An upstream that echoes the key back in its error message.
    upstream.always(
        WILDCARD,
        Behaviour::status_with(
            401,
            json!({"error": {"code": "401", "message": format!("Access denied due to invalid subscription key {AZURE_KEY}. Make sure to provide a valid key.")}}),
            Vec::new(),
        ),
    );
    let e = provider.chat(&request(), &ctx()).await.expect_err("denied");
    assert_eq!(e.kind(), ErrorKind::Authentication);
    for shown in [e.to_string(), format!("{e:?}"), format!("{provider:?}")] {
        assert!(!shown.contains(AZURE_KEY), "{shown}");
    }
    assert!(format!("{provider:?}").contains("[redacted]"));

    let builder = AzureProvider::builder("dep")
        .api_base("https://x.openai.azure.com")
        .api_key(AZURE_KEY);
    assert!(!format!("{builder:?}").contains(AZURE_KEY));

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let refused = AzureProvider::builder("dep")
        .api_base(format!("http://127.0.0.1:{port}"))
        .api_key(AZURE_KEY)
        .build()
        .expect("builds");
    let e = refused.chat(&request(), &ctx()).await.expect_err("refused");
    assert_eq!(e.kind(), ErrorKind::Connection);
    assert!(!e.to_string().contains(AZURE_KEY) && !format!("{e:?}").contains(AZURE_KEY));
}

#[test]
fn azure_settings_are_checked_at_build_time() {
    assert!(matches!(
        AzureProvider::builder("dep").api_key(AZURE_KEY).build(),
        Err(BuildError::MissingApiBase)
    ));
    assert!(matches!(
        AzureProvider::builder("dep")
            .api_base("https://x.openai.azure.com")
            .api_version("2024 06")
            .build(),
        Err(BuildError::InvalidApiVersion(_))
    ));
    assert!(matches!(
        AzureProvider::builder("")
            .api_base("https://x.openai.azure.com")
            .build(),
        Err(BuildError::EmptyModel { .. })
    ));
    assert!(matches!(
        AzureProvider::builder("dep")
            .api_base("https://x.openai.azure.com")
            .api_key("line\nbreak")
            .build(),
        Err(BuildError::InvalidApiKey)
    ));
    assert!(matches!(
        AzureProvider::builder("dep")
            .api_base("https://x.openai.azure.com")
            .extra_headers([("bad header", "v")])
            .build(),
        Err(BuildError::InvalidHeader { .. })
    ));
}
