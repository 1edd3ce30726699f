//! Fast mode for benchmarks: fixed answers serialized once at start, no scripting, no hit log.
//!
//! A request costs one body read, one scan for `"stream"` that allocates nothing, and a
//! reference-counted clone of the prepared bytes.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::state::Shared;
use crate::wire::{self, Api, Call, Rendered};

/// The model name every fast answer carries.
pub(crate) const FAST_MODEL: &str = "mock-fast";

/// The prepared answers.
#[derive(Debug)]
struct Answers {
    chat: Bytes,
    chat_stream: Bytes,
    messages: Bytes,
    messages_stream: Bytes,
    embeddings: Bytes,
    models: Bytes,
}

/// Reads only the `stream` field; every other field is skipped without allocating.
#[derive(Deserialize)]
struct StreamFlag {
    #[serde(default)]
    stream: Option<bool>,
}

pub(crate) fn router() -> Router {
    Router::new()
        .fallback(fast_endpoint)
        .with_state(Arc::new(Answers::new()))
}

impl Answers {
    fn new() -> Self {
        // Render through the normal path once, so fast answers have the same shapes.
        let shared = Shared::new(CancellationToken::new(), 0);
        let render = |api: Api, stream: bool, body: &Value| {
            let call = Call {
                api,
                deployment: FAST_MODEL.to_owned(),
                body,
                stream,
            };
            match wire::render_success(&shared, &call, &call.default_content()) {
                Rendered::Json(bytes) => bytes,
                Rendered::Sse(parts) => {
                    let mut all = Vec::new();
                    for event in parts
                        .preamble
                        .iter()
                        .chain(&parts.content)
                        .chain(&parts.finish)
                    {
                        all.extend_from_slice(event);
                    }
                    Bytes::from(all)
                }
            }
        };
        let chat = json!({"model": FAST_MODEL, "messages": [{"role": "user", "content": "hello"}],
                          "stream_options": {"include_usage": true}});
        let anthropic = json!({"model": FAST_MODEL, "max_tokens": 16,
                               "messages": [{"role": "user", "content": "hello"}]});
        let embed = json!({"model": FAST_MODEL, "input": "hello"});
        Self {
            chat: render(Api::OpenAiChat, false, &chat),
            chat_stream: render(Api::OpenAiChat, true, &chat),
            messages: render(Api::AnthropicMessages, false, &anthropic),
            messages_stream: render(Api::AnthropicMessages, true, &anthropic),
            embeddings: render(Api::OpenAiEmbeddings, false, &embed),
            models: Bytes::from(wire::models_list(&[FAST_MODEL.to_owned()]).to_string()),
        }
    }
}

async fn fast_endpoint(State(answers): State<Arc<Answers>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    let is_chat = path == "/v1/chat/completions"
        || (path.starts_with("/openai/deployments/") && path.ends_with("/chat/completions"));
    let (json, stream) = match (parts.method, path) {
        (Method::POST, _) if is_chat => (&answers.chat, &answers.chat_stream),
        (Method::POST, "/v1/messages") => (&answers.messages, &answers.messages_stream),
        (Method::POST, "/v1/embeddings") => (&answers.embeddings, &answers.embeddings),
        (Method::GET, "/v1/models") => {
            return answer(StatusCode::OK, "application/json", answers.models.clone());
        }
        _ => {
            return answer(
                StatusCode::NOT_FOUND,
                "application/json",
                Bytes::from_static(br#"{"error":{"message":"Invalid URL","type":"invalid_request_error","param":null,"code":null}}"#),
            );
        }
    };
    let Ok(bytes) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return answer(StatusCode::PAYLOAD_TOO_LARGE, "text/plain", Bytes::new());
    };
    let wants_stream = serde_json::from_slice::<StreamFlag>(&bytes)
        .ok()
        .and_then(|f| f.stream)
        .unwrap_or(false);
    if wants_stream && !std::ptr::eq(json, stream) {
        answer(
            StatusCode::OK,
            "text/event-stream; charset=utf-8",
            stream.clone(),
        )
    } else {
        answer(StatusCode::OK, "application/json", json.clone())
    }
}

fn answer(status: StatusCode, content_type: &'static str, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
