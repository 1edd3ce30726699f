//! What the mock does with one request: the [`Behaviour`] enum, the [`Step`] that adds a delay to it,
//! and helpers that build realistic provider error responses.
//!
//! These types are shared by the Rust API and the HTTP control API, so their serde form is part of
//! the contract: `{"type": "status", "status": 429, "headers": {"retry-after": "2"}, "delay": "250ms"}`.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One scripted reaction to a request, tagged by `type` in snake_case on the wire.
///
/// Stream-shaped behaviours (`slow_stream`, `cut_stream`, `stream_error_event`) also apply to
/// non-streaming requests, in the closest plain-HTTP form: a body trickled in pieces, a body cut
/// halfway, and a `200` whose body is an error object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Behaviour {
    /// The default answer; `content` replaces the text "mock answer from {deployment}".
    Success {
        /// Answer text; `None` gives the default text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<String>,
    },
    /// Answer with this status, body and headers.
    ///
    /// `body: None` gives a generic error body in the shape of the endpoint called (OpenAI's
    /// `{"error": {...}}` or Anthropic's `{"type": "error", ...}`). A JSON string body is sent as-is
    /// (set a `content-type` header for HTML pages); any other JSON value is sent as JSON.
    Status {
        /// HTTP status code.
        status: u16,
        /// Response body; see above.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<Value>,
        /// Extra response headers, in order. On the wire: an object or a list of `[name, value]`.
        #[serde(default, with = "header_list", skip_serializing_if = "Vec::is_empty")]
        headers: Vec<(String, String)>,
    },
    /// Never answer: the request stays open until the client gives up or the server shuts down.
    Hang,
    /// Wait `first_byte` before sending the response headers, then answer normally.
    Delay {
        /// Time before the status line is written.
        #[serde(with = "duration")]
        first_byte: Duration,
    },
    /// Send headers at once, then wait `chunk_delay` before every content chunk.
    SlowStream {
        /// Gap before each content chunk (each body piece for a plain request).
        #[serde(with = "duration")]
        chunk_delay: Duration,
    },
    /// Send the stream preamble and `after_chunks` content chunks, then drop the connection:
    /// no finish chunk, no `[DONE]`, no terminating HTTP chunk.
    CutStream {
        /// Content chunks sent before the cut.
        after_chunks: usize,
    },
    /// Send the preamble and `after_chunks` content chunks, then an error event inside the `200`
    /// stream (OpenAI: `data: {"error": {...}}`; Anthropic: `event: error` with `overloaded_error`),
    /// then end the stream.
    StreamErrorEvent {
        /// Content chunks sent before the error event.
        after_chunks: usize,
    },
    /// `200` with `content-type: application/json` and a body that is not valid JSON (for a
    /// stream: an event whose data is not valid JSON).
    MalformedJson,
    /// A successful answer whose content is `bytes` bytes long.
    Oversized {
        /// Size of the answer text in bytes.
        bytes: usize,
    },
    /// Accept the request, then close the connection without writing a single byte.
    CloseConnection,
}

/// A [`Behaviour`] with an optional delay before it starts (before any byte is written).
///
/// On the wire the behaviour's fields and `delay` sit side by side:
/// `{"type": "status", "status": 503, "delay": "100ms"}`. Durations are humantime strings
/// (`"250ms"`, `"2s"`) or numbers of seconds (`0.25`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Step {
    /// What to do.
    #[serde(flatten)]
    pub behaviour: Behaviour,
    /// Wait this long first.
    #[serde(
        default,
        with = "duration_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub delay: Option<Duration>,
}

impl Step {
    /// A step with no delay.
    pub fn new(behaviour: Behaviour) -> Self {
        Self {
            behaviour,
            delay: None,
        }
    }

    /// The same step, started after `delay`.
    #[must_use]
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

impl From<Behaviour> for Step {
    fn from(behaviour: Behaviour) -> Self {
        Self::new(behaviour)
    }
}

impl Behaviour {
    /// This behaviour, started after `delay`.
    pub fn delayed(self, delay: Duration) -> Step {
        Step::new(self).delayed(delay)
    }

    /// The default successful answer.
    pub fn success() -> Self {
        Self::Success { content: None }
    }

    /// A successful answer with this text.
    pub fn success_with(content: impl Into<String>) -> Self {
        Self::Success {
            content: Some(content.into()),
        }
    }

    /// A bare status; the body is the endpoint's generic error shape.
    pub fn status(status: u16) -> Self {
        Self::Status {
            status,
            body: None,
            headers: Vec::new(),
        }
    }

