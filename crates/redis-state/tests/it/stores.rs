//! Two stores sharing one Redis, driven through the `StateStore` trait as the router drives it:
//! cooldowns, the failure window and rpm limits cross instances; outages leave every instance
//! working and sharing resumes after Redis returns.

use std::time::Duration;

use retry_core::{CooldownChange, CooldownConfig, ErrorKind, FailureContext};
use router::state::{DeploymentKey, DeploymentLimits, StateStore};
use switchyard_redis::{RedisConfig, RedisError, RedisStore, test_util::RedisServer};

use crate::{eventually, instance, instance_with, now};

fn limits(rpm: Option<u32>) -> Vec<DeploymentLimits> {
    ["a", "b"]
        .into_iter()
        .map(|id| DeploymentLimits {
            id: id.into(),
            rpm,
            tpm: None,
        })
        .collect()
}

fn key(index: usize) -> DeploymentKey<'static> {
    DeploymentKey {
        index,
        id: ["a", "b"][index],
    }
}

fn failure(kind: ErrorKind, hint: Option<Duration>) -> FailureContext {
    FailureContext {
        kind,
        hint,
        has_available_sibling: true,
        hint_beyond_wait: false,
        may_cool: true,
    }
}

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cooldown_on_one_instance_is_seen_by_the_other_within_a_second() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (a, b) = (
        instance(&server, "t1:").await,
        instance(&server, "t1:").await,
    );
    a.store.register(&limits(None));
    b.store.register(&limits(None));
    let cfg = CooldownConfig::default();
    let change = a.store.record_failure(
        key(0),
        now(),
        failure(ErrorKind::Authentication, None),
        &cfg,
    );
    let CooldownChange::Started { until, .. } = change else {
        panic!("{change:?}")
    };
    let took = eventually(SECOND, || b.store.cooling_until(key(0), now()).is_some())
        .await
        .expect("B sees A's cooldown within 1 s");
    eprintln!("cooldown visible on the other instance after {took:?}");
    // The same deadline (ms precision), and only for that deployment.
    let seen = b.store.cooling_until(key(0), now()).expect("cooling");
    assert!(
        until.saturating_sub(seen) < Duration::from_millis(2),
        "{until:?} vs {seen:?}"
    );
    assert_eq!(b.store.cooling_until(key(1), now()), None);
    // A shorter cooldown from B leaves A's deadline; a longer one extends it for both.
    let change = b
        .store
        .record_failure(key(0), now(), failure(ErrorKind::NotFound, None), &cfg);
    assert!(
        matches!(change, CooldownChange::Extended { until: u } if u >= seen),
        "{change:?}"
    );
    let long = failure(ErrorKind::RateLimit, Some(Duration::from_secs(40)));
    let CooldownChange::Extended { until: longer } =
        b.store.record_failure(key(0), now(), long, &cfg)
    else {
        panic!("extended expected")
    };
    eventually(SECOND, || {
        a.store.cooling_until(key(0), now()) >= Some(longer - Duration::from_millis(2))
    })
    .await
    .expect("A sees B's extension within 1 s");
    assert_eq!(
        server
            .command("TTL t1:cool:a")
            .trim_start_matches(':')
            .trim()
            .parse::<u64>()
            .ok()
            .map(|t| t > 30),
        Some(true)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_on_both_instances_add_up_to_a_cooldown() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (a, b) = (
        instance(&server, "t2:").await,
        instance(&server, "t2:").await,
    );
    a.store.register(&limits(None));
    b.store.register(&limits(None));
    let cfg = CooldownConfig::default(); // allowed_fails: 3
    let fail = failure(ErrorKind::InternalServer, None);
    for _ in 0..2 {
        assert_eq!(
            a.store.record_failure(key(0), now(), fail, &cfg),
            CooldownChange::None
        );
    }
    // Wait until A's failures are in Redis and B has pulled them.
    eventually(SECOND * 2, || {
        server.command("ZCARD t2:fails:a").trim() == ":2"
    })
    .await
    .expect("A's failures reach Redis");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        b.store.record_failure(key(0), now(), fail, &cfg),
        CooldownChange::None
    );
    // 2 on A + 2 on B = 4 > 3: B cools it, and A sees it.
    let change = b.store.record_failure(key(0), now(), fail, &cfg);
    assert!(
        matches!(change, CooldownChange::Started { .. }),
        "{change:?}"
    );
    eventually(SECOND, || a.store.cooling_until(key(0), now()).is_some())
        .await
        .expect("A sees the cooldown B started");
    // Each instance alone would have needed 4.
    assert_eq!(a.store.cooling_until(key(1), now()), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rpm_limit_holds_across_instances() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (a, b) = (
        instance(&server, "t3:").await,
        instance(&server, "t3:").await,
    );
    let limit = 20;
    a.store.register(&limits(Some(limit)));
    b.store.register(&limits(Some(limit)));
    // 60 requests, alternating, 50 ms apart (20 a second): 3 times the limit in 3 s.
    let mut admitted = [0_u32; 2];
    for i in 0..60 {
        let store = if i % 2 == 0 { &a.store } else { &b.store };
        if store.try_acquire_request(key(0), now()).is_ok() {
            admitted[i % 2] += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let total = admitted[0] + admitted[1];
    eprintln!("admitted {admitted:?} = {total} against a shared limit of {limit}");
    // Alone, each would admit 20 (40 in all). Shared, the overshoot is bounded by what the
    // other instance admits before a sync shows it: two sync intervals (400 ms) of its traffic,
    // 4 requests here, each way.
    assert!(total >= limit, "{total}");
    assert!(total <= limit + 8, "{total}");
    assert!(admitted[0] > 0 && admitted[1] > 0);
    // The deployment without traffic is untouched.
    assert!(a.store.try_acquire_request(key(1), now()).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_keeps_every_instance_serving_and_sharing_resumes_after_it() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let (a, b) = (
        instance(&server, "t4:").await,
        instance(&server, "t4:").await,
    );
    a.store.register(&limits(Some(1000)));
    b.store.register(&limits(Some(1000)));
    assert!(a.store.redis_healthy() && b.store.redis_healthy());
    server.kill();
    eventually(SECOND * 2, || {
        !a.store.redis_healthy() && !b.store.redis_healthy()
    })
    .await
    .expect("both notice the outage");
    // Every call still answers from local state, at once.
    let cfg = CooldownConfig::default();
    let long = failure(ErrorKind::RateLimit, Some(Duration::from_secs(30)));
    let started = std::time::Instant::now();
    assert!(matches!(
        a.store.record_failure(key(0), now(), long, &cfg),
        CooldownChange::Started { .. }
    ));
    assert!(a.store.cooling_until(key(0), now()).is_some());
    for _ in 0..100 {
        assert!(b.store.try_acquire_request(key(1), now()).is_ok());
    }
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        b.store.cooling_until(key(0), now()),
        None,
        "not shared during the outage"
    );
    assert_eq!(a.store.stats().outages, 1);

    server.restart();
    eventually(SECOND * 3, || {
        a.store.redis_healthy() && b.store.redis_healthy()
    })
    .await
    .expect("both reconnect by themselves");
    // The cooldown A recorded during the outage is pushed once Redis is back...
    eventually(SECOND, || b.store.cooling_until(key(0), now()).is_some())
        .await
        .expect("B learns the cooldown A set during the outage");
    // ...and new ones are shared as before.
    let change = b.store.record_failure(
        key(1),
        now(),
        failure(ErrorKind::Authentication, None),
        &cfg,
    );
    assert!(matches!(change, CooldownChange::Started { .. }));
    eventually(SECOND, || a.store.cooling_until(key(1), now()).is_some())
        .await
        .expect("A sees B's new cooldown");
    assert_eq!(
        a.store.stats().outages,
        1,
        "one outage, counted (and logged) once"
    );
    // The requests B admitted during the outage reached Redis too.
    eventually(SECOND, || {
        let minute = now().as_secs() / 60;
        let count = |m: u64| {
            server
                .command(&format!("GET t4:rpm:b:{m}"))
                .lines()
                .nth(1)
                .and_then(|l| l.parse::<u64>().ok())
                .unwrap_or(0)
        };
        count(minute) + count(minute - 1) == 100
    })
    .await
    .expect("B's outage traffic is counted in Redis");
}

#[tokio::test]
async fn start_up_errors_are_clear_and_an_unreachable_redis_is_not_one() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    // A password for a Redis that has none: refused, and the error says what to check.
    let err =
        RedisStore::connect(RedisConfig::host("127.0.0.1", server.port()).password("hunter2"))
            .await
            .expect_err("refused");
    let msg = err.to_string();
    assert!(matches!(err, RedisError::Refused { .. }), "{msg}");
    assert!(
        msg.contains("redis_password") && !msg.contains("hunter2"),
        "{msg}"
    );
    let err = RedisStore::connect(RedisConfig::url("https://cache:6379"))
        .await
        .expect_err("bad url");
    assert!(err.to_string().contains("redis://"), "{err}");
    // Nobody listening: the store starts on local state and connects when Redis appears.
    server.kill();
    let a = instance_with(RedisConfig::url(server.url()).key_prefix("t5:")).await;
    a.store.register(&limits(None));
    assert!(!a.store.redis_healthy());
    server.restart();
    eventually(SECOND * 3, || a.store.redis_healthy())
        .await
        .expect("connects once Redis is up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_companion_shares_usage_through_its_parent_task() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (a, b) = (
        instance(&server, "t6:").await,
        instance(&server, "t6:").await,
    );
    a.store.register(&limits(None));
    b.store.register(&limits(None));
    // The proxy's per-key limits: a second registration, synced by the same task.
    let (ka, kb) = (a.store.companion("t6:keys:"), b.store.companion("t6:keys:"));
    let keys = vec![DeploymentLimits {
        id: "team-a".into(),
        rpm: Some(5),
        tpm: None,
    }];
    ka.register(&keys);
    kb.register(&keys);
    let team = DeploymentKey {
        index: 0,
        id: "team-a",
    };
    let mut admitted = 0;
    for i in 0..20 {
        let store = if i % 2 == 0 { &ka } else { &kb };
        if store.try_acquire_request(team, now()).is_ok() {
            admitted += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        (5..=9).contains(&admitted),
        "admitted {admitted} of a shared 5"
    );
    let minute = now().as_secs() / 60;
    let stored = |m: u64| {
        server
            .command(&format!("GET t6:keys:rpm:team-a:{m}"))
            .lines()
            .nth(1)
            .and_then(|l| l.parse::<u32>().ok())
            .unwrap_or(0)
    };
    eventually(SECOND, || stored(minute) + stored(minute - 1) == admitted)
        .await
        .expect("the companion's counts are in Redis under its prefix");
    // One connection, one health: the companion reports its parent's.
    assert!(ka.redis_healthy());
    server.command("SHUTDOWN NOSAVE");
    eventually(SECOND * 2, || !ka.redis_healthy())
        .await
        .expect("the companion sees the outage");
    assert_eq!(a.store.stats().outages, 1);
}
