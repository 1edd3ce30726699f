//! The HTTP/1.1 wire format for the plain pool (`pool.rs`): writing a request head, parsing an
//! answer's head and taking its body apart (`Content-Length`, chunked, or until the connection
//! closes). Pure functions over byte buffers, no I/O.
//!
//! Only what a client of an upstream needs: requests are always `POST`s with a known length,
//! so there is no request body framing to choose, no `Expect: 100-continue` and no upgrade.

use std::fmt;
use std::io::Write as _;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

/// The most headers an answer may have.
const MAX_HEADERS: usize = 128;
/// The longest answer head (status line and headers) we wait for.
pub(crate) const MAX_HEAD: usize = 256 * 1024;
/// The longest chunk-size line or trailer line of a chunked body.
const MAX_LINE: usize = 4096;

/// An answer that does not follow HTTP/1.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProtocolError(pub(crate) &'static str);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid HTTP/1.1 answer: {}", self.0)
    }
}

impl std::error::Error for ProtocolError {}

/// Appends a request head for `POST origin` with `headers` and a body of `length` bytes.
///
/// `Host` and `Content-Length` are written here; the same headers in `headers` are skipped,
/// as is `Transfer-Encoding` (the body's framing is ours to say).
pub(crate) fn write_request_head(
    out: &mut Vec<u8>,
    origin: &str,
    host: &HeaderValue,
    headers: &HeaderMap,
    user_agent: &HeaderValue,
    length: usize,
) {
    out.extend_from_slice(b"POST ");
    out.extend_from_slice(origin.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        if name == http::header::HOST
            || name == http::header::CONTENT_LENGTH
            || name == http::header::TRANSFER_ENCODING
        {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !headers.contains_key(http::header::USER_AGENT) {
        out.extend_from_slice(b"user-agent: ");
        out.extend_from_slice(user_agent.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // Writing to a `Vec` cannot fail.
    let _ = write!(out, "content-length: {length}\r\n\r\n");
}

/// How an answer's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// An answer's status line and the headers that matter.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) status: StatusCode,
    /// All headers, but only for an answer that is not a success: error answers are
    /// classified by their headers (`retry-after`, rate-limit headers); a success's headers
    /// are not read, so they are not built.
    pub(crate) headers: HeaderMap,
    pub(crate) framing: Framing,
    /// Whether the connection may carry another request after this answer's body.
    pub(crate) keep_alive: bool,
}

/// Parses the answer head at the start of `buf`.
///
/// Returns the head and its length in bytes, or `None` when `buf` does not yet hold a whole
/// head. Interim `1xx` answers are skipped (their length is counted in the returned length).
pub(crate) fn parse_head(buf: &[u8]) -> Result<Option<(usize, Head)>, ProtocolError> {
    let mut consumed = 0;
    loop {
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut slots);
        let len = match response.parse(&buf[consumed..]) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(ProtocolError("more than 128 headers"));
            }
            Err(_) => return Err(ProtocolError("the status line or a header is malformed")),
        };
        let code = response.code.unwrap_or(0);
        let status = StatusCode::from_u16(code)
            .map_err(|_| ProtocolError("the status code is not a valid one"))?;
        consumed += len;
        if status == StatusCode::SWITCHING_PROTOCOLS {
            return Err(ProtocolError("the server switched protocols unasked"));
        }
        if status.is_informational() {
            continue;
        }
        let head = head_from(status, response.version == Some(1), response.headers)?;
        return Ok(Some((consumed, head)));
    }
}

fn head_from(
    status: StatusCode,
    http11: bool,
    raw: &[httparse::Header<'_>],
) -> Result<Head, ProtocolError> {
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut transfer_encoding = false;
    let mut close = !http11;
    for header in raw {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            let value = std::str::from_utf8(header.value)
                .ok()
                .map(str::trim)
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or(ProtocolError("Content-Length is not a number"))?;
            if length.is_some_and(|seen| seen != value) {
                return Err(ProtocolError("two different Content-Length headers"));
            }
            length = Some(value);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
            // Only the last coding says whether the body is chunked.
            chunked = last_token(header.value).is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|b| *b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && !http11 {
                    close = false;
                }
            }
        }
    }
    let framing = if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        Framing::Length(0)
    } else if transfer_encoding {
        // A transfer coding overrides any length (RFC 9112, 6.3); one that does not end in
        // chunked runs until the connection closes.
        if chunked {
            Framing::Chunked
        } else {
            Framing::UntilClose
        }
    } else if let Some(length) = length {
        Framing::Length(length)
    } else {
        Framing::UntilClose
    };
    // Both a transfer coding and a length may be a response-splitting attempt: read this one
    // answer by its coding, then close (RFC 9112, 6.3).
    let keep_alive =
        !close && framing != Framing::UntilClose && !(transfer_encoding && length.is_some());
    let headers = if status.is_success() {
        HeaderMap::new()
    } else {
        let mut headers = HeaderMap::with_capacity(raw.len());
        for header in raw {
            // A header we cannot represent is left out: these only feed the error's
            // classification, which reads a few well-known ones.
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(header.name.as_bytes()),
                HeaderValue::from_bytes(header.value),
            ) {
                headers.append(name, value);
            }
        }
        headers
    };
    Ok(Head {
        status,
        headers,
        framing,
        keep_alive,
    })
}

