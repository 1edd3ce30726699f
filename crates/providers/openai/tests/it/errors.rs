//! Every error class and retry-hint format, over real HTTP, for plain and streamed calls.

use std::time::{Duration, SystemTime};

use mock_upstream::{Behaviour, WILDCARD, openai_error};
use provider::{ErrorKind, Provider, ProviderError};
use serde_json::{Value, json};

use crate::support::{self, ctx, request};

fn status(status: u16, body: Value, headers: &[(&str, &str)]) -> Behaviour {
    Behaviour::status_with(
        status,
        body,
        headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

/// Scripts `behaviour` once, makes one plain call and one streamed call, and returns both errors.
async fn both_errors(behaviour: Behaviour) -> (ProviderError, ProviderError) {
    let upstream = support::mock().await;
    let provider = support::openai(&upstream, "gpt-4o");
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
async fn every_error_class_is_classified_with_its_status() {
    let cases: Vec<(&str, Behaviour, ErrorKind, u16)> = vec![
        (
            "rate limit",
            Behaviour::openai_rate_limit(Duration::from_secs(1)),
            ErrorKind::RateLimit,
            429,
        ),
        (
            "quota",
            Behaviour::openai_insufficient_quota(),
            ErrorKind::QuotaExceeded,
            429,
        ),
        (
            "context",
            Behaviour::openai_context_length_exceeded(),
            ErrorKind::ContextWindowExceeded,
            400,
        ),
        (
            "policy",
            Behaviour::openai_content_policy_violation(),
            ErrorKind::ContentPolicyViolation,
            400,
        ),
        (
            "azure filter",
            Behaviour::azure_content_filter(),
            ErrorKind::ContentPolicyViolation,
            400,
        ),
        (
            "model",
            Behaviour::openai_model_not_found(),
            ErrorKind::NotFound,
            404,
        ),
        (
            "deployment",
            Behaviour::azure_deployment_not_found(),
            ErrorKind::NotFound,
            404,
        ),
        (
            "key",
            Behaviour::openai_invalid_api_key(),
            ErrorKind::Authentication,
            401,
        ),
        (
            "forbidden",
            Behaviour::status(403),
            ErrorKind::PermissionDenied,
            403,
        ),
        (
            "bad request",
            Behaviour::status(400),
            ErrorKind::BadRequest,
            400,
        ),
        (
            "unprocessable",
            Behaviour::status(422),
            ErrorKind::BadRequest,
            422,
        ),
        (
            "unsupported",
            status(
                400,
                openai_error(
                    "Unsupported parameter: 'max_tokens'",
                    "invalid_request_error",
                    Some("max_tokens"),
                    Some("unsupported_parameter"),
                ),
                &[],
            ),
            ErrorKind::UnsupportedParams,
            400,
        ),
        (
            "request timeout",
            Behaviour::status(408),
            ErrorKind::Timeout,
            408,
        ),
        (
            "server",
            Behaviour::openai_server_error(500),
            ErrorKind::InternalServer,
            500,
        ),
        (
            "bad gateway",
            Behaviour::openai_server_error(502),
            ErrorKind::BadGateway,
            502,
        ),
        (
            "unavailable",
            Behaviour::openai_server_error(503),
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
            "azure inner code",
            status(
                400,
                json!({"error": {"code": "BadRequest", "message": "The request was blocked.",
                    "innererror": {"code": "ResponsibleAIPolicyViolation"}}}),
                &[],
            ),
            ErrorKind::ContentPolicyViolation,
            400,
        ),
        (
            "azure rate limit",
            status(
                429,
                json!({"error": {"code": "429", "message": "Requests to the ChatCompletions_Create Operation have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds."}}),
                &[("retry-after", "6")],
            ),
            ErrorKind::RateLimit,
            429,
        ),
    ];
    for (name, behaviour, kind, code) in cases {
        let (plain, streamed) = both_errors(behaviour).await;
        for (how, e) in [("plain", &plain), ("stream", &streamed)] {
            assert_eq!(e.kind(), kind, "{name} ({how}): {e}");
            assert_eq!(e.status(), Some(code), "{name} ({how}): {e}");
            assert_eq!(e.provider(), "openai", "{name} ({how})");
            assert!(!e.message().is_empty(), "{name} ({how})");
        }
    }
}

#[tokio::test]
async fn retry_hints_in_every_header_format() {
    let in_30s = SystemTime::now() + Duration::from_secs(30);
    let http_date = http_date(in_30s);
    type Case<'a> = (
        &'a str,
        Vec<(&'a str, &'a str)>,
        Option<Duration>,
        Option<bool>,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            "seconds",
            vec![("retry-after", "3")],
            Some(Duration::from_secs(3)),
            None,
        ),
        (
            "fractional",
            vec![("retry-after", "1.5")],
            Some(Duration::from_millis(1500)),
            None,
        ),
        (
            "milliseconds",
            vec![("retry-after-ms", "250")],
            Some(Duration::from_millis(250)),
            None,
        ),
        (
            "reset duration",
            vec![
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", "6m0s"),
            ],
            Some(Duration::from_secs(360)),
            None,
        ),
        (
            "reset ignored when not exhausted",
            vec![
                ("x-ratelimit-remaining-tokens", "900"),
                ("x-ratelimit-reset-tokens", "20s"),
            ],
            None,
            None,
        ),
        (
            "should retry",
            vec![("x-should-retry", "false")],
            None,
            Some(false),
        ),
        ("garbage", vec![("retry-after", "soon")], None, None),
    ];
    for (name, headers, after, should_retry) in cases {
        let body = openai_error(
            "Rate limit reached",
            "requests",
            None,
            Some("rate_limit_exceeded"),
        );
        let (plain, streamed) = both_errors(status(429, body, &headers)).await;
        for e in [&plain, &streamed] {
            assert_eq!(e.retry_after(), after, "{name}: {e:?}");
            assert_eq!(e.retry_hint().should_retry, should_retry, "{name}");
        }
    }
    // An HTTP date: about 30 s from now (the header has whole seconds).
    let (plain, _) = both_errors(status(
        429,
        json!({}),
        &[("retry-after", http_date.as_str())],
    ))
    .await;
    let wait = plain.retry_after().expect("a date hint");
    assert!(
        wait > Duration::from_secs(27) && wait <= Duration::from_secs(30),
        "{wait:?}"
    );
}

#[tokio::test]
async fn html_error_pages_become_short_plain_messages() {
    let (plain, streamed) = both_errors(Behaviour::html_error_page(502)).await;
    for e in [&plain, &streamed] {
        assert_eq!(e.kind(), ErrorKind::BadGateway);
        assert!(
            e.message().starts_with("HTTP 502 Bad Gateway"),
            "{}",
            e.message()
        );
        assert!(!e.message().contains('<'), "{}", e.message());
    }
}

#[tokio::test]
async fn an_error_object_in_a_200_is_an_error() {
    let upstream = support::mock().await;
    let provider = support::openai(&upstream, "gpt-4o");
    upstream.always(WILDCARD, Behaviour::StreamErrorEvent { after_chunks: 0 });
    let e = provider.chat(&request(), &ctx()).await.expect_err("fails");
    assert_eq!(e.kind(), ErrorKind::InternalServer, "{e}");
    assert!(
        e.message().contains("error while processing"),
        "{}",
        e.message()
    );

    upstream.always(
        WILDCARD,
        Behaviour::status_with(
            200,
            openai_error("Overloaded", "overloaded_error", None, None),
            Vec::new(),
        ),
    );
    let e = provider.chat(&request(), &ctx()).await.expect_err("fails");
    assert_eq!(e.kind(), ErrorKind::ServiceUnavailable, "{e}");
}

/// IMF-fixdate, as `retry-after` carries it.
fn http_date(at: SystemTime) -> String {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let (h, m, s) = ((secs % 86_400) / 3600, (secs % 3600) / 60, secs % 60);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let month_name = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(month - 1) as usize];
    format!("{weekday}, {day:02} {month_name} {year} {h:02}:{m:02}:{s:02} GMT")
}
