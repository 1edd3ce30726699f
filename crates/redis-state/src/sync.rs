//! The background task: every sync interval (or at once for a new cooldown) one pipelined
//! round trip pushes what this instance changed and pulls what the others wrote. It owns the
//! connection, reconnects after failures, and logs one warning per outage.

use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use redis::{
    AsyncConnectionConfig, Client, RedisError, RedisResult, Value, aio::MultiplexedConnection,
    from_redis_value,
};
use tokio::{sync::mpsc, time::Instant};

use crate::{
    config::RedisConfig,
    scripts,
    store::{Entry, Inner},
    window,
};

/// Counters live two minutes and a half: a round reads the current and the previous minute.
const COUNTER_TTL_MS: u64 = 150_000;
/// Updates pushed per round at most; the rest wait for the next round.
const MAX_EVENTS_PER_ROUND: usize = 1024;
/// Longest wait between reconnection attempts during an outage.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// A write the request path queued for Redis.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Event {
    /// A failure that counts toward `allowed_fails`, for the shared window.
    Failure {
        index: usize,
        at: Duration,
        window: Duration,
        /// Entries worth keeping in the window (`allowed_fails + 1`).
        keep: u32,
        /// Makes the sorted-set member unique.
        seq: u64,
    },
    /// A cooldown deadline to raise the shared one to.
    Cooldown { index: usize, until: Duration },
}

/// Connects, checks the server answers, and loads the scripts, within `timeout` in all.
pub(crate) async fn open(client: &Client, timeout: Duration) -> RedisResult<MultiplexedConnection> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    let connect = async {
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        redis::cmd("PING").query_async::<()>(&mut conn).await?;
        for script in scripts::all() {
            script.prepare_invoke().load_async(&mut conn).await?;
        }
        Ok(conn)
    };
    match tokio::time::timeout(timeout, connect).await {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer within {timeout:?}"),
        )
        .into()),
    }
}

/// Whether Redis answered and refused us (a configuration mistake), rather than being
/// unreachable (an outage).
pub(crate) fn is_refusal(e: &RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind};
    matches!(
        e.kind(),
        ErrorKind::AuthenticationFailed
            | ErrorKind::InvalidClientConfig
            | ErrorKind::Server(ServerErrorKind::NoPerm | ServerErrorKind::ResponseError)
    )
}

/// A one-line description of a driver error. Redis' messages never contain the password.
pub(crate) fn describe(e: &RedisError) -> String {
    e.to_string()
}

fn wall_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The task [`RedisStore::connect`](crate::RedisStore::connect) returns. Ends when the store
/// is dropped; otherwise runs until its caller aborts it.
pub(crate) async fn run(
    inner: Arc<Inner>,
    client: Client,
    mut conn: Option<MultiplexedConnection>,
    mut events: mpsc::Receiver<Event>,
    config: RedisConfig,
) {
    let interval = config.sync_interval;
    let mut backlog: Vec<Event> = Vec::new();
    let mut reconnect_delay = interval;
    let mut next_connect = Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = inner.wake.notified() => {}
        }
        if Arc::strong_count(&inner) == 1 {
            // Only this task holds the state: the store and its routers are gone.
            return;
        }
        let companions: Vec<Arc<Inner>> = lock(&inner.companions).clone();
        let stores: Vec<(&Inner, &[Entry])> = std::iter::once(&*inner)
            .chain(companions.iter().map(|c| &**c))
            .filter_map(|i| Some((i, &**i.entries.get()?)))
            .collect();
        if stores.is_empty() {
            continue;
        }
        let connection = match conn.as_mut() {
            Some(c) => c,
            None => {
                if Instant::now() < next_connect {
                    continue;
                }
                inner.stats.pull_ops.fetch_add(4, Ordering::Relaxed);
                match open(&client, config.timeout).await {
                    Ok(c) => {
                        reconnect_delay = interval;
                        conn.insert(c)
                    }
                    Err(e) => {
                        down(&inner, &e.to_string());
                        reconnect_delay = (reconnect_delay * 2).min(MAX_RECONNECT_DELAY);
                        next_connect = Instant::now() + reconnect_delay;
                        continue;
                    }
                }
            }
        };
        while backlog.len() < MAX_EVENTS_PER_ROUND {
            match events.try_recv() {
                Ok(event) => backlog.push(event),
                Err(_) => break,
            }
        }
        // One pipeline for this store and its companions: one round trip.
        let now = wall_now();
        let mut pipe = redis::pipe();
        let rounds: Vec<Round> = stores
            .iter()
            .map(|(store, entries)| {
                // The queued events index this store's deployments; companions queue none.
                let events: &[Event] = if std::ptr::eq(*store, &*inner) {
                    &backlog
                } else {
                    &[]
                };
                Round::build(store, entries, events, now, &mut pipe)
            })
            .collect();
        let stats = &inner.stats;
        for round in &rounds {
            stats
                .push_ops
                .fetch_add(round.push_ops as u64, Ordering::Relaxed);
            stats
                .pull_ops
                .fetch_add(round.pull_ops as u64, Ordering::Relaxed);
        }
        let reply =
            tokio::time::timeout(config.timeout, pipe.query_async::<Vec<Value>>(connection)).await;
        let mut outcome = match reply {
            Ok(Ok(values)) => Ok(values.into_iter()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {:?}", config.timeout)),
        };
        for (round, (store, entries)) in rounds.iter().zip(&stores) {
            if let Ok(values) = &mut outcome
                && let Err(e) = round.apply(store, entries, values)
            {
                outcome = Err(e);
            }
            if outcome.is_err() {
                round.fail(entries);
            }
        }
        match outcome {
            Ok(_) => {
                backlog.clear();
                stats.rounds.fetch_add(1, Ordering::Relaxed);
                up(&inner);
            }
            Err(e) => {
                // Reconnect next time: the connection may be broken, and a fresh one reloads
                // the scripts (a restarted Redis has forgotten them).
                conn = None;
                down(&inner, &e);
            }
        }
    }
}

