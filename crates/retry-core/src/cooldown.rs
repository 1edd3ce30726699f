//! Cooldown arithmetic: when a deployment leaves rotation, and for how long (`SEMANTICS.md` §5).
//!
//! Time is a [`Duration`] since an epoch the caller picks (the router uses its start
//! instant; a shared store uses the Unix epoch), so this module reads no clock.

use std::{collections::VecDeque, time::Duration};

use crate::{Cooling, ErrorKind};

/// The longest cooldown an upstream hint can ask for; longer hints are cut to this.
pub const MAX_HINT_COOLDOWN: Duration = Duration::from_secs(3600);

/// Cooldown knobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CooldownConfig {
    /// Failures tolerated in the window; one more cools the deployment. Default 3.
    pub allowed_fails: u32,
    /// Base cooldown length. Default 5 s.
    pub cooldown_time: Duration,
    /// The sliding window failures are counted in. Default 60 s.
    pub failure_window: Duration,
    /// Cooldown after a quota error: waiting a few seconds does not refill a quota. Default 60 s.
    pub quota_cooldown: Duration,
    /// Cap of escalated cooldowns. Default 5 min.
    pub max_cooldown: Duration,
    /// A deployment cooled again within this long after returning gets twice the previous
    /// length. Default 60 s.
    pub escalation_window: Duration,
}

impl Default for CooldownConfig {
    fn default() -> Self {
        CooldownConfig {
            allowed_fails: 3,
            cooldown_time: Duration::from_secs(5),
            failure_window: Duration::from_secs(60),
            quota_cooldown: Duration::from_secs(60),
            max_cooldown: Duration::from_secs(300),
            escalation_window: Duration::from_secs(60),
        }
    }
}

/// What the router knows about the group when a deployment fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureContext {
    /// How the attempt failed.
    pub kind: ErrorKind,
    /// The upstream's retry hint, which sets the cooldown length when longer.
    pub hint: Option<Duration>,
    /// The group has another deployment that is not cooling.
    pub has_available_sibling: bool,
    /// The upstream asked for a wait (`hint`) longer than the router will sleep on
    /// (`max_retry_after`), so the request moves on without waiting. The deployment then
    /// cools at once, whatever `has_available_sibling` and `allowed_fails` would say, for the
    /// hint's length (capped at [`MAX_HINT_COOLDOWN`]) or the usual length when that is longer:
    /// otherwise every later request would knock on an upstream that said it is not ready.
    /// A kind that never cools still does not, and `may_cool` still wins.
    pub hint_beyond_wait: bool,
    /// False when this is the last available deployment of a group without fallback:
    /// then it is never cooled, and requests keep trying it with backoff.
    pub may_cool: bool,
}

impl FailureContext {
    /// How this failure affects the deployment: the kind's [`Cooling`] with the context
    /// applied, so that every store follows one rule. A kind that counts or cools only with
    /// siblings becomes [`Cooling::Immediate`] when the hint is beyond the wait (or, for the
    /// latter, when the group has a sibling), and [`Cooling::Counts`] otherwise; so this never
    /// returns [`Cooling::ImmediateIfSiblings`].
    pub fn cooling(&self) -> Cooling {
        match self.kind.cooling() {
            Cooling::Never => Cooling::Never,
            Cooling::Immediate => Cooling::Immediate,
            Cooling::Long => Cooling::Long,
            Cooling::ImmediateIfSiblings | Cooling::Counts if self.hint_beyond_wait => {
                Cooling::Immediate
            }
            Cooling::ImmediateIfSiblings if self.has_available_sibling => Cooling::Immediate,
            Cooling::ImmediateIfSiblings | Cooling::Counts => Cooling::Counts,
        }
    }
}

/// What a failure did to the deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CooldownChange {
    /// Still in rotation.
    None,
    /// Cooling started, until the given time.
    Started {
        /// When it returns.
        until: Duration,
        /// How long it cools.
        length: Duration,
    },
    /// An existing cooldown was extended to the given time.
    Extended {
        /// When it returns now.
        until: Duration,
    },
}

