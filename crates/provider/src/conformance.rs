//! Conformance kit: checks that a provider keeps the [`Provider`] contract.
//!
//! A provider author writes a small [`Upstream`] harness that can make *their* upstream (a
//! local fake HTTP server, or a scripted in-process double) behave as each [`Scenario`]
//! says, then calls [`check_provider`] once:
//!
//! ```ignore
//! #[tokio::test]
//! async fn my_provider_keeps_the_contract() {
//!     let upstream = MyFakeServer::start().await;
//!     let provider = Arc::new(MyProvider::new(upstream.url(), "test-key", "my-model"));
//!     let report = check_provider(provider, &upstream).await.unwrap_or_else(|f| panic!("{f}"));
//!     println!("{report}");
//! }
//! ```
//!
//! Every check arranges one scenario, makes one call and verifies what came back and how
//! many requests the upstream saw. A failure names the check, the contract rule it broke,
//! what was observed, and how to fix it.
//!
//! The kit runs on tokio (it needs timers) and uses real time: the hang checks wait about
//! 200 ms each, the whole run takes about a second against a local upstream.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use retry_core::{ErrorKind, RetryDefault};

use crate::{
    BoxFuture, CallContext, ChatChunk, ChatRequest, ChatResponse, ChunkStream, Message, Provider,
    ProviderError, StreamOptions,
};

/// How long any call may take against an upstream that answers at once.
const CALL_LIMIT: Duration = Duration::from_secs(10);
/// How long the hang checks let a call run before dropping it.
const HANG_AFTER: Duration = Duration::from_millis(200);
/// How much later than [`HANG_AFTER`] a dropped call may return and still count as prompt.
const DROP_SLACK: Duration = Duration::from_secs(1);
/// The `retry-after` the rate-limit scenario asks the upstream to send, in seconds.
pub const RETRY_AFTER_SECS: u64 = 7;
/// How many content chunks the cut-stream scenario lets through before cutting.
pub const CUT_AFTER_CHUNKS: usize = 2;

/// A harness that scripts the upstream a provider under test talks to.
///
/// [`Upstream::arrange`] sets how the upstream answers the *next* request (and every one
/// after it, until the next `arrange`), and resets the hit counter; [`Upstream::hits`] says
/// how many requests reached the upstream since the last `arrange`.
pub trait Upstream: Send + Sync {
    /// Makes the upstream behave as `scenario` says and resets the hit counter.
    fn arrange<'a>(&'a self, scenario: Scenario) -> BoxFuture<'a, ()>;

    /// Requests received since the last [`Upstream::arrange`].
    fn hits<'a>(&'a self) -> BoxFuture<'a, usize>;
}

/// How the scripted upstream answers, in the provider's own wire format.
///
/// Deliberately not `#[non_exhaustive]`: when a scenario is added, every harness should
/// fail to compile until it can play it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// A normal answer: a complete response, or a complete stream of at least one content
    /// chunk, a finish reason, and the protocol's terminal event.
    Success,
    /// `429` with a rate-limit error body (not a quota one) and `retry-after:
    /// <retry_after_secs>` (whole seconds).
    Status429 {
        /// The `retry-after` header value.
        retry_after_secs: u64,
    },
    /// `500` with the provider's error body.
    Status500,
    /// `503` with the provider's error body.
    Status503,
    /// `401` with the provider's invalid-key error body.
    Status401,
    /// `400` with the provider's context-window error body (OpenAI:
    /// `code: "context_length_exceeded"`; Anthropic: `prompt is too long`).
    ContextWindow400,
    /// Accepts the request and never sends the response headers.
    Hang,
    /// `200` and a stream of `after_chunks` content chunks, then the connection closes
    /// without the terminal event. (For a non-streaming request: cut the body short.)
    CutStream {
        /// Content chunks sent before the cut.
        after_chunks: usize,
    },
    /// `200` and a stream whose first event is the provider's error event meaning
    /// "overloaded" (Anthropic `event: error` with `overloaded_error`; OpenAI-style
    /// `data: {"error": {"type": "server_error", ...}}`).
    ErrorEventInStream,
    /// `200` with a body that is not valid JSON (for a stream: a data event that is not).
    MalformedJson,
}

