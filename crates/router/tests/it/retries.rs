//! §2 How many retries: the default, each override level, each policy field, and the
//! kinds that are never retried unless a policy names them.

use provider::ErrorKind;
use switchyard_router::{FailureReason, RequestOptions, RetryPolicy, Router};

use crate::support::{dep, fail, failing, healthy, req, scripted, solo};

/// Attempts made by one request to group `g` served by one mock that always fails with
/// `kind`, with the router built by `configure`.
async fn attempts_for(
    kind: ErrorKind,
    opts: RequestOptions,
    configure: impl FnOnce(switchyard_router::RouterBuilder) -> switchyard_router::RouterBuilder,
) -> usize {
    let m = failing("a", kind);
    let router = configure(Router::builder().deployment(dep("g", "a", &m)).seed(1))
        .build()
        .expect("valid router");
    let err = router
        .chat(&req("g"), &opts)
        .await
        .expect_err("the deployment always fails");
    assert_eq!(err.kind(), kind, "the caller gets the upstream's kind");
    assert_eq!(
        err.report().attempts.len(),
        m.calls(),
        "every call is reported"
    );
    m.calls()
}

#[tokio::test(start_paused = true)]
async fn default_is_two_retries_three_attempts() {
    let m = failing("a", ErrorKind::InternalServer);
    let router = solo(&m, 1);
    let err = router
        .chat(&req("g"), &RequestOptions::new())
        .await
        .expect_err("always fails");
    assert_eq!(m.calls(), 3);
    assert_eq!(err.kind(), ErrorKind::InternalServer);
    assert_eq!(err.reason(), FailureReason::Upstream);
    assert_eq!(err.status(), Some(500));
    let report = err.report();
    assert_eq!(report.retries, 2);
    assert_eq!(report.max_retries, 2);
    assert_eq!(report.fallbacks, 0);
    assert!(
        report
            .attempts
            .iter()
            .all(|a| a.kind == Some(ErrorKind::InternalServer) && a.status == Some(500))
    );

    // Two failures, then an answer: the third attempt succeeds and says so.
    let m = scripted(
        "a",
        [
            fail(ErrorKind::InternalServer),
            fail(ErrorKind::InternalServer),
        ],
    );
    let router = solo(&m, 1);
    let ok = router
        .chat(&req("g"), &RequestOptions::new())
        .await
        .expect("the third attempt answers");
    assert_eq!(ok.value.text(), Some("answer from a"));
    assert_eq!(ok.report.retries, 2);
    assert_eq!(ok.report.attempts.len(), 3);
    assert_eq!(ok.report.attempts[2].kind, None);
    assert_eq!(ok.report.final_group.as_deref(), Some("g"));
    assert_eq!(ok.report.final_deployment.as_deref(), Some("a"));
}

#[tokio::test(start_paused = true)]
async fn request_num_retries_overrides_router_and_policies() {
    let policy = RetryPolicy {
        internal_server: Some(4),
        ..Default::default()
    };
    let n = attempts_for(
        ErrorKind::InternalServer,
        RequestOptions::new().num_retries(5),
        |b| b.num_retries(1).retry_policy(policy),
    )
    .await;
    assert_eq!(n, 6);
}

#[tokio::test(start_paused = true)]
async fn request_num_retries_zero_disables_retries() {
    let policy = RetryPolicy {
        internal_server: Some(4),
        ..Default::default()
    };
    let n = attempts_for(
        ErrorKind::InternalServer,
        RequestOptions::new().num_retries(0),
        |b| b.num_retries(3).retry_policy(policy),
    )
    .await;
    assert_eq!(n, 1);
}

#[tokio::test(start_paused = true)]
async fn router_num_retries_sets_the_count() {
    let n = attempts_for(ErrorKind::InternalServer, RequestOptions::new(), |b| {
        b.num_retries(4)
    })
    .await;
    assert_eq!(n, 5);
}

