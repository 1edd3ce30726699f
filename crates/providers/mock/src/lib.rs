//! An in-process, scripted [`Provider`] for tests and demos: canned answers, injected
//! errors, latency, hangs and broken streams, with no network and no key.
//!
//! # What it is
//!
//! [`MockProvider`] answers chat completions (streamed or not) and embeddings with a canned
//! text, like LiteLLM's `mock_response`. A *script* of [`MockStep`]s, consumed one per call,
//! injects exactly the failures a test needs; an `always_fail` mode and a seeded *failure
//! rate* mode make deployments that are down or flaky, for the demo config and for load tests.
//!
//! # What it is not
//!
//! It speaks no wire format: to test a real transport (HTTP status codes, SSE framing), use
//! `switchyard-mock-upstream`. It never retries and never sleeps except to *simulate*
//! latency ([`MockStep::Delay`], [`MockProviderBuilder::latency`], slow streams), always with
//! `tokio::time::sleep` so that tests on paused time run instantly.
//!
//! # Who depends on it
//!
//! Router and proxy tests, the cli's demo configuration, and anyone testing code built on
//! Switchyard without an API key.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use switchyard_mock::{MockProvider, MockStep};
//! use switchyard_mock::provider::{CallContext, ChatRequest, ErrorKind, Message, Provider};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mock = MockProvider::builder("gpt-4o-mini")
//!     .response("Hello from the mock")
//!     .script([MockStep::fail(ErrorKind::RateLimit).retry_after(Duration::from_secs(2)), MockStep::Ok])
//!     .build()?;
//! let req = ChatRequest::new("my-group", vec![Message::user("hi")]);
//! let ctx = CallContext::new("req-1");
//!
//! let first = mock.chat(&req, &ctx).await.err().ok_or("the script says the first call fails")?;
//! assert_eq!(first.kind(), ErrorKind::RateLimit);
//! assert_eq!(first.retry_after(), Some(Duration::from_secs(2)));
//!
//! let second = mock.chat(&req, &ctx).await?;
//! assert_eq!(second.text(), Some("Hello from the mock"));
//! assert_eq!(mock.calls(), 2);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

/// `switchyard-provider`, re-exported so tests need no second dependency to build requests.
pub use provider;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use provider::{
    BoxFuture, CallContext, ChatChunk, ChatRequest, ChatResponse, ChunkChoice, ChunkStream,
    Content, Delta, EmbeddingsRequest, EmbeddingsResponse, ErrorKind, FinishReason, Message,
    Provider, ProviderError, RetryHint, Usage,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// The provider kind every mock reports from [`Provider::name`].
pub const NAME: &str = "mock";

/// The answer when the builder is given none.
pub const DEFAULT_RESPONSE: &str = "This is a mock response from Switchyard.";

/// What one call does. Steps are consumed one per call, in order; when the script is empty
/// the provider falls back to its mode (answer, always fail, or fail at a rate).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MockStep {
    /// Answer with the canned text (streamed word by word for a streaming call).
    Ok,
    /// Answer with this text instead of the canned one.
    Respond(String),
    /// Fail with this error. Build it with [`MockStep::fail`] and its modifiers.
    Fail {
        /// The error's kind.
        kind: ErrorKind,
        /// The HTTP status to report (`None` for timeouts and connection failures).
        status: Option<u16>,
        /// The upstream's retry-after hint.
        hint: Option<Duration>,
        /// The error message.
        message: String,
    },
    /// Wait this long (simulated latency), then answer.
    Delay(Duration),
    /// Never answer: the call stays pending until it is dropped.
    Hang,
    /// Answer with a stream that waits this long before each chunk (a plain answer for
    /// non-streaming calls).
    SlowStream(Duration),
    /// Stream this many content chunks, then fail with [`ErrorKind::Connection`] as if the
    /// connection dropped. A non-streaming call fails at once with the same error.
    CutAfter(usize),
    /// Accept the streaming call, then yield this error as the first stream item, as an
    /// upstream's error event inside a `200` stream. A non-streaming call fails with it.
    ErrorBeforeContent(ErrorKind),
}

impl MockStep {
    /// A failure of `kind` with the status a provider would report for it (none for
    /// timeouts and connection failures) and a message naming the kind.
    pub fn fail(kind: ErrorKind) -> Self {
        MockStep::Fail {
            kind,
            status: default_status(kind),
            hint: None,
            message: default_message(kind),
        }
    }

    /// Sets a failure's retry-after hint. Other steps are returned unchanged.
    #[must_use]
    pub fn retry_after(self, wait: Duration) -> Self {
        match self {
            MockStep::Fail {
                kind,
                status,
                message,
                ..
            } => MockStep::Fail {
                kind,
                status,
                hint: Some(wait),
                message,
            },
            other => other,
        }
    }

