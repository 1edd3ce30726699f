//! Unit tests of the client: model strings, keys, per-call retries and fallbacks.

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures::StreamExt;
use mock::{MockProvider, MockStep};
use provider::{EmbeddingsRequest, ErrorKind, Message};
use router::{FailureReason, RequestOptions};

use crate::{
    Client, ClientBuilder, Error,
    model::{ModelSpec, ProviderKind},
};

fn hello() -> [Message; 1] {
    [Message::user("Hello!")]
}

/// A client that sees no environment at all, so tests never depend on the machine's keys.
fn isolated() -> ClientBuilder {
    Client::builder().env(|_| None)
}

/// A client with the given variables as its whole environment.
fn with_env(vars: &[(&str, &str)]) -> ClientBuilder {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Client::builder().env(move |name| vars.get(name).cloned())
}

fn failing(kind: ErrorKind) -> MockProvider {
    MockProvider::builder("down")
        .always_fail(kind)
        .build()
        .expect("valid mock")
}

#[test]
fn model_strings_name_their_provider_and_model() {
    let cases = [
        ("openai/gpt-4o", ProviderKind::OpenAi, "gpt-4o"),
        ("gpt-4o", ProviderKind::OpenAi, "gpt-4o"),
        ("gpt-3.5-turbo", ProviderKind::OpenAi, "gpt-3.5-turbo"),
        (
            "azure/my-gpt4-eastus",
            ProviderKind::Azure,
            "my-gpt4-eastus",
        ),
        (
            "anthropic/claude-sonnet-4-5",
            ProviderKind::Anthropic,
            "claude-sonnet-4-5",
        ),
        (
            "claude-3-5-haiku-latest",
            ProviderKind::Anthropic,
            "claude-3-5-haiku-latest",
        ),
        ("mock/demo", ProviderKind::Mock, "demo"),
        // The provider is the part before the first slash; the rest is the upstream's model.
        (
            "openai/meta-llama/Llama-3.1-8B-Instruct",
            ProviderKind::OpenAi,
            "meta-llama/Llama-3.1-8B-Instruct",
        ),
    ];
    for (input, provider, model) in cases {
        let spec = ModelSpec::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(spec.provider, provider, "{input}");
        assert_eq!(spec.model, model, "{input}");
    }
    assert_eq!(
        ModelSpec::parse("gpt-4o").expect("valid").to_string(),
        "openai/gpt-4o"
    );
}