fn last_token(value: &[u8]) -> Option<&[u8]> {
    value
        .rsplit(|b| *b == b',')
        .next()
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// What a body decoder got out of the buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// Body bytes.
    Data(Bytes),
    /// More bytes must be read first.
    NeedMore,
    /// The body is complete; what is left in the buffer is not part of it.
    Done,
}

/// A chunked body being decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunked {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk, this many bytes to go.
    Data(u64),
    /// After a chunk's data, expecting its line end.
    DataEnd,
    /// After the last chunk, reading trailer lines up to the blank one.
    Trailers,
    /// Complete.
    Done,
}

impl Chunked {
    /// Takes what it can from the front of `buf`.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, ProtocolError> {
        loop {
            match *self {
                Chunked::Size => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    let size = chunk_size(&line)?;
                    *self = if size == 0 {
                        Chunked::Trailers
                    } else {
                        Chunked::Data(size)
                    };
                }
                Chunked::Data(left) => {
                    if buf.is_empty() {
                        return Ok(Decoded::NeedMore);
                    }
                    let take = usize::try_from(left).map_or(buf.len(), |left| left.min(buf.len()));
                    let left = left - take as u64;
                    *self = if left == 0 {
                        Chunked::DataEnd
                    } else {
                        Chunked::Data(left)
                    };
                    return Ok(Decoded::Data(buf.split_to(take).freeze()));
                }
                Chunked::DataEnd => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    if !line.is_empty() {
                        return Err(ProtocolError("a chunk is longer than its size says"));
                    }
                    *self = Chunked::Size;
                }
                Chunked::Trailers => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    // Trailers carry nothing an answer needs; the blank line ends the body.
                    if line.is_empty() {
                        *self = Chunked::Done;
                    }
                }
                Chunked::Done => return Ok(Decoded::Done),
            }
        }
    }
}

/// Takes one line (without its `\r\n` or bare `\n`) off the front of `buf`.
fn take_line(buf: &mut BytesMut) -> Result<Option<BytesMut>, ProtocolError> {
    match buf.iter().position(|b| *b == b'\n') {
        Some(end) => {
            let mut line = buf.split_to(end + 1);
            line.truncate(end);
            if line.last() == Some(&b'\r') {
                line.truncate(end - 1);
            }
            Ok(Some(line))
        }
        None if buf.len() > MAX_LINE => {
            Err(ProtocolError("a chunk-size or trailer line is too long"))
        }
        None => Ok(None),
    }
}

