//! One HTTP attempt, over hyper's client or reqwest: sending with the attempt's time limit,
//! reading the answer, and turning every transport failure and error status into a
//! classified [`ProviderError`].

use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use http::{HeaderMap, HeaderValue, Uri, header::USER_AGENT};
use http_body_util::{BodyExt, Full};
use provider::{ErrorKind, ProviderError, header_pairs};
use reqwest::{Response, Url};
use tokio::time::Instant;

use crate::h1;
use crate::http::{HttpClient, Inner};
use crate::pool::{PlainBody, PlainError};

/// How much of an error body we read: error pages are small, and a misbehaving upstream
/// must not make us buffer megabytes just to build a message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// What the direct client says it is (reqwest clients carry their own, set by
/// [`default_client_builder`](crate::default_client_builder)).
static USER_AGENT_VALUE: HeaderValue =
    HeaderValue::from_static(concat!("switchyard/", env!("CARGO_PKG_VERSION")));

/// Which part of the call a limit covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// The limit covers the whole exchange, body included (plain calls).
    WholeCall,
    /// The limit covers only the wait for the response headers (streams: the router bounds
    /// the gaps between chunks itself, and a long answer is not a slow one).
    UntilHeaders,
}

/// Where a request goes: the URL (for reqwest and for messages) and the same as a URI (for
/// hyper), both built once per provider.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) url: Url,
    pub(crate) uri: Uri,
    /// For a plain `http` URL (sent through the plain-HTTP/1.1 pool): the request line's
    /// origin form (`/v1/chat/completions`) and the `Host` header, written once here.
    pub(crate) plain: Option<PlainTarget>,
}

/// What a request over a plain-HTTP/1.1 connection needs besides the absolute URI.
#[derive(Debug, Clone)]
pub(crate) struct PlainTarget {
    pub(crate) origin: String,
    pub(crate) host: HeaderValue,
}

impl Target {
    /// Both forms of `url`; `None` if hyper cannot take it (never for the `http`/`https`
    /// URLs the builders accept).
    pub(crate) fn new(url: Url) -> Option<Target> {
        let uri: Uri = url.as_str().parse().ok()?;
        let plain = if uri.scheme() == Some(&http::uri::Scheme::HTTP) {
            let origin = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
            let host = HeaderValue::from_str(uri.authority()?.as_str()).ok()?;
            Some(PlainTarget { origin, host })
        } else {
            None
        };
        Some(Target { url, uri, plain })
    }
}

/// A `2xx` answer whose body is still to be read.
pub(crate) enum Answer {
    /// From the plain-HTTP/1.1 pool.
    Plain {
        body: PlainBody,
        /// When the attempt's time is up, for a limit that covers the body.
        deadline: Option<Instant>,
    },
    /// From hyper-util's client.
    Direct {
        body: hyper::body::Incoming,
        /// When the attempt's time is up, for a limit that covers the body.
        deadline: Option<Instant>,
    },
    Reqwest(Response),
}

/// Sends a request and waits for the response headers, within `time_left` if set.
///
/// Returns the answer only for a 2xx status; any other status is read (a bounded amount of
/// body) and classified with [`ProviderError::from_http`].
pub(crate) async fn send(
    provider: &'static str,
    client: &HttpClient,
    target: &Target,
    headers: HeaderMap,
    body: Vec<u8>,
    time_left: Option<Duration>,
    limit: Limit,
) -> Result<Answer, ProviderError> {
    match &client.inner {
        Inner::Direct(pools) => {
            let slot = pools.here();
            let limit_end = time_left.map(|left| (left, Instant::now() + left));
            let deadline = limit_end
                .map(|(_, end)| end)
                .filter(|_| limit == Limit::WholeCall);
            let sending = async {
                match slot.plain.as_ref().zip(target.plain.as_ref()) {
                    Some((pool, plain)) => {
                        let mut request = Vec::with_capacity(256 + body.len());
                        h1::write_request_head(
                            &mut request,
                            &plain.origin,
                            &plain.host,
                            &headers,
                            &USER_AGENT_VALUE,
                            body.len(),
                        );
                        request.extend_from_slice(&body);
                        let response = pool.send(&target.uri, &request).await.map_err(|e| {
                            let connect = matches!(e, PlainError::Connect(_));
                            hyper_error(provider, &target.url, connect, &e)
                        })?;
                        let answer = Answer::Plain {
                            body: response.body,
                            deadline,
                        };
                        Ok((response.status, response.headers, answer))
                    }
                    None => {
                        let response = slot
                            .tls
                            .request(tls_request(provider, target, headers, body)?)
                            .await
                            .map_err(|e| hyper_error(provider, &target.url, e.is_connect(), &e))?;
                        let (parts, body) = response.into_parts();
                        Ok((
                            parts.status,
                            parts.headers,
                            Answer::Direct { body, deadline },
                        ))
                    }
                }
            };
            let (status, headers, answer) = match limit_end {
                Some((left, end)) => match tokio::time::timeout_at(end, sending).await {
                    Ok(result) => result,
                    Err(_) => return Err(timed_out(provider, &target.url, left, limit)),
                },
                None => sending.await,
            }?;
            if status.is_success() {
                Ok(answer)
            } else {
                Err(error_from_answer(provider, status.as_u16(), &headers, answer).await)
            }
        }
        Inner::Reqwest(reqwest) => {
            let request = reqwest.post(target.url.clone()).headers(headers).body(body);
            send_reqwest(provider, request, time_left, limit).await
        }
    }
}

