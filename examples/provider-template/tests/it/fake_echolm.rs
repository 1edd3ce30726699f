//! A fake EchoLM server: a tokio `TcpListener` speaking just enough HTTP/1.1 to play every
//! conformance [`Scenario`] in EchoLM's wire format. The tests and `examples/router.rs` share it.
//!
//! Each connection carries one request and is closed after the answer (`connection: close`), so
//! a body without `content-length` ends where the connection does — which is how a stream is
//! cut on purpose. Write the fake of your own API the same way: the conformance kit only needs
//! [`Upstream::arrange`] (how to answer from now on) and [`Upstream::hits`] (how many requests
//! arrived since).

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
};

use serde_json::{Value, json};
use switchyard_provider::{
    BoxFuture,
    conformance::{Scenario, Upstream},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::{JoinHandle, JoinSet},
};

/// A running fake EchoLM server on 127.0.0.1; it stops when dropped.
pub(crate) struct FakeEchoLm {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

struct Shared {
    api_key: String,
    scenario: Mutex<Scenario>,
    hits: AtomicUsize,
    last_request: Mutex<Option<Request>>,
}

/// A request as the fake received it.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    /// The `authorization` header.
    pub(crate) authorization: Option<String>,
    /// The JSON body.
    pub(crate) body: Value,
}

impl FakeEchoLm {
    /// Starts a server on a free port that accepts the key `api_key` and answers
    /// [`Scenario::Success`] until told otherwise.
    pub(crate) async fn start(api_key: &str) -> FakeEchoLm {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let shared = Arc::new(Shared {
            api_key: api_key.to_owned(),
            scenario: Mutex::new(Scenario::Success),
            hits: AtomicUsize::new(0),
            last_request: Mutex::new(None),
        });
        let server = tokio::spawn(serve(listener, Arc::clone(&shared)));
        FakeEchoLm {
            addr,
            shared,
            server,
        }
    }

    /// The `api_base` to give the provider.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The last request received.
    pub(crate) fn last_request(&self) -> Option<Request> {
        self.shared
            .last_request
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for FakeEchoLm {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every open connection.
        self.server.abort();
    }
}

impl Upstream for FakeEchoLm {
    fn arrange<'a>(&'a self, scenario: Scenario) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            *self
                .shared
                .scenario
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = scenario;
            self.shared.hits.store(0, Ordering::SeqCst);
        })
    }

    fn hits<'a>(&'a self) -> BoxFuture<'a, usize> {
        Box::pin(async move { self.shared.hits.load(Ordering::SeqCst) })
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((socket, _)) = accepted {
                    connections.spawn(handle(socket, Arc::clone(&shared)));
                }
            }
            // Reap finished connections so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn handle(mut socket: TcpStream, shared: Arc<Shared>) {
    let Some((head, body)) = read_request(&mut socket).await else {
        return;
    };
    shared.hits.fetch_add(1, Ordering::SeqCst);
    let authorization = header(&head, "authorization");
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    *shared
        .last_request
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = Some(Request {
        authorization: authorization.clone(),
        body: body.clone(),
    });

    if !head.starts_with("POST /v2/generate ") {
        let answer = error(
            404,
            "unknown_endpoint",
            "EchoLM serves POST /v2/generate only",
            None,
        );
        return write_all(&mut socket, &answer).await;
    }
    if authorization.as_deref() != Some(&format!("Bearer {}", shared.api_key)) {
        let answer = error(401, "bad_key", "unknown API key", None);
        return write_all(&mut socket, &answer).await;
    }
    let stream = body["stream"].as_bool().unwrap_or(false);
    let prompt = body["prompt"].as_str().unwrap_or_default();
    let max_tokens = body["max_tokens"]
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(16);
    let scenario = *shared
        .scenario
        .lock()
        .unwrap_or_else(PoisonError::into_inner);

    match scenario {
        Scenario::Success if stream => {
            let mut events = String::new();
            for word in answer_words(prompt, max_tokens) {
                events.push_str(&event(None, &json!({ "delta": format!("{word} ") })));
            }
            events.push_str(&event(None, &done(prompt, max_tokens)));
            write_all(&mut socket, &(sse_head() + &events)).await;
        }
        Scenario::Success => {
            let output = answer_words(prompt, max_tokens).join(" ");
            let mut answer = done(prompt, max_tokens);
            answer["output"] = output.into();
            answer["id"] = "gen-fake-1".into();
            write_all(&mut socket, &json_response(200, "", &answer.to_string())).await;
        }
        Scenario::Status429 { retry_after_secs } => {
            // The wait twice, as many APIs send it: a header and a field of the body.
            let answer = error_with_headers(
                429,
                "rate_limited",
                "too many requests for this key",
                Some(retry_after_secs * 1000),
                &format!("retry-after: {retry_after_secs}\r\n"),
            );
            write_all(&mut socket, &answer).await;
        }
        Scenario::Status500 => {
            let answer = error(500, "internal", "something broke inside EchoLM", None);
            write_all(&mut socket, &answer).await;
        }
        Scenario::Status503 => {
            let answer = error(503, "overloaded", "EchoLM is overloaded", Some(500));
            write_all(&mut socket, &answer).await;
        }
        Scenario::Status401 => {
            let answer = error(401, "bad_key", "unknown API key", None);
            write_all(&mut socket, &answer).await;
        }
        Scenario::ContextWindow400 => {
            let answer = error(
                400,
                "prompt_too_long",
                "the prompt has 9000 tokens, the model takes 8192",
                None,
            );
            write_all(&mut socket, &answer).await;
        }
        Scenario::Hang => {
            // Read until the client gives up and closes the connection; never answer.
            let mut buf = [0u8; 1024];
            while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
        }
        Scenario::CutStream { after_chunks } if stream => {
            let mut events = String::new();
            for word in answer_words(prompt, max_tokens).iter().take(after_chunks) {
                events.push_str(&event(None, &json!({ "delta": format!("{word} ") })));
            }
            // No `done` event: the connection closes here.
            write_all(&mut socket, &(sse_head() + &events)).await;
        }
        Scenario::CutStream { .. } => {
            // Promise 200 bytes, send a few, close.
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 200\r\nconnection: close\r\n\r\n";
            write_all(&mut socket, &format!("{head}{{\"output\": \"ech")).await;
        }
        Scenario::ErrorEventInStream if stream => {
            let err = json!({"err": {"kind": "overloaded", "msg": "EchoLM is overloaded", "retry_in_ms": 500}});
            write_all(&mut socket, &(sse_head() + &event(Some("error"), &err))).await;
        }
        Scenario::ErrorEventInStream => {
            let answer = error(503, "overloaded", "EchoLM is overloaded", Some(500));
            write_all(&mut socket, &answer).await;
        }
        Scenario::MalformedJson if stream => {
            write_all(
                &mut socket,
                &(sse_head() + "data: {\"delta\": \"unterminated\n\n"),
            )
            .await;
        }
        Scenario::MalformedJson => {
            write_all(
                &mut socket,
                &json_response(200, "", "{\"output\": \"unterminated"),
            )
            .await;
        }
    }
}