fn down(inner: &Inner, error: &str) {
    let stats = &inner.stats;
    stats.failed_rounds.fetch_add(1, Ordering::Relaxed);
    if stats.healthy.swap(false, Ordering::Relaxed) {
        stats.outages.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            "lost Redis at {} ({error}); serving from local state, so limits and cooldowns are \
             per instance until it is back",
            inner.target
        );
    }
}

fn up(inner: &Inner) {
    if !inner.stats.healthy.swap(true, Ordering::Relaxed) {
        tracing::info!(
            "Redis at {} answers: cooldowns and usage are shared",
            inner.target
        );
    }
}

#[derive(Debug, Clone, Copy)]
enum Quantity {
    Requests,
    Tokens,
}

impl Quantity {
    fn counter(self, entry: &Entry) -> Option<&std::sync::Mutex<window::Counter>> {
        match self {
            Quantity::Requests => entry.requests.as_ref(),
            Quantity::Tokens => entry.tokens.as_ref(),
        }
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One store's part of a round trip: its pushes, then its reads.
struct Round {
    push_ops: usize,
    pull_ops: usize,
    /// Every counter taken, in the order of the counter reads.
    counters: Vec<(usize, Quantity, window::Round)>,
}

impl Round {
    fn build(
        inner: &Inner,
        entries: &[Entry],
        backlog: &[Event],
        now: Duration,
        pipe: &mut redis::Pipeline,
    ) -> Round {
        let keys = &inner.keys;
        let mut push_ops = 0;
        for event in backlog {
            match *event {
                Event::Failure {
                    index,
                    at,
                    window,
                    keep,
                    seq,
                } => {
                    let Some(entry) = entries.get(index) else {
                        continue;
                    };
                    if at + window <= now {
                        continue;
                    }
                    let oldest = millis(now.saturating_sub(window)) + 1;
                    pipe.invoke_script(
                        scripts::FAIL
                            .key(keys.fails(&entry.id))
                            .arg(millis(at))
                            .arg(format!("{}:{seq}", inner.instance))
                            .arg(oldest)
                            .arg(millis(window).max(1))
                            .arg(keep.max(1)),
                    );
                    push_ops += 1;
                }
                Event::Cooldown { index, until } => {
                    let Some(entry) = entries.get(index) else {
                        continue;
                    };
                    if until <= now {
                        continue;
                    }
                    pipe.invoke_script(
                        scripts::COOL
                            .key(keys.cool(&entry.id))
                            .key(keys.fails(&entry.id))
                            .arg(millis(until))
                            .arg(millis(until - now).max(1)),
                    );
                    push_ops += 1;
                }
            }
        }
        let mut counters = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            for quantity in [Quantity::Requests, Quantity::Tokens] {
                let Some(counter) = quantity.counter(entry) else {
                    continue;
                };
                let taken = lock(counter).begin_round();
                let key = |minute| match quantity {
                    Quantity::Requests => keys.rpm(&entry.id, minute),
                    Quantity::Tokens => keys.tpm(&entry.id, minute),
                };
                for (minute, n) in [
                    (taken.minute, taken.delta),
                    (taken.minute.saturating_sub(1), taken.carry),
                ] {
                    if n > 0 {
                        pipe.invoke_script(
                            scripts::INCR.key(key(minute)).arg(n).arg(COUNTER_TTL_MS),
                        );
                        push_ops += 1;
                    }
                }
                counters.push((index, quantity, taken));
            }
        }
        let mut pull_ops = 0;
        if !entries.is_empty() {
            if inner.cooldowns {
                let cool: Vec<String> = entries.iter().map(|e| keys.cool(&e.id)).collect();
                pipe.cmd("MGET").arg(cool);
                pull_ops += 1;
            }
            let mut usage = Vec::with_capacity(counters.len() * 2);
            for (index, quantity, taken) in &counters {
                let id = &entries[*index].id;
                for minute in [taken.minute, taken.minute.saturating_sub(1)] {
                    usage.push(match quantity {
                        Quantity::Requests => keys.rpm(id, minute),
                        Quantity::Tokens => keys.tpm(id, minute),
                    });
                }
            }
            pipe.cmd("MGET").arg(usage);
            pull_ops += 1;
            if inner.cooldowns {
                for entry in entries {
                    pipe.cmd("ZRANGE")
                        .arg(keys.fails(&entry.id))
                        .arg(0)
                        .arg(-1)
                        .arg("WITHSCORES");
                }
                pull_ops += entries.len();
            }
        }
        Round {
            push_ops,
            pull_ops,
            counters,
        }
    }

    /// Takes this store's replies from `values` and merges the reads into the local copy
    /// (nothing is changed unless every reply parses).
    fn apply(
        &self,
        inner: &Inner,
        entries: &[Entry],
        values: &mut impl Iterator<Item = Value>,
    ) -> Result<(), String> {
        let bad = |what: &str| format!("unexpected reply to {what}");
        for _ in 0..self.push_ops {
            values.next().ok_or_else(|| bad("a script"))?;
        }
        let mut reads = values.take(self.pull_ops);
        if entries.is_empty() {
            return Ok(());
        }
        let cool: Vec<Option<u64>> = if inner.cooldowns {
            from_redis_value(reads.next().ok_or_else(|| bad("MGET"))?).map_err(|e| e.to_string())?
        } else {
            vec![None; entries.len()]
        };
        let usage: Vec<Option<u64>> = from_redis_value(reads.next().ok_or_else(|| bad("MGET"))?)
            .map_err(|e| e.to_string())?;
        let mut fails = Vec::with_capacity(entries.len());
        for _ in entries {
            fails.push(if inner.cooldowns {
                others_failures(&inner.instance, reads.next().ok_or_else(|| bad("ZRANGE"))?)?
            } else {
                Vec::new()
            });
        }
        if cool.len() != entries.len() || usage.len() != self.counters.len() * 2 {
            return Err(bad("MGET"));
        }
        for (i, (taken_index, quantity, taken)) in self.counters.iter().enumerate() {
            if let Some(counter) = quantity.counter(&entries[*taken_index]) {
                let current = usage[2 * i].unwrap_or(0);
                let previous = usage[2 * i + 1].unwrap_or(0);
                lock(counter).end_round(*taken, current, previous);
            }
        }
        for ((entry, until), others) in entries.iter().zip(cool).zip(fails) {
            let until = until.map(Duration::from_millis);
            if let Some(until) = until {
                entry.raise_cooling_until(until);
            }
            lock(&entry.health).merge_remote(until, others);
        }
        Ok(())
    }

    /// The round trip failed: the counters take their increments back.
    fn fail(&self, entries: &[Entry]) {
        for (index, quantity, taken) in &self.counters {
            if let Some(counter) = quantity.counter(&entries[*index]) {
                lock(counter).fail_round(*taken);
            }
        }
    }
}

/// The failure times in a `ZRANGE ... WITHSCORES` reply that other instances wrote.
fn others_failures(instance: &str, value: Value) -> Result<Vec<Duration>, String> {
    let flat: Vec<Value> = from_redis_value(value).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut it = flat.into_iter();
    while let (Some(member), Some(score)) = (it.next(), it.next()) {
        let member: String = from_redis_value(member).map_err(|e| e.to_string())?;
        let score: f64 = from_redis_value(score).map_err(|e| e.to_string())?;
        let ours = member
            .split_once(':')
            .is_some_and(|(who, _)| who == instance);
        if !ours && score.is_finite() && score >= 0.0 {
            out.push(Duration::from_millis(score as u64));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_failures_are_not_counted_twice() {
        let reply = Value::Array(vec![
            Value::BulkString(b"aaaa:1".to_vec()),
            Value::BulkString(b"1000".to_vec()),
            Value::BulkString(b"bbbb:7".to_vec()),
            Value::BulkString(b"2000".to_vec()),
        ]);
        assert_eq!(
            others_failures("aaaa", reply),
            Ok(vec![Duration::from_millis(2000)])
        );
        assert_eq!(others_failures("aaaa", Value::Array(vec![])), Ok(vec![]));
    }
}
