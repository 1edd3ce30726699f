//! Serving connections: one acceptor, and worker threads that each run a single-threaded
//! runtime of their own.
//!
//! A connection is handed to one worker when it is accepted (round robin) and stays there: the
//! worker reads its requests, runs the handler, makes the upstream call and writes the answer,
//! all on one thread. Upstream connections are pooled per thread too (`switchyard-openai`'s
//! `HttpClient`), so a request never waits for another thread to be woken. With tokio's
//! work-stealing runtime every hand-off between the handler and a connection task could wake an
//! idle worker; on two cores that was about two `futex` calls per request and a fifth of the
//! proxy's CPU (docs/benchmarks.md has the measurements).
//!
//! What is shared between workers is what must be: the router (cooldowns, counters, limits), the
//! keys and the metrics, all behind `Arc`s and atomics.

use std::{future::Future, io, num::NonZeroUsize, sync::Arc, thread, time::Duration};

use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{mpsc, oneshot, watch},
    task::JoinSet,
};

use super::{AppState, app};

/// Serves the proxy's app on `listener` with `workers` worker threads until `shutdown`
/// resolves; then stops accepting, lets every in-flight request finish and returns.
///
/// The acceptor runs on the caller's runtime, which also keeps whatever else the caller spawned
/// there (the Redis connection's tasks, for example). Each worker thread runs a current-thread
/// runtime of its own.
///
/// # Errors
///
/// If a worker thread or its runtime cannot be started.
pub async fn serve_on_workers(
    listener: TcpListener,
    state: Arc<AppState>,
    workers: NonZeroUsize,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let app = app(state);
    // `true` once the server stops: connections finish their request and close.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut inboxes = Vec::with_capacity(workers.get());
    let mut finished = Vec::with_capacity(workers.get());
    let mut threads = Vec::with_capacity(workers.get());
    for index in 0..workers.get() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (inbox, connections) = mpsc::unbounded_channel::<std::net::TcpStream>();
        let (done_tx, done_rx) = oneshot::channel::<()>();
        let app = app.clone();
        let stop = stop_rx.clone();
        let spawned = thread::Builder::new()
            .name(format!("switchyard-worker-{index}"))
            .spawn(move || {
                runtime.block_on(worker(connections, app, stop));
                // Dropping the runtime here ends what is left (nothing, after `worker`).
                drop(runtime);
                let _ = done_tx.send(());
            });
        match spawned {
            Ok(handle) => threads.push(handle),
            Err(e) => {
                // Stop the workers already started before reporting.
                drop(inboxes);
                let _ = stop_tx.send(true);
                return Err(e);
            }
        }
        inboxes.push(inbox);
        finished.push(done_rx);
    }

    let mut shutdown = std::pin::pin!(shutdown);
    let mut next = 0usize;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::error!(error = %e, "cannot accept a connection; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        // Deregistered from this runtime; the worker registers it with its own.
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!(error = %e, "cannot hand a connection to a worker");
                continue;
            }
        };
        // A worker only stops when its inbox closes, so sending cannot fail while we hold it.
        let _ = inboxes[next].send(stream);
        next = (next + 1) % inboxes.len();
    }

    drop(listener);
    let _ = stop_tx.send(true);
    drop(inboxes);
    for done in finished {
        let _ = done.await;
    }
    for handle in threads {
        let _ = handle.join();
    }
    Ok(())
}

/// One worker: serves the connections it is handed until its inbox closes, then waits for
/// them to finish.
async fn worker(
    mut inbox: mpsc::UnboundedReceiver<std::net::TcpStream>,
    app: axum::Router,
    stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    while let Some(stream) = inbox.recv().await {
        // Reap connections that have ended, so the set does not grow with the server's age.
        while connections.try_join_next().is_some() {}
        let stream = match TcpStream::from_std(stream) {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!(error = %e, "cannot register a client connection");
                continue;
            }
        };
        // Streamed answers are many small writes: without TCP_NODELAY, Nagle's algorithm holds
        // each one back until the client acknowledges the last.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on a client connection");
        }
        connections.spawn(connection(stream, app.clone(), stop.clone()));
    }
    while connections.join_next().await.is_some() {}
}

/// Serves one client connection (HTTP/1.1, keep-alive) until the client closes it, or until the
/// server stops and the request in flight, if any, is answered.
async fn connection(stream: TcpStream, app: axum::Router, mut stop: watch::Receiver<bool>) {
    // axum's router takes hyper's body type as it is.
    let service = TowerToHyperService::new(app);
    // No timer, so no header-read timeout (as with `axum::serve`): with one, every request
    // armed a 30 s sleep, and each sleep woke the runtime's driver through its eventfd (one
    // `write` and one more `epoll_wait` per request, strace).
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let stopping = stop.wait_for(|stopped| *stopped);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::trace!(error = %e, "client connection ended with an error");
            }
            return;
        }
        _ = stopping => {}
    }
    conn.as_mut().graceful_shutdown();
    if let Err(e) = conn.await {
        tracing::trace!(error = %e, "client connection ended with an error");
    }
}

