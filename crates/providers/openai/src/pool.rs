//! A pool of plain-HTTP/1.1 upstream connections, for `http://` targets, and the client that
//! speaks on them.
//!
//! hyper's client does more per request than a provider needs: every connection is a task of
//! its own that the request is handed to and the answer handed back from (two wake-ups on
//! the runtime per request), the answer's headers are always built into a map, and
//! hyper-util's pool hashes its key with SipHash on checkout and return. Here the task that
//! sends a request writes it and reads the answer itself, over the wire format in `h1.rs`; a
//! success's headers are not built (nothing reads them); and a connection goes back to its
//! thread's pool as soon as its answer's body has been read. A checkout takes the most
//! recently returned connection, after a non-blocking read has shown that the server has not
//! closed it. There is one such pool per thread slot ([`PerThread`](crate::http::PerThread)),
//! so its lock is uncontended.
//!
//! `https://` targets keep hyper-util's client (TLS, HTTP/2 by ALPN): there the handshakes and
//! encryption cost far more than the client.

use std::{
    io,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll, ready},
    time::{Duration, Instant},
};

use bytes::{Buf, Bytes, BytesMut};
use futures::Stream;
use http::{HeaderMap, StatusCode, uri::Authority};
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::{io::AsyncWriteExt, net::TcpStream};
use tower_service::Service;

use crate::h1::{self, Chunked, Decoded, Framing, ProtocolError};

/// What a read asks for at first; doubled while reads fill it, up to [`MAX_READ`].
const FIRST_READ: usize = 8 * 1024;
const MAX_READ: usize = 256 * 1024;
/// The most read buffer an idle connection keeps.
const MAX_IDLE_BUFFER: usize = 4 * FIRST_READ;

/// Why a request got no answer.
#[derive(Debug)]
pub(crate) enum PlainError {
    /// No connection could be made.
    Connect(Box<dyn std::error::Error + Send + Sync>),
    /// The request failed on its connection: it could not be written, no valid answer head
    /// arrived, or the connection closed first.
    Request(io::Error),
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

/// One connection and what has been read from it but not yet taken.
struct Conn {
    tcp: TcpStream,
    buf: BytesMut,
    read_size: usize,
}

impl Conn {
    fn new(tcp: TcpStream) -> Conn {
        Conn {
            tcp,
            buf: BytesMut::new(),
            read_size: FIRST_READ,
        }
    }

