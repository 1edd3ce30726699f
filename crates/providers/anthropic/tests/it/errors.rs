//! Every Anthropic error class and hint header, for plain and streamed calls.

use std::time::{Duration, SystemTime};

use mock_upstream::{Behaviour, WILDCARD, anthropic_error};
use provider::{ErrorKind, Provider, ProviderError};
use serde_json::Value;

use crate::support::{self, ctx, request};

fn status(status: u16, body: Value, headers: &[(&str, String)]) -> Behaviour {
    Behaviour::status_with(
        status,
        body,
        headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

/// Scripts `behaviour`, makes one plain and one streamed call, and returns both errors.
async fn both_errors(behaviour: Behaviour) -> (ProviderError, ProviderError) {
    let upstream = support::mock().await;
    let provider = support::anthropic(&upstream, "claude-sonnet-4-5");
    upstream.always(WILDCARD, behaviour);
    let plain = provider
        .chat(&request(), &ctx())
        .await
        .expect_err("the plain call fails");
    let streamed = match provider.chat_stream(&request(), &ctx()).await {
        Err(e) => e,
        Ok(stream) => support::drain(stream).await.1.expect("the stream fails"),
    };
    assert_eq!(upstream.hits().len(), 2, "one request per call");
    (plain, streamed)
}

#[tokio::test]
async fn every_error_class_is_classified() {
    let cases: Vec<(&str, Behaviour, ErrorKind, u16)> = vec![
        (
            "overloaded",
            Behaviour::anthropic_overloaded(),
            ErrorKind::ServiceUnavailable,
            529,
        ),
        (
            "rate limit",
            Behaviour::anthropic_rate_limit(Duration::from_secs(2)),
            ErrorKind::RateLimit,
            429,
        ),
        (
            "prompt too long",
            Behaviour::anthropic_prompt_too_long(),
            ErrorKind::ContextWindowExceeded,
            400,
        ),
        (
            "authentication",
            Behaviour::status(401),
            ErrorKind::Authentication,
            401,
        ),
        (
            "permission",
            Behaviour::status(403),
            ErrorKind::PermissionDenied,
            403,
        ),
        (
            "not found",
            Behaviour::status(404),
            ErrorKind::NotFound,
            404,
        ),
        (
            "invalid request",
            Behaviour::status(400),
            ErrorKind::BadRequest,
            400,
        ),
        (
            "too large",
            Behaviour::status(413),
            ErrorKind::BadRequest,
            413,
        ),
        (
            "credit",
            status(
                400,
                anthropic_error(
                    "invalid_request_error",
                    "Your credit balance is too low to access the Anthropic API.",
                ),
                &[],
            ),
            ErrorKind::QuotaExceeded,
            400,
        ),
        (
            "not found on 400",
            status(
                400,
                anthropic_error("not_found_error", "model: claude-nope"),
                &[],
            ),
            ErrorKind::NotFound,
            400,
        ),
        (
            "api error",
            Behaviour::status(500),
            ErrorKind::InternalServer,
            500,
        ),
        (
            "overloaded on 503",
            Behaviour::status(503),
            ErrorKind::ServiceUnavailable,
            503,
        ),
        (
            "gateway timeout",
            Behaviour::status(504),
            ErrorKind::Timeout,
            504,
        ),
        (
            "html",
            Behaviour::html_error_page(502),
            ErrorKind::BadGateway,
            502,
        ),
    ];
    for (name, behaviour, kind, code) in cases {
        let (plain, streamed) = both_errors(behaviour).await;
        for (how, e) in [("plain", &plain), ("stream", &streamed)] {
            assert_eq!(e.kind(), kind, "{name} ({how}): {e}");
            assert_eq!(e.status(), Some(code), "{name} ({how})");
            assert_eq!(e.provider(), "anthropic");
            assert!(
                !e.message().is_empty() && !e.message().contains('<'),
                "{name}: {}",
                e.message()
            );
        }
    }
}

#[tokio::test]
async fn rate_limit_hints_come_from_retry_after_and_reset_headers() {
    let (plain, streamed) =
        both_errors(Behaviour::anthropic_rate_limit(Duration::from_secs(3))).await;
    for e in [&plain, &streamed] {
        assert_eq!(
            e.retry_after(),
            Some(Duration::from_secs(3)),
            "retry-after wins: {e:?}"
        );
    }

    // Only the reset timestamp of an exhausted limit: the hint is the time until it.
    let reset = rfc3339(SystemTime::now() + Duration::from_secs(20));
    let body = anthropic_error(
        "rate_limit_error",
        "Number of request tokens has exceeded your per-minute rate limit",
    );
    let (plain, streamed) = both_errors(status(
        429,
        body,
        &[
            ("anthropic-ratelimit-tokens-remaining", "0".to_owned()),
            ("anthropic-ratelimit-tokens-reset", reset),
            ("anthropic-ratelimit-requests-remaining", "49".to_owned()),
            (
                "anthropic-ratelimit-requests-reset",
                rfc3339(SystemTime::now() + Duration::from_secs(50)),
            ),
        ],
    ))
    .await;
    for e in [&plain, &streamed] {
        assert_eq!(e.kind(), ErrorKind::RateLimit);
        let wait = e.retry_after().expect("a reset hint");
        assert!(
            wait > Duration::from_secs(17) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
    }

    let (plain, _) = both_errors(status(
        529,
        anthropic_error("overloaded_error", "Overloaded"),
        &[("x-should-retry", "true".to_owned())],
    ))
    .await;
    assert_eq!(plain.retry_hint().should_retry, Some(true));
}

#[tokio::test]
async fn an_error_object_in_a_200_is_an_error() {
    let upstream = support::mock().await;
    let provider = support::anthropic(&upstream, "claude-sonnet-4-5");
    upstream.always(WILDCARD, Behaviour::StreamErrorEvent { after_chunks: 0 });
    let e = provider.chat(&request(), &ctx()).await.expect_err("fails");
    assert_eq!(e.kind(), ErrorKind::ServiceUnavailable, "{e}");
}

/// `YYYY-MM-DDTHH:MM:SSZ`, as Anthropic's reset headers carry it.
fn rfc3339(at: SystemTime) -> String {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let (h, m, s) = ((secs % 86_400) / 3600, (secs % 3600) / 60, secs % 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}