/// Errors of one incoming connection (it was reset before we accepted it), not of the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use std::{
        collections::BTreeSet,
        sync::{Arc, Mutex},
    };

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use provider::{
        BoxFuture, CallContext, ChatChunk, ChatRequest, ChatResponse, ChunkStream, Provider,
        ProviderError,
    };
    use tokio::sync::Semaphore;

    use super::*;
    use crate::{
        config::{self, Config},
        wiring::{self, Extras, ProviderFactory},
    };

    /// Answers once a permit is available, and records the thread each call ran on.
    struct Gate {
        permits: Arc<Semaphore>,
        threads: Arc<Mutex<Vec<String>>>,
    }

    impl Provider for Gate {
        fn name(&self) -> &'static str {
            "gate"
        }
        fn model(&self) -> &str {
            "gate-1"
        }
        fn chat<'a>(
            &'a self,
            _req: &'a ChatRequest,
            _ctx: &'a CallContext,
        ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
            Box::pin(async move {
                let name = thread::current().name().unwrap_or("unnamed").to_owned();
                self.threads.lock().expect("not poisoned").push(name);
                let permit = self.permits.acquire().await.expect("never closed");
                permit.forget();
                Ok(ChatResponse::from_text("gate-0", "gate-1", "through"))
            })
        }
        fn chat_stream<'a>(
            &'a self,
            req: &'a ChatRequest,
            ctx: &'a CallContext,
        ) -> BoxFuture<'a, Result<ChunkStream, ProviderError>> {
            Box::pin(async move {
                let response = self.chat(req, ctx).await?;
                let chunks = ChatChunk::split_response(&response);
                let stream: ChunkStream =
                    Box::pin(futures::stream::iter(chunks.into_iter().map(Ok)));
                Ok(stream)
            })
        }
    }

    struct GateFactory(Arc<Semaphore>, Arc<Mutex<Vec<String>>>);

    impl ProviderFactory for GateFactory {
        fn build(&self, _: &config::DeploymentConfig) -> Result<Arc<dyn Provider>, String> {
            Ok(Arc::new(Gate {
                permits: self.0.clone(),
                threads: self.1.clone(),
            }))
        }
    }

    const CONFIG: &str = "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/gate-1\n      api_key: sk-test\n";

    /// A keep-alive client connection to `addr`.
    async fn connect(
        addr: std::net::SocketAddr,
    ) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
        let tcp = TcpStream::connect(addr).await.expect("the server listens");
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        send
    }

    async fn chat(
        send: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    ) -> (u16, String) {
        let request = http::Request::post("/v1/chat/completions")
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(
                br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
            )))
            .expect("a valid request");
        let response = send.send_request(request).await.expect("an answer");
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn connections_spread_over_the_workers_and_a_stop_lets_requests_finish() {
        let permits = Arc::new(Semaphore::new(0));
        let threads = Arc::new(Mutex::new(Vec::new()));
        let cfg = Config::from_yaml_str(CONFIG, |_| None).expect("a valid config");
        let factory = GateFactory(permits.clone(), threads.clone());
        let state = wiring::build_state(&cfg, &factory, Extras::default()).expect("state");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let addr = listener.local_addr().expect("an address");
        let (stop, stopped) = oneshot::channel::<()>();
        let two = NonZeroUsize::new(2).expect("not zero");
        let server = tokio::spawn(serve_on_workers(listener, state, two, async {
            let _ = stopped.await;
        }));

        // Four connections, one request each: round robin puts two on each worker.
        let mut clients = Vec::new();
        for _ in 0..4 {
            clients.push(connect(addr).await);
        }
        permits.add_permits(4);
        for client in &mut clients {
            let (status, body) = chat(client).await;
            assert_eq!(status, 200, "{body}");
            assert!(body.contains("through"), "{body}");
        }
        let seen: BTreeSet<String> = threads.lock().expect("not poisoned").drain(..).collect();
        let expected: BTreeSet<String> = ["switchyard-worker-0", "switchyard-worker-1"]
            .map(String::from)
            .into();
        assert_eq!(seen, expected, "each worker served connections");

        // A request in flight when the server is told to stop still gets its answer, and the
        // server returns only after that.
        let mut client = clients.pop().expect("a client");
        let in_flight = tokio::spawn(async move { chat(&mut client).await });
        while threads.lock().expect("not poisoned").is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop.send(()).expect("the server waits for the signal");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !server.is_finished(),
            "the server waits for the request in flight"
        );
        permits.add_permits(1);
        let (status, body) = in_flight.await.expect("the client task ends");
        assert_eq!(status, 200, "{body}");
        let served = tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("the server stops once the request is answered")
            .expect("the server task ends");
        served.expect("the server stops cleanly");

        // Idle keep-alive connections were closed, and nothing listens any more.
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "the listener is closed"
        );
    }
}
