//! Answers translated back: plain messages, tool use, stop reasons, usage, and streams.

use mock_upstream::{Behaviour, WILDCARD};
use provider::{ErrorKind, FinishReason, Provider, Role, StreamOptions};
use serde_json::{Value, json};

use crate::support::{self, ctx, drain, request, sse_events, text_of};

fn message(content: Value, stop_reason: &str) -> Behaviour {
    Behaviour::status_with(
        200,
        json!({
            "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": content, "stop_reason": stop_reason, "stop_sequence": null,
            "usage": {"input_tokens": 12, "output_tokens": 30, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0}
        }),
        Vec::new(),
    )
}

#[tokio::test]
async fn a_plain_answer_becomes_a_chat_completion() {
    let upstream = support::mock().await;
    let provider = support::anthropic(&upstream, "claude-sonnet-4-5");
    let response = provider.chat(&request(), &ctx()).await.expect("answer");
    assert_eq!(response.text(), Some("mock answer from claude-sonnet-4-5"));
    assert_eq!(response.object, "chat.completion");
    assert!(response.id.starts_with("msg_"));
    assert_eq!(response.choices[0].message.role, Role::Assistant);
    assert_eq!(response.choices[0].finish_reason, Some(FinishReason::Stop));
    let usage = response.usage.expect("usage");
    assert!(usage.prompt_tokens > 0 && usage.completion_tokens > 0);
    assert_eq!(
        usage.total_tokens,
        usage.prompt_tokens + usage.completion_tokens
    );
}

#[tokio::test]
async fn tool_use_blocks_become_tool_calls() {
    let upstream = support::mock().await;
    let provider = support::anthropic(&upstream, "claude-sonnet-4-5");
    upstream.always(
        WILDCARD,
        message(
            json!([
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris", "unit": "c"}}
            ]),
            "tool_use",
        ),
    );
    let response = provider.chat(&request(), &ctx()).await.expect("answer");
    let choice = &response.choices[0];
    assert_eq!(choice.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(choice.message.text(), Some("Checking."));
    let calls = choice.message.tool_calls.as_ref().expect("tool calls");
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0].id.as_str(), calls[0].call_type.as_str()),
        ("toolu_01A", "function")
    );
    assert_eq!(calls[0].function.name, "get_weather");
    let args: Value =
        serde_json::from_str(&calls[0].function.arguments).expect("arguments are JSON");
    assert_eq!(args, json!({"city": "Paris", "unit": "c"}));
    let usage = response.usage.expect("usage");
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens
        ),
        (112, 30, 142)
    );

    // Only tool calls: content is null, as OpenAI sends it.
    upstream.always(
        WILDCARD,
        message(
            json!([{"type": "tool_use", "id": "t", "name": "f", "input": {}}]),
            "tool_use",
        ),
    );
    let response = provider.chat(&request(), &ctx()).await.expect("answer");
    assert!(response.choices[0].message.content.is_none());
}

#[tokio::test]
async fn stop_reasons_map_to_finish_reasons() {
    let upstream = support::mock().await;
    let provider = support::anthropic(&upstream, "claude-sonnet-4-5");
    for (stop, finish) in [
        ("end_turn", FinishReason::Stop),
        ("stop_sequence", FinishReason::Stop),
        ("max_tokens", FinishReason::Length),
    ] {
        upstream.always(
            WILDCARD,
            message(json!([{"type": "text", "text": "x"}]), stop),
        );
        let response = provider.chat(&request(), &ctx()).await.expect("answer");
        assert_eq!(response.choices[0].finish_reason, Some(finish), "{stop}");
    }
    upstream.always(WILDCARD, message(json!([]), "refusal"));
    let e = provider
        .chat(&request(), &ctx())
        .await
        .expect_err("refusal without content");
    assert_eq!(e.kind(), ErrorKind::ContentPolicyViolation);
}

#[tokio::test]
async fn a_stream_becomes_openai_chunks_with_a_final_usage_chunk() {
    let upstream = support::mock().await;
    let provider = support::anthropic(&upstream, "claude-sonnet-4-5");
    let mut req = request();
    req.stream_options = Some(StreamOptions::include_usage(true));
    let (chunks, error) = drain(provider.chat_stream(&req, &ctx()).await.expect("opens")).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        chunks[0].choices[0].delta.role,
        Some(Role::Assistant),
        "role chunk first"
    );
    assert!(!chunks[0].has_content());
    assert_eq!(text_of(&chunks), "mock answer from claude-sonnet-4-5");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish.finish_reason(), Some(&FinishReason::Stop));
    let last = chunks.last().expect("chunks");
    assert!(last.choices.is_empty());
    let usage = last.usage.as_ref().expect("usage chunk");
    assert!(usage.prompt_tokens > 0 && usage.completion_tokens > 0);
    assert!(
        chunks
            .iter()
            .all(|c| c.id == chunks[0].id && c.object == "chat.completion.chunk")
    );
    assert_eq!(upstream.hits()[0].body["stream"], true);

    // Without include_usage: no usage chunk, the finish chunk is last.
    let (chunks, _) = drain(
        provider
            .chat_stream(&request(), &ctx())
            .await
            .expect("opens"),
    )
    .await;
    assert!(chunks.iter().all(|c| c.usage.is_none()));
    assert_eq!(
        chunks.last().and_then(|c| c.finish_reason()),
        Some(&FinishReason::Stop)
    );
}

