//! Turns a scripted [`Step`] into an HTTP response: delays, paced bodies, cut connections.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{StatusCode, response::Builder};
use serde_json::Value;

use crate::behaviour::{Behaviour, Step};
use crate::conn::ConnCtl;
use crate::state::Shared;
use crate::wire::{self, Call, Rendered, SseParts};

const JSON: &str = "application/json";
const EVENT_STREAM: &str = "text/event-stream; charset=utf-8";

/// Sleeps for `d`, or less if the server shuts down; `false` means it is shutting down.
async fn sleep(shared: &Shared, d: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(d) => true,
        () = shared.shutdown.cancelled() => false,
    }
}

/// Closes the connection without writing anything: the returned response is never sent.
pub(crate) fn close(conn: &ConnCtl) -> Response {
    conn.kill();
    Response::new(Body::empty())
}

/// Answers `call` as `step` says (`None`: the default success).
pub(crate) async fn respond(
    shared: &Arc<Shared>,
    conn: &ConnCtl,
    call: &Call<'_>,
    step: Option<Step>,
) -> Response {
    let (behaviour, delay) = match step {
        Some(step) => (step.behaviour, step.delay),
        None => (Behaviour::success(), None),
    };
    if let Some(delay) = delay
        && !sleep(shared, delay).await
    {
        return close(conn);
    }
    let default = || wire::render_success(shared, call, &call.default_content());
    match behaviour {
        Behaviour::Success { content } => match content {
            Some(text) => send(
                shared,
                call,
                wire::render_success(shared, call, &text),
                Pace::Burst,
            ),
            None => send(shared, call, default(), Pace::Burst),
        },
        Behaviour::Status {
            status,
            body,
            headers,
        } => status_response(call, status, body, &headers),
        Behaviour::Hang => {
            shared.shutdown.cancelled().await;
            close(conn)
        }
        Behaviour::Delay { first_byte } => {
            if !sleep(shared, first_byte).await {
                return close(conn);
            }
            send(shared, call, default(), Pace::Burst)
        }
        Behaviour::SlowStream { chunk_delay } => {
            send(shared, call, default(), Pace::Slow(chunk_delay))
        }
        Behaviour::CutStream { after_chunks } => {
            send(shared, call, default(), Pace::Cut(after_chunks))
        }
        Behaviour::StreamErrorEvent { after_chunks } => match default() {
            Rendered::Sse(parts) => {
                sse_response(shared, call, parts, Pace::ErrorEvent(after_chunks))
            }
            Rendered::Json(_) => ok_builder(shared, call, JSON)
                .body(Body::from(wire::error_in_ok_body(call.api).to_string())),
        }
        .unwrap_or_else(|e| internal(&e)),
        Behaviour::MalformedJson => match default() {
            Rendered::Sse(parts) => sse_response(shared, call, parts, Pace::Malformed),
            Rendered::Json(body) => {
                // Half a valid body is invalid JSON that still looks like the real thing.
                let half = body.slice(..body.len() / 2);
                ok_builder(shared, call, JSON).body(Body::from(half))
            }
        }
        .unwrap_or_else(|e| internal(&e)),
        Behaviour::Oversized { bytes } => {
            let rendered = if call.api.is_embeddings() {
                wire::render_oversized_embeddings(call, bytes)
            } else {
                wire::render_success(shared, call, &filler(bytes))
            };
            send(shared, call, rendered, Pace::Burst)
        }
        Behaviour::CloseConnection => close(conn),
    }
}

/// How a body's pieces go out.
#[derive(Debug, Clone, Copy)]
enum Pace {
    /// Everything at once.
    Burst,
    /// A gap before every content piece.
    Slow(Duration),
    /// Stop after this many content pieces and drop the connection.
    Cut(usize),
    /// Send this many content pieces, then the error event, then end cleanly.
    ErrorEvent(usize),
    /// Send a malformed event in place of the content.
    Malformed,
}

fn send(shared: &Arc<Shared>, call: &Call<'_>, rendered: Rendered, pace: Pace) -> Response {
    match rendered {
        Rendered::Sse(parts) => sse_response(shared, call, parts, pace),
        Rendered::Json(body) => json_response(shared, call, body, pace),
    }
    .unwrap_or_else(|e| internal(&e))
}

fn json_response(
    shared: &Arc<Shared>,
    call: &Call<'_>,
    body: Bytes,
    pace: Pace,
) -> http::Result<Response> {
    let builder = ok_builder(shared, call, JSON);
    match pace {
        Pace::Burst | Pace::ErrorEvent(_) | Pace::Malformed => builder.body(Body::from(body)),
        Pace::Slow(gap) => {
            let n = 4.min(body.len()).max(1);
            let size = body.len().div_ceil(n).max(1);
            let pieces = (0..body.len())
                .step_by(size)
                .map(|start| (gap, body.slice(start..(start + size).min(body.len()))))
                .collect();
            builder.body(paced_body(shared, pieces, false))
        }
        Pace::Cut(_) => {
            let half = body.slice(..body.len() / 2);
            builder.body(paced_body(
                shared,
                VecDeque::from([(Duration::ZERO, half)]),
                true,
            ))
        }
    }
}

