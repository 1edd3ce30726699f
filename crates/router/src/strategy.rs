//! Deployment selection strategies (`SEMANTICS.md` §6).

use std::{fmt, str::FromStr, sync::Arc};

use rand::{Rng, RngCore};

use crate::{deployment::Deployment, state::StateStore};

/// How a deployment is chosen among the available ones of a group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoutingStrategy {
    /// Weighted random by `weight`, else `rpm`, else `tpm`, else uniform. The default.
    #[default]
    SimpleShuffle,
    /// Fewest requests in flight.
    LeastBusy,
    /// Lowest recent latency; time to first token for streams.
    LatencyBased,
    /// Lowest tokens used this minute.
    UsageBased,
    /// Two random candidates; the one with less in-flight × latency wins.
    PowerOfTwo,
}

impl RoutingStrategy {
    /// The configuration name, as in the reference's `routing_strategy`.
    pub fn as_str(self) -> &'static str {
        match self {
            RoutingStrategy::SimpleShuffle => "simple-shuffle",
            RoutingStrategy::LeastBusy => "least-busy",
            RoutingStrategy::LatencyBased => "latency-based-routing",
            RoutingStrategy::UsageBased => "usage-based-routing",
            RoutingStrategy::PowerOfTwo => "power-of-two",
        }
    }
}

impl fmt::Display for RoutingStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown `routing_strategy` name.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "unknown routing strategy `{0}`: use simple-shuffle, least-busy, latency-based-routing, usage-based-routing or power-of-two"
)]
pub struct UnknownStrategy(pub String);

impl FromStr for RoutingStrategy {
    type Err = UnknownStrategy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "simple-shuffle" => RoutingStrategy::SimpleShuffle,
            "least-busy" => RoutingStrategy::LeastBusy,
            "latency-based-routing" => RoutingStrategy::LatencyBased,
            "usage-based-routing" | "usage-based-routing-v2" => RoutingStrategy::UsageBased,
            "power-of-two" => RoutingStrategy::PowerOfTwo,
            other => return Err(UnknownStrategy(other.to_owned())),
        })
    }
}

/// Picks one of `candidates` (indices into `all`, never empty).
pub(crate) fn pick<R: RngCore>(
    strategy: RoutingStrategy,
    all: &[Arc<Deployment>],
    candidates: &[usize],
    streaming: bool,
    state: &dyn StateStore,
    now: std::time::Duration,
    rng: &mut R,
) -> usize {
    debug_assert!(!candidates.is_empty());
    if candidates.len() == 1 {
        return candidates[0];
    }
    let d = |i: usize| &all[i];
    match strategy {
        RoutingStrategy::SimpleShuffle => {
            let total: u64 = candidates.iter().map(|&i| d(i).pick_weight).sum();
            if total == 0 {
                return candidates[rng.random_range(0..candidates.len())];
            }
            let mut ticket = rng.random_range(0..total);
            for &i in candidates {
                let w = d(i).pick_weight;
                if ticket < w {
                    return i;
                }
                ticket -= w;
            }
            candidates[candidates.len() - 1]
        }
        RoutingStrategy::LeastBusy => {
            min_by_key_random(candidates, rng, |i| u64::from(d(i).in_flight()))
        }
        RoutingStrategy::LatencyBased => {
            min_by_key_random(candidates, rng, |i| d(i).latency(streaming))
        }
        RoutingStrategy::UsageBased => {
            min_by_key_random(candidates, rng, |i| state.tokens_used(d(i).as_key(), now))
        }
        RoutingStrategy::PowerOfTwo => {
            let a = candidates[rng.random_range(0..candidates.len())];
            let mut b = candidates[rng.random_range(0..candidates.len() - 1)];
            if b == a {
                b = candidates[candidates.len() - 1];
            }
            let load = |i: usize| {
                (u64::from(d(i).in_flight()) + 1).saturating_mul(d(i).latency(streaming).max(1))
            };
            if load(b) < load(a) { b } else { a }
        }
    }
}

/// The candidate with the smallest key; ties broken at random so equal deployments share load.
fn min_by_key_random<R: RngCore>(
    candidates: &[usize],
    rng: &mut R,
    key: impl Fn(usize) -> u64,
) -> usize {
    let mut best = candidates[0];
    let mut best_key = key(best);
    let mut ties = 1u32;
    for &i in &candidates[1..] {
        let k = key(i);
        if k < best_key {
            best = i;
            best_key = k;
            ties = 1;
        } else if k == best_key {
            // Reservoir sampling over the tied candidates.
            ties += 1;
            if rng.random_range(0..ties) == 0 {
                best = i;
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in [
            RoutingStrategy::SimpleShuffle,
            RoutingStrategy::LeastBusy,
            RoutingStrategy::LatencyBased,
            RoutingStrategy::UsageBased,
            RoutingStrategy::PowerOfTwo,
        ] {
            assert_eq!(s.as_str().parse::<RoutingStrategy>().ok(), Some(s));
        }
        assert!("round-robin".parse::<RoutingStrategy>().is_err());
    }
}
