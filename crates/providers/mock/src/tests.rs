//! Unit tests of the mock provider: scripts, modes, simulated time and stream shapes.

use super::*;
use futures::future::join_all;
use provider::{Role, StreamOptions};
use tokio::time::Instant;

fn req() -> ChatRequest {
    ChatRequest::new("client-group", vec![Message::user("say something nice")])
}

fn ctx() -> CallContext {
    CallContext::new("t")
}

async fn collect(stream: ChunkStream) -> Vec<Result<ChatChunk, ProviderError>> {
    stream.collect().await
}

#[tokio::test]
async fn answers_with_its_own_model_and_counts_usage() -> Result<(), ProviderError> {
    let mock = MockProvider::new("gpt-mock");
    let response = mock.chat(&req(), &ctx()).await?;
    assert_eq!(response.text(), Some(DEFAULT_RESPONSE));
    // The provider sends its configured model, never the client's group name.
    assert_eq!(response.model, "gpt-mock");
    assert_eq!(
        response
            .usage
            .as_ref()
            .map(|u| (u.prompt_tokens, u.completion_tokens)),
        Some((3, 7))
    );
    assert_eq!(mock.name(), "mock");
    assert_eq!(mock.calls(), 1);
    Ok(())
}

#[tokio::test]
async fn script_is_consumed_in_order_then_the_mode_applies() -> Result<(), MockBuildError> {
    let mock = MockProvider::builder("m")
        .response("canned")
        .script([
            MockStep::fail(ErrorKind::RateLimit).retry_after(Duration::from_secs(3)),
            MockStep::Respond("scripted".to_owned()),
            MockStep::fail(ErrorKind::InternalServer)
                .status(599)
                .message("boom"),
        ])
        .build()?;
    let first = mock.chat(&req(), &ctx()).await.err();
    assert_eq!(
        first
            .as_ref()
            .map(|e| (e.kind(), e.status(), e.retry_after())),
        Some((
            ErrorKind::RateLimit,
            Some(429),
            Some(Duration::from_secs(3))
        ))
    );
    assert_eq!(
        mock.chat(&req(), &ctx())
            .await
            .ok()
            .and_then(|r| r.text().map(str::to_owned))
            .as_deref(),
        Some("scripted")
    );
    let third = mock.chat(&req(), &ctx()).await.err();
    assert_eq!(
        third.as_ref().map(|e| (e.status(), e.message())),
        Some((Some(599), "boom"))
    );
    assert_eq!(mock.remaining_steps(), 0);
    assert_eq!(
        mock.chat(&req(), &ctx())
            .await
            .ok()
            .and_then(|r| r.text().map(str::to_owned))
            .as_deref(),
        Some("canned")
    );
    assert_eq!(mock.calls(), 4);
    Ok(())
}

#[test]
fn step_modifiers_only_touch_failures() {
    assert_eq!(
        MockStep::Ok
            .retry_after(Duration::from_secs(1))
            .status(500)
            .message("x"),
        MockStep::Ok
    );
    assert_eq!(
        MockStep::fail(ErrorKind::Timeout),
        MockStep::Fail {
            kind: ErrorKind::Timeout,
            status: None,
            hint: None,
            message: default_message(ErrorKind::Timeout)
        }
    );
    assert!(matches!(
        MockStep::fail(ErrorKind::Connection),
        MockStep::Fail { status: None, .. }
    ));
    assert!(matches!(
        MockStep::fail(ErrorKind::ContextWindowExceeded),
        MockStep::Fail {
            status: Some(400),
            ..
        }
    ));
}

