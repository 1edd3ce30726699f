//! Tidy: crates depend on each other only in the directions DESIGN.md allows, read from `cargo metadata`.
//!
//! `retry-core ← provider ← providers/*`, `provider ← router ← proxy ← cli`, `router ← redis-state`.
//! Never `router` or `proxy` → a concrete provider crate (the cli wires providers in), anything →
//! `xtask`, or `retry-core` → tokio, reqwest, serde_json or any other I/O crate. Rules about a crate
//! that does not exist yet are skipped; a crate with no dependencies at all is taken to be a
//! placeholder and is not yet required to depend on its layer below.

use std::collections::{BTreeSet, HashMap, VecDeque};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::util::{cargo, output, project_root};

const RETRY_CORE: &str = "switchyard-retry-core";
const PROVIDER: &str = "switchyard-provider";
const ROUTER: &str = "switchyard-router";
const PROXY: &str = "switchyard-proxy";
const REDIS: &str = "switchyard-redis";
const XTASK: &str = "xtask";
const CONCRETE_PROVIDERS: [&str; 3] = [
    "switchyard-openai",
    "switchyard-anthropic",
    "switchyard-mock",
];

/// The only crates retry-core may name under `[dependencies]` (DESIGN.md; serde behind a feature).
const RETRY_CORE_ALLOWED: [&str; 3] = ["thiserror", "serde", "rand_core"];
/// Crates that mean I/O, async or JSON: none may appear anywhere below retry-core.
const RETRY_CORE_FORBIDDEN: [&str; 7] = [
    "tokio",
    "reqwest",
    "hyper",
    "serde_json",
    "mio",
    "axum",
    "redis",
];

#[test]
fn crates_depend_only_in_the_directions_design_md_allows() {
    let metadata = cargo_metadata().unwrap_or_else(|err| panic!("{err:#}"));
    let workspace = Workspace::from_metadata(&metadata).unwrap_or_else(|err| panic!("{err:#}"));
    assert!(
        workspace.member(XTASK).is_some(),
        "`cargo metadata` lists no workspace member called xtask, so these rules are reading the wrong workspace"
    );
    let problems = check(&workspace);
    assert!(
        problems.is_empty(),
        "dependency direction rules from DESIGN.md (\"Layers and crates\") are broken:\n- {}",
        problems.join("\n- ")
    );
}

fn cargo_metadata() -> Result<Value> {
    let stdout = output(
        cargo()
            .args(["metadata", "--format-version", "1"])
            .current_dir(project_root()),
    )?;
    serde_json::from_str(&stdout).context("`cargo metadata` printed something that is not JSON")
}

