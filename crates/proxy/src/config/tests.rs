//! Tests of config loading: a full LiteLLM config, each class of error with its key path,
//! line and suggestion, `os.environ/`, durations, warnings and redaction.

use std::{collections::HashMap, time::Duration};

use retry_core::{ErrorKind, RetryPolicy};

use super::*;

/// Test text is written indented inside raw strings; line 1 is the first line after `r#"`.
fn text(s: &str) -> String {
    s.strip_prefix('\n').unwrap_or(s).to_owned()
}

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

fn load(s: &str) -> Result<Config, ConfigError> {
    Config::from_yaml_str(&text(s), |_| None)
}

fn load_ok(s: &str) -> Config {
    match load(s) {
        Ok(config) => config,
        Err(err) => panic!("expected the config to load, got:\n{err}"),
    }
}

fn problems(s: &str) -> Vec<Problem> {
    match load(s) {
        Ok(_) => panic!("expected the config to be rejected:\n{s}"),
        Err(err) => err.problems().to_vec(),
    }
}

/// The only problem of a config that has exactly one.
fn problem(s: &str) -> Problem {
    let mut all = problems(s);
    assert_eq!(all.len(), 1, "expected one problem, got: {all:#?}");
    all.remove(0)
}

/// The 1-based line and column where `needle` first occurs in `s` (as written by `text`).
fn place(s: &str, needle: &str) -> (u64, u64) {
    let t = text(s);
    for (i, line) in t.lines().enumerate() {
        if let Some(col) = line.find(needle) {
            return ((i + 1) as u64, (col + 1) as u64);
        }
    }
    panic!("`{needle}` not in the test config");
}

fn assert_at(p: &Problem, s: &str, needle: &str) {
    assert_eq!(
        (p.line, p.column),
        place(s, needle),
        "wrong place for {p:#?}"
    );
}

const MINIMAL: &str = "
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: mock/gpt-4o
";

// ---------------------------------------------------------------------------------------
// A full config

const FULL: &str = r#"
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/OPENAI_KEY_1
      organization: org-123
      rpm: 600
      tpm: 100000
      timeout: 30
      stream_timeout: 2.5
      num_retries: 4
      extra_headers:
        X-Team: os.environ/TEAM_HEADER
    model_info:
      id: gpt-4o-openai
      mode: chat
      max_tokens: 4096
  - model_name: gpt-4o
    litellm_params:
      model: azure/gpt-4o-eu
      api_base: https://my-eu.openai.azure.com/
      api_key: os.environ/AZURE_KEY_EU
      api_version: "2024-10-21"
      weight: 2
      cooldown_time: 1m
  - model_name: claude-sonnet
    litellm_params:
      model: anthropic/claude-sonnet-4-5
      api_key: sk-ant-api03-abcdefghijklmnopqrstuvwxyz
      max_retries: 1
  - model_name: llama
    litellm_params:
      model: openai/meta-llama/Llama-3.1-8B-Instruct
      api_base: http://localhost:8000/v1
  - model_name: gpt-4o-mini
    litellm_params:
      model: gpt-4o-mini

router_settings:
  routing_strategy: usage-based-routing-v2
  num_retries: 3
  retry_after: 5
  timeout: 60
  stream_timeout: "15s"
  retry_policy:
    TimeoutErrorRetries: 5
    RateLimitErrorRetries: 3
    InternalServerErrorRetries: 2
    ContentPolicyViolationErrorRetries: 0
    AuthenticationErrorRetries: 0
  model_group_retry_policy:
    gpt-4o:
      RateLimitErrorRetries: 10
  fallbacks: [{"gpt-4o": ["claude-sonnet", "gpt-4o-mini"]}, {"llama": ["gpt-4o-mini"]}]
  context_window_fallbacks:
    gpt-4o-mini: [gpt-4o]
  content_policy_fallbacks:
    - claude-sonnet: [gpt-4o]
  default_fallbacks: [gpt-4o-mini]
  max_fallbacks: 3
  allowed_fails: 2
  cooldown_time: 10
  redis_host: redis.internal
  redis_port: "6380"
  redis_password: os.environ/REDIS_PASSWORD
  max_retry_after: 2m
  backoff_initial: 500ms
  max_backoff: 30
  retry_budget: {ratio: 0.1, window: 30s}
  redis_key_prefix: "prod:"

litellm_settings:
  request_timeout: 600

general_settings:
  master_key: os.environ/MASTER_KEY

switchyard:
  listen: "0.0.0.0:8080"
  max_body_bytes: 8MiB
  log_format: json
  keys:
    - key: os.environ/TEAM_A_KEY
      name: team-a
      models: [gpt-4o, claude-sonnet]
      rpm: 100
      tpm: 50000
    - key: sk-team-b-0123456789abcdef
      name: team-b
"#;

fn full_env() -> impl Fn(&str) -> Option<String> {
    env_of(&[
        ("OPENAI_KEY_1", "sk-proj-openai-secret-1234567890wxyz"),
        ("TEAM_HEADER", "team-header-secret"),
        ("AZURE_KEY_EU", "azure-secret-0123456789abcdef0000"),
        ("REDIS_PASSWORD", "redis-secret-hunter2"),
        ("MASTER_KEY", "sk-master-secret-0123456789"),
        ("TEAM_A_KEY", "sk-team-a-secret-0123456789"),
        // Must not be sent to the vLLM server of `llama`.
        ("OPENAI_API_KEY", "sk-default-openai-key-0123456789"),
    ])
}