#[tokio::test]
async fn clones_share_the_script_and_counter() {
    let mock = MockProvider::new("m");
    let router_copy: Arc<dyn Provider> = Arc::new(mock.clone());
    mock.push_step(MockStep::fail(ErrorKind::BadGateway));
    assert!(router_copy.chat(&req(), &ctx()).await.is_err());
    assert_eq!(mock.calls(), 1);
    mock.push_step(MockStep::Hang);
    mock.clear_script();
    assert!(router_copy.chat(&req(), &ctx()).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn delay_and_latency_use_tokio_time() -> Result<(), Box<dyn std::error::Error>> {
    let mock = MockProvider::builder("m")
        .latency(Duration::from_millis(100))
        .script([MockStep::Delay(Duration::from_secs(5))])
        .build()?;
    let started = Instant::now();
    mock.chat(&req(), &ctx()).await?;
    // Paused time advances exactly by the simulated waits, and the test takes no real time.
    assert_eq!(started.elapsed(), Duration::from_millis(5100));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn hang_stays_pending_until_dropped() {
    let mock = MockProvider::builder("m")
        .script([MockStep::Hang, MockStep::Hang])
        .build();
    let Ok(mock) = mock else {
        panic!("valid builder")
    };
    let req = req();
    let ctx = ctx();
    assert!(
        tokio::time::timeout(Duration::from_secs(3600), mock.chat(&req, &ctx))
            .await
            .is_err()
    );
    assert!(
        tokio::time::timeout(Duration::from_secs(3600), mock.chat_stream(&req, &ctx))
            .await
            .is_err()
    );
    assert_eq!(mock.calls(), 2);
}

#[tokio::test]
async fn streams_word_by_word_and_ends() -> Result<(), ProviderError> {
    let mock = MockProvider::builder("m")
        .response("Hello  brave new world")
        .build()
        .map_err(|e| ProviderError::new(ErrorKind::BadRequest, NAME, e.to_string()))?;
    let mut request = req();
    request.stream_options = Some(StreamOptions::include_usage(true));
    let items = collect(mock.chat_stream(&request, &ctx()).await?).await;
    let chunks: Vec<ChatChunk> = items.into_iter().collect::<Result<_, _>>()?;
    let text: String = chunks.iter().filter_map(ChatChunk::text).collect();
    assert_eq!(text, "Hello  brave new world");
    assert_eq!(chunks.iter().filter(|c| c.has_content()).count(), 4);
    assert_eq!(chunks[0].choices[0].delta.role, Some(Role::Assistant));
    // Then the finish chunk, then the usage chunk asked for by include_usage.
    let n = chunks.len();
    assert_eq!(chunks[n - 2].finish_reason(), Some(&FinishReason::Stop));
    assert!(chunks[n - 1].choices.is_empty());
    assert_eq!(
        chunks[n - 1].usage.as_ref().map(|u| u.completion_tokens),
        Some(4)
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn slow_streams_wait_before_each_chunk() -> Result<(), Box<dyn std::error::Error>> {
    let mock = MockProvider::builder("m")
        .response("one two three")
        .chunk_delay(Duration::from_millis(10))
        .script([MockStep::SlowStream(Duration::from_secs(1))])
        .build()?;
    let started = Instant::now();
    let items = collect(mock.chat_stream(&req(), &ctx()).await?).await;
    // Three words and the finish chunk, one second each (the step overrides the builder).
    assert_eq!(items.len(), 4);
    assert_eq!(started.elapsed(), Duration::from_secs(4));

    let started = Instant::now();
    let items = collect(mock.chat_stream(&req(), &ctx()).await?).await;
    assert_eq!(
        (items.len(), started.elapsed()),
        (4, Duration::from_millis(40))
    );
    Ok(())
}

#[tokio::test]
async fn cut_after_yields_chunks_then_a_connection_error() -> Result<(), Box<dyn std::error::Error>>
{
    let mock = MockProvider::builder("m")
        .response("a b c d")
        .script([MockStep::CutAfter(2), MockStep::CutAfter(2)])
        .build()?;
    let items = collect(mock.chat_stream(&req(), &ctx()).await?).await;
    assert_eq!(items.len(), 3);
    assert!(
        items[..2]
            .iter()
            .all(|i| i.as_ref().is_ok_and(ChatChunk::has_content))
    );
    assert_eq!(
        items[2].as_ref().err().map(ProviderError::kind),
        Some(ErrorKind::Connection)
    );
    // A non-streaming call cannot be half-answered: it fails whole.
    assert_eq!(
        mock.chat(&req(), &ctx()).await.err().map(|e| e.kind()),
        Some(ErrorKind::Connection)
    );
    Ok(())
}

#[tokio::test]
async fn error_before_content_is_the_first_stream_item() -> Result<(), Box<dyn std::error::Error>> {
    let mock = MockProvider::builder("m")
        .script([MockStep::ErrorBeforeContent(ErrorKind::ServiceUnavailable)])
        .build()?;
    let items = collect(mock.chat_stream(&req(), &ctx()).await?).await;
    assert_eq!(items.len(), 1);
    let error = items.into_iter().next().and_then(Result::err);
    assert_eq!(
        error.map(|e| (e.kind(), e.status())),
        Some((ErrorKind::ServiceUnavailable, None))
    );
    Ok(())
}

#[tokio::test]
async fn always_fail_mode() -> Result<(), MockBuildError> {
    let mock = MockProvider::builder("m")
        .always_fail(ErrorKind::Authentication)
        .script([MockStep::Ok])
        .build()?;
    assert!(
        mock.chat(&req(), &ctx()).await.is_ok(),
        "the script comes first"
    );
    for _ in 0..3 {
        let error = mock.chat(&req(), &ctx()).await.err();
        assert_eq!(
            error.map(|e| (e.kind(), e.status())),
            Some((ErrorKind::Authentication, Some(401)))
        );
    }
    Ok(())
}

async fn failure_pattern(seed: u64, rate: f64) -> Result<Vec<bool>, MockBuildError> {
    let mock = MockProvider::builder("m")
        .failure_rate(rate, ErrorKind::ServiceUnavailable)
        .seed(seed)
        .build()?;
    let mut pattern = Vec::new();
    for _ in 0..400 {
        pattern.push(mock.chat(&req(), &ctx()).await.is_err());
    }
    Ok(pattern)
}

#[tokio::test]
async fn failure_rate_is_seeded_and_roughly_right() -> Result<(), MockBuildError> {
    let a = failure_pattern(7, 0.25).await?;
    assert_eq!(a, failure_pattern(7, 0.25).await?, "same seed, same run");
    assert_ne!(
        a,
        failure_pattern(8, 0.25).await?,
        "another seed, another run"
    );
    let failures = a.iter().filter(|f| **f).count();
    assert!(
        (60..=140).contains(&failures),
        "{failures} failures of 400 at rate 0.25"
    );
    assert!(failure_pattern(1, 0.0).await?.iter().all(|f| !f));
    assert!(failure_pattern(1, 1.0).await?.iter().all(|f| *f));
    Ok(())
}

#[test]
fn invalid_failure_rate_is_rejected_at_build() {
    for rate in [-0.1, 1.5, f64::NAN] {
        let built = MockProvider::builder("m")
            .failure_rate(rate, ErrorKind::Timeout)
            .build();
        assert!(
            matches!(built, Err(MockBuildError::InvalidFailureRate(_))),
            "{rate}"
        );
    }
}

#[tokio::test]
async fn concurrent_calls_consume_each_step_once() -> Result<(), MockBuildError> {
    let mock = MockProvider::builder("m")
        .script(vec![MockStep::fail(ErrorKind::RateLimit); 5])
        .build()?;
    let req = req();
    let ctx = ctx();
    let results = join_all((0..10).map(|_| mock.chat(&req, &ctx))).await;
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 5);
    assert_eq!(mock.calls(), 10);
    Ok(())
}

#[tokio::test]
async fn embeddings_are_deterministic_unit_vectors() -> Result<(), ProviderError> {
    let mock = MockProvider::new("embed-mock");
    let mut request = EmbeddingsRequest::new("group", json!(["hello world", "bye"]));
    request.dimensions = Some(16);
    let a = mock.embeddings(&request, &ctx()).await?;
    let b = mock.embeddings(&request, &ctx()).await?;
    assert_eq!(a, b);
    assert_eq!(a.data.len(), 2);
    assert_eq!(a.usage.prompt_tokens, 3);
    let vector: Vec<f64> = a.data[0]["embedding"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_f64)
        .collect();
    assert_eq!(vector.len(), 16);
    assert!((vector.iter().map(|x| x * x).sum::<f64>() - 1.0).abs() < 1e-9);
    assert_ne!(a.data[0]["embedding"], a.data[1]["embedding"]);

    mock.push_step(MockStep::fail(ErrorKind::RateLimit));
    assert!(mock.embeddings(&request, &ctx()).await.is_err());
    Ok(())
}

#[test]
fn split_words_keeps_every_character() {
    for text in [
        "",
        " ",
        "one",
        "  lead",
        "trail  ",
        "a\nb\tc",
        "héllo wörld  !",
    ] {
        assert_eq!(split_words(text).concat(), text);
    }
    assert_eq!(split_words("a bc  d"), vec!["a", " bc", "  d"]);
}
