//! §7 Timeouts: the per-attempt `timeout` and the request's total deadline.

use mock::MockStep;
use provider::ErrorKind;
use switchyard_router::{RequestOptions, Router};
use tokio::time::Instant;

use crate::support::{assert_elapsed, build, dep, mock, ms, req, scripted, secs, solo};

fn hanging() -> mock::MockProvider {
    build(mock("a").always(MockStep::Hang))
}

#[tokio::test(start_paused = true)]
async fn the_request_deadline_bounds_retries_waits_and_attempts() {
    let a = hanging();
    // Waits of at most 200 ms: a fourth attempt starts before 9.6 s and is still in
    // flight when the deadline comes.
    let router = Router::builder()
        .deployment(dep("g", "a", &a))
        .timeout(secs(3))
        .backoff(ms(200), ms(200))
        .seed(1)
        .build()
        .expect("valid router");
    let start = Instant::now();
    let err = router
        .chat(
            &req("g"),
            &RequestOptions::new().num_retries(50).timeout(secs(10)),
        )
        .await
        .expect_err("the upstream never answers");
    let elapsed = start.elapsed();
    assert!(
        elapsed >= secs(10) && elapsed <= secs(10) + ms(5),
        "the deadline is 10 s: {elapsed:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Timeout);
    let attempts = &err.report().attempts;
    assert_eq!(attempts.len(), 4);
    assert!(
        attempts[3].latency < secs(1),
        "the last attempt was cut short"
    );
    assert!(attempts.iter().all(|a| a.latency <= secs(3)));
    assert_eq!(a.calls(), attempts.len());
}

#[tokio::test(start_paused = true)]
async fn an_attempt_gets_the_smaller_of_its_limit_and_the_time_left() {
    let a = hanging();
    let router = Router::builder()
        .deployment(dep("g", "a", &a))
        .timeout(secs(30))
        .seed(1)
        .build()
        .expect("valid router");
    let start = Instant::now();
    let err = router
        .chat(&req("g"), &RequestOptions::new().timeout(secs(5)))
        .await
        .expect_err("the upstream never answers");
    assert_eq!(
        start.elapsed(),
        secs(5),
        "the deadline, not the 30 s attempt limit"
    );
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(a.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_attempt_timeout_limits_one_attempt_only() {
    let a = scripted("a", [MockStep::Hang, MockStep::Hang]);
    let router = Router::builder()
        .deployment(dep("g", "a", &a))
        .timeout(secs(2))
        .retry_after(secs(1))
        .seed(1)
        .build()
        .expect("valid router");
    let start = Instant::now();
    let ok = router
        .chat(&req("g"), &RequestOptions::new())
        .await
        .expect("the third attempt answers");
    let attempts = &ok.report.attempts;
    assert_eq!(attempts.len(), 3);
    for a in &attempts[..2] {
        assert_eq!(a.kind, Some(ErrorKind::Timeout));
        assert_eq!(a.latency, secs(2));
    }
    assert_elapsed(start.elapsed(), secs(4) + ok.report.total_wait(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_deployment_timeout_wins_over_the_routers() {
    let a = scripted("a", [MockStep::Hang]);
    let router = Router::builder()
        .deployment(dep("g", "a", &a).timeout(secs(1)))
        .timeout(secs(30))
        .seed(1)
        .build()
        .expect("valid router");
    let ok = router
        .chat(&req("g"), &RequestOptions::new())
        .await
        .expect("the retry answers");
    assert_eq!(ok.report.attempts[0].latency, secs(1));
    assert_eq!(ok.report.attempts[0].kind, Some(ErrorKind::Timeout));
}

#[tokio::test(start_paused = true)]
async fn without_any_limit_the_deadline_cuts_a_hanging_attempt() {
    let a = hanging();
    let router = solo(&a, 1);
    let start = Instant::now();
    let err = router
        .chat(&req("g"), &RequestOptions::new().timeout(ms(2500)))
        .await
        .expect_err("the upstream never answers");
    assert_eq!(start.elapsed(), ms(2500));
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(!err.message().is_empty());
}