/// The health record of one deployment.
#[derive(Debug, Clone, Default)]
pub struct DeploymentHealth {
    /// Recent failure times that count toward `allowed_fails`, oldest first.
    failures: VecDeque<Duration>,
    cooling_until: Option<Duration>,
    /// Length of the last cooldown, for escalation; zero after a success.
    last_length: Duration,
}

impl DeploymentHealth {
    /// A healthy deployment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the deployment is out of rotation at `now`.
    pub fn is_cooling(&self, now: Duration) -> bool {
        self.cooling_until.is_some_and(|until| now < until)
    }

    /// When the current cooldown ends, if the deployment is cooling at `now`.
    pub fn cooling_until(&self, now: Duration) -> Option<Duration> {
        self.cooling_until.filter(|until| now < *until)
    }

    /// Failures counted in the window at `now`.
    pub fn recent_failures(&self, now: Duration, cfg: &CooldownConfig) -> usize {
        self.failures
            .iter()
            .filter(|t| now.saturating_sub(**t) < cfg.failure_window)
            .count()
    }

    /// Records a failure and returns what it did to the deployment.
    pub fn record_failure(
        &mut self,
        now: Duration,
        ctx: FailureContext,
        cfg: &CooldownConfig,
    ) -> CooldownChange {
        let (cool_now, base) = match ctx.cooling() {
            Cooling::Never => return CooldownChange::None,
            Cooling::Immediate => (true, cfg.cooldown_time),
            Cooling::Long => (true, cfg.quota_cooldown),
            // `ctx.cooling()` resolves ImmediateIfSiblings; counting is its cautious reading.
            Cooling::ImmediateIfSiblings | Cooling::Counts => {
                self.push_failure(now, cfg);
                (
                    self.failures.len() > cfg.allowed_fails as usize,
                    cfg.cooldown_time,
                )
            }
        };
        if !cool_now || !ctx.may_cool {
            return CooldownChange::None;
        }

        let returned_at = self.cooling_until;
        let recently_back = returned_at
            .is_some_and(|end| now >= end && now.saturating_sub(end) <= cfg.escalation_window);
        let mut length = base;
        if recently_back && !self.last_length.is_zero() {
            length = length.max(self.last_length.saturating_mul(2).min(cfg.max_cooldown));
        }
        if let Some(hint) = ctx.hint {
            length = length.max(hint.min(MAX_HINT_COOLDOWN));
        }
        let until = now.saturating_add(length);
        self.failures.clear();

        match self.cooling_until(now) {
            Some(current) => {
                // Cooling again while cooling pushes the deadline out, never in.
                let until = current.max(until);
                self.cooling_until = Some(until);
                CooldownChange::Extended { until }
            }
            None => {
                self.cooling_until = Some(until);
                self.last_length = length;
                CooldownChange::Started { until, length }
            }
        }
    }

    /// Records a success: the escalation of repeat offenders starts over.
    pub fn record_success(&mut self) {
        self.last_length = Duration::ZERO;
    }

