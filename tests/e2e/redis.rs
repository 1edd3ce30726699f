//! Several `switchyard serve` processes sharing one real `redis-server`: a cooldown set by one
//! instance keeps the other away from the deployment within a second, an rpm limit holds for
//! the instances together, and a Redis outage neither stops them nor ends the sharing for good.
//!
//! Each test starts its own `redis-server` on a free port (`SWITCHYARD_REDIS_SERVER`, or
//! `redis-server` on `PATH`); without one the tests skip, except in CI, where they fail.

use std::time::Duration;

use mock_upstream::{Behaviour, MockUpstream, RunningMockUpstream};
use redis_state::test_util::RedisServer;

use crate::support::{MASTER_KEY, Proxy, chat_body, client};

/// Two groups on one mock upstream: `shared` (a deployment the tests break and a steady one)
/// and `limited` (one deployment with an rpm limit). `@REDIS@` is the Redis URL.
const CONFIG: &str = r#"
model_list:
  - model_name: shared
    litellm_params:
      model: openai/flaky-model
      api_base: @OPENAI@
      api_key: sk-e2e-flaky
    model_info:
      id: flaky-1
  - model_name: shared
    litellm_params:
      model: openai/steady-model
      api_base: @OPENAI@
      api_key: sk-e2e-steady
    model_info:
      id: steady-1
  - model_name: limited
    litellm_params:
      model: openai/limited-model
      api_base: @OPENAI@
      api_key: sk-e2e-limited
      rpm: 10
    model_info:
      id: limited-1

router_settings:
  redis_url: @REDIS@
  redis_key_prefix: "e2e:"
  # Two failures cool a deployment, for a minute: longer than any of these tests.
  allowed_fails: 1
  cooldown_time: 60
  backoff_initial: 10ms
  max_backoff: 50ms

general_settings:
  master_key: sk-e2e-master-key

switchyard:
  keys:
    - key: sk-e2e-team-a
      name: team-a
      rpm: 6
"#;

/// A mock upstream and two proxy instances sharing `redis`.
struct Pair {
    upstream: RunningMockUpstream,
    a: Proxy,
    b: Proxy,
}

async fn pair(redis: &RedisServer) -> Pair {
    let upstream = MockUpstream::builder()
        .start()
        .await
        .expect("the mock upstream starts on 127.0.0.1:0");
    let yaml = CONFIG
        .replace("@OPENAI@", &upstream.openai_base())
        .replace("@REDIS@", &redis.url());
    let a = Proxy::spawn(&yaml, &[]).await;
    let b = Proxy::spawn(&yaml, &[]).await;
    Pair { upstream, a, b }
}

/// POSTs a chat request for `model` with the master key and returns the status and the
/// deployment that answered.
async fn ask(proxy: &Proxy, model: &str) -> (u16, String) {
    ask_as(proxy, model, MASTER_KEY).await
}

