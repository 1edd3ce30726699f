//! A [`StateStore`](router::StateStore) on Redis, so that several Switchyard instances behind a
//! load balancer share one view of their deployments: cooldowns, failure windows, and
//! requests and tokens used per minute.
//!
//! # What it is
//!
//! [`RedisStore`] keeps a full local copy of the state, in memory, and serves every read the
//! router makes from it: the router's `StateStore` methods are synchronous and sit on the
//! request path, so none of them waits on the network. Writes update the local copy at once
//! and are replicated by a background task ([`RedisStore::connect`] returns it as a future for
//! the caller to spawn) that, every sync interval (200 ms by default):
//!
//! - pushes what changed: cooldown deadlines (a Lua script that keeps the later deadline, so a
//!   cooldown is extended and never shortened), failures into a shared sliding window, and the
//!   requests and tokens counted since the last round, coalesced into one increment per
//!   deployment and counter;
//! - pulls what the other instances wrote: every deployment's cooldown deadline, failure window
//!   and per-minute usage, which it merges into the local copy.
//!
//! A new cooldown wakes the task at once, so it reaches Redis within a round trip and every
//! other instance sees it at its next pull: well within one second. Request and token limits
//! are checked against the shared count of the last pull plus this instance's own increments
//! since, so the instances together may overshoot a limit by at most what they admit in one
//! sync interval (`docs/scaling.md` works the numbers).
//!
//! If Redis is slow or down, nothing on the request path notices: the local copy keeps
//! serving, one warning is logged per outage (and one info line when Redis is back),
//! [`RedisStore::redis_healthy`] and the `switchyard_redis_up` metric say so, and the task
//! reconnects by itself and pushes what accumulated in the meantime.
//!
//! # Key layout
//!
//! Every key starts with the configured prefix (`switchyard:` by default, so several gateways
//! can share one Redis by using different prefixes). `{id}` is the deployment id (from
//! `model_info.id`, or `model_name/index` when the config gives none: the instances must run
//! the same config), `{minute}` is Unix time in seconds divided by 60.
//!
//! | key | type | what | expires |
//! |---|---|---|---|
//! | `{prefix}cool:{id}` | string | cooldown deadline, ms since the Unix epoch | at the deadline (`PX`) |
//! | `{prefix}fails:{id}` | sorted set | one member `{instance}:{seq}` per failure that counts toward `allowed_fails`, scored by its time in ms; deleted when a cooldown starts | one failure window after the last failure |
//! | `{prefix}rpm:{id}:{minute}` | integer | requests routed to the deployment in that minute (deployments with an `rpm` limit only) | 150 s after the last increment |
//! | `{prefix}tpm:{id}:{minute}` | integer | tokens the deployment's answers used in that minute | 150 s after the last increment |
//!
//! A [companion](RedisStore::companion) store (the proxy's per-key limits) writes the same
//! `rpm`/`tpm` counters under its own prefix (`{prefix}keys:` in the proxy).
//!
//! # What it is not
//!
//! Not a cache of responses, not a lock service, and not a replacement for the router's
//! in-memory store when there is one instance. In-flight counts and latency figures stay per
//! instance on purpose (they describe this instance's own connections and change on every
//! request; sharing them would put a round trip on every request for figures that are stale
//! by the time they arrive). Escalation of repeated cooldowns is computed per instance; the
//! deadlines it produces are shared. Redis Cluster is not supported (a pull reads keys of every
//! slot in one command).
//!
//! # Who depends on it
//!
//! The `switchyard` command (`serve` with `router_settings.redis_url` or `redis_host` in the
//! config) and Rust services that run several routers and want them to agree.
//!
//! # Example
//!
//! ```no_run
//! # extern crate router as switchyard_router;
//! # extern crate mock as switchyard_mock;
//! use std::sync::Arc;
//! use switchyard_redis::{RedisConfig, RedisStore};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let deployment = switchyard_router::DeploymentConfig::new(
//! #     "gpt-4o", Arc::new(switchyard_mock::MockProvider::new("gpt-4o")));
//! let (store, sync) = RedisStore::connect(RedisConfig::url("redis://127.0.0.1:6379/0")).await?;
//! // The caller owns the background task: spawn it where it can be stopped on shutdown.
//! let sync = tokio::spawn(sync);
//! let router = switchyard_router::Router::builder()
//!     .deployment(deployment)
//!     .state_store(store.clone())
//!     .build()?;
//! // ... serve requests with `router` ...
//! # drop(router);
//! println!("redis up: {}, commands sent: {}", store.redis_healthy(), store.stats().ops_total());
//! sync.abort();
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod config;
mod health;
mod keys;
mod scripts;
mod store;
mod sync;
#[cfg(feature = "test-util")]
pub mod test_util;
mod window;

pub use config::{DEFAULT_KEY_PREFIX, RedisConfig, RedisError};
pub use store::{RedisStats, RedisStore, SyncTask};
