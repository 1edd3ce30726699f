//! From a loaded [`Config`] to a running gateway's state: deployments, router, auth, metrics.
//!
//! The proxy never names a concrete provider: the binary passes a [`ProviderFactory`]
//! that turns each configured deployment into an `Arc<dyn Provider>`.

use std::sync::Arc;

use provider::Provider;
use router::{DeploymentConfig as RouterDeployment, Observer, Router, RoutingStrategy, StateStore};
use secrecy::SecretString;

use crate::{
    config::{self, Config},
    http::{
        AppState,
        auth::{ApiKey, Auth},
        metrics::Metrics,
    },
};

/// Builds providers for configured deployments.
pub trait ProviderFactory {
    /// A provider for `deployment`, or a message that says what is wrong with it.
    fn build(&self, deployment: &config::DeploymentConfig) -> Result<Arc<dyn Provider>, String>;
}

/// Why the gateway could not be assembled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WiringError {
    /// A provider could not be built.
    #[error("deployment `{id}` (model_name `{group}`): {message}")]
    Provider {
        /// The deployment id.
        id: String,
        /// Its model group.
        group: String,
        /// What is wrong.
        message: String,
    },
    /// The router refused the settings.
    #[error("router settings: {0}")]
    Router(#[from] router::BuildError),
}

/// Optional parts the caller may add: observers and shared state stores.
#[derive(Default)]
pub struct Extras {
    /// More observers, after the metrics observer.
    pub observers: Vec<Arc<dyn Observer>>,
    /// Where cooldowns and usage live (default: in memory).
    pub state_store: Option<Arc<dyn StateStore>>,
    /// Where per-key rpm/tpm limits are counted (default: in memory); a store of its own, since
    /// each store is registered once (see [`Auth::share_limits`]).
    pub key_limits_store: Option<Arc<dyn StateStore>>,
}

fn strategy(s: config::RoutingStrategy) -> RoutingStrategy {
    match s {
        config::RoutingStrategy::LeastBusy => RoutingStrategy::LeastBusy,
        config::RoutingStrategy::LatencyBased => RoutingStrategy::LatencyBased,
        config::RoutingStrategy::UsageBased => RoutingStrategy::UsageBased,
        config::RoutingStrategy::PowerOfTwo => RoutingStrategy::PowerOfTwo,
        _ => RoutingStrategy::SimpleShuffle,
    }
}

/// Builds the router a config describes.
pub fn build_router(
    cfg: &Config,
    factory: &dyn ProviderFactory,
    extras: Extras,
    metrics: &Arc<Metrics>,
) -> Result<Router, WiringError> {
    let s = &cfg.router;
    let mut b = Router::builder()
        .routing_strategy(strategy(s.routing_strategy))
        .retry_after(s.retry_after)
        .max_retry_after(s.max_retry_after)
        .backoff(s.backoff_initial, s.max_backoff)
        .max_fallbacks(s.max_fallbacks as usize)
        .cooldown(s.cooldown());
    if let Some(n) = s.num_retries {
        b = b.num_retries(n);
    }
    if let Some(t) = s.timeout {
        b = b.timeout(t);
    }
    if let Some(t) = s.stream_timeout {
        b = b.stream_timeout(t);
    }
    if let Some(p) = s.retry_policy {
        b = b.retry_policy(p);
    }
    for (group, p) in &s.model_group_retry_policy {
        b = b.model_group_retry_policy(group.clone(), *p);
    }
    if let Some(budget) = s.retry_budget {
        b = b.retry_budget(budget);
    }
    for (group, to) in &s.fallbacks.by_group {
        b = b.fallbacks(group.clone(), to.iter().cloned());
    }
    b = b.default_fallbacks(s.fallbacks.default.iter().cloned());
    for (list, set) in [
        (0, &s.context_window_fallbacks),
        (1, &s.content_policy_fallbacks),
    ] {
        let groups = set.by_group.iter().map(|(g, to)| (g.clone(), to.clone()));
        let default = (!set.default.is_empty()).then(|| ("*".to_owned(), set.default.clone()));
        for (group, to) in groups.chain(default) {
            b = if list == 0 {
                b.context_window_fallbacks(group, to)
            } else {
                b.content_policy_fallbacks(group, to)
            };
        }
    }
    for d in &cfg.deployments {
        let provider = factory.build(d).map_err(|message| WiringError::Provider {
            id: d.id.clone(),
            group: d.model_name.clone(),
            message,
        })?;
        let mut rd = RouterDeployment::new(d.model_name.clone(), provider).id(d.id.clone());
        if let Some(w) = d.weight {
            // Config weights may be fractional; the router takes integers.
            rd = rd.weight((w * 1000.0).round().clamp(0.0, f64::from(u32::MAX)) as u32);
        }
        if let Some(rpm) = d.rpm {
            rd = rd.rpm(u32::try_from(rpm).unwrap_or(u32::MAX));
        }
        if let Some(tpm) = d.tpm {
            rd = rd.tpm(tpm);
        }
        if let Some(t) = d.timeout {
            rd = rd.timeout(t);
        }
        if let Some(t) = d.stream_timeout {
            rd = rd.stream_timeout(t);
        }
        if let Some(n) = d.num_retries {
            rd = rd.num_retries(n);
        }
        if let Some(t) = d.cooldown_time {
            rd = rd.cooldown_time(t);
        }
        b = b.deployment(rd);
    }
    b = b.observer(metrics.clone());
    for o in extras.observers {
        b = b.observer(o);
    }
    if let Some(store) = extras.state_store {
        b = b.state_store(store);
    }
    Ok(b.build()?)
}

/// Builds the whole gateway state a config describes.
pub fn build_state(
    cfg: &Config,
    factory: &dyn ProviderFactory,
    mut extras: Extras,
) -> Result<Arc<AppState>, WiringError> {
    let metrics = Arc::new(Metrics::default());
    let key_limits = extras.key_limits_store.take();
    let router = build_router(cfg, factory, extras, &metrics)?;
    let keys = cfg
        .auth
        .keys
        .iter()
        .map(|k| ApiKey {
            name: k.name.clone(),
            key: SecretString::from(k.key.expose().to_owned()),
            models: (!k.models.is_empty()).then(|| k.models.clone()),
            rpm: k.rpm.map(|r| u32::try_from(r).unwrap_or(u32::MAX)),
            tpm: k.tpm,
        })
        .collect();
    let master = cfg
        .auth
        .master_key
        .as_ref()
        .map(|m| SecretString::from(m.expose().to_owned()));
    let mut auth = Auth::new(master, keys);
    if let Some(store) = key_limits {
        auth = auth.share_limits(store);
    }
    Ok(Arc::new(AppState::new(
        router,
        auth,
        metrics,
        cfg.server.max_body_bytes,
    )))
}
