//! A fake LLM provider HTTP server with fault injection, speaking the OpenAI, Azure OpenAI and
//! Anthropic wire formats.
//!
//! **What it is.** A real HTTP/1.1 server on a local port that answers
//! `POST /v1/chat/completions` (plain and SSE, with `stream_options.include_usage`),
//! `POST /v1/embeddings`, `GET /v1/models`, Azure's
//! `POST /openai/deployments/{name}/chat/completions?api-version=...` and `/embeddings`, and
//! Anthropic's `POST /v1/messages` (plain and SSE) with deterministic answers
//! ("mock answer from {deployment}"). Per *deployment key* (the body's `model`, or the Azure
//! deployment name; `*` matches all) it plays a FIFO script of [`Behaviour`]s, one per request,
//! then an optional `always` behaviour, then the default success: provider error statuses with
//! their real bodies and retry headers, hangs, delays, slow, cut and erroring streams, malformed
//! and oversized bodies, dropped connections. It records every request in a hit log (keys
//! redacted) and counts TCP connections. The same scripting is reachable over HTTP under
//! `/__control/` (see [`RunningMockUpstream`]), so non-Rust clients can use it too.
//! Fast mode ([`MockUpstreamBuilder::fast`]) serves fixed pre-serialized answers for benchmarks.
//!
//! **What it is not.** Not a model, not a proxy, and not a test of itself: it checks only what the
//! real providers reject at the door (a missing `anthropic-version` header or `max_tokens`, a
//! missing Azure `api-version`, a body that is not JSON, a missing `model`). It accepts any API key
//! (script `openai_invalid_api_key` to refuse one). It depends on no other Switchyard crate: the
//! wire formats are written with `serde_json` from the providers' documentation.
//!
//! **Who depends on it.** Provider crates' wire tests, the proxy's end-to-end tests, the load
//! benchmark, and the cli's `switchyard mock-upstream` command; users run the
//! `switchyard-mock-upstream` binary to chaos-test their own apps.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use switchyard_mock_upstream::{Behaviour, MockUpstream};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let upstream = MockUpstream::builder().start().await?;
//! // The next request for gpt-4o gets a 429 with retry headers; the one after it succeeds.
//! upstream.script("gpt-4o", [Behaviour::openai_rate_limit(Duration::from_secs(1))]);
//! let base = upstream.openai_base(); // http://127.0.0.1:PORT/v1
//! // ... point a client at `base`, call it twice ...
//! assert!(upstream.hits().len() <= 2);
//! upstream.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Over HTTP, the same script is
//! `POST /__control/script {"deployment": "gpt-4o", "behaviours": [{"type": "status", "status": 429, "headers": {"retry-after": "1"}}]}`.
#![warn(missing_docs)]

mod behaviour;
mod conn;
mod fast;
mod respond;
mod server;
mod state;
mod wire;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use behaviour::{Behaviour, Step, anthropic_error, openai_error};
pub use state::{Hit, WILDCARD};

use conn::{ConnInfo, CountingListener};
use state::Shared;

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The address could not be bound.
    #[error("cannot bind the mock upstream to {addr}: {source}; pick a free port or use port 0")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why binding failed.
        #[source]
        source: std::io::Error,
    },
}

/// Entry point: `MockUpstream::builder()` or `MockUpstream::start()`.
#[derive(Debug, Clone, Copy)]
pub struct MockUpstream;

impl MockUpstream {
    /// A builder with the defaults: `127.0.0.1:0`, scripted (not fast) mode.
    pub fn builder() -> MockUpstreamBuilder {
        MockUpstreamBuilder {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            fast: false,
            max_hits: DEFAULT_MAX_HITS,
        }
    }

    /// Starts a scripted server on `127.0.0.1` on a free port.
    ///
    /// # Errors
    /// [`Error::Bind`] if no port can be bound.
    pub async fn start() -> Result<RunningMockUpstream, Error> {
        Self::builder().start().await
    }
}

/// Configures a server before it starts.
#[derive(Debug, Clone)]
pub struct MockUpstreamBuilder {
    addr: SocketAddr,
    fast: bool,
    max_hits: usize,
}

/// Hits kept by default; a long chaos run keeps the newest ones.
pub const DEFAULT_MAX_HITS: usize = 100_000;

impl MockUpstreamBuilder {
    /// Binds this address instead of `127.0.0.1:0`.
    #[must_use]
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Fast mode: fixed pre-serialized answers, no scripting, no hit log, no control API.
    #[must_use]
    pub fn fast(mut self, fast: bool) -> Self {
        self.fast = fast;
        self
    }

    /// Keeps at most this many hits, dropping the oldest (default [`DEFAULT_MAX_HITS`]; 0 keeps none).
    #[must_use]
    pub fn max_hits(mut self, max_hits: usize) -> Self {
        self.max_hits = max_hits;
        self
    }

