//! Integration tests of the EchoLM provider over real HTTP, against the fake EchoLM server.
//!
//! One test binary with a module per topic (link time adds up): `conformance` runs Switchyard's
//! conformance kit, `http` checks what goes over the wire.

mod conformance;
mod fake_echolm;
mod http;
