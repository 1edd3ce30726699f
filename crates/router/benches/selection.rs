//! Criterion benches of the router's request path: deployment selection for every strategy
//! with 1, 10 and 1000 deployments, and whole `Router::chat` round trips against an instant
//! in-process provider, clean and with two failed attempts before the answer.
//!
//! Run with `cargo bench -p switchyard-router --bench selection`. CI only compiles them.

use std::{
    hint::black_box,
    sync::Arc,
    time::{Duration, Instant},
};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mock::{
    MockProvider, MockStep,
    provider::{ChatRequest, ErrorKind, Message},
};
use switchyard_router::{DeploymentConfig, RequestOptions, Router, RoutingStrategy};

const STRATEGIES: [RoutingStrategy; 5] = [
    RoutingStrategy::SimpleShuffle,
    RoutingStrategy::LeastBusy,
    RoutingStrategy::LatencyBased,
    RoutingStrategy::UsageBased,
    RoutingStrategy::PowerOfTwo,
];

fn router(strategy: RoutingStrategy, deployments: usize) -> Router {
    let model_list = (0..deployments).map(|i| {
        DeploymentConfig::new("bench", Arc::new(MockProvider::new("bench-model")))
            .id(format!("bench-{i}"))
            // Weights make simple-shuffle do its weighted draw instead of a uniform one.
            .weight(1 + u32::try_from(i % 3).unwrap_or(0))
    });
    Router::builder()
        .model_list(model_list)
        .routing_strategy(strategy)
        .seed(7)
        .build()
        .expect("a valid router")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn selection(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("select");
    for strategy in STRATEGIES {
        for n in [1, 10, 1000] {
            // Build inside the runtime: the router's clock is tokio's.
            let router = rt.block_on(async { router(strategy, n) });
            group.bench_with_input(BenchmarkId::new(strategy.as_str(), n), &n, |b, _| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let start = Instant::now();
                        black_box(router.bench_select(black_box("bench"), false, iters));
                        start.elapsed()
                    })
                });
            });
        }
    }
    group.finish();
}

fn request() -> ChatRequest {
    ChatRequest::new("bench", vec![Message::user("Say hello in five words.")])
}

fn round_trip(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("chat");
    for n in [1, 10] {
        let router = rt.block_on(async { router(RoutingStrategy::SimpleShuffle, n) });
        let req = request();
        let opts = RequestOptions::new();
        group.bench_function(BenchmarkId::new("clean", n), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let answer = router.chat(black_box(&req), &opts).await;
                        black_box(answer.expect("the mock answers"));
                    }
                    start.elapsed()
                })
            });
        });
    }
    group.finish();
}

/// The retry path: one deployment scripted to fail twice with a server error, then answer,
/// with zero-wait retries; against the same deployment answering at once.
fn retry_path(c: &mut Criterion) {
    let rt = runtime();
    let mock = Arc::new(MockProvider::new("bench-model"));
    let router = rt.block_on(async {
        Router::builder()
            .deployment(DeploymentConfig::new("bench", mock.clone()))
            .num_retries(2)
            .retry_after(Duration::ZERO)
            .backoff(Duration::ZERO, Duration::ZERO)
            .seed(7)
            .build()
            .expect("a valid router")
    });
    let req = request();
    let opts = RequestOptions::new();
    let mut group = c.benchmark_group("retry_path");
    for (name, failures) in [("clean", 0), ("fails_twice", 2)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        for _ in 0..failures {
                            mock.push_step(MockStep::fail(ErrorKind::InternalServer));
                        }
                        mock.push_step(MockStep::Ok);
                        let answer = router.chat(black_box(&req), &opts).await;
                        let answer = answer.expect("the third attempt answers");
                        assert_eq!(answer.report.retries, failures);
                        black_box(answer);
                    }
                    start.elapsed()
                })
            });
        });
    }
    group.finish();
}

criterion_group!(benches, selection, round_trip, retry_path);
criterion_main!(benches);
