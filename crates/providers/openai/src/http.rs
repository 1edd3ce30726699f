//! [`HttpClient`]: the connection pool a provider sends with.
//!
//! By default that is hyper's pooled client, used directly. reqwest (which the providers used
//! before) wraps the same client in layers a provider does not need: a redirect policy that
//! parses every request's URL twice although redirects are off, a URL kept beside the URI,
//! a header merge. Measured with callgrind on the proxy, those layers were a quarter of its
//! instructions per request (`docs/benchmarks.md`).
//!
//! The direct client keeps one set of pools per CPU, and each thread sends through the set it
//! was given on its first request ([`PerThread`]): a connection is then only used by the thread
//! whose runtime runs its task. `https` targets go through hyper-util's client (TLS, HTTP/2 by
//! ALPN); plain `http` targets (local and self-hosted servers, the benchmarks) through a leaner
//! HTTP/1.1 client and pool of our own (`pool.rs`, `h1.rs`).
//!
//! reqwest is still there for what the direct client does not do: hand in a
//! [`reqwest::Client`] (`HttpClient::from(client)`) for an outbound proxy, your own root
//! certificates or client certificates; and when the environment names a proxy
//! (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, in either case), [`HttpClient::new`] builds a
//! reqwest client itself, which honours them and `NO_PROXY`.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::BuildError;
use crate::client::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_POOL_IDLE_TIMEOUT, DEFAULT_POOL_MAX_IDLE_PER_HOST,
};
use crate::pool::PlainPool;

/// hyper's pooled client over TCP, with TLS (rustls, the Mozilla roots) for `https`.
pub(crate) type Direct = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The connection pool providers send with. Cheap to clone: clones share the pool.
///
/// hyper's pooled client used directly by default; a [`reqwest::Client`] when you hand one
/// in (`HttpClient::from(client)`: outbound proxies, your own root or client certificates)
/// or when the environment names a proxy (see [`HttpClient::new`]).
///
/// Build one with [`HttpClient::new`] and pass it to several provider builders
/// (`.client(http.clone())`) to share connections; a provider built without `.client(..)`
/// gets a pool of its own. The settings are those listed at
/// [`default_client_builder`](crate::default_client_builder), for both kinds of client.
#[derive(Clone)]
pub struct HttpClient {
    pub(crate) inner: Inner,
}

#[derive(Clone)]
pub(crate) enum Inner {
    /// hyper's client, straight: one pool per thread.
    Direct(Arc<PerThread>),
    /// A reqwest client: handed in, or built because the environment names a proxy.
    Reqwest(reqwest::Client),
}

/// The direct client's pools, one slot per CPU, each used by the threads given that slot.
///
/// A hyper connection's task runs on the runtime of the thread that opened it, and a plain
/// connection's socket is registered with that runtime's driver. With one pool per thread, a
/// thread that runs a current-thread runtime (the proxy's workers) only ever sends over
/// connections of its own runtime: no request waits for another thread to wake.
/// Threads get slots in the order they first send, round robin, so N worker threads that are
/// the only senders get N different slots.
pub(crate) struct PerThread {
    slots: Box<[Slot]>,
}

/// The pools of one slot.
pub(crate) struct Slot {
    /// hyper-util's client: `https` (TLS, HTTP/2 by ALPN), and `http` when `plain` is off.
    pub(crate) tls: Direct,
    /// Plain-HTTP/1.1 connections for `http` targets.
    pub(crate) plain: Option<PlainPool>,
}

/// The next slot to give a thread.
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's slot, taken on its first request.
    static SLOT: usize = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
}

impl PerThread {
    /// The pools of the calling thread.
    pub(crate) fn here(&self) -> &Slot {
        let slot = SLOT.with(|slot| *slot);
        &self.slots[slot % self.slots.len()]
    }
}

/// The environment variables that name an outbound proxy, as reqwest reads them.
const PROXY_VARIABLES: [&str; 6] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
];

impl HttpClient {
    /// A new pool: hyper's client used directly, or a reqwest client when the environment
    /// names an outbound proxy (`HTTPS_PROXY`, `HTTP_PROXY` or `ALL_PROXY`, in either case;
    /// reqwest then honours them and `NO_PROXY`).
    ///
    /// # Errors
    ///
    /// [`BuildError::Tls`] or [`BuildError::Client`] if the TLS backend cannot be set up.
    pub fn new() -> Result<HttpClient, BuildError> {
        if proxy_in_environment(|name| std::env::var_os(name)) {
            return Ok(HttpClient::from(crate::default_client()?));
        }
        HttpClient::direct()
    }