/// A request for hyper-util's client, with our user agent unless the headers name one.
fn tls_request(
    provider: &'static str,
    target: &Target,
    headers: HeaderMap,
    body: Vec<u8>,
) -> Result<http::Request<Full<Bytes>>, ProviderError> {
    let mut request = http::Request::post(target.uri.clone())
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| {
            ProviderError::new(
                ErrorKind::InternalServer,
                provider,
                format!(
                    "could not build the request to {}: {e}",
                    host_of(&target.url)
                ),
            )
        })?;
    *request.headers_mut() = headers;
    if !request.headers().contains_key(USER_AGENT) {
        request
            .headers_mut()
            .insert(USER_AGENT, USER_AGENT_VALUE.clone());
    }
    Ok(request)
}

async fn send_reqwest(
    provider: &'static str,
    request: reqwest::RequestBuilder,
    time_left: Option<Duration>,
    limit: Limit,
) -> Result<Answer, ProviderError> {
    let request = match (time_left, limit) {
        (Some(left), Limit::WholeCall) => request.timeout(left),
        _ => request,
    };
    let sending = request.send();
    let response = match (time_left, limit) {
        (Some(left), Limit::UntilHeaders) => match tokio::time::timeout(left, sending).await {
            Ok(result) => result,
            Err(_) => return Err(no_headers_in_time(provider, left)),
        },
        _ => sending.await,
    }
    .map_err(|e| transport_error(provider, e))?;

    if response.status().is_success() {
        Ok(Answer::Reqwest(response))
    } else {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        Err(error_from_answer(provider, status, &headers, Answer::Reqwest(response)).await)
    }
}

/// The error of an attempt whose time (`left` when it started) ran out.
fn timed_out(provider: &'static str, url: &Url, left: Duration, limit: Limit) -> ProviderError {
    match limit {
        Limit::UntilHeaders => no_headers_in_time(provider, left),
        Limit::WholeCall => no_answer_in_time(provider, url),
    }
}

/// The error of a whole call that did not finish within the attempt's limit.
fn no_answer_in_time(provider: &'static str, url: &Url) -> ProviderError {
    ProviderError::new(
        ErrorKind::Timeout,
        provider,
        format!("{} did not answer within the attempt timeout", host_of(url)),
    )
}

fn no_headers_in_time(provider: &'static str, left: Duration) -> ProviderError {
    ProviderError::new(
        ErrorKind::Timeout,
        provider,
        format!(
            "the upstream sent no response headers within {} ms; raise the attempt timeout or check the upstream",
            left.as_millis()
        ),
    )
}

impl Answer {
    /// The next piece of the body; `None` at its end.
    async fn chunk(&mut self) -> Result<Option<Bytes>, BodyFailure> {
        match self {
            Answer::Direct { body, deadline } => loop {
                let frame = match deadline {
                    Some(end) => tokio::time::timeout_at(*end, body.frame())
                        .await
                        .map_err(|_| BodyFailure::TimedOut)?,
                    None => body.frame().await,
                };
                match frame {
                    None => return Ok(None),
                    Some(Err(e)) => return Err(BodyFailure::Hyper(e)),
                    // Trailers carry nothing an answer needs.
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            return Ok(Some(data));
                        }
                    }
                }
            },
            Answer::Plain { body, deadline } => match deadline {
                Some(end) => tokio::time::timeout_at(*end, body.chunk())
                    .await
                    .map_err(|_| BodyFailure::TimedOut)?,
                None => body.chunk().await,
            }
            .map_err(BodyFailure::Plain),
            Answer::Reqwest(response) => response.chunk().await.map_err(BodyFailure::Reqwest),
        }
    }

    /// The body's bytes as a stream, for server-sent events.
    pub(crate) fn into_stream(
        self,
    ) -> std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, BodyError>> + Send>> {
        match self {
            Answer::Plain { body, .. } => Box::pin(body.map(|r| r.map_err(BodyError::Plain))),
            Answer::Direct { body, .. } => Box::pin(
                http_body_util::BodyDataStream::new(body).map(|r| r.map_err(BodyError::Hyper)),
            ),
            // The URL leaves reqwest's errors: they end up in logs as the error's source.
            Answer::Reqwest(response) => Box::pin(
                response
                    .bytes_stream()
                    .map(|r| r.map_err(|e| BodyError::Reqwest(e.without_url()))),
            ),
        }
    }
}

