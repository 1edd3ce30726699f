//! The HTTP routes: provider endpoints (recorded in the hit log, answered by script) and the
//! `/__control/` API that scripts them over HTTP.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use axum::routing::{get, post};
use http::{HeaderMap, Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::behaviour::{Behaviour, Step};
use crate::conn::ConnInfo;
use crate::respond::{json_status, respond};
use crate::state::{Hit, Shared, redact};
use crate::wire::{self, Api, Call};

/// Largest request body read; a real provider rejects far less.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// The scripted server's routes.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/__control/script", post(control_script))
        .route("/__control/always", post(control_always))
        .route("/__control/reset", post(control_reset))
        .route("/__control/hits", get(control_hits))
        .route("/__control/stats", get(control_stats))
        .fallback(wire_endpoint)
        .with_state(shared)
}

/// Where a request goes.
#[derive(Debug)]
enum Route {
    Api(Api, Option<String>),
    Models,
    Model(String),
    NotFound,
}

fn route(method: &Method, path: &str) -> Route {
    let post = method == Method::POST;
    let get = method == Method::GET;
    match path.trim_end_matches('/') {
        "/v1/chat/completions" if post => Route::Api(Api::OpenAiChat, None),
        "/v1/embeddings" if post => Route::Api(Api::OpenAiEmbeddings, None),
        "/v1/messages" if post => Route::Api(Api::AnthropicMessages, None),
        "/v1/models" if get => Route::Models,
        other => {
            if let Some(id) = other.strip_prefix("/v1/models/").filter(|_| get) {
                return Route::Model(id.to_owned());
            }
            let Some(rest) = other.strip_prefix("/openai/deployments/").filter(|_| post) else {
                return Route::NotFound;
            };
            match rest.split_once('/') {
                Some((name, "chat/completions")) if !name.is_empty() => {
                    Route::Api(Api::AzureChat, Some(name.to_owned()))
                }
                Some((name, "embeddings")) if !name.is_empty() => {
                    Route::Api(Api::AzureEmbeddings, Some(name.to_owned()))
                }
                _ => Route::NotFound,
            }
        }
    }
}

/// Every provider endpoint: read, record, answer.
async fn wire_endpoint(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(ConnInfo(conn)): ConnectInfo<ConnInfo>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let at_ms = shared.elapsed_ms();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return json_status(
                StatusCode::PAYLOAD_TOO_LARGE,
                &wire::invalid_request_body(None, &format!("cannot read the request body: {e}")),
            );
        }
    };
    let (body, body_is_json) = parse_body(&bytes);
    let route = route(&parts.method, parts.uri.path());
    let (hit_headers, api_key_last4) = record_headers(&parts.headers);
    let mut hit = Hit {
        at_ms,
        connection: conn.id,
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        deployment: None,
        headers: hit_headers,
        api_key_last4,
        body: body.clone(),
        behaviour: "rejected".to_owned(),
    };

    let (api, azure_deployment) = match route {
        Route::Api(api, deployment) => (api, deployment),
        Route::Models => {
            hit.behaviour = "success".to_owned();
            shared.record(hit);
            let mut names = vec![
                "gpt-4o".to_owned(),
                "gpt-4o-mini".to_owned(),
                "text-embedding-3-small".to_owned(),
            ];
            names.extend(shared.known_deployments());
            names.sort();
            names.dedup();
            return json_status(StatusCode::OK, &wire::models_list(&names));
        }
        Route::Model(id) => {
            hit.behaviour = "success".to_owned();
            shared.record(hit);
            return json_status(StatusCode::OK, &wire::model_object(&id));
        }
        Route::NotFound => {
            shared.record(hit);
            let message = format!("Invalid URL ({} {})", parts.method, parts.uri.path());
            return json_status(
                StatusCode::NOT_FOUND,
                &wire::invalid_request_body(None, &message),
            );
        }
    };

    // Reject what the real provider rejects before any script runs, so a client that sends a
    // malformed request finds out here rather than in production.
    let reject = |hit: Hit, status: StatusCode, message: &str| {
        shared.record(hit);
        json_status(status, &wire::invalid_request_body(Some(api), message))
    };
    if api.is_anthropic() && !parts.headers.contains_key("anthropic-version") {
        return reject(
            hit,
            StatusCode::BAD_REQUEST,
            "anthropic-version: header is required",
        );
    }
    if azure_deployment.is_some() && !has_api_version(parts.uri.query()) {
        shared.record(hit);
        return json_status(
            StatusCode::NOT_FOUND,
            &json!({"error": {"code": "404", "message": "Resource not found"}}),
        );
    }
    if !body_is_json || !body.is_object() {
        return reject(
            hit,
            StatusCode::BAD_REQUEST,
            "We could not parse the JSON body of your request. (HINT: This likely means you \
             aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)",
        );
    }
    let deployment = match azure_deployment.or_else(|| body["model"].as_str().map(str::to_owned)) {
        Some(d) => d,
        None => {
            return reject(
                hit,
                StatusCode::BAD_REQUEST,
                "you must provide a model parameter",
            );
        }
    };
    if api.is_anthropic() && !body["max_tokens"].is_u64() {
        hit.deployment = Some(deployment);
        return reject(hit, StatusCode::BAD_REQUEST, "max_tokens: Field required");
    }

    let step = shared.next_step(&deployment);
    hit.behaviour = step
        .as_ref()
        .map_or("success", |s| s.behaviour.kind())
        .to_owned();
    hit.deployment = Some(deployment.clone());
    shared.record(hit);

    let call = Call {
        api,
        stream: !api.is_embeddings() && body["stream"].as_bool() == Some(true),
        deployment,
        body: &body,
    };
    respond(&shared, &conn, &call, step).await
}

