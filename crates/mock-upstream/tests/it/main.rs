//! Integration tests: the mock upstream over real HTTP on 127.0.0.1, driven by reqwest and raw TCP.

mod anthropic;
mod control;
mod faults;
mod lifecycle;
mod openai;

use serde_json::{Value, json};
use switchyard_mock_upstream::{MockUpstream, RunningMockUpstream};

/// Starts a scripted server on a free port.
async fn start() -> RunningMockUpstream {
    MockUpstream::start()
        .await
        .expect("a free port on 127.0.0.1")
}

/// A chat request body.
fn chat(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": "Say hello to the test suite"}]
    })
}

/// An Anthropic Messages request body.
fn messages(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": "Say hello to the test suite"}]
    })
}

/// Splits an SSE body into its `data:` payloads, in order.
fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| {
            event
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .map(str::to_owned)
        })
        .collect()
}

/// Splits an SSE body into its `event:` names, in order.
fn sse_events(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| {
            event
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .map(str::to_owned)
        })
        .collect()
}

/// Concatenates the text deltas of an OpenAI stream.
fn openai_stream_text(body: &str) -> String {
    sse_data(body)
        .iter()
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

/// Reads a streamed body until it ends or fails; returns the text received and whether it failed.
async fn read_until_end(response: reqwest::Response) -> (String, bool) {
    use futures::StreamExt as _;
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => text.push_str(&String::from_utf8_lossy(&bytes)),
            Err(_) => return (text, true),
        }
    }
    (text, false)
}
