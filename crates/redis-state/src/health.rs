//! One deployment's health as one instance sees it: retry-core's cooldown arithmetic for
//! lengths and escalation, with the failure window and the cooldown deadline widened to what
//! the other instances reported at the last sync. Pure: no I/O, no clock.

use std::{collections::VecDeque, time::Duration};

use retry_core::{
    CooldownChange, CooldownConfig, Cooling, DeploymentHealth, ErrorKind, FailureContext,
};

/// A kind that cools at once with the base `cooldown_time`: a counted failure that tips the
/// shared window over `allowed_fails` is recorded as one, so retry-core computes its length
/// (hint, escalation, cap) exactly as it would have for a local tip-over.
const TIPS_OVER: ErrorKind = ErrorKind::Authentication;

/// What a failure asks the sync task to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Publish {
    /// Nothing: the failure says nothing about the deployment, or the deadline is not new.
    Nothing,
    /// Add a failure at this time to the shared window (length `window`, of which `keep`
    /// entries matter: `allowed_fails + 1`).
    Failure {
        at: Duration,
        window: Duration,
        keep: u32,
    },
    /// Raise the shared cooldown deadline to this time (and clear the shared window).
    Cooldown { until: Duration },
}

#[derive(Debug, Default)]
pub(crate) struct Health {
    /// Lengths and escalation; its own failure count is not used for counted kinds.
    local: DeploymentHealth,
    /// This instance's counted failures, oldest first (at most `allowed_fails + 1` kept).
    own: VecDeque<Duration>,
    /// The other instances' counted failures, as of the last sync.
    others: Vec<Duration>,
    /// The latest shared deadline seen, to notice cooldowns other instances start.
    seen_until: Duration,
}

impl Health {
    /// Records a failure. `cooling_until` is the deadline in force at `now` (this instance's or
    /// another's). Returns what the router is told and what to publish.
    pub(crate) fn record_failure(
        &mut self,
        now: Duration,
        ctx: FailureContext,
        cfg: &CooldownConfig,
        cooling_until: Option<Duration>,
    ) -> (CooldownChange, Publish) {
        // retry-core resolves siblings and hints, so both stores follow one rule.
        let counted = match ctx.cooling() {
            Cooling::Never => return (CooldownChange::None, Publish::Nothing),
            Cooling::Counts | Cooling::ImmediateIfSiblings => true,
            Cooling::Immediate | Cooling::Long => false,
        };
        let change = if counted {
            let window = cfg.failure_window;
            let recent = |t: &Duration| now.saturating_sub(*t) < window;
            while self.own.front().is_some_and(|t| !recent(t)) {
                self.own.pop_front();
            }
            self.own.push_back(now);
            while self.own.len() > cfg.allowed_fails as usize + 1 {
                self.own.pop_front();
            }
            let total = self.own.len() + self.others.iter().filter(|t| recent(t)).count();
            if total <= cfg.allowed_fails as usize || !ctx.may_cool {
                let keep = cfg.allowed_fails.saturating_add(1);
                return (
                    CooldownChange::None,
                    Publish::Failure {
                        at: now,
                        window,
                        keep,
                    },
                );
            }
            let tipped = FailureContext {
                kind: TIPS_OVER,
                ..ctx
            };
            self.local.record_failure(now, tipped, cfg)
        } else {
            self.local.record_failure(now, ctx, cfg)
        };
        let change = merge(change, cooling_until);
        let publish = match change {
            CooldownChange::None => Publish::Nothing,
            CooldownChange::Started { until, .. } | CooldownChange::Extended { until } => {
                // A cooldown clears the window, here and (by the script) in Redis.
                self.own.clear();
                self.others.clear();
                self.seen_until = self.seen_until.max(until);
                if cooling_until.is_some_and(|current| current >= until) {
                    Publish::Nothing
                } else {
                    Publish::Cooldown { until }
                }
            }
        };
        (change, publish)
    }

    /// A success resets escalation.
    pub(crate) fn record_success(&mut self) {
        self.local.record_success();
    }

    /// Merges a sync: the shared deadline (if any) and the other instances' failure times.
    /// A deadline not seen before means another instance started a cooldown, which cleared
    /// the shared window: this instance's older failures go too.
    pub(crate) fn merge_remote(&mut self, until: Option<Duration>, others: Vec<Duration>) {
        if let Some(until) = until
            && until > self.seen_until
        {
            self.seen_until = until;
            self.own.clear();
        }
        self.others = others;
    }
}

