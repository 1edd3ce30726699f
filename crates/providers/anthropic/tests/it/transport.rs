//! Transport failures and connection handling: refused, timeouts, malformed bodies, reuse,
//! and the key kept out of errors and `Debug`.

use std::time::Duration;

use mock_upstream::{Behaviour, WILDCARD};
use provider::{CallContext, ErrorKind, Provider};
use serde_json::Value;
use switchyard_anthropic::AnthropicProvider;

use crate::support::{self, KEY, ctx, drain, request};

#[tokio::test]
async fn connection_refused_is_a_connection_error_without_the_key() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let provider = AnthropicProvider::builder("claude-sonnet-4-5")
        .api_key(KEY)
        .api_base(format!("http://127.0.0.1:{port}"))
        .build()
        .expect("builds");
    let e = provider
        .chat(&request(), &ctx())
        .await
        .expect_err("refused");
    assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
    assert!(
        e.message().contains(&format!("127.0.0.1:{port}")),
        "{}",
        e.message()
    );
    let e = provider
        .chat_stream(&request(), &ctx())
        .await
        .err()
        .expect("refused");
    assert_eq!(e.kind(), ErrorKind::Connection);
    for shown in [e.to_string(), format!("{e:?}"), format!("{provider:?}")] {
        assert!(!shown.contains(KEY), "{shown}");
    }
    assert!(format!("{provider:?}").contains("[redacted]"));
}

#[tokio::test]
async fn a_hanging_upstream_times_out() {
    let upstream = support::mock().await;
    let provider = support::anthropic(&upstream, "claude-sonnet-4-5");
    upstream.always(WILDCARD, Behaviour::Hang);
    let limited = CallContext::new("r").with_attempt_timeout(Duration::from_millis(200));
    let e = provider
        .chat(&request(), &limited)
        .await
        .expect_err("times out");
    assert_eq!(e.kind(), ErrorKind::Timeout);
    let e = provider
        .chat_stream(&request(), &limited)
        .await
        .err()
        .expect("times out");
    assert_eq!(e.kind(), ErrorKind::Timeout);
}

#[tokio::test]
async fn malformed_and_non_json_success_bodies_are_clear_errors() {
    let upstream = support::mock().await;
    let provider = support::anthropic(&upstream, "claude-sonnet-4-5");
    upstream.always(WILDCARD, Behaviour::MalformedJson);
    let e = provider
        .chat(&request(), &ctx())
        .await
        .expect_err("malformed");
    assert_eq!(e.kind(), ErrorKind::InternalServer);
    assert!(e.message().contains("truncated JSON"), "{}", e.message());

    upstream.always(
        WILDCARD,
        Behaviour::Status {
            status: 200,
            body: Some(Value::String(
                "<!DOCTYPE html><html><body>Maintenance</body></html>".to_owned(),
            )),
            headers: vec![("content-type".to_owned(), "text/html".to_owned())],
        },
    );
    let e = provider.chat(&request(), &ctx()).await.expect_err("html");
    assert_eq!(e.kind(), ErrorKind::InternalServer);
    assert!(e.message().contains("an HTML page"), "{}", e.message());

    upstream.always(
        WILDCARD,
        Behaviour::status_with(200, serde_json::json!({"id": "msg"}), Vec::new()),
    );
    let e = provider
        .chat(&request(), &ctx())
        .await
        .expect_err("no content");
    assert_eq!(e.kind(), ErrorKind::InternalServer);
}

#[tokio::test]
async fn sequential_calls_reuse_one_connection() {
    let upstream = support::mock().await;
    let provider = support::anthropic(&upstream, "claude-sonnet-4-5");
    for _ in 0..3 {
        provider.chat(&request(), &ctx()).await.expect("answer");
        let (_, error) = drain(
            provider
                .chat_stream(&request(), &ctx())
                .await
                .expect("opens"),
        )
        .await;
        assert!(error.is_none());
    }
    upstream.always(WILDCARD, Behaviour::anthropic_overloaded());
    assert!(provider.chat(&request(), &ctx()).await.is_err());
    assert_eq!(upstream.hits().len(), 7);
    assert_eq!(upstream.connections_accepted(), 1);
}
