//! Deployments: one configured upstream each, with its limits and live figures.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, AtomicU64, Ordering},
    },
    time::Duration,
};

use provider::Provider;
use retry_core::CooldownConfig;

/// What a caller configures for one deployment (the reference's `model_list` entry).
///
/// ```
/// # use std::{sync::Arc, time::Duration};
/// # use {mock as switchyard_mock, provider as switchyard_provider};
/// # use switchyard_router::DeploymentConfig;
/// # fn provider() -> Arc<dyn switchyard_provider::Provider> { Arc::new(switchyard_mock::MockProvider::new("m")) }
/// let d = DeploymentConfig::new("gpt-4o", provider())
///     .id("gpt-4o-eastus")
///     .rpm(600)
///     .timeout(Duration::from_secs(30));
/// # let _ = d;
/// ```
#[derive(Clone)]
pub struct DeploymentConfig {
    pub(crate) model_name: String,
    pub(crate) provider: Arc<dyn Provider>,
    pub(crate) id: Option<String>,
    pub(crate) weight: Option<u32>,
    pub(crate) rpm: Option<u32>,
    pub(crate) tpm: Option<u64>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) stream_timeout: Option<Duration>,
    pub(crate) num_retries: Option<u32>,
    pub(crate) cooldown_time: Option<Duration>,
}

impl std::fmt::Debug for DeploymentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeploymentConfig")
            .field("model_name", &self.model_name)
            .field("provider", &self.provider.name())
            .field("model", &self.provider.model())
            .field("id", &self.id)
            .field("weight", &self.weight)
            .field("rpm", &self.rpm)
            .field("tpm", &self.tpm)
            .finish_non_exhaustive()
    }
}

impl DeploymentConfig {
    /// A deployment of model group `model_name` served by `provider`.
    pub fn new(model_name: impl Into<String>, provider: Arc<dyn Provider>) -> Self {
        DeploymentConfig {
            model_name: model_name.into(),
            provider,
            id: None,
            weight: None,
            rpm: None,
            tpm: None,
            timeout: None,
            stream_timeout: None,
            num_retries: None,
            cooldown_time: None,
        }
    }

    /// A stable id (the reference's `model_info.id`); default `{model_name}-{n}`.
    #[must_use]
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Relative share of traffic under `simple-shuffle`.
    #[must_use]
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = Some(weight);
        self
    }

    /// Requests per minute this deployment may take.
    #[must_use]
    pub fn rpm(mut self, rpm: u32) -> Self {
        self.rpm = Some(rpm);
        self
    }

    /// Tokens per minute this deployment may take.
    #[must_use]
    pub fn tpm(mut self, tpm: u64) -> Self {
        self.tpm = Some(tpm);
        self
    }

    /// Limit for one attempt on this deployment.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Limit until the first chunk and between chunks of a streamed attempt.
    #[must_use]
    pub fn stream_timeout(mut self, timeout: Duration) -> Self {
        self.stream_timeout = Some(timeout);
        self
    }

    /// Retries for failures on this deployment, below policies and above the router's count.
    #[must_use]
    pub fn num_retries(mut self, n: u32) -> Self {
        self.num_retries = Some(n);
        self
    }

    /// Cooldown length for this deployment, instead of the router's.
    #[must_use]
    pub fn cooldown_time(mut self, t: Duration) -> Self {
        self.cooldown_time = Some(t);
        self
    }
}

/// A deployment as the router runs it.
pub(crate) struct Deployment {
    pub(crate) id: Arc<str>,
    pub(crate) group: Arc<str>,
    pub(crate) index: usize,
    pub(crate) provider: Arc<dyn Provider>,
    /// Weight for `simple-shuffle` after the weight → rpm → tpm → uniform rule.
    pub(crate) pick_weight: u64,
    pub(crate) rpm: Option<u32>,
    pub(crate) tpm: Option<u64>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) stream_timeout: Option<Duration>,
    pub(crate) num_retries: Option<u32>,
    pub(crate) cooldown: CooldownConfig,
    pub(crate) in_flight: AtomicU32,
    /// Smoothed latency of plain calls, in microseconds; 0 until measured.
    pub(crate) latency_us: AtomicU64,
    /// Smoothed time to first token of streams, in microseconds; 0 until measured.
    pub(crate) ttft_us: AtomicU64,
}

impl Deployment {
    pub(crate) fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Latency figure for routing: time to first token for streams when known.
    pub(crate) fn latency(&self, streaming: bool) -> u64 {
        let ttft = self.ttft_us.load(Ordering::Relaxed);
        if streaming && ttft != 0 {
            ttft
        } else {
            self.latency_us.load(Ordering::Relaxed)
        }
    }

    pub(crate) fn observe_latency(&self, latency: Duration, streaming: bool) {
        let cell = if streaming {
            &self.ttft_us
        } else {
            &self.latency_us
        };
        let sample = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        // An exponentially weighted mean (α = 1/8): cheap, lock-free, and forgets old figures.
        let old = cell.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            old - old / 8 + sample / 8
        };
        cell.store(new.max(1), Ordering::Relaxed);
    }
}

/// Counts a request in flight on a deployment for as long as it lives, so that counters
/// stay right however the request ends (success, error, or a dropped future).
pub(crate) struct InFlight(Arc<Deployment>);

impl InFlight {
    pub(crate) fn new(d: Arc<Deployment>) -> Self {
        d.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(d)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