/// Every rule, applied to `ws`; each problem names the crate, the dependency and the fix.
fn check(ws: &Workspace) -> Vec<String> {
    let mut problems = Vec::new();

    if let Some(core) = ws.member(RETRY_CORE) {
        for dep in core.deps.iter().filter(|dep| dep.kind == Kind::Normal) {
            if !RETRY_CORE_ALLOWED.contains(&dep.name.as_str()) {
                problems.push(format!(
                    "{RETRY_CORE} ({}) has a normal dependency on `{}`, but retry-core may depend only on std, \
                     thiserror, serde (behind a feature) and rand_core: it is pure, with no I/O, clock or async. \
                     Move the code that needs `{}` up into {PROVIDER} or {ROUTER}, or make it a \
                     [dev-dependencies] entry if only tests use it",
                    core.manifest,
                    dep.name,
                    dep.name
                ));
            }
        }
        for forbidden in RETRY_CORE_FORBIDDEN {
            if let Some(path) = ws.resolved_normal_path(&core.id, forbidden) {
                if !RETRY_CORE_ALLOWED.contains(&path[1].as_str()) {
                    // Already reported above, as a dependency retry-core may not have at all.
                    continue;
                }
                let direct = ws.manifest_key(core, &path[1]);
                problems.push(format!(
                    "{RETRY_CORE} pulls in `{forbidden}` through {}: retry-core must stay free of I/O, async and \
                     JSON crates. Remove `{direct}` from [dependencies] in {}, or turn off the feature of it \
                     that brings in `{forbidden}`",
                    path.join(" -> "),
                    core.manifest
                ));
            }
        }
    }

    for upper in [ROUTER, PROXY] {
        for concrete in CONCRETE_PROVIDERS {
            problems.extend(ws.forbid(
                upper,
                concrete,
                "the router and the proxy see providers only through the `Provider` trait; the cli wires \
                 concrete providers in (a [dev-dependencies] entry for tests is fine)",
            ));
        }
    }

    for package in &ws.packages {
        for dep in package.deps.iter().filter(|dep| dep.name == XTASK) {
            problems.push(format!(
                "{} ({}) depends on {XTASK} (as a {} dependency), but nothing may depend on xtask: it is a \
                 build tool with publish = false. Remove `{}` from {} and move any shared code into a library crate",
                package.name,
                package.manifest,
                dep.kind.section(),
                dep.key(),
                package.manifest
            ));
        }
    }

    for upper in [ROUTER, PROXY] {
        problems.extend(ws.forbid(
            PROVIDER,
            upper,
            "switchyard-provider is the small, stable bottom layer that provider authors depend on alone; \
             what it needs from the router belongs in the provider crate (or in retry-core)",
        ));
    }

    for concrete in CONCRETE_PROVIDERS {
        problems.extend(ws.require(
            concrete,
            PROVIDER,
            "provider",
            "provider crates implement its `Provider` trait",
        ));
        for upper in [ROUTER, PROXY] {
            problems.extend(ws.forbid(
                concrete,
                upper,
                "provider crates sit below the router: they make one attempt per call and never retry or route",
            ));
        }
    }

    problems.extend(ws.require(
        REDIS,
        ROUTER,
        "router",
        "it implements the router's `StateStore` trait on Redis",
    ));

    problems
}

/// The part of `cargo metadata` the rules read.
struct Workspace {
    packages: Vec<Package>,
    members: BTreeSet<String>,
    /// Resolved normal-dependency edges, by package id (features unified as cargo builds the workspace).
    normal_edges: HashMap<String, Vec<String>>,
    names: HashMap<String, String>,
}

struct Package {
    id: String,
    name: String,
    /// The manifest path, relative to the workspace root when it is inside it.
    manifest: String,
    deps: Vec<Dep>,
}

/// A dependency as declared in a manifest (optional ones included: they are one feature away).
struct Dep {
    name: String,
    rename: Option<String>,
    kind: Kind,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Normal,
    Dev,
    Build,
}

impl Kind {
    fn parse(value: &Value) -> Result<Self> {
        match value.as_str() {
            None if value.is_null() => Ok(Self::Normal),
            Some("dev") => Ok(Self::Dev),
            Some("build") => Ok(Self::Build),
            _ => bail!("`cargo metadata` has a dependency kind xtask does not know: {value}"),
        }
    }

    fn section(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Dev => "dev",
            Self::Build => "build",
        }
    }
}

impl Dep {
    /// The key the dependency has in its manifest (the alias, for renamed dependencies).
    fn key(&self) -> &str {
        self.rename.as_deref().unwrap_or(&self.name)
    }
}

