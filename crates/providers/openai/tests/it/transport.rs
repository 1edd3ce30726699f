//! Transport failures and connection handling: refused, hangs and timeouts, dropped
//! connections, malformed bodies, and reuse of one pooled connection.

use std::time::{Duration, Instant};

use mock_upstream::{Behaviour, WILDCARD};
use provider::{CallContext, ErrorKind, Provider};
use serde_json::Value;
use switchyard_openai::{HttpClient, OpenAiProvider};

use crate::support::{self, KEY, ctx, request};

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A provider on `base`, through `client` when given (else its own default client).
fn provider_on(base: String, client: Option<&HttpClient>) -> OpenAiProvider {
    let builder = OpenAiProvider::builder("gpt-4o")
        .api_key(KEY)
        .api_base(base);
    match client {
        Some(client) => builder.client(client.clone()),
        None => builder,
    }
    .build()
    .expect("builds")
}

/// Plain and streamed calls to a hanging upstream end in a timeout, well within 3 s.
async fn assert_hang_times_out(provider: &OpenAiProvider) {
    let limited = CallContext::new("r").with_attempt_timeout(Duration::from_millis(200));
    let started = Instant::now();
    let e = provider
        .chat(&request(), &limited)
        .await
        .expect_err("times out");
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    let e = provider
        .chat_stream(&request(), &limited)
        .await
        .err()
        .expect("times out");
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn connection_refused_is_a_connection_error_naming_the_host() {
    let port = closed_port();
    let provider = provider_on(format!("http://127.0.0.1:{port}/v1"), None);
    let e = provider
        .chat(&request(), &ctx())
        .await
        .expect_err("refused");
    assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
    assert_eq!(e.status(), None);
    assert!(
        e.message().contains(&format!("127.0.0.1:{port}")),
        "{}",
        e.message()
    );
    assert!(
        !e.message().contains("/v1"),
        "no path in messages: {}",
        e.message()
    );
    let e = provider
        .chat_stream(&request(), &ctx())
        .await
        .err()
        .expect("refused");
    assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
    assert!(!format!("{e:?}").contains(KEY));
}

#[tokio::test]
async fn a_hanging_upstream_times_out_within_the_attempt_limit() {
    let upstream = support::mock().await;
    let provider = support::openai(&upstream, "gpt-4o");
    upstream.always(WILDCARD, Behaviour::Hang);
    assert_hang_times_out(&provider).await;
}

#[tokio::test]
async fn a_slow_stream_is_not_cut_by_the_header_limit() {
    let upstream = support::mock().await;
    let provider = support::openai(&upstream, "gpt-4o");
    upstream.always(
        WILDCARD,
        Behaviour::SlowStream {
            chunk_delay: Duration::from_millis(200),
        },
    );
    // Headers come at once; the body takes longer than the limit, which bounds headers only.
    let limited = CallContext::new("r").with_attempt_timeout(Duration::from_millis(500));
    let (chunks, error) = support::stream_of(&provider, &request(), &limited).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(support::text_of(&chunks), "mock answer from gpt-4o");
}

#[tokio::test]
async fn dropped_connections_and_cut_bodies_are_connection_errors() {
    // A server that reads the request and closes the connection without a byte of answer.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = tokio::spawn(async move {
        for _ in 0..2 {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut buf = vec![0u8; 64 * 1024];
            let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut buf).await;
            drop(socket);
        }
    });
    let closing = OpenAiProvider::builder("gpt-4o")
        .api_base(format!("http://127.0.0.1:{port}/v1"))
        .build()
        .expect("builds");
    let e = closing.chat(&request(), &ctx()).await.expect_err("closed");
    assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
    let e = closing
        .chat_stream(&request(), &ctx())
        .await
        .err()
        .expect("closed");
    assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
    server.await.expect("the closing server ran");

    let upstream = support::mock().await;
    let provider = support::openai(&upstream, "gpt-4o");
    upstream.always(WILDCARD, Behaviour::CutStream { after_chunks: 1 });
    let e = provider
        .chat(&request(), &ctx())
        .await
        .expect_err("cut body");
    assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
}

#[tokio::test]
async fn malformed_and_non_json_success_bodies_are_clear_errors() {
    let upstream = support::mock().await;
    let provider = support::openai(&upstream, "gpt-4o");
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
                "<html><body>Sign in to continue</body></html>".to_owned(),
            )),
            headers: vec![("content-type".to_owned(), "text/html".to_owned())],
        },
    );
    let e = provider.chat(&request(), &ctx()).await.expect_err("html");
    assert_eq!(e.kind(), ErrorKind::InternalServer);
    assert!(e.message().contains("an HTML page"), "{}", e.message());
}

