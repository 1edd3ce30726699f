//! Reading client requests: JSON bodies with clear errors, and per-request options from
//! the body and headers.

use std::{sync::Arc, time::Duration};

use axum::http::{HeaderMap, HeaderName};
use provider::{ChatRequest, EmbeddingsRequest};
use router::RequestOptions;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::http::error::ApiError;

/// Parses a JSON body, naming the field and the problem when it is wrong.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "the request body is empty: send a JSON object",
            None,
        ));
    }
    // Most bodies are right: parse them without serde_path_to_error, whose path tracking
    // costs on every field. Only a body that fails is parsed again with it, for the message
    // that names the field (the slow path accepts whatever it accepted before). The body is
    // checked as UTF-8 once, as a whole, rather than string by string.
    if let Ok(Ok(value)) = std::str::from_utf8(body).map(serde_json::from_str) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let text = inner.to_string();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request(format!("the request body is not valid JSON: {inner}"), None)
        } else if let Some(field) = missing_field(&text) {
            // `param` names the missing field itself, as OpenAI does, not the object around it.
            let param = if path == "." {
                field.to_owned()
            } else {
                format!("{path}.{field}")
            };
            ApiError::bad_request(format!("`{param}` is missing: {text}"), Some(param))
        } else if path == "." {
            ApiError::bad_request(format!("the request body is wrong: {inner}"), None)
        } else {
            ApiError::bad_request(format!("`{path}` is wrong: {inner}"), Some(path))
        }
    })
}

/// The field named by serde's "missing field `x`" message.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// A chat request and the options the client set for it.
pub struct ChatCall {
    /// The request as it goes upstream (our option fields removed).
    pub req: ChatRequest,
    /// Retries, timeout, fallbacks, metadata.
    pub opts: RequestOptions,
    /// Whether the client asked for a stream.
    pub stream: bool,
}

/// Reads a chat completion request.
pub fn chat_call(
    body: &[u8],
    headers: &HeaderMap,
    request_id: Arc<str>,
) -> Result<ChatCall, ApiError> {
    let mut req: ChatRequest = parse_json(body)?;
    if req.model.trim().is_empty() {
        return Err(ApiError::bad_request(
            "`model` is missing: name a model group, e.g. \"gpt-4o\"",
            Some("model".into()),
        ));
    }
    if req.messages.is_empty() {
        return Err(ApiError::bad_request(
            "`messages` is empty: send at least one message",
            Some("messages".into()),
        ));
    }
    let opts = options(&mut req.extra, headers, request_id)?;
    let stream = req.stream.unwrap_or(false);
    Ok(ChatCall { req, opts, stream })
}

/// Reads an embeddings request.
pub fn embeddings_call(
    body: &[u8],
    headers: &HeaderMap,
    request_id: Arc<str>,
) -> Result<(EmbeddingsRequest, RequestOptions), ApiError> {
    let mut req: EmbeddingsRequest = parse_json(body)?;
    if req.model.trim().is_empty() {
        return Err(ApiError::bad_request(
            "`model` is missing",
            Some("model".into()),
        ));
    }
    let opts = options(&mut req.extra, headers, request_id)?;
    Ok((req, opts))
}

