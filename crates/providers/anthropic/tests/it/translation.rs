//! Request translation fixtures: the JSON body the mock upstream received, field by field.

use mock_upstream::WILDCARD;
use provider::{
    ChatRequest, ContentPart, ErrorKind, Message, Provider, Stop, StreamOptions, Tool, ToolCall,
};
use serde_json::json;

use crate::support::{self, ctx, request};

/// Sends `req` (plain) and returns the body the upstream received.
async fn sent_body(req: &ChatRequest) -> serde_json::Value {
    let upstream = support::mock().await;
    let provider = support::anthropic(&upstream, "claude-sonnet-4-5");
    provider.chat(req, &ctx()).await.expect("the mock answers");
    let hits = upstream.hits();
    assert_eq!(hits.len(), 1);
    hits[0].body.clone()
}

#[tokio::test]
async fn a_full_conversation_translates_to_the_messages_api() {
    let mut assistant = Message::assistant("Let me look that up.");
    assistant.tool_calls = Some(vec![
        ToolCall::function("toolu_01", "get_weather", r#"{"city":"Paris"}"#),
        ToolCall::function("toolu_02", "get_time", ""),
    ]);
    let mut cached = ContentPart::text("Long shared context.");
    if let ContentPart::Text(t) = &mut cached {
        t.extra
            .insert("cache_control".to_owned(), json!({"type": "ephemeral"}));
    }
    let mut req = ChatRequest::new(
        "my-group",
        vec![
            Message::system("You are terse."),
            Message::developer(vec![cached]),
            Message::user(vec![
                ContentPart::text("What is in these pictures, and the weather?"),
                ContentPart::image_url("data:image/png;base64,iVBORw0KGgo="),
                ContentPart::image_url("https://example.com/cat.jpg"),
            ]),
            assistant,
            Message::tool("toolu_01", "18°C and sunny"),
            Message::tool("toolu_02", "14:05"),
            Message::user("Thanks. And tomorrow?"),
        ],
    );
    req.tools = Some(vec![Tool::function(
        "get_weather",
        "Weather for a city",
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    )]);
    req.tool_choice = Some(json!({"type": "function", "function": {"name": "get_weather"}}));
    req.extra
        .insert("parallel_tool_calls".to_owned(), json!(false));
    req.extra.insert("top_k".to_owned(), json!(5));
    req.stop = Some(Stop::Many(vec!["\n\nHuman:".to_owned(), "END".to_owned()]));
    req.max_tokens = Some(100);
    req.max_completion_tokens = Some(300);
    req.temperature = Some(0.5);
    req.top_p = Some(0.9);
    req.user = Some("user-123".to_owned());
    req.stream = Some(true);
    req.stream_options = Some(StreamOptions::include_usage(true));

    let body = sent_body(&req).await;
    let expected = json!({
        "model": "claude-sonnet-4-5",
        "system": [
            {"type": "text", "text": "You are terse."},
            {"type": "text", "text": "Long shared context.", "cache_control": {"type": "ephemeral"}}
        ],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "What is in these pictures, and the weather?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
            ]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me look that up."},
                {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_02", "name": "get_time", "input": {}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18°C and sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_02", "content": "14:05"},
                {"type": "text", "text": "Thanks. And tomorrow?"}
            ]}
        ],
        "max_tokens": 300,
        "temperature": 0.5,
        "top_p": 0.9,
        "stop_sequences": ["\n\nHuman:", "END"],
        "tools": [{
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        }],
        "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": true},
        "top_k": 5,
        "metadata": {"user_id": "user-123"}
    });
    assert_eq!(body, expected, "sent: {body:#}");
}

#[tokio::test]
async fn a_simple_request_uses_strings_and_the_default_max_tokens() {
    let mut req = request();
    req.messages.insert(0, Message::system("Be brief."));
    let body = sent_body(&req).await;
    assert_eq!(
        body,
        json!({
            "model": "claude-sonnet-4-5",
            "system": "Be brief.",
            "messages": [{"role": "user", "content": "Say hello"}],
            "max_tokens": 4096
        })
    );
}

