//! `router_settings` and `litellm_settings`: retries, timeouts, fallbacks, cooldowns,
//! the retry budget and Redis, and how the two sections merge (router_settings wins).

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use retry_core::{RetryBudgetConfig, RetryPolicy};

use super::{Groups, positive_duration};
use crate::config::{
    decode::{Ctx, Field, Fields, Got, index, join},
    error::ProblemKind,
    keys,
    raw::{Pos, Value},
    types::{
        DEFAULT_REDIS_KEY_PREFIX, Fallbacks, RedisConnection, RedisSettings, RouterSettings,
        RoutingStrategy,
    },
};

/// Settings `router_settings` and `litellm_settings` share; router_settings wins per key.
#[derive(Default)]
pub(super) struct Partial {
    num_retries: Option<u32>,
    retry_after: Option<Duration>,
    timeout: Option<Duration>,
    fallbacks: Option<BTreeMap<String, Vec<String>>>,
    default_fallbacks: Option<Vec<String>>,
    context_window_fallbacks: Option<Fallbacks>,
    content_policy_fallbacks: Option<Fallbacks>,
    max_fallbacks: Option<u32>,
    allowed_fails: Option<u32>,
    cooldown_time: Option<Duration>,
}

/// Reads the keys both sections have. `litellm_settings` calls the attempt limit `request_timeout`.
fn partial_fields(
    ctx: &mut Ctx<'_>,
    f: &mut Fields<'_>,
    groups: &Groups,
    timeout_key: &'static str,
) -> Partial {
    let num_retries = f.get("num_retries").and_then(|g| ctx.u32(g.field()));
    let retry_after = f.get("retry_after").and_then(|g| ctx.duration(g.field()));
    let timeout = f
        .get(timeout_key)
        .and_then(|g| positive_duration(ctx, g.field()));
    let generic = f.get("fallbacks").and_then(|g| fallbacks(ctx, &g, groups));
    let default_got = f.get("default_fallbacks");
    let default_list = default_got
        .as_ref()
        .and_then(|g| default_fallbacks(ctx, g, groups));
    let context_window_fallbacks = f
        .get("context_window_fallbacks")
        .and_then(|g| fallbacks(ctx, &g, groups));
    let content_policy_fallbacks = f
        .get("content_policy_fallbacks")
        .and_then(|g| fallbacks(ctx, &g, groups));
    let max_fallbacks = f.get("max_fallbacks").and_then(|g| ctx.u32(g.field()));
    let allowed_fails = f.get("allowed_fails").and_then(|g| ctx.u32(g.field()));
    let cooldown_time = f.get("cooldown_time").and_then(|g| ctx.duration(g.field()));

    let (fallbacks, star) = match generic {
        Some(fb) => (
            Some(fb.by_group),
            (!fb.default.is_empty()).then_some(fb.default),
        ),
        None => (None, None),
    };
    let default_fallbacks = match (star, default_list) {
        (Some(_), Some(_)) => {
            if let Some(g) = &default_got {
                ctx.problem(
                    g.key_pos,
                    &g.path,
                    ProblemKind::Conflict,
                    format!(
                        "both `default_fallbacks` and a `*` entry in {} are set; they mean the same, keep one",
                        join(&f.path, "fallbacks")
                    ),
                );
            }
            None
        }
        (a, b) => a.or(b),
    };
    Partial {
        num_retries,
        retry_after,
        timeout,
        fallbacks,
        default_fallbacks,
        context_window_fallbacks,
        content_policy_fallbacks,
        max_fallbacks,
        allowed_fails,
        cooldown_time,
    }
}

pub(super) fn partial_section(
    ctx: &mut Ctx<'_>,
    g: &Got<'_>,
    section: &'static keys::Section,
    groups: &Groups,
) -> Option<Partial> {
    let mut f = ctx.fields(g.field(), section)?;
    let partial = partial_fields(ctx, &mut f, groups, "request_timeout");
    f.finish(ctx);
    Some(partial)
}

