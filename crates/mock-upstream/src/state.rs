//! Shared server state: the per-deployment scripts, the hit log and the counters.
//!
//! Locks here are std mutexes held for a few instructions and never across an `.await`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::behaviour::Step;

/// The deployment key that matches every deployment without a script of its own.
pub const WILDCARD: &str = "*";

/// One request the mock received, as recorded in the hit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Hit {
    /// Milliseconds since the server started.
    pub at_ms: u64,
    /// Id of the TCP connection it came on (1 for the first accepted connection).
    pub connection: u64,
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Path without the query, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Raw query string, e.g. `api-version=2024-10-21`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Deployment key: the body's `model`, or the Azure deployment name from the path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// Request headers, lower-case names; repeated headers joined with `, `. The values of
    /// `authorization`, `x-api-key` and `api-key` are redacted to `***` plus their last 4 chars.
    pub headers: BTreeMap<String, String>,
    /// Last 4 chars of the API key the request carried (from `authorization: Bearer`,
    /// `x-api-key` or `api-key`), so a test can tell which key was used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_last4: Option<String>,
    /// The JSON body; `null` when empty, a string when it was not valid JSON.
    pub body: Value,
    /// `type` tag of the behaviour applied (`"success"` when nothing was scripted).
    pub behaviour: String,
}

impl Hit {
    /// A header value (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

#[derive(Debug, Default)]
struct Scripts {
    queues: HashMap<String, VecDeque<Step>>,
    always: HashMap<String, Step>,
}

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct Shared {
    started: Instant,
    scripts: Mutex<Scripts>,
    hits: Mutex<VecDeque<Hit>>,
    max_hits: usize,
    connections: AtomicU64,
    ids: AtomicU64,
    pub(crate) shutdown: CancellationToken,
}

impl Shared {
    pub(crate) fn new(shutdown: CancellationToken, max_hits: usize) -> Self {
        Self {
            started: Instant::now(),
            scripts: Mutex::default(),
            hits: Mutex::default(),
            max_hits,
            connections: AtomicU64::new(0),
            ids: AtomicU64::new(0),
            shutdown,
        }
    }

