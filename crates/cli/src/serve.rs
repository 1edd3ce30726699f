//! `serve`, `check` and `mock-upstream`: load the config, assemble the gateway, run it.

use std::{
    net::{IpAddr, SocketAddr},
    num::NonZeroUsize,
    path::{Path, PathBuf},
};

use anyhow::Context;
use proxy::{
    config::{Config, LogFormat, RedisConnection, RedisSettings, RuntimeKind},
    http,
    wiring::{self, Extras},
};
use redis_state::{RedisConfig, RedisStore};

use crate::providers::Factory;

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,switchyard=info"));
    // Colour codes only for a terminal: in a file, journald or a log shipper they are noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    // A second init (tests calling in) is harmless: keep the first subscriber.
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        _ => builder.try_init(),
    };
}

fn load(config: Option<&Path>) -> anyhow::Result<(Config, bool)> {
    match config {
        Some(path) => Ok((
            Config::load(path).with_context(|| format!("cannot load {}", path.display()))?,
            false,
        )),
        None => Ok((Config::demo(), true)),
    }
}

/// `switchyard serve`.
pub(crate) fn serve(
    config: Option<PathBuf>,
    host: Option<IpAddr>,
    port: Option<u16>,
) -> anyhow::Result<()> {
    let (mut cfg, demo) = load(config.as_deref())?;
    init_logging(cfg.server.log_format);
    if let Some(h) = host {
        cfg.server.host = h.to_string();
    }
    if let Some(p) = port {
        cfg.server.port = p;
    }
    if !cfg.warnings.is_empty() {
        tracing::warn!(
            "these config keys are not supported and are ignored: {}",
            cfg.warnings.join("; ")
        );
    }
    // Thread per core (the default): requests are served by worker threads with runtimes of
    // their own (`serve_on_workers`), and this runtime accepts connections and runs the
    // gateway's background work. Work stealing: one multi-thread runtime does everything.
    let workers = cfg
        .server
        .worker_threads
        .and_then(NonZeroUsize::new)
        .or_else(|| std::thread::available_parallelism().ok())
        .unwrap_or(NonZeroUsize::MIN);
    let work_stealing = cfg.server.runtime == RuntimeKind::WorkStealing;
    let mut runtime = if work_stealing {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers.get());
        b
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = runtime
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let factory = Factory::new()?;
        // Background work the gateway owns; stopped (aborted) when serving ends.
        let mut background = tokio::task::JoinSet::new();
        let mut extras = Extras::default();
        let mut redis = None;
        if let Some(settings) = &cfg.redis {
            let (store, sync) = RedisStore::connect(redis_config(settings)?).await?;
            background.spawn(sync);
            // Per-key limits get a store of their own (a store serves one registration),
            // synced by the same task over the same connection.
            if cfg.auth.keys.iter().any(|k| k.rpm.is_some() || k.tpm.is_some()) {
                extras.key_limits_store =
                    Some(store.companion(&format!("{}keys:", settings.key_prefix)));
            }
            extras.state_store = Some(store.clone());
            redis = Some(store);
        }
        let state = wiring::build_state(&cfg, &factory, extras)?;
        if let Some(store) = redis {
            state.metrics.add_source(move |out| store.render_metrics(out));
        }
        if !state.auth.enabled() {
            tracing::warn!("no master_key and no keys configured: the proxy accepts every caller");
        }
        let addr = cfg.server.listen_addr();
        let listener = tokio::net::TcpListener::bind(&addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        let local: SocketAddr = listener.local_addr()?;
        let groups: Vec<&str> = state.router.model_groups().collect();
        tracing::info!(
            "switchyard {} listening on http://{local} with {} deployment(s) in model groups: {}",
            env!("CARGO_PKG_VERSION"),
            state.router.deployments().len(),
            groups.join(", ")
        );
        if demo {
            let model = groups.first().copied().unwrap_or("gpt-4o");
            tracing::info!(
                "demo mode (no --config): in-process mock deployments, no API key needed. Try:\n  curl http://{local}/v1/chat/completions -H 'content-type: application/json' -d '{{\"model\":\"{model}\",\"messages\":[{{\"role\":\"user\",\"content\":\"hello\"}}]}}' -i\n  or any OpenAI SDK with base_url=http://{local}/v1 ; watch the x-switchyard-* headers and http://{local}/metrics"
            );
        }
        let served = if work_stealing {
            http::serve(listener, state, http::shutdown_signal()).await
        } else {
            http::serve_on_workers(listener, state, workers, http::shutdown_signal()).await
        }
        .context("the server failed");
        background.shutdown().await;
        served?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// The Redis store's settings from the config's (the proxy does not know the store crate).
fn redis_config(settings: &RedisSettings) -> anyhow::Result<RedisConfig> {
    let config = match &settings.connection {
        RedisConnection::Url(url) => RedisConfig::url(url.expose()),
        RedisConnection::Host {
            host,
            port,
            password,
            db,
        } => {
            let mut c = RedisConfig::host(host.clone(), *port);
            if let Some(p) = password {
                c = c.password(p.expose());
            }
            if let Some(db) = db {
                c = c.db(*db);
            }
            c
        }
        _ => anyhow::bail!(
            "this kind of Redis connection is not supported yet; use router_settings.redis_url"
        ),
    };
    Ok(config.key_prefix(settings.key_prefix.clone()))
}

/// `switchyard check`.
pub(crate) fn check(path: &Path) -> anyhow::Result<()> {
    let cfg =
        Config::load(path).with_context(|| format!("{} is not a valid config", path.display()))?;
    // Building the router validates what the config layer cannot (e.g. provider settings).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        wiring::build_state(&cfg, &Factory::new()?, Extras::default())
            .map(|_| ())
            .map_err(anyhow::Error::from)
    })?;
    println!("{}", cfg.redacted_summary());
    for w in &cfg.warnings {
        println!("warning: {w}");
    }
    println!("{}: ok", path.display());
    Ok(())
}

/// `switchyard mock-upstream`.
pub(crate) fn mock_upstream(host: IpAddr, port: u16, fast: bool) -> anyhow::Result<()> {
    init_logging(LogFormat::Text);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let upstream = mock_upstream::MockUpstream::builder().addr(SocketAddr::new(host, port)).fast(fast).start().await?;
        println!(
            "mock upstream listening on {}\n  OpenAI base:    {}\n  Anthropic base: {}\n  control API:    {}/__control/",
            upstream.base_url(),
            upstream.openai_base(),
            upstream.anthropic_base(),
            upstream.base_url()
        );
        http::shutdown_signal().await;
        upstream.shutdown().await;
        Ok(())
    })
}