    /// A status with a JSON body and headers.
    pub fn status_with(status: u16, body: Value, headers: Vec<(String, String)>) -> Self {
        Self::Status {
            status,
            body: Some(body),
            headers,
        }
    }

    /// OpenAI `429 rate_limit_exceeded` with `retry-after` (whole seconds, rounded up),
    /// `retry-after-ms`, and `x-ratelimit-*` headers whose reset is `retry_after` (as `6m0s`).
    pub fn openai_rate_limit(retry_after: Duration) -> Self {
        let reset = go_duration(retry_after);
        Self::status_with(
            429,
            openai_error(
                &format!(
                    "Rate limit reached for requests in organization org-mock on requests per min \
                     (RPM): Limit 500, Used 500, Requested 1. Please try again in {reset}. Visit \
                     https://platform.openai.com/account/rate-limits to learn more."
                ),
                "requests",
                None,
                Some("rate_limit_exceeded"),
            ),
            vec![
                header("retry-after", ceil_secs(retry_after).to_string()),
                header("retry-after-ms", retry_after.as_millis().to_string()),
                header("x-ratelimit-limit-requests", "500"),
                header("x-ratelimit-remaining-requests", "0"),
                header("x-ratelimit-reset-requests", reset),
                header("x-ratelimit-limit-tokens", "30000"),
                header("x-ratelimit-remaining-tokens", "29000"),
                header("x-ratelimit-reset-tokens", "2s"),
            ],
        )
    }

    /// OpenAI `429 insufficient_quota` (out of credit: retrying does not help).
    pub fn openai_insufficient_quota() -> Self {
        Self::status_with(
            429,
            openai_error(
                "You exceeded your current quota, please check your plan and billing details. \
                 For more information on this error, read the docs: \
                 https://platform.openai.com/docs/guides/error-codes/api-errors.",
                "insufficient_quota",
                None,
                Some("insufficient_quota"),
            ),
            Vec::new(),
        )
    }

    /// OpenAI `400 context_length_exceeded`.
    pub fn openai_context_length_exceeded() -> Self {
        Self::status_with(
            400,
            openai_error(
                "This model's maximum context length is 128000 tokens. However, your messages \
                 resulted in 130412 tokens. Please reduce the length of the messages.",
                "invalid_request_error",
                Some("messages"),
                Some("context_length_exceeded"),
            ),
            Vec::new(),
        )
    }

    /// OpenAI `400 content_policy_violation`.
    pub fn openai_content_policy_violation() -> Self {
        Self::status_with(
            400,
            openai_error(
                "Your request was rejected as a result of our safety system. Your prompt may \
                 contain text that is not allowed by our safety system.",
                "invalid_request_error",
                None,
                Some("content_policy_violation"),
            ),
            Vec::new(),
        )
    }

    /// Azure OpenAI `400 content_filter` with its `innererror.content_filter_result`.
    pub fn azure_content_filter() -> Self {
        Self::status_with(
            400,
            json!({
                "error": {
                    "message": "The response was filtered due to the prompt triggering Azure \
                                OpenAI's content management policy. Please modify your prompt \
                                and retry. To learn more about our content filtering policies \
                                please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
                    "type": null,
                    "param": "prompt",
                    "code": "content_filter",
                    "status": 400,
                    "innererror": {
                        "code": "ResponsibleAIPolicyViolation",
                        "content_filter_result": {
                            "hate": {"filtered": false, "severity": "safe"},
                            "self_harm": {"filtered": false, "severity": "safe"},
                            "sexual": {"filtered": false, "severity": "safe"},
                            "violence": {"filtered": true, "severity": "medium"}
                        }
                    }
                }
            }),
            Vec::new(),
        )
    }

    /// Azure OpenAI `404 DeploymentNotFound`.
    pub fn azure_deployment_not_found() -> Self {
        Self::status_with(
            404,
            json!({
                "error": {
                    "code": "DeploymentNotFound",
                    "message": "The API deployment for this resource does not exist. If you \
                                created the deployment within the last 5 minutes, please wait a \
                                moment and try again."
                }
            }),
            Vec::new(),
        )
    }

    /// OpenAI `401 invalid_api_key`.
    pub fn openai_invalid_api_key() -> Self {
        Self::status_with(
            401,
            openai_error(
                "Incorrect API key provided: sk-mock***abcd. You can find your API key at \
                 https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                None,
                Some("invalid_api_key"),
            ),
            Vec::new(),
        )
    }