#[test]
fn a_full_litellm_config_loads() {
    let config = Config::from_yaml_str(&text(FULL), full_env()).unwrap_or_else(|e| panic!("{e}"));
    let d = &config.deployments;
    assert_eq!(d.len(), 5);
    assert_eq!(
        config.model_groups(),
        ["gpt-4o", "claude-sonnet", "llama", "gpt-4o-mini"]
    );

    assert_eq!(d[0].id, "gpt-4o-openai");
    let ProviderKind::OpenAi {
        model,
        api_base,
        api_key,
        organization,
    } = &d[0].provider
    else {
        panic!("openai expected: {:?}", d[0].provider);
    };
    assert_eq!(model, "gpt-4o");
    assert_eq!(api_base, &None);
    let key = api_key.as_ref().expect("key");
    assert_eq!(key.expose(), "sk-proj-openai-secret-1234567890wxyz");
    assert_eq!(
        key.source(),
        &SecretSource::Environment {
            var: "OPENAI_KEY_1".into()
        }
    );
    assert_eq!(organization.as_deref(), Some("org-123"));
    assert_eq!((d[0].rpm, d[0].tpm), (Some(600), Some(100_000)));
    assert_eq!(d[0].timeout, Some(Duration::from_secs(30)));
    assert_eq!(d[0].stream_timeout, Some(Duration::from_millis(2500)));
    assert_eq!(d[0].num_retries, Some(4));
    assert_eq!(d[0].extra_headers.len(), 1);
    assert_eq!(d[0].extra_headers[0].name, "X-Team");
    assert_eq!(d[0].metadata.get("mode"), Some(&serde_json::json!("chat")));
    assert_eq!(
        d[0].metadata.get("max_tokens"),
        Some(&serde_json::json!(4096))
    );

    assert_eq!(d[1].id, "gpt-4o/1", "generated id: model_name/index");
    let ProviderKind::Azure {
        deployment,
        api_base,
        api_version,
        api_key,
    } = &d[1].provider
    else {
        panic!("azure expected: {:?}", d[1].provider);
    };
    assert_eq!(deployment, "gpt-4o-eu");
    assert_eq!(
        api_base, "https://my-eu.openai.azure.com",
        "trailing slash dropped"
    );
    assert_eq!(api_version, "2024-10-21");
    assert!(api_key.is_some());
    assert_eq!(d[1].weight, Some(2.0));
    assert_eq!(d[1].cooldown_time, Some(Duration::from_secs(60)));

    let ProviderKind::Anthropic { model, api_key, .. } = &d[2].provider else {
        panic!("anthropic expected: {:?}", d[2].provider);
    };
    assert_eq!(model, "claude-sonnet-4-5");
    assert_eq!(
        api_key.as_ref().map(Secret::source),
        Some(&SecretSource::Inline)
    );
    assert_eq!(
        d[2].num_retries,
        Some(1),
        "max_retries is read as num_retries"
    );

    let ProviderKind::OpenAi {
        model,
        api_base,
        api_key,
        ..
    } = &d[3].provider
    else {
        panic!("openai-compatible expected: {:?}", d[3].provider);
    };
    assert_eq!(model, "meta-llama/Llama-3.1-8B-Instruct");
    assert_eq!(api_base.as_deref(), Some("http://localhost:8000/v1"));
    assert!(
        api_key.is_none(),
        "OPENAI_API_KEY must not go to a third-party server"
    );

    let ProviderKind::OpenAi { model, api_key, .. } = &d[4].provider else {
        panic!("a bare name is openai: {:?}", d[4].provider);
    };
    assert_eq!(model, "gpt-4o-mini");
    assert_eq!(
        api_key.as_ref().map(Secret::source),
        Some(&SecretSource::DefaultEnvironment {
            var: "OPENAI_API_KEY".into()
        })
    );

    let r = &config.router;
    assert_eq!(r.routing_strategy, RoutingStrategy::UsageBased);
    assert_eq!(r.num_retries, Some(3));
    assert_eq!(r.retry_after, Duration::from_secs(5));
    assert_eq!(
        r.timeout,
        Some(Duration::from_secs(60)),
        "router_settings.timeout wins over request_timeout"
    );
    assert_eq!(r.stream_timeout, Some(Duration::from_secs(15)));
    let policy = r.retry_policy.expect("retry policy");
    assert_eq!(policy.field_for(ErrorKind::Timeout), Some(5));
    assert_eq!(policy.field_for(ErrorKind::ContentPolicyViolation), Some(0));
    assert_eq!(policy.bad_request, None);
    assert_eq!(r.model_group_retry_policy["gpt-4o"].rate_limit, Some(10));
    assert_eq!(
        r.fallbacks.for_group("gpt-4o"),
        ["claude-sonnet", "gpt-4o-mini"]
    );
    assert_eq!(r.fallbacks.for_group("llama"), ["gpt-4o-mini"]);
    assert_eq!(
        r.fallbacks.for_group("claude-sonnet"),
        ["gpt-4o-mini"],
        "default_fallbacks"
    );
    assert!(
        r.fallbacks.for_group("gpt-4o-mini").is_empty(),
        "never its own default"
    );
    assert_eq!(
        r.context_window_fallbacks.for_group("gpt-4o-mini"),
        ["gpt-4o"]
    );
    assert_eq!(
        r.content_policy_fallbacks.for_group("claude-sonnet"),
        ["gpt-4o"]
    );
    assert_eq!(r.max_fallbacks, 3);
    assert_eq!(r.allowed_fails, 2);
    assert_eq!(r.cooldown_time, Duration::from_secs(10));
    assert_eq!(r.max_retry_after, Duration::from_secs(120));
    let backoff = r.backoff();
    assert_eq!(backoff.initial, Duration::from_millis(500));
    assert_eq!(backoff.max_backoff, Duration::from_secs(30));
    let budget = r.retry_budget.expect("budget");
    assert!((budget.ratio - 0.1).abs() < f64::EPSILON);
    assert_eq!(budget.window, Duration::from_secs(30));
    assert_eq!(
        budget.min_per_second,
        retry_core::RetryBudgetConfig::default().min_per_second
    );

    let redis = config.redis.as_ref().expect("redis");
    assert_eq!(redis.key_prefix, "prod:");
    let RedisConnection::Host {
        host,
        port,
        password,
        db,
    } = &redis.connection
    else {
        panic!("host expected: {:?}", redis.connection);
    };
    assert_eq!((host.as_str(), *port, *db), ("redis.internal", 6380, None));
    assert_eq!(
        password.as_ref().map(Secret::expose),
        Some("redis-secret-hunter2")
    );

    assert_eq!(
        config.auth.master_key.as_ref().map(Secret::expose),
        Some("sk-master-secret-0123456789")
    );
    assert_eq!(config.auth.keys.len(), 2);
    assert_eq!(config.auth.keys[0].name, "team-a");
    assert_eq!(config.auth.keys[0].models, ["gpt-4o", "claude-sonnet"]);
    assert_eq!(
        (config.auth.keys[0].rpm, config.auth.keys[0].tpm),
        (Some(100), Some(50_000))
    );
    assert!(config.auth.keys[1].models.is_empty());
    assert_eq!(config.server.listen_addr(), "0.0.0.0:8080");
    assert_eq!(config.server.max_body_bytes, 8 * 1024 * 1024);
    assert_eq!(config.server.log_format, LogFormat::Json);

    // Only the overlap warning: timeout is set in both sections.
    assert_eq!(config.warnings.len(), 1, "{:#?}", config.warnings);
    assert!(
        config.warnings[0].contains("timeout/request_timeout"),
        "{}",
        config.warnings[0]
    );
}

#[test]
fn debug_output_never_contains_a_secret() {
    let config = Config::from_yaml_str(&text(FULL), full_env()).unwrap_or_else(|e| panic!("{e}"));
    let debug = format!("{config:?}");
    let pretty = format!("{config:#?}");
    let summary = config.redacted_summary();
    for secret in [
        "sk-proj-openai-secret-1234567890wxyz",
        "team-header-secret",
        "azure-secret-0123456789abcdef0000",
        "sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
        "redis-secret-hunter2",
        "sk-master-secret-0123456789",
        "sk-team-a-secret-0123456789",
        "sk-team-b-0123456789abcdef",
        "sk-default-openai-key-0123456789",
    ] {
        assert!(!debug.contains(secret), "{secret} in Debug output");
        assert!(!pretty.contains(secret), "{secret} in pretty Debug output");
        assert!(!summary.contains(secret), "{secret} in the summary");
    }
    assert!(
        debug.contains("OPENAI_KEY_1"),
        "the source is shown: {debug}"
    );
    // The summary masks keys as prefix...last4 and names where they came from.
    assert!(
        summary.contains("sk-proj-...wxyz ($OPENAI_KEY_1)"),
        "{summary}"
    );
    assert!(summary.contains("sk-ant-...wxyz"), "{summary}");
    assert!(summary.contains("...0000 ($AZURE_KEY_EU)"), "{summary}");
    assert!(summary.contains("($OPENAI_API_KEY, default)"), "{summary}");
    assert!(
        summary.contains("redis.internal:6380 with password ***"),
        "{summary}"
    );
    assert!(summary.contains("gpt-4o-openai"), "{summary}");
    assert!(summary.contains("claude-sonnet -> gpt-4o"), "{summary}");
}

