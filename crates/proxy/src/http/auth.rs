//! Authentication (master key and static keys, compared in constant time) and per-key limits.

use std::{
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::http::HeaderMap;
use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    state::{InMemoryState, NotKeyed},
};
use router::state::{DeploymentKey, DeploymentLimits, StateStore, TokenUsage};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::http::error::ApiError;

/// A static API key with what it may do.
#[derive(Debug, Clone)]
pub struct ApiKey {
    /// A name for logs and metrics (never the key itself).
    pub name: String,
    /// The key.
    pub key: SecretString,
    /// Model groups it may call; `None` for all.
    pub models: Option<Vec<String>>,
    /// Requests per minute.
    pub rpm: Option<u32>,
    /// Tokens per minute.
    pub tpm: Option<u64>,
}

struct KeyEntry {
    key: ApiKey,
    rpm: Option<RateLimiter<NotKeyed, InMemoryState, DefaultClock>>,
    tokens: Option<Mutex<TokenUsage>>,
}

/// Who is calling.
#[derive(Debug, Clone, Copy)]
pub enum Caller {
    /// Auth is off: no master key and no keys configured.
    Anonymous,
    /// The master key: every model, no limits.
    Master,
    /// A configured key, by index.
    Key(usize),
}

/// The keys the proxy accepts.
pub struct Auth {
    master: Option<SecretString>,
    keys: Vec<KeyEntry>,
    /// Where the per-key limits are counted when several instances share them; `None`: here.
    shared: Option<Arc<dyn StateStore>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("master", &self.master.is_some())
            .field("keys", &self.keys.len())
            .field("shared_limits", &self.shared.is_some())
            .finish()
    }
}

fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        let token = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .unwrap_or(v);
        return Some(token.trim());
    }
    headers
        .get("x-api-key")
        .or_else(|| headers.get("api-key"))
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn same(a: &str, b: &SecretString) -> bool {
    a.as_bytes().ct_eq(b.expose_secret().as_bytes()).into()
}

impl Auth {
    /// Auth with an optional master key and static keys; with neither, every caller is let in.
    pub fn new(master: Option<SecretString>, keys: Vec<ApiKey>) -> Self {
        let keys = keys
            .into_iter()
            .map(|key| KeyEntry {
                rpm: key
                    .rpm
                    .and_then(NonZeroU32::new)
                    .map(|n| RateLimiter::direct(Quota::per_minute(n))),
                tokens: key.tpm.map(|t| Mutex::new(TokenUsage::new(Some(t)))),
                key,
            })
            .collect();
        Auth {
            master,
            keys,
            shared: None,
        }
    }

    /// Counts the per-key `rpm` and `tpm` limits in `store` (registered here with one entry
    /// per key, named by the key's name) instead of in this process, so that proxy instances
    /// sharing the store (Redis) enforce each key's limits together.
    pub fn share_limits(mut self, store: Arc<dyn StateStore>) -> Self {
        let limits: Vec<DeploymentLimits> = self
            .keys
            .iter()
            .map(|e| DeploymentLimits {
                id: e.key.name.as_str().into(),
                rpm: e.key.rpm,
                tpm: e.key.tpm,
            })
            .collect();
        store.register(&limits);
        self.shared = Some(store);
        self
    }

    fn shared_key(&self, i: usize) -> Option<(&dyn StateStore, DeploymentKey<'_>)> {
        let store = self.shared.as_deref()?;
        Some((
            store,
            DeploymentKey {
                index: i,
                id: &self.keys[i].key.name,
            },
        ))
    }

    /// Whether any key is required.
    pub fn enabled(&self) -> bool {
        self.master.is_some() || !self.keys.is_empty()
    }

