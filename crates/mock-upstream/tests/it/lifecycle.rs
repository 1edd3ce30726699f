//! Connections, fast mode and shutdown.

use std::time::Duration;

use serde_json::Value;
use switchyard_mock_upstream::{Behaviour, MockUpstream};

use crate::{chat, messages, openai_stream_text, sse_events, start};

#[tokio::test]
async fn connections_are_counted_so_reuse_is_visible() {
    let upstream = start().await;
    let pooled = reqwest::Client::new();
    for _ in 0..3 {
        let r = pooled
            .post(format!("{}/chat/completions", upstream.openai_base()))
            .json(&chat("gpt-4o", false))
            .send()
            .await
            .expect("request");
        r.bytes().await.expect("body");
    }
    assert_eq!(upstream.connections_accepted(), 1);
    let hits = upstream.hits();
    assert!(hits.iter().all(|h| h.connection == hits[0].connection));

    let unpooled = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    for _ in 0..2 {
        let r = unpooled
            .post(format!("{}/chat/completions", upstream.openai_base()))
            .json(&chat("gpt-4o", false))
            .send()
            .await
            .expect("request");
        r.bytes().await.expect("body");
    }
    assert_eq!(upstream.connections_accepted(), 3);
}

#[tokio::test]
async fn fast_mode_serves_fixed_answers_without_a_hit_log() {
    let upstream = MockUpstream::builder()
        .fast(true)
        .start()
        .await
        .expect("start");
    assert!(upstream.is_fast());
    let client = reqwest::Client::new();
    let plain: Value = client
        .post(format!("{}/chat/completions", upstream.openai_base()))
        .json(&chat("anything", false))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(plain["object"], "chat.completion");
    assert_eq!(
        plain["choices"][0]["message"]["content"],
        "mock answer from mock-fast"
    );

    let stream = client
        .post(format!("{}/chat/completions", upstream.openai_base()))
        .json(&chat("anything", true))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert!(stream.ends_with("data: [DONE]\n\n"));
    assert_eq!(openai_stream_text(&stream), "mock answer from mock-fast");

    let anthropic = client
        .post(format!("{}/v1/messages", upstream.anthropic_base()))
        .json(&messages("claude", true))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert_eq!(
        sse_events(&anthropic).last().map(String::as_str),
        Some("message_stop")
    );

    // Scripting is off in fast mode: the answer stays the fixed one.
    upstream.script("anything", [Behaviour::status(500)]);
    let r = client
        .post(format!("{}/chat/completions", upstream.openai_base()))
        .json(&chat("anything", false))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    assert!(upstream.hits().is_empty());
    let control = client
        .get(format!("{}/__control/hits", upstream.base_url()))
        .send()
        .await
        .expect("request");
    assert_eq!(control.status(), 404);
}

#[tokio::test]
async fn shutdown_ends_hanging_requests_and_closes_the_port() {
    let upstream = start().await;
    upstream.script("gpt-4o", [Behaviour::Hang]);
    let addr = upstream.addr();
    let url = format!("{}/chat/completions", upstream.openai_base());
    let hanging = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .json(&chat("gpt-4o", false))
            .send()
            .await
    });
    // Wait until the request has arrived, so shutdown has something to end.
    while upstream.hits().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::timeout(Duration::from_secs(5), upstream.shutdown())
        .await
        .expect("shutdown does not wait for the hang");
    let outcome = hanging.await.expect("task");
    assert!(outcome.is_err(), "the hanging request gets no response");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let upstream = start().await;
    let addr = upstream.addr();
    drop(upstream);
    let mut refused = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "the port still accepts connections after drop");
}
