//! Two routers (as two gateway instances would run) sharing one Redis through their stores,
//! with scripted in-process providers: what a user of several instances notices.

use std::{sync::Arc, time::Duration};

use mock::MockProvider;
use provider::{ChatRequest, ErrorKind, Message};
use router::{DeploymentConfig, RequestOptions, Router};
use switchyard_redis::test_util::RedisServer;

use crate::{Instance, eventually, instance};

struct Gateway {
    router: Router,
    broken: Arc<MockProvider>,
    healthy: Arc<MockProvider>,
    redis: Instance,
}

/// A gateway whose group `g` has a broken deployment (500s) and a healthy one.
async fn gateway(server: &RedisServer, prefix: &str, rpm: Option<u32>) -> Gateway {
    let broken = Arc::new(
        MockProvider::builder("broken")
            .always_fail(ErrorKind::InternalServer)
            .build()
            .expect("mock"),
    );
    let healthy = Arc::new(MockProvider::new("healthy"));
    let redis = instance(server, prefix).await;
    let mut d0 = DeploymentConfig::new("g", broken.clone()).id("g/broken");
    let mut d1 = DeploymentConfig::new("g", healthy.clone()).id("g/healthy");
    if let Some(rpm) = rpm {
        d0 = d0.rpm(rpm);
        d1 = d1.rpm(rpm);
    }
    let router = Router::builder()
        .deployment(d0)
        .deployment(d1)
        .retry_after(Duration::ZERO)
        .backoff(Duration::from_millis(1), Duration::from_millis(1))
        .state_store(redis.store.clone())
        .build()
        .expect("router");
    Gateway {
        router,
        broken,
        healthy,
        redis,
    }
}

async fn ask(g: &Gateway) -> Option<String> {
    let req = ChatRequest::new("g", vec![Message::user("hi")]);
    let answer = g.router.chat(&req, &RequestOptions::new()).await.ok()?;
    answer.report.final_deployment.map(|d| d.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_one_instance_cools_a_broken_deployment_the_other_stops_calling_it() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let a = gateway(&server, "r1:", None).await;
    let b = gateway(&server, "r1:", None).await;
    // A's traffic meets the broken deployment until more than allowed_fails (3) failures cool it.
    let mut sent = 0;
    while a
        .router
        .deployments()
        .iter()
        .all(|d| d.cooling_for.is_none())
    {
        assert_eq!(
            ask(&a).await.as_deref(),
            Some("g/healthy"),
            "requests still succeed"
        );
        sent += 1;
        assert!(sent < 200, "A never cooled the broken deployment");
    }
    assert!(a.broken.calls() >= 4);
    // Within a second B stops sending there too, without ever failing on it itself.
    eventually(Duration::from_secs(1), || {
        b.router
            .deployments()
            .iter()
            .any(|d| &*d.id == "g/broken" && d.cooling_for.is_some())
    })
    .await
    .expect("B sees the cooldown within 1 s");
    for _ in 0..20 {
        assert_eq!(ask(&b).await.as_deref(), Some("g/healthy"));
    }
    assert_eq!(b.broken.calls(), 0, "B never called the cooled deployment");
    assert_eq!(b.healthy.calls(), 20);
}

/// Redis commands per request, at a few request rates, for `docs/scaling.md`. Not a pass/fail
/// test: run it with `cargo test -p switchyard-redis --test it -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, printed for docs/scaling.md"]
async fn measure_redis_commands_per_request() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    println!(
        "rate/instance  requests  push  pull  push/request  all/request  (2 instances, 2 deployments with rpm limits, 200 ms sync)"
    );
    for (i, rate) in [10_u32, 50, 200, 1000].into_iter().enumerate() {
        let prefix = format!("m{i}:");
        let a = gateway_ok(&server, &prefix).await;
        let b = gateway_ok(&server, &prefix).await;
        let seconds = 4;
        let n = rate * seconds;
        let pause = Duration::from_secs(1) / rate;
        let before = (a.redis.store.stats(), b.redis.store.stats());
        let start = tokio::time::Instant::now();
        for k in 0..n {
            for g in [&a, &b] {
                let _ = ask(g).await;
            }
            tokio::time::sleep_until(start + pause * (k + 1)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = (a.redis.store.stats(), b.redis.store.stats());
        let push = after.0.push_ops + after.1.push_ops - before.0.push_ops - before.1.push_ops;
        let pull = after.0.pull_ops + after.1.pull_ops - before.0.pull_ops - before.1.pull_ops;
        let requests = after.0.admitted + after.1.admitted - before.0.admitted - before.1.admitted;
        println!(
            "{rate:>13}  {requests:>8}  {push:>4}  {pull:>4}  {:>12.3}  {:>11.3}",
            push as f64 / requests as f64,
            (push + pull) as f64 / requests as f64
        );
    }
}

/// Like [`gateway`], with two healthy deployments under generous rpm limits, so every request
/// is counted and shared.
async fn gateway_ok(server: &RedisServer, prefix: &str) -> Gateway {
    let one = Arc::new(MockProvider::new("one"));
    let two = Arc::new(MockProvider::new("two"));
    let redis = instance(server, prefix).await;
    let router = Router::builder()
        .deployment(
            DeploymentConfig::new("g", one.clone())
                .id("g/one")
                .rpm(1_000_000)
                .tpm(1_000_000_000),
        )
        .deployment(
            DeploymentConfig::new("g", two.clone())
                .id("g/two")
                .rpm(1_000_000)
                .tpm(1_000_000_000),
        )
        .state_store(redis.store.clone())
        .build()
        .expect("router");
    Gateway {
        router,
        broken: one,
        healthy: two,
        redis,
    }
}