/// The size on a chunk-size line: hex digits, then maybe `;extensions`.
fn chunk_size(line: &[u8]) -> Result<u64, ProtocolError> {
    let digits = line
        .split(|b| *b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    if digits.is_empty() || digits.len() > 15 {
        return Err(ProtocolError("a chunk size is missing or too large"));
    }
    let mut size = 0u64;
    for digit in digits {
        let value = match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'f' => digit - b'a' + 10,
            b'A'..=b'F' => digit - b'A' + 10,
            _ => return Err(ProtocolError("a chunk size is not hexadecimal")),
        };
        size = size * 16 + u64::from(value);
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Option<(usize, Head)>, ProtocolError> {
        parse_head(text.as_bytes())
    }

    #[test]
    fn a_request_head_carries_host_length_and_the_headers_once() {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(http::header::HOST, HeaderValue::from_static("ignored"));
        headers.insert(
            http::header::CONTENT_LENGTH,
            HeaderValue::from_static("999"),
        );
        let mut out = Vec::new();
        write_request_head(
            &mut out,
            "/v1/chat/completions?x=1",
            &HeaderValue::from_static("10.0.0.5:8000"),
            &headers,
            &HeaderValue::from_static("switchyard/test"),
            1234,
        );
        assert_eq!(
            String::from_utf8(out).expect("ASCII"),
            "POST /v1/chat/completions?x=1 HTTP/1.1\r\nhost: 10.0.0.5:8000\r\n\
             content-type: application/json\r\nuser-agent: switchyard/test\r\n\
             content-length: 1234\r\n\r\n"
        );

        headers.insert(http::header::USER_AGENT, HeaderValue::from_static("mine"));
        let mut out = Vec::new();
        let ua = HeaderValue::from_static("switchyard/test");
        write_request_head(&mut out, "/", &ua, &headers, &ua, 0);
        let text = String::from_utf8(out).expect("ASCII");
        assert!(text.contains("user-agent: mine\r\n"), "{text}");
        assert!(!text.contains("user-agent: switchyard"), "{text}");
        assert!(text.ends_with("content-length: 0\r\n\r\n"), "{text}");
    }

    #[test]
    fn a_head_says_its_framing_and_whether_the_connection_stays() {
        let text = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nDate: x\r\n\r\nbody";
        let (len, h) = head(text).expect("valid").expect("complete");
        assert_eq!(&text[len..], "body");
        assert_eq!(
            (h.status, h.framing, h.keep_alive),
            (StatusCode::OK, Framing::Length(12), true)
        );
        assert!(h.headers.is_empty(), "a success's headers are not built");

        let (_, h) = head(
            "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\ncontent-length: 5\r\n\r\n",
        )
        .expect("valid")
        .expect("complete");
        assert_eq!(
            (h.framing, h.keep_alive),
            (Framing::Chunked, false),
            "chunked wins over a length, and the connection closes after it"
        );

        let (_, h) = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert_eq!((h.framing, h.keep_alive), (Framing::UntilClose, false));

        let (_, h) = head("HTTP/1.1 200 OK\r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert_eq!(
            (h.framing, h.keep_alive),
            (Framing::UntilClose, false),
            "no length: until close"
        );

        let (_, h) =
            head("HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n")
                .expect("valid")
                .expect("complete");
        assert!(!h.keep_alive, "Connection: close");

        let (_, h) = head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert!(!h.keep_alive, "HTTP/1.0 closes by default");
        let (_, h) = head("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert!(h.keep_alive, "unless it says keep-alive");

        let (_, h) = head("HTTP/1.1 204 No Content\r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert_eq!((h.framing, h.keep_alive), (Framing::Length(0), true));
    }

    #[test]
    fn an_error_answer_keeps_its_headers_and_interim_answers_are_skipped() {
        let text = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many Requests\r\n\
                    Retry-After: 7\r\nx-ratelimit-remaining-requests: 0\r\ncontent-length: 2\r\n\r\n{}";
        let (len, h) = head(text).expect("valid").expect("complete");
        assert_eq!(&text[len..], "{}");
        assert_eq!(h.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(h.headers["retry-after"], "7");
        assert_eq!(h.headers["x-ratelimit-remaining-requests"], "0");
    }

    #[test]
    fn incomplete_and_invalid_heads() {
        assert!(
            head("HTTP/1.1 200 OK\r\nContent-Le")
                .expect("valid so far")
                .is_none()
        );
        assert!(
            head("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2")
                .expect("valid so far")
                .is_none()
        );
        for (text, why) in [
            (
                "HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",
                "not a number",
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                "two different",
            ),
            (
                "HTTP/1.1 101 Switching Protocols\r\n\r\n",
                "switched protocols",
            ),
            ("SSH-2.0-OpenSSH\r\n\r\n", "malformed"),
            ("HTTP/1.1 20 OK\r\n\r\n", "malformed"),
            ("HTTP/1.1 099 Low\r\n\r\n", "not a valid one"),
        ] {
            let err = head(text).expect_err(text);
            assert!(err.to_string().contains(why), "{text}: {err}");
        }
        let many: String = (0..200).map(|i| format!("x-{i}: v\r\n")).collect();
        let err = head(&format!("HTTP/1.1 200 OK\r\n{many}\r\n")).expect_err("too many");
        assert!(err.to_string().contains("128 headers"), "{err}");
    }

    /// Decodes `input` fed in pieces of `step` bytes; returns the body and what is left.
    fn dechunk(input: &[u8], step: usize) -> Result<(Vec<u8>, Vec<u8>), ProtocolError> {
        let mut decoder = Chunked::Size;
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        let mut pieces = input.chunks(step);
        loop {
            match decoder.decode(&mut buf)? {
                Decoded::Data(data) => body.extend_from_slice(&data),
                Decoded::NeedMore => match pieces.next() {
                    Some(piece) => buf.extend_from_slice(piece),
                    None => return Err(ProtocolError("input ended")),
                },
                Decoded::Done => {
                    let rest: Vec<u8> = buf.iter().chain(pieces.flatten()).copied().collect();
                    return Ok((body, rest));
                }
            }
        }
    }

    #[test]
    fn chunked_bodies_decode_whatever_the_read_sizes() {
        let input = b"5\r\nhello\r\nB;ext=1\r\n, chunked!!\r\n0\r\nx-trailer: t\r\n\r\nNEXT";
        for step in 1..=input.len() {
            let (body, rest) = dechunk(input, step).expect("valid");
            assert_eq!(body, b"hello, chunked!!", "step {step}");
            assert_eq!(rest, b"NEXT", "step {step}");
        }
        let (body, _) = dechunk(b"3\nabc\n0\n\n", 2).expect("bare line feeds are accepted");
        assert_eq!(body, b"abc");
    }

    #[test]
    fn broken_chunked_bodies_are_errors() {
        for (input, why) in [
            (&b"zz\r\n"[..], "not hexadecimal"),
            (b"\r\n", "missing"),
            (b"1000000000000000\r\n", "too large"),
            (b"3\r\nabcd\r\n", "longer than its size"),
        ] {
            let err = dechunk(input, input.len()).expect_err("invalid");
            assert!(err.to_string().contains(why), "{input:?}: {err}");
        }
        let long = vec![b'1'; MAX_LINE + 1];
        let err = dechunk(&long, long.len()).expect_err("no line end");
        assert!(err.to_string().contains("too long"), "{err}");
    }
}
