//! §6 Choosing a deployment: the strategies, rpm limits, unknown models, and the
//! settings `build()` refuses.

use futures::StreamExt;
use mock::MockProvider;
use provider::ErrorKind;
use switchyard_router::{
    BuildError, FailureReason, RequestOptions, Router, RouterBuilder, RoutingStrategy,
};

use crate::support::{build, dep, healthy, info, mock, ms, req, secs};

async fn send(router: &Router, n: usize) {
    for _ in 0..n {
        router
            .chat(&req("g"), &RequestOptions::new())
            .await
            .expect("answers");
    }
}

#[tokio::test(start_paused = true)]
async fn simple_shuffle_follows_weight_else_tpm_else_uniform() {
    let a = healthy("a");
    let b = healthy("b");
    let router = Router::builder()
        .deployment(dep("g", "a", &a).weight(3))
        .deployment(dep("g", "b", &b).weight(1))
        .seed(42)
        .build()
        .expect("valid router");
    send(&router, 4000).await;
    // 3000 expected; the standard deviation is about 27.
    assert!((2850..=3150).contains(&a.calls()), "a took {}", a.calls());

    // No weights: tpm gives the shares.
    let a = healthy("a");
    let b = healthy("b");
    let router = Router::builder()
        .deployment(dep("g", "a", &a).tpm(1_000_000))
        .deployment(dep("g", "b", &b).tpm(3_000_000))
        .seed(42)
        .build()
        .expect("valid router");
    send(&router, 4000).await;
    assert!((2850..=3150).contains(&b.calls()), "b took {}", b.calls());

    // Nothing: uniform.
    let a = healthy("a");
    let b = healthy("b");
    let router = Router::builder()
        .deployment(dep("g", "a", &a))
        .deployment(dep("g", "b", &b))
        .seed(42)
        .build()
        .expect("valid router");
    send(&router, 4000).await;
    assert!((1850..=2150).contains(&a.calls()), "a took {}", a.calls());
}

#[tokio::test(start_paused = true)]
async fn least_busy_prefers_the_idle_deployment() {
    let a = healthy("a");
    let b = healthy("b");
    let router = Router::builder()
        .deployment(dep("g", "a", &a))
        .deployment(dep("g", "b", &b))
        .routing_strategy(RoutingStrategy::LeastBusy)
        .seed(3)
        .build()
        .expect("valid router");
    // A stream held open keeps its deployment busy.
    let mut held = router
        .chat_stream(&req("g"), &RequestOptions::new())
        .await
        .expect("streams");
    let busy = held
        .report()
        .final_deployment
        .clone()
        .expect("a deployment");
    let (busy_mock, idle_mock) = if &*busy == "a" { (&a, &b) } else { (&b, &a) };
    assert_eq!(info(&router, &busy).in_flight, 1);
    send(&router, 20).await;
    assert_eq!(busy_mock.calls(), 1, "only the held stream");
    assert_eq!(idle_mock.calls(), 20);
    while held.next().await.is_some() {}
}

#[tokio::test(start_paused = true)]
async fn latency_based_prefers_the_faster_deployment_after_warm_up() {
    let slow = build(mock("slow").latency(ms(100)));
    let fast = build(mock("fast").latency(ms(10)));
    let router = Router::builder()
        .deployment(dep("g", "slow", &slow))
        .deployment(dep("g", "fast", &fast))
        .routing_strategy(RoutingStrategy::LatencyBased)
        .seed(3)
        .build()
        .expect("valid router");
    send(&router, 4).await;
    assert!(slow.calls() >= 1, "an unmeasured deployment is tried");
    let before = (slow.calls(), fast.calls());
    send(&router, 20).await;
    assert_eq!(slow.calls(), before.0);
    assert_eq!(fast.calls(), before.1 + 20);
}

