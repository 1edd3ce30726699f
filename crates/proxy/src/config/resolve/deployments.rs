//! `model_list`: deployments, their providers and keys, and the checks across deployments.

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use retry_core::ErrorKind;

use super::{Groups, default_key, env_default, positive_duration};
use crate::config::{
    decode::{Ctx, Field, Got, index, join},
    error::ProblemKind,
    keys,
    raw::{Node, Pos, Value},
    suggest,
    types::{DeploymentConfig, ExtraHeader, MockFailure, ProviderKind, Secret},
};

/// Providers Switchyard has, as written before the `/` in `litellm_params.model`.
const PROVIDERS: [&str; 4] = ["openai", "azure", "anthropic", "mock"];

/// LiteLLM providers that serve the OpenAI API: reachable today as `openai/` with `api_base`.
const OPENAI_COMPATIBLE: [&str; 22] = [
    "hosted_vllm",
    "vllm",
    "ollama",
    "ollama_chat",
    "lm_studio",
    "llamafile",
    "openai_like",
    "custom_openai",
    "text-completion-openai",
    "litellm_proxy",
    "groq",
    "together_ai",
    "deepseek",
    "fireworks_ai",
    "openrouter",
    "mistral",
    "xai",
    "perplexity",
    "deepinfra",
    "nvidia_nim",
    "cerebras",
    "sambanova",
];

/// What a deployment's position in the file is, for checks across deployments.
struct Placed {
    id_pos: Pos,
    id_path: String,
    /// Where `weight` is written, if it is.
    weight: Option<(Pos, String)>,
}

pub(super) fn model_list_section(
    ctx: &mut Ctx<'_>,
    list: &Got<'_>,
) -> (Vec<DeploymentConfig>, Groups) {
    let mut groups = Groups { names: Vec::new() };
    let items: &[Node] = match &list.node.value {
        Value::Seq(items) => items,
        _ => {
            ctx.problem(
                list.node.pos,
                &list.path,
                ProblemKind::WrongType { expected: "a list" },
                format!(
                    "expected a list of deployments, found {}; write each deployment as a `- model_name: ...` item",
                    list.node.value.describe()
                ),
            );
            return (Vec::new(), groups);
        }
    };
    if items.is_empty() {
        ctx.problem(
            list.node.pos,
            &list.path,
            ProblemKind::InvalidValue,
            "is empty; add at least one deployment (`- model_name: ...` with `litellm_params.model`)",
        );
        return (Vec::new(), groups);
    }
    // Group names first, so references to a group whose deployment has another error
    // are not reported as unknown too.
    for item in items {
        if let Some(name) = item.get("model_name").and_then(Node::as_str)
            && !groups.contains(name)
        {
            groups.names.push(name.to_owned());
        }
    }
    let mut deployments = Vec::new();
    let mut placed = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = index(&list.path, i);
        if let Some((d, p)) = deployment(ctx, item, &path, i) {
            deployments.push(d);
            placed.push(p);
        }
    }
    check_ids(ctx, &deployments, &placed);
    check_weights(ctx, &deployments, &placed);
    (deployments, groups)
}

fn check_ids(ctx: &mut Ctx<'_>, deployments: &[DeploymentConfig], placed: &[Placed]) {
    let mut seen: HashMap<&str, &Placed> = HashMap::new();
    for (d, p) in deployments.iter().zip(placed) {
        if let Some(first) = seen.get(d.id.as_str()) {
            ctx.problem(
                p.id_pos,
                &p.id_path,
                ProblemKind::DuplicateId { id: d.id.clone() },
                format!(
                    "deployment id `{}` is already used by {} (line {}); give each deployment its own model_info.id",
                    d.id, first.id_path, first.id_pos.line
                ),
            );
        } else {
            seen.insert(&d.id, p);
        }
    }
}

fn check_weights(ctx: &mut Ctx<'_>, deployments: &[DeploymentConfig], placed: &[Placed]) {
    /// The weights set in one group: their sum, and where the first one is written.
    struct Weights<'a> {
        total: f64,
        first: &'a (Pos, String),
    }
    let mut by_group: BTreeMap<&str, Weights<'_>> = BTreeMap::new();
    for (d, p) in deployments.iter().zip(placed) {
        if let (Some(w), Some(at)) = (d.weight, &p.weight) {
            by_group
                .entry(&d.model_name)
                .or_insert(Weights {
                    total: 0.0,
                    first: at,
                })
                .total += w;
        }
    }
    for (group, Weights { total, first }) in by_group {
        if total <= 0.0 {
            let (pos, path) = first;
            ctx.problem(
                *pos,
                path,
                ProblemKind::ZeroWeight {
                    group: group.to_owned(),
                },
                format!(
                    "every weight in model group `{group}` is 0, so no deployment could ever be picked; \
                     give at least one deployment a weight above 0, or remove the weights"
                ),
            );
        }
    }
}