/// Why reading a body stopped.
enum BodyFailure {
    TimedOut,
    Plain(std::io::Error),
    Hyper(hyper::Error),
    Reqwest(reqwest::Error),
}

/// A failure while a streamed body was being read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    #[error(transparent)]
    Plain(std::io::Error),
    #[error(transparent)]
    Hyper(hyper::Error),
    #[error(transparent)]
    Reqwest(reqwest::Error),
}

/// Reads a whole success body.
pub(crate) async fn read_body(
    provider: &'static str,
    target: &Target,
    mut answer: Answer,
) -> Result<Bytes, ProviderError> {
    if let Answer::Reqwest(response) = answer {
        return response
            .bytes()
            .await
            .map_err(|e| transport_error(provider, e));
    }
    let mut whole = BytesMut::new();
    loop {
        match answer.chunk().await {
            Ok(Some(piece)) if whole.is_empty() => {
                // Most answers arrive in one piece: keep it without a copy when it is the only one.
                match answer.chunk().await {
                    Ok(None) => return Ok(piece),
                    Ok(Some(next)) => {
                        whole.extend_from_slice(&piece);
                        whole.extend_from_slice(&next);
                    }
                    Err(e) => return Err(body_failure(provider, &target.url, e)),
                }
            }
            Ok(Some(piece)) => whole.extend_from_slice(&piece),
            Ok(None) => return Ok(whole.freeze()),
            Err(e) => return Err(body_failure(provider, &target.url, e)),
        }
    }
}

fn body_failure(provider: &'static str, url: &Url, failure: BodyFailure) -> ProviderError {
    match failure {
        BodyFailure::TimedOut => no_answer_in_time(provider, url),
        BodyFailure::Plain(e) => cut_off(provider, url, &e).with_source(e),
        BodyFailure::Hyper(e) => cut_off(provider, url, &e).with_source(e),
        BodyFailure::Reqwest(e) => transport_error(provider, e),
    }
}

