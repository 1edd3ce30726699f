//! §9 What is reported: observers see every step in order with the decision taken, and a
//! panicking observer never breaks a request.

use std::sync::Arc;

use futures::StreamExt;
use provider::ErrorKind;
use switchyard_router::{
    AttemptFailure, AttemptStart, FailureEvent, FallbackEvent, Observer, RequestOptions,
    RetryEvent, Router, SuccessEvent,
};

use crate::support::{Recorder, build, dep, fail, failing, healthy, mock, req, secs};

#[tokio::test(start_paused = true)]
async fn observers_see_every_step_in_order_with_the_decision() {
    let a = build(mock("a").always(fail(ErrorKind::InternalServer).retry_after(secs(1))));
    let c = healthy("c");
    let rec = Arc::new(Recorder::default());
    let router = Router::builder()
        .deployment(dep("g", "a", &a))
        .deployment(dep("fb", "c", &c))
        .fallbacks("g", ["fb"])
        .num_retries(1)
        .observer(rec.clone())
        .seed(1)
        .build()
        .expect("valid router");
    router
        .chat(&req("g"), &RequestOptions::new())
        .await
        .expect("the fallback answers");
    assert_eq!(
        rec.events(),
        [
            "start g/a #1",
            "fail a internal_server -> retry any 1000ms",
            "retry g #1 after 1000ms",
            "start g/a #2",
            "fail a internal_server -> fallback Generic",
            "fallback g -> fb",
            "start fb/c #3",
            "success c retries=1 fallbacks=1",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn observers_see_the_final_failure_last() {
    let a = failing("a", ErrorKind::BadRequest);
    let rec = Arc::new(Recorder::default());
    let router = Router::builder()
        .deployment(dep("g", "a", &a))
        .observer(rec.clone())
        .seed(1)
        .build()
        .expect("valid router");
    router
        .chat(&req("g"), &RequestOptions::new())
        .await
        .expect_err("a 400 is final");
    assert_eq!(
        rec.events(),
        [
            "start g/a #1",
            "fail a bad_request -> give up NotRetryable",
            "failure bad_request",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_stream_reports_success_when_it_ends() {
    let a = healthy("a");
    let rec = Arc::new(Recorder::default());
    let router = Router::builder()
        .deployment(dep("g", "a", &a))
        .observer(rec.clone())
        .seed(1)
        .build()
        .expect("valid router");
    let mut stream = router
        .chat_stream(&req("g"), &RequestOptions::new())
        .await
        .expect("streams");
    assert_eq!(
        rec.events(),
        ["start g/a #1"],
        "not a success before the end"
    );
    while let Some(item) = stream.next().await {
        item.expect("a chunk");
    }
    assert_eq!(
        rec.events(),
        ["start g/a #1", "success a retries=0 fallbacks=0"]
    );
}

struct Panicker;

impl Observer for Panicker {
    fn on_attempt_start(&self, _: &AttemptStart<'_>) {
        panic!("observer bug");
    }
    fn on_attempt_failure(&self, _: &AttemptFailure<'_>) {
        panic!("observer bug");
    }
    fn on_retry(&self, _: &RetryEvent<'_>) {
        panic!("observer bug");
    }
    fn on_fallback(&self, _: &FallbackEvent<'_>) {
        panic!("observer bug");
    }
    fn on_success(&self, _: &SuccessEvent<'_>) {
        panic!("observer bug");
    }
    fn on_failure(&self, _: &FailureEvent<'_>) {
        panic!("observer bug");
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_observer_does_not_break_the_request() {
    let a = build(mock("a").script([fail(ErrorKind::InternalServer)]));
    let rec = Arc::new(Recorder::default());
    let router = Router::builder()
        .deployment(dep("g", "a", &a))
        .observer(Arc::new(Panicker))
        .observer(rec.clone())
        .seed(1)
        .build()
        .expect("valid router");
    let ok = router
        .chat(&req("g"), &RequestOptions::new())
        .await
        .expect("the retry answers despite the observer");
    assert_eq!(ok.value.text(), Some("answer from a"));
    // Observers after the broken one are still called.
    assert_eq!(rec.events().len(), 5, "{:?}", rec.events());
    let err = router
        .chat(&req("nope"), &RequestOptions::new())
        .await
        .expect_err("unknown model");
    assert_eq!(err.kind(), ErrorKind::NotFound);
}
