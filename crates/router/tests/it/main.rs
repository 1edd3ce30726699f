//! The router's integration tests: one test per rule of `SEMANTICS.md` §2–§9, driven
//! through the public API against scripted in-process mock providers on paused time, so
//! every wait is exact and instant.

mod budget;
mod cooldowns;
mod deadlines;
mod fallbacks;
mod observers;
mod retries;
mod selection;
mod streaming;
mod support;
mod waits;