    /// Reads more into the buffer; 0 at the end of the stream.
    fn poll_read_more(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.buf.capacity() - self.buf.len() < self.read_size / 2 {
            self.buf.reserve(self.read_size);
        }
        let room = self.buf.capacity() - self.buf.len();
        loop {
            match self.tcp.try_read_buf(&mut self.buf) {
                Ok(n) => {
                    // A read that filled the room asks for more next time: large answers take
                    // fewer reads.
                    if n == room {
                        self.read_size = (self.read_size * 2).min(MAX_READ);
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.tcp.poll_read_ready(cx))?;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    async fn read_more(&mut self) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_read_more(cx)).await
    }

    /// Whether the server has closed this idle connection (or sent something unasked, which
    /// leaves it unusable). A non-blocking read, so it answers from what the kernel has.
    fn closed_by_server(&self) -> bool {
        !self.buf.is_empty()
            || !matches!(self.tcp.try_read(&mut [0u8; 1]), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Writes `request` and reads the answer's head.
    async fn exchange(&mut self, request: &[u8]) -> Result<h1::Head, Failure> {
        self.tcp.write_all(request).await.map_err(Failure::Unsent)?;
        loop {
            if let Some((len, head)) =
                h1::parse_head(&self.buf).map_err(|e| Failure::Sent(invalid(e)))?
            {
                self.buf.advance(len);
                return Ok(head);
            }
            if self.buf.len() > h1::MAX_HEAD {
                return Err(Failure::Sent(invalid(ProtocolError(
                    "the answer head is over 256 KiB",
                ))));
            }
            if self.read_more().await.map_err(Failure::Sent)? == 0 {
                return Err(Failure::Sent(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the connection closed before an answer arrived",
                )));
            }
        }
    }
}

fn invalid(e: ProtocolError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// How an exchange failed.
enum Failure {
    /// Writing the request failed: the server never had it, so it may go out again.
    Unsent(io::Error),
    /// The request went out; sending it again could do the work twice.
    Sent(io::Error),
}

/// A connection waiting for its next request.
struct Idle {
    authority: Authority,
    conn: Conn,
    since: Instant,
}

/// Plain-HTTP/1.1 connections of one thread slot, most recently used last.
pub(crate) struct PlainPool {
    shared: Arc<Shared>,
}

struct Shared {
    connector: HttpConnector,
    idle: Mutex<Vec<Idle>>,
    idle_timeout: Duration,
    max_idle: usize,
}

/// An answer whose head has arrived.
pub(crate) struct PlainResponse {
    pub(crate) status: StatusCode,
    /// The headers of an answer that is not a success; empty for a success (see
    /// [`h1::Head::headers`]).
    pub(crate) headers: HeaderMap,
    pub(crate) body: PlainBody,
}

impl PlainPool {
    pub(crate) fn new(connector: HttpConnector, idle_timeout: Duration, max_idle: usize) -> Self {
        PlainPool {
            shared: Arc::new(Shared {
                connector,
                idle: Mutex::new(Vec::new()),
                idle_timeout,
                max_idle,
            }),
        }
    }

    /// Sends `request` (a whole HTTP/1.1 request, head and body, as [`h1::write_request_head`]
    /// starts it) to `target` (an absolute `http` URI) and waits for the answer's head.
    ///
    /// A pooled connection that turns out to be closed before the request went out is
    /// replaced by a new one; a request that was written is never sent again.
    pub(crate) async fn send(
        &self,
        target: &http::Uri,
        request: &[u8],
    ) -> Result<PlainResponse, PlainError> {
        let Some(authority) = target.authority().cloned() else {
            // Never for the targets the builders accept.
            return Err(PlainError::Connect("the URL has no host".into()));
        };
        if let Some(mut conn) = self.checkout(&authority) {
            match conn.exchange(request).await {
                Ok(head) => return Ok(self.answer(authority, conn, head)),
                // Closed before our request was written: safe to send on a new connection.
                Err(Failure::Unsent(_)) => {}
                Err(Failure::Sent(e)) => return Err(PlainError::Request(e)),
            }
        }
        let mut conn = self.connect(target.clone()).await?;
        match conn.exchange(request).await {
            Ok(head) => Ok(self.answer(authority, conn, head)),
            Err(Failure::Unsent(e) | Failure::Sent(e)) => Err(PlainError::Request(e)),
        }
    }

    fn answer(&self, authority: Authority, conn: Conn, head: h1::Head) -> PlainResponse {
        let state = match head.framing {
            Framing::Length(length) => BodyState::Length(length),
            Framing::Chunked => BodyState::Chunked(Chunked::Size),
            Framing::UntilClose => BodyState::UntilClose,
        };
        PlainResponse {
            status: head.status,
            headers: head.headers,
            body: PlainBody {
                state,
                conn: Some(conn),
                home: head.keep_alive.then(|| (self.shared.clone(), authority)),
            },
        }
    }

    /// The most recently used connection to `authority` that the server has not closed;
    /// drops the closed and the expired on the way.
    fn checkout(&self, authority: &Authority) -> Option<Conn> {
        let now = Instant::now();
        let mut idle = self
            .shared
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let timeout = self.shared.idle_timeout;
        idle.retain(|c| now.duration_since(c.since) < timeout);
        while let Some(found) = idle.iter().rposition(|c| c.authority == *authority) {
            let candidate = idle.swap_remove(found).conn;
            if !candidate.closed_by_server() {
                return Some(candidate);
            }
        }
        None
    }

    /// A new connection.
    async fn connect(&self, uri: http::Uri) -> Result<Conn, PlainError> {
        let mut connector = self.shared.connector.clone();
        let tcp = connector
            .call(uri)
            .await
            .map_err(|e| PlainError::Connect(Box::new(e)))?;
        Ok(Conn::new(tcp.into_inner()))
    }
}

impl Shared {
    /// Puts a connection whose answer has been read back.
    fn checkin(&self, authority: Authority, conn: Conn) {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let same_host = idle.iter().filter(|c| c.authority == authority).count();
        if same_host < self.max_idle {
            idle.push(Idle {
                authority,
                conn,
                since: Instant::now(),
            });
        }
        // Otherwise dropped, which closes it.
    }
}

/// An answer's body, read from its connection as it is asked for.
///
/// The connection goes back to its pool when the body has been read to its end (and the
/// server keeps it open); a body dropped before that closes it.
pub(crate) struct PlainBody {
    state: BodyState,
    /// `None` once the body has ended (or failed).
    conn: Option<Conn>,
    /// Where the connection goes back to, if it may carry another request.
    home: Option<(Arc<Shared>, Authority)>,
}

enum BodyState {
    Length(u64),
    Chunked(Chunked),
    UntilClose,
}

impl PlainBody {
    /// The next piece of the body; `None` at its end, and after a failure.
    pub(crate) async fn chunk(&mut self) -> io::Result<Option<Bytes>> {
        std::future::poll_fn(|cx| self.poll_chunk(cx)).await
    }

    /// [`chunk`](Self::chunk) as a poll: all progress lives in `self`, so a stream over the body
    /// moves nothing between items.
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Bytes>>> {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Poll::Ready(Ok(None));
            };
            match &mut self.state {
                BodyState::Length(0) => {
                    self.finish();
                    return Poll::Ready(Ok(None));
                }
                BodyState::Length(left) if !conn.buf.is_empty() => {
                    let take =
                        usize::try_from(*left).map_or(conn.buf.len(), |l| l.min(conn.buf.len()));
                    *left -= take as u64;
                    let piece = conn.buf.split_to(take).freeze();
                    if *left == 0 {
                        self.finish();
                    }
                    return Poll::Ready(Ok(Some(piece)));
                }
                BodyState::Length(_) => {}
                BodyState::Chunked(decoder) => match decoder.decode(&mut conn.buf) {
                    Ok(Decoded::Data(piece)) => return Poll::Ready(Ok(Some(piece))),
                    Ok(Decoded::Done) => {
                        self.finish();
                        return Poll::Ready(Ok(None));
                    }
                    Ok(Decoded::NeedMore) => {}
                    Err(e) => {
                        self.conn = None;
                        return Poll::Ready(Err(invalid(e)));
                    }
                },
                BodyState::UntilClose if !conn.buf.is_empty() => {
                    return Poll::Ready(Ok(Some(conn.buf.split().freeze())));
                }
                BodyState::UntilClose => {}
            }
            match ready!(conn.poll_read_more(cx)) {
                Ok(0) if matches!(self.state, BodyState::UntilClose) => {
                    self.conn = None;
                    return Poll::Ready(Ok(None));
                }
                Ok(0) => {
                    self.conn = None;
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the connection closed before the whole answer body arrived",
                    )));
                }
                Ok(_) => {}
                Err(e) => {
                    self.conn = None;
                    return Poll::Ready(Err(e));
                }
            }
        }
    }

