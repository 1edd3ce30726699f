//! A dry run of the retry decision over a scripted sequence of failures, for
//! `switchyard simulate` and for documentation: what would the router do, and when?

use std::time::Duration;

use rand_core::RngCore;

use crate::{
    BackoffConfig, Decision, DecisionInput, ErrorKind, Failure, FallbackAvailability, RetryHint,
    RetryLimits, decide,
};

/// One scripted attempt outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The attempt fails with this kind and hint.
    Fail(ErrorKind, RetryHint),
    /// The attempt succeeds.
    Success,
}

/// The scenario to simulate.
#[derive(Debug, Clone)]
pub struct Scenario<'a> {
    /// Outcomes in order; when they run out, attempts succeed.
    pub outcomes: Vec<Outcome>,
    /// Retry counts, as the router would resolve them.
    pub limits: RetryLimits<'a>,
    /// Timing knobs.
    pub backoff: BackoffConfig,
    /// The request's total timeout, if any.
    pub timeout: Option<Duration>,
    /// How many deployments the group has (fresh siblings get zero backoff).
    pub deployments: usize,
    /// How many fallback groups follow (each with a fresh retry count).
    pub fallback_groups: usize,
}

/// One step of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// When the attempt starts, from the request's start (attempts take no time here).
    pub at: Duration,
    /// 0 for the requested group, n for the n-th fallback.
    pub group: usize,
    /// The deployment of the group, 0-based.
    pub deployment: usize,
    /// What the attempt did.
    pub outcome: Outcome,
    /// What was decided after it (`None` after a success).
    pub decision: Option<Decision>,
}

/// Runs the scenario and returns every attempt with the decision taken after it.
pub fn timeline<R: RngCore + ?Sized>(scenario: &Scenario<'_>, rng: &mut R) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut outcomes = scenario.outcomes.iter().copied();
    let (mut at, mut group, mut deployment, mut retries_spent) = (Duration::ZERO, 0, 0, 0u32);
    let mut failed_in_group = vec![false; scenario.deployments.max(1)];
    // Bounded even for absurd inputs: every decision either ends the run or spends a retry.
    for _ in 0..10_000 {
        let outcome = outcomes.next().unwrap_or(Outcome::Success);
        let Outcome::Fail(kind, hint) = outcome else {
            steps.push(Step {
                at,
                group,
                deployment,
                outcome,
                decision: None,
            });
            break;
        };
        failed_in_group[deployment] = true;
        let fresh = failed_in_group.iter().position(|f| !f);
        let input = DecisionInput {
            failure: Failure { kind, hint },
            retries_spent,
            limits: scenario.limits,
            backoff: &scenario.backoff,
            time_left: scenario.timeout.map(|t| t.saturating_sub(at)),
            fresh_sibling: fresh.is_some(),
            fallbacks: FallbackAvailability {
                generic: group < scenario.fallback_groups,
                context_window: false,
                content_policy: false,
            },
            budget_allows: true,
        };
        let decision = decide(&input, rng);
        steps.push(Step {
            at,
            group,
            deployment,
            outcome,
            decision: Some(decision),
        });
        match decision {
            Decision::Retry { wait, target, .. } => {
                at += wait;
                retries_spent += 1;
                if target == crate::Target::Other {
                    deployment = fresh.unwrap_or(deployment);
                }
            }
            Decision::FallBack { .. } => {
                group += 1;
                deployment = 0;
                retries_spent = 0;
                failed_in_group.iter_mut().for_each(|f| *f = false);
            }
            Decision::GiveUp { .. } => break,
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    #[test]
    fn the_guides_retry_then_fallback() {
        let fail = Outcome::Fail(ErrorKind::InternalServer, RetryHint::default());
        let s = Scenario {
            outcomes: vec![fail; 8],
            limits: RetryLimits {
                router: Some(3),
                ..Default::default()
            },
            backoff: BackoffConfig::default(),
            timeout: None,
            deployments: 1,
            fallback_groups: 1,
        };
        let steps = timeline(&s, &mut StdRng::seed_from_u64(1));
        assert_eq!(steps.len(), 8, "4 attempts on gpt-4, then 4 on gpt-3.5");
        assert_eq!(steps.iter().filter(|s| s.group == 1).count(), 4);
        assert!(matches!(steps[7].decision, Some(Decision::GiveUp { .. })));
    }

    #[test]
    fn success_ends_the_run() {
        let s = Scenario {
            outcomes: vec![Outcome::Fail(
                ErrorKind::RateLimit,
                RetryHint::after(Duration::from_secs(3)),
            )],
            limits: RetryLimits::default(),
            backoff: BackoffConfig::default(),
            timeout: None,
            deployments: 1,
            fallback_groups: 0,
        };
        let steps = timeline(&s, &mut StdRng::seed_from_u64(1));
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[1].at, Duration::from_secs(3));
        assert_eq!(steps[1].outcome, Outcome::Success);
    }
}
