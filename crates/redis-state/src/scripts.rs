//! The Lua scripts behind the writes that must be atomic. Each runs as one command on the
//! server, so two instances writing the same key at once cannot interleave.

use std::sync::LazyLock;

use redis::Script;

/// Raises a cooldown deadline, never lowers it, and clears the failure window.
///
/// KEYS: cool key, fails key. ARGV: deadline (ms since the Unix epoch), time to live (ms).
/// Returns the deadline in force afterwards.
pub(crate) static COOL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local new = tonumber(ARGV[1])
redis.call('DEL', KEYS[2])
if new > current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return new
end
return current
",
    )
});

/// Adds a failure to a deployment's sliding window, drops the ones older than the window,
/// keeps at most `cap` entries, and lets the key expire one window after the last failure.
///
/// KEYS: fails key. ARGV: time (ms), member, oldest time still in the window (ms), window (ms),
/// cap. Returns the failures in the window.
pub(crate) static FAIL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -1 - tonumber(ARGV[5]))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return redis.call('ZCARD', KEYS[1])
",
    )
});

/// Adds to a per-minute counter and (re)sets its expiry.
///
/// KEYS: counter key. ARGV: increment, time to live (ms). Returns the new total.
pub(crate) static INCR: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return total
",
    )
});

/// Every script, for loading after each (re)connect.
pub(crate) fn all() -> [&'static Script; 3] {
    [&COOL, &FAIL, &INCR]
}

#[cfg(test)]
mod tests {
    use redis::aio::MultiplexedConnection;

    use super::*;
    use crate::test_util::RedisServer;

    async fn connect(server: &RedisServer) -> MultiplexedConnection {
        redis::Client::open(server.url())
            .expect("url")
            .get_multiplexed_async_connection()
            .await
            .expect("connect")
    }

    async fn pttl(conn: &mut MultiplexedConnection, key: &str) -> i64 {
        redis::cmd("PTTL")
            .arg(key)
            .query_async(conn)
            .await
            .expect("PTTL")
    }

    #[tokio::test]
    async fn cool_extends_never_shortens_and_clears_the_window() {
        let Some(server) = RedisServer::start() else {
            return;
        };
        let mut conn = connect(&server).await;
        let cool = |until: u64, ttl: u64| {
            let mut inv = COOL.prepare_invoke();
            inv.key("c").key("f").arg(until).arg(ttl);
            inv
        };
        let _: () = redis::cmd("ZADD")
            .arg("f")
            .arg(1)
            .arg("x:1")
            .query_async(&mut conn)
            .await
            .expect("ZADD");
        let now: u64 = 1_700_000_000_000;
        let v: u64 = cool(now + 30_000, 30_000)
            .invoke_async(&mut conn)
            .await
            .expect("cool");
        assert_eq!(v, now + 30_000);
        let exists: u64 = redis::cmd("EXISTS")
            .arg("f")
            .query_async(&mut conn)
            .await
            .expect("EXISTS");
        assert_eq!(exists, 0, "a cooldown clears the failure window");
        // A shorter cooldown leaves the deadline and its expiry alone.
        let v: u64 = cool(now + 5_000, 5_000)
            .invoke_async(&mut conn)
            .await
            .expect("cool");
        assert_eq!(v, now + 30_000);
        let ttl = pttl(&mut conn, "c").await;
        assert!(ttl > 25_000 && ttl <= 30_000, "{ttl}");
        // A longer one raises both.
        let v: u64 = cool(now + 60_000, 60_000)
            .invoke_async(&mut conn)
            .await
            .expect("cool");
        assert_eq!(v, now + 60_000);
        let stored: u64 = redis::cmd("GET")
            .arg("c")
            .query_async(&mut conn)
            .await
            .expect("GET");
        assert_eq!(stored, now + 60_000);
        assert!(pttl(&mut conn, "c").await > 55_000);
    }

    #[tokio::test]
    async fn fail_keeps_a_sliding_capped_window_that_expires() {
        let Some(server) = RedisServer::start() else {
            return;
        };
        let mut conn = connect(&server).await;
        let fail = |at: u64, member: &str, oldest: u64, keep: u32| {
            let mut inv = FAIL.prepare_invoke();
            inv.key("f")
                .arg(at)
                .arg(member)
                .arg(oldest)
                .arg(60_000)
                .arg(keep);
            inv
        };
        let n: u64 = fail(1_000, "a:1", 0, 4)
            .invoke_async(&mut conn)
            .await
            .expect("fail");
        assert_eq!(n, 1);
        let n: u64 = fail(2_000, "b:1", 0, 4)
            .invoke_async(&mut conn)
            .await
            .expect("fail");
        assert_eq!(n, 2);
        // At 61.5 s the failure at 1 s has left the window (oldest kept: 1.5 s).
        let n: u64 = fail(61_500, "a:2", 1_500, 4)
            .invoke_async(&mut conn)
            .await
            .expect("fail");
        assert_eq!(n, 2);
        for i in 0..10 {
            let _: u64 = fail(62_000 + i, &format!("c:{i}"), 1_500, 4)
                .invoke_async(&mut conn)
                .await
                .expect("fail");
        }
        let members: Vec<String> = redis::cmd("ZRANGE")
            .arg("f")
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .expect("ZRANGE");
        assert_eq!(
            members,
            ["c:6", "c:7", "c:8", "c:9"],
            "only the newest `keep` are kept"
        );
        let ttl = pttl(&mut conn, "f").await;
        assert!(ttl > 55_000 && ttl <= 60_000, "{ttl}");
    }

    #[tokio::test]
    async fn incr_adds_and_expires() {
        let Some(server) = RedisServer::start() else {
            return;
        };
        let mut conn = connect(&server).await;
        let incr = |n: u64| {
            let mut inv = INCR.prepare_invoke();
            inv.key("k").arg(n).arg(150_000);
            inv
        };
        let v: u64 = incr(3).invoke_async(&mut conn).await.expect("incr");
        assert_eq!(v, 3);
        let v: u64 = incr(4).invoke_async(&mut conn).await.expect("incr");
        assert_eq!(v, 7);
        let ttl = pttl(&mut conn, "k").await;
        assert!(ttl > 140_000 && ttl <= 150_000, "{ttl}");
    }
}
