//! `general_settings` and the `switchyard` section: the master key, where the proxy
//! listens, request size, log format and static API keys.

use super::Groups;
use crate::config::{
    decode::{Ctx, Field, Got, index},
    error::ProblemKind,
    keys,
    raw::Value,
    types::{ApiKeyConfig, DEFAULT_PORT, LogFormat, RuntimeKind, Secret, ServerSettings},
};

#[derive(Default)]
pub(super) struct General {
    pub(super) master_key: Option<Secret>,
    pub(super) max_request_bytes: Option<usize>,
}

pub(super) fn general_section(ctx: &mut Ctx<'_>, g: &Got<'_>) -> Option<General> {
    let mut f = ctx.fields(g.field(), &keys::GENERAL_SETTINGS)?;
    let master_key = f.get("master_key").and_then(|g| ctx.secret(g.field()));
    let max_request_bytes = f.get("max_request_size_mb").and_then(|g| {
        let mb = ctx.non_negative(g.field())?;
        let bytes = mb * 1024.0 * 1024.0;
        if !(1.0..=1e15).contains(&bytes) {
            ctx.invalid(
                g.field(),
                format!("is {mb}; write a size in MB between 1 and a few thousand"),
            );
            return None;
        }
        let bytes = bytes as usize;
        Some(bytes)
    });
    f.finish(ctx);
    Some(General {
        master_key,
        max_request_bytes,
    })
}

/// More runtime threads than this is a typo, not a tuning choice.
const MAX_WORKER_THREADS: u64 = 1024;

pub(super) fn switchyard_section(
    ctx: &mut Ctx<'_>,
    g: &Got<'_>,
    groups: &Groups,
    litellm_max_body: Option<usize>,
    master: Option<&Secret>,
) -> (ServerSettings, Vec<ApiKeyConfig>) {
    let mut server = ServerSettings::default();
    if let Some(b) = litellm_max_body {
        server.max_body_bytes = b;
    }
    let Some(mut f) = ctx.fields(g.field(), &keys::SWITCHYARD) else {
        return (server, Vec::new());
    };
    if let Some(listen) = f.get("listen")
        && let Some((host, port)) = listen_addr(ctx, &listen)
    {
        if let Some(host) = host {
            server.host = host;
        }
        server.port = port;
    }
    if let Some(b) = f
        .get("max_body_bytes")
        .and_then(|g| byte_size(ctx, g.field()))
    {
        server.max_body_bytes = b;
    }
    let formats = [(LogFormat::Text, "text"), (LogFormat::Json, "json")];
    if let Some(fmt) = f
        .get("log_format")
        .and_then(|g| ctx.one_of(g.field(), &formats))
    {
        server.log_format = fmt;
    }
    if let Some(g) = f.get("worker_threads")
        && let Some(n) = ctx.uint(g.field(), MAX_WORKER_THREADS)
    {
        if n == 0 {
            ctx.invalid(
                g.field(),
                "must be at least 1; leave `worker_threads` out for one thread per CPU",
            );
        } else {
            server.worker_threads = usize::try_from(n).ok();
        }
    }
    let runtimes = [
        (RuntimeKind::PerCore, "per_core"),
        (RuntimeKind::WorkStealing, "work_stealing"),
    ];
    if let Some(kind) = f
        .get("runtime")
        .and_then(|g| ctx.one_of(g.field(), &runtimes))
    {
        server.runtime = kind;
    }
    let keys = f
        .get("keys")
        .and_then(|g| api_keys(ctx, &g, groups, master))
        .unwrap_or_default();
    f.finish(ctx);
    (server, keys)
}

/// `listen`: `"host:port"`, `"[::1]:4000"`, a bare port, or `{host, port}`.
/// The host is `None` when only a port is given.
fn listen_addr(ctx: &mut Ctx<'_>, g: &Got<'_>) -> Option<(Option<String>, u16)> {
    const FIX: &str = "write `listen: \"127.0.0.1:4000\"`, `listen: 4000`, or `listen: {host: 0.0.0.0, port: 4000}`";
    let port_of = |ctx: &mut Ctx<'_>, f: Field<'_, '_>| {
        ctx.uint(f, u64::from(u16::MAX))
            .and_then(|p| u16::try_from(p).ok())
    };
    match &g.node.value {
        Value::Int(_) => port_of(ctx, g.field()).map(|p| (None, p)),
        Value::Map(_) => {
            let mut f = ctx.fields(g.field(), &keys::LISTEN)?;
            let host = f.get("host").and_then(|h| ctx.string(h.field()));
            let port = f.get("port").and_then(|p| port_of(ctx, p.field()));
            f.finish(ctx);
            Some((host, port.unwrap_or(DEFAULT_PORT)))
        }
        Value::Str(_) => {
            let text = ctx.string(g.field())?;
            let text = text.trim();
            let split = if let Some(rest) = text.strip_prefix('[') {
                rest.split_once("]:")
            } else {
                text.rsplit_once(':').filter(|(h, _)| !h.contains(':'))
            };
            let parsed = split.and_then(|(host, port)| {
                let port = port.parse::<u16>().ok()?;
                (!host.is_empty()).then(|| (Some(host.to_owned()), port))
            });
            if parsed.is_none() {
                ctx.invalid(g.field(), format!("\"{text}\" is not `host:port`; {FIX}"));
            }
            parsed
        }
        _ => {
            ctx.problem(
                g.node.pos,
                &g.path,
                ProblemKind::WrongType {
                    expected: "host:port",
                },
                format!(
                    "expected `host:port`, found {}; {FIX}",
                    g.node.value.describe()
                ),
            );
            None
        }
    }
}

