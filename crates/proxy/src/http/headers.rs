//! The `x-switchyard-*` headers of `SEMANTICS.md` §9, written on every answer.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use router::Report;

/// `x-request-id`.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// `x-switchyard-overhead-ms`.
pub static OVERHEAD_MS: HeaderName = HeaderName::from_static("x-switchyard-overhead-ms");

// Names built once: inserting with a `&'static str` validates the name on every call.
static ATTEMPTED_RETRIES: HeaderName = HeaderName::from_static("x-switchyard-attempted-retries");
static MAX_RETRIES: HeaderName = HeaderName::from_static("x-switchyard-max-retries");
static ATTEMPTED_FALLBACKS: HeaderName =
    HeaderName::from_static("x-switchyard-attempted-fallbacks");
static MODEL_GROUP: HeaderName = HeaderName::from_static("x-switchyard-model-group");
static DEPLOYMENT_ID: HeaderName = HeaderName::from_static("x-switchyard-deployment-id");

/// `0` to `9` as header values: counts are almost always one digit, and a static value costs
/// no allocation (`HeaderValue::from(u32)` allocates for every number).
static DIGITS: [HeaderValue; 10] = [
    HeaderValue::from_static("0"),
    HeaderValue::from_static("1"),
    HeaderValue::from_static("2"),
    HeaderValue::from_static("3"),
    HeaderValue::from_static("4"),
    HeaderValue::from_static("5"),
    HeaderValue::from_static("6"),
    HeaderValue::from_static("7"),
    HeaderValue::from_static("8"),
    HeaderValue::from_static("9"),
];

/// How many headers [`report_headers`] writes at most.
const REPORT_HEADERS: usize = 6;

fn count(n: u32) -> HeaderValue {
    usize::try_from(n)
        .ok()
        .and_then(|i| DIGITS.get(i))
        .cloned()
        .unwrap_or_else(|| HeaderValue::from(n))
}

/// Writes the attempt report's headers.
pub fn report_headers(headers: &mut HeaderMap, report: &Report) {
    // Room for all of them at once, rather than growing the map two or three times.
    headers.reserve(REPORT_HEADERS);
    headers.insert(ATTEMPTED_RETRIES.clone(), count(report.retries));
    headers.insert(MAX_RETRIES.clone(), count(report.max_retries));
    headers.insert(ATTEMPTED_FALLBACKS.clone(), count(report.fallbacks));
    if let Some(v) = report
        .final_group
        .as_deref()
        .and_then(|g| HeaderValue::from_str(g).ok())
    {
        headers.insert(MODEL_GROUP.clone(), v);
    }
    if let Some(v) = report
        .final_deployment
        .as_deref()
        .and_then(|d| HeaderValue::from_str(d).ok())
    {
        headers.insert(DEPLOYMENT_ID.clone(), v);
    }
    if let Ok(v) = HeaderValue::from_str(&report.request_id) {
        headers.insert(REQUEST_ID.clone(), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_written_whatever_their_size() {
        for n in [0, 7, 9, 10, 123, u32::MAX] {
            assert_eq!(count(n).to_str().ok(), Some(n.to_string().as_str()));
        }
    }
}
