//! [`RedisStore`]: the router's `StateStore`, served from a local copy that a background task
//! keeps in step with Redis.

use std::{
    fmt::Write as _,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use retry_core::{CooldownChange, CooldownConfig, FailureContext};
use router::state::{DeploymentKey, DeploymentLimits, StateStore};
use tokio::sync::{Notify, mpsc};

use crate::{
    config::{RedisConfig, RedisError},
    health::{Health, Publish},
    keys::Keys,
    sync::{self, Event},
    window::Counter,
};

/// The background task that keeps a [`RedisStore`] in step with Redis: a future for the
/// caller to spawn (libraries do not spawn). It runs until the store and every router holding
/// it are dropped, or until the caller aborts it; aborting loses at most one sync interval of
/// updates, which the other instances then never see.
#[must_use = "the store shares nothing until its sync task runs"]
pub struct SyncTask(Pin<Box<dyn Future<Output = ()> + Send + 'static>>);

impl Future for SyncTask {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl std::fmt::Debug for SyncTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncTask")
    }
}

/// A [`StateStore`] shared through Redis. See the crate docs for what is shared and how.
///
/// Cheap to share: the router holds it as `Arc<dyn StateStore>`, the caller keeps an `Arc`
/// for health and metrics.
pub struct RedisStore {
    pub(crate) inner: Arc<Inner>,
}

/// What the store and its background task share.
pub(crate) struct Inner {
    pub(crate) keys: Keys,
    pub(crate) target: String,
    /// Names this instance's members in the shared failure windows.
    pub(crate) instance: String,
    pub(crate) entries: OnceLock<Box<[Entry]>>,
    pub(crate) events: mpsc::Sender<Event>,
    /// Wakes the background task before its next tick (a new cooldown should not wait).
    pub(crate) wake: Notify,
    /// Shared with the companions: one connection, one health.
    pub(crate) stats: Arc<Stats>,
    /// Whether cooldowns and failure windows are synced (not for companions, which count
    /// usage only).
    pub(crate) cooldowns: bool,
    /// Stores synced by this store's task (see [`RedisStore::companion`]).
    pub(crate) companions: Mutex<Vec<Arc<Inner>>>,
    /// Numbers failures, so their members in the shared window are unique.
    seq: AtomicU64,
}

/// One deployment's local copy.
pub(crate) struct Entry {
    pub(crate) id: Arc<str>,
    rpm: Option<u64>,
    tpm: Option<u64>,
    /// Cooldown end in µs since the epoch (this instance's or another's, whichever is later);
    /// 0 when none. Read lock-free on every request.
    pub(crate) cooling_until_us: AtomicU64,
    /// Set while escalation may need a reset, so successes skip the lock.
    escalated: AtomicBool,
    pub(crate) health: Mutex<Health>,
    /// Requests per minute; only for deployments with an `rpm` limit.
    pub(crate) requests: Option<Mutex<Counter>>,
    /// Tokens per minute: for a router's deployments always, since `usage-based-routing`
    /// compares them by it; in a usage-only store, only under a `tpm` limit.
    pub(crate) tokens: Option<Mutex<Counter>>,
}

impl Entry {
    fn new(d: &DeploymentLimits, count_all_tokens: bool) -> Self {
        // A zero rpm means no limit, as in the in-memory store.
        let rpm = d.rpm.filter(|n| *n > 0).map(u64::from);
        Entry {
            id: d.id.clone(),
            rpm,
            tpm: d.tpm,
            cooling_until_us: AtomicU64::new(0),
            escalated: AtomicBool::new(false),
            health: Mutex::new(Health::default()),
            requests: rpm.map(|_| Mutex::new(Counter::default())),
            tokens: (count_all_tokens || d.tpm.is_some()).then(|| Mutex::new(Counter::default())),
        }
    }

    pub(crate) fn raise_cooling_until(&self, until: Duration) {
        self.cooling_until_us
            .fetch_max(micros(until), Ordering::AcqRel);
    }
}

/// Counters for health checks and metrics.
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) healthy: AtomicBool,
    pub(crate) push_ops: AtomicU64,
    pub(crate) pull_ops: AtomicU64,
    pub(crate) rounds: AtomicU64,
    pub(crate) failed_rounds: AtomicU64,
    pub(crate) outages: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) admitted: AtomicU64,
}

/// A snapshot of the store's counters: Redis health and load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisStats {
    /// Whether the last round trip to Redis succeeded.
    pub healthy: bool,
    /// Redis commands sent to write what requests changed (cooldowns, failures, usage).
    pub push_ops: u64,
    /// Redis commands sent to read what other instances wrote (a fixed number per sync round).
    pub pull_ops: u64,
    /// Sync rounds that reached Redis.
    pub rounds: u64,
    /// Sync rounds (and connection attempts) that failed.
    pub failed_rounds: u64,
    /// Outages so far (each one logged once).
    pub outages: u64,
    /// Cooldown and failure updates dropped because the queue to Redis was full.
    pub dropped: u64,
    /// Attempts the store admitted (calls to `try_acquire_request` that returned `Ok`; not
    /// counting companions): the denominator of "Redis commands per request".
    pub admitted: u64,
}

