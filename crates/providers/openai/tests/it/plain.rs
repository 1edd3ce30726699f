//! Plain answers: what goes upstream (model, headers, body) and what comes back.

use provider::{EmbeddingsRequest, FinishReason, Provider, StreamOptions};
use serde_json::json;
use switchyard_openai::OpenAiProvider;

use crate::support::{self, KEY, ctx, request};

#[tokio::test]
async fn chat_sends_the_configured_model_and_returns_the_answer() {
    let upstream = support::mock().await;
    let provider = OpenAiProvider::builder("gpt-4o")
        .api_key(KEY)
        .api_base(format!("{}//", upstream.openai_base()))
        .organization("org-42")
        .project("proj-7")
        .extra_headers([("x-team", "search")])
        .build()
        .expect("builds");
    let mut req = request();
    req.stream = Some(true);
    req.stream_options = Some(StreamOptions::include_usage(true));
    req.temperature = Some(0.2);
    req.extra
        .insert("logit_bias".to_owned(), json!({"50256": -100}));

    let response = provider.chat(&req, &ctx()).await.expect("a plain answer");
    assert_eq!(response.text(), Some("mock answer from gpt-4o"));
    assert_eq!(response.choices[0].finish_reason, Some(FinishReason::Stop));
    let usage = response.usage.expect("usage");
    assert_eq!(
        usage.total_tokens,
        usage.prompt_tokens + usage.completion_tokens
    );
    assert_eq!(
        response.extra.get("service_tier"),
        Some(&json!("default")),
        "unknown fields kept"
    );

    let hits = upstream.hits();
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert_eq!(
        (hit.method.as_str(), hit.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(
        hit.body["model"], "gpt-4o",
        "the provider's model, not the group name"
    );
    assert!(hit.body.get("stream").is_none() && hit.body.get("stream_options").is_none());
    assert_eq!(hit.body["temperature"], 0.2);
    assert_eq!(hit.body["logit_bias"]["50256"], -100);
    assert_eq!(hit.api_key_last4.as_deref(), Some("wxyz"));
    assert!(
        hit.header("authorization")
            .is_some_and(|v| v.starts_with("Bearer "))
    );
    assert_eq!(hit.header("openai-organization"), Some("org-42"));
    // HTTP/1.1 servers (Go's among them) refuse a request without a Host header.
    let authority = upstream.base_url().replace("http://", "");
    assert_eq!(hit.header("host"), Some(authority.as_str()));
    assert_eq!(hit.header("openai-project"), Some("proj-7"));
    assert_eq!(hit.header("x-team"), Some("search"));
    assert_eq!(hit.header("x-request-id"), Some("req-test-1"));
    assert_eq!(hit.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn chat_with_body_gives_the_upstream_body_that_reads_as_the_response() {
    let upstream = support::mock().await;
    let provider = support::openai(&upstream, "gpt-4o");
    let (response, body) = provider
        .chat_with_body(&request(), &ctx())
        .await
        .expect("a plain answer");
    let body = body.expect("an OpenAI answer is forwarded as it came");
    let as_sent: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(
        as_sent,
        serde_json::to_value(&response).expect("serializes")
    );
    assert_eq!(response.text(), Some("mock answer from gpt-4o"));
}

#[tokio::test]
async fn servers_without_a_key_get_no_authorization_header() {
    let upstream = support::mock().await;
    let provider = OpenAiProvider::builder("llama3.1")
        .api_base(upstream.openai_base())
        .provider_name("ollama")
        .build()
        .expect("builds");
    assert_eq!(provider.name(), "ollama");
    let response = provider.chat(&request(), &ctx()).await.expect("answer");
    assert_eq!(response.text(), Some("mock answer from llama3.1"));
    let hits = upstream.hits();
    assert!(hits[0].header("authorization").is_none());
}

#[tokio::test]
async fn embeddings_round_trip() {
    let upstream = support::mock().await;
    let provider = support::openai(&upstream, "text-embedding-3-small");
    let mut req = EmbeddingsRequest::new("embed-group", json!(["one", "two", "three"]));
    req.dimensions = Some(4);
    let response = provider.embeddings(&req, &ctx()).await.expect("embeddings");
    assert_eq!(response.data.len(), 3);
    assert_eq!(response.data[2]["index"], 2);
    assert_eq!(
        response.data[0]["embedding"].as_array().map(Vec::len),
        Some(4)
    );
    assert!(response.usage.prompt_tokens > 0);
    let hit = &upstream.hits()[0];
    assert_eq!(hit.path, "/v1/embeddings");
    assert_eq!(hit.body["model"], "text-embedding-3-small");
    assert_eq!(hit.body["dimensions"], 4);
}

#[tokio::test]
async fn the_default_health_check_is_one_tiny_chat() {
    let upstream = support::mock().await;
    let provider = support::openai(&upstream, "gpt-4o");
    provider.health_check(&ctx()).await.expect("healthy");
    let hits = upstream.hits();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].body["max_tokens"], 1);
}