    /// Counts an accepted connection and returns its id (from 1).
    pub(crate) fn connection_accepted(&self) -> u64 {
        self.connections.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn connections_accepted(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    pub(crate) fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A fresh pseudo-random id of `len` base-62 chars, unique within this process.
    pub(crate) fn new_id(&self, len: usize) -> String {
        const ALPHABET: &[u8; 62] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut seed = self.ids.fetch_add(1, Ordering::Relaxed)
            ^ (std::process::id() as u64).rotate_left(32)
            ^ self.started.elapsed().as_nanos() as u64;
        let mut out = String::with_capacity(len);
        for _ in 0..len {
            seed = splitmix64(seed);
            out.push(char::from(ALPHABET[(seed % 62) as usize]));
        }
        out
    }

    fn scripts(&self) -> MutexGuard<'_, Scripts> {
        // A panic while holding this lock leaves plain data behind, still consistent.
        self.scripts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn hit_log(&self) -> MutexGuard<'_, VecDeque<Hit>> {
        self.hits.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn enqueue(&self, deployment: String, steps: impl IntoIterator<Item = Step>) {
        self.scripts()
            .queues
            .entry(deployment)
            .or_default()
            .extend(steps);
    }

    pub(crate) fn set_always(&self, deployment: String, step: Option<Step>) {
        let mut scripts = self.scripts();
        match step {
            Some(step) => {
                scripts.always.insert(deployment, step);
            }
            None => {
                scripts.always.remove(&deployment);
            }
        }
    }

    pub(crate) fn queued(&self, deployment: &str) -> usize {
        self.scripts()
            .queues
            .get(deployment)
            .map_or(0, VecDeque::len)
    }

    pub(crate) fn queue_lengths(&self) -> BTreeMap<String, usize> {
        self.scripts()
            .queues
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(k, q)| (k.clone(), q.len()))
            .collect()
    }

    pub(crate) fn known_deployments(&self) -> Vec<String> {
        let scripts = self.scripts();
        let mut names: Vec<String> = scripts
            .queues
            .keys()
            .chain(scripts.always.keys())
            .filter(|k| k.as_str() != WILDCARD)
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The step for the next request to `deployment`: its queue, the wildcard queue, its
    /// `always`, the wildcard `always`, in that order; `None` means the default success.
    pub(crate) fn next_step(&self, deployment: &str) -> Option<Step> {
        let mut scripts = self.scripts();
        for key in [deployment, WILDCARD] {
            if let Some(step) = scripts.queues.get_mut(key).and_then(VecDeque::pop_front) {
                return Some(step);
            }
        }
        [deployment, WILDCARD]
            .into_iter()
            .find_map(|key| scripts.always.get(key).cloned())
    }

    pub(crate) fn reset(&self) {
        *self.scripts() = Scripts::default();
        self.hit_log().clear();
    }

    /// Appends to the hit log, dropping the oldest hit when it is full.
    pub(crate) fn record(&self, hit: Hit) {
        if self.max_hits == 0 {
            return;
        }
        let mut log = self.hit_log();
        if log.len() == self.max_hits {
            log.pop_front();
        }
        log.push_back(hit);
    }

    pub(crate) fn hits(&self) -> Vec<Hit> {
        self.hit_log().iter().cloned().collect()
    }

    pub(crate) fn hit_count(&self) -> usize {
        self.hit_log().len()
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Redacts a secret header value to `***` plus its last 4 chars, keeping a `Bearer ` prefix.
pub(crate) fn redact(value: &str) -> (String, String) {
    let (prefix, secret) = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => {
            (value.len() - rest.len(), rest)
        }
        _ => (0, value),
    };
    let last4: String = {
        let chars: Vec<char> = secret.chars().collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    };
    (format!("{}***{last4}", &value[..prefix]), last4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::behaviour::Behaviour;

    #[test]
    fn redaction_keeps_only_the_last_four_chars() {
        assert_eq!(
            redact("Bearer sk-test-key-1234"),
            ("Bearer ***1234".to_owned(), "1234".to_owned())
        );
        assert_eq!(redact("abc"), ("***abc".to_owned(), "abc".to_owned()));
    }

    #[test]
    fn queues_come_before_always_and_exact_keys_before_the_wildcard() {
        let shared = Shared::new(CancellationToken::new(), 10);
        shared.set_always("*".into(), Some(Behaviour::status(500).into()));
        shared.enqueue("*".into(), [Behaviour::status(503).into()]);
        shared.enqueue("a".into(), [Behaviour::status(429).into()]);
        let kinds: Vec<u16> = (0..4)
            .map(|_| match shared.next_step("a").map(|s| s.behaviour) {
                Some(Behaviour::Status { status, .. }) => status,
                _ => 0,
            })
            .collect();
        assert_eq!(kinds, [429, 503, 500, 500]);
        shared.reset();
        assert_eq!(shared.next_step("a"), None);
    }

    #[test]
    fn the_hit_log_keeps_the_newest_hits() {
        let shared = Shared::new(CancellationToken::new(), 2);
        for at_ms in 0..3 {
            shared.record(Hit {
                at_ms,
                connection: 1,
                method: "POST".into(),
                path: "/v1/chat/completions".into(),
                query: None,
                deployment: None,
                headers: BTreeMap::new(),
                api_key_last4: None,
                body: Value::Null,
                behaviour: "success".into(),
            });
        }
        let kept: Vec<u64> = shared.hits().iter().map(|h| h.at_ms).collect();
        assert_eq!(kept, [1, 2]);
    }

    #[test]
    fn ids_differ() {
        let shared = Shared::new(CancellationToken::new(), 10);
        let a = shared.new_id(24);
        assert_eq!(a.len(), 24);
        assert_ne!(a, shared.new_id(24));
    }
}
