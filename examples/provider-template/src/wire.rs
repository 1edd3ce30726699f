//! EchoLM's wire format, and its translation to and from Switchyard's canonical OpenAI-shaped types.
//!
//! Translating a request is where a provider decides what it can honour. EchoLM takes one prompt
//! string, so the messages are flattened into `role: text` lines. What it cannot express —
//! tools, images, several choices, a response format — fails with
//! [`ErrorKind::UnsupportedParams`] *before* anything is sent, instead of being dropped: a client
//! that asked for a tool call must not get an answer that silently ignored its tools. The router
//! does not retry that kind (it would fail the same way anywhere).

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use switchyard_provider::{
    CallContext, ChatRequest, ChatResponse, Choice, Content, ContentPart, ErrorKind, FinishReason,
    Message, ProviderError, Role, Usage,
};

use crate::NAME;

/// The `max_tokens` sent when the request names none (EchoLM requires the field).
pub const DEFAULT_MAX_TOKENS: u32 = 256;

/// The body of `POST /v2/generate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateRequest {
    /// The model, from the provider's configuration (never the client's model group).
    pub model: String,
    /// The whole conversation as one text.
    pub prompt: String,
    /// The most tokens to generate.
    pub max_tokens: u32,
    /// Sampling temperature, when the client set one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Whether to answer with server-sent events.
    pub stream: bool,
}

impl GenerateRequest {
    /// Translates a chat request for the deployment of `model`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::UnsupportedParams`] for what EchoLM cannot do: tools, several choices, a
    /// response format, non-text content.
    pub fn from_chat(model: &str, req: &ChatRequest, stream: bool) -> Result<Self, ProviderError> {
        let unsupported = |what: &str| {
            ProviderError::new(
                ErrorKind::UnsupportedParams,
                NAME,
                format!(
                    "EchoLM does not support {what}; remove it or route this request to another model"
                ),
            )
        };
        if req.tools.as_ref().is_some_and(|tools| !tools.is_empty()) {
            return Err(unsupported("tools"));
        }
        if req.n.is_some_and(|n| n > 1) {
            return Err(unsupported("n > 1"));
        }
        if req.response_format.is_some() {
            return Err(unsupported("response_format"));
        }
        let mut prompt = String::new();
        for message in &req.messages {
            let text = match &message.content {
                None => continue,
                Some(Content::Text(text)) => text.clone(),
                Some(Content::Parts(parts)) => {
                    let mut text = String::new();
                    for part in parts {
                        match part {
                            ContentPart::Text(part) => text.push_str(&part.text),
                            _ => return Err(unsupported("content parts other than text")),
                        }
                    }
                    text
                }
            };
            if !prompt.is_empty() {
                prompt.push('\n');
            }
            prompt.push_str(message.role.as_str());
            prompt.push_str(": ");
            prompt.push_str(&text);
        }
        Ok(GenerateRequest {
            model: model.to_owned(),
            prompt,
            max_tokens: req
                .max_completion_tokens
                .or(req.max_tokens)
                .unwrap_or(DEFAULT_MAX_TOKENS),
            temperature: req.temperature,
            stream,
        })
    }
}

/// A plain (not streamed) answer of `POST /v2/generate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateResponse {
    /// The generation's id, when EchoLM sends one.
    #[serde(default)]
    pub id: Option<String>,
    /// The generated text.
    pub output: String,
    /// Prompt tokens.
    pub tokens_in: u64,
    /// Generated tokens.
    pub tokens_out: u64,
    /// Why generation stopped: `end`, `max_tokens`, or something newer.
    #[serde(default)]
    pub stop: Option<String>,
}

impl GenerateResponse {
    /// The canonical response, answered by the deployment of `model`.
    pub fn into_chat(self, model: &str, ctx: &CallContext) -> ChatResponse {
        let id = self
            .id
            .unwrap_or_else(|| format!("echolm-{}", ctx.request_id));
        let choice = Choice::new(
            0,
            Message::new(Role::Assistant, self.output),
            Some(finish_reason(self.stop.as_deref())),
        );
        let mut response = ChatResponse::new(id, model, unix_now(), vec![choice]);
        response.usage = Some(Usage::new(self.tokens_in, self.tokens_out));
        response
    }
}