/// The raw pieces of `litellm_params` before the provider is known.
struct Params {
    model: Option<(String, Pos, String)>,
    api_base: Option<(String, Pos, String)>,
    api_key: Option<Secret>,
    api_version: Option<(String, Pos, String)>,
    organization: Option<(String, Pos, String)>,
    mock_response: Option<String>,
    mock_failure_rate: Option<(f64, Pos, String)>,
    mock_failure_kind: Option<(ErrorKind, Pos, String)>,
    mock_latency: Option<(Duration, Pos, String)>,
}

fn deployment(
    ctx: &mut Ctx<'_>,
    item: &Node,
    path: &str,
    list_index: usize,
) -> Option<(DeploymentConfig, Placed)> {
    let mut f = ctx.fields(Field { node: item, path }, &keys::DEPLOYMENT)?;
    let model_name = f
        .required(
            ctx,
            "model_name",
            "add `model_name: <the model name clients ask for>`",
        )
        .and_then(|g| ctx.string(g.field()));
    let params = f.required(
        ctx,
        "litellm_params",
        "a model group needs at least one deployment: add `litellm_params:` with `model: <provider>/<model>`",
    );
    let info = f.get("model_info");
    f.finish(ctx);

    let mut p = ctx.fields(params?.field(), &keys::LITELLM_PARAMS)?;
    let model = p
        .required(
            ctx,
            "model",
            "add `model: <provider>/<model>`, e.g. `model: openai/gpt-4o`",
        )
        .and_then(|g| {
            ctx.string(g.field())
                .map(|s| (s, g.node.pos, g.path.clone()))
        });
    let api_base = p
        .get("api_base")
        .and_then(|g| url(ctx, g.field()).map(|s| (s, g.node.pos, g.path.clone())));
    let api_key = p.get("api_key").and_then(|g| ctx.secret(g.field()));
    let api_version = p.get("api_version").and_then(|g| {
        ctx.string(g.field())
            .map(|s| (s, g.node.pos, g.path.clone()))
    });
    let organization = p.get("organization").and_then(|g| {
        ctx.string(g.field())
            .map(|s| (s, g.node.pos, g.path.clone()))
    });
    let rpm = p.get("rpm").and_then(|g| ctx.uint(g.field(), u64::MAX));
    let tpm = p.get("tpm").and_then(|g| ctx.uint(g.field(), u64::MAX));
    let weight_got = p.get("weight");
    let weight = weight_got
        .as_ref()
        .and_then(|g| ctx.non_negative(g.field()));
    let timeout = p
        .get("timeout")
        .and_then(|g| positive_duration(ctx, g.field()));
    let stream_timeout = p
        .get("stream_timeout")
        .and_then(|g| positive_duration(ctx, g.field()));
    let num_retries_got = p.get("num_retries");
    let num_retries = num_retries_got.as_ref().and_then(|g| ctx.u32(g.field()));
    let max_retries_got = p.get("max_retries");
    let max_retries = max_retries_got.as_ref().and_then(|g| ctx.u32(g.field()));
    let cooldown_time = p.get("cooldown_time").and_then(|g| ctx.duration(g.field()));
    let extra_headers_got = p.get("extra_headers");
    let headers_got = p.get("headers");
    let mock_response = p
        .get("mock_response")
        .and_then(|g| ctx.text(g.field()).map(|t| t.value));
    let mock_failure_rate = p.get("mock_failure_rate").and_then(|g| {
        let rate = ctx.non_negative(g.field())?;
        if rate > 1.0 {
            ctx.invalid(
                g.field(),
                format!("is {rate}, but a failure rate is a fraction of calls; write a number from 0 to 1 (0.3 fails 30% of calls)"),
            );
            return None;
        }
        Some((rate, g.node.pos, g.path.clone()))
    });
    let mock_failure_kind = p.get("mock_failure_kind").and_then(|g| {
        // retry-core's names of the kinds: `rate_limit`, `service_unavailable`, ...
        let choices = ErrorKind::ALL.map(|k| (k, k.as_str()));
        ctx.one_of(g.field(), &choices)
            .map(|k| (k, g.node.pos, g.path.clone()))
    });
    let mock_latency = p.get("mock_latency").and_then(|g| {
        ctx.duration(g.field())
            .map(|d| (d, g.node.pos, g.path.clone()))
    });
    p.finish(ctx);

    let extra_headers = match (&extra_headers_got, &headers_got) {
        (Some(_), Some(h)) => {
            ctx.problem(
                h.key_pos,
                &h.path,
                ProblemKind::Conflict,
                "both `headers` and `extra_headers` are set; they mean the same here, keep one (`extra_headers`)",
            );
            None
        }
        (Some(g), None) | (None, Some(g)) => header_map(ctx, g),
        (None, None) => Some(Vec::new()),
    };
    let num_retries = match (num_retries, max_retries) {
        (Some(a), Some(b)) if a != b => {
            if let Some(g) = &max_retries_got {
                ctx.problem(
                    g.key_pos,
                    &g.path,
                    ProblemKind::Conflict,
                    format!(
                        "max_retries ({b}) and num_retries ({a}) are both set and differ; switchyard reads max_retries \
                         as num_retries (only the router retries), so keep one"
                    ),
                );
            }
            None
        }
        (a, b) => a.or(b),
    };

    let params = Params {
        model,
        api_base,
        api_key,
        api_version,
        organization,
        mock_response,
        mock_failure_rate,
        mock_failure_kind,
        mock_latency,
    };
    let model_name = model_name?;
    let provider = provider(ctx, path, &model_name, params)?;

    let (id, id_pos, id_path, metadata) =
        model_info(ctx, info.as_ref(), &model_name, list_index, path, item.pos)?;
    let placed = Placed {
        id_pos,
        id_path,
        weight: weight_got.map(|g| (g.node.pos, g.path)),
    };
    Some((
        DeploymentConfig {
            id,
            model_name,
            provider,
            rpm,
            tpm,
            weight,
            timeout,
            stream_timeout,
            num_retries,
            cooldown_time,
            extra_headers: extra_headers?,
            metadata,
        },
        placed,
    ))
}

