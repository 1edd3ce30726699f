//! `ApiError`: the one place where errors become HTTP responses, in OpenAI's error shape.

use std::time::Duration;

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use retry_core::ErrorKind;
use router::{FailureReason, Report, RouterError};

use crate::http::headers::report_headers;

/// An error answer: `{"error": {"message", "type", "param", "code"}}` with the right status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    error_type: &'static str,
    code: Option<&'static str>,
    param: Option<String>,
    retry_after: Option<Duration>,
    report: Option<Box<Report>>,
    /// `x-should-retry`: false once the router has already spent the retries the
    /// policy allows, so SDKs that retry on their own (the OpenAI SDKs do, twice by
    /// default) do not multiply upstream traffic.
    should_retry: Option<bool>,
}

impl ApiError {
    fn new(
        status: StatusCode,
        error_type: &'static str,
        code: Option<&'static str>,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            message: message.into(),
            error_type,
            code,
            param: None,
            retry_after: None,
            report: None,
            should_retry: None,
        }
    }

    /// 400: the request is wrong; `param` names the offending field when known.
    pub fn bad_request(message: impl Into<String>, param: Option<String>) -> Self {
        ApiError {
            param,
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                None,
                message,
            )
        }
    }

    /// 401: no key, or a wrong one.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            Some("invalid_api_key"),
            message,
        )
    }

    /// 403: the key may not use this model.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            Some("model_not_allowed"),
            message,
        )
    }

    /// 404 for a path that is not an endpoint: `code` says so, so a client does not go
    /// looking for a missing model.
    pub fn unknown_route(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("unknown_url"),
            message,
        )
    }

    /// 404 for an unknown model.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("model_not_found"),
            message,
        )
    }

    /// 413: the body is over the limit.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            Some("request_too_large"),
            format!(
                "the request body is larger than the limit of {limit} bytes; send a smaller request or raise switchyard.max_body_bytes"
            ),
        )
    }

    /// 429 from a per-key limit, with `Retry-After`.
    pub fn key_rate_limited(what: &str, retry_after: Duration) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                Some("rate_limit_exceeded"),
                format!(
                    "this API key is over its {what} limit; retry after {} s",
                    retry_after.as_secs_f64().ceil()
                ),
            )
        }
    }

    /// 500 for a bug of ours (never for an upstream failure).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            None,
            message,
        )
    }

    /// The answer for a request the router gave up on.
    pub fn from_router(err: RouterError) -> Self {
        let kind = err.kind();
        let (error_type, code) = openai_type_and_code(kind);
        let status = StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::BAD_GATEWAY);
        let retry_after = match kind {
            // A 429 always says when to come back.
            ErrorKind::RateLimit | ErrorKind::QuotaExceeded => {
                Some(err.retry_after().unwrap_or(Duration::from_secs(1)))
            }
            _ => err.retry_after(),
        };
        ApiError {
            status,
            message: err.message().to_owned(),
            error_type,
            code: Some(code),
            param: None,
            retry_after,
            should_retry: match err.reason() {
                FailureReason::Upstream | FailureReason::DeadlineExceeded
                    if !err.report().attempts.is_empty() =>
                {
                    Some(false)
                }
                _ => None,
            },
            report: Some(Box::new(err.report().clone())),
        }
    }

    /// The status of this answer.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

/// OpenAI's `type` and `code` for an error kind, so SDKs raise the matching exception.
pub fn openai_type_and_code(kind: ErrorKind) -> (&'static str, &'static str) {
    match kind {
        ErrorKind::Timeout => ("timeout", "timeout"),
        ErrorKind::RateLimit => ("rate_limit_error", "rate_limit_exceeded"),
        ErrorKind::QuotaExceeded => ("insufficient_quota", "insufficient_quota"),
        ErrorKind::InternalServer => ("server_error", "internal_server_error"),
        ErrorKind::BadGateway => ("server_error", "bad_gateway"),
        ErrorKind::ServiceUnavailable => ("server_error", "service_unavailable"),
        ErrorKind::Connection => ("server_error", "upstream_connection_error"),
        ErrorKind::Authentication => ("authentication_error", "invalid_api_key"),
        ErrorKind::PermissionDenied => ("permission_error", "permission_denied"),
        ErrorKind::NotFound => ("invalid_request_error", "model_not_found"),
        ErrorKind::ContextWindowExceeded => ("invalid_request_error", "context_length_exceeded"),
        ErrorKind::ContentPolicyViolation => ("invalid_request_error", "content_policy_violation"),
        ErrorKind::UnsupportedParams => ("invalid_request_error", "unsupported_parameter"),
        ErrorKind::BadRequest => ("invalid_request_error", "bad_request"),
        _ => ("server_error", "unknown"),
    }
}

/// The JSON body of an error, also used for error events inside streams.
pub fn error_body(
    message: &str,
    error_type: &str,
    code: Option<&str>,
    param: Option<&str>,
) -> serde_json::Value {
    serde_json::json!({
        "error": { "message": message, "type": error_type, "param": param, "code": code }
    })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = error_body(
            &self.message,
            self.error_type,
            self.code,
            self.param.as_deref(),
        );
        let mut resp = (self.status, axum::Json(body)).into_response();
        let headers = resp.headers_mut();
        if let Some(wait) = self.retry_after {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            if let Ok(v) = HeaderValue::from_str(&wait.as_millis().to_string()) {
                headers.insert("retry-after-ms", v);
            }
        }
        if let Some(report) = &self.report {
            report_headers(headers, report);
        }
        if let Some(retry) = self.should_retry {
            headers.insert(
                "x-should-retry",
                HeaderValue::from_static(if retry { "true" } else { "false" }),
            );
        }
        resp
    }
}
