//! §5 Cooldowns: after `allowed_fails`, at once for wrong keys and shared 429s, never for
//! the last deployment without fallback, escalation, extension, and what a request does
//! when every deployment of its group is cooling.

use std::time::Duration;

use mock::MockProvider;
use provider::ErrorKind;
use switchyard_router::{FailureReason, RequestOptions, Router};
use tokio::time::Instant;

use crate::support::{
    assert_close, assert_cooling, assert_elapsed, build, cooling_for, dep, fail, failing, healthy,
    mock, req, scripted, secs,
};

/// Sends requests until `m` has been called `calls` times (at most 200 requests).
async fn until_called(router: &Router, m: &MockProvider, calls: usize) {
    for _ in 0..200 {
        if m.calls() >= calls {
            return;
        }
        router
            .chat(&req("g"), &RequestOptions::new())
            .await
            .expect("a healthy sibling answers");
    }
    panic!("deployment was called {} times, wanted {calls}", m.calls());
}

#[tokio::test(start_paused = true)]
async fn a_deployment_cools_after_allowed_fails_and_is_skipped() {
    let a = failing("a", ErrorKind::InternalServer);
    let b = healthy("b");
    let router = Router::builder()
        .deployment(dep("g", "a", &a))
        .deployment(dep("g", "b", &b))
        .allowed_fails(1)
        .seed(5)
        .build()
        .expect("valid router");
    until_called(&router, &a, 1).await;
    assert_eq!(cooling_for(&router, "a"), None, "one failure is allowed");
    // Failures older than the 60 s window are forgotten.
    tokio::time::sleep(secs(60)).await;
    until_called(&router, &a, 2).await;
    assert_eq!(
        cooling_for(&router, "a"),
        None,
        "the first failure left the window"
    );
    until_called(&router, &a, 3).await;
    assert_cooling(&router, "a", secs(5));
    assert_eq!(router.cooling_count(), 1);

    for _ in 0..20 {
        let ok = router
            .chat(&req("g"), &RequestOptions::new())
            .await
            .expect("b answers");
        assert_eq!(
            ok.report.attempts.len(),
            1,
            "the cooling deployment is skipped"
        );
        assert_eq!(ok.report.final_deployment.as_deref(), Some("b"));
    }
    assert_eq!(a.calls(), 3);

    tokio::time::sleep(secs(5)).await;
    assert_eq!(cooling_for(&router, "a"), None);
    until_called(&router, &a, 4).await;
}

