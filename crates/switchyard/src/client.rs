//! `Client`: the one-call path of the retries guide (`completion(model=..., messages=...)`),
//! with providers made from model strings and keys read from the environment.

use std::{
    collections::HashMap,
    fmt,
    future::IntoFuture,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use provider::{
    BoxFuture, ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse, Message, Provider,
};
use retry_core::{DEFAULT_NUM_RETRIES, RetryPolicy};
use router::{
    DeploymentConfig, Observer, RequestOptions, Routed, RoutedStream, Router, RouterBuilder,
};
use secrecy::SecretString;

use crate::{
    Error, Result,
    connect::{self, Env, HttpPool},
    model::ModelSpec,
};

/// Calls LLMs by model string, with the retries, backoff, fallbacks and cooldowns of the
/// router: the guide's `completion(model=..., messages=..., num_retries=...)`.
///
/// ```
/// use switchyard::{Client, Message};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), switchyard::Error> {
/// let client = Client::from_env();
/// let answer = client
///     .completion("mock/gpt-4o", [Message::user("Hello!")])
///     .num_retries(5)
///     .await?;
/// println!("{} (retries: {})", answer.value.text().unwrap_or(""), answer.report.retries);
/// # Ok(())
/// # }
/// ```
///
/// # Model strings
///
/// | model string | provider | reads |
/// |---|---|---|
/// | `openai/gpt-4o`, or a bare `gpt-4o` | OpenAI, or any OpenAI-compatible server | `OPENAI_API_KEY`; `OPENAI_API_BASE` (else `OPENAI_BASE_URL`) |
/// | `azure/<deployment>` | Azure OpenAI | `AZURE_API_KEY`, `AZURE_API_BASE`, `AZURE_API_VERSION` |
/// | `anthropic/claude-...`, or a bare `claude-...` | Anthropic | `ANTHROPIC_API_KEY`, `ANTHROPIC_API_BASE` |
/// | `mock/<name>` | an in-process mock with a canned answer | nothing |
/// | any name given to [`ClientBuilder::provider`] | that provider | nothing |
///
/// The provider is the part before the first `/`, so `openai/meta-llama/Llama-3.1-8B`
/// calls `meta-llama/Llama-3.1-8B` on the server at `OPENAI_API_BASE`. A key is required
/// unless a custom endpoint is set (local servers often need none). Variables are read
/// when a model string is first used, and a missing one is an [`Error::MissingKey`] (or
/// [`Error::MissingApiBase`]) naming it, before any network call.
///
/// # How calls are routed
///
/// Each model string becomes one model group of one deployment, in a [`Router`] the client
/// builds lazily and shares between calls: retries, waits, reports and observers are
/// exactly the router's. Fallbacks name other model strings; the client adds their groups
/// too. The router is rebuilt (a cheap, synchronous step under a lock never held across an
/// `.await`) when a call names a model string it has not seen; providers are built once
/// per string and kept, and calls already in flight finish on the router they started on.
/// A rebuilt router starts with fresh cooldowns, so in a program that keeps naming new
/// models, cooldown memory is short; with a fixed set of models (the usual case) every call
/// shares it. For several deployments per group, weights, limits or configured fallback
/// lists, build a [`Router`] yourself.
///
/// Cloning a client is cheap and shares everything.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    env: Env,
    /// Providers given to the builder, by model string.
    registered: HashMap<String, Arc<dyn Provider>>,
    /// Default fallbacks per model string.
    fallbacks: HashMap<String, Vec<String>>,
    state: Mutex<State>,
}

/// Router settings applied to every router the client builds.
#[derive(Clone)]
struct Settings {
    num_retries: u32,
    retry_after: Option<Duration>,
    max_retry_after: Option<Duration>,
    backoff: Option<(Duration, Duration)>,
    retry_policy: Option<RetryPolicy>,
    model_group_retry_policy: HashMap<String, RetryPolicy>,
    timeout: Option<Duration>,
    stream_timeout: Option<Duration>,
    allowed_fails: Option<u32>,
    cooldown_time: Option<Duration>,
    observers: Vec<Arc<dyn Observer>>,
    seed: Option<u64>,
}

