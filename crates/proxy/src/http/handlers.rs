//! The endpoints: chat completions (plain and streamed), embeddings, models, health, metrics.

use std::{
    convert::Infallible,
    pin::Pin,
    sync::{Arc, atomic::Ordering},
    task::{Context, Poll, ready},
    time::{Duration, Instant},
};

use axum::{
    Json,
    body::{Body, Bytes},
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use router::{Report, Routed, RoutedStream};

use crate::http::{
    AppState,
    auth::Caller,
    error::{ApiError, error_body, openai_type_and_code},
    headers::{OVERHEAD_MS, REQUEST_ID, report_headers},
    request,
};

/// Reads the body up to the limit.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        // axum reports an over-limit body as a "length limit exceeded" error.
        let text = e.to_string();
        if text.contains("length limit") {
            ApiError::payload_too_large(limit)
        } else {
            ApiError::bad_request(format!("the request body could not be read: {text}"), None)
        }
    })
}

fn request_id(app: &AppState, headers: &HeaderMap) -> Arc<str> {
    match headers
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
    {
        Some(id) => id.into(),
        None => {
            let n = app.request_counter.fetch_add(1, Ordering::Relaxed);
            generated_id(app.instance_tag, n)
        }
    }
}

/// `sy-{tag:08x}{n:08x}`, written straight into its `Arc<str>`: `format!` and then
/// `into()` would allocate twice on every request.
fn generated_id(tag: u32, n: u64) -> Arc<str> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 3 + 8 + 16];
    buf[..3].copy_from_slice(b"sy-");
    let mut len = 3;
    let mut put = |value: u64, min_digits: u32| {
        let digits = (64 - value.leading_zeros()).div_ceil(4).max(min_digits);
        for i in (0..digits).rev() {
            buf[len] = HEX[usize::try_from((value >> (i * 4)) & 0xf).unwrap_or(0)];
            len += 1;
        }
    };
    put(u64::from(tag), 8);
    put(n, 8);
    // Hex digits and `sy-` are ASCII, so this never replaces anything (and never allocates).
    Arc::from(String::from_utf8_lossy(&buf[..len]).as_ref())
}

/// Time the proxy itself spent: total minus upstream attempts and retry waits.
fn overhead(started: Instant, report: &Report) -> Duration {
    let upstream: Duration = report
        .attempts
        .iter()
        .map(|a| a.latency + a.wait_before)
        .sum();
    started.elapsed().saturating_sub(upstream)
}

fn finish(app: &AppState, request_id: &str, result: Result<Response, ApiError>) -> Response {
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    app.metrics.request(resp.status().as_u16());
    if !resp.headers().contains_key(&REQUEST_ID)
        && let Ok(v) = HeaderValue::from_str(request_id)
    {
        resp.headers_mut().insert(REQUEST_ID.clone(), v);
    }
    resp
}

fn overhead_header(resp: &mut Response, d: Duration) {
    if let Ok(v) = HeaderValue::from_bytes(milliseconds(d).as_slice()) {
        resp.headers_mut().insert(OVERHEAD_MS.clone(), v);
    }
}

/// `d` in milliseconds with three decimals (`0.042`), rounded to the microsecond. Written by
/// hand: formatting the `f64` with `{:.3}` cost a thousand instructions per request.
fn milliseconds(d: Duration) -> Digits {
    let micros = u64::try_from(d.as_nanos().saturating_add(500) / 1000).unwrap_or(u64::MAX);
    let mut out = Digits {
        buf: [0; 24],
        start: 24,
    };
    let (mut whole, mut frac) = (micros / 1000, micros % 1000);
    for _ in 0..3 {
        out.push(b'0' + (frac % 10) as u8);
        frac /= 10;
    }
    out.push(b'.');
    loop {
        out.push(b'0' + (whole % 10) as u8);
        whole /= 10;
        if whole == 0 {
            return out;
        }
    }
}

/// Digits written from the end of a small buffer.
struct Digits {
    buf: [u8; 24],
    start: usize,
}

impl Digits {
    fn push(&mut self, digit: u8) {
        self.start -= 1;
        self.buf[self.start] = digit;
    }