fn parse_body(bytes: &Bytes) -> (Value, bool) {
    if bytes.is_empty() {
        return (Value::Null, false);
    }
    match serde_json::from_slice(bytes) {
        Ok(v) => (v, true),
        Err(_) => (
            Value::String(String::from_utf8_lossy(bytes).into_owned()),
            false,
        ),
    }
}

fn has_api_version(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&').any(|kv| {
            kv.split_once('=')
                .is_some_and(|(k, v)| k == "api-version" && !v.is_empty())
        })
    })
}

/// Lower-cased headers with secrets redacted, and the last 4 chars of the API key.
fn record_headers(headers: &HeaderMap) -> (BTreeMap<String, String>, Option<String>) {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut last4 = None;
    for (name, value) in headers {
        let text = String::from_utf8_lossy(value.as_bytes());
        let text = match name.as_str() {
            "authorization" | "x-api-key" | "api-key" => {
                let (redacted, key_last4) = redact(&text);
                last4.get_or_insert(key_last4);
                redacted
            }
            _ => text.into_owned(),
        };
        out.entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&text);
            })
            .or_insert(text);
    }
    (out, last4)
}

/// `POST /__control/script` body.
#[derive(Debug, Deserialize)]
struct ScriptRequest {
    deployment: String,
    behaviours: Vec<Step>,
}

/// `POST /__control/always` body; `behaviour: null` (or absent) clears it.
#[derive(Debug, Deserialize)]
struct AlwaysRequest {
    deployment: String,
    #[serde(default)]
    behaviour: Option<Step>,
}

fn control_error(message: &str) -> Response {
    json_status(
        StatusCode::BAD_REQUEST,
        &json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}}),
    )
}

fn parse_control<T: for<'de> Deserialize<'de>>(bytes: &Bytes) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("invalid control request: {e}"))
}

fn check_statuses<'a>(steps: impl IntoIterator<Item = &'a Step>) -> Result<(), String> {
    for step in steps {
        if let Behaviour::Status { status, .. } = step.behaviour
            && StatusCode::from_u16(status).is_err()
        {
            return Err(format!(
                "status {status} is not a valid HTTP status: use 100 to 999"
            ));
        }
    }
    Ok(())
}

async fn control_script(State(shared): State<Arc<Shared>>, bytes: Bytes) -> Response {
    let request: ScriptRequest = match parse_control(&bytes) {
        Ok(r) => r,
        Err(message) => return control_error(&message),
    };
    if let Err(message) = check_statuses(&request.behaviours) {
        return control_error(&message);
    }
    let added = request.behaviours.len();
    shared.enqueue(request.deployment.clone(), request.behaviours);
    json_status(
        StatusCode::OK,
        &json!({"deployment": request.deployment, "added": added,
                "queued": shared.queued(&request.deployment)}),
    )
}

async fn control_always(State(shared): State<Arc<Shared>>, bytes: Bytes) -> Response {
    let request: AlwaysRequest = match parse_control(&bytes) {
        Ok(r) => r,
        Err(message) => return control_error(&message),
    };
    if let Err(message) = check_statuses(&request.behaviour) {
        return control_error(&message);
    }
    let set = request.behaviour.is_some();
    shared.set_always(request.deployment.clone(), request.behaviour);
    json_status(
        StatusCode::OK,
        &json!({"deployment": request.deployment, "always": set}),
    )
}

async fn control_reset(State(shared): State<Arc<Shared>>) -> Response {
    shared.reset();
    json_status(StatusCode::OK, &json!({"reset": true}))
}

async fn control_hits(State(shared): State<Arc<Shared>>) -> Response {
    json_status(StatusCode::OK, &json!({"hits": shared.hits()}))
}

async fn control_stats(State(shared): State<Arc<Shared>>) -> Response {
    json_status(
        StatusCode::OK,
        &json!({
            "connections_accepted": shared.connections_accepted(),
            "hits": shared.hit_count(),
            "queued": shared.queue_lengths(),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert!(matches!(
            route(&Method::POST, "/openai/deployments/my-gpt/chat/completions"),
            Route::Api(Api::AzureChat, Some(name)) if name == "my-gpt"
        ));
        assert!(matches!(
            route(&Method::GET, "/v1/chat/completions"),
            Route::NotFound
        ));
        assert!(matches!(
            route(&Method::POST, "/v1/messages"),
            Route::Api(Api::AnthropicMessages, None)
        ));
        assert!(
            matches!(route(&Method::GET, "/v1/models/gpt-4o"), Route::Model(id) if id == "gpt-4o")
        );
    }

    #[test]
    fn api_version_must_have_a_value() {
        assert!(has_api_version(Some("api-version=2024-10-21")));
        assert!(!has_api_version(Some("api-version=")));
        assert!(!has_api_version(None));
    }
}