impl RedisStats {
    /// Every Redis command sent.
    pub fn ops_total(&self) -> u64 {
        self.push_ops + self.pull_ops
    }
}

impl RedisStore {
    /// Checks `config`, connects, and returns the store with the background task that keeps
    /// it in step with Redis. The caller spawns the task (and aborts it on shutdown); until it
    /// runs, the store works on local state alone.
    ///
    /// A bad URL, or a Redis that refuses the connection (wrong password, unknown database),
    /// is an error. A Redis that cannot be reached is not: the store starts on local state,
    /// logs one warning, and the task connects when Redis appears — the same as an outage
    /// later on, so a gateway restarted during a Redis outage still serves.
    pub async fn connect(config: RedisConfig) -> Result<(Arc<RedisStore>, SyncTask), RedisError> {
        let info = config.validate()?;
        let client =
            redis::Client::open(info).map_err(|e| RedisError::InvalidUrl(e.to_string()))?;
        let (events, receiver) = mpsc::channel(config.queue_capacity);
        let inner = Arc::new(Inner {
            keys: Keys::new(&config.key_prefix),
            target: config.describe(),
            instance: instance_id(),
            entries: OnceLock::new(),
            events,
            wake: Notify::new(),
            stats: Arc::default(),
            cooldowns: true,
            companions: Mutex::default(),
            seq: AtomicU64::new(0),
        });
        let conn = match sync::open(&client, config.timeout).await {
            Ok(conn) => {
                inner.stats.healthy.store(true, Ordering::Relaxed);
                tracing::info!(
                    "sharing cooldowns and usage through Redis at {} (key prefix `{}`)",
                    inner.target,
                    config.key_prefix
                );
                Some(conn)
            }
            Err(e) if sync::is_refusal(&e) => {
                return Err(RedisError::Refused {
                    target: inner.target.clone(),
                    reason: sync::describe(&e),
                });
            }
            Err(e) => {
                inner.stats.outages.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    "Redis at {} is unreachable ({}); starting on local state, cooldowns and usage \
                     are shared once it answers",
                    inner.target,
                    sync::describe(&e)
                );
                None
            }
        };
        let task = SyncTask(Box::pin(sync::run(
            inner.clone(),
            client,
            conn,
            receiver,
            config,
        )));
        Ok((Arc::new(RedisStore { inner }), task))
    }

    /// Another store, synced by this one's task over the same connection, for a second
    /// registration: the proxy's per-key limits (a store is registered once, by one router or
    /// one set of keys). It shares requests and tokens per minute only (nothing there fails or
    /// cools), keeps its keys under `key_prefix`, and has this store's health and counters.
    /// It stops being shared when this store and its task are gone.
    pub fn companion(&self, key_prefix: &str) -> Arc<RedisStore> {
        // Nothing is ever queued: a companion publishes no cooldowns or failures.
        let (events, _) = mpsc::channel(1);
        let inner = Arc::new(Inner {
            keys: Keys::new(key_prefix),
            target: self.inner.target.clone(),
            instance: self.inner.instance.clone(),
            entries: OnceLock::new(),
            events,
            wake: Notify::new(),
            stats: self.inner.stats.clone(),
            cooldowns: false,
            companions: Mutex::default(),
            seq: AtomicU64::new(0),
        });
        lock(&self.inner.companions).push(inner.clone());
        Arc::new(RedisStore { inner })
    }

    /// Whether the last round trip to Redis succeeded. While it is false the instance works on
    /// its local copy: limits and cooldowns are per instance until Redis is back.
    pub fn redis_healthy(&self) -> bool {
        self.inner.stats.healthy.load(Ordering::Relaxed)
    }

    /// The store's counters.
    pub fn stats(&self) -> RedisStats {
        let s = &self.inner.stats;
        RedisStats {
            healthy: s.healthy.load(Ordering::Relaxed),
            push_ops: s.push_ops.load(Ordering::Relaxed),
            pull_ops: s.pull_ops.load(Ordering::Relaxed),
            rounds: s.rounds.load(Ordering::Relaxed),
            failed_rounds: s.failed_rounds.load(Ordering::Relaxed),
            outages: s.outages.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            admitted: s.admitted.load(Ordering::Relaxed),
        }
    }

    /// Appends the store's metrics in Prometheus text format: `switchyard_redis_up`,
    /// `switchyard_redis_ops_total{purpose}`, `switchyard_redis_sync_failures_total` and
    /// `switchyard_redis_dropped_updates_total`.
    pub fn render_metrics(&self, out: &mut String) {
        let s = self.stats();
        let _ = writeln!(
            out,
            "# HELP switchyard_redis_up 1 while the last round trip to Redis succeeded, 0 during an outage (the instance then works on local state).\n\
             # TYPE switchyard_redis_up gauge\n\
             switchyard_redis_up {}\n\
             # HELP switchyard_redis_ops_total Redis commands sent: push writes what requests changed, pull reads what other instances wrote.\n\
             # TYPE switchyard_redis_ops_total counter\n\
             switchyard_redis_ops_total{{purpose=\"push\"}} {}\n\
             switchyard_redis_ops_total{{purpose=\"pull\"}} {}\n\
             # HELP switchyard_redis_sync_failures_total Sync rounds and connection attempts that failed.\n\
             # TYPE switchyard_redis_sync_failures_total counter\n\
             switchyard_redis_sync_failures_total {}\n\
             # HELP switchyard_redis_dropped_updates_total Cooldown and failure updates dropped because the queue to Redis was full.\n\
             # TYPE switchyard_redis_dropped_updates_total counter\n\
             switchyard_redis_dropped_updates_total {}",
            u8::from(s.healthy),
            s.push_ops,
            s.pull_ops,
            s.failed_rounds,
            s.dropped
        );
    }

    fn entry(&self, d: DeploymentKey<'_>) -> Option<&Entry> {
        self.inner.entries.get().and_then(|e| e.get(d.index))
    }

    fn send(&self, event: Event, wake: bool) {
        match self.inner.events.try_send(event) {
            Ok(()) => {
                if wake {
                    self.inner.wake.notify_one();
                }
            }
            Err(_) => {
                // Full (Redis slow or down for a while) or the task is gone: the local copy
                // has the update; only the other instances miss it.
                self.inner.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("target", &self.inner.target)
            .field(
                "deployments",
                &self.inner.entries.get().map_or(0, |e| e.len()),
            )
            .field("healthy", &self.redis_healthy())
            .finish()
    }
}

pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn instance_id() -> String {
    use rand::{Rng, SeedableRng, rngs::StdRng};
    format!("{:016x}", StdRng::from_os_rng().random::<u64>())
}

impl StateStore for RedisStore {
    fn register(&self, deployments: &[DeploymentLimits]) {
        let entries = deployments
            .iter()
            .map(|d| Entry::new(d, self.inner.cooldowns))
            .collect();
        if self.inner.entries.set(entries).is_err() {
            tracing::warn!(
                "a RedisStore was registered twice; it keeps the first router's deployments"
            );
        }
        self.inner.wake.notify_one();
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
        let (change, publish) = {
            let mut health = lock(&entry.health);
            let (change, publish) =
                health.record_failure(now, ctx, cfg, self.cooling_until(d, now));
            if let CooldownChange::Started { until, .. } | CooldownChange::Extended { until } =
                change
            {
                entry.raise_cooling_until(until);
                entry.escalated.store(true, Ordering::Relaxed);
            }
            (change, publish)
        };
        match publish {
            Publish::Nothing => {}
            _ if !self.inner.cooldowns => {}
            Publish::Failure { at, window, keep } => self.send(
                Event::Failure {
                    index: d.index,
                    at,
                    window,
                    keep,
                    seq: self.inner.seq.fetch_add(1, Ordering::Relaxed),
                },
                false,
            ),
            Publish::Cooldown { until } => self.send(
                Event::Cooldown {
                    index: d.index,
                    until,
                },
                true,
            ),
        }
        change
    }

    fn record_success(&self, d: DeploymentKey<'_>, _now: Duration) {
        let Some(entry) = self.entry(d) else { return };
        if entry.escalated.swap(false, Ordering::Relaxed) {
            lock(&entry.health).record_success();
        }
    }

    fn try_acquire_request(&self, d: DeploymentKey<'_>, now: Duration) -> Result<(), Duration> {
        let Some(entry) = self.entry(d) else {
            return Ok(());
        };
        if let (Some(limit), Some(requests)) = (entry.rpm, &entry.requests) {
            lock(requests).try_take(now, limit, 1)?;
        }
        if self.inner.cooldowns {
            self.inner.stats.admitted.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn token_capacity(&self, d: DeploymentKey<'_>, now: Duration) -> Result<(), Duration> {
        match self.entry(d) {
            Some(Entry {
                tpm: Some(limit),
                tokens: Some(tokens),
                ..
            }) => lock(tokens).room(now, *limit, 1),
            _ => Ok(()),
        }
    }

    fn record_tokens(&self, d: DeploymentKey<'_>, now: Duration, tokens: u64) {
        if let Some(counter) = self.entry(d).and_then(|e| e.tokens.as_ref()) {
            lock(counter).add(now, tokens);
        }
    }

    fn tokens_used(&self, d: DeploymentKey<'_>, now: Duration) -> u64 {
        self.entry(d)
            .and_then(|e| e.tokens.as_ref())
            .map_or(0, |c| lock(c).used(now))
    }
}
