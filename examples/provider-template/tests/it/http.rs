//! What the provider sends and how it reads the answers, over real HTTP.

use std::time::Duration;

use futures::StreamExt;
use switchyard_echolm::EchoLmProvider;
use switchyard_provider::{
    CallContext, ChatRequest, ErrorKind, Message, Provider, Tool,
    conformance::{Scenario, Upstream},
};

use crate::fake_echolm::FakeEchoLm;

async fn setup() -> (FakeEchoLm, EchoLmProvider) {
    let upstream = FakeEchoLm::start("test-key").await;
    let provider = EchoLmProvider::builder("echo-large")
        .api_base(upstream.url())
        .api_key("test-key")
        .build()
        .expect("valid settings");
    (upstream, provider)
}

#[tokio::test]
async fn sends_its_own_model_the_prompt_and_the_key() {
    let (upstream, provider) = setup().await;
    let mut req = ChatRequest::new(
        "client-group",
        vec![Message::system("Be brief."), Message::user("Hello there")],
    );
    req.max_tokens = Some(8);
    let answer = provider
        .chat(&req, &CallContext::new("r1"))
        .await
        .expect("success");
    assert_eq!(answer.text(), Some("echo: Hello there"));
    assert_eq!(answer.model, "echo-large");
    assert_eq!(answer.usage.map(|u| u.completion_tokens), Some(3));

    let sent = upstream.last_request().expect("a request arrived");
    assert_eq!(sent.authorization.as_deref(), Some("Bearer test-key"));
    assert_eq!(sent.body["model"], "echo-large", "never the client's group");
    assert_eq!(sent.body["prompt"], "system: Be brief.\nuser: Hello there");
    assert_eq!(sent.body["max_tokens"], 8);
    assert_eq!(sent.body["stream"], false);
}

#[tokio::test]
async fn a_stream_says_what_the_plain_answer_says() {
    let (_upstream, provider) = setup().await;
    let req = ChatRequest::new("g", vec![Message::user("one two three")]);
    let ctx = CallContext::new("r2");
    let plain = provider.chat(&req, &ctx).await.expect("plain");
    let chunks: Vec<_> = provider
        .chat_stream(&req, &ctx)
        .await
        .expect("stream")
        .collect()
        .await;
    let streamed: String = chunks
        .iter()
        .map(|chunk| chunk.as_ref().expect("no error").text().unwrap_or_default())
        .collect();
    assert_eq!(streamed.trim_end(), plain.text().unwrap_or_default());
}

#[tokio::test]
async fn unsupported_parameters_fail_without_a_request() {
    let (upstream, provider) = setup().await;
    let mut req = ChatRequest::new("g", vec![Message::user("hi")]);
    req.tools = Some(vec![Tool::function(
        "lookup",
        "looks a word up",
        serde_json::json!({"type": "object"}),
    )]);
    let error = provider
        .chat(&req, &CallContext::new("r3"))
        .await
        .expect_err("tools are not supported");
    assert_eq!(error.kind(), ErrorKind::UnsupportedParams);
    assert_eq!(upstream.hits().await, 0, "nothing was sent");
}

#[tokio::test]
async fn a_wrong_key_is_an_authentication_error() {
    let upstream = FakeEchoLm::start("right-key").await;
    let provider = EchoLmProvider::builder("echo-large")
        .api_base(upstream.url())
        .api_key("wrong-key")
        .build()
        .expect("valid settings");
    let req = ChatRequest::new("g", vec![Message::user("hi")]);
    let error = provider
        .chat(&req, &CallContext::new("r4"))
        .await
        .expect_err("401");
    assert_eq!(error.kind(), ErrorKind::Authentication);
    assert_eq!(error.status(), Some(401));
    assert_eq!(error.message(), "unknown API key");
}

#[tokio::test]
async fn the_attempt_time_limit_is_reported_as_a_timeout() {
    let (upstream, provider) = setup().await;
    upstream.arrange(Scenario::Hang).await;
    let req = ChatRequest::new("g", vec![Message::user("hi")]);
    let ctx = CallContext::new("r5").with_attempt_timeout(Duration::from_millis(100));
    let error = provider.chat(&req, &ctx).await.expect_err("hangs");
    assert_eq!(error.kind(), ErrorKind::Timeout);
    let error = provider
        .chat_stream(&req, &ctx)
        .await
        .err()
        .expect("the stream's headers never come");
    assert_eq!(error.kind(), ErrorKind::Timeout);
}

#[tokio::test]
async fn a_server_that_is_down_is_a_connection_error() {
    let (upstream, _) = setup().await;
    let url = upstream.url();
    drop(upstream);
    // Give the aborted server a moment to close its listener.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let provider = EchoLmProvider::builder("echo-large")
        .api_base(url)
        .build()
        .expect("valid settings");
    let req = ChatRequest::new("g", vec![Message::user("hi")]);
    let error = provider
        .chat(&req, &CallContext::new("r6"))
        .await
        .expect_err("nobody listens");
    assert_eq!(error.kind(), ErrorKind::Connection);
}
