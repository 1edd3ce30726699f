//! Criterion benches for the pure parts on the request path: the decision and header parsing.

use std::{
    hint::black_box,
    time::{Duration, SystemTime},
};

use criterion::{Criterion, criterion_group, criterion_main};
use rand::{SeedableRng, rngs::SmallRng};
use switchyard_retry_core::{
    BackoffConfig, DecisionInput, ErrorKind, Failure, FallbackAvailability, RetryHint, RetryLimits,
    RetryPolicy, classify, decide, hint,
};

fn decision(c: &mut Criterion) {
    let b = BackoffConfig::default();
    let policy = RetryPolicy {
        rate_limit: Some(5),
        ..Default::default()
    };
    let mut rng = SmallRng::seed_from_u64(1);
    c.bench_function("decide/jitter", |bench| {
        bench.iter(|| {
            let input = DecisionInput {
                failure: Failure {
                    kind: black_box(ErrorKind::InternalServer),
                    hint: RetryHint::default(),
                },
                retries_spent: 1,
                limits: RetryLimits {
                    policy: Some(&policy),
                    router: Some(3),
                    ..Default::default()
                },
                backoff: &b,
                time_left: Some(Duration::from_secs(30)),
                fresh_sibling: false,
                fallbacks: FallbackAvailability {
                    generic: true,
                    ..Default::default()
                },
                budget_allows: true,
            };
            decide(black_box(&input), &mut rng)
        })
    });
}

fn headers(c: &mut Criterion) {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_564_800);
    let openai = [
        ("content-type", "application/json"),
        ("x-ratelimit-limit-requests", "10000"),
        ("x-ratelimit-remaining-requests", "0"),
        ("x-ratelimit-reset-requests", "6m0s"),
        ("x-ratelimit-remaining-tokens", "1000"),
        ("x-ratelimit-reset-tokens", "120ms"),
        ("retry-after", "20"),
        ("x-request-id", "req_123"),
    ];
    c.bench_function("hint/openai_429_headers", |b| {
        b.iter(|| hint::parse_headers(black_box(openai), now))
    });
    let anthropic = [
        ("anthropic-ratelimit-requests-remaining", "0"),
        ("anthropic-ratelimit-requests-reset", "2024-05-01T12:00:30Z"),
    ];
    c.bench_function("hint/anthropic_reset", |b| {
        b.iter(|| hint::parse_headers(black_box(anthropic), now))
    });
    c.bench_function("hint/http_date", |b| {
        b.iter(|| hint::parse_retry_after(black_box("Wed, 01 May 2024 12:00:30 GMT"), now))
    });
    let fields = classify::ErrorFields {
        error_type: Some("invalid_request_error"),
        code: None,
        message: Some(
            "This model's maximum context length is 8192 tokens, however you requested 9000",
        ),
    };
    c.bench_function("classify/message", |b| {
        b.iter(|| classify::classify(400, black_box(fields)))
    });
}

criterion_group!(benches, decision, headers);
criterion_main!(benches);