async fn ask_as(proxy: &Proxy, model: &str, key: &str) -> (u16, String) {
    let resp = client()
        .post(proxy.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&chat_body(model, "hi"))
        .send()
        .await
        .expect("the proxy answers");
    let deployment = resp
        .headers()
        .get("x-switchyard-deployment-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (resp.status().as_u16(), deployment)
}

/// The value of an unlabelled metric on `proxy`'s `/metrics`.
async fn metric(proxy: &Proxy, name: &str) -> Option<f64> {
    let text = client()
        .get(proxy.url("/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// Polls a metric until it has `value` or `within` has passed.
async fn metric_becomes(proxy: &Proxy, name: &str, value: f64, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if metric(proxy, name).await == Some(value) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Breaks `flaky-model`, sends `proxy` requests until it has cooled that deployment, and checks
/// that every request still succeeded on the steady one.
async fn cool_flaky_through(p: &Pair, proxy: &Proxy) {
    p.upstream
        .always("flaky-model", Behaviour::openai_server_error(500));
    for _ in 0..50 {
        let (status, deployment) = ask(proxy, "shared").await;
        assert_eq!(
            (status, deployment.as_str()),
            (200, "steady-1"),
            "a broken deployment with a healthy sibling never fails a request"
        );
        if metric(proxy, "switchyard_deployments_cooling").await == Some(1.0) {
            return;
        }
    }
    panic!("50 requests did not cool flaky-1; logs:\n{}", proxy.logs());
}

/// After `p.a` cooled `flaky-1`, `p.b` must see it within a second and then send nothing there.
async fn other_instance_keeps_away(p: &Pair) {
    assert!(
        metric_becomes(
            &p.b,
            "switchyard_deployments_cooling",
            1.0,
            Duration::from_secs(1)
        )
        .await,
        "instance B did not see A's cooldown within 1 s; B's logs:\n{}",
        p.b.logs()
    );
    let before = p.upstream.hits_for("flaky-model").len();
    for _ in 0..20 {
        assert_eq!(ask(&p.b, "shared").await, (200, "steady-1".to_owned()));
    }
    assert_eq!(
        p.upstream.hits_for("flaky-model").len(),
        before,
        "instance B sent requests to the deployment A had cooled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cooldown_set_by_one_instance_keeps_the_other_away_within_a_second() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let p = pair(&redis).await;
    assert_eq!(metric(&p.b, "switchyard_redis_up").await, Some(1.0));
    cool_flaky_through(&p, &p.a).await;
    other_instance_keeps_away(&p).await;
    assert!(
        redis.command("EXISTS e2e:cool:flaky-1").contains(":1"),
        "the cooldown is in Redis under the documented key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rpm_limit_holds_for_both_instances_together() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let p = pair(&redis).await;
    // 40 requests, alternating, 100 ms apart (no catching up after a slow one, so a busy
    // machine sends them slower, never in a burst): 4 times the limit of 10, in 4 s or more.
    let mut admitted = [0_u32; 2];
    let mut limited = 0;
    for i in 0..40_u32 {
        let proxy = if i % 2 == 0 { &p.a } else { &p.b };
        match ask(proxy, "limited").await.0 {
            200 => admitted[(i % 2) as usize] += 1,
            429 => limited += 1,
            other => panic!("unexpected status {other}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let total = admitted[0] + admitted[1];
    eprintln!("admitted {admitted:?} = {total} against a shared limit of 10");
    // Alone each instance would admit 10 (20 in all). Shared, an instance learns of the other's
    // requests within two sync intervals (400 ms, 2 of its requests here): at most 2 extra each.
    assert!(
        (10..=14).contains(&total),
        "admitted {admitted:?} = {total} against a shared limit of 10"
    );
    assert_eq!(total + limited, 40);
    assert_eq!(
        p.upstream.hits_for("limited-model").len() as u32,
        total,
        "refused requests never reach the upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_key_rpm_limit_holds_for_both_instances_together() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let p = pair(&redis).await;
    // 24 requests with team-a's key (rpm 6), alternating, 100 ms apart.
    let mut admitted = 0;
    for i in 0..24 {
        let proxy = if i % 2 == 0 { &p.a } else { &p.b };
        match ask_as(proxy, "shared", "sk-e2e-team-a").await.0 {
            200 => admitted += 1,
            429 => {}
            other => panic!("unexpected status {other}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("admitted {admitted} for a key limited to 6 a minute");
    // Alone each instance would let 6 through (12 in all); the bound is as for deployments.
    assert!((6..=10).contains(&admitted), "admitted {admitted}");
    assert!(
        redis
            .command("KEYS e2e:keys:rpm:team-a:*")
            .contains("team-a"),
        "the key's count is in Redis under its name"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_instances_serve_through_a_redis_outage_and_share_again_after_it() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let p = pair(&redis).await;
    redis.kill();
    for proxy in [&p.a, &p.b] {
        assert!(
            metric_becomes(proxy, "switchyard_redis_up", 0.0, Duration::from_secs(3)).await,
            "the metric shows the outage"
        );
        for _ in 0..5 {
            assert_eq!(
                ask(proxy, "shared").await.0,
                200,
                "requests are served during the outage"
            );
        }
    }
    redis.restart();
    for proxy in [&p.a, &p.b] {
        assert!(
            metric_becomes(proxy, "switchyard_redis_up", 1.0, Duration::from_secs(5)).await,
            "the instance reconnects by itself; logs:\n{}",
            proxy.logs()
        );
        let logs = proxy.logs();
        assert_eq!(
            logs.matches("lost Redis").count(),
            1,
            "one warning per outage:\n{logs}"
        );
    }
    // Sharing works again, with no restart of either instance.
    cool_flaky_through(&p, &p.a).await;
    other_instance_keeps_away(&p).await;
}

#[tokio::test]
async fn a_bad_redis_url_stops_start_up_with_a_clear_error() {
    let yaml = CONFIG
        .replace("@OPENAI@", "http://127.0.0.1:9/v1")
        .replace("@REDIS@", "redis://:hunter2@127.0.0.1:notaport");
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("e2e-redis-bad-url-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let config = dir.join("config.yaml");
    std::fs::write(&config, yaml).expect("the config is written");
    let out = tokio::process::Command::new(crate::support::BIN)
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .args(["--port", "0"])
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), out)
        .await
        .expect("serve exits at once")
        .expect("serve runs");
    let _ = std::fs::remove_dir_all(&dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("redis_url"),
        "the error names the setting: {text}"
    );
    assert!(
        !text.contains("hunter2"),
        "the error never shows the password: {text}"
    );
}
