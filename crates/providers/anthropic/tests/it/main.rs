//! Wire tests for switchyard-anthropic: the real transport over real HTTP against
//! switchyard-mock-upstream on 127.0.0.1, one binary with a module per concern.

mod answers;
mod conformance;
mod errors;
mod support;
mod translation;
mod transport;
