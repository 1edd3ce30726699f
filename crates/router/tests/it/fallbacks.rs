//! §4 Fallbacks: order, fresh retry budgets, the lists by error kind, per-request lists,
//! limits, no loops, and the error the caller gets when every group fails.

use provider::ErrorKind;
use switchyard_router::{RequestOptions, Router, RouterBuilder};

use crate::support::{dep, failing, healthy, hops_of, req};

fn no_retries() -> RequestOptions {
    RequestOptions::new().num_retries(0)
}

#[tokio::test(start_paused = true)]
async fn each_fallback_group_gets_a_fresh_retry_budget() {
    // The guide: "try gpt-4 (retry up to 3 times), then try gpt-3.5 (retry up to 3 times)".
    let gpt4 = failing("gpt-4", ErrorKind::InternalServer);
    let gpt35 = failing("gpt-3.5", ErrorKind::InternalServer);
    let router = Router::builder()
        .deployment(dep("gpt-4", "gpt-4", &gpt4))
        .deployment(dep("gpt-3.5", "gpt-3.5", &gpt35))
        .num_retries(3)
        .fallbacks("gpt-4", ["gpt-3.5"])
        .seed(1)
        .build()
        .expect("valid router");
    let err = router
        .chat(&req("gpt-4"), &RequestOptions::new())
        .await
        .expect_err("both groups fail");
    assert_eq!(err.report().attempts.len(), 8);
    assert_eq!((gpt4.calls(), gpt35.calls()), (4, 4));
    assert_eq!(
        hops_of(&err),
        [
            "gpt-4", "gpt-4", "gpt-4", "gpt-4", "gpt-3.5", "gpt-3.5", "gpt-3.5", "gpt-3.5"
        ]
    );
    assert_eq!(err.report().fallbacks, 1);
    assert_eq!(err.report().retries, 6);
    // The fallback starts at once: no backoff before the first attempt of a new group.
    assert_eq!(
        err.report().attempts[4].wait_before,
        std::time::Duration::ZERO
    );
}

#[tokio::test(start_paused = true)]
async fn fallbacks_are_tried_in_order() {
    let g = failing("g", ErrorKind::InternalServer);
    let h1 = failing("h1", ErrorKind::ServiceUnavailable);
    let h2 = failing("h2", ErrorKind::Timeout);
    let h3 = healthy("h3");
    let router = Router::builder()
        .deployment(dep("g", "g", &g))
        .deployment(dep("h1", "h1", &h1))
        .deployment(dep("h2", "h2", &h2))
        .deployment(dep("h3", "h3", &h3))
        .fallbacks("g", ["h1", "h2", "h3"])
        .seed(1)
        .build()
        .expect("valid router");
    let ok = router
        .chat(&req("g"), &no_retries())
        .await
        .expect("h3 answers");
    let hops: Vec<_> = ok.report.attempts.iter().map(|a| &*a.group).collect();
    assert_eq!(hops, ["g", "h1", "h2", "h3"]);
    assert_eq!(ok.report.fallbacks, 3);
    assert_eq!(ok.report.final_group.as_deref(), Some("h3"));
    assert_eq!(ok.value.text(), Some("answer from h3"));
}

/// A router with group `g` and six fallback groups `f1..f6`, all failing but `f6`.
fn chain(b: RouterBuilder) -> (Router, Vec<mock::MockProvider>) {
    let g = failing("g", ErrorKind::InternalServer);
    let mut ms = vec![g.clone()];
    let mut b = b.deployment(dep("g", "g", &g));
    for i in 1..=6 {
        let name = format!("f{i}");
        let m = if i == 6 {
            healthy(&name)
        } else {
            failing(&name, ErrorKind::InternalServer)
        };
        b = b.deployment(dep(&name, &name, &m));
        ms.push(m);
    }
    let router = b
        .fallbacks("g", ["f1", "f2", "f3", "f4", "f5", "f6"])
        .seed(1)
        .build()
        .expect("valid router");
    (router, ms)
}

