//! Criterion bench of config loading: a LiteLLM-style `config.yaml` with 1000 deployments in
//! 100 model groups, parsed and validated as `switchyard serve --config` does at start-up.
//!
//! Run with `cargo bench -p switchyard-proxy --bench config`. CI only compiles it.

use std::{fmt::Write as _, hint::black_box};

use criterion::{Criterion, criterion_group, criterion_main};
use switchyard_proxy::config::Config;

/// A config with `deployments` OpenAI-compatible deployments, ten per model group, each with
/// limits and a timeout, fallbacks between neighbouring groups, and router settings.
fn large_config(deployments: usize) -> String {
    let mut yaml = String::from("model_list:\n");
    for i in 0..deployments {
        let group = i / 10;
        let _ = write!(
            yaml,
            "  - model_name: group-{group}
    litellm_params:
      model: openai/model-{i}
      api_base: http://10.0.{}.{}:8000/v1
      api_key: sk-bench-{i}
      rpm: {}
      timeout: 30
    model_info:
      id: deployment-{i}
",
            i / 250,
            i % 250,
            600 + i
        );
    }
    yaml.push_str(
        "router_settings:\n  routing_strategy: least-busy\n  num_retries: 3\n  fallbacks:\n",
    );
    for group in 0..deployments.div_ceil(10).saturating_sub(1) {
        let _ = writeln!(yaml, "    - group-{group}: [\"group-{}\"]", group + 1);
    }
    yaml.push_str("  retry_policy:\n    RateLimitErrorRetries: 3\n    TimeoutErrorRetries: 2\n");
    yaml
}

fn config_loading(c: &mut Criterion) {
    let mut group = c.benchmark_group("config");
    for n in [10, 1000] {
        let yaml = large_config(n);
        // Fail here, not inside the timing loop, if the generated config is wrong.
        let loaded = Config::from_yaml_str(&yaml, |_| None).expect("the generated config is valid");
        assert_eq!(loaded.deployments.len(), n);
        group.bench_function(format!("load_{n}_deployments"), |b| {
            b.iter(|| {
                Config::from_yaml_str(black_box(&yaml), |_| None).map(|c| c.deployments.len())
            });
        });
    }
    group.finish();
}

criterion_group!(benches, config_loading);
criterion_main!(benches);