/// EchoLM's stop reason in OpenAI's words. An unknown reason is kept as it is (OpenAI clients
/// accept any string there), rather than guessed.
pub fn finish_reason(stop: Option<&str>) -> FinishReason {
    match stop {
        None | Some("end") => FinishReason::Stop,
        Some("max_tokens") => FinishReason::Length,
        Some(other) => FinishReason::from(other),
    }
}

/// EchoLM's error body: `{"err": {"kind": "overloaded", "msg": "...", "retry_in_ms": 500}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub err: ErrorDetail,
}

/// The inside of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// What went wrong, as a short code (`rate_limited`, `overloaded`, `bad_key`, ...).
    pub kind: String,
    /// A human-readable message.
    #[serde(default)]
    pub msg: String,
    /// How long to wait before retrying, in milliseconds, when EchoLM says.
    #[serde(default)]
    pub retry_in_ms: Option<u64>,
}

/// One event of a streamed answer: a piece of text, or the end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StreamEvent {
    /// More text.
    Delta {
        /// The text.
        delta: String,
    },
    /// The end of a complete answer: EchoLM's terminal event.
    Done {
        /// Always `true`.
        done: bool,
        /// Why generation stopped.
        #[serde(default)]
        stop: Option<String>,
        /// Prompt tokens.
        #[serde(default)]
        tokens_in: u64,
        /// Generated tokens.
        #[serde(default)]
        tokens_out: u64,
    },
}

/// Seconds since the Unix epoch, for the `created` field.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

#[cfg(test)]
mod tests {
    use switchyard_provider::Tool;

    use super::*;

    #[test]
    fn messages_are_flattened_into_one_prompt_for_the_configured_model() {
        let mut req = ChatRequest::new(
            "client-group",
            vec![
                Message::system("Be brief."),
                Message::user(vec![
                    ContentPart::text("Hello"),
                    ContentPart::text(" there"),
                ]),
            ],
        );
        req.max_tokens = Some(16);
        req.temperature = Some(0.2);
        let body = GenerateRequest::from_chat("echo-large", &req, true).expect("translates");
        assert_eq!(
            body,
            GenerateRequest {
                model: "echo-large".to_owned(),
                prompt: "system: Be brief.\nuser: Hello there".to_owned(),
                max_tokens: 16,
                temperature: Some(0.2),
                stream: true,
            }
        );
    }

    #[test]
    fn what_echolm_cannot_do_fails_before_sending() {
        let mut req = ChatRequest::new("g", vec![Message::user("hi")]);
        req.tools = Some(vec![Tool::function(
            "lookup",
            "looks a word up",
            serde_json::json!({"type": "object"}),
        )]);
        let err = GenerateRequest::from_chat("m", &req, false).expect_err("tools");
        assert_eq!(err.kind(), ErrorKind::UnsupportedParams);

        let image = ChatRequest::new(
            "g",
            vec![Message::user(vec![ContentPart::image_url(
                "https://x.example/a.png",
            )])],
        );
        let err = GenerateRequest::from_chat("m", &image, false).expect_err("image");
        assert_eq!(err.kind(), ErrorKind::UnsupportedParams);
    }

    #[test]
    fn answers_become_chat_completions_with_usage() {
        let answer: GenerateResponse = serde_json::from_str(
            r#"{"output": "hi", "tokens_in": 3, "tokens_out": 1, "stop": "max_tokens"}"#,
        )
        .expect("parses");
        let chat = answer.into_chat("echo-large", &CallContext::new("req-7"));
        assert_eq!(chat.id, "echolm-req-7");
        assert_eq!(chat.model, "echo-large");
        assert_eq!(chat.text(), Some("hi"));
        assert_eq!(chat.choices[0].finish_reason, Some(FinishReason::Length));
        assert_eq!(chat.usage.map(|u| u.total_tokens), Some(4));
    }

    #[test]
    fn stream_events_parse() {
        let delta: StreamEvent = serde_json::from_str(r#"{"delta": "he"}"#).expect("delta");
        assert_eq!(
            delta,
            StreamEvent::Delta {
                delta: "he".to_owned()
            }
        );
        let done: StreamEvent = serde_json::from_str(
            r#"{"done": true, "stop": "end", "tokens_in": 2, "tokens_out": 5}"#,
        )
        .expect("done");
        assert!(matches!(done, StreamEvent::Done { tokens_out: 5, .. }));
    }
}
