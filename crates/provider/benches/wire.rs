//! Criterion benches of the wire types: parsing and writing a typical chat completion request,
//! response and stream chunk, as the proxy and the providers do on every request.
//!
//! Run with `cargo bench -p switchyard-provider --bench wire`. CI only compiles them.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use serde::{Serialize, de::DeserializeOwned};
use switchyard_provider::{ChatChunk, ChatRequest, ChatResponse};

/// An answer as OpenAI writes it (about 590 bytes): one choice, usage with details.
const RESPONSE: &str = r#"{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion","created":1741569952,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I assist you today? If you have any questions about the weather, travel plans or anything else, just let me know.","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":19,"completion_tokens":28,"total_tokens":47,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0}},"service_tier":"default","system_fingerprint":"fp_fc9f1d7035"}"#;

/// A client's request: two messages, a temperature and a field we do not model.
const REQUEST: &str = r#"{"model":"gpt-4o","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Hello! What is the weather like in Paris today?"}],"temperature":0.7,"parallel_tool_calls":false}"#;

/// One content chunk of a stream.
const CHUNK: &str = r#"{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_fc9f1d7035","choices":[{"index":0,"delta":{"content":" Hello"},"logprobs":null,"finish_reason":null}]}"#;

fn parse_and_write<T: Serialize + DeserializeOwned>(c: &mut Criterion, name: &str, wire: &str) {
    let parsed: T = serde_json::from_str(wire).expect("the fixture parses");
    let mut group = c.benchmark_group(name);
    group.bench_function("parse", |b| {
        b.iter(|| serde_json::from_slice::<T>(black_box(wire.as_bytes())).expect("parses"));
    });
    group.bench_function("write", |b| {
        b.iter(|| serde_json::to_vec(black_box(&parsed)).expect("serializes"));
    });
    group.finish();
}

fn wire(c: &mut Criterion) {
    parse_and_write::<ChatResponse>(c, "response", RESPONSE);
    parse_and_write::<ChatRequest>(c, "request", REQUEST);
    parse_and_write::<ChatChunk>(c, "chunk", CHUNK);

    // `switchyard-openai` reads an answer into a `Value` first, then converts it.
    let value: serde_json::Value = serde_json::from_str(RESPONSE).expect("the fixture parses");
    c.bench_function("response/from_value", |b| {
        b.iter_batched(
            || value.clone(),
            |value| serde_json::from_value::<ChatResponse>(value).expect("parses"),
            BatchSize::SmallInput,
        );
    });
}

criterion_group!(benches, wire);
criterion_main!(benches);
