//! End-to-end tests: the real `switchyard` binary serving a LiteLLM config over HTTP, against
//! `switchyard-mock-upstream`, driven by reqwest and by the official OpenAI Python SDK.
//!
//! One test binary with a module per area (STYLE.md). The SDK tests need `SWITCHYARD_PYTHON`
//! (a Python that can `import openai`; `cargo xtask ci` provides one): without it they skip,
//! except in CI, where they fail.

mod raw_http;
mod redis;
mod sdk;
mod support;
