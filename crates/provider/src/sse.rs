//! Server-sent events: parsing upstream streams and writing our own.
//!
//! Parsing is built on `eventsource-stream`. [`events`] turns a byte stream (a
//! `reqwest::Response::bytes_stream()`, say) into [`SseEvent`]s; [`openai_chunks`] goes on to
//! turn OpenAI-style events into a [`ChunkStream`] that follows the provider contract (error
//! events become errors, a missing `[DONE]` becomes a [`ErrorKind::Connection`] error).
//! [`encode_chunk`] and [`DONE`] write the OpenAI wire format, for servers.

use std::error::Error as StdError;
use std::string::FromUtf8Error;

use bytes::Bytes;
use eventsource_stream::{EventStreamError, Eventsource};
use futures::{Stream, StreamExt};
use retry_core::ErrorKind;
use serde_json::Value;

use crate::{ChatChunk, ChunkStream, ProviderError};

/// The final event of an OpenAI-style stream, ready to write.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SseEvent {
    /// The `event:` name; `None` for the default type (`message`).
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
    /// The `id:` field, if the event had one.
    pub id: Option<String>,
}

impl SseEvent {
    /// An event with `data` and the default type.
    pub fn new(data: impl Into<String>) -> Self {
        SseEvent {
            event: None,
            data: data.into(),
            id: None,
        }
    }

    /// Whether this is OpenAI's end-of-stream marker, `data: [DONE]`.
    pub fn is_done(&self) -> bool {
        self.data.trim() == "[DONE]"
    }
}