/// What a successful run checked.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConformanceReport {
    /// The provider's [`Provider::name`].
    pub provider: &'static str,
    /// Each check that passed, with how long its call took.
    pub checks: Vec<(&'static str, Duration)>,
}

impl fmt::Display for ConformanceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "provider `{}` passed {} conformance checks:",
            self.provider,
            self.checks.len()
        )?;
        for (check, elapsed) in &self.checks {
            writeln!(f, "  ok  {check} ({} ms)", elapsed.as_millis())?;
        }
        Ok(())
    }
}

/// A broken contract rule: which check, which rule, what happened, and how to fix it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConformanceFailure {
    /// The check that failed, e.g. `chat_status_429`.
    pub check: &'static str,
    /// The contract rule, in words.
    pub rule: &'static str,
    /// What the provider (or the harness) did instead.
    pub found: String,
    /// How to fix it.
    pub fix: &'static str,
}

impl fmt::Display for ConformanceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "conformance check `{}` failed\n  rule:  {}\n  found: {}\n  fix:   {}",
            self.check, self.rule, self.found, self.fix
        )
    }
}

impl StdError for ConformanceFailure {}

/// Runs every conformance check against `provider`, scripting its upstream with `upstream`.
///
/// Returns the report of passed checks, or the first failure. Must run inside a tokio
/// runtime with timers enabled (`#[tokio::test]`); it uses real time, not paused time,
/// because the provider talks to a real upstream.
pub async fn check_provider(
    provider: Arc<dyn Provider>,
    upstream: &dyn Upstream,
) -> Result<ConformanceReport, ConformanceFailure> {
    let mut kit = Kit {
        report: ConformanceReport {
            provider: provider.name(),
            checks: Vec::new(),
        },
        provider,
        upstream,
    };
    kit.identity()?;
    kit.chat_success().await?;
    kit.chat_with_body().await?;
    kit.stream_success().await?;
    kit.stream_with_bodies().await?;
    let statuses = [
        (
            Scenario::Status429 {
                retry_after_secs: RETRY_AFTER_SECS,
            },
            429,
            ErrorKind::RateLimit,
        ),
        (Scenario::Status500, 500, ErrorKind::InternalServer),
        (Scenario::Status503, 503, ErrorKind::ServiceUnavailable),
        (Scenario::Status401, 401, ErrorKind::Authentication),
        (
            Scenario::ContextWindow400,
            400,
            ErrorKind::ContextWindowExceeded,
        ),
    ];
    for (scenario, status, kind) in statuses {
        kit.chat_status(scenario, status, kind).await?;
        kit.stream_status(scenario, status, kind).await?;
    }
    kit.stream_cut().await?;
    kit.stream_error_event().await?;
    kit.chat_malformed().await?;
    kit.stream_malformed().await?;
    kit.chat_hang().await?;
    kit.stream_hang().await?;
    Ok(kit.report)
}

struct Kit<'u> {
    provider: Arc<dyn Provider>,
    upstream: &'u dyn Upstream,
    report: ConformanceReport,
}

fn fail(
    check: &'static str,
    rule: &'static str,
    found: impl Into<String>,
    fix: &'static str,
) -> ConformanceFailure {
    ConformanceFailure {
        check,
        rule,
        found: found.into(),
        fix,
    }
}

const RULE_ONE_ATTEMPT: &str =
    "exactly one upstream attempt per call (rule 1: never retry, the router does)";
const RULE_CLASSIFY: &str =
    "classify every failure into a ProviderError with the right kind and status (rule 2)";
const RULE_STREAM_ERROR: &str =
    "an error event inside a 200 stream before any content is an Err (rule 3)";