#[test]
fn short_secrets_are_fully_masked() {
    assert_eq!(Secret::new("sk-1234", SecretSource::Inline).masked(), "***");
    assert_eq!(
        Secret::new("sk-abcdefghijklmnop", SecretSource::Inline).masked(),
        "sk-...mnop"
    );
}

// ---------------------------------------------------------------------------------------
// Unknown keys and types

#[test]
fn unknown_router_key_names_path_line_and_suggestion() {
    let s = "
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: mock/gpt-4o
router_settings:
  num_retries: 2
  retry_polcy:
    TimeoutErrorRetries: 3
";
    let p = problem(s);
    assert_eq!(p.path, "router_settings.retry_polcy");
    assert_eq!((p.line, p.column), (7, 3));
    assert_eq!(
        p.kind,
        ProblemKind::UnknownKey {
            suggestion: Some("retry_policy".into())
        }
    );
    assert!(
        p.message.contains("did you mean `retry_policy`?"),
        "{}",
        p.message
    );
    let shown = load(s).expect_err("invalid").to_string();
    assert_eq!(
        shown,
        "line 7, column 3: router_settings.retry_polcy: unknown key; did you mean `retry_policy`? Rename it, or remove it"
    );
}

#[test]
fn unknown_key_in_a_list_item() {
    let s = "
model_list:
  - model_name: a
    litellm_params:
      model: mock/a
  - model_name: b
    litellm_params:
      model: mock/b
  - model_name: c
    litellm_params:
      modle: mock/c
";
    let all = problems(s);
    // The typo, and the missing `model` it causes.
    assert_eq!(all.len(), 2, "{all:#?}");
    let typo = all
        .iter()
        .find(|p| matches!(p.kind, ProblemKind::UnknownKey { .. }))
        .expect("unknown key");
    assert_eq!(typo.path, "model_list[2].litellm_params.modle");
    assert_eq!((typo.line, typo.column), (10, 7));
    assert_eq!(
        typo.kind,
        ProblemKind::UnknownKey {
            suggestion: Some("model".into())
        }
    );
    let missing = all
        .iter()
        .find(|p| p.kind == ProblemKind::MissingKey)
        .expect("missing");
    assert_eq!(missing.path, "model_list[2].litellm_params.model");
}

#[test]
fn unknown_key_without_a_close_match_lists_the_allowed_keys() {
    let s = "
model_list:
  - model_name: a
    litellm_params:
      model: mock/a
switchyard:
  completely_different: 1
";
    let p = problem(s);
    assert_eq!(p.path, "switchyard.completely_different");
    assert_eq!(p.kind, ProblemKind::UnknownKey { suggestion: None });
    assert!(
        p.message
            .contains("listen, max_body_bytes, log_format, worker_threads, runtime, keys"),
        "{}",
        p.message
    );
}

#[test]
fn unknown_top_level_key_and_retry_policy_field() {
    let s = "
model_list:
  - model_name: a
    litellm_params:
      model: mock/a
router_setings:
  num_retries: 1
";
    let p = problem(s);
    assert_eq!(p.path, "router_setings");
    assert_eq!(
        p.kind,
        ProblemKind::UnknownKey {
            suggestion: Some("router_settings".into())
        }
    );

    let s = "
model_list:
  - model_name: a
    litellm_params:
      model: mock/a
router_settings:
  retry_policy:
    TimeoutErrorRetry: 3
";
    let p = problem(s);
    assert_eq!(p.path, "router_settings.retry_policy.TimeoutErrorRetry");
    assert_at(&p, s, "TimeoutErrorRetry");
    assert_eq!(
        p.kind,
        ProblemKind::UnknownKey {
            suggestion: Some("TimeoutErrorRetries".into())
        }
    );
}

#[test]
fn wrong_types_name_the_key_and_the_expected_type() {
    let s = "
model_list:
  - model_name: a
    litellm_params:
      model: mock/a
      rpm: lots
router_settings:
  num_retries: [1, 2]
  fallbacks: gpt-4o
  retry_budget: maybe
";
    let all = problems(s);
    assert_eq!(all.len(), 4, "{all:#?}");
    assert_eq!(all[0].path, "model_list[0].litellm_params.rpm");
    assert_eq!(
        all[0].kind,
        ProblemKind::WrongType {
            expected: "a whole number"
        }
    );
    assert_at(&all[0], s, "lots");
    assert!(
        all[0].message.contains("found the string \"lots\""),
        "{}",
        all[0].message
    );
    assert_eq!(all[1].path, "router_settings.num_retries");
    assert_eq!(
        all[1].kind,
        ProblemKind::WrongType {
            expected: "a whole number"
        }
    );
    assert!(
        all[1].message.contains("found a list"),
        "{}",
        all[1].message
    );
    assert_eq!(all[2].path, "router_settings.fallbacks");
    assert!(matches!(all[2].kind, ProblemKind::WrongType { .. }));
    assert_eq!(all[3].path, "router_settings.retry_budget");
    assert_eq!(
        all[3].kind,
        ProblemKind::WrongType {
            expected: "true or false"
        }
    );
    // Every message says how to fix it.
    for p in &all {
        assert!(p.message.contains("; "), "no fix in: {}", p.message);
    }
}

#[test]
fn every_problem_is_reported_in_one_pass_sorted_by_line() {
    let s = "
model_list:
  - model_name: a
    litellm_params:
      model: mock/a
      tpm: -1
router_settings:
  cooldown_time: -3
  allowed_fails: nope
";
    let all = problems(s);
    let lines: Vec<u64> = all.iter().map(|p| p.line).collect();
    assert_eq!(lines, [5, 7, 8]);
    let shown = load(s).expect_err("invalid").to_string();
    assert!(
        shown.starts_with(
            "the config has 3 problems:\n  - line 5, column 12: model_list[0].litellm_params.tpm: "
        ),
        "{shown}"
    );
}

// ---------------------------------------------------------------------------------------
// Validation

#[test]
fn empty_or_missing_model_list() {
    let p = problem("model_list: []\n");
    assert_eq!((p.path.as_str(), p.line, p.column), ("model_list", 1, 13));
    assert!(p.message.starts_with("is empty"), "{}", p.message);

    let p = problem("router_settings:\n  num_retries: 1\n");
    assert_eq!(
        (p.path.as_str(), p.kind.clone()),
        ("model_list", ProblemKind::MissingKey)
    );
}

