//! The `/__control/` API over HTTP, and the hit log.

use serde_json::{Value, json};

use crate::{chat, start};

#[tokio::test]
async fn script_over_http_then_observe_hits_and_reset() {
    let upstream = start().await;
    let client = reqwest::Client::new();
    let control = format!("{}/__control", upstream.base_url());

    let scripted: Value = client
        .post(format!("{control}/script"))
        .json(&json!({
            "deployment": "gpt-4o",
            "behaviours": [
                {"type": "status", "status": 429, "headers": {"retry-after": "3"},
                 "body": {"error": {"message": "slow down", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}},
                {"type": "success", "content": "scripted hello", "delay": "10ms"}
            ]
        }))
        .send()
        .await
        .expect("script")
        .json()
        .await
        .expect("json");
    assert_eq!(scripted["queued"], 2);

    let chat_url = format!("{}/chat/completions", upstream.openai_base());
    let first = client
        .post(&chat_url)
        .bearer_auth("sk-proj-first-key-AAAA")
        .json(&chat("gpt-4o", false))
        .send()
        .await
        .expect("request");
    assert_eq!(first.status(), 429);
    assert_eq!(first.headers()["retry-after"], "3");
    let second: Value = client
        .post(&chat_url)
        .bearer_auth("sk-proj-second-key-BBBB")
        .json(&chat("gpt-4o", false))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(second["choices"][0]["message"]["content"], "scripted hello");

    let hits: Value = client
        .get(format!("{control}/hits"))
        .send()
        .await
        .expect("hits")
        .json()
        .await
        .expect("json");
    let hits = hits["hits"].as_array().expect("a list");
    assert_eq!(hits.len(), 2, "control calls are not recorded");
    assert_eq!(hits[0]["method"], "POST");
    assert_eq!(hits[0]["path"], "/v1/chat/completions");
    assert_eq!(hits[0]["deployment"], "gpt-4o");
    assert_eq!(hits[0]["behaviour"], "status");
    assert_eq!(hits[0]["headers"]["authorization"], "Bearer ***AAAA");
    assert_eq!(hits[0]["api_key_last4"], "AAAA");
    assert_eq!(hits[1]["api_key_last4"], "BBBB");
    assert_eq!(
        hits[1]["body"]["messages"][0]["content"],
        "Say hello to the test suite"
    );
    assert!(hits[0]["at_ms"].as_u64() <= hits[1]["at_ms"].as_u64());
    // The raw key appears nowhere in the log.
    assert!(
        !serde_json::to_string(hits)
            .expect("json")
            .contains("sk-proj")
    );

    let stats: Value = client
        .get(format!("{control}/stats"))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["hits"], 2);
    assert!(stats["connections_accepted"].as_u64() >= Some(1));

    client
        .post(format!("{control}/reset"))
        .send()
        .await
        .expect("reset");
    assert!(upstream.hits().is_empty());
}

#[tokio::test]
async fn always_over_http_sets_and_clears() {
    let upstream = start().await;
    let client = reqwest::Client::new();
    let always = format!("{}/__control/always", upstream.base_url());
    let chat_url = format!("{}/chat/completions", upstream.openai_base());
    let status = |r: reqwest::Response| r.status().as_u16();

    client
        .post(&always)
        .json(&json!({"deployment": "*", "behaviour": {"type": "status", "status": 503}}))
        .send()
        .await
        .expect("set");
    for model in ["a", "b"] {
        let r = client
            .post(&chat_url)
            .json(&chat(model, false))
            .send()
            .await
            .expect("request");
        assert_eq!(status(r), 503);
    }
    client
        .post(&always)
        .json(&json!({"deployment": "*", "behaviour": null}))
        .send()
        .await
        .expect("clear");
    let r = client
        .post(&chat_url)
        .json(&chat("a", false))
        .send()
        .await
        .expect("request");
    assert_eq!(status(r), 200);
}

#[tokio::test]
async fn control_and_rust_api_share_one_state() {
    let upstream = start().await;
    upstream.script("gpt-4o", [switchyard_mock_upstream::Behaviour::Hang]);
    let stats: Value = reqwest::get(format!("{}/__control/stats", upstream.base_url()))
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["queued"]["gpt-4o"], 1);
}