#[tokio::test(start_paused = true)]
async fn power_of_two_avoids_the_slow_deployment() {
    let slow = build(mock("slow").latency(secs(1)));
    let fast: Vec<MockProvider> = (0..3)
        .map(|i| build(mock(&format!("fast{i}")).latency(ms(10))))
        .collect();
    let mut b = Router::builder()
        .deployment(dep("g", "slow", &slow))
        .routing_strategy(RoutingStrategy::PowerOfTwo)
        .seed(3);
    for (i, m) in fast.iter().enumerate() {
        b = b.deployment(dep("g", &format!("fast{i}"), m));
    }
    let router = b.build().expect("valid router");
    send(&router, 20).await;
    assert!(slow.calls() >= 1, "measured during warm-up");
    let before = slow.calls();
    send(&router, 60).await;
    assert_eq!(
        slow.calls(),
        before,
        "two candidates never both the slow one"
    );
    // The fast ones share the load.
    assert!(fast.iter().all(|m| m.calls() >= 10));
}

#[tokio::test(start_paused = true)]
async fn usage_based_evens_out_tokens() {
    let a = healthy("a");
    let b = healthy("b");
    let router = Router::builder()
        .deployment(dep("g", "a", &a))
        .deployment(dep("g", "b", &b))
        .routing_strategy(RoutingStrategy::UsageBased)
        .seed(3)
        .build()
        .expect("valid router");
    for _ in 0..10 {
        send(&router, 1).await;
        assert!(a.calls().abs_diff(b.calls()) <= 1);
    }
}

#[tokio::test(start_paused = true)]
async fn an_rpm_limit_moves_requests_to_a_sibling() {
    let a = healthy("a");
    let b = healthy("b");
    let router = Router::builder()
        .deployment(dep("g", "a", &a).rpm(2))
        .deployment(dep("g", "b", &b))
        .seed(3)
        .build()
        .expect("valid router");
    send(&router, 20).await;
    assert_eq!(a.calls(), 2, "two requests in the minute, no more");
    assert_eq!(b.calls(), 18);
}

#[tokio::test(start_paused = true)]
async fn an_rpm_limit_without_sibling_is_a_429_with_retry_after() {
    let a = healthy("a");
    let router = Router::builder()
        .deployment(dep("g", "a", &a).rpm(2))
        .seed(3)
        .build()
        .expect("valid router");
    send(&router, 2).await;
    let err = router
        .chat(&req("g"), &RequestOptions::new())
        .await
        .expect_err("the third request in the minute");
    assert_eq!(
        a.calls(),
        2,
        "the request did not queue or reach the upstream"
    );
    assert_eq!(err.kind(), ErrorKind::RateLimit);
    assert_eq!(err.reason(), FailureReason::NoDeploymentAvailable);
    let after = err.retry_after().expect("says when capacity returns");
    // rpm 2 frees one request every 30 s.
    assert!(after > secs(25) && after <= secs(30), "{after:?}");
}

#[tokio::test(start_paused = true)]
async fn an_rpm_limit_does_not_queue_it_falls_back() {
    let a = healthy("a");
    let h = healthy("h");
    let router = Router::builder()
        .deployment(dep("g", "a", &a).rpm(1))
        .deployment(dep("fb", "h", &h))
        .fallbacks("g", ["fb"])
        .seed(3)
        .build()
        .expect("valid router");
    let start = tokio::time::Instant::now();
    send(&router, 3).await;
    assert_eq!((a.calls(), h.calls()), (1, 2));
    assert_eq!(start.elapsed(), std::time::Duration::ZERO, "nobody waited");
}

#[tokio::test(start_paused = true)]
async fn a_tpm_limit_turns_requests_away_until_tokens_return() {
    // Each answer uses 4 tokens ("Hello!" + "answer from a"); 10 a minute allows three
    // (the bucket may go into debt), then none until the debt is paid back.
    let a = healthy("a");
    let router = Router::builder()
        .deployment(dep("g", "a", &a).tpm(10))
        .seed(3)
        .build()
        .expect("valid router");
    send(&router, 3).await;
    let err = router
        .chat(&req("g"), &RequestOptions::new())
        .await
        .expect_err("over the tpm limit");
    assert_eq!(a.calls(), 3);
    assert_eq!(err.kind(), ErrorKind::RateLimit);
    assert_eq!(err.reason(), FailureReason::NoDeploymentAvailable);
    // 2 tokens of debt plus one, at 10 a minute: 18 s.
    let after = err.retry_after().expect("says when capacity returns");
    assert!(after.abs_diff(secs(18)) < ms(1), "{after:?}");
    tokio::time::sleep(after).await;
    send(&router, 1).await;
    assert_eq!(a.calls(), 4);
}

