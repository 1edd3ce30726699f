//! The attempt report that comes with every answer and every final error.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use retry_core::ErrorKind;

/// One attempt: which deployment, how it ended, how long it took and waited.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttemptRecord {
    /// The model group the attempt belonged to.
    pub group: Arc<str>,
    /// The deployment id.
    pub deployment: Arc<str>,
    /// The failure kind, `None` for the successful attempt.
    pub kind: Option<ErrorKind>,
    /// The upstream HTTP status, if there was one.
    pub status: Option<u16>,
    /// How long the attempt took (to the first content chunk for streams).
    pub latency: Duration,
    /// How long the router waited before it.
    pub wait_before: Duration,
}

/// What happened to a request: the reference's `retry_count`, and more.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// The request id.
    pub request_id: Arc<str>,
    /// Every attempt, in order.
    pub attempts: Vec<AttemptRecord>,
    /// Retries made (attempts inside a group after its first).
    pub retries: u32,
    /// Fallback groups moved to.
    pub fallbacks: u32,
    /// Retries the requested group allowed for the last failure seen (or for a server
    /// error, when nothing failed).
    pub max_retries: u32,
    /// The group that answered (or was tried last).
    pub final_group: Option<Arc<str>>,
    /// The deployment that answered (or was tried last).
    pub final_deployment: Option<Arc<str>>,
}

impl Report {
    /// A one-line summary of every hop, such as
    /// `gpt-4/a: rate_limit (429), gpt-4/b: timeout, gpt-3.5/c: ok`.
    pub fn hops(&self) -> String {
        let mut out = String::new();
        for (i, a) in self.attempts.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&a.group);
            out.push('/');
            out.push_str(&a.deployment);
            out.push_str(": ");
            match a.kind {
                Some(kind) => out.push_str(kind.as_str()),
                None => out.push_str("ok"),
            }
            if let Some(status) = a.status {
                out.push_str(&format!(" ({status})"));
            }
        }
        out
    }

    /// Total time spent waiting between attempts.
    pub fn total_wait(&self) -> Duration {
        self.attempts.iter().map(|a| a.wait_before).sum()
    }
}

/// An answer and the report of how it was obtained.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Routed<T> {
    /// The answer.
    pub value: T,
    /// How it was obtained.
    pub report: Report,
    /// For a chat completion: the upstream's JSON body, when `value` was read from it as it
    /// stands ([`Provider::chat_with_body`](provider::Provider::chat_with_body)). The proxy
    /// forwards these bytes instead of writing `value` out again. `None` for embeddings, and
    /// for answers a provider translated or had to repair.
    pub upstream_body: Option<Bytes>,
}

impl<T> Routed<T> {
    /// The answer, without the report.
    pub fn into_inner(self) -> T {
        self.value
    }
}
