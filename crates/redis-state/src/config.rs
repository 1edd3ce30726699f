//! Where Redis is and how the store talks to it: [`RedisConfig`], and the start-up errors.

use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};
use secrecy::{ExposeSecret, SecretString};

/// The default key prefix, as in the proxy's config.
pub const DEFAULT_KEY_PREFIX: &str = "switchyard:";

/// How to reach Redis, and the store's timing. Built with [`RedisConfig::url`] or
/// [`RedisConfig::host`], then adjusted; checked by [`RedisStore::connect`](crate::RedisStore::connect).
#[derive(Debug, Clone)]
pub struct RedisConfig {
    pub(crate) target: Target,
    pub(crate) key_prefix: String,
    pub(crate) sync_interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) queue_capacity: usize,
}

#[derive(Debug, Clone)]
pub(crate) enum Target {
    Url(SecretString),
    Host {
        host: String,
        port: u16,
        password: Option<SecretString>,
        db: Option<u32>,
    },
}

impl RedisConfig {
    /// Redis at a URL: `redis://[:password@]host[:port][/db]`. The URL may hold a password, so
    /// it is kept secret and never printed.
    pub fn url(url: impl Into<String>) -> Self {
        Self::with_target(Target::Url(SecretString::from(url.into())))
    }

    /// Redis at `host:port` (LiteLLM's `redis_host` / `redis_port`).
    pub fn host(host: impl Into<String>, port: u16) -> Self {
        Self::with_target(Target::Host {
            host: host.into(),
            port,
            password: None,
            db: None,
        })
    }

    fn with_target(target: Target) -> Self {
        RedisConfig {
            target,
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            sync_interval: Duration::from_millis(200),
            timeout: Duration::from_millis(500),
            queue_capacity: 4096,
        }
    }

    /// The password of a [`host`](Self::host) target (`redis_password`); a URL carries its own.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        if let Target::Host { password: p, .. } = &mut self.target {
            *p = Some(SecretString::from(password.into()));
        }
        self
    }

    /// The database number of a [`host`](Self::host) target; a URL carries its own.
    pub fn db(mut self, db: u32) -> Self {
        if let Target::Host { db: d, .. } = &mut self.target {
            *d = Some(db);
        }
        self
    }

    /// Prefix of every key the store writes. Default `switchyard:`. Gateways that share one
    /// Redis but not their deployments use different prefixes.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// How often the background task pushes and pulls. Default 200 ms. Shorter: instances
    /// agree sooner and overshoot shared limits less, for more Redis commands per second.
    pub fn sync_interval(mut self, interval: Duration) -> Self {
        self.sync_interval = interval;
        self
    }

    /// How long one round trip (connect, or a push and pull) may take before Redis counts as
    /// down. Default 500 ms.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many cooldown and failure updates may wait for the background task; more are
    /// dropped (and counted) rather than block a request. Default 4096.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// Checks the settings and turns them into the driver's connection info.
    pub(crate) fn validate(&self) -> Result<ConnectionInfo, RedisError> {
        if self.sync_interval < Duration::from_millis(10)
            || self.sync_interval > Duration::from_secs(1)
        {
            return Err(RedisError::Config(format!(
                "the sync interval is {:?}; pick one between 10ms and 1s (cooldowns must reach every instance within a second)",
                self.sync_interval
            )));
        }
        if self.timeout.is_zero() {
            return Err(RedisError::Config(
                "the Redis timeout is zero; give it a few hundred milliseconds".into(),
            ));
        }
        if self.queue_capacity == 0 {
            return Err(RedisError::Config(
                "the update queue capacity is zero; leave the default (4096)".into(),
            ));
        }
        match &self.target {
            Target::Url(url) => parse_url(url.expose_secret()),
            Target::Host {
                host,
                port,
                password,
                db,
            } => {
                if host.trim().is_empty() {
                    return Err(RedisError::InvalidUrl(
                        "redis_host is empty; write the host name or address of the Redis server"
                            .into(),
                    ));
                }
                let mut redis = RedisConnectionInfo::default();
                if let Some(p) = password {
                    redis = redis.set_password(p.expose_secret());
                }
                if let Some(db) = db {
                    redis = redis.set_db(i64::from(*db));
                }
                ConnectionAddr::Tcp(host.trim().to_owned(), *port)
                    .into_connection_info()
                    .map(|info| info.set_redis_settings(redis))
                    .map_err(|e| RedisError::InvalidUrl(e.to_string()))
            }
        }
    }

    /// Where Redis is, with no secret: for logs.
    pub(crate) fn describe(&self) -> String {
        match &self.target {
            Target::Url(url) => redact_url(url.expose_secret()),
            Target::Host { host, port, db, .. } => match db {
                Some(db) => format!("redis://{host}:{port}/{db}"),
                None => format!("redis://{host}:{port}"),
            },
        }
    }
}