    /// The body has ended: the connection goes home if it may carry another request and
    /// the server sent nothing past the body.
    fn finish(&mut self) {
        if let (Some(mut conn), Some((shared, authority))) = (self.conn.take(), self.home.take())
            && conn.buf.is_empty()
        {
            // A buffer grown for a large answer is not kept while the connection waits.
            if conn.buf.capacity() > MAX_IDLE_BUFFER {
                conn.buf = BytesMut::new();
                conn.read_size = FIRST_READ;
            }
            shared.checkin(authority, conn);
        }
    }
}

impl Stream for PlainBody {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_chunk(cx).map(Result::transpose)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http::HeaderValue;
    use tokio::{io::AsyncReadExt, net::TcpListener};

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
        /// A chunked body, each byte its own chunk and its own write.
        Chunked,
        /// The whole answer with `Connection: close`, then the connection closed.
        SaysClose,
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
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let request = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                            let length: usize = request
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length: "))
                                .and_then(|v| v.trim().parse().ok())
                                .unwrap_or(0);
                            if buf.len() < end + 4 + length {
                                break;
                            }
                            buf.drain(..end + 4 + length);
                            // What HTTP/1.1 servers require: the path alone on the request
                            // line, and a Host header.
                            let line = request.lines().next().unwrap_or("");
                            let target = line.split(' ').nth(1).unwrap_or("");
                            let well_formed = target.starts_with('/')
                                && line.ends_with(" http/1.1")
                                && request.contains("\r\nhost: 127.0.0.1:");
                            let status = if well_formed {
                                "200 OK"
                            } else {
                                "400 Bad Request"
                            };
                            let sent = match mode {
                                Mode::Chunked => {
                                    let head = format!(
                                        "HTTP/1.1 {status}\r\ntransfer-encoding: chunked\r\n\r\n"
                                    );
                                    let mut sent = tcp.write_all(head.as_bytes()).await;
                                    for piece in [&b"1\r\no\r\n"[..], b"1\r\nk\r\n", b"0\r\n\r\n"] {
                                        tokio::time::sleep(Duration::from_millis(5)).await;
                                        sent = sent.and(tcp.write_all(piece).await);
                                    }
                                    sent
                                }
                                _ => {
                                    let close = if mode == Mode::SaysClose {
                                        "connection: close\r\n"
                                    } else {
                                        ""
                                    };
                                    let head = format!(
                                        "HTTP/1.1 {status}\r\n{close}content-length: 2\r\n\r\n"
                                    );
                                    let mut sent = tcp.write_all(head.as_bytes()).await;
                                    sent = sent.and(tcp.write_all(b"o").await);
                                    if mode == Mode::SlowBody {
                                        tokio::time::sleep(Duration::from_millis(100)).await;
                                    }
                                    sent.and(tcp.write_all(b"k").await)
                                }
                            };
                            if sent.is_err() || matches!(mode, Mode::CloseAfter | Mode::SaysClose) {
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

    async fn get(pool: &PlainPool, base: &str) -> PlainResponse {
        let target: http::Uri = format!("{base}/").parse().expect("a URI");
        let host = HeaderValue::from_str(target.authority().expect("a host").as_str())
            .expect("a header value");
        let mut request = Vec::new();
        h1::write_request_head(&mut request, "/", &host, &HeaderMap::new(), &host, 2);
        request.extend_from_slice(b"{}");
        let response = pool.send(&target, &request).await.expect("an answer");
        assert_eq!(
            response.status, 200,
            "the server read a well-formed request"
        );
        response
    }

    async fn body(mut response: PlainResponse) -> Bytes {
        let mut all = BytesMut::new();
        while let Some(piece) = response.body.chunk().await.expect("a body") {
            all.extend_from_slice(&piece);
        }
        all.freeze()
    }

    fn idle_count(pool: &PlainPool) -> usize {
        pool.shared.idle.lock().expect("not poisoned").len()
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
        assert_eq!(idle_count(&pool), 2, "and was kept");
        let _ = body(get(&pool, &base).await).await;
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            2,
            "and reused once it is read"
        );
    }

