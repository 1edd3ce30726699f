//! `cargo xtask release <version> [--dry-run] [--skip-ci]`: bump every published crate, date the
//! changelog, run ci, package every published crate, then commit and tag `v<version>`.
//!
//! The crates are versioned together: the one `version` in `[workspace.package]` and the
//! `version` of every local crate in `[workspace.dependencies]` are bumped by plain text edits
//! of the root `Cargo.toml` (no TOML library: the lines are ours and simple, and a text edit
//! keeps comments and layout byte for byte).
//!
//! Packaging runs `cargo package -p A -p B ...` for every published crate at once. Since cargo
//! 1.90 that packages interdependent workspace crates together: each `.crate` is verified by
//! building it from its packaged sources alone, with the crates packaged before it served from
//! a temporary local registry overlaid on crates.io, so a crate whose dependency is not on
//! crates.io yet still verifies. Packaging one crate at a time would fail for every crate above
//! the bottom one until the ones below were published. Verification builds in a target dir of its
//! own (`target/package-verify`), cleared of what an earlier packaging of the same version left
//! (see [`forget_stale_packages`]: cargo caches registry crates by version alone).
//!
//! `--dry-run` does every check, the bump, ci and packaging in a detached `git worktree` under
//! the target dir, then removes it: the working tree, `HEAD` and the tags are left exactly as
//! they were (and checked to be). Publishing is a separate command, `cargo xtask publish`.

use std::{
    cmp::Ordering,
    fmt, fs,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result, bail, ensure};

use crate::{
    ci::Steps,
    git,
    util::{cargo, project_root, run as run_cmd, target_dir},
    workspace::{self, Member},
};

const USAGE: &str = "\
usage: cargo xtask release <version> [--dry-run] [--skip-ci]

  Checks that the tree is clean and on `main`, bumps every published crate to <version>,
  moves the `## Unreleased` section of CHANGELOG.md under `## <version> - <today>`, runs
  `cargo xtask ci`, packages every published crate (`cargo package`, which builds each from
  its packaged sources alone), then commits and tags `v<version>`. Publish with
  `cargo xtask publish` after pushing the commit and the tag.

  --dry-run   do all of it in a temporary git worktree and change nothing here
  --skip-ci   skip `cargo xtask ci` (to iterate on packaging; a real release should not)";

/// The files a release may change; anything else changing is a bug and stops the release.
const RELEASE_FILES: [&str; 4] = [
    "Cargo.toml",
    "Cargo.lock",
    "CHANGELOG.md",
    "examples/provider-template/Cargo.lock",
];

/// The branch releases are cut from.
const RELEASE_BRANCH: &str = "main";

#[derive(Debug, PartialEq, Eq)]
struct Args {
    version: Version,
    dry_run: bool,
    skip_ci: bool,
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let Some(args) = parse_args(args)? else {
        println!("{USAGE}");
        return Ok(());
    };
    let root = project_root();
    let target = target_dir(&root)?;
    let label = if args.dry_run {
        "xtask release --dry-run"
    } else {
        "xtask release"
    };
    let mut steps = Steps::new(label);

    let members = steps.run("preflight", None, || preflight(&root, &args))?;
    let published: Vec<String> = workspace::publish_order(&members)?
        .into_iter()
        .map(|member| member.name.clone())
        .collect();
    println!(
        "releasing {} crates as {}, in this order: {}",
        published.len(),
        args.version,
        published.join(", ")
    );

