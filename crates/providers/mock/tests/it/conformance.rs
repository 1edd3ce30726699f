//! The mock provider passes the provider conformance kit, and the kit catches broken providers.
//!
//! The mock has no wire, so the harness scripts it directly: each scenario becomes the
//! `MockStep`s that play it. That also tests the kit itself, against a provider known to be
//! right and against deliberately broken ones.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use provider::conformance::{Scenario, Upstream, check_provider};
use provider::{
    BoxFuture, CallContext, ChatRequest, ChatResponse, ChunkStream, ErrorKind, Provider,
    ProviderError,
};
use switchyard_mock::{MockProvider, MockStep};

/// Scripts a `MockProvider`; hits are the calls since the last `arrange`.
struct ScriptedMock {
    mock: MockProvider,
    baseline: AtomicUsize,
    scenario: Mutex<Option<Scenario>>,
}

impl ScriptedMock {
    fn new(mock: MockProvider) -> Self {
        ScriptedMock {
            mock,
            baseline: AtomicUsize::new(0),
            scenario: Mutex::new(None),
        }
    }

    fn scenario(&self) -> Option<Scenario> {
        *self.scenario.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn steps_for(scenario: Scenario) -> MockStep {
    match scenario {
        Scenario::Success => MockStep::Ok,
        Scenario::Status429 { retry_after_secs } => MockStep::fail(ErrorKind::RateLimit)
            .status(429)
            .retry_after(Duration::from_secs(retry_after_secs)),
        Scenario::Status500 => MockStep::fail(ErrorKind::InternalServer).status(500),
        Scenario::Status503 => MockStep::fail(ErrorKind::ServiceUnavailable).status(503),
        Scenario::Status401 => MockStep::fail(ErrorKind::Authentication).status(401),
        Scenario::ContextWindow400 => MockStep::fail(ErrorKind::ContextWindowExceeded).status(400),
        Scenario::Hang => MockStep::Hang,
        Scenario::CutStream { after_chunks } => MockStep::CutAfter(after_chunks),
        Scenario::ErrorEventInStream => MockStep::ErrorBeforeContent(ErrorKind::ServiceUnavailable),
        // No wire to garble: the mock reports what a transport reports for a garbled body.
        Scenario::MalformedJson => MockStep::fail(ErrorKind::InternalServer)
            .status(200)
            .message("the upstream sent a body that is not valid JSON"),
    }
}

impl Upstream for ScriptedMock {
    fn arrange<'a>(&'a self, scenario: Scenario) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.mock.clear_script();
            // "Every request until the next arrange": enough copies for any retrying provider.
            for _ in 0..5 {
                self.mock.push_step(steps_for(scenario));
            }
            self.baseline.store(self.mock.calls(), Ordering::SeqCst);
            *self.scenario.lock().unwrap_or_else(PoisonError::into_inner) = Some(scenario);
        })
    }

    fn hits<'a>(&'a self) -> BoxFuture<'a, usize> {
        Box::pin(async move { self.mock.calls() - self.baseline.load(Ordering::SeqCst) })
    }
}

#[tokio::test]
async fn mock_provider_passes_the_conformance_kit() {
    let mock = MockProvider::builder("mock-model")
        .response("Hello from the conformance kit")
        .build()
        .expect("valid builder");
    let upstream = ScriptedMock::new(mock.clone());
    match check_provider(Arc::new(mock), &upstream).await {
        Ok(report) => {
            assert!(report.checks.len() >= 18, "{report}");
            assert!(report.to_string().contains("stream_cut"));
        }
        Err(failure) => panic!("{failure}"),
    }
}

/// A provider that breaks rule 1: it retries on its own.
struct Retrying(MockProvider);

impl Provider for Retrying {
    fn name(&self) -> &'static str {
        // The same name as the errors it passes on, so only the defect under test shows.
        "mock"
    }
    fn model(&self) -> &str {
        self.0.model()
    }
    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            match self.0.chat(req, ctx).await {
                Ok(r) => Ok(r),
                Err(_) => self.0.chat(req, ctx).await,
            }
        })
    }
    fn chat_stream<'a>(
        &'a self,
        req: &'a ChatRequest,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<ChunkStream, ProviderError>> {
        self.0.chat_stream(req, ctx)
    }
}

#[tokio::test]
async fn the_kit_catches_a_provider_that_retries() {
    let mock = MockProvider::new("m");
    let upstream = ScriptedMock::new(mock.clone());
    let failure = check_provider(Arc::new(Retrying(mock)), &upstream)
        .await
        .expect_err("retrying must fail");
    assert_eq!(failure.check, "chat_status_429");
    assert!(failure.found.contains("2 requests"), "{failure}");
    assert!(failure.to_string().contains("rule 1"), "{failure}");
}

/// A provider that breaks rule 4: it hides a cut stream by ending it cleanly.
struct HidesCuts(MockProvider);

impl Provider for HidesCuts {
    fn name(&self) -> &'static str {
        // The same name as the errors it passes on, so only the defect under test shows.
        "mock"
    }
    fn model(&self) -> &str {
        self.0.model()
    }
    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        self.0.chat(req, ctx)
    }
    fn chat_stream<'a>(
        &'a self,
        req: &'a ChatRequest,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<ChunkStream, ProviderError>> {
        use futures::StreamExt;
        Box::pin(async move {
            let stream = self.0.chat_stream(req, ctx).await?;
            let hidden: ChunkStream =
                Box::pin(stream.take_while(|item| std::future::ready(item.is_ok())));
            Ok(hidden)
        })
    }
}

