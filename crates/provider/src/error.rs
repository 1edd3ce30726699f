//! `ProviderError`: one classified failure of one provider attempt.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use retry_core::classify::{self, ErrorFields};
use retry_core::{ErrorKind, RetryHint, hint};
use serde_json::Value;

/// The longest message we keep from an upstream, in characters.
const MAX_MESSAGE_CHARS: usize = 200;

/// One failed provider attempt, classified where it happened.
///
/// Opaque on purpose (like `reqwest::Error`): fields are private so that more can be
/// added without breaking provider crates, and the whole error is one pointer wide so
/// `Result<T, ProviderError>` stays small. Cloning is cheap (the source is shared), so the
/// router can keep the error in its attempt report and still return it.
///
/// The message is meant for clients: short, sanitised, never containing a key.
#[derive(Clone)]
pub struct ProviderError {
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    provider: &'static str,
    message: String,
    status: Option<u16>,
    hint: RetryHint,
    source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
}

impl ProviderError {
    /// A failure of `kind` reported by `provider` (the provider kind, as in
    /// [`Provider::name`](crate::Provider::name)) with a short message safe to show a client.
    pub fn new(kind: ErrorKind, provider: &'static str, message: impl Into<String>) -> Self {
        ProviderError {
            inner: Box::new(Inner {
                kind,
                provider,
                message: message.into(),
                status: None,
                hint: RetryHint::default(),
                source: None,
            }),
        }
    }

    /// Records the upstream's HTTP status.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        self.inner.status = Some(status);
        self
    }

    /// Records what the upstream said about retrying (`retry-after` and friends).
    #[must_use]
    pub fn with_hint(mut self, hint: RetryHint) -> Self {
        self.inner.hint = hint;
        self
    }

    /// Records the underlying error (a transport error, a JSON error), kept for
    /// [`std::error::Error::source`] and logs. Its text is not part of [`ProviderError::message`].
    #[must_use]
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Arc::new(source));
        self
    }

    /// Builds the error for an HTTP error answer: classifies it from the status and the
    /// error body, and reads retry hints from the headers and the body.
    ///
    /// Understands OpenAI's `{"error": {"message", "type", "code"}}`, Anthropic's
    /// `{"type": "error", "error": {"type", "message"}}`, Gemini's `error.status` and
    /// `error.details[].retryDelay`, bare `{"error": "..."}`, `{"message": ...}` and
    /// `{"detail": ...}` bodies; anything else (an HTML error page from a load balancer)
    /// becomes the status line plus a short excerpt. The message is sanitised: control
    /// characters and markup removed, anything that looks like a key redacted, at most
    /// about 200 characters.
    ///
    /// Headers are `(name, value)` pairs in any case; use [`header_pairs`] for an
    /// [`http::HeaderMap`]. `now` dates `retry-after` and reset timestamps.
    pub fn from_http<'h, I>(
        provider: &'static str,
        status: u16,
        headers: I,
        body: &[u8],
        now: SystemTime,
    ) -> Self
    where
        I: IntoIterator<Item = (&'h str, &'h str)>,
    {
        let parsed = ErrorBody::parse(body);
        let kind = classify::classify(status, parsed.fields());
        let header_hint = hint::parse_headers(headers, now);
        let body_hint = RetryHint {
            after: parsed.retry_delay,
            should_retry: None,
        };
        let message = match parsed
            .message
            .as_deref()
            .map(sanitize)
            .filter(|m| !m.is_empty())
        {
            Some(message) => message,
            None => status_line_message(status, body),
        };
        ProviderError::new(kind, provider, message)
            .with_status(status)
            .with_hint(header_hint.merge(body_hint))
    }

    /// Builds the error for an error event inside a `200` stream (OpenAI-style
    /// `data: {"error": {...}}`, Anthropic's `event: error`), from the event's data.
    ///
    /// Classified from the body's type and code; a numeric `code` between 400 and 599
    /// (as vLLM sends) counts as the status. Unparseable data gives
    /// [`ErrorKind::InternalServer`].
    pub fn from_stream_error(provider: &'static str, data: &str) -> Self {
        let parsed = ErrorBody::parse(data.as_bytes());
        let status = parsed.numeric_code;
        // 200: the stream's own status, which classification treats as "no generic kind",
        // so the body's type or code decides and unknown errors are server errors.
        let kind = classify::classify(status.unwrap_or(200), parsed.fields());
        let message = parsed
            .message
            .as_deref()
            .map(sanitize)
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| format!("error event in stream: {}", excerpt(data.as_bytes())));
        let mut error = ProviderError::new(kind, provider, message).with_hint(RetryHint {
            after: parsed.retry_delay,
            should_retry: None,
        });
        if let Some(status) = status {
            error = error.with_status(status);
        }
        error
    }

    /// The classified kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The upstream's HTTP status, if the failure came with one.
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }

    /// Everything the upstream said about retrying.
    pub fn retry_hint(&self) -> RetryHint {
        self.inner.hint
    }

    /// How long the upstream asked us to wait before retrying, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.hint.after
    }

    /// The provider kind that failed (`"openai"`, `"anthropic"`, ...).
    pub fn provider(&self) -> &'static str {
        self.inner.provider
    }

    /// The short, client-safe message.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// Whether the attempt timed out.
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == ErrorKind::Timeout
    }

    /// Whether the upstream rate-limited the call (not a quota: see [`ErrorKind::QuotaExceeded`]).
    pub fn is_rate_limit(&self) -> bool {
        self.inner.kind == ErrorKind::RateLimit
    }

    /// Whether the connection failed (refused, reset, DNS, TLS, or a cut body or stream).
    pub fn is_connection(&self) -> bool {
        self.inner.kind == ErrorKind::Connection
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        write!(f, "{}: {}", inner.provider, inner.kind)?;
        if let Some(status) = inner.status {
            write!(f, " (HTTP {status})")?;
        }
        write!(f, ": {}", inner.message)
    }
}