#[tokio::test(start_paused = true)]
async fn wrong_keys_and_shared_rate_limits_cool_at_once() {
    for kind in [
        ErrorKind::Authentication,
        ErrorKind::PermissionDenied,
        ErrorKind::NotFound,
        ErrorKind::RateLimit,
    ] {
        let a = failing("a", kind);
        let b = healthy("b");
        let router = Router::builder()
            .deployment(dep("g", "a", &a).weight(1))
            .deployment(dep("g", "b", &b).weight(0))
            .seed(1)
            .build()
            .expect("valid router");
        router
            .chat(&req("g"), &RequestOptions::new())
            .await
            .expect("b answers");
        assert_eq!(a.calls(), 1);
        assert_cooling(&router, "a", secs(5));
        let ok = router
            .chat(&req("g"), &RequestOptions::new())
            .await
            .expect("b answers");
        assert_eq!(ok.report.attempts.len(), 1, "{kind}: a is out of rotation");
        assert_eq!(a.calls(), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn a_429_hint_sets_the_cooldown_when_longer() {
    let a = scripted("a", [fail(ErrorKind::RateLimit).retry_after(secs(30))]);
    let b = healthy("b");
    let router = Router::builder()
        .deployment(dep("g", "a", &a).weight(1))
        .deployment(dep("g", "b", &b).weight(0))
        .seed(1)
        .build()
        .expect("valid router");
    router
        .chat(&req("g"), &RequestOptions::new())
        .await
        .expect("b answers");
    assert_cooling(&router, "a", secs(30));
}

#[tokio::test(start_paused = true)]
async fn the_last_deployment_of_a_group_without_fallback_is_never_cooled() {
    for kind in [ErrorKind::RateLimit, ErrorKind::InternalServer] {
        let a = failing("a", kind);
        let router = Router::builder()
            .deployment(dep("g", "a", &a))
            .allowed_fails(1)
            .seed(1)
            .build()
            .expect("valid router");
        for round in 1..=3 {
            let start = Instant::now();
            let err = router
                .chat(&req("g"), &RequestOptions::new())
                .await
                .expect_err("always fails");
            // Every request still tries the deployment, with backoff, and never waits
            // for a cooldown or fails at the door.
            assert_eq!(err.reason(), FailureReason::Upstream, "{kind}");
            assert_eq!(err.kind(), kind);
            assert_eq!(a.calls(), 3 * round, "{kind}");
            assert_elapsed(start.elapsed(), err.report().total_wait(), 2);
            assert_eq!(cooling_for(&router, "a"), None, "{kind}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn cooled_again_soon_after_returning_doubles_and_a_success_resets() {
    let a = scripted(
        "a",
        [
            fail(ErrorKind::Authentication),
            fail(ErrorKind::Authentication),
            fail(ErrorKind::Authentication),
        ],
    );
    let b = healthy("b");
    let router = Router::builder()
        .deployment(dep("g", "a", &a))
        .deployment(dep("g", "b", &b))
        .seed(9)
        .build()
        .expect("valid router");
    until_called(&router, &a, 1).await;
    assert_cooling(&router, "a", secs(5));

    tokio::time::sleep(secs(6)).await;
    until_called(&router, &a, 2).await;
    // Back for 1 s, cooled again: twice as long.
    assert_cooling(&router, "a", secs(10));

    tokio::time::sleep(secs(11)).await;
    until_called(&router, &a, 3).await;
    assert_cooling(&router, "a", secs(20));

    // A success starts over.
    tokio::time::sleep(secs(21)).await;
    until_called(&router, &a, 4).await;
    assert_eq!(
        cooling_for(&router, "a"),
        None,
        "the script is over: a answers"
    );
    a.push_step(fail(ErrorKind::Authentication));
    until_called(&router, &a, 5).await;
    assert_cooling(&router, "a", secs(5));
}

#[tokio::test(start_paused = true)]
async fn cooling_a_cooling_deployment_extends_never_shortens() {
    for (first, second) in [(10, 30), (30, 10)] {
        // Two requests in flight on `a` at once; both get a 429 after 1 s.
        let a = build(mock("a").latency(secs(1)).script([
            fail(ErrorKind::RateLimit).retry_after(secs(first)),
            fail(ErrorKind::RateLimit).retry_after(secs(second)),
        ]));
        let b = healthy("b");
        let router = Router::builder()
            .deployment(dep("g", "a", &a).weight(1))
            .deployment(dep("g", "b", &b).weight(0))
            .seed(1)
            .build()
            .expect("valid router");
        let (opts, r) = (RequestOptions::new(), req("g"));
        let (r1, r2) = tokio::join!(router.chat(&r, &opts), router.chat(&r, &opts));
        r1.expect("b answers");
        r2.expect("b answers");
        assert_eq!(a.calls(), 2);
        assert_cooling(&router, "a", secs(30));
    }
}

/// Group `g` of two deployments that each fail once with a wrong key, and a fallback
/// group `fb`. After the first request both deployments of `g` cool for `cooldown`.
async fn all_cooling(cooldown: Duration) -> (Router, MockProvider) {
    let a = scripted("a", [fail(ErrorKind::Authentication)]);
    let b = scripted("b", [fail(ErrorKind::Authentication)]);
    let h = healthy("h");
    let router = Router::builder()
        .deployment(dep("g", "a", &a))
        .deployment(dep("g", "b", &b))
        .deployment(dep("fb", "h", &h))
        .fallbacks("g", ["fb"])
        .cooldown_time(cooldown)
        .seed(1)
        .build()
        .expect("valid router");
    let ok = router
        .chat(&req("g"), &RequestOptions::new())
        .await
        .expect("the fallback answers");
    assert_eq!(ok.report.final_group.as_deref(), Some("fb"));
    assert_cooling(&router, "a", cooldown);
    assert_cooling(&router, "b", cooldown);
    (router, h)
}

#[tokio::test(start_paused = true)]
async fn all_cooling_waits_for_the_first_to_return_when_it_fits() {
    let (router, h) = all_cooling(secs(5)).await;
    let start = Instant::now();
    let ok = router
        .chat(&req("g"), &RequestOptions::new().timeout(secs(30)))
        .await
        .expect("g answers after its cooldown");
    assert_elapsed(start.elapsed(), secs(5), 1);
    assert_eq!(ok.report.final_group.as_deref(), Some("g"));
    assert_close(ok.report.attempts[0].wait_before, secs(5));
    assert_eq!(h.calls(), 1, "only the first request fell back");
}

#[tokio::test(start_paused = true)]
async fn all_cooling_falls_back_when_the_wait_does_not_fit() {
    // The deadline is too close.
    let (router, h) = all_cooling(secs(5)).await;
    let start = Instant::now();
    let ok = router
        .chat(&req("g"), &RequestOptions::new().timeout(secs(2)))
        .await
        .expect("the fallback answers");
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(ok.report.final_group.as_deref(), Some("fb"));
    assert_eq!(h.calls(), 2);

    // The cooldown is longer than max_retry_after (60 s).
    let (router, h) = all_cooling(secs(90)).await;
    let start = Instant::now();
    let ok = router
        .chat(&req("g"), &RequestOptions::new())
        .await
        .expect("the fallback answers");
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(ok.report.final_group.as_deref(), Some("fb"));
    assert_eq!(h.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn all_cooling_without_fallback_is_a_429_with_retry_after() {
    let (router, _h) = all_cooling(secs(5)).await;
    let start = Instant::now();
    let err = router
        .chat(
            &req("g"),
            &RequestOptions::new().timeout(secs(2)).disable_fallbacks(),
        )
        .await
        .expect_err("nothing can take the request");
    assert_eq!(start.elapsed(), Duration::ZERO, "no waiting at the door");
    assert_eq!(err.kind(), ErrorKind::RateLimit);
    assert_eq!(err.reason(), FailureReason::NoDeploymentAvailable);
    assert_close(err.retry_after().expect("a Retry-After"), secs(5));
    assert!(err.report().attempts.is_empty());
}
