//! Shared helpers: scripted mock deployments, requests, an event recorder and a stream stub.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::StreamExt;
use mock::{MockProvider, MockProviderBuilder, MockStep};
use provider::{
    BoxFuture, CallContext, ChatChunk, ChatRequest, ChatResponse, ChunkChoice, ChunkStream, Delta,
    ErrorKind, Message, Provider, ProviderError,
};
use retry_core::{Decision, Target};
use switchyard_router::{
    AttemptFailure, AttemptStart, DeploymentConfig, FailureEvent, FallbackEvent, Observer,
    RetryEvent, Router, RouterError, SuccessEvent,
};

pub(crate) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A chat request for model group `group`.
pub(crate) fn req(group: &str) -> ChatRequest {
    ChatRequest::new(group, vec![Message::user("Hello!")])
}

/// A failure step of `kind`.
pub(crate) fn fail(kind: ErrorKind) -> MockStep {
    MockStep::fail(kind)
}

/// Builds a mock from a builder started with [`mock`].
pub(crate) fn build(b: MockProviderBuilder) -> MockProvider {
    b.build().expect("a valid mock")
}

/// A mock builder whose answer names the mock, so tests can tell who answered.
pub(crate) fn mock(name: &str) -> MockProviderBuilder {
    MockProvider::builder(name).response(format!("answer from {name}"))
}

/// A mock that always answers.
pub(crate) fn healthy(name: &str) -> MockProvider {
    build(mock(name))
}

/// A mock that fails every call with `kind`.
pub(crate) fn failing(name: &str, kind: ErrorKind) -> MockProvider {
    build(mock(name).always_fail(kind))
}

/// A mock that plays `steps`, then answers.
pub(crate) fn scripted(name: &str, steps: impl IntoIterator<Item = MockStep>) -> MockProvider {
    build(mock(name).script(steps))
}

/// A deployment of `group` with id `id`, served by (a clone of) `m`.
pub(crate) fn dep(group: &str, id: &str, m: &MockProvider) -> DeploymentConfig {
    DeploymentConfig::new(group, Arc::new(m.clone())).id(id)
}

/// A router with one group `g` of one deployment `a` over `m`, its random choices seeded.
pub(crate) fn solo(m: &MockProvider, seed: u64) -> Router {
    Router::builder()
        .deployment(dep("g", "a", m))
        .seed(seed)
        .build()
        .expect("valid router")
}

/// The live figures of deployment `id`.
pub(crate) fn info(router: &Router, id: &str) -> switchyard_router::DeploymentInfo {
    router
        .deployments()
        .into_iter()
        .find(|d| &*d.id == id)
        .expect("a configured deployment")
}

/// Time left in the cooldown of deployment `id`.
pub(crate) fn cooling_for(router: &Router, id: &str) -> Option<Duration> {
    info(router, id).cooling_for
}

/// The deployments tried by a failed request, in order.
pub(crate) fn hops_of(err: &RouterError) -> Vec<String> {
    err.report()
        .attempts
        .iter()
        .map(|a| a.deployment.to_string())
        .collect()
}

/// An observer that writes one line per event, in call order.
#[derive(Default)]
pub(crate) struct Recorder {
    events: Mutex<Vec<String>>,
}

impl Recorder {
    pub(crate) fn events(&self) -> Vec<String> {
        self.events.lock().expect("recorder lock").clone()
    }

    fn push(&self, line: String) {
        self.events.lock().expect("recorder lock").push(line);
    }
}

/// A decision in a few words: `retry other 0ms`, `fallback generic`, `give up`.
pub(crate) fn decision_summary(d: &Decision) -> String {
    match d {
        Decision::Retry { target, wait, .. } => {
            let target = match target {
                Target::Any => "any",
                Target::Other => "other",
            };
            format!("retry {target} {}ms", wait.as_millis())
        }
        Decision::FallBack { list, .. } => format!("fallback {list:?}"),
        Decision::GiveUp { reason } => format!("give up {reason:?}"),
    }
}