impl fmt::Debug for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("ProviderError")
            .field("kind", &inner.kind)
            .field("provider", &inner.provider)
            .field("status", &inner.status)
            .field("hint", &inner.hint)
            .field("message", &inner.message)
            .field("source", &inner.source)
            .finish()
    }
}

impl StdError for ProviderError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

/// Header `(name, value)` pairs of an [`http::HeaderMap`], for [`ProviderError::from_http`]
/// and [`retry_core::hint::parse_headers`]. Values that are not visible ASCII are skipped.
pub fn header_pairs(headers: &http::HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .iter()
        .filter_map(|(name, value)| value.to_str().ok().map(|value| (name.as_str(), value)))
}

/// The fields we read from an error body, whatever its shape.
#[derive(Debug, Default)]
struct ErrorBody {
    message: Option<String>,
    error_type: Option<String>,
    code: Option<String>,
    numeric_code: Option<u16>,
    retry_delay: Option<Duration>,
}

impl ErrorBody {
    fn parse(body: &[u8]) -> ErrorBody {
        let Ok(value) = serde_json::from_slice::<Value>(body) else {
            return ErrorBody::default();
        };
        let mut out = ErrorBody::default();
        // OpenAI and Anthropic nest the details under "error"; some servers put a string
        // there, others put everything at the top level.
        let error = match value.get("error") {
            Some(Value::String(message)) => {
                out.message = Some(message.clone());
                return out;
            }
            Some(error @ Value::Object(_)) => error,
            _ => &value,
        };
        out.message = ["message", "detail"]
            .iter()
            .find_map(|k| text_of(error.get(*k)));
        out.error_type = text_of(error.get("type"));
        match error.get("code") {
            Some(Value::Number(n)) => {
                out.numeric_code = n
                    .as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .filter(|n| (400..600).contains(n));
            }
            other => out.code = text_of(other),
        }
        // Gemini: {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": [...]}}.
        if out.code.is_none() {
            out.code = text_of(error.get("status"));
        }
        out.retry_delay = error
            .get("details")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|d| d.get("retryDelay").and_then(Value::as_str))
            .filter_map(hint::parse_google_duration)
            .max();
        out
    }

    fn fields(&self) -> ErrorFields<'_> {
        ErrorFields {
            error_type: self.error_type.as_deref(),
            code: self.code.as_deref(),
            message: self.message.as_deref(),
        }
    }
}

/// A JSON value as text, when it is a non-empty string (or a detail list's first message).
fn text_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        // FastAPI validation errors: {"detail": [{"msg": "..."}]}.
        Value::Array(items) => items.iter().find_map(|i| text_of(i.get("msg"))),
        _ => None,
    }
}

/// "HTTP 502 Bad Gateway: <excerpt>" for bodies with no message we understand.
fn status_line_message(status: u16, body: &[u8]) -> String {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("error");
    let excerpt = excerpt(body);
    if excerpt.is_empty() {
        format!("HTTP {status} {reason}")
    } else {
        sanitize(&format!("HTTP {status} {reason}: {excerpt}"))
    }
}

/// The readable text of a body: markup, scripts and styles dropped, whitespace collapsed.
fn excerpt(body: &[u8]) -> String {
    // Only the start matters, and an error page can be large.
    let head = &body[..body.len().min(8 * 1024)];
    let text = String::from_utf8_lossy(head);
    sanitize(&strip_markup(&text))
}