fn parse_url(url: &str) -> Result<ConnectionInfo, RedisError> {
    let scheme = url.split("://").next().unwrap_or_default();
    if !matches!(
        scheme,
        "redis" | "rediss" | "redis+unix" | "unix" | "valkey" | "valkeys"
    ) {
        return Err(RedisError::InvalidUrl(
            "it does not start with `redis://`; write `redis://[:password@]host:6379[/db]` \
             (`rediss://` for TLS)"
                .into(),
        ));
    }
    // The driver's own messages name no part of the URL, so they are safe to show.
    url.into_connection_info().map_err(|e| {
        RedisError::InvalidUrl(format!(
            "{e}; write `redis://[:password@]host:6379[/db]` (a password with `@`, `:` or `/` must be percent-encoded)"
        ))
    })
}

/// `redis://user:pw@host:6379/0` → `redis://***@host:6379/0`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(unparsable URL)".to_owned();
    };
    match rest.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}"),
        None => url.to_owned(),
    }
}

/// Why the store could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisError {
    /// The URL (or host settings) cannot be used.
    #[error("router_settings.redis_url is not a usable Redis address: {0}")]
    InvalidUrl(String),
    /// A store setting is out of range.
    #[error("redis store settings: {0}")]
    Config(String),
    /// Redis answered, and refused us: wrong password, unknown database, missing permission.
    /// An unreachable Redis is not an error at start-up (the store starts on local state and
    /// connects when Redis appears); a refusing one is a configuration mistake.
    #[error(
        "Redis at {target} refused the connection: {reason}; check redis_password (or the URL's credentials) and the database number"
    )]
    Refused {
        /// Where Redis is, without credentials.
        target: String,
        /// What Redis said.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_never_echoed() {
        assert!(
            RedisConfig::url("redis://127.0.0.1:6379/0")
                .validate()
                .is_ok()
        );
        assert!(RedisConfig::url("redis://:pw@cache").validate().is_ok());
        assert!(
            RedisConfig::url("rediss://:pw@cache:6380")
                .validate()
                .is_ok()
        );
        for bad in [
            "http://cache:6379",
            "cache:6379",
            "https://:hunter2@cache",
            "redis://:hunter2@cache:notaport",
        ] {
            let err = RedisConfig::url(bad).validate().expect_err(bad).to_string();
            assert!(!err.contains("hunter2"), "{err}");
            assert!(err.contains("redis_url"), "{err}");
        }
        assert_eq!(
            redact_url("redis://:hunter2@cache:6379/2"),
            "redis://***@cache:6379/2"
        );
        assert_eq!(
            RedisConfig::url("redis://u:hunter2@c").describe(),
            "redis://***@c"
        );
        let host = RedisConfig::host("cache", 6380).password("hunter2").db(3);
        let info = host.validate().expect("host target");
        assert_eq!(info.redis_settings().db(), 3);
        assert_eq!(host.describe(), "redis://cache:6380/3");
        assert!(!format!("{host:?}").contains("hunter2"));
    }

    #[test]
    fn timing_is_bounded() {
        let url = || RedisConfig::url("redis://127.0.0.1");
        assert!(
            url()
                .sync_interval(Duration::from_secs(2))
                .validate()
                .is_err()
        );
        assert!(url().sync_interval(Duration::ZERO).validate().is_err());
        assert!(url().timeout(Duration::ZERO).validate().is_err());
        assert!(url().queue_capacity(0).validate().is_err());
    }
}