const RULE_STREAM_END: &str =
    "a stream ends with None after its final chunk, and a cut stream yields an Err first (rule 4)";
const RULE_DROP: &str = "dropping the call future cancels the upstream call promptly and never blocks the thread (rule 5)";
const RULE_NO_PANIC: &str = "malformed answers are errors, never panics (rule 7)";
const RULE_ANSWER: &str = "a successful upstream answer becomes a usable response";
const RULE_BODY: &str = "a body from chat_with_body is JSON that reads as the response it came with (the proxy forwards it)";

impl Kit<'_> {
    fn request(&self, stream: bool) -> ChatRequest {
        let mut req = ChatRequest::new(
            "conformance-group",
            vec![Message::user("Say hello in three words.")],
        );
        if stream {
            req.stream = Some(true);
            req.stream_options = Some(StreamOptions::include_usage(true));
        }
        req.max_tokens = Some(16);
        req
    }

    fn ctx(check: &'static str) -> CallContext {
        CallContext::new(format!("conformance-{check}"))
    }

    fn passed(&mut self, check: &'static str, started: Instant) {
        self.report.checks.push((check, started.elapsed()));
    }

    fn identity(&mut self) -> Result<(), ConformanceFailure> {
        let name = self.provider.name();
        if name.is_empty()
            || name
                .chars()
                .any(|c| c.is_ascii_uppercase() || c.is_whitespace())
        {
            return Err(fail(
                "identity",
                "name() is the provider kind, a short lowercase word used in errors and metrics",
                format!("name() = {name:?}"),
                "return a constant like \"openai\" or \"anthropic\" from name()",
            ));
        }
        if self.provider.model().is_empty() {
            return Err(fail(
                "identity",
                "model() is the upstream model this instance sends, whatever req.model says",
                "model() = \"\"",
                "store the configured model and return it from model()",
            ));
        }
        self.report.checks.push(("identity", Duration::ZERO));
        Ok(())
    }

    /// Runs a call with the kit's time limit, turning a panic or a stall into a failure.
    async fn guarded<T>(
        &self,
        check: &'static str,
        call: impl Future<Output = T>,
    ) -> Result<T, ConformanceFailure> {
        match tokio::time::timeout(CALL_LIMIT, AssertUnwindSafe(call).catch_unwind()).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(panic)) => Err(fail(
                check,
                RULE_NO_PANIC,
                format!("the call panicked: {}", panic_text(&*panic)),
                "return Err(ProviderError) instead of unwrapping or indexing on upstream data",
            )),
            Err(_) => Err(fail(
                check,
                "a call against an upstream that answers at once finishes promptly",
                format!("no answer within {} s", CALL_LIMIT.as_secs()),
                "make sure the provider reads the whole answer and does not wait or retry; also check the harness plays the scenario",
            )),
        }
    }

    /// Reads a stream to its end (or its first error), within the kit's time limit for each item.
    async fn drain(
        &self,
        check: &'static str,
        mut stream: ChunkStream,
    ) -> Result<Drained, ConformanceFailure> {
        let mut drained = Drained::default();
        loop {
            let next = self.guarded(check, stream.next()).await?;
            match next {
                None => return Ok(drained),
                Some(Ok(chunk)) => {
                    drained.chunks.push(chunk);
                    if drained.chunks.len() > 100_000 {
                        return Err(fail(
                            check,
                            RULE_STREAM_END,
                            "more than 100000 chunks without an end",
                            "end the stream with None after the protocol's terminal event",
                        ));
                    }
                }
                Some(Err(e)) => {
                    drained.error = Some(e);
                    return Ok(drained);
                }
            }
        }
    }

    async fn expect_one_hit(&self, check: &'static str) -> Result<(), ConformanceFailure> {
        match self.upstream.hits().await {
            1 => Ok(()),
            0 => Err(fail(
                check,
                RULE_ONE_ATTEMPT,
                "the upstream saw no request",
                "point the provider at the harness (base URL) and make the request before returning; if the harness counts hits, check it counts this one",
            )),
            n => Err(fail(
                check,
                RULE_ONE_ATTEMPT,
                format!("the upstream saw {n} requests for one call"),
                "remove retries and fallbacks from the provider and build its HTTP client with retries off: the router decides about retries",
            )),
        }
    }

    async fn chat_success(&mut self) -> Result<(), ConformanceFailure> {
        const CHECK: &str = "chat_success";
        self.upstream.arrange(Scenario::Success).await;
        let started = Instant::now();
        let req = self.request(false);
        let ctx = Self::ctx(CHECK);
        let result = self.guarded(CHECK, self.provider.chat(&req, &ctx)).await?;
        let response: ChatResponse = result.map_err(|e| {
            fail(CHECK, RULE_ANSWER, format!("Err({e})"), "parse the upstream's success body into ChatResponse; check the harness answers 200")
        })?;
        let text = response
            .choices
            .first()
            .and_then(|c| c.message.content.as_ref())
            .map(|c| c.to_text());
        if text.is_none_or(|t| t.is_empty()) {
            return Err(fail(
                CHECK,
                RULE_ANSWER,
                format!(
                    "response has no text in its first choice: {} choices",
                    response.choices.len()
                ),
                "map the upstream's answer text into choices[0].message.content",
            ));
        }
        self.expect_one_hit(CHECK).await?;
        self.passed(CHECK, started);
        Ok(())
    }

    async fn chat_with_body(&mut self) -> Result<(), ConformanceFailure> {
        const CHECK: &str = "chat_with_body";
        self.upstream.arrange(Scenario::Success).await;
        let started = Instant::now();
        let req = self.request(false);
        let ctx = Self::ctx(CHECK);
        let result = self
            .guarded(CHECK, self.provider.chat_with_body(&req, &ctx))
            .await?;
        let (response, body) = result.map_err(|e| {
            fail(
                CHECK,
                RULE_ANSWER,
                format!("Err({e})"),
                "answer chat_with_body as chat does; the default implementation calls chat",
            )
        })?;
        if let Some(body) = body {
            match serde_json::from_slice::<ChatResponse>(&body) {
                Ok(read) if read == response => {}
                Ok(_) => {
                    return Err(fail(
                        CHECK,
                        RULE_BODY,
                        "the body reads as a different response".to_owned(),
                        "give the body only when the response was parsed from it unchanged, else None",
                    ));
                }
                Err(e) => {
                    return Err(fail(
                        CHECK,
                        RULE_BODY,
                        format!("the body is not a chat completion: {e}"),
                        "give the upstream's body only for OpenAI-format answers, else None",
                    ));
                }
            }
        }
        self.expect_one_hit(CHECK).await?;
        self.passed(CHECK, started);
        Ok(())
    }

    async fn stream_with_bodies(&mut self) -> Result<(), ConformanceFailure> {
        const CHECK: &str = "stream_with_bodies";
        self.upstream.arrange(Scenario::Success).await;
        let started = Instant::now();
        let req = self.request(true);
        let ctx = Self::ctx(CHECK);
        let mut stream = self
            .guarded(CHECK, self.provider.chat_stream_with_bodies(&req, &ctx))
            .await?
            .map_err(|e| {
                fail(
                    CHECK,
                    RULE_ANSWER,
                    format!("chat_stream_with_bodies returned Err({e})"),
                    "answer chat_stream_with_bodies as chat_stream does; the default implementation calls chat_stream",
                )
            })?;
        let mut chunks = 0usize;
        while let Some(item) = self.guarded(CHECK, stream.next()).await? {
            let (chunk, body) = item.map_err(|e| {
                fail(
                    CHECK,
                    RULE_STREAM_END,
                    format!("a complete upstream stream yielded Err({e})"),
                    "yield the same items as chat_stream",
                )
            })?;
            chunks += 1;
            if chunks > 100_000 {
                return Err(fail(
                    CHECK,
                    RULE_STREAM_END,
                    "more than 100000 chunks without an end",
                    "end the stream with None after the protocol's terminal event",
                ));
            }
            let Some(body) = body else { continue };
            match serde_json::from_slice::<ChatChunk>(&body) {
                Ok(read) if read == chunk => {}
                Ok(_) => {
                    return Err(fail(
                        CHECK,
                        RULE_BODY,
                        format!("chunk {chunks}'s body reads as a different chunk"),
                        "give a chunk's body only when the chunk was parsed from it unchanged, else None",
                    ));
                }
                Err(e) => {
                    return Err(fail(
                        CHECK,
                        RULE_BODY,
                        format!("chunk {chunks}'s body is not a chat completion chunk: {e}"),
                        "give the upstream's event data only for OpenAI-format chunks, else None",
                    ));
                }
            }
        }
        self.expect_one_hit(CHECK).await?;
        self.passed(CHECK, started);
        Ok(())
    }

    async fn stream_success(&mut self) -> Result<(), ConformanceFailure> {
        const CHECK: &str = "stream_success";
        self.upstream.arrange(Scenario::Success).await;
        let started = Instant::now();
        let req = self.request(true);
        let ctx = Self::ctx(CHECK);
        let stream = self
            .guarded(CHECK, self.provider.chat_stream(&req, &ctx))
            .await?
            .map_err(|e| {
                fail(
                    CHECK,
                    RULE_ANSWER,
                    format!("chat_stream returned Err({e})"),
                    "return Ok(stream) once the upstream answers 200",
                )
            })?;
        let drained = self.drain(CHECK, stream).await?;
        if let Some(e) = drained.error {
            return Err(fail(
                CHECK,
                RULE_STREAM_END,
                format!("a complete upstream stream yielded Err({e})"),
                "yield the chunks of a complete stream as Ok and end with None after the terminal event",
            ));
        }
        if !drained.chunks.iter().any(ChatChunk::has_content) {
            return Err(fail(
                CHECK,
                RULE_ANSWER,
                format!("{} chunks, none with content", drained.chunks.len()),
                "put the upstream's text deltas into choices[].delta.content",
            ));
        }
        if !drained.chunks.iter().any(|c| c.finish_reason().is_some()) {
            return Err(fail(
                CHECK,
                RULE_ANSWER,
                "no chunk carried a finish_reason",
                "map the upstream's stop reason into the last chunk's finish_reason",
            ));
        }
        self.expect_one_hit(CHECK).await?;
        self.passed(CHECK, started);
        Ok(())
    }

    fn check_error(
        &self,
        check: &'static str,
        error: &ProviderError,
        status: u16,
        kind: ErrorKind,
        scenario: Scenario,
    ) -> Result<(), ConformanceFailure> {
        if error.kind() != kind {
            return Err(fail(
                check,
                RULE_CLASSIFY,
                format!(
                    "kind {:?} for {scenario:?}, expected {kind:?} ({error})",
                    error.kind()
                ),
                "build the error with ProviderError::from_http (or retry_core::classify::classify) from the status and the error body",
            ));
        }
        if error.status() != Some(status) {
            return Err(fail(
                check,
                RULE_CLASSIFY,
                format!("status {:?}, expected Some({status})", error.status()),
                "record the upstream's HTTP status with ProviderError::with_status (from_http does it)",
            ));
        }
        if error.provider() != self.provider.name() {
            return Err(fail(
                check,
                RULE_CLASSIFY,
                format!(
                    "error names provider {:?}, but name() is {:?}",
                    error.provider(),
                    self.provider.name()
                ),
                "pass self.name() as the provider when building errors",
            ));
        }
        if error.message().trim().is_empty() {
            return Err(fail(
                check,
                RULE_CLASSIFY,
                "the error message is empty",
                "keep a short, safe message from the error body (from_http does it)",
            ));
        }
        if let Scenario::Status429 { retry_after_secs } = scenario {
            let expected = Duration::from_secs(retry_after_secs);
            let ok = error
                .retry_after()
                .is_some_and(|d| d <= expected && d + Duration::from_secs(1) >= expected);
            if !ok {
                return Err(fail(
                    check,
                    "a 429's retry-after reaches the router as the error's retry hint (rule 2)",
                    format!(
                        "retry_after() = {:?}, expected {expected:?}",
                        error.retry_after()
                    ),
                    "read the response headers with retry_core::hint::parse_headers and attach them with with_hint (from_http does it)",
                ));
            }
        }
        Ok(())
    }

    async fn chat_status(
        &mut self,
        scenario: Scenario,
        status: u16,
        kind: ErrorKind,
    ) -> Result<(), ConformanceFailure> {
        let check = check_name("chat", scenario);
        self.upstream.arrange(scenario).await;
        let started = Instant::now();
        let req = self.request(false);
        let ctx = Self::ctx(check);
        let result = self.guarded(check, self.provider.chat(&req, &ctx)).await?;
        let Err(error) = result else {
            return Err(fail(
                check,
                RULE_CLASSIFY,
                format!("Ok(..) for an upstream answering {status}"),
                "check the HTTP status before parsing the body, and return Err for 4xx and 5xx",
            ));
        };
        self.check_error(check, &error, status, kind, scenario)?;
        self.expect_one_hit(check).await?;
        self.passed(check, started);
        Ok(())
    }

    async fn stream_status(
        &mut self,
        scenario: Scenario,
        status: u16,
        kind: ErrorKind,
    ) -> Result<(), ConformanceFailure> {
        let check = check_name("stream", scenario);
        self.upstream.arrange(scenario).await;
        let started = Instant::now();
        let req = self.request(true);
        let ctx = Self::ctx(check);
        let error = match self
            .guarded(check, self.provider.chat_stream(&req, &ctx))
            .await?
        {
            Err(error) => error,
            Ok(stream) => {
                let drained = self.drain(check, stream).await?;
                match drained.error {
                    Some(error) if drained.chunks.is_empty() => error,
                    other => {
                        return Err(fail(
                            check,
                            RULE_CLASSIFY,
                            format!(
                                "chat_stream returned Ok and the stream gave {} chunks then {}",
                                drained.chunks.len(),
                                other.map_or("no error".to_owned(), |e| format!("Err({e})"))
                            ),
                            "check the HTTP status before reading the stream and return Err from chat_stream for 4xx and 5xx",
                        ));
                    }
                }
            }
        };
        self.check_error(check, &error, status, kind, scenario)?;
        self.expect_one_hit(check).await?;
        self.passed(check, started);
        Ok(())
    }

    async fn stream_cut(&mut self) -> Result<(), ConformanceFailure> {
        const CHECK: &str = "stream_cut";
        self.upstream
            .arrange(Scenario::CutStream {
                after_chunks: CUT_AFTER_CHUNKS,
            })
            .await;
        let started = Instant::now();
        let req = self.request(true);
        let ctx = Self::ctx(CHECK);
        let error = match self
            .guarded(CHECK, self.provider.chat_stream(&req, &ctx))
            .await?
        {
            Err(error) => error,
            Ok(stream) => {
                let drained = self.drain(CHECK, stream).await?;
                drained.error.ok_or_else(|| {
                    fail(
                        CHECK,
                        RULE_STREAM_END,
                        format!("the stream ended with None after {} chunks though the upstream never sent its terminal event", drained.chunks.len()),
                        "remember whether the terminal event ([DONE], message_stop) arrived, and yield Err(ErrorKind::Connection) when the body ends without it (sse::openai_chunks does this)",
                    )
                })?
            }
        };
        if error.kind().retry_default() != RetryDefault::Yes {
            return Err(fail(
                CHECK,
                RULE_STREAM_END,
                format!(
                    "a cut stream gave kind {:?} ({error}), which the router would not retry",
                    error.kind()
                ),
                "report a cut stream as ErrorKind::Connection",
            ));
        }
        self.expect_one_hit(CHECK).await?;
        self.passed(CHECK, started);
        Ok(())
    }

    async fn stream_error_event(&mut self) -> Result<(), ConformanceFailure> {
        const CHECK: &str = "stream_error_event";
        self.upstream.arrange(Scenario::ErrorEventInStream).await;
        let started = Instant::now();
        let req = self.request(true);
        let ctx = Self::ctx(CHECK);
        let error = match self
            .guarded(CHECK, self.provider.chat_stream(&req, &ctx))
            .await?
        {
            Err(error) => error,
            Ok(stream) => {
                let drained = self.drain(CHECK, stream).await?;
                if drained.chunks.iter().any(ChatChunk::has_content) {
                    return Err(fail(
                        CHECK,
                        RULE_STREAM_ERROR,
                        "content chunks came before the error",
                        "an upstream error event yields Err, never a chunk with the error text as content",
                    ));
                }
                drained.error.ok_or_else(|| {
                    fail(
                        CHECK,
                        RULE_STREAM_ERROR,
                        format!("the stream gave {} chunks and no error", drained.chunks.len()),
                        "recognise the provider's error event and yield it as Err (ProviderError::from_stream_error), as the first item",
                    )
                })?
            }
        };
        if error.kind().retry_default() != RetryDefault::Yes {
            return Err(fail(
                CHECK,
                RULE_CLASSIFY,
                format!(
                    "an overloaded/server error event gave kind {:?} ({error})",
                    error.kind()
                ),
                "classify the event from its type and code (ProviderError::from_stream_error)",
            ));
        }
        self.expect_one_hit(CHECK).await?;
        self.passed(CHECK, started);
        Ok(())
    }

    async fn chat_malformed(&mut self) -> Result<(), ConformanceFailure> {
        const CHECK: &str = "chat_malformed_json";
        self.upstream.arrange(Scenario::MalformedJson).await;
        let started = Instant::now();
        let req = self.request(false);
        let ctx = Self::ctx(CHECK);
        let result = self.guarded(CHECK, self.provider.chat(&req, &ctx)).await?;
        if result.is_ok() {
            return Err(fail(
                CHECK,
                RULE_NO_PANIC,
                "Ok(..) for a body that is not JSON",
                "return Err(ErrorKind::InternalServer) when the body does not parse",
            ));
        }
        self.expect_one_hit(CHECK).await?;
        self.passed(CHECK, started);
        Ok(())
    }

    async fn stream_malformed(&mut self) -> Result<(), ConformanceFailure> {
        const CHECK: &str = "stream_malformed_json";
        self.upstream.arrange(Scenario::MalformedJson).await;
        let started = Instant::now();
        let req = self.request(true);
        let ctx = Self::ctx(CHECK);
        if let Ok(stream) = self
            .guarded(CHECK, self.provider.chat_stream(&req, &ctx))
            .await?
        {
            let drained = self.drain(CHECK, stream).await?;
            if drained.error.is_none() {
                return Err(fail(
                    CHECK,
                    RULE_NO_PANIC,
                    format!(
                        "{} chunks and a clean end for a stream with malformed data",
                        drained.chunks.len()
                    ),
                    "yield Err(ErrorKind::InternalServer) for a data event that does not parse, never skip it silently",
                ));
            }
        }
        self.expect_one_hit(CHECK).await?;
        self.passed(CHECK, started);
        Ok(())
    }

    async fn hang<T: fmt::Debug>(
        &mut self,
        check: &'static str,
        call: BoxFuture<'_, Result<T, ProviderError>>,
    ) -> Result<(), ConformanceFailure> {
        let started = Instant::now();
        let outcome = tokio::time::timeout(HANG_AFTER, AssertUnwindSafe(call).catch_unwind()).await;
        // The call future is dropped here (on timeout) or already finished.
        let elapsed = started.elapsed();
        match outcome {
            Ok(Err(panic)) => {
                return Err(fail(
                    check,
                    RULE_NO_PANIC,
                    format!("the call panicked: {}", panic_text(&*panic)),
                    "return Err(ProviderError) instead of panicking",
                ));
            }
            Ok(Ok(Ok(value))) => {
                return Err(fail(
                    check,
                    RULE_ANSWER,
                    format!("the upstream never answered, yet the call returned Ok({value:?})"),
                    "only return Ok with data the upstream sent",
                ));
            }
            // Giving up early with a timeout or connection error is allowed; anything else is not.
            Ok(Ok(Err(e))) if !matches!(e.kind(), ErrorKind::Timeout | ErrorKind::Connection) => {
                return Err(fail(
                    check,
                    RULE_CLASSIFY,
                    format!("a hanging upstream gave kind {:?} ({e})", e.kind()),
                    "report a request that got no answer as ErrorKind::Timeout",
                ));
            }
            Ok(Ok(Err(_))) | Err(_) => {}
        }
        if elapsed > HANG_AFTER + DROP_SLACK {
            return Err(fail(
                check,
                RULE_DROP,
                format!(
                    "the call was due to be dropped after {} ms but returned after {} ms",
                    HANG_AFTER.as_millis(),
                    elapsed.as_millis()
                ),
                "use async I/O only (no blocking reads, no std::thread::sleep, no block_on) so that the executor can drop the future",
            ));
        }
        if self.upstream.hits().await > 1 {
            return Err(fail(
                check,
                RULE_ONE_ATTEMPT,
                "more than one request reached the hanging upstream",
                "do not retry or race requests inside the provider",
            ));
        }
        self.passed(check, started);
        Ok(())
    }

    async fn chat_hang(&mut self) -> Result<(), ConformanceFailure> {
        self.upstream.arrange(Scenario::Hang).await;
        let provider = Arc::clone(&self.provider);
        let req = self.request(false);
        let ctx = Self::ctx("chat_hang");
        self.hang("chat_hang", provider.chat(&req, &ctx)).await
    }

    async fn stream_hang(&mut self) -> Result<(), ConformanceFailure> {
        self.upstream.arrange(Scenario::Hang).await;
        let provider = Arc::clone(&self.provider);
        let req = self.request(true);
        let ctx = Self::ctx("stream_hang");
        let call: BoxFuture<'_, Result<Option<ChatChunk>, ProviderError>> = Box::pin(async {
            let mut stream = provider.chat_stream(&req, &ctx).await?;
            // A provider may answer the headers and hang in the body: read the first item too.
            stream.next().await.transpose()
        });
        self.hang("stream_hang", call).await
    }
}

