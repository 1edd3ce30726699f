//! Anthropic Messages shapes of the default answers.

use serde_json::Value;

use crate::{messages, sse_data, sse_events, start};

fn request(client: &reqwest::Client, base: &str) -> reqwest::RequestBuilder {
    client
        .post(format!("{base}/v1/messages"))
        .header("x-api-key", "sk-ant-test-5678")
        .header("anthropic-version", "2023-06-01")
}

#[tokio::test]
async fn message_has_the_anthropic_shape() {
    let upstream = start().await;
    let response = request(&reqwest::Client::new(), &upstream.anthropic_base())
        .json(&messages("claude-sonnet-4-5", false))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("request-id"));
    let body: Value = response.json().await.expect("json");
    assert!(body["id"].as_str().is_some_and(|id| id.starts_with("msg_")));
    assert_eq!(body["type"], "message");
    assert_eq!(body["role"], "assistant");
    assert_eq!(body["model"], "claude-sonnet-4-5");
    assert_eq!(body["content"][0]["type"], "text");
    assert_eq!(
        body["content"][0]["text"],
        "mock answer from claude-sonnet-4-5"
    );
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(body["usage"]["input_tokens"], 7);
    assert_eq!(body["usage"]["output_tokens"], 9);

    let hit = &upstream.hits()[0];
    assert_eq!(hit.api_key_last4.as_deref(), Some("5678"));
    assert_eq!(hit.header("x-api-key"), Some("***5678"));
    assert_eq!(hit.body["max_tokens"], 64);
}

#[tokio::test]
async fn stream_sends_the_documented_event_sequence() {
    let upstream = start().await;
    let body = request(&reqwest::Client::new(), &upstream.anthropic_base())
        .json(&messages("claude-haiku", true))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("whole stream");
    let events = sse_events(&body);
    assert_eq!(
        events,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let data: Vec<Value> = sse_data(&body)
        .iter()
        .map(|d| serde_json::from_str(d).expect("every event is JSON"))
        .collect();
    let text: String = data
        .iter()
        .filter(|d| d["type"] == "content_block_delta")
        .map(|d| {
            assert_eq!(d["delta"]["type"], "text_delta");
            d["delta"]["text"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(text, "mock answer from claude-haiku");
    let delta = data
        .iter()
        .find(|d| d["type"] == "message_delta")
        .expect("message_delta");
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 8);
}

#[tokio::test]
async fn missing_version_header_or_max_tokens_is_a_400() {
    let upstream = start().await;
    let client = reqwest::Client::new();
    let no_version = client
        .post(format!("{}/v1/messages", upstream.anthropic_base()))
        .json(&messages("claude", false))
        .send()
        .await
        .expect("request");
    assert_eq!(no_version.status(), 400);
    let body: Value = no_version.json().await.expect("json");
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let mut without_max = messages("claude", false);
    without_max
        .as_object_mut()
        .expect("an object")
        .remove("max_tokens");
    let no_max = request(&client, &upstream.anthropic_base())
        .json(&without_max)
        .send()
        .await
        .expect("request");
    assert_eq!(no_max.status(), 400);
}
