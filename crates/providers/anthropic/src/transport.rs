//! One HTTP attempt over reqwest: sending with the attempt's time limit, and turning every
//! transport failure and error status into a classified [`ProviderError`].

use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use provider::{ErrorKind, ProviderError, header_pairs};
use reqwest::{RequestBuilder, Response};

/// How much of an error body we read: error pages are small, and a misbehaving upstream
/// must not make us buffer megabytes just to build a message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Which part of the call a limit covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// The limit covers the whole exchange, body included (plain calls).
    WholeCall,
    /// The limit covers only the wait for the response headers (streams: the router bounds
    /// the gaps between chunks itself, and a long answer is not a slow one).
    UntilHeaders,
}

/// Sends `request` and waits for the response headers, within `time_left` if set.
///
/// Returns the response only for a 2xx status; any other status is read (a bounded
/// amount of body) and classified with [`ProviderError::from_http`].
pub(crate) async fn send(
    provider: &'static str,
    request: RequestBuilder,
    time_left: Option<Duration>,
    limit: Limit,
) -> Result<Response, ProviderError> {
    let request = match (time_left, limit) {
        (Some(left), Limit::WholeCall) => request.timeout(left),
        _ => request,
    };
    let sending = request.send();
    let response = match (time_left, limit) {
        (Some(left), Limit::UntilHeaders) => match tokio::time::timeout(left, sending).await {
            Ok(result) => result,
            Err(_) => {
                return Err(ProviderError::new(
                    ErrorKind::Timeout,
                    provider,
                    format!(
                        "the upstream sent no response headers within {} ms; raise the attempt timeout or check the upstream",
                        left.as_millis()
                    ),
                ));
            }
        },
        _ => sending.await,
    }
    .map_err(|e| transport_error(provider, e))?;

    if response.status().is_success() {
        Ok(response)
    } else {
        Err(error_from_response(provider, response).await)
    }
}

/// Classifies an error status answer from its status, headers and (bounded) body.
pub(crate) async fn error_from_response(
    provider: &'static str,
    mut response: Response,
) -> ProviderError {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut body = BytesMut::new();
    // A body that fails halfway still has a status worth reporting: use what arrived.
    while body.len() < MAX_ERROR_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body.truncate(MAX_ERROR_BODY);
    ProviderError::from_http(
        provider,
        status,
        header_pairs(&headers),
        &body,
        SystemTime::now(),
    )
}

/// Reads a whole success body.
pub(crate) async fn read_body(
    provider: &'static str,
    response: Response,
) -> Result<Bytes, ProviderError> {
    response
        .bytes()
        .await
        .map_err(|e| transport_error(provider, e))
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
