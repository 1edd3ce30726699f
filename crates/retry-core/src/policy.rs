//! Retry policies and the resolution of "how many retries for this failure".

use crate::{ErrorKind, RetryDefault};

/// The number of retries used when nothing else is configured: three attempts in all.
pub const DEFAULT_NUM_RETRIES: u32 = 2;

/// Retries allowed per kind of error, under the reference's field names.
///
/// Each field left `None` defers to the next level of [`RetryLimits`]. A kind that is
/// not retried by default (see [`ErrorKind::retry_default`]) is retried only when a
/// policy names it here; a bare `num_retries` never makes it retryable.
///
/// With the `serde` feature the fields (de)serialize under the reference's names,
/// so a LiteLLM `retry_policy:` block reads as is:
///
/// ```
/// # #[cfg(feature = "serde")] {
/// use switchyard_retry_core::{ErrorKind, RetryPolicy};
/// let policy: RetryPolicy = serde_json::from_str(
///     r#"{"TimeoutErrorRetries": 5, "RateLimitErrorRetries": 3}"#,
/// ).unwrap();
/// assert_eq!(policy.field_for(ErrorKind::Timeout), Some(5));
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct RetryPolicy {
    /// Timeouts (attempt timeout, 408, 504).
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "TimeoutErrorRetries",
            default,
            skip_serializing_if = "Option::is_none"
        )
    )]
    pub timeout: Option<u32>,
    /// Rate limits (429 that is not a quota).
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "RateLimitErrorRetries",
            default,
            skip_serializing_if = "Option::is_none"
        )
    )]
    pub rate_limit: Option<u32>,
    /// Server errors: 500, 502, 503 and connection failures, unless a more specific field is set.
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "InternalServerErrorRetries",
            default,
            skip_serializing_if = "Option::is_none"
        )
    )]
    pub internal_server: Option<u32>,
    /// Plain bad requests (400, 413, 422). Not retried by default.
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "BadRequestErrorRetries",
            default,
            skip_serializing_if = "Option::is_none"
        )
    )]
    pub bad_request: Option<u32>,
    /// Authentication and permission errors (401, 403).
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "AuthenticationErrorRetries",
            default,
            skip_serializing_if = "Option::is_none"
        )
    )]
    pub authentication: Option<u32>,
    /// Content-policy refusals. Not retried by default.
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "ContentPolicyViolationErrorRetries",
            default,
            skip_serializing_if = "Option::is_none"
        )
    )]
    pub content_policy_violation: Option<u32>,
    /// Parameters the provider cannot take. Not retried by default.
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "UnsupportedParamsRetries",
            default,
            skip_serializing_if = "Option::is_none"
        )
    )]
    pub unsupported_params: Option<u32>,
    /// Ours: 503 and overloads, more specific than `InternalServerErrorRetries`.
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "ServiceUnavailableErrorRetries",
            default,
            skip_serializing_if = "Option::is_none"
        )
    )]
    pub service_unavailable: Option<u32>,
    /// Ours: 404 and unknown models.
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "NotFoundErrorRetries",
            default,
            skip_serializing_if = "Option::is_none"
        )
    )]
    pub not_found: Option<u32>,
    /// Ours: prompts too long for the model. Not retried by default.
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "ContextWindowExceededErrorRetries",
            default,
            skip_serializing_if = "Option::is_none"
        )
    )]
    pub context_window_exceeded: Option<u32>,
}

impl RetryPolicy {
    /// The field of this policy that governs `kind`, if set.
    ///
    /// `InternalServerErrorRetries` covers 500, 502, 503 and connection failures unless
    /// `ServiceUnavailableErrorRetries` is set for 503s. `AuthenticationErrorRetries`
    /// covers 401 and 403, as in the reference. Quota errors have no field: waiting
    /// does not refill a quota, so they are never retried on the same deployment.
    pub fn field_for(&self, kind: ErrorKind) -> Option<u32> {
        match kind {
            ErrorKind::Timeout => self.timeout,
            ErrorKind::RateLimit => self.rate_limit,
            ErrorKind::QuotaExceeded => None,
            ErrorKind::InternalServer | ErrorKind::BadGateway | ErrorKind::Connection => {
                self.internal_server
            }
            ErrorKind::ServiceUnavailable => self.service_unavailable.or(self.internal_server),
            ErrorKind::Authentication | ErrorKind::PermissionDenied => self.authentication,
            ErrorKind::NotFound => self.not_found,
            ErrorKind::ContextWindowExceeded => self.context_window_exceeded,
            ErrorKind::ContentPolicyViolation => self.content_policy_violation,
            ErrorKind::UnsupportedParams => self.unsupported_params,
            ErrorKind::BadRequest => self.bad_request,
        }
    }
}