pub(super) fn router_section(
    ctx: &mut Ctx<'_>,
    g: &Got<'_>,
    groups: &Groups,
    litellm: Partial,
) -> (RouterSettings, Option<RedisSettings>) {
    let Some(mut f) = ctx.fields(g.field(), &keys::ROUTER_SETTINGS) else {
        return (RouterSettings::default(), None);
    };
    let partial = partial_fields(ctx, &mut f, groups, "timeout");
    let mut base = RouterSettings::default();
    let choices = RoutingStrategy::NAMES;
    if let Some(s) = f
        .get("routing_strategy")
        .and_then(|g| ctx.one_of(g.field(), &choices))
    {
        base.routing_strategy = s;
    }
    base.stream_timeout = f
        .get("stream_timeout")
        .and_then(|g| positive_duration(ctx, g.field()));
    base.retry_policy = f
        .get("retry_policy")
        .and_then(|g| retry_policy(ctx, g.field()));
    if let Some(g) = f.get("model_group_retry_policy") {
        base.model_group_retry_policy = group_retry_policies(ctx, &g, groups).unwrap_or_default();
    }
    if let Some(d) = f
        .get("max_retry_after")
        .and_then(|g| ctx.duration(g.field()))
    {
        base.max_retry_after = d;
    }
    let initial_got = f.get("backoff_initial");
    if let Some(d) = initial_got.as_ref().and_then(|g| ctx.duration(g.field())) {
        base.backoff_initial = d;
    }
    if let Some(d) = f.get("max_backoff").and_then(|g| ctx.duration(g.field())) {
        base.max_backoff = d;
    }
    if base.backoff_initial > base.max_backoff
        && let Some(g) = &initial_got
    {
        ctx.invalid(
            g.field(),
            format!(
                "is {:?}, more than max_backoff ({:?}); the first retry's wait cap cannot exceed the largest one, \
                 lower backoff_initial or raise max_backoff",
                base.backoff_initial, base.max_backoff
            ),
        );
    }
    base.retry_budget = f.get("retry_budget").and_then(|g| retry_budget(ctx, &g));
    let redis = redis(ctx, &mut f);
    f.finish(ctx);
    (merge(ctx, partial, litellm, base), redis)
}

/// Applies the shared keys onto `base`: router_settings first, then litellm_settings, then defaults.
pub(super) fn merge(
    ctx: &mut Ctx<'_>,
    router: Partial,
    litellm: Partial,
    mut base: RouterSettings,
) -> RouterSettings {
    let both: Vec<&str> = [
        (
            "num_retries",
            router.num_retries.is_some() && litellm.num_retries.is_some(),
        ),
        (
            "retry_after",
            router.retry_after.is_some() && litellm.retry_after.is_some(),
        ),
        (
            "timeout/request_timeout",
            router.timeout.is_some() && litellm.timeout.is_some(),
        ),
        (
            "fallbacks",
            router.fallbacks.is_some() && litellm.fallbacks.is_some(),
        ),
        (
            "default_fallbacks",
            router.default_fallbacks.is_some() && litellm.default_fallbacks.is_some(),
        ),
        (
            "context_window_fallbacks",
            router.context_window_fallbacks.is_some() && litellm.context_window_fallbacks.is_some(),
        ),
        (
            "content_policy_fallbacks",
            router.content_policy_fallbacks.is_some() && litellm.content_policy_fallbacks.is_some(),
        ),
        (
            "max_fallbacks",
            router.max_fallbacks.is_some() && litellm.max_fallbacks.is_some(),
        ),
        (
            "allowed_fails",
            router.allowed_fails.is_some() && litellm.allowed_fails.is_some(),
        ),
        (
            "cooldown_time",
            router.cooldown_time.is_some() && litellm.cooldown_time.is_some(),
        ),
    ]
    .into_iter()
    .filter_map(|(key, both)| both.then_some(key))
    .collect();
    if !both.is_empty() {
        ctx.warnings.push(format!(
            "router_settings and litellm_settings both set {}; the router_settings values are used, remove the \
             litellm_settings ones to silence this warning",
            both.join(", ")
        ));
    }
    base.num_retries = router.num_retries.or(litellm.num_retries);
    if let Some(d) = router.retry_after.or(litellm.retry_after) {
        base.retry_after = d;
    }
    base.timeout = router.timeout.or(litellm.timeout);
    base.fallbacks = Fallbacks {
        by_group: router.fallbacks.or(litellm.fallbacks).unwrap_or_default(),
        default: router
            .default_fallbacks
            .or(litellm.default_fallbacks)
            .unwrap_or_default(),
    };
    base.context_window_fallbacks = router
        .context_window_fallbacks
        .or(litellm.context_window_fallbacks)
        .unwrap_or_default();
    base.content_policy_fallbacks = router
        .content_policy_fallbacks
        .or(litellm.content_policy_fallbacks)
        .unwrap_or_default();
    if let Some(n) = router.max_fallbacks.or(litellm.max_fallbacks) {
        base.max_fallbacks = n;
    }
    if let Some(n) = router.allowed_fails.or(litellm.allowed_fails) {
        base.allowed_fails = n;
    }
    if let Some(d) = router.cooldown_time.or(litellm.cooldown_time) {
        base.cooldown_time = d;
    }
    base
}

