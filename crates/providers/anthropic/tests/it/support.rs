//! Shared helpers: a started mock upstream, a provider pointed at it, scripted SSE bodies.

use std::time::Duration;

use futures::StreamExt;
use mock_upstream::{Behaviour, MockUpstream, RunningMockUpstream};
use provider::{CallContext, ChatChunk, ChatRequest, ChunkStream, Message, ProviderError};
use serde_json::Value;
use switchyard_anthropic::AnthropicProvider;

/// The test key; the mock records only its last four characters.
pub(crate) const KEY: &str = "sk-ant-api03-test-0000000000000000-9876";

pub(crate) async fn mock() -> RunningMockUpstream {
    MockUpstream::start()
        .await
        .expect("the mock upstream starts on 127.0.0.1:0")
}

pub(crate) fn anthropic(upstream: &RunningMockUpstream, model: &str) -> AnthropicProvider {
    AnthropicProvider::builder(model)
        .api_key(KEY)
        .api_base(upstream.anthropic_base())
        .build()
        .expect("a provider with a valid base builds")
}

pub(crate) fn request() -> ChatRequest {
    ChatRequest::new("my-group", vec![Message::user("Say hello")])
}

pub(crate) fn ctx() -> CallContext {
    CallContext::new("req-test-1")
}

/// Every item of a stream, up to and including its first error.
pub(crate) async fn drain(mut stream: ChunkStream) -> (Vec<ChatChunk>, Option<ProviderError>) {
    let mut chunks = Vec::new();
    while let Some(item) = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("a stream item within 10 s")
    {
        match item {
            Ok(chunk) => chunks.push(chunk),
            Err(e) => {
                assert!(
                    stream.next().await.is_none(),
                    "an item followed the error {e}"
                );
                return (chunks, Some(e));
            }
        }
    }
    (chunks, None)
}

pub(crate) fn text_of(chunks: &[ChatChunk]) -> String {
    chunks.iter().filter_map(ChatChunk::text).collect()
}

/// A `200` whose body is these Anthropic events (`event:` named after each data's `type`).
pub(crate) fn sse_events(events: &[Value]) -> Behaviour {
    let mut body = String::new();
    for event in events {
        let name = event
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("message");
        body.push_str(&format!("event: {name}\ndata: {event}\n\n"));
    }
    Behaviour::Status {
        status: 200,
        body: Some(Value::String(body)),
        headers: vec![("content-type".to_owned(), "text/event-stream".to_owned())],
    }
}
