//! The official OpenAI Python SDK against the proxy: answers, streams, every error class as the
//! SDK's own exception, retries and fallbacks in the response headers, per-request options,
//! proxy auth, embeddings and the model list.

use mock_upstream::{Behaviour, openai_error};
use serde_json::json;

use crate::support::{Gateway, MASTER_KEY, Sdk, UPSTREAM_KEY, ok, openai_groups, raised};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_and_streamed_chat_through_the_sdk() {
    let Some(sdk) = Sdk::find() else { return };
    let gw = Gateway::start().await;
    gw.upstream
        .script("backup-model", [Behaviour::CutStream { after_chunks: 2 }]);
    let results = sdk
        .run(
            &gw,
            MASTER_KEY,
            &json!([
                {"op": "chat", "model": "gpt-4o", "content": "hello"},
                {"op": "chat", "model": "gpt-4o", "content": "hello", "stream": true},
                {"op": "chat", "model": "backup", "content": "hello", "stream": true},
            ]),
        )
        .await;

    let plain = ok(&results[0], "plain chat");
    assert_eq!(plain["content"], "mock answer from gpt-4o", "{plain}");
    assert_eq!(plain["finish_reason"], "stop");
    assert!(
        plain["total_tokens"].as_u64().is_some_and(|t| t > 0),
        "usage comes through: {plain}"
    );
    assert_eq!(plain["headers"]["x-switchyard-attempted-retries"], "0");
    assert_eq!(plain["headers"]["x-switchyard-model-group"], "gpt-4o");

    let streamed = ok(&results[1], "streamed chat");
    assert_eq!(
        streamed["content"], "mock answer from gpt-4o",
        "the chunks join into the answer: {streamed}"
    );
    assert_eq!(streamed["finish_reason"], "stop");
    assert!(
        streamed["chunks"].as_u64().is_some_and(|n| n > 1),
        "{streamed}"
    );
    assert!(streamed.get("stream_error").is_none(), "{streamed}");
    assert_eq!(
        streamed["headers"]["x-switchyard-model-group"], "gpt-4o",
        "streamed answers carry the report headers too"
    );

    let cut = ok(&results[2], "a stream cut after two chunks");
    assert_eq!(
        cut["stream_error"]["exception"], "APIError",
        "the SDK raises while iterating instead of ending quietly with half an answer: {cut}"
    );
    assert!(
        cut["content"].as_str().is_some_and(|c| !c.is_empty()),
        "the text before the cut arrived: {cut}"
    );
    assert!(cut["finish_reason"].is_null(), "{cut}");

    let hits = gw.upstream.hits_for("gpt-4o");
    assert_eq!(hits.len(), 2, "one upstream call per request");
    assert_eq!(
        hits[0].api_key_last4.as_deref(),
        Some(&UPSTREAM_KEY[UPSTREAM_KEY.len() - 4..]),
        "the upstream got the key from os.environ/, not the client's proxy key"
    );
}