#[tokio::test]
async fn the_kit_catches_a_provider_that_hides_a_cut_stream() {
    let mock = MockProvider::new("m");
    let upstream = ScriptedMock::new(mock.clone());
    // Errors as the first stream item are also swallowed, so the first stream check that
    // expects an error fails; that must be a stream check naming rule 2 or 4.
    let failure = check_provider(Arc::new(HidesCuts(mock)), &upstream)
        .await
        .expect_err("hiding cuts must fail");
    assert!(failure.check.starts_with("stream_"), "{failure}");
}

/// A provider that breaks rule 5: it blocks the thread instead of awaiting.
struct Blocks(Arc<ScriptedMock>);

impl Provider for Blocks {
    fn name(&self) -> &'static str {
        // The same name as the errors it passes on, so only the defect under test shows.
        "mock"
    }
    fn model(&self) -> &str {
        self.0.mock.model()
    }
    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            if self.0.scenario() == Some(Scenario::Hang) {
                // The mistake under test: a blocking wait where an await belongs.
                std::thread::sleep(Duration::from_millis(1500));
            }
            self.0.mock.chat(req, ctx).await
        })
    }
    fn chat_stream<'a>(
        &'a self,
        req: &'a ChatRequest,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<ChunkStream, ProviderError>> {
        self.0.mock.chat_stream(req, ctx)
    }
}

#[tokio::test]
async fn the_kit_catches_a_provider_that_blocks_the_thread() {
    let upstream = Arc::new(ScriptedMock::new(MockProvider::new("m")));
    let provider = Arc::new(Blocks(Arc::clone(&upstream)));
    let failure = check_provider(provider, &*upstream)
        .await
        .expect_err("blocking must fail");
    assert_eq!(failure.check, "chat_hang", "{failure}");
    assert!(failure.to_string().contains("rule 5"), "{failure}");
}

/// A provider that breaks rule 2: it reports every failure as a server error.
struct Misclassifies(MockProvider);

impl Provider for Misclassifies {
    fn name(&self) -> &'static str {
        // The same name as the errors it passes on, so only the defect under test shows.
        "mock"
    }
    fn model(&self) -> &str {
        self.0.model()
    }
    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            self.0.chat(req, ctx).await.map_err(|e| {
                let mut flat =
                    ProviderError::new(ErrorKind::InternalServer, "mock", e.message().to_owned());
                if let Some(status) = e.status() {
                    flat = flat.with_status(status);
                }
                flat
            })
        })
    }
    fn chat_stream<'a>(
        &'a self,
        req: &'a ChatRequest,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<ChunkStream, ProviderError>> {
        self.0.chat_stream(req, ctx)
    }
}

#[tokio::test]
async fn the_kit_catches_a_provider_that_misclassifies() {
    let mock = MockProvider::new("m");
    let upstream = ScriptedMock::new(mock.clone());
    let failure = check_provider(Arc::new(Misclassifies(mock)), &upstream)
        .await
        .expect_err("must fail");
    assert_eq!(failure.check, "chat_status_429");
    assert!(
        failure.found.contains("InternalServer") && failure.found.contains("RateLimit"),
        "{failure}"
    );
}

/// A provider that hands over bodies that say something else than what it returns: the plain
/// answer's (`stream: false`) or the stream's chunks' (`stream: true`).
struct ForgesBodies {
    inner: MockProvider,
    stream: bool,
}

/// `value` (a response or a chunk, as JSON) with another model.
fn forged(mut value: serde_json::Value) -> bytes::Bytes {
    value["model"] = "another-model".into();
    serde_json::to_vec(&value).expect("serializes").into()
}

impl Provider for ForgesBodies {
    fn name(&self) -> &'static str {
        "mock"
    }
    fn model(&self) -> &str {
        self.inner.model()
    }
    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        self.inner.chat(req, ctx)
    }
    fn chat_with_body<'a>(
        &'a self,
        req: &'a ChatRequest,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<(ChatResponse, Option<bytes::Bytes>), ProviderError>> {
        Box::pin(async move {
            let response = self.inner.chat(req, ctx).await?;
            let json = serde_json::to_value(&response).expect("serializes");
            let body = (!self.stream).then(|| forged(json));
            Ok((response, body))
        })
    }
    fn chat_stream<'a>(
        &'a self,
        req: &'a ChatRequest,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<ChunkStream, ProviderError>> {
        self.inner.chat_stream(req, ctx)
    }
    fn chat_stream_with_bodies<'a>(
        &'a self,
        req: &'a ChatRequest,
        ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<provider::ChunkBodyStream, ProviderError>> {
        use futures::StreamExt;
        Box::pin(async move {
            let chunks = self.inner.chat_stream(req, ctx).await?;
            let stream = self.stream;
            let forging: provider::ChunkBodyStream = Box::pin(chunks.map(move |item| {
                item.map(|chunk| {
                    let json = serde_json::to_value(&chunk).expect("serializes");
                    let body = stream.then(|| forged(json));
                    (chunk, body)
                })
            }));
            Ok(forging)
        })
    }
}

#[tokio::test]
async fn the_kit_catches_bodies_that_are_not_what_they_come_with() {
    for (stream, check, found) in [
        (false, "chat_with_body", "different response"),
        (true, "stream_with_bodies", "different chunk"),
    ] {
        let mock = MockProvider::new("m");
        let upstream = ScriptedMock::new(mock.clone());
        let provider = ForgesBodies {
            inner: mock,
            stream,
        };
        let failure = check_provider(Arc::new(provider), &upstream)
            .await
            .expect_err("must fail");
        assert_eq!(failure.check, check);
        assert!(failure.found.contains(found), "{failure}");
    }
}