#[test]
fn a_model_name_without_deployment_params() {
    let s = "
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: mock/gpt-4o
  - model_name: orphan
";
    let p = problem(s);
    assert_eq!(p.path, "model_list[1].litellm_params");
    assert_eq!(p.kind, ProblemKind::MissingKey);
    assert_eq!(p.line, 5);
    assert!(
        p.message.contains("needs at least one deployment"),
        "{}",
        p.message
    );
}

#[test]
fn unknown_provider_prefixes() {
    let s = "
model_list:
  - model_name: a
    litellm_params:
      model: opneai/gpt-4o
";
    let p = problem(s);
    assert_eq!(p.path, "model_list[0].litellm_params.model");
    assert_at(&p, s, "opneai/");
    assert_eq!(
        p.kind,
        ProblemKind::UnknownProvider {
            provider: "opneai".into(),
            suggestion: Some("openai".into())
        }
    );
    assert!(
        p.message.contains("did you mean `openai/gpt-4o`?"),
        "{}",
        p.message
    );

    let p = problem(&MINIMAL.replace("mock/gpt-4o", "bedrock/anthropic.claude-v2"));
    assert!(
        matches!(&p.kind, ProblemKind::UnknownProvider { provider, suggestion: None } if provider == "bedrock")
    );
    assert!(
        p.message.contains("openai/, azure/, anthropic/, mock/"),
        "{}",
        p.message
    );

    let p = problem(&MINIMAL.replace("mock/gpt-4o", "hosted_vllm/llama"));
    assert!(
        p.message
            .contains("write `model: openai/llama` and set `api_base`"),
        "{}",
        p.message
    );

    let p = problem(&MINIMAL.replace("mock/gpt-4o", "openai/"));
    assert_eq!(p.kind, ProblemKind::InvalidValue);
}

#[test]
fn fallback_to_an_unknown_group() {
    let s = "
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: mock/gpt-4o
  - model_name: gpt-4o-mini
    litellm_params:
      model: mock/gpt-4o-mini
router_settings:
  fallbacks:
    - gpt-4o: [gpt-4o-mni]
";
    let p = problem(s);
    assert_eq!(p.path, "router_settings.fallbacks[0].gpt-4o[0]");
    assert_at(&p, s, "gpt-4o-mni");
    assert_eq!(
        p.kind,
        ProblemKind::UnknownGroup {
            group: "gpt-4o-mni".into(),
            suggestion: Some("gpt-4o-mini".into())
        }
    );
    assert!(
        p.message.contains("did you mean `gpt-4o-mini`?"),
        "{}",
        p.message
    );

    // The source group of an entry is checked too.
    let p = problem(&format!(
        "{MINIMAL}router_settings:\n  fallbacks: {{gpt-5: [gpt-4o]}}\n"
    ));
    assert_eq!(p.path, "router_settings.fallbacks.gpt-5");
    assert!(matches!(&p.kind, ProblemKind::UnknownGroup { group, .. } if group == "gpt-5"));
}

#[test]
fn a_group_falling_back_to_itself() {
    let s = "
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: mock/gpt-4o
litellm_settings:
  context_window_fallbacks: [{gpt-4o: [gpt-4o]}]
";
    let p = problem(s);
    assert_eq!(
        p.path,
        "litellm_settings.context_window_fallbacks[0].gpt-4o[0]"
    );
    assert_eq!(
        p.kind,
        ProblemKind::SelfFallback {
            group: "gpt-4o".into()
        }
    );
    assert_eq!(p.line, 6);
    assert!(p.message.contains("falls back to itself"), "{}", p.message);
}

#[test]
fn zero_total_weight_in_a_group() {
    let s = "
model_list:
  - model_name: g
    litellm_params:
      model: mock/a
      weight: 0
  - model_name: g
    litellm_params:
      model: mock/b
      weight: 0.0
  - model_name: other
    litellm_params:
      model: mock/c
      weight: 0
";
    let all = problems(s);
    assert_eq!(all.len(), 2, "{all:#?}");
    assert_eq!(all[0].kind, ProblemKind::ZeroWeight { group: "g".into() });
    assert_eq!(all[0].path, "model_list[0].litellm_params.weight");
    assert_eq!(all[0].line, 5);
    assert_eq!(
        all[1].kind,
        ProblemKind::ZeroWeight {
            group: "other".into()
        }
    );

    // One positive weight is enough.
    load_ok(
        &s.replace("weight: 0.0", "weight: 1")
            .replace("      weight: 0\n", ""),
    );
}

#[test]
fn negative_numbers_are_rejected() {
    let s = "
model_list:
  - model_name: g
    litellm_params:
      model: mock/a
      rpm: -5
      weight: -1
";
    let all = problems(s);
    assert_eq!(all.len(), 2, "{all:#?}");
    assert_eq!(all[0].path, "model_list[0].litellm_params.rpm");
    assert_eq!(all[0].kind, ProblemKind::InvalidValue);
    assert_at(&all[0], s, "-5");
    assert!(
        all[0].message.contains("must not be negative"),
        "{}",
        all[0].message
    );
    assert_eq!(all[1].path, "model_list[0].litellm_params.weight");
}

#[test]
fn api_base_must_be_a_url() {
    let s = "
model_list:
  - model_name: local
    litellm_params:
      model: openai/llama
      api_base: localhost:8000/v1
";
    let p = problem(s);
    assert_eq!(p.path, "model_list[0].litellm_params.api_base");
    assert_eq!(p.kind, ProblemKind::InvalidValue);
    assert_at(&p, s, "localhost:8000");
    assert!(p.message.contains("is not an http(s) URL"), "{}", p.message);
}

#[test]
fn azure_needs_api_base_and_api_version() {
    let s = "
model_list:
  - model_name: g
    litellm_params:
      model: azure/my-deployment
      api_key: abc
";
    let p = problem(s);
    assert_eq!(p.path, "model_list[0].litellm_params.model");
    assert_eq!(p.kind, ProblemKind::MissingKey);
    assert_eq!(p.line, 4);
    assert!(
        p.message.contains("has no api_base and api_version"),
        "{}",
        p.message
    );

    // LiteLLM's environment variables fill them in.
    let env = env_of(&[
        ("AZURE_API_BASE", "https://r.openai.azure.com"),
        ("AZURE_API_VERSION", "2024-10-21"),
        ("AZURE_API_KEY", "azure-default-key-123456"),
    ]);
    let config =
        Config::from_yaml_str(&text(s).replace("      api_key: abc\n", ""), env).expect("valid");
    let ProviderKind::Azure {
        api_base,
        api_version,
        api_key,
        ..
    } = &config.deployments[0].provider
    else {
        panic!("azure expected");
    };
    assert_eq!(
        (api_base.as_str(), api_version.as_str()),
        ("https://r.openai.azure.com", "2024-10-21")
    );
    assert_eq!(
        api_key.as_ref().map(Secret::source),
        Some(&SecretSource::DefaultEnvironment {
            var: "AZURE_API_KEY".into()
        })
    );
}