    if args.dry_run {
        let before = Snapshot::take(&root)?;
        let worktree = steps.run("worktree", None, || {
            git::Worktree::add(&root, &target.join("xtask-release-dry-run"))
        })?;
        println!("dry run: working in {}", worktree.path().display());
        let result = prepare(&mut steps, worktree.path(), &target, &args, &published);
        drop(worktree);
        let after = Snapshot::take(&root)?;
        ensure!(
            before == after,
            "the dry run changed the repository (before: {before:?}, after: {after:?}); this is a bug in xtask"
        );
        let crates = result?;
        println!("{}", steps.summary());
        println!(
            "xtask release --dry-run: {} would be released as these {} packages (verified, kept in {}):",
            args.version,
            crates.len(),
            verify_dir(&target).join("package").display()
        );
        for krate in &crates {
            println!("  {}", krate.display());
        }
        println!("nothing was changed: no commit, no tag, the working tree is as it was");
        return Ok(());
    }

    if let Err(err) = prepare(&mut steps, &root, &target, &args, &published) {
        eprintln!("{}", steps.summary());
        // The tree was clean when we started, so every change to these files is ours: undo it.
        let ours: Vec<&str> = RELEASE_FILES
            .into_iter()
            .filter(|path| root.join(path).is_file())
            .collect();
        let note = match git::restore(&root, &ours) {
            Ok(()) => "the version bump and changelog edit were undone".to_owned(),
            Err(undo_err) => format!(
                "undoing the bump failed too ({undo_err:#}): run `git checkout HEAD -- {}`",
                ours.join(" ")
            ),
        };
        return Err(err.context(format!("release {} failed; {note}", args.version)));
    }
    let tag = format!("v{}", args.version);
    steps.run("commit and tag", None, || {
        commit_release(&root, &args, &tag)
    })?;
    println!("{}", steps.summary());
    println!(
        "released {tag} locally. Next: `git push origin {RELEASE_BRANCH} {tag}`, then `cargo xtask publish`"
    );
    Ok(())
}

/// Every check that needs nothing changed yet. Returns the workspace members.
fn preflight(root: &Path, args: &Args) -> Result<Vec<Member>> {
    let branch = git::branch(root)?;
    ensure!(
        branch == RELEASE_BRANCH,
        "releases are cut from `{RELEASE_BRANCH}`, but the checkout is on `{branch}`: \
         `git switch {RELEASE_BRANCH}` (and merge what should be released) first"
    );
    git::require_clean(root, "a release must contain exactly what is committed")?;
    let tag = format!("v{}", args.version);
    ensure!(
        !git::tag_exists(root, &tag),
        "the tag {tag} already exists: {} was released already; pick the next version",
        args.version
    );

    let members = workspace::members(root)?;
    let order = workspace::publish_order(&members)?;
    ensure!(!order.is_empty(), "no workspace member is published");
    for member in &order {
        let manifest = fs::read_to_string(&member.manifest)
            .with_context(|| format!("could not read {}", member.manifest.display()))?;
        ensure!(
            inherits_version(&manifest),
            "{} ({}) sets its own version: write `version.workspace = true` in its [package] so that \
             release bumps every published crate together",
            member.name,
            member.manifest.display()
        );
    }
    let current = Version::parse(&order[0].version)
        .with_context(|| format!("the workspace version of {} is not SemVer", order[0].name))?;
    ensure!(
        args.version >= current,
        "{} is older than the current version {current}: a release only moves forward",
        args.version
    );

    let manifest_path = root.join("Cargo.toml");
    let manifest = fs::read_to_string(&manifest_path)
        .with_context(|| format!("could not read {}", manifest_path.display()))?;
    bump_manifest(&manifest, &args.version.to_string())?;
    let changelog = read_changelog(root)?;
    release_changelog(&changelog, &args.version.to_string(), &today_utc())?;
    Ok(members)
}

/// The part of a release that changes files, in `dir` (the repository or a dry-run worktree):
/// bump, changelog, ci and packaging. Returns the `.crate` files.
fn prepare(
    steps: &mut Steps,
    dir: &Path,
    target: &Path,
    args: &Args,
    published: &[String],
) -> Result<Vec<PathBuf>> {
    let version = args.version.to_string();
    steps.run("bump versions and changelog", None, || {
        bump_files(dir, &version, published)
    })?;
    if args.skip_ci {
        steps.skip("ci", "--skip-ci");
    } else {
        steps.run("ci", None, || {
            run_cmd(
                cargo()
                    .args(["xtask", "ci"])
                    .env("CARGO_TARGET_DIR", target)
                    .current_dir(dir),
            )
        })?;
    }
    steps.run(
        "package",
        Some("fix the crate named above: its packaged sources must build on their own"),
        || package(dir, target, &version, published),
    )
}