/// A body that stopped before its end.
fn cut_off(
    provider: &'static str,
    url: &Url,
    error: &(dyn std::error::Error + 'static),
) -> ProviderError {
    ProviderError::new(
        ErrorKind::Connection,
        provider,
        format!(
            "the connection to {} failed while the answer body was being read: {}",
            host_of(url),
            root_cause(error)
        ),
    )
}

/// Classifies a failure of hyper's client before an answer arrived; `connect` when no
/// connection could be made.
fn hyper_error(
    provider: &'static str,
    url: &Url,
    connect: bool,
    error: &(dyn std::error::Error + 'static),
) -> ProviderError {
    let host = host_of(url);
    let why = root_cause(error);
    let message = if connect {
        format!("could not connect to {host}: {why}; check api_base and that the server is up")
    } else {
        // Sending failed after the connection was made: reset, closed before the answer.
        format!("the request to {host} failed before an answer arrived: {why}")
    };
    ProviderError::new(ErrorKind::Connection, provider, message)
}

/// Classifies an error status answer from its status, headers and (bounded) body.
async fn error_from_answer(
    provider: &'static str,
    status: u16,
    headers: &HeaderMap,
    mut answer: Answer,
) -> ProviderError {
    let mut body = BytesMut::new();
    // A body that fails halfway still has a status worth reporting: use what arrived.
    while body.len() < MAX_ERROR_BODY {
        match answer.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body.truncate(MAX_ERROR_BODY);
    let error = ProviderError::from_http(
        provider,
        status,
        header_pairs(headers),
        &body,
        SystemTime::now(),
    );
    refine_inner_error(error, &body)
}

/// Azure nests the precise reason in `error.innererror.code` (`ResponsibleAIPolicyViolation`
/// under a generic code): when the outer fields only gave the status's generic kind, the
/// inner code decides.
fn refine_inner_error(error: ProviderError, body: &[u8]) -> ProviderError {
    let generic = error.status().and_then(ErrorKind::from_status);
    // Only a client error is refined (below), so a server error's body is not read again.
    if Some(error.kind()) != generic || error.status().is_none_or(|s| s >= 500) {
        return error;
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return error;
    };
    let outer = value.get("error");
    let inner = outer.and_then(|e| e.get("innererror"));
    let refined = [inner, outer]
        .into_iter()
        .filter_map(|e| e?.get("code")?.as_str())
        .find_map(|code| match code {
            // Azure's image endpoints spell it in camel case.
            "contentFilter" | "ContentFilter" => Some(ErrorKind::ContentPolicyViolation),
            other => provider::retry_core::classify::kind_from_code(other),
        });
    match refined {
        // Like retry-core's classify, a code never turns a server error into a client error.
        Some(kind) if kind != error.kind() => {
            let mut refined = ProviderError::new(kind, error.provider(), error.message())
                .with_hint(error.retry_hint());
            if let Some(status) = error.status() {
                refined = refined.with_status(status);
            }
            refined
        }
        _ => error,
    }
}

/// Classifies a reqwest failure. The message names the upstream host (never the path or
/// query, which could carry a secret for some servers) and says what to check; the source
/// is kept for logs with its URL removed for the same reason.
pub(crate) fn transport_error(provider: &'static str, error: reqwest::Error) -> ProviderError {
    let host = error
        .url()
        .map(host_of)
        .unwrap_or_else(|| "the upstream".to_owned());
    let error = error.without_url();
    let (kind, message) = if error.is_timeout() {
        (
            ErrorKind::Timeout,
            format!("{host} did not answer within the attempt timeout"),
        )
    } else if error.is_connect() {
        let why = root_cause(&error);
        (
            ErrorKind::Connection,
            format!("could not connect to {host}: {why}; check api_base and that the server is up"),
        )
    } else if error.is_decode() && !cut_short(&error) {
        (
            ErrorKind::InternalServer,
            format!(
                "could not decode the answer body from {host}: {}",
                root_cause(&error)
            ),
        )
    } else if error.is_body() || error.is_decode() {
        (
            ErrorKind::Connection,
            format!(
                "the connection to {host} failed while the answer body was being read: {}",
                root_cause(&error)
            ),
        )
    } else if error.is_builder() {
        (
            ErrorKind::InternalServer,
            format!(
                "could not build the request to {host}: {}",
                root_cause(&error)
            ),
        )
    } else {
        // Sending failed after the connection was made: reset, closed before the answer.
        (
            ErrorKind::Connection,
            format!(
                "the request to {host} failed before an answer arrived: {}",
                root_cause(&error)
            ),
        )
    };
    ProviderError::new(kind, provider, message).with_source(error)
}

/// Whether a body error is the connection ending early rather than bytes that do not
/// decode: reqwest reports both as decode errors when it reads a whole body.
fn cut_short(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.downcast_ref::<std::io::Error>().is_some() {
            return true;
        }
        let text = e.to_string().to_ascii_lowercase();
        if ["eof", "incomplete", "connection", "closed", "reset"]
            .iter()
            .any(|w| text.contains(w))
        {
            return true;
        }
        cause = e.source();
    }
    false
}

/// `scheme://host:port` of a URL, nothing more.
pub(crate) fn host_of(url: &reqwest::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{}://{host}:{port}", url.scheme()),
        (Some(host), None) => format!("{}://{host}", url.scheme()),
        _ => "the upstream".to_owned(),
    }
}

/// The innermost error's text (reqwest's own Display only says "error sending request").
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &(dyn std::error::Error + 'static) = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    // hyper-util's connect errors say "tcp connect error" at the top and the OS reason
    // below; the innermost is the useful one. Keep it one short line.
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() > 160 {
        text.chars().take(160).collect::<String>() + "…"
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_target_has_its_origin_form_and_host_ready() {
        let target = Target::new(
            "http://10.0.0.5:8000/v1/chat/completions?x=1"
                .parse()
                .expect("a URL"),
        )
        .expect("a target");
        let plain = target.plain.expect("plain http");
        assert_eq!(plain.origin, "/v1/chat/completions?x=1");
        assert_eq!(plain.host, "10.0.0.5:8000");
        let tls = Target::new(
            "https://api.openai.com/v1/chat/completions"
                .parse()
                .expect("a URL"),
        )
        .expect("a target");
        assert!(
            tls.plain.is_none(),
            "hyper-util's client writes https requests itself"
        );
    }
}
