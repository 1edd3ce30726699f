//! §8 Streaming: retries until the first content chunk (the commit point), a typed end
//! after it, chunk timeouts, and in-flight counters that survive a dropped stream.

use std::sync::Arc;

use futures::StreamExt;
use mock::MockStep;
use provider::ErrorKind;
use switchyard_router::{DeploymentConfig, FailureReason, RequestOptions, RoutedStream, Router};
use tokio::time::Instant;

use crate::support::{
    StallAfterFirstChunk, build, dep, fail, healthy, info, mock, ms, req, scripted, secs, solo,
};

/// Reads the stream to its end: the text of the chunks, and the error that ended it.
async fn drain(mut s: RoutedStream) -> (String, Option<switchyard_router::RouterError>) {
    let mut text = String::new();
    while let Some(item) = s.next().await {
        match item {
            Ok(chunk) => text.push_str(chunk.text().unwrap_or("")),
            Err(e) => {
                assert!(s.next().await.is_none(), "nothing after the error");
                return (text, Some(e));
            }
        }
    }
    (text, None)
}

#[tokio::test(start_paused = true)]
async fn a_failure_before_the_first_content_chunk_is_retried_unseen() {
    let a = scripted(
        "a",
        [
            // An error event inside a 200 stream, before any content.
            MockStep::ErrorBeforeContent(ErrorKind::ServiceUnavailable),
            // An error status before the stream opens.
            fail(ErrorKind::RateLimit).retry_after(secs(1)),
        ],
    );
    let router = solo(&a, 1);
    let stream = router
        .chat_stream(&req("g"), &RequestOptions::new())
        .await
        .expect("the third attempt streams");
    let report = stream.report().clone();
    let (text, err) = drain(stream).await;
    assert!(
        err.is_none(),
        "the caller never sees the early failures: {err:?}"
    );
    assert_eq!(text, "answer from a");
    assert_eq!(a.calls(), 3);
    let kinds: Vec<_> = report.attempts.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        [
            Some(ErrorKind::ServiceUnavailable),
            Some(ErrorKind::RateLimit),
            None
        ]
    );
    assert_eq!(report.retries, 2);
}

#[tokio::test(start_paused = true)]
async fn a_failure_after_content_ends_the_stream_and_is_not_retried() {
    let a = build(
        mock("a")
            .response("one two three")
            .script([MockStep::CutAfter(2)]),
    );
    let b = healthy("b");
    let router = Router::builder()
        .deployment(dep("g", "a", &a))
        .deployment(dep("fb", "b", &b))
        .fallbacks("g", ["fb"])
        .seed(1)
        .build()
        .expect("valid router");
    let stream = router
        .chat_stream(&req("g"), &RequestOptions::new())
        .await
        .expect("the stream commits on its first chunk");
    let (text, err) = drain(stream).await;
    assert_eq!(text, "one two", "what was sent stays sent");
    let err = err.expect("the cut ends the stream with an error item");
    assert_eq!(err.reason(), FailureReason::StreamInterrupted);
    assert_eq!(err.kind(), ErrorKind::Connection);
    assert_eq!(
        (a.calls(), b.calls()),
        (1, 0),
        "no retry, no fallback after the commit point"
    );
}

