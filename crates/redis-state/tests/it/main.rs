//! Integration tests of `switchyard-redis` against a real `redis-server`: several stores (as
//! several instances would hold) sharing one Redis, driven through the router's `StateStore`
//! trait and through real routers.

mod routers;
mod stores;

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use switchyard_redis::{RedisConfig, RedisStore, test_util::RedisServer};
use tokio::task::JoinHandle;

/// One "instance": a store and its background task, aborted on drop.
pub(crate) struct Instance {
    pub(crate) store: Arc<RedisStore>,
    task: JoinHandle<()>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A store on `server` with a key prefix of its own test, its task spawned.
pub(crate) async fn instance(server: &RedisServer, prefix: &str) -> Instance {
    instance_with(RedisConfig::url(server.url()).key_prefix(prefix)).await
}

pub(crate) async fn instance_with(config: RedisConfig) -> Instance {
    let (store, sync) = RedisStore::connect(config).await.expect("connect");
    Instance {
        store,
        task: tokio::spawn(sync),
    }
}

/// Wall time since the Unix epoch, as the router's clock gives it.
pub(crate) fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
}

/// Polls `check` every 10 ms until it holds or `within` has passed; returns how long it took.
pub(crate) async fn eventually(
    within: Duration,
    mut check: impl FnMut() -> bool,
) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if check() {
            return Some(start.elapsed());
        }
        if start.elapsed() > within {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
