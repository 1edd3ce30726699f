//! The retry decision: the one place that decides whether to retry, where, and after how long.

use std::time::Duration;

use rand_core::RngCore;

use crate::{BackoffConfig, ErrorKind, FallbackRoute, RetryDefault, RetryHint, RetryLimits};

/// One failed attempt, as the decision sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// How it failed.
    pub kind: ErrorKind,
    /// What the upstream said about retrying.
    pub hint: RetryHint,
}

/// Which fallback lists have a group left to try for this request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FallbackAvailability {
    /// The generic `fallbacks` list (or `default_fallbacks`) has an untried group.
    pub generic: bool,
    /// `context_window_fallbacks` has an untried group.
    pub context_window: bool,
    /// `content_policy_fallbacks` has an untried group.
    pub content_policy: bool,
}

impl FallbackAvailability {
    /// The list to follow after a failure of `kind`, if it has a group left.
    pub fn list_for(&self, kind: ErrorKind) -> Option<FallbackRoute> {
        match kind.fallback_route() {
            FallbackRoute::Generic => self.generic.then_some(FallbackRoute::Generic),
            FallbackRoute::ContextWindow => {
                if self.context_window {
                    Some(FallbackRoute::ContextWindow)
                } else {
                    self.generic.then_some(FallbackRoute::Generic)
                }
            }
            FallbackRoute::ContentPolicy => {
                self.content_policy.then_some(FallbackRoute::ContentPolicy)
            }
            FallbackRoute::None => None,
        }
    }
}

/// Everything the decision needs to know about the request so far.
#[derive(Debug, Clone, Copy)]
pub struct DecisionInput<'a> {
    /// The failure just seen.
    pub failure: Failure,
    /// Retries already spent in the current model group (0 after the first attempt).
    pub retries_spent: u32,
    /// The configured retry counts, resolved per failure kind.
    pub limits: RetryLimits<'a>,
    /// Timing knobs.
    pub backoff: &'a BackoffConfig,
    /// Time left before the request's deadline; `None` when it has none.
    pub time_left: Option<Duration>,
    /// Another deployment of the group is available and has not failed in this request.
    pub fresh_sibling: bool,
    /// Which fallback lists still have groups to try.
    pub fallbacks: FallbackAvailability,
    /// The retry budget lets one more retry through (always true when budgets are off).
    pub budget_allows: bool,
}

/// Where a retry should go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Any available deployment, the failed one included; backoff has been applied.
    Any,
    /// A deployment of the group that has not failed in this request.
    Other,
}

/// Why a request stops retrying in its current group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The kind is not retried by default and no policy names it.
    NotRetryable,
    /// The upstream said `x-should-retry: false`.
    UpstreamSaidNo,
    /// Every allowed retry in this group has been spent.
    RetriesExhausted {
        /// How many retries were allowed.
        allowed: u32,
    },
    /// The kind may only be retried on another deployment, and there is none.
    NoOtherDeployment,
    /// The upstream asked for a wait longer than `max_retry_after`.
    HintTooLong {
        /// The wait the upstream asked for.
        hint: Duration,
    },
    /// The wait would cross the request's deadline.
    DeadlineTooClose,
    /// The retry budget is spent: the gateway is already retrying too much.
    BudgetExhausted,
}

/// What to do after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Try again in the same group after `wait`.
    Retry {
        /// Which deployments the retry may go to.
        target: Target,
        /// How long to wait first.
        wait: Duration,
        /// 1-based number of this retry in the group.
        retry_number: u32,
        /// Retries allowed in the group for this kind.
        allowed: u32,
    },
    /// Stop retrying in this group and move to the next group of a fallback list, now.
    FallBack {
        /// The list to follow.
        list: FallbackRoute,
        /// Why the group was left.
        reason: StopReason,
    },
    /// Stop: return the last error to the caller.
    GiveUp {
        /// Why.
        reason: StopReason,
    },
}

impl Decision {
    /// The wait before the next attempt, zero unless this is a retry.
    pub fn wait(&self) -> Duration {
        match self {
            Decision::Retry { wait, .. } => *wait,
            Decision::FallBack { .. } | Decision::GiveUp { .. } => Duration::ZERO,
        }
    }
}