#[tokio::test(start_paused = true)]
async fn stream_timeout_bounds_the_wait_for_the_first_chunk() {
    let a = scripted("a", [MockStep::SlowStream(secs(5))]);
    let router = Router::builder()
        .deployment(dep("g", "a", &a))
        .stream_timeout(secs(2))
        .seed(1)
        .build()
        .expect("valid router");
    let stream = router
        .chat_stream(&req("g"), &RequestOptions::new())
        .await
        .expect("the retry streams");
    let first = &stream.report().attempts[0];
    assert_eq!(first.kind, Some(ErrorKind::Timeout));
    assert_eq!(first.latency, secs(2));
    let (text, err) = drain(stream).await;
    assert!(err.is_none());
    assert_eq!(text, "answer from a");
    assert_eq!(a.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn stream_timeout_bounds_the_gaps_between_chunks() {
    let stall = Arc::new(StallAfterFirstChunk::new(secs(10)));
    let router = Router::builder()
        .deployment(DeploymentConfig::new("g", stall.clone()).id("s"))
        .stream_timeout(secs(2))
        .seed(1)
        .build()
        .expect("valid router");
    let mut stream = router
        .chat_stream(&req("g"), &RequestOptions::new())
        .await
        .expect("the first chunk comes at once");
    let first = stream.next().await.expect("an item").expect("a chunk");
    assert_eq!(first.text(), Some("hello"));
    let start = Instant::now();
    let err = stream
        .next()
        .await
        .expect("an item")
        .expect_err("the stall ends the stream");
    assert_eq!(start.elapsed(), secs(2));
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(err.reason(), FailureReason::StreamInterrupted);
    assert!(stream.next().await.is_none());
    assert_eq!(stall.calls(), 1);

    // A gap shorter than the limit is fine.
    let stall = Arc::new(StallAfterFirstChunk::new(ms(1900)));
    let router = Router::builder()
        .deployment(DeploymentConfig::new("g", stall.clone()).id("s"))
        .stream_timeout(secs(2))
        .build()
        .expect("valid router");
    let stream = router
        .chat_stream(&req("g"), &RequestOptions::new())
        .await
        .expect("streams");
    let (text, err) = drain(stream).await;
    assert!(err.is_none());
    assert_eq!(text, "hello world");
}

#[tokio::test(start_paused = true)]
async fn dropping_a_stream_restores_in_flight_counters() {
    let a = build(
        mock("a")
            .response("one two three four")
            .chunk_delay(ms(100)),
    );
    let router = solo(&a, 1);
    let mut stream = router
        .chat_stream(&req("g"), &RequestOptions::new())
        .await
        .expect("streams");
    assert_eq!(
        info(&router, "a").in_flight,
        1,
        "a committed stream is in flight"
    );
    stream.next().await.expect("an item").expect("a chunk");
    stream.next().await.expect("an item").expect("a chunk");
    drop(stream);
    assert_eq!(info(&router, "a").in_flight, 0);

    // A streamed request dropped before its commit point leaves nothing behind either.
    a.push_step(MockStep::Hang);
    let opts = RequestOptions::new();
    let r = req("g");
    let mut pending = Box::pin(router.chat_stream(&r, &opts));
    assert!(
        tokio::time::timeout(secs(1), &mut pending).await.is_err(),
        "the upstream hangs"
    );
    assert_eq!(info(&router, "a").in_flight, 1);
    drop(pending);
    assert_eq!(info(&router, "a").in_flight, 0);

    // And so does a stream read to its end.
    let stream = router
        .chat_stream(&req("g"), &RequestOptions::new())
        .await
        .expect("streams");
    let (_, err) = drain(stream).await;
    assert!(err.is_none());
    assert_eq!(info(&router, "a").in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn stream_timeout_not_timeout_bounds_a_streams_first_chunk() {
    // The guide's production settings: 30 s per request, 60 s for streaming. Scaled
    // down: a first chunk after 3 s is within the 5 s stream_timeout, though beyond
    // the 2 s timeout of non-streamed attempts.
    let a = scripted("a", [MockStep::SlowStream(secs(3))]);
    let router = Router::builder()
        .deployment(dep("g", "a", &a))
        .timeout(secs(2))
        .stream_timeout(secs(5))
        .seed(1)
        .build()
        .expect("valid router");
    let stream = router
        .chat_stream(&req("g"), &RequestOptions::new())
        .await
        .expect("streams");
    assert_eq!(
        stream.report().attempts.len(),
        1,
        "{:?}",
        stream.report().hops()
    );
    assert_eq!(stream.report().attempts[0].latency, secs(3));
    let (text, err) = drain(stream).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(text, "answer from a");
    assert_eq!(a.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_request_deadline_also_bounds_a_committed_stream() {
    let a = build(
        mock("a")
            .response("one two three four five six")
            .chunk_delay(secs(1)),
    );
    let router = solo(&a, 1);
    let start = Instant::now();
    let stream = router
        .chat_stream(&req("g"), &RequestOptions::new().timeout(ms(3500)))
        .await
        .expect("the first chunk comes after 1 s");
    let (text, err) = drain(stream).await;
    assert_eq!(text, "one two three");
    let err = err.expect("the deadline ends the stream");
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(err.reason(), FailureReason::StreamInterrupted);
    assert_eq!(start.elapsed(), ms(3500));
}

/// A mock that gives every answer and chunk with its JSON, as a forwarding provider does.
struct WithJson(mock::MockProvider);

impl provider::Provider for WithJson {
    fn name(&self) -> &'static str {
        "with-json"
    }
    fn model(&self) -> &str {
        self.0.model()
    }
    fn chat<'a>(
        &'a self,
        req: &'a provider::ChatRequest,
        ctx: &'a provider::CallContext,
    ) -> provider::BoxFuture<'a, Result<provider::ChatResponse, provider::ProviderError>> {
        self.0.chat(req, ctx)
    }
    fn chat_with_body<'a>(
        &'a self,
        req: &'a provider::ChatRequest,
        ctx: &'a provider::CallContext,
    ) -> provider::BoxFuture<
        'a,
        Result<(provider::ChatResponse, Option<bytes::Bytes>), provider::ProviderError>,
    > {
        Box::pin(async move {
            let response = self.0.chat(req, ctx).await?;
            let body = serde_json::to_vec(&response).expect("serializes");
            Ok((response, Some(body.into())))
        })
    }
    fn chat_stream<'a>(
        &'a self,
        req: &'a provider::ChatRequest,
        ctx: &'a provider::CallContext,
    ) -> provider::BoxFuture<'a, Result<provider::ChunkStream, provider::ProviderError>> {
        self.0.chat_stream(req, ctx)
    }
    fn chat_stream_with_bodies<'a>(
        &'a self,
        req: &'a provider::ChatRequest,
        ctx: &'a provider::CallContext,
    ) -> provider::BoxFuture<'a, Result<provider::ChunkBodyStream, provider::ProviderError>> {
        Box::pin(async move {
            let chunks = self.0.chat_stream(req, ctx).await?;
            let with: provider::ChunkBodyStream = Box::pin(chunks.map(|item| {
                item.map(|chunk| {
                    let body = serde_json::to_vec(&chunk).expect("serializes");
                    (chunk, Some(body.into()))
                })
            }));
            Ok(with)
        })
    }
}