/// What a cooldown computed from this instance's health means once the deadline in force
/// (perhaps set by another instance) is taken into account: cooling while cooling extends,
/// never shortens.
pub(crate) fn merge(change: CooldownChange, cooling_until: Option<Duration>) -> CooldownChange {
    match (change, cooling_until) {
        (CooldownChange::None, _) => CooldownChange::None,
        (
            CooldownChange::Started { until, .. } | CooldownChange::Extended { until },
            Some(current),
        ) => CooldownChange::Extended {
            until: until.max(current),
        },
        (change, None) => change,
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
    fn the_tip_over_kind_cools_at_once_with_the_base_length() {
        assert_eq!(TIPS_OVER.cooling(), Cooling::Immediate);
        let cfg = CooldownConfig::default();
        let mut h = Health::default();
        let (change, _) = h.record_failure(s(100), ctx(TIPS_OVER), &cfg, None);
        assert_eq!(
            change,
            CooldownChange::Started {
                until: s(100) + cfg.cooldown_time,
                length: cfg.cooldown_time
            }
        );
    }

    #[test]
    fn failures_of_other_instances_count_toward_allowed_fails() {
        let cfg = CooldownConfig::default(); // allowed_fails 3
        let mut h = Health::default();
        h.merge_remote(None, vec![s(95), s(98)]);
        let fail = ctx(ErrorKind::InternalServer);
        assert_eq!(
            h.record_failure(s(100), fail, &cfg, None),
            (
                CooldownChange::None,
                Publish::Failure {
                    at: s(100),
                    window: s(60),
                    keep: 4
                }
            )
        );
        // Two others + two own = 4 > 3.
        assert_eq!(
            h.record_failure(s(101), fail, &cfg, None),
            (
                CooldownChange::Started {
                    until: s(106),
                    length: s(5)
                },
                Publish::Cooldown { until: s(106) }
            )
        );
        // The window starts over.
        h.merge_remote(Some(s(106)), vec![]);
        for t in 110..113 {
            assert_eq!(
                h.record_failure(s(t), fail, &cfg, None).0,
                CooldownChange::None
            );
        }
    }

    #[test]
    fn old_remote_failures_leave_the_window() {
        let cfg = CooldownConfig::default();
        let mut h = Health::default();
        h.merge_remote(None, vec![s(0), s(1), s(2)]);
        let fail = ctx(ErrorKind::Timeout);
        // Only the failure at 2 is still in the window at 61: with all three this would be 4.
        assert_eq!(
            h.record_failure(s(61), fail, &cfg, None).0,
            CooldownChange::None
        );
        assert_eq!(
            h.record_failure(s(61), fail, &cfg, None).0,
            CooldownChange::None
        );
        assert!(matches!(
            h.record_failure(s(61), fail, &cfg, None).0,
            CooldownChange::Started { .. }
        ));
    }

    #[test]
    fn the_last_deployment_counts_but_never_cools() {
        let cfg = CooldownConfig::default();
        let mut h = Health::default();
        h.merge_remote(None, vec![s(99); 5]);
        let last = FailureContext {
            may_cool: false,
            ..ctx(ErrorKind::ServiceUnavailable)
        };
        let (change, publish) = h.record_failure(s(100), last, &cfg, None);
        assert_eq!(change, CooldownChange::None);
        assert!(matches!(publish, Publish::Failure { .. }));
        let lonely_429 = FailureContext {
            has_available_sibling: false,
            ..ctx(ErrorKind::RateLimit)
        };
        let mut h = Health::default();
        assert!(matches!(
            h.record_failure(s(100), lonely_429, &cfg, None).1,
            Publish::Failure { .. }
        ));
        assert_eq!(
            h.record_failure(s(100), ctx(ErrorKind::BadRequest), &cfg, None),
            (CooldownChange::None, Publish::Nothing)
        );
    }

    #[test]
    fn a_hint_beyond_the_wait_cools_at_once_and_is_published() {
        let cfg = CooldownConfig::default();
        // Nothing in the shared window: without the flag, either failure would only count.
        for (kind, siblings) in [
            (ErrorKind::RateLimit, false),
            (ErrorKind::ServiceUnavailable, true),
            (ErrorKind::ServiceUnavailable, false),
        ] {
            let mut h = Health::default();
            let beyond = FailureContext {
                hint: Some(s(600)),
                has_available_sibling: siblings,
                hint_beyond_wait: true,
                ..ctx(kind)
            };
            assert_eq!(
                h.record_failure(s(100), beyond, &cfg, None),
                (
                    CooldownChange::Started {
                        until: s(700),
                        length: s(600)
                    },
                    Publish::Cooldown { until: s(700) }
                ),
                "{kind}, siblings: {siblings}"
            );
        }
    }

    #[test]
    fn a_remote_cooldown_is_extended_never_shortened() {
        let cfg = CooldownConfig::default();
        let mut h = Health::default();
        // Another instance cooled it until 130; a 401 here at 100 would cool until 105.
        h.merge_remote(Some(s(130)), vec![]);
        assert_eq!(
            h.record_failure(s(100), ctx(ErrorKind::Authentication), &cfg, Some(s(130))),
            (CooldownChange::Extended { until: s(130) }, Publish::Nothing)
        );
        // A 429 hinting 60 s extends it, and that is published.
        let hinted = FailureContext {
            hint: Some(s(60)),
            ..ctx(ErrorKind::RateLimit)
        };
        assert_eq!(
            h.record_failure(s(101), hinted, &cfg, Some(s(130))),
            (
                CooldownChange::Extended { until: s(161) },
                Publish::Cooldown { until: s(161) }
            )
        );
    }

    #[test]
    fn merge_rules() {
        let started = CooldownChange::Started {
            until: s(10),
            length: s(5),
        };
        assert_eq!(merge(started, None), started);
        assert_eq!(
            merge(started, Some(s(20))),
            CooldownChange::Extended { until: s(20) }
        );
        assert_eq!(
            merge(started, Some(s(7))),
            CooldownChange::Extended { until: s(10) }
        );
        assert_eq!(
            merge(CooldownChange::None, Some(s(7))),
            CooldownChange::None
        );
        assert_eq!(
            merge(CooldownChange::Extended { until: s(9) }, Some(s(8))),
            CooldownChange::Extended { until: s(9) }
        );
    }
}