impl Workspace {
    fn from_metadata(metadata: &Value) -> Result<Self> {
        let root = metadata["workspace_root"]
            .as_str()
            .context("`cargo metadata` has no workspace_root")?;
        let mut packages = Vec::new();
        for package in metadata["packages"]
            .as_array()
            .context("`cargo metadata` has no packages")?
        {
            let text = |key: &str| {
                package[key]
                    .as_str()
                    .map(str::to_owned)
                    .with_context(|| format!("a package has no `{key}`"))
            };
            let manifest = text("manifest_path")?;
            let manifest = manifest
                .strip_prefix(root)
                .map(|relative| relative.trim_start_matches(['/', '\\']).to_owned())
                .unwrap_or(manifest);
            let mut deps = Vec::new();
            for dep in package["dependencies"]
                .as_array()
                .context("a package has no `dependencies`")?
            {
                deps.push(Dep {
                    name: dep["name"]
                        .as_str()
                        .context("a dependency has no `name`")?
                        .to_owned(),
                    rename: dep["rename"].as_str().map(str::to_owned),
                    kind: Kind::parse(&dep["kind"])?,
                });
            }
            packages.push(Package {
                id: text("id")?,
                name: text("name")?,
                manifest,
                deps,
            });
        }
        let members = metadata["workspace_members"]
            .as_array()
            .context("`cargo metadata` has no workspace_members")?
            .iter()
            .filter_map(|id| id.as_str().map(str::to_owned))
            .collect();
        let mut normal_edges = HashMap::new();
        let nodes = metadata["resolve"]["nodes"]
            .as_array()
            .context("`cargo metadata` has no resolve graph")?;
        for node in nodes {
            let id = node["id"]
                .as_str()
                .context("a resolve node has no `id`")?
                .to_owned();
            let mut targets = Vec::new();
            for dep in node["deps"].as_array().into_iter().flatten() {
                let kinds = dep["dep_kinds"].as_array().into_iter().flatten();
                let normal = kinds
                    .map(|kind| Kind::parse(&kind["kind"]))
                    .any(|kind| matches!(kind, Ok(Kind::Normal)));
                if normal {
                    targets.push(
                        dep["pkg"]
                            .as_str()
                            .context("a resolved dependency has no `pkg`")?
                            .to_owned(),
                    );
                }
            }
            normal_edges.insert(id, targets);
        }
        let names = packages
            .iter()
            .map(|package| (package.id.clone(), package.name.clone()))
            .collect();
        Ok(Self {
            packages,
            members,
            normal_edges,
            names,
        })
    }

    /// The workspace member called `name`, if there is one.
    fn member(&self, name: &str) -> Option<&Package> {
        self.packages
            .iter()
            .find(|package| package.name == name && self.members.contains(&package.id))
    }

    /// The manifest key under which `package` declares the dependency called `name`.
    fn manifest_key<'a>(&'a self, package: &'a Package, name: &'a str) -> &'a str {
        package
            .deps
            .iter()
            .find(|dep| dep.name == name)
            .map_or(name, Dep::key)
    }

    /// A chain of declared normal dependencies among workspace members from `from` to `to`
    /// (package names, both ends included), if there is one.
    fn declared_normal_path(&self, from: &str, to: &str) -> Option<Vec<String>> {
        shortest_path(
            from.to_owned(),
            |name| {
                let Some(package) = self.member(name) else {
                    return Vec::new();
                };
                package
                    .deps
                    .iter()
                    .filter(|dep| dep.kind == Kind::Normal)
                    .map(|dep| dep.name.clone())
                    .collect()
            },
            |name| name == to,
        )
    }

    /// A chain of resolved normal dependencies from the package `from_id` to any package called `to`
    /// (package names), if there is one.
    fn resolved_normal_path(&self, from_id: &str, to: &str) -> Option<Vec<String>> {
        let path = shortest_path(
            from_id.to_owned(),
            |id| self.normal_edges.get(id).cloned().unwrap_or_default(),
            |id| self.names.get(id).is_some_and(|name| name == to),
        )?;
        Some(
            path.iter()
                .map(|id| self.names.get(id).cloned().unwrap_or_else(|| id.clone()))
                .collect(),
        )
    }

    /// A problem if `from` reaches `to` through normal dependencies (`why` says why it must not).
    fn forbid(&self, from: &str, to: &str, why: &str) -> Option<String> {
        let package = self.member(from)?;
        self.member(to)?;
        let path = self.declared_normal_path(from, to)?;
        let direct = self.manifest_key(package, &path[1]);
        Some(format!(
            "{from} depends on {to} ({}), but must not: {why}. Remove `{direct}` from [dependencies] in {}",
            path.join(" -> "),
            package.manifest
        ))
    }

    /// A problem if `from` does not declare a normal dependency on `to`, unless `from` is a placeholder
    /// with no dependencies yet.
    fn require(&self, from: &str, to: &str, key: &str, why: &str) -> Option<String> {
        let package = self.member(from)?;
        self.member(to)?;
        let normal: Vec<&Dep> = package
            .deps
            .iter()
            .filter(|dep| dep.kind == Kind::Normal)
            .collect();
        if normal.is_empty() || normal.iter().any(|dep| dep.name == to) {
            return None;
        }
        Some(format!(
            "{from} does not depend on {to}, but must: {why}. Add `{key} = {{ workspace = true }}` under \
             [dependencies] in {}",
            package.manifest
        ))
    }
}