/// A plain answer and a stream from a router over `provider`: the answer's body, and each
/// chunk with its body.
async fn answer_and_chunks(
    provider: Arc<dyn provider::Provider>,
) -> (
    switchyard_router::Routed<provider::ChatResponse>,
    Vec<(provider::ChatChunk, Option<bytes::Bytes>)>,
) {
    let router = Router::builder()
        .deployment(DeploymentConfig::new("g", provider).id("a"))
        .build()
        .expect("valid router");
    let routed = router
        .chat(&req("g"), &RequestOptions::new())
        .await
        .expect("an answer");
    let stream = router
        .chat_stream(&req("g"), &RequestOptions::new())
        .await
        .expect("a stream");
    let items: Vec<_> = stream.with_bodies().collect().await;
    let chunks = items.into_iter().map(|i| i.expect("a chunk")).collect();
    (routed, chunks)
}

#[tokio::test(start_paused = true)]
async fn the_upstream_json_of_answers_and_chunks_reaches_the_caller() {
    let (routed, chunks) = answer_and_chunks(Arc::new(WithJson(healthy("a")))).await;
    let body = routed.upstream_body.as_ref().expect("the provider's body");
    let read: provider::ChatResponse = serde_json::from_slice(body).expect("JSON");
    assert_eq!(read, routed.value);
    // Every chunk, those held back before the commit point included, keeps its body.
    assert!(chunks.len() >= 2, "{}", chunks.len());
    for (chunk, body) in chunks {
        let read: provider::ChatChunk =
            serde_json::from_slice(&body.expect("a body")).expect("JSON");
        assert_eq!(read, chunk);
    }

    // A provider that gives no bodies (the mock) gives the caller none.
    let (routed, chunks) = answer_and_chunks(Arc::new(healthy("b"))).await;
    assert!(routed.upstream_body.is_none());
    assert!(chunks.iter().all(|(_, body)| body.is_none()));
}