#[derive(Debug, Default)]
struct Drained {
    chunks: Vec<ChatChunk>,
    error: Option<ProviderError>,
}

fn check_name(method: &str, scenario: Scenario) -> &'static str {
    match (method, scenario) {
        ("chat", Scenario::Status429 { .. }) => "chat_status_429",
        ("chat", Scenario::Status500) => "chat_status_500",
        ("chat", Scenario::Status503) => "chat_status_503",
        ("chat", Scenario::Status401) => "chat_status_401",
        ("chat", Scenario::ContextWindow400) => "chat_context_window_400",
        (_, Scenario::Status429 { .. }) => "stream_status_429",
        (_, Scenario::Status500) => "stream_status_500",
        (_, Scenario::Status503) => "stream_status_503",
        (_, Scenario::Status401) => "stream_status_401",
        (_, Scenario::ContextWindow400) => "stream_context_window_400",
        _ => "status",
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_messages_name_the_check_rule_and_fix() {
        let f = fail(
            "chat_status_429",
            RULE_ONE_ATTEMPT,
            "the upstream saw 3 requests for one call",
            "remove retries",
        );
        let text = f.to_string();
        assert!(text.contains("`chat_status_429`"));
        assert!(text.contains("rule 1"));
        assert!(text.contains("3 requests"));
        assert!(text.contains("fix:   remove retries"));
    }
}