/// Breadth-first search, so the chain shown to the reader is the shortest one.
fn shortest_path(
    start: String,
    next: impl Fn(&str) -> Vec<String>,
    is_goal: impl Fn(&str) -> bool,
) -> Option<Vec<String>> {
    let mut parent: HashMap<String, String> = HashMap::new();
    let mut queue = VecDeque::from([start.clone()]);
    while let Some(node) = queue.pop_front() {
        for child in next(&node) {
            if child == start || parent.contains_key(&child) {
                continue;
            }
            parent.insert(child.clone(), node.clone());
            if is_goal(&child) {
                let mut path = vec![child];
                while let Some(up) = parent.get(path.last()?) {
                    path.push(up.clone());
                }
                path.reverse();
                return Some(path);
            }
            queue.push_back(child);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A declared dependency in a made-up manifest: its name and its kind (`None` is normal).
    type DeclaredDep<'a> = (&'a str, Option<&'a str>);

    /// A made-up `cargo metadata`: `(name, [(dependency, kind)])` for each workspace member, plus
    /// resolved normal edges `(from, to)` between any packages (externals are added as needed).
    fn workspace(members: &[(&str, &[DeclaredDep<'_>])], resolved: &[(&str, &str)]) -> Workspace {
        let id = |name: &str| format!("path+file:///ws#{name}@0.1.0");
        let mut names: BTreeSet<&str> = members.iter().map(|(name, _)| *name).collect();
        names.extend(resolved.iter().flat_map(|(from, to)| [*from, *to]));
        let packages: Vec<Value> = names
            .iter()
            .map(|name| {
                let deps = members
                    .iter()
                    .find(|(member, _)| member == name)
                    .map_or(&[][..], |(_, deps)| *deps);
                json!({
                    "name": name,
                    "id": id(name),
                    "manifest_path": format!("/ws/crates/{name}/Cargo.toml"),
                    "dependencies": deps.iter().map(|(dep, kind)| json!({
                        "name": dep, "rename": null, "kind": kind,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let nodes: Vec<Value> = names
            .iter()
            .map(|name| {
                let deps: Vec<Value> = resolved
                    .iter()
                    .filter(|(from, _)| from == name)
                    .map(|(_, to)| json!({ "pkg": id(to), "dep_kinds": [{ "kind": null }] }))
                    .collect();
                json!({ "id": id(name), "deps": deps })
            })
            .collect();
        let metadata = json!({
            "workspace_root": "/ws",
            "packages": packages,
            "workspace_members": members.iter().map(|(name, _)| id(name)).collect::<Vec<_>>(),
            "resolve": { "nodes": nodes },
        });
        Workspace::from_metadata(&metadata).expect("the made-up metadata parses")
    }

    fn assert_one_problem(problems: &[String], expected: &[&str]) {
        assert_eq!(
            problems.len(),
            1,
            "expected exactly one problem, got {problems:#?}"
        );
        for part in expected {
            assert!(
                problems[0].contains(part),
                "{:?} does not mention {part:?}",
                problems[0]
            );
        }
    }

    #[test]
    fn the_designed_layering_passes() {
        let ws = workspace(
            &[
                (
                    RETRY_CORE,
                    &[
                        ("thiserror", None),
                        ("serde", None),
                        ("proptest", Some("dev")),
                    ],
                ),
                (PROVIDER, &[(RETRY_CORE, None)]),
                ("switchyard-openai", &[(PROVIDER, None)]),
                ("switchyard-mock", &[]),
                (
                    ROUTER,
                    &[
                        (RETRY_CORE, None),
                        (PROVIDER, None),
                        ("tokio", None),
                        ("switchyard-mock", Some("dev")),
                    ],
                ),
                (REDIS, &[(ROUTER, None), ("redis", None)]),
                (PROXY, &[(ROUTER, None), (PROVIDER, None), ("axum", None)]),
                (
                    "switchyard-cli",
                    &[(PROXY, None), ("switchyard-openai", None)],
                ),
                (XTASK, &[("anyhow", None)]),
            ],
            &[
                (RETRY_CORE, "thiserror"),
                (RETRY_CORE, "serde"),
                (ROUTER, "tokio"),
                ("tokio", "mio"),
            ],
        );
        assert_eq!(check(&ws), Vec::<String>::new());
    }

    #[test]
    fn retry_core_may_not_name_other_crates() {
        let ws = workspace(
            &[(RETRY_CORE, &[("thiserror", None), ("futures", None)])],
            &[],
        );
        assert_one_problem(
            &check(&ws),
            &[
                "switchyard-retry-core (crates/switchyard-retry-core/Cargo.toml)",
                "dependency on `futures`",
            ],
        );
    }

    #[test]
    fn retry_core_may_not_reach_io_crates_indirectly() {
        let ws = workspace(
            &[(RETRY_CORE, &[("serde", None)])],
            &[(RETRY_CORE, "serde"), ("serde", "serde_json")],
        );
        assert_one_problem(
            &check(&ws),
            &[
                "pulls in `serde_json` through switchyard-retry-core -> serde -> serde_json",
                "Remove `serde`",
            ],
        );
    }

    #[test]
    fn router_and_proxy_may_not_reach_concrete_providers() {
        let ws = workspace(
            &[
                (PROVIDER, &[]),
                ("switchyard-anthropic", &[(PROVIDER, None)]),
                ("switchyard-helper", &[("switchyard-anthropic", None)]),
                (
                    ROUTER,
                    &[(PROVIDER, None), ("switchyard-anthropic", Some("dev"))],
                ),
                (PROXY, &[(PROVIDER, None), ("switchyard-helper", None)]),
            ],
            &[],
        );
        assert_one_problem(
            &check(&ws),
            &[
                "switchyard-proxy depends on switchyard-anthropic",
                "switchyard-proxy -> switchyard-helper -> switchyard-anthropic",
                "Remove `switchyard-helper` from [dependencies] in crates/switchyard-proxy/Cargo.toml",
            ],
        );
    }

    #[test]
    fn nothing_may_depend_on_xtask_even_for_tests() {
        let ws = workspace(
            &[(XTASK, &[]), ("switchyard-tests", &[(XTASK, Some("dev"))])],
            &[],
        );
        assert_one_problem(
            &check(&ws),
            &["switchyard-tests", "depends on xtask (as a dev dependency)"],
        );
    }

    #[test]
    fn provider_may_not_reach_router() {
        let ws = workspace(&[(PROVIDER, &[(ROUTER, None)]), (ROUTER, &[])], &[]);
        assert_one_problem(
            &check(&ws),
            &["switchyard-provider depends on switchyard-router"],
        );
    }

    #[test]
    fn providers_depend_on_provider_and_not_on_router() {
        let ws = workspace(
            &[
                (PROVIDER, &[]),
                (ROUTER, &[(PROVIDER, None)]),
                ("switchyard-mock", &[(ROUTER, None)]),
            ],
            &[],
        );
        let problems = check(&ws);
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(problems.iter().any(|p| {
            p.contains("switchyard-mock does not depend on switchyard-provider")
                && p.contains("`provider = { workspace = true }`")
        }));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("switchyard-mock depends on switchyard-router"))
        );
    }

    #[test]
    fn redis_state_depends_on_router() {
        let ws = workspace(&[(ROUTER, &[]), (REDIS, &[("redis", None)])], &[]);
        assert_one_problem(
            &check(&ws),
            &["switchyard-redis does not depend on switchyard-router"],
        );
    }

    #[test]
    fn placeholders_and_absent_crates_are_skipped() {
        // A provider crate with no dependencies yet is a placeholder; switchyard-redis does not exist.
        let ws = workspace(
            &[(PROVIDER, &[]), ("switchyard-openai", &[]), (ROUTER, &[])],
            &[],
        );
        assert_eq!(check(&ws), Vec::<String>::new());
    }
}
