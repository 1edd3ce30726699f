//! From the YAML tree to a validated [`Config`]: every section, the merge of
//! `router_settings` with `litellm_settings`, defaults, and the checks across sections.

use std::time::Duration;

use super::{
    decode::{Ctx, Field},
    error::{Problem, ProblemKind},
    keys,
    raw::{Node, Pos},
    suggest,
    types::{AuthSettings, Config, RouterSettings, Secret, SecretSource, ServerSettings},
};

mod deployments;
mod router;
mod server;

use deployments::model_list_section;
use router::{Partial, merge, partial_section, router_section};
use server::{general_section, switchyard_section};

/// Model groups found in `model_list`, for checking references to them.
pub(super) struct Groups {
    pub(super) names: Vec<String>,
}

impl Groups {
    pub(super) fn contains(&self, group: &str) -> bool {
        self.names.iter().any(|g| g == group)
    }

    /// Records a problem if `group` is not a configured model group.
    pub(super) fn check(
        &self,
        ctx: &mut Ctx<'_>,
        group: &str,
        pos: Pos,
        path: &str,
        role: &str,
    ) -> bool {
        if self.contains(group) {
            return true;
        }
        let suggestion =
            suggest::closest(group, self.names.iter().map(String::as_str)).map(str::to_owned);
        let hint = match &suggestion {
            Some(s) => format!("did you mean `{s}`? "),
            None => String::new(),
        };
        let message = format!(
            "{role} `{group}` is not a model group: no model_list entry has `model_name: {group}`; {hint}the groups are: {}",
            self.names.join(", ")
        );
        ctx.problem(
            pos,
            path,
            ProblemKind::UnknownGroup {
                group: group.to_owned(),
                suggestion,
            },
            message,
        );
        false
    }
}

/// Resolves a parsed document. `Err` holds every problem, sorted by position.
pub(crate) fn resolve(
    root: &Node,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, Vec<Problem>> {
    let mut ctx = Ctx::new(env);
    let config = resolve_in(&mut ctx, root);
    if !ctx.problems.is_empty() {
        let mut problems = ctx.problems;
        problems.sort_by_key(|p| (p.line == 0, p.line, p.column));
        return Err(problems);
    }
    let Some(mut config) = config else {
        // Every path that gives up records a problem first; this is only a safety net.
        return Err(vec![Problem {
            path: String::new(),
            line: 0,
            column: 0,
            kind: ProblemKind::InvalidValue,
            message: "the config could not be read; run `switchyard check` for details".to_owned(),
        }]);
    };
    let mut warnings = Vec::new();
    if !ctx.unsupported.is_empty() {
        let list: Vec<String> = ctx
            .unsupported
            .iter()
            .map(|(path, pos)| format!("{path} (line {})", pos.line))
            .collect();
        warnings.push(format!(
            "ignoring {} LiteLLM setting{} that switchyard does not support: {}; they have no effect here \
             (see \"Unsupported LiteLLM keys\" in docs/configuration.md), remove them to silence this warning",
            list.len(),
            if list.len() == 1 { "" } else { "s" },
            list.join(", ")
        ));
    }
    warnings.append(&mut ctx.warnings);
    config.warnings = warnings;
    Ok(config)
}

fn resolve_in(ctx: &mut Ctx<'_>, root: &Node) -> Option<Config> {
    let mut top = ctx.fields(
        Field {
            node: root,
            path: "",
        },
        &keys::TOP,
    )?;
    let model_list = top.get("model_list");
    let router_node = top.get("router_settings");
    let litellm_node = top.get("litellm_settings");
    let general_node = top.get("general_settings");
    let switchyard_node = top.get("switchyard");
    top.finish(ctx);

    let (deployments, groups) = match &model_list {
        Some(list) => model_list_section(ctx, list),
        None => {
            ctx.problem(
                root.pos,
                "model_list",
                ProblemKind::MissingKey,
                "is required but missing; add `model_list:` with at least one deployment \
                 (`model_name` and `litellm_params.model`), or run `switchyard serve` without --config for the demo",
            );
            (Vec::new(), Groups { names: Vec::new() })
        }
    };

    let litellm = litellm_node
        .as_ref()
        .and_then(|n| partial_section(ctx, n, &keys::LITELLM_SETTINGS, &groups));
    let (router, redis) = match &router_node {
        Some(n) => router_section(ctx, n, &groups, litellm.unwrap_or_default()),
        None => (
            merge(
                ctx,
                Partial::default(),
                litellm.unwrap_or_default(),
                RouterSettings::default(),
            ),
            None,
        ),
    };

    let general = general_node.as_ref().and_then(|n| general_section(ctx, n));
    let general = general.unwrap_or_default();
    // LiteLLM reads its master key from LITELLM_MASTER_KEY when the config has none.
    let master_key = general.master_key.or_else(|| {
        env_default(ctx, "LITELLM_MASTER_KEY").map(|value| {
            Secret::new(
                value,
                SecretSource::DefaultEnvironment {
                    var: "LITELLM_MASTER_KEY".to_owned(),
                },
            )
        })
    });
    let (server, keys) = match &switchyard_node {
        Some(n) => switchyard_section(
            ctx,
            n,
            &groups,
            general.max_request_bytes,
            master_key.as_ref(),
        ),
        None => (
            ServerSettings {
                max_body_bytes: general
                    .max_request_bytes
                    .unwrap_or(ServerSettings::default().max_body_bytes),
                ..ServerSettings::default()
            },
            Vec::new(),
        ),
    };
    let auth = AuthSettings { master_key, keys };
    if !auth.is_enabled() && !is_loopback(&server.host) {
        ctx.warnings.push(format!(
            "no general_settings.master_key and no switchyard.keys, and the proxy listens on {}: anyone who can \
             reach it can spend your provider keys; set a master_key (e.g. `master_key: os.environ/SWITCHYARD_MASTER_KEY`)",
            server.listen_addr()
        ));
    }

    Some(Config {
        deployments,
        router,
        auth,
        server,
        redis,
        warnings: Vec::new(),
    })
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A provider's usual environment variable, read when the config names no key.
pub(super) fn default_key(ctx: &Ctx<'_>, var: &str) -> Option<Secret> {
    env_default(ctx, var).map(|value| {
        Secret::new(
            value,
            SecretSource::DefaultEnvironment {
                var: var.to_owned(),
            },
        )
    })
}

pub(super) fn env_default(ctx: &Ctx<'_>, var: &str) -> Option<String> {
    ctx.env_var(var).filter(|v| !v.trim().is_empty())
}

/// A duration that must be more than zero (an attempt limit of 0 would fail every call).
pub(super) fn positive_duration(ctx: &mut Ctx<'_>, f: Field<'_, '_>) -> Option<Duration> {
    let d = ctx.duration(f)?;
    if d.is_zero() {
        ctx.invalid(f, "is 0, and an attempt limit of 0 would fail every call; write a positive duration, or remove the key for no limit");
        return None;
    }
    Some(d)
}
