//! Shared helpers: a started mock upstream, providers pointed at it, and scripted SSE bodies.

use std::time::Duration;

use mock_upstream::{Behaviour, MockUpstream, RunningMockUpstream};
use provider::{
    CallContext, ChatChunk, ChatRequest, ChunkStream, Message, Provider, ProviderError,
};
use serde_json::Value;
use switchyard_openai::{AzureProvider, OpenAiProvider};

/// The OpenAI test key; the mock records only its last four characters.
pub(crate) const KEY: &str = "sk-test-0000000000000000wxyz";
/// A realistic Azure key (32 hex digits).
pub(crate) const AZURE_KEY: &str = "0123456789abcdef0123456789abcdef";

pub(crate) async fn mock() -> RunningMockUpstream {
    MockUpstream::start()
        .await
        .expect("the mock upstream starts on 127.0.0.1:0")
}

pub(crate) fn openai(upstream: &RunningMockUpstream, model: &str) -> OpenAiProvider {
    OpenAiProvider::builder(model)
        .api_key(KEY)
        .api_base(upstream.openai_base())
        .build()
        .expect("a provider with a valid base builds")
}

pub(crate) fn azure(upstream: &RunningMockUpstream, deployment: &str) -> AzureProvider {
    AzureProvider::builder(deployment)
        .api_base(upstream.azure_endpoint())
        .api_key(AZURE_KEY)
        .build()
        .expect("an Azure provider with an endpoint builds")
}

pub(crate) fn request() -> ChatRequest {
    ChatRequest::new("my-group", vec![Message::user("Say hello")])
}

pub(crate) fn ctx() -> CallContext {
    CallContext::new("req-test-1")
}

/// Every item of a streamed call that must open, up to and including its first error.
pub(crate) async fn stream_of(
    provider: &impl Provider,
    req: &ChatRequest,
    ctx: &CallContext,
) -> (Vec<ChatChunk>, Option<ProviderError>) {
    let stream = provider
        .chat_stream(req, ctx)
        .await
        .expect("the stream opens");
    drain(stream).await
}

/// Every item of a stream, up to and including its first error.
pub(crate) async fn drain(mut stream: ChunkStream) -> (Vec<ChatChunk>, Option<ProviderError>) {
    use futures::StreamExt;
    let mut chunks = Vec::new();
    while let Some(item) = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("a stream item within 10 s")
    {
        match item {
            Ok(chunk) => chunks.push(chunk),
            Err(e) => {
                // Nothing may follow an error.
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

/// The concatenated text of a stream's chunks.
pub(crate) fn text_of(chunks: &[ChatChunk]) -> String {
    chunks.iter().filter_map(ChatChunk::text).collect()
}

/// A `200` whose body is the given SSE text, verbatim.
pub(crate) fn sse_body(events: &[Value]) -> Behaviour {
    let mut body = String::new();
    for event in events {
        match event {
            Value::String(raw) => body.push_str(raw),
            other => body.push_str(&format!("data: {other}\n\n")),
        }
    }
    Behaviour::Status {
        status: 200,
        body: Some(Value::String(body)),
        headers: vec![("content-type".to_owned(), "text/event-stream".to_owned())],
    }
}

/// An OpenAI chunk with one choice.
pub(crate) fn chunk(delta: Value, finish: Value) -> Value {
    serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
    })
}