#[tokio::test(start_paused = true)]
async fn deployment_num_retries_is_above_the_router_count() {
    let m = failing("a", ErrorKind::InternalServer);
    let router = Router::builder()
        .deployment(dep("g", "a", &m).num_retries(1))
        .num_retries(4)
        .seed(1)
        .build()
        .expect("valid router");
    router
        .chat(&req("g"), &RequestOptions::new())
        .await
        .expect_err("always fails");
    assert_eq!(m.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn timeout_error_retries_governs_timeouts_only() {
    let policy = RetryPolicy {
        timeout: Some(4),
        ..Default::default()
    };
    let timeouts = attempts_for(ErrorKind::Timeout, RequestOptions::new(), |b| {
        b.retry_policy(policy)
    })
    .await;
    assert_eq!(timeouts, 5);
    // Another kind keeps the default.
    let server = attempts_for(ErrorKind::InternalServer, RequestOptions::new(), |b| {
        b.retry_policy(policy)
    })
    .await;
    assert_eq!(server, 3);
}

#[tokio::test(start_paused = true)]
async fn rate_limit_error_retries_governs_429s() {
    let policy = RetryPolicy {
        rate_limit: Some(5),
        ..Default::default()
    };
    let n = attempts_for(ErrorKind::RateLimit, RequestOptions::new(), |b| {
        b.retry_policy(policy)
    })
    .await;
    assert_eq!(n, 6);
}

#[tokio::test(start_paused = true)]
async fn internal_server_error_retries_covers_502_503_and_connection() {
    let policy = RetryPolicy {
        internal_server: Some(4),
        ..Default::default()
    };
    for kind in [
        ErrorKind::InternalServer,
        ErrorKind::BadGateway,
        ErrorKind::ServiceUnavailable,
        ErrorKind::Connection,
    ] {
        let n = attempts_for(kind, RequestOptions::new(), |b| b.retry_policy(policy)).await;
        assert_eq!(n, 5, "{kind}");
    }
}

#[tokio::test(start_paused = true)]
async fn bad_request_error_retries_makes_400_retryable() {
    let bare = attempts_for(ErrorKind::BadRequest, RequestOptions::new(), |b| b).await;
    assert_eq!(bare, 1, "a 400 is not retried by default");
    let policy = RetryPolicy {
        bad_request: Some(2),
        ..Default::default()
    };
    let named = attempts_for(ErrorKind::BadRequest, RequestOptions::new(), |b| {
        b.retry_policy(policy)
    })
    .await;
    assert_eq!(named, 3);
}

#[tokio::test(start_paused = true)]
async fn authentication_error_retries_counts_moves_to_other_deployments() {
    async fn attempts(policy: Option<RetryPolicy>) -> usize {
        let ms: Vec<_> = (0..5)
            .map(|i| failing(&format!("k{i}"), ErrorKind::Authentication))
            .collect();
        let mut b = Router::builder().seed(3);
        for (i, m) in ms.iter().enumerate() {
            b = b.deployment(dep("g", &format!("k{i}"), m));
        }
        if let Some(p) = policy {
            b = b.retry_policy(p);
        }
        let router = b.build().expect("valid router");
        let err = router
            .chat(&req("g"), &RequestOptions::new())
            .await
            .expect_err("every key is wrong");
        assert_eq!(err.kind(), ErrorKind::Authentication);
        // Never twice on the same key.
        assert!(ms.iter().all(|m| m.calls() <= 1));
        ms.iter().map(|m| m.calls()).sum()
    }
    assert_eq!(attempts(None).await, 3, "the default two retries");
    let three = RetryPolicy {
        authentication: Some(3),
        ..Default::default()
    };
    assert_eq!(attempts(Some(three)).await, 4);
    let none = RetryPolicy {
        authentication: Some(0),
        ..Default::default()
    };
    assert_eq!(
        attempts(Some(none)).await,
        1,
        "the guide's `= 0  # Don't retry auth errors`"
    );
}

#[tokio::test(start_paused = true)]
async fn content_policy_violation_error_retries_makes_refusals_retryable() {
    let bare = attempts_for(
        ErrorKind::ContentPolicyViolation,
        RequestOptions::new(),
        |b| b,
    )
    .await;
    assert_eq!(bare, 1);
    let policy = RetryPolicy {
        content_policy_violation: Some(1),
        ..Default::default()
    };
    let named = attempts_for(
        ErrorKind::ContentPolicyViolation,
        RequestOptions::new(),
        |b| b.retry_policy(policy),
    )
    .await;
    assert_eq!(named, 2);
}

#[tokio::test(start_paused = true)]
async fn unsupported_params_retries_makes_them_retryable() {
    let bare = attempts_for(ErrorKind::UnsupportedParams, RequestOptions::new(), |b| b).await;
    assert_eq!(bare, 1);
    let policy = RetryPolicy {
        unsupported_params: Some(2),
        ..Default::default()
    };
    let named = attempts_for(ErrorKind::UnsupportedParams, RequestOptions::new(), |b| {
        b.retry_policy(policy)
    })
    .await;
    assert_eq!(named, 3);
}

#[tokio::test(start_paused = true)]
async fn model_group_policy_wins_over_the_general_one() {
    let g = failing("a", ErrorKind::InternalServer);
    let h = failing("b", ErrorKind::InternalServer);
    let router = Router::builder()
        .deployment(dep("g", "a", &g))
        .deployment(dep("h", "b", &h))
        .retry_policy(RetryPolicy {
            internal_server: Some(4),
            ..Default::default()
        })
        .model_group_retry_policy(
            "g",
            RetryPolicy {
                internal_server: Some(1),
                ..Default::default()
            },
        )
        .seed(1)
        .build()
        .expect("valid router");
    router
        .chat(&req("g"), &RequestOptions::new())
        .await
        .expect_err("always fails");
    router
        .chat(&req("h"), &RequestOptions::new())
        .await
        .expect_err("always fails");
    assert_eq!(g.calls(), 2, "g's own policy");
    assert_eq!(h.calls(), 5, "the general policy");
}

#[tokio::test(start_paused = true)]
async fn a_later_400_after_500s_is_not_retried() {
    let m = scripted(
        "a",
        [
            fail(ErrorKind::InternalServer),
            fail(ErrorKind::InternalServer),
            fail(ErrorKind::BadRequest),
        ],
    );
    let router = Router::builder()
        .deployment(dep("g", "a", &m))
        .retry_policy(RetryPolicy {
            internal_server: Some(5),
            ..Default::default()
        })
        .seed(1)
        .build()
        .expect("valid router");
    let err = router
        .chat(&req("g"), &RequestOptions::new())
        .await
        .expect_err("the 400 ends the request");
    assert_eq!(m.calls(), 3, "the 400 is judged by its own kind");
    assert_eq!(err.kind(), ErrorKind::BadRequest);
    assert_eq!(err.status(), Some(400));
}

#[tokio::test(start_paused = true)]
async fn kinds_not_retried_by_default_ignore_a_bare_num_retries() {
    for kind in [
        ErrorKind::BadRequest,
        ErrorKind::ContextWindowExceeded,
        ErrorKind::ContentPolicyViolation,
        ErrorKind::UnsupportedParams,
        ErrorKind::QuotaExceeded,
    ] {
        let n = attempts_for(kind, RequestOptions::new().num_retries(5), |b| {
            b.num_retries(5)
        })
        .await;
        assert_eq!(n, 1, "{kind}");
    }
}

#[tokio::test(start_paused = true)]
async fn wrong_key_or_model_is_retried_only_on_another_deployment() {
    for kind in [
        ErrorKind::Authentication,
        ErrorKind::PermissionDenied,
        ErrorKind::NotFound,
    ] {
        // Alone in its group: retrying the same key cannot help.
        let n = attempts_for(kind, RequestOptions::new().num_retries(5), |b| b).await;
        assert_eq!(n, 1, "{kind} alone");

        // With a sibling: one move to it, at once.
        let bad = failing("bad", kind);
        let good = healthy("good");
        let router = Router::builder()
            .deployment(dep("g", "bad", &bad).weight(1))
            .deployment(dep("g", "good", &good).weight(0))
            .seed(1)
            .build()
            .expect("valid router");
        let ok = router
            .chat(&req("g"), &RequestOptions::new())
            .await
            .expect("the sibling answers");
        assert_eq!(bad.calls(), 1, "{kind}");
        assert_eq!(ok.report.final_deployment.as_deref(), Some("good"));
        assert_eq!(ok.report.attempts[1].wait_before, std::time::Duration::ZERO);
    }
}
