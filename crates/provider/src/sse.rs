//! Server-sent events: parsing upstream streams and writing our own.
//!
//! [`events`] turns a byte stream (a response body's chunks) into [`SseEvent`]s, following
//! the parsing rules of the HTML standard's event streams; [`openai_chunks`] goes on to
//! turn OpenAI-style events into a [`ChunkStream`] that follows the provider contract (error
//! events become errors, a missing `[DONE]` becomes a [`ErrorKind::Connection`] error).
//! [`encode_chunk`] and [`DONE`] write the OpenAI wire format, for servers.

use std::error::Error as StdError;
use std::pin::Pin;
use std::string::FromUtf8Error;
use std::task::{Context, Poll};

use bytes::Bytes;
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
///
/// Lines end with `\n`, `\r\n` or `\r` (a pair split across two reads is one line end); a
/// leading byte-order mark is skipped; comments (`:` lines) and unknown fields are ignored;
/// `data:` lines join with `\n`; the last `id:` carries over to later events, as the
/// specification's "last event ID" does. A line that is not UTF-8 ends the stream with
/// [`SseError::Utf8`]; a failure of the byte stream is passed on as [`SseError::Transport`].
pub fn events<S, B, E>(bytes: S) -> impl Stream<Item = Result<SseEvent, SseError>>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: StdError + Send + Sync + 'static,
{
    Events {
        bytes: Box::pin(bytes),
        parser: Parser::default(),
        ended: false,
    }
}

/// The stream [`events`] returns.
struct Events<S> {
    bytes: Pin<Box<S>>,
    parser: Parser,
    /// The bytes ended, or a line was not UTF-8: nothing more comes.
    ended: bool,
}