#[test]
fn bad_model_strings_say_what_is_wrong() {
    for input in ["", " gpt-4o", "gpt-4o\n", "openai/", "mock/ x", "azure/"] {
        let err = ModelSpec::parse(input).expect_err(input);
        assert!(
            matches!(err, Error::InvalidModel { .. }),
            "{input}: {err:?}"
        );
    }
    let err = ModelSpec::parse("bedrock/claude-v2").expect_err("unknown prefix");
    match &err {
        Error::UnknownProvider { provider, model } => {
            assert_eq!(provider, "bedrock");
            assert_eq!(model, "bedrock/claude-v2");
        }
        other => panic!("{other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("`bedrock`") && message.contains("openai/"),
        "{message}"
    );
    // A name with a slash and no known prefix is an unknown provider, not OpenAI's.
    assert!(matches!(
        ModelSpec::parse("meta-llama/Llama-3.1-8B"),
        Err(Error::UnknownProvider { .. })
    ));
}

#[tokio::test]
async fn a_missing_key_names_the_variable_before_any_call() {
    let client = isolated().build().expect("valid client");
    let cases = [
        ("gpt-4o", "openai", "OPENAI_API_KEY"),
        ("openai/gpt-4o", "openai", "OPENAI_API_KEY"),
        ("azure/my-deployment", "azure", "AZURE_API_KEY"),
        (
            "anthropic/claude-sonnet-4-5",
            "anthropic",
            "ANTHROPIC_API_KEY",
        ),
        ("claude-sonnet-4-5", "anthropic", "ANTHROPIC_API_KEY"),
    ];
    for (model, want_provider, want_var) in cases {
        let err = client
            .completion(model, hello())
            .await
            .expect_err("no key anywhere");
        match &err {
            Error::MissingKey { provider, env_var } => {
                assert_eq!((*provider, *env_var), (want_provider, want_var), "{model}");
            }
            other => panic!("{model}: {other:?}"),
        }
        assert_eq!(err.kind(), None, "a configuration error was never sent");
        let message = err.to_string();
        assert!(message.contains(want_var), "{message}");
        assert!(
            message.contains(&format!("ClientBuilder::{}", want_var.to_ascii_lowercase())),
            "{message}"
        );
    }
}

#[test]
fn azure_needs_its_endpoint_too() {
    let client = with_env(&[("AZURE_API_KEY", "azure-secret-123")])
        .build()
        .expect("valid client");
    let err = client.preload(["azure/gpt4"]).expect_err("no endpoint");
    assert!(
        matches!(
            err,
            Error::MissingApiBase {
                provider: "azure",
                env_var: "AZURE_API_BASE"
            }
        ),
        "{err:?}"
    );
    let client = with_env(&[
        ("AZURE_API_KEY", "azure-secret-123"),
        ("AZURE_API_BASE", "https://example.openai.azure.com"),
        ("AZURE_API_VERSION", "2024-10-21"),
    ])
    .build()
    .expect("valid client");
    client
        .preload(["azure/gpt4"])
        .expect("key and endpoint set");
}

#[test]
fn keys_come_from_the_environment_or_the_builder_and_never_show() {
    let from_env = with_env(&[
        ("OPENAI_API_KEY", "sk-from-env-456"),
        ("ANTHROPIC_API_KEY", "sk-ant-789"),
    ])
    .build()
    .expect("valid client");
    from_env
        .preload([
            "gpt-4o",
            "openai/gpt-4o-mini",
            "anthropic/claude-sonnet-4-5",
        ])
        .expect("keys set");
    let debug = format!("{from_env:?}");
    assert!(
        !debug.contains("sk-from-env") && !debug.contains("sk-ant"),
        "{debug}"
    );
    assert!(debug.contains("openai/gpt-4o-mini"), "{debug}");

    let from_builder = isolated()
        .openai_api_key("sk-builder-000")
        .build()
        .expect("valid client");
    from_builder
        .preload(["gpt-4o"])
        .expect("key given to the builder");
    assert!(!format!("{from_builder:?}").contains("sk-builder"));

    // An empty variable is no key.
    let empty = with_env(&[("OPENAI_API_KEY", "  ")])
        .build()
        .expect("valid client");
    assert!(matches!(
        empty.preload(["gpt-4o"]),
        Err(Error::MissingKey { .. })
    ));

    // A local OpenAI-compatible server needs no key.
    let local = with_env(&[("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")])
        .build()
        .expect("valid client");
    local
        .preload(["openai/meta-llama/Llama-3.1-8B-Instruct"])
        .expect("custom endpoint, no key needed");
}

#[tokio::test]
async fn a_fallback_without_its_key_fails_before_the_primary_is_called() {
    let primary = failing(ErrorKind::ServiceUnavailable);
    let client = isolated()
        .provider("primary", primary.clone())
        .build()
        .expect("valid client");
    let err = client
        .completion("primary", hello())
        .fallbacks(["anthropic/claude-sonnet-4-5"])
        .await
        .expect_err("the fallback has no key");
    assert!(
        matches!(
            err,
            Error::MissingKey {
                env_var: "ANTHROPIC_API_KEY",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        primary.calls(),
        0,
        "nothing may be sent before the setup is complete"
    );
}

#[tokio::test(start_paused = true)]
async fn two_retries_by_default_and_none_with_num_retries_zero() {
    let down = failing(ErrorKind::ServiceUnavailable);
    let client = isolated()
        .provider("gpt-4", down.clone())
        .build()
        .expect("valid client");

    let err = client
        .completion("gpt-4", hello())
        .await
        .expect_err("always down");
    assert_eq!(err.kind(), Some(ErrorKind::ServiceUnavailable));
    let report = err.report().expect("the call was made");
    assert_eq!(report.attempts.len(), 3, "{}", report.hops());
    assert_eq!(report.retries, 2);
    assert_eq!(down.calls(), 3);

    let err = client
        .completion("gpt-4", hello())
        .num_retries(0)
        .await
        .expect_err("always down");
    let report = err.report().expect("the call was made");
    assert_eq!(report.attempts.len(), 1, "{}", report.hops());
    assert_eq!(report.retries, 0);
    assert_eq!(down.calls(), 4);

    let err = client
        .completion("gpt-4", hello())
        .num_retries(5)
        .await
        .expect_err("always down");
    assert_eq!(err.report().map(|r| r.attempts.len()), Some(6));
}

#[tokio::test(start_paused = true)]
async fn a_flaky_model_answers_after_its_retries_and_the_report_counts_them() {
    let flaky = MockProvider::builder("flaky")
        .response("third time lucky")
        .script([
            MockStep::fail(ErrorKind::RateLimit),
            MockStep::fail(ErrorKind::Timeout),
            MockStep::Ok,
        ])
        .build()
        .expect("valid mock");
    let client = isolated()
        .provider("gpt-4", flaky)
        .build()
        .expect("valid client");
    let answer = client.completion("gpt-4", hello()).await.expect("answers");
    assert_eq!(answer.value.text(), Some("third time lucky"));
    assert_eq!(answer.report.retries, 2);
    let kinds: Vec<_> = answer.report.attempts.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        [Some(ErrorKind::RateLimit), Some(ErrorKind::Timeout), None]
    );
}

#[tokio::test(start_paused = true)]
async fn the_client_wide_count_applies_and_a_call_overrides_it() {
    let down = failing(ErrorKind::InternalServer);
    let client = isolated()
        .num_retries(0)
        .provider("gpt-4", down.clone())
        .build()
        .expect("valid client");
    let err = client.completion("gpt-4", hello()).await.expect_err("down");
    assert_eq!(err.report().map(|r| r.attempts.len()), Some(1));
    let err = client
        .completion("gpt-4", hello())
        .num_retries(3)
        .await
        .expect_err("down");
    assert_eq!(err.report().map(|r| r.attempts.len()), Some(4));
}

#[tokio::test(start_paused = true)]
async fn a_bad_request_is_not_retried() {
    let bad = failing(ErrorKind::BadRequest);
    let client = isolated()
        .provider("gpt-4", bad.clone())
        .build()
        .expect("valid client");
    let err = client
        .completion("gpt-4", hello())
        .num_retries(5)
        .await
        .expect_err("bad");
    assert_eq!(err.kind(), Some(ErrorKind::BadRequest));
    assert_eq!(bad.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn fallbacks_move_to_other_model_strings_with_a_fresh_budget() {
    let primary = failing(ErrorKind::ServiceUnavailable);
    let client = isolated()
        .provider("gpt-4", primary.clone())
        .build()
        .expect("valid client");
    let answer = client
        .completion("gpt-4", hello())
        .fallbacks(["mock/gpt-3.5"])
        .await
        .expect("the fallback answers");
    assert_eq!(
        answer.value.text(),
        Some(mock::DEFAULT_RESPONSE),
        "the mock/ model answers its canned text"
    );
    let r = &answer.report;
    assert_eq!(r.fallbacks, 1);
    assert_eq!(r.final_group.as_deref(), Some("mock/gpt-3.5"));
    assert_eq!(
        r.attempts.len(),
        4,
        "three on gpt-4, one on the fallback: {}",
        r.hops()
    );
    assert_eq!(primary.calls(), 3);

    // Both fail: the fallback gets its own two retries, and the caller sees the
    // requested model's error.
    let also_down = failing(ErrorKind::RateLimit);
    let client = isolated()
        .provider("gpt-4", failing(ErrorKind::ServiceUnavailable))
        .provider("gpt-3.5", also_down.clone())
        .fallbacks("gpt-4", ["gpt-3.5"])
        .build()
        .expect("valid client");
    let err = client
        .completion("gpt-4", hello())
        .await
        .expect_err("both down");
    let report = err.report().expect("made");
    assert_eq!(report.attempts.len(), 6, "{}", report.hops());
    assert_eq!(report.fallbacks, 1);
    assert_eq!(also_down.calls(), 3);
    assert_eq!(err.kind(), Some(ErrorKind::ServiceUnavailable));

    // A call can turn the client's fallbacks off.
    let err = client
        .completion("gpt-4", hello())
        .disable_fallbacks()
        .await
        .expect_err("down");
    assert_eq!(err.report().map(|r| r.fallbacks), Some(0));
    assert_eq!(also_down.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_calls_timeout_is_the_total_of_every_attempt() {
    let hang = MockProvider::builder("slow")
        .always(MockStep::Hang)
        .build()
        .expect("valid mock");
    let client = isolated()
        .timeout(Duration::from_secs(10))
        .provider("gpt-4", hang)
        .build()
        .expect("valid client");
    let start = tokio::time::Instant::now();
    let err = client
        .completion("gpt-4", hello())
        .num_retries(10)
        .timeout(Duration::from_secs(25))
        .await
        .expect_err("never answers");
    let took = start.elapsed();
    assert_eq!(err.kind(), Some(ErrorKind::Timeout));
    assert!(
        took <= Duration::from_secs(25),
        "took {took:?}: {err:?} {:#?}",
        err.report()
    );
    let report = err.report().expect("made");
    assert!(report.attempts.len() >= 2, "{}", report.hops());
    // Each attempt stopped at the per-attempt limit (or the deadline, sooner).
    assert!(
        report
            .attempts
            .iter()
            .all(|a| a.latency <= Duration::from_secs(10)),
        "{report:?}"
    );
    let reason = err.router_error().map(|e| e.reason());
    assert!(
        matches!(
            reason,
            Some(FailureReason::DeadlineExceeded | FailureReason::Upstream)
        ),
        "{reason:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn streams_retry_before_their_first_chunk() {
    let flaky = MockProvider::builder("flaky")
        .response("once upon a time")
        .script([MockStep::fail(ErrorKind::RateLimit), MockStep::Ok])
        .build()
        .expect("valid mock");
    let client = isolated()
        .provider("gpt-4", flaky)
        .build()
        .expect("valid client");
    let mut stream = client
        .completion("gpt-4", [Message::user("Write a story")])
        .num_retries(3)
        .stream()
        .await
        .expect("the retry answers");
    assert_eq!(stream.report().retries, 1);
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        text.push_str(
            chunk
                .expect("no failure after the first chunk")
                .text()
                .unwrap_or(""),
        );
    }
    assert_eq!(text, "once upon a time");
}

#[tokio::test]
async fn embeddings_go_through_the_router() {
    let client = isolated().build().expect("valid client");
    let req = EmbeddingsRequest::new("mock/embed", "hello world");
    let answer = client
        .embeddings(&req, &RequestOptions::new())
        .await
        .expect("the mock embeds");
    assert_eq!(answer.value.data.len(), 1);
    assert_eq!(answer.report.final_group.as_deref(), Some("mock/embed"));
}

#[tokio::test]
async fn models_share_one_router_and_one_provider_per_upstream_model() {
    let counted = MockProvider::new("counted");
    let client = isolated()
        .provider("a", counted.clone())
        .build()
        .expect("valid client");
    client.completion("a", hello()).await.expect("answers");
    client.completion("mock/b", hello()).await.expect("answers");
    client.completion("a", hello()).await.expect("answers");
    assert_eq!(counted.calls(), 2);
    let debug = format!("{client:?}");
    assert!(debug.contains(r#"models: ["a", "mock/b"]"#), "{debug}");
}

#[test]
fn build_checks_settings_up_front() {
    let err = isolated()
        .backoff(Duration::from_secs(10), Duration::from_secs(1))
        .build()
        .expect_err("backoff caps reversed");
    assert!(matches!(err, Error::Build { .. }), "{err:?}");
    let err = isolated()
        .fallbacks("gpt-4", ["vertex/gemini"])
        .build()
        .expect_err("unknown provider in a fallback");
    assert!(matches!(err, Error::UnknownProvider { .. }), "{err:?}");
    // Registered names need no prefix.
    isolated()
        .provider("my-model", MockProvider::new("m"))
        .fallbacks("gpt-4", ["my-model"])
        .build()
        .expect("registered names are fine");
}

#[tokio::test(start_paused = true)]
async fn the_rate_limit_kind_reaches_the_caller() {
    let limited = MockProvider::builder("limited")
        .always(MockStep::fail(ErrorKind::RateLimit).retry_after(Duration::from_secs(1)))
        .build()
        .expect("valid mock");
    let client = isolated()
        .provider("gpt-4", limited)
        .build()
        .expect("valid client");
    let err = client
        .completion("gpt-4", hello())
        .num_retries(3)
        .await
        .expect_err("limited");
    assert_eq!(err.kind(), Some(ErrorKind::RateLimit));
    let report = err.report().expect("made");
    assert_eq!(report.attempts.len(), 4);
    // The upstream's hint is the wait before each retry.
    assert!(
        report.attempts[1..]
            .iter()
            .all(|a| a.wait_before == Duration::from_secs(1)),
        "{report:?}"
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
}

#[test]
fn the_client_is_send_sync_and_its_futures_are_send() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<Client>();
    let client = Client::from_env();
    let fut = std::future::IntoFuture::into_future(client.completion("mock/x", hello()));
    send(&fut);
    let shared: Arc<Client> = Arc::new(client);
    drop(shared);
}
