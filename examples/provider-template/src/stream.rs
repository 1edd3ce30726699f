//! EchoLM's streamed answers as Switchyard chunk streams that keep the provider contract.
//!
//! EchoLM streams server-sent events: `data: {"delta": "..."}` for each piece of text and
//! `data: {"done": true, ...}` at the end; an error inside the stream is `event: error` with an
//! error body. [`chunks`] turns them into OpenAI-style [`ChatChunk`]s:
//!
//! - the first chunk opens the assistant message (role and first text);
//! - `done` becomes a chunk with the finish reason, then — when the client asked for
//!   `stream_options.include_usage` — a chunk with the usage and no choices, as OpenAI sends it;
//!   then the stream ends (rule 4);
//! - an error event becomes an `Err` item and ends the stream. Before any text that lets the
//!   router still retry or fall back (rule 3);
//! - data that does not parse becomes an [`ErrorKind::InternalServer`] item (rule 7);
//! - the bytes ending before `done`, or the connection failing, becomes an
//!   [`ErrorKind::Connection`] item: a cut stream must never look like a complete answer
//!   (rule 4). This is the one piece of bookkeeping every stream translation needs.

use futures::{Stream, StreamExt};
use switchyard_provider::{
    CallContext, ChatChunk, ChunkChoice, ChunkStream, Delta, ErrorKind, ProviderError, RetryHint,
    Usage, sse,
};

use crate::{
    NAME, errors,
    wire::{self, StreamEvent},
};

/// Translates EchoLM's event stream (the response body's bytes) into a [`ChunkStream`].
///
/// `include_usage` adds OpenAI's final usage chunk (`stream_options.include_usage`).
pub fn chunks<S, B, E>(bytes: S, model: &str, ctx: &CallContext, include_usage: bool) -> ChunkStream
where
    S: Stream<Item = Result<B, E>> + Send + 'static,
    B: AsRef<[u8]> + Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    let state = State {
        events: Box::pin(sse::events(bytes)),
        template: ChatChunk::new(
            format!("echolm-{}", ctx.request_id),
            model,
            wire::unix_now(),
        ),
        opened: false,
        include_usage,
        pending: Vec::new(),
        finished: false,
    };
    Box::pin(futures::stream::unfold(state, |mut state| async move {
        let item = state.next().await?;
        Some((item, state))
    }))
}

type Events =
    std::pin::Pin<Box<dyn Stream<Item = Result<sse::SseEvent, sse::SseError>> + Send + 'static>>;

struct State {
    events: Events,
    /// Every chunk is a copy of this one (id, model, created) with its own choice.
    template: ChatChunk,
    /// Whether the assistant message was opened (the role goes in the first chunk only).
    opened: bool,
    include_usage: bool,
    /// Chunks decided but not yet yielded (the finish chunk, then the usage chunk).
    pending: Vec<ChatChunk>,
    /// Whether the stream is over: after `done` or an error nothing more is read.
    finished: bool,
}

impl State {
    /// The next item, or `None` once the stream is over.
    async fn next(&mut self) -> Option<Result<ChatChunk, ProviderError>> {
        if !self.pending.is_empty() {
            return Some(Ok(self.pending.remove(0)));
        }
        if self.finished {
            return None;
        }
        loop {
            let Some(event) = self.events.next().await else {
                // The bytes ended without EchoLM's terminal event: the stream was cut.
                return Some(Err(self.fail(ProviderError::new(
                    ErrorKind::Connection,
                    NAME,
                    "the EchoLM stream ended before its final event; the answer is incomplete",
                ))));
            };
            let event = match event {
                Ok(event) => event,
                Err(err) => return Some(Err(self.fail(err.into_provider_error(NAME)))),
            };
            if event.event.as_deref() == Some("error") {
                let error = errors::classify(200, RetryHint::default(), event.data.as_bytes());
                return Some(Err(self.fail(error)));
            }
            if event.data.trim().is_empty() {
                // Keep-alive comments and empty events carry nothing.
                continue;
            }
            match serde_json::from_str::<StreamEvent>(&event.data) {
                Ok(StreamEvent::Delta { delta }) if delta.is_empty() => {}
                Ok(StreamEvent::Delta { delta }) => return Some(Ok(self.text(delta))),
                Ok(StreamEvent::Done {
                    stop,
                    tokens_in,
                    tokens_out,
                    ..
                }) => {
                    self.finished = true;
                    let finish = self.chunk(ChunkChoice::finished(
                        0,
                        wire::finish_reason(stop.as_deref()),
                    ));
                    if self.include_usage {
                        let mut usage = self.template.clone();
                        usage.usage = Some(Usage::new(tokens_in, tokens_out));
                        self.pending.push(usage);
                    }
                    return Some(Ok(finish));
                }
                Err(err) => {
                    let error = ProviderError::new(
                        ErrorKind::InternalServer,
                        NAME,
                        "EchoLM sent a stream event that could not be read",
                    )
                    .with_source(err);
                    return Some(Err(self.fail(error)));
                }
            }
        }
    }