fn strip_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        out.push(' ');
        let tag = &rest[open..];
        // Skip whole <script> and <style> elements: their content is not prose.
        let lower: String = tag.chars().take(8).collect::<String>().to_ascii_lowercase();
        let skip_to = ["script", "style"].iter().find_map(|name| {
            lower.starts_with(&format!("<{name}")).then(|| {
                let close = format!("</{name}");
                tag.to_ascii_lowercase()
                    .find(&close)
                    .and_then(|i| tag[i..].find('>').map(|j| i + j + 1))
                    .unwrap_or(tag.len())
            })
        });
        let end = skip_to.unwrap_or_else(|| tag.find('>').map_or(tag.len(), |i| i + 1));
        rest = &tag[end..];
    }
    out.push_str(rest);
    out
}

/// Makes upstream text safe to show: control characters and runs of whitespace become one
/// space, anything that looks like a credential is redacted, and the result is cut to
/// about 200 characters.
fn sanitize(text: &str) -> String {
    const REDACTED: &str = "[redacted]";
    let mut out = String::with_capacity(text.len().min(4 * MAX_MESSAGE_CHARS));
    // Characters in `out`, counted as they are added rather than recounted for every word.
    let mut chars = 0;
    let mut redact_next = false;
    for word in text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
            chars += 1;
        }
        if redact_next || looks_secret(word) {
            out.push_str(REDACTED);
            chars += REDACTED.len();
        } else {
            out.push_str(word);
            chars += word.chars().count();
        }
        redact_next = word.eq_ignore_ascii_case("bearer");
        if chars > MAX_MESSAGE_CHARS {
            break;
        }
    }
    if chars > MAX_MESSAGE_CHARS {
        let cut: String = out.chars().take(MAX_MESSAGE_CHARS).collect();
        out = format!("{}…", cut.trim_end());
    }
    out
}

