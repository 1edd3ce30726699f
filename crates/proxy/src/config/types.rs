//! The resolved, typed config: what the rest of the proxy reads after loading succeeded.
//!
//! Everything here is already validated: durations are `Duration`s, environment
//! variables are read, fallbacks name groups that exist. Runtime code never re-validates.

use std::{collections::BTreeMap, fmt, time::Duration};

use retry_core::{BackoffConfig, CooldownConfig, ErrorKind, RetryBudgetConfig, RetryPolicy};
use secrecy::{ExposeSecret, SecretString};

/// Port the proxy listens on when the config does not say (LiteLLM's too).
pub const DEFAULT_PORT: u16 = 4000;
/// Host the proxy listens on when the config does not say: loopback, so a fresh
/// install is not reachable from the network until the operator says so.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// Largest request body accepted by default: 16 MiB. Requests with base64 images grow
/// by a third, so a limit of a few MiB would reject ordinary vision requests.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Fallback groups tried per request at most, by default.
pub const DEFAULT_MAX_FALLBACKS: u32 = 5;
/// The Redis key prefix used when the config does not set one.
pub const DEFAULT_REDIS_KEY_PREFIX: &str = "switchyard:";

/// A loaded, validated config.
#[derive(Debug, Clone)]
pub struct Config {
    /// Every deployment, in file order. Deployments with the same `model_name` form a group.
    pub deployments: Vec<DeploymentConfig>,
    /// Retries, fallbacks, cooldowns and routing (`router_settings` merged with `litellm_settings`).
    pub router: RouterSettings,
    /// Who may call the proxy.
    pub auth: AuthSettings,
    /// Where and how the proxy listens.
    pub server: ServerSettings,
    /// Shared state for several proxy instances; `None` keeps state in memory.
    pub redis: Option<RedisSettings>,
    /// Things the operator should know at start-up; the caller logs them. All LiteLLM
    /// keys that Switchyard ignores are gathered into one entry.
    pub warnings: Vec<String>,
}

impl Config {
    /// The model groups (distinct `model_name`s), in the order they first appear.
    pub fn model_groups(&self) -> Vec<&str> {
        let mut groups: Vec<&str> = Vec::new();
        for d in &self.deployments {
            if !groups.contains(&d.model_name.as_str()) {
                groups.push(&d.model_name);
            }
        }
        groups
    }

    /// The deployments of one model group, in file order.
    pub fn deployments_in<'a>(
        &'a self,
        group: &'a str,
    ) -> impl Iterator<Item = &'a DeploymentConfig> + 'a {
        self.deployments
            .iter()
            .filter(move |d| d.model_name == group)
    }
}

/// One upstream: a provider, a model on it, its endpoint and key, and its limits.
#[derive(Debug, Clone)]
pub struct DeploymentConfig {
    /// Unique id: `model_info.id`, else `<model_name>/<index in model_list>`.
    pub id: String,
    /// The model group clients ask for.
    pub model_name: String,
    /// Which provider and how to reach it.
    pub provider: ProviderKind,
    /// Requests per minute this deployment may take; `None` is unlimited.
    pub rpm: Option<u64>,
    /// Tokens per minute this deployment may take; `None` is unlimited.
    pub tpm: Option<u64>,
    /// Share of traffic for `simple-shuffle`; `None` is "not weighted".
    pub weight: Option<f64>,
    /// Limit for one attempt on this deployment (overrides the router's).
    pub timeout: Option<Duration>,
    /// Limit until the first chunk and between chunks of a streamed attempt.
    pub stream_timeout: Option<Duration>,
    /// Retries for this deployment's group when no retry policy names the error.
    pub num_retries: Option<u32>,
    /// Cooldown length for this deployment (overrides the router's).
    pub cooldown_time: Option<Duration>,
    /// Headers added to every upstream request. Values may hold credentials, so they are secret.
    pub extra_headers: Vec<ExtraHeader>,
    /// `model_info` without `id`, passed through untouched (e.g. `mode`, `max_tokens`).
    pub metadata: BTreeMap<String, serde_json::Value>,
}

/// A header sent upstream with every request of a deployment.
#[derive(Debug, Clone)]
pub struct ExtraHeader {
    /// The header name, as written.
    pub name: String,
    /// The value; `Debug` redacts it.
    pub value: SecretString,
}

