//! §3 How long to wait: upstream hints, full jitter, the `retry_after` floor, no backoff
//! onto a fresh sibling, hints too long to sleep on, and no sleep after the last attempt.

use std::time::Duration;

use provider::ErrorKind;
use switchyard_router::{Report, RequestOptions, Router};
use tokio::time::Instant;

use crate::support::{assert_elapsed, dep, fail, failing, healthy, ms, req, scripted, secs, solo};

fn waits(report: &Report) -> Vec<Duration> {
    report.attempts.iter().map(|a| a.wait_before).collect()
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_hint_is_the_exact_wait() {
    let m = scripted("a", [fail(ErrorKind::RateLimit).retry_after(secs(3))]);
    let router = solo(&m, 1);
    let start = Instant::now();
    let ok = router
        .chat(&req("g"), &RequestOptions::new())
        .await
        .expect("the retry answers");
    assert_eq!(waits(&ok.report), [Duration::ZERO, secs(3)]);
    assert_eq!(start.elapsed(), secs(3));
    // A fractional hint is kept to the millisecond.
    m.push_step(fail(ErrorKind::ServiceUnavailable).retry_after(ms(1500)));
    let start = Instant::now();
    let ok = router
        .chat(&req("g"), &RequestOptions::new())
        .await
        .expect("the retry answers");
    assert_eq!(ok.report.attempts[1].wait_before, ms(1500));
    assert_eq!(start.elapsed(), ms(1500));
}

#[tokio::test(start_paused = true)]
async fn backoff_is_full_jitter_doubling_from_two_seconds() {
    let m = failing("a", ErrorKind::InternalServer);
    let router = solo(&m, 7);
    let caps = [secs(2), secs(4), secs(8), secs(16)];
    let mut largest = [Duration::ZERO; 4];
    let mut smallest = [Duration::MAX; 4];
    for _ in 0..40 {
        let start = Instant::now();
        let err = router
            .chat(&req("g"), &RequestOptions::new().num_retries(4))
            .await
            .expect_err("always fails");
        let w = waits(err.report());
        assert_eq!(w.len(), 5);
        assert_eq!(w[0], Duration::ZERO, "no wait before the first attempt");
        for n in 0..4 {
            assert!(w[n + 1] <= caps[n], "retry {} waited {:?}", n + 1, w[n + 1]);
            largest[n] = largest[n].max(w[n + 1]);
            smallest[n] = smallest[n].min(w[n + 1]);
        }
        assert_elapsed(start.elapsed(), err.report().total_wait(), 4);
    }
    // The caps double: over 40 requests each retry uses the upper half of its range
    // and the lower quarter too (full jitter, not a fixed or "equal jitter" wait).
    for n in 0..4 {
        assert!(
            largest[n] > caps[n] / 2,
            "retry {}: {:?}",
            n + 1,
            largest[n]
        );
        assert!(
            smallest[n] < caps[n] / 4,
            "retry {}: {:?}",
            n + 1,
            smallest[n]
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_seed_makes_the_waits_repeat() {
    async fn run(seed: u64) -> Vec<Duration> {
        let m = failing("a", ErrorKind::InternalServer);
        let router = Router::builder()
            .deployment(dep("g", "a", &m))
            .seed(seed)
            .build()
            .expect("valid router");
        let err = router
            .chat(&req("g"), &RequestOptions::new())
            .await
            .expect_err("always fails");
        waits(err.report())
    }
    assert_eq!(run(11).await, run(11).await);
    assert_ne!(run(11).await, run(12).await);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_a_floor_under_jitter_and_hints() {
    let m = failing("a", ErrorKind::InternalServer);
    let router = Router::builder()
        .deployment(dep("g", "a", &m))
        .retry_after(secs(5))
        .seed(2)
        .build()
        .expect("valid router");
    for _ in 0..10 {
        let err = router
            .chat(&req("g"), &RequestOptions::new())
            .await
            .expect_err("always fails");
        // Jitter of at most 2 s and 4 s never beats a 5 s floor.
        assert_eq!(waits(err.report()), [Duration::ZERO, secs(5), secs(5)]);
    }
    // A hint shorter than the floor is raised to it.
    let hinted = scripted("b", [fail(ErrorKind::RateLimit).retry_after(secs(1))]);
    let router = Router::builder()
        .deployment(dep("g", "b", &hinted))
        .retry_after(secs(5))
        .seed(2)
        .build()
        .expect("valid router");
    let start = Instant::now();
    let ok = router
        .chat(&req("g"), &RequestOptions::new())
        .await
        .expect("the retry answers");
    assert_eq!(ok.report.attempts[1].wait_before, secs(5));
    assert_eq!(start.elapsed(), secs(5));
}

#[tokio::test(start_paused = true)]
async fn no_backoff_onto_a_fresh_sibling() {
    async fn run(floor: Duration) -> (Report, Duration) {
        // `a` is always picked first (weight 1 against 0) and fails with a 3 s hint.
        let a = build_hinted();
        let b = healthy("b");
        let router = Router::builder()
            .deployment(dep("g", "a", &a).weight(1))
            .deployment(dep("g", "b", &b).weight(0))
            .retry_after(floor)
            .seed(1)
            .build()
            .expect("valid router");
        let start = Instant::now();
        let ok = router
            .chat(&req("g"), &RequestOptions::new())
            .await
            .expect("the sibling answers");
        assert_eq!(ok.report.final_deployment.as_deref(), Some("b"));
        (ok.report, start.elapsed())
    }
    fn build_hinted() -> mock::MockProvider {
        crate::support::build(
            crate::support::mock("a").always(fail(ErrorKind::InternalServer).retry_after(secs(3))),
        )
    }
    let (report, elapsed) = run(Duration::ZERO).await;
    assert_eq!(waits(&report), [Duration::ZERO, Duration::ZERO]);
    assert_eq!(elapsed, Duration::ZERO);
    // Only the floor applies.
    let (report, elapsed) = run(secs(1)).await;
    assert_eq!(waits(&report), [Duration::ZERO, secs(1)]);
    assert_eq!(elapsed, secs(1));
}

#[tokio::test(start_paused = true)]
async fn a_hint_above_max_retry_after_is_not_slept_on() {
    let m = failing("a", ErrorKind::RateLimit);
    m.push_step(fail(ErrorKind::RateLimit).retry_after(secs(120)));
    let router = solo(&m, 1);
    let start = Instant::now();
    let err = router
        .chat(&req("g"), &RequestOptions::new())
        .await
        .expect_err("the hint is too long to wait");
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(m.calls(), 1);
    assert_eq!(err.kind(), ErrorKind::RateLimit);
    assert_eq!(
        err.retry_after(),
        Some(secs(120)),
        "for the client's Retry-After"
    );

    // Raising max_retry_after makes the same hint a wait.
    let m = scripted("a", [fail(ErrorKind::RateLimit).retry_after(secs(120))]);
    let router = Router::builder()
        .deployment(dep("g", "a", &m))
        .max_retry_after(secs(300))
        .seed(1)
        .build()
        .expect("valid router");
    let start = Instant::now();
    router
        .chat(&req("g"), &RequestOptions::new())
        .await
        .expect("waited and answered");
    assert_eq!(start.elapsed(), secs(120));
}

#[tokio::test(start_paused = true)]
async fn a_hint_above_max_retry_after_cools_the_deployment_and_moves_on() {
    // A 429 and a 503 alike: a 503 alone only counts toward allowed_fails, but a Retry-After
    // longer than we sleep on is the upstream saying it is not ready, so the first one cools it
    // and later requests go elsewhere at once.
    for (kind, hint) in [
        (ErrorKind::RateLimit, secs(120)),
        (ErrorKind::ServiceUnavailable, secs(600)),
    ] {
        let a =
            crate::support::build(crate::support::mock("a").always(fail(kind).retry_after(hint)));
        let h = healthy("h");
        let router = Router::builder()
            .deployment(dep("g", "a", &a))
            .deployment(dep("fb", "h", &h))
            .fallbacks("g", ["fb"])
            .seed(1)
            .build()
            .expect("valid router");
        let start = Instant::now();
        let ok = router
            .chat(&req("g"), &RequestOptions::new())
            .await
            .expect("the fallback answers");
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "{kind:?}: no sleep on the hint"
        );
        assert_eq!(ok.report.final_group.as_deref(), Some("fb"), "{kind:?}");
        // Cooled for the hinted time.
        crate::support::assert_cooling(&router, "a", hint);
        // The next request does not knock on the deployment again.
        let ok = router
            .chat(&req("g"), &RequestOptions::new())
            .await
            .expect("the fallback answers");
        assert_eq!(ok.report.final_group.as_deref(), Some("fb"), "{kind:?}");
        assert_eq!(a.calls(), 1, "{kind:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn nothing_sleeps_after_the_last_attempt() {
    let m = failing("a", ErrorKind::InternalServer);
    let router = Router::builder()
        .deployment(dep("g", "a", &m))
        .retry_after(secs(1))
        .seed(4)
        .build()
        .expect("valid router");
    let start = Instant::now();
    let err = router
        .chat(&req("g"), &RequestOptions::new())
        .await
        .expect_err("always fails");
    let w = waits(err.report());
    assert_eq!(w.len(), 3);
    assert!(w[1] >= secs(1) && w[2] >= secs(1));
    assert_elapsed(start.elapsed(), w[1] + w[2], 2);
}

#[tokio::test(start_paused = true)]
async fn a_wait_that_would_cross_the_deadline_is_not_started() {
    let m = scripted("a", [fail(ErrorKind::RateLimit).retry_after(secs(10))]);
    let router = solo(&m, 1);
    let start = Instant::now();
    let err = router
        .chat(&req("g"), &RequestOptions::new().timeout(secs(5)))
        .await
        .expect_err("the hint does not fit in the deadline");
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "stops now, not at the deadline"
    );
    assert_eq!(m.calls(), 1);
    assert_eq!(
        err.kind(),
        ErrorKind::RateLimit,
        "the last error, not a timeout"
    );
    assert_eq!(err.retry_after(), Some(secs(10)));
}
