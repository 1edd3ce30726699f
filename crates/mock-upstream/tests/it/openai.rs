//! OpenAI and Azure OpenAI shapes of the default answers.

use serde_json::{Value, json};

use crate::{chat, openai_stream_text, sse_data, start};

#[tokio::test]
async fn chat_completion_has_the_openai_shape() {
    let upstream = start().await;
    let response = reqwest::Client::new()
        .post(format!("{}/chat/completions", upstream.openai_base()))
        .bearer_auth("sk-test-key-0001")
        .json(&chat("gpt-4o", false))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.expect("json body");
    assert!(
        body["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("chatcmpl-"))
    );
    assert_eq!(body["object"], "chat.completion");
    assert!(body["created"].as_u64().is_some_and(|t| t > 1_700_000_000));
    assert_eq!(body["model"], "gpt-4o");
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "mock answer from gpt-4o"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    let usage = &body["usage"];
    // "Say hello to the test suite" is 27 chars: 7 tokens; the answer is 22 chars: 6 tokens.
    assert_eq!(usage["prompt_tokens"], 7);
    assert_eq!(usage["completion_tokens"], 6);
    assert_eq!(usage["total_tokens"], 13);
}

#[tokio::test]
async fn chat_stream_ends_with_usage_and_done() {
    let upstream = start().await;
    let mut request = chat("gpt-4o-mini", true);
    request["stream_options"] = json!({"include_usage": true});
    let response = reqwest::Client::new()
        .post(format!("{}/chat/completions", upstream.openai_base()))
        .json(&request)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .is_ok_and(|ct| ct.starts_with("text/event-stream"))
    );
    let body = response.text().await.expect("whole stream");
    let data = sse_data(&body);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    assert_eq!(openai_stream_text(&body), "mock answer from gpt-4o-mini");

    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).expect("every chunk is JSON"))
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let usage_chunk = chunks.last().expect("a usage chunk");
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 7);
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    // Every chunk before the last carries `usage: null`, as OpenAI does when usage is asked for.
    assert!(
        chunks[..chunks.len() - 1]
            .iter()
            .all(|c| c["usage"].is_null())
    );
}

#[tokio::test]
async fn chat_stream_without_include_usage_has_no_usage_chunk() {
    let upstream = start().await;
    let body = reqwest::Client::new()
        .post(format!("{}/chat/completions", upstream.openai_base()))
        .json(&chat("gpt-4o", true))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("whole stream");
    let data = sse_data(&body);
    assert!(data.iter().all(|d| !d.contains("\"usage\"")));
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
}

#[tokio::test]
async fn azure_uses_the_deployment_from_the_path() {
    let upstream = start().await;
    let client = reqwest::Client::new();
    let url = format!(
        "{}/openai/deployments/prod-gpt4/chat/completions?api-version=2024-10-21",
        upstream.azure_endpoint()
    );
    let body: Value = client
        .post(&url)
        .header("api-key", "azure-key-9876")
        .json(&json!({"messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json body");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "mock answer from prod-gpt4"
    );
    assert!(body["prompt_filter_results"].is_array());

    let stream = client
        .post(&url)
        .json(&json!({"stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("whole stream");
    let first: Value = serde_json::from_str(&sse_data(&stream)[0]).expect("json");
    // Azure's first chunk has no choices and an empty model: clients must skip it.
    assert_eq!(first["choices"], json!([]));
    assert!(first["prompt_filter_results"].is_array());
    assert_eq!(openai_stream_text(&stream), "mock answer from prod-gpt4");

    let hits = upstream.hits_for("prod-gpt4");
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].query.as_deref(), Some("api-version=2024-10-21"));
    assert_eq!(hits[0].header("api-key"), Some("***9876"));
}

#[tokio::test]
async fn azure_without_api_version_is_not_found() {
    let upstream = start().await;
    let response = reqwest::Client::new()
        .post(format!(
            "{}/openai/deployments/prod-gpt4/chat/completions",
            upstream.azure_endpoint()
        ))
        .json(&chat("x", false))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn embeddings_and_models() {
    let upstream = start().await;
    let client = reqwest::Client::new();
    let body: Value = client
        .post(format!("{}/embeddings", upstream.openai_base()))
        .json(&json!({"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 4}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(body["object"], "list");
    assert_eq!(body["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(body["data"][1]["index"], 1);
    assert_eq!(
        body["data"][0]["embedding"].as_array().map(Vec::len),
        Some(4)
    );
    assert_ne!(body["data"][0]["embedding"], body["data"][1]["embedding"]);

    // The official SDKs ask for base64: 4 little-endian f32s are 16 bytes, 24 base64 chars.
    let b64: Value = client
        .post(format!("{}/embeddings", upstream.openai_base()))
        .json(&json!({"model": "m", "input": "a", "dimensions": 4, "encoding_format": "base64"}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(b64["data"][0]["embedding"].as_str().map(str::len), Some(24));

    upstream.script("my-model", [switchyard_mock_upstream::Behaviour::success()]);
    let models: Value = client
        .get(format!("{}/models", upstream.openai_base()))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let ids: Vec<&str> = models["data"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"gpt-4o") && ids.contains(&"my-model"),
        "{ids:?}"
    );
}

#[tokio::test]
async fn requests_the_provider_would_reject_are_rejected() {
    let upstream = start().await;
    let client = reqwest::Client::new();
    let url = format!("{}/chat/completions", upstream.openai_base());
    let not_json = client
        .post(&url)
        .body("{nope")
        .send()
        .await
        .expect("request");
    assert_eq!(not_json.status(), 400);
    let no_model = client
        .post(&url)
        .json(&json!({"messages": []}))
        .send()
        .await
        .expect("request");
    assert_eq!(no_model.status(), 400);
    let unknown = client
        .post(format!("{}/completion", upstream.openai_base()))
        .json(&chat("gpt-4o", false))
        .send()
        .await
        .expect("request");
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("/v1/completion"))
    );
    // Rejections are still recorded, so a test can see what its client sent.
    assert_eq!(upstream.hits().len(), 3);
    assert!(upstream.hits().iter().all(|h| h.behaviour == "rejected"));
}
