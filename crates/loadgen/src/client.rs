//! One keep-alive HTTP/1.1 connection, and one timed request on it.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use bytes::{Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_TYPE, HOST};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{SendRequest, handshake};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpStream, task::JoinHandle};

/// Where the load goes.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) addr: SocketAddr,
    /// `127.0.0.1:PORT`, for the `Host` header.
    pub(crate) authority: String,
    pub(crate) path: String,
}

/// An open connection. Dropping it stops the task that drives it.
pub(crate) struct Conn {
    sender: SendRequest<Full<Bytes>>,
    driver: JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// One answer, timed from just before the request was written.
pub(crate) struct Answer {
    pub(crate) started: Instant,
    pub(crate) status: u16,
    /// Until the last byte of the body.
    pub(crate) latency: Duration,
    /// For an SSE answer: until the first body piece that carries content.
    pub(crate) ttft: Option<Duration>,
    /// The body, when the caller asked to keep it.
    pub(crate) body: Bytes,
}

impl Conn {
    pub(crate) async fn open(target: &Target) -> Result<Conn> {
        let stream = TcpStream::connect(target.addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = handshake(TokioIo::new(stream)).await?;
        let driver = tokio::spawn(async move {
            // The connection ends when the server closes it or the sender is dropped; either
            // way the next request opens a new one.
            let _ = connection.await;
        });
        Ok(Conn { sender, driver })
    }

    /// Sends one POST and reads the whole answer. Gives the connection back unless the
    /// server said it will close it.
    pub(crate) async fn send(
        mut self,
        target: &Target,
        body: Bytes,
        keep_body: bool,
    ) -> Result<(Option<Conn>, Answer)> {
        self.sender.ready().await.context("the connection closed")?;
        let request = http::Request::post(target.path.as_str())
            .header(HOST, target.authority.as_str())
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .context("cannot build the request")?;
        let started = Instant::now();
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let close = response
            .headers()
            .get(CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        let sse = response
            .headers()
            .get(CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let mut incoming = response.into_body();
        let mut ttft = None;
        let mut kept = BytesMut::new();
        while let Some(frame) = incoming.frame().await {
            let frame = frame.context("the answer body broke off")?;
            if let Ok(data) = frame.into_data() {
                if sse && ttft.is_none() && carries_content(&data) {
                    ttft = Some(started.elapsed());
                }
                if keep_body {
                    kept.extend_from_slice(&data);
                }
            }
        }
        let latency = started.elapsed();
        let answer = Answer {
            started,
            status,
            latency,
            ttft,
            body: kept.freeze(),
        };
        Ok(((!close).then_some(self), answer))
    }
}

/// Whether a piece of an SSE body holds a chunk with non-empty content (`"content":"x`).
pub(crate) fn carries_content(data: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"\"content\":\"";
    data.windows(NEEDLE.len() + 1)
        .any(|w| w.starts_with(NEEDLE) && w[NEEDLE.len()] != b'"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_found_only_when_not_empty() {
        assert!(!carries_content(
            br#"data: {"delta":{"role":"assistant","content":""}}"#
        ));
        assert!(carries_content(br#"data: {"delta":{"content":"mock"}}"#));
        assert!(!carries_content(b"data: [DONE]"));
    }
}
