//! `RouterBuilder`: every router setting of the retries guide, validated in `build()`.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, AtomicU64},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use retry_core::{BackoffConfig, CooldownConfig, RetryBudget, RetryBudgetConfig, RetryPolicy};

use crate::{
    DeploymentConfig, Observer, Router, RoutingStrategy,
    deployment::Deployment,
    router::{Clock, Group, Inner, Settings},
    state::{DeploymentLimits, InMemoryStore, StateStore},
};

/// A setting that `build()` refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum BuildError {
    /// No deployment was given.
    #[error(
        "the model list is empty: add at least one deployment with `RouterBuilder::deployment`"
    )]
    NoDeployments,
    /// Two deployments share an id.
    #[error("deployment id `{0}` is used twice: give each deployment a unique id")]
    DuplicateId(String),
    /// A fallback list names a group that has no deployment as a group to fall back to.
    #[error(
        "{list} for `{from}` names `{to}`, which is not a model group: add a deployment named `{to}` or remove it from the list"
    )]
    UnknownFallback {
        /// Which list.
        list: &'static str,
        /// The group whose list it is.
        from: String,
        /// The unknown group.
        to: String,
    },
    /// A fallback list is given for a group that has no deployment: no request could use it.
    #[error(
        "{list} has an entry for `{from}`, which is not a model group: add a deployment named `{from}` or remove the entry"
    )]
    UnknownFallbackSource {
        /// Which list.
        list: &'static str,
        /// The unknown group the entry is for.
        from: String,
    },
    /// A group falls back to itself.
    #[error("{list} for `{group}` names `{group}` itself: a group cannot fall back to itself")]
    SelfFallback {
        /// Which list.
        list: &'static str,
        /// The group.
        group: String,
    },
    /// A retry policy names a group that has no deployment.
    #[error("model_group_retry_policy names `{0}`, which is not a model group")]
    UnknownPolicyGroup(String),
    /// Every deployment of a group has weight 0.
    #[error(
        "every deployment of `{0}` has weight 0, so none could ever be picked: give one a positive weight"
    )]
    ZeroTotalWeight(String),
    /// A setting is out of range.
    #[error("{setting} is invalid: {why}")]
    Invalid {
        /// The setting.
        setting: &'static str,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// Builds a [`Router`]. Every setting of the retries guide has a method here.
#[must_use]
pub struct RouterBuilder {
    deployments: Vec<DeploymentConfig>,
    num_retries: Option<u32>,
    backoff: BackoffConfig,
    retry_policy: Option<RetryPolicy>,
    model_group_retry_policy: HashMap<String, RetryPolicy>,
    fallbacks: HashMap<String, Vec<String>>,
    context_window_fallbacks: HashMap<String, Vec<String>>,
    content_policy_fallbacks: HashMap<String, Vec<String>>,
    default_fallbacks: Vec<String>,
    max_fallbacks: usize,
    cooldown: CooldownConfig,
    timeout: Option<Duration>,
    stream_timeout: Option<Duration>,
    strategy: RoutingStrategy,
    retry_budget: Option<RetryBudgetConfig>,
    state: Option<Arc<dyn StateStore>>,
    observers: Vec<Arc<dyn Observer>>,
    seed: Option<u64>,
}

impl Default for RouterBuilder {
    fn default() -> Self {
        RouterBuilder {
            deployments: Vec::new(),
            num_retries: None,
            backoff: BackoffConfig::default(),
            retry_policy: None,
            model_group_retry_policy: HashMap::new(),
            fallbacks: HashMap::new(),
            context_window_fallbacks: HashMap::new(),
            content_policy_fallbacks: HashMap::new(),
            default_fallbacks: Vec::new(),
            max_fallbacks: 5,
            cooldown: CooldownConfig::default(),
            timeout: None,
            stream_timeout: None,
            strategy: RoutingStrategy::default(),
            retry_budget: None,
            state: None,
            observers: Vec::new(),
            seed: None,
        }
    }
}

fn list<I, S>(groups: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    groups.into_iter().map(Into::into).collect()
}

impl RouterBuilder {
    /// Adds one deployment (an entry of the reference's `model_list`).
    pub fn deployment(mut self, d: DeploymentConfig) -> Self {
        self.deployments.push(d);
        self
    }

    /// Adds several deployments.
    pub fn model_list(mut self, ds: impl IntoIterator<Item = DeploymentConfig>) -> Self {
        self.deployments.extend(ds);
        self
    }

    /// Retries for every group, below policies and deployment counts. Default 2.
    pub fn num_retries(mut self, n: u32) -> Self {
        self.num_retries = Some(n);
        self
    }

    /// Minimum wait before any retry (the guide's `retry_after`).
    pub fn retry_after(mut self, wait: Duration) -> Self {
        self.backoff.retry_after = wait;
        self
    }

    /// Upstream hints longer than this are not slept on: the deployment cools and the
    /// request moves on. Default 60 s.
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.backoff.max_retry_after = max;
        self
    }

    /// Exponential backoff: first jitter cap and largest cap. Default 2 s and 60 s.
    pub fn backoff(mut self, initial: Duration, max_backoff: Duration) -> Self {
        self.backoff.initial = initial;
        self.backoff.max_backoff = max_backoff;
        self
    }

    /// Retries per error kind for every group.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = Some(policy);
        self
    }

    /// Retries per error kind for one group, above the general policy.
    pub fn model_group_retry_policy(
        mut self,
        group: impl Into<String>,
        policy: RetryPolicy,
    ) -> Self {
        self.model_group_retry_policy.insert(group.into(), policy);
        self
    }

    /// Generic fallbacks of `group` (key `*` for every group without its own list).
    pub fn fallbacks<I, S>(mut self, group: impl Into<String>, to: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.fallbacks.insert(group.into(), list(to));
        self
    }

    /// Fallbacks of `group` after a context-window error.
    pub fn context_window_fallbacks<I, S>(mut self, group: impl Into<String>, to: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.context_window_fallbacks.insert(group.into(), list(to));
        self
    }

    /// Fallbacks of `group` after a content-policy refusal (never taken otherwise).
    pub fn content_policy_fallbacks<I, S>(mut self, group: impl Into<String>, to: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.content_policy_fallbacks.insert(group.into(), list(to));
        self
    }

    /// Generic fallbacks of every group without its own list.
    pub fn default_fallbacks<I, S>(mut self, to: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.default_fallbacks = list(to);
        self
    }

    /// Most fallback groups one request may move to. Default 5.
    pub fn max_fallbacks(mut self, n: usize) -> Self {
        self.max_fallbacks = n;
        self
    }

    /// Failures tolerated per deployment in a minute before it cools. Default 3.
    pub fn allowed_fails(mut self, n: u32) -> Self {
        self.cooldown.allowed_fails = n;
        self
    }

    /// How long a deployment cools. Default 5 s.
    pub fn cooldown_time(mut self, t: Duration) -> Self {
        self.cooldown.cooldown_time = t;
        self
    }

    /// All cooldown knobs at once.
    pub fn cooldown(mut self, cfg: CooldownConfig) -> Self {
        self.cooldown = cfg;
        self
    }

    /// Limit of one attempt (the guide's "30 second timeout per request").
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    /// Limit until the first chunk and between chunks of streamed attempts.
    pub fn stream_timeout(mut self, t: Duration) -> Self {
        self.stream_timeout = Some(t);
        self
    }

    /// How deployments are chosen. Default `simple-shuffle`.
    pub fn routing_strategy(mut self, s: RoutingStrategy) -> Self {
        self.strategy = s;
        self
    }

    /// Limits retries to a fraction of recent requests (off by default).
    pub fn retry_budget(mut self, cfg: RetryBudgetConfig) -> Self {
        self.retry_budget = Some(cfg);
        self
    }

    /// Where cooldowns and usage live. Default: an [`InMemoryStore`].
    pub fn state_store(mut self, store: Arc<dyn StateStore>) -> Self {
        self.state = Some(store);
        self
    }

    /// Adds an observer.
    pub fn observer(mut self, o: Arc<dyn Observer>) -> Self {
        self.observers.push(o);
        self
    }

    /// Seeds the random choices (jitter, shuffle) so runs repeat exactly; for tests.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Validates every setting and builds the router.
    pub fn build(self) -> Result<Router, BuildError> {
        if self.deployments.is_empty() {
            return Err(BuildError::NoDeployments);
        }
        if !self.backoff.initial.is_zero() && self.backoff.max_backoff < self.backoff.initial {
            return Err(BuildError::Invalid {
                setting: "max_backoff",
                why: "it is smaller than the initial backoff",
            });
        }
        if let Some(b) = &self.retry_budget {
            if !(b.ratio.is_finite() && b.ratio >= 0.0) {
                return Err(BuildError::Invalid {
                    setting: "retry_budget.ratio",
                    why: "it must be a number >= 0",
                });
            }
            if b.window.is_zero() {
                return Err(BuildError::Invalid {
                    setting: "retry_budget.window",
                    why: "it must be longer than zero",
                });
            }
        }

        // Deployments, grouped in configuration order.
        let mut groups: HashMap<Arc<str>, Vec<usize>> = HashMap::new();
        let mut group_order: Vec<Arc<str>> = Vec::new();
        let mut ids = HashSet::new();
        let mut counters: HashMap<&str, usize> = HashMap::new();
        let mut deployments = Vec::with_capacity(self.deployments.len());
        for (index, cfg) in self.deployments.iter().enumerate() {
            let group: Arc<str> = match group_order.iter().find(|g| ***g == *cfg.model_name) {
                Some(g) => g.clone(),
                None => {
                    let g: Arc<str> = cfg.model_name.as_str().into();
                    group_order.push(g.clone());
                    g
                }
            };
            let n = counters.entry(cfg.model_name.as_str()).or_insert(0);
            let id: Arc<str> = match &cfg.id {
                Some(id) => id.as_str().into(),
                None => format!("{}-{}", cfg.model_name, *n).into(),
            };
            *n += 1;
            if !ids.insert(id.clone()) {
                return Err(BuildError::DuplicateId(id.to_string()));
            }
            groups.entry(group.clone()).or_default().push(index);
            let mut cooldown = self.cooldown;
            if let Some(t) = cfg.cooldown_time {
                cooldown.cooldown_time = t;
            }
            deployments.push(Deployment {
                id,
                group,
                index,
                provider: cfg.provider.clone(),
                pick_weight: 1,
                rpm: cfg.rpm,
                tpm: cfg.tpm,
                timeout: cfg.timeout,
                stream_timeout: cfg.stream_timeout,
                num_retries: cfg.num_retries,
                cooldown,
                in_flight: AtomicU32::new(0),
                latency_us: AtomicU64::new(0),
                ttft_us: AtomicU64::new(0),
            });
        }

        // simple-shuffle weights: weight, else rpm, else tpm, else uniform (per group).
        for (name, members) in &groups {
            let cfg = |i: usize| &self.deployments[i];
            let weights: Vec<u64> = if members.iter().any(|&i| cfg(i).weight.is_some()) {
                members
                    .iter()
                    .map(|&i| u64::from(cfg(i).weight.unwrap_or(1)))
                    .collect()
            } else if members.iter().any(|&i| cfg(i).rpm.is_some()) {
                let max = members
                    .iter()
                    .filter_map(|&i| cfg(i).rpm)
                    .max()
                    .unwrap_or(1);
                members
                    .iter()
                    .map(|&i| u64::from(cfg(i).rpm.unwrap_or(max)))
                    .collect()
            } else if members.iter().any(|&i| cfg(i).tpm.is_some()) {
                let max = members
                    .iter()
                    .filter_map(|&i| cfg(i).tpm)
                    .max()
                    .unwrap_or(1);
                members.iter().map(|&i| cfg(i).tpm.unwrap_or(max)).collect()
            } else {
                vec![1; members.len()]
            };
            if weights.iter().all(|w| *w == 0) {
                return Err(BuildError::ZeroTotalWeight(name.to_string()));
            }
            for (&i, w) in members.iter().zip(weights) {
                deployments[i].pick_weight = w;
            }
        }

        // Fallback lists and policies may only name groups that exist.
        let known = |g: &str| g == "*" || groups.contains_key(g);
        let lists = [
            ("fallbacks", &self.fallbacks),
            ("context_window_fallbacks", &self.context_window_fallbacks),
            ("content_policy_fallbacks", &self.content_policy_fallbacks),
        ];
        for (name, map) in lists {
            for (from, tos) in map {
                if !known(from) {
                    return Err(BuildError::UnknownFallbackSource {
                        list: name,
                        from: from.clone(),
                    });
                }
                for to in tos {
                    if to == from {
                        return Err(BuildError::SelfFallback {
                            list: name,
                            group: from.clone(),
                        });
                    }
                    if !groups.contains_key(to.as_str()) {
                        return Err(BuildError::UnknownFallback {
                            list: name,
                            from: from.clone(),
                            to: to.clone(),
                        });
                    }
                }
            }
        }
        for to in &self.default_fallbacks {
            if !groups.contains_key(to.as_str()) {
                return Err(BuildError::UnknownFallback {
                    list: "default_fallbacks",
                    from: "*".into(),
                    to: to.clone(),
                });
            }
        }
        for g in self.model_group_retry_policy.keys() {
            if !groups.contains_key(g.as_str()) {
                return Err(BuildError::UnknownPolicyGroup(g.clone()));
            }
        }

        let state = self.state.unwrap_or_else(|| Arc::new(InMemoryStore::new()));
        let limits: Vec<DeploymentLimits> = deployments
            .iter()
            .map(|d| DeploymentLimits {
                id: d.id.clone(),
                rpm: d.rpm,
                tpm: d.tpm,
            })
            .collect();
        state.register(&limits);

        let wall_base = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let seed = self.seed.unwrap_or_else(|| {
            // No seed given: mix the wall clock and an address so two routers differ.
            let addr = &deployments as *const _ as u64;
            u64::try_from(wall_base.as_nanos() & u128::from(u64::MAX)).unwrap_or(0)
                ^ addr.rotate_left(32)
        });
        let deployments: Vec<Arc<Deployment>> = deployments.into_iter().map(Arc::new).collect();
        let groups = group_order
            .iter()
            .map(|name| {
                let members = groups.remove(name).unwrap_or_default();
                (
                    name.clone(),
                    Group {
                        name: name.clone(),
                        members,
                    },
                )
            })
            .collect();

        Ok(Router {
            inner: Arc::new(Inner {
                groups,
                group_order,
                deployments,
                settings: Settings {
                    num_retries: self.num_retries,
                    backoff: self.backoff,
                    retry_policy: self.retry_policy,
                    model_group_retry_policy: self.model_group_retry_policy,
                    fallbacks: self.fallbacks,
                    context_window_fallbacks: self.context_window_fallbacks,
                    content_policy_fallbacks: self.content_policy_fallbacks,
                    default_fallbacks: self.default_fallbacks,
                    max_fallbacks: self.max_fallbacks,
                    timeout: self.timeout,
                    stream_timeout: self.stream_timeout,
                    strategy: self.strategy,
                },
                budget: self
                    .retry_budget
                    .map(|cfg| Mutex::new(RetryBudget::new(cfg))),
                state,
                observers: self.observers,
                clock: Clock::new(wall_base),
                seed,
                request_counter: AtomicU64::new(0),
            }),
        })
    }
}