    /// Sets a failure's HTTP status. Other steps are returned unchanged.
    #[must_use]
    pub fn status(self, code: u16) -> Self {
        match self {
            MockStep::Fail {
                kind,
                hint,
                message,
                ..
            } => MockStep::Fail {
                kind,
                status: Some(code),
                hint,
                message,
            },
            other => other,
        }
    }

    /// Sets a failure's message. Other steps are returned unchanged.
    #[must_use]
    pub fn message(self, text: impl Into<String>) -> Self {
        match self {
            MockStep::Fail {
                kind, status, hint, ..
            } => MockStep::Fail {
                kind,
                status,
                hint,
                message: text.into(),
            },
            other => other,
        }
    }
}

/// Why a [`MockProviderBuilder`] could not build.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MockBuildError {
    /// The failure rate is not a probability.
    #[error("mock failure rate must be between 0 and 1, got {0}")]
    InvalidFailureRate(f64),
}

/// Configures a [`MockProvider`]; start with [`MockProvider::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct MockProviderBuilder {
    model: String,
    response: String,
    script: VecDeque<MockStep>,
    mode: Mode,
    seed: u64,
    latency: Option<Duration>,
    chunk_delay: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
enum Mode {
    Answer,
    AlwaysFail(MockStep),
    FailureRate { rate: f64, failure: MockStep },
}

impl MockProviderBuilder {
    /// The canned answer (default: [`DEFAULT_RESPONSE`]).
    pub fn response(mut self, text: impl Into<String>) -> Self {
        self.response = text.into();
        self
    }

    /// Steps for the next calls, one per call, appended to any already given.
    pub fn script(mut self, steps: impl IntoIterator<Item = MockStep>) -> Self {
        self.script.extend(steps);
        self
    }

    /// When the script is empty, fail every call with [`MockStep::fail`]`(kind)`.
    pub fn always_fail(self, kind: ErrorKind) -> Self {
        self.always(MockStep::fail(kind))
    }

    /// When the script is empty, do `step` on every call (a `Hang`, a custom failure, ...).
    pub fn always(mut self, step: MockStep) -> Self {
        self.mode = Mode::AlwaysFail(step);
        self
    }

    /// When the script is empty, fail each call with probability `rate` (0 to 1) with
    /// [`MockStep::fail`]`(kind)`, drawn from a random generator seeded with
    /// [`MockProviderBuilder::seed`], so a run is reproducible.
    pub fn failure_rate(mut self, rate: f64, kind: ErrorKind) -> Self {
        self.mode = Mode::FailureRate {
            rate,
            failure: MockStep::fail(kind),
        };
        self
    }

    /// The seed of the failure-rate generator (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Simulated latency before every answer or failure.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = Some(latency);
        self
    }

    /// Simulated delay before each chunk of every stream.
    pub fn chunk_delay(mut self, delay: Duration) -> Self {
        self.chunk_delay = Some(delay);
        self
    }

    /// Builds the provider.
    ///
    /// # Errors
    ///
    /// [`MockBuildError::InvalidFailureRate`] when the failure rate is not in `0..=1`.
    pub fn build(self) -> Result<MockProvider, MockBuildError> {
        if let Mode::FailureRate { rate, .. } = self.mode
            && !(0.0..=1.0).contains(&rate)
        {
            return Err(MockBuildError::InvalidFailureRate(rate));
        }
        Ok(MockProvider {
            inner: Arc::new(Inner {
                model: self.model,
                response: self.response,
                script: Mutex::new(self.script),
                mode: self.mode,
                rng: Mutex::new(StdRng::seed_from_u64(self.seed)),
                latency: self.latency,
                chunk_delay: self.chunk_delay,
                calls: AtomicUsize::new(0),
            }),
        })
    }
}

/// A scripted in-process provider. Cloning shares the script and the call counter, so a
/// test can keep a clone while the router owns another.
#[derive(Clone)]
pub struct MockProvider {
    inner: Arc<Inner>,
}

struct Inner {
    model: String,
    response: String,
    script: Mutex<VecDeque<MockStep>>,
    mode: Mode,
    rng: Mutex<StdRng>,
    latency: Option<Duration>,
    chunk_delay: Option<Duration>,
    calls: AtomicUsize,
}

impl std::fmt::Debug for MockProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockProvider")
            .field("model", &self.inner.model)
            .field("mode", &self.inner.mode)
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

impl MockProvider {
    /// Starts configuring a mock that reports `model` as its upstream model.
    pub fn builder(model: impl Into<String>) -> MockProviderBuilder {
        MockProviderBuilder {
            model: model.into(),
            response: DEFAULT_RESPONSE.to_owned(),
            script: VecDeque::new(),
            mode: Mode::Answer,
            seed: 0,
            latency: None,
            chunk_delay: None,
        }
    }

