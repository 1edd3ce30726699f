//! `Config::redacted_summary`: what `switchyard check` prints, with every secret masked.

use std::fmt::Write as _;

use super::types::{Config, ProviderKind, RedisConnection, RuntimeKind, Secret, SecretSource};

/// See [`Config::redacted_summary`].
pub(crate) fn summary(config: &Config) -> String {
    let mut out = String::new();
    let groups = config.model_groups();
    let _ = writeln!(
        out,
        "{} deployment{} in {} model group{}",
        config.deployments.len(),
        plural(config.deployments.len()),
        groups.len(),
        plural(groups.len())
    );
    let header = [
        "id", "group", "provider", "model", "api_base", "api_key", "limits",
    ];
    let rows: Vec<[String; 7]> = config
        .deployments
        .iter()
        .map(|d| {
            let key = match &d.provider {
                ProviderKind::Mock { .. } => "-".to_owned(),
                other => other.api_key().map_or_else(|| "(none)".to_owned(), shown),
            };
            let base = d
                .provider
                .api_base()
                .map_or_else(|| "(default)".to_owned(), redact_url);
            let mut limits = Vec::new();
            if let Some(rpm) = d.rpm {
                limits.push(format!("rpm {rpm}"));
            }
            if let Some(tpm) = d.tpm {
                limits.push(format!("tpm {tpm}"));
            }
            if let Some(w) = d.weight {
                limits.push(format!("weight {w}"));
            }
            if let Some(t) = d.timeout {
                limits.push(format!("timeout {t:?}"));
            }
            if let Some(n) = d.num_retries {
                limits.push(format!("retries {n}"));
            }
            if let ProviderKind::Mock {
                failure: Some(failure),
                ..
            } = &d.provider
            {
                limits.push(format!("fails {}% {}", failure.rate * 100.0, failure.kind));
            }
            [
                d.id.clone(),
                d.model_name.clone(),
                d.provider.name().to_owned(),
                d.provider.model().to_owned(),
                base,
                key,
                if limits.is_empty() {
                    "-".to_owned()
                } else {
                    limits.join(", ")
                },
            ]
        })
        .collect();
    table(&mut out, &header, &rows);

    let r = &config.router;
    let _ = writeln!(out, "\nrouter");
    let _ = writeln!(out, "  routing_strategy  {}", r.routing_strategy);
    let _ = writeln!(
        out,
        "  num_retries       {}",
        r.num_retries
            .map_or_else(|| "2 (default)".to_owned(), |n| n.to_string())
    );
    let _ = writeln!(
        out,
        "  backoff           {:?} doubling to {:?}, at least {:?}; hints up to {:?} are waited for",
        r.backoff_initial, r.max_backoff, r.retry_after, r.max_retry_after
    );
    let _ = writeln!(
        out,
        "  timeout           {} per attempt, stream {}",
        r.timeout
            .map_or_else(|| "none".to_owned(), |t| format!("{t:?}")),
        r.stream_timeout
            .map_or_else(|| "as timeout".to_owned(), |t| format!("{t:?}"))
    );
    let _ = writeln!(
        out,
        "  cooldown          after more than {} failures a minute, for {:?}",
        r.allowed_fails, r.cooldown_time
    );
    if let Some(p) = &r.retry_policy {
        let _ = writeln!(out, "  retry_policy      {p:?}");
    }
    for (group, p) in &r.model_group_retry_policy {
        let _ = writeln!(out, "  retry_policy[{group}] {p:?}");
    }
    for (name, fb) in [
        ("fallbacks", &r.fallbacks),
        ("context_window", &r.context_window_fallbacks),
        ("content_policy", &r.content_policy_fallbacks),
    ] {
        for (group, list) in &fb.by_group {
            let _ = writeln!(out, "  {name:<17} {group} -> {}", list.join(", "));
        }
        if !fb.default.is_empty() {
            let _ = writeln!(out, "  {name:<17} * -> {}", fb.default.join(", "));
        }
    }
    let _ = writeln!(out, "  max_fallbacks     {}", r.max_fallbacks);
    if let Some(b) = &r.retry_budget {
        let _ = writeln!(
            out,
            "  retry_budget      {}% of requests + {}/s over {:?}",
            b.ratio * 100.0,
            b.min_per_second,
            b.window
        );
    }

    let s = &config.server;
    let _ = writeln!(out, "\nserver");
    let _ = writeln!(
        out,
        "  listen {}, max body {} bytes, logs {:?}, worker threads {} ({})",
        s.listen_addr(),
        s.max_body_bytes,
        s.log_format,
        s.worker_threads
            .map_or_else(|| "one per CPU".to_owned(), |n| n.to_string()),
        match s.runtime {
            RuntimeKind::WorkStealing => "work stealing",
            _ => "thread per core",
        }
    );
    let _ = writeln!(out, "\nauth");
    match &config.auth.master_key {
        Some(k) => {
            let _ = writeln!(out, "  master_key {}", shown(k));
        }
        None if config.auth.keys.is_empty() => {
            let _ = writeln!(out, "  none: every request is accepted");
        }
        None => {}
    }
    for k in &config.auth.keys {
        let models = if k.models.is_empty() {
            "all models".to_owned()
        } else {
            k.models.join(", ")
        };
        let _ = writeln!(
            out,
            "  key {} {} ({models}; rpm {}, tpm {})",
            k.name,
            shown(&k.key),
            k.rpm.map_or_else(|| "-".to_owned(), |n| n.to_string()),
            k.tpm.map_or_else(|| "-".to_owned(), |n| n.to_string())
        );
    }
    let _ = writeln!(out, "\nredis");
    match &config.redis {
        None => {
            let _ = writeln!(out, "  none: state is kept in memory");
        }
        Some(redis) => {
            let target = match &redis.connection {
                RedisConnection::Url(url) => redact_url(url.expose()),
                RedisConnection::Host {
                    host,
                    port,
                    password,
                    db,
                } => format!(
                    "{host}:{port}{}{}",
                    db.map(|d| format!(" db {d}")).unwrap_or_default(),
                    password
                        .as_ref()
                        .map(|_| " with password ***")
                        .unwrap_or_default()
                ),
            };
            let _ = writeln!(out, "  {target}, key prefix {}", redis.key_prefix);
        }
    }
    if !config.warnings.is_empty() {
        let _ = writeln!(out, "\nwarnings");
        for w in &config.warnings {
            let _ = writeln!(out, "  - {w}");
        }
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A secret masked, with where it came from.
fn shown(secret: &Secret) -> String {
    let masked = secret.masked();
    match secret.source() {
        SecretSource::Inline => masked,
        SecretSource::Environment { var } => format!("{masked} (${var})"),
        SecretSource::DefaultEnvironment { var } => format!("{masked} (${var}, default)"),
    }
}

/// A URL with any `user:password@` part replaced by `***@`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

fn table<const N: usize>(out: &mut String, header: &[&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::from(" ");
        for (cell, w) in cells.zip(widths) {
            let _ = write!(text, " {cell:<w$}");
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            redact_url("redis://:hunter2@cache:6379/0"),
            "redis://***@cache:6379/0"
        );
        assert_eq!(redact_url("redis://user:pw@host"), "redis://***@host");
        assert_eq!(
            redact_url("https://api.example.com/v1"),
            "https://api.example.com/v1"
        );
        assert_eq!(redact_url("https://host/path@x"), "https://host/path@x");
    }
}
