//! Streamed chat completions: server-sent events to [`ChunkStream`] items, with the
//! provider contract's rules for cut streams, in-stream errors and content filtering.

use std::pin::Pin;

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
    let state = State {
        provider,
        events,
        wants_usage,
        seen_content: false,
        seen_finish: false,
        seen_usage: false,
    };
    Box::pin(futures::stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        let item = state.next_item().await?;
        // An error is the last item: drop the state so the next poll ends the stream.
        let state = item.is_ok().then_some(state);
        Some((item, state))
    }))
}

impl State {
    /// The next item, or `None` when the stream ended cleanly.
    async fn next_item(&mut self) -> Option<Result<(ChatChunk, Option<Bytes>), ProviderError>> {
        loop {
            let event = match self.events.next().await {
                None => return self.ended_without_done(),
                Some(Err(SseError::Transport(e))) if self.complete() => {
                    tracing::debug!(provider = self.provider, error = %e, "connection failed after the finish chunk");
                    return None;
                }
                Some(Err(e)) => return Some(Err(e.into_provider_error(self.provider))),
                Some(Ok(event)) => event,
            };
            if event.is_done() {
                finish_body(&mut self.events).await;
                return None;
            }
            if event.data.trim().is_empty() {
                continue;
            }
            if is_error_event(&event) {
                return Some(Err(ProviderError::from_stream_error(
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
                        format!("the upstream sent a stream event that is not a chat completion chunk ({e})"),
                    )
                    .with_source(e);
                    return Some(Err(error));
                }
            };
            if chunk.choices.is_empty() && chunk.usage.is_none() {
                continue;
            }
            self.seen_content |= chunk.has_content();
            self.seen_usage |= chunk.usage.is_some();
            if let Some(reason) = chunk.finish_reason() {
                self.seen_finish = true;
                if *reason == FinishReason::ContentFilter && !self.seen_content {
                    return Some(Err(ProviderError::new(
                        ErrorKind::ContentPolicyViolation,
                        self.provider,
                        "the upstream's content filter withheld the answer (finish_reason content_filter before any content)",
                    )));
                }
            }
            return Some(Ok((chunk, Some(Bytes::from(event.data)))));
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

/// Reads what follows the terminal event up to the end of the body, briefly: a response
/// whose body was not read to its end cannot go back to the connection pool, and the next
/// call would pay for a new connection (and TLS handshake).
async fn finish_body(events: &mut Events) {
    let rest = async { while events.next().await.is_some() {} };
    if tokio::time::timeout(BODY_END_GRACE, rest).await.is_err() {
        tracing::debug!(
            "the upstream kept the stream open after its terminal event; the connection is not reused"
        );
    }
}

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
