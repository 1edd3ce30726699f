//! Classifying EchoLM's failures into Switchyard's [`ErrorKind`]s, with their retry hints.
//!
//! This is the most important decision in a provider: the kind decides whether the router
//! retries here, retries on another deployment, cools this deployment, or falls back, and which
//! fallback list it follows. The choices for EchoLM, and why:
//!
//! | EchoLM `err.kind` | status | [`ErrorKind`] | because |
//! |---|---|---|---|
//! | `rate_limited` | 429 | `RateLimit` | waiting helps; the hint says how long |
//! | `quota_exhausted` | 429 / 402 | `QuotaExceeded` | waiting does not help: cool for long, fall back |
//! | `overloaded` | 503 / 529 | `ServiceUnavailable` | transient; another deployment may be fine |
//! | `internal` | 500 | `InternalServer` | transient server fault |
//! | `bad_key` | 401 | `Authentication` | this key is wrong; another deployment's may not be |
//! | `forbidden` | 403 | `PermissionDenied` | same, for the model or endpoint |
//! | `unknown_model` | 404 | `NotFound` | this deployment is misconfigured |
//! | `prompt_too_long` | 400 / 413 | `ContextWindowExceeded` | `context_window_fallbacks` apply |
//! | `unsafe_content` | 400 | `ContentPolicyViolation` | `content_policy_fallbacks` apply |
//! | `invalid_request` | 400 / 422 | `BadRequest` | the request is wrong everywhere: no retry |
//! | anything else | any | from the status ([`ErrorKind::from_status`]) | unknown codes fall back to HTTP semantics |
//!
//! Two rules keep the mapping safe: a code never turns a 5xx into a client error (a 500 that
//! says `invalid_request` is still the server's fault, so it stays retryable), and a body that
//! is not EchoLM's error shape (an HTML page from a load balancer) is classified by
//! [`ProviderError::from_http`], which reads the status and any generic error body.
//!
//! Retry hints: the `retry-after`/`retry-after-ms` headers (read by
//! `retry_core::hint::parse_headers`) and the body's `retry_in_ms`; when both are present the
//! longer wait wins.

use std::time::{Duration, SystemTime};

use switchyard_provider::{
    ErrorKind, ProviderError, RetryHint, header_pairs, retry_core::hint::parse_headers,
};

use crate::{NAME, wire::ErrorBody};

/// How much of an error body is read: error bodies are small, and a misbehaving upstream must
/// not make the provider buffer megabytes to build a message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The longest message kept from EchoLM, in characters.
const MAX_MESSAGE_CHARS: usize = 200;

/// Classifies an error answer (any non-2xx status) from its status, headers and body.
pub async fn from_response(mut response: reqwest::Response) -> ProviderError {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    // A body that fails halfway still has a status worth reporting: use what arrived.
    while body.len() < MAX_ERROR_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body.truncate(MAX_ERROR_BODY);
    let header_hint = parse_headers(header_pairs(&headers), SystemTime::now());
    classify(status, header_hint, &body)
}

/// Classifies an error with `status` (an HTTP error status; `200` for an error event inside a
/// stream), the hint already read from the headers, and the error body.
pub fn classify(status: u16, header_hint: RetryHint, body: &[u8]) -> ProviderError {
    let Ok(ErrorBody { err }) = serde_json::from_slice::<ErrorBody>(body) else {
        if status == 200 {
            // An error event whose data is not EchoLM's error shape: the server is broken.
            return ProviderError::new(
                ErrorKind::InternalServer,
                NAME,
                "EchoLM sent an error event that could not be read",
            )
            .with_hint(header_hint);
        }
        // Not EchoLM's shape: let the generic classifier read the status and whatever body it is.
        return ProviderError::from_http(NAME, status, std::iter::empty(), body, SystemTime::now())
            .with_hint(header_hint);
    };
    let by_status = ErrorKind::from_status(status);
    let kind = match (kind_from_code(&err.kind), by_status) {
        // A code never turns a server error into a client error: keep the retryable kind.
        (Some(kind), Some(by_status)) if status >= 500 && !is_server_side(kind) => by_status,
        (Some(kind), _) => kind,
        (None, Some(by_status)) => by_status,
        // An unknown code in a 200 stream: treat it as the server's fault.
        (None, None) => ErrorKind::InternalServer,
    };
    let body_hint = err
        .retry_in_ms
        .map(|ms| RetryHint::after(Duration::from_millis(ms)))
        .unwrap_or_default();
    let message = match sanitize(&err.msg) {
        msg if msg.is_empty() => format!("EchoLM error `{}`", sanitize(&err.kind)),
        msg => msg,
    };
    let mut error = ProviderError::new(kind, NAME, message).with_hint(header_hint.merge(body_hint));
    if status != 200 {
        error = error.with_status(status);
    }
    error
}

/// EchoLM's error codes, as in the table in the module docs.
pub fn kind_from_code(code: &str) -> Option<ErrorKind> {
    Some(match code {
        "rate_limited" => ErrorKind::RateLimit,
        "quota_exhausted" => ErrorKind::QuotaExceeded,
        "overloaded" => ErrorKind::ServiceUnavailable,
        "internal" => ErrorKind::InternalServer,
        "bad_key" => ErrorKind::Authentication,
        "forbidden" => ErrorKind::PermissionDenied,
        "unknown_model" => ErrorKind::NotFound,
        "prompt_too_long" => ErrorKind::ContextWindowExceeded,
        "unsafe_content" => ErrorKind::ContentPolicyViolation,
        "invalid_request" => ErrorKind::BadRequest,
        _ => return None,
    })
}