#[test]
fn duplicate_deployment_ids() {
    let s = "
model_list:
  - model_name: a
    litellm_params:
      model: mock/a
    model_info:
      id: shared
  - model_name: b
    litellm_params:
      model: mock/b
    model_info:
      id: shared
";
    let p = problem(s);
    assert_eq!(p.path, "model_list[1].model_info.id");
    assert_eq!(
        p.kind,
        ProblemKind::DuplicateId {
            id: "shared".into()
        }
    );
    assert_eq!(p.line, 11);
    assert!(
        p.message
            .contains("already used by model_list[0].model_info.id (line 6)"),
        "{}",
        p.message
    );
}

#[test]
fn provider_only_settings_on_the_wrong_provider() {
    let p = problem(&MINIMAL.replace("mock/gpt-4o", "anthropic/claude\n      organization: org-1"));
    assert_eq!(p.path, "model_list[0].litellm_params.organization");
    assert!(
        p.message.contains("applies only to openai/"),
        "{}",
        p.message
    );

    let p = problem(&MINIMAL.replace("mock/gpt-4o", "openai/gpt-4o\n      mock_failure_rate: 0.5"));
    assert_eq!(p.path, "model_list[0].litellm_params.mock_failure_rate");
}

// ---------------------------------------------------------------------------------------
// Keys from the environment

#[test]
fn os_environ_values_are_read_at_load_time() {
    let s = "
model_list:
  - model_name: g
    litellm_params:
      model: openai/gpt-4o
      api_base: os.environ/MY_BASE
      api_key: os.environ/MY_KEY
      rpm: os.environ/MY_RPM
      timeout: os.environ/MY_TIMEOUT
";
    let env = env_of(&[
        ("MY_BASE", "https://proxy.example.com/v1"),
        ("MY_KEY", "sk-from-env-0123456789"),
        ("MY_RPM", "120"),
        ("MY_TIMEOUT", "1m"),
    ]);
    let config = Config::from_yaml_str(&text(s), env).expect("valid");
    let d = &config.deployments[0];
    assert_eq!(d.provider.api_base(), Some("https://proxy.example.com/v1"));
    assert_eq!(
        d.provider.api_key().map(Secret::expose),
        Some("sk-from-env-0123456789")
    );
    assert_eq!(d.rpm, Some(120));
    assert_eq!(d.timeout, Some(Duration::from_secs(60)));
}

#[test]
fn a_missing_environment_variable_names_the_key_and_the_variable() {
    let s = "
model_list:
  - model_name: g
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/MISSING_KEY
";
    let p = problem(s);
    assert_eq!(p.path, "model_list[0].litellm_params.api_key");
    assert_eq!(
        p.kind,
        ProblemKind::MissingEnvVar {
            var: "MISSING_KEY".into()
        }
    );
    assert_at(&p, s, "os.environ/MISSING_KEY");
    assert!(
        p.message
            .contains("environment variable `MISSING_KEY` is not set"),
        "{}",
        p.message
    );
    assert!(p.message.contains("export it"), "{}", p.message);

    let p = problem(&format!(
        "{MINIMAL}general_settings:\n  master_key: os.environ/\n"
    ));
    assert_eq!(p.path, "general_settings.master_key");
    assert_eq!(p.kind, ProblemKind::InvalidValue);
}

#[test]
fn provider_keys_default_to_their_usual_variables() {
    let s = "
model_list:
  - model_name: gpt
    litellm_params:
      model: gpt-4o
  - model_name: claude
    litellm_params:
      model: claude-sonnet-4-5
";
    let env = env_of(&[("ANTHROPIC_API_KEY", "sk-ant-default-0123456789")]);
    let config = Config::from_yaml_str(&text(s), env).expect("keys are optional");
    assert!(config.deployments[0].provider.api_key().is_none());
    assert_eq!(
        config.deployments[1].provider.name(),
        "anthropic",
        "bare claude-* is anthropic"
    );
    assert_eq!(
        config.deployments[1].provider.api_key().map(Secret::source),
        Some(&SecretSource::DefaultEnvironment {
            var: "ANTHROPIC_API_KEY".into()
        })
    );
    assert_eq!(config.warnings.len(), 1, "{:#?}", config.warnings);
    assert!(
        config.warnings[0].contains("OPENAI_API_KEY is not set"),
        "{}",
        config.warnings[0]
    );
    assert!(
        config.warnings[0].starts_with("model_list[0] (model_name `gpt`)"),
        "{}",
        config.warnings[0]
    );
}

#[test]
fn master_key_falls_back_to_litellm_master_key() {
    let env = env_of(&[("LITELLM_MASTER_KEY", "sk-litellm-master-0123")]);
    let config = Config::from_yaml_str(&text(MINIMAL), env).expect("valid");
    let key = config.auth.master_key.expect("master key");
    assert_eq!(
        key.source(),
        &SecretSource::DefaultEnvironment {
            var: "LITELLM_MASTER_KEY".into()
        }
    );
}

// ---------------------------------------------------------------------------------------
// Durations

fn duration_of(value: &str) -> Result<Duration, Problem> {
    let s = format!("{MINIMAL}router_settings:\n  cooldown_time: {value}\n");
    match Config::from_yaml_str(&text(&s), |_| None) {
        Ok(config) => Ok(config.router.cooldown_time),
        Err(err) => Err(err.problems()[0].clone()),
    }
}

#[test]
fn durations_take_seconds_and_humantime_strings() {
    let ok = |v: &str| duration_of(v).unwrap_or_else(|p| panic!("{v}: {p}"));
    assert_eq!(ok("30"), Duration::from_secs(30));
    assert_eq!(ok("0.25"), Duration::from_millis(250));
    assert_eq!(ok("0"), Duration::ZERO);
    assert_eq!(ok("\"250ms\""), Duration::from_millis(250));
    assert_eq!(ok("1m 30s"), Duration::from_secs(90));
    assert_eq!(ok("\"2\""), Duration::from_secs(2));
    assert_eq!(ok("2h"), Duration::from_secs(7200));
}

#[test]
fn bad_durations_are_errors() {
    for (value, expect) in [
        ("-1", "must not be negative"),
        ("-0.5", "must not be negative"),
        ("\"-5s\"", "must not be negative"),
        (".nan", "is NaN"),
        (".inf", "too long"),
        ("soon", "is not a duration"),
        ("[1]", "expected a duration"),
    ] {
        let p = duration_of(value).expect_err(value);
        assert_eq!(p.path, "router_settings.cooldown_time", "{value}");
        assert_eq!(p.line, 6, "{value}");
        assert!(p.message.contains(expect), "{value}: {}", p.message);
        assert!(
            p.message.contains("\"250ms\""),
            "the fix shows the accepted forms: {}",
            p.message
        );
    }
    // An attempt limit of zero would fail every call.
    let p = problem(&format!("{MINIMAL}router_settings:\n  timeout: 0\n"));
    assert_eq!(p.path, "router_settings.timeout");
    assert!(p.message.contains("is 0"), "{}", p.message);
}