#[tokio::test(start_paused = true)]
async fn an_unknown_model_is_not_found() {
    let router = Router::builder()
        .deployment(dep("gpt-4", "a", &healthy("a")))
        .build()
        .expect("valid router");
    let err = router
        .chat(&req("gpt-5"), &RequestOptions::new())
        .await
        .expect_err("no such group");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.reason(), FailureReason::UnknownModel);
    assert!(
        err.message().contains("gpt-5") && err.message().contains("gpt-4"),
        "{}",
        err.message()
    );
    assert!(err.report().attempts.is_empty());
}

#[test]
fn build_refuses_bad_settings() {
    let m = healthy("m");
    let two = || {
        Router::builder()
            .deployment(dep("g", "a", &m))
            .deployment(dep("h", "b", &m))
    };
    let err = |b: RouterBuilder| b.build().expect_err("refused");

    assert_eq!(err(Router::builder()), BuildError::NoDeployments);
    assert_eq!(
        err(Router::builder()
            .deployment(dep("g", "a", &m))
            .deployment(dep("h", "a", &m))),
        BuildError::DuplicateId("a".into())
    );
    assert!(matches!(
        err(two().fallbacks("g", ["nope"])),
        BuildError::UnknownFallback { to, .. } if to == "nope"
    ));
    assert!(matches!(
        err(two().context_window_fallbacks("g", ["nope"])),
        BuildError::UnknownFallback { .. }
    ));
    assert!(matches!(
        err(two().default_fallbacks(["nope"])),
        BuildError::UnknownFallback { .. }
    ));
    assert!(matches!(
        err(two().fallbacks("g", ["g"])),
        BuildError::SelfFallback { .. }
    ));
    assert_eq!(
        err(Router::builder()
            .deployment(dep("g", "a", &m).weight(0))
            .deployment(dep("g", "b", &m).weight(0))),
        BuildError::ZeroTotalWeight("g".into())
    );
    assert!(matches!(
        err(two().model_group_retry_policy("nope", Default::default())),
        BuildError::UnknownPolicyGroup(_)
    ));
    // Every message says what to do, without a trailing period.
    let e = err(two().fallbacks("g", ["nope"])).to_string();
    assert!(e.contains("nope") && !e.ends_with('.'), "{e}");
}

#[test]
fn an_unknown_fallback_group_is_named_on_the_right_side() {
    let m = healthy("m");
    let two = || {
        Router::builder()
            .deployment(dep("g", "a", &m))
            .deployment(dep("h", "b", &m))
    };
    let err = |b: RouterBuilder| b.build().expect_err("refused");

    // The group falls back to a group that does not exist.
    let e = err(two().fallbacks("g", ["nope"]));
    assert_eq!(
        e,
        BuildError::UnknownFallback {
            list: "fallbacks",
            from: "g".into(),
            to: "nope".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "fallbacks for `g` names `nope`, which is not a model group: add a deployment named `nope` or remove it from the list"
    );

    // The entry itself is for a group that does not exist.
    let e = err(two().content_policy_fallbacks("nope", ["h"]));
    assert_eq!(
        e,
        BuildError::UnknownFallbackSource {
            list: "content_policy_fallbacks",
            from: "nope".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "content_policy_fallbacks has an entry for `nope`, which is not a model group: add a deployment named `nope` or remove the entry"
    );
    // `*` is every group, not an unknown one.
    two().fallbacks("*", ["h"]).build().expect("valid router");
}
