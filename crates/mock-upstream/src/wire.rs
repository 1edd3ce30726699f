//! The provider wire formats: OpenAI, Azure OpenAI and Anthropic bodies and SSE events, built with
//! `serde_json` so this crate depends on no other Switchyard crate.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::{Value, json};

use crate::behaviour::{anthropic_error, openai_error};
use crate::state::Shared;

/// Which provider endpoint a request hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    OpenAiChat,
    AzureChat,
    OpenAiEmbeddings,
    AzureEmbeddings,
    AnthropicMessages,
}

impl Api {
    pub(crate) fn is_anthropic(self) -> bool {
        self == Self::AnthropicMessages
    }

    fn is_azure(self) -> bool {
        matches!(self, Self::AzureChat | Self::AzureEmbeddings)
    }

    pub(crate) fn is_embeddings(self) -> bool {
        matches!(self, Self::OpenAiEmbeddings | Self::AzureEmbeddings)
    }
}

/// One parsed request to a scriptable endpoint.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    pub(crate) api: Api,
    pub(crate) deployment: String,
    pub(crate) body: &'a Value,
    pub(crate) stream: bool,
}

impl Call<'_> {
    fn include_usage(&self) -> bool {
        self.body["stream_options"]["include_usage"].as_bool() == Some(true)
    }

    /// The model name answered: the body's `model` (Azure echoes the deployment when absent).
    fn model(&self) -> &str {
        self.body["model"].as_str().unwrap_or(&self.deployment)
    }

    fn prompt_tokens(&self) -> u64 {
        let mut chars = 0;
        count_text(&self.body["messages"], &mut chars);
        count_text(&self.body["system"], &mut chars);
        count_text(&self.body["input"], &mut chars);
        tokens(chars)
    }

    /// The default answer text.
    pub(crate) fn default_content(&self) -> String {
        format!("mock answer from {}", self.deployment)
    }
}

/// Adds up the chars of every string in a message list, content parts or input list.
fn count_text(v: &Value, chars: &mut usize) {
    match v {
        Value::String(s) => *chars += s.chars().count(),
        Value::Array(items) => items.iter().for_each(|i| count_text(i, chars)),
        Value::Object(map) => {
            for key in ["content", "text"] {
                if let Some(inner) = map.get(key) {
                    count_text(inner, chars);
                }
            }
        }
        _ => {}
    }
}

/// The mock's tokenizer: one token per 4 chars, at least one.
fn tokens(chars: usize) -> u64 {
    (chars.div_ceil(4).max(1)) as u64
}

/// A success answer ready to send: one JSON body, or SSE events in their phases.
#[derive(Debug)]
pub(crate) enum Rendered {
    Json(Bytes),
    Sse(SseParts),
}

/// The events of a stream, split where faults are injected.
#[derive(Debug)]
pub(crate) struct SseParts {
    /// Sent before any content (OpenAI role chunk; Anthropic `message_start`, `content_block_start`, `ping`).
    pub(crate) preamble: Vec<Bytes>,
    /// One event per content piece.
    pub(crate) content: Vec<Bytes>,
    /// Finish events (finish chunk, usage chunk, `[DONE]`; Anthropic stop events).
    pub(crate) finish: Vec<Bytes>,
    /// The provider's in-stream error event.
    pub(crate) error_event: Bytes,
    /// An event whose data is not valid JSON.
    pub(crate) malformed: Bytes,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn to_bytes(v: &Value) -> Bytes {
    Bytes::from(v.to_string())
}

fn sse_data(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

fn sse_event(name: &str, v: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {v}\n\n"))
}

/// Splits text into stream pieces: words with their leading space for short answers, 16 KiB
/// slices for huge ones.
pub(crate) fn pieces(text: &str) -> Vec<String> {
    const SLICE: usize = 16 * 1024;
    if text.len() > SLICE {
        let mut out = Vec::with_capacity(text.len() / SLICE + 1);
        let mut rest = text;
        while !rest.is_empty() {
            let mut end = SLICE.min(rest.len());
            while !rest.is_char_boundary(end) {
                end -= 1;
            }
            out.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
        return out;
    }
    let mut out: Vec<String> = Vec::new();
    for (i, word) in text.split(' ').enumerate() {
        if i == 0 {
            out.push(word.to_owned());
        } else {
            out.push(format!(" {word}"));
        }
    }
    out.retain(|p| !p.is_empty());
    if out.is_empty() {
        out.push(String::new());
    }
    out
}

/// Renders the success answer with `content` for this call.
pub(crate) fn render_success(shared: &Shared, call: &Call<'_>, content: &str) -> Rendered {
    match call.api {
        Api::OpenAiChat | Api::AzureChat if call.stream => {
            Rendered::Sse(openai_stream(shared, call, content))
        }
        Api::OpenAiChat | Api::AzureChat => {
            Rendered::Json(openai_completion(shared, call, content))
        }
        Api::AnthropicMessages if call.stream => {
            Rendered::Sse(anthropic_stream(shared, call, content))
        }
        Api::AnthropicMessages => Rendered::Json(anthropic_message(shared, call, content)),
        Api::OpenAiEmbeddings | Api::AzureEmbeddings => Rendered::Json(embeddings(call, None)),
    }
}

/// An embeddings answer padded to at least `bytes` bytes.
pub(crate) fn render_oversized_embeddings(call: &Call<'_>, bytes: usize) -> Rendered {
    // A float takes about 12 bytes of JSON (`-0.12345678,`).
    Rendered::Json(embeddings(call, Some(bytes / 12 + 1)))
}

fn safe_filter() -> Value {
    json!({
        "hate": {"filtered": false, "severity": "safe"},
        "self_harm": {"filtered": false, "severity": "safe"},
        "sexual": {"filtered": false, "severity": "safe"},
        "violence": {"filtered": false, "severity": "safe"}
    })
}

fn openai_usage(prompt: u64, completion: u64) -> Value {
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0
        }
    })
}