/// The provider of a deployment and what it needs to be called.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ProviderKind {
    /// OpenAI, or any OpenAI-compatible server (vLLM, Ollama, ...) when `api_base` is set.
    OpenAi {
        /// The model sent upstream (`gpt-4o`).
        model: String,
        /// The server; `None` is OpenAI's own API.
        api_base: Option<String>,
        /// The key; `None` sends no key (fine for many local servers).
        api_key: Option<Secret>,
        /// The `OpenAI-Organization` header.
        organization: Option<String>,
    },
    /// Azure OpenAI.
    Azure {
        /// The Azure deployment name (what follows `azure/`).
        deployment: String,
        /// The resource endpoint, `https://<resource>.openai.azure.com`.
        api_base: String,
        /// The `api-version` query parameter.
        api_version: String,
        /// The `api-key`; `None` sends none.
        api_key: Option<Secret>,
    },
    /// Anthropic's Messages API.
    Anthropic {
        /// The model sent upstream.
        model: String,
        /// The server; `None` is Anthropic's own API.
        api_base: Option<String>,
        /// The `x-api-key`; `None` sends none.
        api_key: Option<Secret>,
    },
    /// An in-process mock: canned answers and injected failures, no network.
    Mock {
        /// The model name the mock reports.
        model: String,
        /// The answer's text; `None` lets the mock provider choose one.
        response: Option<String>,
        /// Injected failures.
        failure: Option<MockFailure>,
        /// How long each call takes.
        latency: Duration,
    },
}

impl ProviderKind {
    /// The provider's name as written before the `/` in `litellm_params.model`.
    pub fn name(&self) -> &'static str {
        match self {
            ProviderKind::OpenAi { .. } => "openai",
            ProviderKind::Azure { .. } => "azure",
            ProviderKind::Anthropic { .. } => "anthropic",
            ProviderKind::Mock { .. } => "mock",
        }
    }

    /// The model (or Azure deployment) sent upstream.
    pub fn model(&self) -> &str {
        match self {
            ProviderKind::OpenAi { model, .. }
            | ProviderKind::Anthropic { model, .. }
            | ProviderKind::Mock { model, .. } => model,
            ProviderKind::Azure { deployment, .. } => deployment,
        }
    }

    /// The configured endpoint, if any.
    pub fn api_base(&self) -> Option<&str> {
        match self {
            ProviderKind::OpenAi { api_base, .. } | ProviderKind::Anthropic { api_base, .. } => {
                api_base.as_deref()
            }
            ProviderKind::Azure { api_base, .. } => Some(api_base),
            ProviderKind::Mock { .. } => None,
        }
    }

    /// The key, if any.
    pub fn api_key(&self) -> Option<&Secret> {
        match self {
            ProviderKind::OpenAi { api_key, .. }
            | ProviderKind::Azure { api_key, .. }
            | ProviderKind::Anthropic { api_key, .. } => api_key.as_ref(),
            ProviderKind::Mock { .. } => None,
        }
    }
}

/// Failures a mock deployment injects (`mock_failure_rate`, `mock_failure_kind`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MockFailure {
    /// Fraction of calls that fail, in [0, 1].
    pub rate: f64,
    /// How they fail: the mock answers as an upstream failing with this kind would.
    pub kind: ErrorKind,
}

/// A secret value and where it came from. `Debug` shows the source, never the value.
#[derive(Clone)]
pub struct Secret {
    value: SecretString,
    source: SecretSource,
}

/// Where a secret was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretSource {
    /// Written in the config file.
    Inline,
    /// An `os.environ/NAME` value in the config file.
    Environment {
        /// The variable.
        var: String,
    },
    /// Not in the config: the provider's usual variable (`OPENAI_API_KEY`, ...).
    DefaultEnvironment {
        /// The variable.
        var: String,
    },
}

impl Secret {
    /// A secret read from `source`.
    pub fn new(value: impl Into<String>, source: SecretSource) -> Self {
        Secret {
            value: SecretString::from(value.into()),
            source,
        }
    }

    /// The secret itself. Call it only where the value is sent, never to log it.
    pub fn expose(&self) -> &str {
        self.value.expose_secret()
    }

    /// Where the secret was read from.
    pub fn source(&self) -> &SecretSource {
        &self.source
    }

    /// The secret as a `SecretString`.
    pub fn as_secret_string(&self) -> &SecretString {
        &self.value
    }

    /// A form safe to show: `sk-...abcd` for long keys with a known prefix,
    /// `...abcd` for other long ones, `***` for anything short enough that four
    /// characters would give too much away.
    pub fn masked(&self) -> String {
        mask(self.expose())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("value", &"[REDACTED]")
            .field("source", &self.source)
            .finish()
    }
}

/// See [`Secret::masked`].
pub(crate) fn mask(secret: &str) -> String {
    const KNOWN_PREFIXES: [&str; 3] = ["sk-ant-", "sk-proj-", "sk-"];
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < 16 {
        return "***".to_owned();
    }
    let prefix = KNOWN_PREFIXES
        .iter()
        .find(|p| secret.starts_with(*p))
        .copied()
        .unwrap_or("");
    let last: String = chars[chars.len() - 4..].iter().collect();
    format!("{prefix}...{last}")
}