fn bump_files(dir: &Path, version: &str, published: &[String]) -> Result<()> {
    let manifest_path = dir.join("Cargo.toml");
    let manifest = fs::read_to_string(&manifest_path)
        .with_context(|| format!("could not read {}", manifest_path.display()))?;
    let (bumped, old) = bump_manifest(&manifest, version)?;
    fs::write(&manifest_path, bumped)
        .with_context(|| format!("could not write {}", manifest_path.display()))?;
    println!("Cargo.toml: workspace version {old} -> {version}");

    let changelog = read_changelog(dir)?;
    let date = today_utc();
    fs::write(
        dir.join("CHANGELOG.md"),
        release_changelog(&changelog, version, &date)?,
    )
    .context("could not write CHANGELOG.md")?;
    println!("CHANGELOG.md: `## Unreleased` is now `## {version} - {date}`");

    // Record the new versions of the workspace members in Cargo.lock, and nothing else.
    run_cmd(
        cargo()
            .args(["update", "--workspace", "--quiet"])
            .current_dir(dir),
    )?;
    let members = workspace::members(dir)?;
    let stale: Vec<String> = members
        .iter()
        .filter(|member| published.contains(&member.name) && member.version != version)
        .map(|member| format!("{} is still {}", member.name, member.version))
        .collect();
    ensure!(
        stale.is_empty(),
        "after the bump, cargo metadata says {}: the bump missed them",
        stale.join(", ")
    );
    Ok(())
}

/// Packages and verifies every published crate together, and returns the `.crate` files.
fn package(dir: &Path, target: &Path, version: &str, published: &[String]) -> Result<Vec<PathBuf>> {
    let verify = verify_dir(target);
    forget_stale_packages(&verify, cargo_home().as_deref(), version, published)?;
    let mut cmd = cargo();
    // --allow-dirty: the bump is not committed yet (it is committed only once this passed).
    cmd.args(["package", "--allow-dirty"])
        .env("CARGO_TARGET_DIR", &verify)
        // Verification builds need no debug info, and build faster without it.
        .env("CARGO_PROFILE_DEV_DEBUG", "false")
        .current_dir(dir);
    for name in published {
        cmd.args(["-p", name]);
    }
    run_cmd(&mut cmd)?;
    published
        .iter()
        .map(|name| {
            let krate = verify
                .join("package")
                .join(format!("{name}-{version}.crate"));
            ensure!(
                krate.is_file(),
                "cargo package passed but {} is missing",
                krate.display()
            );
            Ok(krate)
        })
        .collect()
}

/// The target dir `cargo package` verifies in: one of its own, holding only verification builds,
/// so that [`forget_stale_packages`] may clear what it must without touching other builds.
fn verify_dir(target: &Path) -> PathBuf {
    target.join("package-verify")
}