/// Whether a word looks like an API key or carries one (`?key=...`).
fn looks_secret(word: &str) -> bool {
    let w = word.trim_matches(|c: char| !c.is_alphanumeric() && c != '-' && c != '_');
    const PREFIXES: [&str; 5] = ["sk-", "sk_", "AIza", "xai-", "gsk_"];
    if PREFIXES.iter().any(|p| w.starts_with(p)) && w.len() > 8 {
        return true;
    }
    // Every marker ends in `=`, so a word without one carries none (and most words have none).
    if word.contains('=')
        && ["key=", "token=", "secret=", "signature=", "sig="]
            .iter()
            .any(|p| classify::contains_ignore_case(word, p))
    {
        return true;
    }
    // A long unbroken run of key-like characters: a token, not a word.
    w.len() >= 32
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    #[test]
    fn error_is_small_send_sync_and_static() {
        fn assert_traits<T: Send + Sync + 'static + StdError>() {}
        assert_traits::<ProviderError>();
        assert_eq!(
            std::mem::size_of::<ProviderError>(),
            std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn builders_and_getters() {
        let source = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let e = ProviderError::new(ErrorKind::RateLimit, "openai", "slow down")
            .with_status(429)
            .with_hint(RetryHint::after(Duration::from_secs(3)))
            .with_source(source);
        assert_eq!(e.kind(), ErrorKind::RateLimit);
        assert_eq!(e.status(), Some(429));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(e.provider(), "openai");
        assert_eq!(e.message(), "slow down");
        assert!(e.is_rate_limit() && !e.is_timeout() && !e.is_connection());
        assert_eq!(e.to_string(), "openai: rate_limit (HTTP 429): slow down");
        assert_eq!(
            e.source().map(ToString::to_string).as_deref(),
            Some("reset by peer")
        );
        // Clones share the source and keep every field.
        assert_eq!(e.clone().to_string(), e.to_string());
    }

    #[test]
    fn display_without_status() {
        let e = ProviderError::new(ErrorKind::Timeout, "mock", "no answer within 30s");
        assert_eq!(e.to_string(), "mock: timeout: no answer within 30s");
    }

    #[test]
    fn from_http_openai_context_window() {
        let body = br#"{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
        let e = ProviderError::from_http("openai", 400, [], body, now());
        assert_eq!(e.kind(), ErrorKind::ContextWindowExceeded);
        assert_eq!(e.status(), Some(400));
        assert_eq!(
            e.message(),
            "This model's maximum context length is 8192 tokens."
        );
    }

    #[test]
    fn from_http_reads_retry_after_and_quota() {
        let body = br#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#;
        let e = ProviderError::from_http("openai", 429, [("Retry-After", "7")], body, now());
        assert_eq!(e.kind(), ErrorKind::RateLimit);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));

        let body = br#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#;
        let e = ProviderError::from_http("openai", 429, [], body, now());
        assert_eq!(e.kind(), ErrorKind::QuotaExceeded);
    }

    #[test]
    fn from_http_anthropic_shape() {
        let body =
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let e =
            ProviderError::from_http("anthropic", 529, [("x-should-retry", "true")], body, now());
        assert_eq!(e.kind(), ErrorKind::ServiceUnavailable);
        assert_eq!(e.message(), "Overloaded");
        assert_eq!(e.retry_hint().should_retry, Some(true));
    }

    #[test]
    fn from_http_gemini_retry_delay_in_body() {
        let body = br#"{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"22s"}]}}"#;
        let e = ProviderError::from_http("gemini", 429, [("retry-after", "5")], body, now());
        assert_eq!(e.kind(), ErrorKind::RateLimit);
        // Header and body both hint: the longer wait wins.
        assert_eq!(e.retry_after(), Some(Duration::from_secs(22)));
    }

    #[test]
    fn from_http_html_page_becomes_status_line_and_excerpt() {
        let body = b"<html><head><title>502 Bad Gateway</title><style>body{color:red}</style></head>\r\n<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>";
        let e = ProviderError::from_http("openai", 502, [], body, now());
        assert_eq!(e.kind(), ErrorKind::BadGateway);
        assert_eq!(
            e.message(),
            "HTTP 502 Bad Gateway: 502 Bad Gateway 502 Bad Gateway nginx"
        );
        assert!(!e.message().contains('<') && !e.message().contains("color"));
    }

    #[test]
    fn from_http_empty_body() {
        let e = ProviderError::from_http("openai", 503, [], b"", now());
        assert_eq!(e.kind(), ErrorKind::ServiceUnavailable);
        assert_eq!(e.message(), "HTTP 503 Service Unavailable");
    }

    #[test]
    fn from_http_other_shapes() {
        let e = ProviderError::from_http("vllm", 404, [], br#"{"error":"model not found"}"#, now());
        assert_eq!(
            (e.kind(), e.message()),
            (ErrorKind::NotFound, "model not found")
        );
        let e = ProviderError::from_http(
            "x",
            422,
            [],
            br#"{"detail":[{"msg":"field required"}]}"#,
            now(),
        );
        assert_eq!(
            (e.kind(), e.message()),
            (ErrorKind::BadRequest, "field required")
        );
        let e = ProviderError::from_http(
            "azure",
            429,
            [],
            br#"{"statusCode":429,"message":"Rate limit is exceeded."}"#,
            now(),
        );
        assert_eq!(
            (e.kind(), e.message()),
            (ErrorKind::RateLimit, "Rate limit is exceeded.")
        );
    }

    #[test]
    fn messages_never_carry_keys_and_stay_short() {
        let body = br#"{"error":{"message":"Incorrect API key provided: sk-proj-abcdefgh1234. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        let e = ProviderError::from_http("openai", 401, [], body, now());
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert!(!e.message().contains("sk-proj"), "{}", e.message());
        assert!(e.message().contains("[redacted]"));

        let page = format!(
            "<p>{}</p> https://host/v1?key=AIzaSecretSecret Bearer abc.def",
            "word ".repeat(400)
        );
        let e = ProviderError::from_http("gemini", 500, [], page.as_bytes(), now());
        assert!(
            e.message().chars().count() <= MAX_MESSAGE_CHARS + 1,
            "{}",
            e.message()
        );
        let e = ProviderError::from_http(
            "gemini",
            500,
            [],
            b"see https://host/v1?key=AIzaSecretSecret Bearer abc.def",
            now(),
        );
        assert!(
            !e.message().contains("AIza") && !e.message().contains("abc.def"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn stream_error_events() {
        let e = ProviderError::from_stream_error(
            "anthropic",
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        assert_eq!(
            (e.kind(), e.status()),
            (ErrorKind::ServiceUnavailable, None)
        );

        let e = ProviderError::from_stream_error(
            "vllm",
            r#"{"error":{"message":"boom","type":"BadRequestError","code":400}}"#,
        );
        assert_eq!((e.kind(), e.status()), (ErrorKind::BadRequest, Some(400)));

        let e = ProviderError::from_stream_error("openai", "not json");
        assert_eq!(e.kind(), ErrorKind::InternalServer);
        assert_eq!(e.message(), "error event in stream: not json");
    }

    #[test]
    fn header_pairs_skips_binary_values() -> Result<(), http::Error> {
        let mut headers = http::HeaderMap::new();
        headers.insert("retry-after", http::HeaderValue::from_static("2"));
        headers.insert("x-bin", http::HeaderValue::from_bytes(b"\xff")?);
        let pairs: Vec<_> = header_pairs(&headers).collect();
        assert_eq!(pairs, vec![("retry-after", "2")]);
        Ok(())
    }
}
