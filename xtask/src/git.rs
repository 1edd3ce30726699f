//! The few git questions the release commands ask: which branch, is the tree clean, which tags.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::util::{output, run, succeeds};

fn git(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new("git");
    cmd.current_dir(dir);
    cmd
}

/// The current branch (`HEAD` when detached).
pub(crate) fn branch(dir: &Path) -> Result<String> {
    Ok(
        output(git(dir).args(["rev-parse", "--abbrev-ref", "HEAD"]))?
            .trim()
            .to_owned(),
    )
}

/// The commit `HEAD` points at.
pub(crate) fn head(dir: &Path) -> Result<String> {
    Ok(output(git(dir).args(["rev-parse", "HEAD"]))?
        .trim()
        .to_owned())
}

/// `git status --porcelain`, one entry per changed or untracked file (ignored files are not listed).
pub(crate) fn status(dir: &Path) -> Result<Vec<String>> {
    Ok(output(git(dir).args(["status", "--porcelain"]))?
        .lines()
        .map(str::to_owned)
        .collect())
}

/// Fails, listing what is uncommitted, unless the working tree is clean.
pub(crate) fn require_clean(dir: &Path, why: &str) -> Result<()> {
    let dirty = status(dir)?;
    if dirty.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = dirty.iter().take(20).map(String::as_str).collect();
    let more = dirty
        .len()
        .checked_sub(shown.len())
        .filter(|n| *n > 0)
        .map(|n| format!("\n  ... and {n} more"))
        .unwrap_or_default();
    bail!(
        "the working tree is not clean ({} uncommitted or untracked paths), and {why}:\n  {}{more}\n\
         commit or stash them first (`git stash --include-untracked`)",
        dirty.len(),
        shown.join("\n  ")
    )
}

/// The tags that point at `HEAD`.
pub(crate) fn tags_at_head(dir: &Path) -> Result<Vec<String>> {
    Ok(output(git(dir).args(["tag", "--points-at", "HEAD"]))?
        .lines()
        .map(str::to_owned)
        .collect())
}

/// Every tag in the repository, for before/after comparisons.
pub(crate) fn all_tags(dir: &Path) -> Result<Vec<String>> {
    Ok(output(git(dir).args(["tag", "--list"]))?
        .lines()
        .map(str::to_owned)
        .collect())
}

/// Whether the tag `name` exists.
pub(crate) fn tag_exists(dir: &Path, name: &str) -> bool {
    succeeds(git(dir).args([
        "rev-parse",
        "--quiet",
        "--verify",
        &format!("refs/tags/{name}"),
    ]))
}

/// The time of `HEAD`'s commit, in seconds since the Unix epoch (for reproducible archives).
pub(crate) fn head_time(dir: &Path) -> Result<u64> {
    let text = output(git(dir).args(["log", "-1", "--format=%ct", "HEAD"]))?;
    Ok(text.trim().parse()?)
}

/// Restores `paths` to their committed contents (after a failed release changed them).
pub(crate) fn restore(dir: &Path, paths: &[&str]) -> Result<()> {
    run(git(dir).args(["checkout", "HEAD", "--"]).args(paths))
}

/// Stages `paths`, commits them with `message` and tags the commit `tag` (annotated).
pub(crate) fn commit_and_tag(dir: &Path, paths: &[String], message: &str, tag: &str) -> Result<()> {
    run(git(dir).arg("add").arg("--").args(paths))?;
    run(git(dir).args(["commit", "--quiet", "-m", message]))?;
    run(git(dir).args(["tag", "-a", tag, "-m", &format!("Switchyard {tag}")]))
}

/// A detached `git worktree` of `HEAD` that is removed again when dropped: the dry-run release
/// bumps, tests and packages in it, so the real working tree is never touched.
pub(crate) struct Worktree {
    repo: PathBuf,
    path: PathBuf,
}

impl Worktree {
    /// Checks out `HEAD` of the repository at `repo` into `path`, replacing a stale worktree there.
    pub(crate) fn add(repo: &Path, path: &Path) -> Result<Self> {
        let worktree = Self {
            repo: repo.to_path_buf(),
            path: path.to_path_buf(),
        };
        worktree.remove();
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        run(git(repo)
            .args(["worktree", "add", "--quiet", "--detach"])
            .arg(path)
            .arg("HEAD"))?;
        Ok(worktree)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the worktree and git's record of it; quiet and best effort, as it also clears
    /// leftovers of an interrupted run that may belong to another clone.
    fn remove(&self) {
        if self.path.exists() {
            let removed = succeeds(
                git(&self.repo)
                    .args(["worktree", "remove", "--force"])
                    .arg(&self.path),
            );
            if !removed {
                // Not a worktree of this repository (or half made): delete the files.
                let _ = std::fs::remove_dir_all(&self.path);
            }
        }
        let _ = succeeds(git(&self.repo).args(["worktree", "prune"]));
    }
}

impl Drop for Worktree {
    fn drop(&mut self) {
        self.remove();
    }
}
