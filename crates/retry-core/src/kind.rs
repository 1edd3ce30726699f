//! `ErrorKind`: the one classification every failure gets, and its default treatment.

use std::fmt;

/// What went wrong in one attempt, classified once where it happened.
///
/// The kinds and their defaults follow the table in `SEMANTICS.md` §1. Each kind
/// answers three questions through exhaustive matches: is it retried by default
/// ([`ErrorKind::retry_default`]), does it cool the deployment ([`ErrorKind::cooling`]),
/// and which fallback list applies ([`ErrorKind::fallback_route`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum ErrorKind {
    /// The attempt timed out (our limit, 408 or 504).
    Timeout,
    /// 429 that is a rate limit (not a quota), Anthropic `rate_limit_error`.
    RateLimit,
    /// 402, or a 429 with `insufficient_quota` / a spend limit: waiting does not help.
    QuotaExceeded,
    /// 500, and any 5xx without a more specific kind.
    InternalServer,
    /// 502.
    BadGateway,
    /// 503, Anthropic 529 `overloaded_error`.
    ServiceUnavailable,
    /// Refused, reset, DNS, TLS, or the body was cut before the headers.
    Connection,
    /// 401: the key is wrong.
    Authentication,
    /// 403: the key may not use this model or endpoint.
    PermissionDenied,
    /// 404, `model_not_found`, `DeploymentNotFound`.
    NotFound,
    /// The prompt does not fit the model's context window.
    ContextWindowExceeded,
    /// The provider refused the content on safety grounds.
    ContentPolicyViolation,
    /// The provider cannot take one of the request's parameters.
    UnsupportedParams,
    /// Any other 400, 413 or 422: it would fail the same way anywhere.
    BadRequest,
}

/// Whether a kind is retried when no policy names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDefault {
    /// Retried, on the same deployment or another one.
    Yes,
    /// Retried only on another deployment of the group (the key or model is wrong here).
    OnlyElsewhere,
    /// Not retried unless a retry policy names the kind explicitly.
    No,
}

/// How a failure of some kind affects the deployment's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cooling {
    /// Counts toward `allowed_fails` in the sliding failure window.
    Counts,
    /// Cools the deployment at once.
    Immediate,
    /// Cools at once when the group has another available deployment, else counts.
    ImmediateIfSiblings,
    /// Cools at once, for the long quota cooldown.
    Long,
    /// Says nothing about the deployment's health (the request was at fault).
    Never,
}

