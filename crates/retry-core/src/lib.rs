//! Pure retry math for LLM API calls: error kinds, retry policies, backoff,
//! retry hints, cooldown and retry-budget arithmetic.
//!
//! This crate is the base layer of Switchyard. It decides *whether* to retry and *how
//! long* to wait; it never performs I/O, never reads a clock, never sleeps and never
//! spawns. Time comes in as arguments (`now`, time left before a deadline), and the
//! random source for jitter is a parameter, so every decision is reproducible.
//!
//! What it is not: a retry loop. The router (`switchyard-router`) executes the
//! decisions made here; providers classify their failures with the helpers here.
//!
//! Who depends on it: provider crates (to classify failures into an [`ErrorKind`] and
//! read [`RetryHint`]s from headers) and the router (to ask [`decide`] what to do next).
//! Application code rarely needs it directly.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use switchyard_retry_core::{
//!     decide, hint, BackoffConfig, Decision, DecisionInput, ErrorKind, Failure,
//!     FallbackAvailability, RetryLimits,
//! };
//!
//! let kind = ErrorKind::from_status(429).ok_or("not an error status")?;
//! let hint = hint::parse_headers([("retry-after", "3")], SystemTime::now());
//! let backoff = BackoffConfig::default();
//! let input = DecisionInput {
//!     failure: Failure { kind, hint },
//!     retries_spent: 0,
//!     limits: RetryLimits { router: Some(3), ..Default::default() },
//!     backoff: &backoff,
//!     time_left: Some(Duration::from_secs(30)),
//!     fresh_sibling: false,
//!     fallbacks: FallbackAvailability::default(),
//!     budget_allows: true,
//! };
//! use rand::{SeedableRng, rngs::StdRng};
//! let mut rng = StdRng::seed_from_u64(7);
//! let decision = decide(&input, &mut rng);
//! assert!(matches!(decision, Decision::Retry { retry_number: 1, .. }));
//! assert_eq!(decision.wait(), Duration::from_secs(3));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod backoff;
pub mod budget;
pub mod classify;
pub mod cooldown;
mod decision;
pub mod hint;
mod kind;
mod policy;
pub mod simulate;

pub use backoff::BackoffConfig;
pub use budget::{RetryBudget, RetryBudgetConfig};
pub use cooldown::{CooldownChange, CooldownConfig, DeploymentHealth, FailureContext};
pub use decision::{
    Decision, DecisionInput, Failure, FallbackAvailability, StopReason, Target, decide,
};
pub use hint::RetryHint;
pub use kind::{Cooling, ErrorKind, FallbackRoute, RetryDefault};
pub use policy::{DEFAULT_NUM_RETRIES, LimitSource, ResolvedLimit, RetryLimits, RetryPolicy};
