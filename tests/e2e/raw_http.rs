//! The proxy over plain HTTP: bad inputs and their OpenAI-shaped errors, streams that fail
//! before and after their first chunk, `Retry-After`, metrics, health, graceful shutdown,
//! request ids, the Anthropic and Azure translations, and secrets kept out of logs and answers.

use std::{process::Command, time::Duration};

use mock_upstream::{Behaviour, openai_error as upstream_error};
use serde_json::{Value, json};

use crate::support::{
    BIN, Gateway, MASTER_KEY, STANDARD_CONFIG, UPSTREAM_KEY, UPSTREAM_KEY_VAR, chat_body, client,
    eventually, header, json_of, openai_error,
};

/// The `data:` payloads of an SSE body, in order.
fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:").map(str::trim_start))
                .collect();
            (!data.is_empty()).then(|| data.join("\n"))
        })
        .collect()
}

/// The text of the content deltas among SSE payloads.
fn sse_content(data: &[String]) -> String {
    data.iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

async fn post_raw(gw: &Gateway, body: impl Into<reqwest::Body>) -> reqwest::Response {
    client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the proxy answers")
}

#[tokio::test]
async fn malformed_json_is_a_400_that_names_the_problem() {
    let gw = Gateway::start().await;
    let resp = post_raw(&gw, r#"{"model": "gpt-4o", "messages": [}"#).await;
    assert_eq!(resp.status(), 400);
    assert!(header(&resp, "content-type").starts_with("application/json"));
    let body = json_of(resp).await;
    let err = openai_error(&body);
    assert_eq!(err["type"], "invalid_request_error");
    let msg = err["message"].as_str().unwrap_or_default();
    assert!(msg.contains("not valid JSON"), "{body}");
    assert!(msg.contains("column"), "the message says where: {body}");

    let empty = post_raw(&gw, "").await;
    assert_eq!(empty.status(), 400);
    let body = json_of(empty).await;
    assert!(
        openai_error(&body)["message"]
            .as_str()
            .unwrap_or_default()
            .contains("empty"),
        "{body}"
    );
    assert!(gw.upstream.hits().is_empty(), "nothing bad goes upstream");
}

#[tokio::test]
async fn a_field_of_the_wrong_type_is_a_400_with_param() {
    let gw = Gateway::start().await;
    let resp = gw
        .chat(&json!({"model": "gpt-4o", "messages": [{"role": "user", "content": 5}]}))
        .await;
    assert_eq!(resp.status(), 400);
    let body = json_of(resp).await;
    let err = openai_error(&body);
    assert_eq!(err["param"], "messages[0].content", "{body}");
    assert!(
        err["message"]
            .as_str()
            .unwrap_or_default()
            .contains("messages[0].content"),
        "{body}"
    );

    let resp = gw
        .chat(&json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "num_retries": "many"}))
        .await;
    assert_eq!(resp.status(), 400);
    let body = json_of(resp).await;
    assert_eq!(openai_error(&body)["param"], "num_retries", "{body}");
    assert!(gw.upstream.hits().is_empty());
}

