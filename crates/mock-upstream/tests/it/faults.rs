//! Scripted faults as a client sees them.

use std::time::{Duration, Instant};

use serde_json::Value;
use switchyard_mock_upstream::{Behaviour, Step};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::{chat, messages, openai_stream_text, read_until_end, sse_data, sse_events, start};

async fn post_chat(client: &reqwest::Client, base: &str, body: &Value) -> reqwest::Response {
    client
        .post(format!("{base}/chat/completions"))
        .json(body)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn scripted_rate_limit_then_success() {
    let upstream = start().await;
    upstream.script(
        "gpt-4o",
        [Behaviour::openai_rate_limit(Duration::from_millis(1500))],
    );
    let client = reqwest::Client::new();
    let base = upstream.openai_base();

    let first = post_chat(&client, &base, &chat("gpt-4o", false)).await;
    assert_eq!(first.status(), 429);
    let headers = first.headers().clone();
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("retry-after").as_deref(), Some("2"));
    assert_eq!(header("retry-after-ms").as_deref(), Some("1500"));
    assert_eq!(
        header("x-ratelimit-reset-requests").as_deref(),
        Some("1.5s")
    );
    let body: Value = first.json().await.expect("json error body");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");

    let second = post_chat(&client, &base, &chat("gpt-4o", false)).await;
    assert_eq!(second.status(), 200);
    // Other deployments were never affected.
    assert_eq!(upstream.queued("gpt-4o"), 0);
    let kinds: Vec<String> = upstream.hits().into_iter().map(|h| h.behaviour).collect();
    assert_eq!(kinds, ["status", "success"]);
}

#[tokio::test]
async fn scripts_are_per_deployment_with_wildcard_and_always() {
    let upstream = start().await;
    upstream.script("a", [Behaviour::openai_server_error(503)]);
    upstream.script("*", [Behaviour::html_error_page(502)]);
    upstream.always("b", Behaviour::openai_context_length_exceeded());
    let client = reqwest::Client::new();
    let base = upstream.openai_base();
    let status = |r: reqwest::Response| r.status().as_u16();

    assert_eq!(
        status(post_chat(&client, &base, &chat("a", false)).await),
        503
    );
    let html = post_chat(&client, &base, &chat("a", false)).await;
    assert_eq!(html.status(), 502);
    assert_eq!(html.headers()["content-type"], "text/html");
    assert!(html.text().await.expect("body").contains("502 Bad Gateway"));
    assert_eq!(
        status(post_chat(&client, &base, &chat("a", false)).await),
        200
    );

    for _ in 0..2 {
        let refused = post_chat(&client, &base, &chat("b", false)).await;
        assert_eq!(refused.status(), 400);
        let body: Value = refused.json().await.expect("json");
        assert_eq!(body["error"]["code"], "context_length_exceeded");
    }
    upstream.clear_always("b");
    assert_eq!(
        status(post_chat(&client, &base, &chat("b", false)).await),
        200
    );
}

#[tokio::test]
async fn bare_status_gets_an_error_body_in_the_endpoint_shape() {
    let upstream = start().await;
    upstream.script("claude", [Behaviour::status(529)]);
    upstream.script("gpt", [Behaviour::status(500)]);
    let client = reqwest::Client::new();
    let anthropic = client
        .post(format!("{}/v1/messages", upstream.anthropic_base()))
        .header("anthropic-version", "2023-06-01")
        .json(&messages("claude", false))
        .send()
        .await
        .expect("request");
    assert_eq!(anthropic.status(), 529);
    let body: Value = anthropic.json().await.expect("json");
    assert_eq!(body["error"]["type"], "overloaded_error");

    let openai = post_chat(&client, &upstream.openai_base(), &chat("gpt", false)).await;
    assert_eq!(openai.status(), 500);
    let body: Value = openai.json().await.expect("json");
    assert_eq!(body["error"]["type"], "server_error");
}

