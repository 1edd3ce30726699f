//! Generic classification of HTTP error answers from OpenAI-style error bodies.
//!
//! Providers parse their own wire format and call [`classify`] with the fields they
//! found; they add their own quirks before or after. Codes and types are read first,
//! message text last, because messages change without notice.

use crate::ErrorKind;

/// The fields of an error body that classification reads: OpenAI's
/// `{"error": {"type", "code", "message"}}` and most providers' equivalents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorFields<'a> {
    /// `error.type`, e.g. `invalid_request_error`, `overloaded_error`.
    pub error_type: Option<&'a str>,
    /// `error.code`, e.g. `context_length_exceeded`, `insufficient_quota`.
    pub code: Option<&'a str>,
    /// `error.message`, free text.
    pub message: Option<&'a str>,
}

/// Classifies an HTTP error answer from its status and error body fields.
///
/// Returns the most specific kind the status and fields support. Statuses below 400
/// classify as [`ErrorKind::InternalServer`]: a provider that calls this for a
/// non-error status has received something it cannot use.
pub fn classify(status: u16, fields: ErrorFields<'_>) -> ErrorKind {
    let specific = [fields.code, fields.error_type]
        .into_iter()
        .flatten()
        .find_map(kind_from_code)
        // A message only ever reveals a client error, which a server error keeps its class
        // over (below): a 5xx message is not read at all.
        .or_else(|| {
            (status < 500)
                .then_some(fields.message)
                .flatten()
                .and_then(kind_from_message)
        });
    let generic = ErrorKind::from_status(status).unwrap_or(ErrorKind::InternalServer);
    match specific {
        // A code never turns a server error into a client error or the reverse,
        // except for the quota and not-found codes that providers send with odd statuses.
        Some(kind) if status >= 500 => match kind {
            ErrorKind::ServiceUnavailable | ErrorKind::RateLimit | ErrorKind::Timeout => kind,
            _ => generic,
        },
        Some(kind) => kind,
        None => generic,
    }
}

/// The kind named by a provider error code or type, if it names one.
pub fn kind_from_code(code: &str) -> Option<ErrorKind> {
    Some(match code {
        "context_length_exceeded" | "string_above_max_length" | "context_window_exceeded" => {
            ErrorKind::ContextWindowExceeded
        }
        "content_policy_violation" | "content_filter" | "ResponsibleAIPolicyViolation" => {
            ErrorKind::ContentPolicyViolation
        }
        "insufficient_quota" | "billing_hard_limit_reached" | "billing_not_active" => {
            ErrorKind::QuotaExceeded
        }
        "rate_limit_exceeded" | "rate_limit_error" | "requests" | "tokens" => ErrorKind::RateLimit,
        "model_not_found" | "DeploymentNotFound" | "not_found_error" => ErrorKind::NotFound,
        "invalid_api_key" | "authentication_error" | "invalid_authentication" => {
            ErrorKind::Authentication
        }
        "permission_error" | "PermissionDenied" => ErrorKind::PermissionDenied,
        "unsupported_parameter" | "unsupported_value" => ErrorKind::UnsupportedParams,
        "overloaded_error" | "server_overloaded" | "engine_overloaded" => {
            ErrorKind::ServiceUnavailable
        }
        "timeout" | "request_timeout" => ErrorKind::Timeout,
        _ => return None,
    })
}

/// The kind a message's text reveals, for providers that send no useful code.
pub fn kind_from_message(message: &str) -> Option<ErrorKind> {
    if is_context_window_message(message) {
        Some(ErrorKind::ContextWindowExceeded)
    } else if is_content_policy_message(message) {
        Some(ErrorKind::ContentPolicyViolation)
    } else if is_quota_message(message) {
        Some(ErrorKind::QuotaExceeded)
    } else if is_unsupported_params_message(message) {
        Some(ErrorKind::UnsupportedParams)
    } else {
        None
    }
}

/// Whether a message says the prompt does not fit the model's context window.
pub fn is_context_window_message(message: &str) -> bool {
    contains_any(message, CONTEXT_WINDOW)
}

/// Whether a message says the provider refused the content on safety grounds.
pub fn is_content_policy_message(message: &str) -> bool {
    contains_any(message, CONTENT_POLICY)
}

/// Whether a message says the account is out of quota or credit (waiting does not help).
pub fn is_quota_message(message: &str) -> bool {
    contains_any(message, QUOTA)
}

/// Whether a message says the provider cannot take one of the request's parameters.
pub fn is_unsupported_params_message(message: &str) -> bool {
    contains_any(message, UNSUPPORTED_PARAMS)
}

// What the messages say, in lower case (the search ignores case in the message only).
const CONTEXT_WINDOW: &[&str] = &[
    "context length",
    "context_length_exceeded",
    "context window",
    "prompt is too long",
    "input is too long",
    "too many tokens",
    "maximum number of tokens",
    "exceeds the maximum",
];

const CONTENT_POLICY: &[&str] = &[
    "content_policy_violation",
    "content management policy",
    "content_filter",
    "content filter",
    "safety system",
    "responsibleaipolicyviolation",
];

const QUOTA: &[&str] = &[
    "insufficient_quota",
    "exceeded your current quota",
    "credit balance is too low",
    "billing",
    "spend limit",
];