#[tokio::test]
async fn streamed_tool_use_becomes_tool_call_deltas() {
    let upstream = support::mock().await;
    let provider = support::anthropic(&upstream, "claude-sonnet-4-5");
    upstream.always(
        WILDCARD,
        sse_events(&[
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [], "stop_reason": null, "usage": {"input_tokens": 50, "output_tokens": 1}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "ping"}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me check."}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {}}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\": "}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "\"Paris\"}"}}),
            json!({"type": "content_block_stop", "index": 1}),
            json!({"type": "some_future_event", "x": 1}),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 42}}),
            json!({"type": "message_stop"}),
        ]),
    );
    let mut req = request();
    req.stream_options = Some(StreamOptions::include_usage(true));
    let (chunks, error) = drain(provider.chat_stream(&req, &ctx()).await.expect("opens")).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(text_of(&chunks), "Let me check.");
    let deltas: Vec<_> = chunks
        .iter()
        .flat_map(|c| c.choices.iter())
        .filter_map(|c| c.delta.tool_calls.as_ref())
        .flatten()
        .collect();
    assert_eq!(deltas[0].index, 0);
    assert_eq!(deltas[0].id.as_deref(), Some("toolu_9"));
    assert_eq!(deltas[0].call_type.as_deref(), Some("function"));
    assert_eq!(
        deltas[0].function.as_ref().and_then(|f| f.name.as_deref()),
        Some("get_weather")
    );
    let arguments: String = deltas
        .iter()
        .filter_map(|d| d.function.as_ref().and_then(|f| f.arguments.as_deref()))
        .collect();
    assert_eq!(arguments, r#"{"city": "Paris"}"#);
    assert!(deltas.iter().all(|d| d.index == 0));
    assert_eq!(
        chunks[chunks.len() - 2].finish_reason(),
        Some(&FinishReason::ToolCalls)
    );
    let usage = chunks.last().and_then(|c| c.usage.as_ref()).expect("usage");
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (50, 42));
}

#[tokio::test]
async fn streams_that_fail_end_with_an_error_item() {
    let upstream = support::mock().await;
    let provider = support::anthropic(&upstream, "claude-sonnet-4-5");

    upstream.always(WILDCARD, Behaviour::StreamErrorEvent { after_chunks: 1 });
    let (chunks, error) = drain(
        provider
            .chat_stream(&request(), &ctx())
            .await
            .expect("opens"),
    )
    .await;
    assert_eq!(text_of(&chunks), "mock");
    let error = error.expect("event: error");
    assert_eq!(
        error.kind(),
        ErrorKind::ServiceUnavailable,
        "overloaded_error: {error}"
    );
    assert_eq!(error.message(), "Overloaded");

    upstream.always(WILDCARD, Behaviour::CutStream { after_chunks: 2 });
    let (chunks, error) = drain(
        provider
            .chat_stream(&request(), &ctx())
            .await
            .expect("opens"),
    )
    .await;
    assert_eq!(text_of(&chunks), "mock answer");
    assert_eq!(error.map(|e| e.kind()), Some(ErrorKind::Connection));

    upstream.always(WILDCARD, Behaviour::MalformedJson);
    let (_, error) = drain(
        provider
            .chat_stream(&request(), &ctx())
            .await
            .expect("opens"),
    )
    .await;
    assert_eq!(error.map(|e| e.kind()), Some(ErrorKind::InternalServer));

    // Everything but message_stop: still cut.
    upstream.always(
        WILDCARD,
        sse_events(&[
            json!({"type": "message_start", "message": {"id": "m", "model": "c", "usage": {"input_tokens": 1}}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}),
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}}),
        ]),
    );
    let (chunks, error) = drain(
        provider
            .chat_stream(&request(), &ctx())
            .await
            .expect("opens"),
    )
    .await;
    assert_eq!(text_of(&chunks), "Hi");
    let error = error.expect("no message_stop");
    assert_eq!(error.kind(), ErrorKind::Connection);
    assert!(
        error.message().contains("stream cut"),
        "{}",
        error.message()
    );

    // A refusal before any content is a content-policy failure.
    upstream.always(
        WILDCARD,
        sse_events(&[
            json!({"type": "message_start", "message": {"id": "m", "model": "c", "usage": {"input_tokens": 1}}}),
            json!({"type": "message_delta", "delta": {"stop_reason": "refusal"}, "usage": {"output_tokens": 0}}),
            json!({"type": "message_stop"}),
        ]),
    );
    let (_, error) = drain(
        provider
            .chat_stream(&request(), &ctx())
            .await
            .expect("opens"),
    )
    .await;
    assert_eq!(
        error.map(|e| e.kind()),
        Some(ErrorKind::ContentPolicyViolation)
    );
}