    fn push_failure(&mut self, now: Duration, cfg: &CooldownConfig) {
        while self
            .failures
            .front()
            .is_some_and(|t| now.saturating_sub(*t) >= cfg.failure_window)
        {
            self.failures.pop_front();
        }
        self.failures.push_back(now);
        // Only "more than allowed_fails" matters, so older entries need not be kept.
        while self.failures.len() > cfg.allowed_fails as usize + 1 {
            self.failures.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn ctx(kind: ErrorKind) -> FailureContext {
        FailureContext {
            kind,
            hint: None,
            has_available_sibling: true,
            hint_beyond_wait: false,
            may_cool: true,
        }
    }

    #[test]
    fn cools_after_allowed_fails() {
        let cfg = CooldownConfig::default();
        let mut h = DeploymentHealth::new();
        for t in 0..3 {
            assert_eq!(
                h.record_failure(s(t), ctx(ErrorKind::InternalServer), &cfg),
                CooldownChange::None
            );
        }
        assert_eq!(
            h.record_failure(s(3), ctx(ErrorKind::InternalServer), &cfg),
            CooldownChange::Started {
                until: s(8),
                length: s(5)
            }
        );
        assert!(h.is_cooling(s(7)));
        assert!(!h.is_cooling(s(8)));
    }

    #[test]
    fn old_failures_leave_the_window() {
        let cfg = CooldownConfig::default();
        let mut h = DeploymentHealth::new();
        for t in [0, 10, 20] {
            h.record_failure(s(t), ctx(ErrorKind::Timeout), &cfg);
        }
        // The failure at 0 is 60 s old at 60: only three count.
        assert_eq!(
            h.record_failure(s(60), ctx(ErrorKind::Timeout), &cfg),
            CooldownChange::None
        );
        assert_eq!(h.recent_failures(s(60), &cfg), 3);
    }

    #[test]
    fn immediate_kinds() {
        let cfg = CooldownConfig::default();
        for kind in [
            ErrorKind::Authentication,
            ErrorKind::PermissionDenied,
            ErrorKind::NotFound,
            ErrorKind::RateLimit,
        ] {
            let mut h = DeploymentHealth::new();
            assert!(
                matches!(
                    h.record_failure(s(0), ctx(kind), &cfg),
                    CooldownChange::Started { .. }
                ),
                "{kind}"
            );
        }
        // A 429 on the only deployment of a group counts instead.
        let mut h = DeploymentHealth::new();
        let lonely = FailureContext {
            has_available_sibling: false,
            ..ctx(ErrorKind::RateLimit)
        };
        assert_eq!(h.record_failure(s(0), lonely, &cfg), CooldownChange::None);
        // Quota errors cool for the long quota time.
        let mut h = DeploymentHealth::new();
        assert_eq!(
            h.record_failure(s(0), ctx(ErrorKind::QuotaExceeded), &cfg),
            CooldownChange::Started {
                until: s(60),
                length: s(60)
            }
        );
        // Request errors say nothing about the deployment.
        for kind in [
            ErrorKind::BadRequest,
            ErrorKind::ContextWindowExceeded,
            ErrorKind::ContentPolicyViolation,
        ] {
            let mut h = DeploymentHealth::new();
            for t in 0..10 {
                assert_eq!(
                    h.record_failure(s(t), ctx(kind), &cfg),
                    CooldownChange::None
                );
            }
        }
    }

    #[test]
    fn hint_sets_length_when_longer() {
        let cfg = CooldownConfig::default();
        let mut h = DeploymentHealth::new();
        let c = FailureContext {
            hint: Some(s(30)),
            ..ctx(ErrorKind::RateLimit)
        };
        assert_eq!(
            h.record_failure(s(0), c, &cfg),
            CooldownChange::Started {
                until: s(30),
                length: s(30)
            }
        );
        let mut h = DeploymentHealth::new();
        let huge = FailureContext {
            hint: Some(s(1_000_000)),
            ..ctx(ErrorKind::RateLimit)
        };
        assert_eq!(
            h.record_failure(s(0), huge, &cfg),
            CooldownChange::Started {
                until: MAX_HINT_COOLDOWN,
                length: MAX_HINT_COOLDOWN
            }
        );
    }

    /// A failure whose hint is longer than the router will sleep on.
    fn beyond(kind: ErrorKind, hint: u64) -> FailureContext {
        FailureContext {
            hint: Some(s(hint)),
            hint_beyond_wait: true,
            ..ctx(kind)
        }
    }

    #[test]
    fn a_hint_beyond_the_wait_cools_at_once_with_or_without_siblings() {
        let cfg = CooldownConfig::default();
        for siblings in [true, false] {
            let mut h = DeploymentHealth::new();
            let c = FailureContext {
                has_available_sibling: siblings,
                ..beyond(ErrorKind::RateLimit, 120)
            };
            assert_eq!(
                h.record_failure(s(10), c, &cfg),
                CooldownChange::Started {
                    until: s(130),
                    length: s(120)
                },
                "siblings: {siblings}"
            );
        }
        // The same 429 on a lonely deployment, with a hint the router would sleep on, counts.
        let mut h = DeploymentHealth::new();
        let lonely = FailureContext {
            has_available_sibling: false,
            hint: Some(s(30)),
            ..ctx(ErrorKind::RateLimit)
        };
        assert_eq!(h.record_failure(s(10), lonely, &cfg), CooldownChange::None);
    }

    #[test]
    fn a_hint_beyond_the_wait_cools_a_counted_kind_before_allowed_fails() {
        let cfg = CooldownConfig::default(); // allowed_fails 3
        // A 503 with a 10-minute Retry-After, the first failure in the window.
        let mut h = DeploymentHealth::new();
        assert_eq!(
            h.record_failure(s(10), beyond(ErrorKind::ServiceUnavailable, 600), &cfg),
            CooldownChange::Started {
                until: s(610),
                length: s(600)
            }
        );
        assert!(h.is_cooling(s(609)));
        assert!(!h.is_cooling(s(610)));
        // Without the flag the same hint only counts.
        let mut h = DeploymentHealth::new();
        let counted = FailureContext {
            hint_beyond_wait: false,
            ..beyond(ErrorKind::ServiceUnavailable, 600)
        };
        assert_eq!(h.record_failure(s(10), counted, &cfg), CooldownChange::None);
        assert_eq!(h.recent_failures(s(10), &cfg), 1);
    }

    #[test]
    fn a_hint_beyond_the_wait_cools_as_long_as_before() {
        // Before the flag existed the router cooled a 429 with such a hint by claiming a
        // sibling, and other kinds got no special treatment (a counted kind only counted).
        // The flag must give every kind that length: the hint (capped) or the base length,
        // escalation of a repeat offender included, and extending while cooling.
        let cfg = CooldownConfig::default();
        for kind in ErrorKind::ALL {
            for hint in [61, 120, 600, 1_000_000] {
                let before = FailureContext {
                    // A counted kind that cools at once gets the length a 429 got.
                    kind: match kind.cooling() {
                        Cooling::Counts => ErrorKind::RateLimit,
                        _ => kind,
                    },
                    has_available_sibling: true,
                    hint_beyond_wait: false,
                    ..beyond(kind, hint)
                };
                let (mut flagged, mut claimed) = (DeploymentHealth::new(), DeploymentHealth::new());
                let mut t = s(0);
                for step in 0..6 {
                    let got = flagged.record_failure(t, beyond(kind, hint), &cfg);
                    let want = claimed.record_failure(t, before, &cfg);
                    assert_eq!(got, want, "{kind}, hint {hint}, step {step}");
                    let (CooldownChange::Started { until, .. }
                    | CooldownChange::Extended { until }) = want
                    else {
                        assert_eq!(kind.cooling(), Cooling::Never, "{kind}");
                        break;
                    };
                    // Alternately while cooling (extends) and soon after it ends (escalates).
                    t = if step % 2 == 0 {
                        until - s(1)
                    } else {
                        until + s(10)
                    };
                }
            }
        }
        // The lengths themselves: the hint when longer, else the escalated length.
        let mut h = DeploymentHealth::new();
        assert_eq!(
            h.record_failure(s(0), beyond(ErrorKind::InternalServer, 1_000_000), &cfg),
            CooldownChange::Started {
                until: MAX_HINT_COOLDOWN,
                length: MAX_HINT_COOLDOWN
            }
        );
        let cfg = CooldownConfig {
            cooldown_time: s(100),
            ..cfg
        };
        let mut h = DeploymentHealth::new();
        h.record_failure(s(0), ctx(ErrorKind::Authentication), &cfg);
        assert_eq!(
            h.record_failure(s(110), beyond(ErrorKind::InternalServer, 61), &cfg),
            CooldownChange::Started {
                until: s(310),
                length: s(200)
            }
        );
        // A quota error keeps its long base length.
        let mut h = DeploymentHealth::new();
        assert_eq!(
            h.record_failure(s(0), beyond(ErrorKind::QuotaExceeded, 61), &cfg),
            CooldownChange::Started {
                until: cfg.quota_cooldown.max(s(61)),
                length: cfg.quota_cooldown.max(s(61))
            }
        );
    }

    #[test]
    fn a_hint_beyond_the_wait_never_cools_what_may_not_cool() {
        let cfg = CooldownConfig::default();
        // The last deployment of a group without fallback.
        let mut h = DeploymentHealth::new();
        let last = FailureContext {
            has_available_sibling: false,
            may_cool: false,
            ..beyond(ErrorKind::RateLimit, 600)
        };
        assert_eq!(h.record_failure(s(0), last, &cfg), CooldownChange::None);
        assert!(!h.is_cooling(s(0)));
        // A request error says nothing about the deployment, whatever its hint.
        let mut h = DeploymentHealth::new();
        for t in 0..10 {
            assert_eq!(
                h.record_failure(s(t), beyond(ErrorKind::BadRequest, 600), &cfg),
                CooldownChange::None
            );
        }
    }

    #[test]
    fn the_resolved_cooling_of_a_failure() {
        let lonely = |kind| FailureContext {
            has_available_sibling: false,
            ..ctx(kind)
        };
        assert_eq!(ctx(ErrorKind::RateLimit).cooling(), Cooling::Immediate);
        assert_eq!(lonely(ErrorKind::RateLimit).cooling(), Cooling::Counts);
        for kind in ErrorKind::ALL {
            let resolved = [ctx(kind), lonely(kind), beyond(kind, 600)].map(|c| c.cooling());
            assert!(!resolved.contains(&Cooling::ImmediateIfSiblings), "{kind}");
            let want = match kind.cooling() {
                Cooling::Counts | Cooling::ImmediateIfSiblings | Cooling::Immediate => {
                    Cooling::Immediate
                }
                other => other,
            };
            assert_eq!(beyond(kind, 600).cooling(), want, "{kind}");
        }
    }

    #[test]
    fn last_deployment_without_fallback_is_never_cooled() {
        let cfg = CooldownConfig::default();
        let mut h = DeploymentHealth::new();
        let c = FailureContext {
            may_cool: false,
            ..ctx(ErrorKind::Authentication)
        };
        assert_eq!(h.record_failure(s(0), c, &cfg), CooldownChange::None);
        assert!(!h.is_cooling(s(0)));
    }

    #[test]
    fn escalation_and_reset() {
        let cfg = CooldownConfig::default();
        let mut h = DeploymentHealth::new();
        let auth = ctx(ErrorKind::Authentication);
        assert_eq!(
            h.record_failure(s(0), auth, &cfg),
            CooldownChange::Started {
                until: s(5),
                length: s(5)
            }
        );
        // Back at 5, cooled again at 10: twice the length.
        assert_eq!(
            h.record_failure(s(10), auth, &cfg),
            CooldownChange::Started {
                until: s(20),
                length: s(10)
            }
        );
        assert_eq!(
            h.record_failure(s(20), auth, &cfg),
            CooldownChange::Started {
                until: s(40),
                length: s(20)
            }
        );
        // Capped at max_cooldown.
        let mut t = 40;
        for _ in 0..10 {
            if let CooldownChange::Started { until, length } = h.record_failure(s(t), auth, &cfg) {
                assert!(length <= cfg.max_cooldown);
                t = until.as_secs();
            }
        }
        assert_eq!(h.last_length, cfg.max_cooldown);
        // A success starts over.
        h.record_success();
        assert_eq!(
            h.record_failure(s(t), auth, &cfg),
            CooldownChange::Started {
                until: s(t + 5),
                length: s(5)
            }
        );
        // Long after returning, no escalation either.
        let mut h = DeploymentHealth::new();
        h.record_failure(s(0), auth, &cfg);
        assert_eq!(
            h.record_failure(s(1000), auth, &cfg),
            CooldownChange::Started {
                until: s(1005),
                length: s(5)
            }
        );
    }

    #[test]
    fn cooling_again_extends_never_shortens() {
        let cfg = CooldownConfig::default();
        let mut h = DeploymentHealth::new();
        let rl = |hint| FailureContext {
            hint: Some(s(hint)),
            ..ctx(ErrorKind::RateLimit)
        };
        h.record_failure(s(0), rl(30), &cfg);
        assert_eq!(
            h.record_failure(s(10), rl(5), &cfg),
            CooldownChange::Extended { until: s(30) }
        );
        assert_eq!(
            h.record_failure(s(20), rl(30), &cfg),
            CooldownChange::Extended { until: s(50) }
        );
        assert_eq!(h.cooling_until(s(49)), Some(s(50)));
    }
}