#[tokio::test]
async fn the_request_carries_anthropic_headers() {
    let upstream = support::mock().await;
    let provider = switchyard_anthropic::AnthropicProvider::builder("claude-haiku-4-5")
        .api_key(support::KEY)
        .api_base(format!("{}/", upstream.anthropic_base()))
        .beta("prompt-caching-2024-07-31")
        .beta("token-efficient-tools-2025-02-19")
        .extra_headers([("x-team", "search")])
        .default_max_tokens(512)
        .build()
        .expect("builds");
    provider.chat(&request(), &ctx()).await.expect("answer");
    let hit = &upstream.hits()[0];
    assert_eq!(hit.path, "/v1/messages");
    assert_eq!(hit.api_key_last4.as_deref(), Some("9876"));
    assert!(hit.header("x-api-key").is_some());
    assert!(hit.header("authorization").is_none());
    assert_eq!(hit.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(
        hit.header("anthropic-beta"),
        Some("prompt-caching-2024-07-31,token-efficient-tools-2025-02-19")
    );
    assert_eq!(hit.header("x-team"), Some("search"));
    assert_eq!(hit.body["max_tokens"], 512);
    assert_eq!(hit.body["model"], "claude-haiku-4-5");
}

#[tokio::test]
async fn tool_choice_strings_map_to_anthropic_types() {
    for (choice, expected) in [
        ("auto", json!({"type": "auto"})),
        ("required", json!({"type": "any"})),
        ("none", json!({"type": "none"})),
    ] {
        let mut req = request();
        req.tool_choice = Some(json!(choice));
        assert_eq!(sent_body(&req).await["tool_choice"], expected, "{choice}");
    }
}

#[tokio::test]
async fn parameters_anthropic_cannot_honour_fail_before_any_request() {
    let upstream = support::mock().await;
    let provider = support::anthropic(&upstream, "claude-sonnet-4-5");
    upstream.always(WILDCARD, mock_upstream::Behaviour::status(500));
    let mut cases: Vec<(&str, ChatRequest)> = Vec::new();
    let mut req = request();
    req.n = Some(2);
    cases.push(("n", req));
    let mut req = request();
    req.seed = Some(7);
    cases.push(("seed", req));
    let mut req = request();
    req.response_format = Some(json!({"type": "json_object"}));
    cases.push(("response_format", req));
    let mut req = request();
    req.extra.insert("presence_penalty".to_owned(), json!(0.5));
    cases.push(("presence_penalty", req));
    let mut req = request();
    req.messages = vec![Message::user(vec![ContentPart::Other(
        json!({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}),
    )])];
    cases.push(("audio", req));
    for (name, req) in cases {
        let e = provider.chat(&req, &ctx()).await.expect_err(name);
        assert_eq!(e.kind(), ErrorKind::UnsupportedParams, "{name}: {e}");
        assert_eq!(e.status(), None);
    }
    let mut req = request();
    req.messages = vec![Message::user(vec![ContentPart::image_url(
        "ftp://example.com/cat.png",
    )])];
    let e = provider
        .chat(&req, &ctx())
        .await
        .expect_err("bad image url");
    assert_eq!(e.kind(), ErrorKind::BadRequest);
    let mut bad_args = Message::assistant("");
    bad_args.tool_calls = Some(vec![ToolCall::function("t1", "f", "[1, 2]")]);
    req.messages = vec![Message::user("hi"), bad_args];
    let e = provider
        .chat(&req, &ctx())
        .await
        .expect_err("arguments not an object");
    assert_eq!(e.kind(), ErrorKind::BadRequest);
    assert!(upstream.hits().is_empty(), "nothing was sent");

    // Neutral values of those parameters are simply not sent.
    let mut req = request();
    req.n = Some(1);
    req.extra.insert("frequency_penalty".to_owned(), json!(0));
    req.extra.insert("logprobs".to_owned(), json!(false));
    upstream.clear_always(WILDCARD);
    provider
        .chat(&req, &ctx())
        .await
        .expect("neutral values are fine");
    let body = &upstream.hits()[0].body;
    assert!(
        body.get("frequency_penalty").is_none()
            && body.get("logprobs").is_none()
            && body.get("n").is_none()
    );
}