fn model_info(
    ctx: &mut Ctx<'_>,
    info: Option<&Got<'_>>,
    model_name: &str,
    list_index: usize,
    path: &str,
    item_pos: Pos,
) -> Option<(String, Pos, String, BTreeMap<String, serde_json::Value>)> {
    let generated = || format!("{model_name}/{list_index}");
    let Some(info) = info else {
        return Some((
            generated(),
            item_pos,
            join(path, "model_info.id"),
            BTreeMap::new(),
        ));
    };
    let Some(entries) = info.node.as_map() else {
        ctx.problem(
            info.node.pos,
            &info.path,
            ProblemKind::WrongType { expected: "a mapping" },
            format!(
                "expected a mapping, found {}; write model_info as `key: value` lines (e.g. `id: my-deployment`)",
                info.node.value.describe()
            ),
        );
        return None;
    };
    let mut metadata = BTreeMap::new();
    let mut id = None;
    for entry in entries {
        if entry.key == "id" {
            let path = join(&info.path, "id");
            if entry.value.value != Value::Null {
                let s = ctx.string(Field {
                    node: &entry.value,
                    path: &path,
                })?;
                id = Some((s.trim().to_owned(), entry.value.pos, path));
            }
        } else {
            metadata.insert(entry.key.clone(), entry.value.to_json());
        }
    }
    Some(match id {
        Some((id, pos, path)) => (id, pos, path, metadata),
        None => (generated(), info.node.pos, join(&info.path, "id"), metadata),
    })
}

