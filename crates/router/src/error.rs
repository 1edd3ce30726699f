//! `RouterError`: the one error a caller of the router sees.

use std::{fmt, time::Duration};

use provider::ProviderError;
use retry_core::ErrorKind;

use crate::Report;

/// Why the router gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureReason {
    /// Upstream attempts failed; [`RouterError::provider_error`] has the last one.
    Upstream,
    /// The requested model group is not configured.
    UnknownModel,
    /// Every deployment was cooling or over its limits, and no fallback could take the request.
    NoDeploymentAvailable,
    /// The request's total timeout ran out.
    DeadlineExceeded,
    /// A stream failed after content had reached the caller (the commit point).
    StreamInterrupted,
}

/// The final error of a request.
///
/// Its [`kind`](RouterError::kind) is the requested group's last error kind (the status a
/// gateway answers with); its message says what happened in plain words and lists every
/// hop; it never contains a secret.
pub struct RouterError {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    reason: FailureReason,
    message: String,
    retry_after: Option<Duration>,
    report: Report,
    source: Option<ProviderError>,
}

impl RouterError {
    pub(crate) fn new(
        kind: ErrorKind,
        reason: FailureReason,
        message: String,
        retry_after: Option<Duration>,
        report: Report,
        source: Option<ProviderError>,
    ) -> Self {
        RouterError {
            inner: Box::new(Inner {
                kind,
                reason,
                message,
                retry_after,
                report,
                source,
            }),
        }
    }

    /// The error kind that decides the answer's status.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// Why the router gave up.
    pub fn reason(&self) -> FailureReason {
        self.inner.reason
    }

    /// When the caller may try again, for a `Retry-After` header.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// Every attempt made.
    pub fn report(&self) -> &Report {
        &self.inner.report
    }

    /// The last upstream error of the requested group (or of the last group tried).
    pub fn provider_error(&self) -> Option<&ProviderError> {
        self.inner.source.as_ref()
    }

    /// The message, safe to show to a client.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The upstream status of the error, if it came from one.
    pub fn status(&self) -> Option<u16> {
        self.inner.source.as_ref().and_then(ProviderError::status)
    }
}

impl fmt::Display for RouterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)
    }
}

impl fmt::Debug for RouterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouterError")
            .field("kind", &self.inner.kind)
            .field("reason", &self.inner.reason)
            .field("message", &self.inner.message)
            .field("retry_after", &self.inner.retry_after)
            .field("attempts", &self.inner.report.attempts.len())
            .finish()
    }
}

impl std::error::Error for RouterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