/// A fallback list: LiteLLM's `[{"gpt-4": ["gpt-3.5"]}, ...]` or a plain mapping
/// `{gpt-4: [gpt-3.5]}`. The key `*` sets the default for groups without an entry.
fn fallbacks(ctx: &mut Ctx<'_>, g: &Got<'_>, groups: &Groups) -> Option<Fallbacks> {
    // (source group, where the key is, the targets node, the path of the entry)
    let mut entries = Vec::new();
    match &g.node.value {
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                let item_path = index(&g.path, i);
                match item.as_map() {
                    Some(map) => {
                        for e in map {
                            entries.push((e.key.as_str(), e.key_pos, &e.value, join(&item_path, &e.key)));
                        }
                    }
                    None => ctx.problem(
                        item.pos,
                        &item_path,
                        ProblemKind::WrongType { expected: "a mapping" },
                        format!(
                            "expected `group: [fallback groups]`, found {}; write items such as `- gpt-4o: [gpt-4o-mini]`",
                            item.value.describe()
                        ),
                    ),
                }
            }
        }
        Value::Map(map) => {
            for e in map {
                entries.push((e.key.as_str(), e.key_pos, &e.value, join(&g.path, &e.key)));
            }
        }
        _ => {
            ctx.problem(
                g.node.pos,
                &g.path,
                ProblemKind::WrongType {
                    expected: "a list of `group: [fallbacks]` mappings",
                },
                format!(
                    "expected a list of `group: [fallback groups]` mappings, found {}; write e.g. `[{{\"gpt-4o\": [\"gpt-4o-mini\"]}}]`",
                    g.node.value.describe()
                ),
            );
            return None;
        }
    }
    let mut out = Fallbacks::default();
    let mut first_seen: HashMap<&str, (String, Pos)> = HashMap::new();
    for (source, key_pos, targets_node, path) in entries {
        if let Some((first_path, first_pos)) = first_seen.get(source) {
            ctx.problem(
                key_pos,
                &path,
                ProblemKind::Conflict,
                format!(
                    "`{source}` already has fallbacks at {first_path} (line {}); merge the two lists into one",
                    first_pos.line
                ),
            );
            continue;
        }
        first_seen.insert(source, (path.clone(), key_pos));
        let is_default = source == "*";
        if !is_default {
            groups.check(ctx, source, key_pos, &path, "fallback source");
        }
        let Some(targets) = ctx.string_list(Field {
            node: targets_node,
            path: &path,
        }) else {
            continue;
        };
        let mut list: Vec<String> = Vec::new();
        for (i, (target, pos)) in targets.into_iter().enumerate() {
            let target_path = if matches!(targets_node.value, Value::Seq(_)) {
                index(&path, i)
            } else {
                path.clone()
            };
            if target == source {
                ctx.problem(
                    pos,
                    &target_path,
                    ProblemKind::SelfFallback { group: target.clone() },
                    format!(
                        "model group `{target}` falls back to itself; a group is never retried as its own fallback, \
                         remove `{target}` from this list (retries within a group come from num_retries / retry_policy)"
                    ),
                );
                continue;
            }
            if !groups.check(ctx, &target, pos, &target_path, "fallback") {
                continue;
            }
            if list.contains(&target) {
                ctx.problem(
                    pos,
                    &target_path,
                    ProblemKind::InvalidValue,
                    format!("`{target}` is listed twice; a group is tried at most once per request, remove the second"),
                );
                continue;
            }
            list.push(target);
        }
        if is_default {
            out.default = list;
        } else {
            out.by_group.insert(source.to_owned(), list);
        }
    }
    Some(out)
}