    /// A mock that always answers [`DEFAULT_RESPONSE`].
    pub fn new(model: impl Into<String>) -> Self {
        MockProvider {
            inner: Arc::new(Inner {
                model: model.into(),
                response: DEFAULT_RESPONSE.to_owned(),
                script: Mutex::new(VecDeque::new()),
                mode: Mode::Answer,
                rng: Mutex::new(StdRng::seed_from_u64(0)),
                latency: None,
                chunk_delay: None,
                calls: AtomicUsize::new(0),
            }),
        }
    }

    /// How many calls (of any method) have started.
    pub fn calls(&self) -> usize {
        self.inner.calls.load(Ordering::SeqCst)
    }

    /// Appends a step to the script.
    pub fn push_step(&self, step: MockStep) {
        lock(&self.inner.script).push_back(step);
    }

    /// Drops the steps not yet consumed.
    pub fn clear_script(&self) {
        lock(&self.inner.script).clear();
    }

    /// Steps not yet consumed.
    pub fn remaining_steps(&self) -> usize {
        lock(&self.inner.script).len()
    }

    /// Counts the call and picks what it does. Takes and releases the locks before any await.
    fn begin_call(&self) -> MockStep {
        self.inner.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(step) = lock(&self.inner.script).pop_front() {
            return step;
        }
        match &self.inner.mode {
            Mode::Answer => MockStep::Ok,
            Mode::AlwaysFail(step) => step.clone(),
            Mode::FailureRate { rate, failure } => {
                let draw: f64 = lock(&self.inner.rng).random();
                if draw < *rate {
                    failure.clone()
                } else {
                    MockStep::Ok
                }
            }
        }
    }

    async fn simulate_latency(&self) {
        if let Some(latency) = self.inner.latency {
            tokio::time::sleep(latency).await;
        }
    }

    fn response(&self, req: &ChatRequest, text: &str) -> ChatResponse {
        let n = self.calls();
        let mut response =
            ChatResponse::from_text(format!("chatcmpl-mock-{n}"), self.inner.model.clone(), text);
        response.usage = Some(Usage::new(prompt_tokens(req), word_count(text)));
        response
    }

    fn stream(
        &self,
        req: &ChatRequest,
        text: &str,
        delay: Option<Duration>,
        cut_after: Option<usize>,
    ) -> ChunkStream {
        let id = format!("chatcmpl-mock-{}", self.calls());
        let base = ChatChunk::new(id, self.inner.model.clone(), unix_now());
        let mut items: Vec<Result<ChatChunk, ProviderError>> = Vec::new();
        for (i, piece) in split_words(text).into_iter().enumerate() {
            if cut_after == Some(i) {
                break;
            }
            let mut delta = Delta::text(piece);
            if i == 0 {
                delta.role = Some(provider::Role::Assistant);
            }
            items.push(Ok(base.clone().with_choice(ChunkChoice::new(0, delta))));
        }
        if cut_after.is_some() {
            items.push(Err(ProviderError::new(
                ErrorKind::Connection,
                NAME,
                "the mock upstream closed the connection mid-stream",
            )));
        } else {
            items.push(Ok(base
                .clone()
                .with_choice(ChunkChoice::finished(0, FinishReason::Stop))));
            if req.wants_stream_usage() {
                let mut usage = base;
                usage.usage = Some(Usage::new(prompt_tokens(req), word_count(text)));
                items.push(Ok(usage));
            }
        }
        let delay = delay.or(self.inner.chunk_delay);
        Box::pin(futures::stream::iter(items).then(move |item| async move {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            item
        }))
    }
}