/// Routing, retries, fallbacks and cooldowns.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterSettings {
    /// How a deployment is picked within a group.
    pub routing_strategy: RoutingStrategy,
    /// Retries when neither a retry policy nor the deployment says; `None` is the default (2).
    pub num_retries: Option<u32>,
    /// No retry waits less than this. Default 0.
    pub retry_after: Duration,
    /// Upstream hints longer than this are not slept on. Default 60 s.
    pub max_retry_after: Duration,
    /// Jitter cap of the first retry; doubles per retry. Default 2 s.
    pub backoff_initial: Duration,
    /// Largest jitter cap. Default 60 s.
    pub max_backoff: Duration,
    /// Limit for one attempt; `None` leaves only the request's deadline.
    pub timeout: Option<Duration>,
    /// Limit to the first chunk and between chunks of a streamed attempt; `None` uses `timeout`.
    pub stream_timeout: Option<Duration>,
    /// Retries per error kind for every group.
    pub retry_policy: Option<RetryPolicy>,
    /// Retries per error kind for one group; consulted before `retry_policy`.
    pub model_group_retry_policy: BTreeMap<String, RetryPolicy>,
    /// Fallbacks for any error that falls back (`fallbacks`, `default_fallbacks`).
    pub fallbacks: Fallbacks,
    /// Fallbacks after a context-window error.
    pub context_window_fallbacks: Fallbacks,
    /// Fallbacks after a content-policy refusal.
    pub content_policy_fallbacks: Fallbacks,
    /// Fallback groups tried per request at most. Default 5.
    pub max_fallbacks: u32,
    /// Failures tolerated per minute before a deployment cools. Default 3.
    pub allowed_fails: u32,
    /// Base cooldown length. Default 5 s.
    pub cooldown_time: Duration,
    /// Limit retries to a fraction of traffic; `None` is off (the default).
    pub retry_budget: Option<RetryBudgetConfig>,
}

impl Default for RouterSettings {
    fn default() -> Self {
        let backoff = BackoffConfig::default();
        let cooldown = CooldownConfig::default();
        RouterSettings {
            routing_strategy: RoutingStrategy::SimpleShuffle,
            num_retries: None,
            retry_after: backoff.retry_after,
            max_retry_after: backoff.max_retry_after,
            backoff_initial: backoff.initial,
            max_backoff: backoff.max_backoff,
            timeout: None,
            stream_timeout: None,
            retry_policy: None,
            model_group_retry_policy: BTreeMap::new(),
            fallbacks: Fallbacks::default(),
            context_window_fallbacks: Fallbacks::default(),
            content_policy_fallbacks: Fallbacks::default(),
            max_fallbacks: DEFAULT_MAX_FALLBACKS,
            allowed_fails: cooldown.allowed_fails,
            cooldown_time: cooldown.cooldown_time,
            retry_budget: None,
        }
    }
}

impl RouterSettings {
    /// The backoff knobs for retry-core.
    pub fn backoff(&self) -> BackoffConfig {
        BackoffConfig {
            initial: self.backoff_initial,
            max_backoff: self.max_backoff,
            retry_after: self.retry_after,
            max_retry_after: self.max_retry_after,
        }
    }

    /// The cooldown knobs for retry-core; the ones the config has no key for keep their defaults.
    pub fn cooldown(&self) -> CooldownConfig {
        CooldownConfig {
            allowed_fails: self.allowed_fails,
            cooldown_time: self.cooldown_time,
            ..CooldownConfig::default()
        }
    }
}

/// One list of fallbacks: per group, plus a default for groups without their own entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fallbacks {
    /// Group → groups to try next, in order.
    pub by_group: BTreeMap<String, Vec<String>>,
    /// For groups without an entry (`*`, or `default_fallbacks` for the generic list).
    pub default: Vec<String>,
}

impl Fallbacks {
    /// The groups to try after `group`, in order: its own entry, else the default list
    /// without `group` itself.
    pub fn for_group(&self, group: &str) -> Vec<&str> {
        match self.by_group.get(group) {
            Some(list) => list.iter().map(String::as_str).collect(),
            None => self
                .default
                .iter()
                .map(String::as_str)
                .filter(|g| *g != group)
                .collect(),
        }
    }

    /// Whether no group has a fallback.
    pub fn is_empty(&self) -> bool {
        self.by_group.is_empty() && self.default.is_empty()
    }
}

