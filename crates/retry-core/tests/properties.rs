//! Property tests of the retry decision: waits within bounds, deadlines kept, attempts bounded.

use std::time::Duration;

use proptest::prelude::*;
use rand::{SeedableRng, rngs::StdRng};
use switchyard_retry_core::{
    BackoffConfig, Decision, DecisionInput, ErrorKind, Failure, FallbackAvailability, RetryHint,
    RetryLimits, decide,
};

fn kind() -> impl Strategy<Value = ErrorKind> {
    prop::sample::select(ErrorKind::ALL.to_vec())
}

fn backoff() -> impl Strategy<Value = BackoffConfig> {
    (0u64..5_000, 0u64..120_000, 0u64..10_000, 0u64..120_000).prop_map(|(i, m, f, r)| {
        BackoffConfig {
            initial: Duration::from_millis(i),
            max_backoff: Duration::from_millis(m),
            retry_after: Duration::from_millis(f),
            max_retry_after: Duration::from_millis(r),
        }
    })
}

proptest! {
    #[test]
    fn waits_within_floor_and_cap(
        kind in kind(),
        b in backoff(),
        spent in 0u32..20,
        hint in proptest::option::of(0u64..200_000),
        sibling in any::<bool>(),
        left in proptest::option::of(0u64..300_000),
        seed in any::<u64>(),
    ) {
        let input = DecisionInput {
            failure: Failure { kind, hint: RetryHint { after: hint.map(Duration::from_millis), should_retry: None } },
            retries_spent: spent,
            limits: RetryLimits { request: Some(25), ..Default::default() },
            backoff: &b,
            time_left: left.map(Duration::from_millis),
            fresh_sibling: sibling,
            fallbacks: FallbackAvailability::default(),
            budget_allows: true,
        };
        if let Decision::Retry { wait, retry_number, .. } = decide(&input, &mut StdRng::seed_from_u64(seed)) {
            prop_assert!(wait >= b.retry_after, "wait {wait:?} under the floor");
            let cap = match (sibling, hint) {
                (true, _) => b.retry_after,
                (false, Some(h)) => Duration::from_millis(h).max(b.retry_after),
                (false, None) => b.jitter_cap(retry_number).max(b.retry_after),
            };
            prop_assert!(wait <= cap, "wait {wait:?} over the cap {cap:?}");
            prop_assert!(hint.is_none_or(|h| sibling || Duration::from_millis(h) <= b.max_retry_after));
            if let Some(left) = left {
                prop_assert!(wait < Duration::from_millis(left), "wait {wait:?} crosses the deadline");
            }
        }
    }

    #[test]
    fn attempts_are_bounded(kind in kind(), n in 0u32..10, seed in any::<u64>()) {
        // Feed the same failure until the decision stops: it must stop after n retries.
        let b = BackoffConfig::default();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut retries = 0;
        loop {
            let input = DecisionInput {
                failure: Failure { kind, hint: RetryHint::default() },
                retries_spent: retries,
                limits: RetryLimits { request: Some(n), ..Default::default() },
                backoff: &b,
                time_left: None,
                fresh_sibling: true,
                fallbacks: FallbackAvailability::default(),
                budget_allows: true,
            };
            match decide(&input, &mut rng) {
                Decision::Retry { .. } => retries += 1,
                _ => break,
            }
            prop_assert!(retries <= n);
        }
    }

    #[test]
    fn same_seed_same_plan(seed in any::<u64>(), spent in 0u32..8) {
        let b = BackoffConfig::default();
        let input = DecisionInput {
            failure: Failure { kind: ErrorKind::InternalServer, hint: RetryHint::default() },
            retries_spent: spent,
            limits: RetryLimits { request: Some(10), ..Default::default() },
            backoff: &b,
            time_left: None,
            fresh_sibling: false,
            fallbacks: FallbackAvailability::default(),
            budget_allows: true,
        };
        let plan = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..5).map(|_| decide(&input, &mut rng)).collect::<Vec<_>>()
        };
        prop_assert_eq!(plan(seed), plan(seed));
    }

    #[test]
    fn header_parsing_never_panics(name in "[a-zA-Z-]{0,40}", value in "\\PC{0,40}") {
        let _ = switchyard_retry_core::hint::parse_headers([(name.as_str(), value.as_str())], std::time::SystemTime::UNIX_EPOCH);
        let _ = switchyard_retry_core::hint::parse_rfc3339(&value);
        let _ = switchyard_retry_core::hint::parse_http_date(&value);
        let _ = switchyard_retry_core::hint::parse_go_duration(&value);
    }
}
