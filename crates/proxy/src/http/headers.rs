//! The `x-switchyard-*` headers of `SEMANTICS.md` §9, written on every answer.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use router::Report;

/// `x-request-id`.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Writes the attempt report's headers.
pub fn report_headers(headers: &mut HeaderMap, report: &Report) {
    let num = |n: u32| HeaderValue::from(n);
    headers.insert("x-switchyard-attempted-retries", num(report.retries));
    headers.insert("x-switchyard-max-retries", num(report.max_retries));
    headers.insert("x-switchyard-attempted-fallbacks", num(report.fallbacks));
    if let Some(v) = report
        .final_group
        .as_deref()
        .and_then(|g| HeaderValue::from_str(g).ok())
    {
        headers.insert("x-switchyard-model-group", v);
    }
    if let Some(v) = report
        .final_deployment
        .as_deref()
        .and_then(|d| HeaderValue::from_str(d).ok())
    {
        headers.insert("x-switchyard-deployment-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&report.request_id) {
        headers.insert(REQUEST_ID.clone(), v);
    }
}