fn provider(ctx: &mut Ctx<'_>, path: &str, model_name: &str, p: Params) -> Option<ProviderKind> {
    let (model, model_pos, model_path) = p.model?;
    let (prefix, name) = match model.split_once('/') {
        Some((prefix, rest)) => (Some(prefix), rest.to_owned()),
        None => (None, model.clone()),
    };
    if name.trim().is_empty() {
        ctx.problem(
            model_pos,
            &model_path,
            ProblemKind::InvalidValue,
            format!("\"{model}\" names no model after the provider; write `<provider>/<model>`, e.g. `openai/gpt-4o`"),
        );
        return None;
    }
    let kind = match prefix {
        None if name.starts_with("claude") => "anthropic",
        None => "openai",
        Some(prefix) if PROVIDERS.contains(&prefix) => prefix,
        Some(prefix) => {
            unknown_provider(ctx, prefix, &name, model_pos, &model_path);
            return None;
        }
    };
    let mut ok = true;
    let mut only_for = |ctx: &mut Ctx<'_>, set: Option<(Pos, &str)>, key: &str, provider: &str| {
        if let Some((pos, path)) = set {
            ctx.problem(
                pos,
                path,
                ProblemKind::InvalidValue,
                format!("`{key}` applies only to {provider} deployments, and this one is {kind}; remove it"),
            );
            ok = false;
        }
    };
    if kind != "openai" {
        only_for(ctx, spot(&p.organization), "organization", "openai/");
    }
    if kind != "azure" {
        only_for(ctx, spot(&p.api_version), "api_version", "azure/");
    }
    // LiteLLM answers with `mock_response` instead of calling the provider; so do we.
    let is_mock = kind == "mock" || p.mock_response.is_some();
    if !is_mock {
        only_for(
            ctx,
            spot(&p.mock_failure_rate),
            "mock_failure_rate",
            "mock/",
        );
        only_for(
            ctx,
            spot(&p.mock_failure_kind),
            "mock_failure_kind",
            "mock/",
        );
        only_for(ctx, spot(&p.mock_latency), "mock_latency", "mock/");
    }
    if !ok {
        return None;
    }
    if is_mock {
        if kind != "mock" {
            ctx.warnings.push(format!(
                "{path} (model_name `{model_name}`) has litellm_params.mock_response, so it answers with the mock \
                 and never calls {kind}, as in LiteLLM; remove mock_response to call the provider"
            ));
        }
        let failure = match (p.mock_failure_rate, p.mock_failure_kind) {
            (None, None) => None,
            (rate, kind) => Some(MockFailure {
                rate: rate.map_or(1.0, |(r, _, _)| r),
                kind: kind.map_or(ErrorKind::InternalServer, |(k, _, _)| k),
            }),
        };
        return Some(ProviderKind::Mock {
            model: name,
            response: p.mock_response,
            failure,
            latency: p.mock_latency.map_or(Duration::ZERO, |(d, _, _)| d),
        });
    }
    let api_base = p.api_base.map(|(base, _, _)| base);
    Some(match kind {
        "azure" => {
            let api_base = api_base.or_else(|| env_default(ctx, "AZURE_API_BASE"));
            let api_version = p
                .api_version
                .map(|(v, _, _)| v)
                .or_else(|| env_default(ctx, "AZURE_API_VERSION"));
            let missing: Vec<&str> = [
                ("api_base", api_base.is_none()),
                ("api_version", api_version.is_none()),
            ]
            .into_iter()
            .filter_map(|(key, missing)| missing.then_some(key))
            .collect();
            let (Some(api_base), Some(api_version)) = (api_base, api_version) else {
                ctx.problem(
                    model_pos,
                    &model_path,
                    ProblemKind::MissingKey,
                    format!(
                        "azure deployment `{name}` has no {}; add litellm_params.api_base (`https://<resource>.openai.azure.com`) \
                         and litellm_params.api_version (e.g. \"2024-10-21\"), or set AZURE_API_BASE / AZURE_API_VERSION",
                        missing.join(" and ")
                    ),
                );
                return None;
            };
            let api_key = p.api_key.or_else(|| default_key(ctx, "AZURE_API_KEY"));
            ProviderKind::Azure {
                deployment: name,
                api_base,
                api_version,
                api_key,
            }
        }
        "anthropic" => {
            let official = api_base
                .as_deref()
                .is_none_or(|b| host_is(b, "api.anthropic.com"));
            let api_key = p.api_key.or_else(|| {
                official
                    .then(|| default_key(ctx, "ANTHROPIC_API_KEY"))
                    .flatten()
            });
            if api_key.is_none() && official {
                ctx.warnings.push(format!(
                    "{path} (model_name `{model_name}`): no api_key and ANTHROPIC_API_KEY is not set; Anthropic will \
                     answer 401 until you set one (`api_key: os.environ/ANTHROPIC_API_KEY`)"
                ));
            }
            ProviderKind::Anthropic {
                model: name,
                api_base,
                api_key,
            }
        }
        _ => {
            // OPENAI_API_KEY is used for OpenAI itself only: sending it to an arbitrary
            // OpenAI-compatible server would leak it (unlike the reference).
            let official = api_base
                .as_deref()
                .is_none_or(|b| host_is(b, "api.openai.com"));
            let api_key = p.api_key.or_else(|| {
                official
                    .then(|| default_key(ctx, "OPENAI_API_KEY"))
                    .flatten()
            });
            if api_key.is_none() && official {
                ctx.warnings.push(format!(
                    "{path} (model_name `{model_name}`): no api_key and OPENAI_API_KEY is not set; OpenAI will \
                     answer 401 until you set one (`api_key: os.environ/OPENAI_API_KEY`)"
                ));
            }
            ProviderKind::OpenAi {
                model: name,
                api_base,
                api_key,
                organization: p.organization.map(|(o, _, _)| o),
            }
        }
    })
}