const UNSUPPORTED_PARAMS: &[&str] = &[
    "unsupported parameter",
    "unsupported value",
    "is not supported with this model",
];

/// Case-insensitive substring search without allocating.
fn contains_any(haystack: &str, needles: &[&str]) -> bool {
    needles
        .iter()
        .any(|needle| contains_ignore_case(haystack, needle))
}

/// Whether `haystack` contains `needle`, ignoring ASCII case, without allocating: the search
/// the message classifiers use, for providers that look for phrases of their own. `needle`
/// must be in lower case; an empty one is always found.
///
/// ```
/// use switchyard_retry_core::classify::contains_ignore_case;
/// assert!(contains_ignore_case("Prompt is TOO long", "too long"));
/// assert!(!contains_ignore_case("too lon", "too long"));
/// ```
pub fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    let Some((&first, rest)) = n.split_first() else {
        return true;
    };
    // The first byte alone rules out almost every position; only there is the rest compared.
    h.windows(n.len())
        .any(|w| w[0].to_ascii_lowercase() == first && w[1..].eq_ignore_ascii_case(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f<'a>(t: Option<&'a str>, c: Option<&'a str>, m: Option<&'a str>) -> ErrorFields<'a> {
        ErrorFields {
            error_type: t,
            code: c,
            message: m,
        }
    }

    #[test]
    fn codes_win_over_status() {
        let cases = [
            (
                400,
                f(
                    Some("invalid_request_error"),
                    Some("context_length_exceeded"),
                    None,
                ),
                ErrorKind::ContextWindowExceeded,
            ),
            (
                400,
                f(None, Some("content_policy_violation"), None),
                ErrorKind::ContentPolicyViolation,
            ),
            (
                400,
                f(None, Some("content_filter"), None),
                ErrorKind::ContentPolicyViolation,
            ),
            (
                400,
                f(None, Some("ResponsibleAIPolicyViolation"), None),
                ErrorKind::ContentPolicyViolation,
            ),
            (
                429,
                f(Some("insufficient_quota"), Some("insufficient_quota"), None),
                ErrorKind::QuotaExceeded,
            ),
            (
                429,
                f(Some("requests"), Some("rate_limit_exceeded"), None),
                ErrorKind::RateLimit,
            ),
            (
                404,
                f(None, Some("model_not_found"), None),
                ErrorKind::NotFound,
            ),
            (
                404,
                f(None, Some("DeploymentNotFound"), None),
                ErrorKind::NotFound,
            ),
            (
                400,
                f(None, Some("unsupported_parameter"), None),
                ErrorKind::UnsupportedParams,
            ),
            (
                529,
                f(Some("overloaded_error"), None, None),
                ErrorKind::ServiceUnavailable,
            ),
        ];
        for (status, fields, want) in cases {
            assert_eq!(classify(status, fields), want, "{status} {fields:?}");
        }
    }

    #[test]
    fn messages_are_read_last() {
        assert_eq!(
            classify(
                400,
                f(
                    Some("invalid_request_error"),
                    None,
                    Some("prompt is too long: 210000 tokens > 200000 maximum")
                )
            ),
            ErrorKind::ContextWindowExceeded
        );
        assert_eq!(
            classify(
                400,
                f(
                    None,
                    None,
                    Some("This model's maximum context length is 8192 tokens")
                )
            ),
            ErrorKind::ContextWindowExceeded
        );
        assert_eq!(
            classify(
                429,
                f(
                    None,
                    None,
                    Some("You exceeded your current quota, please check your plan")
                )
            ),
            ErrorKind::QuotaExceeded
        );
        assert_eq!(
            classify(400, f(None, None, Some("something else"))),
            ErrorKind::BadRequest
        );
    }

    #[test]
    fn server_errors_keep_their_class() {
        // A context-window code on a 500 does not make the deployment look healthy.
        assert_eq!(
            classify(500, f(None, Some("context_length_exceeded"), None)),
            ErrorKind::InternalServer
        );
        assert_eq!(
            classify(503, f(Some("overloaded_error"), None, None)),
            ErrorKind::ServiceUnavailable
        );
        assert_eq!(classify(502, ErrorFields::default()), ErrorKind::BadGateway);
    }

    #[test]
    fn a_server_error_message_never_makes_a_client_error() {
        let message = Some("This model's maximum context length is 8192 tokens");
        assert_eq!(
            classify(500, f(None, None, message)),
            ErrorKind::InternalServer
        );
        assert_eq!(
            classify(503, f(None, None, Some("content filter"))),
            ErrorKind::ServiceUnavailable
        );
    }

    #[test]
    fn needles_are_lower_case_and_found_in_any_case() {
        for needle in [CONTEXT_WINDOW, CONTENT_POLICY, QUOTA, UNSUPPORTED_PARAMS].concat() {
            assert_eq!(needle, needle.to_ascii_lowercase(), "{needle}");
        }
        assert!(contains_ignore_case(
            "The CONTEXT Window is full",
            "context window"
        ));
        assert!(contains_ignore_case("x", ""));
        assert!(!contains_ignore_case("contex", "context"));
        assert!(!contains_ignore_case("kontext window", "context window"));
    }

    #[test]
    fn non_error_status_is_a_server_fault() {
        assert_eq!(
            classify(200, ErrorFields::default()),
            ErrorKind::InternalServer
        );
    }
}
