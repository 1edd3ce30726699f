//! A retry budget: retries limited to a fraction of recent requests, plus a small floor.
//!
//! Without it, every client retry during an outage multiplies the traffic the sick
//! upstream sees (three attempts per request triple the load). With it, retries stay
//! under `ratio` of the requests of the last `window`, plus `min_per_second` so a
//! quiet gateway can still retry. Beyond what the reference has; off by default.

use std::time::Duration;

/// Retry budget knobs.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RetryBudgetConfig {
    /// Retries allowed per request in the window. Default 0.2 (20 % extra traffic at most).
    pub ratio: f64,
    /// Retries always allowed per second of the window, whatever the traffic. Default 10.
    pub min_per_second: u32,
    /// The sliding window. Default 10 s.
    pub window: Duration,
}

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        RetryBudgetConfig {
            ratio: 0.2,
            min_per_second: 10,
            window: Duration::from_secs(10),
        }
    }
}

const SLOTS: usize = 10;

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// Which slot-length period this slot holds counts for.
    period: u64,
    requests: u64,
    retries: u64,
}

/// The state of a retry budget: counts in a ring of time slots.
#[derive(Debug, Clone)]
pub struct RetryBudget {
    cfg: RetryBudgetConfig,
    slot_nanos: u64,
    slots: [Slot; SLOTS],
}

impl RetryBudget {
    /// A budget with the given knobs. A window below 10 ns is raised to it.
    pub fn new(cfg: RetryBudgetConfig) -> Self {
        let window_nanos = u64::try_from(cfg.window.as_nanos()).unwrap_or(u64::MAX);
        RetryBudget {
            cfg,
            slot_nanos: (window_nanos / SLOTS as u64).max(1),
            slots: [Slot::default(); SLOTS],
        }
    }

    /// Counts a request (its first attempt).
    pub fn record_request(&mut self, now: Duration) {
        self.slot(now).requests += 1;
    }

    /// Takes one retry from the budget if it has one, and says whether it did.
    pub fn try_acquire_retry(&mut self, now: Duration) -> bool {
        let (requests, retries) = self.totals(now);
        let window_secs = self.cfg.window.as_secs_f64();
        let allowed = self.cfg.ratio.max(0.0) * requests as f64
            + f64::from(self.cfg.min_per_second) * window_secs;
        if (retries as f64) < allowed {
            self.slot(now).retries += 1;
            true
        } else {
            false
        }
    }

    fn period(&self, now: Duration) -> u64 {
        u64::try_from(now.as_nanos() / u128::from(self.slot_nanos)).unwrap_or(u64::MAX)
    }

    fn slot(&mut self, now: Duration) -> &mut Slot {
        let period = self.period(now);
        let slot = &mut self.slots[(period % SLOTS as u64) as usize];
        if slot.period != period {
            *slot = Slot {
                period,
                requests: 0,
                retries: 0,
            };
        }
        slot
    }

    fn totals(&self, now: Duration) -> (u64, u64) {
        let current = self.period(now);
        self.slots
            .iter()
            .filter(|s| current.saturating_sub(s.period) < SLOTS as u64 && s.period <= current)
            .fold((0, 0), |(q, r), s| (q + s.requests, r + s.retries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_limited_to_ratio_plus_floor() {
        let cfg = RetryBudgetConfig {
            ratio: 0.2,
            min_per_second: 1,
            window: Duration::from_secs(10),
        };
        let mut b = RetryBudget::new(cfg);
        let now = Duration::from_secs(100);
        for _ in 0..100 {
            b.record_request(now);
        }
        // 0.2 × 100 + 1 × 10 = 30 retries.
        let granted = (0..100).filter(|_| b.try_acquire_retry(now)).count();
        assert_eq!(granted, 30);
    }

    #[test]
    fn budget_refills_as_the_window_slides() {
        let cfg = RetryBudgetConfig {
            ratio: 0.0,
            min_per_second: 1,
            window: Duration::from_secs(10),
        };
        let mut b = RetryBudget::new(cfg);
        let t0 = Duration::from_secs(50);
        assert_eq!((0..20).filter(|_| b.try_acquire_retry(t0)).count(), 10);
        assert!(!b.try_acquire_retry(t0 + Duration::from_secs(5)));
        assert!(
            b.try_acquire_retry(t0 + Duration::from_secs(11)),
            "old retries left the window"
        );
    }
}