#[derive(Default)]
struct State {
    /// Providers built from model strings, by what they call, so `gpt-4o` and
    /// `openai/gpt-4o` share one.
    built: HashMap<ModelSpec, Arc<dyn Provider>>,
    /// The router's groups (model strings) in the order they were first used.
    groups: Vec<(String, Arc<dyn Provider>)>,
    router: Option<Router>,
    http: HttpPool,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // Every critical section leaves the state consistent (it only inserts whole entries
    // after the fallible steps), so a panic elsewhere cannot leave it half-updated.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Client {
    /// A client with the guide's defaults (2 retries, exponential backoff) that reads keys
    /// and endpoints from the process environment when a model first needs them.
    pub fn from_env() -> Client {
        ClientBuilder::default().finish()
    }

    /// A builder for every setting.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A chat completion of `messages` by `model` (a model string, see [`Client`]).
    ///
    /// Set per-call options on the returned [`Completion`], then `.await` it (or call
    /// [`Completion::stream`]).
    pub fn completion(
        &self,
        model: impl Into<String>,
        messages: impl IntoIterator<Item = Message>,
    ) -> Completion {
        Completion {
            client: self.clone(),
            request: ChatRequest::new(model, messages.into_iter().collect()),
            options: RequestOptions::new(),
        }
    }

    /// A chat completion of a full request; `req.model` is the model string.
    ///
    /// `opts.timeout` is the total budget of the call (retries, waits and fallbacks
    /// included); `opts.fallbacks` name other model strings.
    pub async fn chat(
        &self,
        req: &ChatRequest,
        opts: &RequestOptions,
    ) -> Result<Routed<ChatResponse>> {
        let (router, opts) = self.prepare(&req.model, opts)?;
        Ok(router.chat(req, &opts).await?)
    }

    /// A streamed chat completion; retries and fallbacks happen until the first content
    /// chunk (see [`RoutedStream`]).
    pub async fn chat_stream(
        &self,
        req: &ChatRequest,
        opts: &RequestOptions,
    ) -> Result<RoutedStream> {
        let (router, opts) = self.prepare(&req.model, opts)?;
        Ok(router.chat_stream(req, &opts).await?)
    }

    /// Embeddings; `req.model` is the model string.
    pub async fn embeddings(
        &self,
        req: &EmbeddingsRequest,
        opts: &RequestOptions,
    ) -> Result<Routed<EmbeddingsResponse>> {
        let (router, opts) = self.prepare(&req.model, opts)?;
        Ok(router.embeddings(req, &opts).await?)
    }

    /// Sets up these model strings now, so that a missing key or a typo shows at start-up
    /// instead of on the first call. Makes no network call.
    pub fn preload<I, S>(&self, models: I) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let models: Vec<S> = models.into_iter().collect();
        let names: Vec<&str> = models.iter().map(AsRef::as_ref).collect();
        self.router_for(&names).map(|_| ())
    }

    /// The per-call options with the client's defaults filled in, and a router that has
    /// every group they may touch.
    fn prepare(&self, model: &str, opts: &RequestOptions) -> Result<(Router, RequestOptions)> {
        let mut opts = opts.clone();
        if !opts.disable_fallbacks
            && opts.fallbacks.is_none()
            && let Some(list) = self.inner.fallbacks.get(model)
        {
            opts.fallbacks = Some(list.clone());
        }
        let mut models = vec![model];
        if !opts.disable_fallbacks
            && let Some(list) = &opts.fallbacks
        {
            models.extend(list.iter().map(String::as_str));
        }
        let router = self.router_for(&models)?;
        Ok((router, opts))
    }

    /// A router with a group for each of `models`, rebuilt if one is new.
    fn router_for(&self, models: &[&str]) -> Result<Router> {
        let mut state = lock(&self.inner.state);
        let known = |state: &State, m: &str| state.groups.iter().any(|(g, _)| g == m);
        if let Some(router) = &state.router
            && models.iter().all(|m| known(&state, m))
        {
            return Ok(router.clone());
        }
        // Every fallible step first, so an error leaves the client as it was.
        let mut groups = state.groups.clone();
        for &m in models {
            if groups.iter().any(|(g, _)| g == m) {
                continue;
            }
            let p = self.provider_for(m, &mut state)?;
            groups.push((m.to_owned(), p));
        }
        let router = self.build_router(&groups)?;
        state.groups = groups;
        state.router = Some(router.clone());
        Ok(router)
    }

    fn provider_for(&self, model: &str, state: &mut State) -> Result<Arc<dyn Provider>> {
        if let Some(p) = self.inner.registered.get(model) {
            return Ok(p.clone());
        }
        let spec = ModelSpec::parse(model)?;
        if let Some(p) = state.built.get(&spec) {
            return Ok(p.clone());
        }
        let p = connect::build_provider(&spec, model, &self.inner.env, &mut state.http)?;
        state.built.insert(spec, p.clone());
        Ok(p)
    }

    fn build_router(&self, groups: &[(String, Arc<dyn Provider>)]) -> Result<Router> {
        let s = &self.inner.settings;
        let mut b = s.apply(Router::builder());
        for (name, p) in groups {
            b = b.deployment(DeploymentConfig::new(name.clone(), p.clone()));
            if let Some(policy) = s.model_group_retry_policy.get(name) {
                b = b.model_group_retry_policy(name.clone(), *policy);
            }
        }
        b.build().map_err(|e| Error::build("the router", e))
    }
}