/// Forgets what an earlier packaging of the same version left behind, so that verification
/// builds the sources packaged now.
///
/// Cargo treats registry packages as immutable: a crate of the temporary registry is unpacked
/// into `$CARGO_HOME/registry/src/-<hash>/<name>-<version>` once and never again, and its build
/// is fresh as long as its version is the same. Both are wrong when a dry run packages 0.2.0
/// today and the release packages a different 0.2.0 tomorrow: the later verification would
/// quietly build yesterday's sources. So before packaging, the unpacked sources of our crates at
/// this version are removed from every local registry cache (the `-<hash>` directories; crates.io's
/// is `index.crates.io-<hash>` and is left alone), and so are the fingerprints of our crates in
/// the verification target dir, which holds nothing else of ours.
fn forget_stale_packages(
    verify: &Path,
    cargo_home: Option<&Path>,
    version: &str,
    published: &[String],
) -> Result<()> {
    let fingerprints = verify.join("debug").join(".fingerprint");
    for entry in read_dir_or_empty(&fingerprints)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        // `<package name>-<16 hex digits>`
        let package = name
            .rsplit_once('-')
            .map_or(name.as_str(), |(package, _)| package);
        if published.iter().any(|ours| ours == package) {
            remove_dir(&entry.path())?;
        }
    }
    let tmp_registry = verify.join("package").join("tmp-registry");
    if tmp_registry.exists() {
        remove_dir(&tmp_registry)?;
    }
    if let Some(cargo_home) = cargo_home {
        for registry in read_dir_or_empty(&cargo_home.join("registry").join("src"))? {
            if !registry.file_name().to_string_lossy().starts_with('-') {
                continue;
            }
            for name in published {
                let unpacked = registry.path().join(format!("{name}-{version}"));
                if unpacked.exists() {
                    remove_dir(&unpacked)?;
                }
            }
        }
    }
    Ok(())
}

fn read_dir_or_empty(dir: &Path) -> Result<Vec<fs::DirEntry>> {
    match fs::read_dir(dir) {
        Ok(entries) => entries
            .collect::<std::io::Result<Vec<_>>>()
            .with_context(|| format!("could not list {}", dir.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(err) => Err(err).with_context(|| format!("could not list {}", dir.display())),
    }
}

fn remove_dir(dir: &Path) -> Result<()> {
    fs::remove_dir_all(dir).with_context(|| format!("could not remove {}", dir.display()))
}

/// `$CARGO_HOME`, or `~/.cargo`.
fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
}

fn commit_release(root: &Path, args: &Args, tag: &str) -> Result<()> {
    let version = &args.version;
    let changed: Vec<String> = git::status(root)?
        .iter()
        .map(|line| line.get(3..).unwrap_or_default().to_owned())
        .collect();
    let unexpected: Vec<&String> = changed
        .iter()
        .filter(|path| !RELEASE_FILES.contains(&path.as_str()))
        .collect();
    ensure!(
        unexpected.is_empty(),
        "the release changed files it should not have: {unexpected:?}; nothing was committed. \
         Inspect them, then `git checkout HEAD -- .` to start over"
    );
    git::commit_and_tag(
        root,
        &changed,
        &format!(
            "release {version}: bump every published crate and date the changelog\n\n\
             Made by `cargo xtask release {version}` after {} passed.",
            if args.skip_ci {
                "`cargo package` (ci skipped with --skip-ci)"
            } else {
                "`cargo xtask ci` and `cargo package`"
            }
        ),
        tag,
    )
}

fn read_changelog(dir: &Path) -> Result<String> {
    let path = dir.join("CHANGELOG.md");
    fs::read_to_string(&path).with_context(|| {
        format!(
            "could not read {}: a release needs a CHANGELOG.md with a `## Unreleased` section",
            path.display()
        )
    })
}

/// The state of a repository a dry run must not change.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    head: String,
    status: Vec<String>,
    tags: Vec<String>,
}

impl Snapshot {
    fn take(root: &Path) -> Result<Self> {
        Ok(Self {
            head: git::head(root)?,
            status: git::status(root)?,
            tags: git::all_tags(root)?,
        })
    }
}

fn parse_args(args: &[String]) -> Result<Option<Args>> {
    let mut version = None;
    let mut dry_run = false;
    let mut skip_ci = false;
    for arg in args {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--dry-run" => dry_run = true,
            "--skip-ci" => skip_ci = true,
            flag if flag.starts_with('-') => bail!("unknown option `{flag}`\n\n{USAGE}"),
            text => {
                if version.is_some() {
                    bail!("more than one version given (`{text}`)\n\n{USAGE}");
                }
                version = Some(Version::parse(text)?);
            }
        }
    }
    let version = version.with_context(|| format!("which version?\n\n{USAGE}"))?;
    Ok(Some(Args {
        version,
        dry_run,
        skip_ci,
    }))
}