fn openai_completion(shared: &Shared, call: &Call<'_>, content: &str) -> Bytes {
    let completion = tokens(content.chars().count());
    let mut choice = json!({
        "index": 0,
        "message": {"role": "assistant", "content": content, "refusal": null, "annotations": []},
        "logprobs": null,
        "finish_reason": "stop"
    });
    let mut body = json!({
        "id": format!("chatcmpl-{}", shared.new_id(29)),
        "object": "chat.completion",
        "created": now_secs(),
        "model": call.model(),
        "choices": [],
        "usage": openai_usage(call.prompt_tokens(), completion),
        "service_tier": "default",
        "system_fingerprint": "fp_mock"
    });
    if call.api.is_azure() {
        choice["content_filter_results"] = safe_filter();
        body["prompt_filter_results"] =
            json!([{"prompt_index": 0, "content_filter_results": safe_filter()}]);
    }
    body["choices"] = json!([choice]);
    to_bytes(&body)
}

fn openai_stream(shared: &Shared, call: &Call<'_>, content: &str) -> SseParts {
    let id = format!("chatcmpl-{}", shared.new_id(29));
    let created = now_secs();
    let model = call.model();
    let include_usage = call.include_usage();
    let azure = call.api.is_azure();
    let chunk = |delta: Value, finish: Value| {
        let mut choice =
            json!({"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish});
        if azure {
            choice["content_filter_results"] = if finish.is_null() {
                safe_filter()
            } else {
                json!({})
            };
        }
        let mut c = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "service_tier": "default", "system_fingerprint": "fp_mock", "choices": [choice]
        });
        if include_usage {
            c["usage"] = Value::Null;
        }
        sse_data(&c)
    };

    let mut preamble = Vec::new();
    if azure {
        // Azure opens every stream with a chunk that has no choices and an empty model.
        preamble.push(sse_data(&json!({
            "choices": [], "created": 0, "id": "", "model": "", "object": "",
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": safe_filter()}]
        })));
    }
    preamble.push(chunk(
        json!({"role": "assistant", "content": "", "refusal": null}),
        Value::Null,
    ));
    let content_events = pieces(content)
        .iter()
        .map(|p| chunk(json!({"content": p}), Value::Null))
        .collect();
    let mut finish = vec![chunk(json!({}), json!("stop"))];
    if include_usage {
        finish.push(sse_data(&json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "service_tier": "default", "system_fingerprint": "fp_mock", "choices": [],
            "usage": openai_usage(call.prompt_tokens(), tokens(content.chars().count()))
        })));
    }
    finish.push(Bytes::from_static(b"data: [DONE]\n\n"));
    SseParts {
        preamble,
        content: content_events,
        finish,
        error_event: sse_data(&openai_error(
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
            None,
        )),
        malformed: Bytes::from(format!(
            "data: {{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"delta\":{{\"content\":\"unterminated\n\n"
        )),
    }
}

fn anthropic_message(shared: &Shared, call: &Call<'_>, content: &str) -> Bytes {
    to_bytes(&json!({
        "id": format!("msg_01{}", shared.new_id(22)),
        "type": "message",
        "role": "assistant",
        "model": call.model(),
        "content": [{"type": "text", "text": content}],
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "usage": {
            "input_tokens": call.prompt_tokens(),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": tokens(content.chars().count())
        }
    }))
}