#[tokio::test]
async fn anthropic_rate_limit_carries_reset_timestamp() {
    let upstream = start().await;
    upstream.script(
        "claude",
        [Behaviour::anthropic_rate_limit(Duration::from_secs(10))],
    );
    let response = reqwest::Client::new()
        .post(format!("{}/v1/messages", upstream.anthropic_base()))
        .header("anthropic-version", "2023-06-01")
        .json(&messages("claude", false))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "10");
    let reset = response.headers()["anthropic-ratelimit-requests-reset"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(reset.ends_with('Z') && reset.contains('T'), "{reset}");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["type"], "rate_limit_error");
}

#[tokio::test]
async fn cut_stream_drops_the_connection_after_the_chunks() {
    let upstream = start().await;
    upstream.script("gpt-4o", [Behaviour::CutStream { after_chunks: 2 }]);
    let response = post_chat(
        &reqwest::Client::new(),
        &upstream.openai_base(),
        &chat("gpt-4o", true),
    )
    .await;
    assert_eq!(response.status(), 200);
    let (text, failed) = read_until_end(response).await;
    assert!(failed, "the body must end in an error, got {text:?}");
    assert_eq!(openai_stream_text(&text), "mock answer");
    assert!(!text.contains("[DONE]"));
    assert!(!text.contains("finish_reason\":\"stop"));
}

#[tokio::test]
async fn cut_stream_on_anthropic_stops_before_message_stop() {
    let upstream = start().await;
    upstream.script("claude", [Behaviour::CutStream { after_chunks: 0 }]);
    let response = reqwest::Client::new()
        .post(format!("{}/v1/messages", upstream.anthropic_base()))
        .header("anthropic-version", "2023-06-01")
        .json(&messages("claude", true))
        .send()
        .await
        .expect("request");
    let (text, failed) = read_until_end(response).await;
    assert!(failed);
    assert_eq!(
        sse_events(&text),
        ["message_start", "content_block_start", "ping"]
    );
}

#[tokio::test]
async fn cut_on_a_plain_request_truncates_the_body() {
    let upstream = start().await;
    upstream.script("gpt-4o", [Behaviour::CutStream { after_chunks: 0 }]);
    let response = post_chat(
        &reqwest::Client::new(),
        &upstream.openai_base(),
        &chat("gpt-4o", false),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(response.json::<Value>().await.is_err());
}

#[tokio::test]
async fn error_event_inside_a_200_stream() {
    let upstream = start().await;
    upstream.script("gpt-4o", [Behaviour::StreamErrorEvent { after_chunks: 1 }]);
    upstream.script("claude", [Behaviour::StreamErrorEvent { after_chunks: 0 }]);
    let client = reqwest::Client::new();

    let response = post_chat(&client, &upstream.openai_base(), &chat("gpt-4o", true)).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("the stream ends cleanly");
    let data = sse_data(&text);
    let last: Value = serde_json::from_str(data.last().expect("events")).expect("json");
    assert_eq!(last["error"]["type"], "server_error");
    assert_eq!(openai_stream_text(&text), "mock");
    assert!(!text.contains("[DONE]"));

    let response = client
        .post(format!("{}/v1/messages", upstream.anthropic_base()))
        .header("anthropic-version", "2023-06-01")
        .json(&messages("claude", true))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("the stream ends cleanly");
    assert_eq!(
        sse_events(&text),
        ["message_start", "content_block_start", "ping", "error"]
    );
    let error: Value = serde_json::from_str(sse_data(&text).last().expect("events")).expect("json");
    assert_eq!(error["error"]["type"], "overloaded_error");
}

#[tokio::test]
async fn close_connection_sends_no_response_at_all() {
    let upstream = start().await;
    upstream.script("gpt-4o", [Behaviour::CloseConnection]);
    let mut tcp = tokio::net::TcpStream::connect(upstream.addr())
        .await
        .expect("connect");
    let body = chat("gpt-4o", false).to_string();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: mock\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut received = Vec::new();
    // EOF or reset, but never a byte of response.
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut received))
        .await
        .expect("the server closes the connection");
    assert!(
        received.is_empty(),
        "{}",
        String::from_utf8_lossy(&received)
    );

    let via_reqwest = reqwest::Client::new()
        .post(format!("{}/chat/completions", upstream.openai_base()))
        .json(&chat("gpt-4o", false));
    upstream.script("gpt-4o", [Behaviour::CloseConnection]);
    let error = via_reqwest.send().await.expect_err("no response");
    assert!(!error.is_timeout());
}

