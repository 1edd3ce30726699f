//! Backoff: exponential with full jitter, floors and caps (`SEMANTICS.md` §3).

use std::time::Duration;

use rand_core::RngCore;

/// Timing knobs for retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct BackoffConfig {
    /// The jitter cap of the first retry; it doubles with each retry. Default 2 s.
    pub initial: Duration,
    /// The largest jitter cap. Default 60 s.
    pub max_backoff: Duration,
    /// The router's `retry_after`: no retry waits less. Default 0.
    pub retry_after: Duration,
    /// The longest upstream hint slept on; longer hints cool the deployment and the
    /// request moves on instead. Default 60 s.
    pub max_retry_after: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            initial: Duration::from_secs(2),
            max_backoff: Duration::from_secs(60),
            retry_after: Duration::ZERO,
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl BackoffConfig {
    /// The jitter cap before retry number `retry_number` (1-based):
    /// `min(max_backoff, initial × 2^(n-1))`.
    pub fn jitter_cap(&self, retry_number: u32) -> Duration {
        let doublings = retry_number.saturating_sub(1).min(32);
        self.initial
            .saturating_mul(1u32 << doublings.min(31))
            .min(self.max_backoff)
    }

    /// A full-jitter wait before retry number `retry_number`: uniform in `[0, jitter_cap]`.
    pub fn full_jitter<R: RngCore + ?Sized>(&self, retry_number: u32, rng: &mut R) -> Duration {
        let cap = self.jitter_cap(retry_number);
        let cap_nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        // Multiply-shift maps a uniform u64 onto [0, cap] without modulo bias worth noticing.
        let nanos = (u128::from(rng.next_u64()) * (u128::from(cap_nanos) + 1)) >> 64;
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(cap_nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    #[test]
    fn caps_double_like_the_guide() {
        let c = BackoffConfig::default();
        let caps: Vec<u64> = (1..=7).map(|n| c.jitter_cap(n).as_secs()).collect();
        assert_eq!(caps, [2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(c.jitter_cap(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn jitter_stays_within_cap_and_spreads() {
        let c = BackoffConfig::default();
        let mut rng = StdRng::seed_from_u64(7);
        let waits: Vec<Duration> = (0..1000).map(|_| c.full_jitter(3, &mut rng)).collect();
        assert!(waits.iter().all(|w| *w <= Duration::from_secs(8)));
        let mean = waits.iter().sum::<Duration>() / 1000;
        assert!(
            mean > Duration::from_secs(3) && mean < Duration::from_secs(5),
            "mean {mean:?}"
        );
    }
}
