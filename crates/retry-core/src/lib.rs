//! Pure retry math for LLM API calls: error kinds, retry policies, backoff,
//! retry hints, cooldown and retry-budget arithmetic.
//!
//! This crate is the base layer of Switchyard. It decides *whether* to retry and *how
//! long* to wait; it never performs I/O, never reads a clock, never sleeps and never
//! spawns. Time comes in as arguments (`now`, time left before a deadline), and the
//! random source for jitter is a parameter, so every decision is reproducible.
//!
//! Who depends on it: provider crates (to classify failures into an [`ErrorKind`] and
//! read [`RetryHint`]s from headers) and the router (to ask [`decide`] what to do next).
//! Application code rarely needs it directly.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use switchyard_retry_core::{hint, ErrorKind};
//!
//! let kind = ErrorKind::from_status(429).ok_or("not an error status")?;
//! let hint = hint::parse_headers([("retry-after", "3")], SystemTime::now());
//! assert_eq!(kind, ErrorKind::RateLimit);
//! assert_eq!(hint.after, Some(Duration::from_secs(3)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod classify;
pub mod hint;
mod kind;

pub use hint::RetryHint;
pub use kind::{Cooling, ErrorKind, FallbackRoute, RetryDefault};
