//! Streamed answers: chunks, usage passthrough, cut streams, in-stream errors, content
//! filtering and servers that skip `[DONE]`.

use mock_upstream::{Behaviour, WILDCARD};
use provider::{ErrorKind, FinishReason, Provider, Role, StreamOptions};
use serde_json::{Value, json};

use crate::support::{self, chunk, ctx, request, sse_body, text_of};

#[tokio::test]
async fn a_stream_arrives_whole_with_role_first_and_finish_last() {
    let upstream = support::mock().await;
    let provider = support::openai(&upstream, "gpt-4o");
    let (chunks, error) = support::stream_of(&provider, &request(), &ctx()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(chunks[0].choices[0].delta.role, Some(Role::Assistant));
    assert_eq!(text_of(&chunks), "mock answer from gpt-4o");
    assert_eq!(
        chunks.last().and_then(|c| c.finish_reason()),
        Some(&FinishReason::Stop)
    );
    assert!(
        chunks.iter().all(|c| c.usage.is_none()),
        "no usage chunk unless asked"
    );

    let hit = &upstream.hits()[0];
    assert_eq!(hit.body["stream"], true);
    assert_eq!(hit.body["model"], "gpt-4o");
    assert_eq!(hit.header("accept"), Some("text/event-stream"));
}

#[tokio::test]
async fn each_chunk_comes_with_the_upstream_json_it_was_read_from() {
    use futures::StreamExt;

    let upstream = support::mock().await;
    let provider = support::openai(&upstream, "gpt-4o");
    let mut req = request();
    req.stream_options = Some(StreamOptions::include_usage(true));
    let mut stream = provider
        .chat_stream_with_bodies(&req, &ctx())
        .await
        .expect("stream opens");
    let mut seen = 0;
    while let Some(item) = stream.next().await {
        let (chunk, body) = item.expect("a chunk");
        let body = body.expect("an OpenAI chunk is forwarded as it came");
        let read: provider::ChatChunk = serde_json::from_slice(&body).expect("a chunk's JSON");
        assert_eq!(read, chunk);
        seen += 1;
    }
    assert!(seen >= 3, "role, content, finish and usage chunks: {seen}");
}

#[tokio::test]
async fn the_usage_chunk_passes_through_when_asked_for() {
    let upstream = support::mock().await;
    let provider = support::openai(&upstream, "gpt-4o");
    let mut req = request();
    req.stream_options = Some(StreamOptions::include_usage(true));
    let (chunks, error) = support::stream_of(&provider, &req, &ctx()).await;
    assert!(error.is_none(), "{error:?}");
    let last = chunks.last().expect("chunks");
    assert!(last.choices.is_empty());
    let usage = last.usage.as_ref().expect("usage on the last chunk");
    assert!(usage.completion_tokens > 0);
    assert_eq!(
        upstream.hits()[0].body["stream_options"]["include_usage"],
        true
    );
}

#[tokio::test]
async fn a_cut_stream_ends_with_a_connection_error() {
    let upstream = support::mock().await;
    let provider = support::openai(&upstream, "gpt-4o");
    upstream.always(WILDCARD, Behaviour::CutStream { after_chunks: 2 });
    let (chunks, error) = support::stream_of(&provider, &request(), &ctx()).await;
    assert_eq!(
        text_of(&chunks),
        "mock answer",
        "the two content chunks before the cut"
    );
    let error = error.expect("a cut stream ends with an error");
    assert_eq!(error.kind(), ErrorKind::Connection, "{error}");
}

#[tokio::test]
async fn an_error_event_mid_stream_is_an_error_item() {
    let upstream = support::mock().await;
    let provider = support::openai(&upstream, "gpt-4o");
    upstream.always(WILDCARD, Behaviour::StreamErrorEvent { after_chunks: 1 });
    let (chunks, error) = support::stream_of(&provider, &request(), &ctx()).await;
    assert_eq!(text_of(&chunks), "mock");
    let error = error.expect("error item");
    assert_eq!(
        error.kind(),
        ErrorKind::InternalServer,
        "server_error type: {error}"
    );

    // A typed error event is classified from its type and code.
    upstream.always(
        WILDCARD,
        sse_body(&[
            chunk(json!({"role": "assistant", "content": ""}), Value::Null),
            json!({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}),
        ]),
    );
    let (_, error) = support::stream_of(&provider, &request(), &ctx()).await;
    assert_eq!(error.map(|e| e.kind()), Some(ErrorKind::RateLimit));
}

#[tokio::test]
async fn malformed_stream_data_is_an_internal_server_error() {
    let upstream = support::mock().await;
    let provider = support::openai(&upstream, "gpt-4o");
    upstream.always(WILDCARD, Behaviour::MalformedJson);
    let (_, error) = support::stream_of(&provider, &request(), &ctx()).await;
    let error = error.expect("error item");
    assert_eq!(error.kind(), ErrorKind::InternalServer);
    assert!(
        error.message().contains("not a chat completion chunk"),
        "{}",
        error.message()
    );
}

#[tokio::test]
async fn a_finished_stream_without_done_is_complete_but_one_without_finish_is_cut() {
    let upstream = support::mock().await;
    let provider = support::openai(&upstream, "local-model");
    upstream.always(
        WILDCARD,
        sse_body(&[
            chunk(json!({"role": "assistant", "content": "Hi"}), Value::Null),
            chunk(json!({}), json!("stop")),
        ]),
    );
    let (chunks, error) = support::stream_of(&provider, &request(), &ctx()).await;
    assert!(
        error.is_none(),
        "finish_reason arrived, [DONE] is optional: {error:?}"
    );
    assert_eq!(text_of(&chunks), "Hi");

    // Asked for usage, got the finish but not the usage chunk: cut.
    let mut req = request();
    req.stream_options = Some(StreamOptions::include_usage(true));
    let (_, error) = support::stream_of(&provider, &req, &ctx()).await;
    assert_eq!(error.map(|e| e.kind()), Some(ErrorKind::Connection));

    upstream.always(
        WILDCARD,
        sse_body(&[chunk(
            json!({"role": "assistant", "content": "Hi"}),
            Value::Null,
        )]),
    );
    let (chunks, error) = support::stream_of(&provider, &request(), &ctx()).await;
    assert_eq!(text_of(&chunks), "Hi");
    let error = error.expect("no finish and no [DONE]: cut");
    assert_eq!(error.kind(), ErrorKind::Connection);
    assert!(
        error.message().contains("stream cut"),
        "{}",
        error.message()
    );
}

#[tokio::test]
async fn content_filter_before_any_content_is_a_policy_violation() {
    let upstream = support::mock().await;
    let provider = support::azure(&upstream, "gpt-4o-deploy");
    // Azure's opening chunk (no choices) is skipped, then the filter stops the answer.
    upstream.always(
        WILDCARD,
        sse_body(&[
            json!({"choices": [], "created": 0, "id": "", "model": "", "object": "", "prompt_filter_results": []}),
            chunk(json!({"role": "assistant", "content": ""}), Value::Null),
            chunk(json!({}), json!("content_filter")),
            Value::String("data: [DONE]\n\n".to_owned()),
        ]),
    );
    let (chunks, error) = support::stream_of(&provider, &request(), &ctx()).await;
    assert!(
        chunks.iter().all(|c| !c.choices.is_empty()),
        "the empty Azure preamble is skipped"
    );
    assert_eq!(
        error.map(|e| e.kind()),
        Some(ErrorKind::ContentPolicyViolation)
    );

    // After content, a filter stop is a partial answer the client sees as such.
    upstream.always(
        WILDCARD,
        sse_body(&[
            chunk(
                json!({"role": "assistant", "content": "Once upon"}),
                Value::Null,
            ),
            chunk(json!({}), json!("content_filter")),
            Value::String("data: [DONE]\n\n".to_owned()),
        ]),
    );
    let (chunks, error) = support::stream_of(&provider, &request(), &ctx()).await;
    assert!(error.is_none());
    assert_eq!(
        chunks.last().and_then(|c| c.finish_reason()),
        Some(&FinishReason::ContentFilter)
    );
}

#[tokio::test]
async fn content_filter_in_a_plain_answer() {
    let upstream = support::mock().await;
    let provider = support::azure(&upstream, "gpt-4o-deploy");
    let body = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "content_filter", "message": {"role": "assistant", "content": null},
            "content_filter_results": {"hate": {"filtered": true, "severity": "high"}, "violence": {"filtered": false, "severity": "safe"}}}]
    });
    upstream.always(WILDCARD, Behaviour::status_with(200, body, Vec::new()));
    let e = provider
        .chat(&request(), &ctx())
        .await
        .expect_err("withheld answer fails");
    assert_eq!(e.kind(), ErrorKind::ContentPolicyViolation);
    assert!(e.message().contains("filtered: hate"), "{}", e.message());
}

