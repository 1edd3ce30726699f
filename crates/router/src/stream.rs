//! `RoutedStream`: a committed streamed answer, with chunk timeouts and a typed end.

use std::{
    collections::VecDeque,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use futures::Stream;
use provider::{ChatChunk, ChunkBodyStream, ProviderError};
use retry_core::{ErrorKind, FailureContext};
use tokio::time::{Instant, Sleep};

use crate::{
    FailureReason, Report, RouterError,
    deployment::{Deployment, InFlight},
    observer::{FailureEvent, SuccessEvent, notify},
    router::Inner,
};

/// The deployment a stream committed to, and its in-flight count.
pub(crate) struct Committed {
    pub(crate) deployment: Arc<Deployment>,
    #[expect(
        dead_code,
        reason = "held for its Drop: the stream counts as in flight until it ends"
    )]
    pub(crate) guard: InFlight,
}

/// A streamed chat completion past its commit point.
///
/// Yields the upstream's chunks in order. If the upstream fails, stalls longer than the
/// stream timeout, or the request deadline passes, it yields one `Err` (reason
/// [`FailureReason::StreamInterrupted`]) and ends. Dropping it cancels the upstream call.
///
/// [`RoutedStream::with_bodies`] yields each chunk with the upstream's JSON for it, when the
/// provider gave it ([`Provider::chat_stream_with_bodies`](provider::Provider::chat_stream_with_bodies)).
pub struct RoutedStream {
    router: Arc<Inner>,
    committed: Option<Committed>,
    report: Report,
    held: VecDeque<(ChatChunk, Option<Bytes>)>,
    inner: Option<ChunkBodyStream>,
    chunk_timeout: Option<Duration>,
    deadline: Option<Instant>,
    timer: Option<Pin<Box<Sleep>>>,
    metadata: Option<Arc<serde_json::Value>>,
    tokens: u64,
    finished: bool,
}

impl RoutedStream {
    #[expect(
        clippy::too_many_arguments,
        reason = "internal constructor called from one place"
    )]
    pub(crate) fn new(
        router: Arc<Inner>,
        committed: Committed,
        report: Report,
        held: Vec<(ChatChunk, Option<Bytes>)>,
        inner: Option<ChunkBodyStream>,
        chunk_timeout: Option<Duration>,
        deadline: Option<Instant>,
        metadata: Option<Arc<serde_json::Value>>,
    ) -> Self {
        RoutedStream {
            router,
            committed: Some(committed),
            report,
            held: held.into(),
            inner,
            chunk_timeout,
            deadline,
            timer: None,
            metadata,
            tokens: 0,
            finished: false,
        }
    }

    /// How the stream was obtained: attempts, retries and fallbacks before the commit point.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// The same stream, each chunk with the upstream's JSON for it when the provider gave
    /// it: a gateway forwards those bytes instead of writing the chunk out again.
    pub fn with_bodies(self) -> WithBodies {
        WithBodies(self)
    }

    fn take_chunk(&mut self, chunk: (ChatChunk, Option<Bytes>)) -> Poll<Option<Item>> {
        if let Some(u) = &chunk.0.usage {
            self.tokens = u.total_tokens;
        }
        Poll::Ready(Some(Ok(chunk)))
    }

    fn finish_ok(&mut self) {
        self.finished = true;
        self.timer = None;
        self.inner = None;
        if let Some(c) = self.committed.take() {
            let now = self.router.clock.now();
            self.router.state.record_success(c.deployment.as_key(), now);
            if self.tokens > 0 {
                self.router
                    .state
                    .record_tokens(c.deployment.as_key(), now, self.tokens);
            }
            notify(&self.router.observers, |o| {
                o.on_success(&SuccessEvent {
                    request_id: &self.report.request_id,
                    report: &self.report,
                    metadata: self.metadata.as_deref(),
                })
            });
        }
    }

    fn finish_err(&mut self, err: ProviderError) -> RouterError {
        self.finished = true;
        self.timer = None;
        self.inner = None;
        if let Some(c) = self.committed.take() {
            let now = self.router.clock.now();
            let d = &c.deployment;
            let siblings = self
                .router
                .groups
                .get(&*d.group)
                .is_some_and(|g| g.members.len() > 1);
            let ctx = FailureContext {
                kind: err.kind(),
                hint: err.retry_after(),
                has_available_sibling: siblings,
                hint_beyond_wait: self.router.settings.hint_beyond_wait(err.retry_after()),
                may_cool: siblings,
            };
            self.router
                .state
                .record_failure(d.as_key(), now, ctx, &d.cooldown);
        }
        let message = format!(
            "the stream from `{}` failed after content was sent: {err}",
            self.report.final_deployment.as_deref().unwrap_or("?")
        );
        let error = RouterError::new(
            err.kind(),
            FailureReason::StreamInterrupted,
            message,
            err.retry_after(),
            self.report.clone(),
            Some(err),
        );
        notify(&self.router.observers, |o| {
            o.on_failure(&FailureEvent {
                request_id: &self.report.request_id,
                error: &error,
                metadata: self.metadata.as_deref(),
            })
        });
        error
    }
}

