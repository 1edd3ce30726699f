//! A pool of plain-HTTP/1.1 upstream connections, for `http://` targets.
//!
//! hyper-util's pooled client does more per request than a provider needs: it hashes the pool
//! key with SipHash on checkout and return, races the checkout against a lazily built connect,
//! and spawns a task per request that waits for the connection to be ready again before
//! returning it to the pool. Here a connection goes back to the pool as soon as the answer's
//! headers arrive, and a checkout takes the most recent one that is ready (its previous answer
//! fully read); one that is still busy is skipped. There is one such pool per thread slot
//! ([`PerThread`](crate::http::PerThread)), so the lock is uncontended.
//!
//! `https://` targets keep hyper-util's client (TLS, HTTP/2 by ALPN): there the handshakes and
//! encryption cost far more than the pool.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::uri::Authority;
use http_body_util::Full;
use hyper::{body::Incoming, client::conn::http1};
use hyper_util::client::legacy::connect::HttpConnector;
use tower_service::Service;

/// Why a request got no answer.
#[derive(Debug)]
pub(crate) enum PlainError {
    /// No connection could be made.
    Connect(Box<dyn std::error::Error + Send + Sync>),
    /// The request failed on its connection.
    Request(hyper::Error),
}

impl std::fmt::Display for PlainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlainError::Connect(e) => write!(f, "connect error: {e}"),
            PlainError::Request(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for PlainError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PlainError::Connect(e) => Some(&**e),
            PlainError::Request(e) => Some(e),
        }
    }
}

/// A connection waiting for its next request.
struct Idle {
    authority: Authority,
    sender: http1::SendRequest<Full<Bytes>>,
    since: Instant,
}

/// Plain-HTTP/1.1 connections of one thread slot, most recently used last.
pub(crate) struct PlainPool {
    connector: HttpConnector,
    idle: Mutex<Vec<Idle>>,
    idle_timeout: Duration,
    max_idle: usize,
}

impl PlainPool {
    pub(crate) fn new(connector: HttpConnector, idle_timeout: Duration, max_idle: usize) -> Self {
        PlainPool {
            connector,
            idle: Mutex::new(Vec::new()),
            idle_timeout,
            max_idle,
        }
    }

    /// Sends `request` to `target` (an absolute `http` URI) and waits for the answer's headers.
    /// The request itself must be ready for the wire: its URI in origin form (`/path?query`)
    /// and a `Host` header, as HTTP/1.1 servers require.
    ///
    /// A pooled connection that turns out to be closed before the request went out is
    /// replaced by a new one, once; a request that was written is never sent again.
    pub(crate) async fn send(
        &self,
        target: &http::Uri,
        mut request: http::Request<Full<Bytes>>,
    ) -> Result<http::Response<Incoming>, PlainError> {
        let Some(authority) = target.authority().cloned() else {
            // Never for the targets the builders accept; hyper would refuse it as well.
            return Err(PlainError::Connect("the URL has no host".into()));
        };
        if let Some(mut sender) = self.checkout(&authority) {
            match sender.try_send_request(request).await {
                Ok(response) => {
                    self.checkin(authority, sender);
                    return Ok(response);
                }
                Err(mut e) => match e.take_message() {
                    // Closed before our request was written (the server's keep-alive ran out):
                    // not sent, so safe to send on a new connection.
                    Some(unsent) => request = unsent,
                    None => return Err(PlainError::Request(e.into_error())),
                },
            }
        }
        let mut sender = self.connect(target.clone()).await?;
        let response = sender
            .send_request(request)
            .await
            .map_err(PlainError::Request)?;
        self.checkin(authority, sender);
        Ok(response)
    }

    /// The most recently used connection to `authority` that is ready for a request; drops
    /// the closed and the expired on the way.
    fn checkout(&self, authority: &Authority) -> Option<http1::SendRequest<Full<Bytes>>> {
        let now = Instant::now();
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        idle.retain(|c| !c.sender.is_closed() && now.duration_since(c.since) < self.idle_timeout);
        let found = idle
            .iter()
            .rposition(|c| c.sender.is_ready() && c.authority == *authority)?;
        Some(idle.swap_remove(found).sender)
    }

    /// Puts a connection whose request is answered (headers in, body maybe still coming)
    /// back; it is ready again once the body has been read.
    fn checkin(&self, authority: Authority, sender: http1::SendRequest<Full<Bytes>>) {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let same_host = idle.iter().filter(|c| c.authority == authority).count();
        if same_host < self.max_idle {
            idle.push(Idle {
                authority,
                sender,
                since: Instant::now(),
            });
        }
        // Otherwise dropped: the connection closes once its answer has been read.
    }

