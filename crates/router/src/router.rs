//! The `Router` and the attempt loop that executes `retry-core`'s decisions.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use futures::StreamExt;
use provider::{
    CallContext, ChatChunk, ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse,
    ProviderError,
};
use rand::{SeedableRng, rngs::SmallRng};
use retry_core::{
    BackoffConfig, CooldownChange, Decision, DecisionInput, ErrorKind, Failure, FailureContext,
    FallbackAvailability, FallbackRoute, RetryBudget, RetryLimits, RetryPolicy, StopReason,
};
use tokio::time::Instant;
use tracing::Instrument;

use crate::{
    AttemptRecord, FailureReason, Report, RequestOptions, Routed, RouterError, RoutingStrategy,
    deployment::{Deployment, InFlight},
    observer::{
        AttemptFailure, AttemptStart, FailureEvent, FallbackEvent, Observer, RetryEvent,
        SuccessEvent, notify,
    },
    state::{DeploymentKey, StateStore},
    strategy,
    stream::RoutedStream,
};

/// Routes requests to deployments with retries, fallbacks, cooldowns and load balancing.
///
/// Cheap to clone: clones share deployments, state and observers.
#[derive(Clone)]
pub struct Router {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Group {
    pub(crate) name: Arc<str>,
    pub(crate) members: Vec<usize>,
}

pub(crate) struct Settings {
    pub(crate) num_retries: Option<u32>,
    pub(crate) backoff: BackoffConfig,
    pub(crate) retry_policy: Option<RetryPolicy>,
    pub(crate) model_group_retry_policy: HashMap<String, RetryPolicy>,
    pub(crate) fallbacks: HashMap<String, Vec<String>>,
    pub(crate) context_window_fallbacks: HashMap<String, Vec<String>>,
    pub(crate) content_policy_fallbacks: HashMap<String, Vec<String>>,
    pub(crate) default_fallbacks: Vec<String>,
    pub(crate) max_fallbacks: usize,
    pub(crate) timeout: Option<Duration>,
    pub(crate) stream_timeout: Option<Duration>,
    pub(crate) strategy: RoutingStrategy,
}

impl Settings {
    /// Whether the upstream asked for a wait longer than the router sleeps on: §3 says the
    /// request moves on without waiting and the deployment cools for the hinted time.
    pub(crate) fn hint_beyond_wait(&self, hint: Option<Duration>) -> bool {
        hint.is_some_and(|h| h > self.backoff.max_retry_after)
    }
}

/// The router's clock: wall time at build plus tokio's monotonic time since, so that
/// cooldown deadlines can be shared between instances and paused-time tests stay exact.
#[derive(Clone, Copy)]
pub(crate) struct Clock {
    wall_base: Duration,
    start: Instant,
}

impl Clock {
    pub(crate) fn new(wall_base: Duration) -> Self {
        Clock {
            wall_base,
            start: Instant::now(),
        }
    }

    pub(crate) fn now(&self) -> Duration {
        self.wall_base + self.start.elapsed()
    }
}

pub(crate) struct Inner {
    pub(crate) groups: HashMap<Arc<str>, Group>,
    pub(crate) group_order: Vec<Arc<str>>,
    pub(crate) deployments: Vec<Arc<Deployment>>,
    pub(crate) settings: Settings,
    pub(crate) budget: Option<Mutex<RetryBudget>>,
    pub(crate) state: Arc<dyn StateStore>,
    pub(crate) observers: Vec<Arc<dyn Observer>>,
    pub(crate) clock: Clock,
    pub(crate) seed: u64,
    pub(crate) request_counter: AtomicU64,
}

impl Deployment {
    pub(crate) fn as_key(&self) -> DeploymentKey<'_> {
        DeploymentKey {
            index: self.index,
            id: &self.id,
        }
    }
}

/// A deployment as seen from outside the router.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeploymentInfo {
    /// The deployment id.
    pub id: Arc<str>,
    /// Its model group.
    pub group: Arc<str>,
    /// The provider kind (`openai`, `anthropic`, ...).
    pub provider: &'static str,
    /// The upstream model.
    pub model: String,
    /// Requests in flight now.
    pub in_flight: u32,
    /// Time left in its cooldown, if cooling.
    pub cooling_for: Option<Duration>,
}