/// Which fallback list a failure of some kind may move the request along.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackRoute {
    /// The generic `fallbacks` list.
    Generic,
    /// `context_window_fallbacks` first, else the generic list.
    ContextWindow,
    /// `content_policy_fallbacks` only: routing around a safety refusal must be asked for.
    ContentPolicy,
    /// No fallback: the request itself is wrong.
    None,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 14] = [
        ErrorKind::Timeout,
        ErrorKind::RateLimit,
        ErrorKind::QuotaExceeded,
        ErrorKind::InternalServer,
        ErrorKind::BadGateway,
        ErrorKind::ServiceUnavailable,
        ErrorKind::Connection,
        ErrorKind::Authentication,
        ErrorKind::PermissionDenied,
        ErrorKind::NotFound,
        ErrorKind::ContextWindowExceeded,
        ErrorKind::ContentPolicyViolation,
        ErrorKind::UnsupportedParams,
        ErrorKind::BadRequest,
    ];

    /// Whether this kind is retried when no retry policy names it.
    pub fn retry_default(self) -> RetryDefault {
        match self {
            ErrorKind::Timeout
            | ErrorKind::RateLimit
            | ErrorKind::InternalServer
            | ErrorKind::BadGateway
            | ErrorKind::ServiceUnavailable
            | ErrorKind::Connection => RetryDefault::Yes,
            ErrorKind::Authentication | ErrorKind::PermissionDenied | ErrorKind::NotFound => {
                RetryDefault::OnlyElsewhere
            }
            ErrorKind::QuotaExceeded
            | ErrorKind::ContextWindowExceeded
            | ErrorKind::ContentPolicyViolation
            | ErrorKind::UnsupportedParams
            | ErrorKind::BadRequest => RetryDefault::No,
        }
    }

    /// How a failure of this kind affects the deployment's health.
    pub fn cooling(self) -> Cooling {
        match self {
            ErrorKind::Timeout
            | ErrorKind::InternalServer
            | ErrorKind::BadGateway
            | ErrorKind::ServiceUnavailable
            | ErrorKind::Connection => Cooling::Counts,
            ErrorKind::RateLimit => Cooling::ImmediateIfSiblings,
            ErrorKind::QuotaExceeded => Cooling::Long,
            ErrorKind::Authentication | ErrorKind::PermissionDenied | ErrorKind::NotFound => {
                Cooling::Immediate
            }
            ErrorKind::ContextWindowExceeded
            | ErrorKind::ContentPolicyViolation
            | ErrorKind::UnsupportedParams
            | ErrorKind::BadRequest => Cooling::Never,
        }
    }

    /// Which fallback list applies after a failure of this kind.
    pub fn fallback_route(self) -> FallbackRoute {
        match self {
            ErrorKind::Timeout
            | ErrorKind::RateLimit
            | ErrorKind::QuotaExceeded
            | ErrorKind::InternalServer
            | ErrorKind::BadGateway
            | ErrorKind::ServiceUnavailable
            | ErrorKind::Connection
            | ErrorKind::Authentication
            | ErrorKind::PermissionDenied
            | ErrorKind::NotFound
            | ErrorKind::UnsupportedParams => FallbackRoute::Generic,
            ErrorKind::ContextWindowExceeded => FallbackRoute::ContextWindow,
            ErrorKind::ContentPolicyViolation => FallbackRoute::ContentPolicy,
            ErrorKind::BadRequest => FallbackRoute::None,
        }
    }

    /// The HTTP status a gateway answers with when this kind is the final error.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::Timeout => 408,
            ErrorKind::RateLimit | ErrorKind::QuotaExceeded => 429,
            ErrorKind::InternalServer => 500,
            ErrorKind::BadGateway | ErrorKind::Connection => 502,
            ErrorKind::ServiceUnavailable => 503,
            ErrorKind::Authentication => 401,
            ErrorKind::PermissionDenied => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::ContextWindowExceeded
            | ErrorKind::ContentPolicyViolation
            | ErrorKind::UnsupportedParams
            | ErrorKind::BadRequest => 400,
        }
    }

    /// The generic kind for an HTTP error status, before any body is read.
    ///
    /// Returns `None` for statuses that are not errors (below 400) or that carry no
    /// meaning on their own. Providers refine the answer with the body
    /// (see [`crate::classify`]).
    pub fn from_status(status: u16) -> Option<ErrorKind> {
        Some(match status {
            400 | 413 | 422 => ErrorKind::BadRequest,
            401 => ErrorKind::Authentication,
            402 => ErrorKind::QuotaExceeded,
            403 => ErrorKind::PermissionDenied,
            404 => ErrorKind::NotFound,
            408 => ErrorKind::Timeout,
            429 => ErrorKind::RateLimit,
            500 => ErrorKind::InternalServer,
            502 => ErrorKind::BadGateway,
            503 | 529 => ErrorKind::ServiceUnavailable,
            504 => ErrorKind::Timeout,
            501 | 505..=599 => ErrorKind::InternalServer,
            405..=499 => ErrorKind::BadRequest,
            _ => return None,
        })
    }

    /// A stable snake_case name, used in logs, metrics and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::RateLimit => "rate_limit",
            ErrorKind::QuotaExceeded => "quota_exceeded",
            ErrorKind::InternalServer => "internal_server",
            ErrorKind::BadGateway => "bad_gateway",
            ErrorKind::ServiceUnavailable => "service_unavailable",
            ErrorKind::Connection => "connection",
            ErrorKind::Authentication => "authentication",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::NotFound => "not_found",
            ErrorKind::ContextWindowExceeded => "context_window_exceeded",
            ErrorKind::ContentPolicyViolation => "content_policy_violation",
            ErrorKind::UnsupportedParams => "unsupported_params",
            ErrorKind::BadRequest => "bad_request",
        }
    }

    /// The name of the reference's exception class for this kind (what an SDK user knows).
    pub fn exception_name(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "Timeout",
            ErrorKind::RateLimit => "RateLimitError",
            ErrorKind::QuotaExceeded => "RateLimitError",
            ErrorKind::InternalServer => "InternalServerError",
            ErrorKind::BadGateway => "BadGatewayError",
            ErrorKind::ServiceUnavailable => "ServiceUnavailableError",
            ErrorKind::Connection => "APIConnectionError",
            ErrorKind::Authentication => "AuthenticationError",
            ErrorKind::PermissionDenied => "PermissionDeniedError",
            ErrorKind::NotFound => "NotFoundError",
            ErrorKind::ContextWindowExceeded => "ContextWindowExceededError",
            ErrorKind::ContentPolicyViolation => "ContentPolicyViolationError",
            ErrorKind::UnsupportedParams => "UnsupportedParamsError",
            ErrorKind::BadRequest => "BadRequestError",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
