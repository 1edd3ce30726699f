//! Switchyard's transport settings, and the reqwest client built with them (for an
//! [`HttpClient`](crate::HttpClient) that must go through reqwest: proxies, own roots).

use std::time::Duration;

use crate::BuildError;

/// How long establishing a TCP (and TLS) connection may take before the attempt fails with
/// [`ErrorKind::Connection`](provider::ErrorKind::Connection).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an idle pooled connection is kept for reuse.
pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// How many idle connections are kept per upstream host.
pub const DEFAULT_POOL_MAX_IDLE_PER_HOST: usize = 64;

/// A [`reqwest::ClientBuilder`] with Switchyard's transport settings, to customise further
/// (proxies, root certificates) before building the client to hand to a provider builder.
/// [`HttpClient::direct`](crate::HttpClient::direct) uses the same settings on hyper's
/// client (HTTP/2 by ALPN, TLS by rustls with the Mozilla roots, no redirects, no retries).
///
/// - connection pooling: idle connections kept for 90 s, up to 64 per host;
/// - connect timeout 10 s; no overall timeout (each attempt's limit comes from the
///   router's [`CallContext`](provider::CallContext));
/// - `TCP_NODELAY` on, TCP keepalive every 30 s, HTTP/2 keepalive pings every 30 s so
///   a dead connection under a long stream is noticed;
/// - redirects off: an API answer that redirects is reported, not followed with the key;
/// - **no retries**: [`reqwest::retry::never`] replaces reqwest's default policy, which
///   would otherwise resend a request the server refused at the HTTP/2 protocol level
///   (`REFUSED_STREAM`, a `GOAWAY` before the stream was processed). Only the router retries,
///   and it must see every attempt. The one resend that remains happens below reqwest, in
///   hyper's connection pool: a request whose pooled connection turned out to be closed
///   *before any byte of the request was written* is sent on a fresh connection. The
///   upstream never saw the first one, so that is not a second attempt.
pub fn default_client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
        .pool_idle_timeout(DEFAULT_POOL_IDLE_TIMEOUT)
        .pool_max_idle_per_host(DEFAULT_POOL_MAX_IDLE_PER_HOST)
        .tcp_nodelay(true)
        .tcp_keepalive(Duration::from_secs(30))
        .http2_keep_alive_interval(Duration::from_secs(30))
        .http2_keep_alive_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never())
        .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
}

/// A new pooled client with the settings of [`default_client_builder`].
///
/// Build one and pass it to several provider builders (`.client(client.clone())`) to share
/// one connection pool; a provider built without `.client(..)` gets its own.
///
/// # Errors
///
/// [`BuildError::Client`] if the TLS backend cannot be initialised.
pub fn default_client() -> Result<reqwest::Client, BuildError> {
    default_client_builder().build().map_err(BuildError::Client)
}