/// The result of one deployment's health check.
#[derive(Debug)]
#[non_exhaustive]
pub struct HealthReport {
    /// The deployment.
    pub deployment: DeploymentInfo,
    /// `Ok` with the latency, or the failure.
    pub result: Result<Duration, ProviderError>,
}

impl Router {
    /// A builder with the defaults of `SEMANTICS.md`.
    pub fn builder() -> crate::RouterBuilder {
        crate::RouterBuilder::default()
    }

    /// The model groups, in configuration order.
    pub fn model_groups(&self) -> impl Iterator<Item = &str> {
        self.inner.group_order.iter().map(|g| &**g)
    }

    /// Whether `group` is a configured model group.
    pub fn has_group(&self, group: &str) -> bool {
        self.inner.groups.contains_key(group)
    }

    /// Every deployment with its live figures.
    pub fn deployments(&self) -> Vec<DeploymentInfo> {
        let now = self.inner.clock.now();
        self.inner
            .deployments
            .iter()
            .map(|d| self.inner.info(d, now))
            .collect()
    }

    /// Number of deployments cooling now.
    pub fn cooling_count(&self) -> usize {
        let now = self.inner.clock.now();
        self.inner
            .deployments
            .iter()
            .filter(|d| self.inner.state.cooling_until(d.as_key(), now).is_some())
            .count()
    }

    /// Checks every deployment once (one attempt each, no retries), concurrently.
    pub async fn health_check(&self, timeout: Duration) -> Vec<HealthReport> {
        let checks = self.inner.deployments.iter().map(|d| async move {
            let ctx = CallContext::new("health-check").with_attempt_timeout(timeout);
            let start = Instant::now();
            let result = match tokio::time::timeout(timeout, d.provider.health_check(&ctx)).await {
                Ok(Ok(())) => Ok(start.elapsed()),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(timeout_error(d, timeout)),
            };
            HealthReport {
                deployment: self.inner.info(d, self.inner.clock.now()),
                result,
            }
        });
        futures::future::join_all(checks).await
    }