#[tokio::test]
async fn hang_lasts_until_the_client_gives_up() {
    let upstream = start().await;
    upstream.script("gpt-4o", [Behaviour::Hang]);
    let started = Instant::now();
    let error = reqwest::Client::new()
        .post(format!("{}/chat/completions", upstream.openai_base()))
        .timeout(Duration::from_millis(300))
        .json(&chat("gpt-4o", false))
        .send()
        .await
        .expect_err("no answer");
    assert!(error.is_timeout());
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn delays_hold_the_first_byte() {
    let upstream = start().await;
    upstream.script(
        "gpt-4o",
        [
            Step::from(Behaviour::Delay {
                first_byte: Duration::from_millis(200),
            }),
            Behaviour::openai_server_error(500).delayed(Duration::from_millis(200)),
        ],
    );
    let client = reqwest::Client::new();
    for expected in [200, 500] {
        let started = Instant::now();
        let response = post_chat(&client, &upstream.openai_base(), &chat("gpt-4o", false)).await;
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(response.status(), expected);
    }
}

#[tokio::test]
async fn slow_stream_sends_headers_first_then_paces_chunks() {
    let upstream = start().await;
    upstream.script(
        "gpt-4o",
        [Behaviour::SlowStream {
            chunk_delay: Duration::from_millis(100),
        }],
    );
    let started = Instant::now();
    let response = post_chat(
        &reqwest::Client::new(),
        &upstream.openai_base(),
        &chat("gpt-4o", true),
    )
    .await;
    let headers_after = started.elapsed();
    let body = response.text().await.expect("stream");
    // Four content chunks, each 100 ms apart, and the headers came before any of them.
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert!(headers_after < started.elapsed() - Duration::from_millis(300));
    assert_eq!(openai_stream_text(&body), "mock answer from gpt-4o");
}

#[tokio::test]
async fn malformed_and_oversized_bodies() {
    let upstream = start().await;
    upstream.script(
        "gpt-4o",
        [
            Behaviour::MalformedJson,
            Behaviour::MalformedJson,
            Behaviour::Oversized { bytes: 3_000_000 },
            Behaviour::Oversized { bytes: 100_000 },
        ],
    );
    let client = reqwest::Client::new();
    let base = upstream.openai_base();

    let plain = post_chat(&client, &base, &chat("gpt-4o", false)).await;
    assert_eq!(plain.status(), 200);
    assert_eq!(plain.headers()["content-type"], "application/json");
    assert!(serde_json::from_str::<Value>(&plain.text().await.expect("body")).is_err());

    let stream = post_chat(&client, &base, &chat("gpt-4o", true))
        .await
        .text()
        .await
        .expect("body");
    let data = sse_data(&stream);
    assert!(
        data.iter()
            .any(|d| d != "[DONE]" && serde_json::from_str::<Value>(d).is_err())
    );

    let big: Value = post_chat(&client, &base, &chat("gpt-4o", false))
        .await
        .json()
        .await
        .expect("valid json");
    assert_eq!(
        big["choices"][0]["message"]["content"]
            .as_str()
            .map(str::len),
        Some(3_000_000)
    );

    let big_stream = post_chat(&client, &base, &chat("gpt-4o", true))
        .await
        .text()
        .await
        .expect("body");
    assert_eq!(openai_stream_text(&big_stream).len(), 100_000);
}

#[tokio::test]
async fn control_api_rejects_invalid_scripts() {
    let upstream = start().await;
    let client = reqwest::Client::new();
    for bad in [
        r#"{"deployment": "x", "behaviours": [{"type": "explode"}]}"#,
        r#"{"deployment": "x", "behaviours": [{"type": "status", "status": 42}]}"#,
        r#"{"behaviours": []}"#,
    ] {
        let response = client
            .post(format!("{}/__control/script", upstream.base_url()))
            .header("content-type", "application/json")
            .body(bad)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 400, "{bad}");
        let body: Value = response.json().await.expect("json");
        assert!(body["error"]["message"].is_string());
    }
    assert_eq!(upstream.queued("x"), 0);
}