    /// Checks the caller's key. Every configured key is compared, so the time taken does
    /// not reveal which one matched.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        if !self.enabled() {
            return Ok(Caller::Anonymous);
        }
        let Some(given) = presented_key(headers).filter(|k| !k.is_empty()) else {
            return Err(ApiError::unauthorized(
                "no API key: send it as `Authorization: Bearer <key>` or `x-api-key: <key>`",
            ));
        };
        let mut found = None;
        if let Some(master) = &self.master
            && same(given, master)
        {
            found = Some(Caller::Master);
        }
        for (i, entry) in self.keys.iter().enumerate() {
            if same(given, &entry.key.key) && found.is_none() {
                found = Some(Caller::Key(i));
            }
        }
        found.ok_or_else(|| ApiError::unauthorized("the API key is not valid for this proxy"))
    }

    /// Checks that the caller may use `model` and is within its request limit.
    pub fn admit(&self, caller: Caller, model: &str, now: Duration) -> Result<(), ApiError> {
        let Caller::Key(i) = caller else {
            return Ok(());
        };
        let entry = &self.keys[i];
        if let Some(models) = &entry.key.models
            && !models.iter().any(|m| m == model || m == "*")
        {
            return Err(ApiError::forbidden(format!(
                "the API key `{}` may not use model `{model}`; it may use: {}",
                entry.key.name,
                models.join(", ")
            )));
        }
        if let Some((store, k)) = self.shared_key(i) {
            store
                .token_capacity(k, now)
                .map_err(|w| ApiError::key_rate_limited("tokens-per-minute", w))?;
            return store
                .try_acquire_request(k, now)
                .map_err(|w| ApiError::key_rate_limited("requests-per-minute", w));
        }
        if let Some(tokens) = &entry.tokens {
            tokens
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .capacity(now)
                .map_err(|w| ApiError::key_rate_limited("tokens-per-minute", w))?;
        }
        if let Some(limiter) = &entry.rpm {
            limiter.check().map_err(|nu| {
                ApiError::key_rate_limited(
                    "requests-per-minute",
                    nu.wait_time_from(DefaultClock::default().now()),
                )
            })?;
        }
        Ok(())
    }

    /// Counts the tokens an answer used against the caller's tpm limit.
    pub fn record_tokens(&self, caller: Caller, now: Duration, tokens: u64) {
        if let Caller::Key(i) = caller
            && let Some((store, k)) = self.shared_key(i)
        {
            store.record_tokens(k, now, tokens);
        } else if let Caller::Key(i) = caller
            && let Some(t) = &self.keys[i].tokens
        {
            t.lock()
                .unwrap_or_else(|p| p.into_inner())
                .consume(now, tokens);
        }
    }

    /// The caller's name for logs.
    pub fn name(&self, caller: Caller) -> &str {
        match caller {
            Caller::Anonymous => "anonymous",
            Caller::Master => "master",
            Caller::Key(i) => &self.keys[i].key.name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("valid header"));
        }
        h
    }

    #[test]
    fn keys_and_limits() {
        let auth = Auth::new(
            Some("sk-master".to_owned().into()),
            vec![ApiKey {
                name: "team-a".into(),
                key: "sk-a".to_owned().into(),
                models: Some(vec!["gpt-4o".into()]),
                rpm: Some(1),
                tpm: None,
            }],
        );
        assert!(matches!(
            auth.authenticate(&headers(&[("authorization", "Bearer sk-master")])),
            Ok(Caller::Master)
        ));
        assert!(matches!(
            auth.authenticate(&headers(&[("x-api-key", "sk-a")])),
            Ok(Caller::Key(0))
        ));
        assert_eq!(
            auth.authenticate(&headers(&[("authorization", "Bearer nope")]))
                .map(|_| ())
                .unwrap_err()
                .status(),
            401
        );
        assert_eq!(
            auth.authenticate(&headers(&[]))
                .map(|_| ())
                .unwrap_err()
                .status(),
            401
        );
        let now = Duration::from_secs(1);
        assert_eq!(
            auth.admit(Caller::Key(0), "claude", now)
                .unwrap_err()
                .status(),
            403
        );
        assert!(auth.admit(Caller::Key(0), "gpt-4o", now).is_ok());
        assert_eq!(
            auth.admit(Caller::Key(0), "gpt-4o", now)
                .unwrap_err()
                .status(),
            429
        );
        assert!(format!("{auth:?}").find("sk-").is_none());
    }

    #[test]
    fn shared_limits_are_counted_in_the_store() {
        let key = |name: &str, rpm, tpm| ApiKey {
            name: name.into(),
            key: format!("sk-{name}").into(),
            models: None,
            rpm,
            tpm,
        };
        let store = Arc::new(router::InMemoryStore::new());
        let auth = Auth::new(
            None,
            vec![key("a", Some(1), None), key("b", None, Some(100))],
        )
        .share_limits(store.clone());
        let now = Duration::from_secs(1000);
        assert!(auth.admit(Caller::Key(0), "m", now).is_ok());
        assert_eq!(
            auth.admit(Caller::Key(0), "m", now).unwrap_err().status(),
            429
        );
        // The tokens go to the store, under the key's name.
        auth.record_tokens(Caller::Key(1), now, 500);
        let b = DeploymentKey { index: 1, id: "b" };
        assert_eq!(store.tokens_used(b, now), 500);
        assert_eq!(
            auth.admit(Caller::Key(1), "m", now).unwrap_err().status(),
            429
        );
    }
}