#[tokio::test(start_paused = true)]
async fn max_fallbacks_limits_the_groups_tried() {
    // Default: 5 fallback groups at most, so f6 is never reached.
    let (router, ms) = chain(Router::builder());
    let err = router
        .chat(&req("g"), &no_retries())
        .await
        .expect_err("f6 is beyond max_fallbacks");
    assert_eq!(err.report().fallbacks, 5);
    assert_eq!(ms[6].calls(), 0);
    assert_eq!(ms[5].calls(), 1);

    let (router, ms) = chain(Router::builder().max_fallbacks(1));
    router
        .chat(&req("g"), &no_retries())
        .await
        .expect_err("one fallback only");
    let calls: Vec<_> = ms.iter().map(|m| m.calls()).collect();
    assert_eq!(calls, [1, 1, 0, 0, 0, 0, 0]);
}

#[tokio::test(start_paused = true)]
async fn default_fallbacks_and_star_serve_groups_without_a_list() {
    let g = failing("g", ErrorKind::InternalServer);
    let own = healthy("own");
    let star = healthy("star");
    let dflt = healthy("dflt");
    let models = |b: RouterBuilder| {
        b.deployment(dep("g", "g", &g))
            .deployment(dep("k", "k", &g))
            .deployment(dep("own", "own", &own))
            .deployment(dep("star", "star", &star))
            .deployment(dep("dflt", "dflt", &dflt))
            .seed(1)
    };
    let answered_by = |r: Router, group: &'static str| async move {
        r.chat(&req(group), &no_retries())
            .await
            .expect("a fallback answers")
            .report
            .final_group
            .map(|g| g.to_string())
    };

    let router = models(Router::builder())
        .default_fallbacks(["dflt"])
        .build()
        .expect("valid router");
    assert_eq!(answered_by(router, "g").await.as_deref(), Some("dflt"));

    let router = models(Router::builder())
        .fallbacks("*", ["star"])
        .fallbacks("k", ["own"])
        .build()
        .expect("valid router");
    assert_eq!(
        answered_by(router.clone(), "g").await.as_deref(),
        Some("star")
    );
    assert_eq!(
        answered_by(router, "k").await.as_deref(),
        Some("own"),
        "a group's own list wins over `*`"
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_may_bring_its_own_fallbacks_or_none() {
    let g = failing("g", ErrorKind::InternalServer);
    let configured = healthy("configured");
    let mine = healthy("mine");
    let router = Router::builder()
        .deployment(dep("g", "g", &g))
        .deployment(dep("configured", "configured", &configured))
        .deployment(dep("mine", "mine", &mine))
        .fallbacks("g", ["configured"])
        .seed(1)
        .build()
        .expect("valid router");
    let ok = router
        .chat(&req("g"), &no_retries().fallbacks(["mine"]))
        .await
        .expect("the request's own fallback answers");
    assert_eq!(ok.report.final_group.as_deref(), Some("mine"));
    assert_eq!(configured.calls(), 0);

    let err = router
        .chat(&req("g"), &no_retries().disable_fallbacks())
        .await
        .expect_err("no fallback for this request");
    assert_eq!(err.kind(), ErrorKind::InternalServer);
    assert_eq!(err.report().fallbacks, 0);
    assert_eq!((configured.calls(), mine.calls()), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn context_window_errors_follow_their_own_list_else_the_generic_one() {
    let small = failing("small", ErrorKind::ContextWindowExceeded);
    let big = healthy("big");
    let other = healthy("other");
    let models = || {
        Router::builder()
            .deployment(dep("small", "small", &small))
            .deployment(dep("big", "big", &big))
            .deployment(dep("other", "other", &other))
            .fallbacks("small", ["other"])
            .seed(1)
    };
    let router = models()
        .context_window_fallbacks("small", ["big"])
        .build()
        .expect("valid router");
    let ok = router
        .chat(&req("small"), &RequestOptions::new())
        .await
        .expect("the bigger model answers");
    assert_eq!(ok.report.final_group.as_deref(), Some("big"));
    assert_eq!(other.calls(), 0);
    assert_eq!(small.calls(), 1, "never retried");

    let router = models().build().expect("valid router");
    let ok = router
        .chat(&req("small"), &RequestOptions::new())
        .await
        .expect("the generic fallback answers");
    assert_eq!(ok.report.final_group.as_deref(), Some("other"));
}

#[tokio::test(start_paused = true)]
async fn content_policy_errors_follow_only_their_own_list() {
    let strict = failing("strict", ErrorKind::ContentPolicyViolation);
    let lenient = healthy("lenient");
    let other = healthy("other");
    let models = || {
        Router::builder()
            .deployment(dep("strict", "strict", &strict))
            .deployment(dep("lenient", "lenient", &lenient))
            .deployment(dep("other", "other", &other))
            .fallbacks("strict", ["other"])
            .default_fallbacks(["other"])
            .seed(1)
    };
    let router = models().build().expect("valid router");
    let err = router
        .chat(&req("strict"), &RequestOptions::new())
        .await
        .expect_err("a refusal is never routed around by the generic list");
    assert_eq!(err.kind(), ErrorKind::ContentPolicyViolation);
    assert_eq!(other.calls(), 0);

    let router = models()
        .content_policy_fallbacks("strict", ["lenient"])
        .build()
        .expect("valid router");
    let ok = router
        .chat(&req("strict"), &RequestOptions::new())
        .await
        .expect("asked-for content-policy fallback answers");
    assert_eq!(ok.report.final_group.as_deref(), Some("lenient"));
    assert_eq!(other.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_bad_request_never_falls_back() {
    let g = failing("g", ErrorKind::BadRequest);
    let h = healthy("h");
    let router = Router::builder()
        .deployment(dep("g", "g", &g))
        .deployment(dep("h", "h", &h))
        .fallbacks("g", ["h"])
        .context_window_fallbacks("g", ["h"])
        .content_policy_fallbacks("g", ["h"])
        .seed(1)
        .build()
        .expect("valid router");
    let err = router
        .chat(&req("g"), &RequestOptions::new())
        .await
        .expect_err("it would fail the same way anywhere");
    assert_eq!(err.kind(), ErrorKind::BadRequest);
    assert_eq!((g.calls(), h.calls()), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_group_is_tried_at_most_once() {
    let a = failing("a", ErrorKind::InternalServer);
    let b = failing("b", ErrorKind::InternalServer);
    let router = Router::builder()
        .deployment(dep("a", "a", &a))
        .deployment(dep("b", "b", &b))
        .fallbacks("a", ["b"])
        .fallbacks("b", ["a"])
        .seed(1)
        .build()
        .expect("valid router");
    let err = router
        .chat(&req("a"), &RequestOptions::new())
        .await
        .expect_err("both fail");
    assert_eq!((a.calls(), b.calls()), (3, 3));
    assert_eq!(err.report().fallbacks, 1);
}

#[tokio::test(start_paused = true)]
async fn the_final_error_is_the_requested_groups_and_lists_every_hop() {
    let a = failing("a", ErrorKind::RateLimit);
    let b = failing("b", ErrorKind::InternalServer);
    let c = failing("c", ErrorKind::Timeout);
    let router = Router::builder()
        .deployment(dep("gpt-4", "a", &a))
        .deployment(dep("gpt-3.5", "b", &b))
        .deployment(dep("claude", "c", &c))
        .fallbacks("gpt-4", ["gpt-3.5", "claude"])
        .seed(1)
        .build()
        .expect("valid router");
    let err = router
        .chat(&req("gpt-4"), &no_retries())
        .await
        .expect_err("every group fails");
    assert_eq!(
        err.kind(),
        ErrorKind::RateLimit,
        "the requested group's error"
    );
    assert_eq!(err.status(), Some(429));
    let msg = err.message();
    for hop in [
        "gpt-4/a: rate_limit (429)",
        "gpt-3.5/b: internal_server (500)",
        "claude/c: timeout",
    ] {
        assert!(msg.contains(hop), "{hop} missing from: {msg}");
    }
    assert_eq!(err.to_string(), msg);
}