    /// OpenAI `404 model_not_found`.
    pub fn openai_model_not_found() -> Self {
        Self::status_with(
            404,
            openai_error(
                "The model `mock-model` does not exist or you do not have access to it.",
                "invalid_request_error",
                None,
                Some("model_not_found"),
            ),
            Vec::new(),
        )
    }

    /// OpenAI's JSON `server_error` body for 500, 502 or 503 (any status is accepted).
    pub fn openai_server_error(status: u16) -> Self {
        let message = match status {
            503 => "The engine is currently overloaded, please try again later.",
            502 => "Bad gateway.",
            _ => "The server had an error while processing your request. Sorry about that!",
        };
        Self::status_with(
            status,
            openai_error(message, "server_error", None, None),
            Vec::new(),
        )
    }

    /// An HTML error page such as a load balancer in front of a provider returns for 500, 502 or
    /// 503, with `content-type: text/html`.
    pub fn html_error_page(status: u16) -> Self {
        let reason = http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error");
        let page = format!(
            "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n\
             <center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n\
             </body>\r\n</html>\r\n"
        );
        Self::Status {
            status,
            body: Some(Value::String(page)),
            headers: vec![header("content-type", "text/html")],
        }
    }

    /// Anthropic `529 overloaded_error`.
    pub fn anthropic_overloaded() -> Self {
        Self::status_with(
            529,
            anthropic_error("overloaded_error", "Overloaded"),
            Vec::new(),
        )
    }

    /// Anthropic `429 rate_limit_error` with `retry-after` (whole seconds, rounded up) and
    /// `anthropic-ratelimit-requests-reset` set to now + `retry_after` in RFC 3339.
    ///
    /// The timestamp is fixed when this is called: re-script it rather than keeping it as an
    /// `always` behaviour for long.
    pub fn anthropic_rate_limit(retry_after: Duration) -> Self {
        let reset = humantime::format_rfc3339_seconds(SystemTime::now() + retry_after);
        Self::status_with(
            429,
            anthropic_error(
                "rate_limit_error",
                "This request would exceed the rate limit for your organization of 50 requests \
                 per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.",
            ),
            vec![
                header("retry-after", ceil_secs(retry_after).to_string()),
                header("anthropic-ratelimit-requests-limit", "50"),
                header("anthropic-ratelimit-requests-remaining", "0"),
                header("anthropic-ratelimit-requests-reset", reset.to_string()),
            ],
        )
    }

    /// Anthropic `400 invalid_request_error` "prompt is too long".
    pub fn anthropic_prompt_too_long() -> Self {
        Self::status_with(
            400,
            anthropic_error(
                "invalid_request_error",
                "prompt is too long: 215312 tokens > 200000 maximum",
            ),
            Vec::new(),
        )
    }

    /// The `type` tag of this behaviour, as written on the wire (`"status"`, `"hang"`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Success { .. } => "success",
            Self::Status { .. } => "status",
            Self::Hang => "hang",
            Self::Delay { .. } => "delay",
            Self::SlowStream { .. } => "slow_stream",
            Self::CutStream { .. } => "cut_stream",
            Self::StreamErrorEvent { .. } => "stream_error_event",
            Self::MalformedJson => "malformed_json",
            Self::Oversized { .. } => "oversized",
            Self::CloseConnection => "close_connection",
        }
    }
}

/// OpenAI's error object `{"error": {"message", "type", "param", "code"}}`.
pub fn openai_error(message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": kind, "param": param, "code": code}})
}

/// Anthropic's error object `{"type": "error", "error": {"type", "message"}}`.
pub fn anthropic_error(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

fn header(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_owned(), value.into())
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Formats a duration the way OpenAI's `x-ratelimit-reset-*` headers do: `6m0s`, `1.5s`, `120ms`.
pub(crate) fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let hours = ms / 3_600_000;
    let minutes = (ms / 60_000) % 60;
    let secs_ms = ms % 60_000;
    let secs = if secs_ms.is_multiple_of(1000) {
        format!("{}s", secs_ms / 1000)
    } else {
        let s = format!("{}.{:03}", secs_ms / 1000, secs_ms % 1000);
        format!("{}s", s.trim_end_matches('0'))
    };
    match (hours, minutes) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

/// Durations as humantime strings, read from strings or numbers of seconds.
mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    #[derive(Deserialize)]
    #[serde(untagged)]
    pub(super) enum Repr {
        Secs(f64),
        Text(String),
    }

    pub(super) fn parse<'de, D: Deserializer<'de>>(repr: Repr) -> Result<Duration, D::Error> {
        match repr {
            Repr::Secs(secs) => Duration::try_from_secs_f64(secs).map_err(|_| {
                D::Error::custom(format!(
                    "invalid duration {secs}: give a non-negative number of seconds"
                ))
            }),
            Repr::Text(text) => humantime::parse_duration(&text).map_err(|e| {
                D::Error::custom(format!(
                    "invalid duration {text:?}: {e}; write e.g. \"250ms\" or \"2s\""
                ))
            }),
        }
    }

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        parse::<D>(Repr::deserialize(d)?)
    }

    pub(super) mod opt {
        use std::time::Duration;

        use serde::{Deserialize, Deserializer, Serializer};

        pub(crate) fn serialize<S: Serializer>(
            d: &Option<Duration>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<Duration>, D::Error> {
            Option::<super::Repr>::deserialize(d)?
                .map(super::parse::<D>)
                .transpose()
        }
    }
}

