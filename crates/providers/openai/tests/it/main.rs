//! Wire tests for switchyard-openai: the real transport over real HTTP against
//! switchyard-mock-upstream on 127.0.0.1, one binary with a module per concern.

mod azure;
mod conformance;
mod errors;
mod plain;
mod streaming;
mod support;
mod transport;