/// Where a setting is written, if it is set.
fn spot<T>(set: &Option<(T, Pos, String)>) -> Option<(Pos, &str)> {
    set.as_ref().map(|(_, pos, path)| (*pos, path.as_str()))
}

fn unknown_provider(ctx: &mut Ctx<'_>, prefix: &str, name: &str, pos: Pos, path: &str) {
    let suggestion = suggest::closest(prefix, PROVIDERS).map(str::to_owned);
    let message = if OPENAI_COMPATIBLE.contains(&prefix) {
        format!(
            "provider `{prefix}` serves the OpenAI API: write `model: openai/{name}` and set `api_base` to its \
             OpenAI-compatible endpoint (e.g. `http://localhost:8000/v1`)"
        )
    } else if let Some(s) = &suggestion {
        format!("unknown provider `{prefix}`; did you mean `{s}/{name}`?")
    } else {
        format!(
            "provider `{prefix}` is not supported; use one of {}, or `openai/<model>` with `api_base` for any \
             OpenAI-compatible server (if `{prefix}/{name}` is itself the model name, write `openai/{prefix}/{name}`)",
            PROVIDERS.map(|p| format!("{p}/")).join(", ")
        )
    };
    ctx.problem(
        pos,
        path,
        ProblemKind::UnknownProvider {
            provider: prefix.to_owned(),
            suggestion,
        },
        message,
    );
}

fn host_is(url: &str, host: &str) -> bool {
    url.parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(|h| h.eq_ignore_ascii_case(host)))
        .unwrap_or(false)
}

/// An `http://` or `https://` URL with a host; a trailing `/` is dropped.
fn url(ctx: &mut Ctx<'_>, f: Field<'_, '_>) -> Option<String> {
    let text = ctx.text(f)?;
    let value = text.value.trim();
    let parsed = value.parse::<http::Uri>().ok();
    let valid = parsed.as_ref().is_some_and(|u| {
        matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some_and(|h| !h.is_empty())
    });
    if !valid {
        // The value itself is not repeated: a URL may carry credentials.
        let origin = text
            .var
            .map(|v| format!(" (read from `{v}`)"))
            .unwrap_or_default();
        ctx.invalid(
            f,
            format!(
                "is not an http(s) URL{origin}; write the full address with its scheme, such as `https://api.example.com/v1` \
                 or `http://localhost:8000/v1`"
            ),
        );
        return None;
    }
    Some(value.trim_end_matches('/').to_owned())
}

fn header_map(ctx: &mut Ctx<'_>, g: &Got<'_>) -> Option<Vec<ExtraHeader>> {
    let Some(entries) = g.node.as_map() else {
        ctx.problem(
            g.node.pos,
            &g.path,
            ProblemKind::WrongType { expected: "a mapping" },
            format!(
                "expected a mapping of header names to values, found {}; write `Header-Name: value` lines under it",
                g.node.value.describe()
            ),
        );
        return None;
    };
    let mut headers = Vec::new();
    let mut ok = true;
    for entry in entries {
        let path = join(&g.path, &entry.key);
        if http::HeaderName::from_bytes(entry.key.as_bytes()).is_err() {
            ctx.problem(
                entry.key_pos,
                &path,
                ProblemKind::InvalidValue,
                "is not a valid HTTP header name; use letters, digits and `-` only",
            );
            ok = false;
            continue;
        }
        let Some(value) = ctx.text(Field {
            node: &entry.value,
            path: &path,
        }) else {
            ok = false;
            continue;
        };
        if http::HeaderValue::from_str(&value.value).is_err() {
            ctx.invalid(
                Field { node: &entry.value, path: &path },
                "is not a valid HTTP header value (it has a line break or a control character); remove them",
            );
            ok = false;
            continue;
        }
        headers.push(ExtraHeader {
            name: entry.key.clone(),
            value: value.value.into(),
        });
    }
    ok.then_some(headers)
}