    /// Binds the address and starts serving on the current tokio runtime.
    ///
    /// # Errors
    /// [`Error::Bind`] if the address cannot be bound.
    pub async fn start(self) -> Result<RunningMockUpstream, Error> {
        let bind_error = |source| Error::Bind {
            addr: self.addr,
            source,
        };
        let listener = TcpListener::bind(self.addr).await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let shutdown = CancellationToken::new();
        let shared = Arc::new(Shared::new(shutdown.clone(), self.max_hits));
        let app = if self.fast {
            fast::router()
        } else {
            server::router(Arc::clone(&shared))
        };
        let listener = CountingListener::new(listener, Arc::clone(&shared));
        let serve = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<ConnInfo>(),
        )
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
        let task = tokio::spawn(async move {
            if let Err(e) = serve.await {
                tracing::error!("mock upstream stopped: {e}");
            }
        });
        tracing::debug!(%addr, fast = self.fast, "mock upstream listening");
        Ok(RunningMockUpstream {
            addr,
            fast: self.fast,
            shared,
            shutdown,
            task: Some(task),
        })
    }
}

/// A running server. Dropping it stops the server; [`shutdown`](Self::shutdown) also waits for it.
///
/// Scripting methods mirror the control API:
///
/// | Rust | HTTP |
/// |---|---|
/// | [`script`](Self::script) | `POST /__control/script {"deployment": "gpt-4o", "behaviours": [...]}` |
/// | [`always`](Self::always) / [`clear_always`](Self::clear_always) | `POST /__control/always {"deployment": "gpt-4o", "behaviour": {...} or null}` |
/// | [`reset`](Self::reset) | `POST /__control/reset` |
/// | [`hits`](Self::hits) | `GET /__control/hits` → `{"hits": [...]}` |
/// | [`connections_accepted`](Self::connections_accepted), [`queued`](Self::queued) | `GET /__control/stats` → `{"connections_accepted", "hits", "queued": {...}}` |
///
/// In fast mode the scripting methods have no effect and the hit log stays empty.
#[derive(Debug)]
pub struct RunningMockUpstream {
    addr: SocketAddr,
    fast: bool,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl RunningMockUpstream {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The OpenAI API base: `{base_url}/v1`.
    pub fn openai_base(&self) -> String {
        format!("{}/v1", self.base_url())
    }

    /// The Anthropic API base: `{base_url}` (clients add `/v1/messages`).
    pub fn anthropic_base(&self) -> String {
        self.base_url()
    }

    /// The Azure OpenAI endpoint: `{base_url}` (clients add `/openai/deployments/...`).
    pub fn azure_endpoint(&self) -> String {
        self.base_url()
    }

    /// Whether this server runs in fast mode.
    pub fn is_fast(&self) -> bool {
        self.fast
    }

    /// Appends steps to the FIFO script of `deployment` (`"*"`: every deployment without a
    /// script of its own). Each request consumes one step.
    pub fn script<S: Into<Step>>(
        &self,
        deployment: impl Into<String>,
        steps: impl IntoIterator<Item = S>,
    ) {
        self.shared
            .enqueue(deployment.into(), steps.into_iter().map(Into::into));
    }

    /// Sets the behaviour used for `deployment` whenever its script (and the wildcard's) is empty.
    pub fn always(&self, deployment: impl Into<String>, step: impl Into<Step>) {
        self.shared.set_always(deployment.into(), Some(step.into()));
    }

    /// Clears the `always` behaviour of `deployment`.
    pub fn clear_always(&self, deployment: impl Into<String>) {
        self.shared.set_always(deployment.into(), None);
    }

    /// Clears every script, every `always` behaviour and the hit log (not the connection count).
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Steps still queued for exactly this deployment key.
    pub fn queued(&self, deployment: &str) -> usize {
        self.shared.queued(deployment)
    }

    /// Every request received so far, oldest first (control API calls are not recorded).
    pub fn hits(&self) -> Vec<Hit> {
        self.shared.hits()
    }

    /// The hits whose deployment key is `deployment`.
    pub fn hits_for(&self, deployment: &str) -> Vec<Hit> {
        let mut hits = self.shared.hits();
        hits.retain(|h| h.deployment.as_deref() == Some(deployment));
        hits
    }

    /// TCP connections accepted so far: a client that reuses connections keeps this low.
    pub fn connections_accepted(&self) -> u64 {
        self.shared.connections_accepted()
    }

    /// Stops accepting, ends hanging and streaming responses, and waits until the server task
    /// has finished.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take()
            && let Err(e) = task.await
        {
            tracing::warn!("mock upstream task failed: {e}");
        }
    }
}

impl Drop for RunningMockUpstream {
    fn drop(&mut self) {
        // The server task sees this and stops on its own; Drop cannot wait for it.
        self.shutdown.cancel();
    }
}