/// Reads one request: its head (request line and headers) and its body (`content-length`).
async fn read_request(socket: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = header(&head, "content-length")
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((head, body))
}

/// The value of header `name` (any case) in a request head.
fn header(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

/// What EchoLM "generates": an echo of the last line of the prompt, at most `max_tokens` words.
fn answer_words(prompt: &str, max_tokens: usize) -> Vec<String> {
    let last = prompt.lines().last().unwrap_or_default();
    let said = last.split_once(": ").map_or(last, |(_, text)| text);
    std::iter::once("echo:")
        .chain(said.split_whitespace())
        .take(max_tokens.max(1))
        .map(str::to_owned)
        .collect()
}

/// The `done` event (and the counts of a plain answer).
fn done(prompt: &str, max_tokens: usize) -> Value {
    let words = answer_words(prompt, max_tokens);
    json!({
        "done": true,
        "stop": if words.len() >= max_tokens { "max_tokens" } else { "end" },
        "tokens_in": prompt.split_whitespace().count(),
        "tokens_out": words.len(),
    })
}

fn sse_head() -> String {
    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n"
        .to_owned()
}

fn event(name: Option<&str>, data: &Value) -> String {
    match name {
        Some(name) => format!("event: {name}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

fn json_response(status: u16, extra_headers: &str, body: &str) -> String {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra_headers}\r\n{body}",
        body.len()
    )
}

/// An EchoLM error answer.
fn error(status: u16, kind: &str, msg: &str, retry_in_ms: Option<u64>) -> String {
    error_with_headers(status, kind, msg, retry_in_ms, "")
}

/// An EchoLM error answer with more headers (each line ending in `\r\n`).
fn error_with_headers(
    status: u16,
    kind: &str,
    msg: &str,
    retry_in_ms: Option<u64>,
    extra_headers: &str,
) -> String {
    let mut err = json!({ "kind": kind, "msg": msg });
    if let Some(ms) = retry_in_ms {
        err["retry_in_ms"] = ms.into();
    }
    json_response(status, extra_headers, &json!({ "err": err }).to_string())
}

async fn write_all(socket: &mut TcpStream, text: &str) {
    // The client may already be gone (a dropped call): nothing to do about it here.
    let _ = socket.write_all(text.as_bytes()).await;
    let _ = socket.shutdown().await;
}