/// Decides what to do after a failure (`SEMANTICS.md` §2–§4).
///
/// The limit is checked after every failure with the kind of that failure, so a 400
/// after two 500s is not retried. Waits: a fresh sibling needs none beyond the
/// `retry_after` floor; otherwise the upstream's hint, else full jitter, never below
/// the floor; a hint above `max_retry_after` is not slept on; no wait crosses the
/// deadline. When the group is left, the failure's fallback list is followed if it
/// has a group left, else the request gives up.
pub fn decide<R: RngCore + ?Sized>(input: &DecisionInput<'_>, rng: &mut R) -> Decision {
    let kind = input.failure.kind;
    let leave = |reason| match input.fallbacks.list_for(kind) {
        Some(list) => Decision::FallBack { list, reason },
        None => Decision::GiveUp { reason },
    };

    let forced = input.failure.hint.should_retry == Some(true);
    if input.failure.hint.should_retry == Some(false) {
        return leave(StopReason::UpstreamSaidNo);
    }
    let limit = input.limits.resolve(kind, forced);
    if limit.source == crate::LimitSource::NotRetryable {
        return leave(StopReason::NotRetryable);
    }
    if input.retries_spent >= limit.retries {
        return leave(StopReason::RetriesExhausted {
            allowed: limit.retries,
        });
    }
    let only_elsewhere = !forced && kind.retry_default() == RetryDefault::OnlyElsewhere;
    if only_elsewhere && !input.fresh_sibling {
        return leave(StopReason::NoOtherDeployment);
    }
    if !input.budget_allows {
        return leave(StopReason::BudgetExhausted);
    }

    let retry_number = input.retries_spent + 1;
    let floor = input.backoff.retry_after;
    let (target, wait) = if input.fresh_sibling {
        // Backoff protects a struggling upstream; a sibling that has not failed needs none.
        (Target::Other, floor)
    } else {
        match input.failure.hint.after {
            Some(hint) if hint > input.backoff.max_retry_after => {
                return leave(StopReason::HintTooLong { hint });
            }
            Some(hint) => (Target::Any, hint.max(floor)),
            None => (
                Target::Any,
                input.backoff.full_jitter(retry_number, rng).max(floor),
            ),
        }
    };
    if input.time_left.is_some_and(|left| wait >= left) {
        return leave(StopReason::DeadlineTooClose);
    }
    Decision::Retry {
        target,
        wait,
        retry_number,
        allowed: limit.retries,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RetryPolicy;
    use rand::{SeedableRng, rngs::StdRng};

    fn input(kind: ErrorKind, backoff: &BackoffConfig) -> DecisionInput<'_> {
        DecisionInput {
            failure: Failure {
                kind,
                hint: RetryHint::default(),
            },
            retries_spent: 0,
            limits: RetryLimits::default(),
            backoff,
            time_left: None,
            fresh_sibling: false,
            fallbacks: FallbackAvailability::default(),
            budget_allows: true,
        }
    }

    fn rng() -> StdRng {
        StdRng::seed_from_u64(42)
    }

    #[test]
    fn every_kind_has_a_default_decision() {
        let b = BackoffConfig::default();
        for kind in ErrorKind::ALL {
            let lonely = decide(&input(kind, &b), &mut rng());
            let with_sibling = decide(
                &DecisionInput {
                    fresh_sibling: true,
                    ..input(kind, &b)
                },
                &mut rng(),
            );
            match kind.retry_default() {
                RetryDefault::Yes => {
                    assert!(
                        matches!(
                            lonely,
                            Decision::Retry {
                                target: Target::Any,
                                ..
                            }
                        ),
                        "{kind}: {lonely:?}"
                    );
                    assert!(
                        matches!(
                            with_sibling,
                            Decision::Retry {
                                target: Target::Other,
                                ..
                            }
                        ),
                        "{kind}"
                    );
                }
                RetryDefault::OnlyElsewhere => {
                    assert_eq!(
                        lonely,
                        Decision::GiveUp {
                            reason: StopReason::NoOtherDeployment
                        },
                        "{kind}"
                    );
                    assert!(
                        matches!(
                            with_sibling,
                            Decision::Retry {
                                target: Target::Other,
                                ..
                            }
                        ),
                        "{kind}"
                    );
                }
                RetryDefault::No => {
                    assert_eq!(
                        lonely,
                        Decision::GiveUp {
                            reason: StopReason::NotRetryable
                        },
                        "{kind}"
                    );
                    assert_eq!(
                        with_sibling,
                        Decision::GiveUp {
                            reason: StopReason::NotRetryable
                        },
                        "{kind}"
                    );
                }
            }
        }
    }

    #[test]
    fn exhausted_retries_fall_back_or_give_up() {
        let b = BackoffConfig::default();
        let spent = DecisionInput {
            retries_spent: 2,
            ..input(ErrorKind::Timeout, &b)
        };
        assert_eq!(
            decide(&spent, &mut rng()),
            Decision::GiveUp {
                reason: StopReason::RetriesExhausted { allowed: 2 }
            }
        );
        let with_fb = DecisionInput {
            fallbacks: FallbackAvailability {
                generic: true,
                ..Default::default()
            },
            ..spent
        };
        assert_eq!(
            decide(&with_fb, &mut rng()),
            Decision::FallBack {
                list: FallbackRoute::Generic,
                reason: StopReason::RetriesExhausted { allowed: 2 }
            }
        );
    }

    #[test]
    fn a_later_bad_request_is_not_retried() {
        // Two 500s spent one retry each; the 400 that follows is judged by its own kind.
        let b = BackoffConfig::default();
        let p = RetryPolicy {
            internal_server: Some(5),
            ..Default::default()
        };
        let i = DecisionInput {
            retries_spent: 2,
            limits: RetryLimits {
                policy: Some(&p),
                ..Default::default()
            },
            ..input(ErrorKind::BadRequest, &b)
        };
        assert_eq!(
            decide(&i, &mut rng()),
            Decision::GiveUp {
                reason: StopReason::NotRetryable
            }
        );
    }

    #[test]
    fn fallback_lists_by_kind() {
        let all = FallbackAvailability {
            generic: true,
            context_window: true,
            content_policy: true,
        };
        let generic_only = FallbackAvailability {
            generic: true,
            ..Default::default()
        };
        assert_eq!(
            all.list_for(ErrorKind::ContextWindowExceeded),
            Some(FallbackRoute::ContextWindow)
        );
        assert_eq!(
            generic_only.list_for(ErrorKind::ContextWindowExceeded),
            Some(FallbackRoute::Generic)
        );
        assert_eq!(
            all.list_for(ErrorKind::ContentPolicyViolation),
            Some(FallbackRoute::ContentPolicy)
        );
        assert_eq!(
            generic_only.list_for(ErrorKind::ContentPolicyViolation),
            None,
            "never generic"
        );
        assert_eq!(all.list_for(ErrorKind::BadRequest), None);
        assert_eq!(
            all.list_for(ErrorKind::RateLimit),
            Some(FallbackRoute::Generic)
        );
    }

    #[test]
    fn waits() {
        let b = BackoffConfig {
            retry_after: Duration::from_secs(1),
            ..Default::default()
        };
        // A hint is used as is, above the floor.
        let hinted = DecisionInput {
            failure: Failure {
                kind: ErrorKind::RateLimit,
                hint: RetryHint::after(Duration::from_secs(3)),
            },
            ..input(ErrorKind::RateLimit, &b)
        };
        assert_eq!(decide(&hinted, &mut rng()).wait(), Duration::from_secs(3));
        // A hint below the floor is raised to it.
        let small = DecisionInput {
            failure: Failure {
                kind: ErrorKind::RateLimit,
                hint: RetryHint::after(Duration::from_millis(10)),
            },
            ..hinted
        };
        assert_eq!(decide(&small, &mut rng()).wait(), Duration::from_secs(1));
        // A fresh sibling gets only the floor, whatever the hint.
        assert_eq!(
            decide(
                &DecisionInput {
                    fresh_sibling: true,
                    ..hinted
                },
                &mut rng()
            )
            .wait(),
            Duration::from_secs(1)
        );
        // A hint above max_retry_after is not slept on.
        let long = DecisionInput {
            failure: Failure {
                kind: ErrorKind::RateLimit,
                hint: RetryHint::after(Duration::from_secs(120)),
            },
            ..hinted
        };
        assert_eq!(
            decide(&long, &mut rng()),
            Decision::GiveUp {
                reason: StopReason::HintTooLong {
                    hint: Duration::from_secs(120)
                }
            }
        );
        // No wait crosses the deadline.
        let tight = DecisionInput {
            time_left: Some(Duration::from_secs(2)),
            ..hinted
        };
        assert_eq!(
            decide(&tight, &mut rng()),
            Decision::GiveUp {
                reason: StopReason::DeadlineTooClose
            }
        );
    }

    #[test]
    fn jitter_bounds_per_retry() {
        let b = BackoffConfig::default();
        for spent in 0..6u32 {
            let i = DecisionInput {
                retries_spent: spent,
                limits: RetryLimits {
                    request: Some(10),
                    ..Default::default()
                },
                ..input(ErrorKind::InternalServer, &b)
            };
            for seed in 0..50 {
                let w = decide(&i, &mut StdRng::seed_from_u64(seed)).wait();
                assert!(
                    w <= b.jitter_cap(spent + 1),
                    "retry {} waited {w:?}",
                    spent + 1
                );
            }
        }
    }

    #[test]
    fn should_retry_header_overrides_default() {
        let b = BackoffConfig::default();
        let no = DecisionInput {
            failure: Failure {
                kind: ErrorKind::InternalServer,
                hint: RetryHint {
                    after: None,
                    should_retry: Some(false),
                },
            },
            ..input(ErrorKind::InternalServer, &b)
        };
        assert_eq!(
            decide(&no, &mut rng()),
            Decision::GiveUp {
                reason: StopReason::UpstreamSaidNo
            }
        );
        let yes = DecisionInput {
            failure: Failure {
                kind: ErrorKind::BadRequest,
                hint: RetryHint {
                    after: None,
                    should_retry: Some(true),
                },
            },
            ..input(ErrorKind::BadRequest, &b)
        };
        assert!(matches!(decide(&yes, &mut rng()), Decision::Retry { .. }));
    }

    #[test]
    fn budget_stops_retries() {
        let b = BackoffConfig::default();
        let i = DecisionInput {
            budget_allows: false,
            ..input(ErrorKind::Timeout, &b)
        };
        assert_eq!(
            decide(&i, &mut rng()),
            Decision::GiveUp {
                reason: StopReason::BudgetExhausted
            }
        );
    }
}