    /// A chat completion, with retries and fallbacks. `req.model` names the model group.
    pub async fn chat(
        &self,
        req: &ChatRequest,
        opts: &RequestOptions,
    ) -> Result<Routed<ChatResponse>, RouterError> {
        let mut plan = Plan::new(&self.inner, &req.model, opts, false)?;
        // A debug-level span: at the default info level an enabled span cost every request
        // about 4% of the proxy's instructions (the fmt subscriber formats its fields into a
        // String), so the info and warn events below carry request_id and model themselves.
        let span = tracing::debug_span!("request", request_id = %plan.report.request_id, model = %req.model);
        async move {
            loop {
                let attempt = plan.next_attempt().await?;
                let d = attempt.deployment.clone();
                let outcome = attempt
                    .run(d.provider.chat_with_body(req, &attempt.ctx))
                    .await;
                match outcome {
                    Ok((resp, upstream_body)) => {
                        let tokens = resp.usage.as_ref().map_or(0, |u| u.total_tokens);
                        let report = plan.succeed(attempt, tokens);
                        return Ok(Routed {
                            value: resp,
                            report,
                            upstream_body,
                        });
                    }
                    Err(err) => plan.fail(attempt, err)?,
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Embeddings, with retries and fallbacks. `req.model` names the model group.
    pub async fn embeddings(
        &self,
        req: &EmbeddingsRequest,
        opts: &RequestOptions,
    ) -> Result<Routed<EmbeddingsResponse>, RouterError> {
        let mut plan = Plan::new(&self.inner, &req.model, opts, false)?;
        let span = tracing::debug_span!("request", request_id = %plan.report.request_id, model = %req.model);
        async move {
            loop {
                let attempt = plan.next_attempt().await?;
                let d = attempt.deployment.clone();
                match attempt.run(d.provider.embeddings(req, &attempt.ctx)).await {
                    Ok(resp) => {
                        let report = plan.succeed(attempt, 0);
                        return Ok(Routed {
                            value: resp,
                            report,
                            upstream_body: None,
                        });
                    }
                    Err(err) => plan.fail(attempt, err)?,
                }
            }
        }
        .instrument(span)
        .await
    }

    /// A streamed chat completion.
    ///
    /// Retries and fallbacks happen until the first content chunk (the commit point), so
    /// an error returned here means nothing reached the caller. After it, a failure ends
    /// the stream with an `Err` item; dropping the stream cancels the upstream call.
    pub async fn chat_stream(
        &self,
        req: &ChatRequest,
        opts: &RequestOptions,
    ) -> Result<RoutedStream, RouterError> {
        let mut plan = Plan::new(&self.inner, &req.model, opts, true)?;
        let span = tracing::debug_span!("request", request_id = %plan.report.request_id, model = %req.model, stream = true);
        async move {
            loop {
                let attempt = plan.next_attempt().await?;
                let d = attempt.deployment.clone();
                let chunk_timeout = self.inner.attempt_limit(&d, true);
                let opened = attempt
                    .run_with(
                        chunk_timeout,
                        d.provider.chat_stream_with_bodies(req, &attempt.ctx),
                    )
                    .await;
                let mut stream = match opened {
                    Ok(s) => s,
                    Err(err) => {
                        plan.fail(attempt, err)?;
                        continue;
                    }
                };
                // Hold chunks back until one carries content: until then a failure is
                // still an ordinary, retryable attempt failure.
                let mut held: Vec<(ChatChunk, Option<Bytes>)> = Vec::new();
                let first = loop {
                    let next = attempt
                        .run_with(chunk_timeout, async { Ok(stream.next().await) })
                        .await;
                    match next {
                        Ok(Some(Ok(chunk))) => {
                            let content = chunk.0.has_content();
                            held.push(chunk);
                            if content {
                                break Ok(true);
                            }
                        }
                        Ok(Some(Err(err))) | Err(err) => break Err(err),
                        Ok(None) => break Ok(false),
                    }
                };
                match first {
                    Err(err) => plan.fail(attempt, err)?,
                    Ok(more) => {
                        let deadline = plan.deadline;
                        let (report, committed) = plan.commit_stream(attempt);
                        return Ok(RoutedStream::new(
                            self.inner.clone(),
                            committed,
                            report,
                            held,
                            if more { Some(stream) } else { None },
                            chunk_timeout,
                            deadline,
                            opts.metadata.clone(),
                        ));
                    }
                }
            }
        }
        .instrument(span)
        .await
    }

    /// The router's clock, as a `Duration` since the Unix epoch.
    pub fn now(&self) -> Duration {
        self.inner.clock.now()
    }

    /// **Not part of the API**: a hook for the selection benchmark (`benches/selection.rs`),
    /// which may change or go away in any release.
    ///
    /// Plans one request to `group` and picks a deployment for its first attempt `selections`
    /// times, exactly as a request does (cooldown and limit checks, then the strategy), without
    /// starting an attempt. Returns the index of the last pick, or `None` for an unknown group
    /// or when nothing can be picked.
    #[doc(hidden)]
    pub fn bench_select(&self, group: &str, streaming: bool, selections: u64) -> Option<usize> {
        let opts = RequestOptions::default();
        let mut plan = Plan::new(&self.inner, group, &opts, streaming).ok()?;
        let mut last = None;
        for _ in 0..selections {
            let now = self.inner.clock.now();
            last = match plan.select(now) {
                Selection::Picked(index) => Some(index),
                Selection::AllCooling(_) | Selection::OverLimit(_) => None,
            };
        }
        last
    }
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("groups", &self.inner.group_order)
            .field("deployments", &self.inner.deployments.len())
            .field("strategy", &self.inner.settings.strategy)
            .finish_non_exhaustive()
    }
}

impl Inner {
    /// The limit of one attempt (§7): `timeout`, or for a streamed attempt `stream_timeout`
    /// (until the first chunk and between chunks), falling back to `timeout`.
    fn attempt_limit(&self, d: &Deployment, streaming: bool) -> Option<Duration> {
        let s = &self.settings;
        let timeout = d.timeout.or(s.timeout);
        if streaming {
            d.stream_timeout.or(s.stream_timeout).or(timeout)
        } else {
            timeout
        }
    }

    fn info(&self, d: &Deployment, now: Duration) -> DeploymentInfo {
        DeploymentInfo {
            id: d.id.clone(),
            group: d.group.clone(),
            provider: d.provider.name(),
            model: d.provider.model().to_owned(),
            in_flight: d.in_flight(),
            cooling_for: self
                .state
                .cooling_until(d.as_key(), now)
                .map(|u| u.saturating_sub(now)),
        }
    }

    /// The fallback list of `list` kind for the requested group.
    fn fallback_list<'a>(
        &'a self,
        requested: &str,
        list: FallbackRoute,
        opts: &'a RequestOptions,
    ) -> &'a [String] {
        let s = &self.settings;
        match list {
            FallbackRoute::Generic => opts.fallbacks.as_deref().unwrap_or_else(|| {
                s.fallbacks
                    .get(requested)
                    .or_else(|| s.fallbacks.get("*"))
                    .map_or(s.default_fallbacks.as_slice(), Vec::as_slice)
            }),
            FallbackRoute::ContextWindow => s
                .context_window_fallbacks
                .get(requested)
                .or_else(|| s.context_window_fallbacks.get("*"))
                .map_or(&[], Vec::as_slice),
            FallbackRoute::ContentPolicy => s
                .content_policy_fallbacks
                .get(requested)
                .or_else(|| s.content_policy_fallbacks.get("*"))
                .map_or(&[], Vec::as_slice),
            FallbackRoute::None => &[],
        }
    }
}

fn timeout_error(d: &Deployment, limit: Duration) -> ProviderError {
    ProviderError::new(
        ErrorKind::Timeout,
        d.provider.name(),
        format!("no answer from deployment `{}` within {limit:?}", d.id),
    )
}

/// One attempt in progress.
pub(crate) struct Attempt {
    pub(crate) deployment: Arc<Deployment>,
    pub(crate) ctx: CallContext,
    /// When this attempt must end: the attempt limit or the request deadline, the sooner.
    ends_at: Option<Instant>,
    /// Whether `ends_at` is the request deadline rather than the attempt's own limit.
    ends_at_deadline: bool,
    started: Instant,
    wait_before: Duration,
    pub(crate) guard: InFlight,
}

impl Attempt {
    /// Runs a provider call within the attempt's limit.
    async fn run<T>(
        &self,
        call: impl Future<Output = Result<T, ProviderError>>,
    ) -> Result<T, ProviderError> {
        self.run_with(None, call).await
    }

