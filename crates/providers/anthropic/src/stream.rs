//! Anthropic's streaming events translated into OpenAI-style chat completion chunks.
//!
//! `message_start` gives the role chunk; text and tool-input deltas give content and tool
//! call deltas; `message_delta` gives the finish chunk; `message_stop` gives the usage chunk
//! (when asked for) and ends the stream. `ping` and unknown events are skipped, as
//! Anthropic's versioning policy asks. `error` becomes an error item; bytes that end before
//! `message_stop` become a [`ErrorKind::Connection`] "stream cut" item.

use std::collections::HashMap;
use std::pin::Pin;

use futures::{Stream, StreamExt};
use provider::sse::{self, SseError, SseEvent};
use provider::{
    ChatChunk, ChunkChoice, ChunkStream, Delta, ErrorKind, FinishReason, FunctionCallDelta,
    ProviderError, ToolCallDelta, Usage,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::translate::{finish_reason, unix_now, usage};

type Events = Pin<Box<dyn Stream<Item = Result<SseEvent, SseError>> + Send>>;

/// The events we act on, tagged by their data's `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event {
    MessageStart {
        message: Value,
    },
    ContentBlockStart {
        index: u32,
        content_block: Value,
    },
    ContentBlockDelta {
        index: u32,
        delta: Value,
    },
    ContentBlockStop,
    MessageDelta {
        #[serde(default)]
        delta: Value,
        #[serde(default)]
        usage: Value,
    },
    MessageStop,
    Ping,
    Error,
    #[serde(other)]
    Unknown,
}

struct State {
    provider: &'static str,
    events: Events,
    wants_usage: bool,
    id: String,
    model: String,
    created: u64,
    /// `message_start`'s usage (input and cache counts), updated by `message_delta`.
    usage: Value,
    /// Anthropic content block index → OpenAI tool call index.
    tool_indexes: HashMap<u32, u32>,
    seen_content: bool,
    /// `message_stop` arrived.
    finished: bool,
}

/// Turns a `200` event-stream response into chunks.
pub(crate) fn chunks(
    provider: &'static str,
    response: reqwest::Response,
    wants_usage: bool,
) -> ChunkStream {
    let bytes = response
        .bytes_stream()
        .map(|r| r.map_err(reqwest::Error::without_url));
    let state = State {
        provider,
        events: Box::pin(sse::events(bytes)),
        wants_usage,
        id: String::new(),
        model: String::new(),
        created: unix_now(),
        usage: json!({}),
        tool_indexes: HashMap::new(),
        seen_content: false,
        finished: false,
    };
    Box::pin(futures::stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        match state.next_item().await? {
            Step::Chunk(chunk) => Some((Ok(chunk), Some(state))),
            Step::Last(chunk) => Some((Ok(chunk), None)),
            Step::Fail(error) => Some((Err(error), None)),
        }
    }))
}

/// What one event produces.
enum Step {
    /// A chunk, more to come.
    Chunk(ChatChunk),
    /// The final chunk: the stream ends after it.
    Last(ChatChunk),
    /// A failure: the stream ends after it.
    Fail(ProviderError),
}

impl State {
    /// The next item, or `None` once the stream ended cleanly.
    async fn next_item(&mut self) -> Option<Step> {
        loop {
            let event = match self.events.next().await {
                None => {
                    return Some(Step::Fail(ProviderError::new(
                        ErrorKind::Connection,
                        self.provider,
                        "stream cut: the upstream closed the stream before message_stop",
                    )));
                }
                Some(Err(e)) => return Some(Step::Fail(e.into_provider_error(self.provider))),
                Some(Ok(event)) => event,
            };
            if event.data.trim().is_empty() {
                continue;
            }
            if event.event.as_deref() == Some("error") {
                return Some(Step::Fail(ProviderError::from_stream_error(
                    self.provider,
                    &event.data,
                )));
            }
            let parsed = match serde_json::from_str::<Event>(&event.data) {
                Ok(parsed) => parsed,
                Err(e) => {
                    return Some(Step::Fail(
                        ProviderError::new(
                            ErrorKind::InternalServer,
                            self.provider,
                            format!("the upstream sent a stream event that is not valid Messages API JSON ({e})"),
                        )
                        .with_source(e),
                    ));
                }
            };
            let step = self.apply(parsed, &event.data);
            if self.finished {
                finish_body(&mut self.events).await;
            }
            if step.is_some() || self.finished {
                return step;
            }
        }
    }

