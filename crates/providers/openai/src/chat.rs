//! Request bodies and answer parsing for chat completions and embeddings, including the
//! answers that are failures although they came with a `200`.

use provider::{
    ChatRequest, ChatResponse, Content, EmbeddingsRequest, EmbeddingsResponse, ErrorKind,
    FinishReason, ProviderError,
};
use serde::Serialize;
use serde_json::Value;

/// Which endpoint flavour a chat body is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `stream` and `stream_options` removed: OpenAI rejects `stream_options` without
    /// `stream: true`.
    Plain,
    /// `stream: true`; `stream_options` kept as the client sent it.
    Stream,
}

/// The JSON body of a chat completion request: the client's request with our model in
/// place of the model group name, and `stream` set by the method called.
pub(crate) fn request_body(
    provider: &'static str,
    model: &str,
    req: &ChatRequest,
    mode: Mode,
) -> Result<Vec<u8>, ProviderError> {
    to_vec(provider, &req.upstream_body(model, mode == Mode::Stream))
}

/// The JSON body of an embeddings request, with our model.
pub(crate) fn embeddings_body(
    provider: &'static str,
    model: &str,
    req: &EmbeddingsRequest,
) -> Result<Vec<u8>, ProviderError> {
    to_vec(provider, &req.upstream_body(model))
}

/// Parses a `200` chat completion answer.
///
/// - A body that is not JSON, or not a chat completion: [`ErrorKind::InternalServer`] (the
///   upstream is broken; the router may retry it and counts it against the deployment).
/// - A body that is an error object (`{"error": ...}`, as some compatible servers send with
///   a `200`): classified from the body like an in-stream error event.
/// - Every choice stopped by the content filter with nothing in it:
///   [`ErrorKind::ContentPolicyViolation`], so that `content_policy_fallbacks` apply. A choice
///   that carries partial content is returned as it is, `finish_reason: content_filter` and all.
///
/// With the response comes whether the body is a chat completion as it stands (it was read in
/// one pass, as a whole), so that it may be forwarded in the response's place.
pub(crate) fn parse_response(
    provider: &'static str,
    bytes: &[u8],
) -> Result<(ChatResponse, bool), ProviderError> {
    // The common case in one pass. A `{"error": ...}` body parses too (every field of a
    // chat completion has a default), so look for it; anything that does not parse takes
    // the slow path below, which says precisely what is wrong. The body is checked as UTF-8
    // once, as a whole: read from bytes, serde_json checks every string on its own, forty
    // calls for an ordinary answer. A body that is not UTF-8 fails either way.
    if let Ok(text) = std::str::from_utf8(bytes) {
        match serde_json::from_str::<ChatResponse>(text) {
            Ok(response) if !is_error_object(response.extra.get("error")) => {
                return checked(provider, response).map(|response| (response, true));
            }
            _ => {}
        }
    }
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| not_json(provider, bytes, "chat completion", e))?;
    if let Some(error) = error_in_ok(provider, &value, bytes) {
        return Err(error);
    }
    let response: ChatResponse = serde_json::from_value(value).map_err(|e| {
        ProviderError::new(
            ErrorKind::InternalServer,
            provider,
            format!("the upstream answered 200 with JSON that is not a chat completion ({e})"),
        )
        .with_source(e)
    })?;
    checked(provider, response).map(|response| (response, false))
}

/// The checks every parsed chat completion passes: choices, and the content filter.
fn checked(provider: &'static str, response: ChatResponse) -> Result<ChatResponse, ProviderError> {
    if response.choices.is_empty() {
        return Err(ProviderError::new(
            ErrorKind::InternalServer,
            provider,
            "the upstream answered 200 with a chat completion that has no choices",
        ));
    }
    if let Some(error) = content_filtered(provider, &response) {
        return Err(error);
    }
    Ok(response)
}

/// Parses a `200` embeddings answer (same rules for garbage and error objects).
pub(crate) fn parse_embeddings(
    provider: &'static str,
    bytes: &[u8],
) -> Result<EmbeddingsResponse, ProviderError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| not_json(provider, bytes, "embeddings", e))?;
    if let Some(error) = error_in_ok(provider, &value, bytes) {
        return Err(error);
    }
    serde_json::from_value(value).map_err(|e| {
        ProviderError::new(
            ErrorKind::InternalServer,
            provider,
            format!("the upstream answered 200 with JSON that is not an embeddings list ({e})"),
        )
        .with_source(e)
    })
}

/// The error for a `200` body that is not JSON at all.
fn not_json(
    provider: &'static str,
    bytes: &[u8],
    what: &str,
    error: serde_json::Error,
) -> ProviderError {
    let head = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map(|i| bytes[i]);
    let shape = match head {
        None => "an empty body".to_owned(),
        Some(b'<') => "an HTML page".to_owned(),
        Some(_) if error.is_eof() => format!("truncated JSON ({error})"),
        Some(_) => format!("invalid JSON ({error})"),
    };
    ProviderError::new(
        ErrorKind::InternalServer,
        provider,
        format!("the upstream answered 200 with {shape} instead of a {what}"),
    )
    .with_source(error)
}

/// An error object sent with a `200`, classified from its type and code.
fn error_in_ok(provider: &'static str, value: &Value, bytes: &[u8]) -> Option<ProviderError> {
    if !is_error_object(value.get("error")) {
        return None;
    }
    Some(ProviderError::from_stream_error(
        provider,
        &String::from_utf8_lossy(bytes),
    ))
}

/// Whether an `error` field holds an error (an object or a message), not `null` or a flag.
fn is_error_object(error: Option<&Value>) -> bool {
    error.is_some_and(|e| e.is_object() || e.is_string())
}