fn default_fallbacks(ctx: &mut Ctx<'_>, g: &Got<'_>, groups: &Groups) -> Option<Vec<String>> {
    let list = ctx.string_list(g.field())?;
    let mut out = Vec::new();
    for (i, (group, pos)) in list.into_iter().enumerate() {
        let path = if matches!(g.node.value, Value::Seq(_)) {
            index(&g.path, i)
        } else {
            g.path.clone()
        };
        if groups.check(ctx, &group, pos, &path, "default fallback") && !out.contains(&group) {
            out.push(group);
        }
    }
    Some(out)
}

fn retry_policy(ctx: &mut Ctx<'_>, f: Field<'_, '_>) -> Option<RetryPolicy> {
    let mut fields = ctx.fields(f, &keys::RETRY_POLICY)?;
    let mut json = serde_json::Map::new();
    let mut ok = true;
    for name in keys::RETRY_POLICY.keys {
        if let Some(g) = fields.get(name) {
            match ctx.u32(g.field()) {
                Some(n) => {
                    json.insert((*name).to_owned(), n.into());
                }
                None => ok = false,
            }
        }
    }
    let path = fields.path.clone();
    let pos = fields.pos;
    let problems_before = ctx.problems.len();
    fields.finish(ctx);
    if !ok || ctx.problems.len() > problems_before {
        return None;
    }
    // RetryPolicy's own serde maps the guide's names onto its fields.
    match serde_json::from_value::<RetryPolicy>(json.into()) {
        Ok(policy) => Some(policy),
        Err(err) => {
            ctx.problem(
                pos,
                &path,
                ProblemKind::InvalidValue,
                format!("is not a valid retry policy ({err}); use the field names listed in docs/configuration.md"),
            );
            None
        }
    }
}

fn group_retry_policies(
    ctx: &mut Ctx<'_>,
    g: &Got<'_>,
    groups: &Groups,
) -> Option<BTreeMap<String, RetryPolicy>> {
    let Some(entries) = g.node.as_map() else {
        ctx.problem(
            g.node.pos,
            &g.path,
            ProblemKind::WrongType { expected: "a mapping" },
            format!(
                "expected a mapping of model group to retry policy, found {}; write `<group>:` lines with policy fields under them",
                g.node.value.describe()
            ),
        );
        return None;
    };
    let mut out = BTreeMap::new();
    for entry in entries {
        let path = join(&g.path, &entry.key);
        if !groups.check(ctx, &entry.key, entry.key_pos, &path, "retry policy group") {
            continue;
        }
        if let Some(policy) = retry_policy(
            ctx,
            Field {
                node: &entry.value,
                path: &path,
            },
        ) {
            out.insert(entry.key.clone(), policy);
        }
    }
    Some(out)
}