/// Why an event stream failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SseError {
    /// The bytes were not UTF-8.
    #[error("the event stream is not valid UTF-8")]
    Utf8(#[source] FromUtf8Error),
    /// The bytes were not a valid event stream.
    #[error("malformed event stream: {0}")]
    Parse(String),
    /// The underlying byte stream failed (connection reset, body cut).
    #[error("the event stream was interrupted: {0}")]
    Transport(#[source] Box<dyn StdError + Send + Sync + 'static>),
}

impl SseError {
    /// The provider error for this failure: [`ErrorKind::Connection`] when the transport
    /// failed, [`ErrorKind::InternalServer`] when the upstream sent garbage.
    pub fn into_provider_error(self, provider: &'static str) -> ProviderError {
        let (kind, message) = match &self {
            SseError::Transport(_) => (
                ErrorKind::Connection,
                "the upstream stream was interrupted before it finished",
            ),
            SseError::Utf8(_) | SseError::Parse(_) => (
                ErrorKind::InternalServer,
                "the upstream sent a malformed event stream",
            ),
        };
        ProviderError::new(kind, provider, message).with_source(self)
    }
}

/// Parses a byte stream into server-sent events.
///
/// The stream ends when the bytes end; an event not terminated by a blank line before that
/// is dropped, as the SSE specification says. Whether the stream ended *early* is for the
/// caller to judge from its protocol's terminal event.
pub fn events<S, B, E>(bytes: S) -> impl Stream<Item = Result<SseEvent, SseError>>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: StdError + Send + Sync + 'static,
{
    bytes.eventsource().map(|item| match item {
        Ok(event) => Ok(SseEvent {
            event: Some(event.event).filter(|e| !e.is_empty() && e != "message"),
            data: event.data,
            id: Some(event.id).filter(|id| !id.is_empty()),
        }),
        Err(EventStreamError::Utf8(e)) => Err(SseError::Utf8(e)),
        Err(EventStreamError::Parser(e)) => Err(SseError::Parse(e.to_string())),
        Err(EventStreamError::Transport(e)) => Err(SseError::Transport(Box::new(e))),
    })
}

/// Turns OpenAI-style chat completion events into a [`ChunkStream`] that keeps the
/// provider contract:
///
/// - each `data:` is a [`ChatChunk`]; `data: [DONE]` ends the stream;
/// - an error event (`{"error": ...}` data, or `event: error`) becomes an `Err` item built
///   with [`ProviderError::from_stream_error`], and ends the stream;
/// - data that does not parse becomes an [`ErrorKind::InternalServer`] item and ends it;
/// - a transport failure, or the bytes ending before `[DONE]`, becomes an
///   [`ErrorKind::Connection`] item and ends it: a cut stream never looks complete.
pub fn openai_chunks<S>(provider: &'static str, events: S) -> ChunkStream
where
    S: Stream<Item = Result<SseEvent, SseError>> + Send + 'static,
{
    let events = Box::pin(events);
    Box::pin(futures::stream::unfold(
        Some(events),
        move |state| async move {
            let mut events = state?;
            loop {
                let event = match events.next().await {
                    None => {
                        let cut = ProviderError::new(
                            ErrorKind::Connection,
                            provider,
                            "the upstream closed the stream before [DONE]",
                        );
                        return Some((Err(cut), None));
                    }
                    Some(Err(e)) => return Some((Err(e.into_provider_error(provider)), None)),
                    Some(Ok(event)) => event,
                };
                if event.is_done() {
                    return None;
                }
                if event.data.trim().is_empty() {
                    continue;
                }
                if is_error_event(&event) {
                    return Some((
                        Err(ProviderError::from_stream_error(provider, &event.data)),
                        None,
                    ));
                }
                return match serde_json::from_str::<ChatChunk>(&event.data) {
                    Ok(chunk) => Some((Ok(chunk), Some(events))),
                    Err(e) => {
                        let error = ProviderError::new(
                        ErrorKind::InternalServer,
                        provider,
                        "the upstream sent a stream chunk that is not valid chat completion JSON",
                    )
                    .with_source(e);
                        Some((Err(error), None))
                    }
                };
            }
        },
    ))
}

fn is_error_event(event: &SseEvent) -> bool {
    if event.event.as_deref() == Some("error") {
        return true;
    }
    // Cheap test first: a chunk only needs a second parse when it mentions "error" as a key.
    event.data.contains("\"error\"")
        && serde_json::from_str::<Value>(&event.data)
            .ok()
            .and_then(|v| v.get("error").map(|e| e.is_object() || e.is_string()))
            .unwrap_or(false)
}

/// Writes one chunk as an OpenAI-style event: `data: {json}\n\n`.
pub fn encode_chunk(chunk: &ChatChunk) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"data: ");
    // Serializing a chunk cannot fail: every map key is a string and no impl returns errors.
    serde_json::to_writer(&mut out, chunk).expect("a ChatChunk always serializes to JSON");
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// Writes an event with an optional `event:` name; multi-line data becomes several `data:`
/// lines, as the format requires.
pub fn encode_event(event: Option<&str>, data: &str) -> Bytes {
    let mut out = String::with_capacity(data.len() + 32);
    if let Some(event) = event {
        out.push_str("event: ");
        out.push_str(event);
        out.push('\n');
    }
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line.strip_suffix('\r').unwrap_or(line));
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChunkChoice, Delta};
    use futures::executor::block_on;
    use futures::stream;

    type Io = std::io::Error;

    fn bytes_of(parts: &[&'static str]) -> impl Stream<Item = Result<Bytes, Io>> + Send + 'static {
        let parts: Vec<Result<Bytes, Io>> = parts
            .iter()
            .map(|p| Ok(Bytes::from_static(p.as_bytes())))
            .collect();
        stream::iter(parts)
    }

    #[test]
    fn parses_events_split_across_reads() {
        let events: Vec<_> = block_on(
            events(bytes_of(&[
                "event: message_start\ndata: {\"a\"",
                ":1}\n\n",
                "data: x\r\ndata: y\n\nid: 7\ndata: z\n\n",
            ]))
            .collect(),
        );
        let events: Vec<SseEvent> = events.into_iter().filter_map(Result::ok).collect();
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].event.as_deref(), Some("message_start"));
        assert_eq!(events[0].data, "{\"a\":1}");
        assert_eq!(events[1], SseEvent::new("x\ny"));
        assert_eq!(events[2].id.as_deref(), Some("7"));
    }

    #[test]
    fn transport_errors_surface_as_connection() {
        let parts: Vec<Result<Bytes, Io>> = vec![
            Ok(Bytes::from_static(b"data: {}\n\n")),
            Err(Io::new(std::io::ErrorKind::ConnectionReset, "reset")),
        ];
        let items: Vec<_> = block_on(events(stream::iter(parts)).collect());
        let err = items
            .into_iter()
            .find_map(Result::err)
            .map(|e| e.into_provider_error("openai"));
        assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::Connection));
    }

    fn chunk_data(text: &str) -> String {
        let chunk =
            ChatChunk::new("c1", "m", 1).with_choice(ChunkChoice::new(0, Delta::text(text)));
        String::from_utf8_lossy(&encode_chunk(&chunk)).into_owned()
    }

    fn run_openai(body: String) -> Vec<Result<ChatChunk, ProviderError>> {
        let bytes = stream::iter(vec![Ok::<_, Io>(Bytes::from(body))]);
        block_on(openai_chunks("openai", events(bytes)).collect())
    }

    #[test]
    fn openai_chunks_complete_stream() {
        let items = run_openai(format!(
            "{}{}: keep-alive comment\n\n{}",
            chunk_data("Hel"),
            chunk_data("lo"),
            "data: [DONE]\n\n"
        ));
        let texts: Vec<_> = items
            .iter()
            .map(|i| i.as_ref().ok().and_then(|c| c.text().map(str::to_owned)))
            .collect();
        assert_eq!(texts, vec![Some("Hel".to_owned()), Some("lo".to_owned())]);
    }

    #[test]
    fn openai_chunks_cut_stream_is_an_error() {
        let items = run_openai(chunk_data("Hel"));
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        assert_eq!(
            items[1].as_ref().err().map(ProviderError::kind),
            Some(ErrorKind::Connection)
        );
    }

    #[test]
    fn openai_chunks_error_event_and_garbage() {
        let items = run_openai(
            "data: {\"error\":{\"message\":\"Overloaded\",\"type\":\"overloaded_error\"}}\n\n"
                .to_owned(),
        );
        assert_eq!(items.len(), 1);
        assert_eq!(
            items[0].as_ref().err().map(ProviderError::kind),
            Some(ErrorKind::ServiceUnavailable)
        );

        let items = run_openai("data: {not json\n\ndata: [DONE]\n\n".to_owned());
        assert_eq!(items.len(), 1);
        assert_eq!(
            items[0].as_ref().err().map(ProviderError::kind),
            Some(ErrorKind::InternalServer)
        );

        // A chunk whose text is "error" is still a chunk.
        let items = run_openai(format!("{}data: [DONE]\n\n", chunk_data("error")));
        assert_eq!(items.len(), 1);
        assert!(items[0].is_ok());
    }

    #[test]
    fn encoders() {
        assert_eq!(
            &encode_event(Some("error"), "a\nb")[..],
            b"event: error\ndata: a\ndata: b\n\n"
        );
        assert_eq!(&encode_event(None, "x")[..], b"data: x\n\n");
        let encoded = encode_chunk(&ChatChunk::new("id", "m", 1));
        assert!(encoded.starts_with(b"data: {") && encoded.ends_with(b"}\n\n"));
    }
}
