//! `CallContext`: what the router tells a provider about one attempt.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// Per-attempt context the router passes to every [`Provider`](crate::Provider) call.
///
/// Cheap to clone (the request id is shared). Fields are public for reading; build one with
/// [`CallContext::new`] and the `with_*` methods, which keeps adding fields non-breaking.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CallContext {
    /// The limit for this one attempt, already capped by the request deadline.
    ///
    /// The router enforces it with a tokio timeout around the call; a provider may also
    /// pass it to its HTTP client.
    pub attempt_timeout: Option<Duration>,
    /// When the whole request (all attempts, waits and fallbacks) must be finished.
    pub deadline: Option<Instant>,
    /// The request id, for upstream headers and logs (`x-request-id`).
    pub request_id: Arc<str>,
}

impl CallContext {
    /// A context with no timeout and no deadline.
    pub fn new(request_id: impl Into<Arc<str>>) -> Self {
        CallContext {
            attempt_timeout: None,
            deadline: None,
            request_id: request_id.into(),
        }
    }

    /// Sets the limit for this attempt.
    #[must_use]
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// Sets the request deadline.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// How long this attempt may still take, measured from now: the smaller of the attempt
    /// timeout and the time until the deadline (zero once the deadline has passed), or
    /// `None` when neither is set.
    ///
    /// This is what a provider hands to its HTTP client as a request timeout.
    pub fn time_left(&self) -> Option<Duration> {
        self.time_left_at(Instant::now())
    }

    /// [`CallContext::time_left`] measured from `now`.
    pub fn time_left_at(&self, now: Instant) -> Option<Duration> {
        let until_deadline = self.deadline.map(|d| d.saturating_duration_since(now));
        match (self.attempt_timeout, until_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl Default for CallContext {
    fn default() -> Self {
        CallContext::new("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_is_the_smaller_limit() {
        let now = Instant::now();
        let ctx = CallContext::new("r");
        assert_eq!(ctx.time_left_at(now), None);

        let ctx = ctx.with_attempt_timeout(Duration::from_secs(30));
        assert_eq!(ctx.time_left_at(now), Some(Duration::from_secs(30)));

        let ctx = ctx.with_deadline(now + Duration::from_secs(5));
        assert_eq!(ctx.time_left_at(now), Some(Duration::from_secs(5)));

        // A passed deadline leaves nothing, never a panic on the subtraction.
        assert_eq!(
            ctx.time_left_at(now + Duration::from_secs(9)),
            Some(Duration::ZERO)
        );
    }
}