#[tokio::test]
async fn a_missing_model_is_a_400_that_says_so() {
    let gw = Gateway::start().await;
    let resp = gw
        .chat(&json!({"messages": [{"role": "user", "content": "x"}]}))
        .await;
    assert_eq!(resp.status(), 400);
    let body = json_of(resp).await;
    let err = openai_error(&body);
    assert!(
        err["message"]
            .as_str()
            .unwrap_or_default()
            .contains("model"),
        "{body}"
    );
    assert_eq!(err["param"], "model", "{body}");

    let resp = gw
        .chat(&json!({"model": "", "messages": [{"role": "user", "content": "x"}]}))
        .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(openai_error(&json_of(resp).await)["param"], "model");
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413() {
    let yaml = format!("{STANDARD_CONFIG}\nswitchyard:\n  max_body_bytes: 4KiB\n");
    let gw = Gateway::with_config(&yaml).await;
    let big = chat_body("gpt-4o", &"x".repeat(10_000));
    let resp = gw.chat(&big).await;
    assert_eq!(resp.status(), 413);
    let body = json_of(resp).await;
    let err = openai_error(&body);
    assert_eq!(err["code"], "request_too_large", "{body}");
    assert!(
        err["message"].as_str().unwrap_or_default().contains("4096"),
        "the message gives the limit: {body}"
    );
    assert!(gw.upstream.hits().is_empty());

    let small = gw.chat(&chat_body("gpt-4o", "hi")).await;
    assert_eq!(small.status(), 200, "requests under the limit still pass");
}

#[tokio::test]
async fn an_unknown_route_is_a_404_in_json() {
    let gw = Gateway::start().await;
    let resp = client()
        .post(gw.url("/v1/chat/complete"))
        .bearer_auth(MASTER_KEY)
        .json(&chat_body("gpt-4o", "hi"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(resp.status(), 404);
    let body = json_of(resp).await;
    let err = openai_error(&body);
    assert!(
        err["message"]
            .as_str()
            .unwrap_or_default()
            .contains("/v1/chat/complete"),
        "{body}"
    );
    assert_ne!(
        err["code"], "model_not_found",
        "a wrong URL is not a missing model: {body}"
    );
}

#[tokio::test]
async fn a_stream_that_fails_before_its_first_chunk_is_a_json_error_with_the_status() {
    let gw = Gateway::start().await;
    gw.upstream
        .always("gpt-4o", Behaviour::openai_server_error(503));
    let mut body = chat_body("gpt-4o", "hi");
    body["stream"] = json!(true);
    let resp = gw.chat(&body).await;
    assert_eq!(resp.status(), 503, "not a 200 with an error inside");
    assert!(header(&resp, "content-type").starts_with("application/json"));
    assert_eq!(header(&resp, "x-switchyard-attempted-retries"), "2");
    assert_eq!(
        header(&resp, "x-should-retry"),
        "false",
        "the proxy spent the retries: SDKs must not multiply them"
    );
    let json = json_of(resp).await;
    openai_error(&json);
    assert_eq!(gw.upstream.hits_for("gpt-4o").len(), 3);

    // An error event inside a 200 stream, before any content, is a failed attempt: retried.
    gw.upstream.script(
        "backup-model",
        [Behaviour::StreamErrorEvent { after_chunks: 0 }],
    );
    body["model"] = json!("backup");
    let resp = gw.chat(&body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-attempted-retries"), "1");
    let text = resp.text().await.expect("a body");
    let data = sse_data(&text);
    assert_eq!(
        sse_content(&data),
        "mock answer from backup-model",
        "{text}"
    );
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{text}");
    assert!(
        !text.contains("\"error\""),
        "the failed attempt is not shown: {text}"
    );
}

#[tokio::test]
async fn a_stream_cut_after_content_ends_with_an_error_event_and_no_done() {
    let gw = Gateway::start().await;
    gw.upstream
        .script("gpt-4o", [Behaviour::CutStream { after_chunks: 2 }]);
    gw.upstream.script(
        "backup-model",
        [Behaviour::StreamErrorEvent { after_chunks: 2 }],
    );
    for model in ["gpt-4o", "backup"] {
        let mut body = chat_body(model, "hi");
        body["stream"] = json!(true);
        let resp = gw.chat(&body).await;
        assert_eq!(resp.status(), 200, "{model}: the stream had started");
        assert!(header(&resp, "content-type").starts_with("text/event-stream"));
        let text = resp
            .text()
            .await
            .expect("the stream ends rather than hanging");
        let data = sse_data(&text);
        assert!(
            !sse_content(&data).is_empty(),
            "{model}: the content sent before the failure arrives: {text}"
        );
        assert!(
            !data.iter().any(|d| d == "[DONE]"),
            "{model}: a broken stream does not claim to be done: {text}"
        );
        let last: Value = serde_json::from_str(data.last().map_or("", String::as_str))
            .unwrap_or_else(|e| panic!("{model}: the last event is JSON ({e}): {text}"));
        openai_error(&last);
    }
    assert_eq!(
        gw.upstream.hits_for("gpt-4o").len(),
        1,
        "no retry after the commit point"
    );
}

#[tokio::test]
async fn a_rate_limit_answer_carries_retry_after() {
    let gw = Gateway::start().await;
    // Longer than max_retry_after (60 s): not slept on, handed to the client.
    gw.upstream.always(
        "gpt-4o",
        Behaviour::openai_rate_limit(Duration::from_secs(120)),
    );
    let started = std::time::Instant::now();
    let resp = gw.chat(&chat_body("gpt-4o", "hi")).await;
    assert_eq!(resp.status(), 429);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the proxy did not sleep on a 2 min hint"
    );
    let retry_after: u64 = header(&resp, "retry-after").parse().unwrap_or(0);
    assert!(
        (100..=120).contains(&retry_after),
        "Retry-After passes the upstream's hint on (got {retry_after:?})"
    );
    let body = json_of(resp).await;
    assert_eq!(openai_error(&body)["type"], "rate_limit_error", "{body}");
    assert_eq!(
        gw.upstream.hits_for("gpt-4o").len(),
        1,
        "no retry against an upstream that asked for two minutes of quiet"
    );
}

#[tokio::test]
async fn metrics_count_retries() {
    let gw = Gateway::start().await;
    gw.upstream
        .script("gpt-4o", [Behaviour::openai_server_error(500)]);
    let resp = gw.chat(&chat_body("gpt-4o", "hi")).await;
    assert_eq!(resp.status(), 200);
    let text = client()
        .get(gw.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let value = |name: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|v| v.trim().parse::<f64>().ok())
            })
            .unwrap_or_else(|| panic!("{name} is missing from /metrics:\n{text}"))
    };
    assert_eq!(value("switchyard_retries_total "), 1.0, "{text}");
    assert_eq!(value("switchyard_attempts_total "), 2.0, "{text}");
    assert_eq!(
        value("switchyard_requests_total{status=\"200\"} "),
        1.0,
        "{text}"
    );
}