/// Each failure a user can meet arrives as the exception the SDK documents for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_class_is_the_sdks_matching_exception() {
    let Some(sdk) = Sdk::find() else { return };
    let mut yaml = openai_groups(&[
        "limited",
        "unauthorized",
        "forbidden",
        "too-long",
        "broken",
        "hanging",
    ]);
    // A per-attempt limit, so a hanging upstream becomes a timeout.
    yaml = yaml.replace(
        "model: openai/hanging\n",
        "model: openai/hanging\n      timeout: 0.3\n",
    );
    let gw = Gateway::with_config(&yaml).await;
    let up = &gw.upstream;
    up.always(
        "limited",
        Behaviour::status_with(
            429,
            openai_error(
                "Rate limit reached for requests",
                "requests",
                None,
                Some("rate_limit_exceeded"),
            ),
            vec![("retry-after-ms".into(), "100".into())],
        ),
    );
    up.always("unauthorized", Behaviour::openai_invalid_api_key());
    up.always(
        "forbidden",
        Behaviour::status_with(
            403,
            openai_error(
                "Country, region, or territory not supported",
                "request_forbidden",
                None,
                Some("unsupported_country_region_territory"),
            ),
            Vec::new(),
        ),
    );
    up.always("too-long", Behaviour::openai_context_length_exceeded());
    up.always("broken", Behaviour::openai_server_error(500));
    up.always("hanging", Behaviour::Hang);

    let chat = |model: &str| json!({"op": "chat", "model": model});
    let results = sdk
        .run(
            &gw,
            MASTER_KEY,
            &json!([
                chat("limited"),
                chat("unauthorized"),
                chat("forbidden"),
                chat("too-long"),
                chat("no-such-model"),
                chat("broken"),
                chat("hanging"),
            ]),
        )
        .await;

    let r = raised(
        &results[0],
        "RateLimitError",
        429,
        "a 429 that outlasts the retries",
    );
    assert!(
        r["headers"]["retry-after"]
            .as_str()
            .is_some_and(|v| v.parse::<u64>().is_ok_and(|s| s >= 1)),
        "a 429 says when to come back: {r}"
    );
    assert_eq!(r["headers"]["x-switchyard-attempted-retries"], "2", "{r}");
    assert_eq!(
        up.hits_for("limited").len(),
        3,
        "rate limits are retried twice by default"
    );

    raised(&results[1], "AuthenticationError", 401, "an upstream 401");
    assert_eq!(
        up.hits_for("unauthorized").len(),
        1,
        "a 401 is not retried on the same deployment"
    );

    raised(&results[2], "PermissionDeniedError", 403, "an upstream 403");
    assert_eq!(
        up.hits_for("forbidden").len(),
        1,
        "a 403 is not retried on the same deployment"
    );

    let r = raised(
        &results[3],
        "BadRequestError",
        400,
        "a context window overflow",
    );
    assert_eq!(r["code"], "context_length_exceeded", "{r}");
    assert_eq!(
        up.hits_for("too-long").len(),
        1,
        "it would fail the same way again"
    );

    let r = raised(&results[4], "NotFoundError", 404, "an unknown model");
    assert!(
        r["message"]
            .as_str()
            .is_some_and(|m| m.contains("no-such-model")),
        "the message names the model: {r}"
    );

    let r = raised(&results[5], "InternalServerError", 500, "persistent 500s");
    assert_eq!(
        up.hits_for("broken").len(),
        3,
        "three attempts: the default of two retries"
    );
    assert_eq!(r["headers"]["x-switchyard-attempted-retries"], "2", "{r}");

    // The SDK has no class of its own for 408: it raises the base APIStatusError. Its
    // APITimeoutError is for client-side timeouts, which this is not.
    let r = raised(
        &results[6],
        "APIStatusError",
        408,
        "an upstream that never answers",
    );
    assert_eq!(r["code"], "timeout", "{r}");
    assert_eq!(up.hits_for("hanging").len(), 3, "timeouts are retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_and_fallbacks_show_in_the_response_headers() {
    let Some(sdk) = Sdk::find() else { return };
    let gw = Gateway::start().await;
    let up = &gw.upstream;
    up.script(
        "gpt-4o",
        [
            Behaviour::openai_server_error(500),
            Behaviour::openai_server_error(503),
        ],
    );
    up.always("primary-model", Behaviour::openai_server_error(503));

    let results = sdk
        .run(
            &gw,
            MASTER_KEY,
            &json!([
                {"op": "chat", "model": "gpt-4o"},
                {"op": "chat", "model": "primary"},
                {"op": "chat", "model": "primary", "stream": true},
            ]),
        )
        .await;

    let retried = ok(&results[0], "two failures, then an answer");
    let h = &retried["headers"];
    assert_eq!(retried["content"], "mock answer from gpt-4o");
    assert_eq!(h["x-switchyard-attempted-retries"], "2", "{retried}");
    assert_eq!(h["x-switchyard-attempted-fallbacks"], "0", "{retried}");
    assert_eq!(h["x-switchyard-model-group"], "gpt-4o", "{retried}");
    let request_id = h["x-request-id"].as_str().unwrap_or_default();
    assert!(
        !request_id.is_empty(),
        "every answer has x-request-id: {retried}"
    );
    let hits = up.hits_for("gpt-4o");
    assert_eq!(hits.len(), 3);
    assert!(
        hits.iter()
            .all(|hit| hit.header("x-request-id") == Some(request_id)),
        "every attempt carries the request id upstream"
    );

    let fell_back = ok(&results[1], "a group that is down falls back");
    let h = &fell_back["headers"];
    assert_eq!(
        fell_back["content"], "mock answer from backup-model",
        "{fell_back}"
    );
    assert_eq!(h["x-switchyard-attempted-fallbacks"], "1", "{fell_back}");
    assert_eq!(h["x-switchyard-attempted-retries"], "2", "{fell_back}");
    assert_eq!(h["x-switchyard-model-group"], "backup", "{fell_back}");
    assert_eq!(h["x-switchyard-deployment-id"], "backup-1", "{fell_back}");

    let streamed = ok(
        &results[2],
        "a streamed request falls back before its first chunk",
    );
    assert_eq!(
        streamed["content"], "mock answer from backup-model",
        "{streamed}"
    );
    assert_eq!(
        streamed["headers"]["x-switchyard-attempted-fallbacks"], "1",
        "{streamed}"
    );
    assert_eq!(
        up.hits_for("primary-model").len(),
        6,
        "each request gives the requested group its three attempts before falling back"
    );
    assert_eq!(
        up.hits_for("backup-model").len(),
        2,
        "one answer per request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_request_num_retries_and_timeout_from_extra_body() {
    let Some(sdk) = Sdk::find() else { return };
    let gw = Gateway::start().await;
    let up = &gw.upstream;
    up.script("gpt-4o", [Behaviour::openai_server_error(500)]);
    up.always("backup-model", Behaviour::Hang);

    let results = sdk
        .run(
            &gw,
            MASTER_KEY,
            &json!([
                {"op": "chat", "model": "gpt-4o", "kwargs": {"extra_body": {"num_retries": 0}}},
                {"op": "chat", "model": "backup", "kwargs": {"extra_body": {"timeout": 0.5}}},
            ]),
        )
        .await;

    let r = raised(&results[0], "InternalServerError", 500, "num_retries: 0");
    assert_eq!(r["headers"]["x-switchyard-attempted-retries"], "0", "{r}");
    assert_eq!(
        up.hits_for("gpt-4o").len(),
        1,
        "num_retries: 0 makes one attempt although the next one would have succeeded"
    );

    let r = raised(
        &results[1],
        "APIStatusError",
        408,
        "a total timeout of 0.5 s",
    );
    let elapsed = r["elapsed"].as_f64().unwrap_or(f64::MAX);
    assert!(
        elapsed < 5.0,
        "the request's own timeout bounds it, retries included (took {elapsed:.2} s): {r}"
    );
    assert!(
        !up.hits_for("backup-model").is_empty(),
        "the upstream was called before the deadline"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_key_is_required_and_checked_before_any_upstream_call() {
    let Some(sdk) = Sdk::find() else { return };
    let gw = Gateway::start().await;
    let wrong = "sk-not-the-master-key";
    let results = sdk
        .run(
            &gw,
            MASTER_KEY,
            &json!([
                {"op": "chat", "model": "gpt-4o", "api_key": wrong},
                {"op": "models", "api_key": wrong},
                {"op": "embeddings", "model": "embed", "api_key": wrong},
                {"op": "chat", "model": "gpt-4o"},
            ]),
        )
        .await;
    raised(&results[0], "AuthenticationError", 401, "a wrong proxy key");
    raised(
        &results[1],
        "AuthenticationError",
        401,
        "a wrong proxy key on /v1/models",
    );
    raised(
        &results[2],
        "AuthenticationError",
        401,
        "a wrong proxy key on /v1/embeddings",
    );
    ok(&results[3], "the master key");
    assert_eq!(
        gw.upstream.hits().len(),
        1,
        "only the caller with the right key cost an upstream call: {:?}",
        gw.upstream.hits()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_and_the_model_list_through_the_sdk() {
    let Some(sdk) = Sdk::find() else { return };
    let gw = Gateway::start().await;
    let results = sdk
        .run(
            &gw,
            MASTER_KEY,
            &json!([
                {"op": "embeddings", "model": "embed", "input": "hello"},
                {"op": "models"},
            ]),
        )
        .await;

    let emb = ok(&results[0], "embeddings");
    assert_eq!(emb["count"], 1, "{emb}");
    assert!(emb["dimensions"].as_u64().is_some_and(|d| d > 0), "{emb}");
    assert_eq!(emb["headers"]["x-switchyard-model-group"], "embed", "{emb}");
    let hits = gw.upstream.hits_for("text-embedding-e2e");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].path, "/v1/embeddings");

    let models = ok(&results[1], "models.list()");
    let mut ids: Vec<&str> = models["ids"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "azure-gpt",
            "backup",
            "claude",
            "embed",
            "gpt-4o",
            "primary",
        ],
        "every configured model group, and nothing else"
    );
}