/// Every level that may set the number of retries for one request, most specific first.
#[derive(Debug, Clone, Copy, Default)]
pub struct RetryLimits<'a> {
    /// The request's own `num_retries`; `Some(0)` disables retries for that request.
    pub request: Option<u32>,
    /// `model_group_retry_policy[group]` for the group being tried.
    pub group_policy: Option<&'a RetryPolicy>,
    /// The router's `retry_policy`.
    pub policy: Option<&'a RetryPolicy>,
    /// The deployment's own `num_retries`.
    pub deployment: Option<u32>,
    /// The router's `num_retries`.
    pub router: Option<u32>,
}

/// Where a resolved retry count came from, for reports and `simulate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitSource {
    /// The request's `num_retries`.
    Request,
    /// The model group's retry policy.
    GroupPolicy,
    /// The router's retry policy.
    Policy,
    /// The deployment's `num_retries`.
    Deployment,
    /// The router's `num_retries`.
    Router,
    /// The built-in default of 2.
    Default,
    /// The kind is not retried by default and no policy names it.
    NotRetryable,
}

/// A retry count and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedLimit {
    /// Retries allowed in this model group for a failure of the kind asked about.
    pub retries: u32,
    /// Which level set it.
    pub source: LimitSource,
}

impl RetryLimits<'_> {
    /// Resolves the retries allowed after a failure of `kind` (`SEMANTICS.md` §2).
    ///
    /// `forced_retryable` is set when the upstream said `x-should-retry: true`, which
    /// makes a kind retryable as if it were retried by default.
    pub fn resolve(&self, kind: ErrorKind, forced_retryable: bool) -> ResolvedLimit {
        let named = self
            .group_policy
            .and_then(|p| p.field_for(kind))
            .map(|n| (n, LimitSource::GroupPolicy))
            .or_else(|| {
                self.policy
                    .and_then(|p| p.field_for(kind))
                    .map(|n| (n, LimitSource::Policy))
            });
        let retried_by_default = forced_retryable
            || match kind.retry_default() {
                RetryDefault::Yes | RetryDefault::OnlyElsewhere => true,
                RetryDefault::No => false,
            };
        if !retried_by_default && named.is_none() {
            return ResolvedLimit {
                retries: 0,
                source: LimitSource::NotRetryable,
            };
        }
        let (retries, source) = self
            .request
            .map(|n| (n, LimitSource::Request))
            .or(named)
            .or_else(|| self.deployment.map(|n| (n, LimitSource::Deployment)))
            .or_else(|| self.router.map(|n| (n, LimitSource::Router)))
            .unwrap_or((DEFAULT_NUM_RETRIES, LimitSource::Default));
        ResolvedLimit { retries, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(f: impl FnOnce(&mut RetryPolicy)) -> RetryPolicy {
        let mut p = RetryPolicy::default();
        f(&mut p);
        p
    }

    #[test]
    fn default_is_two() {
        let r = RetryLimits::default().resolve(ErrorKind::Timeout, false);
        assert_eq!(
            r,
            ResolvedLimit {
                retries: 2,
                source: LimitSource::Default
            }
        );
    }

    #[test]
    fn precedence_most_specific_first() {
        let group = policy(|p| p.timeout = Some(5));
        let general = policy(|p| p.timeout = Some(3));
        let full = RetryLimits {
            request: Some(7),
            group_policy: Some(&group),
            policy: Some(&general),
            deployment: Some(4),
            router: Some(1),
        };
        let k = ErrorKind::Timeout;
        assert_eq!(full.resolve(k, false).retries, 7);
        assert_eq!(
            RetryLimits {
                request: None,
                ..full
            }
            .resolve(k, false)
            .source,
            LimitSource::GroupPolicy
        );
        assert_eq!(
            RetryLimits {
                request: None,
                group_policy: None,
                ..full
            }
            .resolve(k, false)
            .retries,
            3
        );
        let only_counts = RetryLimits {
            request: None,
            group_policy: None,
            policy: None,
            ..full
        };
        assert_eq!(
            only_counts.resolve(k, false),
            ResolvedLimit {
                retries: 4,
                source: LimitSource::Deployment
            }
        );
        assert_eq!(
            RetryLimits {
                deployment: None,
                ..only_counts
            }
            .resolve(k, false)
            .retries,
            1
        );
    }

    #[test]
    fn group_policy_without_the_field_defers_to_general_policy() {
        let group = policy(|p| p.rate_limit = Some(10));
        let general = policy(|p| p.timeout = Some(3));
        let l = RetryLimits {
            group_policy: Some(&group),
            policy: Some(&general),
            ..Default::default()
        };
        assert_eq!(
            l.resolve(ErrorKind::Timeout, false),
            ResolvedLimit {
                retries: 3,
                source: LimitSource::Policy
            }
        );
        assert_eq!(l.resolve(ErrorKind::RateLimit, false).retries, 10);
    }

    #[test]
    fn request_zero_disables() {
        let general = policy(|p| p.timeout = Some(3));
        let l = RetryLimits {
            request: Some(0),
            policy: Some(&general),
            ..Default::default()
        };
        assert_eq!(l.resolve(ErrorKind::Timeout, false).retries, 0);
    }

    #[test]
    fn not_retried_by_default_unless_named() {
        let bare = RetryLimits {
            request: Some(5),
            router: Some(5),
            ..Default::default()
        };
        for kind in [
            ErrorKind::BadRequest,
            ErrorKind::ContextWindowExceeded,
            ErrorKind::ContentPolicyViolation,
            ErrorKind::UnsupportedParams,
            ErrorKind::QuotaExceeded,
        ] {
            assert_eq!(
                bare.resolve(kind, false).source,
                LimitSource::NotRetryable,
                "{kind}"
            );
        }
        let named = policy(|p| p.bad_request = Some(1));
        let l = RetryLimits {
            policy: Some(&named),
            ..Default::default()
        };
        assert_eq!(l.resolve(ErrorKind::BadRequest, false).retries, 1);
        // A named kind still obeys a request's num_retries of 0.
        assert_eq!(
            RetryLimits {
                request: Some(0),
                ..l
            }
            .resolve(ErrorKind::BadRequest, false)
            .retries,
            0
        );
        // x-should-retry: true makes it retryable with the ordinary count.
        assert_eq!(bare.resolve(ErrorKind::BadRequest, true).retries, 5);
    }

    #[test]
    fn each_field_governs_its_kinds() {
        let p = RetryPolicy {
            timeout: Some(1),
            rate_limit: Some(2),
            internal_server: Some(3),
            bad_request: Some(4),
            authentication: Some(5),
            content_policy_violation: Some(6),
            unsupported_params: Some(7),
            service_unavailable: None,
            not_found: Some(9),
            context_window_exceeded: Some(10),
        };
        let want = [
            (ErrorKind::Timeout, Some(1)),
            (ErrorKind::RateLimit, Some(2)),
            (ErrorKind::QuotaExceeded, None),
            (ErrorKind::InternalServer, Some(3)),
            (ErrorKind::BadGateway, Some(3)),
            (ErrorKind::ServiceUnavailable, Some(3)),
            (ErrorKind::Connection, Some(3)),
            (ErrorKind::Authentication, Some(5)),
            (ErrorKind::PermissionDenied, Some(5)),
            (ErrorKind::NotFound, Some(9)),
            (ErrorKind::ContextWindowExceeded, Some(10)),
            (ErrorKind::ContentPolicyViolation, Some(6)),
            (ErrorKind::UnsupportedParams, Some(7)),
            (ErrorKind::BadRequest, Some(4)),
        ];
        assert_eq!(want.len(), ErrorKind::ALL.len());
        for (kind, n) in want {
            assert_eq!(p.field_for(kind), n, "{kind}");
        }
        let specific = RetryPolicy {
            service_unavailable: Some(8),
            ..p
        };
        assert_eq!(specific.field_for(ErrorKind::ServiceUnavailable), Some(8));
    }

    #[cfg(feature = "serde")]
    #[test]
    fn reads_the_guide_names() {
        let p: RetryPolicy = serde_json::from_str(
            r#"{"TimeoutErrorRetries":5,"RateLimitErrorRetries":3,"InternalServerErrorRetries":2,
                "ContentPolicyViolationErrorRetries":0,"AuthenticationErrorRetries":0,
                "BadRequestErrorRetries":1,"UnsupportedParamsRetries":0}"#,
        )
        .expect("valid policy");
        assert_eq!(p.timeout, Some(5));
        assert_eq!(p.bad_request, Some(1));
        let err = serde_json::from_str::<RetryPolicy>(r#"{"TimeoutRetries":5}"#)
            .expect_err("unknown field");
        assert!(err.to_string().contains("TimeoutRetries"), "{err}");
    }
}