impl Settings {
    /// Every setting but the deployments and group policies.
    fn apply(&self, mut b: RouterBuilder) -> RouterBuilder {
        b = b.num_retries(self.num_retries);
        if let Some(d) = self.retry_after {
            b = b.retry_after(d);
        }
        if let Some(d) = self.max_retry_after {
            b = b.max_retry_after(d);
        }
        if let Some((initial, max)) = self.backoff {
            b = b.backoff(initial, max);
        }
        if let Some(p) = self.retry_policy {
            b = b.retry_policy(p);
        }
        if let Some(t) = self.timeout {
            b = b.timeout(t);
        }
        if let Some(t) = self.stream_timeout {
            b = b.stream_timeout(t);
        }
        if let Some(n) = self.allowed_fails {
            b = b.allowed_fails(n);
        }
        if let Some(t) = self.cooldown_time {
            b = b.cooldown_time(t);
        }
        for o in &self.observers {
            b = b.observer(o.clone());
        }
        if let Some(seed) = self.seed {
            b = b.seed(seed);
        }
        b
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.inner.settings;
        let groups: Vec<String> = lock(&self.inner.state)
            .groups
            .iter()
            .map(|(g, _)| g.clone())
            .collect();
        f.debug_struct("Client")
            .field("num_retries", &s.num_retries)
            .field("retry_after", &s.retry_after)
            .field("timeout", &s.timeout)
            .field("retry_policy", &s.retry_policy)
            .field("models", &groups)
            .field("env", &self.inner.env)
            .finish_non_exhaustive()
    }
}

/// One chat completion being set up: per-call options, then `.await` (or
/// [`stream`](Completion::stream)). Made by [`Client::completion`].
///
/// ```
/// # use std::time::Duration;
/// # use switchyard::{Client, Message};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), switchyard::Error> {
/// # let client = Client::from_env();
/// let answer = client
///     .completion("mock/gpt-4", [Message::user("Hello")])
///     .num_retries(3)                     // this call's retries (0 disables them)
///     .timeout(Duration::from_secs(30))   // total, for all attempts and waits
///     .fallbacks(["mock/gpt-3.5"])        // then these model strings, in order
///     .await?;
/// # let _ = answer;
/// # Ok(())
/// # }
/// ```
#[must_use = "a completion does nothing until it is awaited"]
pub struct Completion {
    client: Client,
    request: ChatRequest,
    options: RequestOptions,
}

impl Completion {
    /// Retries for this call, above every configured count and policy; 0 disables them.
    pub fn num_retries(mut self, n: u32) -> Self {
        self.options.num_retries = Some(n);
        self
    }

    /// The **total** time this call may take: every attempt, wait and fallback. (The
    /// client's [`ClientBuilder::timeout`] limits each attempt.)
    pub fn timeout(mut self, total: Duration) -> Self {
        self.options.timeout = Some(total);
        self
    }

    /// Other model strings to try, in order, once this model's retries are spent; each
    /// gets a fresh retry budget. Replaces the client's fallbacks for this model.
    pub fn fallbacks<I, S>(mut self, models: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.options.fallbacks = Some(models.into_iter().map(Into::into).collect());
        self
    }

    /// No fallback for this call, not even the client's.
    pub fn disable_fallbacks(mut self) -> Self {
        self.options.disable_fallbacks = true;
        self
    }

    /// All per-call options at once (metadata for observers, a request id, ...), replacing
    /// any set before.
    pub fn options(mut self, options: RequestOptions) -> Self {
        self.options = options;
        self
    }

