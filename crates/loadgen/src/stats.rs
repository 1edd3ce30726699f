//! Latency percentiles over every recorded request.

use serde_json::{Value, json};

/// Percentiles of a set of durations, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Summary {
    pub(crate) count: usize,
    pub(crate) mean: f64,
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) p999: f64,
    pub(crate) max: f64,
}

impl Summary {
    /// Sorts `samples_ns` and summarises them; all zero when there are none.
    pub(crate) fn of(samples_ns: &mut [u64]) -> Summary {
        samples_ns.sort_unstable();
        let n = samples_ns.len();
        if n == 0 {
            return Summary {
                count: 0,
                mean: 0.0,
                p50: 0.0,
                p99: 0.0,
                p999: 0.0,
                max: 0.0,
            };
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        // The nearest-rank percentile: the smallest sample with at least p of them at or below it.
        let rank = |p: f64| {
            let index = (p * n as f64).ceil() as usize;
            us(samples_ns[index.clamp(1, n) - 1])
        };
        Summary {
            count: n,
            mean: samples_ns.iter().map(|&ns| us(ns)).sum::<f64>() / n as f64,
            p50: rank(0.50),
            p99: rank(0.99),
            p999: rank(0.999),
            max: us(samples_ns[n - 1]),
        }
    }

    pub(crate) fn to_json(self) -> Value {
        json!({
            "count": self.count,
            "mean": self.mean,
            "p50": self.p50,
            "p99": self.p99,
            "p999": self.p999,
            "max": self.max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<u64> = (1..=1000).rev().map(|n| n * 1000).collect();
        let s = Summary::of(&mut samples);
        assert_eq!(s.count, 1000);
        assert_eq!(s.p50, 500.0);
        assert_eq!(s.p99, 990.0);
        assert_eq!(s.p999, 999.0);
        assert_eq!(s.max, 1000.0);
        assert_eq!(Summary::of(&mut []).count, 0);
        assert_eq!(Summary::of(&mut [7000]).p999, 7.0);
    }
}