// ---------------------------------------------------------------------------------------
// Warnings and merge rules

#[test]
fn unsupported_litellm_keys_are_one_warning() {
    let s = "
model_list:
  - model_name: g
    litellm_params:
      model: mock/g
      drop_params: true
litellm_settings:
  drop_params: true
  success_callback: [langfuse]
  cache: true
  cache_params:
    type: redis
general_settings:
  master_key: sk-1234
  database_url: postgres://x
router_settings:
  enable_pre_call_checks: true
environment_variables:
  FOO: bar
";
    let config = load_ok(s);
    assert_eq!(config.warnings.len(), 1, "{:#?}", config.warnings);
    let w = &config.warnings[0];
    for item in [
        "model_list[0].litellm_params.drop_params (line 5)",
        "litellm_settings.drop_params (line 7)",
        "litellm_settings.success_callback (line 8)",
        "litellm_settings.cache (line 9)",
        "litellm_settings.cache_params (line 10)",
        "general_settings.database_url (line 14)",
        "router_settings.enable_pre_call_checks (line 16)",
        "environment_variables (line 17)",
    ] {
        assert!(w.contains(item), "`{item}` missing from: {w}");
    }
    assert!(
        w.starts_with("ignoring 8 LiteLLM settings that switchyard does not support"),
        "{w}"
    );
}

#[test]
fn router_settings_win_over_litellm_settings() {
    let s = "
model_list:
  - model_name: a
    litellm_params:
      model: mock/a
  - model_name: b
    litellm_params:
      model: mock/b
litellm_settings:
  num_retries: 5
  request_timeout: 20
  allowed_fails: 7
  fallbacks: [{a: [b]}]
router_settings:
  num_retries: 1
  cooldown_time: 2
";
    let config = load_ok(s);
    let r = &config.router;
    assert_eq!(r.num_retries, Some(1), "router_settings wins");
    assert_eq!(
        r.timeout,
        Some(Duration::from_secs(20)),
        "litellm_settings.request_timeout is the attempt timeout"
    );
    assert_eq!(
        r.allowed_fails, 7,
        "litellm_settings applies when router_settings is silent"
    );
    assert_eq!(r.cooldown_time, Duration::from_secs(2));
    assert_eq!(r.fallbacks.for_group("a"), ["b"]);
    assert_eq!(config.warnings.len(), 1);
    assert!(
        config.warnings[0].contains("both set num_retries;"),
        "{}",
        config.warnings[0]
    );
}

#[test]
fn defaults_when_nothing_is_set() {
    let config = load_ok(MINIMAL);
    assert_eq!(config.router, RouterSettings::default());
    assert_eq!(config.router.max_fallbacks, 5);
    assert_eq!(config.router.allowed_fails, 3);
    assert_eq!(config.router.cooldown_time, Duration::from_secs(5));
    assert_eq!(config.router.num_retries, None);
    assert_eq!(config.server, ServerSettings::default());
    assert_eq!(config.server.listen_addr(), "127.0.0.1:4000");
    assert!(!config.auth.is_enabled());
    assert!(config.redis.is_none());
    assert!(config.warnings.is_empty(), "{:#?}", config.warnings);
}

// ---------------------------------------------------------------------------------------
// Fallback shapes, strategies, policies

#[test]
fn fallback_lists_take_both_shapes_and_a_default() {
    let groups = "
model_list:
  - model_name: a
    litellm_params: {model: mock/a}
  - model_name: b
    litellm_params: {model: mock/b}
  - model_name: c
    litellm_params: {model: mock/c}
";
    let litellm_shape = load_ok(&format!(
        "{groups}router_settings:\n  fallbacks: [{{\"a\": [\"b\", \"c\"]}}, {{\"*\": [\"c\"]}}]\n"
    ));
    let map_shape = load_ok(&format!(
        "{groups}router_settings:\n  fallbacks:\n    a: [b, c]\n  default_fallbacks: c\n"
    ));
    assert_eq!(litellm_shape.router.fallbacks, map_shape.router.fallbacks);
    let fb = &map_shape.router.fallbacks;
    assert_eq!(fb.for_group("a"), ["b", "c"]);
    assert_eq!(fb.for_group("b"), ["c"]);
    assert!(fb.for_group("c").is_empty());

    let p = problem(&format!(
        "{groups}router_settings:\n  fallbacks: [{{\"*\": [c]}}]\n  default_fallbacks: [b]\n"
    ));
    assert_eq!(
        (p.path.as_str(), p.kind.clone()),
        ("router_settings.default_fallbacks", ProblemKind::Conflict)
    );

    let p = problem(&format!(
        "{groups}router_settings:\n  fallbacks: [{{a: [b]}}, {{a: [c]}}]\n"
    ));
    assert_eq!(
        (p.path.as_str(), p.kind.clone()),
        ("router_settings.fallbacks[1].a", ProblemKind::Conflict)
    );
}

#[test]
fn routing_strategies_and_their_aliases() {
    for (name, want) in [
        ("simple-shuffle", RoutingStrategy::SimpleShuffle),
        ("least-busy", RoutingStrategy::LeastBusy),
        ("latency-based-routing", RoutingStrategy::LatencyBased),
        ("usage-based-routing", RoutingStrategy::UsageBased),
        ("usage-based-routing-v2", RoutingStrategy::UsageBased),
        ("power-of-two", RoutingStrategy::PowerOfTwo),
    ] {
        let config = load_ok(&format!(
            "{MINIMAL}router_settings:\n  routing_strategy: {name}\n"
        ));
        assert_eq!(config.router.routing_strategy, want, "{name}");
    }
    let p = problem(&format!(
        "{MINIMAL}router_settings:\n  routing_strategy: least_busy\n"
    ));
    assert_eq!(p.path, "router_settings.routing_strategy");
    assert!(
        p.message.contains("did you mean `least-busy`?"),
        "{}",
        p.message
    );
}

#[test]
fn retry_policy_field_names_match_retry_cores_serde() {
    for name in keys::RETRY_POLICY.keys {
        let policy: RetryPolicy = serde_json::from_str(&format!("{{\"{name}\": 1}}"))
            .unwrap_or_else(|e| panic!("{name} is not a RetryPolicy field: {e}"));
        assert_ne!(policy, RetryPolicy::default(), "{name}");
    }
    let full = RetryPolicy {
        timeout: Some(1),
        rate_limit: Some(1),
        internal_server: Some(1),
        bad_request: Some(1),
        authentication: Some(1),
        content_policy_violation: Some(1),
        unsupported_params: Some(1),
        service_unavailable: Some(1),
        not_found: Some(1),
        context_window_exceeded: Some(1),
    };
    let json = serde_json::to_value(full).expect("serializes");
    let mut names: Vec<&str> = json
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut ours = keys::RETRY_POLICY.keys.to_vec();
    names.sort_unstable();
    ours.sort_unstable();
    assert_eq!(
        names, ours,
        "keys.rs must list exactly RetryPolicy's fields"
    );
}