    /// The sampling temperature.
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.request.temperature = Some(temperature);
        self
    }

    /// The most tokens to generate.
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.request.max_tokens = Some(max_tokens);
        self
    }

    /// Changes any other field of the request (tools, response format, seed, ...).
    pub fn with_request(mut self, f: impl FnOnce(&mut ChatRequest)) -> Self {
        f(&mut self.request);
        self
    }

    /// Sends the request and waits for the whole answer (what `.await` does).
    pub async fn send(self) -> Result<Routed<ChatResponse>> {
        self.client.chat(&self.request, &self.options).await
    }

    /// Sends the request as a stream: retries and fallbacks happen until the first content
    /// chunk, then chunks flow to the caller (the guide's `stream=True`).
    pub async fn stream(mut self) -> Result<RoutedStream> {
        self.request.stream = Some(true);
        self.client.chat_stream(&self.request, &self.options).await
    }
}

impl IntoFuture for Completion {
    type Output = Result<Routed<ChatResponse>>;
    type IntoFuture = BoxFuture<'static, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

impl fmt::Debug for Completion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completion")
            .field("model", &self.request.model)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Client`]. Every router setting of the retries guide that makes sense for
/// one-deployment model groups is here; they apply to every call.
#[must_use]
pub struct ClientBuilder {
    settings: Settings,
    lookup: connect::Lookup,
    values: HashMap<&'static str, SecretString>,
    registered: HashMap<String, Arc<dyn Provider>>,
    fallbacks: HashMap<String, Vec<String>>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            settings: Settings {
                num_retries: DEFAULT_NUM_RETRIES,
                retry_after: None,
                max_retry_after: None,
                backoff: None,
                retry_policy: None,
                model_group_retry_policy: HashMap::new(),
                timeout: None,
                stream_timeout: None,
                allowed_fails: None,
                cooldown_time: None,
                observers: Vec::new(),
                seed: None,
            },
            lookup: Env::process(),
            values: HashMap::new(),
            registered: HashMap::new(),
            fallbacks: HashMap::new(),
        }
    }
}

impl ClientBuilder {
    /// Retries for every call (the guide's `litellm.num_retries`); default 2, 0 disables
    /// retries. A call's own [`Completion::num_retries`] and the retry policies override it.
    pub fn num_retries(mut self, n: u32) -> Self {
        self.settings.num_retries = n;
        self
    }

    /// The least wait before any retry (the guide's `retry_after`).
    pub fn retry_after(mut self, wait: Duration) -> Self {
        self.settings.retry_after = Some(wait);
        self
    }

    /// Upstream `Retry-After` hints longer than this are not slept on; default 60 s.
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.settings.max_retry_after = Some(max);
        self
    }

    /// Exponential backoff: the first retry waits up to `initial`, each next one up to
    /// twice as long, never more than `max` (full jitter); default 2 s and 60 s.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.settings.backoff = Some((initial, max));
        self
    }

    /// Retries per error kind, for every model.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.settings.retry_policy = Some(policy);
        self
    }

    /// Retries per error kind for one model string, above the general policy.
    pub fn model_group_retry_policy(
        mut self,
        model: impl Into<String>,
        policy: RetryPolicy,
    ) -> Self {
        self.settings
            .model_group_retry_policy
            .insert(model.into(), policy);
        self
    }

    /// The limit of **one attempt** (the guide's router `timeout`); a call's own
    /// [`Completion::timeout`] is its total budget.
    pub fn timeout(mut self, per_attempt: Duration) -> Self {
        self.settings.timeout = Some(per_attempt);
        self
    }

    /// For streams: the limit until the first chunk and between chunks.
    pub fn stream_timeout(mut self, t: Duration) -> Self {
        self.settings.stream_timeout = Some(t);
        self
    }

    /// Failures a model tolerates in a minute before it cools down; default 3. A model
    /// only cools when the call has a fallback to go to.
    pub fn allowed_fails(mut self, n: u32) -> Self {
        self.settings.allowed_fails = Some(n);
        self
    }

    /// How long a failing model cools down; default 5 s.
    pub fn cooldown_time(mut self, t: Duration) -> Self {
        self.settings.cooldown_time = Some(t);
        self
    }

    /// Fallbacks of `model` for every call that names none of its own.
    pub fn fallbacks<I, S>(mut self, model: impl Into<String>, to: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.fallbacks
            .insert(model.into(), to.into_iter().map(Into::into).collect());
        self
    }

    /// Adds an observer (the guide's `CustomLogger`), called at every attempt, retry,
    /// fallback, success and failure.
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.settings.observers.push(observer);
        self
    }

    /// Serves `model` with `provider` instead of parsing it: a provider you configured
    /// yourself, or a scripted `MockProvider` in tests.
    pub fn provider(mut self, model: impl Into<String>, provider: impl Provider) -> Self {
        self.registered.insert(model.into(), Arc::new(provider));
        self
    }

    /// Reads settings through `lookup` instead of the process environment (for tests, or
    /// to take keys from a secret store). Values given to this builder still come first.
    pub fn env<F>(mut self, lookup: F) -> Self
    where
        F: Fn(&str) -> Option<String> + Send + Sync + 'static,
    {
        self.lookup = Arc::new(lookup);
        self
    }

    /// The OpenAI key, instead of `OPENAI_API_KEY`.
    pub fn openai_api_key(self, key: impl Into<SecretString>) -> Self {
        self.value(connect::OPENAI_API_KEY, key.into())
    }

    /// The OpenAI endpoint with its version path (`http://localhost:8000/v1` for vLLM),
    /// instead of `OPENAI_API_BASE` / `OPENAI_BASE_URL`.
    pub fn openai_api_base(self, base: impl Into<String>) -> Self {
        self.value(connect::OPENAI_API_BASE, base.into().into())
    }

