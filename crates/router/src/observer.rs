//! Observers: the reference's `CustomLogger`, called at every step of a request.

use std::{panic::AssertUnwindSafe, sync::Arc, time::Duration};

use provider::ProviderError;
use retry_core::{CooldownChange, Decision, FallbackRoute, StopReason, Target};

use crate::{Report, RouterError};

/// Called at every step of every request.
///
/// Calls happen inline on the request path, so implementations must be quick and must not
/// block: hand anything slow (network, disk) to a channel. A panicking observer is caught
/// and logged; it never breaks a request.
///
/// ```
/// use switchyard_router::{AttemptFailure, Observer, SuccessEvent};
///
/// struct RetryLogger;
/// impl Observer for RetryLogger {
///     fn on_attempt_failure(&self, e: &AttemptFailure<'_>) {
///         eprintln!("{} failed on {}: {} -> {:?}", e.group, e.deployment, e.error, e.decision);
///     }
///     fn on_success(&self, e: &SuccessEvent<'_>) {
///         eprintln!("succeeded after {} retries", e.report.retries);
///     }
/// }
/// ```
pub trait Observer: Send + Sync + 'static {
    /// An attempt is about to be made.
    fn on_attempt_start(&self, _event: &AttemptStart<'_>) {}
    /// An attempt failed; the event carries the decision taken and any cooldown.
    fn on_attempt_failure(&self, _event: &AttemptFailure<'_>) {}
    /// A retry was decided, after the given wait.
    fn on_retry(&self, _event: &RetryEvent<'_>) {}
    /// The request moved to a fallback group.
    fn on_fallback(&self, _event: &FallbackEvent<'_>) {}
    /// The request succeeded (for streams: the stream ended cleanly).
    fn on_success(&self, _event: &SuccessEvent<'_>) {}
    /// The request failed for good.
    fn on_failure(&self, _event: &FailureEvent<'_>) {}
}

/// An attempt is starting.
#[derive(Debug)]
#[non_exhaustive]
pub struct AttemptStart<'a> {
    /// The request id.
    pub request_id: &'a str,
    /// The model group.
    pub group: &'a str,
    /// The deployment id.
    pub deployment: &'a str,
    /// 1-based attempt number across the whole request.
    pub attempt: u32,
    /// Whether this is a streamed request.
    pub streaming: bool,
    /// The request's metadata.
    pub metadata: Option<&'a serde_json::Value>,
}

/// An attempt failed.
#[derive(Debug)]
#[non_exhaustive]
pub struct AttemptFailure<'a> {
    /// The request id.
    pub request_id: &'a str,
    /// The model group.
    pub group: &'a str,
    /// The deployment id.
    pub deployment: &'a str,
    /// The classified failure.
    pub error: &'a ProviderError,
    /// What the router decided to do next.
    pub decision: &'a Decision,
    /// What the failure did to the deployment's cooldown.
    pub cooldown: CooldownChange,
    /// How long the attempt took.
    pub latency: Duration,
    /// The request's metadata.
    pub metadata: Option<&'a serde_json::Value>,
}

/// A retry was decided.
#[derive(Debug)]
#[non_exhaustive]
pub struct RetryEvent<'a> {
    /// The request id.
    pub request_id: &'a str,
    /// The model group retried in.
    pub group: &'a str,
    /// 1-based retry number in the group.
    pub retry_number: u32,
    /// The wait before the retry.
    pub wait: Duration,
    /// Where the retry may go.
    pub target: Target,
    /// The request's metadata.
    pub metadata: Option<&'a serde_json::Value>,
}

/// The request moved to another model group.
#[derive(Debug)]
#[non_exhaustive]
pub struct FallbackEvent<'a> {
    /// The request id.
    pub request_id: &'a str,
    /// The group left.
    pub from: &'a str,
    /// The group entered.
    pub to: &'a str,
    /// The list followed.
    pub list: FallbackRoute,
    /// Why the group was left.
    pub reason: StopReason,
    /// The request's metadata.
    pub metadata: Option<&'a serde_json::Value>,
}

/// The request succeeded.
#[derive(Debug)]
#[non_exhaustive]
pub struct SuccessEvent<'a> {
    /// The request id.
    pub request_id: &'a str,
    /// Every attempt made.
    pub report: &'a Report,
    /// The request's metadata.
    pub metadata: Option<&'a serde_json::Value>,
}

/// The request failed for good.
#[derive(Debug)]
#[non_exhaustive]
pub struct FailureEvent<'a> {
    /// The request id.
    pub request_id: &'a str,
    /// The final error, with its report.
    pub error: &'a RouterError,
    /// The request's metadata.
    pub metadata: Option<&'a serde_json::Value>,
}

/// Calls every observer, catching panics so an observer can never break a request.
pub(crate) fn notify(observers: &[Arc<dyn Observer>], f: impl Fn(&dyn Observer)) {
    for o in observers {
        if std::panic::catch_unwind(AssertUnwindSafe(|| f(o.as_ref()))).is_err() {
            tracing::error!("an observer panicked; the request goes on without it");
        }
    }
}
