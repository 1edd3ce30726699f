//! The HTTP side of the proxy: the axum app, its state, and serving with graceful shutdown.

pub mod auth;
pub mod error;
pub mod handlers;
pub mod headers;
pub mod metrics;
pub mod request;
mod serve;

pub use serve::serve_on_workers;

use std::{
    future::Future,
    net::SocketAddr,
    sync::{Arc, atomic::AtomicU64},
    time::{SystemTime, UNIX_EPOCH},
};

use axum::routing::{get, post};
use router::Router;

use self::{auth::Auth, metrics::Metrics};

/// Everything a handler needs; shared by all requests.
pub struct AppState {
    /// The router that makes the upstream calls.
    pub router: Router,
    /// Keys and per-key limits.
    pub auth: Auth,
    /// The metrics registry (also an observer of the router).
    pub metrics: Arc<Metrics>,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    pub(crate) request_counter: AtomicU64,
    pub(crate) instance_tag: u32,
    pub(crate) started_unix: u64,
}

impl AppState {
    /// State for a router whose observers include `metrics`.
    pub fn new(router: Router, auth: Auth, metrics: Arc<Metrics>, max_body_bytes: usize) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        AppState {
            router,
            auth,
            metrics,
            max_body_bytes,
            request_counter: AtomicU64::new(0),
            instance_tag: now.subsec_nanos() ^ std::process::id(),
            started_unix: now.as_secs(),
        }
    }
}

/// The axum app with every endpoint.
pub fn app(state: Arc<AppState>) -> axum::Router {
    axum::Router::new()
        .route("/v1/chat/completions", post(handlers::chat_completions))
        .route("/chat/completions", post(handlers::chat_completions))
        .route("/v1/embeddings", post(handlers::embeddings))
        .route("/embeddings", post(handlers::embeddings))
        .route("/v1/models", get(handlers::list_models))
        .route("/models", get(handlers::list_models))
        .route("/v1/models/{id}", get(handlers::get_model))
        .route("/models/{id}", get(handlers::get_model))
        .route("/health/liveliness", get(handlers::liveness))
        .route("/health/liveness", get(handlers::liveness))
        .route("/health/readiness", get(handlers::readiness))
        .route("/health", get(handlers::health))
        .route("/metrics", get(handlers::metrics))
        .fallback(handlers::not_found)
        .with_state(state)
}

/// Serves `app` on `listener` on the caller's runtime until `shutdown` resolves, then lets
/// in-flight requests finish. The `switchyard` binary uses [`serve_on_workers`] instead.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app(state);
    // Streamed answers are many small writes: without TCP_NODELAY, Nagle's algorithm holds each
    // one back until the client acknowledges the last.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on a client connection");
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