/// A chunk with its upstream JSON, or the error that ends the stream.
type Item = Result<(ChatChunk, Option<Bytes>), RouterError>;

/// A [`RoutedStream`] that yields each chunk with the upstream's JSON for it, when the
/// provider gave it ([`RoutedStream::with_bodies`]).
#[derive(Debug)]
pub struct WithBodies(RoutedStream);

impl WithBodies {
    /// How the stream was obtained.
    pub fn report(&self) -> &Report {
        self.0.report()
    }
}

impl Stream for WithBodies {
    type Item = Result<(ChatChunk, Option<Bytes>), RouterError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().0.poll_item(cx)
    }
}

impl Stream for RoutedStream {
    type Item = Result<ChatChunk, RouterError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut()
            .poll_item(cx)
            .map(|item| item.map(|r| r.map(|(chunk, _)| chunk)))
    }
}

impl RoutedStream {
    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        let this = self;
        if this.finished {
            return Poll::Ready(None);
        }
        if let Some(chunk) = this.held.pop_front() {
            return this.take_chunk(chunk);
        }
        let Some(inner) = this.inner.as_mut() else {
            this.finish_ok();
            return Poll::Ready(None);
        };
        match inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.timer = None;
                return this.take_chunk(chunk);
            }
            Poll::Ready(Some(Err(err))) => return Poll::Ready(Some(Err(this.finish_err(err)))),
            Poll::Ready(None) => {
                this.finish_ok();
                return Poll::Ready(None);
            }
            Poll::Pending => {}
        }
        // Waiting for the next chunk: bounded by the stream timeout and the deadline.
        if this.timer.is_none() {
            let step = this.chunk_timeout.map(|t| Instant::now() + t);
            let end = match (step, this.deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            this.timer = end.map(|e| Box::pin(tokio::time::sleep_until(e)));
        }
        if let Some(timer) = this.timer.as_mut()
            && timer.as_mut().poll(cx).is_ready()
        {
            let (provider, id) = this
                .committed
                .as_ref()
                .map_or(("router", Arc::from("?")), |c| {
                    (c.deployment.provider.name(), c.deployment.id.clone())
                });
            let err = ProviderError::new(
                ErrorKind::Timeout,
                provider,
                format!(
                    "deployment `{id}` sent no chunk within the stream timeout or before the request deadline"
                ),
            );
            return Poll::Ready(Some(Err(this.finish_err(err))));
        }
        Poll::Pending
    }
}

impl std::fmt::Debug for RoutedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoutedStream")
            .field("report", &self.report)
            .field("finished", &self.finished)
            .finish()
    }
}
