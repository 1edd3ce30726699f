//! The Switchyard proxy as a library: an OpenAI-compatible HTTP gateway over the router,
//! configured by LiteLLM's `config.yaml`.
//!
//! What it is: configuration loading ([`config`]), the HTTP endpoints, auth and per-key
//! limits, response headers, metrics and health ([`http`]). What it is not: a provider —
//! the binary (`switchyard-cli`) decides which provider crates build the deployments, so
//! this crate never depends on a concrete provider.
//!
//! Who depends on it: the `switchyard` binary, and services that embed the gateway.
#![warn(missing_docs)]

pub mod config;
pub mod http;
pub mod wiring;