/// How a deployment is chosen within a group (`SEMANTICS.md` §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RoutingStrategy {
    /// `simple-shuffle`: weighted random by `weight`, else `rpm`, else `tpm`, else uniform.
    #[default]
    SimpleShuffle,
    /// `least-busy`: fewest requests in flight.
    LeastBusy,
    /// `latency-based-routing`: lowest recent latency.
    LatencyBased,
    /// `usage-based-routing` (and LiteLLM's `usage-based-routing-v2`): lowest usage this minute.
    UsageBased,
    /// `power-of-two`: the less loaded of two random candidates.
    PowerOfTwo,
}

impl RoutingStrategy {
    /// Every name `routing_strategy` accepts, with the strategy it means. LiteLLM's
    /// `usage-based-routing-v2` is an alias of `usage-based-routing`.
    pub const NAMES: [(RoutingStrategy, &'static str); 6] = [
        (RoutingStrategy::SimpleShuffle, "simple-shuffle"),
        (RoutingStrategy::LeastBusy, "least-busy"),
        (RoutingStrategy::LatencyBased, "latency-based-routing"),
        (RoutingStrategy::UsageBased, "usage-based-routing"),
        (RoutingStrategy::UsageBased, "usage-based-routing-v2"),
        (RoutingStrategy::PowerOfTwo, "power-of-two"),
    ];

    /// The canonical name, as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            RoutingStrategy::SimpleShuffle => "simple-shuffle",
            RoutingStrategy::LeastBusy => "least-busy",
            RoutingStrategy::LatencyBased => "latency-based-routing",
            RoutingStrategy::UsageBased => "usage-based-routing",
            RoutingStrategy::PowerOfTwo => "power-of-two",
        }
    }
}

impl fmt::Display for RoutingStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who may call the proxy. With no master key and no keys, anyone may.
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    /// `general_settings.master_key`: may call every model, no limits.
    pub master_key: Option<Secret>,
    /// `switchyard.keys`: static keys with their own models and limits.
    pub keys: Vec<ApiKeyConfig>,
}

impl AuthSettings {
    /// Whether requests must bring a key.
    pub fn is_enabled(&self) -> bool {
        self.master_key.is_some() || !self.keys.is_empty()
    }
}

/// A static API key clients may use.
#[derive(Debug, Clone)]
pub struct ApiKeyConfig {
    /// The key clients send as `Authorization: Bearer <key>`.
    pub key: Secret,
    /// A name for logs and metrics (never the key itself).
    pub name: String,
    /// Groups this key may call; empty means every group.
    pub models: Vec<String>,
    /// Requests per minute for this key; `None` is unlimited.
    pub rpm: Option<u64>,
    /// Tokens per minute for this key; `None` is unlimited.
    pub tpm: Option<u64>,
}

/// Where and how the proxy listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// Address to bind: an IP address or a host name.
    pub host: String,
    /// Port to bind; 0 lets the system pick one.
    pub port: u16,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// How logs are written.
    pub log_format: LogFormat,
    /// Threads that serve requests; `None` is one per CPU.
    pub worker_threads: Option<usize>,
    /// How requests are spread over those threads.
    pub runtime: RuntimeKind,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            host: DEFAULT_HOST.to_owned(),
            port: DEFAULT_PORT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            log_format: LogFormat::Text,
            worker_threads: None,
            runtime: RuntimeKind::PerCore,
        }
    }
}

impl ServerSettings {
    /// `host:port`, with brackets around an IPv6 address, ready for `bind`.
    pub fn listen_addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// How the proxy spreads requests over its threads (`switchyard.runtime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RuntimeKind {
    /// Thread per core (`per_core`, the default): each thread runs a runtime of its own and
    /// keeps the client connections it is given; a request never moves between threads.
    #[default]
    PerCore,
    /// One work-stealing runtime (`work_stealing`): idle threads take work from busy ones, so a
    /// few very busy client connections (a load balancer's keep-alive pool) use every core, at
    /// the price of wake-ups between threads on every request.
    WorkStealing,
}

/// How the proxy writes its logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Redis for state shared by several proxy instances (cooldowns, usage).
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// How to connect.
    pub connection: RedisConnection,
    /// Prefix of every key Switchyard writes. Default `switchyard:`.
    pub key_prefix: String,
}

/// How to reach Redis.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RedisConnection {
    /// `redis_url`, which may contain a password, so it is secret.
    Url(Secret),
    /// `redis_host`, `redis_port`, `redis_password`, `redis_db`.
    Host {
        /// Host name or address.
        host: String,
        /// Port. Default 6379.
        port: u16,
        /// Password, if any.
        password: Option<Secret>,
        /// Database number, if not 0.
        db: Option<u32>,
    },
}