    fn as_slice(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

/// `POST /v1/chat/completions` and `/chat/completions`.
pub async fn chat_completions(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let id = request_id(&app, &headers);
    let result = chat_inner(&app, &headers, body, id.clone(), started).await;
    finish(&app, &id, result)
}

async fn chat_inner(
    app: &Arc<AppState>,
    headers: &HeaderMap,
    body: Body,
    id: Arc<str>,
    started: Instant,
) -> Result<Response, ApiError> {
    let caller = app.auth.authenticate(headers)?;
    let bytes = read_body(body, app.max_body_bytes).await?;
    let call = request::chat_call(&bytes, headers, id)?;
    app.auth.admit(caller, &call.req.model, app.router.now())?;
    if call.stream {
        let stream = app
            .router
            .chat_stream(&call.req, &call.opts)
            .await
            .map_err(ApiError::from_router)?;
        // The report's headers are written before the stream moves into the body, so the
        // report is not cloned.
        let spent = overhead(started, stream.report());
        app.metrics.overhead(spent);
        let mut resp = sse_response(app.clone(), caller, stream);
        overhead_header(&mut resp, spent);
        Ok(resp)
    } else {
        let routed = app
            .router
            .chat(&call.req, &call.opts)
            .await
            .map_err(ApiError::from_router)?;
        if let Some(u) = &routed.value.usage {
            app.auth
                .record_tokens(caller, app.router.now(), u.total_tokens);
        }
        Ok(routed_answer(app, started, routed))
    }
}

/// The `200` JSON answer of a routed call, with the report's headers and the overhead (also
/// recorded in the metrics).
///
/// When the router has the upstream's own body for the value (an OpenAI-format chat
/// completion read as it stands), that body is forwarded rather than the same JSON written
/// out again: a tenth of the proxy's instructions per request.
fn routed_answer<T: serde::Serialize>(
    app: &AppState,
    started: Instant,
    routed: Routed<T>,
) -> Response {
    let spent = overhead(started, &routed.report);
    app.metrics.overhead(spent);
    let mut resp = match routed.upstream_body {
        Some(body) => {
            let mut resp = Response::new(Body::from(body));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        None => Json(&routed.value).into_response(),
    };
    report_headers(resp.headers_mut(), &routed.report);
    overhead_header(&mut resp, spent);
    resp
}

/// The SSE answer of a committed stream, with the report's headers: chunks, then `[DONE]`, or an
/// error event that ends it.
fn sse_response(app: Arc<AppState>, caller: Caller, stream: RoutedStream) -> Response {
    let mut resp = Response::new(Body::empty());
    report_headers(resp.headers_mut(), stream.report());
    let body = SseBody {
        app,
        caller,
        stream: Some(stream.with_bodies()),
    };
    *resp.body_mut() = Body::from_stream(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// The events of a committed stream: each chunk (the upstream's JSON for it when there is
/// one), then `[DONE]` or an error event that ends it. A hand-written stream: an `unfold` moved
/// its state into a new future for every event.
struct SseBody {
    app: Arc<AppState>,
    caller: Caller,
    /// `None` once the last event is out.
    stream: Option<router::WithBodies>,
}

impl futures::Stream for SseBody {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let Some(stream) = this.stream.as_mut() else {
            return Poll::Ready(None);
        };
        let event = match ready!(stream.poll_next_unpin(cx)) {
            Some(Ok((chunk, upstream))) => {
                if let Some(u) = &chunk.usage {
                    this.app
                        .auth
                        .record_tokens(this.caller, this.app.router.now(), u.total_tokens);
                }
                // The upstream's JSON for the chunk, when there is one, goes out as it came (as
                // for plain answers); otherwise the chunk is written.
                match upstream {
                    Some(json) => provider::sse::encode_data(&json),
                    None => provider::sse::encode_chunk(&chunk),
                }
            }
            Some(Err(e)) => {
                this.stream = None;
                let (error_type, code) = openai_type_and_code(e.kind());
                let body = error_body(e.message(), error_type, Some(code), None);
                provider::sse::encode_event(None, &body.to_string())
            }
            None => {
                this.stream = None;
                Bytes::from_static(provider::sse::DONE)
            }
        };
        Poll::Ready(Some(Ok(event)))
    }
}

/// `POST /v1/embeddings`.
pub async fn embeddings(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let id = request_id(&app, &headers);
    let result = async {
        let caller = app.auth.authenticate(&headers)?;
        let bytes = read_body(body, app.max_body_bytes).await?;
        let (req, opts) = request::embeddings_call(&bytes, &headers, id.clone())?;
        app.auth.admit(caller, &req.model, app.router.now())?;
        let routed = app
            .router
            .embeddings(&req, &opts)
            .await
            .map_err(ApiError::from_router)?;
        Ok(routed_answer(&app, started, routed))
    }
    .await;
    finish(&app, &id, result)
}

fn model_object(id: &str, created: u64) -> serde_json::Value {
    serde_json::json!({ "id": id, "object": "model", "created": created, "owned_by": "switchyard" })
}

/// `GET /v1/models`.
pub async fn list_models(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let id = request_id(&app, &headers);
    let result = app.auth.authenticate(&headers).map(|_| {
        let data: Vec<_> = app
            .router
            .model_groups()
            .map(|g| model_object(g, app.started_unix))
            .collect();
        Json(serde_json::json!({ "object": "list", "data": data })).into_response()
    });
    finish(&app, &id, result)
}

/// `GET /v1/models/{id}`.
pub async fn get_model(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(model): Path<String>,
) -> Response {
    let id = request_id(&app, &headers);
    let result = app.auth.authenticate(&headers).and_then(|_| {
        if app.router.has_group(&model) {
            Ok(Json(model_object(&model, app.started_unix)).into_response())
        } else {
            Err(ApiError::not_found(format!(
                "model `{model}` is not configured here; GET /v1/models lists the ones that are"
            )))
        }
    });
    finish(&app, &id, result)
}

/// `GET /health/liveliness` and `/health/liveness`: the process answers.
pub async fn liveness() -> &'static str {
    "I'm alive!"
}

/// `GET /health/readiness`: ready to take traffic (not shutting down).
pub async fn readiness(State(app): State<Arc<AppState>>) -> Response {
    let cooling = app.router.cooling_count();
    let total = app.router.deployments().len();
    Json(serde_json::json!({
        "status": "healthy",
        "deployments": total,
        "deployments_cooling": cooling,
        "version": env!("CARGO_PKG_VERSION"),
    }))
    .into_response()
}

/// `GET /health`: calls every deployment once (needs auth).
pub async fn health(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let id = request_id(&app, &headers);
    let result = match app.auth.authenticate(&headers) {
        Err(e) => Err(e),
        Ok(_) => {
            let reports = app.router.health_check(Duration::from_secs(10)).await;
            let (mut healthy, mut unhealthy) = (Vec::new(), Vec::new());
            for r in reports {
                let d = &r.deployment;
                match r.result {
                    Ok(latency) => healthy.push(serde_json::json!({
                        "id": &*d.id, "model_group": &*d.group, "provider": d.provider, "model": d.model,
                        "latency_ms": latency.as_secs_f64() * 1000.0,
                    })),
                    Err(e) => unhealthy.push(serde_json::json!({
                        "id": &*d.id, "model_group": &*d.group, "provider": d.provider, "model": d.model,
                        "error": e.to_string(), "kind": e.kind().as_str(),
                    })),
                }
            }
            Ok(Json(serde_json::json!({
                "healthy_count": healthy.len(),
                "unhealthy_count": unhealthy.len(),
                "healthy_endpoints": healthy,
                "unhealthy_endpoints": unhealthy,
            }))
            .into_response())
        }
    };
    finish(&app, &id, result)
}

/// `GET /metrics`: Prometheus text.
pub async fn metrics(State(app): State<Arc<AppState>>) -> Response {
    let text = app.metrics.render(&app.router);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// Any other path.
pub async fn not_found(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let id = request_id(&app, &headers);
    let err = ApiError::unknown_route(format!(
        "no endpoint at `{}`; see GET /v1/models and POST /v1/chat/completions",
        uri.path()
    ));
    let mut resp = finish(&app, &id, Err(err));
    *resp.status_mut() = StatusCode::NOT_FOUND;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overhead_is_milliseconds_with_three_decimals() {
        for (d, text) in [
            (Duration::ZERO, "0.000"),
            (Duration::from_nanos(499), "0.000"),
            (Duration::from_nanos(500), "0.001"),
            (Duration::from_micros(42), "0.042"),
            (Duration::from_nanos(1_234_567), "1.235"),
            (Duration::from_millis(30_000), "30000.000"),
            (Duration::MAX, "18446744073709551.615"),
        ] {
            assert_eq!(milliseconds(d).as_slice(), text.as_bytes(), "{d:?}");
        }
    }

    #[test]
    fn generated_ids_keep_their_format() {
        for (tag, n) in [
            (0, 0),
            (0xdead_beef, 42),
            (7, u64::from(u32::MAX) + 1),
            (1, u64::MAX),
        ] {
            assert_eq!(&*generated_id(tag, n), format!("sy-{tag:08x}{n:08x}"));
        }
    }
}