    /// A chunk adding `text`, opening the assistant message on the first one.
    fn text(&mut self, text: String) -> ChatChunk {
        let mut delta = if self.opened {
            Delta::default()
        } else {
            Delta::assistant()
        };
        self.opened = true;
        delta.content = Some(text);
        self.chunk(ChunkChoice::new(0, delta))
    }

    fn chunk(&self, choice: ChunkChoice) -> ChatChunk {
        self.template.clone().with_choice(choice)
    }

    /// Ends the stream with `error` as its last item.
    fn fail(&mut self, error: ProviderError) -> ProviderError {
        self.finished = true;
        error
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use switchyard_provider::FinishReason;

    use super::*;

    fn run(body: &'static str, include_usage: bool) -> Vec<Result<ChatChunk, ProviderError>> {
        let bytes = futures::stream::iter([Ok::<_, Infallible>(body.as_bytes())]);
        let stream = chunks(bytes, "echo-large", &CallContext::new("r"), include_usage);
        futures::executor::block_on(stream.collect())
    }

    #[test]
    fn a_complete_stream_ends_after_its_finish_and_usage_chunks() {
        let items = run(
            "data: {\"delta\": \"Hel\"}\n\ndata: {\"delta\": \"lo\"}\n\n\
             data: {\"done\": true, \"stop\": \"end\", \"tokens_in\": 3, \"tokens_out\": 2}\n\n",
            true,
        );
        let chunks: Vec<ChatChunk> = items.into_iter().map(|item| item.expect("ok")).collect();
        assert_eq!(chunks.len(), 4);
        assert_eq!(chunks[0].text(), Some("Hel"));
        assert!(
            chunks[0].choices[0].delta.role.is_some(),
            "the first chunk opens the message"
        );
        assert!(chunks[1].choices[0].delta.role.is_none());
        assert_eq!(chunks[2].finish_reason(), Some(&FinishReason::Stop));
        assert!(chunks[3].choices.is_empty());
        assert_eq!(chunks[3].usage.as_ref().map(|u| u.total_tokens), Some(5));
    }

    #[test]
    fn a_stream_without_its_final_event_ends_with_a_connection_error() {
        let items = run("data: {\"delta\": \"Hel\"}\n\n", false);
        assert_eq!(items.len(), 2);
        let error = items[1].as_ref().expect_err("cut");
        assert_eq!(error.kind(), ErrorKind::Connection);
    }

    #[test]
    fn an_error_event_is_an_error_item() {
        let items = run(
            "event: error\ndata: {\"err\": {\"kind\": \"overloaded\", \"msg\": \"busy\", \"retry_in_ms\": 500}}\n\n",
            false,
        );
        assert_eq!(items.len(), 1);
        let error = items[0].as_ref().expect_err("error event");
        assert_eq!(error.kind(), ErrorKind::ServiceUnavailable);
        assert_eq!(
            error.retry_after(),
            Some(std::time::Duration::from_millis(500))
        );
    }

    #[test]
    fn unreadable_data_is_a_server_error() {
        let items = run("data: {\"delta\": \n\n", false);
        let error = items[0].as_ref().expect_err("malformed");
        assert_eq!(error.kind(), ErrorKind::InternalServer);
        assert_eq!(items.len(), 1);
    }
}
