//! Streamed chat completions: server-sent events to [`ChunkStream`] items, with the
//! provider contract's rules for cut streams, in-stream errors and content filtering.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use crate::transport::Answer;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use provider::sse::{self, SseError, SseEvent};
use provider::{ChatChunk, ChunkBodyStream, ErrorKind, FinishReason, ProviderError};
use serde_json::Value;

type Events = Pin<Box<dyn Stream<Item = Result<SseEvent, SseError>> + Send>>;

/// Where a stream stands.
struct State {
    provider: &'static str,
    events: Events,
    /// The client asked for a final usage chunk.
    wants_usage: bool,
    /// Some choice carried output; after that a content filter stop is a partial answer.
    seen_content: bool,
    seen_finish: bool,
    seen_usage: bool,
}

/// Turns a `200` event-stream response into chunks.
///
/// - `data: [DONE]` ends the stream.
/// - An error event (`{"error": ...}` data or `event: error`) becomes one `Err` item,
///   classified from its body, and ends the stream.
/// - Data that is not a chunk: one [`ErrorKind::InternalServer`] item.
/// - The bytes ending before `[DONE]`: complete if a `finish_reason` (and the usage chunk,
///   when asked for) arrived — some compatible servers never send `[DONE]` — otherwise one
///   [`ErrorKind::Connection`] item: a cut stream never looks like a whole answer.
/// - A `content_filter` finish before any content: one
///   [`ErrorKind::ContentPolicyViolation`] item, as for a plain call.
/// - Chunks with neither choices nor usage (Azure's opening `prompt_filter_results`
///   chunk) are skipped: they carry nothing a client can use.
///
/// Each chunk comes with its event's data, the JSON it was read from as it stands.
pub(crate) fn chunks(provider: &'static str, answer: Answer, wants_usage: bool) -> ChunkBodyStream {
    let events: Events = Box::pin(sse::events(answer.into_stream()));
    Box::pin(Chunks {
        state: State {
            provider,
            events,
            wants_usage,
            seen_content: false,
            seen_finish: false,
            seen_usage: false,
        },
        phase: Phase::Reading,
    })
}

/// The stream [`chunks`] returns. A hand-written [`Stream`]: everything lives in this struct,
/// so nothing is moved from item to item (an `unfold` moved its state into a new future for
/// every event).
struct Chunks {
    state: State,
    phase: Phase,
}

enum Phase {
    /// Reading events.
    Reading,
    /// After `[DONE]`: reading what is left of the body, for at most [`BODY_END_GRACE`] (the
    /// timer starts only if the body does not end at once).
    Draining(Option<Pin<Box<tokio::time::Sleep>>>),
    /// Over: the stream gives nothing more.
    Ended,
}

/// What one event means for the stream.
#[allow(
    clippy::large_enum_variant,
    reason = "returned and matched at once, never stored: boxing the chunk would add an allocation per event"
)]
enum Step {
    /// Nothing for the client (an empty event, Azure's filter-results chunk).
    Skip,
    /// `[DONE]`: the stream ends once the body has been read.
    Done,
    /// An item for the client; an error is the last one.
    Item(Result<(ChatChunk, Option<Bytes>), ProviderError>),
}

impl Stream for Chunks {
    type Item = Result<(ChatChunk, Option<Bytes>), ProviderError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match &mut this.phase {
                Phase::Ended => return Poll::Ready(None),
                Phase::Draining(grace) => {
                    if this.state.drain(grace, cx).is_pending() {
                        return Poll::Pending;
                    }
                    this.phase = Phase::Ended;
                }
                Phase::Reading => {
                    let event = match ready!(this.state.events.poll_next_unpin(cx)) {
                        None => {
                            this.phase = Phase::Ended;
                            return Poll::Ready(this.state.ended_without_done());
                        }
                        Some(Err(SseError::Transport(e))) if this.state.complete() => {
                            tracing::debug!(provider = this.state.provider, error = %e, "connection failed after the finish chunk");
                            this.phase = Phase::Ended;
                            return Poll::Ready(None);
                        }
                        Some(Err(e)) => {
                            this.phase = Phase::Ended;
                            return Poll::Ready(Some(Err(
                                e.into_provider_error(this.state.provider)
                            )));
                        }
                        Some(Ok(event)) => event,
                    };
                    match this.state.step(event) {
                        Step::Skip => {}
                        Step::Done => this.phase = Phase::Draining(None),
                        Step::Item(item) => {
                            if item.is_err() {
                                this.phase = Phase::Ended;
                            }
                            return Poll::Ready(Some(item));
                        }
                    }
                }
            }
        }
    }
}