/// Whether a kind describes a fault of the server or the network (as a 5xx does).
fn is_server_side(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::InternalServer
            | ErrorKind::ServiceUnavailable
            | ErrorKind::BadGateway
            | ErrorKind::Timeout
            | ErrorKind::Connection
    )
}

/// A message safe to show a client: one line, no control characters, at most
/// [`MAX_MESSAGE_CHARS`] characters, and no word that looks like a key.
fn sanitize(message: &str) -> String {
    let words: Vec<&str> = message
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| !word.is_empty())
        .map(|word| {
            if looks_like_key(word) {
                "[redacted]"
            } else {
                word
            }
        })
        .collect();
    let joined = words.join(" ");
    match joined.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}...", &joined[..cut]),
        None => joined,
    }
}

/// Long tokens of letters, digits, `-` and `_` with a digit in them look like keys.
fn looks_like_key(word: &str) -> bool {
    let word = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    word.len() >= 24
        && word.bytes().any(|b| b.is_ascii_digit())
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Classifies a failure of the HTTP exchange itself (no status: refused, reset, timed out,
/// cut). The message names no URL: a path or query could carry a secret.
pub fn transport(error: reqwest::Error) -> ProviderError {
    let error = error.without_url();
    let (kind, message) = if error.is_timeout() {
        (
            ErrorKind::Timeout,
            "EchoLM did not answer within the attempt's time limit",
        )
    } else if error.is_connect() {
        (
            ErrorKind::Connection,
            "could not connect to EchoLM: check api_base and that the server is up",
        )
    } else if error.is_builder() {
        (
            ErrorKind::InternalServer,
            "could not build the request to EchoLM",
        )
    } else {
        // Reset, closed early, or the body was cut: nothing usable arrived, and trying again
        // (here or elsewhere) may well work.
        (
            ErrorKind::Connection,
            "the connection to EchoLM failed before the answer was complete",
        )
    };
    ProviderError::new(kind, NAME, message).with_source(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(kind: &str, retry_in_ms: Option<u64>) -> Vec<u8> {
        let mut err = serde_json::json!({"kind": kind, "msg": format!("it is {kind}")});
        if let Some(ms) = retry_in_ms {
            err["retry_in_ms"] = ms.into();
        }
        serde_json::to_vec(&serde_json::json!({ "err": err })).expect("serializes")
    }

    #[test]
    fn every_code_gets_its_kind() {
        let cases = [
            (429, "rate_limited", ErrorKind::RateLimit),
            (429, "quota_exhausted", ErrorKind::QuotaExceeded),
            (503, "overloaded", ErrorKind::ServiceUnavailable),
            (529, "overloaded", ErrorKind::ServiceUnavailable),
            (500, "internal", ErrorKind::InternalServer),
            (401, "bad_key", ErrorKind::Authentication),
            (403, "forbidden", ErrorKind::PermissionDenied),
            (404, "unknown_model", ErrorKind::NotFound),
            (400, "prompt_too_long", ErrorKind::ContextWindowExceeded),
            (400, "unsafe_content", ErrorKind::ContentPolicyViolation),
            (422, "invalid_request", ErrorKind::BadRequest),
            (418, "something_new", ErrorKind::BadRequest),
            (502, "something_new", ErrorKind::BadGateway),
        ];
        for (status, code, kind) in cases {
            let error = classify(status, RetryHint::default(), &body(code, None));
            assert_eq!(error.kind(), kind, "{status} {code}");
            assert_eq!(error.status(), Some(status));
            assert_eq!(error.provider(), NAME);
            assert_eq!(error.message(), format!("it is {code}"));
        }
    }

    #[test]
    fn a_code_never_makes_a_server_error_a_client_error() {
        let error = classify(500, RetryHint::default(), &body("invalid_request", None));
        assert_eq!(error.kind(), ErrorKind::InternalServer);
    }

    #[test]
    fn the_longer_of_the_header_and_body_hints_wins() {
        let error = classify(
            429,
            RetryHint::after(Duration::from_secs(2)),
            &body("rate_limited", Some(500)),
        );
        assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));
        let error = classify(503, RetryHint::default(), &body("overloaded", Some(1500)));
        assert_eq!(error.retry_after(), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn a_foreign_body_is_classified_from_the_status() {
        let error = classify(
            502,
            RetryHint::default(),
            b"<html><body>Bad Gateway</body></html>",
        );
        assert_eq!(error.kind(), ErrorKind::BadGateway);
        assert_eq!(error.status(), Some(502));
    }

    #[test]
    fn error_events_in_a_stream_have_no_status() {
        let error = classify(200, RetryHint::default(), &body("overloaded", Some(500)));
        assert_eq!(error.kind(), ErrorKind::ServiceUnavailable);
        assert_eq!(error.status(), None);
        let garbage = classify(200, RetryHint::default(), b"{not json");
        assert_eq!(garbage.kind(), ErrorKind::InternalServer);
    }

    #[test]
    fn messages_are_short_and_never_hold_a_key() {
        let key = "sk-live-0123456789abcdefghijklmnop";
        let text = format!("key {key} is not valid\n\tat all");
        let clean = sanitize(&text);
        assert_eq!(clean, "key [redacted] is not valid at all");
        assert!(sanitize(&"word ".repeat(100)).chars().count() <= MAX_MESSAGE_CHARS + 3);
    }
}