/// The content-policy error when the filter withheld every choice entirely.
fn content_filtered(provider: &'static str, response: &ChatResponse) -> Option<ProviderError> {
    let all_filtered_and_empty = response.choices.iter().all(|choice| {
        let empty = match &choice.message.content {
            None => true,
            Some(Content::Text(text)) => text.is_empty(),
            Some(Content::Parts(parts)) => parts.is_empty(),
        };
        choice.finish_reason == Some(FinishReason::ContentFilter)
            && empty
            && choice.message.tool_calls.as_ref().is_none_or(Vec::is_empty)
    });
    if !all_filtered_and_empty {
        return None;
    }
    let categories = filtered_categories(response);
    let message = if categories.is_empty() {
        "the upstream's content filter withheld the answer (finish_reason content_filter, no content)".to_owned()
    } else {
        format!(
            "the upstream's content filter withheld the answer (finish_reason content_filter, no content; filtered: {})",
            categories.join(", ")
        )
    };
    Some(ProviderError::new(
        ErrorKind::ContentPolicyViolation,
        provider,
        message,
    ))
}

/// Azure's `content_filter_results` categories marked `filtered: true`.
fn filtered_categories(response: &ChatResponse) -> Vec<String> {
    let mut out: Vec<String> = response
        .choices
        .iter()
        .filter_map(|c| {
            c.extra
                .get("content_filter_results")
                .and_then(Value::as_object)
        })
        .flat_map(|results| {
            results
                .iter()
                .filter(|(_, r)| r.get("filtered").and_then(Value::as_bool) == Some(true))
                .map(|(name, _)| name.clone())
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn to_vec<T: Serialize>(provider: &'static str, value: &T) -> Result<Vec<u8>, ProviderError> {
    serde_json::to_vec(value).map_err(|e| {
        ProviderError::new(
            ErrorKind::BadRequest,
            provider,
            format!("the request cannot be written as JSON: {e}"),
        )
        .with_source(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use provider::{Message, StreamOptions};

    fn body(mode: Mode) -> Value {
        let mut req = ChatRequest::new("my-group", vec![Message::user("hi")]);
        req.stream = Some(false);
        req.stream_options = Some(StreamOptions::include_usage(true));
        req.extra
            .insert("logit_bias".to_owned(), serde_json::json!({"50256": -100}));
        let bytes = request_body("openai", "gpt-4o", &req, mode).unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }

    #[test]
    fn bodies_carry_our_model_and_the_method_decides_streaming() {
        let plain = body(Mode::Plain);
        assert_eq!(plain["model"], "gpt-4o");
        assert!(plain.get("stream").is_none() && plain.get("stream_options").is_none());
        assert_eq!(
            plain["logit_bias"]["50256"], -100,
            "unknown fields pass through"
        );
        let streamed = body(Mode::Stream);
        assert_eq!(streamed["stream"], true);
        assert_eq!(streamed["stream_options"]["include_usage"], true);
    }

    #[test]
    fn malformed_bodies_are_clear_errors() {
        let cases: [(&[u8], &str); 4] = [
            (b"", "an empty body"),
            (b"<html><body>oops</body></html>", "an HTML page"),
            (br#"{"id":"x","choices":[{"mess"#, "truncated JSON"),
            (b"{nope}", "invalid JSON"),
        ];
        for (bytes, says) in cases {
            let e = parse_response("openai", bytes).err();
            assert_eq!(
                e.as_ref().map(ProviderError::kind),
                Some(ErrorKind::InternalServer)
            );
            let message = e.map(|e| e.message().to_owned()).unwrap_or_default();
            assert!(message.contains(says), "{message}");
        }
        let e = parse_response(
            "openai",
            br#"{"id":"x","object":"chat.completion","choices":[]}"#,
        )
        .err();
        assert_eq!(e.map(|e| e.kind()), Some(ErrorKind::InternalServer));
        let e = parse_response("openai", br#"{"choices": 5}"#).err();
        assert_eq!(e.map(|e| e.kind()), Some(ErrorKind::InternalServer));
    }

    #[test]
    fn only_a_body_read_as_it_stands_may_be_forwarded() {
        let body = br#"{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}"#;
        let (response, verbatim) = parse_response("openai", body).expect("a chat completion");
        assert_eq!((response.text(), verbatim), (Some("hi"), true));
        // A repeated key is read the slow way (the last one wins): what the client gets is
        // then the response written out again, not bytes with two `model`s.
        let twice = br#"{"id":"x","model":"a","model":"b","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}"#;
        let (response, verbatim) = parse_response("openai", twice).expect("a chat completion");
        assert_eq!((response.model.as_str(), verbatim), ("b", false));
    }

    #[test]
    fn content_filter_without_content_is_a_policy_violation() {
        let filtered = br#"{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null},"finish_reason":"content_filter","content_filter_results":{"hate":{"filtered":false},"violence":{"filtered":true,"severity":"high"}}}]}"#;
        let e = parse_response("azure", filtered).err();
        assert_eq!(
            e.as_ref().map(ProviderError::kind),
            Some(ErrorKind::ContentPolicyViolation)
        );
        assert!(
            e.map(|e| e.message().contains("filtered: violence"))
                .unwrap_or(false)
        );

        let partial = br#"{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Once upon"},"finish_reason":"content_filter"}]}"#;
        let ok = parse_response("azure", partial)
            .ok()
            .map(|(response, _)| response);
        assert_eq!(
            ok.and_then(|r| r.text().map(str::to_owned)).as_deref(),
            Some("Once upon")
        );
    }
}