#[tokio::test]
async fn readiness_is_open_and_health_lists_deployments_behind_auth() {
    let gw = Gateway::start().await;
    let ready = client()
        .get(gw.url("/health/readiness"))
        .send()
        .await
        .expect("readiness");
    assert_eq!(ready.status(), 200);

    let no_key = client()
        .get(gw.url("/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(
        no_key.status(),
        401,
        "/health calls every upstream: not for anyone"
    );

    gw.upstream
        .always("backup-model", Behaviour::openai_server_error(500));
    let resp = client()
        .get(gw.url("/health"))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .expect("health");
    assert_eq!(resp.status(), 200);
    let body = json_of(resp).await;
    let ids = |list: &str| -> Vec<String> {
        let mut ids: Vec<String> = body[list]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    };
    assert_eq!(
        ids("healthy_endpoints"),
        ["azure-1", "claude-1", "embed-1", "gpt-4o-main", "primary-1"],
        "{body}"
    );
    assert_eq!(ids("unhealthy_endpoints"), ["backup-1"], "{body}");
    assert!(!body.to_string().contains(UPSTREAM_KEY));
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_then_exits_0() {
    // Both ways of serving: thread per core (the default) and one work-stealing runtime.
    let work_stealing = format!("{STANDARD_CONFIG}\nswitchyard:\n  runtime: work_stealing\n");
    for config in [STANDARD_CONFIG, work_stealing.as_str()] {
        drains_on_sigterm(Gateway::with_config(config).await).await;
    }
}

async fn drains_on_sigterm(mut gw: Gateway) {
    gw.upstream.script(
        "gpt-4o",
        [Behaviour::success().delayed(Duration::from_secs(1))],
    );
    let url = gw.url("/v1/chat/completions");
    let in_flight = tokio::spawn(async move {
        let resp = client()
            .post(url)
            .bearer_auth(MASTER_KEY)
            .json(&chat_body("gpt-4o", "hi"))
            .send()
            .await
            .expect("the request in flight is answered");
        (resp.status(), resp.text().await.expect("its body"))
    });
    assert!(
        eventually(Duration::from_secs(10), || !gw
            .upstream
            .hits_for("gpt-4o")
            .is_empty())
        .await,
        "the request reached the upstream"
    );
    let kill = Command::new("kill")
        .args(["-TERM", &gw.proxy.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());

    let (status, body) = tokio::time::timeout(Duration::from_secs(10), in_flight)
        .await
        .expect("the request finishes")
        .expect("the task does not panic");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("mock answer from gpt-4o"), "{body}");
    let exit = gw.proxy.wait_exit(Duration::from_secs(10)).await;
    assert!(
        exit.is_some_and(|s| s.success()),
        "the proxy exits 0 after draining (got {exit:?}); logs:\n{}",
        gw.proxy.logs()
    );
}

#[tokio::test]
async fn a_client_request_id_is_echoed_and_sent_upstream() {
    let gw = Gateway::start().await;
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .header("x-request-id", "e2e-request-42")
        .json(&chat_body("gpt-4o", "hi"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-request-id"), "e2e-request-42");
    let hits = gw.upstream.hits_for("gpt-4o");
    assert_eq!(hits[0].header("x-request-id"), Some("e2e-request-42"));

    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .header("x-request-id", "e2e-request-43")
        .json(&chat_body("no-such-model", "hi"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(resp.status(), 404);
    assert_eq!(
        header(&resp, "x-request-id"),
        "e2e-request-43",
        "errors carry the id too"
    );

    let resp = gw.chat(&chat_body("gpt-4o", "hi")).await;
    assert!(
        !header(&resp, "x-request-id").is_empty(),
        "the proxy makes one when the client sends none"
    );
}

#[tokio::test]
async fn anthropic_deployments_answer_in_openai_shape() {
    let gw = Gateway::start().await;
    let body = json!({"model": "claude", "messages": [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "hello"},
    ]});
    let resp = gw.chat(&body).await;
    assert_eq!(resp.status(), 200);
    let answer = json_of(resp).await;
    assert_eq!(answer["object"], "chat.completion", "{answer}");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "mock answer from claude-e2e"
    );
    assert_eq!(
        answer["choices"][0]["finish_reason"], "stop",
        "end_turn becomes stop: {answer}"
    );

    let hits = gw.upstream.hits_for("claude-e2e");
    let hit = &hits[0];
    assert_eq!(hit.path, "/v1/messages");
    assert!(hit.header("anthropic-version").is_some());
    assert_eq!(
        hit.api_key_last4.as_deref(),
        Some("-key"),
        "the key goes in x-api-key"
    );
    assert!(hit.header("authorization").is_none());
    assert!(
        hit.body["max_tokens"].is_u64(),
        "Anthropic requires max_tokens: {}",
        hit.body
    );
    let system = hit.body["system"].to_string();
    assert!(
        system.contains("Answer briefly."),
        "the system message moves to `system`: {}",
        hit.body
    );
    let roles: Vec<&str> = hit.body["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["role"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(roles, ["user"], "{}", hit.body);

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let resp = gw.chat(&streamed).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("a stream");
    let data = sse_data(&text);
    assert_eq!(sse_content(&data), "mock answer from claude-e2e", "{text}");
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{text}");
}

#[tokio::test]
async fn azure_deployments_get_the_azure_url_and_key_header() {
    let gw = Gateway::start().await;
    let resp = gw.chat(&chat_body("azure-gpt", "hello")).await;
    assert_eq!(resp.status(), 200);
    let answer = json_of(resp).await;
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "mock answer from e2e-deploy"
    );

    let hits = gw.upstream.hits_for("e2e-deploy");
    let hit = &hits[0];
    assert_eq!(hit.path, "/openai/deployments/e2e-deploy/chat/completions");
    assert_eq!(hit.query.as_deref(), Some("api-version=2024-10-21"));
    assert!(
        hit.header("api-key").is_some(),
        "Azure takes the key in api-key"
    );
    assert!(hit.header("authorization").is_none());
}

#[tokio::test]
async fn missing_proxy_key_is_a_401_and_x_api_key_is_accepted() {
    let gw = Gateway::start().await;
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&chat_body("gpt-4o", "hi"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(resp.status(), 401);
    let body = json_of(resp).await;
    assert_eq!(
        openai_error(&body)["type"],
        "authentication_error",
        "{body}"
    );
    assert!(gw.upstream.hits().is_empty());

    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .header("x-api-key", MASTER_KEY)
        .json(&chat_body("gpt-4o", "hi"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(resp.status(), 200);
}

/// The upstream key from `os.environ/` must not reach logs, answers or `check` output, even when
/// the upstream echoes it back in an error and the logs are at debug level.
#[tokio::test]
async fn the_upstream_key_never_shows_in_logs_or_answers() {
    let gw = Gateway::with_config_and_env(STANDARD_CONFIG, &[("RUST_LOG", "debug")]).await;
    let echo = format!(
        "Incorrect API key provided: {UPSTREAM_KEY}. You can find your API key at https://platform.openai.com/account/api-keys."
    );
    gw.upstream.script(
        "gpt-4o",
        [
            Behaviour::status_with(
                401,
                upstream_error(
                    &echo,
                    "invalid_request_error",
                    None,
                    Some("invalid_api_key"),
                ),
                Vec::new(),
            ),
            Behaviour::status_with(
                500,
                upstream_error(&echo, "server_error", None, None),
                Vec::new(),
            ),
            Behaviour::status_with(
                500,
                upstream_error(&echo, "server_error", None, None),
                Vec::new(),
            ),
            Behaviour::status_with(
                500,
                upstream_error(&echo, "server_error", None, None),
                Vec::new(),
            ),
        ],
    );
    let mut answers = String::new();
    for stream in [false, false, true] {
        let mut body = chat_body("gpt-4o", "hi");
        body["stream"] = json!(stream);
        let resp = gw.chat(&body).await;
        answers.push_str(&format!("{:?}\n", resp.headers()));
        answers.push_str(&resp.text().await.expect("a body"));
    }
    assert!(
        answers.contains("Incorrect API key"),
        "the upstream's error reached the client: {answers}"
    );
    assert!(
        !answers.contains(UPSTREAM_KEY),
        "an answer shows the upstream key:\n{answers}"
    );

    let logs = gw.proxy.logs();
    assert!(!logs.is_empty());
    assert!(
        !logs.contains(UPSTREAM_KEY),
        "the logs show the upstream key:\n{logs}"
    );

    let config = gw.proxy.config_path();
    let out = Command::new(BIN)
        .arg("check")
        .arg("--config")
        .arg(&config)
        .env(UPSTREAM_KEY_VAR, UPSTREAM_KEY)
        .output()
        .expect("switchyard check runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        !text.contains(UPSTREAM_KEY),
        "`switchyard check` shows the key:\n{text}"
    );
}

#[tokio::test]
async fn logs_piped_to_a_file_are_plain_text() {
    let gw = Gateway::start().await;
    let logs = gw.proxy.logs();
    assert!(
        logs.contains("listening on http://127.0.0.1:"),
        "the startup line says where: {logs}"
    );
    assert!(
        !logs.contains('\u{1b}'),
        "no terminal colour codes in logs that go to a pipe or a file: {logs:?}"
    );
}