/// A SemVer version without build metadata: `1.2.3` or `1.2.3-rc.1`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    /// The pre-release part after `-`, empty for a release.
    pre: String,
}

impl Version {
    fn parse(text: &str) -> Result<Self> {
        let invalid = || {
            format!(
                "`{text}` is not a version: write MAJOR.MINOR.PATCH, optionally with a pre-release \
                 (`0.2.0`, `1.0.0-rc.1`), without a leading `v`"
            )
        };
        let (core, pre) = match text.split_once('-') {
            Some((core, pre)) => {
                ensure!(!pre.is_empty(), "{}", invalid());
                (core, pre)
            }
            None => (text, ""),
        };
        let numbers: Vec<&str> = core.split('.').collect();
        let [major, minor, patch] = numbers.as_slice() else {
            bail!("{}", invalid());
        };
        let number = |part: &str| -> Result<u64> {
            ensure!(
                !part.is_empty()
                    && part.bytes().all(|b| b.is_ascii_digit())
                    && (part == "0" || !part.starts_with('0')),
                "{}",
                invalid()
            );
            part.parse().with_context(invalid)
        };
        let pre_ok = pre
            .split('.')
            .all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        ensure!(pre.is_empty() || pre_ok, "{}", invalid());
        Ok(Self {
            major: number(major)?,
            minor: number(minor)?,
            patch: number(patch)?,
            pre: pre.to_owned(),
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        Ok(())
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    /// SemVer precedence: numbers first; a pre-release sorts before its release; pre-release
    /// identifiers compare numerically when both are numbers, as text otherwise.
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    let ids = |pre: &str| -> Vec<(Option<u64>, String)> {
                        pre.split('.')
                            .map(|id| (id.parse().ok(), id.to_owned()))
                            .collect()
                    };
                    let (a, b) = (ids(&self.pre), ids(&other.pre));
                    a.iter()
                        .zip(&b)
                        .map(|(x, y)| match (x.0, y.0) {
                            (Some(m), Some(n)) => m.cmp(&n),
                            (Some(_), None) => Ordering::Less,
                            (None, Some(_)) => Ordering::Greater,
                            (None, None) => x.1.cmp(&y.1),
                        })
                        .find(|ordering| ordering.is_ne())
                        .unwrap_or_else(|| a.len().cmp(&b.len()))
                }
            })
    }
}

/// Whether a member manifest takes its version from the workspace.
fn inherits_version(manifest: &str) -> bool {
    let mut in_package = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        if in_package {
            let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
            if compact == "version.workspace=true" || compact == "version={workspace=true}" {
                return true;
            }
        }
    }
    false
}

/// The root manifest with `[workspace.package]`'s version and every local crate's `version` in
/// `[workspace.dependencies]` set to `new`, and the old workspace version.
///
/// Refuses a local crate (an entry with `path`) that has no `version`: crates.io needs it.
fn bump_manifest(text: &str, new: &str) -> Result<(String, String)> {
    let mut section = String::new();
    let mut old = None;
    let mut missing = Vec::new();
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = trimmed.to_owned();
            out.push_str(line);
            continue;
        }
        let edited = match section.as_str() {
            "[workspace.package]" if key_of(trimmed) == Some("version") => {
                let (edited, previous) = replace_version(line, new)
                    .with_context(|| format!("cannot read the version in `{}`", line.trim_end()))?;
                old = Some(previous);
                edited
            }
            "[workspace.dependencies]" if trimmed.contains("path") && is_entry(trimmed) => {
                match replace_version(line, new) {
                    Some((edited, _)) => edited,
                    None => {
                        missing.push(key_of(trimmed).unwrap_or(trimmed).to_owned());
                        line.to_owned()
                    }
                }
            }
            _ => line.to_owned(),
        };
        out.push_str(&edited);
    }
    ensure!(
        missing.is_empty(),
        "[workspace.dependencies] entries {missing:?} have a `path` but no `version` in the root Cargo.toml: \
         add `version = \"<the workspace version>\"` to each (crates.io needs it, cargo publish drops the path)"
    );
    let old = old.context(
        "the root Cargo.toml has no `version = \"...\"` in [workspace.package]: put the shared version there",
    )?;
    Ok((out, old))
}