impl State {
    /// What `event` means, and the stream's bookkeeping updated for it.
    fn step(&mut self, event: SseEvent) -> Step {
        if event.is_done() {
            return Step::Done;
        }
        if event.data.trim().is_empty() {
            return Step::Skip;
        }
        if is_error_event(&event) {
            return Step::Item(Err(ProviderError::from_stream_error(
                self.provider,
                &event.data,
            )));
        }
        let chunk = match serde_json::from_str::<ChatChunk>(&event.data) {
            Ok(chunk) => chunk,
            Err(e) => {
                let error = ProviderError::new(
                    ErrorKind::InternalServer,
                    self.provider,
                    format!(
                        "the upstream sent a stream event that is not a chat completion chunk ({e})"
                    ),
                )
                .with_source(e);
                return Step::Item(Err(error));
            }
        };
        if chunk.choices.is_empty() && chunk.usage.is_none() {
            return Step::Skip;
        }
        self.seen_content |= chunk.has_content();
        self.seen_usage |= chunk.usage.is_some();
        if let Some(reason) = chunk.finish_reason() {
            self.seen_finish = true;
            if *reason == FinishReason::ContentFilter && !self.seen_content {
                return Step::Item(Err(ProviderError::new(
                    ErrorKind::ContentPolicyViolation,
                    self.provider,
                    "the upstream's content filter withheld the answer (finish_reason content_filter before any content)",
                )));
            }
        }
        Step::Item(Ok((chunk, Some(Bytes::from(event.data)))))
    }

    /// Reads what follows the terminal event up to the end of the body, for at most
    /// [`BODY_END_GRACE`]: a response whose body was not read to its end cannot go back to
    /// the connection pool, and the next call would pay for a new connection (and TLS
    /// handshake). Ready when done either way.
    fn drain(
        &mut self,
        grace: &mut Option<Pin<Box<tokio::time::Sleep>>>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        loop {
            match self.events.poll_next_unpin(cx) {
                Poll::Ready(Some(_)) => {}
                Poll::Ready(None) => return Poll::Ready(()),
                Poll::Pending => {
                    let timer =
                        grace.get_or_insert_with(|| Box::pin(tokio::time::sleep(BODY_END_GRACE)));
                    if timer.as_mut().poll(cx).is_ready() {
                        tracing::debug!(
                            "the upstream kept the stream open after its terminal event; the connection is not reused"
                        );
                        return Poll::Ready(());
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    /// Whether everything the client needs has arrived, `[DONE]` aside.
    fn complete(&self) -> bool {
        self.seen_finish && (self.seen_usage || !self.wants_usage)
    }

    fn ended_without_done(&self) -> Option<Result<(ChatChunk, Option<Bytes>), ProviderError>> {
        if self.complete() {
            tracing::debug!(
                provider = self.provider,
                "stream ended after its finish chunk without [DONE]"
            );
            return None;
        }
        let message = if self.seen_finish {
            "stream cut: the upstream closed the stream after the finish chunk but before the usage chunk and [DONE]"
        } else {
            "stream cut: the upstream closed the stream before a finish_reason or [DONE]"
        };
        Some(Err(ProviderError::new(
            ErrorKind::Connection,
            self.provider,
            message,
        )))
    }
}

/// How long we wait for the body's end after the terminal event.
const BODY_END_GRACE: std::time::Duration = std::time::Duration::from_millis(100);

/// Whether an event reports an error instead of carrying a chunk.
fn is_error_event(event: &SseEvent) -> bool {
    if event.event.as_deref() == Some("error") {
        return true;
    }
    // Only chunks that mention an "error" key need a second look.
    event.data.contains("\"error\"")
        && serde_json::from_str::<Value>(&event.data)
            .ok()
            .and_then(|v| v.get("error").map(|e| e.is_object() || e.is_string()))
            .unwrap_or(false)
}
