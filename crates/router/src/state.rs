//! Deployment state that may be shared between router instances: cooldowns, failure
//! windows and usage. The `StateStore` trait, and the in-memory store used by default.

use std::{
    num::NonZeroU32,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    state::{InMemoryState, NotKeyed},
};
use retry_core::{CooldownChange, CooldownConfig, DeploymentHealth, FailureContext};

/// Names one deployment to a [`StateStore`]: its position in the router (for array
/// lookups) and its stable id (for shared keys).
#[derive(Debug, Clone, Copy)]
pub struct DeploymentKey<'a> {
    /// Index of the deployment in the order given to [`StateStore::register`].
    pub index: usize,
    /// The deployment's id.
    pub id: &'a str,
}

/// What a store needs to know about a deployment up front.
#[derive(Debug, Clone)]
pub struct DeploymentLimits {
    /// The deployment's id.
    pub id: Arc<str>,
    /// Requests per minute, if limited.
    pub rpm: Option<u32>,
    /// Tokens per minute, if limited.
    pub tpm: Option<u64>,
}

/// Where the router keeps deployment health and usage.
///
/// Times are [`Duration`]s since the Unix epoch as the router's clock sees them (the
/// router derives them from tokio's clock, so paused-time tests stay exact).
///
/// The methods are synchronous on purpose: they sit on the request path, so every read
/// must be served from local memory. A store shared between instances (Redis) keeps a
/// local copy and replicates in the background; it never makes a request wait on the
/// network.
pub trait StateStore: Send + Sync + 'static {
    /// Called once by the router's `build()` with every deployment, in index order.
    fn register(&self, deployments: &[DeploymentLimits]);

    /// When the deployment's cooldown ends, if it is cooling at `now`.
    fn cooling_until(&self, d: DeploymentKey<'_>, now: Duration) -> Option<Duration>;

    /// Records a failure; may start or extend a cooldown.
    fn record_failure(
        &self,
        d: DeploymentKey<'_>,
        now: Duration,
        ctx: FailureContext,
        cfg: &CooldownConfig,
    ) -> CooldownChange;

    /// Records a success (resets cooldown escalation).
    fn record_success(&self, d: DeploymentKey<'_>, now: Duration);

    /// Takes one request from the deployment's rpm limit, or says how long until one is free.
    fn try_acquire_request(&self, d: DeploymentKey<'_>, now: Duration) -> Result<(), Duration>;

    /// Whether the deployment's tpm limit has tokens left, or how long until it has.
    fn token_capacity(&self, d: DeploymentKey<'_>, now: Duration) -> Result<(), Duration>;

    /// Records tokens a response used (the tpm bucket may go into debt).
    fn record_tokens(&self, d: DeploymentKey<'_>, now: Duration, tokens: u64);

    /// Tokens used in the current minute, for `usage-based-routing`.
    fn tokens_used(&self, d: DeploymentKey<'_>, now: Duration) -> u64;
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock>;

struct Entry {
    /// Cooldown end in microseconds since the epoch; 0 when not cooling. Read lock-free.
    cooling_until_us: AtomicU64,
    /// Set while the health record has escalation to reset, so successes skip the lock.
    escalated: AtomicBool,
    health: Mutex<DeploymentHealth>,
    rpm: Option<Limiter>,
    /// Whether the deployment has a tpm limit. Without one the token bucket never refuses,
    /// so the check that every selection makes for every deployment skips its lock.
    tpm_limited: bool,
    tokens: Mutex<TokenUsage>,
}

/// The default store: everything in this process.
#[derive(Default)]
pub struct InMemoryStore {
    entries: OnceLock<Box<[Entry]>>,
}

impl InMemoryStore {
    /// An empty store; the router registers its deployments.
    pub fn new() -> Self {
        Self::default()
    }

    fn entry(&self, d: DeploymentKey<'_>) -> Option<&Entry> {
        self.entries.get().and_then(|e| e.get(d.index))
    }
}

impl std::fmt::Debug for InMemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryStore")
            .field("deployments", &self.entries.get().map_or(0, |e| e.len()))
            .finish()
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl StateStore for InMemoryStore {
    fn register(&self, deployments: &[DeploymentLimits]) {
        let entries = deployments
            .iter()
            .map(|d| Entry {
                cooling_until_us: AtomicU64::new(0),
                escalated: AtomicBool::new(false),
                health: Mutex::new(DeploymentHealth::new()),
                rpm: d
                    .rpm
                    .and_then(NonZeroU32::new)
                    .map(|n| RateLimiter::direct(Quota::per_minute(n))),
                tpm_limited: d.tpm.is_some(),
                tokens: Mutex::new(TokenUsage::new(d.tpm)),
            })
            .collect();
        if self.entries.set(entries).is_err() {
            tracing::warn!(
                "an InMemoryStore was registered twice; it keeps the first router's deployments"
            );
        }
    }

    fn cooling_until(&self, d: DeploymentKey<'_>, now: Duration) -> Option<Duration> {
        let until = self.entry(d)?.cooling_until_us.load(Ordering::Acquire);
        (until > micros(now)).then(|| Duration::from_micros(until))
    }

    fn record_failure(
        &self,
        d: DeploymentKey<'_>,
        now: Duration,
        ctx: FailureContext,
        cfg: &CooldownConfig,
    ) -> CooldownChange {
        let Some(entry) = self.entry(d) else {
            return CooldownChange::None;
        };
        let mut health = entry.health.lock().unwrap_or_else(|p| p.into_inner());
        let change = health.record_failure(now, ctx, cfg);
        match change {
            CooldownChange::Started { until, .. } | CooldownChange::Extended { until } => {
                entry
                    .cooling_until_us
                    .store(micros(until), Ordering::Release);
                entry.escalated.store(true, Ordering::Relaxed);
            }
            CooldownChange::None => {}
        }
        change
    }

    fn record_success(&self, d: DeploymentKey<'_>, _now: Duration) {
        let Some(entry) = self.entry(d) else { return };
        if entry.escalated.swap(false, Ordering::Relaxed) {
            entry
                .health
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .record_success();
        }
    }

    fn try_acquire_request(&self, d: DeploymentKey<'_>, _now: Duration) -> Result<(), Duration> {
        match self.entry(d).and_then(|e| e.rpm.as_ref()) {
            None => Ok(()),
            Some(limiter) => limiter
                .check()
                .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now())),
        }
    }

    fn token_capacity(&self, d: DeploymentKey<'_>, now: Duration) -> Result<(), Duration> {
        match self.entry(d) {
            None => Ok(()),
            Some(e) if !e.tpm_limited => Ok(()),
            Some(e) => e
                .tokens
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .capacity(now),
        }
    }

    fn record_tokens(&self, d: DeploymentKey<'_>, now: Duration, tokens: u64) {
        if let Some(e) = self.entry(d) {
            e.tokens
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .consume(now, tokens);
        }
    }

    fn tokens_used(&self, d: DeploymentKey<'_>, now: Duration) -> u64 {
        self.entry(d).map_or(0, |e| {
            e.tokens
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .used_this_minute(now)
        })
    }
}

/// Token accounting: a bucket that refills continuously to `tpm` per minute and may go
/// into debt (a response's size is known only after the fact), plus the count of the
/// current minute for usage-based routing.
#[derive(Debug, Clone)]
pub struct TokenUsage {
    tpm: Option<u64>,
    level: f64,
    last: Duration,
    minute: u64,
    used: u64,
}

impl TokenUsage {
    /// Accounting for a deployment with an optional tpm limit.
    pub fn new(tpm: Option<u64>) -> Self {
        TokenUsage {
            tpm,
            level: tpm.unwrap_or(0) as f64,
            last: Duration::ZERO,
            minute: 0,
            used: 0,
        }
    }

    fn refill(&mut self, now: Duration) {
        if let Some(tpm) = self.tpm {
            let elapsed = now.saturating_sub(self.last).as_secs_f64();
            self.level = (self.level + elapsed * tpm as f64 / 60.0).min(tpm as f64);
        }
        self.last = self.last.max(now);
    }

    /// `Ok` while the bucket has tokens, else how long until it has.
    pub fn capacity(&mut self, now: Duration) -> Result<(), Duration> {
        let Some(tpm) = self.tpm else { return Ok(()) };
        self.refill(now);
        if self.level > 0.0 {
            Ok(())
        } else {
            let per_sec = tpm as f64 / 60.0;
            Err(Duration::try_from_secs_f64((-self.level + 1.0) / per_sec)
                .unwrap_or(Duration::from_secs(60)))
        }
    }

    /// Takes `tokens` from the bucket, into debt if need be.
    pub fn consume(&mut self, now: Duration, tokens: u64) {
        self.refill(now);
        self.level -= tokens as f64;
        let minute = now.as_secs() / 60;
        if minute != self.minute {
            self.minute = minute;
            self.used = 0;
        }
        self.used += tokens;
    }

    /// Tokens used in the minute of `now`.
    pub fn used_this_minute(&self, now: Duration) -> u64 {
        if now.as_secs() / 60 == self.minute {
            self.used
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_goes_into_debt_and_refills() {
        let s = Duration::from_secs;
        let mut t = TokenUsage::new(Some(600)); // 10 tokens a second
        assert!(t.capacity(s(0)).is_ok());
        t.consume(s(0), 700);
        let wait = t.capacity(s(0)).expect_err("in debt");
        assert!(wait > s(9) && wait < s(11), "{wait:?}");
        assert!(t.capacity(s(11)).is_ok());
        assert_eq!(t.used_this_minute(s(11)), 700);
        assert_eq!(t.used_this_minute(s(61)), 0);
    }

    #[test]
    fn rpm_limit_and_cooldowns() {
        let store = InMemoryStore::new();
        store.register(&[DeploymentLimits {
            id: "a".into(),
            rpm: Some(2),
            tpm: None,
        }]);
        let k = DeploymentKey { index: 0, id: "a" };
        let now = Duration::from_secs(1000);
        assert!(store.try_acquire_request(k, now).is_ok());
        assert!(store.try_acquire_request(k, now).is_ok());
        let wait = store
            .try_acquire_request(k, now)
            .expect_err("third request in a minute");
        assert!(wait > Duration::from_secs(20), "{wait:?}");

        let cfg = CooldownConfig::default();
        let ctx = FailureContext {
            kind: retry_core::ErrorKind::Authentication,
            hint: None,
            has_available_sibling: true,
            hint_beyond_wait: false,
            may_cool: true,
        };
        assert!(matches!(
            store.record_failure(k, now, ctx, &cfg),
            CooldownChange::Started { .. }
        ));
        assert_eq!(
            store.cooling_until(k, now),
            Some(now + Duration::from_secs(5))
        );
        assert_eq!(store.cooling_until(k, now + Duration::from_secs(5)), None);
    }
}