/// The key of a `key = value` line.
fn key_of(line: &str) -> Option<&str> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    (!key.is_empty() && !key.starts_with('#')).then_some(key)
}

/// Whether a dependencies line is an inline table with a `path` key.
fn is_entry(line: &str) -> bool {
    key_of(line).is_some() && find_key(line, "path").is_some()
}

/// Where the key `key` (a whole word, followed by `=`) starts in `line`.
fn find_key(line: &str, key: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let mut from = 0;
    while let Some(found) = line[from..].find(key) {
        let start = from + found;
        let end = start + key.len();
        let before_ok = start == 0 || !is_key_char(bytes[start - 1]);
        let after_ok = line[end..].trim_start().starts_with('=');
        if before_ok && after_ok {
            return Some(start);
        }
        from = end;
    }
    None
}

fn is_key_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' || byte == b'.'
}

/// `line` with the string value of its `version` key replaced by `new`, and the old value.
fn replace_version(line: &str, new: &str) -> Option<(String, String)> {
    let start = find_key(line, "version")?;
    let open = start + line[start..].find('"')?;
    let close = open + 1 + line[open + 1..].find('"')?;
    let old = line[open + 1..close].to_owned();
    Some((format!("{}{new}{}", &line[..=open], &line[close..]), old))
}

/// The changelog with its `## Unreleased` section moved under `## <version> - <date>`, and a new
/// empty `## Unreleased` above it.
fn release_changelog(text: &str, version: &str, date: &str) -> Result<String> {
    let is_heading = |line: &str| line.starts_with("## ");
    let is_unreleased = |line: &str| {
        let name = line.trim_start_matches("## ").trim();
        name.eq_ignore_ascii_case("unreleased") || name.eq_ignore_ascii_case("[unreleased]")
    };
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let start = lines
        .iter()
        .position(|line| is_heading(line) && is_unreleased(line))
        .context(
            "CHANGELOG.md has no `## Unreleased` section: add one with what this release changes",
        )?;
    ensure!(
        !lines.iter().any(|line| {
            is_heading(line)
                && line
                    .trim_start_matches("## ")
                    .split_whitespace()
                    .next()
                    .is_some_and(|first| first.trim_matches(['[', ']']) == version)
        }),
        "CHANGELOG.md already has a section for {version}"
    );
    let end = lines[start + 1..]
        .iter()
        .position(|line| is_heading(line))
        .map_or(lines.len(), |offset| start + 1 + offset);
    let body = lines[start + 1..end].concat();
    ensure!(
        !body.trim().is_empty(),
        "the `## Unreleased` section of CHANGELOG.md is empty: say what this release changes"
    );
    let mut out = lines[..start].concat();
    out.push_str(&format!(
        "## Unreleased\n\n## {version} - {date}\n\n{}\n",
        body.trim_matches('\n')
    ));
    if end < lines.len() {
        out.push('\n');
        out.push_str(&lines[end..].concat());
    }
    Ok(out)
}

/// Today's date in UTC as `YYYY-MM-DD`.
fn today_utc() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let (year, month, day) = civil_from_days(secs / 86_400);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"[workspace]
members = ["crates/a"]

[workspace.package]
version = "0.1.0"
rust-version = "1.89"