fn sse_response(
    shared: &Arc<Shared>,
    call: &Call<'_>,
    parts: SseParts,
    pace: Pace,
) -> http::Result<Response> {
    let SseParts {
        preamble,
        content,
        finish,
        error_event,
        malformed,
    } = parts;
    let now = |b: Bytes| (Duration::ZERO, b);
    let mut events: VecDeque<(Duration, Bytes)> = preamble.into_iter().map(now).collect();
    let mut cut = false;
    match pace {
        Pace::Burst => {
            events.extend(content.into_iter().chain(finish).map(now));
        }
        Pace::Slow(gap) => {
            events.extend(content.into_iter().map(|b| (gap, b)));
            events.extend(finish.into_iter().map(now));
        }
        Pace::Cut(after) => {
            events.extend(content.into_iter().take(after).map(now));
            cut = true;
        }
        Pace::ErrorEvent(after) => {
            events.extend(content.into_iter().take(after).map(now));
            events.push_back(now(error_event));
        }
        Pace::Malformed => {
            events.push_back(now(malformed));
            events.extend(finish.into_iter().map(now));
        }
    }
    ok_builder(shared, call, EVENT_STREAM)
        .header("cache-control", "no-cache")
        .body(paced_body(shared, events, cut))
}

/// A body that sends each piece after its delay and, if `cut`, then fails so the connection
/// drops without the end of the message.
fn paced_body(shared: &Arc<Shared>, pieces: VecDeque<(Duration, Bytes)>, cut: bool) -> Body {
    let shared = Arc::clone(shared);
    let stream = futures::stream::unfold(
        (pieces, cut, shared),
        |(mut pieces, cut, shared)| async move {
            match pieces.pop_front() {
                Some((delay, bytes)) => {
                    if !delay.is_zero() && !sleep(&shared, delay).await {
                        return Some((
                            Err(cut_error("the server is shutting down")),
                            (VecDeque::new(), false, shared),
                        ));
                    }
                    Some((Ok(bytes), (pieces, cut, shared)))
                }
                None if cut => {
                    // Let the server flush what was sent, so the client sees the pieces and then
                    // the cut, not a connection that died before them.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    Some((Err(cut_error("scripted cut")), (pieces, false, shared)))
                }
                None => None,
            }
        },
    );
    Body::from_stream(stream)
}

fn cut_error(why: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionAborted, why.to_owned())
}

fn ok_builder(shared: &Shared, call: &Call<'_>, content_type: &'static str) -> Builder {
    let builder = Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, content_type);
    if call.api.is_anthropic() {
        builder.header("request-id", format!("req_01{}", shared.new_id(22)))
    } else {
        builder
            .header("x-request-id", format!("req_{}", shared.new_id(32)))
            .header("openai-processing-ms", "1")
    }
}

fn status_response(
    call: &Call<'_>,
    status: u16,
    body: Option<Value>,
    headers: &[(String, String)],
) -> Response {
    let Ok(code) = StatusCode::from_u16(status) else {
        return internal(&format!(
            "scripted status {status} is not a valid HTTP status"
        ));
    };
    let mut builder = Response::builder().status(code);
    let has_content_type = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
    for (name, value) in headers {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(name), Ok(value)) => builder = builder.header(name, value),
            _ => tracing::warn!("skipping invalid scripted header {name:?}"),
        }
    }
    let body = body.unwrap_or_else(|| wire::default_error_body(call.api, status));
    let bytes = match body {
        Value::String(text) => {
            if !has_content_type {
                builder = builder.header(CONTENT_TYPE, "text/plain; charset=utf-8");
            }
            Bytes::from(text)
        }
        other => {
            if !has_content_type {
                builder = builder.header(CONTENT_TYPE, JSON);
            }
            Bytes::from(other.to_string())
        }
    };
    builder
        .body(Body::from(bytes))
        .unwrap_or_else(|e| internal(&e))
}

/// Text of exactly `bytes` bytes for an oversized answer.
fn filler(bytes: usize) -> String {
    const WORDS: &str = "lorem ipsum dolor sit amet consectetur adipiscing elit ";
    let mut text = WORDS.repeat(bytes / WORDS.len() + 1);
    text.truncate(bytes);
    text
}

/// A response for a bug in a script (not a scripted failure).
pub(crate) fn internal(e: &dyn std::fmt::Display) -> Response {
    let body = serde_json::json!({"error": {"message": format!("mock upstream: {e}"),
        "type": "mock_upstream_error", "param": null, "code": null}});
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

/// A JSON response with this status.
pub(crate) fn json_status(status: StatusCode, body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}