/// Takes our per-request fields out of the body (so they never go upstream) and reads the
/// `x-switchyard-*` headers; the body wins over headers.
fn options(
    extra: &mut Map<String, Value>,
    headers: &HeaderMap,
    request_id: Arc<str>,
) -> Result<RequestOptions, ApiError> {
    let mut opts = RequestOptions::new().request_id(request_id);
    let wrong = |field: &str, want: &str| {
        ApiError::bad_request(format!("`{field}` must be {want}"), Some(field.to_owned()))
    };

    if let Some(v) = header(headers, &NUM_RETRIES) {
        opts.num_retries = Some(
            v.parse()
                .map_err(|_| wrong("x-switchyard-num-retries", "a whole number >= 0"))?,
        );
    }
    if let Some(v) = header(headers, &TIMEOUT) {
        opts.timeout = Some(parse_duration(v).ok_or_else(|| {
            wrong(
                "x-switchyard-timeout",
                "seconds (e.g. 30 or 2.5) or a duration like \"500ms\"",
            )
        })?);
    }
    if let Some(v) = extra.remove("num_retries") {
        let n = v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| wrong("num_retries", "a whole number >= 0"))?;
        opts.num_retries = Some(n);
    }
    // LiteLLM accepts both names for the total timeout.
    for field in ["timeout", "request_timeout"] {
        if let Some(v) = extra.remove(field) {
            let d = match &v {
                Value::Number(n) => n.as_f64().and_then(|s| Duration::try_from_secs_f64(s).ok()),
                Value::String(s) => parse_duration(s),
                _ => None,
            }
            .filter(|d| !d.is_zero())
            .ok_or_else(|| wrong(field, "a positive number of seconds"))?;
            opts.timeout = Some(d);
        }
    }
    if let Some(v) = extra.remove("fallbacks") {
        let list = v
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|g| g.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| wrong("fallbacks", "a list of model group names"))?;
        opts.fallbacks = Some(list);
    }
    if let Some(v) = extra.remove("disable_fallbacks") {
        opts.disable_fallbacks = v
            .as_bool()
            .ok_or_else(|| wrong("disable_fallbacks", "true or false"))?;
    }
    if let Some(v) = extra.remove("metadata") {
        if !v.is_object() && !v.is_null() {
            return Err(wrong("metadata", "an object"));
        }
        opts.metadata = Some(Arc::new(v));
    }
    Ok(opts)
}

/// The request headers that set options. Built once: a lookup by `&str` parses the name on
/// every call.
static NUM_RETRIES: HeaderName = HeaderName::from_static("x-switchyard-num-retries");
static TIMEOUT: HeaderName = HeaderName::from_static("x-switchyard-timeout");

fn header<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn parse_duration(v: &str) -> Option<Duration> {
    match v.parse::<f64>() {
        Ok(secs) => Duration::try_from_secs_f64(secs)
            .ok()
            .filter(|d| !d.is_zero()),
        Err(_) => humantime::parse_duration(v).ok().filter(|d| !d.is_zero()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_come_out_of_the_body() {
        let body = br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],
            "num_retries":4,"timeout":2.5,"fallbacks":["b"],"disable_fallbacks":false,
            "metadata":{"team":"x"},"temperature":0.1,"logit_bias":{"1":2}}"#;
        let call = chat_call(body, &HeaderMap::new(), "r1".into()).expect("valid");
        assert_eq!(call.opts.num_retries, Some(4));
        assert_eq!(call.opts.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(call.opts.fallbacks.as_deref(), Some(&["b".to_owned()][..]));
        assert!(!call.req.extra.contains_key("num_retries"));
        assert!(
            call.req.extra.contains_key("logit_bias"),
            "unknown fields pass through"
        );
    }

    #[test]
    fn errors_name_the_field() {
        let e = chat_call(
            br#"{"model":"m","messages":[{"role":"user","content":5}]}"#,
            &HeaderMap::new(),
            "r".into(),
        );
        let e = e.err().expect("content 5 is wrong");
        let text = format!("{e:?}");
        assert!(text.contains("messages[0].content"), "{text}");
        assert!(
            text.contains("a string or an array of content parts"),
            "{text}"
        );
        let e = chat_call(
            br#"{"model":"m","messages":[{"role":"user","content":"x"}],"num_retries":"many"}"#,
            &HeaderMap::new(),
            "r".into(),
        )
        .err()
        .expect("wrong type");
        assert_eq!(e.status(), 400);
        assert!(format!("{e:?}").contains("num_retries"));
        let e = chat_call(b"{not json", &HeaderMap::new(), "r".into())
            .err()
            .expect("bad json");
        assert!(format!("{e:?}").contains("not valid JSON"));
        let e = chat_call(
            br#"{"messages":[{"role":"user","content":"x"}]}"#,
            &HeaderMap::new(),
            "r".into(),
        )
        .err()
        .expect("no model");
        assert!(
            format!("{e:?}").contains(r#"param: Some("model")"#),
            "{e:?}"
        );
    }

    #[test]
    fn headers_set_options() {
        let mut h = HeaderMap::new();
        h.insert("x-switchyard-num-retries", "0".parse().expect("header"));
        h.insert("x-switchyard-timeout", "500ms".parse().expect("header"));
        let call = chat_call(
            br#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#,
            &h,
            "r".into(),
        )
        .expect("valid");
        assert_eq!(call.opts.num_retries, Some(0));
        assert_eq!(call.opts.timeout, Some(Duration::from_millis(500)));
    }
}