fn anthropic_stream(shared: &Shared, call: &Call<'_>, content: &str) -> SseParts {
    let preamble = vec![
        sse_event(
            "message_start",
            &json!({"type": "message_start", "message": {
                "id": format!("msg_01{}", shared.new_id(22)),
                "type": "message", "role": "assistant", "model": call.model(),
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": call.prompt_tokens(), "cache_creation_input_tokens": 0,
                          "cache_read_input_tokens": 0, "output_tokens": 1}
            }}),
        ),
        sse_event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": 0,
                    "content_block": {"type": "text", "text": ""}}),
        ),
        sse_event("ping", &json!({"type": "ping"})),
    ];
    let content_events = pieces(content)
        .iter()
        .map(|p| {
            sse_event(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": 0,
                        "delta": {"type": "text_delta", "text": p}}),
            )
        })
        .collect();
    let finish = vec![
        sse_event(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": 0}),
        ),
        sse_event(
            "message_delta",
            &json!({"type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                    "usage": {"output_tokens": tokens(content.chars().count())}}),
        ),
        sse_event("message_stop", &json!({"type": "message_stop"})),
    ];
    SseParts {
        preamble,
        content: content_events,
        finish,
        error_event: sse_event("error", &anthropic_error("overloaded_error", "Overloaded")),
        malformed: Bytes::from_static(
            b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_d\n\n",
        ),
    }
}

/// The inputs of an embeddings request: a string, a list of strings, or token lists.
fn embedding_inputs(input: &Value) -> Vec<String> {
    match input {
        Value::Array(items) if items.iter().all(Value::is_number) => vec![input.to_string()],
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect(),
        Value::String(s) => vec![s.clone()],
        other => vec![other.to_string()],
    }
}

fn embeddings(call: &Call<'_>, dims_override: Option<usize>) -> Bytes {
    let dims = dims_override.unwrap_or_else(|| {
        call.body["dimensions"]
            .as_u64()
            .map_or(8, |d| d.clamp(1, 4096) as usize)
    });
    let base64 = call.body["encoding_format"].as_str() == Some("base64");
    let data: Vec<Value> = embedding_inputs(&call.body["input"])
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let vector = unit_vector(text, dims);
            let embedding = if base64 {
                let raw: Vec<u8> = vector.iter().flat_map(|f| f.to_le_bytes()).collect();
                Value::String(base64_encode(&raw))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let prompt = call.prompt_tokens();
    to_bytes(&json!({
        "object": "list",
        "data": data,
        "model": call.model(),
        "usage": {"prompt_tokens": prompt, "total_tokens": prompt}
    }))
}

/// A deterministic unit vector derived from the text (FNV-1a seeded, then xorshift).
fn unit_vector(text: &str, dims: usize) -> Vec<f32> {
    let mut state = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) | 1;
    let mut v: Vec<f32> = (0..dims)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

fn base64_encode(raw: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(raw.len().div_ceil(3) * 4);
    for chunk in raw.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The body of a `GET /v1/models` answer.
pub(crate) fn models_list(names: &[String]) -> Value {
    let created = now_secs();
    let data: Vec<Value> = names
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": created, "owned_by": "switchyard-mock"}))
        .collect();
    json!({"object": "list", "data": data})
}

/// The body of `GET /v1/models/{id}`.
pub(crate) fn model_object(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": now_secs(), "owned_by": "switchyard-mock"})
}

/// The error body for a bare scripted status, in the endpoint's shape.
pub(crate) fn default_error_body(api: Api, status: u16) -> Value {
    let message = format!("mock upstream scripted status {status}");
    if api.is_anthropic() {
        let kind = match status {
            400 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            529 => "overloaded_error",
            _ => "api_error",
        };
        anthropic_error(kind, &message)
    } else {
        let (kind, code) = match status {
            401 => ("invalid_request_error", Some("invalid_api_key")),
            404 => ("invalid_request_error", Some("model_not_found")),
            429 => ("requests", Some("rate_limit_exceeded")),
            400..=499 => ("invalid_request_error", None),
            _ => ("server_error", None),
        };
        openai_error(&message, kind, None, code)
    }
}

/// The body of a `200` that carries an error instead of an answer (`stream_error_event` on a
/// non-streaming request).
pub(crate) fn error_in_ok_body(api: Api) -> Value {
    if api.is_anthropic() {
        anthropic_error("overloaded_error", "Overloaded")
    } else {
        openai_error(
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
            None,
        )
    }
}

/// The body of a request the real provider would reject as malformed.
pub(crate) fn invalid_request_body(api: Option<Api>, message: &str) -> Value {
    match api {
        Some(api) if api.is_anthropic() => anthropic_error("invalid_request_error", message),
        _ => openai_error(message, "invalid_request_error", None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn pieces_rebuild_the_text() {
        for text in ["mock answer from gpt-4o", "one", "", &"é".repeat(20_000)] {
            assert_eq!(pieces(text).concat(), text);
        }
        assert_eq!(pieces("mock answer from x").len(), 4);
    }

    #[test]
    fn embeddings_are_deterministic_unit_vectors() {
        let a = unit_vector("hello", 16);
        assert_eq!(a, unit_vector("hello", 16));
        assert_ne!(a, unit_vector("world", 16));
        let norm: f32 = a.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-4);
    }
}