    #[tokio::test]
    async fn a_body_dropped_before_its_end_closes_its_connection() {
        let (base, accepted) = server(Mode::SlowBody).await;
        let pool = pool(64, Duration::from_secs(90));
        drop(get(&pool, &base).await);
        assert_eq!(idle_count(&pool), 0);
        let _ = body(get(&pool, &base).await).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn chunked_bodies_arrive_piece_by_piece_and_free_the_connection() {
        let (base, accepted) = server(Mode::Chunked).await;
        let pool = pool(64, Duration::from_secs(90));
        for _ in 0..3 {
            let mut response = get(&pool, &base).await;
            let mut pieces = Vec::new();
            while let Some(piece) = response.body.chunk().await.expect("a body") {
                pieces.push(piece);
            }
            assert_eq!(pieces, ["o", "k"], "each chunk as it came");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_is_replaced_without_failing_the_request() {
        for mode in [Mode::CloseAfter, Mode::SaysClose] {
            let (base, accepted) = server(mode).await;
            let pool = pool(64, Duration::from_secs(90));
            for _ in 0..20 {
                assert_eq!(body(get(&pool, &base).await).await, "ok");
                // Give the server's close time to arrive, as an idle connection's would.
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            assert_eq!(accepted.load(Ordering::SeqCst), 20);
        }
    }

    #[tokio::test]
    async fn an_idle_connection_does_not_keep_a_large_answers_buffer() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.expect("a connection");
            let mut request = [0u8; 1024];
            let _ = tcp.read(&mut request).await;
            let body = vec![b'x'; 1024 * 1024];
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
            let _ = tcp.write_all(head.as_bytes()).await;
            let _ = tcp.write_all(&body).await;
            let _ = tcp.read(&mut request).await;
        });
        let pool = pool(64, Duration::from_secs(90));
        assert_eq!(body(get(&pool, &base).await).await.len(), 1024 * 1024);
        let idle = pool.shared.idle.lock().expect("not poisoned");
        assert_eq!(idle.len(), 1, "kept for the next request");
        assert!(
            idle[0].conn.buf.capacity() <= MAX_IDLE_BUFFER,
            "{}",
            idle[0].conn.buf.capacity()
        );
        assert_eq!(idle[0].conn.read_size, FIRST_READ);
    }

    #[tokio::test]
    async fn a_connection_closed_mid_body_is_an_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.expect("a connection");
            let mut chunk = [0u8; 1024];
            let _ = tcp.read(&mut chunk).await;
            let _ = tcp
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf")
                .await;
        });
        let pool = pool(64, Duration::from_secs(90));
        let mut response = get(&pool, &base).await;
        assert_eq!(
            response.body.chunk().await.expect("the first part"),
            Some("half".into())
        );
        let err = response.body.chunk().await.expect_err("cut short");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
        assert_eq!(response.body.chunk().await.expect("ended"), None);
        assert_eq!(idle_count(&pool), 0);
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
        assert_eq!(idle_count(&one), 1, "at most one kept");
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        drop(listener);
        let target: http::Uri = format!("{base}/").parse().expect("a URI");
        let err = pool(64, Duration::from_secs(90))
            .send(&target, b"POST / HTTP/1.1\r\n\r\n")
            .await
            .err()
            .expect("nothing listens");
        assert!(matches!(err, PlainError::Connect(_)), "{err:?}");
    }
}