    /// Runs a provider call within the attempt's limit and an extra per-step limit.
    async fn run_with<T>(
        &self,
        step: Option<Duration>,
        call: impl Future<Output = Result<T, ProviderError>>,
    ) -> Result<T, ProviderError> {
        let step_end = step.map(|s| Instant::now() + s);
        let end = match (self.ends_at, step_end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match end {
            None => call.await,
            Some(end) => match tokio::time::timeout_at(end, call).await {
                Ok(r) => r,
                Err(_) => Err(timeout_error(
                    &self.deployment,
                    end.saturating_duration_since(self.started),
                )),
            },
        }
    }
}

/// The state of one request across its attempts: the loop `SEMANTICS.md` describes.
struct Plan<'r> {
    router: &'r Inner,
    opts: &'r RequestOptions,
    requested: Arc<str>,
    streaming: bool,
    deadline: Option<Instant>,
    rng: SmallRng,
    /// The group being tried and what it has spent.
    group: &'r Group,
    retries_spent: u32,
    /// Groups tried so far, the requested one first.
    tried: Vec<Arc<str>>,
    /// Deployments that failed in this request.
    failed: Vec<usize>,
    /// Where and after how long the next attempt goes.
    pending_wait: Duration,
    cooldown_waits: u32,
    report: Report,
    requested_error: Option<ProviderError>,
    last_error: Option<ProviderError>,
    attempt_no: u32,
}

enum Selection {
    Picked(usize),
    /// Every deployment is cooling; the first returns at this time.
    AllCooling(Duration),
    /// The deployments left are over their rpm/tpm limits; capacity returns after this.
    OverLimit(Duration),
}

impl<'r> Plan<'r> {
    fn new(
        router: &'r Inner,
        model: &str,
        opts: &'r RequestOptions,
        streaming: bool,
    ) -> Result<Self, RouterError> {
        let counter = router.request_counter.fetch_add(1, Ordering::Relaxed);
        let request_id: Arc<str> = match &opts.request_id {
            Some(id) => id.clone(),
            None => format!("req-{:016x}", router.seed.rotate_left(17) ^ counter).into(),
        };
        let Some(group) = router.groups.get(model) else {
            let known: Vec<&str> = router.group_order.iter().map(|g| &**g).collect();
            let report = Report {
                request_id,
                ..Report::default()
            };
            return Err(RouterError::new(
                ErrorKind::NotFound,
                FailureReason::UnknownModel,
                format!(
                    "model `{model}` is not configured here; use one of: {}",
                    known.join(", ")
                ),
                None,
                report,
                None,
            ));
        };
        if let Some(budget) = &router.budget {
            budget
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .record_request(router.clock.now());
        }
        let limits = RetryLimits {
            request: opts.num_retries,
            group_policy: router.settings.model_group_retry_policy.get(model),
            policy: router.settings.retry_policy.as_ref(),
            deployment: None,
            router: router.settings.num_retries,
        };
        let max_retries = limits.resolve(ErrorKind::InternalServer, false).retries;
        Ok(Plan {
            router,
            opts,
            requested: group.name.clone(),
            streaming,
            deadline: opts.timeout.map(|t| Instant::now() + t),
            rng: SmallRng::seed_from_u64(router.seed ^ counter.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            group,
            retries_spent: 0,
            tried: vec![group.name.clone()],
            failed: Vec::new(),
            pending_wait: Duration::ZERO,
            cooldown_waits: 0,
            report: Report {
                request_id,
                max_retries,
                ..Report::default()
            },
            requested_error: None,
            last_error: None,
            attempt_no: 0,
        })
    }

    fn time_left(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    fn metadata(&self) -> Option<&'r serde_json::Value> {
        self.opts.metadata.as_deref()
    }

    /// Waits as decided, picks a deployment, and starts an attempt.
    async fn next_attempt(&mut self) -> Result<Attempt, RouterError> {
        loop {
            let wait = std::mem::take(&mut self.pending_wait);
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            if self.time_left().is_some_and(|t| t.is_zero()) {
                return Err(self.final_error(FailureReason::DeadlineExceeded, None));
            }
            let now = self.router.clock.now();
            match self.select(now) {
                Selection::Picked(index) => return Ok(self.start_attempt(index, wait)),
                Selection::AllCooling(until) => {
                    let wait_for = until.saturating_sub(now);
                    let fits = wait_for <= self.router.settings.backoff.max_retry_after
                        && self.time_left().is_none_or(|t| wait_for < t)
                        && self.cooldown_waits < 3;
                    if fits {
                        self.cooldown_waits += 1;
                        self.pending_wait = wait_for.max(Duration::from_millis(1));
                        continue;
                    }
                    self.leave_group(
                        FallbackRoute::Generic,
                        StopReason::NoOtherDeployment,
                        Some(wait_for),
                    )?;
                }
                Selection::OverLimit(retry_after) => {
                    self.leave_group(
                        FallbackRoute::Generic,
                        StopReason::NoOtherDeployment,
                        Some(retry_after),
                    )?;
                }
            }
        }
    }

    /// Moves to the next group of `list`, or ends the request with "no deployment available".
    fn leave_group(
        &mut self,
        list: FallbackRoute,
        reason: StopReason,
        retry_after: Option<Duration>,
    ) -> Result<(), RouterError> {
        if self.switch_group(list, reason) {
            return Ok(());
        }
        let reason = if self.last_error.is_some() {
            FailureReason::Upstream
        } else {
            FailureReason::NoDeploymentAvailable
        };
        Err(self.final_error(reason, retry_after))
    }

    fn select(&mut self, now: Duration) -> Selection {
        let router = self.router;
        let state = router.state.as_ref();
        let mut earliest_back: Option<Duration> = None;
        let mut limit_back: Option<Duration> = None;
        let mut candidates: Vec<usize> = Vec::with_capacity(self.group.members.len());
        for &i in &self.group.members {
            let d = &router.deployments[i];
            if let Some(until) = state.cooling_until(d.as_key(), now) {
                earliest_back = Some(earliest_back.map_or(until, |e| e.min(until)));
                continue;
            }
            if let Err(wait) = state.token_capacity(d.as_key(), now) {
                limit_back = Some(limit_back.map_or(wait, |w| w.min(wait)));
                continue;
            }
            candidates.push(i);
        }
        // Deployments that failed in this request are skipped while others remain.
        if candidates.iter().any(|i| !self.failed.contains(i)) {
            candidates.retain(|i| !self.failed.contains(i));
        }
        while !candidates.is_empty() {
            let pick = strategy::pick(
                router.settings.strategy,
                &router.deployments,
                &candidates,
                self.streaming,
                state,
                now,
                &mut self.rng,
            );
            match state.try_acquire_request(router.deployments[pick].as_key(), now) {
                Ok(()) => return Selection::Picked(pick),
                Err(wait) => {
                    limit_back = Some(limit_back.map_or(wait, |w| w.min(wait)));
                    candidates.retain(|&i| i != pick);
                }
            }
        }
        match (limit_back, earliest_back) {
            (Some(wait), _) => Selection::OverLimit(wait),
            (None, Some(until)) => Selection::AllCooling(until),
            (None, None) => Selection::OverLimit(Duration::from_secs(1)),
        }
    }

    fn start_attempt(&mut self, index: usize, wait_before: Duration) -> Attempt {
        let router = self.router;
        let d = router.deployments[index].clone();
        self.attempt_no += 1;
        let limit = router.attempt_limit(&d, self.streaming);
        let now = Instant::now();
        let own_end = limit.map(|l| now + l);
        let (ends_at, ends_at_deadline) = match (own_end, self.deadline) {
            (Some(a), Some(b)) if b < a => (Some(b), true),
            (Some(a), _) => (Some(a), false),
            (None, Some(b)) => (Some(b), true),
            (None, None) => (None, false),
        };
        let mut ctx = CallContext::new(self.report.request_id.clone());
        if let Some(end) = ends_at {
            ctx = ctx.with_attempt_timeout(end.saturating_duration_since(now));
        }
        if let Some(deadline) = self.deadline {
            ctx = ctx.with_deadline(deadline.into_std());
        }
        notify(&router.observers, |o| {
            o.on_attempt_start(&AttemptStart {
                request_id: &self.report.request_id,
                group: &self.group.name,
                deployment: &d.id,
                attempt: self.attempt_no,
                streaming: self.streaming,
                metadata: self.metadata(),
            })
        });
        tracing::debug!(deployment = %d.id, attempt = self.attempt_no, "attempt");
        Attempt {
            guard: InFlight::new(d.clone()),
            deployment: d,
            ctx,
            ends_at,
            ends_at_deadline,
            started: now,
            wait_before,
        }
    }

    fn record(&mut self, attempt: &Attempt, err: Option<&ProviderError>) -> Duration {
        let latency = attempt.started.elapsed();
        self.report.attempts.push(AttemptRecord {
            group: self.group.name.clone(),
            deployment: attempt.deployment.id.clone(),
            kind: err.map(ProviderError::kind),
            status: err.and_then(ProviderError::status),
            latency,
            wait_before: attempt.wait_before,
        });
        self.report.final_group = Some(self.group.name.clone());
        self.report.final_deployment = Some(attempt.deployment.id.clone());
        latency
    }

    fn succeed(&mut self, attempt: Attempt, tokens: u64) -> Report {
        let latency = self.record(&attempt, None);
        let d = &attempt.deployment;
        let now = self.router.clock.now();
        d.observe_latency(latency, false);
        self.router.state.record_success(d.as_key(), now);
        if tokens > 0 {
            self.router.state.record_tokens(d.as_key(), now, tokens);
        }
        let report = std::mem::take(&mut self.report);
        notify(&self.router.observers, |o| {
            o.on_success(&SuccessEvent {
                request_id: &report.request_id,
                report: &report,
                metadata: self.metadata(),
            })
        });
        report
    }

    /// The commit point of a stream: from here on it belongs to the caller.
    fn commit_stream(&mut self, attempt: Attempt) -> (Report, crate::stream::Committed) {
        let latency = self.record(&attempt, None);
        attempt.deployment.observe_latency(latency, true);
        (
            std::mem::take(&mut self.report),
            crate::stream::Committed {
                deployment: attempt.deployment,
                guard: attempt.guard,
            },
        )
    }

    fn availability(&self) -> FallbackAvailability {
        if self.opts.disable_fallbacks
            || self.report.fallbacks as usize >= self.router.settings.max_fallbacks
        {
            return FallbackAvailability::default();
        }
        let has = |list| self.next_group(list).is_some();
        FallbackAvailability {
            generic: has(FallbackRoute::Generic),
            context_window: has(FallbackRoute::ContextWindow),
            content_policy: has(FallbackRoute::ContentPolicy),
        }
    }

    fn next_group(&self, list: FallbackRoute) -> Option<&'r Group> {
        self.router
            .fallback_list(&self.requested, list, self.opts)
            .iter()
            .filter(|g| !self.tried.iter().any(|t| **t == ***g))
            .find_map(|g| self.router.groups.get(g.as_str()))
    }