impl<S, B, E> Stream for Events<S>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: StdError + Send + Sync + 'static,
{
    type Item = Result<SseEvent, SseError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // `Events` holds nothing pinned in place (the byte stream is boxed).
        let this = self.get_mut();
        loop {
            if this.ended && this.parser.buffer.is_empty() {
                return Poll::Ready(None);
            }
            match this.parser.next_event(this.ended) {
                Ok(Some(event)) => return Poll::Ready(Some(Ok(event))),
                Ok(None) if this.ended => {
                    // What is left is an event without its blank line: dropped.
                    this.parser.buffer.clear();
                    return Poll::Ready(None);
                }
                Ok(None) => {}
                Err(e) => {
                    this.ended = true;
                    this.parser.buffer.clear();
                    return Poll::Ready(Some(Err(e)));
                }
            }
            match this.bytes.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => this.parser.push(chunk.as_ref()),
                Poll::Ready(Some(Err(e))) => {
                    return Poll::Ready(Some(Err(SseError::Transport(Box::new(e)))));
                }
                Poll::Ready(None) => this.ended = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// The line-by-line state of an event stream.
#[derive(Default)]
struct Parser {
    /// Bytes received and not yet consumed as whole lines.
    buffer: Vec<u8>,
    /// Where the unconsumed part of `buffer` starts.
    start: usize,
    /// The first bytes were seen (a byte-order mark is only skipped there).
    started: bool,
    builder: Builder,
}

/// The event being built.
#[derive(Default)]
struct Builder {
    event: Option<String>,
    data: String,
    /// The last `id:` seen; it carries over to later events.
    last_id: Option<String>,
}

impl Parser {
    fn push(&mut self, mut bytes: &[u8]) {
        if !self.started && !bytes.is_empty() {
            self.started = true;
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        if self.start > 0 {
            // Drop consumed lines once per read, not once per line.
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete event in the buffer, if there is one. `ended`: no more bytes will
    /// come, so a `\r` at the very end is a line end rather than maybe half of `\r\n`.
    fn next_event(&mut self, ended: bool) -> Result<Option<SseEvent>, SseError> {
        loop {
            let rest = &self.buffer[self.start..];
            let Some(at) = memchr::memchr2(b'\n', b'\r', rest) else {
                return Ok(None);
            };
            let end_len = match (rest[at], rest.get(at + 1)) {
                (b'\r', Some(b'\n')) => 2,
                (b'\r', None) if !ended => return Ok(None),
                _ => 1,
            };
            let line = std::str::from_utf8(&rest[..at]).map_err(|_| not_utf8(&rest[..at]))?;
            let event = self.builder.line(line);
            self.start += at + end_len;
            if self.start == self.buffer.len() {
                self.buffer.clear();
                self.start = 0;
            }
            if event.is_some() {
                return Ok(event);
            }
        }
    }
}

impl Builder {
    /// Takes one line; a blank line dispatches the event built so far, if it has data.
    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            let name = self.event.take();
            if self.data.is_empty() {
                return None;
            }
            let mut data = std::mem::take(&mut self.data);
            if data.ends_with('\n') {
                data.pop();
            }
            return Some(SseEvent {
                event: name.filter(|e| !e.is_empty() && e != "message"),
                data,
                id: self.last_id.clone(),
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "event" => self.event = Some(value.to_owned()),
            "id" if !value.contains('\0') => {
                self.last_id = Some(value.to_owned()).filter(|id| !id.is_empty());
            }
            _ => {}
        }
        None
    }
}

/// The error for a line that is not UTF-8 (with the standard library's detail).
fn not_utf8(line: &[u8]) -> SseError {
    String::from_utf8(line.to_vec()).err().map_or_else(
        || SseError::Parse("a line is not UTF-8".to_owned()),
        SseError::Utf8,
    )
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

/// Writes an event whose data is `data` as it is (the upstream's JSON for a chunk, say): one
/// `data:` line per line of it, as the format requires.
pub fn encode_data(data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(data.len() + 16);
    for line in data.split(|b| *b == b'\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
        out.push(b'\n');
    }
    out.push(b'\n');
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

    fn all_events(parts: &[&'static str]) -> Vec<Result<SseEvent, SseError>> {
        block_on(events(bytes_of(parts)).collect())
    }

    fn data_of(items: &[Result<SseEvent, SseError>]) -> Vec<&str> {
        items
            .iter()
            .filter_map(|i| i.as_ref().ok().map(|e| e.data.as_str()))
            .collect()
    }

    #[test]
    fn every_line_ending_counts_even_split_across_reads() {
        // `\r\n` split between reads is one line end, not an empty line after a `\r`.
        let items = all_events(&["data: a\r", "\n\r\n", "data: b\r\rdata: c\n\n"]);
        assert_eq!(data_of(&items), ["a", "b", "c"]);
        // A `\r` at the very end of the bytes ends its line.
        let items = all_events(&["data: d\r\r"]);
        assert_eq!(data_of(&items), ["d"]);
    }

    #[test]
    fn fields_comments_and_the_byte_order_mark() {
        let items = all_events(&[
            "\u{feff}: a comment\n",
            "data\ndata:  two spaces\ndata:no space\nunknown: x\nretry: 10\n\n",
            "event: message\ndata: default type\n\n",
            "event: custom\n\n",
            "data: after a dataless event\n\n",
        ]);
        assert_eq!(
            data_of(&items),
            [
                "\n two spaces\nno space",
                "default type",
                "after a dataless event"
            ]
        );
        let events: Vec<&SseEvent> = items.iter().filter_map(|i| i.as_ref().ok()).collect();
        assert_eq!(events[1].event, None, "`message` is the default type");
        assert_eq!(
            events[2].event, None,
            "a dataless event's type does not leak"
        );
    }

    #[test]
    fn the_last_id_carries_over_and_an_unfinished_event_is_dropped() {
        let items = all_events(&["id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\ndata: cut"]);
        let ids: Vec<Option<&str>> = items
            .iter()
            .filter_map(|i| i.as_ref().ok().map(|e| e.id.as_deref()))
            .collect();
        assert_eq!(ids, [Some("1"), Some("1"), None]);
        assert_eq!(data_of(&items), ["a", "b", "c"]);
    }

    #[test]
    fn bytes_that_are_not_utf8_end_the_stream_with_an_error() {
        let parts: Vec<Result<Bytes, Io>> = vec![
            Ok(Bytes::from_static(b"data: ok\n\ndata: \xff\xfe\n\n")),
            Ok(Bytes::from_static(b"data: never\n\n")),
        ];
        let items: Vec<_> = block_on(events(stream::iter(parts)).collect());
        assert_eq!(data_of(&items), ["ok"]);
        assert_eq!(items.len(), 2);
        let err = items.into_iter().find_map(Result::err);
        assert!(matches!(err, Some(SseError::Utf8(_))), "{err:?}");
        // A character split across reads is fine: lines are decoded whole.
        let parts: Vec<Result<Bytes, Io>> = vec![
            Ok(Bytes::from_static(b"data: caf\xc3")),
            Ok(Bytes::from_static(b"\xa9\n\n")),
        ];
        let items: Vec<_> = block_on(events(stream::iter(parts)).collect());
        assert_eq!(data_of(&items), ["caf\u{e9}"]);
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
        assert_eq!(&encode_data(br#"{"a":1}"#)[..], b"data: {\"a\":1}\n\n");
        assert_eq!(&encode_data(b"a\r\nb")[..], b"data: a\ndata: b\n\n");
        // What a client's parser reads back is the data as it was.
        for data in ["{\"a\":1}", "a\nb", "", "x\n"] {
            let framed = encode_data(data.as_bytes());
            let read: Vec<_> =
                block_on(events(stream::iter([Ok::<_, Io>(framed)])).collect::<Vec<_>>());
            let read: Vec<String> = read
                .into_iter()
                .map(|e| e.expect("an event").data)
                .collect();
            assert_eq!(read, [data], "{data:?}");
        }
    }
}