/// A size: a number of bytes, or a number with a unit (`"4MiB"`, `"512 KB"`).
fn byte_size(ctx: &mut Ctx<'_>, f: Field<'_, '_>) -> Option<usize> {
    const FIX: &str = "write a number of bytes or a size such as \"4MiB\", \"512KiB\" or \"10MB\"";
    let bytes = match &f.node.value {
        Value::Int(_) => ctx.uint(f, u64::MAX),
        Value::Str(_) => {
            let text = ctx.text(f)?;
            let t = text.value.trim();
            let split = t
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(t.len());
            let (number, unit) = t.split_at(split);
            let unit_size: Option<f64> = match unit.trim().to_ascii_lowercase().as_str() {
                "" | "b" => Some(1.0),
                "kb" => Some(1e3),
                "kib" => Some(1024.0),
                "mb" => Some(1e6),
                "mib" => Some(1024.0 * 1024.0),
                "gb" => Some(1e9),
                "gib" => Some(1024.0 * 1024.0 * 1024.0),
                _ => None,
            };
            match (number.parse::<f64>(), unit_size) {
                (Ok(n), Some(size)) if (n * size).is_finite() && n * size < 1e15 => {
                    let b = (n * size) as u64;
                    Some(b)
                }
                _ => {
                    ctx.problem(
                        f.node.pos,
                        f.path,
                        ProblemKind::WrongType { expected: "a size" },
                        format!("\"{t}\" is not a size; {FIX}"),
                    );
                    None
                }
            }
        }
        _ => {
            ctx.problem(
                f.node.pos,
                f.path,
                ProblemKind::WrongType { expected: "a size" },
                format!("expected a size, found {}; {FIX}", f.node.value.describe()),
            );
            None
        }
    }?;
    if bytes == 0 {
        ctx.invalid(f, format!("is 0, which would reject every request; {FIX}"));
        return None;
    }
    usize::try_from(bytes).ok()
}

fn api_keys(
    ctx: &mut Ctx<'_>,
    g: &Got<'_>,
    groups: &Groups,
    master: Option<&Secret>,
) -> Option<Vec<ApiKeyConfig>> {
    let Value::Seq(items) = &g.node.value else {
        ctx.problem(
            g.node.pos,
            &g.path,
            ProblemKind::WrongType { expected: "a list" },
            format!(
                "expected a list of keys, found {}; write each key as a `- key: ...` item with `name` and optional `models`, `rpm`, `tpm`",
                g.node.value.describe()
            ),
        );
        return None;
    };
    let mut out: Vec<ApiKeyConfig> = Vec::new();
    // Where each accepted key and name is written, to report duplicates without showing a key.
    let mut origins: Vec<(String, u64, String, u64)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = index(&g.path, i);
        let Some(mut f) = ctx.fields(
            Field {
                node: item,
                path: &path,
            },
            &keys::API_KEY,
        ) else {
            continue;
        };
        let key_got = f.required(
            ctx,
            "key",
            "add `key: os.environ/<VARIABLE>` (or the key itself)",
        );
        let key = key_got.as_ref().and_then(|k| ctx.secret(k.field()));
        let name_got = f.get("name");
        let name = name_got.as_ref().and_then(|n| ctx.string(n.field()));
        let models = f.get("models").and_then(|m| {
            let list = ctx.string_list(m.field())?;
            let mut ok = true;
            for (j, (group, pos)) in list.iter().enumerate() {
                let p = if matches!(m.node.value, Value::Seq(_)) {
                    index(&m.path, j)
                } else {
                    m.path.clone()
                };
                ok &= groups.check(ctx, group, *pos, &p, "key model");
            }
            ok.then(|| list.into_iter().map(|(s, _)| s).collect::<Vec<_>>())
        });
        let rpm = f.get("rpm").and_then(|r| ctx.uint(r.field(), u64::MAX));
        let tpm = f.get("tpm").and_then(|t| ctx.uint(t.field(), u64::MAX));
        f.finish(ctx);
        let (Some(key), Some(key_got)) = (key, key_got) else {
            continue;
        };
        if master.is_some_and(|m| m.expose() == key.expose()) {
            ctx.problem(
                key_got.node.pos,
                &key_got.path,
                ProblemKind::Conflict,
                "is the same as the master key; the master key may call everything without limits, \
                 so give this client a key of its own",
            );
            continue;
        }
        if let Some(j) = out.iter().position(|k| k.key.expose() == key.expose()) {
            ctx.problem(
                key_got.node.pos,
                &key_got.path,
                ProblemKind::Conflict,
                format!(
                    "is the same key as {} (line {}); give every client its own key",
                    origins[j].0, origins[j].1
                ),
            );
            continue;
        }
        let name = name.unwrap_or_else(|| format!("key-{i}"));
        if let Some(j) = out.iter().position(|k| k.name == name) {
            let (name_path, name_line) = name_got
                .as_ref()
                .map_or((path.clone(), item.pos), |n| (n.path.clone(), n.node.pos));
            ctx.problem(
                name_line,
                &name_path,
                ProblemKind::Conflict,
                format!(
                    "name `{name}` is already used by {} (line {}); names must be unique so logs and metrics tell keys apart",
                    origins[j].2, origins[j].3
                ),
            );
            continue;
        }
        origins.push((
            key_got.path.clone(),
            key_got.node.pos.line,
            name_got
                .as_ref()
                .map_or_else(|| path.clone(), |n| n.path.clone()),
            name_got.as_ref().map_or(item.pos.line, |n| n.node.pos.line),
        ));
        out.push(ApiKeyConfig {
            key,
            name,
            models: models.unwrap_or_default(),
            rpm,
            tpm,
        });
    }
    Some(out)
}