#[tokio::test]
async fn oversized_answers_are_read_whole() {
    let upstream = support::mock().await;
    let provider = support::openai(&upstream, "gpt-4o");
    upstream.always(
        WILDCARD,
        Behaviour::Oversized {
            bytes: 2 * 1024 * 1024,
        },
    );
    let response = provider.chat(&request(), &ctx()).await.expect("big answer");
    assert_eq!(response.text().map(str::len), Some(2 * 1024 * 1024));
}

#[tokio::test]
async fn sequential_calls_reuse_one_connection() {
    let upstream = support::mock().await;
    let provider = support::openai(&upstream, "gpt-4o");
    for _ in 0..3 {
        provider.chat(&request(), &ctx()).await.expect("answer");
        let (_, error) = support::stream_of(&provider, &request(), &ctx()).await;
        assert!(error.is_none());
    }
    // An error answer leaves the connection reusable too.
    upstream.always(WILDCARD, Behaviour::openai_server_error(500));
    assert!(provider.chat(&request(), &ctx()).await.is_err());
    assert_eq!(upstream.hits().len(), 7);
    assert_eq!(upstream.connections_accepted(), 1);
}

#[tokio::test]
async fn providers_can_share_one_client_and_pool() {
    let upstream = support::mock().await;
    let client = switchyard_openai::default_client().expect("client");
    let build = |model: &str| {
        OpenAiProvider::builder(model)
            .api_base(upstream.openai_base())
            .client(client.clone())
            .build()
            .expect("builds")
    };
    let (a, b) = (build("model-a"), build("model-b"));
    a.chat(&request(), &ctx()).await.expect("a answers");
    b.chat(&request(), &ctx()).await.expect("b answers");
    assert_eq!(upstream.connections_accepted(), 1);
}

/// The same transport behaviour through a reqwest client handed in (proxies, custom roots):
/// refused, hanging, cut and error answers are classified as on the direct client, and plain
/// and streamed answers come through.
#[tokio::test]
async fn a_reqwest_client_handed_in_behaves_the_same() {
    let reqwest = HttpClient::from(switchyard_openai::default_client().expect("client"));
    assert!(reqwest.is_reqwest());
    let build = |base: String| provider_on(base, Some(&reqwest));

    let port = closed_port();
    let refused = build(format!("http://127.0.0.1:{port}/v1"));
    let e = refused.chat(&request(), &ctx()).await.expect_err("refused");
    assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
    assert!(e.message().contains(&format!("127.0.0.1:{port}")), "{e}");

    let upstream = support::mock().await;
    let provider = build(upstream.openai_base());
    assert_eq!(
        provider
            .chat(&request(), &ctx())
            .await
            .expect("answers")
            .text(),
        Some("mock answer from gpt-4o")
    );
    let (chunks, error) = support::stream_of(&provider, &request(), &ctx()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(support::text_of(&chunks), "mock answer from gpt-4o");

    upstream.always(WILDCARD, Behaviour::openai_server_error(503));
    let e = provider.chat(&request(), &ctx()).await.expect_err("503");
    assert_eq!(
        (e.kind(), e.status()),
        (ErrorKind::ServiceUnavailable, Some(503)),
        "{e}"
    );

    upstream.always(WILDCARD, Behaviour::CutStream { after_chunks: 1 });
    let e = provider.chat(&request(), &ctx()).await.expect_err("cut");
    assert_eq!(e.kind(), ErrorKind::Connection, "{e}");

    upstream.always(WILDCARD, Behaviour::Hang);
    assert_hang_times_out(&provider).await;
}

/// On the direct client a plain call's limit covers the body too: headers that come at once
/// followed by a body that stalls still end in a timeout, not a hang.
#[tokio::test]
async fn a_stalled_body_times_out_on_a_plain_call() {
    let upstream = support::mock().await;
    let provider = support::openai(&upstream, "gpt-4o");
    upstream.always(
        WILDCARD,
        Behaviour::SlowStream {
            chunk_delay: Duration::from_secs(5),
        },
    );
    let limited = CallContext::new("r").with_attempt_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let e = provider
        .chat(&request(), &limited)
        .await
        .expect_err("times out");
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}