#[test]
fn model_group_retry_policy_names_known_groups() {
    let s = format!(
        "{MINIMAL}router_settings:\n  model_group_retry_policy:\n    gpt-4:\n      TimeoutErrorRetries: 1\n"
    );
    let p = problem(&s);
    assert_eq!(p.path, "router_settings.model_group_retry_policy.gpt-4");
    assert_eq!(p.line, 7);
    assert!(
        matches!(&p.kind, ProblemKind::UnknownGroup { suggestion: Some(s), .. } if s == "gpt-4o")
    );
}

// ---------------------------------------------------------------------------------------
// Mock, redis, server, keys

#[test]
fn mock_failures_and_mock_response_on_a_real_provider() {
    let s = "
model_list:
  - model_name: flaky
    litellm_params:
      model: mock/flaky
      mock_failure_kind: rate_limit
  - model_name: canned
    litellm_params:
      model: openai/gpt-4o
      mock_response: hi there
";
    let config = load_ok(s);
    let ProviderKind::Mock { failure, .. } = &config.deployments[0].provider else {
        panic!("mock expected");
    };
    assert_eq!(
        *failure,
        Some(MockFailure {
            rate: 1.0,
            kind: ErrorKind::RateLimit
        }),
        "a kind without a rate always fails"
    );
    let ProviderKind::Mock {
        model, response, ..
    } = &config.deployments[1].provider
    else {
        panic!("mock_response makes a mock, as in LiteLLM");
    };
    assert_eq!(
        (model.as_str(), response.as_deref()),
        ("gpt-4o", Some("hi there"))
    );
    assert!(
        config.warnings[0].contains("never calls openai"),
        "{:?}",
        config.warnings
    );

    let p = problem(&MINIMAL.replace("mock/gpt-4o", "mock/x\n      mock_failure_rate: 1.5"));
    assert!(p.message.contains("from 0 to 1"), "{}", p.message);
    let p = problem(&MINIMAL.replace("mock/gpt-4o", "mock/x\n      mock_failure_kind: ratelimit"));
    assert!(
        p.message.contains("did you mean `rate_limit`?"),
        "{}",
        p.message
    );
}

#[test]
fn redis_settings() {
    let with = |extra: &str| format!("{MINIMAL}router_settings:\n{extra}");
    let config = Config::from_yaml_str(
        &text(&with("  redis_url: os.environ/REDIS_URL\n")),
        env_of(&[("REDIS_URL", "redis://:pw-secret@cache:6379/2")]),
    )
    .expect("valid");
    let redis = config.redis.as_ref().expect("redis");
    assert!(
        matches!(&redis.connection, RedisConnection::Url(u) if u.expose() == "redis://:pw-secret@cache:6379/2")
    );
    assert_eq!(redis.key_prefix, DEFAULT_REDIS_KEY_PREFIX);
    let summary = config.redacted_summary();
    assert!(summary.contains("redis://***@cache:6379/2"), "{summary}");
    assert!(!summary.contains("pw-secret"));

    let p = problem(&with("  redis_url: redis://cache\n  redis_host: cache\n"));
    assert_eq!(
        (p.path.as_str(), p.kind.clone()),
        ("router_settings.redis_host", ProblemKind::Conflict)
    );
    let p = problem(&with("  redis_port: 6379\n"));
    assert_eq!(
        (p.path.as_str(), p.kind.clone()),
        ("router_settings.redis_port", ProblemKind::MissingKey)
    );
    let p = problem(&with("  redis_url: http://cache\n"));
    assert_eq!(p.path, "router_settings.redis_url");
    let p = problem(&with("  redis_host: h\n  redis_port: 70000\n"));
    assert_eq!(p.path, "router_settings.redis_port");
}

#[test]
fn listen_addresses_and_body_sizes() {
    let server = |extra: &str| load_ok(&format!("{MINIMAL}switchyard:\n{extra}")).server;
    assert_eq!(server("  listen: 8080\n").listen_addr(), "127.0.0.1:8080");
    assert_eq!(
        server("  listen: \"[::1]:4001\"\n").listen_addr(),
        "[::1]:4001"
    );
    assert_eq!(
        server("  listen: {host: 0.0.0.0}\n").listen_addr(),
        "0.0.0.0:4000"
    );
    assert_eq!(server("  max_body_bytes: 1024\n").max_body_bytes, 1024);
    assert_eq!(
        server("  max_body_bytes: 512KiB\n").max_body_bytes,
        512 * 1024
    );
    assert_eq!(
        server("  max_body_bytes: 10 MB\n").max_body_bytes,
        10_000_000
    );
    let p = problem(&format!("{MINIMAL}switchyard:\n  listen: localhost\n"));
    assert_eq!(p.path, "switchyard.listen");
    let p = problem(&format!(
        "{MINIMAL}switchyard:\n  max_body_bytes: 4 parsecs\n"
    ));
    assert_eq!(p.path, "switchyard.max_body_bytes");
    // LiteLLM's max_request_size_mb applies when switchyard does not say.
    let config = load_ok(&format!(
        "{MINIMAL}general_settings:\n  max_request_size_mb: 2\n"
    ));
    assert_eq!(config.server.max_body_bytes, 2 * 1024 * 1024);
}

#[test]
fn worker_threads_default_to_one_per_cpu_and_must_be_at_least_one() {
    let server = |extra: &str| load_ok(&format!("{MINIMAL}switchyard:\n{extra}")).server;
    assert_eq!(load_ok(MINIMAL).server.worker_threads, None);
    assert_eq!(server("  worker_threads: 1\n").worker_threads, Some(1));
    assert_eq!(server("  worker_threads: 8\n").worker_threads, Some(8));
    for bad in ["0", "-2", "lots", "100000"] {
        let config = format!("{MINIMAL}switchyard:\n  worker_threads: {bad}\n");
        let p = problem(&config);
        assert_eq!(p.path, "switchyard.worker_threads", "{bad}");
        assert_at(&p, &config, bad);
    }
    let p = problem(&format!("{MINIMAL}switchyard:\n  worker_threads: 0\n"));
    assert!(p.message.contains("at least 1"), "{}", p.message);
}

#[test]
fn runtime_is_per_core_unless_work_stealing_is_asked_for() {
    let server = |extra: &str| load_ok(&format!("{MINIMAL}switchyard:\n{extra}")).server;
    assert_eq!(load_ok(MINIMAL).server.runtime, RuntimeKind::PerCore);
    assert_eq!(
        server("  runtime: per_core\n").runtime,
        RuntimeKind::PerCore
    );
    assert_eq!(
        server("  runtime: work_stealing\n").runtime,
        RuntimeKind::WorkStealing
    );
    let config = format!("{MINIMAL}switchyard:\n  runtime: multi_thread\n");
    let p = problem(&config);
    assert_eq!(p.path, "switchyard.runtime");
    assert_at(&p, &config, "multi_thread");
    assert!(
        p.message.contains("per_core") && p.message.contains("work_stealing"),
        "{}",
        p.message
    );
}