impl Observer for Recorder {
    fn on_attempt_start(&self, e: &AttemptStart<'_>) {
        self.push(format!("start {}/{} #{}", e.group, e.deployment, e.attempt));
    }
    fn on_attempt_failure(&self, e: &AttemptFailure<'_>) {
        self.push(format!(
            "fail {} {} -> {}",
            e.deployment,
            e.error.kind(),
            decision_summary(e.decision)
        ));
    }
    fn on_retry(&self, e: &RetryEvent<'_>) {
        self.push(format!(
            "retry {} #{} after {}ms",
            e.group,
            e.retry_number,
            e.wait.as_millis()
        ));
    }
    fn on_fallback(&self, e: &FallbackEvent<'_>) {
        self.push(format!("fallback {} -> {}", e.from, e.to));
    }
    fn on_success(&self, e: &SuccessEvent<'_>) {
        self.push(format!(
            "success {} retries={} fallbacks={}",
            e.report.final_deployment.as_deref().unwrap_or("?"),
            e.report.retries,
            e.report.fallbacks
        ));
    }
    fn on_failure(&self, e: &FailureEvent<'_>) {
        self.push(format!("failure {}", e.error.kind()));
    }
}

/// A provider whose stream sends one content chunk at once, then nothing for `gap`,
/// then a last chunk: the mock cannot make a stall *after* content.
pub(crate) struct StallAfterFirstChunk {
    pub(crate) gap: Duration,
    pub(crate) calls: std::sync::atomic::AtomicUsize,
}

impl StallAfterFirstChunk {
    pub(crate) fn new(gap: Duration) -> Self {
        StallAfterFirstChunk {
            gap,
            calls: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    pub(crate) fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Provider for StallAfterFirstChunk {
    fn name(&self) -> &'static str {
        "stall"
    }

    fn model(&self) -> &str {
        "stall-1"
    }

    fn chat<'a>(
        &'a self,
        _req: &'a ChatRequest,
        _ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async { Ok(ChatResponse::from_text("stall-0", "stall-1", "hello")) })
    }

    fn chat_stream<'a>(
        &'a self,
        _req: &'a ChatRequest,
        _ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<ChunkStream, ProviderError>> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let gap = self.gap;
        Box::pin(async move {
            let chunk = |text: &str| {
                ChatChunk::new("stall-0", "stall-1", 0)
                    .with_choice(ChunkChoice::new(0, Delta::text(text)))
            };
            let first = futures::stream::iter([Ok(chunk("hello"))]);
            let second = futures::stream::once(async move {
                tokio::time::sleep(gap).await;
                Ok(chunk(" world"))
            });
            let stream: ChunkStream = Box::pin(first.chain(second));
            Ok(stream)
        })
    }
}

/// Asserts that `elapsed` is `expected` give or take tokio's timer, which rounds every
/// sleep up to the next millisecond (paused time is otherwise exact).
#[track_caller]
pub(crate) fn assert_elapsed(elapsed: Duration, expected: Duration, sleeps: usize) {
    let slack = ms(u64::try_from(sleeps).expect("few sleeps"));
    assert!(
        elapsed >= expected && elapsed <= expected + slack,
        "elapsed {elapsed:?}, expected {expected:?} (+ at most {slack:?} of timer rounding)"
    );
}

/// Asserts that deployment `id` cools for `expected`, to the microsecond the store keeps.
#[track_caller]
pub(crate) fn assert_cooling(router: &Router, id: &str, expected: Duration) {
    let left = cooling_for(router, id);
    assert!(
        left.is_some_and(|l| l <= expected && expected - l < ms(1)),
        "{id} cools for {left:?}, expected {expected:?}"
    );
}

/// Asserts that `actual` is `expected` to within a millisecond: cooldown ends are kept in
/// microseconds, so waits derived from them may be a hair shorter.
#[track_caller]
pub(crate) fn assert_close(actual: Duration, expected: Duration) {
    assert!(
        actual.abs_diff(expected) < ms(1),
        "{actual:?}, expected {expected:?}"
    );
}