    fn switch_group(&mut self, list: FallbackRoute, reason: StopReason) -> bool {
        if self.opts.disable_fallbacks
            || self.report.fallbacks as usize >= self.router.settings.max_fallbacks
        {
            return false;
        }
        let Some(next) = self.next_group(list) else {
            return false;
        };
        let from = self.group.name.clone();
        notify(&self.router.observers, |o| {
            o.on_fallback(&FallbackEvent {
                request_id: &self.report.request_id,
                from: &from,
                to: &next.name,
                list,
                reason,
                metadata: self.metadata(),
            })
        });
        tracing::info!(request_id = %self.report.request_id, model = %self.requested, from = %from, to = %next.name, ?reason, "fallback");
        self.group = next;
        self.tried.push(next.name.clone());
        self.retries_spent = 0;
        self.cooldown_waits = 0;
        self.pending_wait = Duration::ZERO;
        self.report.fallbacks += 1;
        true
    }

    /// Handles a failed attempt: cooldown bookkeeping, then the decision, then its effect.
    fn fail(&mut self, attempt: Attempt, err: ProviderError) -> Result<(), RouterError> {
        let latency = self.record(&attempt, Some(&err));
        let router = self.router;
        let d = attempt.deployment.clone();
        drop(attempt.guard);
        let now = router.clock.now();
        let state = router.state.as_ref();
        let kind = err.kind();
        if !self.failed.contains(&d.index) {
            self.failed.push(d.index);
        }

        let others_available = |exclude_failed: bool| {
            self.group.members.iter().any(|&i| {
                i != d.index
                    && !(exclude_failed && self.failed.contains(&i))
                    && state
                        .cooling_until(router.deployments[i].as_key(), now)
                        .is_none()
            })
        };
        let has_available_sibling = others_available(false);
        let availability = self.availability();
        // A timeout caused by the request's own deadline says nothing about the deployment.
        let cut_by_deadline = kind == ErrorKind::Timeout && attempt.ends_at_deadline;
        let cooldown = if cut_by_deadline {
            CooldownChange::None
        } else {
            let may_cool = has_available_sibling
                || availability.generic
                || availability.context_window
                || availability.content_policy;
            let ctx = FailureContext {
                kind,
                hint: err.retry_after(),
                has_available_sibling,
                hint_beyond_wait: router.settings.hint_beyond_wait(err.retry_after()),
                may_cool,
            };
            state.record_failure(d.as_key(), now, ctx, &d.cooldown)
        };
        let fresh_sibling = others_available(true);

        let limits = RetryLimits {
            request: self.opts.num_retries,
            group_policy: router
                .settings
                .model_group_retry_policy
                .get(&*self.group.name),
            policy: router.settings.retry_policy.as_ref(),
            deployment: d.num_retries,
            router: router.settings.num_retries,
        };
        let mut input = DecisionInput {
            failure: Failure {
                kind,
                hint: err.retry_hint(),
            },
            retries_spent: self.retries_spent,
            limits,
            backoff: &router.settings.backoff,
            time_left: self.time_left(),
            fresh_sibling,
            fallbacks: availability,
            budget_allows: true,
        };
        let mut decision = retry_core::decide(&input, &mut self.rng);
        if matches!(decision, Decision::Retry { .. })
            && let Some(budget) = &router.budget
            && !budget
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .try_acquire_retry(now)
        {
            input.budget_allows = false;
            decision = retry_core::decide(&input, &mut self.rng);
        }
        if *self.group.name == *self.requested
            && let Decision::Retry { allowed, .. } = decision
        {
            self.report.max_retries = allowed;
        }

        notify(&router.observers, |o| {
            o.on_attempt_failure(&AttemptFailure {
                request_id: &self.report.request_id,
                group: &self.group.name,
                deployment: &d.id,
                error: &err,
                decision: &decision,
                cooldown,
                latency,
                metadata: self.metadata(),
            })
        });
        tracing::info!(request_id = %self.report.request_id, model = %self.requested, deployment = %d.id, kind = %kind, status = err.status(), ?decision, "attempt failed");

        if *self.group.name == *self.requested {
            self.requested_error = Some(err.clone());
        }
        self.last_error = Some(err);

        match decision {
            Decision::Retry {
                target,
                wait,
                retry_number,
                ..
            } => {
                self.retries_spent += 1;
                self.report.retries += 1;
                self.pending_wait = wait;
                notify(&router.observers, |o| {
                    o.on_retry(&RetryEvent {
                        request_id: &self.report.request_id,
                        group: &self.group.name,
                        retry_number,
                        wait,
                        target,
                        metadata: self.metadata(),
                    })
                });
                Ok(())
            }
            Decision::FallBack { list, reason } => {
                if self.switch_group(list, reason) {
                    Ok(())
                } else {
                    Err(self.final_error(FailureReason::Upstream, None))
                }
            }
            Decision::GiveUp { .. } => Err(self.final_error(FailureReason::Upstream, None)),
        }
    }

