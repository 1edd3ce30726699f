//! The published crates of the workspace and the order they must be packaged and published in.
//!
//! Read from `cargo metadata --no-deps`: a member is published unless its manifest says
//! `publish = false`. The order is a topological sort over every kind of dependency between
//! published members, dev-dependencies included, because crates.io refuses a crate whose
//! dev-dependency is not on it yet (cargo keeps dev-dependencies that carry a `version`).

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::util::{cargo, output};

/// One workspace member as the release commands see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) manifest: PathBuf,
    /// `false` when the manifest says `publish = false`.
    pub(crate) published: bool,
    /// Names of the other workspace members it depends on, any kind (normal, build, dev).
    pub(crate) member_deps: BTreeSet<String>,
}

/// Every workspace member of the workspace rooted at `root`, from `cargo metadata`.
pub(crate) fn members(root: &Path) -> Result<Vec<Member>> {
    let stdout = output(
        cargo()
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .current_dir(root),
    )?;
    let metadata: Value = serde_json::from_str(&stdout)
        .context("`cargo metadata` printed something that is not JSON")?;
    members_from_metadata(&metadata)
}

fn members_from_metadata(metadata: &Value) -> Result<Vec<Member>> {
    let packages = metadata["packages"]
        .as_array()
        .context("`cargo metadata` output has no `packages` list")?;
    let names: BTreeSet<&str> = packages
        .iter()
        .filter_map(|package| package["name"].as_str())
        .collect();
    packages
        .iter()
        .map(|package| {
            let name = package["name"]
                .as_str()
                .context("a package in `cargo metadata` has no name")?;
            // `publish` is null for "anywhere", a list of registries otherwise; `[]` is `publish = false`.
            let published = package["publish"]
                .as_array()
                .is_none_or(|registries| !registries.is_empty());
            let member_deps = package["dependencies"]
                .as_array()
                .map(|deps| {
                    deps.iter()
                        .filter_map(|dep| dep["name"].as_str())
                        .filter(|dep| names.contains(dep) && *dep != name)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            Ok(Member {
                name: name.to_owned(),
                version: package["version"]
                    .as_str()
                    .with_context(|| format!("package {name} has no version in `cargo metadata`"))?
                    .to_owned(),
                manifest: PathBuf::from(
                    package["manifest_path"]
                        .as_str()
                        .with_context(|| format!("package {name} has no manifest_path"))?,
                ),
                published,
                member_deps,
            })
        })
        .collect()
}

/// The published members, each after every published member it depends on.
///
/// Ties are broken by name so the order is the same on every run. A published crate that
/// depends on an unpublished one, or a cycle, is an error that says what to change.
pub(crate) fn publish_order(members: &[Member]) -> Result<Vec<&Member>> {
    let by_name: BTreeMap<&str, &Member> = members
        .iter()
        .map(|member| (member.name.as_str(), member))
        .collect();
    let published: Vec<&Member> = members.iter().filter(|member| member.published).collect();
    for member in &published {
        for dep in &member.member_deps {
            if by_name.get(dep.as_str()).is_some_and(|dep| !dep.published) {
                bail!(
                    "{} is published but depends on {dep}, which says `publish = false`: crates.io would \
                     reject it. Publish {dep} too, or make the dependency a path-only dev-dependency \
                     (cargo drops those when packaging)",
                    member.name
                );
            }
        }
    }
    let mut order: Vec<&Member> = Vec::with_capacity(published.len());
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    while order.len() < published.len() {
        let ready: Vec<&Member> = published
            .iter()
            .copied()
            .filter(|member| !placed.contains(member.name.as_str()))
            .filter(|member| {
                member
                    .member_deps
                    .iter()
                    .all(|dep| placed.contains(dep.as_str()))
            })
            .collect();
        if ready.is_empty() {
            let stuck: Vec<&str> = published
                .iter()
                .filter(|member| !placed.contains(member.name.as_str()))
                .map(|member| member.name.as_str())
                .collect();
            bail!(
                "the published crates {} depend on each other in a cycle (dev-dependencies count: crates.io \
                 needs them published first). Break it by making one of the dev-dependencies path-only, \
                 without `version` (cargo drops those when packaging)",
                stuck.join(", ")
            );
        }
        // Place one crate at a time, the first by name, so the order does not depend on the
        // order `cargo metadata` lists members in.
        let next = ready
            .into_iter()
            .min_by(|a, b| a.name.cmp(&b.name))
            .context("a non-empty list has a minimum")?;
        placed.insert(next.name.as_str());
        order.push(next);
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, published: bool, deps: &[&str]) -> Member {
        Member {
            name: name.to_owned(),
            version: "0.1.0".to_owned(),
            manifest: PathBuf::from(format!("/ws/{name}/Cargo.toml")),
            published,
            member_deps: deps.iter().map(|dep| (*dep).to_owned()).collect(),
        }
    }

    fn names(order: &[&Member]) -> Vec<String> {
        order.iter().map(|member| member.name.clone()).collect()
    }

    #[test]
    fn every_crate_comes_after_its_dependencies_and_private_crates_are_left_out() {
        let members = [
            member("cli", true, &["router", "provider"]),
            member("router", true, &["provider", "core", "mock"]),
            member("mock", true, &["provider"]),
            member("provider", true, &["core"]),
            member("core", true, &[]),
            member("tests", false, &["cli"]),
            member("xtask", false, &[]),
        ];
        let order = publish_order(&members).expect("no cycle");
        assert_eq!(
            names(&order),
            ["core", "provider", "mock", "router", "cli"],
            "dependencies first, ties by name, unpublished crates absent"
        );
    }

    #[test]
    fn a_published_crate_that_needs_a_private_one_is_refused() {
        let members = [
            member("lib", true, &["helper"]),
            member("helper", false, &[]),
        ];
        let err = publish_order(&members).expect_err("lib cannot be published");
        let message = err.to_string();
        assert!(
            message.contains("lib is published but depends on helper"),
            "{message}"
        );
    }

    #[test]
    fn a_dev_dependency_cycle_is_refused_with_the_crates_named() {
        let members = [member("a", true, &["b"]), member("b", true, &["a"])];
        let err = publish_order(&members).expect_err("a cycle has no order");
        assert!(err.to_string().contains("a, b"), "{err}");
    }

    #[test]
    fn metadata_publish_false_is_an_empty_registry_list() {
        let metadata = serde_json::json!({
            "packages": [
                {"name": "pub", "version": "1.2.3", "manifest_path": "/ws/pub/Cargo.toml", "publish": null,
                 "dependencies": [{"name": "serde"}, {"name": "private"}]},
                {"name": "private", "version": "1.2.3", "manifest_path": "/ws/private/Cargo.toml", "publish": [],
                 "dependencies": [{"name": "private"}]}
            ]
        });
        let members = members_from_metadata(&metadata).expect("valid metadata");
        assert_eq!(members.len(), 2);
        assert!(members[0].published && !members[1].published);
        assert_eq!(
            members[0].member_deps,
            BTreeSet::from(["private".to_owned()]),
            "only workspace members count, external crates do not"
        );
        assert!(
            members[1].member_deps.is_empty(),
            "a crate's dev-dependency on itself is not an edge"
        );
    }
}