    /// A new pool on hyper's client, whatever the environment says.
    ///
    /// # Errors
    ///
    /// [`BuildError::Tls`] if the TLS backend cannot be set up.
    pub fn direct() -> Result<HttpClient, BuildError> {
        HttpClient::direct_with(true)
    }

    /// hyper's client, with the plain-HTTP pool for `http://` targets when `plain_pool`
    /// (always, except in tests of the other path).
    pub(crate) fn direct_with(plain_pool: bool) -> Result<HttpClient, BuildError> {
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(DEFAULT_CONNECT_TIMEOUT));
        tcp.set_keepalive(Some(Duration::from_secs(30)));
        let plain_tcp = tcp.clone();
        // The TLS layer above handles `https`; plain TCP must accept both schemes.
        tcp.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(Arc::new(rustls::crypto::ring::default_provider()))
            .map_err(BuildError::Tls)?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp);
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let slots = (0..threads)
            .map(|_| Slot {
                tls: Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(DEFAULT_POOL_IDLE_TIMEOUT)
                    .pool_max_idle_per_host(DEFAULT_POOL_MAX_IDLE_PER_HOST)
                    .pool_timer(TokioTimer::new())
                    .timer(TokioTimer::new())
                    .http2_keep_alive_interval(Duration::from_secs(30))
                    .http2_keep_alive_timeout(Duration::from_secs(10))
                    .build(https.clone()),
                plain: plain_pool.then(|| {
                    PlainPool::new(
                        plain_tcp.clone(),
                        DEFAULT_POOL_IDLE_TIMEOUT,
                        DEFAULT_POOL_MAX_IDLE_PER_HOST,
                    )
                }),
            })
            .collect();
        Ok(HttpClient {
            inner: Inner::Direct(Arc::new(PerThread { slots })),
        })
    }

    /// Whether requests go through reqwest (a client handed in, or a proxy in the
    /// environment) rather than straight to hyper.
    pub fn is_reqwest(&self) -> bool {
        matches!(self.inner, Inner::Reqwest(_))
    }
}

impl From<reqwest::Client> for HttpClient {
    fn from(client: reqwest::Client) -> Self {
        HttpClient {
            inner: Inner::Reqwest(client),
        }
    }
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.inner {
            Inner::Direct(_) => "hyper",
            Inner::Reqwest(_) => "reqwest",
        };
        f.debug_tuple("HttpClient").field(&kind).finish()
    }
}

/// Whether any proxy variable is set to something.
fn proxy_in_environment(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> bool {
    PROXY_VARIABLES
        .iter()
        .any(|name| var(name).is_some_and(|value| !value.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxy_in_the_environment_selects_reqwest() {
        let none = |_: &str| None;
        assert!(!proxy_in_environment(none));
        let empty = |_: &str| Some(std::ffi::OsString::new());
        assert!(
            !proxy_in_environment(empty),
            "an empty variable names no proxy"
        );
        for set in PROXY_VARIABLES {
            let one = |name: &str| (name == set).then(|| "http://proxy:3128".into());
            assert!(proxy_in_environment(one), "{set}");
        }
    }

    #[test]
    fn clients_say_what_they_are_without_detail() {
        let direct = HttpClient::direct().expect("the TLS backend initialises");
        assert!(!direct.is_reqwest());
        assert_eq!(format!("{direct:?}"), "HttpClient(\"hyper\")");
        let handed_in = HttpClient::from(reqwest::Client::new());
        assert!(handed_in.is_reqwest());
        assert_eq!(format!("{handed_in:?}"), "HttpClient(\"reqwest\")");
    }

    #[tokio::test]
    async fn without_the_plain_pool_http_goes_through_hyper_utils_client() {
        use std::sync::atomic::Ordering;

        use crate::pool::tests::{Mode, server};
        use crate::transport::{self, Limit, Target};

        let (base, accepted) = server(Mode::Whole).await;
        let client = HttpClient::direct_with(false).expect("the TLS backend initialises");
        let target = Target::new(format!("{base}/x").parse().expect("a URL")).expect("a target");
        for _ in 0..3 {
            let answer = transport::send(
                "test",
                &client,
                &target,
                http::HeaderMap::new(),
                Vec::new(),
                Some(Duration::from_secs(10)),
                Limit::WholeCall,
            )
            .await
            .expect("a 200 answer");
            let body = transport::read_body("test", &target, answer)
                .await
                .expect("a body");
            assert_eq!(body, "ok");
        }
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            1,
            "its pool keeps the connection"
        );
        let Inner::Direct(pools) = &client.inner else {
            panic!("a direct client");
        };
        assert!(pools.here().plain.is_none());
    }
}