    /// The error the caller gets: the requested group's last error, with every hop listed.
    fn final_error(&mut self, reason: FailureReason, retry_after: Option<Duration>) -> RouterError {
        let source = self
            .requested_error
            .take()
            .or_else(|| self.last_error.take());
        let report = std::mem::take(&mut self.report);
        let (kind, mut message) = match (&source, reason) {
            (_, FailureReason::DeadlineExceeded) => (
                ErrorKind::Timeout,
                format!(
                    "the request's timeout of {:?} ran out{}",
                    self.opts.timeout.unwrap_or_default(),
                    source
                        .as_ref()
                        .map(|e| format!("; last error: {}", e.message()))
                        .unwrap_or_default()
                ),
            ),
            (Some(e), _) => (e.kind(), e.to_string()),
            (None, _) => (
                ErrorKind::RateLimit,
                format!(
                    "no deployment of `{}` is available now (all cooling down or over their rate limits) and no fallback could take the request",
                    self.requested
                ),
            ),
        };
        if !report.attempts.is_empty() {
            message.push_str(&format!(
                " [{} attempt(s): {}]",
                report.attempts.len(),
                report.hops()
            ));
        }
        let retry_after =
            retry_after.or_else(|| source.as_ref().and_then(ProviderError::retry_after));
        let err = RouterError::new(kind, reason, message, retry_after, report, source);
        notify(&self.router.observers, |o| {
            o.on_failure(&FailureEvent {
                request_id: &err.report().request_id,
                error: &err,
                metadata: self.metadata(),
            })
        });
        tracing::warn!(request_id = %err.report().request_id, model = %self.requested, kind = %err.kind(), "request failed: {}", err.message());
        err
    }
}
