//! Per-request options: what one call may change about retries, fallbacks and time.

use std::{sync::Arc, time::Duration};

/// Options for one request (the reference's per-call `num_retries`, `timeout`, ...).
///
/// ```
/// # use std::time::Duration;
/// # use switchyard_router::RequestOptions;
/// let opts = RequestOptions::new().num_retries(5).timeout(Duration::from_secs(30));
/// # let _ = opts;
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RequestOptions {
    /// Retries for this request, above every policy; `Some(0)` disables retries.
    pub num_retries: Option<u32>,
    /// The **total** budget of the request: attempts, waits and fallbacks included.
    pub timeout: Option<Duration>,
    /// Fallback groups for this request, instead of the configured generic list.
    pub fallbacks: Option<Vec<String>>,
    /// No fallback of any list for this request.
    pub disable_fallbacks: bool,
    /// Passed to observers untouched.
    pub metadata: Option<Arc<serde_json::Value>>,
    /// The request id for logs and reports; generated when absent.
    pub request_id: Option<Arc<str>>,
}

impl RequestOptions {
    /// Options that change nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the request's retries (0 disables them).
    #[must_use]
    pub fn num_retries(mut self, n: u32) -> Self {
        self.num_retries = Some(n);
        self
    }

    /// Sets the total deadline of the request.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets this request's fallback groups.
    #[must_use]
    pub fn fallbacks<I, S>(mut self, groups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.fallbacks = Some(groups.into_iter().map(Into::into).collect());
        self
    }

    /// Turns fallbacks off for this request.
    #[must_use]
    pub fn disable_fallbacks(mut self) -> Self {
        self.disable_fallbacks = true;
        self
    }

    /// Attaches metadata for observers.
    #[must_use]
    pub fn metadata(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = Some(Arc::new(metadata));
        self
    }

    /// Sets the request id.
    #[must_use]
    pub fn request_id(mut self, id: impl Into<Arc<str>>) -> Self {
        self.request_id = Some(id.into());
        self
    }
}