#[test]
fn an_open_proxy_on_the_network_is_a_warning() {
    let config = load_ok(&format!("{MINIMAL}switchyard:\n  listen: 0.0.0.0:4000\n"));
    assert_eq!(config.warnings.len(), 1);
    assert!(
        config.warnings[0].contains("anyone who can reach it"),
        "{}",
        config.warnings[0]
    );
}

#[test]
fn static_keys_are_checked() {
    let s = "
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: mock/gpt-4o
general_settings:
  master_key: sk-master-0123456789
switchyard:
  keys:
    - key: sk-one-0123456789
      name: one
      models: [gpt-40]
    - key: sk-one-0123456789
      name: two
    - key: sk-master-0123456789
    - key: sk-three-0123456789
      name: one
";
    let all = problems(s);
    assert_eq!(all.len(), 4, "{all:#?}");
    assert_eq!(all[0].path, "switchyard.keys[0].models[0]");
    assert!(
        matches!(&all[0].kind, ProblemKind::UnknownGroup { suggestion: Some(g), .. } if g == "gpt-4o")
    );
    assert_eq!(all[1].path, "switchyard.keys[1].key");
    assert!(
        all[1]
            .message
            .contains("same key as switchyard.keys[0].key (line 9)"),
        "{}",
        all[1].message
    );
    assert_eq!(all[2].path, "switchyard.keys[2].key");
    assert!(all[2].message.contains("master key"), "{}", all[2].message);
    assert_eq!(all[3].path, "switchyard.keys[3].name");
    for p in &all {
        assert!(
            !p.message.contains("sk-"),
            "a key leaked into: {}",
            p.message
        );
    }
}

// ---------------------------------------------------------------------------------------
// Syntax, files, demo, docs

#[test]
fn yaml_syntax_errors_and_duplicate_keys() {
    let p = problem("model_list:\n  - model_name: a\n model_name: b\n");
    assert_eq!(p.kind, ProblemKind::Syntax);
    assert_eq!(p.line, 3);
    assert!(
        p.message.starts_with("the file is not valid YAML"),
        "{}",
        p.message
    );

    let p = problem(&format!(
        "{MINIMAL}router_settings:\n  num_retries: 1\n  num_retries: 2\n"
    ));
    assert_eq!(p.kind, ProblemKind::Syntax);
    assert_eq!(p.line, 7);
    assert_eq!(
        p.message,
        "key `num_retries` appears twice in the same mapping; keep one of them"
    );
}

#[test]
fn load_names_the_file() {
    let dir = std::env::temp_dir().join(format!("switchyard-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("config.yaml");
    std::fs::write(&path, "model_list: []\n").expect("write");
    let err = Config::load_with_env(&path, |_| None).expect_err("empty model_list");
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("{}:1:13: model_list: is empty", path.display())),
        "{shown}"
    );
    std::fs::write(&path, text(MINIMAL)).expect("write");
    let config = Config::load_with_env(&path, |_| None).expect("valid");
    assert_eq!(config.deployments.len(), 1);

    let missing = dir.join("nope.yaml");
    let err = Config::load(&missing).expect_err("no file");
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(err.to_string().contains("nope.yaml"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_demo_config_loads_with_flaky_and_failing_mocks() {
    let demo = Config::demo();
    assert!(demo.warnings.is_empty(), "{:#?}", demo.warnings);
    assert_eq!(
        demo.model_groups(),
        ["gpt-4o", "claude-sonnet", "always-down"]
    );
    assert!(
        demo.deployments
            .iter()
            .all(|d| matches!(d.provider, ProviderKind::Mock { .. }))
    );
    assert_eq!(demo.deployments_in("gpt-4o").count(), 2);
    let failures: Vec<Option<MockFailure>> = demo
        .deployments
        .iter()
        .map(|d| match &d.provider {
            ProviderKind::Mock { failure, .. } => *failure,
            _ => None,
        })
        .collect();
    assert_eq!(failures[0], None);
    assert_eq!(
        failures[1],
        Some(MockFailure {
            rate: 0.3,
            kind: ErrorKind::RateLimit
        })
    );
    assert_eq!(
        failures[3],
        Some(MockFailure {
            rate: 1.0,
            kind: ErrorKind::ServiceUnavailable
        })
    );
    assert_eq!(demo.router.fallbacks.for_group("always-down"), ["gpt-4o"]);
    assert!(demo.router.retry_policy.is_some());
    assert!(!demo.auth.is_enabled());
    assert_eq!(demo.server.listen_addr(), "127.0.0.1:4000");
    assert!(demo.redacted_summary().contains("always-down-mock"));
}

#[test]
fn the_reference_documents_every_key() {
    let doc_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
    let doc = std::fs::read_to_string(doc_path).expect("docs/configuration.md exists");
    let mut missing = Vec::new();
    for section in keys::ALL {
        for key in section.keys.iter().chain(section.unsupported) {
            if !doc.contains(&format!("`{key}`")) {
                missing.push(format!("{key} ({})", section.name));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/configuration.md does not mention: {}",
        missing.join(", ")
    );
}

#[test]
fn the_reference_example_loads() {
    let doc_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
    let doc = std::fs::read_to_string(doc_path).expect("docs/configuration.md exists");
    let after = doc
        .split_once("## A complete example")
        .expect("the example section")
        .1;
    let example = after
        .split_once("```yaml\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("a yaml block")
        .0;
    let env = env_of(&[
        ("OPENAI_API_KEY", "sk-openai-0123456789abcdef"),
        ("AZURE_API_KEY_EU", "azure-0123456789abcdef"),
        ("ANTHROPIC_API_KEY", "sk-ant-0123456789abcdef"),
        ("REDIS_URL", "redis://cache:6379"),
        ("SWITCHYARD_MASTER_KEY", "sk-master-0123456789"),
        ("TEAM_A_KEY", "sk-team-a-0123456789"),
    ]);
    let config = Config::from_yaml_str(example, env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.deployments.len(), 4);
    assert!(config.warnings.is_empty(), "{:#?}", config.warnings);
}

/// `examples/config.yaml` is what release archives ship as `config.example.yaml`
/// (`cargo xtask dist`): it must load, given a value for each `os.environ/` variable it names.
#[test]
fn the_example_config_that_releases_ship_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/config.yaml");
    let Ok(yaml) = std::fs::read_to_string(&path) else {
        // A packaged copy of this crate has no examples/ directory: nothing to check.
        return;
    };
    let named = |name: &str| yaml.contains(&format!("os.environ/{name}"));
    let config = Config::load_with_env(&path, |name| {
        named(name).then(|| format!("placeholder-{name}"))
    })
    .unwrap_or_else(|err| panic!("examples/config.yaml does not load:\n{err}"));
    assert!(config.warnings.is_empty(), "{:#?}", config.warnings);
    let summary = config.redacted_summary();
    for provider in ["openai", "azure", "anthropic"] {
        assert!(
            summary.contains(provider),
            "no {provider} deployment:\n{summary}"
        );
    }
    assert!(
        !summary.contains("placeholder-"),
        "the summary shows a secret:\n{summary}"
    );
}