    /// Applies one event; `Some` when it produces an item.
    fn apply(&mut self, event: Event, data: &str) -> Option<Step> {
        match event {
            Event::MessageStart { message } => {
                let text = |key: &str| {
                    message
                        .get(key)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                self.id = text("id");
                self.model = text("model");
                if let Some(usage) = message.get("usage").filter(|u| u.is_object()) {
                    self.usage = usage.clone();
                }
                let mut delta = Delta::assistant();
                delta.content = Some(String::new());
                Some(Step::Chunk(self.chunk(delta)))
            }
            Event::ContentBlockStart {
                index,
                content_block,
            } => match content_block.get("type").and_then(Value::as_str) {
                Some("text") => {
                    let text = content_block
                        .get("text")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    (!text.is_empty()).then(|| self.content(Delta::text(text)))
                }
                Some("tool_use") => {
                    let tool_index = u32::try_from(self.tool_indexes.len()).unwrap_or(u32::MAX);
                    self.tool_indexes.insert(index, tool_index);
                    let mut call = ToolCallDelta::default();
                    call.index = tool_index;
                    call.id = content_block
                        .get("id")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    call.call_type = Some("function".to_owned());
                    let mut function = FunctionCallDelta::default();
                    function.name = content_block
                        .get("name")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    function.arguments = Some(String::new());
                    call.function = Some(function);
                    Some(self.content(tool_delta(call)))
                }
                _ => None,
            },
            Event::ContentBlockDelta { index, delta } => {
                let field = |key: &str| delta.get(key).and_then(Value::as_str).unwrap_or_default();
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") if !field("text").is_empty() => {
                        Some(self.content(Delta::text(field("text"))))
                    }
                    Some("input_json_delta") if !field("partial_json").is_empty() => {
                        let mut call = ToolCallDelta::default();
                        call.index = self.tool_indexes.get(&index).copied().unwrap_or_default();
                        let mut function = FunctionCallDelta::default();
                        function.arguments = Some(field("partial_json").to_owned());
                        call.function = Some(function);
                        Some(self.content(tool_delta(call)))
                    }
                    Some("thinking_delta") if !field("thinking").is_empty() => {
                        let mut out = Delta::default();
                        out.extra.insert(
                            "reasoning_content".to_owned(),
                            Value::String(field("thinking").to_owned()),
                        );
                        Some(self.content(out))
                    }
                    _ => None,
                }
            }
            Event::MessageDelta {
                delta,
                usage: delta_usage,
            } => {
                if let (Some(total), Some(delta_usage)) =
                    (self.usage.as_object_mut(), delta_usage.as_object())
                {
                    for (key, value) in delta_usage {
                        if value.is_number() {
                            total.insert(key.clone(), value.clone());
                        }
                    }
                }
                let reason = delta
                    .get("stop_reason")
                    .and_then(Value::as_str)
                    .map(finish_reason)?;
                if reason == FinishReason::ContentFilter && !self.seen_content {
                    return Some(Step::Fail(ProviderError::new(
                        ErrorKind::ContentPolicyViolation,
                        self.provider,
                        "the model refused to answer (stop_reason refusal before any content)",
                    )));
                }
                let mut chunk = ChatChunk::new(self.id.clone(), self.model.clone(), self.created);
                chunk.choices.push(ChunkChoice::finished(0, reason));
                Some(Step::Chunk(chunk))
            }
            Event::MessageStop => {
                self.finished = true;
                self.wants_usage.then(|| {
                    let mut chunk =
                        ChatChunk::new(self.id.clone(), self.model.clone(), self.created);
                    chunk.usage = Some(self.final_usage());
                    Step::Last(chunk)
                })
            }
            Event::Error => Some(Step::Fail(ProviderError::from_stream_error(
                self.provider,
                data,
            ))),
            Event::ContentBlockStop | Event::Ping | Event::Unknown => None,
        }
    }

    fn final_usage(&self) -> Usage {
        usage(&self.usage)
    }

    fn chunk(&self, delta: Delta) -> ChatChunk {
        ChatChunk::new(self.id.clone(), self.model.clone(), self.created)
            .with_choice(ChunkChoice::new(0, delta))
    }

    fn content(&mut self, delta: Delta) -> Step {
        self.seen_content |= delta.has_content();
        Step::Chunk(self.chunk(delta))
    }
}

/// How long we wait for the body's end after `message_stop`.
const BODY_END_GRACE: std::time::Duration = std::time::Duration::from_millis(100);

/// Reads what follows `message_stop` up to the end of the body, briefly: a response whose
/// body was not read to its end cannot go back to the connection pool.
async fn finish_body(events: &mut Events) {
    let rest = async { while events.next().await.is_some() {} };
    if tokio::time::timeout(BODY_END_GRACE, rest).await.is_err() {
        tracing::debug!(
            "the upstream kept the stream open after message_stop; the connection is not reused"
        );
    }
}

fn tool_delta(call: ToolCallDelta) -> Delta {
    let mut delta = Delta::default();
    delta.tool_calls = Some(vec![call]);
    delta
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_events_parse_as_unknown() {
        let event: Result<Event, _> = serde_json::from_str(r#"{"type":"future_event","x":1}"#);
        assert!(matches!(event, Ok(Event::Unknown)));
        let event: Result<Event, _> = serde_json::from_str(r#"{"type":"ping"}"#);
        assert!(matches!(event, Ok(Event::Ping)));
    }
}