/// An upstream that sends `[DONE]` but keeps its chunked body open: the stream still ends (after
/// a short grace for the body's end), and the connection, whose body never ended, is not used
/// again.
#[tokio::test]
async fn a_stream_held_open_after_done_still_ends() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let base = format!("http://{}/v1", listener.local_addr().expect("an address"));
    let accepted = std::sync::Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut request = [0u8; 8192];
                let _ = tcp.read(&mut request).await;
                let event = |data: &str| {
                    let event = format!("data: {data}\n\n");
                    format!("{:x}\r\n{event}\r\n", event.len())
                };
                let chunk = chunk(json!({"role": "assistant", "content": "Hi"}), json!("stop"));
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n{}{}",
                    event(&chunk.to_string()),
                    event("[DONE]"),
                );
                let _ = tcp.write_all(answer.as_bytes()).await;
                // Never the last chunk: hold the connection open until the client goes.
                let _ = tcp.read(&mut request).await;
            });
        }
    });
    let provider = switchyard_openai::OpenAiProvider::builder("gpt-4o")
        .api_base(base)
        .build()
        .expect("builds");
    for round in 1..=2 {
        let started = Instant::now();
        let (chunks, error) = support::stream_of(&provider, &request(), &ctx()).await;
        assert!(error.is_none(), "{error:?}");
        assert_eq!(text_of(&chunks), "Hi");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "ended after the grace, not when the server closed: {:?}",
            started.elapsed()
        );
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            round,
            "the held connection is not reused"
        );
    }
}