use duration::opt as duration_opt;

/// Header lists written as a JSON object (in order) and read from an object or a list of pairs.
mod header_list {
    use std::fmt;

    use serde::de::{MapAccess, SeqAccess, Visitor};
    use serde::ser::SerializeMap;
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        headers: &[(String, String)],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(headers.len()))?;
        for (name, value) in headers {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<(String, String)>, D::Error> {
        d.deserialize_any(HeaderVisitor)
    }

    struct HeaderVisitor;

    impl<'de> Visitor<'de> for HeaderVisitor {
        type Value = Vec<(String, String)>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of header values or a list of [name, value] pairs")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(entry) = map.next_entry::<String, String>()? {
                out.push(entry);
            }
            Ok(out)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(entry) = seq.next_element::<(String, String)>()? {
                out.push(entry);
            }
            Ok(out)
        }

        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_look_like_openai_headers() {
        assert_eq!(go_duration(Duration::from_secs(360)), "6m0s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_millis(120)), "120ms");
        assert_eq!(go_duration(Duration::from_secs(3725)), "1h2m5s");
    }

    #[test]
    fn steps_read_the_documented_json() {
        let step: Step = serde_json::from_value(json!({
            "type": "status", "status": 429,
            "headers": {"retry-after": "2"}, "delay": "250ms"
        }))
        .expect("documented form parses");
        assert_eq!(step.delay, Some(Duration::from_millis(250)));
        assert_eq!(
            step.behaviour,
            Behaviour::Status {
                status: 429,
                body: None,
                headers: vec![("retry-after".into(), "2".into())]
            }
        );

        let pairs: Step = serde_json::from_value(json!({
            "type": "slow_stream", "chunk_delay": 0.5, "headers": [["a", "b"]]
        }))
        .expect("numbers of seconds parse");
        assert_eq!(
            pairs.behaviour,
            Behaviour::SlowStream {
                chunk_delay: Duration::from_millis(500)
            }
        );

        let bad = serde_json::from_value::<Step>(json!({"type": "delay", "first_byte": "soon"}));
        assert!(bad.is_err());
    }

    #[test]
    fn steps_round_trip() {
        let steps = [
            Behaviour::openai_rate_limit(Duration::from_secs(2)).delayed(Duration::from_secs(1)),
            Behaviour::Hang.into(),
            Behaviour::CutStream { after_chunks: 2 }.into(),
            Behaviour::html_error_page(502).into(),
            Behaviour::success_with("hi").into(),
        ];
        for step in steps {
            let text = serde_json::to_string(&step).expect("serializes");
            let back: Step = serde_json::from_str(&text).expect("parses back");
            assert_eq!(back, step, "{text}");
        }
    }

    #[test]
    fn rate_limit_helpers_carry_retry_hints() {
        let Behaviour::Status { headers, body, .. } =
            Behaviour::openai_rate_limit(Duration::from_millis(1500))
        else {
            panic!("a status")
        };
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("retry-after"), Some("2"));
        assert_eq!(get("retry-after-ms"), Some("1500"));
        assert_eq!(get("x-ratelimit-reset-requests"), Some("1.5s"));
        assert_eq!(
            body.as_ref().and_then(|b| b["error"]["code"].as_str()),
            Some("rate_limit_exceeded")
        );

        let Behaviour::Status { headers, .. } =
            Behaviour::anthropic_rate_limit(Duration::from_secs(30))
        else {
            panic!("a status")
        };
        let reset = headers
            .iter()
            .find(|(k, _)| k == "anthropic-ratelimit-requests-reset")
            .map(|(_, v)| v.clone())
            .expect("reset header");
        let at = humantime::parse_rfc3339(&reset).expect("RFC 3339");
        assert!(at > SystemTime::now() + Duration::from_secs(20));
    }
}