fn retry_budget(ctx: &mut Ctx<'_>, g: &Got<'_>) -> Option<RetryBudgetConfig> {
    if !matches!(g.node.value, Value::Map(_)) {
        return ctx
            .boolean(g.field())
            .and_then(|on| on.then(RetryBudgetConfig::default));
    }
    let mut f = ctx.fields(g.field(), &keys::RETRY_BUDGET)?;
    let mut budget = RetryBudgetConfig::default();
    if let Some(r) = f.get("ratio").and_then(|g| ctx.non_negative(g.field())) {
        budget.ratio = r;
    }
    if let Some(n) = f.get("min_per_second").and_then(|g| ctx.u32(g.field())) {
        budget.min_per_second = n;
    }
    if let Some(w) = f
        .get("window")
        .and_then(|g| positive_duration(ctx, g.field()))
    {
        budget.window = w;
    }
    f.finish(ctx);
    Some(budget)
}

fn redis(ctx: &mut Ctx<'_>, f: &mut Fields<'_>) -> Option<RedisSettings> {
    let url_got = f.get("redis_url");
    let url = url_got.as_ref().and_then(|g| {
        let secret = ctx.secret(g.field())?;
        let valid = ["redis://", "rediss://", "redis+unix://", "unix://"]
            .iter()
            .any(|scheme| secret.expose().trim().starts_with(scheme));
        if !valid {
            ctx.invalid(
                g.field(),
                "is not a Redis URL; write `redis://[:password@]host:6379[/db]` (or `rediss://` for TLS)",
            );
            return None;
        }
        Some(secret)
    });
    let host_got = f.get("redis_host");
    let host = host_got.as_ref().and_then(|g| ctx.string(g.field()));
    let port_got = f.get("redis_port");
    let port = port_got
        .as_ref()
        .and_then(|g| ctx.uint(g.field(), u64::from(u16::MAX)))
        .and_then(|p| u16::try_from(p).ok());
    let password_got = f.get("redis_password");
    let password = password_got.as_ref().and_then(|g| ctx.secret(g.field()));
    let db_got = f.get("redis_db");
    let db = db_got.as_ref().and_then(|g| ctx.u32(g.field()));
    let prefix_got = f.get("redis_key_prefix");
    let key_prefix = prefix_got.as_ref().and_then(|g| ctx.string(g.field()));

    let parts = [&host_got, &port_got, &password_got, &db_got];
    let connection = if let Some(url_got) = &url_got {
        if let Some(other) = parts.iter().find_map(|g| g.as_ref()) {
            ctx.problem(
                other.key_pos,
                &other.path,
                ProblemKind::Conflict,
                format!(
                    "is set together with {}; the URL already says where Redis is, so keep either redis_url or \
                     redis_host/redis_port/redis_password/redis_db",
                    url_got.path
                ),
            );
            return None;
        }
        RedisConnection::Url(url?)
    } else if host_got.is_some() {
        RedisConnection::Host {
            host: host?,
            port: port.unwrap_or(6379),
            password,
            db,
        }
    } else {
        if let Some(other) = parts.iter().find_map(|g| g.as_ref()) {
            ctx.problem(
                other.key_pos,
                &other.path,
                ProblemKind::MissingKey,
                "is set but router_settings.redis_host is not; add `redis_host`, or use `redis_url` instead",
            );
        } else if let Some(g) = &prefix_got {
            ctx.problem(
                g.key_pos,
                &g.path,
                ProblemKind::MissingKey,
                "is set but no Redis is configured; add `redis_url` (or `redis_host`), or remove redis_key_prefix",
            );
        }
        return None;
    };
    Some(RedisSettings {
        connection,
        key_prefix: key_prefix.unwrap_or_else(|| DEFAULT_REDIS_KEY_PREFIX.to_owned()),
    })
}
