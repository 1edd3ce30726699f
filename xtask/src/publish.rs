//! `cargo xtask publish [--dry-run] [--from <crate>]`: publish every published crate to crates.io,
//! in dependency order, from a clean tree whose `HEAD` is a release tag.
//!
//! It publishes only what `cargo xtask release` made: it refuses a dirty tree (what would be
//! uploaded is not what is committed) and a `HEAD` without a `v*` tag that matches the workspace
//! version (what would be uploaded was never released). Each crate is one `cargo publish -p X`,
//! which verifies it against the crates published just before it and waits until crates.io
//! serves it, so the next one can depend on it. After a failure, fix the cause and resume with
//! `--from <the crate that failed>`: crates.io refuses a version that is already there.

use std::path::Path;

use anyhow::{Context, Result, bail, ensure};

use crate::{
    git,
    util::{cargo, project_root, run as run_cmd},
    workspace,
};

const USAGE: &str = "\
usage: cargo xtask publish [--dry-run] [--from <crate>]

  Publishes every published crate to crates.io with `cargo publish -p <crate>`, in dependency
  order. Refuses unless the tree is clean and HEAD carries the tag v<workspace version> made by
  `cargo xtask release`.

  --dry-run        check and print the `cargo publish` commands without running them
  --from <crate>   start at <crate> (resume after a failure; earlier crates are already up)";

#[derive(Debug, Default, PartialEq, Eq)]
struct Args {
    dry_run: bool,
    from: Option<String>,
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let Some(args) = parse_args(args)? else {
        println!("{USAGE}");
        return Ok(());
    };
    let root = project_root();
    git::require_clean(&root, "only a committed, tagged release may be published")?;
    let members = workspace::members(&root)?;
    let order = workspace::publish_order(&members)?;
    let version = &order
        .first()
        .context("no workspace member is published")?
        .version;
    let tag = release_tag(&git::tags_at_head(&root)?, version)?;
    let names: Vec<&str> = order.iter().map(|member| member.name.as_str()).collect();
    let start = match &args.from {
        None => 0,
        Some(from) => names
            .iter()
            .position(|name| name == from)
            .with_context(|| {
                format!(
                    "--from {from}: no published crate has that name; they are {}",
                    names.join(", ")
                )
            })?,
    };
    println!(
        "publishing {tag} ({version}): {}",
        names[start..].join(", ")
    );
    for name in &names[start..] {
        publish_one(&root, name, args.dry_run)?;
    }
    if args.dry_run {
        println!("xtask publish --dry-run: the checks passed; the commands above were not run");
    } else {
        println!("published {tag}: {} crates", names.len() - start);
    }
    Ok(())
}

fn publish_one(root: &Path, name: &str, dry_run: bool) -> Result<()> {
    let mut cmd = cargo();
    cmd.args(["publish", "-p", name]).current_dir(root);
    if dry_run {
        // `cargo publish --dry-run` would verify against crates.io, where the crates below this
        // one of a new version are not yet: only `cargo xtask release` can verify them together.
        println!("would run: cargo publish -p {name}");
        return Ok(());
    }
    run_cmd(&mut cmd).with_context(|| {
        format!(
            "publishing {name} failed; fix it, then resume with `cargo xtask publish --from {name}`"
        )
    })
}

/// The release tag among `tags_at_head` for `version`, or why publishing must not go on.
fn release_tag(tags_at_head: &[String], version: &str) -> Result<String> {
    let expected = format!("v{version}");
    let release_tags: Vec<&String> = tags_at_head
        .iter()
        .filter(|tag| tag.starts_with('v'))
        .collect();
    if release_tags.iter().any(|tag| **tag == expected) {
        return Ok(expected);
    }
    ensure!(
        !release_tags.is_empty(),
        "HEAD has no release tag (v*): publish only what `cargo xtask release {version}` committed and \
         tagged (`git checkout {expected}`), never an untagged commit"
    );
    bail!(
        "HEAD is tagged {} but the workspace version is {version} (expected tag {expected}): \
         check out the commit `cargo xtask release` made for the version you mean to publish",
        release_tags
            .iter()
            .map(|tag| tag.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn parse_args(args: &[String]) -> Result<Option<Args>> {
    let mut parsed = Args::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--dry-run" => parsed.dry_run = true,
            "--from" => {
                let name = rest
                    .next()
                    .with_context(|| format!("--from needs a crate name\n\n{USAGE}"))?;
                parsed.from = Some(name.clone());
            }
            other => bail!("unknown argument `{other}`\n\n{USAGE}"),
        }
    }
    Ok(Some(parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|tag| (*tag).to_owned()).collect()
    }

    #[test]
    fn publishing_needs_the_release_tag_of_the_workspace_version() {
        assert_eq!(
            release_tag(&tags(&["nightly", "v0.2.0"]), "0.2.0").expect("tagged"),
            "v0.2.0"
        );
        let untagged = release_tag(&tags(&[]), "0.2.0").expect_err("no tag");
        assert!(
            untagged.to_string().contains("HEAD has no release tag"),
            "{untagged}"
        );
        let other_tags = release_tag(&tags(&["nightly"]), "0.2.0").expect_err("no v* tag");
        assert!(
            other_tags.to_string().contains("no release tag"),
            "{other_tags}"
        );
        let stale = release_tag(&tags(&["v0.1.0"]), "0.2.0").expect_err("wrong tag");
        assert!(
            stale
                .to_string()
                .contains("tagged v0.1.0 but the workspace version is 0.2.0"),
            "{stale}"
        );
    }

    #[test]
    fn arguments() {
        let args =
            |list: &[&str]| -> Vec<String> { list.iter().map(|s| (*s).to_owned()).collect() };
        assert_eq!(
            parse_args(&args(&["--dry-run", "--from", "switchyard-router"]))
                .expect("valid")
                .expect("not help"),
            Args {
                dry_run: true,
                from: Some("switchyard-router".to_owned())
            }
        );
        assert!(parse_args(&args(&["--from"])).is_err());
        assert!(parse_args(&args(&["now"])).is_err());
    }
}