    /// The Azure OpenAI key, instead of `AZURE_API_KEY`.
    pub fn azure_api_key(self, key: impl Into<SecretString>) -> Self {
        self.value(connect::AZURE_API_KEY, key.into())
    }

    /// The Azure OpenAI resource endpoint, instead of `AZURE_API_BASE`.
    pub fn azure_api_base(self, base: impl Into<String>) -> Self {
        self.value(connect::AZURE_API_BASE, base.into().into())
    }

    /// The Azure OpenAI API version, instead of `AZURE_API_VERSION`.
    pub fn azure_api_version(self, version: impl Into<String>) -> Self {
        self.value(connect::AZURE_API_VERSION, version.into().into())
    }

    /// The Anthropic key, instead of `ANTHROPIC_API_KEY`.
    pub fn anthropic_api_key(self, key: impl Into<SecretString>) -> Self {
        self.value(connect::ANTHROPIC_API_KEY, key.into())
    }

    /// The Anthropic endpoint, instead of `ANTHROPIC_API_BASE`.
    pub fn anthropic_api_base(self, base: impl Into<String>) -> Self {
        self.value(connect::ANTHROPIC_API_BASE, base.into().into())
    }

    /// Seeds the random choices (backoff jitter) so runs repeat exactly; for tests.
    pub fn seed(mut self, seed: u64) -> Self {
        self.settings.seed = Some(seed);
        self
    }

    fn value(mut self, name: &'static str, value: SecretString) -> Self {
        self.values.insert(name, value);
        self
    }

    /// Checks the settings and builds the client. Keys are not required yet: each is read
    /// when a model first needs it (see [`Client::preload`] to check them at start-up).
    ///
    /// # Errors
    ///
    /// [`Error::Build`] for a backoff whose first cap exceeds its largest;
    /// [`Error::InvalidModel`] or [`Error::UnknownProvider`] for a model string in
    /// [`fallbacks`](Self::fallbacks) or [`model_group_retry_policy`](Self::model_group_retry_policy)
    /// that can never be used.
    pub fn build(self) -> Result<Client> {
        if let Some((initial, max)) = self.settings.backoff
            && !initial.is_zero()
            && max < initial
        {
            return Err(Error::build(
                "the client",
                router::BuildError::Invalid {
                    setting: "backoff",
                    why: "its largest wait is smaller than its first",
                },
            ));
        }
        let named = self
            .fallbacks
            .iter()
            .flat_map(|(from, to)| std::iter::once(from).chain(to))
            .chain(self.settings.model_group_retry_policy.keys());
        for model in named {
            if !self.registered.contains_key(model) {
                ModelSpec::parse(model)?;
            }
        }
        Ok(self.finish())
    }

    /// Builds without the checks of [`build`](Self::build); for settings known valid.
    fn finish(self) -> Client {
        Client {
            inner: Arc::new(Inner {
                settings: self.settings,
                env: Env {
                    lookup: self.lookup,
                    values: self.values,
                },
                registered: self.registered,
                fallbacks: self.fallbacks,
                state: Mutex::new(State::default()),
            }),
        }
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut registered: Vec<&str> = self.registered.keys().map(String::as_str).collect();
        registered.sort_unstable();
        f.debug_struct("ClientBuilder")
            .field("num_retries", &self.settings.num_retries)
            .field("retry_after", &self.settings.retry_after)
            .field("timeout", &self.settings.timeout)
            .field("registered", &registered)
            .finish_non_exhaustive()
    }
}