    /// A new connection, its task spawned on the current runtime.
    async fn connect(&self, uri: http::Uri) -> Result<http1::SendRequest<Full<Bytes>>, PlainError> {
        let mut connector = self.connector.clone();
        let tcp = connector
            .call(uri)
            .await
            .map_err(|e| PlainError::Connect(Box::new(e)))?;
        let (sender, connection) = http1::handshake(tcp)
            .await
            .map_err(|e| PlainError::Connect(Box::new(e)))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "an upstream connection ended with an error");
            }
        });
        Ok(sender)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use http_body_util::BodyExt;
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpListener,
    };

    use super::*;

    /// How the test server answers.
    #[derive(Clone, Copy, PartialEq)]
    pub(crate) enum Mode {
        /// The whole answer at once, keep-alive.
        Whole,
        /// The whole answer, then the connection closed without saying so (as a server whose
        /// keep-alive ran out does).
        CloseAfter,
        /// Half the body, and the rest 100 ms later.
        SlowBody,
    }

    /// A server that answers every request with `ok` and counts the connections it accepts.
    pub(crate) async fn server(mode: Mode) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    loop {
                        // Requests here have no body: one ends at the blank line.
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let request = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                            buf.drain(..end + 4);
                            // What HTTP/1.1 servers require: the path alone on the request
                            // line, and a Host header.
                            let line = request.lines().next().unwrap_or("");
                            let target = line.split(' ').nth(1).unwrap_or("");
                            let well_formed = target.starts_with('/')
                                && line.ends_with(" http/1.1")
                                && request.contains("\r\nhost: 127.0.0.1:");
                            let head: &[u8] = if well_formed {
                                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"
                            } else {
                                b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n"
                            };
                            let mut sent = tcp.write_all(head).await.and(tcp.write_all(b"o").await);
                            if mode == Mode::SlowBody {
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                            sent = sent.and(tcp.write_all(b"k").await);
                            if sent.is_err() || mode == Mode::CloseAfter {
                                return;
                            }
                        }
                        match tcp.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                });
            }
        });
        (base, accepted)
    }

    fn pool(max_idle: usize, idle_timeout: Duration) -> PlainPool {
        PlainPool::new(HttpConnector::new(), idle_timeout, max_idle)
    }

    async fn get(pool: &PlainPool, base: &str) -> http::Response<Incoming> {
        let target: http::Uri = format!("{base}/").parse().expect("a URI");
        let host = target.authority().expect("a host").as_str().to_owned();
        let request = http::Request::get("/")
            .header(http::header::HOST, host)
            .body(Full::new(Bytes::new()))
            .expect("a valid request");
        let response = pool.send(&target, request).await.expect("an answer");
        assert_eq!(
            response.status(),
            200,
            "the server read a well-formed request"
        );
        response
    }

    async fn body(response: http::Response<Incoming>) -> Bytes {
        response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes()
    }

    #[tokio::test]
    async fn answered_connections_are_reused_and_busy_ones_are_not() {
        let (base, accepted) = server(Mode::Whole).await;
        let pool = pool(64, Duration::from_secs(90));
        for _ in 0..5 {
            assert_eq!(body(get(&pool, &base).await).await, "ok");
        }
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            1,
            "one connection for requests in turn"
        );

        // Two requests waiting for their answers at once need two connections; both are
        // reused afterwards.
        let (a, b) = tokio::join!(get(&pool, &base), get(&pool, &base));
        assert_eq!((body(a).await, body(b).await), ("ok".into(), "ok".into()));
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        let (a, b) = tokio::join!(get(&pool, &base), get(&pool, &base));
        let _ = (body(a).await, body(b).await);
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            2,
            "both are reused afterwards"
        );
    }

    #[tokio::test]
    async fn a_connection_whose_body_is_still_coming_is_not_used() {
        let (base, accepted) = server(Mode::SlowBody).await;
        let pool = pool(64, Duration::from_secs(90));
        let first = get(&pool, &base).await;
        let second = get(&pool, &base).await;
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            2,
            "the first is busy with its body"
        );
        assert_eq!(
            (body(first).await, body(second).await),
            ("ok".into(), "ok".into())
        );
        assert_eq!(
            pool.idle.lock().expect("not poisoned").len(),
            2,
            "and was kept"
        );
        let _ = body(get(&pool, &base).await).await;
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            2,
            "and reused once it is read"
        );
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_is_replaced_without_failing_the_request() {
        let (base, accepted) = server(Mode::CloseAfter).await;
        let pool = pool(64, Duration::from_secs(90));
        for _ in 0..20 {
            assert_eq!(body(get(&pool, &base).await).await, "ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 20);
    }

    #[tokio::test]
    async fn expired_and_surplus_connections_are_not_kept() {
        let (base, accepted) = server(Mode::Whole).await;
        let expiring = pool(64, Duration::ZERO);
        for _ in 0..3 {
            let _ = body(get(&expiring, &base).await).await;
        }
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            3,
            "an idle timeout of 0 keeps nothing"
        );

        let (base, accepted) = server(Mode::Whole).await;
        let one = pool(1, Duration::from_secs(90));
        let (a, b) = tokio::join!(get(&one, &base), get(&one, &base));
        let _ = (body(a).await, body(b).await);
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        assert_eq!(
            one.idle.lock().expect("not poisoned").len(),
            1,
            "at most one kept"
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        drop(listener);
        let target: http::Uri = format!("{base}/").parse().expect("a URI");
        let request = http::Request::get("/")
            .body(Full::new(Bytes::new()))
            .expect("a valid request");
        let err = pool(64, Duration::from_secs(90))
            .send(&target, request)
            .await
            .expect_err("nothing listens");
        assert!(matches!(err, PlainError::Connect(_)), "{err:?}");
    }
}