impl Provider for MockProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn model(&self) -> &str {
        &self.inner.model
    }

    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        _ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            let step = self.begin_call();
            self.simulate_latency().await;
            match step {
                MockStep::Ok | MockStep::SlowStream(_) => {
                    Ok(self.response(req, &self.inner.response))
                }
                MockStep::Respond(text) => Ok(self.response(req, &text)),
                MockStep::Delay(wait) => {
                    tokio::time::sleep(wait).await;
                    Ok(self.response(req, &self.inner.response))
                }
                MockStep::Hang => std::future::pending().await,
                MockStep::Fail {
                    kind,
                    status,
                    hint,
                    message,
                } => Err(failure(kind, status, hint, message)),
                MockStep::CutAfter(_) => Err(ProviderError::new(
                    ErrorKind::Connection,
                    NAME,
                    "the mock upstream closed the connection before the body was complete",
                )),
                MockStep::ErrorBeforeContent(kind) => Err(failure(
                    kind,
                    default_status(kind),
                    None,
                    default_message(kind),
                )),
            }
        })
    }

    fn chat_stream<'a>(
        &'a self,
        req: &'a ChatRequest,
        _ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<ChunkStream, ProviderError>> {
        Box::pin(async move {
            let step = self.begin_call();
            self.simulate_latency().await;
            let text = &self.inner.response;
            match step {
                MockStep::Ok => Ok(self.stream(req, text, None, None)),
                MockStep::Respond(text) => Ok(self.stream(req, &text, None, None)),
                MockStep::SlowStream(delay) => Ok(self.stream(req, text, Some(delay), None)),
                MockStep::Delay(wait) => {
                    tokio::time::sleep(wait).await;
                    Ok(self.stream(req, text, None, None))
                }
                MockStep::Hang => std::future::pending().await,
                MockStep::Fail {
                    kind,
                    status,
                    hint,
                    message,
                } => Err(failure(kind, status, hint, message)),
                MockStep::CutAfter(n) => Ok(self.stream(req, text, None, Some(n))),
                MockStep::ErrorBeforeContent(kind) => {
                    // Inside a 200 stream: no status of its own, as with a real error event.
                    let error = failure(kind, None, None, default_message(kind));
                    let stream: ChunkStream = Box::pin(futures::stream::iter([Err(error)]));
                    Ok(stream)
                }
            }
        })
    }

    fn embeddings<'a>(
        &'a self,
        req: &'a EmbeddingsRequest,
        _ctx: &'a CallContext,
    ) -> BoxFuture<'a, Result<EmbeddingsResponse, ProviderError>> {
        Box::pin(async move {
            let step = self.begin_call();
            self.simulate_latency().await;
            match step {
                MockStep::Hang => std::future::pending().await,
                MockStep::Fail {
                    kind,
                    status,
                    hint,
                    message,
                } => return Err(failure(kind, status, hint, message)),
                MockStep::ErrorBeforeContent(kind) => {
                    return Err(failure(
                        kind,
                        default_status(kind),
                        None,
                        default_message(kind),
                    ));
                }
                MockStep::CutAfter(_) => {
                    return Err(ProviderError::new(
                        ErrorKind::Connection,
                        NAME,
                        "the mock upstream closed the connection",
                    ));
                }
                MockStep::Delay(wait) => tokio::time::sleep(wait).await,
                MockStep::Ok | MockStep::Respond(_) | MockStep::SlowStream(_) => {}
            }
            let inputs = embedding_inputs(&req.input);
            let dimensions = req.dimensions.unwrap_or(8).clamp(1, 4096);
            let tokens: u64 = inputs.iter().map(|s| word_count(s)).sum();
            let data = inputs
                .iter()
                .zip(0u32..)
                .map(|(input, index)| json!({"object": "embedding", "index": index, "embedding": embed(input, dimensions)}))
                .collect();
            Ok(EmbeddingsResponse::new(
                self.inner.model.clone(),
                data,
                Usage::new(tokens, 0),
            ))
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded data stays consistent even if a holder panicked: every critical section
    // is a single push, pop or draw.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn failure(
    kind: ErrorKind,
    status: Option<u16>,
    hint: Option<Duration>,
    message: String,
) -> ProviderError {
    let mut error = ProviderError::new(kind, NAME, message);
    if let Some(status) = status {
        error = error.with_status(status);
    }
    if let Some(wait) = hint {
        error = error.with_hint(RetryHint::after(wait));
    }
    error
}

fn default_status(kind: ErrorKind) -> Option<u16> {
    match kind {
        ErrorKind::Timeout | ErrorKind::Connection => None,
        other => Some(other.http_status()),
    }
}

fn default_message(kind: ErrorKind) -> String {
    format!("mock failure: {kind} (injected by the mock provider's script)")
}

/// Splits text into stream pieces: the first word, then each following word with the
/// whitespace before it, so the pieces concatenate back to the text.
fn split_words(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut in_word = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if in_word && start < i {
                pieces.push(&text[start..i]);
                start = i;
            }
            in_word = false;
        } else {
            in_word = true;
        }
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

fn word_count(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

fn prompt_tokens(req: &ChatRequest) -> u64 {
    req.messages
        .iter()
        .filter_map(|m: &Message| m.content.as_ref())
        .map(|c: &Content| word_count(&c.to_text()))
        .sum()
}

fn embedding_inputs(input: &Value) -> Vec<String> {
    match input {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) if items.iter().all(Value::is_number) => vec![input.to_string()],
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect(),
        other => vec![other.to_string()],
    }
}

/// A deterministic unit vector derived from the text (FNV-1a seeded per dimension).
fn embed(text: &str, dimensions: u32) -> Vec<f64> {
    let raw: Vec<f64> = (0..dimensions)
        .map(|d| {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ u64::from(d);
            for byte in text.bytes() {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
            // Map the top 53 bits to [-1, 1).
            (hash >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        })
        .collect();
    let norm = raw.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm == 0.0 {
        raw
    } else {
        raw.into_iter().map(|x| x / norm).collect()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests;