[workspace.dependencies]
# Local crates.
a = { package = "switchyard-a", path = "crates/a", version = "0.1.0" }
switchyard = { path = "crates/switchyard", version="0.1.0", default-features = false }
serde = { version = "1", features = ["derive"] }
anyhow = "1"
"#;

    #[test]
    fn bump_changes_the_workspace_version_and_local_crates_only() {
        let (bumped, old) = bump_manifest(MANIFEST, "0.2.0").expect("bumps");
        assert_eq!(old, "0.1.0");
        let expected = MANIFEST
            .replace("version = \"0.1.0\"\nrust", "version = \"0.2.0\"\nrust")
            .replace(
                "path = \"crates/a\", version = \"0.1.0\"",
                "path = \"crates/a\", version = \"0.2.0\"",
            )
            .replace("version=\"0.1.0\"", "version=\"0.2.0\"");
        assert_eq!(
            bumped, expected,
            "rust-version and external crates untouched"
        );
    }

    #[test]
    fn bump_refuses_a_local_crate_without_a_version() {
        let manifest = MANIFEST.replace(
            "path = \"crates/a\", version = \"0.1.0\"",
            "path = \"crates/a\"",
        );
        let err = bump_manifest(&manifest, "0.2.0").expect_err("a needs a version");
        assert!(err.to_string().contains("[\"a\"]"), "{err}");
    }

    #[test]
    fn bump_needs_a_workspace_version() {
        let manifest = MANIFEST.replace("version = \"0.1.0\"\nrust", "rust");
        assert!(bump_manifest(&manifest, "0.2.0").is_err());
    }

    #[test]
    fn members_must_inherit_the_workspace_version() {
        assert!(inherits_version(
            "[package]\nname = \"a\"\nversion.workspace = true\n"
        ));
        assert!(inherits_version(
            "[package]\nname = \"a\"\nversion = { workspace = true }\n"
        ));
        assert!(!inherits_version(
            "[package]\nname = \"a\"\nversion = \"0.1.0\"\n"
        ));
        assert!(
            !inherits_version(
                "[package]\nname = \"a\"\n[dependencies]\nversion.workspace = true\n"
            ),
            "only the [package] section counts"
        );
    }

    const CHANGELOG: &str = "# Changelog\n\nIntro.\n\n## Unreleased\n\n### Added\n\n- a thing\n\n## 0.1.0 - 2026-01-02\n\n- first\n";

    #[test]
    fn the_unreleased_section_moves_under_the_new_version() {
        let released = release_changelog(CHANGELOG, "0.2.0", "2026-11-28").expect("releases");
        assert_eq!(
            released,
            "# Changelog\n\nIntro.\n\n## Unreleased\n\n## 0.2.0 - 2026-11-28\n\n### Added\n\n- a thing\n\n## 0.1.0 - 2026-01-02\n\n- first\n"
        );
        let again = release_changelog(&released, "0.2.1", "2026-11-29");
        assert!(
            again.is_err_and(|err| err.to_string().contains("is empty")),
            "an empty Unreleased section has nothing to release"
        );
    }

    #[test]
    fn the_first_release_has_no_older_section() {
        let text = "# Changelog\n\n## Unreleased\n\n- everything\n";
        assert_eq!(
            release_changelog(text, "0.1.0", "2026-11-28").expect("releases"),
            "# Changelog\n\n## Unreleased\n\n## 0.1.0 - 2026-11-28\n\n- everything\n"
        );
    }

    #[test]
    fn a_version_is_released_once_and_needs_an_unreleased_section() {
        let err = release_changelog(CHANGELOG, "0.1.0", "2026-11-28").expect_err("exists");
        assert!(
            err.to_string().contains("already has a section for 0.1.0"),
            "{err}"
        );
        let err = release_changelog("# Changelog\n", "0.1.0", "2026-11-28").expect_err("none");
        assert!(err.to_string().contains("no `## Unreleased`"), "{err}");
    }

    #[test]
    fn versions_parse_and_order_as_semver() {
        let v = |text: &str| Version::parse(text).expect(text);
        assert_eq!(v("1.2.3").to_string(), "1.2.3");
        assert_eq!(v("1.0.0-rc.1").to_string(), "1.0.0-rc.1");
        for bad in [
            "v1.2.3",
            "1.2",
            "1.2.3.4",
            "01.2.3",
            "1.2.x",
            "1.2.3-",
            "1.2.3-a..b",
            "",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad} is not a version");
        }
        let ascending = [
            "0.1.0",
            "0.1.1",
            "0.2.0-alpha",
            "0.2.0-alpha.1",
            "0.2.0-alpha.beta",
            "0.2.0-beta.2",
            "0.2.0-beta.11",
            "0.2.0-rc.1",
            "0.2.0",
            "0.10.0",
            "1.0.0",
        ];
        for pair in ascending.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn arguments_need_one_version_and_know_their_flags() {
        let args =
            |list: &[&str]| -> Vec<String> { list.iter().map(|s| (*s).to_owned()).collect() };
        let parsed = parse_args(&args(&["0.2.0", "--dry-run"]))
            .expect("valid")
            .expect("not help");
        assert_eq!(
            parsed,
            Args {
                version: Version::parse("0.2.0").expect("valid"),
                dry_run: true,
                skip_ci: false
            }
        );
        assert!(parse_args(&args(&["--help"])).expect("help").is_none());
        assert!(parse_args(&args(&["--dry-run"])).is_err(), "no version");
        assert!(parse_args(&args(&["0.2.0", "0.3.0"])).is_err());
        assert!(parse_args(&args(&["0.2.0", "--dryrun"])).is_err());
    }

    #[test]
    fn stale_packages_of_ours_are_forgotten_and_nothing_else() {
        let scratch = std::env::temp_dir().join(format!("xtask-forget-{}", std::process::id()));
        let verify = scratch.join("verify");
        let home = scratch.join("cargo-home");
        let dirs = [
            "verify/debug/.fingerprint/switchyard-proxy-0123456789abcdef",
            "verify/debug/.fingerprint/switchyard-fedcba9876543210",
            "verify/debug/.fingerprint/tokio-0123456789abcdef",
            "verify/debug/.fingerprint/switchyard-proxy-extra-0123456789abcdef",
            "verify/package/tmp-registry/index",
            "cargo-home/registry/src/-14cd1cce6819ff87/switchyard-proxy-0.2.0",
            "cargo-home/registry/src/-14cd1cce6819ff87/switchyard-proxy-0.1.0",
            "cargo-home/registry/src/index.crates.io-1949cf8c6b5b557f/switchyard-proxy-0.2.0",
        ];
        for dir in dirs {
            fs::create_dir_all(scratch.join(dir)).expect("scratch dirs");
        }
        let published = ["switchyard".to_owned(), "switchyard-proxy".to_owned()];
        forget_stale_packages(&verify, Some(&home), "0.2.0", &published).expect("cleans");
        let left: Vec<&str> = dirs
            .into_iter()
            .filter(|dir| scratch.join(dir).exists())
            .collect();
        fs::remove_dir_all(&scratch).expect("scratch removed");
        assert_eq!(
            left,
            [
                "verify/debug/.fingerprint/tokio-0123456789abcdef",
                "verify/debug/.fingerprint/switchyard-proxy-extra-0123456789abcdef",
                "cargo-home/registry/src/-14cd1cce6819ff87/switchyard-proxy-0.1.0",
                "cargo-home/registry/src/index.crates.io-1949cf8c6b5b557f/switchyard-proxy-0.2.0",
            ]
        );
    }

    #[test]
    fn dates_are_gregorian() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_785), (2026, 11, 28));
        assert_eq!(today_utc().len(), 10);
    }
}
